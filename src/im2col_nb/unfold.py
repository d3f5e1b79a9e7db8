"""im2col and col2im: image patches as matrix columns, and back.

Public wrappers: each validates its arguments once, makes the arrays
C-contiguous float32/float64, allocates the result and calls the current
backend's kernel. ``torch.nn.functional.unfold`` / ``fold`` equivalents.
"""

from __future__ import annotations

import numpy as np

from ._core.backend import backend_module
from ._core.geometry import conv_geometry
from ._core.validation import as_float_array, check_ndim, pair, to_kernel_array

__all__ = ["col2im", "im2col"]


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------


def _batched_nchw(name: str, arr: np.ndarray) -> tuple[np.ndarray, bool]:
    """(N, C, H, W) view of a 3-D or 4-D array, and whether it was unbatched."""
    check_ndim(name, arr, (3, 4), "3-D (C, H, W) or 4-D (N, C, H, W)")
    if arr.ndim == 3:
        return arr[None], True
    return arr, False


def im2col(input, kernel_size, dilation=1, padding=0, stride=1):
    """Unroll sliding patches of a batch of images into columns.

    The same values in the same order as ``torch.nn.functional.unfold``:
    row ``c*kh*kw + ki*kw + kj`` holds tap (ki, kj) of channel c, and column
    ``oh*OW + ow`` is the patch whose top-left corner is at output position
    (oh, ow).

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
        Images. Integer and bool inputs are promoted to float64, float16 to
        float32.
    kernel_size : int or (int, int)
        Patch size (kh, kw).
    dilation : int or (int, int), default 1
        Spacing between the taps of a patch.
    padding : int, (int, int) or ((int, int), (int, int)), default 0
        Implicit zeros added on both sides of each spatial axis, or
        ``((top, bottom), (left, right))``.
    stride : int or (int, int), default 1
        Step between neighbouring patches.

    Returns
    -------
    cols : ndarray, shape (N, C*kh*kw, L) or (C*kh*kw, L)
        ``L = OH*OW`` with ``OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1`` and
        likewise for OW. Same float dtype as `input` (after promotion).

    Raises
    ------
    TypeError
        If `input` is not real-valued or a geometry argument is not an int or
        a pair of ints.
    ValueError
        If `input` is not 3-D or 4-D, a geometry argument is out of range, or
        the dilated kernel is larger than the padded input.

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
    arr = as_float_array("input", input)
    x4, unbatched = _batched_nchw("input", arr)
    n_img, channels, height, width = x4.shape
    geom = conv_geometry((height, width), kernel_size, stride, padding, dilation, allow_strings=False)
    x4 = to_kernel_array(x4, arr.dtype)
    cols = np.empty((n_img, channels * geom.kernel_area, geom.out_area), dtype=x4.dtype)
    if cols.size:
        backend_module().im2col(x4, cols, geom, 0, geom.out_h)
    return cols[0] if unbatched else cols


def col2im(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
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

    Returns
    -------
    images : ndarray, shape (N, C, H, W) or (C, H, W)
        Same float dtype as `input` (after promotion).

    Raises
    ------
    TypeError
        If `input` is not real-valued or a geometry argument is not an int or
        a pair of ints.
    ValueError
        If `input` is not 2-D or 3-D, its second-to-last axis is not a
        multiple of ``kh*kw``, or its last axis is not the number of patches
        that the geometry gives for `output_size`.

    Notes
    -----
    ``col2im(im2col(x))`` is not ``x``: each pixel is multiplied by the
    number of patches that contain it.

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
    arr = as_float_array("input", input)
    check_ndim("input", arr, (2, 3), "2-D (C*kh*kw, L) or 3-D (N, C*kh*kw, L)")
    unbatched = arr.ndim == 2
    cols = arr[None] if unbatched else arr
    height, width = pair("output_size", output_size)
    geom = conv_geometry((height, width), kernel_size, stride, padding, dilation, allow_strings=False,
                         input_name="output_size")
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
        backend_module().col2im(cols, out, geom)
    return out[0] if unbatched else out
