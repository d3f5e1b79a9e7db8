"""Direct convolution: no patch matrix or BLAS. Register-blocked loops that
beat im2col + GEMM where the GEMM is inefficient: few input channels per
group (K = C/groups * kh * kw small), depthwise and few filters."""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import get_thread_id, njit, prange

from ._jit import JIT_OPTIONS as _JIT


# Blocking of the NCHW kernels: a task accumulates `filter_block` filters
# over a band of output rows in a per-thread buffer of at most _DIRECT_ACC
# elements (32 KiB of float32: L1), in runs of at least _DIRECT_RUN
# positions, while one input channel's band sits zero-padded in a second
# per-thread buffer.
_DIRECT_FILTER_BLOCK = 16
_DIRECT_ACC = 8192
_DIRECT_RUN = 1024


# The passes below add T taps of one or two filters into their accumulators
# in one run over n positions: acc[a + j] += sum_t w_t * xp[x0 + j + o_t].
# A run loads each accumulator once per T taps (two filters share each input
# load), so with T = 9 (a whole 3x3 window) the loop does 18 multiply-adds
# per 11 loads and 2 stores and runs near the FMA units' speed, where one
# tap per pass would be bound by loads and stores. Weights and offsets are
# scalar arguments, held in registers for the run. Unsigned indices: no
# wraparound checks, so the j loop vectorises.


@njit(**_JIT)
def _taps2x9(acc, a0, a1, xp, x0, n, o0, o1, o2, o3, o4, o5, o6, o7, o8,
             w0, w1, w2, w3, w4, w5, w6, w7, w8, v0, v1, v2, v3, v4, v5, v6, v7, v8):
    for j in range(n):
        q = x0 + j
        x_0 = xp[q + o0]
        x_1 = xp[q + o1]
        x_2 = xp[q + o2]
        x_3 = xp[q + o3]
        x_4 = xp[q + o4]
        x_5 = xp[q + o5]
        x_6 = xp[q + o6]
        x_7 = xp[q + o7]
        x_8 = xp[q + o8]
        acc[a0 + j] += (w0 * x_0 + w1 * x_1 + w2 * x_2 + w3 * x_3 + w4 * x_4 + w5 * x_5
                        + w6 * x_6 + w7 * x_7 + w8 * x_8)
        acc[a1 + j] += (v0 * x_0 + v1 * x_1 + v2 * x_2 + v3 * x_3 + v4 * x_4 + v5 * x_5
                        + v6 * x_6 + v7 * x_7 + v8 * x_8)


@njit(**_JIT)
def _taps1x9(acc, a0, xp, x0, n, o0, o1, o2, o3, o4, o5, o6, o7, o8,
             w0, w1, w2, w3, w4, w5, w6, w7, w8):
    for j in range(n):
        q = x0 + j
        acc[a0 + j] += (w0 * xp[q + o0] + w1 * xp[q + o1] + w2 * xp[q + o2] + w3 * xp[q + o3]
                        + w4 * xp[q + o4] + w5 * xp[q + o5] + w6 * xp[q + o6] + w7 * xp[q + o7]
                        + w8 * xp[q + o8])


@njit(**_JIT)
def _taps2x3(acc, a0, a1, xp, x0, n, o0, o1, o2, w0, w1, w2, v0, v1, v2):
    for j in range(n):
        q = x0 + j
        x_0 = xp[q + o0]
        x_1 = xp[q + o1]
        x_2 = xp[q + o2]
        acc[a0 + j] += w0 * x_0 + w1 * x_1 + w2 * x_2
        acc[a1 + j] += v0 * x_0 + v1 * x_1 + v2 * x_2


@njit(**_JIT)
def _taps1x3(acc, a0, xp, x0, n, o0, o1, o2, w0, w1, w2):
    for j in range(n):
        q = x0 + j
        acc[a0 + j] += w0 * xp[q + o0] + w1 * xp[q + o1] + w2 * xp[q + o2]


