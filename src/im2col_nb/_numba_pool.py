"""Numba kernels for max and average pooling (forward and backward).

Same public names and signatures as ``_numpy_pool``; re-exported by
``_numba_backend``. Inputs are validated, C-contiguous float32/float64 arrays;
outputs are preallocated by the wrappers in ``pooling.py``.

Window semantics (PyTorch's CPU kernels): taps are visited in row-major
window order and a tap replaces the running best when ``v > best`` or ``v``
is NaN, so ties keep the first maximum, NaN beats every number and the last
NaN of a window wins. Padding taps are skipped (they act as -inf); the index
starts at the window's first real tap, so a window of -inf values reports
that tap. Indices are flat ``h * W + w`` positions in the input plane.

Layouts: the direct and backward kernels are written channels-last,
``(N, H, W, C)``; an NCHW batch is passed as ``(N*C, H, W, 1)`` (a free
reshape), for which dedicated scalar kernels are used, since a one-channel
inner loop would waste most of the work on loop overhead. The im2col-method
reducers read the patch matrices built by the core ``im2col`` (NCHW) and
``im2row_nhwc`` (NHWC) kernels.

Parallelism: every ``prange`` task owns a disjoint output slice (an output
row, an output plane, or an input plane / channel block for the backward
scatter), so there are no write races and results are deterministic.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba_common import JIT_OPTIONS as _JIT
from ._numba_common import valid_range as _valid_range

__all__ = [
    "avg_pool2d_backward",
    "avg_pool2d_direct",
    "avg_pool2d_reduce_cols",
    "avg_pool2d_reduce_rows",
    "max_pool2d_backward",
    "max_pool2d_direct",
    "max_pool2d_reduce_cols",
    "max_pool2d_reduce_rows",
]

# Channels per backward task in channels-last layout: a block owns whole
# cache lines, so threads do not share lines more than at block edges.
_CHANNEL_BLOCK = 32


@njit(inline="always", **_JIT)
def _avg_extent(start, kernel, size, pad, count_include_pad):
    """(first, stop, count) of an average-pool window along one axis:
    real input positions [first, stop) and the divisor factor (window length
    up to the far edge of the padding if counting padding, else real length)."""
    end = start + kernel
    if end > size + pad:
        end = size + pad
    span = end - start
    first = start if start > 0 else 0
    stop = end if end < size else size
    if count_include_pad:
        return first, stop, span
    return first, stop, stop - first


# Row helpers: `dest` is a slice of an output row, `src` an input row sliced
# to start at the first tap, read every `step` elements. Slicing first keeps
# every index provably non-negative (so Numba emits no wraparound select),
# and the step-1/step-2 branches give LLVM constant strides: both are what
# lets these loops vectorise.


@njit(inline="always", **_JIT)
def _row_max(dest, src, step):
    # take v when v > best or v is NaN (PyTorch's rule), as a select
    n = dest.shape[0]
    if step == 1:
        for t in range(n):
            v = src[t]
            d = dest[t]
            dest[t] = v if (v > d) | (v != v) else d
    elif step == 2:
        for t in range(n):
            v = src[2 * t]
            d = dest[t]
            dest[t] = v if (v > d) | (v != v) else d
    else:
        for t in range(n):
            v = src[t * step]
            d = dest[t]
            dest[t] = v if (v > d) | (v != v) else d


@njit(inline="always", **_JIT)
def _row_max_index(dest, index, src, step, flat, flat_step):
    # as _row_max, also recording flat + t*flat_step where the value is taken
    n = dest.shape[0]
    if step == 1:
        for t in range(n):
            v = src[t]
            d = dest[t]
            take = (v > d) | (v != v)
            dest[t] = v if take else d
            index[t] = flat + t * flat_step if take else index[t]
    elif step == 2:
        for t in range(n):
            v = src[2 * t]
            d = dest[t]
            take = (v > d) | (v != v)
            dest[t] = v if take else d
            index[t] = flat + t * flat_step if take else index[t]
    else:
        for t in range(n):
            v = src[t * step]
            d = dest[t]
            take = (v > d) | (v != v)
            dest[t] = v if take else d
            index[t] = flat + t * flat_step if take else index[t]


@njit(inline="always", **_JIT)
def _row_add(dest, src, step):
    n = dest.shape[0]
    if step == 1:
        for t in range(n):
            dest[t] += src[t]
    elif step == 2:
        for t in range(n):
            dest[t] += src[2 * t]
    else:
        for t in range(n):
            dest[t] += src[t * step]


# ---------------------------------------------------------------------------
# direct (fused) forward kernels
# ---------------------------------------------------------------------------


@njit(parallel=True, **_JIT)
def _max_direct_planes(x, out, indices, kernel_h, kernel_w, stride_h, stride_w,
                       pad_top, pad_left, dilation_h, dilation_w):
    # x (P, H, W) planes, out/indices (P, OH, OW); one task per output row.
    # Tap-outer loops: for each window tap (ki, kj) the update runs over the
    # whole output row as a branch-free select, which LLVM vectorises; every
    # output still sees its taps in row-major window order. The running best
    # starts at -inf with the index of the window's first real tap, so a
    # window of -inf values reports that tap, as PyTorch does.
    planes, height, width = x.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    want = indices.shape[0] > 0
    neg_inf = -np.inf
    for task in prange(planes * out_h):
        p = task // out_h
        i = task - p * out_h
        h0 = i * stride_h - pad_top
        ki_lo, ki_hi = _valid_range(h0, dilation_h, height, kernel_h)
        plane = x[p]
        dest = out[p, i]
        for j in range(out_w):
            dest[j] = neg_inf
        if want:
            hb = h0 + ki_lo * dilation_h
            for j in range(out_w):
                w0 = j * stride_w - pad_left
                kj_lo, kj_hi = _valid_range(w0, dilation_w, width, kernel_w)
                indices[p, i, j] = hb * width + w0 + kj_lo * dilation_w
        for ki in range(ki_lo, ki_hi):
            h = h0 + ki * dilation_h
            src = plane[h]
            for kj in range(kernel_w):
                w_off = kj * dilation_w - pad_left
                j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                first = j_lo * stride_w + w_off
                if want:
                    _row_max_index(dest[j_lo:j_hi], indices[p, i, j_lo:j_hi], src[first:],
                                   stride_w, h * width + first, stride_w)
                else:
                    _row_max(dest[j_lo:j_hi], src[first:], stride_w)


@njit(parallel=True, **_JIT)
def _max_direct_nhwc(x, out, indices, kernel_h, kernel_w, stride_h, stride_w,
                     pad_top, pad_left, dilation_h, dilation_w):
    # x (N, H, W, C), out/indices (N, OH, OW, C); one task per output row,
    # the inner loop runs over contiguous channels.
    n_img, height, width, channels = x.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    want = indices.shape[0] > 0
    for task in prange(n_img * out_h):
        n = task // out_h
        i = task - n * out_h
        h0 = i * stride_h - pad_top
        ki_lo, ki_hi = _valid_range(h0, dilation_h, height, kernel_h)
        for j in range(out_w):
            w0 = j * stride_w - pad_left
            kj_lo, kj_hi = _valid_range(w0, dilation_w, width, kernel_w)
            dest = out[n, i, j]
            hb = h0 + ki_lo * dilation_h
            wb = w0 + kj_lo * dilation_w
            src = x[n, hb, wb]
            for c in range(channels):
                dest[c] = src[c]
            if want:
                first = hb * width + wb
                for c in range(channels):
                    indices[n, i, j, c] = first
            for ki in range(ki_lo, ki_hi):
                h = h0 + ki * dilation_h
                for kj in range(kj_lo, kj_hi):
                    w = w0 + kj * dilation_w
                    src = x[n, h, w]
                    if want:
                        flat = h * width + w
                        for c in range(channels):
                            v = src[c]
                            if v > dest[c] or v != v:
                                dest[c] = v
                                indices[n, i, j, c] = flat
                    else:
                        for c in range(channels):
                            v = src[c]
                            if v > dest[c] or v != v:
                                dest[c] = v


@njit(parallel=True, **_JIT)
def _avg_direct_planes(x, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                       count_include_pad, divisor_override):
    # One task per output row; tap-outer accumulation over the whole row
    # (vectorised strided adds), then one division per output.
    planes, height, width = x.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    for task in prange(planes * out_h):
        p = task // out_h
        i = task - p * out_h
        h_first, h_stop, h_count = _avg_extent(i * stride_h - pad_top, kernel_h, height,
                                               pad_top, count_include_pad)
        plane = x[p]
        dest = out[p, i]
        for j in range(out_w):
            dest[j] = 0.0
        for h in range(h_first, h_stop):
            src = plane[h]
            for kj in range(kernel_w):
                w_off = kj - pad_left
                j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                _row_add(dest[j_lo:j_hi], src[j_lo * stride_w + w_off:], stride_w)
        for j in range(out_w):
            w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                   pad_left, count_include_pad)
            divisor = divisor_override if divisor_override != 0 else h_count * w_count
            dest[j] = dest[j] / divisor


@njit(parallel=True, **_JIT)
def _avg_direct_nhwc(x, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                     count_include_pad, divisor_override):
    n_img, height, width, channels = x.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    for task in prange(n_img * out_h):
        n = task // out_h
        i = task - n * out_h
        h_first, h_stop, h_count = _avg_extent(i * stride_h - pad_top, kernel_h, height,
                                               pad_top, count_include_pad)
        for j in range(out_w):
            w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                   pad_left, count_include_pad)
            dest = out[n, i, j]
            for c in range(channels):
                dest[c] = 0.0
            for h in range(h_first, h_stop):
                for w in range(w_first, w_stop):
                    src = x[n, h, w]
                    for c in range(channels):
                        dest[c] += src[c]
            divisor = divisor_override if divisor_override != 0 else h_count * w_count
            for c in range(channels):
                dest[c] = dest[c] / divisor


# ---------------------------------------------------------------------------
# im2col-method reducers: reduce a chunk of the patch matrix
# ---------------------------------------------------------------------------


@njit(parallel=True, **_JIT)
def _max_reduce_cols(cols, out, indices, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                     pad_left, dilation_h, dilation_w, height, width, n_start, row_start):
    # cols (B, C*kh*kw, rows*OW) as im2col builds it; out/indices (N, C, OH, OW).
    # One task per (image, channel): tap-outer loops over contiguous patch
    # rows, valid ranges hoisted so padding taps (zeros in cols) are skipped.
    n_b = cols.shape[0]
    channels = out.shape[1]
    out_w = out.shape[3]
    row_count = cols.shape[2] // out_w
    kk = kernel_h * kernel_w
    want = indices.shape[0] > 0
    neg_inf = -np.inf
    for task in prange(n_b * channels):
        b = task // channels
        c = task - b * channels
        n = n_start + b
        dest = out[n, c]
        for i in range(row_count):
            oi = row_start + i
            drow = dest[oi]
            for j in range(out_w):
                drow[j] = neg_inf
            if want:
                h0 = oi * stride_h - pad_top
                ki_lo, ki_hi = _valid_range(h0, dilation_h, height, kernel_h)
                hb = h0 + ki_lo * dilation_h
                for j in range(out_w):
                    w0 = j * stride_w - pad_left
                    kj_lo, kj_hi = _valid_range(w0, dilation_w, width, kernel_w)
                    indices[n, c, oi, j] = hb * width + w0 + kj_lo * dilation_w
        for ki in range(kernel_h):
            h_off = ki * dilation_h - pad_top
            i_lo, i_hi = _valid_range(row_start * stride_h + h_off, stride_h, height, row_count)
            for kj in range(kernel_w):
                w_off = kj * dilation_w - pad_left
                j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                src = cols[b, c * kk + ki * kernel_w + kj]
                for i in range(i_lo, i_hi):
                    oi = row_start + i
                    base = i * out_w + j_lo
                    if want:
                        flat = (oi * stride_h + h_off) * width + j_lo * stride_w + w_off
                        _row_max_index(dest[oi, j_lo:j_hi], indices[n, c, oi, j_lo:j_hi],
                                       src[base:], 1, flat, stride_w)
                    else:
                        _row_max(dest[oi, j_lo:j_hi], src[base:], 1)


@njit(parallel=True, **_JIT)
def _max_reduce_rows(rows, out, indices, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                     pad_left, dilation_h, dilation_w, height, width, n_start, row_start):
    # rows (B, rows*OW, kh*kw*C) as im2row_nhwc builds it (groups=1);
    # out/indices (N, OH, OW, C). One task per output row.
    n_b = rows.shape[0]
    out_w = out.shape[2]
    channels = out.shape[3]
    row_count = rows.shape[1] // out_w
    want = indices.shape[0] > 0
    for task in prange(n_b * row_count):
        b = task // row_count
        i = task - b * row_count
        n = n_start + b
        oi = row_start + i
        h0 = oi * stride_h - pad_top
        ki_lo, ki_hi = _valid_range(h0, dilation_h, height, kernel_h)
        for j in range(out_w):
            w0 = j * stride_w - pad_left
            kj_lo, kj_hi = _valid_range(w0, dilation_w, width, kernel_w)
            patch = rows[b, i * out_w + j]
            dest = out[n, oi, j]
            first = (ki_lo * kernel_w + kj_lo) * channels
            for c in range(channels):
                dest[c] = patch[first + c]
            if want:
                flat = (h0 + ki_lo * dilation_h) * width + w0 + kj_lo * dilation_w
                for c in range(channels):
                    indices[n, oi, j, c] = flat
            for ki in range(ki_lo, ki_hi):
                for kj in range(kj_lo, kj_hi):
                    base = (ki * kernel_w + kj) * channels
                    if want:
                        flat = (h0 + ki * dilation_h) * width + w0 + kj * dilation_w
                        for c in range(channels):
                            v = patch[base + c]
                            if v > dest[c] or v != v:
                                dest[c] = v
                                indices[n, oi, j, c] = flat
                    else:
                        for c in range(channels):
                            v = patch[base + c]
                            if v > dest[c] or v != v:
                                dest[c] = v


@njit(parallel=True, **_JIT)
def _avg_reduce_cols(cols, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                     height, width, n_start, row_start, count_include_pad, divisor_override):
    # Padding taps are zeros in cols, so every tap is summed; then divide.
    n_b = cols.shape[0]
    channels = out.shape[1]
    out_w = out.shape[3]
    row_count = cols.shape[2] // out_w
    kk = kernel_h * kernel_w
    for task in prange(n_b * channels):
        b = task // channels
        c = task - b * channels
        dest = out[n_start + b, c]
        for i in range(row_count):
            drow = dest[row_start + i]
            for j in range(out_w):
                drow[j] = 0.0
        for r in range(kk):
            src = cols[b, c * kk + r]
            for i in range(row_count):
                _row_add(dest[row_start + i], src[i * out_w:], 1)
        for i in range(row_count):
            oi = row_start + i
            drow = dest[oi]
            h_first, h_stop, h_count = _avg_extent(oi * stride_h - pad_top, kernel_h, height,
                                                   pad_top, count_include_pad)
            for j in range(out_w):
                w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                       pad_left, count_include_pad)
                divisor = divisor_override if divisor_override != 0 else h_count * w_count
                drow[j] = drow[j] / divisor


@njit(parallel=True, **_JIT)
def _avg_reduce_rows(rows, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                     height, width, n_start, row_start, count_include_pad, divisor_override):
    n_b = rows.shape[0]
    out_w = out.shape[2]
    channels = out.shape[3]
    row_count = rows.shape[1] // out_w
    kk = kernel_h * kernel_w
    for task in prange(n_b * row_count):
        b = task // row_count
        i = task - b * row_count
        oi = row_start + i
        h_first, h_stop, h_count = _avg_extent(oi * stride_h - pad_top, kernel_h, height,
                                               pad_top, count_include_pad)
        for j in range(out_w):
            w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                   pad_left, count_include_pad)
            patch = rows[b, i * out_w + j]
            dest = out[n_start + b, oi, j]
            for c in range(channels):
                dest[c] = 0.0
            for r in range(kk):
                base = r * channels
                for c in range(channels):
                    dest[c] += patch[base + c]
            divisor = divisor_override if divisor_override != 0 else h_count * w_count
            for c in range(channels):
                dest[c] = dest[c] / divisor


# ---------------------------------------------------------------------------
# backward kernels (channels-last; NCHW comes in as (N*C, ..., 1))
# ---------------------------------------------------------------------------


@njit(parallel=True, **_JIT)
def _max_backward_planes(grad, indices, grad_input):
    # grad/indices (P, L), grad_input (P, H*W): one task per plane, which it
    # owns, so the scatter-add has no races and a fixed order.
    planes, length = grad.shape
    area = grad_input.shape[1]
    for p in prange(planes):
        gi = grad_input[p]
        for a in range(area):
            gi[a] = 0.0
        g = grad[p]
        idx = indices[p]
        for t in range(length):
            gi[idx[t]] += g[t]


@njit(inline="always", **_JIT)
def _spread_divisor(j, stride_w, pad_left, kernel_w, width, h_count, count_include_pad,
                    divisor_override):
    w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                           pad_left, count_include_pad)
    return divisor_override if divisor_override != 0 else h_count * w_count


@njit(inline="always", **_JIT)
def _row_spread(dest, g, step, j0, pad_left, kernel_w, width, h_count,
                count_include_pad, divisor_override):
    # dest[t*step] += g[t] / divisor(j0 + t): one window tap's share of the
    # gradient for a run of output columns (distinct targets, step >= 1;
    # constant-step branches so the strided stores vectorise).
    n = g.shape[0]
    if step == 1:
        for t in range(n):
            dest[t] += g[t] / _spread_divisor(j0 + t, 1, pad_left, kernel_w, width, h_count,
                                              count_include_pad, divisor_override)
    elif step == 2:
        for t in range(n):
            dest[2 * t] += g[t] / _spread_divisor(j0 + t, 2, pad_left, kernel_w, width, h_count,
                                                  count_include_pad, divisor_override)
    else:
        for t in range(n):
            dest[t * step] += g[t] / _spread_divisor(j0 + t, step, pad_left, kernel_w, width,
                                                     h_count, count_include_pad, divisor_override)


@njit(parallel=True, **_JIT)
def _avg_backward_planes(grad, grad_input, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                         pad_left, count_include_pad, divisor_override):
    # grad (P, OH, OW), grad_input (P, H, W): one task per plane; for each
    # output row, each window tap adds its share to a strided input row.
    planes, out_h, out_w = grad.shape
    height = grad_input.shape[1]
    width = grad_input.shape[2]
    for p in prange(planes):
        gi = grad_input[p]
        for h in range(height):
            for w in range(width):
                gi[h, w] = 0.0
        for i in range(out_h):
            h_first, h_stop, h_count = _avg_extent(i * stride_h - pad_top, kernel_h, height,
                                                   pad_top, count_include_pad)
            g = grad[p, i]
            for h in range(h_first, h_stop):
                row = gi[h]
                for kj in range(kernel_w):
                    w_off = kj - pad_left
                    j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                    _row_spread(row[j_lo * stride_w + w_off:], g[j_lo:j_hi], stride_w, j_lo,
                                pad_left, kernel_w, width, h_count, count_include_pad,
                                divisor_override)


@njit(parallel=True, **_JIT)
def _max_backward(grad, indices, grad_input):
    # grad/indices (N, L, C), grad_input (N, H*W, C). One task per (image,
    # channel block): it owns those channels of one image, so the scatter-add
    # has no races and accumulates in a fixed order.
    n_img, length, channels = grad.shape
    area = grad_input.shape[1]
    n_blocks = (channels + _CHANNEL_BLOCK - 1) // _CHANNEL_BLOCK
    for task in prange(n_img * n_blocks):
        n = task // n_blocks
        c0 = (task - n * n_blocks) * _CHANNEL_BLOCK
        c1 = min(c0 + _CHANNEL_BLOCK, channels)
        gi = grad_input[n]
        for a in range(area):
            for c in range(c0, c1):
                gi[a, c] = 0.0
        g = grad[n]
        idx = indices[n]
        for l in range(length):
            for c in range(c0, c1):
                gi[idx[l, c], c] += g[l, c]


@njit(parallel=True, **_JIT)
def _avg_backward(grad, grad_input, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                  count_include_pad, divisor_override):
    # grad (N, OH, OW, C), grad_input (N, H, W, C); task = (image, channel block).
    n_img, out_h, out_w, channels = grad.shape
    height = grad_input.shape[1]
    width = grad_input.shape[2]
    n_blocks = (channels + _CHANNEL_BLOCK - 1) // _CHANNEL_BLOCK
    for task in prange(n_img * n_blocks):
        n = task // n_blocks
        c0 = (task - n * n_blocks) * _CHANNEL_BLOCK
        c1 = min(c0 + _CHANNEL_BLOCK, channels)
        gi = grad_input[n]
        g = grad[n]
        for h in range(height):
            for w in range(width):
                for c in range(c0, c1):
                    gi[h, w, c] = 0.0
        for i in range(out_h):
            h_first, h_stop, h_count = _avg_extent(i * stride_h - pad_top, kernel_h, height,
                                                   pad_top, count_include_pad)
            for j in range(out_w):
                w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                       pad_left, count_include_pad)
                divisor = divisor_override if divisor_override != 0 else h_count * w_count
                src = g[i, j, c0:c1]
                for h in range(h_first, h_stop):
                    for w in range(w_first, w_stop):
                        dest = gi[h, w, c0:c1]
                        for t in range(c1 - c0):
                            dest[t] += src[t] / divisor


# ---------------------------------------------------------------------------
# Backend interface (same names and signatures as _numpy_pool)
# ---------------------------------------------------------------------------


def _planes(arr):
    """(P, H, W) view of a one-channel (P, H, W, 1) array (or the empty
    no-indices placeholder)."""
    return arr.reshape(arr.shape[:3])


def max_pool2d_direct(x, out, indices, geom):
    """Max pool `x` (N, H, W, C) into `out` (N, OH, OW, C); flat indices into
    `indices` (same shape) unless it is empty (shape[0] == 0)."""
    args = (geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w, geom.pad_top,
            geom.pad_left, geom.dilation_h, geom.dilation_w)
    if x.shape[3] == 1:
        _max_direct_planes(_planes(x), _planes(out), _planes(indices), *args)
    else:
        _max_direct_nhwc(x, out, indices, *args)


def avg_pool2d_direct(x, out, geom, count_include_pad, divisor_override):
    """Average pool `x` (N, H, W, C) into `out` (N, OH, OW, C);
    `divisor_override` 0 means none."""
    args = (geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w, geom.pad_top,
            geom.pad_left, bool(count_include_pad), int(divisor_override))
    if x.shape[3] == 1:
        _avg_direct_planes(_planes(x), _planes(out), *args)
    else:
        _avg_direct_nhwc(x, out, *args)


def max_pool2d_reduce_cols(cols, out, indices, geom, height, width, n_start, row_start):
    """Reduce an im2col chunk `cols` (B, C*kh*kw, rows*OW) into images
    [n_start, n_start+B) and output rows [row_start, row_start+rows) of
    `out`/`indices` (N, C, OH, OW)."""
    _max_reduce_cols(cols, out, indices, geom.kernel_h, geom.kernel_w, geom.stride_h,
                     geom.stride_w, geom.pad_top, geom.pad_left, geom.dilation_h,
                     geom.dilation_w, height, width, n_start, row_start)


def max_pool2d_reduce_rows(rows, out, indices, geom, height, width, n_start, row_start):
    """NHWC twin of `max_pool2d_reduce_cols`: `rows` (B, rows*OW, kh*kw*C),
    `out`/`indices` (N, OH, OW, C)."""
    _max_reduce_rows(rows, out, indices, geom.kernel_h, geom.kernel_w, geom.stride_h,
                     geom.stride_w, geom.pad_top, geom.pad_left, geom.dilation_h,
                     geom.dilation_w, height, width, n_start, row_start)


def avg_pool2d_reduce_cols(cols, out, geom, height, width, n_start, row_start,
                           count_include_pad, divisor_override):
    """Average-pool twin of `max_pool2d_reduce_cols`."""
    _avg_reduce_cols(cols, out, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                     geom.pad_top, geom.pad_left, height, width, n_start, row_start,
                     bool(count_include_pad), int(divisor_override))


def avg_pool2d_reduce_rows(rows, out, geom, height, width, n_start, row_start,
                           count_include_pad, divisor_override):
    """Average-pool twin of `max_pool2d_reduce_rows`."""
    _avg_reduce_rows(rows, out, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                     geom.pad_top, geom.pad_left, height, width, n_start, row_start,
                     bool(count_include_pad), int(divisor_override))


def max_pool2d_backward(grad, indices, grad_input):
    """Overwrite `grad_input` (N, H*W, C) with the scatter-add of `grad`
    (N, L, C) at `indices` (N, L, C, int64, already range-checked)."""
    if grad.shape[2] == 1:
        _max_backward_planes(grad.reshape(grad.shape[:2]), indices.reshape(indices.shape[:2]),
                             grad_input.reshape(grad_input.shape[:2]))
    else:
        _max_backward(grad, indices, grad_input)


def avg_pool2d_backward(grad, grad_input, geom, count_include_pad, divisor_override):
    """Overwrite `grad_input` (N, H, W, C) with the average-pool gradient of
    `grad` (N, OH, OW, C)."""
    args = (geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w, geom.pad_top,
            geom.pad_left, bool(count_include_pad), int(divisor_override))
    if grad.shape[3] == 1:
        _avg_backward_planes(_planes(grad), _planes(grad_input), *args)
    else:
        _avg_backward(grad, grad_input, *args)
