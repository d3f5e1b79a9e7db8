"""Winograd F(m x m, 3 x 3) convolution: transforms in Numba, GEMMs in BLAS.

A tile is m x m outputs of one image, read from the (m+2) x (m+2) inputs
under it; tiles are numbered image by image, row by row, and dealt out in
chunks of `chunk` tiles, worker w taking chunks w, w + workers, ... Per
chunk, in the worker's own scratch (sized to stay near its L2 cache):

1. the input transform ``V = B^T d B`` of every channel of every tile,
   stored as ``a*a`` matrices (one per element of the transformed tile);
2. ``a*a`` GEMMs ``M[e] = U[e] @ V[e]`` (per group) by NumPy's BLAS, called
   from the kernel (``U = G g G^T``, the transformed weight);
3. the output transform ``Y = A^T M A`` of every filter of every tile, plus
   the bias, written into the output (edge tiles: only their rows and
   columns inside it).

Each transform is two passes of one matrix (rows of the tile, then its
columns), every pass a loop over a contiguous run -- the chunk's tiles
(NCHW) or the channels / filters (NHWC) -- that LLVM vectorises; zero
entries of the matrices are skipped. Input positions outside the image
(padding, the last tiles' overhang) read as zeros, without a padded copy
of the input.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import JIT_OPTIONS as _JIT


@njit(inline="always", **_JIT)
def _combine4(coef, row, src, s0, s_step, dst, d0, count):
    c0, c1, c2, c3 = coef[row, 0], coef[row, 1], coef[row, 2], coef[row, 3]
    step = np.uint64(s_step)
    b0 = np.uint64(s0)
    b1 = b0 + step
    b2 = b1 + step
    b3 = b2 + step
    d = np.uint64(d0)
    for p in range(np.uint64(count)):
        dst[d + p] = c0 * src[b0 + p] + c1 * src[b1 + p] + c2 * src[b2 + p] + c3 * src[b3 + p]


@njit(inline="always", **_JIT)
def _combine6(coef, row, src, s0, s_step, dst, d0, count):
    c0, c1, c2 = coef[row, 0], coef[row, 1], coef[row, 2]
    c3, c4, c5 = coef[row, 3], coef[row, 4], coef[row, 5]
    step = np.uint64(s_step)
    b0 = np.uint64(s0)
    b1 = b0 + step
    b2 = b1 + step
    b3 = b2 + step
    b4 = b3 + step
    b5 = b4 + step
    d = np.uint64(d0)
    for p in range(np.uint64(count)):
        dst[d + p] = (c0 * src[b0 + p] + c1 * src[b1 + p] + c2 * src[b2 + p]
                      + c3 * src[b3 + p] + c4 * src[b4 + p] + c5 * src[b5 + p])


@njit(inline="always", **_JIT)
def _combine8(coef, row, src, s0, s_step, dst, d0, count):
    c0, c1, c2, c3 = coef[row, 0], coef[row, 1], coef[row, 2], coef[row, 3]
    c4, c5, c6, c7 = coef[row, 4], coef[row, 5], coef[row, 6], coef[row, 7]
    step = np.uint64(s_step)
    b0 = np.uint64(s0)
    b1 = b0 + step
    b2 = b1 + step
    b3 = b2 + step
    b4 = b3 + step
    b5 = b4 + step
    b6 = b5 + step
    b7 = b6 + step
    d = np.uint64(d0)
    for p in range(np.uint64(count)):
        dst[d + p] = (c0 * src[b0 + p] + c1 * src[b1 + p] + c2 * src[b2 + p]
                      + c3 * src[b3 + p] + c4 * src[b4 + p] + c5 * src[b5 + p]
                      + c6 * src[b6 + p] + c7 * src[b7 + p])


@njit(inline="always", **_JIT)
def _combine(coef, row, src, s0, s_step, dst, d0, count):
    # dst[d0 + p] = sum_k coef[row, k] * src[s0 + k*s_step + p] for p < count:
    # one row of a transform matrix applied along a strided axis, `count`
    # contiguous lanes at a time, all its a = 4, 6 or 8 terms in one loop
    # (one pass over the lanes: a loop per nonzero term would reload and
    # store dst each time, and the loops, a few vectors long, would cost
    # their set-up as much as their work). Unsigned offsets: no
    # negative-index wraparound check, so the lane loop vectorises.
    width = coef.shape[1]
    if width == 6:
        _combine6(coef, row, src, s0, s_step, dst, d0, count)
    elif width == 4:
        _combine4(coef, row, src, s0, s_step, dst, d0, count)
    else:
        _combine8(coef, row, src, s0, s_step, dst, d0, count)


@njit(**_JIT)
def _pass(coef, outer, src, s0, s_outer, s_k, dst, d0, d_outer, d_row, count):
    # One pass of a transform: for o < outer and each row r of coef,
    # dst[d0 + o*d_outer + r*d_row + p] = sum_k coef[r, k] *
    # src[s0 + o*s_outer + k*s_k + p], p < count. A function of its own
    # (not inlined): the kernels call it a few times per channel, and its
    # lane loops compile once instead of at every call site.
    for o in range(outer):
        for r in range(coef.shape[0]):
            _combine(coef, r, src, s0 + o * s_outer, s_k, dst, d0 + o * d_outer + r * d_row, count)


@njit(**_JIT)
def _input_nchw(xf, v, d, t, bt, cols, c, channels, height, width, pad_top, pad_left, m,
                tiles_h, tiles_w, r0, n_rows, chunk):
    # V[:, c, :P] of the chunk's P = n_rows*tiles_w tiles (tile p =
    # lr*tiles_w + tw is tile tw of the chunk's row lr): first d[k*a + j, p]
    # = x[h0 + k, w0 + j] of tile p (its first input row h0, column w0 =
    # tw*m - pad_left; along a tile row, input (k, j) of consecutive tiles
    # is m columns apart; cols[j] = the tiles whose column j lies inside
    # the image), zero outside the image; then B^T d B in two
    # passes of P lanes: t[i*a + j] = sum_k bt[i, k] d[k*a + j], then
    # V[i*a + j, c] = sum_k bt[j, k] t[i*a + k]. Returns the sum of the
    # inputs read times zero: NaN if one of them is inf or NaN.
    a = m + 2
    aa = a * a
    probe = 0.0
    step = np.uint64(m)
    count = n_rows * tiles_w
    for lr in range(n_rows):
        n = (r0 + lr) // tiles_h
        h0 = ((r0 + lr) - n * tiles_h) * m - pad_top
        plane = (n * channels + c) * height
        for k in range(a):
            h = h0 + k
            for j in range(a):
                dst = np.uint64((k * a + j) * chunk + lr * tiles_w)
                if h < 0 or h >= height:
                    lo, hi = 0, 0
                else:
                    lo, hi = cols[j, 0], cols[j, 1]
                for tw in range(lo):
                    d[dst + tw] = 0.0
                if hi > lo:  # tiles lo..hi-1 read columns inside the image
                    src = np.uint64((plane + h) * width + lo * m + j - pad_left)
                    first = dst + np.uint64(lo)
                    for q in range(np.uint64(hi - lo)):
                        d[first + q] = xf[src + q * step]
                for tw in range(hi, tiles_w):
                    d[dst + tw] = 0.0
    # one contiguous pass (vectorised; a sum along the strided loads above
    # would be one long chain of dependent adds)
    for row in range(aa):
        base = np.uint64(row * chunk)
        for q in range(np.uint64(count)):
            probe += d[base + q] * 0.0
    zero = np.int64(0)  # not a literal 0: one compiled _pass for every call
    _pass(bt, a, d, zero, chunk, a * chunk, t, zero, chunk, a * chunk, count)
    _pass(bt, a, t, zero, a * chunk, chunk, v, c * chunk, a * channels * chunk, channels * chunk,
          count)
    return probe


@njit(**_JIT)
def _output_nchw(of, mm, d, t, at, f, filters, out_h, out_w, value, m, tiles_h, tiles_w, r0,
                 n_rows, chunk):
    # Y = A^T M A of filter f for the chunk's tiles, plus `value`, into the
    # output: t[i*a + j] = sum_k at[i, k] M[k*a + j, f], then Y[i*m + j] =
    # sum_k at[j, k] t[i*a + k] into d; output (i, j) of consecutive tiles
    # of a row lies m columns apart; the last tiles of a row or image keep
    # what is inside the output.
    a = m + 2
    step = np.uint64(m)
    count = n_rows * tiles_w
    zero = np.int64(0)  # not a literal 0: one compiled _pass for every call
    _pass(at, a, mm, f * chunk, filters * chunk, a * filters * chunk, t, zero, chunk, a * chunk,
          count)
    _pass(at, m, t, zero, a * chunk, chunk, d, zero, m * chunk, chunk, count)
    for lr in range(n_rows):
        n = (r0 + lr) // tiles_h
        oh0 = ((r0 + lr) - n * tiles_h) * m
        for i in range(min(m, out_h - oh0)):
            dst = np.uint64(((n * filters + f) * out_h + oh0 + i) * out_w)
            for j in range(m):
                src = np.uint64((i * m + j) * chunk + lr * tiles_w)
                for tw in range(np.uint64((out_w - j + m - 1) // m)):
                    of[dst + tw * step + np.uint64(j)] = d[src + tw] + value


@njit(parallel=True, **_JIT)
def _filter_transform(w_t, g, u, work):
    # U[i*a + j, f, :] = (G w[f] G^T)[i, j] for every channel at once: w_t
    # (F, 3, 3, Cg) the weight with its channels innermost, g (a, 3) float64,
    # u (a*a, F, Cg); work (workers, a*3*Cg) float64: t = G w[f], each U
    # entry summed in float64 and rounded once into u's dtype.
    filters, cg = w_t.shape[0], w_t.shape[3]
    a = g.shape[0]
    workers = work.shape[0]
    wf = w_t.reshape(w_t.size)
    uf = u.reshape(u.size)
    lanes = np.uint64(cg)
    for worker in prange(workers):
        t = work[worker]
        for f in range(worker, filters, workers):
            for i in range(a):
                for col in range(3):
                    dst = np.uint64((i * 3 + col) * cg)
                    for c in range(lanes):
                        t[dst + c] = 0.0
                    for k in range(3):
                        b = g[i, k]
                        if b != 0.0:
                            src = np.uint64(((f * 3 + k) * 3 + col) * cg)
                            for c in range(lanes):
                                t[dst + c] += b * wf[src + c]
            for i in range(a):
                row = np.uint64(i * 3 * cg)
                for j in range(a):
                    g0, g1, g2 = g[j, 0], g[j, 1], g[j, 2]
                    dst = np.uint64(((i * a + j) * filters + f) * cg)
                    for c in range(lanes):
                        uf[dst + c] = (g0 * t[row + c] + g1 * t[row + lanes + c]
                                       + g2 * t[row + 2 * lanes + c])


def filter_transform(weight, m, workers, u):
    """``u (a*a, F, C/groups)`` = G g G^T of every kernel of `weight` (F,
    C/groups, 3, 3), in the weight's dtype, summed in float64."""
    from ..._core.winograd import matrices

    filters, cg = weight.shape[:2]
    a = m + 2
    workers = max(1, min(workers, filters))
    _filter_transform(np.ascontiguousarray(weight.transpose(0, 2, 3, 1)), matrices(m)[1], u,
                      np.empty((workers, a * 3 * cg)))
    return u


