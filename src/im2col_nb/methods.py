"""Which method a call runs, and why: `explain`.

Operations with several implementations (``conv2d``: im2col tiles,
pointwise GEMMs, shifted GEMMs, direct loops; ``max_pool2d`` and
``avg_pool2d``: a direct windowed kernel, or the patch matrix then a
reduction) take ``method="auto"`` or a method's name; `explain` shows,
without computing anything, which method a call would run, every
alternative with its estimate or why it cannot run, and what the choice
read from the machine.
"""

from __future__ import annotations

import inspect

from ._core.workspace import resolve_budget
from ._engine.conv import explain_conv2d
from ._engine.grad import explain_grad
from ._engine.pool import explain_pool2d, pool_method
from ._engine.problem import prepare_conv, prepare_transpose, shaped_problem
from .convolution import conv2d
from .gradients import conv2d_input_grad, conv2d_weight_grad
from . import ops1d as _ops1d
from . import unfold as _unfold
from .pooling import avg_pool2d, avg_pool_call, max_pool2d, max_pool_call
from .transposed import conv_transpose2d
from ._engine.conv_nd import explain3d, prepare_conv3d, prepare_transpose3d, shaped_problem3d
from .ops3d import conv3d, conv3d_input_grad, conv3d_weight_grad, conv_transpose3d

__all__ = ["explain"]

def _bind(function, args, kwargs) -> dict:
    """The call's arguments by name, defaults filled in (TypeError as the call would)."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def _explain_conv2d(args, kwargs):
    a = _bind(conv2d, args, kwargs)
    call = prepare_conv(a["input"], a["weight"], a["bias"], a["stride"], a["padding"],
                        a["dilation"], a["groups"], a["layout"], a.get("padding_mode", "zeros"))
    return explain_conv2d(call, resolve_budget(a["max_workspace_bytes"]), a["method"])


def _explain_conv2d_direct(args, kwargs):
    return _explain_conv2d(args, {**kwargs, "method": "direct"})


def _explain_gradient(function, role, operand):
    """The explainer of `function`, the gradient with respect to `role`
    (``"input"`` or ``"weight"``, given by its shape; `operand` the other)."""
    def explainer(args, kwargs):
        a = _bind(function, args, kwargs)
        _, p, _ = shaped_problem(role, a[f"{role}_shape"], a[operand], a["grad_output"], a["stride"],
                                 a["padding"], a["dilation"], a["groups"], a["layout"],
                                 a["padding_mode"])
        return explain_grad(function.__name__, p.problem, resolve_budget(a["max_workspace_bytes"]),
                            a["method"], weight=p.weight)
    return explainer


def _explain_conv_transpose2d(args, kwargs):
    a = _bind(conv_transpose2d, args, kwargs)
    call = prepare_transpose(a["input"], a["weight"], a["bias"], a["stride"], a["padding"],
                             a["output_padding"], a["groups"], a["dilation"], a["layout"])
    return explain_grad("conv_transpose2d", call.problem, resolve_budget(a["max_workspace_bytes"]),
                        a["method"], weight=call.weight)


def _explain_max_pool2d(args, kwargs):
    a = _bind(max_pool2d, args, kwargs)
    method = pool_method("max_pool2d", a["method"])
    return explain_pool2d(max_pool_call(a["input"], a["kernel_size"], a["stride"], a["padding"],
                                        a["dilation"], a["ceil_mode"], a["return_indices"],
                                        a["layout"]), method)


def _explain_avg_pool2d(args, kwargs):
    a = _bind(avg_pool2d, args, kwargs)
    method = pool_method("avg_pool2d", a["method"])
    return explain_pool2d(avg_pool_call(a["input"], a["kernel_size"], a["stride"], a["padding"],
                                        a["ceil_mode"], a["count_include_pad"],
                                        a["divisor_override"], a["layout"]), method)


def _explain_conv3d(args, kwargs):
    a = _bind(conv3d, args, kwargs)
    call = prepare_conv3d(a["input"], a["weight"], a["bias"], a["stride"], a["padding"],
                          a["dilation"], a["groups"], a["layout"], a["padding_mode"])
    return explain3d("conv3d", call.problem, resolve_budget(a["max_workspace_bytes"]), a["method"])


def _explain_gradient3d(function, role, operand):
    def explainer(args, kwargs):
        a = _bind(function, args, kwargs)
        _, call, _ = shaped_problem3d(role, a[f"{role}_shape"], a[operand], a["grad_output"],
                                      a["stride"], a["padding"], a["dilation"], a["groups"],
                                      a["layout"], a["padding_mode"])
        return explain3d(function.__name__, call.problem, resolve_budget(a["max_workspace_bytes"]),
                         a["method"], weight=call.weight)
    return explainer


def _explain_conv_transpose3d(args, kwargs):
    a = _bind(conv_transpose3d, args, kwargs)
    call = prepare_transpose3d(a["input"], a["weight"], a["bias"], a["stride"], a["padding"],
                               a["output_padding"], a["groups"], a["dilation"], a["layout"])
    return explain3d("conv_transpose3d", call.problem, resolve_budget(a["max_workspace_bytes"]),
                     a["method"], weight=call.weight)


# op name -> function(args, kwargs) -> Choice: the operations `explain` knows
_EXPLAINERS = {
    "conv2d": _explain_conv2d,
    "conv2d_direct": _explain_conv2d_direct,
    "conv2d_input_grad": _explain_gradient(conv2d_input_grad, "input", "weight"),
    "conv2d_weight_grad": _explain_gradient(conv2d_weight_grad, "weight", "input"),
    "conv_transpose2d": _explain_conv_transpose2d,
    "max_pool2d": _explain_max_pool2d,
    "avg_pool2d": _explain_avg_pool2d,
    "conv3d": _explain_conv3d,
    "conv3d_input_grad": _explain_gradient3d(conv3d_input_grad, "input", "weight"),
    "conv3d_weight_grad": _explain_gradient3d(conv3d_weight_grad, "weight", "input"),
    "conv_transpose3d": _explain_conv_transpose3d,
}


def _explain_1d(function):
    """The explainer of a 1-D op: the 2-D engine's choice for the problem
    with a unit leading spatial axis, reported under the 1-D op's name."""
    return lambda args, kwargs: function(*args, **kwargs)


