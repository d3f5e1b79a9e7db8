"""im2col and col2im: image patches as matrix columns, and back.

Public wrappers: each validates its arguments once, makes the arrays
C-contiguous float32/float64, allocates the result and calls the current
backend's kernel. ``torch.nn.functional.unfold`` / ``fold`` equivalents.
"""

from __future__ import annotations

import numpy as np

from ._core.backend import backend_module
from ._core.geometry import conv_geometry
from ._core.padmap import check_mode_fits, padding_mode_arg, tables3
from ._core.dtypes import as_value_array
from ._core.validation import check_ndim, int_tuple, pair, to_kernel_array

__all__ = ["col2im", "col2im1d", "col2im3d", "im2col", "im2col1d", "im2col3d"]


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------


def _batched_nchw(name: str, arr: np.ndarray) -> tuple[np.ndarray, bool]:
    """(N, C, H, W) view of a 3-D or 4-D array, and whether it was unbatched."""
    check_ndim(name, arr, (3, 4), "3-D (C, H, W) or 4-D (N, C, H, W)")
    if arr.ndim == 3:
        return arr[None], True
    return arr, False


def im2col(input, kernel_size, dilation=1, padding=0, stride=1, *, padding_mode="zeros"):
    """Unroll sliding patches of a batch of images into columns.

    The same values in the same order as ``torch.nn.functional.unfold``:
    row ``c*kh*kw + ki*kw + kj`` holds tap (ki, kj) of channel c, and column
    ``oh*OW + ow`` is the patch whose top-left corner is at output position
    (oh, ow).

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
        Images. Any dtype but object: bool, integers, float16 and complex
        are kept (values are copied, never computed).
    kernel_size : int or (int, int)
        Patch size (kh, kw).
    dilation : int or (int, int), default 1
        Spacing between the taps of a patch.
    padding : int, (int, int) or ((int, int), (int, int)), default 0
        Implicit zeros added on both sides of each spatial axis, or
        ``((top, bottom), (left, right))``.
    stride : int or (int, int), default 1
        Step between neighbouring patches.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        What the padding holds, as ``torch.nn.Conv2d(padding_mode=...)``
        (``'symmetric'`` is NumPy's: mirrored including the edge). Modes
        other than 'zeros' read the padding straight from the input, through
        the N-D kernels of `im2col3d`.

    Returns
    -------
    cols : ndarray, shape (N, C*kh*kw, L) or (C*kh*kw, L)
        ``L = OH*OW`` with ``OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1`` and
        likewise for OW. The dtype of `input`.

    Raises
    ------
    TypeError
        If `input` holds no numbers (an object or string array) or a geometry
        argument is not an int or a pair of ints.
    ValueError
        If `input` is not 3-D or 4-D, a geometry argument is out of range,
        the dilated kernel is larger than the padded input, `padding_mode` is
        unknown, or the padding is too wide for it ('reflect': below the
        input size, 'circular': at most the input size, as in PyTorch).

    Notes
    -----
    Memory: the result has ``kh*kw`` times as many elements as the output
    positions times channels: that blow-up is the price of turning a
    convolution into one matrix multiply.

    Examples
    --------
    A 4x4 image with 3 channels and a 2x2 kernel gives a 12 x 9
    patch matrix:

    >>> import numpy as np
    >>> from im2col_nb import im2col
    >>> x = np.arange(48.0).reshape(3, 4, 4)
    >>> cols = im2col(x, 2)
    >>> cols.shape
    (12, 9)
    >>> cols[:4, 0]   # channel 0's first 2x2 patch, row by row
    array([0., 1., 4., 5.])
    """
    mode = padding_mode_arg(padding_mode)
    arr, result_dtype = as_value_array("input", input, complex_ok=True)
    x4, unbatched = _batched_nchw("input", arr)
    n_img, channels, height, width = x4.shape
    geom = conv_geometry((height, width), kernel_size, stride, padding, dilation, allow_strings=False)
    check_mode_fits(mode, (height, width), geom.padding)
    x4 = to_kernel_array(x4, arr.dtype)
    cols = np.empty((n_img, channels * geom.kernel_area, geom.out_area), dtype=x4.dtype)
    if cols.size:
        if mode == "zeros":
            backend_module().im2col(x4, cols, geom, 0, geom.out_h)
        else:
            _im2col_tables(x4, cols, geom, mode)
    if cols.dtype != result_dtype:  # float16, copied through float32: exact
        cols = cols.astype(result_dtype)
    return cols[0] if unbatched else cols


