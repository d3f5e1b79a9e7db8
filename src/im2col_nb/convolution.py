"""im2col, col2im and convolution: the public wrappers.

Each wrapper validates and normalises its arguments (``_validation``), makes
the arrays C-contiguous float32/float64, allocates the output, and hands the
work to the current backend (``_backend``). The im2col convolution is one
BLAS matrix multiply per group on a patch matrix built in bounded, reused
scratch memory (``_workspace``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._core.backend import backend_module
from ._core.geometry import Geometry, conv_geometry
from ._core.validation import (
    as_float_array,
    check_layout,
    check_ndim,
    pair,
    positive_int,
    result_dtype,
    to_kernel_array,
)
from . import _conv_gemm
from ._core.workspace import resolve_budget

__all__ = ["im2col", "col2im", "conv2d", "conv2d_direct"]


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
    padding : int or (int, int), default 0
        Implicit zeros added on both sides of each spatial axis.
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
    The seed's 4x4 image with 3 channels and a 2x2 kernel gives a 12 x 9
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


# ---------------------------------------------------------------------------
# convolution
# ---------------------------------------------------------------------------


@dataclass
class ConvProblem:
    """A validated convolution: kernel-ready arrays, geometry and how to
    reshape the result back to what the user passed."""

    x: np.ndarray          # (N, C, H, W) or (N, H, W, C), C-contiguous
    weight: np.ndarray     # (F, C/groups, kh, kw), C-contiguous
    bias: np.ndarray | None
    geom: Geometry
    groups: int
    layout: str
    squeeze: int           # 0: 4-D result; 1: drop batch; 2: drop batch and filter axes

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        n_img = self.x.shape[0]
        filters = self.weight.shape[0]
        if self.layout == "NHWC":
            return (n_img, self.geom.out_h, self.geom.out_w, filters)
        return (n_img, filters, self.geom.out_h, self.geom.out_w)

    def finish(self, out: np.ndarray) -> np.ndarray:
        if self.squeeze == 2:
            return out[0, 0] if self.layout == "NCHW" else out[0, :, :, 0]
        if self.squeeze == 1:
            return out[0]
        return out


def batch_conv_operands(x: np.ndarray, w: np.ndarray, layout: str, channels: str,
                        weight_what: str) -> tuple[np.ndarray, np.ndarray, int]:
    """4-D views of a convolution's input and weight, and how to squeeze back.

    A 2-D image with a 2-D kernel (the seed's case) becomes one image with
    one channel and one filter (squeeze 2); an unbatched 3-D input gains a
    batch axis (squeeze 1). `channels` names the channel axis in messages.
    """
    if x.ndim == 2:
        if w.ndim != 2:
            raise ValueError(
                f"`weight` must be 2-D (kh, kw) for a 2-D `input`, got an array of shape {w.shape}"
            )
        x4 = x[None, None] if layout == "NCHW" else x[None, :, :, None]
        return x4, w[None, None], 2
    dims = f"N, {channels}, H, W" if layout == "NCHW" else f"N, H, W, {channels}"
    check_ndim("input", x, (2, 3, 4), f"2-D (H, W), 3-D (unbatched) or 4-D ({dims})")
    check_ndim("weight", w, (4,), weight_what)
    if x.ndim == 3:
        return x[None], w, 1
    return x, w, 0


def prepare_conv(input, weight, bias, stride, padding, dilation, groups, layout) -> ConvProblem:
    """Validate conv2d-style arguments (shared by every convolution entry point)."""
    layout = check_layout(layout)
    x = as_float_array("input", input)
    w = as_float_array("weight", weight)
    b = None if bias is None else as_float_array("bias", bias)
    groups = positive_int("groups", groups)

    x, w, squeeze = batch_conv_operands(x, w, layout, "C", "4-D (F, C/groups, kh, kw)")
    if layout == "NCHW":
        n_img, channels, height, width = x.shape
    else:
        n_img, height, width, channels = x.shape
    filters, cg, kh, kw = w.shape
    if channels % groups:
        raise ValueError(f"`groups`={groups} must divide the input channels, got {channels} channels")
    if filters % groups:
        raise ValueError(f"`groups`={groups} must divide the filters (weight.shape[0]), got {filters}")
    if cg * groups != channels:
        raise ValueError(
            f"`weight` of shape {w.shape} expects {cg * groups} input channels with groups={groups}, "
            f"but `input` of shape {np.shape(input)} has {channels}"
        )
    if b is not None and (b.ndim != 1 or b.shape[0] != filters):
        raise ValueError(f"`bias` must have shape ({filters},), got {b.shape}")
    if kh < 1 or kw < 1:
        raise ValueError(f"`weight` must have a non-empty kernel, got shape {w.shape}")
    geom = conv_geometry((height, width), (kh, kw), stride, padding, dilation, kernel_name="weight")
    dtype = result_dtype(x, w, b)
    return ConvProblem(
        x=to_kernel_array(x, dtype),
        weight=to_kernel_array(w, dtype),
        bias=None if b is None else to_kernel_array(b, dtype),
        geom=geom,
        groups=groups,
        layout=layout,
        squeeze=squeeze,
    )


def _is_pointwise(geom: Geometry) -> bool:
    return (geom.kernel_h == geom.kernel_w == 1 and geom.stride_h == geom.stride_w == 1
            and geom.pad_top == geom.pad_left == 0)


def _chunking(n_img: int, out_h: int, bytes_per_row: int, budget: int) -> tuple[int, int]:
    """(images per chunk, output rows per chunk) keeping the patch matrix
    within `budget` bytes: whole images while one fits, else rows of one."""
    bytes_per_image = bytes_per_row * out_h
    if bytes_per_image <= budget:
        return max(1, min(n_img, budget // max(bytes_per_image, 1))), out_h
    return 1, max(1, min(out_h, budget // max(bytes_per_row, 1)))


def _gemm_nchw(p: ConvProblem, out: np.ndarray, budget: int) -> None:
    """``out = conv(p) + bias`` (NCHW) by tiled im2col + GEMM (see _conv_gemm)."""
    _conv_gemm.conv_nchw(p.x, p.weight, p.bias, out, p.geom, p.groups, budget)


def _gemm_nhwc(p: ConvProblem, out: np.ndarray, budget: int) -> None:
    """``out = conv(p) + bias`` (NHWC) by tiled im2row + GEMM (see _conv_gemm)."""
    _conv_gemm.conv_nhwc(p.x, p.weight, p.bias, out, p.geom, p.groups, budget)


def _add_bias(p: ConvProblem, out: np.ndarray) -> None:
    if p.bias is None:
        return
    if p.layout == "NCHW":
        out += p.bias[:, None, None]
    else:
        out += p.bias


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCHW", max_workspace_bytes=None):
    """2-D convolution (cross-correlation, as in CNNs) by im2col + one GEMM.

    Same arguments and result as ``torch.nn.functional.conv2d``, plus a
    channels-last layout and a memory budget.

    Parameters
    ----------
    input : array_like
        ``(N, C, H, W)``, unbatched ``(C, H, W)``, or a single-channel 2-D
        image ``(H, W)`` (then `weight` is a 2-D kernel ``(kh, kw)``). With
        ``layout="NHWC"``: ``(N, H, W, C)`` or ``(H, W, C)``.
    weight : array_like, shape (F, C/groups, kh, kw)
        Filters (the same layout for both `layout` values).
    bias : array_like, shape (F,), optional
        Added to every output position of each filter.
    stride : int or (int, int), default 1
    padding : int, (int, int), 'valid' or 'same', default 0
        Zeros added on both sides. ``'same'`` (stride 1 only) keeps the input
        size; with an even dilated kernel the extra row/column goes to the
        bottom/right, as in PyTorch.
    dilation : int or (int, int), default 1
    groups : int, default 1
        Split channels and filters into `groups` independent convolutions.
    layout : {'NCHW', 'NHWC'}, keyword-only
        Memory layout of `input` and of the result. NHWC is computed without
        transposing the input.
    max_workspace_bytes : int, optional, keyword-only
        Largest patch matrix built at once; the work is chunked over images,
        then over output rows, to stay within it. Default:
        `get_max_workspace_bytes()`.

    Returns
    -------
    out : ndarray
        ``(N, F, OH, OW)`` (``(N, OH, OW, F)`` for NHWC), ``(F, OH, OW)`` for
        unbatched input, ``(OH, OW)`` for a 2-D image; ``OH = (H + pad_top +
        pad_bottom - dh*(kh-1) - 1) // sh + 1`` and likewise for OW. float64
        if any operand is float64 (or integer), else float32.

    Raises
    ------
    TypeError
        Complex, object or string arrays; non-integer geometry.
    ValueError
        Wrong number of dimensions, channels not matching `weight`, `groups`
        not dividing channels or filters, `bias` of the wrong length,
        non-positive stride/dilation, negative padding, an unknown padding
        string or layout, ``'same'`` with stride > 1, or a kernel larger than
        the padded input.

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*kh*kw*OH*OW`` flops in BLAS, plus one pass that
    writes the patch matrix (``C*kh*kw*OH*OW`` elements per image, bounded by
    `max_workspace_bytes`). A 1x1, stride-1, unpadded convolution multiplies
    the input directly, without im2col.

    Examples
    --------
    The seed's image I and kernel K:

    >>> import numpy as np
    >>> from im2col_nb import conv2d
    >>> I = np.array([[0, 1, 1, 1, 0, 0, 0],
    ...               [0, 0, 1, 1, 1, 0, 0],
    ...               [0, 0, 0, 1, 1, 1, 0],
    ...               [0, 0, 0, 1, 1, 0, 0],
    ...               [0, 0, 1, 1, 0, 0, 0],
    ...               [0, 1, 1, 0, 0, 0, 0],
    ...               [1, 1, 0, 0, 0, 0, 0]])
    >>> K = np.array([[1, 0, 1],
    ...               [0, 1, 0],
    ...               [1, 0, 1]])
    >>> conv2d(I, K)
    array([[1., 4., 3., 4., 1.],
           [1., 2., 4., 3., 3.],
           [1., 2., 3., 4., 1.],
           [1., 3., 3., 1., 1.],
           [3., 3., 1., 1., 0.]])
    """
    p = prepare_conv(input, weight, bias, stride, padding, dilation, groups, layout)
    budget = resolve_budget(max_workspace_bytes)
    out = np.empty(p.out_shape, dtype=p.x.dtype)
    if out.size:
        if p.x.shape[1 if p.layout == "NCHW" else 3] == 0:
            out[...] = 0
            _add_bias(p, out)
        elif p.layout == "NCHW":
            _gemm_nchw(p, out, budget)   # adds the bias tile by tile
        else:
            _gemm_nhwc(p, out, budget)
    return p.finish(out)


def conv2d_direct(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                  layout="NCHW"):
    """2-D convolution by direct loops, without a patch matrix.

    The baseline `conv2d` is measured against: the same arguments, result and
    errors as `conv2d` (without `max_workspace_bytes`; it needs no
    workspace). The Numba kernel runs one thread per output plane (NCHW) or
    per output row (NHWC), with branch-free, vectorisable inner loops.

    Parameters
    ----------
    input, weight, bias, stride, padding, dilation, groups, layout
        As in `conv2d`.

    Returns
    -------
    out : ndarray
        As in `conv2d`: ``(N, F, OH, OW)``, ``(N, OH, OW, F)`` for NHWC,
        ``(F, OH, OW)`` unbatched, ``(OH, OW)`` for a 2-D image.

    Raises
    ------
    TypeError, ValueError
        As in `conv2d`.

    Notes
    -----
    Cost: the same ``2*N*F*(C/groups)*kh*kw*OH*OW`` flops as `conv2d`, with
    no extra memory but without BLAS's register blocking, so it is usually
    slower for many filters and faster only for tiny problems.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv2d, conv2d_direct
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
    >>> w = np.random.default_rng(1).normal(size=(4, 3, 3, 3))
    >>> conv2d_direct(x, w, padding="same").shape
    (2, 4, 8, 8)
    >>> bool(np.allclose(conv2d_direct(x, w, stride=2), conv2d(x, w, stride=2)))
    True
    """
    p = prepare_conv(input, weight, bias, stride, padding, dilation, groups, layout)
    out = np.empty(p.out_shape, dtype=p.x.dtype)
    if out.size:
        backend = backend_module()
        if p.layout == "NCHW":
            # The bias initialises the accumulators: no extra pass.
            backend.conv2d_direct_nchw(p.x, p.weight, out, p.geom, p.groups, bias=p.bias)
        else:
            weight_hwcf = np.ascontiguousarray(p.weight.transpose(2, 3, 1, 0))
            backend.conv2d_direct_nhwc(p.x, weight_hwcf, out, p.geom, p.groups)
            _add_bias(p, out)
    return p.finish(out)
