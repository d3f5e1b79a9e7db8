"""Which method a call runs, and why: `explain`.

Operations with several implementations (``conv2d``: im2col tiles,
pointwise GEMMs, shifted GEMMs, direct loops) take ``method="auto"`` or a
method's name; `explain` shows, without computing anything, which method a
call would run, every alternative with its estimate or why it cannot run,
and what the choice read from the machine.
"""

from __future__ import annotations

import inspect

from ._core.workspace import resolve_budget
from ._engine.conv import explain_conv2d
from ._engine.problem import prepare_conv
from .convolution import conv2d

__all__ = ["explain"]

_SIGNATURE = inspect.signature(conv2d)


def explain(op, *args, **kwargs):
    """The method a call would run, and every alternative, without running it.

    Parameters
    ----------
    op : {'conv2d', 'conv2d_direct'} or the function itself
        The operation to explain.
    *args, **kwargs
        Exactly what the call would take (``method=`` included). Only shapes
        and dtypes are read, so ``np.empty`` arrays of the right shapes do.

    Returns
    -------
    choice : Choice
        ``choice.method`` the method that would run; ``choice.candidates``
        every method with its estimate (time relative to one bare GEMM of
        the problem's size) or the reason it cannot run; ``choice.plan``,
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
    float32: ``python -m pytest bench``); ``auto`` takes the lowest, so
    benchmarks and users can always tell which method ran. Costs a few
    microseconds; the choice is cached per problem.

    Examples
    --------
    >>> import numpy as np
    >>> import im2col_nb
    >>> x = np.empty((8, 64, 56, 56), np.float32)
    >>> w = np.empty((64, 64, 3, 3), np.float32)
    >>> im2col_nb.explain("conv2d", x, w, padding=1, method="im2col").method
    'im2col'
    >>> choice = im2col_nb.explain("conv2d", x, w[:, :, :1, :1])
    >>> choice.method
    'pointwise'
    >>> [c.name for c in choice.candidates]
    ['im2col', 'pointwise', 'shift', 'direct']
    """
    name = getattr(op, "__name__", op)
    if name not in ("conv2d", "conv2d_direct"):
        raise ValueError(f"`op` must be 'conv2d' or 'conv2d_direct', got {op!r}")
    if name == "conv2d_direct":
        kwargs = {**kwargs, "method": "direct"}
    bound = _SIGNATURE.bind(*args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    call = prepare_conv(a["input"], a["weight"], a["bias"], a["stride"], a["padding"],
                        a["dilation"], a["groups"], a["layout"])
    return explain_conv2d(call, resolve_budget(a["max_workspace_bytes"]), a["method"])
