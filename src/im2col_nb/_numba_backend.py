"""JIT-compiled parallel kernels (the default backend).

House rules for this module:

* kernels (``_name``) are private, never validate and never allocate: the
  backend functions below them take arrays already made C-contiguous
  float32/float64 by the public wrappers and pass preallocated outputs;
* ``parallel=True`` only on outer kernels, whose ``prange`` runs over
  independent output slices (rows of the patch matrix, whole planes), so no
  two iterations ever write the same element and results are deterministic;
* every kernel uses the one NaN-safe fastmath set and ``cache=True`` from
  ``_numba_common``.

im2col loops channel -> kernel row -> kernel column -> output position, as
Caffe's ``im2col.cpp``, but reads each channel's rows from the input itself
when no padding is involved, else from a zero-bordered copy of them made
once per channel, so the tap loops carry no bounds logic; narrow rows (small
feature maps) are copied through a table of offsets in one loop per tap.
col2im mirrors Caffe's loop order.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import get_thread_id, njit, prange

from ._numba_common import JIT_OPTIONS as _JIT
from ._numba_common import valid_range as _valid_range


# How a tap's patch row is copied (chosen once per call, see _tile_plan).
_CONTIGUOUS = 0  # the tap's positions are one contiguous run of the source
_ROWS = 1        # one run per output row (wide rows: the copy loop vectorises)
_GATHER = 2      # through a table of source offsets (narrow rows: no per-row loop set-up)
# Output rows at least this wide are copied row by row; narrower ones (small
# feature maps, OW of 7-14) through the offset table, whose single loop over
# the whole tile costs no set-up per 7-element row (2-4x faster there).
_ROW_COPY_MIN_WIDTH = 16


@njit(**_JIT)
def _tile_plan(height, width, p0, p1, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
               dilation_h, dilation_w, out_w):
    # Where the patches of output positions [p0, p1) (flat, oh*OW+ow) of one
    # plane are read from. The source is either the input plane itself
    # (`direct`: every read falls inside it) or a zero-bordered copy of the
    # rows the tile reads (`plane`: rows_needed rows of padded_w columns).
    # Row 0 of the source is input row h_first; row_stride is its row length.
    # Wide rows with a column stride s > 1 use a plane whose rows are split
    # into `phases` = s runs of `phase_w` elements (columns q, q+s, q+2s, ...
    # in run q), so that every tap reads contiguous runs (1.6-1.9x faster
    # than strided loads on the resnet18-conv1 bench layer).
    i_first = p0 // out_w
    i_last = (p1 - 1) // out_w
    h_first = i_first * stride_h - pad_top
    rows_needed = (i_last - i_first) * stride_h + (kernel_h - 1) * dilation_h + 1
    padded_w = (out_w - 1) * stride_w + (kernel_w - 1) * dilation_w + 1
    direct = (h_first >= 0 and h_first + rows_needed <= height and pad_left == 0
              and padded_w <= width)
    phases = 1
    if stride_w == 1 and (i_first == i_last or out_w == (width if direct else padded_w) * stride_h):
        mode = _CONTIGUOUS
    elif out_w >= _ROW_COPY_MIN_WIDTH:
        mode = _ROWS
        if stride_w > 1:
            phases = stride_w
            direct = False
    else:
        mode = _GATHER
    phase_w = (padded_w + phases - 1) // phases
    row_stride = width if direct else phases * phase_w
    return h_first, rows_needed, padded_w, direct, row_stride, mode, phases, phase_w


@njit(**_JIT)
def _offset_table(idx, p0, p1, out_w, stride_h, stride_w, row_stride):
    # idx[p] = source offset of output position p0 + p relative to its tap's origin.
    i_first = p0 // out_w
    for p in range(p1 - p0):
        q = p0 + p
        i = q // out_w
        j = q - i * out_w
        idx[p] = (i - i_first) * stride_h * row_stride + j * stride_w


@njit(**_JIT)
def _zero_plane_borders(plane, h_first, rows_needed, padded_w, pad_left, height, width, phases,
                        phase_w):
    # Zero the parts of a plane buffer that lie outside the input: they never
    # change from one channel to the next, so this runs once per buffer.
    if phases > 1:
        for q in range(rows_needed * phases * phase_w):
            plane[q] = 0.0
        return
    q_lo = min(pad_left, padded_w)
    q_hi = max(min(pad_left + width, padded_w), q_lo)
    for r in range(rows_needed):
        h = h_first + r
        base = r * padded_w
        if h < 0 or h >= height:
            for q in range(padded_w):
                plane[base + q] = 0.0
        else:
            for q in range(q_lo):
                plane[base + q] = 0.0
            for q in range(q_hi, padded_w):
                plane[base + q] = 0.0


@njit(inline="always", **_JIT)
def _fill_plane(xf, base, plane, h_first, rows_needed, height, width, padded_w, pad_left):
    # Copy the input rows of one plane that a tile reads (row 0 = input row
    # h_first, at xf[base]) into the interior of the zero-bordered `plane`
    # (its borders were written once by _zero_plane_borders).
    q_lo = min(pad_left, padded_w)
    q_hi = max(min(pad_left + width, padded_w), q_lo)
    count = np.uint64(q_hi - q_lo)
    for r in range(max(0, -h_first), min(rows_needed, height - h_first)):
        s = np.uint64(base + r * width + q_lo - pad_left)
        d = np.uint64(r * padded_w + q_lo)
        for q in range(count):
            plane[d + q] = xf[s + q]


@njit(inline="always", **_JIT)
def _fill_phases(xf, base, plane, h_first, rows_needed, height, width, padded_w, pad_left,
                 phases, phase_w):
    # _fill_plane for a plane split into phases: padded column col of row r
    # goes to plane[r*phases*phase_w + (col % phases)*phase_w + col // phases].
    q_lo = min(pad_left, padded_w)
    q_hi = max(min(pad_left + width, padded_w), q_lo)
    step = np.uint64(phases)
    for r in range(max(0, -h_first), min(rows_needed, height - h_first)):
        line = base + r * width - pad_left
        for q in range(phases):
            first = q_lo + (q - q_lo) % phases  # first column >= q_lo in phase q
            if first >= q_hi:
                continue
            count = np.uint64((q_hi - first + phases - 1) // phases)
            d = np.uint64(r * phases * phase_w + q * phase_w + first // phases)
            s = np.uint64(line + first)
            for t in range(count):
                plane[d + t] = xf[s + t * step]


# One loop nest per copy mode, each over channels [c0, c1) x images
# [n0, n0 + n_img) of x (N, C, H, W), flattened as `xf`: tap (ki, kj) of
# channel c goes to dest[c*kh*kw + ki*kw + kj], image b from column b*span
# on. `src` is either `xf` itself (fill False: every read falls inside the
# input) or `plane`, a buffer each (image, channel) is first copied into
# (fill True): two arguments, so a read-only input never has to be
# writable. The mode is chosen once per call, outside the nests: with all
# the modes' branches in one loop body, or with a function call per
# channel, LLVM compiled the small-map loops 3-4x slower (register spills,
# call overhead on 49-element channels). Copy loops index with unsigned
# ints: Numba then emits no negative-index wraparound select and LLVM
# vectorises them.

@njit(**_JIT)
def _nest_contiguous(xf, src, plane, fill, dest, shape, n0, n_img, c0, c1, span, shift,
                     kernel_h, kernel_w, tap_h, tap_w, h_first, rows_needed, padded_w, pad_left):
    # Tap (ki, kj): src[origin + ki*tap_h + kj*tap_w + shift + p] for p < span.
    channels, height, width = shape
    kk = kernel_h * kernel_w
    count = np.uint64(span)
    for c in range(c0, c1):
        for b in range(n_img):
            origin = ((n0 + b) * channels + c) * height * width + h_first * width
            if fill:
                _fill_plane(xf, origin, plane, h_first, rows_needed, height, width, padded_w,
                            pad_left)
                origin = 0
            d = np.uint64(b * span)
            for ki in range(kernel_h):
                for kj in range(kernel_w):
                    row = dest[c * kk + ki * kernel_w + kj]
                    s = np.uint64(origin + ki * tap_h + kj * tap_w + shift)
                    for p in range(count):
                        row[d + p] = src[s + p]


@njit(**_JIT)
def _nest_gather(xf, src, plane, fill, dest, shape, n0, n_img, c0, c1, span, idx, kernel_h,
                 kernel_w, tap_h, tap_w, h_first, rows_needed, padded_w, pad_left):
    # Tap (ki, kj): src[origin + ki*tap_h + kj*tap_w + idx[p]] for p < span.
    channels, height, width = shape
    kk = kernel_h * kernel_w
    count = np.uint64(span)
    for c in range(c0, c1):
        for b in range(n_img):
            origin = ((n0 + b) * channels + c) * height * width + h_first * width
            if fill:
                _fill_plane(xf, origin, plane, h_first, rows_needed, height, width, padded_w,
                            pad_left)
                origin = 0
            d = np.uint64(b * span)
            for ki in range(kernel_h):
                for kj in range(kernel_w):
                    row = dest[c * kk + ki * kernel_w + kj]
                    s = np.uint64(origin + ki * tap_h + kj * tap_w)
                    for p in range(count):
                        row[d + p] = src[s + idx[p]]


@njit(**_JIT)
def _nest_rows(xf, src, plane, fill, dest, shape, n0, n_img, c0, c1, p0, p1, out_w, kernel_h,
               kernel_w, stride_h, dilation_h, dilation_w, row_stride, h_first, rows_needed,
               padded_w, pad_left, phases, phase_w):
    # Wide rows: output row by output row, the kw taps of a kernel row
    # reading the same source row while it is in L1. The column stride is 1
    # or the source is split into that many phases: every run is contiguous.
    channels, height, width = shape
    kk = kernel_h * kernel_w
    span = p1 - p0
    i_first = p0 // out_w
    i_last = (p1 - 1) // out_w
    for c in range(c0, c1):
        for b in range(n_img):
            origin = ((n0 + b) * channels + c) * height * width + h_first * width
            if fill:
                if phases == 1:
                    _fill_plane(xf, origin, plane, h_first, rows_needed, height, width,
                                padded_w, pad_left)
                else:
                    _fill_phases(xf, origin, plane, h_first, rows_needed, height, width,
                                 padded_w, pad_left, phases, phase_w)
                origin = 0
            for ki in range(kernel_h):
                for i in range(i_first, i_last + 1):
                    j_a = max(p0 - i * out_w, 0)
                    j_b = min(p1 - i * out_w, out_w)
                    count = np.uint64(j_b - j_a)
                    d = np.uint64(b * span + i * out_w - p0 + j_a)
                    line = origin + (ki * dilation_h + (i - i_first) * stride_h) * row_stride + j_a
                    for kj in range(kernel_w):
                        row = dest[c * kk + ki * kernel_w + kj]
                        col = kj * dilation_w  # tap column, in phase col % phases
                        s = np.uint64(line + (col % phases) * phase_w + col // phases)
                        for j in range(count):
                            row[d + j] = src[s + j]


@njit(**_JIT)
def _patches(xf, src, plane, fill, dest, shape, n0, n_img, c0, c1, p0, p1, kernel_h,
             kernel_w, stride_h, stride_w, pad_left, dilation_h, dilation_w, out_w, plan, idx):
    # The patch rows of channels [c0, c1) of images [n0, n0 + n_img), output
    # positions [p0, p1), by the mode of `plan` (from _tile_plan).
    h_first, rows_needed, padded_w, _, row_stride, mode, phases, phase_w = plan
    if mode == _GATHER:
        _nest_gather(xf, src, plane, fill, dest, shape, n0, n_img, c0, c1, p1 - p0, idx, kernel_h,
                     kernel_w, dilation_h * row_stride, dilation_w, h_first, rows_needed,
                     padded_w, pad_left)
    elif mode == _CONTIGUOUS:
        _nest_contiguous(xf, src, plane, fill, dest, shape, n0, n_img, c0, c1, p1 - p0,
                         p0 - (p0 // out_w) * out_w, kernel_h, kernel_w, dilation_h * row_stride,
                         dilation_w, h_first, rows_needed, padded_w, pad_left)
    else:
        _nest_rows(xf, src, plane, fill, dest, shape, n0, n_img, c0, c1, p0, p1, out_w, kernel_h,
                   kernel_w, stride_h, dilation_h, dilation_w, row_stride, h_first, rows_needed,
                   padded_w, pad_left, phases, phase_w)


# Whole-batch im2col: (image, block of channels) tasks of at least this many
# patch-matrix elements, so a task's fixed cost stays small on small maps.
_TASK_ELEMENTS = 16384


@njit(parallel=True, **_JIT)
def _im2col_nchw(x, cols, planes, idx, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, row_start, row_count, out_w):
    # One prange task per (image, block of channels): it owns those
    # channels' patch rows, so the tasks are independent. `planes` holds one
    # plane buffer per Numba thread; `idx` the offset table (shared, read-only).
    n_img, channels, height, width = x.shape
    p0 = row_start * out_w
    p1 = p0 + row_count * out_w
    plan = _tile_plan(height, width, p0, p1, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                      pad_left, dilation_h, dilation_w, out_w)
    h_first, rows_needed, padded_w, direct, row_stride, mode, phases, phase_w = plan
    if mode == _GATHER:
        _offset_table(idx, p0, p1, out_w, stride_h, stride_w, row_stride)
    if not direct:
        for t in range(planes.shape[0]):
            _zero_plane_borders(planes[t], h_first, rows_needed, padded_w, pad_left, height, width,
                                phases, phase_w)
    per_task = max(1, min(channels, _TASK_ELEMENTS // max(1, kernel_h * kernel_w * (p1 - p0))))
    blocks = (channels + per_task - 1) // per_task
    shape = (channels, height, width)
    xf = x.reshape(x.size)
    for task in prange(n_img * blocks):
        n = task // blocks
        c0 = (task - n * blocks) * per_task
        c1 = min(channels, c0 + per_task)
        if direct:
            _patches(xf, xf, planes[0], False, cols[n], shape, n, 1, c0, c1, p0, p1, kernel_h,
                     kernel_w, stride_h, stride_w, pad_left, dilation_h, dilation_w, out_w, plan,
                     idx)
        else:
            plane = planes[get_thread_id()]
            _patches(xf, plane, plane, True, cols[n], shape, n, 1, c0, c1, p0, p1,
                     kernel_h, kernel_w, stride_h, stride_w, pad_left, dilation_h, dilation_w,
                     out_w, plan, idx)


@njit(**_JIT)
def _im2col_tile(x, cols, n0, n_img, p0, p1, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                 pad_left, dilation_h, dilation_w, out_w, plane, idx):
    # Serial im2col of one GEMM tile, run by the conv2d driver's worker
    # threads (each builds its own tile while the others multiply): output
    # positions [p0, p1) of images n0 .. n0+n_img-1 into the 2-D patch matrix
    # `cols` (C*kh*kw, n_img*(p1-p0)), image b in columns b*(p1-p0) onwards.
    # Channel outer, image inner: each patch-matrix row is written in order.
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    plan = _tile_plan(height, width, p0, p1, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                      pad_left, dilation_h, dilation_w, out_w)
    h_first, rows_needed, padded_w, direct, row_stride, mode, phases, phase_w = plan
    if mode == _GATHER:
        _offset_table(idx, p0, p1, out_w, stride_h, stride_w, row_stride)
    shape = (channels, height, width)
    xf = x.reshape(x.size)
    if direct:
        _patches(xf, xf, plane, False, cols, shape, n0, n_img, 0, channels, p0, p1, kernel_h,
                 kernel_w, stride_h, stride_w, pad_left, dilation_h, dilation_w, out_w, plan, idx)
    else:
        _zero_plane_borders(plane, h_first, rows_needed, padded_w, pad_left, height, width,
                            phases, phase_w)
        _patches(xf, plane, plane, True, cols, shape, n0, n_img, 0, channels, p0, p1, kernel_h,
                 kernel_w, stride_h, stride_w, pad_left, dilation_h, dilation_w, out_w, plan, idx)


@njit(parallel=True, **_JIT)
def _col2im_nchw(cols, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, out_h, out_w):
    # Mirror of _im2col_nchw. One prange task per output plane (n, c): a task
    # owns its plane, so the scatter-add has no races and a fixed order.
    n_img, channels, height, width = out.shape
    for task in prange(n_img * channels):
        n = task // channels
        c = task - n * channels
        plane = out[n, c]
        for h in range(height):
            for w in range(width):
                plane[h, w] = 0.0
        for ki in range(kernel_h):
            h_off = ki * dilation_h - pad_top
            i_lo, i_hi = _valid_range(h_off, stride_h, height, out_h)
            for kj in range(kernel_w):
                w_off = kj * dilation_w - pad_left
                j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                src = cols[n, (c * kernel_h + ki) * kernel_w + kj]
                for i in range(i_lo, i_hi):
                    dest = plane[i * stride_h + h_off]
                    base = i * out_w
                    for j in range(j_lo, j_hi):
                        dest[j * stride_w + w_off] += src[base + j]


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


@njit(**_JIT)
def _scatter_folded(result, bias, has_bias, out):
    # out[b, f, l] = result[f, b*L + l] (+ bias[f]): the GEMM result of a tile
    # of folded images, (F, nb*L), into its images' places in the output
    # (nb, F, L). Serial (run by the conv2d driver's workers); 4x faster than
    # NumPy's broadcast add over the transposed view on 49-196-element rows.
    filters = result.shape[0]
    n_img, _, area = out.shape
    count = np.uint64(area)
    for f in range(filters):
        src = result[f]
        if has_bias:
            value = bias[f]
            for b in range(n_img):
                dest = out[b, f]
                base = np.uint64(b * area)
                for q in range(count):
                    dest[q] = src[base + q] + value
        else:
            for b in range(n_img):
                dest = out[b, f]
                base = np.uint64(b * area)
                for q in range(count):
                    dest[q] = src[base + q]


# Direct convolution blocking (measured on the benchmark layers, float32, AVX2/
# AVX-512): filters per task, and output positions accumulated at once.
_DIRECT_FILTER_BLOCK = 64
_DIRECT_SPAN = 128


@njit(parallel=True, **_JIT)
def _conv_direct_nchw(x, weight, bias, out, taps_buf, acc_buf, filter_block, block_rows,
                      chunk_rows, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w,
                      groups):
    # Direct convolution, blocked for speed. One prange task per (image, group,
    # block of `filter_block` filters, chunk of `chunk_rows` output rows). The
    # task walks its rows `block_rows` at a time (span = block_rows*OW output
    # positions): the accumulators of all its filters for that span live in a
    # small C-contiguous buffer (L1), initialised with the bias; for every
    # input channel and kernel row, the kw input-row segments the span reads
    # are copied once, zero-padded, into `taps` (kw, span), then each filter
    # adds up to three kernel columns per pass of a unit-stride loop over the
    # span, which LLVM vectorises. So each loaded input value feeds up to
    # `filter_block` filters, and the inner loop touches only L1.
    # taps_buf / acc_buf hold one buffer per Numba thread.
    n_img, channels, height, width = x.shape
    filters, cg, kernel_h, kernel_w = weight.shape
    out_h = out.shape[2]
    out_w = out.shape[3]
    fg = filters // groups
    blocks = (fg + filter_block - 1) // filter_block
    chunks = (out_h + chunk_rows - 1) // chunk_rows
    per_image = groups * blocks * chunks
    for task in prange(n_img * per_image):
        n = task // per_image
        rem = task - n * per_image
        g = rem // (blocks * chunks)
        rem -= g * blocks * chunks
        blk = rem // chunks
        chunk = rem - blk * chunks
        f0 = g * fg + blk * filter_block
        nf = min(filter_block, (g + 1) * fg - f0)
        thread = get_thread_id()
        taps = taps_buf[thread]
        acc = acc_buf[thread]
        out_n = out[n].reshape(filters, out_h * out_w)
        row_stop = min(out_h, (chunk + 1) * chunk_rows)
        for i0 in range(chunk * chunk_rows, row_stop, block_rows):
            rows = min(block_rows, row_stop - i0)
            span = rows * out_w
            for fi in range(nf):
                b = bias[f0 + fi]
                for j in range(span):
                    acc[fi, j] = b
            for cc in range(cg):
                c = g * cg + cc
                for ki in range(kernel_h):
                    for kj in range(kernel_w):
                        w_off = kj * dilation_w - pad_left
                        j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                        for r in range(rows):
                            h = (i0 + r) * stride_h + ki * dilation_h - pad_top
                            base = r * out_w
                            if h < 0 or h >= height:
                                for j in range(out_w):
                                    taps[kj, base + j] = 0.0
                            else:
                                for j in range(j_lo):
                                    taps[kj, base + j] = 0.0
                                for j in range(j_lo, j_hi):
                                    taps[kj, base + j] = x[n, c, h, j * stride_w + w_off]
                                for j in range(j_hi, out_w):
                                    taps[kj, base + j] = 0.0
                    kj = 0
                    while kj + 3 <= kernel_w:
                        for fi in range(nf):
                            f = f0 + fi
                            w0 = weight[f, cc, ki, kj]
                            w1 = weight[f, cc, ki, kj + 1]
                            w2 = weight[f, cc, ki, kj + 2]
                            for j in range(span):
                                acc[fi, j] += w0 * taps[kj, j] + w1 * taps[kj + 1, j] + w2 * taps[kj + 2, j]
                        kj += 3
                    while kj < kernel_w:
                        for fi in range(nf):
                            w0 = weight[f0 + fi, cc, ki, kj]
                            for j in range(span):
                                acc[fi, j] += w0 * taps[kj, j]
                        kj += 1
            p0 = i0 * out_w
            for fi in range(nf):
                dest = out_n[f0 + fi]
                for j in range(span):
                    dest[p0 + j] = acc[fi, j]


@njit(parallel=True, **_JIT)
def _conv_direct_nhwc(x, weight_hwcf, out, stride_h, stride_w, pad_top, pad_left,
                      dilation_h, dilation_w, groups):
    # NHWC direct convolution, one prange task per output row (image, oh);
    # weight pre-arranged as (kh, kw, C/groups, F) so the inner loop runs over
    # the contiguous filters of one group: for each input pixel a tap reads,
    # each of its channels multiplies a contiguous weight row into the
    # output pixel's F accumulators (in place in `out`, L1-resident).
    # Indices are unsigned or plain range variables: no wraparound checks,
    # so the filter loop vectorises.
    n_img, height, width, channels = x.shape
    kernel_h, kernel_w, cg, filters = weight_hwcf.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    fg = filters // groups
    for task in prange(n_img * out_h):
        n = task // out_h
        i = task - n * out_h
        acc = out[n, i]  # (out_w, filters), C-contiguous
        for j in range(out_w):
            for f in range(filters):
                acc[j, f] = 0.0
        for ki in range(kernel_h):
            h = i * stride_h + ki * dilation_h - pad_top
            if h < 0 or h >= height:
                continue
            for kj in range(kernel_w):
                taps = weight_hwcf[ki, kj]  # (cg, filters)
                for j in range(out_w):
                    w = j * stride_w + kj * dilation_w - pad_left
                    if w < 0 or w >= width:
                        continue
                    for g in range(groups):
                        f0 = np.uint64(g * fg)
                        for cc in range(cg):
                            xv = x[n, h, w, g * cg + cc]
                            for f in range(np.uint64(fg)):
                                acc[j, f0 + f] += xv * taps[cc, f0 + f]


# ---------------------------------------------------------------------------
# Backend interface: the same names and signatures as _numpy_backend.
# Inputs are validated, C-contiguous float32/float64; outputs preallocated.
# ---------------------------------------------------------------------------

NAME = "numba"

@njit(parallel=True, **_JIT)
def _conv_tiles_nchw(gemm, x, weight, bias, has_bias, out, tiles, work, planes, idxs, kernel_h,
                     kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w,
                     out_w, groups, fused, pointwise):
    # The whole tiled convolution in one parallel region: worker w takes
    # tiles w, w + workers, ... (all tiles cost about the same), builds each
    # tile's patch matrix in its own row of `work` with the serial im2col and
    # hands it to `gemm` (NumPy's single-threaded cblas_?gemm, row-major)
    # straight into `out` (N, F, L): no Python, GIL or thread hand-over per
    # tile. tiles[t] = (n0, images, p0, p1, folded, ld): ld is the patch
    # matrix's row length in `work` (>= the tile's columns, see patch_ld).
    workers = work.shape[0]
    filters, lda = weight.shape
    fg = filters // groups
    n_tiles = tiles.shape[0]
    channels = x.shape[1]
    k_total = channels * kernel_h * kernel_w
    kg = k_total // groups
    area = out.shape[2]
    xs = x.reshape(x.shape[0], channels, x.shape[2] * x.shape[3])
    # Bias, `fused`: a bias column of the weight times a row of ones under
    # the patches (when the weight is small next to the output). Else the
    # output tile is filled with it and the GEMM accumulates onto it (beta =
    # 1): a pass over the tile while it is in cache, which BLAS would
    # otherwise spend zeroing it (beta = 0) on all but small GEMMs.
    fill = has_bias and not fused
    beta = 1.0 if fill else 0.0
    for worker in prange(workers):
        buf = work[worker]
        for t in range(worker, n_tiles, workers):
            n0, n_img, p0, p1, folded, ld = (tiles[t, 0], tiles[t, 1], tiles[t, 2], tiles[t, 3],
                                             tiles[t, 4], tiles[t, 5])
            width = p1 - p0
            span = n_img * width
            rows = k_total + 1 if fused and not folded else k_total
            if pointwise:  # the input's channel rows are the patch matrix
                cols = buf[:0].reshape(0, ld)
            else:  # rows of ld elements, the first span of them written
                cols = buf[:rows * ld].reshape(rows, ld)
                _im2col_tile(x, cols[:k_total], n0, n_img, p0, p1, kernel_h, kernel_w, stride_h, stride_w,
                             pad_top, pad_left, dilation_h, dilation_w, out_w, planes[worker],
                             idxs[worker])
            if folded:
                # Small maps: (F, K) @ (K, images*L) in one wide GEMM into
                # scratch, then regrouped by image, adding the bias on the way.
                result = buf[rows * ld:rows * ld + filters * span].reshape(filters, span)
                for g in range(groups):
                    gemm(101, 111, 111, fg, span, kg, 1.0, weight[g * fg:].ctypes, lda,
                         cols[g * kg:].ctypes, ld, 0.0, result[g * fg:].ctypes, span)
                _scatter_folded(result, bias, has_bias, out[n0:n0 + n_img])
                continue
            if rows > k_total:
                cols[k_total] = 1.0
            for b in range(n_img):
                n = n0 + b
                if fill:
                    for f in range(filters):
                        out[n, f, p0:p1] = bias[f]
                for g in range(groups):
                    if pointwise:
                        src = xs[n, g * kg:, p0:]
                        ld_src = xs.shape[2]
                    else:
                        src = cols[g * kg:, b * width:]
                        ld_src = ld
                    gemm(101, 111, 111, fg, width, rows if fused else kg, 1.0,
                         weight[g * fg:].ctypes, lda,
                         src.ctypes, ld_src, beta, out[n, g * fg:, p0:].ctypes, area)


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


@njit(parallel=True, **_JIT)
def _conv_tiles_nhwc(gemm, x, weight_rows, bias, has_bias, out, starts, positions, work,
                     kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h,
                     dilation_w, out_h, out_w, pointwise):
    # The channels-last twin of _conv_tiles_nchw: tile t is the flat output
    # positions [starts[t], starts[t] + positions) across the batch, i.e.
    # contiguous rows of out (N*OH*OW, F); worker w takes tiles w, w +
    # workers, ..., builds the tile's patch rows (q, (g, ki, kj, c)) with the
    # serial im2row and multiplies them by each group's weight rows,
    # transposed by BLAS (CblasTrans): rows (span, K/g) @ W_g.T (K/g, F/g).
    workers = work.shape[0]
    groups, fg, kg = weight_rows.shape
    filters = groups * fg
    total = out.shape[0]
    channels = x.shape[3]
    k_total = channels * kernel_h * kernel_w
    xs = x.reshape(x.shape[0] * x.shape[1] * x.shape[2], channels)  # pointwise: q is a pixel
    beta = 1.0 if has_bias else 0.0  # the bias fills the tile, the GEMM adds on
    for worker in prange(workers):
        buf = work[worker]
        for t in range(worker, starts.shape[0], workers):
            q0 = starts[t]
            q1 = min(total, q0 + positions)
            span = q1 - q0
            if pointwise:
                rows = xs[q0:q1]
            else:
                rows = buf[:span * k_total].reshape(span, k_total)
                _im2row_tile(x, rows, q0, q1, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                             pad_left, dilation_h, dilation_w, out_h, out_w, groups)
            if has_bias:
                for q in range(q0, q1):
                    out[q] = bias
            for g in range(groups):
                gemm(101, 111, 112, span, fg, kg, 1.0, rows[:, g * kg:].ctypes, k_total,
                     weight_rows[g].ctypes, kg, beta, out[q0:, g * fg:].ctypes, filters)


# Backend functions that run only serial kernels (no Numba thread pool): safe
# to call from several threads at once, which the conv2d driver's workers do;
# _threads therefore does not serialise them under a non-thread-safe layer.
SERIAL = ("im2col_tile", "im2row_tile", "scatter_folded")
# Backend functions the NumPy backend does not have: the kernels that call
# BLAS from inside a parallel Numba loop. Without them (NumPy backend, or no
# GEMM symbol found) conv2d runs the same tiles from its Python driver (and
# the weight gradient its whole-batch im2col + batched matmul).
NUMBA_ONLY = ("conv_tiles_nchw", "conv_tiles_nhwc", "conv_shift_nchw", "conv_shift_nhwc",
              "weight_grad_tiles_nchw")


def _plane_buffers(geom, x, p0, p1, count=1):
    """`count` plane buffers (zero-bordered copies of the input rows a tile
    of output positions [p0, p1) reads) and the offset table of the tile."""
    rows = (-(-p1 // geom.out_w) - p0 // geom.out_w - 1) * geom.stride_h \
        + (geom.kernel_h - 1) * geom.dilation_h + 1
    padded_w = (geom.out_w - 1) * geom.stride_w + (geom.kernel_w - 1) * geom.dilation_w + 1
    # (a plane split into stride_w phases pads each row to a multiple of it)
    return (np.empty((count, rows * (padded_w + geom.stride_w - 1)), dtype=x.dtype),
            np.empty(p1 - p0, dtype=np.uint64))


def _tile_buffers(geom, x, tiles, workers):
    """Per worker, a plane buffer and an offset table big enough for the
    serial im2col of any tile in `tiles` (rows ``(n0, images, p0, p1, ...)``)."""
    widest = int((tiles[:, 3] - tiles[:, 2]).max())
    # (a tile of `widest` positions starting mid-row spans no more rows than [0, widest + OW))
    planes, _ = _plane_buffers(geom, x, 0, widest + geom.out_w, workers)
    return planes, np.empty((workers, widest), dtype=np.uint64)


def im2col(x, cols, geom, row_start, row_count):
    """Fill `cols` (B, C*kh*kw, row_count*OW) with the patches of output rows
    [row_start, row_start + row_count) of `x` (B, C, H, W)."""
    p0 = row_start * geom.out_w
    planes, idx = _plane_buffers(geom, x, p0, p0 + row_count * geom.out_w,
                                 numba.config.NUMBA_NUM_THREADS)
    _im2col_nchw(x, cols, planes, idx, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 row_start, row_count, geom.out_w)


def im2col_tile(x, cols, geom, n0, n_img, p0, p1):
    """Serial im2col of one tile: output positions [p0, p1) (flat, oh*OW+ow)
    of images n0 .. n0+n_img-1 into `cols` (C*kh*kw, n_img*(p1-p0)).

    Single-threaded on purpose: the conv2d driver runs one tile per worker
    thread, each followed by its own single-threaded GEMM."""
    planes, idx = _plane_buffers(geom, x, p0, p1)
    _im2col_tile(x, cols, n0, n_img, p0, p1, geom.kernel_h, geom.kernel_w, geom.stride_h,
                 geom.stride_w, geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 geom.out_w, planes[0], idx)


def scatter_folded(result, bias, out):
    """``out (nb, F, L) = result (F, nb*L)`` regrouped by image, plus `bias`
    (F,) if given (serial)."""
    has_bias = bias is not None
    _scatter_folded(result, bias if has_bias else result[:, 0].copy(), has_bias, out)


def conv_tiles_nchw(gemm, x, weight, bias, out, tiles, geom, groups, fused, pointwise, work):
    """The tiled im2col + GEMM convolution in one parallel kernel.

    ``out (N, F, L) = conv(x (N, C, H, W), weight) + bias``; `weight` is
    (F, C/groups*kh*kw), with a bias column appended when `fused` (the
    patch matrix then gets a row of ones, groups == 1); `tiles` int64 (T, 6)
    rows ``(n0, images, p0, p1, folded, ld)``, ld the row length of the tile's
    patch matrix in `work`; `work` (workers, n) scratch, one row per worker (the patch
    matrix of its largest tile, plus the GEMM result of a folded one);
    `gemm` NumPy's cblas_?gemm (see _blas.py)."""
    workers = work.shape[0]
    planes, idxs = _tile_buffers(geom, x, tiles, workers)
    has_bias = bias is not None
    _conv_tiles_nchw(gemm, x, weight, bias if has_bias else weight[:, 0].copy(), has_bias, out,
                     tiles, work, planes, idxs, geom.kernel_h, geom.kernel_w, geom.stride_h,
                     geom.stride_w, geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                     geom.out_w, groups, fused, pointwise)


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


