"""Gradients of max and average pooling with respect to their input.

Max pooling scatters each output gradient to the input element its index
names; average pooling spreads it over the window with the forward's
divisor. Every ``prange`` task owns an input plane or channel block, so
there are no write races.
"""

from __future__ import annotations

from numba import njit, prange

from ._jit import JIT_OPTIONS as _JIT
from ._jit import valid_range as _valid_range
from .pool import _CHANNEL_BLOCK, _avg_extent, _planes


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
def _spread_divisor(j, stride_w, pad_left, pad_right, kernel_w, width, h_count,
                    count_include_pad, divisor_override):
    w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                           pad_right, count_include_pad)
    return divisor_override if divisor_override != 0 else h_count * w_count


@njit(inline="always", **_JIT)
def _row_spread(dest, g, step, j0, pad_left, pad_right, kernel_w, width, h_count,
                count_include_pad, divisor_override):
    # dest[t*step] += g[t] / divisor(j0 + t): one window tap's share of the
    # gradient for a run of output columns (distinct targets, step >= 1;
    # constant-step branches so the strided stores vectorise).
    n = g.shape[0]
    if step == 1:
        for t in range(n):
            dest[t] += g[t] / _spread_divisor(j0 + t, 1, pad_left, pad_right, kernel_w, width, h_count,
                                              count_include_pad, divisor_override)
    elif step == 2:
        for t in range(n):
            dest[2 * t] += g[t] / _spread_divisor(j0 + t, 2, pad_left, pad_right, kernel_w, width, h_count,
                                                  count_include_pad, divisor_override)
    else:
        for t in range(n):
            dest[t * step] += g[t] / _spread_divisor(j0 + t, step, pad_left, pad_right, kernel_w, width,
                                                     h_count, count_include_pad, divisor_override)


@njit(parallel=True, **_JIT)
def _avg_backward_planes(grad, grad_input, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                         pad_left, pad_bottom, pad_right, count_include_pad, divisor_override):
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
                                                   pad_bottom, count_include_pad)
            g = grad[p, i]
            for h in range(h_first, h_stop):
                row = gi[h]
                for kj in range(kernel_w):
                    w_off = kj - pad_left
                    j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                    _row_spread(row[j_lo * stride_w + w_off:], g[j_lo:j_hi], stride_w, j_lo,
                                pad_left, pad_right, kernel_w, width, h_count,
                                count_include_pad, divisor_override)


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
                  pad_bottom, pad_right, count_include_pad, divisor_override):
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
                                                   pad_bottom, count_include_pad)
            for j in range(out_w):
                w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                       pad_right, count_include_pad)
                divisor = divisor_override if divisor_override != 0 else h_count * w_count
                src = g[i, j, c0:c1]
                for h in range(h_first, h_stop):
                    for w in range(w_first, w_stop):
                        dest = gi[h, w, c0:c1]
                        for t in range(c1 - c0):
                            dest[t] += src[t] / divisor


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
            geom.pad_left, geom.pad_bottom, geom.pad_right, bool(count_include_pad),
            int(divisor_override))
    if grad.shape[3] == 1:
        _avg_backward_planes(_planes(grad), _planes(grad_input), *args)
    else:
        _avg_backward(grad, grad_input, *args)
