"""Operations on sequences (one spatial axis): conv1d, its gradients,
conv_transpose1d, max/avg pooling and their gradients.

Each function validates its arguments once, with 1-D wording (lengths,
``(C, L)`` / ``(N, C, L)`` inputs, ``(F, C/groups, k)`` weights), then runs
the 2-D engine on the same data viewed with a unit leading spatial axis --
no copy: an NCL array ``(N, C, L)`` is the NCHW image ``(N, C, 1, L)``, an
NLC array ``(N, L, C)`` the NHWC image ``(N, 1, L, C)``; the kernel is
``(1, k)``, the stride ``(1, s)``, the padding ``((0, 0), (lo, hi))``, the
dilation ``(1, d)``. The engine chooses and runs its 2-D method for that
problem (`explain` shows which); pooling indices come back as flat positions
``h * L + l`` with ``h = 0``, i.e. the 1-D index.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np

from ._core.dtypes import as_value_array
from ._core.geometry import (
    Geometry,
    check_transpose_extent,
    compact,
    conv_geometry,
    padding_arg,
    pool_geometry,
)
from ._core.padmap import with_mode
from ._core.validation import (
    as_float_array,
    as_int,
    describe,
    flag,
    int_tuple,
    optional_nonzero_int,
    positive_int,
    result_dtype,
    shape_arg,
    to_kernel_array,
)
from ._core.workspace import resolve_budget
from ._engine import pool as _pool
from ._engine.complex import backward as complex_backward
from ._engine.complex import bilinear, by_parts, is_complex
from ._engine.conv import explain_conv2d, run_conv2d
from ._engine.grad import explain_grad, pick, run_input_grad, run_weight_grad
from ._engine.problem import ConvCall, TransposeCall, transpose_string_padding

__all__ = ["avg_pool1d", "avg_pool1d_backward", "conv1d", "conv1d_backward", "conv1d_bias_grad",
           "conv1d_input_grad", "conv1d_weight_grad", "conv_transpose1d", "max_pool1d",
           "max_pool1d_backward"]

_LAYOUTS = {"NCL": "NCHW", "NLC": "NHWC"}


# ---------------------------------------------------------------------------
# 1-D argument checking
# ---------------------------------------------------------------------------


def _layout(layout) -> str:
    """'NCL' or 'NLC' (case-insensitive), returned upper-case."""
    if not isinstance(layout, str) or layout.upper() not in _LAYOUTS:
        raise ValueError(f"`layout` must be 'NCL' or 'NLC', got {describe(layout)}")
    return layout.upper()


def _one(name: str, value, op: str, *, minimum: int = 1) -> int:
    """An int, or a sequence holding one int (PyTorch's 1-tuple)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (tuple, list, np.ndarray)) and len(value) != 1:
        shown = tuple(value.tolist()) if isinstance(value, np.ndarray) else tuple(value)
        raise ValueError(f"`{name}` must be an int or a tuple of 1 int for {op}, got {shown} "
                         f"(length {len(shown)}, expected 1)")
    return int_tuple(name, value, 1, minimum=minimum)[0]


def _conv_padding(padding, op: str, allow_strings: bool):
    """`padding` as PyTorch's conv1d takes it (int, 1-tuple, 'same'/'valid')
    or one (low, high) pair: ``((lo, hi),)``. Returned in a form
    `padding_arg` resolves for one axis."""
    if isinstance(padding, str):
        return padding
    if isinstance(padding, np.ndarray) and padding.ndim == 0:
        return padding[()]
    if isinstance(padding, (tuple, list, np.ndarray)):
        items = padding.tolist() if isinstance(padding, np.ndarray) else list(padding)
        if len(items) != 1:
            strings = ", 'same' or 'valid'" if allow_strings else ""
            raise ValueError(
                f"`padding` must be an int, a tuple of 1 int, or one (low, high) pair "
                f"((lo, hi),){strings} for {op}, got {describe(padding)} "
                f"(length {len(items)}, expected 1)")
        if isinstance(items[0], (tuple, list, np.ndarray)):
            return (tuple(items[0]),)
        return (items[0],)
    return padding


def _lift(g1: Geometry) -> Geometry:
    """The 2-D geometry of a 1-D one: a unit leading spatial axis."""
    return Geometry((1, g1.kernel[0]), (1, g1.stride[0]), ((0, 0), g1.padding[0]),
                    (1, g1.dilation[0]), (1, g1.out[0]), g1.mode)


def _to4(x: np.ndarray, layout: str) -> np.ndarray:
    """A batched 3-D sequence array as the 4-D image the engine takes (a view)."""
    return x[:, :, None, :] if layout == "NCL" else x[:, None, :, :]


def _to3(a: np.ndarray, layout: str) -> np.ndarray:
    """The inverse of `_to4` (a view)."""
    return a[:, :, 0, :] if layout == "NCL" else a[:, 0, :, :]


def _dims(layout: str, channels: str) -> str:
    return f"(N, {channels}, L)" if layout == "NCL" else f"(N, L, {channels})"


def _unbatched(layout: str, channels: str) -> str:
    return f"({channels}, L)" if layout == "NCL" else f"(L, {channels})"


def _sequences(name: str, arr: np.ndarray, layout: str, channels: str = "C"):
    """`arr` (2-D unbatched or 3-D) as a batched 3-D array, whether it was
    unbatched, and its (N, C, L)."""
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"`{name}` must be 2-D {_unbatched(layout, channels)} or 3-D "
            f"{_dims(layout, channels)}, got an array of shape {arr.shape}")
    unbatched = arr.ndim == 2
    a3 = arr[None] if unbatched else arr
    n, c, length = a3.shape if layout == "NCL" else (a3.shape[0], a3.shape[2], a3.shape[1])
    return a3, unbatched, (n, c, length)


_ENGINE_WORDS = (
    (re.compile(r"\(1, (\d+)\)"), r"(\1,)"),           # a unit-axis tuple: its 1-D value
    (re.compile(r"\(\(0, 0\), (\(\d+, \d+\))\)"), r"(\1,)"),
    (re.compile(r"a 1x1 kernel"), "a kernel of size 1"),
    (re.compile(r"1x1"), "size-1"),
    (re.compile(r"NCHW"), "NCL"),
    (re.compile(r"NHWC"), "NLC"),
    (re.compile(r"output row"), "output sequence"),
)