@njit(**_JIT)
def _taps2x1(acc, a0, a1, xp, x0, n, o0, w0, v0):
    for j in range(n):
        x_0 = xp[x0 + j + o0]
        acc[a0 + j] += w0 * x_0
        acc[a1 + j] += v0 * x_0


@njit(**_JIT)
def _taps1x1(acc, a0, xp, x0, n, o0, w0):
    for j in range(n):
        acc[a0 + j] += w0 * xp[x0 + j + o0]


@njit(**_JIT)
def _channel_taps(acc, a0, a1, pair, xp, x0, n, offsets, passes, w, f, cc):
    # Every tap of filter f's channel cc (and filter f + 1's if `pair`, into
    # acc[a1:]) in passes of passes[0], passes[1], ... taps (9, 3 or 1;
    # `pass_sizes`): only real taps, so no zero weight ever multiplies an inf
    # or NaN input. offsets[t]: where tap t = ki*kw + kj reads in xp,
    # relative to the output position.
    wf = w[f, cc].ravel()
    wg = w[f + 1, cc].ravel() if pair else wf
    o = offsets
    t = 0
    for size in passes:
        if size == 9:
            if pair:
                _taps2x9(acc, a0, a1, xp, x0, n, o[t], o[t + 1], o[t + 2], o[t + 3], o[t + 4], o[t + 5],
                         o[t + 6], o[t + 7], o[t + 8], wf[t], wf[t + 1], wf[t + 2], wf[t + 3], wf[t + 4],
                         wf[t + 5], wf[t + 6], wf[t + 7], wf[t + 8], wg[t], wg[t + 1], wg[t + 2],
                         wg[t + 3], wg[t + 4], wg[t + 5], wg[t + 6], wg[t + 7], wg[t + 8])
            else:
                _taps1x9(acc, a0, xp, x0, n, o[t], o[t + 1], o[t + 2], o[t + 3], o[t + 4], o[t + 5],
                         o[t + 6], o[t + 7], o[t + 8], wf[t], wf[t + 1], wf[t + 2], wf[t + 3], wf[t + 4],
                         wf[t + 5], wf[t + 6], wf[t + 7], wf[t + 8])
        elif size == 3:
            if pair:
                _taps2x3(acc, a0, a1, xp, x0, n, o[t], o[t + 1], o[t + 2], wf[t], wf[t + 1], wf[t + 2],
                         wg[t], wg[t + 1], wg[t + 2])
            else:
                _taps1x3(acc, a0, xp, x0, n, o[t], o[t + 1], o[t + 2], wf[t], wf[t + 1], wf[t + 2])
        elif size == 1:
            if pair:
                _taps2x1(acc, a0, a1, xp, x0, n, o[t], wf[t], wg[t])
            else:
                _taps1x1(acc, a0, xp, x0, n, o[t], wf[t])
        t += size


