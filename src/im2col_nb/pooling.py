"""Max and average pooling, forward and backward: the public wrappers.

Semantics, argument names and defaults follow ``torch.nn.functional``
(``max_pool2d``, ``avg_pool2d`` and the gradients PyTorch's autograd computes
for them). Each forward pool runs one of two methods, registered in
``_engine/pool.py`` (which also holds the drivers):

* ``method="im2col"``: the seed's recipe, unfold -> reduce -> reshape. The
  package's im2col kernel builds the patch matrix (in bounded, reused scratch
  memory, chunked like `conv2d`) and a reducer takes the max / sum of every
  column. im2col pads with zeros, so the max reducer skips padding taps
  (they count as -inf) instead of reading them.
* ``method="direct"``: a fused windowed kernel that reads each window from
  the input and never materialises the patch matrix.

``method="auto"`` (or None) takes the one expected to be faster: the direct
kernel (the measurements are in the Notes of `max_pool2d`). Both produce identical results (same values,
same indices, same ties and NaN handling) on both backends. A wrapper
validates its arguments once and hands a `PoolCall` to the engine.
"""

from __future__ import annotations


import numpy as np

from ._core.dtypes import as_value_array
from ._core.geometry import pool_geometry
from ._core.validation import (
    as_float_array,
    as_int,
    check_layout,
    check_ndim,
    describe,
    flag,
    optional_nonzero_int,
    to_kernel_array,
)
from ._engine import pool as _pool

__all__ = ["avg_pool2d", "avg_pool2d_backward", "max_pool2d", "max_pool2d_backward"]


def _spatial_dims(name: str, shape, layout: str) -> tuple[int, int, int, int]:
    """(N, C, H, W) of a 4-D shape in `layout`; torch's rule: only the batch
    may be empty."""
    if layout == "NCHW":
        n_img, channels, height, width = shape
    else:
        n_img, height, width, channels = shape
    if min(channels, height, width) < 1:
        raise ValueError(
            f"`{name}` must have non-empty channel and spatial axes (only the batch may be empty), "
            f"got shape {tuple(shape)} with layout {layout}"
        )
    return n_img, channels, height, width


def _pool_input(input, layout, keep_dtype=False):
    """Validated kernel-ready 4-D input, its dims, whether it was unbatched
    and the dtype to return (`keep_dtype`: the input's, see _core/dtypes.py;
    else float after promotion)."""
    layout = check_layout(layout)
    if keep_dtype:
        arr, result_dtype = as_value_array("input", input)
    else:
        arr = as_float_array("input", input)
        result_dtype = arr.dtype
    what = "(N, C, H, W)" if layout == "NCHW" else "(N, H, W, C)"
    unbatched_what = "(C, H, W)" if layout == "NCHW" else "(H, W, C)"
    check_ndim("input", arr, (3, 4), f"3-D {unbatched_what} or 4-D {what}")
    unbatched = arr.ndim == 3
    x = arr[None] if unbatched else arr
    dims = _spatial_dims("input", x.shape, layout)
    return to_kernel_array(x, arr.dtype), layout, unbatched, dims, result_dtype