def conv_shift_nhwc(gemm, x, weight_taps, bias, out, tiles, geom, work):
    """Channels-last `conv_shift_nchw`: ``out (N*OH*OW, F) = conv(x (N, H, W,
    C), weight) + bias``, `weight_taps` (kh*kw, F, C), `tiles` int64 rows
    ``(n, i0, i1, unused)``, `work` (workers, n) scratch (the tile's
    (rows*padded_w, F) result, then its plane)."""
    has_bias = bias is not None
    _conv_shift_nhwc(gemm, x, weight_taps, bias if has_bias else weight_taps[0, :, 0].copy(),
                     has_bias, out, tiles, work, geom.kernel_h, geom.kernel_w, geom.pad_top,
                     geom.pad_left, geom.dilation_h, geom.dilation_w, geom.out_h, geom.out_w)


def conv_tiles_nhwc(gemm, x, weight_rows, bias, out, starts, positions, geom, pointwise, work):
    """Channels-last tiled convolution in one parallel kernel: ``out (N*OH*OW,
    F) = conv(x (N, H, W, C)) + bias``, `weight_rows` (groups, F/groups,
    kh*kw*C/groups) in the patch rows' column order, tiles of `positions`
    flat output positions starting at `starts` (int64), `work` (workers, n)
    scratch rows; `gemm` NumPy's cblas_?gemm (see _blas.py)."""
    has_bias = bias is not None
    _conv_tiles_nhwc(gemm, x, weight_rows, bias if has_bias else weight_rows[0, :, 0].copy(),
                     has_bias, out, starts, positions, work, geom.kernel_h, geom.kernel_w,
                     geom.stride_h, geom.stride_w, geom.pad_top, geom.pad_left, geom.dilation_h,
                     geom.dilation_w, geom.out_h, geom.out_w, pointwise)


