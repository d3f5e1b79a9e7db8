"""conv3d, its gradients and conv_transpose3d: validation, methods, drivers.

Every 3-D method works on channels-first volumes (N, C, D, H, W) and reaches
the data only through the backend's N-D kernels ``im2col_nd`` /
``col2im_nd`` (``_kernels/*/unfold_nd.py``, driven by the per-axis index
tables of ``_core/padmap.py``) and NumPy's matmul (BLAS): a faster kernel
behind that interface speeds every method up without a change here.

========================= ========== ========================================== ===================
op                        method     what it does                               supports
========================= ========== ========================================== ===================
conv3d                    im2col     im2col_nd of chunks of images / output-    everything
                                     depth slabs within the workspace, one
                                     GEMM per group straight into the output
conv3d                    pointwise  the input is the patch matrix: GEMMs on it  1x1x1, stride 1,
                                                                                no padding
conv3d_input_grad,        col2im     ``W^T @ grad_output`` per chunk of images   everything
conv_transpose3d                     / channels, then col2im_nd
                          full       stride 1: conv3d of grad_output with the   stride 1, padding
                                     flipped, channel-swapped kernel             within the span,
                                                                                a finite weight
                          pointwise  ``W^T @ grad_output``, no patch matrix     1x1x1 one-to-one
conv3d_weight_grad        im2col     ``grad_output @ im2col_nd(x)^T``,           everything
                                     accumulated over chunks
                          pointwise  ``grad_output @ x^T``                       1x1x1 one-to-one
========================= ========== ========================================== ===================

Channels-last (NDHWC) runs the same drivers on channels-first copies of a
few images at a time (``_channels_last``): the copies of the input and of
the result count against the workspace budget (at most half of it, at least
one image), the patch matrix gets the rest. `explain` says so.

Estimates are times relative to one bare GEMM of the forward's size, as for
conv2d (measured with ``bench/bench_conv3d.py``; see the constants below).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .._core.backend import backend_module
from .._core.geometry import Geometry, check_transpose_extent, compact, conv_geometry, padding_arg
from .._core.padmap import tables3, with_mode
from .._core.validation import (
    as_float_array,
    describe,
    int_tuple,
    positive_int,
    result_dtype,
    shape_arg,
    to_kernel_array,
)
from .._core.workspace import chunking, chunks, scratch
from .machine import current_machine
from .problem import (ConvProblem, argument_names, finite_weight_only, transpose_string_padding,
                      weight_checked)
from .plan import is_pointwise
from .registry import Choice, Method, candidates, check_method, choose_here, register

__all__ = ["CONV3D_OPS", "Conv3dCall", "explain3d", "grad_output3d", "prepare_conv3d",
           "pick3d", "prepare_transpose3d", "run_conv3d", "run_input_grad3d", "run_weight_grad3d",
           "shaped_problem3d"]

LAYOUTS = ("NCDHW", "NDHWC")
CONV3D_OPS = ("conv3d", "conv3d_input_grad", "conv3d_weight_grad", "conv_transpose3d")
INPUT_GRAD_OPS = ("conv3d_input_grad", "conv_transpose3d")

# Estimates (time / bare GEMM of the forward's size). The forward's patch
# matrix is prod(kernel) times the volume per channel, so its im2col pass
# weighs more than conv2d's; the channels-last copies add two passes over
# input and output. These constants model N-D kernels as fast per element
# as the 2-D ones (col2im about im2col's cost; conv2d's measured ratios
# scaled up), not the NumPy placeholder im2col_nd/col2im_nd both backends run
# until the Numba kernel lands: with it bench/bench_conv3d.py measured (AMD
# EPYC, 2 threads, float32, three layers, two runs on a shared machine)
# conv3d 4.7-17.6x the bare GEMM (channels-last 0.8-1.7x channels-first),
# the weight gradient 4.3-13.8x, col2im 13-600x, 72-100 % of each call
# inside im2col_nd/col2im_nd (the NumPy col2im_nd costs taps x
# positions whatever the channels: 7.4 s for 1 x 1 x 16x128x128 k3, where
# 'full' takes 2.1 s). The ordering below -- pointwise GEMMs before im2col,
# the full correlation where the input has at least as many channels as
# there are filters -- is the one conv2d measured.
FORWARD_IM2COL = 1.3
FORWARD_POINTWISE = 0.9
CHANNELS_LAST = 0.15
INPUT_COL2IM = 2.0
INPUT_FULL = 1.4
INPUT_POINTWISE = 1.24
WEIGHT_IM2COL = 1.84
WEIGHT_POINTWISE = 1.37


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


def layout_arg(layout) -> str:
    """'NCDHW' or 'NDHWC' (case-insensitive)."""
    if not isinstance(layout, str) or layout.upper() not in LAYOUTS:
        raise ValueError(f"`layout` must be 'NCDHW' or 'NDHWC', got {describe(layout)}")
    return layout.upper()


def _per_axis(name: str, value, what: str = "an int or a tuple of 3 ints"):
    """`value` with a one-element sequence repeated for the 3 axes; a
    sequence of another length than 1 or 3 is a ValueError naming both."""
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return (value[0],) * 3
        if len(value) != 3:
            raise ValueError(f"`{name}` must be {what} (one per axis D, H, W): expected length 3, "
                             f"got length {len(value)}: {describe(value)}")
    return value


def geometry3d(in_size, kernel, stride, padding, dilation) -> Geometry:
    """conv3d's geometry: `conv_geometry` after the length checks."""
    stride = _per_axis("stride", stride)
    dilation = _per_axis("dilation", dilation)
    padding = _per_axis("padding", padding,
                        "an int, a tuple of 3 ints, 3 (low, high) pairs, 'valid' or 'same'")
    return conv_geometry(tuple(in_size), tuple(kernel), stride, padding, dilation,
                         kernel_name="weight")