@contextmanager
def _engine_errors(op: str, engine_op: str):
    """Errors the engine raises for a 1-D call (a `method` that is unknown or
    cannot run the problem) in 1-D words: the op's name, 1-D sizes."""
    try:
        yield
    except ValueError as exc:
        message = str(exc).replace(engine_op, op)
        for pattern, repl in _ENGINE_WORDS:
            message = pattern.sub(repl, message)
        if message == str(exc):
            raise
        raise ValueError(message) from None


# ---------------------------------------------------------------------------
# convolution problems
# ---------------------------------------------------------------------------


def _conv_call(op, input, weight, bias, stride, padding, dilation, groups, layout, *,
               input_name="input", weight_name="weight", padding_mode="zeros"):
    """Validate conv1d-style arguments with 1-D wording. Returns the engine's
    `ConvCall` (4-D views, 2-D geometry), the 1-D layout, whether the input
    was unbatched, and the 1-D output length."""
    layout = _layout(layout)
    x = as_float_array(input_name, input)
    w = as_float_array(weight_name, weight)
    b = None if bias is None else as_float_array("bias", bias)
    groups = positive_int("groups", groups)
    x3, unbatched, (n_img, channels, length) = _sequences(input_name, x, layout)
    if w.ndim != 3:
        raise ValueError(f"`{weight_name}` must be 3-D (F, C/groups, k) for {op}, "
                         f"got an array of shape {w.shape}")
    filters, cg, k = w.shape
    if channels % groups:
        raise ValueError(f"`groups`={groups} must divide the input channels, got {channels} channels")
    if filters % groups:
        raise ValueError(f"`groups`={groups} must divide the filters ({weight_name}.shape[0]), "
                         f"got {filters}")
    if cg * groups != channels:
        raise ValueError(
            f"`{weight_name}` of shape {w.shape} expects {cg * groups} input channels with "
            f"groups={groups}, but `{input_name}` of shape {x.shape} has {channels}")
    if b is not None and (b.ndim != 1 or b.shape[0] != filters):
        raise ValueError(f"`bias` must have shape ({filters},), got {b.shape}")
    if k < 1:
        raise ValueError(f"`{weight_name}` must have a non-empty kernel, got shape {w.shape}")
    s = _one("stride", stride, op)
    d = _one("dilation", dilation, op)
    g1 = conv_geometry((length,), (k,), s, _conv_padding(padding, op, True), d,
                       kernel_name=weight_name, input_name=input_name)
    if padding_mode != "zeros":
        g1 = with_mode(g1, (length,), padding_mode)
    dtype = result_dtype(x3, w, b)
    call = ConvCall(x=to_kernel_array(_to4(x3, layout), dtype),
                    weight=to_kernel_array(w[:, :, None, :], dtype),
                    bias=None if b is None else to_kernel_array(b, dtype),
                    geom=_lift(g1), groups=groups, layout=_LAYOUTS[layout], squeeze=0)
    return call, layout, unbatched, g1.out[0]


def _out3_shape(call: ConvCall, layout: str, unbatched: bool, out_len: int) -> tuple:
    n_img, filters = call.x.shape[0], call.weight.shape[0]
    shape = (n_img, filters, out_len) if layout == "NCL" else (n_img, out_len, filters)
    return shape[1:] if unbatched else shape


def _grad_output(op, grad_output, call, layout, unbatched, out_len, dtype):
    """`grad_output` checked against conv1d's output shape, as a kernel-ready
    4-D array."""
    go = as_float_array("grad_output", grad_output)
    want = _out3_shape(call, layout, unbatched, out_len)
    if go.shape != want:
        g = call.geom
        raise ValueError(
            f"`grad_output` must have shape {want}, the shape conv1d returns for this input, "
            f"weight and geometry (stride={g.stride[1]}, padding={g.padding[1]}, "
            f"dilation={g.dilation[1]}, groups={call.groups}, layout={layout!r}), "
            f"got an array of shape {go.shape}")
    go3 = go[None] if unbatched else go
    return go, to_kernel_array(_to4(go3, layout), dtype)


def _shaped(op, role, shape, operand, grad_output, stride, padding, dilation, groups, layout,
            padding_mode="zeros"):
    """Arguments of the gradient with respect to `role` (``'input'`` or
    ``'weight'``), given by its `shape`: the validated call whose x / weight
    is an uninitialised array of the result dtype (to be overwritten),
    `grad_output` 4-D, the user's shape and the 1-D layout."""
    name = f"{role}_shape"
    forms = {"input": ((2, 3), "(N, C, L) or (C, L) (NLC: (N, L, C) or (L, C))"),
             "weight": ((3,), "(F, C/groups, k)")}[role]
    shape = shape_arg(name, shape, *forms)
    other_name = "weight" if role == "input" else "input"
    other = as_float_array(other_name, operand)
    go = as_float_array("grad_output", grad_output)
    dtype = result_dtype(other, go)
    placeholder = np.empty(shape, dtype=dtype)
    x, w = (placeholder, other) if role == "input" else (other, placeholder)
    names = {"input_name": name} if role == "input" else {"weight_name": name}
    call, layout, unbatched, out_len = _conv_call(op, x, w, None, stride, padding, dilation,
                                                  groups, layout, padding_mode=padding_mode,
                                                  **names)
    _, go4 = _grad_output(op, go, call, layout, unbatched, out_len, call.x.dtype)
    return call, go4, shape, layout


