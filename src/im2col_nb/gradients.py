"""Gradients of conv2d with respect to its input, weight and bias.

Three functions named like ``torch.nn.grad.conv2d_input`` /
``conv2d_weight`` (plus ``conv2d_bias_grad``), so each gradient can be asked
for on its own (a first layer never needs its input gradient), and
``conv2d_backward``, which validates once and returns all three. Each is a
public wrapper: validation here, the work in the engine (the methods in
``_engine/grad.py``, their drivers in ``_engine/backward.py``), one BLAS
matrix multiply per group on a patch matrix in the same bounded, reused
scratch memory as the forward pass. ``method=`` forces one of the methods
(``input_method=`` / ``weight_method=`` for `conv2d_backward`); `explain`
shows which one ``"auto"`` picks.
"""

from __future__ import annotations

import numpy as np

from ._core.validation import as_float_array, check_layout, check_ndim, result_dtype, to_kernel_array
from ._core.workspace import resolve_budget
from ._engine.complex import backward as complex_backward
from ._engine.complex import bilinear, by_parts, is_complex
from ._engine.grad import pick, run_input_grad, run_weight_grad
from ._engine.problem import argument_names, grad_output_arg, prepare_conv, shaped_problem

__all__ = ["conv2d_backward", "conv2d_bias_grad", "conv2d_input_grad", "conv2d_weight_grad"]


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------


