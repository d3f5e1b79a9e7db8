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
    "pool_geometry",
    "pool_output_size",
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
            f"larger than the padded {input_name} {(padded_h, padded_w)} ({input_name} {(in_h, in_w)})"
        )
    out_h = (padded_h - span_h) // sh + 1
    out_w = (padded_w - span_w) // sw + 1
    return Geometry(kh, kw, sh, sw, top, left, dh, dw, out_h, out_w)


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int,
                     ceil_mode: bool) -> int:
    """PyTorch's pooling output length along one axis (may be < 1).

    ``floor_or_ceil((size + 2*pad - dilation*(kernel-1) - 1) / stride) + 1``;
    with `ceil_mode` the last window must still start inside the input or its
    left padding, so it is dropped when ``(out-1)*stride >= size + pad``.

    >>> pool_output_size(5, 2, 2, 1, 1, False), pool_output_size(5, 2, 2, 1, 1, True)
    (3, 3)
    >>> pool_output_size(6, 3, 2, 1, 1, False), pool_output_size(6, 3, 2, 1, 1, True)
    (3, 4)
    >>> pool_output_size(4, 2, 2, 1, 1, True)   # ceil gives 4, the rule drops the last
    3
    """
    num = size + 2 * pad - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-num // stride) + 1
        if (out - 1) * stride >= size + pad:
            out -= 1
        return out
    return num // stride + 1


def _flag(name: str, value) -> bool:
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"`{name}` must be a bool, got {_describe(value)}")


def _has_empty_window(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int) -> bool:
    """Whether some window's taps all miss the input (only possible when the
    dilation gap is wider than the input)."""
    if dilation <= size or kernel == 1:
        return False
    taps = (np.arange(out)[:, None] * stride - pad) + np.arange(kernel)[None, :] * dilation
    return not bool(((taps >= 0) & (taps < size)).any(axis=1).all())


def pool_geometry(in_h: int, in_w: int, kernel_size, stride, padding, dilation=1,
                  ceil_mode=False) -> Geometry:
    """Validate pooling arguments as PyTorch does and size the output.

    `stride` None (or an empty sequence, as PyTorch accepts) means
    `kernel_size`. Padding must be non-negative and at most half the kernel
    (``padding <= kernel_size // 2``, PyTorch's rule, whatever the dilation);
    the output follows `pool_output_size` and must be at least 1x1 (so, as in
    PyTorch, ceil_mode can give one window larger than the padded input,
    where floor mode raises). A window
    whose taps all miss the input (possible only with a dilation wider than
    the input) is rejected: PyTorch returns -inf with an out-of-range index.
    Pooling pads both sides equally, so ``pad_top``/``pad_left`` are the
    padding; ceil_mode windows may overhang the bottom/right padding.

    >>> g = pool_geometry(5, 5, 2, 2, 1, ceil_mode=True)
    >>> (g.out_h, g.out_w)
    (3, 3)
    >>> pool_geometry(8, 8, 3, 1, 2)
    Traceback (most recent call last):
    ...
    ValueError: `padding` must be at most half of `kernel_size` (padding <= kernel_size // 2), got padding=(2, 2) with kernel_size=(3, 3)
    """
    kh, kw = pair("kernel_size", kernel_size)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        sh, sw = kh, kw
    else:
        sh, sw = pair("stride", stride)
    ph, pw = pair("padding", padding, minimum=0)
    dh, dw = pair("dilation", dilation)
    ceil_mode = _flag("ceil_mode", ceil_mode)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(
            f"`padding` must be at most half of `kernel_size` (padding <= kernel_size // 2), "
            f"got padding={(ph, pw)} with kernel_size={(kh, kw)}"
        )
    out_h = pool_output_size(in_h, kh, sh, ph, dh, ceil_mode)
    out_w = pool_output_size(in_w, kw, sw, pw, dw, ceil_mode)
    if out_h < 1 or out_w < 1:
        span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        raise ValueError(
            f"`kernel_size` {(kh, kw)} with dilation {(dh, dw)} spans {span}, larger than the "
            f"padded input {(in_h + 2 * ph, in_w + 2 * pw)} (input {(in_h, in_w)}, padding {(ph, pw)}): "
            f"the output would be {out_h}x{out_w}"
        )
    if (_has_empty_window(in_h, kh, sh, ph, dh, out_h)
            or _has_empty_window(in_w, kw, sw, pw, dw, out_w)):
        raise ValueError(
            f"`dilation` {(dh, dw)} leaves a pooling window with no input element "
            f"(input {(in_h, in_w)}, kernel_size {(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)})"
        )
    return Geometry(kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w)
