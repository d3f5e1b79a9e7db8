"""3-D max and average pooling (volumes, video), forward and backward.

Semantics, argument names and defaults follow ``torch.nn.functional``
(``max_pool3d``, ``avg_pool3d`` and the gradients PyTorch's autograd
computes for them), with the checks of the 2-D functions in `pooling`.
Layouts are channels-first ``"NCDHW"`` and channels-last ``"NDHWC"``.

Each wrapper validates its arguments once, resolves the windows of each
spatial axis into an index table (``_core/padmap.py``) and runs one fused
windowed kernel of the current backend (``max_pool_nd`` / ``avg_pool_nd``
and their backwards): no patch matrix, no padded copy of the input (Numba
backend), and there is one method, so no ``method=`` argument.
"""

from __future__ import annotations

import numpy as np

from ._core.backend import backend_module
from ._core.dtypes import as_value_array
from ._core.geometry import Geometry, pool_geometry
from ._core.padmap import tables3
from ._core.validation import (
    as_float_array,
    as_int,
    check_ndim,
    describe,
    flag,
    optional_nonzero_int,
    to_kernel_array,
)

__all__ = ["avg_pool3d", "avg_pool3d_backward", "max_pool3d", "max_pool3d_backward"]

_LAYOUTS = ("NCDHW", "NDHWC")
_NO_INDICES = np.empty((0, 0, 0, 0, 0), dtype=np.int64)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


def _check_layout(layout) -> str:
    if not isinstance(layout, str) or layout.upper() not in _LAYOUTS:
        raise ValueError(f"`layout` must be 'NCDHW' or 'NDHWC', got {describe(layout)}")
    return layout.upper()


def _check_length(name: str, value) -> None:
    """A sequence argument must have 1 entry (every axis) or 3."""
    if isinstance(value, (tuple, list, np.ndarray)) and np.ndim(value) > 0:
        length = len(value)
        if length not in (1, 3):
            raise ValueError(f"`{name}` must be an int or a tuple of 3 ints (or 1 for every "
                             f"axis), got {length} entries: {describe(value)}")


def _geometry(in_size, kernel_size, stride, padding, dilation, ceil_mode) -> Geometry:
    for name, value in (("kernel_size", kernel_size), ("padding", padding),
                        ("dilation", dilation)):
        _check_length(name, value)
    if not (isinstance(stride, (tuple, list)) and len(stride) == 0):
        _check_length("stride", stride)
    return pool_geometry(in_size, kernel_size, stride, padding, dilation, ceil_mode)


def _dims(name: str, shape, layout: str) -> tuple:
    """(N, C, D, H, W) of a 5-D shape in `layout`; only the batch may be empty."""
    if layout == "NCDHW":
        n_img, channels, *size = shape
    else:
        n_img, *size, channels = shape
    if min(channels, *size) < 1:
        raise ValueError(
            f"`{name}` must have non-empty channel and spatial axes (only the batch may be "
            f"empty), got shape {tuple(shape)} with layout {layout}")
    return (n_img, channels, *size)


def _pool_input(input, layout, keep_dtype=False):
    """Kernel-ready 5-D input, its layout, whether it was unbatched, its dims
    and the dtype to return (`keep_dtype`: the input's, see _core/dtypes.py;
    else float)."""
    layout = _check_layout(layout)
    if keep_dtype:
        arr, result_dtype = as_value_array("input", input)
    else:
        arr = as_float_array("input", input)
        result_dtype = arr.dtype
    what = "(N, C, D, H, W)" if layout == "NCDHW" else "(N, D, H, W, C)"
    unbatched_what = "(C, D, H, W)" if layout == "NCDHW" else "(D, H, W, C)"
    check_ndim("input", arr, (4, 5), f"4-D {unbatched_what} or 5-D {what}")
    unbatched = arr.ndim == 4
    x = arr[None] if unbatched else arr
    dims = _dims("input", x.shape, layout)
    return to_kernel_array(x, arr.dtype), layout, unbatched, dims, result_dtype