def max_pool_call(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                  layout) -> _pool.PoolCall:
    """`max_pool2d`'s arguments (but `method`) validated: the engine's call."""
    x, layout, unbatched, dims, result_dtype = _pool_input(input, layout, keep_dtype=True)
    geom = pool_geometry(dims[2:], kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = flag("return_indices", return_indices)
    return _pool.pool_call("max_pool2d", x, layout, geom, unbatched, result_dtype,
                           return_indices=return_indices)


def avg_pool_call(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                  divisor_override, layout) -> _pool.PoolCall:
    """`avg_pool2d`'s arguments (but `method`) validated: the engine's call."""
    x, layout, unbatched, dims, _ = _pool_input(input, layout)
    geom = pool_geometry(dims[2:], kernel_size, stride, padding, 1, ceil_mode)
    cip = flag("count_include_pad", count_include_pad)
    divisor = optional_nonzero_int("divisor_override", divisor_override)
    return _pool.pool_call("avg_pool2d", x, layout, geom, unbatched, count_include_pad=cip,
                           divisor=divisor)


# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, layout="NCHW", method=None):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : array_like
        ``(N, C, H, W)`` or unbatched ``(C, H, W)``; with ``layout="NHWC"``,
        ``(N, H, W, C)`` or ``(H, W, C)``. The batch may be empty, the other
        axes may not. Any real dtype: bool, integer and float16 inputs are
        pooled in their own dtype (float16 through float32, exactly).
    kernel_size : int or (int, int)
        Window size (kh, kw).
    stride : int or (int, int), optional
        Step between windows; default (None) is `kernel_size`.
    padding : int, (int, int), ((int, int), (int, int)), 'valid' or 'same', default 0
        Implicit -inf padding on both sides of each axis, or ``((top,
        bottom), (left, right))``; every side at most ``kernel_size // 2``.
        ``'same'`` gives ``ceil(size / stride)`` windows per axis with the
        padding TensorFlow's pooling uses (the odd row/column at the end);
        PyTorch has no string padding for pooling.
    dilation : int or (int, int), default 1
        Spacing between the taps of a window.
    ceil_mode : bool, default False
        Round the output size up instead of down, keeping the last window
        only if it starts inside the input or its left padding (PyTorch's
        rule).
    return_indices : bool, default False
        Also return where each maximum came from.
    layout : {'NCHW', 'NHWC'}, keyword-only
        Memory layout of `input`, of the result and of the indices.
    method : {'auto', 'direct', 'im2col'} or None, keyword-only
        ``'direct'``: fused windowed kernel, no patch matrix; ``'im2col'``:
        patch matrix then a max over each column. ``'auto'`` (or None, the
        default) picks the one expected to be faster for the problem: the
        direct kernel (see Notes).
        ``im2col_nb.explain("max_pool2d", ...)`` shows the choice.

    Returns
    -------
    out : ndarray
        ``(N, C, OH, OW)`` (``(N, OH, OW, C)`` for NHWC; without N if
        unbatched), the dtype of `input`, with
        ``OH = floor_or_ceil((H + 2*ph - dh*(kh-1) - 1) / sh) + 1`` (the ceil
        result reduced by one when that window would start at or past
        ``H + ph``) and likewise for OW.
    indices : ndarray of int64, same shape as `out`
        Only if `return_indices`: the flat position ``h * W + w`` of each
        maximum in its input plane, as PyTorch returns them (for NHWC too).

    Raises
    ------
    TypeError
        Non-real `input`; a non-integer geometry argument; a non-bool flag.
    ValueError
        Wrong number of dimensions or an empty channel/spatial axis; a
        non-positive `kernel_size`, `stride` or `dilation`; negative
        `padding` or `padding` above half the kernel; a window larger than
        the padded input (no output); a dilation that leaves a window with
        no input element; an unknown `layout` or `method`.

    Notes
    -----
    Semantics are PyTorch's: ties go to the first maximum in row-major
    window order, NaN beats every number and the last NaN of a window wins,
    padding is never selected (a window of -inf reports its first real tap).

    Cost: ``N*C*OH*OW*kh*kw`` comparisons either way. ``'im2col'`` also
    writes and re-reads the patch matrix (``kh*kw`` times the output; its
    chunks are bounded by `get_max_workspace_bytes`), ``'direct'`` reads the
    input in place and allocates only the result. Measured with
    ``python bench/bench_pooling.py`` (Numba backend, float32, best of 7 on
    a shared 2-core machine), input 16x64x56x56, k=3, s=2, p=1:

    ======  ======  ======  =================================
    layout  direct  im2col  NumPy ``sliding_window_view`` peer
    ======  ======  ======  =================================
    NCHW    4.4 ms  12.7 ms 80 ms
    NHWC    0.9 ms  13.5 ms --
    ======  ======  ======  =================================

    Peak memory of one call: 3.1 MiB (the output) for direct, 30.8 MiB for
    im2col (the patch matrix), 16.2 MiB for the peer (its -inf padded
    copy). Direct was also faster for k=2, s=2 (2.2 vs 10.0 ms NCHW) and
    k=3, s=1 (4.2 vs 11.6 ms), hence ``'auto'``'s choice.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import max_pool2d
    >>> x = np.array([[[1., 2., 5., 0.],
    ...                [3., 4., 1., 1.],
    ...                [0., 1., 2., 2.],
    ...                [7., 0., 2., 9.]]])
    >>> out, idx = max_pool2d(x, 2, return_indices=True)
    >>> out
    array([[[4., 5.],
            [7., 9.]]])
    >>> idx
    array([[[ 5,  2],
            [12, 15]]])
    >>> max_pool2d(x, 3, stride=2, ceil_mode=True).shape   # the last window starts inside
    (1, 2, 2)
    """
    method = _pool.pool_method("max_pool2d", method)
    call = max_pool_call(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                         layout)
    out, indices = _pool.run_pool2d(call, method)
    if out.dtype != call.result_dtype:  # float16, computed in float32: the values are exact
        out = out.astype(call.result_dtype)
    if call.problem.return_indices:
        return call.finish(out), call.finish(indices)
    return call.finish(out)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, *, layout="NCHW", method=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : array_like
        ``(N, C, H, W)`` or unbatched ``(C, H, W)``; with ``layout="NHWC"``,
        ``(N, H, W, C)`` or ``(H, W, C)``.
    kernel_size : int or (int, int)
        Window size (kh, kw).
    stride : int or (int, int), optional
        Default (None) is `kernel_size`.
    padding : int, (int, int), ((int, int), (int, int)), 'valid' or 'same', default 0
        Implicit zero padding, as in `max_pool2d`. For TensorFlow's
        ``avg_pool(..., padding='SAME')``, which averages only the real
        elements, pass ``'same'`` with ``count_include_pad=False``.
    ceil_mode : bool, default False
        As in `max_pool2d`.
    count_include_pad : bool, default True
        Divide by the window size counting padding (but not the part of a
        ceil_mode window that runs past the padding); if False, by the number
        of real input elements in the window.
    divisor_override : int, optional
        Divide every window sum by this instead (non-zero; PyTorch accepts
        negative values too). ``divisor_override=1`` gives sum pooling.
    layout : {'NCHW', 'NHWC'}, keyword-only
    method : {'auto', 'direct', 'im2col'} or None, keyword-only
        As in `max_pool2d` (``'im2col'`` sums each column); ``'auto'`` or
        None picks ``'direct'`` (see Notes).

    Returns
    -------
    out : ndarray
        ``(N, C, OH, OW)`` (``(N, OH, OW, C)`` for NHWC; without N if
        unbatched), sizes as in `max_pool2d` with dilation 1.

    Raises
    ------
    TypeError
        Non-real `input`, non-integer geometry or `divisor_override`,
        non-bool flags.
    ValueError
        As in `max_pool2d`, and a zero `divisor_override`.

    Notes
    -----
    Cost: ``N*C*OH*OW*kh*kw`` additions. ``'im2col'`` writes and re-reads a
    patch matrix (chunked within `get_max_workspace_bytes`) and sums its
    columns; ``'direct'`` sums each window in place. Measured with
    ``python bench/bench_pooling.py`` (Numba backend, float32), input
    16x64x56x56, k=3, s=2, p=1: direct 3.8 ms (NCHW) / 0.7 ms (NHWC),
    im2col 28 ms / 9.1 ms, NumPy ``sliding_window_view(...).mean`` 65 ms;
    peak memory 3.1 MiB for direct against 30.8 MiB for im2col.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import avg_pool2d
    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> avg_pool2d(x, 2)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    >>> avg_pool2d(x, 2, divisor_override=1)    # sum pooling
    array([[[10., 18.],
            [42., 50.]]])
    >>> avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    array([[[ 2.5,  4. ],
            [ 8.5, 10. ]]])
    """
    method = _pool.pool_method("avg_pool2d", method)
    call = avg_pool_call(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override, layout)
    return call.finish(_pool.run_pool2d(call, method)[0])


# ---------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------


def _grad_and_shape(grad_output, input_shape, layout, keep_dtype=False):
    """Validated 4-D grad_output (kernel-ready), 4-D input shape, input dims,
    whether unbatched, the dtype to return (as `_pool_input`)."""
    layout = check_layout(layout)
    if keep_dtype:
        g, result_dtype = as_value_array("grad_output", grad_output)
    else:
        g = as_float_array("grad_output", grad_output)
        result_dtype = g.dtype
    what = "(N, C, OH, OW)" if layout == "NCHW" else "(N, OH, OW, C)"
    check_ndim("grad_output", g, (3, 4), f"3-D (unbatched) or 4-D {what}")
    try:
        shape = tuple(as_int("input_shape", s) for s in input_shape)
    except TypeError:
        raise TypeError(f"`input_shape` must be a sequence of ints, got {describe(input_shape)}") from None
    if len(shape) != g.ndim:
        raise ValueError(
            f"`input_shape` must have {g.ndim} entries like `grad_output` of shape {g.shape}, got {shape}"
        )
    unbatched = g.ndim == 3
    if unbatched:
        g, shape = g[None], (1,) + shape
    dims = _spatial_dims("input_shape", shape, layout)
    n_img, channels = dims[0], dims[1]
    g_n = g.shape[0]
    g_c = g.shape[1] if layout == "NCHW" else g.shape[3]
    if (g_n, g_c) != (n_img, channels):
        raise ValueError(
            f"`grad_output` of shape {g.shape[unbatched:]} does not match `input_shape` "
            f"{shape[unbatched:]}: batch and channel axes must agree ({layout})"
        )
    return to_kernel_array(g, g.dtype), shape, dims, unbatched, result_dtype


def max_pool2d_backward(grad_output, indices, input_shape, *, layout="NCHW"):
    """Gradient of `max_pool2d` with respect to its input.

    Every ``grad_output`` entry is added to the input position its window's
    maximum came from; overlapping windows that chose the same position
    accumulate.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the pooled output, ``(N, C, OH, OW)`` or unbatched
        ``(C, OH, OW)`` (``(N, OH, OW, C)`` / ``(OH, OW, C)`` for NHWC).
    indices : array_like of ints, same shape as `grad_output`
        As returned by ``max_pool2d(..., return_indices=True)``: flat
        positions ``h * W + w`` in each input plane.
    input_shape : sequence of ints
        Shape of the pooled input, ``(N, C, H, W)`` / ``(C, H, W)`` (or the
        NHWC equivalents).
    layout : {'NCHW', 'NHWC'}, keyword-only

    Returns
    -------
    grad_input : ndarray, shape `input_shape`
        The dtype of `grad_output`: integer gradients are summed in their
        own dtype (wrapping around on overflow, as NumPy's integer sums),
        bool ones by logical or, float16 in float32.

    Raises
    ------
    TypeError
        Non-real `grad_output`, non-integer `indices` or `input_shape`.
    ValueError
        `indices` whose shape differs from `grad_output`'s, an index outside
        ``[0, H*W)``, an `input_shape` whose batch/channel axes disagree with
        `grad_output`, or wrong numbers of dimensions.

    Notes
    -----
    Cost: one pass over `grad_output` plus zeroing the result. Parallel over
    input planes (NCHW) or (image, channel block) (NHWC); each task owns the
    elements it writes, so the sums are race-free and deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import max_pool2d, max_pool2d_backward
    >>> x = np.array([[[1., 2., 0.],
    ...                [0., 3., 0.],
    ...                [0., 0., 0.]]])
    >>> out, idx = max_pool2d(x, 2, stride=1, return_indices=True)
    >>> idx                      # all four windows pick the 3 at (1, 1)
    array([[[4, 4],
            [4, 4]]])
    >>> max_pool2d_backward(np.ones_like(out), idx, x.shape)
    array([[[0., 0., 0.],
            [0., 4., 0.],
            [0., 0., 0.]]])
    """
    g, shape, dims, unbatched, result_dtype = _grad_and_shape(grad_output, input_shape, layout,
                                                              keep_dtype=True)
    layout = check_layout(layout)
    n_img, channels, height, width = dims
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"`indices` must hold integers, got dtype {idx.dtype}")
    if unbatched:
        idx = idx[None] if idx.ndim == 3 else idx
    if idx.shape != g.shape:
        raise ValueError(
            f"`indices` must have the shape of `grad_output` {g.shape[unbatched:]}, "
            f"got {np.shape(indices)}"
        )
    area = height * width
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= area:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"`indices` must lie in [0, H*W) = [0, {area}) for input planes of {height}x{width}, "
                f"got {bad}"
            )
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    grad_input = np.empty(shape, dtype=g.dtype)
    _pool.max_pool2d_backward(g, idx, grad_input, layout)
    if grad_input.dtype != result_dtype:  # float16, summed in float32
        grad_input = grad_input.astype(result_dtype)
    return grad_input[0] if unbatched else grad_input


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                        layout="NCHW"):
    """Gradient of `avg_pool2d` with respect to its input.

    Each input element of a window receives that window's ``grad_output``
    divided by the window's divisor; overlapping windows accumulate.

    Parameters
    ----------
    grad_output : array_like
        ``(N, C, OH, OW)`` or unbatched ``(C, OH, OW)`` (NHWC:
        ``(N, OH, OW, C)`` / ``(OH, OW, C)``), the shape the forward pool
        gives for `input_shape`.
    input_shape : sequence of ints
        Shape of the pooled input.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As passed to `avg_pool2d`.
    layout : {'NCHW', 'NHWC'}, keyword-only

    Returns
    -------
    grad_input : ndarray, shape `input_shape`
        Same float dtype as `grad_output` (after promotion).

    Raises
    ------
    TypeError, ValueError
        As in `avg_pool2d`, and a `grad_output` whose shape is not the
        forward output shape for `input_shape`.

    Notes
    -----
    Cost: ``N*C*OH*OW*kh*kw`` additions. Parallel over input planes (NCHW)
    or (image, channel block) (NHWC): race-free and deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import avg_pool2d_backward
    >>> avg_pool2d_backward(np.ones((1, 2, 2)), (1, 3, 3), 2, stride=1)
    array([[[0.25, 0.5 , 0.25],
            [0.5 , 1.  , 0.5 ],
            [0.25, 0.5 , 0.25]]])
    """
    g, shape, dims, unbatched, _ = _grad_and_shape(grad_output, input_shape, layout)
    layout = check_layout(layout)
    n_img, channels, height, width = dims
    geom = pool_geometry((height, width), kernel_size, stride, padding, 1, ceil_mode)
    cip = flag("count_include_pad", count_include_pad)
    divisor = optional_nonzero_int("divisor_override", divisor_override)
    want = _pool.pool_out_shape(layout, n_img, channels, geom)
    if g.shape != want:
        raise ValueError(
            f"`grad_output` must have shape {want[unbatched:]} (the avg_pool2d output for "
            f"input_shape {shape[unbatched:]}), got {g.shape[unbatched:]}"
        )
    grad_input = np.empty(shape, dtype=g.dtype)
    _pool.avg_pool2d_backward(g, grad_input, geom, layout, cip, divisor)
    return grad_input[0] if unbatched else grad_input
