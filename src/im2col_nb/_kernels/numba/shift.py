"""Stride-1 convolution as kh*kw shifted GEMMs, without a patch matrix.

With the input rows of a tile copied zero-bordered on a grid
``OW + (kw-1)*dw`` wide, the patches of every tap are one matrix of those
planes shifted by one offset, which BLAS takes as it is (a pointer and a
row stride): kh*kw GEMMs with K = C accumulate into a scratch result whose
valid columns one pass copies to the output with the bias.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import JIT_OPTIONS as _JIT
from .im2col import _fill_plane, _zero_plane_borders


@njit(parallel=True, **_JIT)
def _conv_shift_nchw(gemm, x, weight_taps, bias, has_bias, out, tiles, work, kernel_h, kernel_w,
                     pad_top, pad_left, dilation_h, dilation_w, out_w):
    # Stride-1 convolution without a patch matrix ("shifted GEMMs"). A tile
    # is output rows [i0, i1) of image n. Its input rows are copied, zero
    # bordered, into `planes`: one plane of rows_needed rows of padded_w =
    # OW + (kw-1)*dw columns per channel, planes plane_ld apart. Computed on
    # that padded_w-wide grid, output position (r, j) of tap (ki, kj) reads
    # plane element (r + ki*dh)*padded_w + j + kj*dw: the same matrix (C,
    # rows*padded_w), row stride plane_ld, shifted by one offset per tap. So
    # the convolution is kh*kw GEMMs (F, C) @ (C, rows*padded_w) accumulating
    # into `result` (beta = 1), with the BLAS packing as the only copy of the
    # input; the (kw-1)*dw last columns of each grid row are garbage (they
    # read across the row's end) and the final pass copies the OW valid ones
    # to `out` (N, F, OH*OW), adding the bias. tiles[t] = (n, i0, i1,
    # plane_ld); weight_taps (kh*kw, F, C).
    workers = work.shape[0]
    n_taps, filters, channels = weight_taps.shape
    height, width = x.shape[2], x.shape[3]
    padded_w = out_w + (kernel_w - 1) * dilation_w
    overrun = (kernel_w - 1) * dilation_w  # read past a plane's last row
    xf = x.reshape(x.size)
    for worker in prange(workers):
        buf = work[worker]
        for t in range(worker, tiles.shape[0], workers):
            n, i0, i1, plane_ld = tiles[t, 0], tiles[t, 1], tiles[t, 2], tiles[t, 3]
            rows = i1 - i0
            span = rows * padded_w
            rows_needed = rows + (kernel_h - 1) * dilation_h
            h_first = i0 - pad_top
            result = buf[:filters * span]
            planes = buf[filters * span:]
            for c in range(channels):
                plane = planes[c * plane_ld:]
                _zero_plane_borders(plane, h_first, rows_needed, padded_w, pad_left, height,
                                    width, 1, padded_w)
                _fill_plane(xf, ((n * channels + c) * height + h_first) * width, plane, h_first,
                            rows_needed, height, width, padded_w, pad_left)
                # the gap to the next plane (and the overrun after the last):
                # read only for garbage columns, zeroed so no denormal or NaN
                # bit pattern ever enters the multiply
                plane_end = c * plane_ld + rows_needed * padded_w
                gap_end = (c + 1) * plane_ld if c + 1 < channels else plane_end + overrun
                for q in range(plane_end, gap_end):
                    planes[q] = 0.0
            for tap in range(n_taps):
                ki = tap // kernel_w
                kj = tap - ki * kernel_w
                shift = ki * dilation_h * padded_w + kj * dilation_w
                gemm(101, 111, 111, filters, span, channels, 1.0, weight_taps[tap].ctypes,
                     channels, planes[shift:].ctypes, plane_ld, 1.0 if tap else 0.0,
                     result.ctypes, span)
            for f in range(filters):
                value = bias[f] if has_bias else 0.0
                dest = out[n, f]
                for r in range(rows):
                    s = np.uint64(f * span + r * padded_w)
                    d = np.uint64((i0 + r) * out_w)
                    for j in range(np.uint64(out_w)):
                        dest[d + j] = result[s + j] + value


def conv_shift_nchw(gemm, x, weight_taps, bias, out, tiles, geom, work):
    """Stride-1, ungrouped convolution as kh*kw shifted GEMMs, no patch matrix.

    ``out (N, F, L) = conv(x (N, C, H, W), weight) + bias`` with
    `weight_taps` (kh*kw, F, C) the weight tap by tap; `tiles` int64 (T, 4)
    rows ``(n, i0, i1, plane_ld)``: output rows [i0, i1) of image n, the
    tile's input planes plane_ld elements apart; `work` (workers, n) scratch,
    one row per worker (the tile's (F, rows*padded_w) result, then its
    planes); `gemm` NumPy's cblas_?gemm (see _blas.py)."""
    has_bias = bias is not None
    _conv_shift_nchw(gemm, x, weight_taps, bias if has_bias else weight_taps[0, :, 0].copy(),
                     has_bias, out, tiles, work, geom.kernel_h, geom.kernel_w, geom.pad_top,
                     geom.pad_left, geom.dilation_h, geom.dilation_w, geom.out_w)


