"""Window geometry per spatial axis: what every window kernel needs.

One small immutable object describes the windows of a convolution, an
unfold or a pooling along each spatial axis -- kernel size, stride, padding
as a (low, high) pair, dilation, and the output size that follows -- for
any number of spatial axes (``ndim``), as JAX's ``conv_general_dilated``
does. The 2-D kernels read it through the named views (``kernel_h``,
``pad_top``, ``out_w``, ...).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .validation import MAX_INT, describe, flag, int_tuple

__all__ = ["Geometry", "check_transpose_extent", "compact", "conv_geometry", "padding_arg", "pool_geometry",
           "pool_output_size"]


class Geometry(NamedTuple):
    """Windows along each spatial axis (all fields are tuples of one entry per axis).

    Attributes
    ----------
    kernel, stride, dilation : tuple of int
        Window size, step between windows, step between a window's taps.
    padding : tuple of (int, int)
        Implicit padding (low, high) of each axis; a window's first tap sits
        at ``o * stride - low``.
    out : tuple of int
        Number of windows along each axis (the output size).
    mode : str
        What the padding reads (``'zeros'``, ``'reflect'``, ``'replicate'``,
        ``'circular'``, ``'symmetric'``; see ``padmap.py``). Only the N-D
        kernels, which read through the padmap tables, take another mode
        than ``'zeros'``.
    """

    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out: tuple
    mode: str = "zeros"

    @property
    def ndim(self) -> int:
        """Number of spatial axes."""
        return len(self.kernel)

    @property
    def span(self) -> tuple:
        """Extent of one window along each axis: ``dilation * (kernel - 1) + 1``."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    @property
    def kernel_area(self) -> int:
        """Taps per window (product of `kernel`)."""
        return math.prod(self.kernel)

    @property
    def out_area(self) -> int:
        """Windows per image (product of `out`)."""
        return math.prod(self.out)

    def replace(self, **changes) -> "Geometry":
        """A copy with some fields replaced."""
        return self._replace(**changes)

    # Named views of a 2-D geometry, the names the 2-D kernels take.
    kernel_h = property(lambda self: self.kernel[0])
    kernel_w = property(lambda self: self.kernel[1])
    stride_h = property(lambda self: self.stride[0])
    stride_w = property(lambda self: self.stride[1])
    dilation_h = property(lambda self: self.dilation[0])
    dilation_w = property(lambda self: self.dilation[1])
    pad_top = property(lambda self: self.padding[0][0])
    pad_bottom = property(lambda self: self.padding[0][1])
    pad_left = property(lambda self: self.padding[1][0])
    pad_right = property(lambda self: self.padding[1][1])
    out_h = property(lambda self: self.out[0])
    out_w = property(lambda self: self.out[1])


def compact(geom: Geometry, in_size: tuple) -> Geometry:
    """`geom` with steps that change nothing cut down: the stride of an axis
    with one window to ``padded size - span + 1`` when smaller (the smallest
    stride that still gives one window, so the geometry stays
    self-consistent), the dilation of an axis with a one-tap kernel to 1.

    The result is the same, but kernels that size buffers by the stride or
    the span (plane copies, phase splits) stay small: a stride of ``2**31``
    for a 1x1 output costs nothing.

    >>> g = Geometry((3, 1), (2**31, 2), ((0, 0), (0, 0)), (1, 2**40), (1, 4))
    >>> compact(g, (7, 8))[:4]
    ((3, 1), (5, 2), ((0, 0), (0, 0)), (1, 1))
    """
    stride = tuple(min(s, max(1, n + lo + hi - d * (k - 1))) if o == 1 else s
                   for s, o, n, (lo, hi), k, d in zip(geom.stride, geom.out, in_size, geom.padding,
                                                      geom.kernel, geom.dilation))
    dilation = tuple(1 if k == 1 else d for k, d in zip(geom.kernel, geom.dilation))
    if stride == geom.stride and dilation == geom.dilation:
        return geom
    return geom._replace(stride=stride, dilation=dilation)


def check_extent(name: str, kernel: tuple, dilation: tuple, span, padded, input_name: str,
                 in_size: tuple) -> None:
    """ValueError unless every window span and padded extent is at most
    ``2**62`` (the kernels' int64 index arithmetic); `name` is the kernel's
    argument as messages show it."""
    if max(span) > MAX_INT:
        raise ValueError(f"{name} {kernel} with dilation {dilation} spans {tuple(span)}, "
                         f"more than 2**62")
    if max(padded) > MAX_INT:
        raise ValueError(f"`padding` makes the padded {input_name} {tuple(padded)} "
                         f"({input_name} {tuple(in_size)}), more than 2**62")


