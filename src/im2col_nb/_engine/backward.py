"""Drivers of conv2d's backward passes (validated, C-contiguous float32/float64 arrays only).

* input gradient: ``cols = W^T @ grad_output``, then ``col2im(cols)`` sums
  every patch entry back onto the pixel it was read from (``row2im`` for
  channels-last); with stride 1, where it pays, a forward convolution of
  ``grad_output`` with the flipped kernel instead (conv2d's own methods,
  shifted GEMMs included: see `input_grad`);
* weight gradient: ``grad_output @ im2col(input)^T``, accumulated over chunks
  of images (and of output rows when one image's patch matrix exceeds the
  budget); NCHW with the Numba backend: over conv2d's cache-sized tiles, in
  one parallel kernel (`conv_gemm.weight_grad_nchw`).
"""

from __future__ import annotations

import numpy as np

from .._core.backend import backend_module
from .._core.geometry import Geometry
from .._core.workspace import chunks, scratch
from . import plan as _plan
from .conv import choose_conv2d
from .conv_gemm import conv_nchw, conv_nhwc, weight_grad_nchw
from .problem import ConvProblem


# ---------------------------------------------------------------------------
# drivers (validated, C-contiguous float32/float64 arrays only)
# ---------------------------------------------------------------------------


def _conv_auto(driver, x, weight, bias, out, geom, groups, budget) -> None:
    """conv2d's forward by the method its ``auto`` picks (for the full correlation)."""
    channels_first = driver is conv_nchw
    problem = ConvProblem(x.shape[0], x.shape[1 if channels_first else 3], weight.shape[0],
                          x.shape[2:] if channels_first else x.shape[1:3], geom, groups,
                          x.dtype.name, "NCHW" if channels_first else "NHWC", bias is not None)
    driver(x, weight, bias, out, geom, groups, budget, choose_conv2d(problem, budget).name)


def _conv_auto_nchw(*args) -> None:
    _conv_auto(conv_nchw, *args)


def _conv_auto_nhwc(*args) -> None:
    _conv_auto(conv_nhwc, *args)


def _maps_one_to_one(geom: Geometry, height: int, width: int) -> bool:
    """1x1 kernel, stride 1, no padding: the input *is* the patch matrix."""
    return _plan.is_pointwise(geom) and (geom.out_h, geom.out_w) == (height, width)


def _by_layout(layout, drivers, result, operands, *args) -> None:
    """Fill `result` by ``drivers[layout](*args)``; an empty `result` is left
    as is, and an empty operand (nothing summed) makes it zero, without
    calling the driver (its GEMMs and chunking assume non-empty arrays)."""
    if result.size == 0:
        return
    if any(a.size == 0 for a in operands):
        result[...] = 0
        return
    drivers[layout](*args)


def _full_correlation(geom: Geometry, height: int, width: int) -> Geometry | None:
    """With stride 1 the input gradient is itself a convolution: of the
    output gradient with the kernel flipped and its channel axes swapped,
    padded by the dilated kernel span minus the forward padding ("full"
    correlation). Its geometry, producing `height` x `width`, or None when
    strided or when the forward padding exceeds the kernel span."""
    if (geom.stride_h, geom.stride_w) != (1, 1):
        return None
    top = geom.dilation_h * (geom.kernel_h - 1) - geom.pad_top
    left = geom.dilation_w * (geom.kernel_w - 1) - geom.pad_left
    if top < 0 or left < 0:
        return None
    # the high padding follows from the sizes: in + low + high - span + 1 = out
    spans = geom.span
    bottom = height - 1 + spans[0] - geom.out_h - top
    right = width - 1 + spans[1] - geom.out_w - left
    return geom.replace(padding=((top, bottom), (left, right)), out=(height, width))


