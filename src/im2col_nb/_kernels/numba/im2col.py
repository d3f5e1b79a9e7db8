"""im2col, NCHW: patches of an image batch as the columns of a matrix.

The loops run channel -> kernel row -> kernel column -> output position, as
Caffe's ``im2col.cpp``, but read each channel's rows from the input itself
when no padding is involved, else from a zero-bordered copy of them made
once per channel, so the tap loops carry no bounds logic; narrow rows (small
feature maps) are copied through a table of offsets in one loop per tap.
``col2im.py`` holds the adjoint.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import get_thread_id, njit, prange

from ._jit import JIT_OPTIONS as _JIT


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