@njit(parallel=True, **_JIT)
def _winograd_nchw(gemm, x, u, bias, has_bias, out, bt, at, groups, pad_top, pad_left,
                   chunk_rows, workers, work, probes, cols):
    # Chunks of `chunk_rows` whole rows of tiles (numbered image by image),
    # P = chunk_rows*tiles_w tiles: worker w takes chunks w, w + workers,
    # ... and runs all three steps in its own part of the flat scratch
    # `work`: V (a*a, C, P), M (a*a, F, P), d, t (a*a, P). probes[w]:
    # worker w's sum of the inputs it read times zero (NaN: an input is inf
    # or NaN). cols (a, 2): the first and last + 1 tile of a row whose input
    # column j lies inside the image.
    n_img, channels, height, width = x.shape
    filters, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    m, a = at.shape[0], at.shape[1]
    aa = a * a
    cg, fg = channels // groups, filters // groups
    tiles_h = (out_h + m - 1) // m
    tiles_w = (out_w + m - 1) // m
    chunk = chunk_rows * tiles_w
    total_rows = n_img * tiles_h
    n_chunks = (total_rows + chunk_rows - 1) // chunk_rows
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    uf = u.reshape(u.size)
    v_len = aa * channels * chunk
    m_len = aa * filters * chunk
    dt_len = aa * chunk
    own = v_len + m_len + 2 * dt_len
    for worker in prange(workers):
        buf = work[worker * own:(worker + 1) * own]
        v = buf[:v_len]
        mm = buf[v_len:v_len + m_len]
        d = buf[v_len + m_len:v_len + m_len + dt_len]
        t = buf[v_len + m_len + dt_len:]
        probe = 0.0
        for ch in range(worker, n_chunks, workers):
            r0 = ch * chunk_rows
            n_rows = min(chunk_rows, total_rows - r0)
            count = n_rows * tiles_w
            for c in range(channels):
                probe += _input_nchw(xf, v, d, t, bt, cols, c, channels, height, width, pad_top,
                                     pad_left, m, tiles_h, tiles_w, r0, n_rows, chunk)
            for e in range(aa):
                for g in range(groups):
                    gemm(101, 111, 111, fg, count, cg, 1.0,
                         uf[(e * filters + g * fg) * cg:].ctypes, cg,
                         v[(e * channels + g * cg) * chunk:].ctypes, chunk, 0.0,
                         mm[(e * filters + g * fg) * chunk:].ctypes, chunk)
            for f in range(filters):
                if has_bias:
                    value = bias[f]
                else:
                    value = 0.0
                _output_nchw(of, mm, d, t, at, f, filters, out_h, out_w, value, m, tiles_h,
                             tiles_w, r0, n_rows, chunk)
        probes[worker] = probe


