"""JIT-compiled kernels for the convolution backward passes.

The NCHW input gradient reuses the core ``col2im`` kernel; this module adds
its channels-last twin, ``row2im_nhwc``: the adjoint of ``im2row_nhwc``, which
sums the rows of an NHWC patch matrix back into images.

It is written as a gather: one ``prange`` task per input row ``(n, h)``
collects every patch entry that was read from that row, so no two tasks write
the same element, there are no atomics, and the summation order is fixed
(results are deterministic). It *adds* into its output, so the wrapper zeroes
the output once and can then feed the patch matrix in chunks of output rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba_backend import _im2col_tile, _tile_buffers
from ._numba_common import JIT_OPTIONS as _JIT
from ._numba_common import valid_range as _valid_range

__all__ = ["row2im_nhwc", "weight_grad_tiles_nchw"]


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


@njit(parallel=True, **_JIT)
def _row2im_nhwc(rows, x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, row_start, row_count, out_w, groups):
    # rows: (N, row_count*out_w, C*kh*kw), columns ordered
    # (group, ki, kj, channel-in-group) as _im2row_nhwc writes them.
    # x: (N, H, W, C), accumulated into.
    n_img, height, width, channels = x.shape
    cg = channels // groups
    kk = kernel_h * kernel_w
    for task in prange(n_img * height):
        n = task // height
        h = task - n * height
        for ki in range(kernel_h):
            # output row oh reads input row h through tap ki when
            # oh*stride_h + ki*dilation_h - pad_top == h
            t = h + pad_top - ki * dilation_h
            if t < 0 or t % stride_h != 0:
                continue
            oh = t // stride_h
            if oh < row_start or oh >= row_start + row_count:
                continue
            i = oh - row_start
            for kj in range(kernel_w):
                w_off = kj * dilation_w - pad_left
                j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                for j in range(j_lo, j_hi):
                    src = rows[n, i * out_w + j]
                    dest = x[n, h, j * stride_w + w_off]
                    for g in range(groups):
                        base = (g * kk + ki * kernel_w + kj) * cg
                        for ch in range(cg):
                            dest[g * cg + ch] += src[base + ch]


def row2im_nhwc(rows, x, geom, groups, row_start, row_count):
    """Add the patches in `rows` (B, row_count*OW, C*kh*kw), which belong to
    output rows [row_start, row_start + row_count), into `x` (B, H, W, C)."""
    _row2im_nhwc(rows, x, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 row_start, row_count, geom.out_w, groups)