def conv2d_input_grad(input_shape, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                      layout="NCHW", max_workspace_bytes=None, method="auto", padding_mode="zeros"):
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
    method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        How to compute it. ``'auto'`` (default) picks the method expected
        to be fastest for this problem on this machine; `explain` shows the
        choice and why. ``'col2im'``: ``W^T @ grad_output`` then col2im, any
        problem; ``'full'``: stride 1 (and padding at most the dilated
        kernel span minus one), conv2d of `grad_output` with the flipped,
        channel-swapped kernel, by conv2d's own method choice (shifted GEMMs
        where those pay), no col2im; ``'pointwise'``: 1x1 stride-1 unpadded
        kernels, ``W^T @ grad_output`` straight into the result.

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
        `input_shape` of the wrong length or negative, `weight` not matching
        its channels or `groups`, `grad_output` not of the forward output's
        shape, any geometry error `conv2d` raises, or a `method` that is
        unknown or cannot run this problem (the message lists those that
        can).

    Notes
    -----
    Complex operands follow PyTorch's autograd: the result is the adjoint
    (conjugate transpose) of the convolution applied to `grad_output`, i.e.
    the real computation with ``conj(weight)``, run as real ones (see
    `conv2d`); `conv2d_weight_grad` likewise pairs `grad_output` with
    ``conj(input)``.

    Cost: ``2*N*F*(C/groups)*kh*kw*OH*OW`` flops in BLAS (the forward's),
    plus one col2im pass over the patch matrix. The patch matrix is built in
    chunks of images, then of channels of one image (NCHW) or of output rows
    (NHWC), within `max_workspace_bytes` (at least one channel or output row
    of one image is built at once). With stride 1 ``'auto'`` computes the
    gradient, where that is cheaper, as ``conv2d`` of `grad_output` with the
    flipped kernel (``'full'`` correlation): the same flops, and no col2im
    (on the benchmark layers 1.1-2.1x faster; see docs/how-im2col-works.md)
    -- where it runs as shifted GEMMs, or the input has at least as many
    channels as there are filters.

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
    if is_complex(weight, grad_output):
        # the adjoint of a complex convolution uses the conjugate weight
        return bilinear(lambda w, g, _: conv2d_input_grad(
            input_shape, w, g, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            weight, grad_output, conjugate_a=True)
    shape, p, go4 = shaped_problem("input", input_shape, weight, grad_output,
                                    stride, padding, dilation, groups, layout, padding_mode)
    run_input_grad("conv2d_input_grad", p.problem, go4, p.weight, p.x,
                   resolve_budget(max_workspace_bytes), method)
    return p.x.reshape(shape)


def conv2d_weight_grad(input, weight_shape, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                       layout="NCHW", max_workspace_bytes=None, method="auto", padding_mode="zeros"):
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
    method : {'auto', 'tiles', 'im2col', 'pointwise'}, keyword-only
        How to compute it. ``'auto'`` (default) picks the method expected
        to be fastest for this problem on this machine; `explain` shows the
        choice and why. ``'tiles'``: NCHW with the Numba backend (and
        NumPy's BLAS), conv2d's cache-sized patch-matrix tiles in one
        parallel kernel; ``'im2col'``: the patch matrix of chunks of images
        (or output rows) within `max_workspace_bytes`, batched GEMMs, any
        problem; ``'pointwise'``: 1x1 stride-1 unpadded kernels, GEMMs
        straight on `input`.

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
        `weight_shape` of the wrong length, negative or not matching the
        input channels and `groups`; `grad_output` not of the forward
        output's shape; any geometry error `conv2d` raises; a `method` that
        is unknown or cannot run this problem (the message lists those that
        can).

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*kh*kw*OH*OW`` flops in BLAS plus one im2col pass,
    with the patch matrix chunked exactly as in `conv2d`. The result is
    accumulated chunk by chunk in the result dtype. ``'auto'`` takes
    ``'tiles'`` where it runs and the call has at least 4 MFLOP (smaller
    calls never compile its kernel), ``'pointwise'`` for 1x1 stride-1
    unpadded kernels, else ``'im2col'``.

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
    if is_complex(input, grad_output):
        # the gradient of a complex weight pairs the output gradient with conj(input)
        return bilinear(lambda x, g, _: conv2d_weight_grad(
            x, weight_shape, g, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            input, grad_output, conjugate_a=True)
    shape, p, go4 = shaped_problem("weight", weight_shape, input, grad_output,
                                    stride, padding, dilation, groups, layout, padding_mode)
    run_weight_grad(p.problem, p.x, go4, p.weight, resolve_budget(max_workspace_bytes), method)
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
        If `grad_output` holds no numbers (object or string arrays; complex
        is summed part by part).
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
    if is_complex(grad_output):
        return by_parts(lambda g: conv2d_bias_grad(g, layout=layout), grad_output)
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
                    layout="NCHW", max_workspace_bytes=None, input_method="auto",
                    weight_method="auto", padding_mode="zeros"):
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
    input_method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        The input gradient's method: `conv2d_input_grad`'s `method`.
    weight_method : {'auto', 'tiles', 'im2col', 'pointwise'}, keyword-only
        The weight gradient's method: `conv2d_weight_grad`'s `method`. Both
        are checked before either gradient is computed.

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
        As `conv2d`, plus a `grad_output` not of the forward output's shape,
        or an `input_method` / `weight_method` that is unknown or cannot run
        this problem (the message names the argument and lists the methods
        that can).

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
    if is_complex(input, weight, grad_output):
        return complex_backward(conv2d_input_grad, conv2d_weight_grad, conv2d_bias_grad, input,
                                weight, grad_output, (stride, padding, dilation, groups),
                                input_method=input_method, weight_method=weight_method,
                                layout=layout, max_workspace_bytes=max_workspace_bytes,
                                padding_mode=padding_mode)
    p = prepare_conv(input, weight, None, stride, padding, dilation, groups, layout, padding_mode)
    go = as_float_array("grad_output", grad_output)
    dtype = result_dtype(p.x, go)
    if dtype != p.x.dtype:
        p.x = to_kernel_array(p.x, dtype)
        p.weight = to_kernel_array(p.weight, dtype)
    go4 = grad_output_arg(go, p)
    budget = resolve_budget(max_workspace_bytes)
    problem = p.problem
    grad_input = np.empty(p.x.shape, dtype=dtype)
    grad_weight = np.empty(p.weight.shape, dtype=dtype)
    # both methods checked before any work, errors under the argument's name
    with argument_names(method="input_method"):
        pick("conv2d_input_grad", problem, budget, input_method, grad_input, (go4,))
    with argument_names(method="weight_method"):
        pick("conv2d_weight_grad", problem, budget, weight_method, grad_weight, (go4, p.x))
    run_input_grad("conv2d_input_grad", problem, go4, p.weight, grad_input, budget, input_method)
    run_weight_grad(problem, p.x, go4, grad_weight, budget, weight_method)
    grad_bias = conv2d_bias_grad(go4, layout=p.layout)
    return grad_input.reshape(np.shape(input)), grad_weight.reshape(np.shape(weight)), grad_bias