_EXPLAINERS.update({
    "conv1d": _explain_1d(_ops1d._explain_conv1d),
    "conv1d_input_grad": _explain_1d(_ops1d._explain_conv1d_input_grad),
    "conv1d_weight_grad": _explain_1d(_ops1d._explain_conv1d_weight_grad),
    "conv_transpose1d": _explain_1d(_ops1d._explain_conv_transpose1d),
    "max_pool1d": _explain_1d(_ops1d._explain_max_pool1d),
    "avg_pool1d": _explain_1d(_ops1d._explain_avg_pool1d),
})


def _explain_unfold(function):
    """The explainer of an im2col/col2im function: which kernel route its
    arguments' layouts take (no method to force: every route is exact)."""
    return lambda args, kwargs: _unfold.explain_unfold(function, args, kwargs)


_EXPLAINERS.update({f.__name__: _explain_unfold(f) for f in (
    _unfold.im2col, _unfold.col2im, _unfold.im2col1d, _unfold.col2im1d, _unfold.im2col3d,
    _unfold.col2im3d)})


def explain(op, *args, **kwargs):
    """The method a call would run, and every alternative, without running it.

    Parameters
    ----------
    op : str or function
        The operation to explain, by name or the function itself:
        ``'conv2d'``, ``'conv2d_direct'``, ``'conv2d_input_grad'``,
        ``'conv2d_weight_grad'``, ``'conv_transpose2d'``, ``'max_pool2d'``,
        ``'avg_pool2d'``, or a 1-D op: ``'conv1d'``, ``'conv1d_input_grad'``,
        ``'conv1d_weight_grad'``, ``'conv_transpose1d'``, ``'max_pool1d'``,
        ``'avg_pool1d'`` (the 2-D method chosen for the problem with a unit
        leading spatial axis, which is how they run), or an unfold:
        ``'im2col'``, ``'col2im'``, ``'im2col1d'``, ``'col2im1d'``,
        ``'im2col3d'``, ``'col2im3d'`` (which kernel route the arrays'
        layouts take: ``'contiguous'``, ``'copy'`` through a C-contiguous
        temporary, or ``'strided'`` in place). The pooling gradients have
        one method each.
    *args, **kwargs
        Exactly what the call would take (``method=`` included). Only shapes
        and dtypes are read, and whether the weight of an input gradient or
        transposed convolution holds inf or NaN (methods that multiply zero
        padding by the weight are then ruled out), so ``np.zeros`` arrays of
        the right shapes do.

    Returns
    -------
    choice : Choice
        ``choice.method`` the method that would run; ``choice.candidates``
        every method with its estimate (time relative to ``choice.unit``:
        for conv2d one bare GEMM of the problem's size, for pooling the
        direct kernel) or the reason it cannot run; ``choice.plan``,
        ``choice.machine`` (CPU model, threads, backend, workspace);
        ``print(choice)`` shows it all.

    Raises
    ------
    ValueError, TypeError
        As the call itself would raise for these arguments; ValueError for
        an unknown `op`.

    Notes
    -----
    The estimates are coarse, fitted on the benchmark layers (2 threads,
    float32: ``python -m pytest bench``; pooling: ``python
    bench/bench_pooling.py``); ``auto`` takes the lowest, so
    benchmarks and users can always tell which method ran. Costs a few
    microseconds; the choice is cached per problem.

    Examples
    --------
    >>> import numpy as np
    >>> import im2col_nb
    >>> x = np.zeros((8, 64, 56, 56), np.float32)
    >>> w = np.zeros((64, 64, 3, 3), np.float32)
    >>> im2col_nb.explain("conv2d", x, w, padding=1, method="im2col").method
    'im2col'
    >>> choice = im2col_nb.explain("conv2d", x, w[:, :, :1, :1])
    >>> choice.method
    'pointwise'
    >>> [c.name for c in choice.candidates]
    ['im2col', 'pointwise', 'shift', 'winograd', 'winograd2', 'winograd4', 'winograd6', 'direct']

    The gradients and the transposed convolution take the same arguments as
    their functions:

    >>> go = np.zeros((8, 64, 28, 28), np.float32)
    >>> im2col_nb.explain("conv2d_input_grad", x.shape, w, go, stride=2, padding=1).method
    'col2im'
    >>> choice = im2col_nb.explain(im2col_nb.conv2d_weight_grad, x, w.shape, go, stride=2,
    ...                            padding=1, method="im2col")
    >>> [c.name for c in choice.candidates]
    ['tiles', 'im2col', 'pointwise', 'direct']

    Pooling:

    >>> im2col_nb.explain("max_pool2d", x, 3, stride=2, padding=1).method
    'direct'

    Sequences (1-D ops) report the 2-D method their unit-axis problem runs:

    >>> choice = im2col_nb.explain("conv1d", np.zeros((4, 8, 100), np.float32),
    ...                            np.zeros((16, 8, 3), np.float32), method="im2col")
    >>> choice.op, choice.method
    ('conv1d', 'im2col')
    """
    name = getattr(op, "__name__", op)
    if not isinstance(name, str) or name not in _EXPLAINERS:
        names = ", ".join(repr(n) for n in _EXPLAINERS)
        raise ValueError(f"`op` must be one of {names}, got {op!r}")
    return _EXPLAINERS[name](args, kwargs)