def col2im(cols, out, geom):
    """Overwrite `out` (N, C, H, W) with the sum of the patches in `cols`."""
    _col2im_nchw(cols, out, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 geom.out_h, geom.out_w)


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


def conv2d_direct_nchw(x, weight, out, geom, groups, bias=None):
    """Direct convolution into `out` (N, F, OH, OW), plus `bias` (F,) if given."""
    n_img = x.shape[0]
    filters = weight.shape[0]
    fg = filters // groups
    out_h, out_w = geom.out_h, geom.out_w
    filter_block = min(_DIRECT_FILTER_BLOCK, fg)
    block_rows = min(out_h, -(-_DIRECT_SPAN // out_w))
    # Split the rows too when images x filter blocks leave threads idle.
    tasks = n_img * groups * -(-fg // filter_block)
    row_blocks = -(-out_h // block_rows)
    chunks = min(row_blocks, -(-4 * numba.get_num_threads() // tasks))
    chunk_rows = -(-row_blocks // chunks) * block_rows
    threads = numba.config.NUMBA_NUM_THREADS
    span = block_rows * out_w
    taps = np.empty((threads, geom.kernel_w, span), dtype=x.dtype)
    acc = np.empty((threads, filter_block, span), dtype=x.dtype)
    if bias is None:
        bias = np.zeros(filters, dtype=x.dtype)
    _conv_direct_nchw(x, weight, bias, out, taps, acc, filter_block, block_rows, chunk_rows,
                      geom.stride_h, geom.stride_w, geom.pad_top, geom.pad_left, geom.dilation_h,
                      geom.dilation_w, groups)


def conv2d_direct_nhwc(x, weight_hwcf, out, geom, groups):
    """Direct convolution of `x` (N, H, W, C) into `out` (N, OH, OW, F)."""
    _conv_direct_nhwc(x, weight_hwcf, out, geom.stride_h, geom.stride_w, geom.pad_top,
                      geom.pad_left, geom.dilation_h, geom.dilation_w, groups)


# Feature modules (pooling, gradients, ...) keep their kernels in their own
# ``_numba_<feature>.py`` files; the backend namespace re-exports them here.
from ._numba_pool import *  # noqa: F401,F403
from ._numba_grad import *  # noqa: F401,F403
