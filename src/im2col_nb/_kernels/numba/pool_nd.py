"""Max and average pooling over three spatial axes, forward and backward.

Same interface as ``_kernels/numpy/pool_nd.py``: channels-last arrays
``(N, D, H, W, C)`` (a channels-first batch comes in as ``(N*C, D, H, W,
1)``, for which dedicated one-channel kernels run) and one index table per
axis (``_core/padmap.py``). The tables are read once per call into
`axis_runs` (which taps of each window read real input, which windows of
each tap do, the divisor factors): the kernels then loop over exactly the
real taps, with no per-tap bounds test, so windows fully inside the input
and border windows run the same check-free loops.

Window semantics are PyTorch's, as in ``pool.py``: taps in row-major window
order, a tap replaces the running best when ``v > best`` or ``v`` is NaN
(ties keep the first, NaN wins, a later NaN replaces an earlier one),
padding is never chosen. Indices are flat ``(d*H + h)*W + w`` positions in
each (n, c) volume.

Parallelism: the forward kernels split (volume or image, output depth), so
one volume still uses every core; the average backward splits (volume or
image, input depth) and gathers what each input slice receives; the max
backward owns a volume (or, channels-last, an image) per task. No task
writes where another does: race-free and deterministic.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..numpy.pool_nd import axis_runs
from ..._core.dtypes import lowest
from ._jit import JIT_OPTIONS as _JIT
from .pool import _row_add, _row_max, _row_max_index
from .pool_backward import max_pool2d_backward as _scatter

__all__ = ["avg_pool_nd", "avg_pool_nd_backward", "max_pool_nd", "max_pool_nd_backward"]


# ---------------------------------------------------------------------------
# channels-first: one volume (P, D, H, W), output rows updated tap by tap
# ---------------------------------------------------------------------------


@njit(parallel=True, **_JIT)
def _max_volumes(x, out, indices, lowest, td, th, tw, d_lo, d_hi, h_lo, h_hi, w_first, j_lo,
                 j_hi, step):
    # x (P, D, H, W), out/indices (P, OD, OH, OW); one task per (volume,
    # output depth). For every real (kd, kh) tap of an output row and every
    # kw tap, the update runs over the run of output columns that tap reads
    # real input for, as a strided branch-free select (vectorised).
    planes, depth, height, width = x.shape
    out_d, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    kernel_w = tw.shape[0]
    area = height * width
    want = indices.shape[0] > 0
    # `lowest`: -inf, or an integer dtype's minimum (_core/dtypes.py)
    for task in prange(planes * out_d):
        p = task // out_d
        od = task - p * out_d
        vol = x[p]
        for oh in range(out_h):
            dest = out[p, od, oh]
            for j in range(out_w):
                dest[j] = lowest
            if want:
                base = td[d_lo[od], od] * area + th[h_lo[oh], oh] * width
                first = indices[p, od, oh]
                for j in range(out_w):
                    first[j] = base + w_first[j]
            for kd in range(d_lo[od], d_hi[od]):
                d = td[kd, od]
                for kh in range(h_lo[oh], h_hi[oh]):
                    h = th[kh, oh]
                    src = vol[d, h]
                    for kw in range(kernel_w):
                        a = j_lo[kw]
                        b = j_hi[kw]
                        if a >= b:
                            continue
                        w = tw[kw, a]
                        if want:
                            _row_max_index(dest[a:b], indices[p, od, oh, a:b], src[w:], step,
                                           d * area + h * width + w, step)
                        else:
                            _row_max(dest[a:b], src[w:], step)


@njit(parallel=True, **_JIT)
def _avg_volumes(x, out, td, th, tw, d_lo, d_hi, h_lo, h_hi, j_lo, j_hi, step, count_d,
                 count_h, count_w, divisor_override):
    # As _max_volumes, summing; then one division per output.
    planes = x.shape[0]
    out_d, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    kernel_w = tw.shape[0]
    for task in prange(planes * out_d):
        p = task // out_d
        od = task - p * out_d
        vol = x[p]
        for oh in range(out_h):
            dest = out[p, od, oh]
            for j in range(out_w):
                dest[j] = 0.0
            for kd in range(d_lo[od], d_hi[od]):
                d = td[kd, od]
                for kh in range(h_lo[oh], h_hi[oh]):
                    src = vol[d, th[kh, oh]]
                    for kw in range(kernel_w):
                        a = j_lo[kw]
                        b = j_hi[kw]
                        if a < b:
                            _row_add(dest[a:b], src[tw[kw, a]:], step)
            if divisor_override != 0:
                for j in range(out_w):
                    dest[j] = dest[j] / divisor_override
            else:
                base = count_d[od] * count_h[oh]
                for j in range(out_w):
                    dest[j] = dest[j] / (base * count_w[j])


@njit(inline="always", **_JIT)
def _row_scatter(dest, src, step):
    # dest[t*step] += src[t]: one kw tap's shares for a run of output
    # columns (distinct targets; constant-step branches vectorise).
    n = src.shape[0]
    if step == 1:
        for t in range(n):
            dest[t] += src[t]
    elif step == 2:
        for t in range(n):
            dest[2 * t] += src[t]
    else:
        for t in range(n):
            dest[t * step] += src[t]


@njit(parallel=True, **_JIT)
def _divide(grad, share, count_d, count_h, count_w, divisor_override):
    # share = grad / divisor of its window, (N, OD, OH, OW, C): each output's
    # division done once, not once per tap that spreads it.
    n_img, out_d, out_h, out_w, channels = grad.shape
    for task in prange(n_img * out_d):
        n = task // out_d
        od = task - n * out_d
        for oh in range(out_h):
            for ow in range(out_w):
                if divisor_override != 0:
                    divisor = divisor_override
                else:
                    divisor = count_d[od] * count_h[oh] * count_w[ow]
                src = grad[n, od, oh, ow]
                dest = share[n, od, oh, ow]
                for c in range(channels):
                    dest[c] = src[c] / divisor


@njit(parallel=True, **_JIT)
def _avg_backward_volumes(share, grad_input, td, th, tw, d_lo, d_hi, h_lo, h_hi, j_lo, j_hi,
                          step):
    # share (P, OD, OH, OW) (the gradient over each window's divisor),
    # grad_input (P, D, H, W); one task per (volume, input depth): it zeroes
    # its slice, then adds the share of every window with a depth tap on that
    # slice (the adjoint of _avg_volumes).
    planes, depth, height, width = grad_input.shape
    out_d, out_h = share.shape[1], share.shape[2]
    kernel_w = tw.shape[0]
    for task in prange(planes * depth):
        p = task // depth
        d = task - p * depth
        dest = grad_input[p, d]
        for h in range(height):
            for w in range(width):
                dest[h, w] = 0.0
        for od in range(out_d):
            for kd in range(d_lo[od], d_hi[od]):
                if td[kd, od] != d:
                    continue
                for oh in range(out_h):
                    src = share[p, od, oh]
                    for kh in range(h_lo[oh], h_hi[oh]):
                        row = dest[th[kh, oh]]
                        for kw in range(kernel_w):
                            a = j_lo[kw]
                            b = j_hi[kw]
                            if a < b:
                                _row_scatter(row[tw[kw, a]:], src[a:b], step)


# ---------------------------------------------------------------------------
# channels-last: (N, D, H, W, C), each window's taps as channel vectors
# ---------------------------------------------------------------------------


@njit(parallel=True, **_JIT)
def _max_channels_last(x, out, indices, td, th, tw, d_lo, d_hi, h_lo, h_hi, w_lo, w_hi):
    # one task per (image, output depth); the inner loops run over contiguous
    # channels. The running best starts at the window's first real tap.
    n_img, depth, height, width, channels = x.shape
    out_d, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    want = indices.shape[0] > 0
    for task in prange(n_img * out_d):
        n = task // out_d
        od = task - n * out_d
        img = x[n]
        for oh in range(out_h):
            for ow in range(out_w):
                dest = out[n, od, oh, ow]
                fd = td[d_lo[od], od]
                fh = th[h_lo[oh], oh]
                fw = tw[w_lo[ow], ow]
                src = img[fd, fh, fw]
                for c in range(channels):
                    dest[c] = src[c]
                if want:
                    best = indices[n, od, oh, ow]
                    flat0 = (fd * height + fh) * width + fw
                    for c in range(channels):
                        best[c] = flat0
                for kd in range(d_lo[od], d_hi[od]):
                    d = td[kd, od]
                    for kh in range(h_lo[oh], h_hi[oh]):
                        h = th[kh, oh]
                        for kw in range(w_lo[ow], w_hi[ow]):
                            w = tw[kw, ow]
                            src = img[d, h, w]
                            if want:
                                best = indices[n, od, oh, ow]
                                flat = (d * height + h) * width + w
                                for c in range(channels):
                                    v = src[c]
                                    b = dest[c]
                                    take = (v > b) | (v != v)
                                    dest[c] = v if take else b
                                    best[c] = flat if take else best[c]
                            else:
                                for c in range(channels):
                                    v = src[c]
                                    b = dest[c]
                                    dest[c] = v if (v > b) | (v != v) else b


@njit(parallel=True, **_JIT)
def _avg_channels_last(x, out, td, th, tw, d_lo, d_hi, h_lo, h_hi, w_lo, w_hi, count_d,
                       count_h, count_w, divisor_override):
    n_img, channels = x.shape[0], x.shape[4]
    out_d, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    for task in prange(n_img * out_d):
        n = task // out_d
        od = task - n * out_d
        img = x[n]
        for oh in range(out_h):
            for ow in range(out_w):
                dest = out[n, od, oh, ow]
                for c in range(channels):
                    dest[c] = 0.0
                for kd in range(d_lo[od], d_hi[od]):
                    d = td[kd, od]
                    for kh in range(h_lo[oh], h_hi[oh]):
                        h = th[kh, oh]
                        for kw in range(w_lo[ow], w_hi[ow]):
                            src = img[d, h, tw[kw, ow]]
                            for c in range(channels):
                                dest[c] += src[c]
                if divisor_override != 0:
                    divisor = divisor_override
                else:
                    divisor = count_d[od] * count_h[oh] * count_w[ow]
                for c in range(channels):
                    dest[c] = dest[c] / divisor


@njit(parallel=True, **_JIT)
def _avg_backward_channels_last(share, grad_input, td, th, tw, d_lo, d_hi, h_lo, h_hi, w_lo,
                                w_hi):
    # one task per (image, input depth), as _avg_backward_volumes.
    n_img, depth, height, width, channels = grad_input.shape
    out_d, out_h, out_w = share.shape[1], share.shape[2], share.shape[3]
    for task in prange(n_img * depth):
        n = task // depth
        d = task - n * depth
        dest = grad_input[n, d]
        for h in range(height):
            for w in range(width):
                for c in range(channels):
                    dest[h, w, c] = 0.0
        for od in range(out_d):
            for kd in range(d_lo[od], d_hi[od]):
                if td[kd, od] != d:
                    continue
                for oh in range(out_h):
                    for ow in range(out_w):
                        src = share[n, od, oh, ow]
                        for kh in range(h_lo[oh], h_hi[oh]):
                            h = th[kh, oh]
                            for kw in range(w_lo[ow], w_hi[ow]):
                                row = dest[h, tw[kw, ow]]
                                for c in range(channels):
                                    row[c] += src[c]


@njit(parallel=True, **_JIT)
def _max_backward_channels_last(grad, indices, grad_input):
    # grad/indices (N, L, C), grad_input (N, V, C): one task per image, which
    # it owns (zeroing and scatter-add over whole channel rows). Measured on
    # 2x16x56x56x64 (k(1,3,3) s(1,2,2)) at 3.3 ms against 15.5 ms for the
    # (image, 32-channel block) tasks of the 2-D kernel.
    n_img, length, channels = grad.shape
    volume = grad_input.shape[1]
    for n in prange(n_img):
        gi = grad_input[n]
        for a in range(volume):
            row = gi[a]
            for c in range(channels):
                row[c] = 0.0
        g = grad[n]
        idx = indices[n]
        for l in range(length):
            gl = g[l]
            il = idx[l]
            for c in range(channels):
                gi[il[c], c] += gl[c]


# ---------------------------------------------------------------------------
# Backend interface (same names and signatures as _kernels/numpy/pool_nd.py)
# ---------------------------------------------------------------------------


def _volumes(arr):
    """(P, D, H, W) view of a one-channel (P, D, H, W, 1) array (or of the
    empty no-indices placeholder)."""
    return arr.reshape(arr.shape[:4])


def _counts(runs, count_include_pad):
    return runs.count_pad if count_include_pad else runs.count_real


def max_pool_nd(x, out, indices, tables):
    """Max pool `x` (N, D, H, W, C) into `out` (N, OD, OH, OW, C) through the
    index `tables` (td, th, tw); flat ``(d*H + h)*W + w`` positions of the
    maxima into `indices` (same shape, int64) unless it is empty."""
    td, th, tw = tables
    rd, rh, rw = (axis_runs(t) for t in tables)
    if x.shape[4] == 1:
        w_first = tw[rw.k_lo, np.arange(tw.shape[1])]
        _max_volumes(_volumes(x), _volumes(out), _volumes(indices), lowest(x.dtype), td, th, tw, rd.k_lo, rd.k_hi,
                     rh.k_lo, rh.k_hi, w_first, rw.o_lo, rw.o_hi, rw.step)
    else:
        _max_channels_last(x, out, indices, td, th, tw, rd.k_lo, rd.k_hi, rh.k_lo, rh.k_hi,
                           rw.k_lo, rw.k_hi)


def avg_pool_nd(x, out, tables, count_include_pad, divisor_override):
    """Average pool `x` (N, D, H, W, C) into `out` (N, OD, OH, OW, C);
    `divisor_override` 0 means none."""
    td, th, tw = tables
    rd, rh, rw = (axis_runs(t) for t in tables)
    counts = (_counts(rd, count_include_pad), _counts(rh, count_include_pad),
              _counts(rw, count_include_pad), int(divisor_override))
    if x.shape[4] == 1:
        _avg_volumes(_volumes(x), _volumes(out), td, th, tw, rd.k_lo, rd.k_hi, rh.k_lo, rh.k_hi,
                     rw.o_lo, rw.o_hi, rw.step, *counts)
    else:
        _avg_channels_last(x, out, td, th, tw, rd.k_lo, rd.k_hi, rh.k_lo, rh.k_hi, rw.k_lo,
                           rw.k_hi, *counts)


def max_pool_nd_backward(grad, indices, grad_input):
    """Overwrite `grad_input` (N, V, C) with the scatter-add of `grad`
    (N, L, C) at the flat volume positions `indices` (N, L, C, int64,
    already range-checked); a task owns a volume (C == 1) or an image."""
    if grad.shape[2] == 1:
        _scatter(grad, indices, grad_input)
    else:
        _max_backward_channels_last(grad, indices, grad_input)


def avg_pool_nd_backward(grad, grad_input, tables, count_include_pad, divisor_override):
    """Overwrite `grad_input` (N, D, H, W, C) with the average-pool gradient
    of `grad` (N, OD, OH, OW, C): the adjoint of `avg_pool_nd`."""
    td, th, tw = tables
    rd, rh, rw = (axis_runs(t) for t in tables)
    share = np.empty_like(grad)
    _divide(grad, share, _counts(rd, count_include_pad), _counts(rh, count_include_pad),
            _counts(rw, count_include_pad), int(divisor_override))
    if grad.shape[4] == 1:
        _avg_backward_volumes(_volumes(share), _volumes(grad_input), td, th, tw, rd.k_lo, rd.k_hi,
                              rh.k_lo, rh.k_hi, rw.o_lo, rw.o_hi, rw.step)
    else:
        _avg_backward_channels_last(share, grad_input, td, th, tw, rd.k_lo, rd.k_hi, rh.k_lo,
                                    rh.k_hi, rw.k_lo, rw.k_hi)
