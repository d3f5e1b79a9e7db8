"""Pooling by im2col: windows reduced from a patch matrix.

The reducers read the patch matrices built by ``im2col`` (NCHW) and
``im2row_nhwc`` (NHWC), a chunk of output rows at a time, with the window
semantics of ``pool.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import JIT_OPTIONS as _JIT
from ._jit import valid_range as _valid_range
from .pool import _avg_extent, _row_add, _row_max, _row_max_index


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
def _avg_reduce_cols(cols, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, pad_bottom,
                     pad_right,
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
                                                   pad_bottom, count_include_pad)
            for j in range(out_w):
                w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                       pad_right, count_include_pad)
                divisor = divisor_override if divisor_override != 0 else h_count * w_count
                drow[j] = drow[j] / divisor


@njit(parallel=True, **_JIT)
def _avg_reduce_rows(rows, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, pad_bottom,
                     pad_right,
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
                                               pad_bottom, count_include_pad)
        for j in range(out_w):
            w_first, w_stop, w_count = _avg_extent(j * stride_w - pad_left, kernel_w, width,
                                                   pad_right, count_include_pad)
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
                     geom.pad_top, geom.pad_left, geom.pad_bottom, geom.pad_right, height, width,
                     n_start, row_start, bool(count_include_pad), int(divisor_override))


def avg_pool2d_reduce_rows(rows, out, geom, height, width, n_start, row_start,
                           count_include_pad, divisor_override):
    """Average-pool twin of `max_pool2d_reduce_rows`."""
    _avg_reduce_rows(rows, out, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                     geom.pad_top, geom.pad_left, geom.pad_bottom, geom.pad_right, height, width,
                     n_start, row_start, bool(count_include_pad), int(divisor_override))
