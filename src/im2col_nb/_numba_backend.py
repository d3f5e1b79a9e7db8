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

Loop order follows Caffe's ``im2col.cpp``: channel -> kernel row -> kernel
column -> output row -> output column, with the valid output-column range for
each kernel column hoisted out of the inner loop, and col2im as a
line-for-line mirror of im2col.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import get_thread_id, njit, prange

from ._numba_common import JIT_OPTIONS as _JIT
from ._numba_common import valid_range as _valid_range


@njit(**_JIT)
def _patch_rows(x, n, c, cols, r_base, col_base, p0, p1, kernel_h, kernel_w, stride_h,
                stride_w, pad_top, pad_left, dilation_h, dilation_w, out_w, row):
    # Write the kh*kw patch-matrix rows of channel c of image n, for the flat
    # output positions [p0, p1): tap (ki, kj) goes to row r_base + ki*kw + kj,
    # position p to column col_base + p - p0. Each input row a patch row reads
    # is first copied once, zero-padded, into `row` (unless no padding is
    # involved); the kw taps then copy fixed-length, branch-free runs of it.
    # Copy loops index with unsigned ints: Numba then emits no negative-index
    # wraparound select and LLVM vectorises them (3x faster).
    height, width = x.shape[2], x.shape[3]
    padded_w = (out_w - 1) * stride_w + (kernel_w - 1) * dilation_w + 1
    q_lo = min(pad_left, padded_w)
    q_hi = max(min(pad_left + width, padded_w), q_lo)
    inner = q_lo == 0 and q_hi == padded_w  # rows need no horizontal padding
    sw = np.uint64(stride_w)
    i_first = p0 // out_w
    i_last = (p1 - 1) // out_w
    for ki in range(kernel_h):
        h_off = ki * dilation_h - pad_top
        r_ki = r_base + ki * kernel_w
        for i in range(i_first, i_last + 1):
            j_a = max(p0 - i * out_w, 0)
            j_b = min(p1 - i * out_w, out_w)
            count = np.uint64(j_b - j_a)
            d = np.uint64(col_base + i * out_w - p0 + j_a)
            h = i * stride_h + h_off
            if h < 0 or h >= height:
                for kj in range(kernel_w):
                    dest = cols[r_ki + kj]
                    for j in range(count):
                        dest[d + j] = 0.0
                continue
            src = x[n, c, h]
            if inner:
                # No horizontal padding: the taps read the input row directly.
                for kj in range(kernel_w):
                    dest = cols[r_ki + kj]
                    o = np.uint64(kj * dilation_w + j_a * stride_w)
                    for j in range(count):
                        dest[d + j] = src[o + j * sw]
                continue
            for q in range(q_lo):
                row[q] = 0.0
            first = np.uint64(q_lo)
            shift = np.uint64(q_lo - pad_left)
            for q in range(np.uint64(q_hi - q_lo)):
                row[first + q] = src[shift + q]
            for q in range(q_hi, padded_w):
                row[q] = 0.0
            for kj in range(kernel_w):
                dest = cols[r_ki + kj]
                o = np.uint64(kj * dilation_w + j_a * stride_w)
                if stride_w == 1:
                    for j in range(count):
                        dest[d + j] = row[o + j]
                else:
                    for j in range(count):
                        dest[d + j] = row[o + j * sw]


@njit(parallel=True, **_JIT)
def _im2col_nchw(x, cols, rows, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, row_start, row_count, out_w):
    # One prange task per (image, channel): it owns the kh*kw patch rows of
    # that channel, so the tasks are independent. `rows` holds one padded-row
    # buffer per task.
    n_img, channels = x.shape[0], x.shape[1]
    kk = kernel_h * kernel_w
    p0 = row_start * out_w
    p1 = p0 + row_count * out_w
    for task in prange(n_img * channels):
        n = task // channels
        c = task - n * channels
        _patch_rows(x, n, c, cols[n], c * kk, 0, p0, p1, kernel_h, kernel_w, stride_h, stride_w,
                    pad_top, pad_left, dilation_h, dilation_w, out_w, rows[task])