def _operands(input, weight, bias, groups, layout, channels: str, weight_what: str):
    layout = layout_arg(layout)
    x = as_float_array("input", input)
    w = as_float_array("weight", weight)
    b = None if bias is None else as_float_array("bias", bias)
    groups = positive_int("groups", groups)
    dims = f"N, {channels}, D, H, W" if layout == "NCDHW" else f"N, D, H, W, {channels}"
    if x.ndim not in (4, 5):
        raise ValueError(f"`input` must be 5-D ({dims}) or 4-D (unbatched), "
                         f"got a {x.ndim}-D array of shape {x.shape}")
    if w.ndim != 5:
        raise ValueError(f"`weight` must be 5-D {weight_what}, got a {w.ndim}-D array of "
                         f"shape {w.shape}")
    squeeze = x.ndim == 4
    x5 = x[None] if squeeze else x
    if layout == "NCDHW":
        n_img, c, size = x5.shape[0], x5.shape[1], tuple(x5.shape[2:])
    else:
        n_img, c, size = x5.shape[0], x5.shape[4], tuple(x5.shape[1:4])
    if c % groups:
        raise ValueError(f"`groups`={groups} must divide the input channels, got {c} channels")
    if min(w.shape[2:]) < 1:
        raise ValueError(f"`weight` must have a non-empty kernel, got shape {w.shape}")
    return layout, x5, w, b, groups, squeeze, n_img, c, size


def _bias_arg(b, filters: int, how: str = ""):
    if b is not None and (b.ndim != 1 or b.shape[0] != filters):
        raise ValueError(f"`bias` must have shape ({filters},){how}, got {b.shape}")


@dataclass
class Conv3dCall:
    """A validated conv3d (or conv_transpose3d) call: kernel-ready 5-D arrays,
    the `ConvProblem` of the forward convolution, and the result's shape."""

    x: np.ndarray          # (N, C, D, H, W) or (N, D, H, W, C), C-contiguous
    weight: np.ndarray     # (F, C/groups, kd, kh, kw) (conv_transpose3d: (C_in, F/groups, ...))
    bias: np.ndarray | None
    problem: ConvProblem   # the forward conv3d (for conv_transpose3d: the one it is the adjoint of)
    squeeze: bool          # unbatched input: drop the batch axis of the result
    out_shape: tuple       # the 5-D result

    @property
    def layout(self) -> str:
        return self.problem.layout

    def finish(self, out: np.ndarray) -> np.ndarray:
        return out[0] if self.squeeze else out


def _cf_shape(layout: str, n_img: int, channels: int, size: tuple) -> tuple:
    return (n_img, channels, *size) if layout == "NCDHW" else (n_img, *size, channels)


def prepare_conv3d(input, weight, bias, stride, padding, dilation, groups, layout,
                   padding_mode="zeros") -> Conv3dCall:
    """Validate conv3d's arguments once."""
    layout, x, w, b, groups, squeeze, n_img, channels, size = _operands(
        input, weight, bias, groups, layout, "C", "(F, C/groups, kd, kh, kw)")
    filters, cg = w.shape[:2]
    if filters % groups:
        raise ValueError(f"`groups`={groups} must divide the filters (weight.shape[0]), got {filters}")
    if cg * groups != channels:
        raise ValueError(
            f"`weight` of shape {w.shape} expects {cg * groups} input channels with groups={groups}, "
            f"but `input` of shape {np.shape(input)} has {channels}")
    _bias_arg(b, filters)
    geom = with_mode(geometry3d(size, w.shape[2:], stride, padding, dilation), size, padding_mode)
    dtype = result_dtype(x, w, b)
    problem = ConvProblem(n_img, channels, filters, size, geom, groups, dtype, layout, b is not None)
    return Conv3dCall(to_kernel_array(x, dtype), to_kernel_array(w, dtype),
                      None if b is None else to_kernel_array(b, dtype), problem, squeeze,
                      _cf_shape(layout, n_img, filters, geom.out))