# ---------------------------------------------------------------------------
# convolution
# ---------------------------------------------------------------------------


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCL", max_workspace_bytes=None, method="auto", padding_mode="zeros"):
    """1-D convolution (cross-correlation) of sequences, by the 2-D engine.

    Same arguments and result as ``torch.nn.functional.conv1d``, plus a
    channels-last layout, asymmetric padding, 'same' with any stride, a
    memory budget and a method choice (as `conv2d`).

    Parameters
    ----------
    input : array_like
        ``(N, C, L)`` or unbatched ``(C, L)``; with ``layout="NLC"``,
        ``(N, L, C)`` or ``(L, C)``.
    weight : array_like, shape (F, C/groups, k)
        Filters (the same layout for both `layout` values).
    bias : array_like, shape (F,), optional
    stride : int or (int,), default 1
    padding : int, (int,), ((int, int),), 'valid' or 'same', default 0
        Zeros added on both ends, or ``((lo, hi),)`` for different amounts
        at the start and the end. ``'same'`` gives ``ceil(L / s)`` outputs,
        the odd padding element at the end (PyTorch's rule with stride 1,
        TensorFlow's for any stride).
    dilation : int or (int,), default 1
    groups : int, default 1
    layout : {'NCL', 'NLC'}, keyword-only
        Memory layout of `input` and of the result.
    max_workspace_bytes : int, optional, keyword-only
        Largest patch matrix built at once (default
        `get_max_workspace_bytes()`).
    method : {'auto', 'im2col', 'pointwise', 'shift', 'direct'}, keyword-only
        As in `conv2d`, for the problem with a unit leading axis;
        ``explain("conv1d", ...)`` shows the choice.

    Returns
    -------
    out : ndarray
        ``(N, F, OL)`` (``(N, OL, F)`` for NLC), without N if unbatched,
        ``OL = (L + lo + hi - d*(k-1) - 1) // s + 1``. float64 if any
        operand is float64 (or integer), else float32.

    Raises
    ------
    TypeError
        Complex, object or string arrays; non-integer geometry.
    ValueError
        `input` not 2-D or 3-D, `weight` not 3-D; a tuple argument whose
        length is not 1; channels not matching `weight`; `groups` not
        dividing channels or filters; `bias` of the wrong length;
        non-positive stride/dilation, negative padding, any of them above
        ``2**62``; an unknown padding
        string or layout; a kernel longer than the padded input; a `method`
        that is unknown or cannot run this problem.

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*k*OL`` flops in BLAS, plus one im2col pass
    (``C*k*OL`` elements per sequence, chunked within
    `max_workspace_bytes`) unless the method needs none ('pointwise',
    'shift'). The unit-axis view costs no copy, and the 1-D validation
    about as much as conv2d's (tiny calls within a few microseconds of it).
    Measured with ``python bench/bench_ops1d.py`` (float32, NCL, 2 threads,
    AMD EPYC, fastest of 3 interleaved rounds), PyTorch's time over ours on
    16 x 64 x 16000 inputs, 64 filters: k=9 1.10 forward / 1.11 backward,
    k=3 1.94 / 1.64, k=2 dilation 8 causal 2.63 / 2.00.

    Zero input channels (``C = 0``, weight ``(F, 0, ...)``) sum nothing: the
    result is ``(N, F, ...)`` zeros plus the bias, the empty sum's value
    (PyTorch returns an empty ``(N, 0, ...)`` tensor there, and its
    gradients refuse it).

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv1d
    >>> x = np.array([[0., 1., 2., 3., 4.]])          # (C, L) = (1, 5)
    >>> conv1d(x, np.array([[[1., 0., -1.]]]))        # (F, C, k) = (1, 1, 3)
    array([[-2., -2., -2.]])
    >>> conv1d(x, np.ones((1, 1, 2)), padding=((1, 0),))
    array([[0., 1., 3., 5., 7.]])
    >>> conv1d(np.ones((2, 16, 3)), np.ones((4, 3, 3)), stride=2, padding="same",
    ...        layout="NLC").shape
    (2, 8, 4)
    """
    if is_complex(input, weight, bias):
        return bilinear(lambda x, w, b: conv1d(
            x, w, b, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            input, weight, bias)
    call, layout, unbatched, out_len = _conv_call("conv1d", input, weight, bias, stride, padding,
                                                  dilation, groups, layout,
                                                  padding_mode=padding_mode)
    with _engine_errors("conv1d", "conv2d"):
        out = run_conv2d(call, resolve_budget(max_workspace_bytes), method)
    out = _to3(out, layout)
    return out[0] if unbatched else out


def conv1d_input_grad(input_shape, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                      *, layout="NCL", max_workspace_bytes=None, method="auto",
                      padding_mode="zeros"):
    """Gradient of `conv1d` with respect to its input.

    The counterpart of ``torch.nn.grad.conv1d_input``: for ``y = conv1d(x,
    weight, ...)`` and ``grad_output = dL/dy``, returns ``dL/dx``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(N, C, L)`` or ``(C, L)`` (NLC: ``(N, L, C)`` or ``(L, C)``).
    weight : array_like, shape (F, C/groups, k)
    grad_output : array_like
        Exactly the shape `conv1d` returns for this input, weight and
        geometry.
    stride, padding, dilation, groups, layout, max_workspace_bytes
        As in `conv1d`.
    method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        As in `conv2d_input_grad`.

    Returns
    -------
    grad_input : ndarray, shape `input_shape`
        float64 if `weight` or `grad_output` is float64 (or integer), else
        float32.

    Raises
    ------
    TypeError
        `input_shape` not a tuple of ints; object arrays;
        non-integer geometry.
    ValueError
        `input_shape` of the wrong length, `grad_output` not of the forward
        output's shape, any error `conv1d` raises, or a `method` that is
        unknown or cannot run this problem.

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*k*OL`` flops in BLAS plus one col2im pass
    (stride 1: where cheaper, a conv1d of `grad_output` with the flipped
    kernel instead, as in `conv2d_input_grad`).

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv1d, conv1d_input_grad
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 9))
    >>> w = np.random.default_rng(1).normal(size=(4, 3, 3))
    >>> y = np.random.default_rng(2).normal(size=(2, 4, 5))
    >>> gx = conv1d_input_grad(x.shape, w, y, stride=2, padding=1)
    >>> gx.shape
    (2, 3, 9)
    >>> bool(np.isclose(np.sum(conv1d(x, w, stride=2, padding=1) * y), np.sum(x * gx)))
    True
    """
    if is_complex(weight, grad_output):  # the adjoint uses conj(weight), as PyTorch
        return bilinear(lambda w, g, _: conv1d_input_grad(
            input_shape, w, g, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            weight, grad_output, conjugate_a=True)
    call, go4, shape, layout = _shaped("conv1d_input_grad", "input", input_shape, weight,
                                       grad_output, stride, padding, dilation, groups, layout,
                                       padding_mode)
    with _engine_errors("conv1d_input_grad", "conv2d_input_grad"):
        run_input_grad("conv2d_input_grad", call.problem, go4, call.weight, call.x,
                       resolve_budget(max_workspace_bytes), method)
    return _to3(call.x, layout).reshape(shape)


def conv1d_weight_grad(input, weight_shape, grad_output, stride=1, padding=0, dilation=1, groups=1,
                       *, layout="NCL", max_workspace_bytes=None, method="auto",
                       padding_mode="zeros"):
    """Gradient of `conv1d` with respect to its weight.

    The counterpart of ``torch.nn.grad.conv1d_weight``.

    Parameters
    ----------
    input : array_like
        The forward input, shaped as for `conv1d`.
    weight_shape : tuple of int
        ``(F, C/groups, k)``.
    grad_output : array_like
        Exactly the shape `conv1d` returns.
    stride, padding, dilation, groups, layout, max_workspace_bytes
        As in `conv1d`.
    method : {'auto', 'tiles', 'im2col', 'pointwise'}, keyword-only
        As in `conv2d_weight_grad`.

    Returns
    -------
    grad_weight : ndarray, shape `weight_shape`
        float64 if `input` or `grad_output` is float64 (or integer), else
        float32.

    Raises
    ------
    TypeError
        `weight_shape` not a tuple of ints; object arrays;
        non-integer geometry.
    ValueError
        `weight_shape` not of length 3 or not matching the input channels
        and `groups`; `grad_output` not of the forward output's shape; any
        error `conv1d` raises; a `method` that is unknown or cannot run
        this problem.

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*k*OL`` flops in BLAS plus one im2col pass,
    accumulated chunk by chunk in the result dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv1d, conv1d_weight_grad
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 9))
    >>> w = np.random.default_rng(1).normal(size=(4, 3, 3))
    >>> y = np.random.default_rng(2).normal(size=(2, 4, 9))
    >>> gw = conv1d_weight_grad(x, w.shape, y, padding="same")
    >>> gw.shape
    (4, 3, 3)
    >>> bool(np.isclose(np.sum(conv1d(x, w, padding="same") * y), np.sum(w * gw)))
    True
    """
    if is_complex(input, grad_output):  # pairs grad_output with conj(input), as PyTorch
        return bilinear(lambda x, g, _: conv1d_weight_grad(
            x, weight_shape, g, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            input, grad_output, conjugate_a=True)
    call, go4, shape, layout = _shaped("conv1d_weight_grad", "weight", weight_shape, input,
                                       grad_output, stride, padding, dilation, groups, layout,
                                       padding_mode)
    with _engine_errors("conv1d_weight_grad", "conv2d_weight_grad"):
        run_weight_grad(call.problem, call.x, go4, call.weight, resolve_budget(max_workspace_bytes),
                        method)
    return call.weight.reshape(shape)


def conv1d_bias_grad(grad_output, *, layout="NCL"):
    """Gradient of `conv1d` with respect to its bias: `grad_output` summed
    over the batch and the length.

    Parameters
    ----------
    grad_output : array_like
        ``(N, F, OL)`` or unbatched ``(F, OL)`` (NLC: ``(N, OL, F)`` or
        ``(OL, F)``).
    layout : {'NCL', 'NLC'}, keyword-only

    Returns
    -------
    grad_bias : ndarray, shape (F,)
        Same float dtype as `grad_output`; summed in float64.

    Raises
    ------
    TypeError
        If `grad_output` holds no numbers (object or string arrays; complex
        is summed part by part).
    ValueError
        If `grad_output` is not 2-D or 3-D, or `layout` is unknown.

    Notes
    -----
    Cost: one pass over `grad_output`.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv1d_bias_grad
    >>> conv1d_bias_grad(np.ones((2, 3, 5)))
    array([10., 10., 10.])
    """
    if is_complex(grad_output):
        return by_parts(lambda g: conv1d_bias_grad(g, layout=layout), grad_output)
    layout = _layout(layout)
    go = as_float_array("grad_output", grad_output)
    if go.ndim not in (2, 3):
        what = ("2-D (F, OL) or 3-D (N, F, OL)" if layout == "NCL"
                else "2-D (OL, F) or 3-D (N, OL, F)")
        raise ValueError(f"`grad_output` must be {what}, got an array of shape {go.shape}")
    channel_axis = go.ndim - 2 if layout == "NCL" else go.ndim - 1
    axes = tuple(a for a in range(go.ndim) if a != channel_axis)
    return go.sum(axis=axes, dtype=np.float64).astype(go.dtype)


def conv1d_backward(input, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                    layout="NCL", max_workspace_bytes=None, input_method="auto",
                    weight_method="auto", padding_mode="zeros"):
    """All three gradients of ``conv1d(input, weight, bias, ...)`` at once.

    Validates the arguments once and returns what `conv1d_input_grad`,
    `conv1d_weight_grad` and `conv1d_bias_grad` would.

    Parameters
    ----------
    input, weight
        The forward operands, as for `conv1d`.
    grad_output : array_like
        Gradient of the loss with respect to the forward output.
    stride, padding, dilation, groups, layout, max_workspace_bytes
        As in `conv1d`.
    input_method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        `conv1d_input_grad`'s `method`.
    weight_method : {'auto', 'tiles', 'im2col', 'pointwise'}, keyword-only
        `conv1d_weight_grad`'s `method`. Both are checked before either
        gradient is computed.

    Returns
    -------
    grad_input : ndarray, shape of `input`
    grad_weight : ndarray, shape of `weight`
    grad_bias : ndarray, shape (F,)
        All three in the promoted dtype of `input`, `weight` and
        `grad_output`.

    Raises
    ------
    TypeError, ValueError
        As `conv1d`, plus a `grad_output` not of the forward output's shape,
        or an `input_method` / `weight_method` that is unknown or cannot run
        this problem (the message names the argument).

    Notes
    -----
    Cost: twice the forward's GEMM flops, one im2col and one col2im pass.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv1d_backward
    >>> gx, gw, gb = conv1d_backward(np.ones((1, 2, 4)), np.ones((3, 2, 3)), np.ones((1, 3, 2)))
    >>> gx
    array([[[3., 6., 6., 3.],
            [3., 6., 6., 3.]]])
    >>> gw.shape, gb
    ((3, 2, 3), array([2., 2., 2.]))
    """
    if is_complex(input, weight, grad_output):
        return complex_backward(conv1d_input_grad, conv1d_weight_grad, conv1d_bias_grad, input,
                                weight, grad_output, (stride, padding, dilation, groups),
                                input_method=input_method, weight_method=weight_method,
                                layout=layout, max_workspace_bytes=max_workspace_bytes,
                                padding_mode=padding_mode)
    call, layout, unbatched, out_len = _conv_call("conv1d_backward", input, weight, None, stride,
                                                  padding, dilation, groups, layout,
                                                  padding_mode=padding_mode)
    go = as_float_array("grad_output", grad_output)
    dtype = result_dtype(call.x, go)
    if dtype != call.x.dtype:
        call.x = to_kernel_array(call.x, dtype)
        call.weight = to_kernel_array(call.weight, dtype)
    go, go4 = _grad_output("conv1d_backward", go, call, layout, unbatched, out_len, dtype)
    budget = resolve_budget(max_workspace_bytes)
    problem = call.problem
    grad_input = np.empty(call.x.shape, dtype=dtype)
    grad_weight = np.empty(call.weight.shape, dtype=dtype)
    # both methods checked before any work, errors under the argument's name
    for op, engine_op, name, method, result, operands in (
            ("conv1d_input_grad", "conv2d_input_grad", "input_method", input_method, grad_input,
             (go4,)),
            ("conv1d_weight_grad", "conv2d_weight_grad", "weight_method", weight_method,
             grad_weight, (go4, call.x))):
        with _engine_errors(op, engine_op):
            try:
                pick(engine_op, problem, budget, method, result, operands)
            except ValueError as exc:
                raise ValueError(str(exc).replace("`method`", f"`{name}`")) from None
    run_input_grad("conv2d_input_grad", problem, go4, call.weight, grad_input, budget, input_method)
    run_weight_grad(problem, call.x, go4, grad_weight, budget, weight_method)
    grad_bias = conv1d_bias_grad(go4[:, :, 0, :] if layout == "NCL" else go4[:, 0], layout=layout)
    return (_to3(grad_input, layout).reshape(np.shape(input)),
            grad_weight.reshape(np.shape(weight)), grad_bias)


def _transpose_call(input, weight, bias, stride, padding, output_padding, groups, dilation,
                    layout):
    """Validate conv_transpose1d's arguments with 1-D wording: the engine's
    `TransposeCall`, the 1-D layout and whether the input was unbatched."""
    op = "conv_transpose1d"
    layout = _layout(layout)
    x = as_float_array("input", input)
    w = as_float_array("weight", weight)
    b = None if bias is None else as_float_array("bias", bias)
    groups = positive_int("groups", groups)
    x3, unbatched, (n_img, c_in, length) = _sequences("input", x, layout, "C_in")
    if w.ndim != 3:
        raise ValueError(f"`weight` must be 3-D (C_in, F/groups, k) for {op}, "
                         f"got an array of shape {w.shape}")
    wc, fg, k = w.shape
    if c_in % groups:
        raise ValueError(f"`groups`={groups} must divide the input channels, got {c_in} channels")
    if wc != c_in:
        raise ValueError(f"`weight` of shape {w.shape} is (C_in, F/groups, k) for {wc} input "
                         f"channels, but `input` of shape {x.shape} has {c_in}")
    if k < 1:
        raise ValueError(f"`weight` must have a non-empty kernel, got shape {w.shape}")
    filters = fg * groups
    if b is not None and (b.ndim != 1 or b.shape[0] != filters):
        raise ValueError(f"`bias` must have shape ({filters},) (groups * weight.shape[1]), "
                         f"got {b.shape}")
    s = _one("stride", stride, op)
    d = _one("dilation", dilation, op)
    op_len = _one("output_padding", output_padding, op, minimum=0)
    if isinstance(padding, str):  # TensorFlow's conv1d_transpose rule
        ((lo, hi),), (op_len,) = transpose_string_padding(padding, (k,), (s,), (d,), (op_len,))
    else:
        ((lo, hi),) = padding_arg(_conv_padding(padding, op, False), (k,), (d,), (s,),
                                  allow_strings=False)
    if op_len >= s and op_len >= d:
        raise ValueError(
            f"`output_padding` must be smaller than `stride` or `dilation`, got "
            f"output_padding={op_len} with stride={s} and dilation={d}")
    check_transpose_extent((length,), (k,), (s,), (d,))
    out_len = (length - 1) * s - lo - hi + d * (k - 1) + op_len + 1
    if out_len < 1:
        shown = lo if lo == hi else (lo, hi)
        raise ValueError(
            f"output length {out_len} = (L-1)*stride - 2*padding + dilation*(k-1) "
            f"+ output_padding + 1 is not positive for `input` of length {length}, kernel {k}, "
            f"stride {s}, padding {shown}, dilation {d}")
    dtype = result_dtype(x3, w, b)
    # the conv2d this is the adjoint of maps a (1, out_len) image to (1, length)
    geom = compact(Geometry((1, k), (1, s), ((0, 0), (lo, hi + op_len)), (1, d), (1, length)),
                   (1, out_len))
    out_shape = (n_img, filters, 1, out_len) if layout == "NCL" else (n_img, 1, out_len, filters)
    call = TransposeCall(to_kernel_array(_to4(x3, layout), dtype),
                         to_kernel_array(w[:, :, None, :], dtype),
                         None if b is None else to_kernel_array(b, dtype), geom, groups,
                         _LAYOUTS[layout], 0, out_shape)
    return call, layout, unbatched


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, layout="NCL", max_workspace_bytes=None, method="auto"):
    """Transposed 1-D convolution, by GEMM + col2im on the 2-D engine.

    Same arguments and result as ``torch.nn.functional.conv_transpose1d``:
    the adjoint of `conv1d` with the same `weight`, stride, padding,
    dilation and groups.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, L)`` or ``(C_in, L)``; NLC: ``(N, L, C_in)`` or
        ``(L, C_in)``.
    weight : array_like, shape (C_in, F/groups, k)
        Input channels first (PyTorch's layout).
    bias : array_like, shape (F,), optional
    stride : int or (int,), default 1
    padding : int, (int,), ((int, int),), 'valid' or 'same', default 0
        Elements cropped from each end of the full result, or ``((lo,
        hi),)`` for different amounts (the adjoint of `conv1d` with that
        padding). The strings follow TensorFlow's ``conv1d_transpose``, as
        in `conv_transpose2d` (PyTorch takes none): ``'same'`` gives
        ``L * stride`` outputs; with either, `output_padding` must be 0.
    output_padding : int or (int,), default 0
        Extra elements at the end of the output; smaller than `stride` or
        `dilation`.
    groups : int, default 1
    dilation : int or (int,), default 1
    layout : {'NCL', 'NLC'}, keyword-only
    max_workspace_bytes : int, optional, keyword-only
    method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        As in `conv_transpose2d`.

    Returns
    -------
    out : ndarray
        ``(N, F, OL)`` (``(N, OL, F)`` for NLC), without N if unbatched, with
        ``F = groups * weight.shape[1]`` and ``OL = (L - 1)*s - lo - hi +
        d*(k - 1) + output_padding + 1``.

    Raises
    ------
    TypeError
        Complex/object arrays; non-integer geometry.
    ValueError
        Wrong numbers of dimensions; a tuple argument whose length is not
        1; ``weight.shape[0]`` not the input channels; `groups` not
        dividing them; `bias` not of shape (F,); non-positive
        stride/dilation, negative padding/output_padding, any of them above
        ``2**62`` (or an uncropped output longer than that); `output_padding`
        not smaller than `stride` or `dilation`; a non-positive output
        length; a `method` that is unknown or cannot run this problem.

    Notes
    -----
    Cost: ``2*N*C_in*(F/groups)*k*L`` flops in BLAS plus one col2im pass
    (stride 1: a forward convolution with the flipped kernel where that is
    cheaper).

    A weight holding inf or NaN never meets the zero padding: positions it
    does not reach stay finite, as in PyTorch (the stride-1 method that
    convolves the zero-padded input with the flipped kernel, ``'full'``,
    gives way to ``'col2im'`` then, even when asked for; `explain` says so).

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv_transpose1d
    >>> conv_transpose1d(np.array([[1., 2., 3.]]), np.ones((1, 1, 2)), stride=2)
    array([[1., 1., 2., 2., 3., 3.]])
    >>> conv_transpose1d(np.ones((2, 4, 5)), np.ones((4, 3, 3)), stride=2, padding=1,
    ...                  output_padding=1).shape
    (2, 3, 10)
    """
    if is_complex(input, weight, bias):
        return bilinear(lambda x, w, b: conv_transpose1d(
            x, w, b, stride, padding, output_padding, groups, dilation, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method), input, weight, bias)
    call, layout, unbatched = _transpose_call(input, weight, bias, stride, padding, output_padding,
                                              groups, dilation, layout)
    out = np.empty(call.out_shape, dtype=call.x.dtype)
    with _engine_errors("conv_transpose1d", "conv_transpose2d"):
        run_input_grad("conv_transpose2d", call.problem, call.x, call.weight, out,
                       resolve_budget(max_workspace_bytes), method)
    if call.bias is not None and out.size:
        out += call.bias[:, None, None] if layout == "NCL" else call.bias
    out = _to3(out, layout)
    return out[0] if unbatched else out


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------


def _pool_input(op, input, layout, keep_dtype=False):
    """The validated input as a kernel-ready 4-D array, the 1-D layout,
    whether unbatched, the length and the dtype to return (`keep_dtype`:
    the input's, as max_pool2d; else float)."""
    layout = _layout(layout)
    if keep_dtype:
        x, result_dtype = as_value_array("input", input)
    else:
        x = as_float_array("input", input)
        result_dtype = x.dtype
    x3, unbatched, (n_img, channels, length) = _sequences("input", x, layout)
    if channels < 1 or length < 1:
        raise ValueError(f"`input` must have non-empty channel and length axes (only the batch may "
                         f"be empty), got shape {x.shape} with layout {layout}")
    return to_kernel_array(_to4(x3, layout), x.dtype), layout, unbatched, length, result_dtype


def _pool_geometry(op, length, kernel_size, stride, padding, dilation, ceil_mode) -> Geometry:
    k = _one("kernel_size", kernel_size, op)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = k
    else:
        s = _one("stride", stride, op)
    # an int, a 1-tuple, one (low, high) pair ((lo, hi),), 'valid' or 'same'
    p = _conv_padding(padding, op, True)
    d = _one("dilation", dilation, op)
    return pool_geometry((length,), k, s, p, d, ceil_mode)


def _max_call(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, layout):
    x4, layout, unbatched, length, result_dtype = _pool_input("max_pool1d", input, layout,
                                                              keep_dtype=True)
    g1 = _pool_geometry("max_pool1d", length, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = flag("return_indices", return_indices)
    call = _pool.pool_call("max_pool2d", x4, _LAYOUTS[layout], _lift(g1), unbatched,
                           result_dtype, return_indices=return_indices)
    return call, layout


def _avg_call(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
              layout):
    x4, layout, unbatched, length, _ = _pool_input("avg_pool1d", input, layout)
    g1 = _pool_geometry("avg_pool1d", length, kernel_size, stride, padding, 1, ceil_mode)
    cip = flag("count_include_pad", count_include_pad)
    divisor = optional_nonzero_int("divisor_override", divisor_override)
    call = _pool.pool_call("avg_pool2d", x4, _LAYOUTS[layout], _lift(g1), unbatched,
                           count_include_pad=cip, divisor=divisor)
    return call, layout


def _pool_finish(call, layout, arr):
    return call.finish(_to3(arr, layout))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, layout="NCL", method=None):
    """1-D max pooling, as ``torch.nn.functional.max_pool1d``.

    Parameters
    ----------
    input : array_like
        ``(N, C, L)`` or ``(C, L)``; NLC: ``(N, L, C)`` or ``(L, C)``. The
        batch may be empty, the other axes may not.
    kernel_size : int or (int,)
    stride : int or (int,), optional
        Default (None) is `kernel_size`.
    padding : int or (int,), default 0
        Implicit -inf padding on both ends; at most ``kernel_size // 2``.
    dilation : int or (int,), default 1
    ceil_mode : bool, default False
        Round the output length up, keeping the last window only if it
        starts inside the input or its left padding (PyTorch's rule).
    return_indices : bool, default False
        Also return the position of each maximum.
    layout : {'NCL', 'NLC'}, keyword-only
    method : {'auto', 'direct', 'im2col'} or None, keyword-only
        As in `max_pool2d`.

    Returns
    -------
    out : ndarray
        ``(N, C, OL)`` (``(N, OL, C)`` for NLC; without N if unbatched),
        ``OL = floor_or_ceil((L + 2*p - d*(k-1) - 1) / s) + 1`` (the ceil
        result reduced by one when that window would start at or past
        ``L + p``).
    indices : ndarray of int64, same shape as `out`
        Only if `return_indices`: the position ``l`` in ``[0, L)`` of each
        maximum, as PyTorch returns them.

    Raises
    ------
    TypeError
        Non-real `input`; non-integer geometry; a non-bool flag.
    ValueError
        `input` not 2-D or 3-D or with an empty channel/length axis; a
        tuple argument whose length is not 1; non-positive kernel_size,
        stride or dilation; padding negative or above half the kernel; a
        window longer than the padded input; an unknown `layout` or
        `method`.

    Notes
    -----
    PyTorch's semantics: ties go to the first maximum, NaN wins, padding is
    never selected. Cost: ``N*C*OL*k`` comparisons (the direct kernel reads
    the input in place; 'im2col' also writes and re-reads a patch matrix).

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import max_pool1d
    >>> x = np.array([[1., 3., 2., 5., 4., 0.]])
    >>> out, idx = max_pool1d(x, 2, return_indices=True)
    >>> out, idx
    (array([[3., 5., 4.]]), array([[1, 3, 4]]))
    >>> max_pool1d(x, 3, stride=2, padding=1)
    array([[3., 5., 4.]])
    """
    method = _pool.pool_method("max_pool2d", method)
    call, layout = _max_call(input, kernel_size, stride, padding, dilation, ceil_mode,
                             return_indices, layout)
    out, indices = _pool.run_pool2d(call, method)
    if out.dtype != call.result_dtype:  # float16, computed in float32: the values are exact
        out = out.astype(call.result_dtype)
    if call.problem.return_indices:
        return _pool_finish(call, layout, out), _pool_finish(call, layout, indices)
    return _pool_finish(call, layout, out)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, *, layout="NCL", method=None):
    """1-D average pooling, as ``torch.nn.functional.avg_pool1d``, plus
    `divisor_override` (which PyTorch's avg_pool1d lacks).

    Parameters
    ----------
    input : array_like
        ``(N, C, L)`` or ``(C, L)``; NLC: ``(N, L, C)`` or ``(L, C)``.
    kernel_size : int or (int,)
    stride : int or (int,), optional
        Default (None) is `kernel_size`.
    padding : int or (int,), default 0
        Implicit zero padding on both ends; at most ``kernel_size // 2``.
    ceil_mode : bool, default False
        As in `max_pool1d`.
    count_include_pad : bool, default True
        Divide by the window length counting padding (not the part of a
        ceil_mode window past the padding); if False, by the number of real
        elements in the window.
    divisor_override : int, optional
        Divide every window sum by this instead (non-zero);
        ``divisor_override=1`` gives sum pooling.
    layout : {'NCL', 'NLC'}, keyword-only
    method : {'auto', 'direct', 'im2col'} or None, keyword-only
        As in `avg_pool2d`.

    Returns
    -------
    out : ndarray
        ``(N, C, OL)`` (``(N, OL, C)`` for NLC; without N if unbatched),
        ``OL = floor_or_ceil((L + 2*p - k) / s) + 1`` (with `max_pool1d`'s
        ceil_mode rule).

    Raises
    ------
    TypeError
        Non-real `input`, non-integer geometry or `divisor_override`,
        non-bool flags.
    ValueError
        As in `max_pool1d`, and a zero `divisor_override`.

    Notes
    -----
    Cost: ``N*C*OL*k`` additions.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import avg_pool1d
    >>> x = np.array([[1., 3., 2., 6.]])
    >>> avg_pool1d(x, 2)
    array([[2., 4.]])
    >>> avg_pool1d(x, 3, stride=1, padding=1, count_include_pad=False)
    array([[2.        , 2.        , 3.66666667, 4.        ]])
    >>> avg_pool1d(x, 2, divisor_override=1)      # sum pooling
    array([[4., 8.]])
    """
    method = _pool.pool_method("avg_pool2d", method)
    call, layout = _avg_call(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                             divisor_override, layout)
    return _pool_finish(call, layout, _pool.run_pool2d(call, method)[0])


def _grad_and_shape(grad_output, input_shape, layout, keep_dtype=False):
    """Validated grad_output as kernel-ready 4-D, the 4-D input shape, the
    1-D layout, (N, C, L), whether unbatched, the dtype to return
    (`keep_dtype`: integer and bool gradients kept, as max_pool2d_backward)."""
    layout = _layout(layout)
    if keep_dtype:
        g, result_dtype = as_value_array("grad_output", grad_output)
    else:
        g = as_float_array("grad_output", grad_output)
        result_dtype = g.dtype
    if g.ndim not in (2, 3):
        what = ("2-D (C, OL) or 3-D (N, C, OL)" if layout == "NCL"
                else "2-D (OL, C) or 3-D (N, OL, C)")
        raise ValueError(f"`grad_output` must be {what}, got an array of shape {g.shape}")
    try:
        shape = tuple(as_int("input_shape", s) for s in input_shape)
    except TypeError:
        raise TypeError(f"`input_shape` must be a sequence of ints, got {describe(input_shape)}") from None
    if len(shape) != g.ndim:
        raise ValueError(f"`input_shape` must have {g.ndim} entries like `grad_output` of shape "
                         f"{g.shape}, got {shape}")
    unbatched = g.ndim == 2
    g3, shape3 = (g[None], (1,) + shape) if unbatched else (g, shape)
    n_img, channels, length = shape3 if layout == "NCL" else (shape3[0], shape3[2], shape3[1])
    if min(channels, length) < 1:
        raise ValueError(f"`input_shape` must have non-empty channel and length axes (only the "
                         f"batch may be empty), got {shape} with layout {layout}")
    g_c = g3.shape[1] if layout == "NCL" else g3.shape[2]
    if (g3.shape[0], g_c) != (n_img, channels):
        raise ValueError(f"`grad_output` of shape {g.shape} does not match `input_shape` {shape}: "
                         f"batch and channel axes must agree ({layout})")
    shape4 = (n_img, channels, 1, length) if layout == "NCL" else (n_img, 1, length, channels)
    return (to_kernel_array(_to4(g3, layout), g.dtype), shape4, layout, length, unbatched, shape,
            result_dtype)


def max_pool1d_backward(grad_output, indices, input_shape, *, layout="NCL"):
    """Gradient of `max_pool1d` with respect to its input.

    Every ``grad_output`` entry is added to the input position its window's
    maximum came from; windows that chose the same position accumulate.

    Parameters
    ----------
    grad_output : array_like
        ``(N, C, OL)`` or ``(C, OL)`` (NLC: ``(N, OL, C)`` / ``(OL, C)``).
    indices : array_like of ints, same shape as `grad_output`
        As returned by ``max_pool1d(..., return_indices=True)``: positions
        in ``[0, L)``.
    input_shape : sequence of ints
        Shape of the pooled input.
    layout : {'NCL', 'NLC'}, keyword-only

    Returns
    -------
    grad_input : ndarray, shape `input_shape`
        Same float dtype as `grad_output` (after promotion).

    Raises
    ------
    TypeError
        Non-real `grad_output`, non-integer `indices` or `input_shape`.
    ValueError
        `indices` of another shape than `grad_output`, an index outside
        ``[0, L)``, an `input_shape` whose batch/channel axes disagree with
        `grad_output`, or wrong numbers of dimensions.

    Notes
    -----
    Cost: one pass over `grad_output` plus zeroing the result; race-free
    and deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import max_pool1d, max_pool1d_backward
    >>> x = np.array([[1., 4., 2., 0.]])
    >>> out, idx = max_pool1d(x, 2, stride=1, return_indices=True)
    >>> idx
    array([[1, 1, 2]])
    >>> max_pool1d_backward(np.ones_like(out), idx, x.shape)
    array([[0., 2., 1., 0.]])
    """
    g4, shape4, layout, length, unbatched, shape, result_dtype = _grad_and_shape(
        grad_output, input_shape, layout, keep_dtype=True)
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"`indices` must hold integers, got dtype {idx.dtype}")
    if idx.shape != np.shape(grad_output):
        raise ValueError(f"`indices` must have the shape of `grad_output` "
                         f"{np.shape(grad_output)}, got {idx.shape}")
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= length:
            raise ValueError(f"`indices` must lie in [0, L) = [0, {length}) for input length "
                             f"{length}, got {lo if lo < 0 else hi}")
    idx3 = idx[None] if unbatched else idx
    idx4 = np.ascontiguousarray(_to4(idx3, layout), dtype=np.int64)
    grad_input = np.empty(shape4, dtype=g4.dtype)
    _pool.max_pool2d_backward(g4, idx4, grad_input, _LAYOUTS[layout])
    if grad_input.dtype != result_dtype:  # float16, summed in float32
        grad_input = grad_input.astype(result_dtype)
    return grad_input.reshape(shape)


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                        layout="NCL"):
    """Gradient of `avg_pool1d` with respect to its input.

    Each input element of a window receives that window's ``grad_output``
    divided by the window's divisor; overlapping windows accumulate.

    Parameters
    ----------
    grad_output : array_like
        ``(N, C, OL)`` or ``(C, OL)`` (NLC: ``(N, OL, C)`` / ``(OL, C)``),
        the shape `avg_pool1d` gives for `input_shape`.
    input_shape : sequence of ints
        Shape of the pooled input.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As passed to `avg_pool1d`.
    layout : {'NCL', 'NLC'}, keyword-only

    Returns
    -------
    grad_input : ndarray, shape `input_shape`
        Same float dtype as `grad_output` (after promotion).

    Raises
    ------
    TypeError, ValueError
        As in `avg_pool1d`, and a `grad_output` whose shape is not the
        forward output shape for `input_shape`.

    Notes
    -----
    Cost: ``N*C*OL*k`` additions; race-free and deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import avg_pool1d_backward
    >>> avg_pool1d_backward(np.ones((1, 3)), (1, 4), 2, stride=1)
    array([[0.5, 1. , 1. , 0.5]])
    """
    g4, shape4, layout, length, unbatched, shape, _ = _grad_and_shape(grad_output, input_shape,
                                                                      layout)
    g1 = _pool_geometry("avg_pool1d_backward", length, kernel_size, stride, padding, 1, ceil_mode)
    cip = flag("count_include_pad", count_include_pad)
    divisor = optional_nonzero_int("divisor_override", divisor_override)
    n_img = shape4[0]
    channels = shape4[1] if layout == "NCL" else shape4[3]
    want = (n_img, channels, g1.out[0]) if layout == "NCL" else (n_img, g1.out[0], channels)
    want = want[1:] if unbatched else want
    if np.shape(grad_output) != want:
        raise ValueError(f"`grad_output` must have shape {want} (the avg_pool1d output for "
                         f"input_shape {shape}), got {np.shape(grad_output)}")
    grad_input = np.empty(shape4, dtype=g4.dtype)
    _pool.avg_pool2d_backward(g4, grad_input, _lift(g1), _LAYOUTS[layout], cip, divisor)
    return grad_input.reshape(shape)


