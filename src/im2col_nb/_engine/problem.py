"""Problems: a call's validated arrays and its description.

`prepare_conv` validates conv2d-style arguments once and returns a
`ConvCall`: kernel-ready arrays (C-contiguous, float32/float64), how to
shape the result back to what the user passed, and `ConvCall.problem`, a
`ConvProblem` -- the shapes, dtype, layout, geometry and groups alone,
hashable, which is what methods are chosen and plans cached by.
`prepare_transpose` does the same for conv_transpose2d (`TransposeCall`,
whose problem is the conv2d it is the adjoint of).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._core.geometry import (
    Geometry,
    check_transpose_extent,
    compact,
    conv_geometry,
    padding_arg,
)
from .._core.padmap import with_mode
from .._core.validation import (
    as_float_array,
    check_layout,
    check_ndim,
    pair,
    positive_int,
    result_dtype,
    shape_arg,
    to_kernel_array,
)
from .plan import is_pointwise


class ConvProblem(NamedTuple):
    """What a convolution is, without its data: the key methods are chosen
    and plans cached by.

    ``in_size`` and the geometry are per spatial axis; ``layout`` is
    'NCHW' (channels first) or 'NHWC' (channels last). ``finite_weight``
    is False when the weight of an input gradient or transposed
    convolution holds inf or NaN (`weight_checked`): the methods that
    multiply zero padding by the weight cannot be exact then.
    """

    batch: int
    channels: int
    filters: int
    in_size: tuple
    geom: Geometry
    groups: int
    dtype: np.dtype
    layout: str
    has_bias: bool
    finite_weight: bool = True

    @property
    def pointwise(self) -> bool:
        """1x1 kernel, stride 1, no padding: the input is the patch matrix."""
        return is_pointwise(self.geom)

    @property
    def flops(self) -> int:
        """Multiply-adds x 2: the bare GEMM's work."""
        return (2 * self.batch * self.filters * (self.channels // self.groups)
                * self.geom.kernel_area * self.geom.out_area)

    def describe(self) -> str:
        """One line: shapes, geometry, dtype, layout."""
        g = self.geom
        pads = [lo if lo == hi else (lo, hi) for lo, hi in g.padding]
        size = "x".join(map(str, self.in_size))
        kernel = "x".join(map(str, g.kernel))
        text = (f"{self.batch} x {self.channels} ch {size} ({self.layout}, {self.dtype}) * "
                f"{self.filters} filters {kernel}, stride {g.stride}, padding {tuple(pads)}, "
                f"dilation {g.dilation}")
        if g.mode != "zeros":
            text += f", padding_mode {g.mode!r}"
        if self.groups > 1:
            text += f", groups {self.groups}"
        if not self.finite_weight:
            text += ", weight with inf or NaN"
        return text + (", bias" if self.has_bias else "")


# Why a method that multiplies zero padding by the weight cannot run a problem
# whose weight holds inf or NaN (0 * inf is NaN; the padding must add nothing).
NONFINITE_WEIGHT = ("the weight holds inf or NaN, which times the zero padding would put NaN "
                    "where no inf or NaN reaches")


def finite_weight_only(problem) -> str | None:
    """`Method.exact` of the methods that multiply zero padding by the weight."""
    return None if problem.finite_weight else NONFINITE_WEIGHT


def weight_checked(problem: ConvProblem, weight: np.ndarray) -> ConvProblem:
    """`problem` with ``finite_weight`` read from `weight` (weights are
    small: one pass over them)."""
    finite = bool(np.isfinite(weight).all())
    return problem if finite == problem.finite_weight else problem._replace(finite_weight=finite)


@dataclass
class ConvCall:
    """A validated convolution call: kernel-ready arrays, geometry and how to
    reshape the result back to what the user passed."""

    x: np.ndarray          # (N, C, H, W) or (N, H, W, C), C-contiguous
    weight: np.ndarray     # (F, C/groups, kh, kw), C-contiguous
    bias: np.ndarray | None
    geom: Geometry
    groups: int
    layout: str
    squeeze: int           # 0: 4-D result; 1: drop batch; 2: drop batch and filter axes

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        n_img = self.x.shape[0]
        filters = self.weight.shape[0]
        if self.layout == "NHWC":
            return (n_img, self.geom.out_h, self.geom.out_w, filters)
        return (n_img, filters, self.geom.out_h, self.geom.out_w)

    @property
    def problem(self) -> ConvProblem:
        """The call's `ConvProblem`."""
        x = self.x
        channels_first = self.layout == "NCHW"
        return ConvProblem(x.shape[0], x.shape[1 if channels_first else -1], self.weight.shape[0],
                           x.shape[2:] if channels_first else x.shape[1:-1], self.geom, self.groups,
                           x.dtype, self.layout, self.bias is not None)

    def finish(self, out: np.ndarray) -> np.ndarray:
        if self.squeeze == 2:
            return out[0, 0] if self.layout == "NCHW" else out[0, :, :, 0]
        if self.squeeze == 1:
            return out[0]
        return out


def batch_conv_operands(x: np.ndarray, w: np.ndarray, layout: str, channels: str,
                        weight_what: str) -> tuple[np.ndarray, np.ndarray, int]:
    """4-D views of a convolution's input and weight, and how to squeeze back.

    A 2-D image with a 2-D kernel (the worked example's case) becomes one image with
    one channel and one filter (squeeze 2); an unbatched 3-D input gains a
    batch axis (squeeze 1). `channels` names the channel axis in messages.
    """
    if x.ndim == 2:
        if w.ndim != 2:
            raise ValueError(
                f"`weight` must be 2-D (kh, kw) for a 2-D `input`, got an array of shape {w.shape}"
            )
        x4 = x[None, None] if layout == "NCHW" else x[None, :, :, None]
        return x4, w[None, None], 2
    dims = f"N, {channels}, H, W" if layout == "NCHW" else f"N, H, W, {channels}"
    check_ndim("input", x, (2, 3, 4), f"2-D (H, W), 3-D (unbatched) or 4-D ({dims})")
    check_ndim("weight", w, (4,), weight_what)
    if x.ndim == 3:
        return x[None], w, 1
    return x, w, 0


def _operands(input, weight, bias, groups, layout, channels: str, weight_what: str):
    """The checks every convolution's arguments share: layout, real arrays,
    groups, 4-D views (`batch_conv_operands`), and the input's channels
    divisible by the groups. Returns ``(layout, x4, w4, bias, groups,
    squeeze, (N, C, H, W))``; `channels` names the channel axis in messages."""
    layout = check_layout(layout)
    x = as_float_array("input", input)
    w = as_float_array("weight", weight)
    b = None if bias is None else as_float_array("bias", bias)
    groups = positive_int("groups", groups)
    x4, w4, squeeze = batch_conv_operands(x, w, layout, channels, weight_what)
    n_img, c, h, wd = x4.shape if layout == "NCHW" else np.moveaxis(x4, 3, 1).shape
    if c % groups:
        raise ValueError(f"`groups`={groups} must divide the input channels, got {c} channels")
    return layout, x4, w4, b, groups, squeeze, (n_img, c, h, wd)


def prepare_conv(input, weight, bias, stride, padding, dilation, groups, layout,
                 padding_mode="zeros") -> ConvCall:
    """Validate conv2d-style arguments (shared by every convolution entry point)."""
    layout, x, w, b, groups, squeeze, (n_img, channels, height, width) = _operands(
        input, weight, bias, groups, layout, "C", "4-D (F, C/groups, kh, kw)")
    filters, cg, kh, kw = w.shape
    if filters % groups:
        raise ValueError(f"`groups`={groups} must divide the filters (weight.shape[0]), got {filters}")
    if cg * groups != channels:
        raise ValueError(
            f"`weight` of shape {w.shape} expects {cg * groups} input channels with groups={groups}, "
            f"but `input` of shape {np.shape(input)} has {channels}"
        )
    if b is not None and (b.ndim != 1 or b.shape[0] != filters):
        raise ValueError(f"`bias` must have shape ({filters},), got {b.shape}")
    if kh < 1 or kw < 1:
        raise ValueError(f"`weight` must have a non-empty kernel, got shape {w.shape}")
    geom = conv_geometry((height, width), (kh, kw), stride, padding, dilation, kernel_name="weight")
    if padding_mode != "zeros":
        geom = with_mode(geom, (height, width), padding_mode)
    dtype = result_dtype(x, w, b)
    return ConvCall(
        x=to_kernel_array(x, dtype),
        weight=to_kernel_array(w, dtype),
        bias=None if b is None else to_kernel_array(b, dtype),
        geom=geom,
        groups=groups,
        layout=layout,
        squeeze=squeeze,
    )


@dataclass
class TransposeCall:
    """A validated conv_transpose2d call. `geom` is the geometry of the
    conv2d it is the adjoint of: that conv2d maps the result (`out_shape`)
    to an image the size of `x`, so ``geom.out`` is x's spatial size."""

    x: np.ndarray          # (N, C_in, H, W) or (N, H, W, C_in), C-contiguous
    weight: np.ndarray     # (C_in, F/groups, kh, kw), C-contiguous
    bias: np.ndarray | None
    geom: Geometry
    groups: int
    layout: str
    squeeze: int           # 0: 4-D result; 1: drop batch; 2: drop batch and filter axes
    out_shape: tuple       # the 4-D result's shape

    @property
    def problem(self) -> ConvProblem:
        """The `ConvProblem` of the conv2d this is the adjoint of."""
        n_img, filters = self.out_shape[0], self.weight.shape[1] * self.groups
        size = self.out_shape[2:] if self.layout == "NCHW" else self.out_shape[1:3]
        return ConvProblem(n_img, filters, self.weight.shape[0], tuple(size), self.geom,
                           self.groups, self.x.dtype, self.layout, False)

    def finish(self, out: np.ndarray) -> np.ndarray:
        if self.squeeze == 2:
            return out[0, 0] if self.layout == "NCHW" else out[0, :, :, 0]
        return out[0] if self.squeeze == 1 else out


def transpose_string_padding(padding: str, kernel, stride, dilation, output_padding):
    """'same'/'valid' for a transposed convolution, TensorFlow's rule: the
    adjoint of conv2d with that padding on an input of ``size * stride``
    ('same': exactly ``size * stride`` outputs; 'valid': ``size * stride +
    max(span - stride, 0)``, span = ``dilation*(kernel-1) + 1``). Where the
    span is shorter than the stride, the last ``stride - span`` outputs are
    never reached (they get the bias only), as output padding. Returns the
    (low, high) crops and the output padding per axis."""
    mode = padding.lower()
    if mode not in ("same", "valid"):
        ints = {1: "a tuple of 1 int", 2: "a pair of ints"}.get(len(kernel),
                                                                 f"a tuple of {len(kernel)} ints")
        raise ValueError(f"`padding` must be an int, {ints}, 'valid' or 'same', got {padding!r}")
    if any(output_padding):
        raise ValueError(f"`output_padding` must be 0 with padding={padding!r} (the string "
                         f"fixes the output size), got {output_padding}")
    pads, extra = [], []
    for k, s, d in zip(kernel, stride, dilation):
        span = d * (k - 1) + 1
        total = max(span - s, 0) if mode == "same" else 0
        pads.append((total // 2, total - total // 2))
        extra.append(max(s - span, 0))
    return tuple(pads), tuple(extra)


def prepare_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                      layout) -> TransposeCall:
    """Validate conv_transpose2d's arguments."""
    layout, x4, w4, b, groups, squeeze, (n_img, c_in, height, width) = _operands(
        input, weight, bias, groups, layout, "C_in", "4-D (C_in, F/groups, kh, kw)")
    wc, fg, kh, kw = w4.shape
    if wc != c_in:
        raise ValueError(
            f"`weight` of shape {np.shape(weight)} is (C_in, F/groups, kh, kw) for {wc} input "
            f"channels, but `input` of shape {np.shape(input)} has {c_in}"
        )
    if kh < 1 or kw < 1:
        raise ValueError(f"`weight` must have a non-empty kernel, got shape {np.shape(weight)}")
    filters = fg * groups
    if b is not None and (b.ndim != 1 or b.shape[0] != filters):
        raise ValueError(f"`bias` must have shape ({filters},) (groups * weight.shape[1]), got {b.shape}")
    sh, sw = pair("stride", stride)
    dh, dw = pair("dilation", dilation)
    oph, opw = pair("output_padding", output_padding, minimum=0)
    if isinstance(padding, str):
        ((pt, pb), (pl, pr)), (oph, opw) = transpose_string_padding(
            padding, (kh, kw), (sh, sw), (dh, dw), (oph, opw))
    else:
        # an int, one per axis, or one (low, high) pair per axis: rows/columns
        # cropped from each side of the full result
        (pt, pb), (pl, pr) = padding_arg(padding, (kh, kw), (dh, dw), (sh, sw),
                                         allow_strings=False)
    if (oph >= sh and oph >= dh) or (opw >= sw and opw >= dw):
        raise ValueError(
            f"`output_padding` must be smaller than `stride` or `dilation` in each dimension, "
            f"got output_padding={(oph, opw)} with stride={(sh, sw)} and dilation={(dh, dw)}"
        )
    check_transpose_extent((height, width), (kh, kw), (sh, sw), (dh, dw))
    out_h = (height - 1) * sh - pt - pb + dh * (kh - 1) + oph + 1
    out_w = (width - 1) * sw - pl - pr + dw * (kw - 1) + opw + 1
    if out_h < 1 or out_w < 1:
        shown = (pt, pl) if (pt, pl) == (pb, pr) else ((pt, pb), (pl, pr))
        raise ValueError(
            f"output size {(out_h, out_w)} = (H-1)*stride - 2*padding + dilation*(kernel-1) "
            f"+ output_padding + 1 is not positive for `input` of spatial size {(height, width)}, "
            f"kernel {(kh, kw)}, stride {(sh, sw)}, padding {shown}, dilation {(dh, dw)}"
        )
    dtype = result_dtype(x4, w4, b)
    # The conv2d this is the adjoint of maps an (out_h, out_w) image to
    # (height, width): its geometry, with out_h/out_w the *input* size here.
    geom = compact(Geometry((kh, kw), (sh, sw), ((pt, pb + oph), (pl, pr + opw)), (dh, dw),
                            (height, width)), (out_h, out_w))
    out_shape = ((n_img, filters, out_h, out_w) if layout == "NCHW"
                 else (n_img, out_h, out_w, filters))
    return TransposeCall(to_kernel_array(x4, dtype), to_kernel_array(w4, dtype),
                         None if b is None else to_kernel_array(b, dtype), geom, groups, layout,
                         squeeze, out_shape)


# ---------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------


@contextmanager
def argument_names(**renames):
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


def grad_output_arg(go: np.ndarray, p: ConvCall) -> np.ndarray:
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
SHAPE_FORMS = {
    "input": ((2, 3, 4), "(N, C, H, W), (C, H, W) or (H, W)"),
    "weight": ((2, 4), "(F, C/groups, kh, kw) or (kh, kw)"),
}


def shaped_problem(role, shape, operand, grad_output, stride, padding, dilation, groups, layout,
                   padding_mode="zeros"):
    """Validate the arguments of the gradient with respect to `role`
    (``"input"`` or ``"weight"``), an operand given only by its `shape`;
    `operand` is the other one. Returns the shape as a tuple, the validated
    problem (whose ``x``/``weight`` for `role` is an uninitialised array of
    the result dtype, to be overwritten with the gradient) and `grad_output`
    as a kernel-ready 4-D array. Errors name ``<role>_shape``."""
    name = f"{role}_shape"
    shape = shape_arg(name, shape, *SHAPE_FORMS[role])
    other = as_float_array("weight" if role == "input" else "input", operand)
    go = as_float_array("grad_output", grad_output)
    result = np.empty(shape, dtype=result_dtype(other, go))
    x, w = (result, other) if role == "input" else (other, result)
    with argument_names(**{role: name}):
        p = prepare_conv(x, w, None, stride, padding, dilation, groups, layout, padding_mode)
    return shape, p, grad_output_arg(go, p)