def prepare_transpose3d(input, weight, bias, stride, padding, output_padding, groups, dilation,
                        layout) -> Conv3dCall:
    """Validate conv_transpose3d's arguments once; the problem is the conv3d
    it is the adjoint of (its input: the result; its output: `input`)."""
    layout, x, w, b, groups, squeeze, n_img, c_in, size = _operands(
        input, weight, bias, groups, layout, "C_in", "(C_in, F/groups, kd, kh, kw)")
    if w.shape[0] != c_in:
        raise ValueError(
            f"`weight` of shape {w.shape} is (C_in, F/groups, kd, kh, kw) for {w.shape[0]} input "
            f"channels, but `input` of shape {np.shape(input)} has {c_in}")
    kernel = tuple(w.shape[2:])
    filters = w.shape[1] * groups
    _bias_arg(b, filters, " (groups * weight.shape[1])")
    stride = int_tuple("stride", _per_axis("stride", stride), 3)
    dilation = int_tuple("dilation", _per_axis("dilation", dilation), 3)
    opad = int_tuple("output_padding", _per_axis("output_padding", output_padding), 3, minimum=0)
    if isinstance(padding, str):  # TensorFlow's conv3d_transpose rule
        pads, opad = transpose_string_padding(padding, kernel, stride, dilation, opad)
    else:
        pads = padding_arg(_per_axis("padding", padding,
                                     "an int, a tuple of 3 ints or 3 (low, high) pairs"),
                           kernel, dilation, stride, allow_strings=False)
    if any(op >= s and op >= d for op, s, d in zip(opad, stride, dilation)):
        raise ValueError(
            f"`output_padding` must be smaller than `stride` or `dilation` in each dimension, "
            f"got output_padding={opad} with stride={stride} and dilation={dilation}")
    check_transpose_extent(size, kernel, stride, dilation)
    out_size = tuple((n - 1) * s - lo - hi + d * (k - 1) + op + 1 for n, s, (lo, hi), d, k, op
                     in zip(size, stride, pads, dilation, kernel, opad))
    if min(out_size) < 1:
        raise ValueError(
            f"output size {out_size} = (size-1)*stride - padding_low - padding_high + "
            f"dilation*(kernel-1) + output_padding + 1 is not positive for `input` of spatial size "
            f"{size}, kernel {kernel}, stride {stride}, padding {pads}, dilation {dilation}")
    dtype = result_dtype(x, w, b)
    geom = compact(Geometry(kernel, stride, tuple((lo, hi + op) for (lo, hi), op in zip(pads, opad)),
                            dilation, size), out_size)
    problem = ConvProblem(n_img, filters, c_in, out_size, geom, groups, dtype, layout, False)
    return Conv3dCall(to_kernel_array(x, dtype), to_kernel_array(w, dtype),
                      None if b is None else to_kernel_array(b, dtype), problem, squeeze,
                      _cf_shape(layout, n_img, filters, out_size))


def grad_output3d(go: np.ndarray, call: Conv3dCall) -> np.ndarray:
    """`grad_output` as a kernel-ready 5-D array, checked against the shape
    conv3d returns for the validated `call`."""
    expected = call.out_shape[1:] if call.squeeze else call.out_shape
    if go.shape != expected:
        g = call.problem.geom
        raise ValueError(
            f"`grad_output` must have shape {expected}, the shape conv3d returns for this input, "
            f"weight and geometry (stride={g.stride}, dilation={g.dilation}, "
            f"groups={call.problem.groups}, layout={call.layout!r}), got an array of shape {go.shape}")
    return to_kernel_array(go.reshape(call.out_shape), call.x.dtype)


_SHAPE_FORMS = {
    "input": ((4, 5), "(N, C, D, H, W) or (C, D, H, W)"),
    "weight": ((5,), "(F, C/groups, kd, kh, kw)"),
}


def shaped_problem3d(role, shape, operand, grad_output, stride, padding, dilation, groups, layout,
                     padding_mode="zeros"):
    """The gradient with respect to `role` (``"input"`` / ``"weight"``),
    given by its `shape`: validated as conv3d would, errors naming
    ``<role>_shape``. Returns the shape, the call (its `role` array an
    uninitialised result of the result dtype) and grad_output (5-D)."""
    name = f"{role}_shape"
    shape = shape_arg(name, shape, *_SHAPE_FORMS[role])
    other = as_float_array("weight" if role == "input" else "input", operand)
    go = as_float_array("grad_output", grad_output)
    result = np.empty(shape, dtype=result_dtype(other, go))
    x, w = (result, other) if role == "input" else (other, result)
    with argument_names(**{role: name}):
        call = prepare_conv3d(x, w, None, stride, padding, dilation, groups, layout, padding_mode)
    return shape, call, grad_output3d(go, call)


# ---------------------------------------------------------------------------
# channels-first drivers: (N, C, D, H, W) arrays, C-contiguous, non-empty
# ---------------------------------------------------------------------------