def check_transpose_extent(size: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> None:
    """ValueError unless a transposed convolution's full result (before the
    padding is cropped), ``(size - 1) * stride + dilation*(kernel-1) + 1``
    per axis, is at most ``2**62``."""
    extent = tuple((n - 1) * s + d * (k - 1) + 1
                   for n, k, s, d in zip(size, kernel, stride, dilation))
    if max(extent) > MAX_INT:
        raise ValueError(
            f"`stride` {tuple(stride)} and `dilation` {tuple(dilation)} with kernel "
            f"{tuple(kernel)} make the uncropped output {extent} = (size-1)*stride + "
            f"dilation*(kernel-1) + 1 for `input` of spatial size {tuple(size)}, more than 2**62")


def padding_arg(padding, kernel: tuple, dilation: tuple, stride: tuple, *,
                allow_strings: bool = True, in_size: tuple | None = None) -> tuple:
    """Resolve `padding` to one (low, high) pair per axis.

    Accepted: an int (every side), one int per axis (both sides), or one
    ``(low, high)`` pair per axis, as JAX and TensorFlow take it (an int
    among the pairs pads both sides of its axis); with `allow_strings`,
    'valid' and 'same'. 'same' keeps ``ceil(size / stride)`` outputs per
    axis, the TensorFlow/JAX rule: the total padding ``max((out - 1) *
    stride + d*(k-1) + 1 - size, 0)`` is split with the smaller half low, so
    the odd row/column goes to the high end; with stride 1 that is PyTorch's
    'same' (total ``d*(k-1)``), which PyTorch allows only there. A stride
    above 1 needs `in_size`.

    >>> padding_arg(((1, 2), (0, 3)), (3, 3), (1, 1), (1, 1))
    ((1, 2), (0, 3))
    >>> padding_arg((1, (0, 2)), (3, 3), (1, 1), (1, 1))
    ((1, 1), (0, 2))
    """
    ndim = len(kernel)
    if isinstance(padding, np.ndarray) and padding.ndim == 2:
        padding = padding.tolist()
    if isinstance(padding, (tuple, list)) and any(isinstance(p, (tuple, list, np.ndarray))
                                                  for p in padding):
        if len(padding) != ndim:
            raise ValueError(f"`padding` as (low, high) pairs needs one entry per spatial axis "
                             f"({ndim}), got {describe(padding)}")
        # an int among the pairs pads both sides of its axis
        return tuple(int_tuple("padding", p, 2, minimum=0) for p in padding)
    if isinstance(padding, str):
        mode = padding.lower()
        if not allow_strings or mode not in ("same", "valid"):
            ints = "an int, a pair of ints" if ndim == 2 else f"an int, a tuple of {ndim} ints"
            allowed = f"{ints}, 'valid' or 'same'" if allow_strings else ints.replace(", a", " or a")
            raise ValueError(f"`padding` must be {allowed}, got {padding!r}")
        if mode == "valid":
            return ((0, 0),) * ndim
        if all(s == 1 for s in stride):
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        elif in_size is None:
            raise ValueError(f"`padding='same'` requires stride 1 here, got stride={stride}")
        else:  # TensorFlow/JAX: ceil(size / stride) outputs, the odd pixel at the end
            totals = [max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
                      for n, k, s, d in zip(in_size, kernel, stride, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pads = int_tuple("padding", padding, ndim, minimum=0)
    if ndim == 2:  # the common case, without a generator
        return ((pads[0], pads[0]), (pads[1], pads[1]))
    return tuple((p, p) for p in pads)


def conv_geometry(in_size: tuple, kernel_size, stride, padding, dilation,
                  *, allow_strings: bool = True, kernel_name: str = "kernel_size",
                  input_name: str = "input") -> Geometry:
    """Validate geometry arguments against the input's spatial size and size the output.

    ``out = (size + pad_low + pad_high - dilation*(kernel-1) - 1) // stride + 1``
    on each axis. Spans and padded extents must be at most ``2**62``; the
    geometry returned is `compact` (the stride of a one-window axis is 1). `kernel_name` and `input_name` are the user's arguments
    the kernel size and the spatial size came from, for error messages
    (e.g. ``"weight"``, ``"output_size"``).

    >>> g = conv_geometry((7, 7), 3, 1, 0, 1)
    >>> g.out, g.kernel_area
    ((5, 5), 9)
    """
    ndim = len(in_size)
    kernel = int_tuple("kernel_size", kernel_size, ndim)
    stride = int_tuple("stride", stride, ndim)
    dilation = int_tuple("dilation", dilation, ndim)
    pads = padding_arg(padding, kernel, dilation, stride, allow_strings=allow_strings,
                       in_size=in_size)
    # one plain loop over the axes: this runs on every call
    span, padded, out = [], [], []
    for n, k, s, d, (lo, hi) in zip(in_size, kernel, stride, dilation, pads):
        span.append(d * (k - 1) + 1)
        padded.append(n + lo + hi)
        out.append((padded[-1] - span[-1]) // s + 1)
    name = "`kernel_size`" if kernel_name == "kernel_size" else f"`{kernel_name}` kernel"
    check_extent(name, kernel, dilation, span, padded, input_name, in_size)
    if min(out) < 1:
        raise ValueError(
            f"{name} {kernel} with dilation {dilation} spans {tuple(span)}, "
            f"larger than the padded {input_name} {tuple(padded)} ({input_name} {tuple(in_size)})"
        )
    return compact(Geometry(kernel, stride, pads, dilation, tuple(out)), in_size)


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int,
                     ceil_mode: bool, pad_high: int | None = None) -> int:
    """PyTorch's pooling output length along one axis (may be < 1).

    ``floor_or_ceil((size + pad + pad_high - dilation*(kernel-1) - 1) / stride) + 1``
    (`pad_high` defaults to `pad`); with `ceil_mode` the last window must
    still start inside the input or its low padding, so it is dropped when
    ``(out-1)*stride >= size + pad``.

    >>> pool_output_size(5, 2, 2, 1, 1, False), pool_output_size(5, 2, 2, 1, 1, True)
    (3, 3)
    >>> pool_output_size(6, 3, 2, 1, 1, False), pool_output_size(6, 3, 2, 1, 1, True)
    (3, 4)
    >>> pool_output_size(4, 2, 2, 1, 1, True)   # ceil gives 4, the rule drops the last
    3
    """
    pad_high = pad if pad_high is None else pad_high
    num = size + pad + pad_high - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-num // stride) + 1
        if (out - 1) * stride >= size + pad:
            out -= 1
        return out
    return num // stride + 1


def _has_empty_window(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int) -> bool:
    """Whether some window's taps all miss the input (only possible when the
    dilation gap is wider than the input)."""
    if dilation <= size or kernel == 1:
        return False
    taps = (np.arange(out)[:, None] * stride - pad) + np.arange(kernel)[None, :] * dilation
    return not bool(((taps >= 0) & (taps < size)).any(axis=1).all())


def pool_geometry(in_size: tuple, kernel_size, stride, padding, dilation=1,
                  ceil_mode=False) -> Geometry:
    """Validate pooling arguments as PyTorch does and size the output.

    `stride` None (or an empty sequence, as PyTorch accepts) means
    `kernel_size`. `padding` is an int, one int per axis, one ``(low,
    high)`` pair per axis, ``'valid'`` or ``'same'`` (TensorFlow's pooling
    rule: ``ceil(size / stride)`` windows, the odd padding at the high end);
    every side at most half the kernel (``padding <= kernel_size // 2``,
    PyTorch's rule, whatever the dilation). The output follows
    `pool_output_size` and must be at least 1 on every axis (so, as in
    PyTorch, ceil_mode can give one window larger than the padded input,
    where floor mode raises). A window whose taps all miss the input
    (possible only with a dilation wider than the input) is rejected:
    PyTorch returns -inf with an out-of-range index. ceil_mode windows may
    overhang the high padding.

    >>> g = pool_geometry((5, 5), 2, 2, 1, ceil_mode=True)
    >>> g.out
    (3, 3)
    >>> pool_geometry((5, 6), 2, 2, "same").padding
    ((0, 1), (0, 0))
    >>> pool_geometry((8, 8), 3, 1, 2)
    Traceback (most recent call last):
    ...
    ValueError: `padding` must be at most half of `kernel_size` (padding <= kernel_size // 2), got padding=(2, 2) with kernel_size=(3, 3)
    """
    ndim = len(in_size)
    kernel = int_tuple("kernel_size", kernel_size, ndim)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel
    else:
        stride = int_tuple("stride", stride, ndim)
    dilation = int_tuple("dilation", dilation, ndim)
    pads = padding_arg(padding, kernel, dilation, stride, in_size=in_size)
    ceil_mode = flag("ceil_mode", ceil_mode)
    # padding as messages show it: one int per axis when symmetric, else the pairs
    shown = tuple(lo for lo, _ in pads) if all(lo == hi for lo, hi in pads) else pads
    if any(max(p) > k // 2 for p, k in zip(pads, kernel)):
        raise ValueError(
            f"`padding` must be at most half of `kernel_size` (padding <= kernel_size // 2), "
            f"got padding={shown} with kernel_size={kernel}"
        )
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_size, pads))
    check_extent("`kernel_size`", kernel, dilation, span, padded, "input", in_size)
    out = tuple(pool_output_size(n, k, s, lo, d, ceil_mode, hi)
                for n, k, s, (lo, hi), d in zip(in_size, kernel, stride, pads, dilation))
    if min(out) < 1:
        raise ValueError(
            f"`kernel_size` {kernel} with dilation {dilation} spans {span}, larger than the "
            f"padded input {padded} (input {tuple(in_size)}, padding {shown}): "
            f"the output would be {'x'.join(str(o) for o in out)}"
        )
    if any(_has_empty_window(n, k, s, lo, d, o)
           for n, k, s, (lo, _), d, o in zip(in_size, kernel, stride, pads, dilation, out)):
        raise ValueError(
            f"`dilation` {dilation} leaves a pooling window with no input element "
            f"(input {tuple(in_size)}, kernel_size {kernel}, stride {stride}, padding {shown})"
        )
    return compact(Geometry(kernel, stride, pads, dilation, out), in_size)