# ---------------------------------------------------------------------------
# explain
# ---------------------------------------------------------------------------


def _as_1d(choice, op: str):
    """A 2-D `Choice` reported under the 1-D op's name."""
    import dataclasses

    return dataclasses.replace(choice, op=op, problem=f"as the unit-axis 2-D problem {choice.problem}")


def _explain_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                   layout="NCL", max_workspace_bytes=None, method="auto", padding_mode="zeros"):
    call, *_ = _conv_call("conv1d", input, weight, bias, stride, padding, dilation, groups, layout,
                          padding_mode=padding_mode)
    with _engine_errors("conv1d", "conv2d"):
        choice = explain_conv2d(call, resolve_budget(max_workspace_bytes), method)
    return _as_1d(choice, "conv1d")


def _explain_conv1d_input_grad(input_shape, weight, grad_output, stride=1, padding=0, dilation=1,
                              groups=1, *, layout="NCL", max_workspace_bytes=None, method="auto",
                              padding_mode="zeros"):
    call, *_ = _shaped("conv1d_input_grad", "input", input_shape, weight, grad_output, stride,
                       padding, dilation, groups, layout, padding_mode)
    with _engine_errors("conv1d_input_grad", "conv2d_input_grad"):
        choice = explain_grad("conv2d_input_grad", call.problem, resolve_budget(max_workspace_bytes),
                              method, weight=call.weight)
    return _as_1d(choice, "conv1d_input_grad")