def col2im(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *,
           padding_mode="zeros"):
    """Sum columns of patches back into images (the adjoint of `im2col`).

    The same as ``torch.nn.functional.fold``: every entry of `input` is added
    to the image position its patch tap came from, so overlapping patches
    accumulate. Deterministic: each output plane is owned by one thread.

    Parameters
    ----------
    input : array_like, shape (N, C*kh*kw, L) or (C*kh*kw, L)
        Patch columns, laid out as `im2col` produces them.
    output_size : int or (int, int)
        Spatial size (H, W) of the images to rebuild.
    kernel_size, dilation, padding, stride
        As in `im2col`; they must give exactly ``L`` patches for
        `output_size`.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        As in `im2col`. With a mode other than 'zeros' the result is still
        the exact adjoint: an entry read from the padding is added to the
        input element that padding copies.

    Returns
    -------
    images : ndarray, shape (N, C, H, W) or (C, H, W)
        The dtype of `input`.

    Raises
    ------
    TypeError
        If `input` holds no numbers (an object or string array) or a geometry
        argument is not an int or a pair of ints.
    ValueError
        If `input` is not 2-D or 3-D, its second-to-last axis is not a
        multiple of ``kh*kw``, its last axis is not the number of patches
        that the geometry gives for `output_size`, or `padding_mode` is
        unknown or does not fit the padding (as in `im2col`).

    Notes
    -----
    ``col2im(im2col(x))`` is not ``x``: each pixel is multiplied by the
    number of patches that contain it.

    The sums are in the dtype of `input`: integers wrap around on overflow
    as NumPy's integer sums do (``np.uint8(200) + np.uint8(100) == 44``),
    so pass a wider integer (or float) array when the overlap count times
    the values can exceed the dtype; bool sums are a logical or; float16 is
    summed in float32 and rounded once.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import col2im, im2col
    >>> x = np.ones((1, 3, 3))
    >>> col2im(im2col(x, 2), (3, 3), 2)[0]   # how many 2x2 patches cover each pixel
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    mode = padding_mode_arg(padding_mode)
    arr, result_dtype = as_value_array("input", input, complex_ok=True)
    check_ndim("input", arr, (2, 3), "2-D (C*kh*kw, L) or 3-D (N, C*kh*kw, L)")
    unbatched = arr.ndim == 2
    cols = arr[None] if unbatched else arr
    height, width = pair("output_size", output_size)
    geom = conv_geometry((height, width), kernel_size, stride, padding, dilation, allow_strings=False,
                         input_name="output_size")
    check_mode_fits(mode, (height, width), geom.padding)
    n_img, rows, length = cols.shape
    if rows % geom.kernel_area:
        raise ValueError(
            f"`input` must have C*kh*kw rows with kernel_size {(geom.kernel_h, geom.kernel_w)}, "
            f"got {rows} rows, not a multiple of {geom.kernel_area}"
        )
    if length != geom.out_area:
        raise ValueError(
            f"`input` has {length} patches (last axis) but output_size {(height, width)} with this "
            f"geometry gives {geom.out_h}x{geom.out_w} = {geom.out_area}"
        )
    cols = to_kernel_array(cols, arr.dtype)
    out = np.empty((n_img, rows // geom.kernel_area, height, width), dtype=cols.dtype)
    if out.size:
        if mode == "zeros":
            backend_module().col2im(cols, out, geom)
        else:
            _col2im_tables(cols, out, geom, mode)
    if out.dtype != result_dtype:  # float16, summed in float32
        out = out.astype(result_dtype)
    return out[0] if unbatched else out


# ---------------------------------------------------------------------------
# padding modes and 1 or 3 spatial axes: the N-D kernels
# ---------------------------------------------------------------------------
#
# The N-D kernels see three spatial axes; fewer are unit axes prepended, with
# a (1, 1) table of 0 each (padmap.tables3). Padding is resolved into one
# index table per axis, so no padded copy of the input is ever made.


def _as_volumes(arr: np.ndarray, ndim: int) -> np.ndarray:
    """(N, C, S0, S1, S2) view of a C-contiguous (N, C, *spatial) array."""
    return arr.reshape(arr.shape[:2] + (1,) * (3 - ndim) + arr.shape[2:])


def _im2col_tables(x: np.ndarray, cols: np.ndarray, geom, mode: str) -> None:
    in_size = x.shape[2:]
    backend_module().im2col_nd(_as_volumes(x, geom.ndim), cols, *tables3(in_size, geom, mode))


def _col2im_tables(cols: np.ndarray, out: np.ndarray, geom, mode: str) -> None:
    in_size = out.shape[2:]
    backend_module().col2im_nd(cols, _as_volumes(out, geom.ndim), *tables3(in_size, geom, mode))


_SPATIAL = {1: "L", 3: "D, H, W"}
_TAP_NAMES = {1: "k", 3: "kd*kh*kw"}


def _axis_args(func: str, ndim: int, **args) -> dict:
    """Check the per-axis arguments of an N-D function: a sequence must have
    one entry per spatial axis or a single one (then used on every axis)."""
    for name, value in args.items():
        if isinstance(value, np.ndarray) and value.ndim >= 1:
            value = value.tolist()
        if isinstance(value, (tuple, list)):
            if len(value) == 1 and ndim > 1:
                value = tuple(value) * ndim
            elif len(value) != ndim:
                hint = ""
                if name == "padding" and ndim == 1 and len(value) == 2:
                    hint = f"; for (low, high) padding write (({value[0]!r}, {value[1]!r}),)"
                raise ValueError(
                    f"`{name}` has {len(value)} entries but {func} has {ndim} spatial "
                    f"{'axis' if ndim == 1 else 'axes'}: give an int, {ndim} entries or 1{hint}")
        args[name] = value
    return args


def _unfold(func: str, ndim: int, input, kernel_size, dilation, padding, stride, padding_mode):
    mode = padding_mode_arg(padding_mode)
    arr, result_dtype = as_value_array("input", input, complex_ok=True)
    check_ndim("input", arr, (ndim + 1, ndim + 2),
               f"{ndim + 1}-D (C, {_SPATIAL[ndim]}) or {ndim + 2}-D (N, C, {_SPATIAL[ndim]})")
    unbatched = arr.ndim == ndim + 1
    xb = arr[None] if unbatched else arr
    in_size = xb.shape[2:]
    a = _axis_args(func, ndim, kernel_size=kernel_size, dilation=dilation, padding=padding,
                   stride=stride)
    geom = conv_geometry(in_size, a["kernel_size"], a["stride"], a["padding"], a["dilation"],
                         allow_strings=False)
    check_mode_fits(mode, in_size, geom.padding)
    x = to_kernel_array(xb, arr.dtype)
    n_img, channels = x.shape[:2]
    cols = np.empty((n_img, channels * geom.kernel_area, geom.out_area), dtype=x.dtype)
    if cols.size:
        # 1-D 'zeros' too: the N-D kernel measured 1.1-1.3x faster on 1-D
        # problems than the 2-D one with a unit leading axis
        _im2col_tables(x, cols, geom, mode)
    if cols.dtype != result_dtype:  # float16, copied through float32: exact
        cols = cols.astype(result_dtype)
    return cols[0] if unbatched else cols


def _fold(func: str, ndim: int, input, output_size, kernel_size, dilation, padding, stride,
          padding_mode):
    mode = padding_mode_arg(padding_mode)
    arr, result_dtype = as_value_array("input", input, complex_ok=True)
    taps = _TAP_NAMES[ndim]
    check_ndim("input", arr, (2, 3), f"2-D (C*{taps}, L) or 3-D (N, C*{taps}, L)")
    unbatched = arr.ndim == 2
    cols = arr[None] if unbatched else arr
    a = _axis_args(func, ndim, output_size=output_size, kernel_size=kernel_size,
                   dilation=dilation, padding=padding, stride=stride)
    size = int_tuple("output_size", a["output_size"], ndim)
    geom = conv_geometry(size, a["kernel_size"], a["stride"], a["padding"], a["dilation"],
                         allow_strings=False, input_name="output_size")
    check_mode_fits(mode, size, geom.padding)
    n_img, rows, length = cols.shape
    if rows % geom.kernel_area:
        raise ValueError(
            f"`input` must have C*{taps} rows with kernel_size {geom.kernel}, "
            f"got {rows} rows, not a multiple of {geom.kernel_area}")
    if length != geom.out_area:
        raise ValueError(
            f"`input` has {length} patches (last axis) but output_size {size} with this geometry "
            f"gives {'x'.join(map(str, geom.out))} = {geom.out_area}")
    cols = to_kernel_array(cols, arr.dtype)
    out = np.empty((n_img, rows // geom.kernel_area) + size, dtype=cols.dtype)
    if out.size:
        _col2im_tables(cols, out, geom, mode)
    if out.dtype != result_dtype:  # float16, summed in float32
        out = out.astype(result_dtype)
    return out[0] if unbatched else out


def im2col1d(input, kernel_size, dilation=1, padding=0, stride=1, *, padding_mode="zeros"):
    """Unroll sliding windows of a batch of 1-D signals into columns.

    ``torch.nn.functional.unfold`` for one spatial axis (what ``conv1d``
    multiplies): row ``c*k + j`` holds tap j of channel c, column o the
    window starting at output position o.

    Parameters
    ----------
    input : array_like, shape (N, C, L) or (C, L)
        Signals. Any dtype but object: bool, integers, float16 and complex
        are kept (values are copied, never computed).
    kernel_size : int or (int,)
        Window length k.
    dilation : int or (int,), default 1
        Spacing between the taps of a window.
    padding : int, (int,) or ((int, int),), default 0
        Padding on both ends, or ``((low, high),)``.
    stride : int or (int,), default 1
        Step between neighbouring windows.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        What the padding holds, as ``torch.nn.Conv1d(padding_mode=...)``
        (``'symmetric'`` is NumPy's: mirrored including the edge).

    Returns
    -------
    cols : ndarray, shape (N, C*k, L_out) or (C*k, L_out)
        ``L_out = (L + low + high - d*(k-1) - 1) // stride + 1``. The dtype
        of `input`.

    Raises
    ------
    TypeError
        If `input` holds no numbers (an object or string array) or a geometry
        argument is not an int or a tuple of ints.
    ValueError
        If `input` is not 2-D or 3-D, a tuple argument has more than one
        entry, a geometry argument is out of range, the dilated window is
        longer than the padded input, `padding_mode` is unknown, or the
        padding is too wide for it ('reflect': below the input length,
        'circular': at most the input length, as in PyTorch).

    Notes
    -----
    Memory: the result is ``k / stride`` times the size of the input (about);
    nothing else of that size is allocated, padding modes included.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import im2col1d
    >>> x = np.arange(5.0).reshape(1, 5)
    >>> im2col1d(x, 3)
    array([[0., 1., 2.],
           [1., 2., 3.],
           [2., 3., 4.]])
    >>> im2col1d(x, 3, padding=1, padding_mode="reflect")[:, 0]
    array([1., 0., 1.])
    """
    return _unfold("im2col1d", 1, input, kernel_size, dilation, padding, stride, padding_mode)


def col2im1d(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *,
             padding_mode="zeros"):
    """Sum columns of 1-D windows back into signals (the adjoint of `im2col1d`).

    ``torch.nn.functional.fold`` for one spatial axis: every entry is added
    to the position its tap was read from, so overlapping windows
    accumulate. Deterministic: each output row (n, c) is owned by one thread.

    Parameters
    ----------
    input : array_like, shape (N, C*k, L_out) or (C*k, L_out)
        Window columns, laid out as `im2col1d` produces them.
    output_size : int or (int,)
        Length L of the signals to rebuild.
    kernel_size, dilation, padding, stride
        As in `im2col1d`; they must give exactly ``L_out`` windows for
        `output_size`.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        As in `im2col1d`; an entry read from the padding is added to the
        element that padding copies (the exact adjoint).

    Returns
    -------
    signals : ndarray, shape (N, C, L) or (C, L)
        The dtype of `input`.

    Raises
    ------
    TypeError
        If `input` holds no numbers (an object or string array) or a geometry
        argument is not an int or a tuple of ints.
    ValueError
        If `input` is not 2-D or 3-D, its second-to-last axis is not a
        multiple of k, its last axis is not the number of windows the
        geometry gives for `output_size`, or an argument is invalid as in
        `im2col1d`.

    Notes
    -----
    Memory: only the result is allocated.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import col2im1d, im2col1d
    >>> x = np.ones((1, 5))
    >>> col2im1d(im2col1d(x, 3), 5, 3)   # how many windows cover each element
    array([[1., 2., 3., 2., 1.]])
    """
    return _fold("col2im1d", 1, input, output_size, kernel_size, dilation, padding, stride,
                 padding_mode)


def im2col3d(input, kernel_size, dilation=1, padding=0, stride=1, *, padding_mode="zeros"):
    """Unroll sliding 3-D patches of a batch of volumes into columns.

    The layout of ``unfoldNd.unfoldNd`` (``torch.nn.functional.unfold``
    extended to three spatial axes, what ``conv3d`` multiplies): row
    ``c*kd*kh*kw + (i*kh + j)*kw + l`` holds tap (i, j, l) of channel c,
    column ``(od*OH + oh)*OW + ow`` the patch at output position (od, oh, ow).

    Parameters
    ----------
    input : array_like, shape (N, C, D, H, W) or (C, D, H, W)
        Volumes. Any dtype but object: bool, integers, float16 and complex
        are kept (values are copied, never computed).
    kernel_size : int or (int, int, int)
        Patch size (kd, kh, kw).
    dilation : int or (int, int, int), default 1
        Spacing between the taps of a patch.
    padding : int, (int, int, int) or three (int, int) pairs, default 0
        Padding on both sides of each spatial axis, or ``((front, back),
        (top, bottom), (left, right))``.
    stride : int or (int, int, int), default 1
        Step between neighbouring patches.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        What the padding holds, as ``torch.nn.Conv3d(padding_mode=...)``
        (``'symmetric'`` is NumPy's: mirrored including the edge).

    Returns
    -------
    cols : ndarray, shape (N, C*kd*kh*kw, OD*OH*OW) or (C*kd*kh*kw, OD*OH*OW)
        ``OD = (D + front + back - dd*(kd-1) - 1) // sd + 1``, likewise OH
        and OW. The dtype of `input`.

    Raises
    ------
    TypeError
        If `input` holds no numbers (an object or string array) or a geometry
        argument is not an int or a tuple of ints.
    ValueError
        If `input` is not 4-D or 5-D, a tuple argument has neither 3 entries
        nor 1, a geometry argument is out of range, the dilated kernel is
        larger than the padded input, `padding_mode` is unknown, or the
        padding is too wide for it ('reflect': below the input size,
        'circular': at most the input size, as in PyTorch).

    Notes
    -----
    Memory: the result has ``kd*kh*kw`` times as many elements as the output
    positions times channels (27x the input for a 3x3x3 kernel at stride 1);
    nothing else of that size is allocated, padding modes included.

    A tuple argument with a single entry applies it to every axis, as in
    PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import im2col3d
    >>> x = np.arange(24.0).reshape(1, 2, 3, 4)   # one channel, D=2, H=3, W=4
    >>> cols = im2col3d(x, 2)
    >>> cols.shape
    (8, 6)
    >>> cols[:, 0]   # the first 2x2x2 patch, in C order of its taps
    array([ 0.,  1.,  4.,  5., 12., 13., 16., 17.])
    """
    return _unfold("im2col3d", 3, input, kernel_size, dilation, padding, stride, padding_mode)


def col2im3d(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *,
             padding_mode="zeros"):
    """Sum columns of 3-D patches back into volumes (the adjoint of `im2col3d`).

    ``unfoldNd.FoldNd`` / ``torch.nn.functional.fold`` for three spatial
    axes: every entry is added to the position its tap was read from, so
    overlapping patches accumulate. Deterministic: each output volume (n, c)
    is owned by one thread.

    Parameters
    ----------
    input : array_like, shape (N, C*kd*kh*kw, L) or (C*kd*kh*kw, L)
        Patch columns, laid out as `im2col3d` produces them.
    output_size : int or (int, int, int)
        Spatial size (D, H, W) of the volumes to rebuild.
    kernel_size, dilation, padding, stride
        As in `im2col3d`; they must give exactly ``L`` patches for
        `output_size`.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        As in `im2col3d`; an entry read from the padding is added to the
        element that padding copies (the exact adjoint).

    Returns
    -------
    volumes : ndarray, shape (N, C, D, H, W) or (C, D, H, W)
        The dtype of `input`.

    Raises
    ------
    TypeError
        If `input` holds no numbers (an object or string array) or a geometry
        argument is not an int or a tuple of ints.
    ValueError
        If `input` is not 2-D or 3-D, its second-to-last axis is not a
        multiple of ``kd*kh*kw``, its last axis is not the number of patches
        the geometry gives for `output_size`, or an argument is invalid as
        in `im2col3d`.

    Notes
    -----
    Memory: only the result is allocated. ``col2im3d(im2col3d(x))`` is not
    ``x``: each element is multiplied by the number of patches that read it.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import col2im3d, im2col3d
    >>> x = np.ones((1, 3, 3, 3))
    >>> col2im3d(im2col3d(x, 2), (3, 3, 3), 2)[0, 1]   # patches covering each voxel, middle slice
    array([[2., 4., 2.],
           [4., 8., 4.],
           [2., 4., 2.]])
    """
    return _fold("col2im3d", 3, input, output_size, kernel_size, dilation, padding, stride,
                 padding_mode)
