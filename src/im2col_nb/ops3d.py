"""3-D convolution (volumes, video): conv3d, its gradients, conv_transpose3d.

The same arguments as ``torch.nn.functional.conv3d`` / ``conv_transpose3d``
and ``torch.nn.grad.conv3d_input`` / ``conv3d_weight``, plus a channels-last
layout, a memory budget and ``method=``. Each wrapper validates its
arguments once (``_engine/conv_nd.py``), the engine chooses a method
(`explain` shows which) and runs it on the backend's N-D im2col/col2im
kernels and NumPy's BLAS.
"""

from __future__ import annotations

import numpy as np

from ._core.validation import as_float_array, check_ndim, result_dtype, to_kernel_array
from ._core.workspace import resolve_budget
from ._engine.complex import backward as complex_backward
from ._engine.complex import bilinear, by_parts, is_complex
from ._engine.conv_nd import (
    add_bias,
    grad_output3d,
    layout_arg,
    pick3d,
    prepare_conv3d,
    prepare_transpose3d,
    run_conv3d,
    run_input_grad3d,
    run_weight_grad3d,
    shaped_problem3d,
)
from ._engine.problem import argument_names

__all__ = ["conv3d", "conv3d_backward", "conv3d_bias_grad", "conv3d_input_grad", "conv3d_weight_grad",
           "conv_transpose3d"]


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCDHW", max_workspace_bytes=None, method="auto", padding_mode="zeros"):
    """3-D convolution (cross-correlation) by im2col + one GEMM per group.

    Same arguments and result as ``torch.nn.functional.conv3d``, plus a
    channels-last layout, a memory budget and a choice of method.

    Parameters
    ----------
    input : array_like
        ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``; with
        ``layout="NDHWC"``: ``(N, D, H, W, C)`` or ``(D, H, W, C)``.
    weight : array_like, shape (F, C/groups, kd, kh, kw)
        Filters (the same layout for both `layout` values).
    bias : array_like, shape (F,), optional
    stride : int or (int, int, int), default 1
        A one-element tuple means that value on every axis, as in PyTorch
        (likewise for `padding` and `dilation`).
    padding : int, 3 ints, 3 (low, high) pairs, 'valid' or 'same', default 0
        Zeros added on both sides of each axis, or ``((front, back), (top,
        bottom), (left, right))``. ``'same'`` gives ``ceil(size / stride)``
        outputs per axis, the odd padding at the high end (PyTorch's rule with
        stride 1, TensorFlow's for any stride).
    dilation : int or (int, int, int), default 1
    groups : int, default 1
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, keyword-only
        What the padding holds, as ``torch.nn.Conv3d``'s `padding_mode`
        (plus NumPy's ``'symmetric'``): read in place through index tables,
        no padded copy of the input. ``'reflect'`` needs padding below the
        input size, ``'circular'`` at most the input size, on every axis (as
        in PyTorch).
    layout : {'NCDHW', 'NDHWC'}, keyword-only
        Memory layout of `input` and of the result. NDHWC is computed on
        channels-first copies of a few images at a time (counted against
        the workspace budget).
    max_workspace_bytes : int, optional, keyword-only
        Largest patch matrix (plus, for NDHWC, channels-first copies) built
        at once. Default: `get_max_workspace_bytes()`.
    method : {'auto', 'im2col', 'pointwise'}, keyword-only
        ``'auto'`` picks the method expected to be fastest (`explain` shows
        the choice); ``'im2col'``: patch-matrix chunks, one GEMM per group
        each, any problem; ``'pointwise'``: 1x1x1 stride-1 unpadded kernels,
        GEMMs straight on the input.

    Returns
    -------
    out : ndarray
        ``(N, F, OD, OH, OW)`` (``(N, OD, OH, OW, F)`` for NDHWC), without
        N for unbatched input; ``OD = (D + pad_front + pad_back - dd*(kd-1)
        - 1) // sd + 1`` and likewise OH, OW. float64 if any operand is
        float64 (or integer), else float32.

    Raises
    ------
    TypeError
        Complex, object or string arrays; non-integer geometry.
    ValueError
        `input` not 4-D or 5-D, `weight` not 5-D, a geometry tuple whose
        length is not 1 or 3 (the message names the argument and both
        lengths), channels not matching `weight`, `groups` not dividing
        channels or filters, `bias` of the wrong length, non-positive
        stride/dilation, negative padding, any of them above ``2**62`` (or a
        padded size or kernel span above it), an unknown padding string or
        layout, a kernel larger than the padded input, or a `method` that is
        unknown or cannot run this problem.

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*kd*kh*kw*OD*OH*OW`` flops in BLAS, plus one
    im2col pass. The patch matrix of a volume is ``kd*kh*kw`` times the
    size of the output volume per input channel (27x for a 3x3x3 kernel):
    it is never built whole beyond `max_workspace_bytes`, but in chunks of
    whole images while they fit, else of output-depth slabs of one image
    (at least one output depth plane per chunk), each reusing one scratch
    buffer.

    Zero input channels (``C = 0``, weight ``(F, 0, ...)``) sum nothing: the
    result is ``(N, F, ...)`` zeros plus the bias, the empty sum's value
    (PyTorch returns an empty ``(N, 0, ...)`` tensor there, and its
    gradients refuse it).

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv3d
    >>> x = np.ones((1, 2, 4, 5, 6))
    >>> w = np.ones((3, 2, 3, 3, 3))
    >>> conv3d(x, w).shape
    (1, 3, 2, 3, 4)
    >>> conv3d(x, w, padding="same", stride=2).shape
    (1, 3, 2, 3, 3)
    >>> float(conv3d(x, w, padding=1)[0, 0, 0, 0, 0])   # a corner: 2 channels x 2x2x2 taps
    16.0
    """
    if is_complex(input, weight, bias):
        return bilinear(lambda x, w, b: conv3d(
            x, w, b, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            input, weight, bias)
    call = prepare_conv3d(input, weight, bias, stride, padding, dilation, groups, layout,
                          padding_mode)
    return call.finish(run_conv3d(call, resolve_budget(max_workspace_bytes), method))


def conv3d_input_grad(input_shape, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                      *, layout="NCDHW", max_workspace_bytes=None, method="auto",
                      padding_mode="zeros"):
    """Gradient of `conv3d` with respect to its input.

    The counterpart of ``torch.nn.grad.conv3d_input``: ``W^T @ grad_output``
    (one GEMM per group) then col2im, which sums each patch entry back onto
    its voxel.

    Parameters
    ----------
    input_shape : tuple of int
        ``(N, C, D, H, W)`` or ``(C, D, H, W)`` (channels last with
        ``layout="NDHWC"``).
    weight : array_like, shape (F, C/groups, kd, kh, kw)
    grad_output : array_like
        Exactly the shape `conv3d` returns for this input and geometry.
    stride, padding, dilation, groups, layout, max_workspace_bytes
        As in `conv3d`.
    padding_mode : str, keyword-only
        As in `conv3d`. With a mode other than ``'zeros'`` the gradient of a
        padded voxel flows back to the input voxel it copies (mirrored
        contributions are summed: the adjoint of the padded gather).
    method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        ``'col2im'``: any problem; ``'full'`` (stride 1, padding within the
        dilated kernel span): conv3d of `grad_output` with the flipped,
        channel-swapped kernel, no col2im; ``'pointwise'``: 1x1x1 stride-1
        unpadded kernels, ``W^T @ grad_output`` straight into the result.

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
        `input_shape` not of length 4 or 5, `grad_output` not of the
        forward output's shape, any error `conv3d` raises (naming
        `input_shape` for the input), or a `method` that cannot run this
        problem.

    Notes
    -----
    Cost: the forward's GEMM flops plus one col2im pass. col2im overwrites
    whole volumes, so the patch matrix is built per chunk of images, then
    of channels of one image, then (one channel's patch matrix over
    `max_workspace_bytes`) of output-depth slabs summed through a temporary
    of the input depths they touch.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv3d, conv3d_input_grad
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2, 3, 5, 5, 5)); w = rng.normal(size=(4, 3, 3, 3, 3))
    >>> y = rng.normal(size=(2, 4, 3, 3, 3))
    >>> gx = conv3d_input_grad(x.shape, w, y, stride=2, padding=1)
    >>> gx.shape
    (2, 3, 5, 5, 5)
    >>> bool(np.isclose(np.sum(conv3d(x, w, stride=2, padding=1) * y), np.sum(x * gx)))
    True
    """
    if is_complex(weight, grad_output):  # the adjoint uses conj(weight), as PyTorch
        return bilinear(lambda w, g, _: conv3d_input_grad(
            input_shape, w, g, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            weight, grad_output, conjugate_a=True)
    shape, call, go = shaped_problem3d("input", input_shape, weight, grad_output, stride, padding,
                                       dilation, groups, layout, padding_mode)
    run_input_grad3d("conv3d_input_grad", call.problem, go, call.weight, call.x,
                     resolve_budget(max_workspace_bytes), method)
    return call.x.reshape(shape)


def conv3d_weight_grad(input, weight_shape, grad_output, stride=1, padding=0, dilation=1, groups=1,
                       *, layout="NCDHW", max_workspace_bytes=None, method="auto",
                       padding_mode="zeros"):
    """Gradient of `conv3d` with respect to its weight.

    The counterpart of ``torch.nn.grad.conv3d_weight``: ``grad_output @
    im2col(input)^T`` per group, accumulated over chunks.

    Parameters
    ----------
    input : array_like
        The forward input, as for `conv3d`.
    weight_shape : tuple of int
        ``(F, C/groups, kd, kh, kw)``.
    grad_output : array_like
        Exactly the shape `conv3d` returns.
    stride, padding, dilation, groups, layout, max_workspace_bytes, padding_mode
        As in `conv3d`.
    method : {'auto', 'im2col', 'pointwise'}, keyword-only
        ``'im2col'``: any problem; ``'pointwise'``: 1x1x1 stride-1 unpadded
        kernels, GEMMs straight on `input`.

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
        `weight_shape` not of length 5 or not matching the input channels
        and `groups`; `grad_output` not of the forward output's shape; any
        error `conv3d` raises; a `method` that cannot run this problem.

    Notes
    -----
    Cost: the forward's GEMM flops plus one im2col pass, the patch matrix
    chunked exactly as in `conv3d`; accumulated in the result dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv3d, conv3d_weight_grad
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2, 3, 5, 5, 5)); w = rng.normal(size=(4, 3, 3, 3, 3))
    >>> y = rng.normal(size=(2, 4, 5, 5, 5))
    >>> gw = conv3d_weight_grad(x, w.shape, y, padding="same")
    >>> gw.shape
    (4, 3, 3, 3, 3)
    >>> bool(np.isclose(np.sum(conv3d(x, w, padding="same") * y), np.sum(w * gw)))
    True
    """
    if is_complex(input, grad_output):  # pairs grad_output with conj(input), as PyTorch
        return bilinear(lambda x, g, _: conv3d_weight_grad(
            x, weight_shape, g, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            input, grad_output, conjugate_a=True)
    shape, call, go = shaped_problem3d("weight", weight_shape, input, grad_output, stride, padding,
                                       dilation, groups, layout, padding_mode)
    run_weight_grad3d(call.problem, call.x, go, call.weight, resolve_budget(max_workspace_bytes),
                      method)
    return call.weight.reshape(shape)


def conv3d_bias_grad(grad_output, *, layout="NCDHW"):
    """Gradient of `conv3d` with respect to its bias: `grad_output` summed
    over the batch and the three spatial axes.

    Parameters
    ----------
    grad_output : array_like
        ``(N, F, OD, OH, OW)`` or unbatched ``(F, OD, OH, OW)``; with
        ``layout="NDHWC"``: ``(N, OD, OH, OW, F)`` or ``(OD, OH, OW, F)``.
    layout : {'NCDHW', 'NDHWC'}, keyword-only

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
        If `grad_output` is not 4-D or 5-D, or `layout` is unknown.

    Notes
    -----
    Cost: one pass over `grad_output`.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv3d_bias_grad
    >>> conv3d_bias_grad(np.ones((2, 3, 2, 4, 4)))
    array([64., 64., 64.])
    """
    if is_complex(grad_output):
        return by_parts(lambda g: conv3d_bias_grad(g, layout=layout), grad_output)
    layout = layout_arg(layout)
    go = as_float_array("grad_output", grad_output)
    check_ndim("grad_output", go, (4, 5),
               f"4-D (unbatched) or 5-D ({'N, F, OD, OH, OW' if layout == 'NCDHW' else 'N, OD, OH, OW, F'})")
    channel_axis = go.ndim - 4 if layout == "NCDHW" else go.ndim - 1
    axes = tuple(a for a in range(go.ndim) if a != channel_axis)
    return go.sum(axis=axes, dtype=np.float64).astype(go.dtype)


def conv3d_backward(input, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                    layout="NCDHW", max_workspace_bytes=None, input_method="auto",
                    weight_method="auto", padding_mode="zeros"):
    """All three gradients of ``conv3d(input, weight, bias, ...)`` at once.

    Validates once and returns what `conv3d_input_grad`,
    `conv3d_weight_grad` and `conv3d_bias_grad` would.

    Parameters
    ----------
    input, weight
        The forward operands, as for `conv3d`.
    grad_output : array_like
        Gradient of the loss with respect to the forward output.
    stride, padding, dilation, groups, layout, max_workspace_bytes, padding_mode
        As in `conv3d`.
    input_method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        `conv3d_input_grad`'s `method`.
    weight_method : {'auto', 'im2col', 'pointwise'}, keyword-only
        `conv3d_weight_grad`'s `method`. Both are checked before either
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
        As `conv3d`, plus a `grad_output` not of the forward output's
        shape, or an `input_method` / `weight_method` that is unknown or
        cannot run this problem (the message names the argument).

    Notes
    -----
    Cost: twice the forward's GEMM flops, one im2col and one col2im pass,
    each within `max_workspace_bytes` as in the single gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv3d_backward
    >>> x = np.ones((1, 2, 3, 3, 3)); w = np.ones((4, 2, 2, 2, 2))
    >>> gx, gw, gb = conv3d_backward(x, w, np.ones((1, 4, 2, 2, 2)))
    >>> gx.shape, gw.shape, gb
    ((1, 2, 3, 3, 3), (4, 2, 2, 2, 2), array([8., 8., 8., 8.]))
    >>> gx[0, 0, 1]                 # the middle voxel is read by all 8 windows
    array([[ 8., 16.,  8.],
           [16., 32., 16.],
           [ 8., 16.,  8.]])
    """
    if is_complex(input, weight, grad_output):
        return complex_backward(conv3d_input_grad, conv3d_weight_grad, conv3d_bias_grad, input,
                                weight, grad_output, (stride, padding, dilation, groups),
                                input_method=input_method, weight_method=weight_method,
                                layout=layout, max_workspace_bytes=max_workspace_bytes,
                                padding_mode=padding_mode)
    call = prepare_conv3d(input, weight, None, stride, padding, dilation, groups, layout,
                          padding_mode)
    go = as_float_array("grad_output", grad_output)
    dtype = result_dtype(call.x, go)
    if dtype != call.x.dtype:
        call.x = to_kernel_array(call.x, dtype)
        call.weight = to_kernel_array(call.weight, dtype)
        call.problem = call.problem._replace(dtype=dtype)
    go5 = grad_output3d(go, call)
    budget = resolve_budget(max_workspace_bytes)
    problem = call.problem
    grad_input = np.empty(call.x.shape, dtype=dtype)
    grad_weight = np.empty(call.weight.shape, dtype=dtype)
    with argument_names(method="input_method"):
        pick3d("conv3d_input_grad", problem, budget, input_method, grad_input, (go5,))
    with argument_names(method="weight_method"):
        pick3d("conv3d_weight_grad", problem, budget, weight_method, grad_weight, (go5, call.x))
    run_input_grad3d("conv3d_input_grad", problem, go5, call.weight, grad_input, budget, input_method)
    run_weight_grad3d(problem, call.x, go5, grad_weight, budget, weight_method)
    grad_bias = conv3d_bias_grad(go5, layout=problem.layout)
    return (grad_input.reshape(np.shape(input)), grad_weight.reshape(np.shape(weight)), grad_bias)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, layout="NCDHW", max_workspace_bytes=None, method="auto"):
    """Transposed 3-D convolution ("deconvolution"), by GEMM + col2im.

    Same arguments and result as ``torch.nn.functional.conv_transpose3d``:
    the adjoint of `conv3d` with the same `weight`, stride, padding,
    dilation and groups (``conv3d_input_grad`` of the matching input shape),
    plus the bias.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, D, H, W)`` or unbatched ``(C_in, D, H, W)``; channels
        last with ``layout="NDHWC"``.
    weight : array_like, shape (C_in, F/groups, kd, kh, kw)
        Input channels first (PyTorch's layout; the forward conv3d's weight).
    bias : array_like, shape (F,), optional
    stride : int or (int, int, int), default 1
    padding : int, 3 ints, 3 (low, high) pairs, 'valid' or 'same', default 0
        Cropped from each side of the full result (the adjoint of `conv3d`
        with that padding). The strings follow TensorFlow's
        ``conv3d_transpose``, as in `conv_transpose2d` (PyTorch takes none):
        ``'same'`` gives ``size * stride`` outputs per axis; with either,
        `output_padding` must be 0.
    output_padding : int or (int, int, int), default 0
        Added at the high end of each axis, to pick one of the `stride`
        sizes a strided conv3d maps to the same output size; smaller than
        `stride` or `dilation` on each axis.
    groups : int, default 1
    dilation : int or (int, int, int), default 1
    layout : {'NCDHW', 'NDHWC'}, keyword-only
    max_workspace_bytes : int, optional, keyword-only
    method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        As in `conv3d_input_grad`.

    Returns
    -------
    out : ndarray
        ``(N, F, OD, OH, OW)`` (``(N, OD, OH, OW, F)`` for NDHWC), without
        N for unbatched input; ``F = groups * weight.shape[1]``, ``OD = (D -
        1)*sd - pad_front - pad_back + dd*(kd - 1) + output_padding_d + 1``,
        likewise OH, OW.

    Raises
    ------
    TypeError
        Complex/object arrays; non-integer geometry.
    ValueError
        `input` not 4-D or 5-D, `weight` not 5-D, a geometry tuple whose
        length is not 1 or 3, ``weight.shape[0]`` not the input channels,
        `groups` not dividing them, `bias` not of shape (F,), `output_padding`
        not smaller than `stride` or `dilation`, a stride, dilation or
        padding above ``2**62`` (or an uncropped output larger than that), an
        output size that is not positive, or a `method` that cannot run this
        problem.

    Notes
    -----
    Cost: ``2*N*C_in*(F/groups)*kd*kh*kw*D*H*W`` flops in BLAS plus one
    col2im pass, chunked within `max_workspace_bytes` as in
    `conv3d_input_grad`.

    A weight holding inf or NaN never meets the zero padding: positions it
    does not reach stay finite, as in PyTorch (the stride-1 method that
    convolves the zero-padded input with the flipped kernel, ``'full'``,
    gives way to ``'col2im'`` then, even when asked for; `explain` says so).

    Examples
    --------
    A 2x2x2 kernel of ones with stride 2 stamps each voxel onto a 2x2x2
    block:

    >>> import numpy as np
    >>> from im2col_nb import conv_transpose3d
    >>> x = np.arange(8.0).reshape(1, 1, 2, 2, 2)
    >>> out = conv_transpose3d(x, np.ones((1, 1, 2, 2, 2)), stride=2)
    >>> out.shape
    (1, 1, 4, 4, 4)
    >>> out[0, 0, 3]
    array([[4., 4., 5., 5.],
           [4., 4., 5., 5.],
           [6., 6., 7., 7.],
           [6., 6., 7., 7.]])
    >>> conv_transpose3d(np.ones((2, 4, 4, 4)), np.ones((2, 3, 3, 3, 3)), stride=2, padding=1,
    ...                  output_padding=1).shape
    (3, 8, 8, 8)
    """
    if is_complex(input, weight, bias):
        return bilinear(lambda x, w, b: conv_transpose3d(
            x, w, b, stride, padding, output_padding, groups, dilation, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method), input, weight, bias)
    call = prepare_transpose3d(input, weight, bias, stride, padding, output_padding, groups,
                               dilation, layout)
    out = np.empty(call.out_shape, dtype=call.x.dtype)
    run_input_grad3d("conv_transpose3d", call.problem, call.x, call.weight, out,
                     resolve_budget(max_workspace_bytes), method)
    add_bias(out, call.bias, call.layout)
    return call.finish(out)
