"""Direct convolution: no patch matrix, the baseline the GEMM methods beat."""

from __future__ import annotations

import numba
import numpy as np
from numba import get_thread_id, njit, prange

from ._jit import JIT_OPTIONS as _JIT
from ._jit import valid_range as _valid_range


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
