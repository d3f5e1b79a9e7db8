"""Transposed convolution: the adjoint of conv2d.

``conv_transpose2d(x, w)`` is the input gradient of a convolution whose
output is ``x``: the same GEMM + col2im as `conv2d_input_grad`, with the
geometry read backwards.
"""

from __future__ import annotations

import numpy as np

from ._core.geometry import Geometry
from ._core.validation import (
    as_float_array,
    check_layout,
    pair,
    positive_int,
    result_dtype,
    to_kernel_array,
)
from ._core.workspace import resolve_budget
from ._engine.backward import input_grad
from ._engine.problem import batch_conv_operands

__all__ = ["conv_transpose2d"]


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
    input_grad(x4, w4, out, geom, groups, layout, resolve_budget(max_workspace_bytes))
    if b is not None and out.size:
        out += b[:, None, None] if layout == "NCHW" else b
    if squeeze == 2:
        return out[0, 0] if layout == "NCHW" else out[0, :, :, 0]
    return out[0] if squeeze == 1 else out
