"""Drivers of the GEMM methods of conv2d: tiles of patches, then BLAS.

Numba backend, calls of PARALLEL_MIN_FLOPS or more: one parallel Numba
kernel (``conv_tiles_nchw`` / ``conv_tiles_nhwc`` / ``conv_shift_*``) runs the
whole loop, worker w taking tiles w, w + workers, ..., and calls NumPy's own
``cblas_?gemm`` through a C function pointer: no Python, GIL or thread
wake-up per tile. Against the Python driver below, measured with 2 threads:
0.80x the time on downsample and lenet-c1, 0.90x on pointwise, equal on the
large layers. Else (smaller calls, NumPy backend, or NumPy's GEMM symbol not
found) a Python driver: worker threads (`workers.run_tiles`) pull the next
tile and call the backend's serial im2col kernel and ``np.matmul``.

Layouts BLAS takes as they are: NCHW ``W (F, K) @ cols (K, span)`` writes
``out[n, :, p0:p1]``, a strided view handed to BLAS with its leading
dimension (no copy); NHWC ``rows (span, K) @ W.T`` writes a contiguous block
of ``out``.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from .._core.backend import backend_module
from .._core.workspace import scratch
from . import plan as _plan
from .workers import run_tiles, single_threaded_blas


# ---------------------------------------------------------------------------
# NCHW
# ---------------------------------------------------------------------------


def conv_nchw(x, weight, bias, out, geom, groups: int, budget: int, method: str) -> None:
    """``out (N, F, OH, OW) = conv(x (N, C, H, W), weight (F, C/g, kh, kw)) + bias``
    by `method`: 'im2col' (patch-matrix tiles), 'pointwise' (1x1: the input
    is the patch matrix) or 'shift' (shifted GEMMs, Numba backend only)."""
    backend = backend_module()
    n_img, channels = x.shape[:2]
    filters = weight.shape[0]
    fg, cgk = filters // groups, (channels // groups) * geom.kernel_area
    k_total = channels * geom.kernel_area
    area = geom.out_area
    dtype, itemsize = x.dtype, x.dtype.itemsize
    w2 = weight.reshape(filters, cgk)
    out3 = out.reshape(n_img, filters, area)
    bias_col = None if bias is None else bias[:, None]
    flops = 2 * n_img * filters * cgk * area
    gemm = _plan.native_gemm(backend, dtype, flops, force=method == "shift")
    plan = _plan.plan_nchw(n_img, channels, filters, geom, groups, itemsize, budget,
                           bias is not None, _plan.workers_for(flops), gemm is not None,
                           _plan.tuning(), method)
    tiles, fuse, workers = plan.tiles, plan.fuse, plan.workers
    w_ext = np.concatenate([w2, bias_col], axis=1) if fuse else None

    if gemm is not None:
        # One parallel region, `workers` workers each with its own scratch
        # row, BLAS single-threaded meanwhile.
        work = scratch((workers, plan.work_length), dtype)
        if method == "shift":
            with single_threaded_blas() if workers > 1 else nullcontext():
                backend.conv_shift_nchw(gemm, x, _plan.weight_taps(weight), bias, out3,
                                        plan.table, geom, work)
            return
        with single_threaded_blas() if workers > 1 else nullcontext():
            backend.conv_tiles_nchw(gemm, x, w_ext if fuse else w2, bias, out3, plan.table, geom,
                                    groups, fuse, method == "pointwise", work)
        return

    if method == "pointwise":
        x3 = x.reshape(n_img, channels, area)

        def pointwise(t):
            n0, nb, p0, p1 = tiles[t]
            dest = out3[n0:n0 + nb, :, p0:p1]
            if w_ext is not None:
                rows = scratch((nb, channels + 1, p1 - p0), dtype)
                rows[:, :channels] = x3[n0:n0 + nb, :, p0:p1]
                rows[:, channels] = 1.0
                np.matmul(w_ext, rows, out=dest)
                return
            for grp in range(groups):
                fs = slice(grp * fg, (grp + 1) * fg)
                np.matmul(w2[fs], x3[n0:n0 + nb, grp * cgk:(grp + 1) * cgk, p0:p1], out=dest[:, fs])
            if bias_col is not None:
                dest += bias_col

        run_tiles(len(tiles), pointwise, workers)
        return

    def tile(t):
        n0, nb, p0, p1 = tiles[t]
        span = nb * (p1 - p0)
        # Folded: several small images in one GEMM (F, K) @ (K, nb*L), then a
        # scatter to (nb, F, L). Else one GEMM per image, written in place:
        # a strided view of out (stacked over the images, NumPy loops in C).
        folded = _plan.is_folded(nb, area)
        rows = k_total + 1 if fuse and not folded else k_total
        buf = scratch(((rows + (filters if folded else 0)) * span,), dtype)
        cols = buf[:rows * span].reshape(rows, span)
        backend.im2col_tile(x, cols[:k_total], geom, n0, nb, p0, p1)
        if not folded:
            if nb > 1:
                dest = out3[n0:n0 + nb]
                cols = cols.reshape(rows, nb, area).transpose(1, 0, 2)
            else:
                dest = out3[n0, :, p0:p1]
            if rows > k_total:
                cols[..., k_total, :] = 1.0
                np.matmul(w_ext, cols, out=dest)
                return
            for grp in range(groups):
                fs = slice(grp * fg, (grp + 1) * fg)
                np.matmul(w2[fs], cols[..., grp * cgk:(grp + 1) * cgk, :], out=dest[..., fs, :])
            if bias_col is not None:
                dest += bias_col
            return
        result = buf[k_total * span:].reshape(filters, span)
        for grp in range(groups):
            fs = slice(grp * fg, (grp + 1) * fg)
            np.matmul(w2[fs], cols[grp * cgk:(grp + 1) * cgk], out=result[fs])
        # (F, nb*L) -> out[n0:n0+nb] (nb, F, L), adding the bias on the way.
        backend.scatter_folded(result, bias, out3[n0:n0 + nb])

    run_tiles(len(tiles), tile, workers)


def weight_grad_nchw(x, go, gw, geom, groups: int, budget: int) -> None:
    """``gw (F, C/groups*kh*kw) = sum over images of go (F, L) @ im2col(x).T``,
    the weight gradient of conv2d for `x` (N, C, H, W) and `go` (N, F, L), in
    the Numba tile kernel: conv2d's tiles, each worker adding its tiles'
    GEMMs into its own accumulator, summed at the end. Needs the Numba
    backend and NumPy's GEMM (the weight gradient's 'tiles' method, which
    `auto` takes for calls of PARALLEL_MIN_FLOPS or more; see
    ``_engine/grad.py``)."""
    backend = backend_module()
    n_img, channels = x.shape[:2]
    filters, k_group = gw.shape
    flops = 2 * n_img * filters * k_group * geom.out_area
    gemm = _plan.native_gemm(backend, x.dtype, flops, force=True)
    if gemm is None or getattr(backend, "weight_grad_tiles_nchw", None) is None:
        raise RuntimeError("the weight gradient's tile kernel needs the numba backend and "
                           "NumPy's BLAS GEMM")
    plan = _plan.plan_nchw(n_img, channels, filters, geom, groups, x.dtype.itemsize, budget,
                           False, _plan.workers_for(flops), True, _plan.tuning(), "im2col")
    k_total = channels * geom.kernel_area
    # scratch per tile: its patch matrix and, for several images, their
    # grad_output gathered side by side (the GEMM's K runs across them)
    length = max(k_total * ld + (filters * nb * (p1 - p0) if nb > 1 else 0)
                 for _, nb, p0, p1, _, ld in plan.table.tolist())
    acc = np.zeros((plan.workers, filters, k_group), x.dtype)
    work = scratch((plan.workers, length), x.dtype)
    with single_threaded_blas() if plan.workers > 1 else nullcontext():
        backend.weight_grad_tiles_nchw(gemm, x, go, acc, plan.table, geom, work)
    np.sum(acc, axis=0, out=gw)


# ---------------------------------------------------------------------------
# NHWC
# ---------------------------------------------------------------------------


def conv_nhwc(x, weight, bias, out, geom, groups: int, budget: int, method: str) -> None:
    """``out (N, OH, OW, F) = conv(x (N, H, W, C), weight (F, C/g, kh, kw)) + bias``
    by `method` ('im2col', 'pointwise' or 'shift', as `conv_nchw`)."""
    backend = backend_module()
    n_img, channels = x.shape[0], x.shape[3]
    filters, cg = weight.shape[:2]
    fg, cgk = filters // groups, cg * geom.kernel_area
    k_total = channels * geom.kernel_area
    dtype = x.dtype
    total = n_img * geom.out_area
    out2 = out.reshape(total, filters)
    flops = 2 * n_img * filters * cgk * geom.out_area
    gemm = _plan.native_gemm(backend, dtype, flops, force=method == "shift")
    plan = _plan.plan_nhwc(n_img, channels, filters, geom, groups, dtype.itemsize, budget,
                           _plan.workers_for(flops), gemm is not None, _plan.tuning(), method)
    if gemm is not None:
        work = scratch((plan.workers, plan.work_length), dtype)
        with single_threaded_blas() if plan.workers > 1 else nullcontext():
            if method == "shift":
                backend.conv_shift_nhwc(gemm, x, _plan.weight_taps(weight), bias, out2,
                                        plan.table, geom, work)
            else:
                backend.conv_tiles_nhwc(gemm, x, _plan.weight_rows(weight, groups), bias, out2,
                                        plan.table, plan.positions, geom, method == "pointwise",
                                        work)
        return
    w_rows = _plan.weight_rows(weight, groups)  # (groups, F/groups, kh*kw*C/groups)
    pointwise = method == "pointwise"
    x2 = x.reshape(total, channels) if pointwise else None
    starts, positions = plan.starts, plan.positions

    def tile(t):
        q0 = starts[t]
        q1 = min(total, q0 + positions)
        if pointwise:
            rows = x2[q0:q1]
        else:
            rows = scratch((q1 - q0, k_total), dtype)
            backend.im2row_tile(x, rows, geom, groups, q0, q1)
        dest = out2[q0:q1]
        for grp in range(groups):
            np.matmul(rows[:, grp * cgk:(grp + 1) * cgk], w_rows[grp].T,
                      out=dest[:, grp * fg:(grp + 1) * fg])
        if bias is not None:
            dest += bias

    run_tiles(len(starts), tile, plan.workers)
