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
from ._core.strided import INNER_NAMES, inner_axis, rows_contiguous, scratch_blocks
from ._core.threads import get_num_threads
from ._core.workspace import resolve_budget
from ._engine.machine import current_machine
from ._engine.registry import Candidate, Choice
from ._core.validation import check_ndim, describe, int_tuple, pair, to_kernel_array

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


def im2col(input, kernel_size, dilation=1, padding=0, stride=1, *, padding_mode="zeros",
           order="NKL", out=None):
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
    order : {'NKL', 'KLN', 'NLK', 'KNL'}, default 'NKL'
        How the columns are laid out, with ``K = C*kh*kw`` patch rows and
        ``L = OH*OW`` output positions: 'NKL' as
        ``torch.nn.functional.unfold``; 'KLN' with the batch innermost,
        shape ``(K, L*N)``, entry ``[k, l*N + n]`` (CS231n's
        ``im2col_cython``, numpy-ml's ``im2col``); 'NLK' one row per patch,
        shape ``(N*L, K)``, entry ``[n*L + l, k]`` (*Deep Learning from
        Scratch*'s ``im2col``); 'KNL' with the batch outermost in the
        columns, shape ``(K, N*L)``, entry ``[k, n*L + l]`` (CS231n's
        ``conv_forward_strides`` and ``col2im_6d_cython``). Written
        directly in that layout: no transpose copy.
    out : ndarray, optional
        Where to write the result: exactly the returned shape and dtype,
        any strides (a transposed view included), not overlapping `input`.
        Reusing one buffer across calls also saves the page faults of a
        fresh large array.

    Returns
    -------
    cols : ndarray
        'NKL': shape (N, C*kh*kw, L), or (C*kh*kw, L) for a 3-D input;
        'KLN': (C*kh*kw, L*N); 'NLK': (N*L, C*kh*kw); 'KNL' (C*kh*kw, N*L)
        (N = 1 for a 3-D input). ``L = OH*OW`` with ``OH = (H + top + bottom - dh*(kh-1) - 1)
        // sh + 1`` and likewise for OW. The dtype of `input`; `out` itself
        when given.

    Raises
    ------
    TypeError
        If `input` holds no numbers (an object or string array) or a geometry
        argument is not an int or a pair of ints.
    ValueError
        If `input` is not 3-D or 4-D, a geometry argument is out of range,
        the dilated kernel is larger than the padded input, `padding_mode` is
        unknown, or the padding is too wide for it ('reflect': below the
        input size, 'circular': at most the input size, as in PyTorch);
        `order` is unknown; `out` has the wrong shape, is read-only, has
        overlapping elements or shares memory with `input`.
    TypeError
        If `out` is not an ndarray of the result's dtype.

    Notes
    -----
    Memory: the result has ``kh*kw`` times as many elements as the output
    positions times channels: that blow-up is the price of turning a
    convolution into one matrix multiply. Nothing else of the input's size
    is allocated, whatever the input's strides (an NHWC array's
    ``transpose(0, 3, 1, 2)`` is read in place) or the order; 'KLN' with
    four or more images uses per-thread scratch of one channel of the batch
    (up to 2 MiB each).

    Speed: a C-contiguous input into 'NKL' runs the fastest kernels; other
    layouts run strided kernels whose innermost loop follows the columns'
    smallest stride (``bench/bench_dropin.py`` and
    docs/speed-up-numpy-cnn.md compare them with the code they replace).
    The copy is exact on the bits for every dtype.

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

    Columns with the batch innermost, as CS231n's ``im2col_cython`` builds
    them, from images stored channels-last:

    >>> x_nhwc = np.zeros((8, 5, 5, 3))
    >>> im2col(x_nhwc.transpose(0, 3, 1, 2), 3, padding=1, order="KLN").shape
    (27, 200)
    """
    return _im2col(input, kernel_size, dilation, padding, stride, padding_mode, order, out)


def col2im(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *,
           padding_mode="zeros", order="NKL", out=None):
    """Sum columns of patches back into images (the adjoint of `im2col`).

    The same as ``torch.nn.functional.fold``: every entry of `input` is added
    to the image position its patch tap came from, so overlapping patches
    accumulate. Deterministic: each output plane is owned by one thread.

    Parameters
    ----------
    input : array_like
        Patch columns, laid out as `im2col` produces them in `order`:
        'NKL' (N, C*kh*kw, L) or (C*kh*kw, L); 'KLN' (C*kh*kw, L*N) or
        (C*kh*kw, L, N); 'NLK' (N*L, C*kh*kw) or (N, L, C*kh*kw); 'KNL'
        (C*kh*kw, N*L) or (C*kh*kw, N, L). Any strides: a transposed view
        is read in place.
    output_size : int or (int, int)
        Spatial size (H, W) of the images to rebuild.
    kernel_size, dilation, padding, stride
        As in `im2col`; they must give exactly ``L`` patches for
        `output_size`.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        As in `im2col`. With a mode other than 'zeros' the result is still
        the exact adjoint: an entry read from the padding is added to the
        input element that padding copies.
    order : {'NKL', 'KLN', 'NLK', 'KNL'}, default 'NKL'
        The layout of `input`, as in `im2col` (CS231n's ``col2im_cython``
        and numpy-ml's ``col2im`` take 'KLN', CS231n's ``col2im_6d_cython``
        'KNL', *Deep Learning from Scratch*'s ``col2im`` 'NLK').
    out : ndarray, optional
        Where to write the images (overwritten, not added to): exactly the
        returned shape and dtype, any strides (``dx.transpose(0, 3, 1, 2)``
        of a channels-last gradient included), not overlapping `input`.

    Returns
    -------
    images : ndarray, shape (N, C, H, W)
        (C, H, W) for a 2-D 'NKL' input. The dtype of `input`; `out`
        itself when given.

    Raises
    ------
    TypeError
        If `input` holds no numbers (an object or string array) or a geometry
        argument is not an int or a pair of ints.
    ValueError
        If `input` is not 2-D or 3-D, its patch-row axis is not a multiple
        of ``kh*kw``, its position axis is not the number of patches (times
        N, for the 2-D 'KLN' and 'NLK' forms) that the geometry gives for
        `output_size`, `padding_mode` is unknown or does not fit the
        padding (as in `im2col`), `order` is unknown, or `out` is invalid
        (as in `im2col`).
    TypeError
        If `out` is not an ndarray of the result's dtype.

    Notes
    -----
    ``col2im(im2col(x))`` is not ``x``: each pixel is multiplied by the
    number of patches that contain it.

    Memory: only the result is allocated (and, for 'KLN' with four or more
    images, per-thread scratch of one channel of the batch), whatever the
    strides of `input` or `out`.

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
    return _col2im(input, output_size, kernel_size, dilation, padding, stride, padding_mode,
                   order, out)


def _im2col(input, kernel_size, dilation, padding, stride, padding_mode, order, out,
            explain=False):
    """im2col, or with `explain` the `Choice` it would make."""
    mode = padding_mode_arg(padding_mode)
    arr, result_dtype = as_value_array("input", input, complex_ok=True)
    x4, unbatched = _batched_nchw("input", arr)
    height, width = x4.shape[2:]
    geom = conv_geometry((height, width), kernel_size, stride, padding, dilation, allow_strings=False)
    check_mode_fits(mode, (height, width), geom.padding)
    return _fill_columns(x4, geom, mode, _order_arg(order), out, unbatched, result_dtype, True,
                         explain)


def _col2im(input, output_size, kernel_size, dilation, padding, stride, padding_mode, order,
            out, explain=False):
    """col2im, or with `explain` the `Choice` it would make."""
    mode = padding_mode_arg(padding_mode)
    order = _order_arg(order)
    arr, result_dtype = as_value_array("input", input, complex_ok=True)
    check_ndim("input", arr, (2, 3), _COLS_DIMS[order].format(taps="kh*kw"))
    unbatched = arr.ndim == 2 and order == "NKL"
    height, width = pair("output_size", output_size)
    geom = conv_geometry((height, width), kernel_size, stride, padding, dilation, allow_strings=False,
                         input_name="output_size")
    check_mode_fits(mode, (height, width), geom.padding)
    return _sum_columns(arr, geom, mode, order, out, (height, width), unbatched, result_dtype,
                        True, explain)


# ---------------------------------------------------------------------------
# column orders, `out=`, and any strides
# ---------------------------------------------------------------------------
#
# Columns are seen by the kernels as (N, K, L): N images, K = C*taps patch
# rows, L output positions. `order` names how they lie in the caller's
# array; every order is a strided (N, K, L) view of it, which the strided
# kernels (_kernels/*/unfold_strided.py) read and write without a copy.

ORDERS = ("NKL", "KLN", "NLK", "KNL")
# what col2im's input may be, per order ({taps}: how the patch size is written)
_COLS_DIMS = {
    "NKL": "2-D (C*{taps}, L) or 3-D (N, C*{taps}, L)",
    "KLN": "2-D (C*{taps}, L*N) or 3-D (C*{taps}, L, N) in order 'KLN'",
    "NLK": "2-D (N*L, C*{taps}) or 3-D (N, L, C*{taps}) in order 'NLK'",
    "KNL": "2-D (C*{taps}, N*L) or 3-D (C*{taps}, N, L) in order 'KNL'",
}


def _order_arg(order) -> str:
    if not isinstance(order, str) or order.upper() not in ORDERS:
        raise ValueError(f"`order` must be one of 'NKL', 'KLN', 'NLK', 'KNL', got {describe(order)}")
    return order.upper()


def _cols_shape(order: str, n: int, k: int, length: int, unbatched: bool) -> tuple:
    """The shape im2col returns for `order` (and col2im takes as 2-D)."""
    if order == "KLN":
        return (k, length * n)
    if order == "NLK":
        return (n * length, k)
    if order == "KNL":
        return (k, n * length)
    return (k, length) if unbatched else (n, k, length)


def _split(a: np.ndarray, axis: int, sizes: tuple) -> np.ndarray:
    """`a` with `axis` split into `sizes` (two axes): always a view."""
    step = a.strides[axis]
    shape = a.shape[:axis] + sizes + a.shape[axis + 1:]
    strides = a.strides[:axis] + (step * sizes[1], step) + a.strides[axis + 1:]
    return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=a.flags.writeable)


def _nkl_view(a: np.ndarray, order: str, n: int, k: int, length: int) -> np.ndarray:
    """The (N, K, L) view of columns `a` laid out in `order` (2-D as
    `_cols_shape`, or 3-D in the order's axis order)."""
    if order == "NKL":
        return a.reshape(1, k, length) if a.ndim == 2 else a
    if order == "KLN":
        a3 = _split(a, 1, (length, n)) if a.ndim == 2 else a
        return a3.transpose(2, 0, 1)
    if order == "KNL":
        a3 = _split(a, 1, (n, length)) if a.ndim == 2 else a
        return a3.transpose(1, 0, 2)
    a3 = _split(a, 0, (n, length)) if a.ndim == 2 else a
    return a3.transpose(0, 2, 1)


def _no_self_overlap(a: np.ndarray) -> bool:
    """Whether no two elements of `a` share memory (sufficient test: every
    stride, by size, spans all the smaller axes)."""
    span = a.itemsize
    for size, stride in sorted(((n, abs(s)) for n, s in zip(a.shape, a.strides) if n > 1),
                               key=lambda t: t[1]):
        if stride < span:
            return False
        span = stride * (size - 1) + span
    return True


def _out_arg(out, shape: tuple, dtype: np.dtype, source: np.ndarray) -> np.ndarray:
    """`out` checked: an ndarray of exactly `shape` and `dtype`, writeable,
    with no overlapping elements and no memory shared with `source`."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"`out` must be a numpy.ndarray or None, got {describe(out)}")
    if out.shape != tuple(shape):
        raise ValueError(f"`out` must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype.newbyteorder("=") != dtype:
        raise TypeError(f"`out` must have dtype {dtype} (the result's), got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("`out` must be writeable, got a read-only array")
    if not _no_self_overlap(out):
        raise ValueError("`out` must not have overlapping elements (a broadcast or "
                         f"as_strided view), got strides {out.strides}")
    if np.shares_memory(out, source):
        raise ValueError("`out` must not share memory with `input`")
    return out


def _strided_ok(a: np.ndarray) -> bool:
    """Whether the strided kernels can address `a` in place: native byte
    order and strides in whole elements."""
    return a.dtype.isnative and all(s % a.itemsize == 0 for s in a.strides)


_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _copy_patches(x5: np.ndarray, cols: np.ndarray, tables) -> None:
    """im2col with the strided kernel: a copy, so done on the bits (one
    compiled kernel per item size; complex128 as its two float64 parts)."""
    if x5.itemsize == 16:
        _copy_patches(x5.real, cols.real, tables)
        _copy_patches(x5.imag, cols.imag, tables)
        return
    bits = _BITS[x5.itemsize]
    backend_module().im2col_strided(x5.view(bits), cols.view(bits), *tables)


# Time of each route relative to the contiguous kernel on the same problem,
# one thread, AMD EPYC (Zen 4), float32/float64, the drop-in benchmark
# shapes (N=32, C=16, 28x28, 3x3; N=64, C=3, 32x32, 5x5; stride-2 cases):
# rerun with ``python bench/bench_dropin.py``. Coarse, but they order the
# routes as measured: a C-contiguous copy of an input (or a temporary for
# an output) and the contiguous kernel beat the strided kernel on torch's
# layout, 1.3-2x; the other orders have no contiguous kernel.
_ROUTE_COST = {"contiguous": 1.0, "copy": 1.4, "strided NKL": 1.9, "strided scratch": 1.2,
               "strided": 2.5}


# Fresh columns at least this large are faulted in by all threads first
# (backend first_touch): 39 MB of batch-innermost columns on two threads
# took 30 ms into fresh memory against 3.6 ms into a reused buffer.
_TOUCH_BYTES = 1 << 23


def _addressable(a: np.ndarray, dtype) -> bool:
    return _strided_ok(a) and a.dtype == dtype


def _route(op: str, source: np.ndarray, cols3: np.ndarray, order: str, images: np.ndarray,
           out_given: bool, dtype) -> tuple:
    """(route, candidates, plan) of an im2col (`op` 'fill': `source` images
    into columns `cols3`) or col2im ('sum': columns `cols3` into `images`).

    `cols3` is the (N, K, L) view of the columns; for im2col with no `out`
    it is the view of the array that would be allocated. Routes:
    'contiguous' (a C-contiguous image array and columns whose rows are
    contiguous: torch's order, or 'KNL'; the fastest kernels), 'copy' (the
    image side not C-contiguous: copied into or out of a C-contiguous
    temporary around the contiguous kernel, measured faster than the
    strided kernel) and 'strided' (any strides, any order, no copy)."""
    fill = op == "fill"
    images_ok = (source if fill else images)
    images_ok = (not fill and not out_given) or (
        images_ok.flags.c_contiguous and images_ok.dtype == dtype and images_ok.dtype.isnative)
    rows_ok = (rows_contiguous(cols3) and cols3.dtype == dtype and cols3.dtype.isnative
               and (fill or _strided_ok(cols3)))
    side = "input" if fill else "output"
    cands = []
    if not rows_ok:
        why = (f"order {order!r} has no contiguous kernel" if order in ("KLN", "NLK")
               else "the columns' rows are not contiguous")
        cands.append(Candidate("contiguous", None, why))
        cands.append(Candidate("copy", None, why + " (a copy of the columns would be the "
                                                  "largest array)"))
    elif images_ok:
        cands.append(Candidate("contiguous", _ROUTE_COST["contiguous"], None))
        cands.append(Candidate("copy", None, "nothing to copy: both sides are contiguous"))
    else:
        cands.append(Candidate("contiguous", None, f"the {side} is not C-contiguous"))
        cands.append(Candidate("copy", _ROUTE_COST["copy"], None))
    nkl = order == "NKL"
    threads = get_num_threads()
    inner = inner_axis(cols3.strides, cols3.shape)
    # the kernels see (N, C, S0, S1, S2): the policy must read the same shape
    volumes = images.shape[:2] + (1,) * (5 - images.ndim) + images.shape[2:]
    split, elements = scratch_blocks(volumes, images.itemsize, threads, inner, not fill)
    key = "strided scratch" if split else ("strided NKL" if nkl else "strided")
    cands.append(Candidate("strided", _ROUTE_COST[key], None))
    best = min((c for c in cands if c.supported), key=lambda c: c.estimate)
    if best.name == "strided":
        plan = f"strided kernel, innermost loop over {INNER_NAMES[inner]}"
        if split:   # (_core/strided.scratch_blocks)
            size = elements * images.itemsize
            what = f"blocks of {split} images" if fill else f"{split} block(s) of rows"
            plan += (f", tasks of one channel in {what}, through per-thread scratch "
                     f"({threads} x {size / 2**10:.0f} KiB)")
        if not _strided_ok(source):
            plan += "; the input is copied first (byte-swapped or strides not in whole elements)"
    elif best.name == "copy":
        what = "input" if fill else "result"
        plan = (f"contiguous kernel through a C-contiguous copy of the {what} "
                f"({(source if fill else images).nbytes / 2**20:.3g} MiB)")
    else:
        plan = "contiguous kernel, no copy"
    return best.name, tuple(cands), plan


def _fill_columns(x: np.ndarray, geom, mode: str, order: str, out, unbatched: bool,
                  result_dtype, two_d: bool, explain: bool = False):
    """The columns of `x` (N, C, *spatial), in `order`, into `out` or a new
    array, by the route `_route` picks (`explain`: that choice, not run)."""
    n_img, channels = x.shape[:2]
    rows, length = channels * geom.kernel_area, geom.out_area
    shape = _cols_shape(order, n_img, rows, length, unbatched)
    if out is not None:
        out = _out_arg(out, shape, result_dtype, x)
    if not explain and (0 in shape or n_img == 0):
        return np.empty(shape, result_dtype) if out is None else out
    if out is None:
        natural = {"NKL": (n_img, rows, length), "KLN": (rows, length, n_img),
                   "NLK": (n_img, length, rows), "KNL": (rows, n_img, length)}[order]
        if explain:
            target = _c_order_standin(natural, result_dtype).reshape(shape)
        else:
            target = np.empty(natural, result_dtype).reshape(shape)
            if target.nbytes >= _TOUCH_BYTES:
                backend_module().first_touch(target)
    else:  # an `out` the kernel cannot address is filled through a temporary
        target = out if _addressable(out, result_dtype) else np.empty(shape, result_dtype)
    cols3 = _nkl_view(target, order, n_img, rows, length)
    route, cands, plan = _route("fill", x, cols3, order, x, out is not None, result_dtype)
    if explain:
        return _unfold_choice("im2col", x, geom, order, route, cands, plan)
    if route != "strided":
        x = to_kernel_array(x, result_dtype)   # 'copy': C-contiguous; 'contiguous': as is
        xk, ck = x, cols3
        if x.itemsize in _BITS:  # a copy: exact on the bits, whatever the dtype
            bits = _BITS[x.itemsize]
            xk, ck = x.view(bits), cols3.view(bits)
        if two_d and mode == "zeros" and ck.flags.c_contiguous:
            backend_module().im2col(xk, ck, geom, 0, geom.out_h)
        else:
            _im2col_tables(xk, ck, geom, mode)
    else:
        if not _addressable(x, result_dtype):
            x = to_kernel_array(x, result_dtype)
        _copy_patches(_as_volumes(x, geom.ndim), cols3, tables3(x.shape[2:], geom, mode))
    if out is not None and target is not out:
        out[...] = target
        return out
    return target


def _sum_columns(cols: np.ndarray, geom, mode: str, order: str, out, size: tuple,
                 unbatched: bool, result_dtype, two_d: bool, explain: bool = False):
    """col2im of columns `cols` (2-D or 3-D, laid out in `order`) into `out`
    or a new (N, C, *size) array, by the route `_route` picks."""
    taps, length = geom.kernel_area, geom.out_area
    n_img, rows = _cols_counts(cols, order, geom, size)
    shape = (rows // taps,) + size if unbatched else (n_img, rows // taps) + size
    if out is not None:
        result = out = _out_arg(out, shape, result_dtype, cols)
    elif explain:
        result = _c_order_standin(shape, result_dtype)
    else:
        result = np.empty(shape, result_dtype)
    if result.size == 0 and not explain:
        return result
    cols3 = _nkl_view(cols, order, n_img, rows, length)
    kernel_dtype = np.dtype(np.float32) if result_dtype == np.float16 else result_dtype
    images = result.reshape((n_img, rows // taps) + size)
    route, cands, plan = _route("sum", cols3, cols3, order, images, out is not None,
                                kernel_dtype)
    if explain:
        return _unfold_choice("col2im", images, geom, order, route, cands, plan)
    if route == "strided":
        if not _addressable(cols3, kernel_dtype):
            cols3 = to_kernel_array(cols3, kernel_dtype)
        target = images if _addressable(images, kernel_dtype) else np.empty(images.shape,
                                                                             kernel_dtype)
        backend_module().col2im_strided(cols3, _as_volumes(target, geom.ndim),
                                        *tables3(size, geom, mode))
    else:
        if not (rows_contiguous(cols3) and cols3.dtype == kernel_dtype and cols3.dtype.isnative):
            cols3 = to_kernel_array(cols3, kernel_dtype)
        target = images if route == "contiguous" and images.dtype == kernel_dtype \
            else np.empty(images.shape, kernel_dtype)
        if two_d and mode == "zeros" and cols3.flags.c_contiguous:
            backend_module().col2im(cols3, target, geom)
        else:
            _col2im_tables(cols3, target, geom, mode)
    if target is not images:
        images[...] = target
    return result


def _c_order_standin(shape: tuple, dtype) -> np.ndarray:
    """A read-only array of `shape` with C-order strides over one element:
    what `explain` looks at (strides only) instead of allocating a result."""
    item = np.dtype(dtype).itemsize
    strides = tuple(int(np.prod(shape[i + 1:])) * item for i in range(len(shape)))
    return np.lib.stride_tricks.as_strided(np.empty(1, dtype), shape, strides, writeable=False)


def _unfold_choice(op: str, images: np.ndarray, geom, order: str, route: str, cands,
                   plan: str) -> Choice:
    """The `Choice` of an im2col/col2im call, for `explain`."""
    n_img, channels = images.shape[:2]
    spatial = "x".join(map(str, images.shape[2:]))
    problem = (f"{n_img} x {channels} ch {spatial} ({images.dtype}), kernel "
               f"{'x'.join(map(str, geom.kernel))}, stride {geom.stride}, padding {geom.padding}, "
               f"dilation {geom.dilation}, order {order!r}")
    machine = current_machine(images.dtype, resolve_budget(None)).describe()
    return Choice(op, route, "auto", problem, machine, cands, plan,
                  "contiguous kernel time")


def _cols_counts(cols: np.ndarray, order: str, geom, size: tuple) -> tuple:
    """(N, K) of columns `cols` in `order`, checked against the geometry:
    K a multiple of the taps, L (or L*N) what the geometry gives for `size`."""
    taps, length = geom.kernel_area, geom.out_area
    kernel = "x".join(map(str, geom.kernel))
    out_text = f"{'x'.join(map(str, geom.out))} = {length}"
    if order == "NKL":
        n_img, rows, got = (1,) + cols.shape if cols.ndim == 2 else cols.shape
        axis = "last axis"
    elif order in ("KLN", "KNL"):
        rows = cols.shape[0]
        if cols.ndim == 3:
            got, n_img = cols.shape[1:] if order == "KLN" else cols.shape[:0:-1]
            axis = "axis 1" if order == "KLN" else "axis 2"
        else:
            n_img, rem = divmod(cols.shape[1], length) if length else (0, cols.shape[1])
            if rem or (length == 0 and cols.shape[1]):
                what = "L*N" if order == "KLN" else "N*L"
                raise ValueError(
                    f"`input` in order {order!r} must have {what} columns with L = {out_text} "
                    f"patches for output_size {size}, got {cols.shape[1]}, not a multiple of "
                    f"{length}")
            got = length
            axis = "axis 1"
    else:
        rows = cols.shape[-1]
        if cols.ndim == 3:
            n_img, got = cols.shape[:2]
            axis = "axis 1"
        else:
            n_img, rem = divmod(cols.shape[0], length) if length else (0, cols.shape[0])
            if rem or (length == 0 and cols.shape[0]):
                raise ValueError(
                    f"`input` in order 'NLK' must have N*L rows with L = {out_text} patches "
                    f"for output_size {size}, got {cols.shape[0]}, not a multiple of {length}")
            got = length
            axis = "axis 0"
    if rows % taps:
        raise ValueError(
            f"`input` must have C*{taps} patch rows with kernel_size {kernel}, got {rows} rows, "
            f"not a multiple of {taps}")
    if got != length:
        raise ValueError(
            f"`input` has {got} patches ({axis}) but output_size {size} with this geometry "
            f"gives {out_text}")
    return n_img, rows


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


def _unfold(func: str, ndim: int, input, kernel_size, dilation, padding, stride, padding_mode,
            order, out, explain=False):
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
    # 1-D 'zeros' too runs the N-D kernel (two_d False): measured 1.1-1.3x
    # faster on 1-D problems than the 2-D one with a unit leading axis
    return _fill_columns(xb, geom, mode, _order_arg(order), out, unbatched, result_dtype, False,
                         explain)


def _fold(func: str, ndim: int, input, output_size, kernel_size, dilation, padding, stride,
          padding_mode, order, out, explain=False):
    mode = padding_mode_arg(padding_mode)
    arr, result_dtype = as_value_array("input", input, complex_ok=True)
    taps = _TAP_NAMES[ndim]
    order = _order_arg(order)
    check_ndim("input", arr, (2, 3), _COLS_DIMS[order].format(taps=taps))
    unbatched = arr.ndim == 2 and order == "NKL"
    a = _axis_args(func, ndim, output_size=output_size, kernel_size=kernel_size,
                   dilation=dilation, padding=padding, stride=stride)
    size = int_tuple("output_size", a["output_size"], ndim)
    geom = conv_geometry(size, a["kernel_size"], a["stride"], a["padding"], a["dilation"],
                         allow_strings=False, input_name="output_size")
    check_mode_fits(mode, size, geom.padding)
    return _sum_columns(arr, geom, mode, order, out, size, unbatched, result_dtype, False,
                        explain)


def im2col1d(input, kernel_size, dilation=1, padding=0, stride=1, *, padding_mode="zeros",
             order="NKL", out=None):
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
    order : {'NKL', 'KLN', 'NLK', 'KNL'}, default 'NKL'
        The columns' layout, as in `im2col`: 'KLN' returns (K, L*N) with
        the batch innermost, 'NLK' (N*L, K) rows, 'KNL' (K, N*L).
    out : ndarray, optional
        Where to write the result (exactly its shape and dtype, any
        strides), as in `im2col`.

    Returns
    -------
    cols : ndarray, shape (N, C*k, L_out) or (C*k, L_out)
        For 'NKL'; 'KLN' gives (C*k, L_out*N), 'NLK' (N*L_out, C*k).
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
    return _unfold("im2col1d", 1, input, kernel_size, dilation, padding, stride, padding_mode,
                   order, out)


def col2im1d(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *,
             padding_mode="zeros", order="NKL", out=None):
    """Sum columns of 1-D windows back into signals (the adjoint of `im2col1d`).

    ``torch.nn.functional.fold`` for one spatial axis: every entry is added
    to the position its tap was read from, so overlapping windows
    accumulate. Deterministic: each output row (n, c) is owned by one thread.

    Parameters
    ----------
    input : array_like, shape (N, C*k, L_out) or (C*k, L_out)
        For 'NKL'; the other orders' forms as in `col2im`.
        Window columns, laid out as `im2col1d` produces them.
    output_size : int or (int,)
        Length L of the signals to rebuild.
    kernel_size, dilation, padding, stride
        As in `im2col1d`; they must give exactly ``L_out`` windows for
        `output_size`.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        As in `im2col1d`; an entry read from the padding is added to the
        element that padding copies (the exact adjoint).
    order : {'NKL', 'KLN', 'NLK', 'KNL'}, default 'NKL'
        The layout of `input`, as in `col2im` (2-D or 3-D forms).
    out : ndarray, optional
        Where to write the result (overwritten; any strides), as in `col2im`.

    Returns
    -------
    signals : ndarray, shape (N, C, L) or (C, L)
        (C, L) only for a 2-D 'NKL' input.
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
                 padding_mode, order, out)


