"""Argument checking: the one vocabulary every public wrapper validates with.

Everything a user passes is checked here, in plain Python, before any JIT code
runs: kernels only ever see C-contiguous float32/float64 arrays and plain
Python ints. Errors name the argument and repeat the value received, as
``ValueError("`stride` must be positive, got 0")``.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

__all__ = [
    "MAX_INT",
    "as_float_array",
    "as_int",
    "check_choice",
    "check_layout",
    "check_ndim",
    "describe",
    "flag",
    "int_tuple",
    "optional_nonzero_int",
    "pair",
    "positive_int",
    "result_dtype",
    "shape_arg",
    "to_kernel_array",
]


# The largest size, stride, dilation or padding the kernels take: their index
# arithmetic is int64, and a window's first tap (o * stride - padding) plus
# its span must not overflow it. Sums of these (a padded extent, a window's
# span) are checked against the same bound in `geometry`.
MAX_INT = 2**62


def describe(value) -> str:
    """Short repr of a user value for an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value) -> bool:
    # bool is an int subclass but never a meaningful size; floats such as 1.5
    # (and 2.0, as in PyTorch) are rejected rather than silently truncated.
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def as_int(name: str, value, what: str = "an int") -> int:
    """`value` as a Python int, or TypeError "`name` must be <what>, got ..."."""
    if not _is_int(value):
        raise TypeError(f"`{name}` must be {what}, got {describe(value)}")
    return operator.index(value)


def positive_int(name: str, value, what: str = "a positive int") -> int:
    """A positive int (`groups`, a byte budget, a thread count...)."""
    value = as_int(name, value, what)
    if value < 1:
        raise ValueError(f"`{name}` must be positive, got {value}")
    return value


def optional_nonzero_int(name: str, value) -> int:
    """0 for None, else a non-zero int (``divisor_override``)."""
    if value is None:
        return 0
    value = as_int(name, value, "None or an int")
    if value == 0:
        raise ValueError(f"`{name}` must not be zero, got 0")
    return value


def flag(name: str, value) -> bool:
    """A bool (or 0/1)."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"`{name}` must be a bool, got {describe(value)}")


def check_choice(name: str, value, choices, *, none: str | None = None) -> str:
    """One of `choices` (case-insensitive), returned lower-case; None maps to
    `none` when given."""
    if value is None and none is not None:
        return none
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    listed = ", ".join(repr(c) for c in choices)
    prefix = "None, " if none is not None else ""
    raise ValueError(f"`{name}` must be one of {prefix}{listed}, got {describe(value)}")


def _tuple_words(ndim: int) -> str:
    return "an int or a pair of ints" if ndim == 2 else f"an int or a tuple of {ndim} ints"


def int_tuple(name: str, value, ndim: int, *, minimum: int = 1) -> tuple[int, ...]:
    """Normalise an int-or-tuple argument to `ndim` ints once, checking their range.

    A one-element tuple or list means that value on every axis, as in PyTorch.
    Every value must be at least `minimum` and at most ``2**62`` (`MAX_INT`,
    what the int64 index arithmetic of the kernels takes).

    >>> int_tuple("stride", 2, 2)
    (2, 2)
    >>> int_tuple("stride", (3,), 2)
    (3, 3)
    >>> int_tuple("stride", (1, 0), 2)
    Traceback (most recent call last):
    ...
    ValueError: `stride` must be positive, got (1, 0)
    >>> int_tuple("stride", 2**63, 2)
    Traceback (most recent call last):
    ...
    ValueError: `stride` must be at most 2**62, got 9223372036854775808
    """
    # the common cases first: a plain int, or a tuple of plain ints
    if type(value) is int and minimum <= value <= MAX_INT:
        return (value,) * ndim
    if (type(value) is tuple and len(value) == ndim and all(type(v) is int for v in value)
            and min(value) >= minimum and max(value) <= MAX_INT):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array is a scalar (np.array(2) is an int)
    what = _tuple_words(ndim)
    if isinstance(value, (tuple, list, np.ndarray)):
        items = list(np.asarray(value, dtype=object).ravel()) if isinstance(value, np.ndarray) else list(value)
        if len(items) == 1:
            items = items * ndim
        if len(items) != ndim:
            raise ValueError(f"`{name}` must be {what}, got {describe(value)}")
        result = tuple(as_int(name, v, what) for v in items)
    else:
        result = (as_int(name, value, what),) * ndim
    if min(result) < minimum:
        kind = "positive" if minimum == 1 else "non-negative" if minimum == 0 else f">= {minimum}"
        shown = value if isinstance(value, (tuple, list)) else result[0]
        shown = tuple(shown) if isinstance(shown, list) else shown
        raise ValueError(f"`{name}` must be {kind}, got {shown}")
    if max(result) > MAX_INT:
        shown = value if isinstance(value, (tuple, list)) else result[0]
        shown = tuple(shown) if isinstance(shown, list) else shown
        raise ValueError(f"`{name}` must be at most 2**62, got {shown}")
    return result


def pair(name: str, value, *, minimum: int = 1) -> tuple[int, int]:
    """`int_tuple` for the two axes of an image.

    >>> pair("stride", 2)
    (2, 2)
    """
    return int_tuple(name, value, 2, minimum=minimum)


def shape_arg(name: str, value, lengths: tuple[int, ...], what: str) -> tuple[int, ...]:
    """A shape given as a sequence of non-negative ints (tuple, list, array,
    ``torch.Size``...) with one of the accepted `lengths`."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"`{name}` must be a tuple of ints, got {describe(value)}")
    items = tuple(value.tolist() if isinstance(value, np.ndarray) else value)
    if not all(_is_int(v) for v in items):
        raise TypeError(f"`{name}` must be a tuple of ints, got {describe(value)}")
    items = tuple(int(v) for v in items)
    if len(items) not in lengths:
        raise ValueError(f"`{name}` must be {what}, got {items}")
    if items and min(items) < 0:
        raise ValueError(f"`{name}` must not have negative sizes, got {items}")
    if items and max(items) > MAX_INT:
        raise ValueError(f"`{name}` sizes must be at most 2**62, got {items}")
    return items


