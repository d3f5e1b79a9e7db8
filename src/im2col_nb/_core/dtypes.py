"""Which dtype an operation computes in, decided in one place.

Operations that only move or compare values -- max pooling and its
backward scatter -- keep the input's dtype: bool, every integer width and
float16 come back as they went in (pytorch#44989 asks for integer unfold;
image pipelines feed uint8). Their kernels compile for an integer dtype
only when one is first used, so float users never pay for it. float16 is
computed in float32 (Numba has no float16 arithmetic) and cast back, which
is exact for a value picked, not computed. Operations that multiply or
divide (convolution, average pooling) compute in float (``as_float_array``).
"""

from __future__ import annotations

import numpy as np

from .validation import describe

__all__ = ["as_value_array", "lowest"]

_KEPT_KINDS = "biu"  # bool, signed and unsigned integers


def as_value_array(name: str, value, complex_ok: bool = False) -> tuple[np.ndarray, np.dtype]:
    """`value` as an array a value-moving kernel takes, and the dtype to return.

    bool and integer arrays pass through; float16 becomes float32 (the
    result is cast back); float32/float64 pass through, and complex64/128
    with `complex_ok` (operations that only copy and add, as im2col and
    col2im). Object and other dtypes raise TypeError naming `name`.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"`{name}` must be array-like of real numbers, got {describe(value)}") from exc
    kind = arr.dtype.kind
    native = arr.dtype.newbyteorder("=")  # results in native byte order, as NumPy's own
    if kind in _KEPT_KINDS:
        return arr, native
    if kind == "f" and arr.dtype.itemsize <= 8:
        return (arr.astype(np.float32) if arr.dtype.itemsize < 4 else arr), native
    if complex_ok and kind == "c" and arr.dtype.itemsize <= 16:
        return arr, native
    what = "numbers (float, complex, int or bool)" if complex_ok else "real numbers (float, int or bool)"
    raise TypeError(f"`{name}` must hold {what}, got dtype {arr.dtype}")


def lowest(dtype):
    """The value no element can be below, as a scalar of `dtype`: -inf for
    floats, the minimum for integers, False for bool (max pooling's start)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return dtype.type(-np.inf)
    if dtype.kind == "b":
        return np.bool_(False)
    return dtype.type(np.iinfo(dtype).min)