def _out_shape(layout: str, n_img: int, channels: int, geom: Geometry) -> tuple:
    if layout == "NCDHW":
        return (n_img, channels, *geom.out)
    return (n_img, *geom.out, channels)


def _channels_last(arr, layout: str):
    """(N', D, H, W, C') view the kernels take: NDHWC as is, NCDHW as N*C
    one-channel volumes (a free reshape of a contiguous array)."""
    if layout == "NCDHW":
        return arr.reshape(arr.shape[0] * arr.shape[1], *arr.shape[2:], 1)
    return arr


def _grad_and_shape(grad_output, input_shape, layout, keep_dtype=False):
    """Kernel-ready 5-D grad_output, 5-D input shape, input dims, whether
    unbatched, the dtype to return (`keep_dtype`: integer and bool gradients
    kept, as max_pool2d_backward)."""
    if keep_dtype:
        g, result_dtype = as_value_array("grad_output", grad_output)
    else:
        g = as_float_array("grad_output", grad_output)
        result_dtype = g.dtype
    what = "(N, C, OD, OH, OW)" if layout == "NCDHW" else "(N, OD, OH, OW, C)"
    check_ndim("grad_output", g, (4, 5), f"4-D (unbatched) or 5-D {what}")
    try:
        shape = tuple(as_int("input_shape", s) for s in input_shape)
    except TypeError:
        raise TypeError(f"`input_shape` must be a sequence of ints, got {describe(input_shape)}") from None
    if len(shape) != g.ndim:
        raise ValueError(f"`input_shape` must have {g.ndim} entries like `grad_output` of shape "
                         f"{g.shape}, got {shape}")
    unbatched = g.ndim == 4
    if unbatched:
        g, shape = g[None], (1,) + shape
    dims = _dims("input_shape", shape, layout)
    g_c = g.shape[1] if layout == "NCDHW" else g.shape[4]
    if (g.shape[0], g_c) != dims[:2]:
        raise ValueError(
            f"`grad_output` of shape {g.shape[unbatched:]} does not match `input_shape` "
            f"{shape[unbatched:]}: batch and channel axes must agree ({layout})")
    return to_kernel_array(g, g.dtype), shape, dims, unbatched, result_dtype


# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, layout="NCDHW"):
    """3-D max pooling, as ``torch.nn.functional.max_pool3d``.

    Parameters
    ----------
    input : array_like
        ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``; with
        ``layout="NDHWC"``, ``(N, D, H, W, C)`` or ``(D, H, W, C)``. The
        batch may be empty, the other axes may not. Any real dtype: bool,
        integer and float16 inputs are pooled in their own dtype (float16
        through float32, exactly). Never modified; any
        strides are accepted (a non-contiguous input is copied once).
    kernel_size : int or (int, int, int)
        Window size (kd, kh, kw); a 1-tuple means that size on every axis.
    stride : int or (int, int, int), optional
        Step between windows; default (None) is `kernel_size`.
    padding : int or (int, int, int), default 0
        Implicit -inf padding on both sides; at most ``kernel_size // 2``.
    dilation : int or (int, int, int), default 1
        Spacing between the taps of a window.
    ceil_mode : bool, default False
        Round the output size up instead of down, keeping the last window
        only if it starts inside the input or its low padding (PyTorch's
        rule).
    return_indices : bool, default False
        Also return where each maximum came from.
    layout : {'NCDHW', 'NDHWC'}, keyword-only
        Memory layout of `input`, of the result and of the indices.

    Returns
    -------
    out : ndarray
        ``(N, C, OD, OH, OW)`` (``(N, OD, OH, OW, C)`` for NDHWC; without N
        if unbatched), same float dtype as `input` after promotion, with
        ``OD = floor_or_ceil((D + 2*pd - dd*(kd-1) - 1) / sd) + 1`` (the
        ceil result reduced by one when that window would start at or past
        ``D + pd``) and likewise for OH and OW.
    indices : ndarray of int64, same shape as `out`
        Only if `return_indices`: the flat position ``(d*H + h)*W + w`` of
        each maximum in its (n, c) input volume, as PyTorch returns them
        (for NDHWC too).

    Raises
    ------
    TypeError
        Non-real `input`; a non-integer geometry argument; a non-bool flag.
    ValueError
        Fewer than 4 or more than 5 dimensions, or an empty channel/spatial
        axis; a geometry tuple with other than 1 or 3 entries; a
        non-positive `kernel_size`, `stride` or `dilation`; negative
        `padding` or `padding` above half the kernel; a window larger than
        the padded input (no output); a dilation that leaves a window with
        no input element; an unknown `layout`.

    Notes
    -----
    Semantics are PyTorch's: ties go to the first maximum in row-major
    (d, h, w) window order, NaN beats every number and the last NaN of a
    window wins, padding is never selected (a window of -inf reports its
    first real tap).

    Cost: ``N*C*OD*OH*OW*kd*kh*kw`` comparisons, reading the input in place
    and allocating only the result (and the indices). The Numba kernel runs
    one task per (volume or image, output depth), so even one volume uses
    every thread; NCDHW updates whole output rows per window tap (vectorised
    along W), NDHWC each window's taps as channel vectors (vectorised along
    C). The NumPy backend gathers every tap for all windows at once (one
    padded copy of the input, ``kd*kh*kw`` whole-array steps). Timings
    against PyTorch are in ``bench/bench_pool3d.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import max_pool3d
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)      # (C, D, H, W)
    >>> out, idx = max_pool3d(x, 2, return_indices=True)
    >>> out, idx
    (array([[[[7.]]]]), array([[[[7]]]]))
    >>> max_pool3d(np.zeros((1, 2, 5, 5, 5)), (1, 3, 3), stride=2, padding=(0, 1, 1)).shape
    (1, 2, 3, 3, 3)
    """
    x, layout, unbatched, dims, result_dtype = _pool_input(input, layout, keep_dtype=True)
    geom = _geometry(dims[2:], kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = flag("return_indices", return_indices)
    out = np.empty(_out_shape(layout, dims[0], dims[1], geom), dtype=x.dtype)
    indices = np.empty(out.shape, dtype=np.int64) if return_indices else _NO_INDICES
    if out.size:
        backend_module().max_pool_nd(
            _channels_last(x, layout), _channels_last(out, layout),
            _channels_last(indices, layout) if return_indices else indices,
            tables3(dims[2:], geom))
    if out.dtype != result_dtype:  # float16, computed in float32: the values are exact
        out = out.astype(result_dtype)
    if unbatched:
        out, indices = out[0], indices[0] if return_indices else indices
    return (out, indices) if return_indices else out


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, *, layout="NCDHW"):
    """3-D average pooling, as ``torch.nn.functional.avg_pool3d``.

    Parameters
    ----------
    input : array_like
        ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``; with
        ``layout="NDHWC"``, ``(N, D, H, W, C)`` or ``(D, H, W, C)``.
    kernel_size : int or (int, int, int)
        Window size (kd, kh, kw); a 1-tuple means that size on every axis.
    stride : int or (int, int, int), optional
        Default (None) is `kernel_size`.
    padding : int or (int, int, int), default 0
        Implicit zero padding on both sides; at most ``kernel_size // 2``.
    ceil_mode : bool, default False
        As in `max_pool3d`.
    count_include_pad : bool, default True
        Divide by the window size counting padding (but not the part of a
        ceil_mode window that runs past the padding); if False, by the
        number of real input elements in the window. Either is the product
        of the per-axis counts.
    divisor_override : int, optional
        Divide every window sum by this instead (non-zero; PyTorch accepts
        negative values too). ``divisor_override=1`` gives sum pooling.
    layout : {'NCDHW', 'NDHWC'}, keyword-only

    Returns
    -------
    out : ndarray
        ``(N, C, OD, OH, OW)`` (``(N, OD, OH, OW, C)`` for NDHWC; without N
        if unbatched), sizes as in `max_pool3d` with dilation 1.

    Raises
    ------
    TypeError
        Non-real `input`, non-integer geometry or `divisor_override`,
        non-bool flags.
    ValueError
        As in `max_pool3d`, and a zero `divisor_override`.

    Notes
    -----
    Cost: ``N*C*OD*OH*OW*kd*kh*kw`` additions and one division per output,
    reading the input in place; parallel and vectorised as `max_pool3d`.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import avg_pool3d
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> avg_pool3d(x, 2)
    array([[[[3.5]]]])
    >>> avg_pool3d(x, 2, divisor_override=1)      # sum pooling
    array([[[[28.]]]])
    >>> avg_pool3d(x, 3, stride=2, padding=1, count_include_pad=False)
    array([[[[3.5]]]])
    """
    x, layout, unbatched, dims, _ = _pool_input(input, layout)
    geom = _geometry(dims[2:], kernel_size, stride, padding, 1, ceil_mode)
    cip = flag("count_include_pad", count_include_pad)
    divisor = optional_nonzero_int("divisor_override", divisor_override)
    out = np.empty(_out_shape(layout, dims[0], dims[1], geom), dtype=x.dtype)
    if out.size:
        backend_module().avg_pool_nd(_channels_last(x, layout), _channels_last(out, layout),
                                     tables3(dims[2:], geom), cip, divisor)
    return out[0] if unbatched else out