@njit(parallel=True, **_JIT)
def _conv_shift_nhwc(gemm, x, weight_taps, bias, has_bias, out, tiles, work, kernel_h, kernel_w,
                     pad_top, pad_left, dilation_h, dilation_w, out_h, out_w):
    # The channels-last twin of _conv_shift_nchw. A tile (n, i0, i1, -) is
    # output rows [i0, i1) of image n; its input rows are copied, zero
    # bordered, into `plane`: rows_needed rows of padded_w pixels of C
    # channels. On that padded_w-wide grid, grid pixel g of tap (ki, kj)
    # reads plane pixel g + ki*dh*padded_w + kj*dw: the (grid pixels, C)
    # matrix shifted by one offset per tap, so `result` (grid pixels, F) is
    # kh*kw GEMMs rows @ W_tap.T (BLAS transposes W_tap (F, C)). The last
    # (kw-1)*dw pixels of each grid row are garbage; the final pass copies
    # the OW valid ones of each row to `out` (N*OH*OW, F), adding the bias.
    workers = work.shape[0]
    n_taps, filters, channels = weight_taps.shape
    height, width = x.shape[1], x.shape[2]
    padded_w = out_w + (kernel_w - 1) * dilation_w
    row_len = padded_w * channels
    overrun = (kernel_w - 1) * dilation_w * channels  # read past the last row
    q_lo = min(pad_left, padded_w)                     # grid columns inside the input
    q_hi = max(min(pad_left + width, padded_w), q_lo)
    inside = np.uint64((q_hi - q_lo) * channels)
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    for worker in prange(workers):
        buf = work[worker]
        for t in range(worker, tiles.shape[0], workers):
            n, i0, i1 = tiles[t, 0], tiles[t, 1], tiles[t, 2]
            rows = i1 - i0
            span = rows * padded_w
            rows_needed = rows + (kernel_h - 1) * dilation_h
            h_first = i0 - pad_top
            result = buf[:span * filters]
            plane = buf[span * filters:]
            for r in range(rows_needed):
                h = h_first + r
                base = r * row_len
                if h < 0 or h >= height:
                    for q in range(row_len):
                        plane[base + q] = 0.0
                    continue
                for q in range(q_lo * channels):
                    plane[base + q] = 0.0
                s = np.uint64(((n * height + h) * width + q_lo - pad_left) * channels)
                d = np.uint64(base + q_lo * channels)
                for q in range(inside):
                    plane[d + q] = xf[s + q]
                for q in range(q_hi * channels, row_len):
                    plane[base + q] = 0.0
            end = rows_needed * row_len
            for q in range(end, end + overrun):  # feeds garbage pixels only
                plane[q] = 0.0
            for tap in range(n_taps):
                ki = tap // kernel_w
                kj = tap - ki * kernel_w
                shift = (ki * dilation_h * padded_w + kj * dilation_w) * channels
                gemm(101, 111, 112, span, filters, channels, 1.0, plane[shift:].ctypes, channels,
                     weight_taps[tap].ctypes, channels, 1.0 if tap else 0.0, result.ctypes,
                     filters)
            count = np.uint64(filters)
            for r in range(rows):
                for j in range(out_w):
                    d = np.uint64(((n * out_h + i0 + r) * out_w + j) * filters)
                    s = np.uint64((r * padded_w + j) * filters)
                    if has_bias:
                        for f in range(count):
                            of[d + f] = result[s + f] + bias[f]
                    else:
                        for f in range(count):
                            of[d + f] = result[s + f]


def conv_shift_nhwc(gemm, x, weight_taps, bias, out, tiles, geom, work):
    """Channels-last `conv_shift_nchw`: ``out (N*OH*OW, F) = conv(x (N, H, W,
    C), weight) + bias``, `weight_taps` (kh*kw, F, C), `tiles` int64 rows
    ``(n, i0, i1, unused)``, `work` (workers, n) scratch (the tile's
    (rows*padded_w, F) result, then its plane)."""
    has_bias = bias is not None
    _conv_shift_nhwc(gemm, x, weight_taps, bias if has_bias else weight_taps[0, :, 0].copy(),
                     has_bias, out, tiles, work, geom.kernel_h, geom.kernel_w, geom.pad_top,
                     geom.pad_left, geom.dilation_h, geom.dilation_w, geom.out_h, geom.out_w)
