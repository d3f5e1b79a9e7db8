"""Drivers of conv2d's backward passes, one per method (validated,
C-contiguous, non-empty float32/float64 arrays only; which one runs is
chosen in ``grad.py``).

* input gradient (and conv_transpose2d, the same computation):
  ``input_grad_col2im``: ``cols = W^T @ grad_output``, then ``col2im(cols)``
  sums every patch entry back onto the pixel it was read from (``row2im``
  for channels-last); ``input_grad_full``: with stride 1, a forward
  convolution of ``grad_output`` with the flipped kernel (the "full"
  correlation, `full_correlation`) by one of conv2d's methods;
  ``input_grad_pointwise``: a 1x1 kernel mapping pixels one to one, a plain
  GEMM;
* weight gradient: ``weight_grad_im2col``: ``grad_output @ im2col(input)^T``,
  accumulated over chunks of images (and of output rows when one image's
  patch matrix exceeds the budget); ``weight_grad_tiles``: NCHW, over
  conv2d's cache-sized tiles in one parallel Numba kernel
  (`conv_gemm.weight_grad_nchw`); ``weight_grad_pointwise``: a plain GEMM.
"""

from __future__ import annotations

import numpy as np

from .._core.backend import backend_module
from .._core.geometry import Geometry
from .._core.workspace import chunking, chunks, scratch
from . import plan as _plan
from .conv_gemm import conv_nchw, conv_nhwc, weight_grad_nchw
from .conv_direct import direct_conv
from .conv_winograd import winograd_driver

__all__ = ["chunk_count", "col2im_chunking", "flipped_transposed", "full_correlation", "input_grad_col2im",
           "input_grad_full", "input_grad_pointwise", "weight_grad_direct", "weight_grad_im2col",
           "weight_grad_pointwise", "weight_grad_tiles"]


# ---------------------------------------------------------------------------
# input gradient
# ---------------------------------------------------------------------------


def full_correlation(geom: Geometry, height: int, width: int) -> Geometry | None:
    """With stride 1 the input gradient is itself a convolution: of the
    output gradient with the kernel flipped and its channel axes swapped,
    padded by the dilated kernel span minus the forward padding ("full"
    correlation). Its geometry, producing `height` x `width`, or None when
    strided or when the forward padding exceeds the kernel span."""
    if (geom.stride_h, geom.stride_w) != (1, 1):
        return None
    top = geom.dilation_h * (geom.kernel_h - 1) - geom.pad_top
    left = geom.dilation_w * (geom.kernel_w - 1) - geom.pad_left
    # the high padding follows from the sizes: in + low + high - span + 1 = out
    spans = geom.span
    bottom = height - 1 + spans[0] - geom.out_h - top
    right = width - 1 + spans[1] - geom.out_w - left
    if min(top, left, bottom, right) < 0:
        return None
    return geom.replace(padding=((top, bottom), (left, right)), out=(height, width))


