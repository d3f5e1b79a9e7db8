"""im2row, NHWC: one patch-matrix row per output pixel.

Columns are ordered (group, ki, kj, channel-in-group), so a group's columns
are contiguous and each (ki, kj) tap copies a contiguous run of channels.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import JIT_OPTIONS as _JIT
from ._jit import valid_range as _valid_range


@njit(parallel=True, **_JIT)
def _im2row_nhwc(x, rows, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, row_start, row_count, out_w, groups):
    # NHWC patch matrix: one row per output pixel, columns ordered
    # (group, ki, kj, channel-in-group), so a group's columns are contiguous
    # and each (ki, kj) tap copies a contiguous run of channels.
    n_img, height, width, channels = x.shape
    cg = channels // groups
    kk = kernel_h * kernel_w
    for task in prange(n_img * row_count):
        n = task // row_count
        i = task - n * row_count
        oh = row_start + i
        for j in range(out_w):
            dest = rows[n, i * out_w + j]
            for ki in range(kernel_h):
                h = oh * stride_h + ki * dilation_h - pad_top
                inside_h = 0 <= h < height
                for kj in range(kernel_w):
                    w = j * stride_w + kj * dilation_w - pad_left
                    inside = inside_h and 0 <= w < width
                    for g in range(groups):
                        base = (g * kk + ki * kernel_w + kj) * cg
                        if inside:
                            src = x[n, h, w]
                            for ch in range(cg):
                                dest[base + ch] = src[g * cg + ch]
                        else:
                            for ch in range(cg):
                                dest[base + ch] = 0.0


# Piece copies for _im2row_tile's short runs. Offsets are uint64 (Numba then
# emits no negative-index wraparound select) and each piece does all its loads
# before its stores, so LLVM makes it one vector load and one vector store.
_U1, _U2, _U3, _U4, _U5, _U6, _U7, _U8 = (np.uint64(i) for i in range(1, 9))
_U16 = np.uint64(16)


@njit(inline="always", **_JIT)
def _copy8(src, s, dst, d):
    v0 = src[s]
    v1 = src[s + _U1]
    v2 = src[s + _U2]
    v3 = src[s + _U3]
    v4 = src[s + _U4]
    v5 = src[s + _U5]
    v6 = src[s + _U6]
    v7 = src[s + _U7]
    dst[d] = v0
    dst[d + _U1] = v1
    dst[d + _U2] = v2
    dst[d + _U3] = v3
    dst[d + _U4] = v4
    dst[d + _U5] = v5
    dst[d + _U6] = v6
    dst[d + _U7] = v7


@njit(inline="always", **_JIT)
def _copy4(src, s, dst, d):
    v0 = src[s]
    v1 = src[s + _U1]
    v2 = src[s + _U2]
    v3 = src[s + _U3]
    dst[d] = v0
    dst[d + _U1] = v1
    dst[d + _U2] = v2
    dst[d + _U3] = v3


@njit(inline="always", **_JIT)
def _copy2(src, s, dst, d):
    v0 = src[s]
    v1 = src[s + _U1]
    dst[d] = v0
    dst[d + _U1] = v1


@njit(inline="always", **_JIT)
def _zero8(dst, d):
    dst[d] = 0.0
    dst[d + _U1] = 0.0
    dst[d + _U2] = 0.0
    dst[d + _U3] = 0.0
    dst[d + _U4] = 0.0
    dst[d + _U5] = 0.0
    dst[d + _U6] = 0.0
    dst[d + _U7] = 0.0


@njit(inline="always", **_JIT)
def _zero4(dst, d):
    dst[d] = 0.0
    dst[d + _U1] = 0.0
    dst[d + _U2] = 0.0
    dst[d + _U3] = 0.0


@njit(inline="always", **_JIT)
def _piece_last(n):
    # Offset of the last piece of an n-element run (2 <= n <= 32).
    return n - (_U8 if n >= _U8 else _U4 if n >= _U4 else np.uint64(2))


@njit(inline="always", **_JIT)
def _copy_run(src, s, dst, d, n, last):
    # dst[d:d+n] = src[s:s+n] for 2 <= n <= 32 (last = _piece_last(n)) in
    # overlapping pieces of 8, 4 or 2 elements, the last one ending at n:
    # nothing is written outside [d, d+n) and no loop is set up.
    if n >= _U8:
        if n > _U8:
            _copy8(src, s, dst, d)
            if n > _U16:
                _copy8(src, s + _U8, dst, d + _U8)
                if n > _U16 + _U8:
                    _copy8(src, s + _U16, dst, d + _U16)
        _copy8(src, s + last, dst, d + last)
    elif n >= _U4:
        _copy4(src, s, dst, d)
        _copy4(src, s + last, dst, d + last)
    else:
        _copy2(src, s, dst, d)
        _copy2(src, s + last, dst, d + last)


@njit(inline="always", **_JIT)
def _zero_run(dst, d, n, last):
    # dst[d:d+n] = 0 for 2 <= n <= 32, pieces as in _copy_run.
    if n >= _U8:
        if n > _U8:
            _zero8(dst, d)
            if n > _U16:
                _zero8(dst, d + _U8)
                if n > _U16 + _U8:
                    _zero8(dst, d + _U16)
        _zero8(dst, d + last)
    elif n >= _U4:
        _zero4(dst, d)
        _zero4(dst, d + last)
    else:
        dst[d] = 0.0
        dst[d + last] = 0.0
        dst[d + last + _U1] = 0.0


@njit(inline="always", **_JIT)
def _edge_run(src, s, dst, d, n, last, pieces, v0, v1):
    # A run of n elements of which only [v0, v1) lie inside the input, the
    # first of them at src[s]: dst[d+v0:d+v1] = src[s:s+v1-v0], zeros around.
    count = v1 - v0
    if pieces:
        _zero_run(dst, d, n, last)
        if count >= _U2:
            _copy_run(src, s, dst, d + v0, count, _piece_last(count))
        elif count == _U1:
            dst[d + v0] = src[s]
    else:
        for t in range(v0):
            dst[d + t] = 0.0
        dv = d + v0
        for t in range(count):
            dst[dv + t] = src[s + t]
        for t in range(v1, n):
            dst[d + t] = 0.0


@njit(**_JIT)
def _im2row_tile(x, rows, q0, q1, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, out_h, out_w, groups):
    # Serial NHWC patch rows for the flat output positions [q0, q1) across the
    # batch (q = (n*OH + oh)*OW + ow), in _im2row_nhwc's column order; run by
    # the conv2d driver's worker threads, one tile each.
    #
    # The tile is walked one output row (n, oh) at a time, the span of its
    # columns [a, b) in the tile, with the valid kernel rows [ki_lo, ki_hi)
    # found once per output row. With one group and no horizontal dilation,
    # kernel row ki of position ow is one run of kw*C contiguous elements of
    # x, copied for all ow of the span in one branch-free loop (the columns
    # whose window is wholly inside, [ra, rb), found once per call); only the
    # few edge columns and the kernel rows outside the input take bounds
    # logic. Runs of at most 32 elements (small C) are copied in a few
    # overlapping vector pieces instead of a loop (a loop costs more to set up
    # than to run there), and runs of 4-7 elements (e.g. C = 1, kw = 5) in one
    # 8-element piece, except for the last kernel row: what it writes past
    # its run belongs to kernel row ki + 1 of the same position, which the
    # loop (kernel rows outer) writes next. Grouped or horizontally dilated
    # convolutions go position by position, tap by tap.
    n_img, height, width, channels = x.shape
    cg = channels // groups
    kk = kernel_h * kernel_w
    k_total = kk * channels
    per_image = out_h * out_w
    run = kernel_w * channels
    src = x.reshape(x.size)
    dst = rows.reshape(rows.size)
    src_size = x.size
    urun = np.uint64(run)
    uk = np.uint64(k_total)
    ucg = np.uint64(cg)
    line_step = dilation_h * width * channels  # from kernel row ki to ki + 1
    ow_step = np.uint64(stride_w * channels)   # from output column ow to ow + 1
    runs = groups == 1 and dilation_w == 1
    pieces = runs and 2 <= run <= 32
    spill = runs and 4 <= run < 8  # 8 - run <= run: stays in kernel row ki + 1
    last = _piece_last(urun) if pieces else np.uint64(0)
    if runs:  # columns whose whole window row is inside the input
        ra_all, rb_all = _valid_range(-pad_left, stride_w, width - kernel_w + 1, out_w)
    else:
        ra_all, rb_all = 0, 0
    q = q0
    while q < q1:
        n = q // per_image
        p = q - n * per_image
        oh = p // out_w
        a = p - oh * out_w
        b = min(out_w, a + (q1 - q))
        r0 = q - q0 - a  # rows[r0 + ow] is position (n, oh, ow)
        ki_lo, ki_hi = _valid_range(oh * stride_h - pad_top, dilation_h, height, kernel_h)
        # offset in x of tap (ki=0, kj=0) of output column 0
        line0 = ((n * height + oh * stride_h - pad_top) * width - pad_left) * channels
        q += b - a
        if runs:
            ra = min(max(ra_all, a), b)
            rb = max(min(rb_all, b), ra)
            for ki in range(kernel_h):
                d = np.uint64((r0 + a) * k_total + ki * run)
                if ki < ki_lo or ki >= ki_hi:
                    if pieces:
                        for ow in range(a, b):
                            _zero_run(dst, d, urun, last)
                            d += uk
                    else:
                        for ow in range(a, b):
                            for t in range(urun):
                                dst[d + t] = 0.0
                            d += uk
                    continue
                line = line0 + ki * line_step
                for ow in range(a, ra):
                    w0 = ow * stride_w - pad_left
                    kj_lo = min(max(0, -w0), kernel_w)
                    kj_hi = max(min(kernel_w, width - w0), kj_lo)
                    first = max(0, line + (ow * stride_w + kj_lo) * channels)  # >= 0 if used
                    _edge_run(src, np.uint64(first), dst, d, urun, last, pieces,
                              np.uint64(kj_lo * channels), np.uint64(kj_hi * channels))
                    d += uk
                if rb > ra:
                    s = np.uint64(line + ra * stride_w * channels)
                    if (spill and ki < kernel_h - 1
                            and line + (rb - 1) * stride_w * channels + 8 <= src_size):
                        # one 8-element piece per run: the 1-4 elements it
                        # writes past the run are kernel row ki + 1's, written
                        # next
                        for ow in range(ra, rb):
                            _copy8(src, s, dst, d)
                            s += ow_step
                            d += uk
                    elif pieces:
                        for ow in range(ra, rb):
                            _copy_run(src, s, dst, d, urun, last)
                            s += ow_step
                            d += uk
                    else:
                        for ow in range(ra, rb):
                            for t in range(urun):
                                dst[d + t] = src[s + t]
                            s += ow_step
                            d += uk
                for ow in range(rb, b):
                    w0 = ow * stride_w - pad_left
                    kj_lo = min(max(0, -w0), kernel_w)
                    kj_hi = max(min(kernel_w, width - w0), kj_lo)
                    first = max(0, line + (ow * stride_w + kj_lo) * channels)  # >= 0 if used
                    _edge_run(src, np.uint64(first), dst, d, urun, last, pieces,
                              np.uint64(kj_lo * channels), np.uint64(kj_hi * channels))
                    d += uk
            continue
        ukw = np.uint64(kernel_w * cg)
        for ow in range(a, b):
            kj_lo, kj_hi = _valid_range(ow * stride_w - pad_left, dilation_w, width, kernel_w)
            zero_hi = np.uint64(kj_lo * cg)
            copy_hi = np.uint64(kj_hi * cg)
            d = np.uint64((r0 + ow) * k_total)
            for g in range(groups):
                for ki in range(kernel_h):
                    if ki < ki_lo or ki >= ki_hi:
                        for t in range(ukw):
                            dst[d + t] = 0.0
                        d += ukw
                        continue
                    line = line0 + ki * line_step + ow * stride_w * channels + g * cg
                    for t in range(zero_hi):
                        dst[d + t] = 0.0
                    for kj in range(kj_lo, kj_hi):
                        s = np.uint64(line + kj * dilation_w * channels)
                        dk = d + np.uint64(kj * cg)
                        for t in range(ucg):
                            dst[dk + t] = src[s + t]
                    for t in range(copy_hi, ukw):
                        dst[d + t] = 0.0
                    d += ukw


def im2row_nhwc(x, rows, geom, groups, row_start, row_count):
    """Fill `rows` (B, row_count*OW, C*kh*kw) from `x` (B, H, W, C); columns
    ordered (group, ki, kj, channel-in-group)."""
    _im2row_nhwc(x, rows, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 row_start, row_count, geom.out_w, groups)


def im2row_tile(x, rows, geom, groups, q0, q1):
    """Serial NHWC patch rows of the flat output positions [q0, q1) (across
    the batch) of `x` (N, H, W, C) into `rows` (q1-q0, C*kh*kw), columns as in
    `im2row_nhwc`."""
    _im2row_tile(x, rows, q0, q1, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w, geom.out_h,
                 geom.out_w, groups)