_FLOAT_KINDS = "fiub"


def as_float_array(name: str, value) -> np.ndarray:
    """Convert an array-like to a float32/float64 ndarray (no copy if already one).

    Integers and bools promote to float64 and float16 to float32, as documented
    for the package; complex, object, string and other dtypes raise TypeError.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"`{name}` must be array-like of real numbers, got {describe(value)}") from exc
    if arr.dtype.kind not in _FLOAT_KINDS:
        raise TypeError(
            f"`{name}` must hold real numbers (float, int or bool), got dtype {arr.dtype}"
        )
    if arr.dtype.kind == "f":
        if arr.dtype.itemsize > 8:
            raise TypeError(f"`{name}` dtype {arr.dtype} is not supported; use float32 or float64")
        if arr.dtype.itemsize < 4:
            return arr.astype(np.float32)
        return arr
    return arr.astype(np.float64)


def result_dtype(*arrays) -> np.dtype:
    """float64 if any operand is float64, else float32."""
    for a in arrays:
        if a is not None and a.dtype.itemsize == 8:
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def to_kernel_array(arr: np.ndarray, dtype) -> np.ndarray:
    """C-contiguous, native-byte-order copy or view in `dtype`.

    Fortran order, negative strides, slices and byte-swapped arrays are copied;
    an already suitable array is passed through untouched (kernels never write
    to their inputs, so read-only arrays are fine).
    """
    return np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("="))


def check_ndim(name: str, arr: np.ndarray, allowed: tuple[int, ...], what: str) -> None:
    """ValueError unless ``arr.ndim`` is one of `allowed` (`what` describes them)."""
    if arr.ndim not in allowed:
        raise ValueError(f"`{name}` must be {what}, got an array of shape {arr.shape}")


def check_layout(layout) -> str:
    """'NCHW' or 'NHWC' (case-insensitive)."""
    if not isinstance(layout, str) or layout.upper() not in ("NCHW", "NHWC"):
        raise ValueError(f"`layout` must be 'NCHW' or 'NHWC', got {describe(layout)}")
    return layout.upper()