# ---------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------


def max_pool3d_backward(grad_output, indices, input_shape, *, layout="NCDHW"):
    """Gradient of `max_pool3d` with respect to its input.

    Every ``grad_output`` entry is added to the input position its window's
    maximum came from; overlapping windows that chose the same position
    accumulate.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the pooled output, ``(N, C, OD, OH, OW)`` or unbatched
        ``(C, OD, OH, OW)`` (``(N, OD, OH, OW, C)`` / ``(OD, OH, OW, C)``
        for NDHWC).
    indices : array_like of ints, same shape as `grad_output`
        As returned by ``max_pool3d(..., return_indices=True)``: flat
        positions ``(d*H + h)*W + w`` in each input volume.
    input_shape : sequence of ints
        Shape of the pooled input, ``(N, C, D, H, W)`` / ``(C, D, H, W)``
        (or the NDHWC equivalents).
    layout : {'NCDHW', 'NDHWC'}, keyword-only

    Returns
    -------
    grad_input : ndarray, shape `input_shape`
        Same float dtype as `grad_output` (after promotion).

    Raises
    ------
    TypeError
        Non-real `grad_output`, non-integer `indices` or `input_shape`.
    ValueError
        `indices` whose shape differs from `grad_output`'s, an index outside
        ``[0, D*H*W)``, an `input_shape` whose batch/channel axes disagree
        with `grad_output`, wrong numbers of dimensions, an unknown
        `layout`.

    Notes
    -----
    Cost: one pass over `grad_output` plus zeroing the result. Parallel over
    input volumes (NCDHW) or images (NDHWC: a single image runs on one
    thread); each task owns the elements it writes, so the sums are
    race-free and deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import max_pool3d, max_pool3d_backward
    >>> x = np.zeros((1, 2, 3, 3)); x[0, 1, 1, 1] = 5.0
    >>> out, idx = max_pool3d(x, 2, stride=1, return_indices=True)
    >>> idx.ravel()            # all four windows pick the 5 at (1, 1, 1)
    array([13, 13, 13, 13])
    >>> max_pool3d_backward(np.ones_like(out), idx, x.shape)[0, 1]
    array([[0., 0., 0.],
           [0., 4., 0.],
           [0., 0., 0.]])
    """
    layout = _check_layout(layout)
    g, shape, dims, unbatched, result_dtype = _grad_and_shape(grad_output, input_shape, layout,
                                                              keep_dtype=True)
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"`indices` must hold integers, got dtype {idx.dtype}")
    if unbatched and idx.ndim == 4:
        idx = idx[None]
    if idx.shape != g.shape:
        raise ValueError(f"`indices` must have the shape of `grad_output` {g.shape[unbatched:]}, "
                         f"got {np.shape(indices)}")
    depth, height, width = dims[2:]
    volume = depth * height * width
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= volume:
            raise ValueError(
                f"`indices` must lie in [0, D*H*W) = [0, {volume}) for input volumes of "
                f"{depth}x{height}x{width}, got {lo if lo < 0 else hi}")
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    grad_input = np.empty(shape, dtype=g.dtype)
    if grad_input.size:
        if g.size == 0:
            grad_input[...] = 0
        else:
            if layout == "NCDHW":
                planes = dims[0] * dims[1]
                flat = (planes, -1, 1)
                target = (planes, volume, 1)
            else:
                flat = (dims[0], -1, dims[1])
                target = (dims[0], volume, dims[1])
            backend_module().max_pool_nd_backward(g.reshape(flat), idx.reshape(flat),
                                                  grad_input.reshape(target))
    if grad_input.dtype != result_dtype:  # float16, summed in float32
        grad_input = grad_input.astype(result_dtype)
    return grad_input[0] if unbatched else grad_input