@njit(**_JIT)
def _pad_band(x, n, c, h0, rows_p, pitch_p, stride_h, stride_w, pad_left, xp, zero):
    # The band of input rows h0 ... of channel c, zero-padded and split by
    # phase: input (row h0 + r, padded column q) goes to
    # xp[((r % stride_h) * stride_w + q % stride_w) * rows_p * pitch_p
    #    + (r // stride_h) * pitch_p + q // stride_w],
    # so every tap of a strided kernel reads consecutive elements for
    # consecutive output columns (and rows), like a stride-1 kernel.
    # Unsigned indices: the copies vectorise. Returns the sum of v * 0 over
    # the copied values: 0, or NaN if one is inf or NaN.
    height = x.shape[2]
    width = x.shape[3]
    plane = np.uint64(rows_p * pitch_p)
    probe = zero
    step = np.uint64(stride_w)
    for r in range(rows_p * stride_h):
        h = h0 + r
        row = np.uint64(r // stride_h) * np.uint64(pitch_p)
        for pw in range(stride_w):
            base = np.uint64((r % stride_h) * stride_w + pw) * plane + row
            if h < 0 or h >= height:
                for q in range(np.uint64(pitch_p)):
                    xp[base + q] = 0.0
                continue
            # columns q' with 0 <= q'*stride_w + pw - pad_left < width
            lo = min(pitch_p, max(0, (pad_left - pw + stride_w - 1) // stride_w))
            hi = max(lo, min(pitch_p, (pad_left + width - pw + stride_w - 1) // stride_w))
            for q in range(np.uint64(lo)):
                xp[base + q] = 0.0
            if hi > lo:
                src = x[n, c, h]
                first = np.uint64(lo * stride_w + pw - pad_left)
                start = base + np.uint64(lo)
                if stride_w == 1:   # a unit-stride copy LLVM vectorises
                    for q in range(np.uint64(hi - lo)):
                        v = src[first + q]
                        xp[start + q] = v
                        probe += v * zero
                else:
                    for q in range(np.uint64(hi - lo)):
                        v = src[first + q * step]
                        xp[start + q] = v
                        probe += v * zero
            for q in range(np.uint64(hi), np.uint64(pitch_p)):
                xp[base + q] = 0.0
    return probe


@njit(inline="always", **_JIT)
def _task(task, per_image, blocks, chunks, fg, filter_block, chunk_rows, out_h):
    # Task number -> (image, group, first filter, filters, first output row,
    # rows): tasks run image by image, then group, filter block and band.
    n = task // per_image
    rem = task - n * per_image
    g = rem // (blocks * chunks)
    rem -= g * blocks * chunks
    blk = rem // chunks
    chunk = rem - blk * chunks
    f0 = g * fg + blk * filter_block
    i0 = chunk * chunk_rows
    return n, g, f0, min(filter_block, (g + 1) * fg - f0), i0, min(chunk_rows, out_h - i0)


@njit(parallel=True, **_JIT)
def _conv_direct_nchw(x, weight, bias, out, offsets, passes, acc_buf, pad_buf, zero, filter_block,
                      chunk_rows, rows_p, pitch_p, wide, stride_h, stride_w, pad_top, pad_left,
                      groups):
    # One prange task per (image, group, block of `filter_block` filters, band
    # of `chunk_rows` output rows). Its accumulators (filters x band, in the
    # thread's acc buffer, L1) start at the bias; for each input channel of
    # the group the band is copied, zero-padded and split by stride phase,
    # into the thread's xp buffer (`_pad_band`: every tap reads inside it
    # and contiguously), and two filters at a time add that channel's taps
    # in passes of up to nine (`_channel_taps`). `wide`: the band is one run
    # over positions r*pitch_p + j, j < pitch_p, so a pass covers every row
    # at once (the pitch_p - out_w extra columns of each row are computed
    # and dropped); else one run per output row.
    n_img = x.shape[0]
    filters = weight.shape[0]
    cg = weight.shape[1]
    out_h = out.shape[2]
    out_w = out.shape[3]
    fg = filters // groups
    blocks = (fg + filter_block - 1) // filter_block
    chunks = (out_h + chunk_rows - 1) // chunk_rows
    per_image = groups * blocks * chunks
    pitch = pitch_p if wide else out_w
    plane = chunk_rows * pitch
    for task in prange(n_img * per_image):
        n, g, f0, nf, i0, rows = _task(task, per_image, blocks, chunks, fg, filter_block,
                                       chunk_rows, out_h)
        thread = get_thread_id()
        acc = acc_buf[thread]
        xp = pad_buf[thread]
        for fi in range(nf):
            b = bias[f0 + fi]
            start = np.uint64(fi * plane)
            for p in range(np.uint64(rows * pitch)):
                acc[start + p] = b
        if wide:
            runs, n_run = 1, np.uint64((rows - 1) * pitch_p + out_w)
        else:
            runs, n_run = rows, np.uint64(out_w)
        for cc in range(cg):
            _pad_band(x, n, g * cg + cc, i0 * stride_h - pad_top, rows_p, pitch_p, stride_h,
                      stride_w, pad_left, xp, zero)
            for fi in range(0, nf, 2):
                a0 = np.uint64(fi * plane)
                a1 = a0 + np.uint64(plane)
                for r in range(runs):
                    ao = np.uint64(r * pitch)
                    _channel_taps(acc, a0 + ao, a1 + ao, fi + 1 < nf, xp, np.uint64(r * pitch_p),
                                  n_run, offsets, passes, weight, f0 + fi, cc)
        for fi in range(nf):
            dest = out[n, f0 + fi]
            for r in range(rows):
                row = dest[i0 + r]
                src0 = np.uint64(fi * plane + r * pitch)
                for j in range(np.uint64(out_w)):
                    row[j] = acc[src0 + j]


@njit(**_JIT)
def _dots9(g, a0, a1, xp, x0, n, o0, o1, o2, o3, o4, o5, o6, o7, o8, zero):
    # The dot products of two grad_output runs g[a0 + j], g[a1 + j] with
    # nine taps' input runs xp[x0 + o_t + j]: 18 sums, each loaded input
    # value feeding two, nothing stored.
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = zero
    t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = t8 = zero
    for j in range(n):
        q = x0 + j
        a = g[a0 + j]
        b = g[a1 + j]
        v = xp[q + o0]
        s0 += a * v
        t0 += b * v
        v = xp[q + o1]
        s1 += a * v
        t1 += b * v
        v = xp[q + o2]
        s2 += a * v
        t2 += b * v
        v = xp[q + o3]
        s3 += a * v
        t3 += b * v
        v = xp[q + o4]
        s4 += a * v
        t4 += b * v
        v = xp[q + o5]
        s5 += a * v
        t5 += b * v
        v = xp[q + o6]
        s6 += a * v
        t6 += b * v
        v = xp[q + o7]
        s7 += a * v
        t7 += b * v
        v = xp[q + o8]
        s8 += a * v
        t8 += b * v
    return (s0, s1, s2, s3, s4, s5, s6, s7, s8), (t0, t1, t2, t3, t4, t5, t6, t7, t8)


@njit(**_JIT)
def _dots3(g, a0, a1, xp, x0, n, o0, o1, o2, zero):
    s0 = s1 = s2 = t0 = t1 = t2 = zero
    for j in range(n):
        q = x0 + j
        a = g[a0 + j]
        b = g[a1 + j]
        v0 = xp[q + o0]
        v1 = xp[q + o1]
        v2 = xp[q + o2]
        s0 += a * v0
        s1 += a * v1
        s2 += a * v2
        t0 += b * v0
        t1 += b * v1
        t2 += b * v2
    return (s0, s1, s2), (t0, t1, t2)


@njit(**_JIT)
def _dots1(g, a0, a1, xp, x0, n, o0, zero):
    s0 = t0 = zero
    for j in range(n):
        v = xp[x0 + j + o0]
        s0 += g[a0 + j] * v
        t0 += g[a1 + j] * v
    return s0, t0


@njit(**_JIT)
def _weight_taps(acc, f, pair, cc, g, a0, a1, xp, x0, n, offsets, zero):
    # acc[f, cc] (and acc[f + 1, cc] if `pair`), flattened over the taps,
    # += every tap's dot product of a grad_output run (g[a0:], g[a1:]) with
    # its input run, nine taps per pass while nine are left, then three,
    # then one.
    af = acc[f, cc].ravel()
    ag = acc[f + 1, cc].ravel() if pair else af
    o = offsets
    taps = af.size
    t = 0
    while t + 9 <= taps:
        s, u = _dots9(g, a0, a1, xp, x0, n, o[t], o[t + 1], o[t + 2], o[t + 3], o[t + 4], o[t + 5],
                      o[t + 6], o[t + 7], o[t + 8], zero)
        for k in range(9):
            af[t + k] += s[k]
        if pair:
            for k in range(9):
                ag[t + k] += u[k]
        t += 9
    while t + 3 <= taps:
        s, u = _dots3(g, a0, a1, xp, x0, n, o[t], o[t + 1], o[t + 2], zero)
        for k in range(3):
            af[t + k] += s[k]
        if pair:
            for k in range(3):
                ag[t + k] += u[k]
        t += 3
    while t < taps:
        s0, t0 = _dots1(g, a0, a1, xp, x0, n, o[t], zero)
        af[t] += s0
        if pair:
            ag[t] += t0
        t += 1


@njit(**_JIT)
def _weight_task(x, go, acc, xp, gp, task, per_image, blocks, chunks, fg, cg, offsets, zero,
                 filter_block, chunk_rows, rows_p, pitch_p, wide, stride_h, stride_w, pad_top,
                 pad_left):
    # One task of `_weight_grad_direct_nchw`, added into acc (F, C/groups, kh, kw).
    out_h = go.shape[2]
    out_w = go.shape[3]
    plane = chunk_rows * pitch_p
    n, g, f0, nf, i0, rows = _task(task, per_image, blocks, chunks, fg, filter_block, chunk_rows,
                                   out_h)
    for fi in range(nf):
        for r in range(rows):
            src = go[n, f0 + fi, i0 + r]
            base = np.uint64(fi * plane + r * pitch_p)
            for j in range(np.uint64(out_w)):
                gp[base + j] = src[j]
            for j in range(np.uint64(out_w), np.uint64(pitch_p)):
                gp[base + j] = 0.0
    for cc in range(cg):
        probe = _pad_band(x, n, g * cg + cc, i0 * stride_h - pad_top, rows_p, pitch_p,
                          stride_h, stride_w, pad_left, xp, zero)
        whole = wide and probe == 0
        for fi in range(0, nf, 2):
            pair = fi + 1 < nf
            a0 = np.uint64(fi * plane)
            a1 = a0 + np.uint64(plane) if pair else a0
            if whole:
                _weight_taps(acc, f0 + fi, pair, cc, gp, a0, a1, xp, np.uint64(0),
                             np.uint64((rows - 1) * pitch_p + out_w), offsets, zero)
                continue
            for r in range(rows):
                at = np.uint64(r * pitch_p)
                _weight_taps(acc, f0 + fi, pair, cc, gp, a0 + at, a1 + at, xp, at,
                             np.uint64(out_w), offsets, zero)


@njit(parallel=True, **_JIT)
def _weight_grad_direct_nchw(x, go, gw_acc, offsets, pad_buf, go_buf, zero, filter_block,
                             chunk_rows, rows_p, pitch_p, wide, stride_h, stride_w, pad_top,
                             pad_left, groups):
    # gw_acc[w] (F, C/groups, kh, kw), zeroed by the caller, += the weight
    # gradient's share of worker w: tasks w, w + workers, ... (a fixed
    # share, so the sum over workers is the same on every call), each one
    # (image, group, block of filters, band of output rows) as in
    # `_conv_direct_nchw` (`_weight_task`). A task copies the band's
    # grad_output rows into gp with the input buffer's row pitch and zeros
    # in the extra columns, each input channel's band into xp as the forward
    # does, then every filter pair adds its taps' dot products
    # (`_weight_taps`): over the whole band at once (`wide`; the extra
    # columns add 0 * input), or row by row where the band holds an inf or
    # NaN (0 * inf is NaN, and only real output columns may be summed) or
    # the rows are too short to be wide.
    n_img = x.shape[0]
    filters = go.shape[1]
    out_h = go.shape[2]
    cg = gw_acc.shape[2]
    fg = filters // groups
    blocks = (fg + filter_block - 1) // filter_block
    chunks = (out_h + chunk_rows - 1) // chunk_rows
    per_image = groups * blocks * chunks
    workers = gw_acc.shape[0]
    for worker in prange(workers):
        for task in range(worker, n_img * per_image, workers):
            _weight_task(x, go, gw_acc[worker], pad_buf[worker], go_buf[worker], task, per_image,
                         blocks, chunks, fg, cg, offsets, zero, filter_block, chunk_rows, rows_p,
                         pitch_p, wide, stride_h, stride_w, pad_top, pad_left)


@njit(parallel=True, **_JIT)
def _conv_direct_nhwc(x, weight_hwcf, out, stride_h, stride_w, pad_top, pad_left,
                      dilation_h, dilation_w, groups):
    # NHWC direct convolution, one prange task per output row (image, oh);
    # weight pre-arranged as (kh, kw, C/groups, F) so the inner loop runs over
    # the contiguous filters of one group: for each input pixel a tap reads,
    # each of its channels multiplies a contiguous weight row into the
    # output pixel's F accumulators (in place in `out`, L1-resident).
    # Indices are unsigned or plain range variables: no wraparound checks,
    # so the filter (depthwise: channel) loop vectorises.
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
                    if cg == 1 and fg == 1:
                        # depthwise: channel c feeds filter c only, so the
                        # loop runs over the contiguous channels instead
                        xrow = x[n, h, w]
                        arow = acc[j]
                        trow = taps[0]
                        for c in range(np.uint64(channels)):
                            arow[c] += xrow[c] * trow[c]
                        continue
                    for g in range(groups):
                        f0 = np.uint64(g * fg)
                        for cc in range(cg):
                            xv = x[n, h, w, g * cg + cc]
                            for f in range(np.uint64(fg)):
                                acc[j, f0 + f] += xv * taps[cc, f0 + f]


_PASS_SIZES = (9, 3, 1)


@functools.lru_cache(maxsize=64)
def _fewest_passes(taps: int) -> tuple:
    # fewest passes of _PASS_SIZES adding up to `taps`, then the largest
    # smallest pass (short passes are the least efficient)
    best = {0: ()}
    for total in range(1, taps + 1):
        options = [best[total - size] + (size,) for size in _PASS_SIZES if size <= total]
        best[total] = min(options, key=lambda p: (len(p), -min(p)))
    return tuple(sorted(best[taps], reverse=True))


def pass_sizes(taps: int) -> np.ndarray:
    """How many taps each pass of `_channel_taps` adds: the fewest passes
    (each loads and stores the accumulators once), then the fewest short
    ones (25 taps: 9, 9, 3, 3, 1)."""
    return np.array(_fewest_passes(taps), dtype=np.int64)


class DirectLayout:
    """How the NCHW direct kernels cut a problem: filters per task, output
    rows per band, and the band's phase-split input buffer (`_pad_band`)."""

    def __init__(self, n_img, groups, fg, geom, threads):
        out_h, out_w = geom.out_h, geom.out_w
        sh, sw = geom.stride_h, geom.stride_w
        span_w = (out_w - 1) * sw + (geom.kernel_w - 1) * geom.dilation_w + 1
        self.pitch_p = -(-span_w // sw)
        # A wide band computes pitch_p - out_w dropped columns per row: worth
        # it unless they are many (a wide kernel on a narrow output).
        self.wide = 2 * self.pitch_p <= 3 * out_w
        pitch = self.pitch_p if self.wide else out_w
        # Runs of at least _DIRECT_RUN positions (a pass's setup is then
        # paid back), as many filters as fit beside them in _DIRECT_ACC,
        # then as many rows as fit with those filters.
        rows = min(out_h, -(-_DIRECT_RUN // pitch))
        block = max(1, min(fg, _DIRECT_FILTER_BLOCK, _DIRECT_ACC // (rows * pitch)))
        if 1 < block < fg and block % 2:
            block -= 1
        rows = max(rows, min(out_h, _DIRECT_ACC // (block * pitch)))
        # Split the rows further while the tasks would leave threads idle.
        tasks = n_img * groups * -(-fg // block)
        if tasks * -(-out_h // rows) < 4 * threads:
            rows = max(1, -(-out_h // -(-4 * threads // tasks)))
        self.filter_block, self.chunk_rows = block, rows
        rows_in = (rows - 1) * sh + (geom.kernel_h - 1) * geom.dilation_h + 1
        self.rows_p = -(-rows_in // sh)
        self.acc_length = block * rows * pitch
        self.pad_length = sh * sw * self.rows_p * self.pitch_p
        # tap (ki, kj) reads phase (ki*dh % sh, kj*dw % sw), ki*dh // sh
        # rows and kj*dw // sw columns on from the output position
        ki = np.arange(geom.kernel_h)[:, None] * geom.dilation_h
        kj = np.arange(geom.kernel_w)[None, :] * geom.dilation_w
        phase = (ki % sh) * sw + kj % sw
        self.offsets = (phase * (self.rows_p * self.pitch_p) + (ki // sh) * self.pitch_p
                        + kj // sw).astype(np.uint64).ravel()
        self.passes = pass_sizes(geom.kernel_h * geom.kernel_w)

def conv2d_direct_nchw(x, weight, out, geom, groups, bias=None):
    """Direct convolution into `out` (N, F, OH, OW), plus `bias` (F,) if given."""
    filters = weight.shape[0]
    lay = DirectLayout(x.shape[0], groups, filters // groups, geom, numba.get_num_threads())
    slots = numba.config.NUMBA_NUM_THREADS
    acc = np.empty((slots, lay.acc_length), dtype=x.dtype)
    pad = np.empty((slots, lay.pad_length), dtype=x.dtype)
    if bias is None:
        bias = np.zeros(filters, dtype=x.dtype)
    _conv_direct_nchw(x, weight, bias, out, lay.offsets, lay.passes, acc, pad, x.dtype.type(0),
                      lay.filter_block, lay.chunk_rows, lay.rows_p, lay.pitch_p, lay.wide,
                      geom.stride_h, geom.stride_w, geom.pad_top, geom.pad_left, groups)


def conv2d_direct_nhwc(x, weight_hwcf, out, geom, groups):
    """Direct convolution of `x` (N, H, W, C) into `out` (N, OH, OW, F)."""
    _conv_direct_nhwc(x, weight_hwcf, out, geom.stride_h, geom.stride_w, geom.pad_top,
                      geom.pad_left, geom.dilation_h, geom.dilation_w, groups)


def weight_grad_direct_nchw(x, go, gw, geom, groups):
    """``gw (F, C/groups, kh, kw)`` = the weight gradient of conv2d for `x`
    (N, C, H, W) and `go` (N, F, OH, OW), by direct loops."""
    filters = gw.shape[0]
    lay = DirectLayout(x.shape[0], groups, filters // groups, geom, numba.get_num_threads())
    workers = numba.get_num_threads()
    acc = np.zeros((workers,) + gw.shape, dtype=x.dtype)
    pad = np.empty((workers, lay.pad_length), dtype=x.dtype)
    gp = np.empty((workers, lay.filter_block * lay.chunk_rows * lay.pitch_p), dtype=x.dtype)
    _weight_grad_direct_nchw(x, go, acc, lay.offsets, pad, gp, x.dtype.type(0), lay.filter_block,
                             lay.chunk_rows, lay.rows_p, lay.pitch_p, lay.wide, geom.stride_h,
                             geom.stride_w, geom.pad_top, geom.pad_left, groups)
    np.sum(acc, axis=0, out=gw)
