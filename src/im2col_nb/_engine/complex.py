"""Complex convolution from real ones: a complex product is four real ones.

``(ar + i ai) * (br + i bi) = (ar br - ai bi) + i (ar bi + ai br)`` holds
for any bilinear real operation -- a convolution of an input with a weight,
a transposed convolution, the weight gradient of an input with an output
gradient -- so each complex operation runs as up to four calls of the real
one, through every method, layout and the workspace budget, and the real
calls validate the arguments with the user's own shapes. Parts that are
absent (a real weight) are skipped: two calls, not four. The four-product
form is used rather than Gauss's three-product one, whose imaginary part
cancels large terms and loses accuracy (a (1e4 + 1e-4 i) input loses half
its digits there); both cost the same GEMM work as one complex GEMM, four
real multiplies per complex one.

Gradients follow PyTorch's convention for complex autograd (the conjugate
Wirtinger gradient, ``dL/dRe + i dL/dIm`` for a real loss L): the input
gradient of ``y = conv(x, w)`` is ``conv^H`` applied to the output gradient,
i.e. the real input gradient with ``conj(w)``, and the weight gradient uses
``conj(x)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["backward", "bilinear", "by_parts", "is_complex", "parts"]


def is_complex(*values) -> bool:
    """Whether any of `values` (arrays, array-likes or None) is complex."""
    for v in values:
        if v is None:
            continue
        dtype = getattr(v, "dtype", None)
        if dtype is None:
            try:
                dtype = np.asarray(v).dtype
            except Exception:  # ragged lists and the like: validation reports them
                continue
        if getattr(dtype, "kind", None) == "c":
            return True
    return False


def parts(value, conjugate: bool = False):
    """(real, imaginary, sign) of `value`: the imaginary part None for a
    real array (or None), `sign` -1 to use its conjugate."""
    if value is None:
        return None, None, 1
    arr = np.asarray(value)
    if arr.dtype.kind != "c":
        return arr, None, 1
    return arr.real, arr.imag, -1 if conjugate else 1


def _combine(real, imag):
    """real + i imag in the complex dtype of their float dtype."""
    dtype = np.result_type(real.dtype, np.complex64)
    out = np.empty(real.shape, dtype=dtype)
    out.real = real
    out.imag = 0 if imag is None else imag
    return out


def bilinear(op, a, b, bias=None, *, conjugate_a: bool = False):
    """``op(a, b, bias)`` for complex `a`, `b`, `bias`, where ``op(a, b,
    bias)`` is real and bilinear in (a, b) and adds a real `bias` (or None).

    With `conjugate_a`, ``conj(a)`` is used in place of `a`.
    """
    ar, ai, sa = parts(a, conjugate_a)
    br, bi, _ = parts(b)
    bias_r, bias_i, _ = parts(bias)
    real = op(ar, br, bias_r)
    if ai is not None and bi is not None:
        # a product of two imaginary parts: i * i = -1 (conj(a): -(-1))
        term = op(ai, bi, None)
        if sa > 0:
            real -= term
        else:
            real += term
    imag = None
    if bi is not None:
        imag = op(ar, bi, bias_i)
        bias_i = None
    if ai is not None:
        term = op(ai, br, bias_i)
        bias_i = None
        if imag is None:
            imag = term if sa > 0 else -term
        elif sa > 0:
            imag += term
        else:
            imag -= term
    if bias_i is not None:  # real a and b, complex bias: only the bias is imaginary
        # zero operands give the bias alone, exactly (0 * 0 sums to 0)
        imag = op(np.zeros_like(ar), np.zeros_like(br), bias_i)
    return _combine(real, imag)


def by_parts(op, value):
    """``op(value)`` for a complex `value`, where ``op`` is real and linear
    (a bias gradient's sum): ``op(real) + i op(imag)``."""
    arr = np.asarray(value)
    return _combine(op(arr.real), op(arr.imag))


def backward(input_grad, weight_grad, bias_grad, input, weight, grad_output, geometry, *,
             input_method, weight_method, **common):
    """``(grad_input, grad_weight, grad_bias)`` of a complex convolution,
    each by its public function's own complex route (`geometry`: stride,
    padding, dilation, groups; `common`: the keywords both gradients take,
    ``layout`` among them)."""
    return (input_grad(np.shape(input), weight, grad_output, *geometry, method=input_method,
                       **common),
            weight_grad(input, np.shape(weight), grad_output, *geometry, method=weight_method,
                        **common),
            bias_grad(grad_output, layout=common["layout"]))