@njit(**_JIT)
def _im2col_tile(x, cols, n0, n_img, p0, p1, kernel_h, kernel_w, stride_h, stride_w, pad_top,
                 pad_left, dilation_h, dilation_w, out_w, row):
    # Serial im2col of one GEMM tile, run by the conv2d driver's worker
    # threads (each builds its own tile while the others multiply): output
    # positions [p0, p1) of images n0 .. n0+n_img-1 into the 2-D patch matrix
    # `cols` (C*kh*kw, n_img*(p1-p0)), image b in columns b*(p1-p0) onwards.
    channels = x.shape[1]
    kk = kernel_h * kernel_w
    span = p1 - p0
    for b in range(n_img):
        for c in range(channels):
            _patch_rows(x, n0 + b, c, cols, c * kk, b * span, p0, p1, kernel_h, kernel_w,
                        stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, out_w, row)


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


@njit(**_JIT)
def _im2row_tile(x, rows, q0, q1, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, out_h, out_w, groups):
    # Serial NHWC patch rows for the flat output positions [q0, q1) across the
    # batch (q = (n*OH + oh)*OW + ow), in _im2row_nhwc's column order; run by
    # the conv2d driver's worker threads, one tile each.
    n_img, height, width, channels = x.shape
    cg = channels // groups
    kk = kernel_h * kernel_w
    per_image = out_h * out_w
    run = kernel_w * channels
    flat = x.reshape(x.size)
    for q in range(q0, q1):
        n = q // per_image
        p = q - n * per_image
        oh = p // out_w
        ow = p - oh * out_w
        dest = rows[q - q0]
        w0 = ow * stride_w - pad_left
        whole_run = groups == 1 and dilation_w == 1 and w0 >= 0 and w0 + kernel_w <= width
        for ki in range(kernel_h):
            h = oh * stride_h + ki * dilation_h - pad_top
            inside_h = 0 <= h < height
            if whole_run and inside_h:
                # (kj, channel) of this kernel row is one contiguous run of x.
                base = ki * run
                start = ((n * height + h) * width + w0) * channels
                for t in range(run):
                    dest[base + t] = flat[start + t]
                continue
            for kj in range(kernel_w):
                w = w0 + kj * dilation_w
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

# Backend functions that run only serial kernels (no Numba thread pool): safe
# to call from several threads at once, which the conv2d driver's workers do;
# _threads therefore does not serialise them under a non-thread-safe layer.
SERIAL = ("im2col_tile", "im2row_tile")


def _padded_width(geom):
    return (geom.out_w - 1) * geom.stride_w + (geom.kernel_w - 1) * geom.dilation_w + 1


def im2col(x, cols, geom, row_start, row_count):
    """Fill `cols` (B, C*kh*kw, row_count*OW) with the patches of output rows
    [row_start, row_start + row_count) of `x` (B, C, H, W)."""
    rows = np.empty((x.shape[0] * x.shape[1], _padded_width(geom)), dtype=x.dtype)
    _im2col_nchw(x, cols, rows, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 row_start, row_count, geom.out_w)


def im2col_tile(x, cols, geom, n0, n_img, p0, p1):
    """Serial im2col of one tile: output positions [p0, p1) (flat, oh*OW+ow)
    of images n0 .. n0+n_img-1 into `cols` (C*kh*kw, n_img*(p1-p0)).

    Single-threaded on purpose: the conv2d driver runs one tile per worker
    thread, each followed by its own single-threaded GEMM."""
    row = np.empty(_padded_width(geom), dtype=x.dtype)
    _im2col_tile(x, cols, n0, n_img, p0, p1, geom.kernel_h, geom.kernel_w, geom.stride_h,
                 geom.stride_w, geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 geom.out_w, row)


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