@njit(parallel=True, **_JIT)
def _winograd_nhwc(gemm, x, u, bias, has_bias, out, bt, at, groups, pad_top, pad_left, chunk,
                   workers, work, probes):
    # x (N, H, W, C), u (a*a, F, C/groups), out (N, OH, OW, F). Chunks of
    # `chunk` tiles (numbered image by image, row by row), worker w taking
    # chunks w, w + workers, ... in its part of the flat scratch `work`: V
    # (a*a, chunk, C), M (a*a, chunk, F), then d and t (a*a, max(C, F)), one
    # tile's worth: here the transforms run along the channels (filters),
    # contiguous in memory, one tile at a time. probes: as _winograd_nchw's.
    n_img, height, width, channels = x.shape
    out_h, out_w, filters = out.shape[1], out.shape[2], out.shape[3]
    m, a = at.shape[0], at.shape[1]
    aa = a * a
    cg, fg = channels // groups, filters // groups
    tiles_h = (out_h + m - 1) // m
    tiles_w = (out_w + m - 1) // m
    per_image = tiles_h * tiles_w
    total = n_img * per_image
    n_chunks = (total + chunk - 1) // chunk
    lanes = max(channels, filters)
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    uf = u.reshape(u.size)
    v_len = aa * chunk * channels
    m_len = aa * chunk * filters
    own = v_len + m_len + 2 * aa * lanes
    zero = np.int64(0)  # not a literal 0: one compiled _pass for every call
    for worker in prange(workers):
        buf = work[worker * own:(worker + 1) * own]
        v = buf[:v_len]
        mm = buf[v_len:v_len + m_len]
        d = buf[v_len + m_len:v_len + m_len + aa * lanes]
        t = buf[v_len + m_len + aa * lanes:]
        probe = 0.0
        for ch in range(worker, n_chunks, workers):
            p0 = ch * chunk
            count = min(chunk, total - p0)
            for p in range(count):
                n = (p0 + p) // per_image
                r = (p0 + p) - n * per_image
                th = r // tiles_w
                h0 = th * m - pad_top
                w0 = (r - th * tiles_w) * m - pad_left
                # d[(k*a + j)*C + c]: pixel (k, j) of the tile, zero outside;
                # a row of the tile inside the image is one run of a*C values
                for k in range(a):
                    h = h0 + k
                    if w0 >= 0 and w0 + a <= width and h >= 0 and h < height:
                        src = np.uint64(((n * height + h) * width + w0) * channels)
                        dst = np.uint64(k * a * channels)
                        for q in range(np.uint64(a * channels)):
                            value = xf[src + q]
                            d[dst + q] = value
                            probe += value * 0.0
                        continue
                    for j in range(a):
                        w = w0 + j
                        dst = np.uint64((k * a + j) * channels)
                        if h >= 0 and h < height and w >= 0 and w < width:
                            src = np.uint64(((n * height + h) * width + w) * channels)
                            for q in range(np.uint64(channels)):
                                value = xf[src + q]
                                d[dst + q] = value
                                probe += value * 0.0
                        else:
                            for q in range(np.uint64(channels)):
                                d[dst + q] = 0.0
                _pass(bt, a, d, zero, channels, a * channels, t, zero, channels, a * channels,
                      channels)
                _pass(bt, a, t, zero, a * channels, channels, v, p * channels,
                      a * chunk * channels, chunk * channels, channels)
            for e in range(aa):
                for g in range(groups):
                    # M[e] (tiles, F) = V[e] (tiles, C) @ U[e].T, group by group
                    gemm(101, 111, 112, count, fg, cg, 1.0, v[e * chunk * channels + g * cg:].ctypes,
                         channels, uf[(e * filters + g * fg) * cg:].ctypes, cg, 0.0,
                         mm[e * chunk * filters + g * fg:].ctypes, filters)
            for p in range(count):
                _pass(at, a, mm, p * filters, chunk * filters, a * chunk * filters, t, zero,
                      filters, a * filters, filters)
                _pass(at, m, t, zero, a * filters, filters, d, zero, m * filters, filters,
                      filters)
                n = (p0 + p) // per_image
                r = (p0 + p) - n * per_image
                th = r // tiles_w
                oh0 = th * m
                ow0 = (r - th * tiles_w) * m
                for i in range(min(m, out_h - oh0)):
                    for j in range(min(m, out_w - ow0)):
                        dst = np.uint64(((n * out_h + oh0 + i) * out_w + ow0 + j) * filters)
                        src = np.uint64((i * m + j) * filters)
                        if has_bias:
                            for q in range(np.uint64(filters)):
                                of[dst + q] = d[src + q] + bias[q]
                        else:
                            for q in range(np.uint64(filters)):
                                of[dst + q] = d[src + q]
        probes[worker] = probe


