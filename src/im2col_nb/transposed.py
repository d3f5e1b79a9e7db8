"""Transposed convolution: the adjoint of conv2d.

``conv_transpose2d(x, w)`` is the input gradient of a convolution whose
output is ``x``: the same methods as `conv2d_input_grad` (GEMM + col2im,
the full correlation, pointwise GEMMs; ``_engine/grad.py``), with the
geometry read backwards.
"""

from __future__ import annotations

import numpy as np

from ._core.workspace import resolve_budget
from ._engine.complex import bilinear, is_complex
from ._engine.grad import run_input_grad
from ._engine.problem import prepare_transpose

__all__ = ["conv_transpose2d"]


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, layout="NCHW", max_workspace_bytes=None, method="auto"):
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
    padding : int, (int, int), ((int, int), (int, int)), 'valid' or 'same', default 0
        ``dilation*(kernel-1) - padding`` zeros are implicitly added on both
        sides of the input; equivalently, `padding` rows/columns are cropped
        from each side of the full result; ``((top, bottom), (left, right))``
        crops different amounts from each side (the adjoint of `conv2d` with
        that padding). The strings follow TensorFlow's ``conv2d_transpose``
        (PyTorch takes none): ``'same'`` gives exactly ``H * sh`` rows (the
        adjoint of ``conv2d(..., padding='same')`` on an ``H * sh`` input),
        ``'valid'`` gives ``H * sh + max(dh*(kh-1) + 1 - sh, 0)``; with
        either, `output_padding` must be 0.
    output_padding : int or (int, int), default 0
        Extra rows/columns added to the bottom/right of the output, to pick
        one of the `stride` input sizes that a strided conv2d maps to the
        same output size. Must be smaller than `stride` or `dilation` in each
        dimension.
    groups : int, default 1
    dilation : int or (int, int), default 1
    layout : {'NCHW', 'NHWC'}, keyword-only
    max_workspace_bytes : int, optional, keyword-only
    method : {'auto', 'col2im', 'full', 'pointwise'}, keyword-only
        How to compute it, as in `conv2d_input_grad`: ``'auto'`` (default)
        picks the method expected to be fastest (`explain` shows the choice
        and why); ``'col2im'``: one GEMM per group, then col2im sums the
        patch entries onto the output; ``'full'`` (stride 1 only): a forward
        conv2d of `input` with the flipped kernel, by conv2d's own method
        choice; ``'pointwise'``: 1x1 stride-1 unpadded kernels, GEMMs
        straight on `input`.

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
        Object arrays; non-integer geometry (complex operands are taken, as
        in `conv2d`).
    ValueError
        Wrong number of dimensions; ``weight.shape[0]`` not the input
        channels; `groups` not dividing them; `bias` not of shape (F,);
        non-positive stride/dilation, negative padding/output_padding, any
        of them above ``2**62`` (or an uncropped output larger than that);
        `output_padding` not smaller than `stride` or `dilation`; an output
        size that is not positive; a `method` that is unknown or cannot run
        this problem (the message lists those that can).

    Notes
    -----
    Cost: ``2*N*C_in*(F/groups)*kh*kw*H*W`` flops in BLAS plus one col2im pass,
    the patch matrix chunked within `max_workspace_bytes` as in
    `conv2d_input_grad` (stride 1: a forward convolution with the flipped
    kernel where that is cheaper, as there).

    A weight holding inf or NaN never meets the zero padding: positions it
    does not reach stay finite, as in PyTorch (the stride-1 method that
    convolves the zero-padded input with the flipped kernel, ``'full'``,
    gives way to ``'col2im'`` then, even when asked for; `explain` says so).

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
    if is_complex(input, weight, bias):
        return bilinear(lambda x, w, b: conv_transpose2d(
            x, w, b, stride, padding, output_padding, groups, dilation, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method), input, weight, bias)
    call = prepare_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                             layout)
    out = np.empty(call.out_shape, dtype=call.x.dtype)
    run_input_grad("conv_transpose2d", call.problem, call.x, call.weight, out,
                   resolve_budget(max_workspace_bytes), method)
    if call.bias is not None and out.size:
        out += call.bias[:, None, None] if call.layout == "NCHW" else call.bias
    return call.finish(out)
