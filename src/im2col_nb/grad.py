"""Backward passes of `conv2d`, and the transposed convolution.

Everything here is one BLAS matrix multiply per group on a patch matrix,
like the forward convolution, in the same bounded, reused scratch memory:

* input gradient: ``cols = W^T @ grad_output``, then ``col2im(cols)`` sums
  every patch entry back onto the pixel it was read from (``row2im`` for
  channels-last); with stride 1, where it pays, a forward convolution of
  ``grad_output`` with the flipped kernel instead (conv2d's own driver,
  shifted GEMMs included: see `_input_grad`);
* weight gradient: ``grad_output @ im2col(input)^T``, accumulated over chunks
  of images (and of output rows when one image's patch matrix exceeds the
  budget); NCHW with the Numba backend: over conv2d's cache-sized tiles, in
  one parallel kernel (`_conv_gemm.weight_grad_nchw`);
* bias gradient: ``grad_output`` summed over batch and space;
* ``conv_transpose2d(x, w)`` is the input gradient of a convolution whose
  output is ``x``: the same GEMM + col2im, with the geometry read backwards.

API decision: three functions named like ``torch.nn.grad.conv2d_input`` /
``conv2d_weight`` (plus ``conv2d_bias_grad``), so each gradient can be asked
for on its own (a first layer never needs its input gradient), and a
convenience ``conv2d_backward`` that validates once and returns all three.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ._core.backend import backend_module
from ._conv_gemm import conv_nchw, conv_nhwc, runs_shifted, weight_grad_nchw, weight_rows
from ._core.geometry import Geometry
from ._core.validation import (
    as_float_array,
    check_layout,
    check_ndim,
    pair,
    positive_int,
    result_dtype,
    shape_arg,
    to_kernel_array,
)
from ._core.workspace import resolve_budget, scratch
from .convolution import (
    ConvProblem,
    _chunking,
    _is_pointwise,
    batch_conv_operands,
    prepare_conv,
)

__all__ = [
    "conv2d_backward",
    "conv2d_bias_grad",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "conv_transpose2d",
]


# ---------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------


@contextmanager
def _argument_names(**renames):
    """Re-raise `prepare_conv`'s errors under the names this function's
    caller actually used (``input_shape`` for ``input``, ...)."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        message = str(exc)
        for old, new in renames.items():
            message = message.replace(f"`{old}`", f"`{new}`")
        if message == str(exc):
            raise
        raise type(exc)(message) from None


def _grad_output_arg(go: np.ndarray, p: ConvProblem) -> np.ndarray:
    """`grad_output` as a kernel-ready 4-D array, checked against the shape
    conv2d returns for the validated problem `p`."""
    expected = p.finish(np.broadcast_to(np.zeros((), dtype=p.x.dtype), p.out_shape)).shape
    if go.shape != expected:
        layout = "" if p.layout == "NCHW" else f", layout={p.layout!r}"
        raise ValueError(
            f"`grad_output` must have shape {expected}, the shape conv2d returns for this input, "
            f"weight and geometry (stride={(p.geom.stride_h, p.geom.stride_w)}, "
            f"dilation={(p.geom.dilation_h, p.geom.dilation_w)}, groups={p.groups}{layout}), "
            f"got an array of shape {go.shape}"
        )
    return to_kernel_array(go.reshape(p.out_shape), p.x.dtype)


# The operand given only by its shape: (accepted lengths, how to name them).
_SHAPE_FORMS = {
    "input": ((2, 3, 4), "(N, C, H, W), (C, H, W) or (H, W)"),
    "weight": ((2, 4), "(F, C/groups, kh, kw) or (kh, kw)"),
}


def _shaped_problem(role, shape, operand, grad_output, stride, padding, dilation, groups, layout):
    """Validate the arguments of the gradient with respect to `role`
    (``"input"`` or ``"weight"``), an operand given only by its `shape`;
    `operand` is the other one. Returns the shape as a tuple, the validated
    problem (whose ``x``/``weight`` for `role` is an uninitialised array of
    the result dtype, to be overwritten with the gradient) and `grad_output`
    as a kernel-ready 4-D array. Errors name ``<role>_shape``."""
    name = f"{role}_shape"
    shape = shape_arg(name, shape, *_SHAPE_FORMS[role])
    other = as_float_array("weight" if role == "input" else "input", operand)
    go = as_float_array("grad_output", grad_output)
    result = np.empty(shape, dtype=result_dtype(other, go))
    x, w = (result, other) if role == "input" else (other, result)
    with _argument_names(**{role: name}):
        p = prepare_conv(x, w, None, stride, padding, dilation, groups, layout)
    return shape, p, _grad_output_arg(go, p)


