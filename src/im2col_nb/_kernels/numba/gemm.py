"""im2col + GEMM over tiles in one parallel kernel, BLAS called from Numba.

Worker w builds the patch matrix of tiles w, w + workers, ... with the serial
im2col/im2row kernels into its own scratch row and multiplies it with NumPy's
own ``cblas_?gemm`` through a C function pointer (``gemm``, see
``_core/blas.py``): no Python, GIL or thread wake-up per tile.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import JIT_OPTIONS as _JIT
from .im2col import _im2col_tile, _tile_buffers
from .im2row import _im2row_tile


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


def scatter_folded(result, bias, out):
    """``out (nb, F, L) = result (F, nb*L)`` regrouped by image, plus `bias`
    (F,) if given (serial)."""
    has_bias = bias is not None
    _scatter_folded(result, bias if has_bias else result[:, 0].copy(), has_bias, out)

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


@njit(parallel=True, **_JIT)
def _weight_grad_tiles_nchw(gemm, x, go, acc, tiles, work, planes, idxs, kernel_h, kernel_w,
                            stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, out_w):
    # The weight gradient in one parallel region, tiled as conv2d's forward
    # (_conv_tiles_nchw): worker w takes tiles w, w + workers, ..., builds the
    # tile's patch matrix cols (K, span) with the serial im2col, and adds
    # grad_output (F, span) @ cols.T into its own accumulator acc[w] (F,
    # K/groups) with NumPy's single-threaded cblas_?gemm (beta = 1); the
    # caller sums the workers' accumulators. A tile of several images first
    # gathers their grad_output into (F, span) scratch (their columns are
    # one GEMM's K); a tile of one image reads it in place (ld = L).
    # tiles[t] = (n0, images, p0, p1, folded, ld) as for _conv_tiles_nchw.
    workers = work.shape[0]
    filters, kg = acc.shape[1], acc.shape[2]
    groups = x.shape[1] * kernel_h * kernel_w // kg
    fg = filters // groups
    k_total = kg * groups
    area = go.shape[2]
    for worker in prange(workers):
        buf = work[worker]
        for t in range(worker, tiles.shape[0], workers):
            n0, n_img, p0, p1, ld = tiles[t, 0], tiles[t, 1], tiles[t, 2], tiles[t, 3], tiles[t, 5]
            width = p1 - p0
            span = n_img * width
            cols = buf[:k_total * ld].reshape(k_total, ld)
            _im2col_tile(x, cols, n0, n_img, p0, p1, kernel_h, kernel_w, stride_h, stride_w,
                         pad_top, pad_left, dilation_h, dilation_w, out_w, planes[worker],
                         idxs[worker])
            if n_img > 1:
                grads = buf[k_total * ld:k_total * ld + filters * span].reshape(filters, span)
                count = np.uint64(width)
                first = np.uint64(p0)
                for f in range(filters):
                    row = grads[f]
                    for b in range(n_img):
                        src = go[n0 + b, f]
                        d = np.uint64(b * width)
                        for q in range(count):
                            row[d + q] = src[first + q]
                ld_go = span
            else:
                grads = go[n0, :, p0:]
                ld_go = area
            for g in range(groups):
                gemm(101, 111, 112, fg, kg, span, 1.0, grads[g * fg:].ctypes, ld_go,
                     cols[g * kg:].ctypes, ld, 1.0, acc[worker, g * fg:].ctypes, kg)


def weight_grad_tiles_nchw(gemm, x, go, acc, tiles, geom, work):
    """Add the weight gradient ``sum over tiles of grad_output @ cols.T`` of
    `x` (N, C, H, W) and `go` (N, F, OH*OW) into `acc` (workers, F,
    C/groups*kh*kw), one accumulator per worker (`work` rows: scratch for a
    tile's patch matrix and gathered grad_output); `tiles` as for
    conv_tiles_nchw; `gemm` NumPy's cblas_?gemm (see _blas.py)."""
    workers = work.shape[0]
    planes, idxs = _tile_buffers(geom, x, tiles, workers)
    _weight_grad_tiles_nchw(gemm, x, go, acc, tiles, work, planes, idxs, geom.kernel_h,
                            geom.kernel_w, geom.stride_h, geom.stride_w, geom.pad_top,
                            geom.pad_left, geom.dilation_h, geom.dilation_w, geom.out_w)