def scratch_length(layout: str, m: int, channels: int, filters: int, chunk: int,
                   workers: int) -> int:
    """Elements of the flat scratch `conv_winograd` needs: `chunk` tiles
    per chunk (NCHW: `chunk` is whole rows of tiles, counted in tiles)."""
    aa = (m + 2) ** 2
    if layout == "NCHW":
        return workers * aa * chunk * (channels + filters + 2)
    return workers * aa * (chunk * (channels + filters) + 2 * max(channels, filters))


def conv_winograd(gemm, x, u, bias, out, bt, at, groups, pad_top, pad_left, chunk, workers,
                  work, layout):
    """``out = conv(x, weight) + bias`` for a 3x3, stride-1, dilation-1
    convolution by Winograd F(m x m, 3 x 3), m = ``at.shape[0]``.

    `x` (N, C, H, W) (NHWC: (N, H, W, C)), `u` (a*a, F, C/groups) the
    transformed weight (`_core.winograd.filter_transform`), `out` (N, F, OH,
    OW) (NHWC: (N, OH, OW, F)): its size fixes the bottom and right padding;
    `bt`/`at` B^T and A^T in the data's dtype; `chunk` tiles per chunk (NCHW:
    a multiple of the tiles in a row of the output), worker w taking chunks
    w, w + `workers`, ...; `work` 1-D scratch of `scratch_length` elements; `gemm`
    NumPy's cblas_?gemm (see _blas.py). Returns False, with `out`
    garbage, when the input holds inf or NaN (the transforms would spread
    them to every output of their tiles)."""
    has_bias = bias is not None
    dummy = bias if has_bias else u[0, :, 0].copy()
    probes = np.zeros(workers, dtype=x.dtype)
    if layout == "NCHW":
        m, width = at.shape[0], x.shape[3]
        tiles_w = -(-out.shape[3] // m)
        # tiles tw whose column j, tw*m + j - pad_left, lies in [0, width)
        cols = np.empty((m + 2, 2), dtype=np.int64)
        for j in range(m + 2):
            lo = max(0, -(-(pad_left - j) // m))
            hi = min(tiles_w, max(0, (width - 1 + pad_left - j) // m + 1))
            cols[j] = (min(lo, hi), hi)
        _winograd_nchw(gemm, x, u, dummy, has_bias, out, bt, at, groups, pad_top, pad_left,
                       max(1, chunk // tiles_w), workers, work, probes, cols)
    else:
        _winograd_nhwc(gemm, x, u, dummy, has_bias, out, bt, at, groups, pad_top, pad_left, chunk,
                       workers, work, probes)
    return not np.isnan(probes).any()