def flipped_transposed(weight: np.ndarray, groups: int) -> np.ndarray:
    """(F, C/groups, kh, kw) -> (C, F/groups, kh, kw), each group's filter and
    channel axes swapped and the taps flipped: the kernel of `full_correlation`."""
    filters, cg, kh, kw = weight.shape
    fg = filters // groups
    flipped = weight.reshape(groups, fg, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    return np.ascontiguousarray(flipped).reshape(groups * cg, fg, kh, kw)


def input_grad_full(go, weight, out, full: Geometry, groups, layout, budget, conv_method) -> None:
    """``out = conv2d(go, flipped_transposed(weight))`` with the geometry
    `full` (`full_correlation`), by conv2d's method `conv_method`."""
    kernel = flipped_transposed(weight, groups)
    if conv_method.startswith("winograd"):
        m = None if conv_method == "winograd" else int(conv_method[8:])
        winograd_driver(go, kernel, None, out, full, groups, layout, budget, m)
        return
    if conv_method == "direct":
        direct_conv(go, kernel, None, out, full, groups, layout)
        return
    driver = conv_nchw if layout == "NCHW" else conv_nhwc
    driver(go, kernel, None, out, full, groups, budget, conv_method)


def input_grad_pointwise(go, weight, out, geom, groups, layout, budget) -> None:
    """1x1, stride 1, no padding, out the size of go: ``out = W^T @ go``, one
    GEMM per group, no patch matrix."""
    filters, cg = weight.shape[:2]
    fg = filters // groups
    n_img = out.shape[0]
    if layout == "NCHW":
        channels = out.shape[1]
        weight2d = weight.reshape(filters, cg)
        go3 = go.reshape(n_img, filters, geom.out_area)
        out3 = out.reshape(n_img, channels, geom.out_area)
        for grp in range(groups):
            fs = slice(grp * fg, (grp + 1) * fg)
            np.matmul(weight2d[fs].T, go3[:, fs], out=out3[:, grp * cg:(grp + 1) * cg])
        return
    channels = out.shape[3]
    w_rows = _plan.weight_rows(weight, groups)
    go3 = go.reshape(n_img, geom.out_area, filters)
    out3 = out.reshape(n_img, geom.out_area, channels)
    for grp in range(groups):
        np.matmul(go3[..., grp * fg:(grp + 1) * fg], w_rows[grp],
                  out=out3[..., grp * cg:(grp + 1) * cg])


def col2im_chunking(n_img: int, channels: int, geom: Geometry, itemsize: int,
                    budget: int) -> tuple[int, int]:
    """(images, channels) per chunk of the NCHW col2im route. col2im owns
    whole planes, so chunk over images, then over channels of one image
    (each channel's rows of the patch matrix are independent)."""
    bytes_per_channel = geom.kernel_area * geom.out_area * itemsize
    if channels * bytes_per_channel <= budget:
        return max(1, min(n_img, budget // (channels * bytes_per_channel))), channels
    return 1, max(1, min(channels, budget // bytes_per_channel))


def input_grad_col2im(go, weight, out, geom, groups, layout, budget) -> None:
    """``cols = W^T @ go`` (one GEMM per group) then col2im (NCHW) or row2im
    (NHWC), chunk by chunk within `budget` bytes of patch matrix."""
    if layout == "NCHW":
        _col2im_nchw(go, weight, out, geom, groups, budget)
    else:
        _row2im_nhwc(go, weight, out, geom, groups, budget)


def _col2im_nchw(go, weight, out, geom, groups, budget) -> None:
    backend = backend_module()
    n_img, channels = out.shape[:2]
    filters, cg = weight.shape[:2]
    fg = filters // groups
    kk = geom.kernel_area
    weight2d = weight.reshape(filters, cg * kk)
    go3 = go.reshape(n_img, filters, geom.out_area)
    images, chans = col2im_chunking(n_img, channels, geom, out.dtype.itemsize, budget)
    for n0 in range(0, n_img, images):
        n1 = min(n_img, n0 + images)
        for c0 in range(0, channels, chans):
            c1 = min(channels, c0 + chans)
            cols = scratch((n1 - n0, (c1 - c0) * kk, geom.out_area), out.dtype)
            for grp in range(c0 // cg, (c1 - 1) // cg + 1):
                lo, hi = max(c0, grp * cg), min(c1, (grp + 1) * cg)
                fs = slice(grp * fg, (grp + 1) * fg)
                np.matmul(weight2d[fs, (lo - grp * cg) * kk:(hi - grp * cg) * kk].T, go3[n0:n1, fs],
                          out=cols[:, (lo - c0) * kk:(hi - c0) * kk])
            # out[n0:n1, c0:c1] is contiguous: either all channels or one image
            backend.col2im(cols, out[n0:n1, c0:c1], geom)


def _row2im_nhwc(go, weight, out, geom, groups, budget) -> None:
    backend = backend_module()
    n_img, channels = out.shape[0], out.shape[3]
    filters, cg = weight.shape[:2]
    fg = filters // groups
    k_group = cg * geom.kernel_area
    w_rows = _plan.weight_rows(weight, groups)
    go3 = go.reshape(n_img, geom.out_area, filters)
    # row2im adds, so chunks of output rows can be summed in one by one.
    out[...] = 0
    k_total = channels * geom.kernel_area
    for n0, n1, r0, r1 in chunks(n_img, geom.out_h, k_total * geom.out_w * out.dtype.itemsize,
                                 budget):
        rows = scratch((n1 - n0, (r1 - r0) * geom.out_w, k_total), out.dtype)
        src = go3[n0:n1, r0 * geom.out_w:r1 * geom.out_w]
        for grp in range(groups):
            np.matmul(src[..., grp * fg:(grp + 1) * fg], w_rows[grp],
                      out=rows[..., grp * k_group:(grp + 1) * k_group])
        backend.row2im_nhwc(rows, out[n0:n1], geom, groups, r0, r1 - r0)


# ---------------------------------------------------------------------------
# weight gradient
# ---------------------------------------------------------------------------


def _accumulate_nchw(gw2, g_chunk, cols, groups) -> None:
    """``gw2 += g_chunk @ cols^T`` summed over the chunk's images: one
    batched GEMM per group, (B, fg, L) @ (B, L, k_group)."""
    filters, k_group = gw2.shape
    fg = filters // groups
    for grp in range(groups):
        fs = slice(grp * fg, (grp + 1) * fg)
        part = np.matmul(g_chunk[:, fs], cols[:, grp * k_group:(grp + 1) * k_group].transpose(0, 2, 1))
        gw2[fs] += part[0] if part.shape[0] == 1 else part.sum(axis=0)


def _accumulate_nhwc(acc, g2, rows2, groups) -> None:
    """``acc[g] += g2[:, group g]^T @ rows2[:, group g]``: one GEMM per group
    over all pixels of the chunk, (fg, M) @ (M, k_group)."""
    fg, k_group = acc.shape[1:]
    for grp in range(groups):
        acc[grp] += g2[:, grp * fg:(grp + 1) * fg].T @ rows2[:, grp * k_group:(grp + 1) * k_group]


def _nhwc_result(acc, gw) -> None:
    """Columns (ki, kj, channel) of the NHWC accumulator -> gw (F, C/g, kh, kw)."""
    filters, cg, kh, kw = gw.shape
    groups, fg = acc.shape[:2]
    gw[...] = acc.reshape(groups, fg, kh, kw, cg).transpose(0, 1, 4, 2, 3).reshape(filters, cg, kh, kw)


def weight_grad_pointwise(x, go, gw, geom, groups, layout, budget) -> None:
    """1x1, stride 1, no padding, x the size of go: ``gw = go @ x^T``, one
    GEMM per group, no patch matrix."""
    n_img = x.shape[0]
    filters, cg = gw.shape[:2]
    if layout == "NCHW":
        gw2 = gw.reshape(filters, cg)
        gw2[...] = 0
        _accumulate_nchw(gw2, go.reshape(n_img, filters, geom.out_area),
                         x.reshape(n_img, x.shape[1], geom.out_area), groups)
        return
    acc = np.zeros((groups, filters // groups, cg), dtype=gw.dtype)
    _accumulate_nhwc(acc, go.reshape(-1, filters), x.reshape(-1, x.shape[3]), groups)
    _nhwc_result(acc, gw)


def weight_grad_tiles(x, go, gw, geom, groups, layout, budget) -> None:
    """NCHW only: conv2d's patch-matrix tiles in one parallel Numba kernel,
    each tile's GEMM added into its worker's accumulator
    (`conv_gemm.weight_grad_nchw`)."""
    filters = gw.shape[0]
    weight_grad_nchw(x, go.reshape(x.shape[0], filters, geom.out_area),
                     gw.reshape(filters, -1), geom, groups, budget)


def weight_grad_im2col(x, go, gw, geom, groups, layout, budget) -> None:
    """The chunk loop: im2col (im2row for NHWC) of a chunk of images or of
    output rows within `budget` bytes, then one batched GEMM per group,
    accumulated in the result dtype."""
    backend = backend_module()
    n_img = x.shape[0]
    filters, cg, kh, kw = gw.shape
    k_group = cg * kh * kw
    if layout == "NCHW":
        channels = x.shape[1]
        gw2 = gw.reshape(filters, k_group)
        gw2[...] = 0
        go3 = go.reshape(n_img, filters, geom.out_area)
        k_total = channels * geom.kernel_area
        for n0, n1, r0, r1 in chunks(n_img, geom.out_h, k_total * geom.out_w * x.dtype.itemsize,
                                     budget):
            cols = scratch((n1 - n0, k_total, (r1 - r0) * geom.out_w), x.dtype)
            backend.im2col(x[n0:n1], cols, geom, r0, r1 - r0)
            _accumulate_nchw(gw2, go3[n0:n1, :, r0 * geom.out_w:r1 * geom.out_w], cols, groups)
        return
    channels = x.shape[3]
    acc = np.zeros((groups, filters // groups, k_group), dtype=gw.dtype)   # columns (ki, kj, channel)
    go3 = go.reshape(n_img, geom.out_area, filters)
    k_total = channels * kh * kw
    for n0, n1, r0, r1 in chunks(n_img, geom.out_h, k_total * geom.out_w * x.dtype.itemsize, budget):
        rows = scratch((n1 - n0, (r1 - r0) * geom.out_w, k_total), x.dtype)
        backend.im2row_nhwc(x[n0:n1], rows, geom, groups, r0, r1 - r0)
        # a chunk is whole images or rows of one image: contiguous
        _accumulate_nhwc(acc, go3[n0:n1, r0 * geom.out_w:r1 * geom.out_w].reshape(-1, filters),
                         rows.reshape(-1, k_total), groups)
    _nhwc_result(acc, gw)


def weight_grad_direct(x, go, gw, geom, groups, layout, budget) -> None:
    """Direct loops, no patch matrix or BLAS: every tap's dot product of
    grad_output with the input it read, per worker (NHWC operands are
    copied to NCHW first)."""
    if layout != "NCHW":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        go = np.ascontiguousarray(go.transpose(0, 3, 1, 2))
    backend_module().weight_grad_direct_nchw(x, go, gw, geom, groups)


def chunk_count(n_img: int, out_h: int, bytes_per_row: int, budget: int) -> int:
    """How many chunks `chunks` cuts a loop into (for `explain`)."""
    images, rows = chunking(n_img, out_h, bytes_per_row, budget)
    return -(-n_img // images) * -(-out_h // rows)