def _tables(in_size, geom):
    return tables3(tuple(in_size), geom, geom.mode)


def _cols_row_bytes(channels: int, geom: Geometry, itemsize: int) -> int:
    """Bytes of the patch matrix per output depth of one image."""
    return channels * geom.kernel_area * geom.out[1] * geom.out[2] * itemsize


def forward_im2col(x, w, out, geom, groups, budget) -> None:
    """``out = conv3d(x, w)``: per chunk of images (or output-depth slab of
    one image), im2col_nd into the reused scratch, then one GEMM per group
    writing straight into the output."""
    backend = backend_module()
    n_img, channels = x.shape[:2]
    filters = w.shape[0]
    fg, cg = filters // groups, channels // groups
    kg = cg * geom.kernel_area
    plane = geom.out[1] * geom.out[2]
    t0, t1, t2 = _tables(x.shape[2:], geom)
    wm = w.reshape(groups, fg, kg)
    out3 = out.reshape(n_img, filters, geom.out_area)
    for n0, n1, r0, r1 in chunks(n_img, geom.out[0], _cols_row_bytes(channels, geom, x.itemsize),
                                 budget):
        cols = scratch((n1 - n0, channels * geom.kernel_area, (r1 - r0) * plane), x.dtype)
        backend.im2col_nd(x[n0:n1], cols, np.ascontiguousarray(t0[:, r0:r1]), t1, t2)
        for g in range(groups):
            np.matmul(wm[g], cols[:, g * kg:(g + 1) * kg],
                      out=out3[n0:n1, g * fg:(g + 1) * fg, r0 * plane:r1 * plane])


def forward_pointwise(x, w, out, geom, groups, budget) -> None:
    """1x1x1, stride 1, no padding: the input is the patch matrix."""
    n_img, channels = x.shape[:2]
    filters = w.shape[0]
    fg, cg = filters // groups, channels // groups
    x3 = x.reshape(n_img, channels, -1)
    out3 = out.reshape(n_img, filters, -1)
    wm = w.reshape(groups, fg, cg)
    for g in range(groups):
        np.matmul(wm[g], x3[:, g * cg:(g + 1) * cg], out=out3[:, g * fg:(g + 1) * fg])


