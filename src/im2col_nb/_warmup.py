"""`warmup`: compile (or load from the disk cache) the common kernel signatures.

The catalogue `example_calls` lists one representative call of every public
array function, per layout and per code path (im2col or direct, NCHW or
NHWC); `warmup` runs it on tiny float32 and float64 inputs, which is exactly
the set of signatures real calls use (kernels only ever see C-contiguous
float32/float64 arrays and int64 scalars). The thread-safety test reuses the
catalogue with larger random inputs.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["warmup"]


def example_calls(dtype=np.float64, rng=None, scale: int = 1):
    """[(label, public function name, args, kwargs)] covering every kernel path.

    `scale` multiplies the spatial size and channel counts (1: tiny inputs for
    warmup; larger for tests). Functions not present in this build of the
    package are skipped, so the catalogue follows the package as it grows.
    """
    import im2col_nb

    rng = np.random.default_rng(0) if rng is None else rng
    dtype = np.dtype(dtype)
    n, c, f, h = 2, 2 * scale, 3 * scale, 6 + 4 * scale   # c and h even

    def arr(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x = arr(n, c, h, h)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    w = arr(f, c, 3, 3)
    w_grouped = arr(2 * f, c // 2, 3, 3)     # groups=2 (c is even)
    out_h = h - 2                     # 3x3, stride 1, no padding
    go = arr(n, f, out_h, out_h)
    go_nhwc = np.ascontiguousarray(go.transpose(0, 2, 3, 1))
    calls = [
        ("im2col", "im2col", (x, 3), dict(padding=1, stride=2)),
        ("col2im", "col2im", (arr(n, c * 9, out_h * out_h), (h, h), 3), {}),
        # padding modes and 1 or 3 spatial axes: the N-D kernels (unfold_nd.py)
        ("im2col reflect", "im2col", (x, 3), dict(padding=1, padding_mode="reflect")),
        ("im2col1d", "im2col1d", (arr(n, c, h), 3), dict(padding=1)),
        ("col2im1d", "col2im1d", (arr(n, c * 3, h), h, 3), dict(padding=1)),
        ("im2col3d", "im2col3d", (arr(n, c, 4, h, h), 3), dict(padding=1, stride=2)),
        ("col2im3d", "col2im3d", (arr(n, c * 27, 2 * (h - 2) ** 2), (4, h, h), 3), {}),
        # the other column orders: the strided kernels (unfold_strided.py),
        # and their batch-innermost nests with scratch (8 images, 32 channels)
        ("im2col NLK", "im2col", (x, 3), dict(order="NLK")),
        ("col2im NLK", "col2im", (arr(n * out_h * out_h, c * 9), (h, h), 3), dict(order="NLK")),
        ("im2col KLN", "im2col", (arr(8, 32, 6, 6), 3), dict(padding=1, order="KLN")),
        # columns of 8 MiB and more are faulted in by all threads first
        ("im2col large", "im2col", (arr(8, 32, 32, 32), 3), dict(padding=1)),
        ("col2im KLN", "col2im", (arr(32 * 9, 36 * 8), (6, 6), 3), dict(padding=1, order="KLN")),
        ("conv2d NCHW", "conv2d", (x, w), dict(padding=1)),
        ("conv2d NCHW grouped", "conv2d", (x, w_grouped), dict(groups=2, stride=2)),
        ("conv2d NHWC", "conv2d", (x_nhwc, w), dict(padding=1, layout="NHWC")),
        ("conv2d_direct NCHW", "conv2d_direct", (x, w), dict(padding=1)),
        ("conv2d_direct NHWC", "conv2d_direct", (x_nhwc, w), dict(padding=1, layout="NHWC")),
    ]
    # conv2d runs calls of PARALLEL_MIN_FLOPS or more through the Numba tile
    # kernels (smaller ones never compile them): one such call per layout.
    x_big = arr(2, 16, 24, 24)
    w_big = arr(16, 16, 3, 3)        # 2 images x 2 * 16 * 144 * 576 flops = 5.3 MFLOP
    calls += [
        ("conv2d NCHW tiled", "conv2d", (x_big, w_big), dict(padding=1, method="im2col")),
        ("conv2d NHWC tiled", "conv2d", (np.ascontiguousarray(x_big.transpose(0, 2, 3, 1)), w_big),
         dict(padding=1, layout="NHWC", method="im2col")),
        # 32 channels, stride 1: the shifted-GEMM kernels (21 MFLOP)
        ("conv2d NCHW shifted", "conv2d", (arr(2, 32, 24, 24), arr(32, 32, 3, 3)),
         dict(padding=1, method="shift")),
        ("conv2d NHWC shifted", "conv2d", (arr(2, 24, 24, 32), arr(32, 32, 3, 3)),
         dict(padding=1, layout="NHWC", method="shift")),
        # Winograd: the filter transform and each layout's tile kernel
        ("conv2d NCHW winograd", "conv2d", (x_big, w_big), dict(padding=1, method="winograd")),
        ("conv2d NHWC winograd", "conv2d", (np.ascontiguousarray(x_big.transpose(0, 2, 3, 1)),
                                            w_big), dict(padding=1, layout="NHWC",
                                                         method="winograd")),
        # and the weight gradient's tile kernel and direct loops
        ("conv2d_weight_grad NCHW tiled", "conv2d_weight_grad", (x_big, w_big.shape, x_big),
         dict(padding=1, method="tiles")),
        ("conv2d_weight_grad NCHW direct", "conv2d_weight_grad", (x_big, w_big.shape, x_big),
         dict(padding=1, method="direct")),
    ]
    for layout, xx in (("NCHW", x), ("NHWC", x_nhwc)):
        for method in ("direct", "im2col"):
            calls.append((f"max_pool2d {layout} {method}", "max_pool2d", (xx, 2),
                          dict(return_indices=True, layout=layout, method=method)))
            calls.append((f"avg_pool2d {layout} {method}", "avg_pool2d", (xx, 3),
                          dict(stride=2, padding=1, layout=layout, method=method)))
    pooled_h = h // 2
    pool_go = arr(n, c, pooled_h, pooled_h)
    idx = np.zeros((n, c, pooled_h, pooled_h), dtype=np.int64)
    idx += (2 * np.arange(pooled_h)[:, None] * h + 2 * np.arange(pooled_h)[None, :])
    calls += [
        ("max_pool2d_backward", "max_pool2d_backward", (pool_go, idx, x.shape), {}),
        ("max_pool2d_backward NHWC", "max_pool2d_backward",
         (np.ascontiguousarray(pool_go.transpose(0, 2, 3, 1)),
          np.ascontiguousarray(idx.transpose(0, 2, 3, 1)), x_nhwc.shape), dict(layout="NHWC")),
        ("avg_pool2d_backward", "avg_pool2d_backward", (pool_go, x.shape, 2), {}),
        ("avg_pool2d_backward NHWC", "avg_pool2d_backward",
         (np.ascontiguousarray(pool_go.transpose(0, 2, 3, 1)), x_nhwc.shape, 2), dict(layout="NHWC")),
    ]
    # 3-D pooling: each layout (one-channel volume kernels and channels-last ones)
    x3 = arr(n, c, 4, h, h)
    go3 = arr(n, c, 2, pooled_h, pooled_h)
    idx3 = np.zeros(go3.shape, dtype=np.int64)
    for layout, xx, gg, ii in (("NCDHW", x3, go3, idx3),
                               ("NDHWC", np.ascontiguousarray(np.moveaxis(x3, 1, -1)),
                                np.ascontiguousarray(np.moveaxis(go3, 1, -1)),
                                np.ascontiguousarray(np.moveaxis(idx3, 1, -1)))):
        calls += [
            (f"max_pool3d {layout}", "max_pool3d", (xx, 2),
             dict(return_indices=True, layout=layout)),
            (f"max_pool3d {layout} values", "max_pool3d", (xx, 3), dict(stride=2, padding=1,
                                                                         layout=layout)),
            (f"avg_pool3d {layout}", "avg_pool3d", (xx, 3), dict(stride=2, padding=1,
                                                                 layout=layout)),
            (f"max_pool3d_backward {layout}", "max_pool3d_backward", (gg, ii, xx.shape),
             dict(layout=layout)),
            (f"avg_pool3d_backward {layout}", "avg_pool3d_backward", (gg, xx.shape, 2),
             dict(layout=layout)),
        ]
    for layout, xx, gg in (("NCHW", x, go), ("NHWC", x_nhwc, go_nhwc)):
        calls += [
            (f"conv2d_input_grad {layout}", "conv2d_input_grad", (xx.shape, w, gg), dict(layout=layout)),
            (f"conv2d_weight_grad {layout}", "conv2d_weight_grad", (xx, w.shape, gg), dict(layout=layout)),
            (f"conv2d_backward {layout}", "conv2d_backward", (xx, w, gg), dict(layout=layout)),
            (f"conv2d_bias_grad {layout}", "conv2d_bias_grad", (gg,), dict(layout=layout)),
            (f"conv_transpose2d {layout}", "conv_transpose2d",
             (gg, w), dict(stride=2, layout=layout)),
        ]
    # sequences: the 2-D kernels on a unit leading axis (no kernels of their own)
    seq = arr(n, c, h)
    seq_nlc = np.ascontiguousarray(seq.transpose(0, 2, 1))
    w1 = arr(f, c, 3)
    go1 = arr(n, f, h - 2)
    go1_nlc = np.ascontiguousarray(go1.transpose(0, 2, 1))
    pool_go1 = arr(n, c, h // 2)
    idx1 = np.broadcast_to(2 * np.arange(h // 2), (n, c, h // 2)).astype(np.int64)
    for layout, xx, gg in (("NCL", seq, go1), ("NLC", seq_nlc, go1_nlc)):
        calls += [
            (f"conv1d {layout}", "conv1d", (xx, w1), dict(padding=1, layout=layout)),
            (f"conv1d_input_grad {layout}", "conv1d_input_grad", (xx.shape, w1, gg),
             dict(layout=layout)),
            (f"conv1d_weight_grad {layout}", "conv1d_weight_grad", (xx, w1.shape, gg),
             dict(layout=layout)),
            (f"conv1d_backward {layout}", "conv1d_backward", (xx, w1, gg), dict(layout=layout)),
            (f"conv1d_bias_grad {layout}", "conv1d_bias_grad", (gg,), dict(layout=layout)),
            (f"conv_transpose1d {layout}", "conv_transpose1d", (gg, w1),
             dict(stride=2, layout=layout)),
            (f"max_pool1d {layout}", "max_pool1d", (xx, 2), dict(return_indices=True, layout=layout)),
            (f"avg_pool1d {layout}", "avg_pool1d", (xx, 3), dict(stride=2, padding=1, layout=layout)),
        ]
    calls += [
        ("max_pool1d_backward", "max_pool1d_backward", (pool_go1, idx1, seq.shape), {}),
        ("avg_pool1d_backward", "avg_pool1d_backward", (pool_go1, seq.shape, 2), {}),
    ]
    # 3-D: volumes of depth 4, 3x3x3 kernels, both layouts
    x3 = arr(n, c, 4, h, h)
    w3 = arr(f, c, 3, 3, 3)
    go3 = arr(n, f, 2, out_h, out_h)
    for layout, xx, gg in (("NCDHW", x3, go3),
                           ("NDHWC", np.ascontiguousarray(np.moveaxis(x3, 1, -1)),
                            np.ascontiguousarray(np.moveaxis(go3, 1, -1)))):
        calls += [
            (f"conv3d {layout}", "conv3d", (xx, w3), dict(padding=1, layout=layout)),
            (f"conv3d_input_grad {layout}", "conv3d_input_grad", (xx.shape, w3, gg),
             dict(layout=layout)),
            (f"conv3d_weight_grad {layout}", "conv3d_weight_grad", (xx, w3.shape, gg),
             dict(layout=layout)),
            (f"conv3d_backward {layout}", "conv3d_backward", (xx, w3, gg), dict(layout=layout)),
            (f"conv3d_bias_grad {layout}", "conv3d_bias_grad", (gg,), dict(layout=layout)),
            (f"conv_transpose3d {layout}", "conv_transpose3d", (gg, w3),
             dict(stride=2, layout=layout)),
        ]
    return [call for call in calls if hasattr(im2col_nb, call[1])]


def warmup(dtypes=("float32", "float64")) -> dict:
    """Compile (or load from the disk cache) the kernels for common calls.

    Runs every public array function once on tiny inputs, for each dtype and
    both layouts and code paths, so that a server's first real request does
    not pay for JIT compilation. Results are discarded.

    Parameters
    ----------
    dtypes : sequence of {'float32', 'float64'}, default both
        Float types to prepare.

    Returns
    -------
    seconds : dict
        Wall time spent per public function name (compilation or cache
        loading dominates), plus ``'total'``.

    Raises
    ------
    ValueError
        If a dtype is not float32 or float64.

    Notes
    -----
    Cost: with a warm disk cache well under a second; on a cold cache (first
    run after installing or upgrading) tens of seconds, once, after which the
    cache is warm for every later process. With the NumPy backend there is
    nothing to compile and it returns quickly.

    Examples
    --------
    >>> import im2col_nb
    >>> seconds = im2col_nb.warmup(dtypes=("float64",))
    >>> seconds["total"] >= 0 and "conv2d" in seconds
    True
    """
    import im2col_nb

    chosen = []
    for d in dtypes:
        dt = np.dtype(d) if isinstance(d, (str, type, np.dtype)) else None
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"`dtypes` entries must be 'float32' or 'float64', got {d!r}")
        chosen.append(dt)
    seconds: dict = {}
    start = time.perf_counter()
    for dt in chosen:
        for _label, name, args, kwargs in example_calls(dt):
            t0 = time.perf_counter()
            getattr(im2col_nb, name)(*args, **kwargs)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - start
    return seconds