def im2col3d(input, kernel_size, dilation=1, padding=0, stride=1, *, padding_mode="zeros",
             order="NKL", out=None):
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
    order : {'NKL', 'KLN', 'NLK', 'KNL'}, default 'NKL'
        The columns' layout, as in `im2col`: 'KLN' returns (K, L*N) with
        the batch innermost, 'NLK' (N*L, K) rows, 'KNL' (K, N*L).
    out : ndarray, optional
        Where to write the result (exactly its shape and dtype, any
        strides), as in `im2col`.

    Returns
    -------
    cols : ndarray, shape (N, C*kd*kh*kw, OD*OH*OW) or (C*kd*kh*kw, OD*OH*OW)
        For 'NKL'; 'KLN' gives (K, L*N), 'NLK' (N*L, K).
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
    return _unfold("im2col3d", 3, input, kernel_size, dilation, padding, stride, padding_mode,
                   order, out)


def col2im3d(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *,
             padding_mode="zeros", order="NKL", out=None):
    """Sum columns of 3-D patches back into volumes (the adjoint of `im2col3d`).

    ``unfoldNd.FoldNd`` / ``torch.nn.functional.fold`` for three spatial
    axes: every entry is added to the position its tap was read from, so
    overlapping patches accumulate. Deterministic: each output volume (n, c)
    is owned by one thread.

    Parameters
    ----------
    input : array_like, shape (N, C*kd*kh*kw, L) or (C*kd*kh*kw, L)
        Patch columns, laid out as `im2col3d` produces them (for 'NKL'; the
        other orders' forms as in `col2im`).
    output_size : int or (int, int, int)
        Spatial size (D, H, W) of the volumes to rebuild.
    kernel_size, dilation, padding, stride
        As in `im2col3d`; they must give exactly ``L`` patches for
        `output_size`.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}, default 'zeros'
        As in `im2col3d`; an entry read from the padding is added to the
        element that padding copies (the exact adjoint).
    order : {'NKL', 'KLN', 'NLK', 'KNL'}, default 'NKL'
        The layout of `input`, as in `col2im` (2-D or 3-D forms).
    out : ndarray, optional
        Where to write the result (overwritten; any strides), as in `col2im`.

    Returns
    -------
    volumes : ndarray, shape (N, C, D, H, W) or (C, D, H, W)
        (C, D, H, W) only for a 2-D 'NKL' input.
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
                 padding_mode, order, out)


def explain_unfold(func, args, kwargs):
    """The `Choice` of an im2col/col2im call (any dimension), for `explain`."""
    import inspect

    a = inspect.signature(func).bind(*args, **kwargs)
    a.apply_defaults()
    v = dict(a.arguments)
    name = func.__name__
    ndim = {"1d": 1, "3d": 3}.get(name[-2:], 2)
    geo = (v["kernel_size"], v["dilation"], v["padding"], v["stride"], v["padding_mode"],
           v["order"], v["out"])
    if name.startswith("im2col"):
        if ndim == 2:
            return _im2col(v["input"], *geo, explain=True)
        return _unfold(name, ndim, v["input"], *geo, explain=True)
    if ndim == 2:
        return _col2im(v["input"], v["output_size"], *geo, explain=True)
    return _fold(name, ndim, v["input"], v["output_size"], *geo, explain=True)
