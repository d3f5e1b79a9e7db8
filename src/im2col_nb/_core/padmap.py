"""Padding modes as index maps: where each window tap reads along one axis.

A window kernel for any number of spatial axes reads, along axis a, input
position ``o*stride - low + k*dilation`` for output position o and tap k.
`axis_table` resolves that position once per call into a table of source
indices: in range it is the position itself; in the padding it is -1 for
``'zeros'`` (the kernel writes 0) or, for the other modes, the input index
the padding copies (mirrored, clamped or wrapped), so kernels gather the
padded values straight from the input with no padded copy of it. Positions
beyond the padding (a pooling window overhanging it in ceil mode) are -2.

The tables are tiny (kernel x out per axis) and cached; a 3-D kernel takes
one per axis, 1-D and 2-D problems prepend unit axes (`tables3`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .validation import check_choice

__all__ = ["PADDING_MODES", "axis_table", "check_mode_fits", "padding_mode_arg", "tables3",
           "with_mode"]

# PyTorch's nn.ConvNd padding_mode names, plus NumPy's 'symmetric'.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
# The np.pad mode that builds each table (padding an arange of the indices).
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap",
                "symmetric": "symmetric"}
ZERO = -1    # the tap reads zero padding
BEYOND = -2  # the tap lies past the padding (pooling's ceil_mode overhang)


def padding_mode_arg(padding_mode) -> str:
    """Validate `padding_mode` (one of `PADDING_MODES`)."""
    return check_choice("padding_mode", padding_mode, PADDING_MODES)


def check_mode_fits(mode: str, in_size: tuple, padding: tuple) -> None:
    """PyTorch's limits: reflect padding below the input size, circular
    padding at most the input size (wrapping around once), on every axis."""
    if mode not in ("reflect", "circular"):
        return
    for axis, (size, (lo, hi)) in enumerate(zip(in_size, padding)):
        if mode == "reflect" and max(lo, hi) >= size:
            raise ValueError(
                f"`padding` {(lo, hi)} must be smaller than the input size {size} along spatial "
                f"axis {axis} with padding_mode='reflect'")
        if mode == "circular" and max(lo, hi) > size:
            raise ValueError(
                f"`padding` {(lo, hi)} must be at most the input size {size} along spatial "
                f"axis {axis} with padding_mode='circular' (it wraps around once)")


@lru_cache(maxsize=512)
def axis_table(size: int, kernel: int, stride: int, pad: tuple, dilation: int, out: int,
               mode: str = "zeros") -> np.ndarray:
    """Source index of every (tap, output position) along one axis.

    Returns
    -------
    table : ndarray of int64, shape (kernel, out), read-only
        ``table[k, o]`` is the input index tap k of window o reads, `ZERO`
        (-1) for zero padding, `BEYOND` (-2) past the padding.

    >>> axis_table(4, 3, 1, (1, 1), 1, 4, "zeros")
    array([[-1,  0,  1,  2],
           [ 0,  1,  2,  3],
           [ 1,  2,  3, -1]])
    >>> axis_table(4, 3, 1, (1, 1), 1, 4, "reflect")[0]
    array([1, 0, 1, 2])
    """
    lo, hi = pad
    pos = np.arange(out)[None, :] * stride - lo + np.arange(kernel)[:, None] * dilation
    inside = (pos >= 0) & (pos < size)
    padded = (pos >= -lo) & (pos < size + hi)
    if mode == "zeros":
        table = np.where(inside, pos, ZERO)
    else:
        lookup = np.pad(np.arange(size), (lo, hi), mode=_NUMPY_MODES[mode])
        table = lookup[np.clip(pos + lo, 0, lookup.size - 1)]
    table = np.where(padded, table, BEYOND).astype(np.int64)
    table.flags.writeable = False
    return table


def tables3(in_size: tuple, geom, mode: str = "zeros") -> tuple:
    """One `axis_table` per spatial axis of `geom`, with unit axes prepended
    up to three (a (1, 1) table of 0), the form the N-D kernels take."""
    tabs = [axis_table(n, k, s, p, d, o, mode) for n, k, s, p, d, o in
            zip(in_size, geom.kernel, geom.stride, geom.padding, geom.dilation, geom.out)]
    unit = np.zeros((1, 1), dtype=np.int64)
    return (unit,) * (3 - len(tabs)) + tuple(tabs)


def with_mode(geom, in_size: tuple, padding_mode):
    """`geom` (a `Geometry`) reading its padding by `padding_mode`, checked:
    a name of `PADDING_MODES` and PyTorch's width limits for it. Without any
    padding the mode changes nothing and `geom` stays ``'zeros'``, so every
    method of the operation can still run it."""
    mode = padding_mode_arg(padding_mode)
    if mode == geom.mode or all(lo == hi == 0 for lo, hi in geom.padding):
        return geom
    check_mode_fits(mode, tuple(in_size), geom.padding)
    return geom.replace(mode=mode)