def col2im_chunking(n_img, channels, geom, itemsize, budget) -> tuple[int, int, int]:
    """(images, channels, output depths) per chunk of the col2im route:
    col2im_nd overwrites whole volumes, so chunk over images, then channels
    of one image (their patch-matrix rows are independent), then -- one
    channel's patch matrix over the budget -- output-depth slabs of one
    channel, summed into the result through a temporary."""
    per_channel = geom.kernel_area * geom.out_area * itemsize
    if channels * per_channel <= budget:
        return max(1, min(n_img, budget // (channels * per_channel))), channels, geom.out[0]
    if per_channel <= budget:
        return 1, max(1, min(channels, budget // per_channel)), geom.out[0]
    per_depth = geom.kernel_area * geom.out[1] * geom.out[2] * itemsize
    return 1, 1, max(1, min(geom.out[0], budget // per_depth))


def input_grad_col2im(go, w, out, geom, groups, budget) -> None:
    """``out = col2im_nd(W^T @ go)``, chunk by chunk within `budget`."""
    backend = backend_module()
    n_img, channels = out.shape[:2]
    filters = w.shape[0]
    fg, cg = filters // groups, channels // groups
    kk = geom.kernel_area
    plane = geom.out[1] * geom.out[2]
    t0, t1, t2 = _tables(out.shape[2:], geom)
    wm = w.reshape(filters, cg * kk)
    go3 = go.reshape(n_img, filters, geom.out_area)
    images, chans, depths = col2im_chunking(n_img, channels, geom, out.itemsize, budget)
    for n0 in range(0, n_img, images):
        n1 = min(n_img, n0 + images)
        for c0 in range(0, channels, chans):
            c1 = min(channels, c0 + chans)
            target = out[n0:n1, c0:c1]          # contiguous: all channels, or one image
            if depths < geom.out[0]:
                target[...] = 0
            for r0 in range(0, geom.out[0], depths):
                r1 = min(geom.out[0], r0 + depths)
                cols = scratch((n1 - n0, (c1 - c0) * kk, (r1 - r0) * plane), out.dtype)
                for g in range(c0 // cg, (c1 - 1) // cg + 1):
                    lo, hi = max(c0, g * cg), min(c1, (g + 1) * cg)
                    fs = slice(g * fg, (g + 1) * fg)
                    np.matmul(wm[fs, (lo - g * cg) * kk:(hi - g * cg) * kk].T,
                              go3[n0:n1, fs, r0 * plane:r1 * plane],
                              out=cols[:, (lo - c0) * kk:(hi - c0) * kk])
                if depths == geom.out[0]:
                    backend.col2im_nd(cols, target, t0, t1, t2)
                    continue
                # the input depths this slab's windows read, and the slab's
                # adjoint into a temporary of just those depths
                rows = t0[:, r0:r1]
                read = rows[rows >= 0]
                if read.size == 0:
                    continue
                first, last = int(read.min()), int(read.max()) + 1
                shifted = np.ascontiguousarray(np.where(rows >= 0, rows - first, rows))
                part = np.empty((n1 - n0, c1 - c0, last - first, *out.shape[3:]), out.dtype)
                backend.col2im_nd(cols, part, shifted, t1, t2)
                target[:, :, first:last] += part


def full_geometry(geom: Geometry, in_size: tuple) -> Geometry | None:
    """With stride 1 the input gradient is conv3d of the output gradient
    with the flipped, channel-swapped kernel, padded by the dilated span
    minus the forward padding: that geometry (producing `in_size`), or None
    when strided or the forward padding exceeds the span."""
    if any(s != 1 for s in geom.stride):
        return None
    pads = []
    for (lo, _), k, d, n, o in zip(geom.padding, geom.kernel, geom.dilation, in_size, geom.out):
        low = d * (k - 1) - lo
        high = n - 1 + d * (k - 1) + 1 - o - low
        if low < 0 or high < 0:
            return None
        pads.append((low, high))
    return geom.replace(padding=tuple(pads), out=tuple(in_size))


def flipped_transposed(w: np.ndarray, groups: int) -> np.ndarray:
    """(F, C/groups, kd, kh, kw) -> (C, F/groups, kd, kh, kw), each group's
    filter and channel axes swapped and the taps flipped."""
    filters, cg = w.shape[:2]
    fg = filters // groups
    flipped = w.reshape(groups, fg, cg, *w.shape[2:]).transpose(0, 2, 1, 3, 4, 5)[..., ::-1, ::-1, ::-1]
    return np.ascontiguousarray(flipped).reshape(groups * cg, fg, *w.shape[2:])


def input_grad_full(go, w, out, geom, groups, budget) -> None:
    forward_im2col(go, flipped_transposed(w, groups), out, full_geometry(geom, out.shape[2:]),
                   groups, budget)


def input_grad_pointwise(go, w, out, geom, groups, budget) -> None:
    n_img, channels = out.shape[:2]
    filters = w.shape[0]
    fg, cg = filters // groups, channels // groups
    wm = w.reshape(filters, cg)
    go3 = go.reshape(n_img, filters, -1)
    out3 = out.reshape(n_img, channels, -1)
    for g in range(groups):
        np.matmul(wm[g * fg:(g + 1) * fg].T, go3[:, g * fg:(g + 1) * fg],
                  out=out3[:, g * cg:(g + 1) * cg])


def weight_grad_im2col(x, go, gw, geom, groups, budget) -> None:
    """``gw += go @ im2col_nd(x)^T``, accumulated over chunks of images /
    output-depth slabs in the result dtype (the caller zeroes `gw`)."""
    backend = backend_module()
    n_img, channels = x.shape[:2]
    filters = gw.shape[0]
    fg, kg = filters // groups, (channels // groups) * geom.kernel_area
    plane = geom.out[1] * geom.out[2]
    t0, t1, t2 = _tables(x.shape[2:], geom)
    gw3 = gw.reshape(groups, fg, kg)
    go3 = go.reshape(n_img, filters, geom.out_area)
    # gw^T = cols @ go^T: OpenBLAS runs this orientation (a long inner
    # dimension, the patch matrix untransposed) 3.5x faster than go @ cols^T
    # (64 x 864 x 18816, float32, 2 threads: 62 against 215 ms)
    part = np.empty((kg, fg), gw.dtype)
    for n0, n1, r0, r1 in chunks(n_img, geom.out[0], _cols_row_bytes(channels, geom, x.itemsize),
                                 budget):
        cols = scratch((n1 - n0, channels * geom.kernel_area, (r1 - r0) * plane), x.dtype)
        backend.im2col_nd(x[n0:n1], cols, np.ascontiguousarray(t0[:, r0:r1]), t1, t2)
        for i in range(n1 - n0):
            for g in range(groups):
                np.matmul(cols[i, g * kg:(g + 1) * kg],
                          go3[n0 + i, g * fg:(g + 1) * fg, r0 * plane:r1 * plane].T, out=part)
                gw3[g] += part.T


def weight_grad_pointwise(x, go, gw, geom, groups, budget) -> None:
    """``gw += go @ x^T`` (1x1x1 one-to-one; the caller zeroes `gw`)."""
    n_img, channels = x.shape[:2]
    filters = gw.shape[0]
    fg, cg = filters // groups, channels // groups
    x3 = x.reshape(n_img, channels, -1)
    go3 = go.reshape(n_img, filters, -1)
    gw3 = gw.reshape(groups, fg, cg)
    part = np.empty((cg, fg), gw.dtype)
    for i in range(n_img):
        for g in range(groups):
            np.matmul(x3[i, g * cg:(g + 1) * cg], go3[i, g * fg:(g + 1) * fg].T, out=part)
            gw3[g] += part.T


# ---------------------------------------------------------------------------
# channels-last: the same drivers on channels-first copies of a few images
# ---------------------------------------------------------------------------


def channels_last_chunking(n_img: int, per_image: int, budget: int) -> tuple[int, int]:
    """(images per chunk, bytes left for the patch matrix): the
    channels-first copies of a chunk take at most half the budget (at least
    one image), the patch matrix the rest (at least one byte: the drivers
    then build the smallest chunk they can)."""
    images = max(1, min(n_img, (budget // 2) // max(per_image, 1)))
    return images, max(1, budget - images * per_image)


def _to_first(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def _channels_last(driver, a, w, out, geom, groups, budget) -> None:
    """`driver` (a channels-first forward or input-gradient driver) on NDHWC
    `a` into NDHWC `out`, through channels-first copies of a few images."""
    n_img = a.shape[0]
    per_image = (a[0].size + out[0].size) * a.itemsize
    images, left = channels_last_chunking(n_img, per_image, budget)
    for n0 in range(0, n_img, images):
        n1 = min(n_img, n0 + images)
        part = np.empty((n1 - n0, out.shape[-1], *out.shape[1:-1]), out.dtype)
        driver(_to_first(a[n0:n1]), w, part, geom, groups, left)
        out[n0:n1] = np.moveaxis(part, 1, -1)


def _channels_last_weight(driver, x, go, gw, geom, groups, budget) -> None:
    n_img = x.shape[0]
    per_image = (x[0].size + go[0].size) * x.itemsize
    images, left = channels_last_chunking(n_img, per_image, budget)
    for n0 in range(0, n_img, images):
        n1 = min(n_img, n0 + images)
        driver(_to_first(x[n0:n1]), _to_first(go[n0:n1]), gw, geom, groups, left)


# ---------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------


def one_to_one(problem: ConvProblem) -> bool:
    """1x1x1, stride 1, no padding: the input is the patch matrix."""
    return is_pointwise(problem.geom) and tuple(problem.geom.out) == tuple(problem.in_size)


def _everything(problem, machine):
    return None


def _pointwise_only(problem, machine):
    return None if one_to_one(problem) else "it needs a 1x1x1 kernel, stride 1 and no padding"


def _full_supports(problem, machine):
    if problem.geom.mode != "zeros":
        return f"its flipped-kernel convolution pads with zeros, not padding_mode={problem.geom.mode!r}"
    if any(s != 1 for s in problem.geom.stride):
        return f"it needs stride 1, got stride {problem.geom.stride}"
    if full_geometry(problem.geom, problem.in_size) is None:
        return "the forward padding exceeds the dilated kernel span minus one"
    return None


def _layout_cost(problem) -> float:
    return CHANNELS_LAST if problem.layout == "NDHWC" else 0.0


def _full_estimate(problem, machine):
    # its patch matrix is (filters / channels) times col2im's
    ratio = problem.filters / max(problem.channels, 1)
    return INPUT_FULL * max(1.0, ratio) + _layout_cost(problem)


def _run(driver):
    """A method's run: the channels-first `driver`, or, for NDHWC, the same
    on channels-first copies."""
    def run(problem, a, w, out, budget):
        if problem.layout == "NCDHW":
            driver(a, w, out, problem.geom, problem.groups, budget)
        else:
            _channels_last(driver, a, w, out, problem.geom, problem.groups, budget)
    return run


def _run_weight(driver):
    def run(problem, x, go, gw, budget):
        gw[...] = 0
        if problem.layout == "NCDHW":
            driver(x, go, gw, problem.geom, problem.groups, budget)
        else:
            _channels_last_weight(driver, x, go, gw, problem.geom, problem.groups, budget)
    return run


register(Method("conv3d", "im2col",
                "im2col_nd of chunks of images or output-depth slabs within the workspace, one "
                "GEMM per group straight into the output; any problem",
                _everything, lambda p, m: FORWARD_IM2COL + _layout_cost(p), _run(forward_im2col)))
register(Method("conv3d", "pointwise",
                "1x1x1 stride-1 unpadded kernels: GEMMs straight on the input, no copy",
                _pointwise_only, lambda p, m: FORWARD_POINTWISE + _layout_cost(p),
                _run(forward_pointwise)))
for _op in INPUT_GRAD_OPS:
    register(Method(_op, "col2im",
                    "W^T @ grad_output, one GEMM per group, then col2im_nd sums each patch entry "
                    "onto its voxel; any problem",
                    _everything, lambda p, m: INPUT_COL2IM + _layout_cost(p), _run(input_grad_col2im)))
    register(Method(_op, "full",
                    "stride 1: conv3d of grad_output with the flipped, channel-swapped kernel "
                    "(the full correlation) by im2col; no col2im",
                    _full_supports, _full_estimate, _run(input_grad_full), exact=finite_weight_only))
    register(Method(_op, "pointwise",
                    "1x1x1 stride-1 unpadded kernels: W^T @ grad_output, one GEMM per group, no copy",
                    _pointwise_only, lambda p, m: INPUT_POINTWISE + _layout_cost(p),
                    _run(input_grad_pointwise)))
register(Method("conv3d_weight_grad", "im2col",
                "im2col_nd of chunks of images or output-depth slabs within the workspace, "
                "grad_output @ cols^T accumulated; any problem",
                _everything, lambda p, m: WEIGHT_IM2COL + _layout_cost(p), _run_weight(weight_grad_im2col)))
register(Method("conv3d_weight_grad", "pointwise",
                "1x1x1 stride-1 unpadded kernels: grad_output @ input^T, no copy",
                _pointwise_only, lambda p, m: WEIGHT_POINTWISE + _layout_cost(p),
                _run_weight(weight_grad_pointwise)))


# ---------------------------------------------------------------------------
# running and explaining
# ---------------------------------------------------------------------------


def pick3d(op, problem, budget, method, result, operands):
    """The method to run, or None where there is nothing to compute (an
    empty result or operand; `method` is still checked by name)."""
    if result.size and all(a.size for a in operands):
        return choose_here(op, problem, budget, method)
    check_method(op, method)
    return None


def run_conv3d(call: Conv3dCall, budget: int, method="auto") -> np.ndarray:
    """conv3d of a validated call: the 5-D result, bias added."""
    out = np.empty(call.out_shape, dtype=call.x.dtype)
    chosen = pick3d("conv3d", call.problem, budget, method, out, (call.x, call.weight))
    if chosen is None:
        out[...] = 0
    else:
        chosen.run(call.problem, call.x, call.weight, out, budget)
    add_bias(out, call.bias, call.layout)
    return out


def add_bias(out, bias, layout) -> None:
    if bias is not None and out.size:
        out += bias[:, None, None, None] if layout == "NCDHW" else bias


def run_input_grad3d(op, problem, go, w, out, budget, method="auto") -> None:
    """Overwrite `out` (the forward's input-shaped, 5-D) with the adjoint of
    conv3d(., w) applied to `go`, by `method` of `op`."""
    problem = weight_checked(problem, w)
    chosen = pick3d(op, problem, budget, method, out, (go, w))
    if chosen is None:
        out[...] = 0
    else:
        chosen.run(problem, go, w, out, budget)


def run_weight_grad3d(problem, x, go, gw, budget, method="auto") -> None:
    """Overwrite `gw` with the weight gradient of conv3d(x, .) for `go`."""
    chosen = pick3d("conv3d_weight_grad", problem, budget, method, gw, (go, x))
    if chosen is None:
        gw[...] = 0
    else:
        chosen.run(problem, x, go, gw, budget)


def describe_plan(op: str, problem: ConvProblem, machine, method: str) -> str:
    """How `method` of `op` cuts `problem`'s work, in one line."""
    if problem.flops == 0:
        return "nothing to compute (an empty axis)"
    g = problem.geom
    itemsize = np.dtype(problem.dtype).itemsize
    budget = machine.budget
    text = ""
    if problem.layout == "NDHWC":
        # the copies: input and output of the forward, or the two operands of a gradient
        per_image = (problem.channels * math.prod(problem.in_size)
                     + problem.filters * math.prod(g.out)) * itemsize
        images, budget = channels_last_chunking(problem.batch, per_image, budget)
        text = (f"NDHWC through channels-first copies of {images} image(s) at a time "
                f"({images * per_image / 2**20:.3g} MiB of the workspace); ")
    if method == "pointwise":
        return text + "one GEMM per group on the whole batch, no patch matrix"
    if method == "col2im":
        images, chans, depths = col2im_chunking(problem.batch, problem.channels, g, itemsize, budget)
        count = (-(-problem.batch // images) * -(-problem.channels // chans)
                 * -(-g.out[0] // depths))
        how = f"{images} image(s) x {chans} channel(s) x {depths} output depth(s)"
        return text + f"{count} chunk(s) of W^T @ grad_output ({how}), each summed back by col2im_nd"
    channels = problem.channels
    if method == "full":
        g, channels = full_geometry(g, problem.in_size), problem.filters
        text += f"conv3d of grad_output with the flipped kernel (padding {g.padding}): "
    images, depths = chunking(problem.batch, g.out[0], _cols_row_bytes(channels, g, itemsize), budget)
    count = -(-problem.batch // images) * -(-g.out[0] // depths)
    what = ("grad_output @ cols^T accumulated" if op == "conv3d_weight_grad"
            else "one GEMM per group each")
    return (text + f"{count} chunk(s) of im2col_nd ({images} image(s) x {depths} output "
            f"depth(s), {channels * g.kernel_area} patch rows), {what}")


_WHAT = {"conv3d": "", "conv3d_input_grad": "input gradient of conv3d ",
         "conv_transpose3d": "adjoint of conv3d ", "conv3d_weight_grad": "weight gradient of conv3d "}


def explain3d(op: str, problem: ConvProblem, budget: int, method="auto", weight=None) -> Choice:
    """The `Choice` the 3-D op `op` makes for `problem`, without running it
    (`weight`: an input gradient's or transposed convolution's weight, whose
    inf or NaN rule methods out)."""
    if weight is not None and op in INPUT_GRAD_OPS:
        problem = weight_checked(problem, weight)
    machine = current_machine(np.dtype(problem.dtype), budget)
    if problem.flops == 0:
        check_method(op, method)
        name = "im2col" if op in ("conv3d", "conv3d_weight_grad") else "col2im"
    else:
        name = choose_here(op, problem, budget, method).name
    return Choice(op, name, method.lower(), _WHAT[op] + problem.describe(), machine.describe(),
                  tuple(candidates(op, problem, machine)), describe_plan(op, problem, machine, name))


# ---------------------------------------------------------------------------
# 2-D (and 1-D) problems with a padding mode: the drivers above on a unit
# depth axis. The 2-D kernels pad with zeros only; the N-D ones read any mode
# through the padmap tables, so conv2d and its gradients hand such problems
# here (``run_conv2d``, ``run_input_grad``, ``run_weight_grad`` check
# ``geom.mode``). The arrays are views, no copy.
# ---------------------------------------------------------------------------

_VOLUME_LAYOUTS = {"NCHW": "NCDHW", "NHWC": "NDHWC"}
# 2-D method names the 3-D op has too (the others pad with zeros)
_PLANAR_METHODS = {"conv2d": ("im2col",), "conv2d_input_grad": ("col2im",),
                   "conv_transpose2d": ("col2im",), "conv2d_weight_grad": ("im2col",)}
_VOLUME_OPS = {"conv2d": "conv3d", "conv2d_input_grad": "conv3d_input_grad",
               "conv_transpose2d": "conv_transpose3d", "conv2d_weight_grad": "conv3d_weight_grad"}


def volume(a: np.ndarray, layout: str) -> np.ndarray:
    """A 4-D image array (or weight, layout None) as 5-D with depth 1 (a view)."""
    return a[:, None] if layout == "NHWC" else a[:, :, None]


def volume_problem(problem: ConvProblem) -> ConvProblem:
    """The 3-D problem of depth 1 that a 2-D `problem` is."""
    g = problem.geom
    geom = Geometry((1,) + tuple(g.kernel), (1,) + tuple(g.stride), ((0, 0),) + tuple(g.padding),
                    (1,) + tuple(g.dilation), (1,) + tuple(g.out), g.mode)
    return problem._replace(in_size=(1,) + tuple(problem.in_size), geom=geom,
                            layout=_VOLUME_LAYOUTS[problem.layout])


def planar_method(op: str, problem: ConvProblem, method) -> str:
    """`method` of the 2-D `op` checked for a padding-mode problem: 'auto'
    or a method the N-D kernels run; ValueError in the 2-D op's words."""
    method = check_method(op, method)
    allowed = _PLANAR_METHODS[op]
    if method != "auto" and method not in allowed:
        names = ", ".join(repr(n) for n in ("auto", *allowed))
        raise ValueError(
            f"`method`={method!r} cannot run this {op}: it pads with zeros, not "
            f"padding_mode={problem.geom.mode!r}; methods that can: {names}")
    return method


def run_planar(op: str, problem: ConvProblem, a, w, out, budget: int, method="auto") -> None:
    """`op` (a 2-D forward or gradient, its arrays 4-D) on its unit-depth
    volume: conv2d ``out = conv(a=x, w)`` (no bias), the input gradients
    ``out = adjoint(a=grad_output, w)``, the weight gradient ``out =
    dW(a=x, w=grad_output)``."""
    method = planar_method(op, problem, method)
    volume_op = _VOLUME_OPS[op]
    p3 = volume_problem(problem)
    layout = problem.layout
    if op == "conv2d_weight_grad":
        a5, w5, out5 = volume(a, layout), volume(w, layout), volume(out, None)
    else:
        a5, w5 = volume(a, layout), volume(w, None)
        out5 = volume(out, layout)
    chosen = pick3d(volume_op, p3, budget, method, out5, (a5, w5))
    if chosen is None:
        out[...] = 0
    else:
        chosen.run(p3, a5, w5, out5, budget)


def explain_planar(op: str, problem: ConvProblem, budget: int, method="auto") -> Choice:
    """`explain` of a padding-mode 2-D problem: its unit-depth volume's choice."""
    method = planar_method(op, problem, method)
    choice = explain3d(_VOLUME_OPS[op], volume_problem(problem), budget, method)
    return dataclasses.replace(choice, op=op, problem=(
        f"{problem.describe()} (run as a volume of depth 1: padding modes need the N-D kernels)"))