def _explain_conv1d_weight_grad(input, weight_shape, grad_output, stride=1, padding=0, dilation=1,
                               groups=1, *, layout="NCL", max_workspace_bytes=None, method="auto",
                               padding_mode="zeros"):
    call, *_ = _shaped("conv1d_weight_grad", "weight", weight_shape, input, grad_output, stride,
                       padding, dilation, groups, layout, padding_mode)
    with _engine_errors("conv1d_weight_grad", "conv2d_weight_grad"):
        choice = explain_grad("conv2d_weight_grad", call.problem,
                              resolve_budget(max_workspace_bytes), method)
    return _as_1d(choice, "conv1d_weight_grad")


def _explain_conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                             groups=1, dilation=1, *, layout="NCL", max_workspace_bytes=None,
                             method="auto"):
    call, *_ = _transpose_call(input, weight, bias, stride, padding, output_padding, groups,
                               dilation, layout)
    with _engine_errors("conv_transpose1d", "conv_transpose2d"):
        choice = explain_grad("conv_transpose2d", call.problem, resolve_budget(max_workspace_bytes),
                              method, weight=call.weight)
    return _as_1d(choice, "conv_transpose1d")


def _explain_max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                       return_indices=False, *, layout="NCL", method=None):
    method = _pool.pool_method("max_pool2d", method)
    call, _ = _max_call(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                        layout)
    return _as_1d(_pool.explain_pool2d(call, method), "max_pool1d")


def _explain_avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                       count_include_pad=True, divisor_override=None, *, layout="NCL",
                       method=None):
    method = _pool.pool_method("avg_pool2d", method)
    call, _ = _avg_call(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override, layout)
    return _as_1d(_pool.explain_pool2d(call, method), "avg_pool1d")
