"""im2col and col2im on arrays of any strides, in any column order.

The contiguous kernels (``im2col.py``, ``unfold_nd.py``) read a C-contiguous
input and write (N, K, L) columns. These read and write through element
strides instead, so a transposed view (an NHWC array seen as NCHW, the
batch-innermost columns of CS231n and numpy-ml, the rows of *Deep Learning
from Scratch*) costs no hidden contiguous copy.

Every array arrives as a 1-D C-contiguous buffer over its memory, the
element offset of its first element and one element stride per axis
(``_flat`` in the wrapper): one compiled signature per dtype serves every
layout. Geometry comes as the per-axis index tables of ``_core/padmap.py``
(x seen as (N, C, S0, S1, S2), columns as (N, K, L) with ``K = C*K0*K1*K2``
and ``L = O0*O1*O2``), so padding modes and 1-3 spatial axes come for free.

The loop nest is picked by which column axis has the smallest stride, so
the innermost loop writes (im2col) or reads (col2im) the columns
sequentially:

* ``L`` (positions; torch's layout): one task per (image, patch row);
* ``N`` (batch innermost; CS231n, numpy-ml): one task per patch row; the
  images' rows it reads stay in cache across the position loop;
* ``K`` (patch rows innermost; the book's rows): one task per (image,
  output row).

col2im mirrors them with the write ownership the scatter-add needs: a task
per (image, channel) plane, or per channel (all images) for ``N``.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

from ..._core.strided import INNER_K, INNER_N, inner_axis, scratch_blocks
from ._jit import JIT_OPTIONS as _JIT
from .unfold_nd import _last_axis_runs, _table, flat



# Index arithmetic is unsigned throughout (``U``): element offsets and
# strides arrive as uint64 (a negative stride as its two's complement, so
# the modular sums land on the right element), Numba then emits no
# negative-index wraparound and the copy loops stay tight. A table entry is
# signed (negative: padding) and is cast only once known to be >= 0. Mixing
# a signed int into these sums would make them float64: every operand is U.
U = np.uint64


@njit(inline="always", **_JIT)
def _copy_row(xb, line, xstep, cb, dst, cstep, t2k, lo, hi, step, o2n):
    # One tap over one output row: cb[dst + o*cstep] = x at table entry
    # t2k[o] (xb[line + t2k[o]*xstep]), 0 where it is negative. [lo, hi) is
    # the affine run of the table (no lookup, no branch); only the border
    # positions outside it go through the table.
    for o in range(lo):
        i = t2k[o]
        d = dst + U(o) * cstep
        if i >= 0:
            cb[d] = xb[line + U(i) * xstep]
        else:
            cb[d] = 0
    if hi > lo:
        src = line + U(t2k[lo]) * xstep
        sstep = U(step) * xstep
        d = dst + U(lo) * cstep
        if cstep == 1 and sstep == 1:  # both contiguous: a loop LLVM vectorises
            for j in range(U(hi - lo)):
                cb[d + j] = xb[src + j]
        elif cstep == 1:
            for j in range(U(hi - lo)):
                cb[d + j] = xb[src + j * sstep]
        else:
            for j in range(U(hi - lo)):
                cb[d + j * cstep] = xb[src + j * sstep]
    for o in range(hi, o2n):
        i = t2k[o]
        d = dst + U(o) * cstep
        if i >= 0:
            cb[d] = xb[line + U(i) * xstep]
        else:
            cb[d] = 0


@njit(inline="always", **_JIT)
def _zero_row(cb, dst, cstep, o2n):
    for o in range(U(o2n)):
        cb[dst + o * cstep] = 0


@njit(inline="always", **_JIT)
def _add_row(cb, src, cstep, ob, line, ostep, t2k, lo, hi, step, o2n):
    # The adjoint of _copy_row: ob at table entry t2k[o] += cb[src + o*cstep].
    for o in range(lo):
        i = t2k[o]
        if i >= 0:
            ob[line + U(i) * ostep] += cb[src + U(o) * cstep]
    if hi > lo:
        dst = line + U(t2k[lo]) * ostep
        dstep = U(step) * ostep
        s = src + U(lo) * cstep
        if cstep == 1 and dstep == 1:  # both contiguous: a loop LLVM vectorises
            for j in range(U(hi - lo)):
                ob[dst + j] += cb[s + j]
        elif cstep == 1:
            for j in range(U(hi - lo)):
                ob[dst + j * dstep] += cb[s + j]
        else:
            for j in range(U(hi - lo)):
                ob[dst + j * dstep] += cb[s + j * cstep]
    for o in range(hi, o2n):
        i = t2k[o]
        if i >= 0:
            ob[line + U(i) * ostep] += cb[src + U(o) * cstep]


@njit(inline="always", **_JIT)
def _tap(k, k1n, k2n):
    k0 = k // (k1n * k2n)
    k1 = (k // k2n) % k1n
    return k0, k1, k - (k0 * k1n + k1) * k2n


@njit(parallel=True, **_JIT)
def _im2col_strided(xb, xo, xs, cb, co, cs, n_img, channels, t0, t1, t2, step, run_lo, run_hi,
                    inner, nblock):
    # N innermost: a task per patch row; for each output position, the
    # images' values go to consecutive memory (the loop CS231n's Cython
    # runs, here unsigned and in parallel). Otherwise the nests end in
    # _copy_row over one output row of one tap, a task owning (image, patch
    # row) for L innermost, (image, output row) for K innermost: its columns,
    # stride cs[2] apart, then complete their cache lines in an (O2 x K)
    # tile that stays in L1.
    k0n, o0n = t0.shape
    k1n, o1n = t1.shape
    k2n, o2n = t2.shape
    taps = k0n * k1n * k2n
    rows = channels * taps
    if inner == INNER_N:
        # images in blocks of one cache line of the columns: the block's
        # values of a position fill that line, and the block's input rows
        # (images far apart in memory, often a multiple of 4 KiB: the same
        # L1 sets) are few enough to stay in L1 meanwhile
        for r in prange(rows):
            c = r // taps
            k0, k1, k2 = _tap(r - c * taps, k1n, k2n)
            xc = xo + U(c) * xs[1]
            crow = co + U(r) * cs[1]
            for nb in range(0, n_img, nblock):
                for o0 in range(o0n):
                    i0 = t0[k0, o0]
                    for o1 in range(o1n):
                        i1 = t1[k1, o1]
                        dst = crow + U((o0 * o1n + o1) * o2n) * cs[2]
                        for n in range(U(nb), U(min(nb + nblock, n_img))):
                            if i0 < 0 or i1 < 0:
                                _zero_row(cb, dst + n * cs[0], cs[2], o2n)
                            else:
                                line = xc + n * xs[0] + U(i0) * xs[2] + U(i1) * xs[3]
                                _copy_row(xb, line, xs[4], cb, dst + n * cs[0], cs[2], t2[k2],
                                          run_lo[k2], run_hi[k2], step, o2n)
        return
    if inner == INNER_K:
        for task in prange(n_img * o0n * o1n):
            n = task // (o0n * o1n)
            o01 = task - n * (o0n * o1n)
            o0 = o01 // o1n
            o1 = o01 - o0 * o1n
            row = co + U(n) * cs[0] + U(o01 * o2n) * cs[2]
            xn = xo + U(n) * xs[0]
            for c in range(channels):
                xc = xn + U(c) * xs[1]
                for k0 in range(k0n):
                    i0 = t0[k0, o0]
                    for k1 in range(k1n):
                        i1 = t1[k1, o1]
                        r0 = c * taps + (k0 * k1n + k1) * k2n
                        for k2 in range(k2n):
                            dst = row + U(r0 + k2) * cs[1]
                            if i0 < 0 or i1 < 0:
                                _zero_row(cb, dst, cs[2], o2n)
                            else:
                                line = xc + U(i0) * xs[2] + U(i1) * xs[3]
                                _copy_row(xb, line, xs[4], cb, dst, cs[2], t2[k2], run_lo[k2],
                                          run_hi[k2], step, o2n)
        return
    for task in prange(n_img * rows):
        n = task // rows
        r = task - n * rows
        c = r // taps
        k0, k1, k2 = _tap(r - c * taps, k1n, k2n)
        xc = xo + U(n) * xs[0] + U(c) * xs[1]
        crow = co + U(n) * cs[0] + U(r) * cs[1]
        for o0 in range(o0n):
            i0 = t0[k0, o0]
            for o1 in range(o1n):
                i1 = t1[k1, o1]
                dst = crow + U((o0 * o1n + o1) * o2n) * cs[2]
                if i0 < 0 or i1 < 0:
                    _zero_row(cb, dst, cs[2], o2n)
                else:
                    line = xc + U(i0) * xs[2] + U(i1) * xs[3]
                    _copy_row(xb, line, xs[4], cb, dst, cs[2], t2[k2], run_lo[k2], run_hi[k2],
                              step, o2n)


@njit(parallel=True, **_JIT)
def _im2col_batch_inner(xb, xo, xs, cb, co, cs, n_img, channels, s0, s1, s2, t0, t1, t2,
                        scratch, per):
    # N innermost through a scratch copy of one channel of a block of `per`
    # images with the batch innermost, (S0, S1, S2, nb): each patch entry is
    # then a run of nb consecutive values on both sides (a vectorised copy),
    # and the input is transposed once per channel instead of once per tap.
    # A task is a (channel, block of images); blocks are whole cache lines
    # of the columns (`per` a multiple of a line), so tasks never share one.
    # `scratch` holds one buffer per thread.
    k0n, o0n = t0.shape
    k1n, o1n = t1.shape
    k2n, o2n = t2.shape
    taps = k0n * k1n * k2n
    blocks = (n_img + per - 1) // per
    for task in prange(channels * blocks):
        c = task // blocks
        n0 = (task - c * blocks) * per
        n1 = min(n_img, n0 + per)
        nn = U(n1 - n0)
        sc = scratch[get_thread_id()]
        xc = xo + U(c) * xs[1] + U(n0) * xs[0]
        for n in range(nn):
            for a in range(s0):
                for b in range(s1):
                    line = xc + n * xs[0] + U(a) * xs[2] + U(b) * xs[3]
                    base = U((a * s1 + b) * s2) * nn + n
                    for q in range(U(s2)):
                        sc[base + q * nn] = xb[line + q * xs[4]]
        cimg = co + U(n0) * cs[0]
        for k in range(taps):
            k0, k1, k2 = _tap(k, k1n, k2n)
            crow = cimg + U(c * taps + k) * cs[1]
            for o0 in range(o0n):
                i0 = t0[k0, o0]
                for o1 in range(o1n):
                    i1 = t1[k1, o1]
                    for o2 in range(o2n):
                        i2 = t2[k2, o2]
                        d = crow + U((o0 * o1n + o1) * o2n + o2) * cs[2]
                        if i0 < 0 or i1 < 0 or i2 < 0:
                            for n in range(nn):
                                cb[d + n * cs[0]] = 0
                        else:
                            src = U((i0 * s1 + i1) * s2 + i2) * nn
                            for n in range(nn):
                                cb[d + n * cs[0]] = sc[src + n]


@njit(parallel=True, **_JIT)
def _col2im_batch_inner(cb, co, cs, ob, oo, os, n_img, channels, s0, s1, s2, t0, t1, t2,
                        scratch, blocks):
    # The adjoint of _im2col_batch_inner: a task per (channel, block of
    # rows along axis S1) sums every patch entry that lands in its rows
    # into a zeroed (S0, rows, S2, N) scratch (runs of N consecutive values:
    # vectorised adds), then transposes that into those rows of the
    # channel's planes, which it owns (no races, a fixed order). Row blocks
    # give few channels (an RGB input layer) a task for every thread while
    # each task still reads whole runs of N values of the columns.
    k0n, o0n = t0.shape
    k1n, o1n = t1.shape
    k2n, o2n = t2.shape
    taps = k0n * k1n * k2n
    nn = U(n_img)
    per = (s1 + blocks - 1) // blocks
    for task in prange(channels * blocks):
        c = task // blocks
        b0 = (task - c * blocks) * per
        b1 = min(s1, b0 + per)
        if b0 >= b1:
            continue
        rows = b1 - b0
        sc = scratch[get_thread_id()]
        for q in range(U(s0 * rows * s2) * nn):
            sc[q] = 0
        for k in range(taps):
            k0, k1, k2 = _tap(k, k1n, k2n)
            crow = co + U(c * taps + k) * cs[1]
            for o0 in range(o0n):
                i0 = t0[k0, o0]
                if i0 < 0:
                    continue
                for o1 in range(o1n):
                    i1 = t1[k1, o1]
                    if i1 < b0 or i1 >= b1:  # (negative: padding, never in the block)
                        continue
                    for o2 in range(o2n):
                        i2 = t2[k2, o2]
                        if i2 < 0:
                            continue
                        src = crow + U((o0 * o1n + o1) * o2n + o2) * cs[2]
                        dst = U((i0 * rows + i1 - b0) * s2 + i2) * nn
                        for n in range(nn):
                            sc[dst + n] += cb[src + n * cs[0]]
        oc = oo + U(c) * os[1]
        for n in range(nn):
            for a in range(s0):
                for b in range(b0, b1):
                    line = oc + n * os[0] + U(a) * os[2] + U(b) * os[3]
                    base = U((a * rows + b - b0) * s2) * nn + n
                    for q in range(U(s2)):
                        ob[line + q * os[4]] = sc[base + q * nn]


@njit(inline="always", **_JIT)
def _zero_volume(ob, base, os, s0, s1, s2):
    for a in range(U(s0)):
        for b in range(U(s1)):
            line = base + a * os[2] + b * os[3]
            for q in range(U(s2)):
                ob[line + q * os[4]] = 0


@njit(parallel=True, **_JIT)
def _col2im_strided(cb, co, cs, ob, oo, os, n_img, channels, s0, s1, s2, t0, t1, t2, step,
                    run_lo, run_hi, inner, nblock, threads):
    # Mirror of _im2col_strided, with the write ownership a scatter-add
    # needs: a task zeroes and then sums into the image planes it owns, in
    # a fixed order (no races, deterministic): one channel of every image
    # for N innermost (the images' values of one position are consecutive
    # in the columns), one image for K innermost when there are enough of
    # them to share out, else one (image, channel) plane.
    k0n, o0n = t0.shape
    k1n, o1n = t1.shape
    k2n, o2n = t2.shape
    taps = k0n * k1n * k2n
    if inner == INNER_N:
        for c in prange(channels):
            oc = oo + U(c) * os[1]
            for n in range(U(n_img)):
                _zero_volume(ob, oc + n * os[0], os, s0, s1, s2)
            for k in range(taps):
                k0, k1, k2 = _tap(k, k1n, k2n)
                crow = co + U(c * taps + k) * cs[1]
                for nb in range(0, n_img, nblock):  # (as in _im2col_strided)
                    for o0 in range(o0n):
                        i0 = t0[k0, o0]
                        if i0 < 0:
                            continue
                        for o1 in range(o1n):
                            i1 = t1[k1, o1]
                            if i1 < 0:
                                continue
                            src = crow + U((o0 * o1n + o1) * o2n) * cs[2]
                            line = oc + U(i0) * os[2] + U(i1) * os[3]
                            for n in range(U(nb), U(min(nb + nblock, n_img))):
                                _add_row(cb, src + n * cs[0], cs[2], ob, line + n * os[0],
                                         os[4], t2[k2], run_lo[k2], run_hi[k2], step, o2n)
        return
    if inner == INNER_K and n_img >= 2 * threads:
        tasks, chans = n_img, channels
    else:
        tasks, chans = n_img * channels, 1
    for task in prange(tasks):
        n = task // (channels // chans)
        c0 = (task - n * (channels // chans)) * chans
        for c in range(c0, c0 + chans):
            _zero_volume(ob, oo + U(n) * os[0] + U(c) * os[1], os, s0, s1, s2)
        for c in range(c0, c0 + chans):
            oc = oo + U(n) * os[0] + U(c) * os[1]
            for k in range(taps):
                k0, k1, k2 = _tap(k, k1n, k2n)
                crow = co + U(n) * cs[0] + U(c * taps + k) * cs[1]
                for o0 in range(o0n):
                    i0 = t0[k0, o0]
                    if i0 < 0:
                        continue
                    for o1 in range(o1n):
                        i1 = t1[k1, o1]
                        if i1 < 0:
                            continue
                        src = crow + U((o0 * o1n + o1) * o2n) * cs[2]
                        line = oc + U(i0) * os[2] + U(i1) * os[3]
                        _add_row(cb, src, cs[2], ob, line, os[4], t2[k2], run_lo[k2], run_hi[k2],
                                 step, o2n)


def _flat(a):
    """`unfold_nd.flat`, with the offset and strides unsigned (two's
    complement), as the kernels index."""
    buf, offset, strides = flat(a)
    return buf, np.uint64(offset), np.array(strides, dtype=np.int64).view(np.uint64)


def _line(cols) -> int:
    """Images per block of the N-innermost nests: one 64-byte cache line."""
    return max(1, 64 // cols.itemsize)


def _modular():
    """Unsigned index sums wrap by design (negative strides); without the
    JIT (``NUMBA_DISABLE_JIT=1``) NumPy would warn about each wrap."""
    return np.errstate(over="ignore")


def im2col_strided(x, cols, t0, t1, t2):
    with _modular():
        _im2col_strided_call(x, cols, t0, t1, t2)


def col2im_strided(cols, out, t0, t1, t2):
    with _modular():
        _col2im_strided_call(cols, out, t0, t1, t2)


def _im2col_strided_call(x, cols, t0, t1, t2):
    """Write the patches of `x` (N, C, S0, S1, S2), any strides, into `cols`
    (N, K, L), any strides, as the index tables describe."""
    xb, xo, xs = _flat(x)
    cb, co, cs = _flat(cols)
    inner = inner_axis(cs, cols.shape)
    threads = get_num_threads()
    t0, t1, t2 = _table(t0), _table(t1), _table(t2)
    per, elements = scratch_blocks(x.shape, x.itemsize, threads, inner, False)
    if per:
        scratch = np.empty((threads, elements), dtype=cols.dtype)
        _im2col_batch_inner(xb, xo, xs, cb, co, cs, x.shape[0], x.shape[1], *x.shape[2:],
                            t0, t1, t2, scratch, per)
        return
    step, run_lo, run_hi = _last_axis_runs(t2)
    _im2col_strided(xb, xo, xs, cb, co, cs, x.shape[0], x.shape[1], t0, t1, t2, step, run_lo,
                    run_hi, inner, _line(cols))


def _col2im_strided_call(cols, out, t0, t1, t2):
    """Overwrite `out` (N, C, S0, S1, S2), any strides, with the sum of the
    patches in `cols` (N, K, L), any strides."""
    cb, co, cs = _flat(cols)
    ob, oo, os_ = _flat(out)
    inner = inner_axis(cs, cols.shape)
    threads = get_num_threads()
    t0, t1, t2 = _table(t0), _table(t1), _table(t2)
    blocks, elements = scratch_blocks(out.shape, out.itemsize, threads, inner, True)
    if blocks:
        scratch = np.empty((threads, elements), dtype=out.dtype)
        _col2im_batch_inner(cb, co, cs, ob, oo, os_, out.shape[0], out.shape[1], *out.shape[2:],
                            t0, t1, t2, scratch, blocks)
        return
    step, run_lo, run_hi = _last_axis_runs(t2)
    _col2im_strided(cb, co, cs, ob, oo, os_, *out.shape, t0, t1, t2, step, run_lo, run_hi,
                    inner, _line(cols), threads)


@njit(parallel=True, **_JIT)
def _touch(buf, page):
    # One write per page, each thread over one contiguous share of them.
    pages = (buf.size + page - 1) // page
    for i in prange(pages):
        buf[i * page] = 0


def first_touch(a):
    """Fault in the pages of a fresh C-contiguous array `a` from all threads,
    each over its own contiguous share: the kernels that then fill it
    scatter their writes over the whole array, and two threads faulting the
    same (huge) page in at once measured up to 8x slower than writing into
    memory already mapped."""
    flat_a = a.reshape(-1)
    _touch(flat_a, max(1, 4096 // flat_a.itemsize))