def _flipped_transposed(weight: np.ndarray, groups: int) -> np.ndarray:
    """(F, C/groups, kh, kw) -> (C, F/groups, kh, kw), each group's filter and
    channel axes swapped and the taps flipped: the kernel of `_full_correlation`."""
    filters, cg, kh, kw = weight.shape
    fg = filters // groups
    flipped = weight.reshape(groups, fg, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    return np.ascontiguousarray(flipped).reshape(groups * cg, fg, kh, kw)


def input_grad(go, weight, out, geom, groups, layout, budget) -> None:
    """Overwrite `out` (the input-shaped gradient, 4-D) with the adjoint of
    conv2d(., weight) applied to `go` (the output-shaped gradient, 4-D).
    `geom.out_h`/`out_w` must be go's spatial size.

    Stride 1: conv2d's own driver on the full correlation when that pays --
    it runs as shifted GEMMs (no patch matrix, no col2im), or the input has
    at least as many channels as there are filters (its patch matrix is then
    no bigger than the C*kh*kw x positions one col2im would sum). Measured
    (2 threads, float32): cifar 2.1x, r18-l1 2.0x, vgg-wide 1.4x, r18-l2
    1.35x, r18-l3/l4 1.1-1.2x faster; lenet-c1 (1 input channel, 32
    filters, no shifted GEMMs) would be 4.7x slower and keeps the col2im
    route. Else ``W^T @ grad_output`` then col2im."""
    height, width = out.shape[2:] if layout == "NCHW" else out.shape[1:3]
    full = None if _maps_one_to_one(geom, height, width) else _full_correlation(geom, height, width)
    if full is not None:
        channels_in, filters = weight.shape[1] * groups, weight.shape[0]
        flops = 2 * go.shape[0] * channels_in * filters // groups * geom.kernel_area * height * width
        if channels_in < filters and not _plan.runs_shifted(filters, channels_in, full, groups, go.dtype,
                                                      flops):
            full = None
    if full is not None:
        _by_layout(layout, _CONV, out, (go,), go, _flipped_transposed(weight, groups), None, out,
                   full, groups, budget)
        return
    _by_layout(layout, _INPUT_GRAD, out, (go,), go, weight, out, geom, groups, budget)


def _input_grad_nchw(go, weight, out, geom, groups, budget) -> None:
    backend = backend_module()
    n_img, channels, height, width = out.shape
    filters, cg = weight.shape[:2]
    fg = filters // groups
    kk = geom.kernel_area
    weight2d = weight.reshape(filters, cg * kk)
    go3 = go.reshape(n_img, filters, geom.out_area)
    if _maps_one_to_one(geom, height, width):
        out3 = out.reshape(n_img, channels, geom.out_area)
        for grp in range(groups):
            fs = slice(grp * fg, (grp + 1) * fg)
            np.matmul(weight2d[fs].T, go3[:, fs], out=out3[:, grp * cg:(grp + 1) * cg])
        return
    # col2im owns whole planes, so chunk over images, then over channels of
    # one image (each channel's rows of the patch matrix are independent).
    bytes_per_channel = kk * geom.out_area * out.dtype.itemsize
    if channels * bytes_per_channel <= budget:
        images = max(1, min(n_img, budget // (channels * bytes_per_channel)))
        chans = channels
    else:
        images, chans = 1, max(1, min(channels, budget // bytes_per_channel))
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


def _input_grad_nhwc(go, weight, out, geom, groups, budget) -> None:
    backend = backend_module()
    n_img, height, width, channels = out.shape
    filters, cg = weight.shape[:2]
    fg = filters // groups
    k_group = cg * geom.kernel_area
    w_rows = _plan.weight_rows(weight, groups)
    go3 = go.reshape(n_img, geom.out_area, filters)
    if _maps_one_to_one(geom, height, width):
        out3 = out.reshape(n_img, geom.out_area, channels)
        for grp in range(groups):
            np.matmul(go3[..., grp * fg:(grp + 1) * fg], w_rows[grp],
                      out=out3[..., grp * cg:(grp + 1) * cg])
        return
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


def weight_grad(x, go, gw, geom, groups, layout, budget) -> None:
    """Overwrite `gw` (F, C/groups, kh, kw) with the weight gradient."""
    _by_layout(layout, _WEIGHT_GRAD, gw, (go, x), x, go, gw, geom, groups, budget)


def _weight_grad_nchw(x, go, gw, geom, groups, budget) -> None:
    backend = backend_module()
    n_img, channels, height, width = x.shape
    filters, cg = gw.shape[:2]
    fg = filters // groups
    k_group = cg * geom.kernel_area
    gw2 = gw.reshape(filters, k_group)
    gw2[...] = 0
    go3 = go.reshape(n_img, filters, geom.out_area)

    def accumulate(g_chunk, cols):
        # one batched GEMM per group: (B, fg, L) @ (B, L, k_group), summed over B
        for grp in range(groups):
            fs = slice(grp * fg, (grp + 1) * fg)
            part = np.matmul(g_chunk[:, fs], cols[:, grp * k_group:(grp + 1) * k_group].transpose(0, 2, 1))
            gw2[fs] += part[0] if part.shape[0] == 1 else part.sum(axis=0)

    if _maps_one_to_one(geom, height, width):
        accumulate(go3, x.reshape(n_img, channels, geom.out_area))
        return
    # The Numba tile kernel (patch matrices in cache-sized tiles, one GEMM
    # each, accumulated per worker). Measured against the loop below (2
    # threads, float32, time / bare GEMM, geomean of the bench layers): 1.84
    # -> 1.47; r18-l4 3.5 -> 1.5, downsample 3.0 -> 2.0, cifar 1.8 -> 1.5.
    if weight_grad_nchw(x, go3, gw2, geom, groups, budget):
        return
    k_total = channels * geom.kernel_area
    for n0, n1, r0, r1 in chunks(n_img, geom.out_h, k_total * geom.out_w * x.dtype.itemsize, budget):
        cols = scratch((n1 - n0, k_total, (r1 - r0) * geom.out_w), x.dtype)
        backend.im2col(x[n0:n1], cols, geom, r0, r1 - r0)
        accumulate(go3[n0:n1, :, r0 * geom.out_w:r1 * geom.out_w], cols)


def _weight_grad_nhwc(x, go, gw, geom, groups, budget) -> None:
    backend = backend_module()
    n_img, height, width, channels = x.shape
    filters, cg, kh, kw = gw.shape
    fg = filters // groups
    k_group = cg * kh * kw
    acc = np.zeros((groups, fg, k_group), dtype=gw.dtype)   # columns (ki, kj, channel)
    go3 = go.reshape(n_img, geom.out_area, filters)

    def accumulate(g2, rows2):
        # one GEMM per group over all pixels of the chunk: (fg, M) @ (M, k_group)
        for grp in range(groups):
            acc[grp] += g2[:, grp * fg:(grp + 1) * fg].T @ rows2[:, grp * k_group:(grp + 1) * k_group]

    if _maps_one_to_one(geom, height, width):
        accumulate(go3.reshape(-1, filters), x.reshape(-1, channels))
    else:
        k_total = channels * kh * kw
        for n0, n1, r0, r1 in chunks(n_img, geom.out_h,
                                     k_total * geom.out_w * x.dtype.itemsize, budget):
            rows = scratch((n1 - n0, (r1 - r0) * geom.out_w, k_total), x.dtype)
            backend.im2row_nhwc(x[n0:n1], rows, geom, groups, r0, r1 - r0)
            # a chunk is whole images or rows of one image: contiguous
            accumulate(go3[n0:n1, r0 * geom.out_w:r1 * geom.out_w].reshape(-1, filters),
                       rows.reshape(-1, k_total))
    gw[...] = acc.reshape(groups, fg, kh, kw, cg).transpose(0, 1, 4, 2, 3).reshape(filters, cg, kh, kw)


_INPUT_GRAD = {"NCHW": _input_grad_nchw, "NHWC": _input_grad_nhwc}
_CONV = {"NCHW": _conv_auto_nchw, "NHWC": _conv_auto_nhwc}
_WEIGHT_GRAD = {"NCHW": _weight_grad_nchw, "NHWC": _weight_grad_nhwc}
