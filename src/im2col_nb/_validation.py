"""Argument checking shared by every public wrapper.

Everything a user passes is checked here, in plain Python, before any JIT code
runs: kernels only ever see C-contiguous float32/float64 arrays and plain
Python ints. Errors name the argument and repeat the value received.
"""

from __future__ import annotations

import numbers
import operator
from typing import NamedTuple

import numpy as np

__all__ = [
    "Geometry",
    "as_float_array",
    "check_ndim",
    "conv_geometry",
    "pair",
    "padding_arg",
    "result_dtype",
    "to_kernel_array",
]


def _describe(value) -> str:
    """Short repr of a user value for an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_int(name: str, value) -> int:
    # bool is an int subclass but never a meaningful size; floats such as 1.5
    # (and 2.0, as in PyTorch) are rejected rather than silently truncated.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int or a pair of ints, got {_describe(value)}")
    return operator.index(value)


def pair(name: str, value, *, minimum: int = 1) -> tuple[int, int]:
    """Normalise an int-or-(h, w) argument once, checking its range.

    >>> pair("stride", 2)
    (2, 2)
    >>> pair("stride", (1, 0))
    Traceback (most recent call last):
    ...
    ValueError: `stride` must be positive, got (1, 0)
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array is a scalar (np.array(2) is an int)
    if isinstance(value, (tuple, list, np.ndarray)):
        items = list(np.asarray(value, dtype=object).ravel()) if isinstance(value, np.ndarray) else list(value)
        if len(items) != 2:
            raise ValueError(f"`{name}` must be an int or a pair of ints, got {_describe(value)}")
        result = (_as_int(name, items[0]), _as_int(name, items[1]))
    else:
        v = _as_int(name, value)
        result = (v, v)
    if min(result) < minimum:
        kind = "positive" if minimum == 1 else "non-negative" if minimum == 0 else f">= {minimum}"
        shown = value if isinstance(value, (tuple, list)) else result[0]
        shown = tuple(shown) if isinstance(shown, list) else shown
        raise ValueError(f"`{name}` must be {kind}, got {shown}")
    return result


_FLOAT_KINDS = "fiub"


def as_float_array(name: str, value) -> np.ndarray:
    """Convert an array-like to a float32/float64 ndarray (no copy if already one).

    Integers and bools promote to float64 and float16 to float32, as documented
    for the package; complex, object, string and other dtypes raise TypeError.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"`{name}` must be array-like of real numbers, got {_describe(value)}") from exc
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
    if arr.ndim not in allowed:
        raise ValueError(f"`{name}` must be {what}, got an array of shape {arr.shape}")


def check_layout(layout) -> str:
    if not isinstance(layout, str) or layout.upper() not in ("NCHW", "NHWC"):
        raise ValueError(f"`layout` must be 'NCHW' or 'NHWC', got {_describe(layout)}")
    return layout.upper()


def padding_arg(padding, kernel_size: tuple[int, int], dilation: tuple[int, int],
                stride: tuple[int, int], *, allow_strings: bool = True) -> tuple[int, int, int, int]:
    """Resolve `padding` to (top, bottom, left, right).

    'same' follows PyTorch: the total d*(k-1) is split with the smaller half
    on top/left, so an even kernel gets the extra row/column at the bottom/right.
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if not allow_strings or mode not in ("same", "valid"):
            allowed = "an int, a pair of ints, 'valid' or 'same'" if allow_strings else "an int or a pair of ints"
            raise ValueError(f"`padding` must be {allowed}, got {padding!r}")
        if mode == "valid":
            return (0, 0, 0, 0)
        if stride != (1, 1):
            raise ValueError(f"`padding='same'` requires stride 1, got stride={stride}")
        total_h = dilation[0] * (kernel_size[0] - 1)
        total_w = dilation[1] * (kernel_size[1] - 1)
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    ph, pw = pair("padding", padding, minimum=0)
    return (ph, ph, pw, pw)


class Geometry(NamedTuple):
    """Everything a window kernel needs, as plain ints.

    `pad_top`/`pad_left` locate window origins; the bottom/right padding only
    enters through `out_h`/`out_w`.
    """

    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    dilation_h: int
    dilation_w: int
    out_h: int
    out_w: int

    @property
    def kernel_area(self) -> int:
        return self.kernel_h * self.kernel_w

    @property
    def out_area(self) -> int:
        return self.out_h * self.out_w


def conv_geometry(in_h: int, in_w: int, kernel_size, stride, padding, dilation,
                  *, allow_strings: bool = True, kernel_name: str = "kernel_size",
                  input_name: str = "input") -> Geometry:
    """Validate geometry arguments against an input plane and size the output.

    OH = floor((H + pad_top + pad_bottom - dilation*(kernel-1) - 1) / stride) + 1,
    and likewise for the width. `kernel_name` and `input_name` are the user's
    arguments the kernel size and the plane came from, for error messages
    (e.g. ``"weight"``, ``"output_size"``).
    """
    kh, kw = pair("kernel_size", kernel_size)
    sh, sw = pair("stride", stride)
    dh, dw = pair("dilation", dilation)
    top, bottom, left, right = padding_arg(padding, (kh, kw), (dh, dw), (sh, sw),
                                           allow_strings=allow_strings)
    span_h = dh * (kh - 1) + 1
    span_w = dw * (kw - 1) + 1
    padded_h = in_h + top + bottom
    padded_w = in_w + left + right
    if span_h > padded_h or span_w > padded_w:
        kernel = "`kernel_size`" if kernel_name == "kernel_size" else f"`{kernel_name}` kernel"
        raise ValueError(
            f"{kernel} {(kh, kw)} with dilation {(dh, dw)} spans {(span_h, span_w)}, "
            f"larger than the padded `{input_name}` {(padded_h, padded_w)} ({input_name} {(in_h, in_w)})"
        )
    out_h = (padded_h - span_h) // sh + 1
    out_w = (padded_w - span_w) // sw + 1
    return Geometry(kh, kw, sh, sw, top, left, dh, dw, out_h, out_w)
