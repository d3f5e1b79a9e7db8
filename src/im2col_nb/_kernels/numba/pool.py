"""Max and average pooling, direct: each window reduced where it lies.

Window semantics (PyTorch's CPU kernels): taps are visited in row-major
window order and a tap replaces the running best when ``v > best`` or ``v``
is NaN, so ties keep the first maximum, NaN beats every number and the last
NaN of a window wins. Padding taps are skipped (they act as -inf); the index
starts at the window's first real tap, so a window of -inf values reports
that tap. Indices are flat ``h * W + w`` positions in the input plane.

Layouts: the kernels are written channels-last, ``(N, H, W, C)``; an NCHW
batch is passed as ``(N*C, H, W, 1)`` (a free reshape), for which dedicated
scalar kernels are used, since a one-channel inner loop would waste most of
the work on loop overhead. Every ``prange`` task owns a disjoint output
slice (an output row or plane): no write races, deterministic results.
"""

from __future__ import annotations

from numba import njit, prange

from ..._core.dtypes import lowest
from ._jit import JIT_OPTIONS as _JIT
from ._jit import valid_range as _valid_range

# Channels per backward task in channels-last layout: a block owns whole
# cache lines, so threads do not share lines more than at block edges.
_CHANNEL_BLOCK = 32


@njit(inline="always", **_JIT)
def _avg_extent(start, kernel, size, pad, count_include_pad):
    """(first, stop, count) of an average-pool window along one axis:
    real input positions [first, stop) and the divisor factor (window length
    up to the far edge of the padding if counting padding, else real length).
    `pad` is the padding at the far (high) end of the axis."""
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
def _max_direct_planes(x, out, indices, lowest, kernel_h, kernel_w, stride_h, stride_w,
                       pad_top, pad_left, dilation_h, dilation_w):
    # x (P, H, W) planes, out/indices (P, OH, OW); one task per output row.
    # Tap-outer loops: for each window tap (ki, kj) the update runs over the
    # whole output row as a branch-free select, which LLVM vectorises; every
    # output still sees its taps in row-major window order. The running best
    # starts at `lowest` (-inf; an integer dtype's minimum) with the index of
    # the window's first real tap, so a window of -inf values reports that
    # tap, as PyTorch does.
    planes, height, width = x.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    want = indices.shape[0] > 0
    for task in prange(planes * out_h):
        p = task // out_h
        i = task - p * out_h
        h0 = i * stride_h - pad_top
        ki_lo, ki_hi = _valid_range(h0, dilation_h, height, kernel_h)
        plane = x[p]
        dest = out[p, i]
        for j in range(out_w):
            dest[j] = lowest
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
def _avg_direct_planes(x, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, pad_bottom,
                       pad_right,
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
                                               pad_bottom, count_include_pad)
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
                                                   pad_right, count_include_pad)
            divisor = divisor_override if divisor_override != 0 else h_count * w_count
            dest[j] = dest[j] / divisor


@njit(parallel=True, **_JIT)
def _avg_direct_nhwc(x, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, pad_bottom,
                       pad_right,
                     count_include_pad, divisor_override):
    n_img, height, width, channels = x.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    for task in prange(n_img * out_h):
        n = task // out_h
        i = task - n * out_h
        h_first, h_stop, h_count = _avg_extent(i * stride_h - pad_top, kernel_h, height,
                                               pad_bottom, count_include_pad)
        for j in range(out_w):
            w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                   pad_right, count_include_pad)
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
# Backend interface (same names and signatures as _kernels/numpy/pool.py)
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
        _max_direct_planes(_planes(x), _planes(out), _planes(indices), lowest(x.dtype), *args)
    else:
        _max_direct_nhwc(x, out, indices, *args)


def avg_pool2d_direct(x, out, geom, count_include_pad, divisor_override):
    """Average pool `x` (N, H, W, C) into `out` (N, OH, OW, C);
    `divisor_override` 0 means none."""
    args = (geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w, geom.pad_top,
            geom.pad_left, geom.pad_bottom, geom.pad_right, bool(count_include_pad),
            int(divisor_override))
    if x.shape[3] == 1:
        _avg_direct_planes(_planes(x), _planes(out), *args)
    else:
        _avg_direct_nhwc(x, out, *args)