def avg_pool3d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                        layout="NCDHW"):
    """Gradient of `avg_pool3d` with respect to its input.

    Each input element of a window receives that window's ``grad_output``
    divided by the window's divisor; overlapping windows accumulate.

    Parameters
    ----------
    grad_output : array_like
        ``(N, C, OD, OH, OW)`` or unbatched ``(C, OD, OH, OW)`` (NDHWC:
        ``(N, OD, OH, OW, C)`` / ``(OD, OH, OW, C)``), the shape the
        forward pool gives for `input_shape`.
    input_shape : sequence of ints
        Shape of the pooled input.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As passed to `avg_pool3d`.
    layout : {'NCDHW', 'NDHWC'}, keyword-only

    Returns
    -------
    grad_input : ndarray, shape `input_shape`
        Same float dtype as `grad_output` (after promotion).

    Raises
    ------
    TypeError, ValueError
        As in `avg_pool3d`, and a `grad_output` whose shape is not the
        forward output shape for `input_shape`.

    Notes
    -----
    Cost: ``N*C*OD*OH*OW*kd*kh*kw`` additions. The Numba kernel runs one
    task per (volume or image, input depth slice), gathering the shares of
    the windows over that slice: race-free, deterministic, and parallel
    even for one volume.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import avg_pool3d_backward
    >>> avg_pool3d_backward(np.ones((1, 1, 2, 2)), (1, 1, 3, 3), (1, 2, 2), stride=1)
    array([[[[0.25, 0.5 , 0.25],
             [0.5 , 1.  , 0.5 ],
             [0.25, 0.5 , 0.25]]]])
    """
    layout = _check_layout(layout)
    g, shape, dims, unbatched, _ = _grad_and_shape(grad_output, input_shape, layout)
    geom = _geometry(dims[2:], kernel_size, stride, padding, 1, ceil_mode)
    cip = flag("count_include_pad", count_include_pad)
    divisor = optional_nonzero_int("divisor_override", divisor_override)
    want = _out_shape(layout, dims[0], dims[1], geom)
    if g.shape != want:
        raise ValueError(
            f"`grad_output` must have shape {want[unbatched:]} (the avg_pool3d output for "
            f"input_shape {shape[unbatched:]}), got {g.shape[unbatched:]}")
    grad_input = np.empty(shape, dtype=g.dtype)
    if grad_input.size:
        backend_module().avg_pool_nd_backward(_channels_last(g, layout),
                                              _channels_last(grad_input, layout),
                                              tables3(dims[2:], geom), cip, divisor)
    return grad_input[0] if unbatched else grad_input