# ---------------------------------------------------------------------------
# drivers (validated, C-contiguous float32/float64 arrays only)
# ---------------------------------------------------------------------------


def _maps_one_to_one(geom: Geometry, height: int, width: int) -> bool:
    """1x1 kernel, stride 1, no padding: the input *is* the patch matrix."""
    return _is_pointwise(geom) and (geom.out_h, geom.out_w) == (height, width)


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


def _input_grad(go, weight, out, geom, groups, layout, budget) -> None:
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
        if channels_in < filters and not runs_shifted(filters, channels_in, full, groups, go.dtype,
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
    w_rows = weight_rows(weight, groups)
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
    images, rows_per_chunk = _chunking(n_img, geom.out_h, k_total * geom.out_w * out.dtype.itemsize,
                                       budget)
    for n0 in range(0, n_img, images):
        n1 = min(n_img, n0 + images)
        for r0 in range(0, geom.out_h, rows_per_chunk):
            r1 = min(geom.out_h, r0 + rows_per_chunk)
            rows = scratch((n1 - n0, (r1 - r0) * geom.out_w, k_total), out.dtype)
            src = go3[n0:n1, r0 * geom.out_w:r1 * geom.out_w]
            for grp in range(groups):
                np.matmul(src[..., grp * fg:(grp + 1) * fg], w_rows[grp],
                          out=rows[..., grp * k_group:(grp + 1) * k_group])
            backend.row2im_nhwc(rows, out[n0:n1], geom, groups, r0, r1 - r0)


def _weight_grad(x, go, gw, geom, groups, layout, budget) -> None:
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
    images, rows = _chunking(n_img, geom.out_h, k_total * geom.out_w * x.dtype.itemsize, budget)
    for n0 in range(0, n_img, images):
        n1 = min(n_img, n0 + images)
        for r0 in range(0, geom.out_h, rows):
            r1 = min(geom.out_h, r0 + rows)
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
        images, rows_per_chunk = _chunking(n_img, geom.out_h, k_total * geom.out_w * x.dtype.itemsize,
                                           budget)
        for n0 in range(0, n_img, images):
            n1 = min(n_img, n0 + images)
            for r0 in range(0, geom.out_h, rows_per_chunk):
                r1 = min(geom.out_h, r0 + rows_per_chunk)
                rows = scratch((n1 - n0, (r1 - r0) * geom.out_w, k_total), x.dtype)
                backend.im2row_nhwc(x[n0:n1], rows, geom, groups, r0, r1 - r0)
                # a chunk is whole images or rows of one image: contiguous
                accumulate(go3[n0:n1, r0 * geom.out_w:r1 * geom.out_w].reshape(-1, filters),
                           rows.reshape(-1, k_total))
    gw[...] = acc.reshape(groups, fg, kh, kw, cg).transpose(0, 1, 4, 2, 3).reshape(filters, cg, kh, kw)


_INPUT_GRAD = {"NCHW": _input_grad_nchw, "NHWC": _input_grad_nhwc}
_CONV = {"NCHW": conv_nchw, "NHWC": conv_nhwc}
_WEIGHT_GRAD = {"NCHW": _weight_grad_nchw, "NHWC": _weight_grad_nhwc}


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------


def conv2d_input_grad(input_shape, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                      layout="NCHW", max_workspace_bytes=None):
    """Gradient of `conv2d` with respect to its input.

    The counterpart of ``torch.nn.grad.conv2d_input``: for ``y = conv2d(x,
    weight, ...)`` and an upstream gradient ``grad_output = dL/dy``, returns
    ``dL/dx``. Computed as ``W^T @ grad_output`` (one GEMM per group) followed
    by `col2im`, which sums each patch entry back onto its pixel.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of the forward input: ``(N, C, H, W)``, unbatched
        ``(C, H, W)``, or ``(H, W)`` for a single-channel image with a 2-D
        `weight`. With ``layout="NHWC"``: ``(N, H, W, C)`` or ``(H, W, C)``.
    weight : array_like, shape (F, C/groups, kh, kw)
        The forward filters (``(kh, kw)`` for a 2-D input).
    grad_output : array_like
        Gradient of the loss with respect to the forward output; exactly the
        shape `conv2d` returns for this input, weight and geometry.
    stride, padding, dilation, groups, layout
        As in `conv2d` (including ``padding='same'``/``'valid'``).
    max_workspace_bytes : int, optional, keyword-only
        Largest patch matrix built at once (default
        `get_max_workspace_bytes()`).

    Returns
    -------
    grad_input : ndarray, shape `input_shape`
        float64 if `weight` or `grad_output` is float64 (or integer), else
        float32.

    Raises
    ------
    TypeError
        `input_shape` not a tuple of ints; complex/object arrays;
        non-integer geometry.
    ValueError
        `input_shape` of the wrong length or negative, `weight` not matching
        its channels or `groups`, `grad_output` not of the forward output's
        shape, or any geometry error `conv2d` raises.

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*kh*kw*OH*OW`` flops in BLAS (the forward's),
    plus one col2im pass over the patch matrix. The patch matrix is built in
    chunks of images, then of channels of one image (NCHW) or of output rows
    (NHWC), within `max_workspace_bytes` (at least one channel or output row
    of one image is built at once). With stride 1 the gradient is computed,
    where that is cheaper, as ``conv2d`` of `grad_output` with the flipped
    kernel ("full" correlation): the same flops, and no col2im (on the
    benchmark layers 1.1-2.1x faster; see docs/how-im2col-works.md).

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv2d, conv2d_input_grad
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 6, 6))
    >>> w = np.random.default_rng(1).normal(size=(4, 3, 3, 3))
    >>> y = np.random.default_rng(2).normal(size=(2, 4, 3, 3))   # dL/d(output)
    >>> gx = conv2d_input_grad(x.shape, w, y, stride=2, padding=1)
    >>> gx.shape
    (2, 3, 6, 6)
    >>> bool(np.isclose(np.sum(conv2d(x, w, stride=2, padding=1) * y), np.sum(x * gx)))
    True
    """
    shape, p, go4 = _shaped_problem("input", input_shape, weight, grad_output,
                                    stride, padding, dilation, groups, layout)
    _input_grad(go4, p.weight, p.x, p.geom, p.groups, p.layout, resolve_budget(max_workspace_bytes))
    return p.x.reshape(shape)


def conv2d_weight_grad(input, weight_shape, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                       layout="NCHW", max_workspace_bytes=None):
    """Gradient of `conv2d` with respect to its weight.

    The counterpart of ``torch.nn.grad.conv2d_weight``: for ``y = conv2d(input,
    w, ...)`` and ``grad_output = dL/dy``, returns ``dL/dw`` as one GEMM per
    group of `grad_output` with the patch matrix ``im2col(input)``,
    accumulated over chunks of images.

    Parameters
    ----------
    input : array_like
        The forward input, shaped as for `conv2d`.
    weight_shape : tuple of int
        ``(F, C/groups, kh, kw)``, or ``(kh, kw)`` for a 2-D `input`.
    grad_output : array_like
        Gradient of the loss with respect to the forward output; exactly the
        shape `conv2d` returns.
    stride, padding, dilation, groups, layout
        As in `conv2d`.
    max_workspace_bytes : int, optional, keyword-only
        Largest patch matrix built at once.

    Returns
    -------
    grad_weight : ndarray, shape `weight_shape`
        float64 if `input` or `grad_output` is float64 (or integer), else
        float32.

    Raises
    ------
    TypeError
        `weight_shape` not a tuple of ints; complex/object arrays;
        non-integer geometry.
    ValueError
        `weight_shape` of the wrong length, negative or not matching the
        input channels and `groups`; `grad_output` not of the forward
        output's shape; any geometry error `conv2d` raises.

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*kh*kw*OH*OW`` flops in BLAS plus one im2col pass,
    with the patch matrix chunked exactly as in `conv2d`. The result is
    accumulated chunk by chunk in the result dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv2d, conv2d_weight_grad
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 6, 6))
    >>> w = np.random.default_rng(1).normal(size=(4, 3, 3, 3))
    >>> y = np.random.default_rng(2).normal(size=(2, 4, 6, 6))
    >>> gw = conv2d_weight_grad(x, w.shape, y, padding="same")
    >>> gw.shape
    (4, 3, 3, 3)
    >>> bool(np.isclose(np.sum(conv2d(x, w, padding="same") * y), np.sum(w * gw)))
    True
    """
    shape, p, go4 = _shaped_problem("weight", weight_shape, input, grad_output,
                                    stride, padding, dilation, groups, layout)
    _weight_grad(p.x, go4, p.weight, p.geom, p.groups, p.layout, resolve_budget(max_workspace_bytes))
    return p.weight.reshape(shape)


def conv2d_bias_grad(grad_output, *, layout="NCHW"):
    """Gradient of `conv2d` with respect to its bias: `grad_output` summed
    over the batch and both spatial axes.

    Parameters
    ----------
    grad_output : array_like
        ``(N, F, OH, OW)``, unbatched ``(F, OH, OW)``, or ``(OH, OW)`` for a
        2-D convolution (one filter). With ``layout="NHWC"``:
        ``(N, OH, OW, F)`` or ``(OH, OW, F)``.
    layout : {'NCHW', 'NHWC'}, keyword-only

    Returns
    -------
    grad_bias : ndarray, shape (F,)
        ``(1,)`` for a 2-D `grad_output`. Same float dtype as `grad_output`;
        summed in float64.

    Raises
    ------
    TypeError
        If `grad_output` is not real-valued.
    ValueError
        If `grad_output` is not 2-D, 3-D or 4-D, or `layout` is unknown.

    Notes
    -----
    Cost: one pass over `grad_output`.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv2d_bias_grad
    >>> conv2d_bias_grad(np.ones((2, 3, 4, 4)))
    array([32., 32., 32.])
    """
    layout = check_layout(layout)
    go = as_float_array("grad_output", grad_output)
    check_ndim("grad_output", go, (2, 3, 4),
               "2-D (OH, OW), 3-D (unbatched) or 4-D "
               f"({'N, F, OH, OW' if layout == 'NCHW' else 'N, OH, OW, F'})")
    if go.ndim == 2:
        return np.array([go.sum(dtype=np.float64)], dtype=go.dtype)
    channel_axis = go.ndim - 3 if layout == "NCHW" else go.ndim - 1
    axes = tuple(a for a in range(go.ndim) if a != channel_axis)
    return go.sum(axis=axes, dtype=np.float64).astype(go.dtype)


def conv2d_backward(input, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                    layout="NCHW", max_workspace_bytes=None):
    """All three gradients of ``conv2d(input, weight, bias, ...)`` at once.

    Validates the arguments once and returns what `conv2d_input_grad`,
    `conv2d_weight_grad` and `conv2d_bias_grad` would.

    Parameters
    ----------
    input, weight
        The forward operands, as for `conv2d`.
    grad_output : array_like
        Gradient of the loss with respect to the forward output.
    stride, padding, dilation, groups, layout, max_workspace_bytes
        As in `conv2d`.

    Returns
    -------
    grad_input : ndarray, shape of `input`
    grad_weight : ndarray, shape of `weight`
    grad_bias : ndarray, shape (F,)
        ``(1,)`` for a 2-D input. All three in the promoted dtype of `input`,
        `weight` and `grad_output`.

    Raises
    ------
    TypeError, ValueError
        As `conv2d`, plus a `grad_output` not of the forward output's shape.

    Notes
    -----
    Cost: twice the forward's GEMM flops, one im2col and one col2im pass.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv2d_backward
    >>> x = np.ones((1, 2, 4, 4)); w = np.ones((3, 2, 3, 3))
    >>> gx, gw, gb = conv2d_backward(x, w, np.ones((1, 3, 2, 2)))
    >>> gx.shape, gw.shape, gb
    ((1, 2, 4, 4), (3, 2, 3, 3), array([4., 4., 4.]))
    >>> gx[0, 0]
    array([[ 3.,  6.,  6.,  3.],
           [ 6., 12., 12.,  6.],
           [ 6., 12., 12.,  6.],
           [ 3.,  6.,  6.,  3.]])
    """
    p = prepare_conv(input, weight, None, stride, padding, dilation, groups, layout)
    go = as_float_array("grad_output", grad_output)
    dtype = result_dtype(p.x, go)
    if dtype != p.x.dtype:
        p.x = to_kernel_array(p.x, dtype)
        p.weight = to_kernel_array(p.weight, dtype)
    go4 = _grad_output_arg(go, p)
    budget = resolve_budget(max_workspace_bytes)
    grad_input = np.empty(p.x.shape, dtype=dtype)
    grad_weight = np.empty(p.weight.shape, dtype=dtype)
    _input_grad(go4, p.weight, grad_input, p.geom, p.groups, p.layout, budget)
    _weight_grad(p.x, go4, grad_weight, p.geom, p.groups, p.layout, budget)
    grad_bias = conv2d_bias_grad(go4, layout=p.layout)
    return grad_input.reshape(np.shape(input)), grad_weight.reshape(np.shape(weight)), grad_bias


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, layout="NCHW", max_workspace_bytes=None):
    """Transposed convolution ("deconvolution"), by GEMM + col2im.

    Same arguments and result as ``torch.nn.functional.conv_transpose2d``:
    the adjoint of `conv2d` with the same `weight`, stride, padding, dilation
    and groups, i.e. ``conv_transpose2d(y, w, ...)`` equals
    ``conv2d_input_grad(x_shape, w, y, ...)`` for the matching forward
    input shape.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, H, W)``, unbatched ``(C_in, H, W)``, or a 2-D ``(H, W)``
        with a 2-D `weight`. With ``layout="NHWC"``: ``(N, H, W, C_in)`` or
        ``(H, W, C_in)``.
    weight : array_like, shape (C_in, F/groups, kh, kw)
        Note the order: input channels first (PyTorch's layout; the same
        array as the forward conv2d's weight).
    bias : array_like, shape (F,), optional
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        ``dilation*(kernel-1) - padding`` zeros are implicitly added on both
        sides of the input; equivalently, `padding` rows/columns are cropped
        from each side of the full result. Strings are not accepted (as in
        PyTorch).
    output_padding : int or (int, int), default 0
        Extra rows/columns added to the bottom/right of the output, to pick
        one of the `stride` input sizes that a strided conv2d maps to the
        same output size. Must be smaller than `stride` or `dilation` in each
        dimension.
    groups : int, default 1
    dilation : int or (int, int), default 1
    layout : {'NCHW', 'NHWC'}, keyword-only
    max_workspace_bytes : int, optional, keyword-only

    Returns
    -------
    out : ndarray
        ``(N, F, OH, OW)`` (``(N, OH, OW, F)`` for NHWC), ``(F, OH, OW)``
        unbatched, ``(OH, OW)`` for 2-D input, with ``F = groups *
        weight.shape[1]`` and ``OH = (H - 1)*sh - 2*ph + dh*(kh - 1) + oph +
        1`` (likewise OW).

    Raises
    ------
    TypeError
        Complex/object arrays; non-integer geometry.
    ValueError
        Wrong number of dimensions; ``weight.shape[0]`` not the input
        channels; `groups` not dividing them; `bias` not of shape (F,);
        non-positive stride/dilation, negative padding/output_padding;
        `output_padding` not smaller than `stride` or `dilation`; an output
        size that is not positive.

    Notes
    -----
    Cost: ``2*N*C_in*(F/groups)*kh*kw*H*W`` flops in BLAS plus one col2im pass,
    the patch matrix chunked within `max_workspace_bytes` as in
    `conv2d_input_grad` (stride 1: a forward convolution with the flipped
    kernel where that is cheaper, as there).

    Examples
    --------
    A 2x2 kernel of ones with stride 2 stamps each pixel onto a 2x2 block
    (nearest-neighbour upsampling):

    >>> import numpy as np
    >>> from im2col_nb import conv_transpose2d
    >>> x = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> conv_transpose2d(x, np.ones((1, 1, 2, 2)), stride=2)[0, 0]
    array([[0., 0., 1., 1.],
           [0., 0., 1., 1.],
           [2., 2., 3., 3.],
           [2., 2., 3., 3.]])

    A 3x3 kernel with stride 2 and padding 1 inverts the size change of the
    matching conv2d; output_padding picks the even input size:

    >>> conv_transpose2d(np.ones((1, 4, 4)), np.ones((1, 1, 3, 3)), stride=2, padding=1).shape
    (1, 7, 7)
    >>> conv_transpose2d(np.ones((1, 4, 4)), np.ones((1, 1, 3, 3)), stride=2, padding=1,
    ...                  output_padding=1).shape
    (1, 8, 8)
    >>> conv_transpose2d(np.ones((3, 5, 5)), np.ones((3, 2, 4, 4)), stride=2).shape
    (2, 12, 12)
    """
    layout = check_layout(layout)
    x = as_float_array("input", input)
    w = as_float_array("weight", weight)
    b = None if bias is None else as_float_array("bias", bias)
    groups = positive_int("groups", groups)
    x4, w4, squeeze = batch_conv_operands(x, w, layout, "C_in", "4-D (C_in, F/groups, kh, kw)")
    if layout == "NCHW":
        n_img, c_in, height, width = x4.shape
    else:
        n_img, height, width, c_in = x4.shape
    wc, fg, kh, kw = w4.shape
    if c_in % groups:
        raise ValueError(f"`groups`={groups} must divide the input channels, got {c_in} channels")
    if wc != c_in:
        raise ValueError(
            f"`weight` of shape {w.shape} is (C_in, F/groups, kh, kw) for {wc} input channels, "
            f"but `input` of shape {x.shape} has {c_in}"
        )
    if kh < 1 or kw < 1:
        raise ValueError(f"`weight` must have a non-empty kernel, got shape {w.shape}")
    filters = fg * groups
    if b is not None and (b.ndim != 1 or b.shape[0] != filters):
        raise ValueError(f"`bias` must have shape ({filters},) (groups * weight.shape[1]), got {b.shape}")
    sh, sw = pair("stride", stride)
    if isinstance(padding, str):
        raise ValueError(
            f"`padding` must be an int or a pair of ints (conv_transpose2d takes no 'same'/'valid'), "
            f"got {padding!r}"
        )
    ph, pw = pair("padding", padding, minimum=0)
    dh, dw = pair("dilation", dilation)
    oph, opw = pair("output_padding", output_padding, minimum=0)
    if (oph >= sh and oph >= dh) or (opw >= sw and opw >= dw):
        raise ValueError(
            f"`output_padding` must be smaller than `stride` or `dilation` in each dimension, "
            f"got output_padding={(oph, opw)} with stride={(sh, sw)} and dilation={(dh, dw)}"
        )
    out_h = (height - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    out_w = (width - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"output size {(out_h, out_w)} = (H-1)*stride - 2*padding + dilation*(kernel-1) "
            f"+ output_padding + 1 is not positive for `input` of spatial size {(height, width)}, "
            f"kernel {(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)}, dilation {(dh, dw)}"
        )
    dtype = result_dtype(x, w, b)
    x4 = to_kernel_array(x4, dtype)
    w4 = to_kernel_array(w4, dtype)
    # The conv2d this is the adjoint of maps an (out_h, out_w) image to
    # (height, width): its geometry, with out_h/out_w the *input* size here.
    geom = Geometry((kh, kw), (sh, sw), ((ph, ph + oph), (pw, pw + opw)), (dh, dw), (height, width))
    if layout == "NCHW":
        out = np.empty((n_img, filters, out_h, out_w), dtype=dtype)
    else:
        out = np.empty((n_img, out_h, out_w, filters), dtype=dtype)
    _input_grad(x4, w4, out, geom, groups, layout, resolve_budget(max_workspace_bytes))
    if b is not None and out.size:
        out += b[:, None, None] if layout == "NCHW" else b
    if squeeze == 2:
        return out[0, 0] if layout == "NCHW" else out[0, :, :, 0]
    return out[0] if squeeze == 1 else out
