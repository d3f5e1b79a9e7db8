"""im2col and col2im for 1-3 spatial axes, any padding mode, through the
per-axis index tables of ``_core/padmap.py``.

Same interface as the NumPy twin (``_kernels/numpy/unfold_nd.py``): x
(N, C, S0, S1, S2), cols (N, C*K0*K1*K2, O0*O1*O2), one int64 table
(K_a, O_a) per axis whose entries are the input index a tap reads, or
negative for zero padding (-1) and beyond the padding (-2).

Along the last axis most of a table row is affine: ``t[k, o] = t[k, a] +
(o - a) * step`` over a run of output positions [a, b) whose taps all fall
inside the input (the interior, whatever the padding mode). `_last_axis_runs`
finds that run once per call for every tap, so the copy loops move it with
no per-element table lookup or branch; only the few border positions outside
it go through the table. The run is read off the table itself, never from
the geometry, so the fast path is exact by construction: any run of entries
>= 0 with a constant difference is a strided slice of the input line.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import JIT_OPTIONS as _JIT


@njit(**_JIT)
def _last_axis_runs(t2):
    # (step, run_lo, run_hi): the step of the affine runs (the largest
    # difference between neighbouring in-range entries of any row: the
    # stride) and, per tap k, the longest run [run_lo[k], run_hi[k]) of
    # entries >= 0 that grow by exactly `step`. A run of length 0 or 1 leaves
    # the whole row to the table.
    kernel, out = t2.shape
    step = 0
    for k in range(kernel):
        for o in range(out - 1):
            a = t2[k, o]
            b = t2[k, o + 1]
            if a >= 0 and b >= 0 and b - a > step:
                step = b - a
    run_lo = np.zeros(kernel, dtype=np.int64)
    run_hi = np.zeros(kernel, dtype=np.int64)
    if step < 1:
        return 1, run_lo, run_hi
    for k in range(kernel):
        start = 0
        while start < out:
            if t2[k, start] < 0:
                start += 1
                continue
            end = start + 1
            while end < out and t2[k, end] >= 0 and t2[k, end] - t2[k, end - 1] == step:
                end += 1
            if end - start > run_hi[k] - run_lo[k]:
                run_lo[k] = start
                run_hi[k] = end
            start = end
    return step, run_lo, run_hi


@njit(inline="always", **_JIT)
def _copy_line(xf, line, dest, d, t2k, lo, hi, step, out):
    # One output row of tap k along the last axis: dest[d + o] = input line
    # at t2k[o] (xf[line + t2k[o]]), 0 where the table is negative. [lo, hi)
    # is the affine run: a plain (vectorisable) copy, unsigned indices so no
    # negative-index wraparound is emitted.
    for o in range(lo):
        i = t2k[o]
        if i >= 0:  # (not a conditional expression: it would unify int64 with float)
            dest[d + o] = xf[line + i]
        else:
            dest[d + o] = 0
    count = np.uint64(hi - lo)
    dst = np.uint64(d + lo)
    if count > 0:
        src = np.uint64(line + t2k[lo])
        if step == 1:
            for j in range(count):
                dest[dst + j] = xf[src + j]
        else:
            ustep = np.uint64(step)
            for j in range(count):
                dest[dst + j] = xf[src + j * ustep]
    for o in range(hi, out):
        i = t2k[o]
        if i >= 0:  # (not a conditional expression: it would unify int64 with float)
            dest[d + o] = xf[line + i]
        else:
            dest[d + o] = 0


@njit(parallel=True, **_JIT)
def _im2col_nd(x, cf, co, img_pitch, row_pitch, t0, t1, t2, step, run_lo, run_hi):
    # One prange task per (n, c, k0, o0, k1): it owns the K2 patch rows of
    # taps (k0, k1, *) of channel c, columns [o0*O1*O2, (o0+1)*O1*O2), so
    # tasks write disjoint memory; a single volume (N*C = 1) still has
    # K0*O0*K1 tasks to spread over the threads. Source line outer, tap k2
    # inner: the K2 taps read the line while it is in L1 (measured faster
    # than one sequential stream per tap), and `_copy_line` is inlined (a
    # call per 54-element row made 3-D k3 on 56-wide maps 1.5x slower).
    # cf: the columns' buffer; patch row r of image n starts at
    # co + n*img_pitch + r*row_pitch and its L positions are contiguous
    # (torch's (N, K, L), or the rows of a (K, N, L) buffer)
    n_img, channels, s0, s1, s2 = x.shape
    k0n, o0n = t0.shape
    k1n, o1n = t1.shape
    k2n, o2n = t2.shape
    taps = k0n * k1n * k2n
    slab = o1n * o2n
    xf = x.reshape(x.size)
    tasks = n_img * channels * k0n * o0n * k1n
    for task in prange(tasks):
        k1 = task % k1n
        rest = task // k1n
        o0 = rest % o0n
        rest //= o0n
        k0 = rest % k0n
        plane = rest // k0n            # n * C + c
        n = plane // channels
        i0 = t0[k0, o0]
        row0 = (co + n * img_pitch + ((plane - n * channels) * taps + (k0 * k1n + k1) * k2n)
                * row_pitch + o0 * slab)
        for o1 in range(o1n):
            i1 = t1[k1, o1]
            d0 = row0 + o1 * o2n
            if i0 < 0 or i1 < 0:
                for k2 in range(k2n):
                    d = np.uint64(d0 + k2 * row_pitch)
                    for j in range(np.uint64(o2n)):
                        cf[d + j] = 0
                continue
            line = ((plane * s0 + i0) * s1 + i1) * s2
            for k2 in range(k2n):
                _copy_line(xf, line, cf, d0 + k2 * row_pitch, t2[k2], run_lo[k2], run_hi[k2],
                           step, o2n)


@njit(parallel=True, **_JIT)
def _col2im_nd(cf, co, img_pitch, row_pitch, out, t0, t1, t2, step, run_lo, run_hi):
    # The adjoint: one prange task per (n, c) plane, which it zeroes and then
    # sums every patch entry of that channel into, in a fixed order (no
    # races, deterministic). Mirrored taps add back into the input they copy.
    n_img, channels, s0, s1, s2 = out.shape
    k0n, o0n = t0.shape
    k1n, o1n = t1.shape
    k2n, o2n = t2.shape
    taps = k0n * k1n * k2n
    slab = o1n * o2n
    volume = s0 * s1 * s2
    of = out.reshape(out.size)
    for plane in prange(n_img * channels):
        n = plane // channels
        rows0 = co + n * img_pitch + (plane - n * channels) * taps * row_pitch
        base = np.uint64(plane * volume)
        for q in range(np.uint64(volume)):
            of[base + q] = 0.0
        for k0 in range(k0n):
            for o0 in range(o0n):
                i0 = t0[k0, o0]
                if i0 < 0:
                    continue
                for k1 in range(k1n):
                    row0 = rows0 + (k0 * k1n + k1) * k2n * row_pitch + o0 * slab
                    for o1 in range(o1n):
                        i1 = t1[k1, o1]
                        if i1 < 0:
                            continue
                        line = ((plane * s0 + i0) * s1 + i1) * s2
                        d0 = row0 + o1 * o2n
                        for k2 in range(k2n):
                            t2k = t2[k2]
                            src = d0 + k2 * row_pitch
                            lo = run_lo[k2]
                            hi = run_hi[k2]
                            for o in range(lo):
                                i = t2k[o]
                                if i >= 0:
                                    of[line + i] += cf[src + o]
                            count = np.uint64(hi - lo)
                            if count > 0:
                                s = np.uint64(src + lo)
                                dst = np.uint64(line + t2k[lo])
                                ustep = np.uint64(step)
                                for j in range(count):
                                    of[dst + j * ustep] += cf[s + j]
                            for o in range(hi, o2n):
                                i = t2k[o]
                                if i >= 0:
                                    of[line + i] += cf[src + o]


def _table(t):
    # A writable C-contiguous int64 copy (the cached tables are read-only,
    # the unit ones writable: one compiled signature for every mix). Tiny.
    return np.array(t, dtype=np.int64, order="C")


def flat(a):
    """(buffer, offset, strides): a 1-D C-contiguous view over the memory of
    `a`, the element offset of ``a[0, ..., 0]`` in it and the element
    stride of each axis. `a` is non-empty with strides that are multiples
    of its itemsize (the wrappers copy any other)."""
    item = a.itemsize
    strides = [s // item for s in a.strides]
    low = sum((n - 1) * s for n, s in zip(a.shape, strides) if s < 0)
    high = sum((n - 1) * s for n, s in zip(a.shape, strides) if s > 0)
    # the element at the lowest address: the last index along negative strides
    corner = a[tuple(slice(n - 1, n) if s < 0 else slice(0, 1) for n, s in zip(a.shape, strides))]
    buf = np.lib.stride_tricks.as_strided(corner, shape=(high - low + 1,), strides=(item,),
                                          writeable=a.flags.writeable)
    return buf.reshape(-1), -low, strides


def _rows(cols):
    """(buffer, offset, image pitch, row pitch) of (N, K, L) columns whose
    rows are contiguous (``_core/strided.rows_contiguous``)."""
    n_img, rows, length = cols.shape
    if cols.flags.c_contiguous:
        return cols.reshape(cols.size), 0, rows * length, length
    buf, offset, strides = flat(cols)
    return buf, offset, strides[0], strides[1]


def im2col_nd(x, cols, t0, t1, t2):
    """Fill `cols` (N, C*K0*K1*K2, O0*O1*O2; C order or rows contiguous)
    with the patches of `x` (N, C, S0, S1, S2) that the index tables `t0`,
    `t1`, `t2` describe."""
    t0, t1, t2 = _table(t0), _table(t1), _table(t2)
    step, run_lo, run_hi = _last_axis_runs(t2)
    cf, co, img_pitch, row_pitch = _rows(cols)
    _im2col_nd(x, cf, co, img_pitch, row_pitch, t0, t1, t2, step, run_lo, run_hi)


def col2im_nd(cols, out, t0, t1, t2):
    """Overwrite `out` (N, C, S0, S1, S2) with the sum of every entry of
    `cols` (C order or rows contiguous) at the input position it was read
    from (the adjoint of `im2col_nd`)."""
    t0, t1, t2 = _table(t0), _table(t1), _table(t2)
    step, run_lo, run_hi = _last_axis_runs(t2)
    cf, co, img_pitch, row_pitch = _rows(cols)
    _col2im_nd(cf, co, img_pitch, row_pitch, out, t0, t1, t2, step, run_lo, run_hi)
