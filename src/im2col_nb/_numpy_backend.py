"""Vectorised pure-NumPy backend: the fallback when numba is missing.

Same function names and signatures as ``_numba_backend``. This module must
never import numba. Each function moves whole strided slices (im2col: one
strided window view of a padded block, copied at once; the others loop over
the kh*kw kernel taps), so the Python overhead is independent of the image
size.
"""

from __future__ import annotations

import numpy as np

NAME = "numpy"


def _tap_slice(offset, stride, count):
    """Slice selecting `count` positions offset, offset+stride, ..."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def _padded_rows(x, geom, row_start, row_count, h_axis):
    """Zero-padded copy of the input rows that output rows
    [row_start, row_start + row_count) read, and of every column they read.

    Returns the padded block; tap (ki, kj) of output (i, j) in the chunk is at
    block[..., i*stride_h + ki*dilation_h, j*stride_w + kj*dilation_w, ...].
    """
    height, width = x.shape[h_axis], x.shape[h_axis + 1]
    first = row_start * geom.stride_h - geom.pad_top
    stop = (row_start + row_count - 1) * geom.stride_h + geom.dilation_h * (geom.kernel_h - 1) - geom.pad_top + 1
    right = max(0, (geom.out_w - 1) * geom.stride_w + geom.dilation_w * (geom.kernel_w - 1) + 1
                - geom.pad_left - width)
    lo = min(max(first, 0), height)
    hi = max(min(stop, height), lo)
    block = x[(slice(None),) * h_axis + (slice(lo, hi),)]
    top = min(max(0, -first), stop - first)  # rows wholly in the padding count once
    pads = [(0, 0)] * x.ndim
    pads[h_axis] = (top, (stop - first) - top - (hi - lo))
    pads[h_axis + 1] = (geom.pad_left, right)
    return np.pad(block, pads)


def _windows(block, geom, row_count):
    """Read-only view (N, C, kh, kw, row_count, OW) of the padded `block`
    (N, C, rows, cols) from `_padded_rows`: element [n, c, ki, kj, i, j] is
    block[n, c, i*stride_h + ki*dilation_h, j*stride_w + kj*dilation_w], so
    the whole patch matrix is one strided copy (no loop over the taps)."""
    s_n, s_c, s_h, s_w = block.strides
    return np.lib.stride_tricks.as_strided(
        block, shape=block.shape[:2] + (geom.kernel_h, geom.kernel_w, row_count, geom.out_w),
        strides=(s_n, s_c, s_h * geom.dilation_h, s_w * geom.dilation_w, s_h * geom.stride_h,
                 s_w * geom.stride_w), writeable=False)


def im2col(x, cols, geom, row_start, row_count):
    n_img, channels = x.shape[:2]
    block = _padded_rows(x, geom, row_start, row_count, 2)
    view = cols.reshape(n_img, channels, geom.kernel_h, geom.kernel_w, row_count, geom.out_w)
    view[...] = _windows(block, geom, row_count)


def im2col_tile(x, cols, geom, n0, n_img, p0, p1):
    """Output positions [p0, p1) (flat, oh*OW+ow) of images n0 .. n0+n_img-1
    into the 2-D `cols` (C*kh*kw, n_img*(p1-p0)), image b from column
    b*(p1-p0) on."""
    channels = x.shape[1]
    out_w = geom.out_w
    r0, r1 = p0 // out_w, -(-p1 // out_w)
    span = p1 - p0
    if p0 == r0 * out_w and p1 == r1 * out_w:
        view = cols.reshape(channels, geom.kernel_h, geom.kernel_w, n_img, r1 - r0, out_w)
        block = _padded_rows(x[n0:n0 + n_img], geom, r0, r1 - r0, 2)
        view[...] = _windows(block, geom, r1 - r0).transpose(1, 2, 3, 0, 4, 5)
        return
    # Part of an output row (a tile smaller than one row): whole rows, then the slice.
    whole = np.empty((n_img, cols.shape[0], (r1 - r0) * out_w), dtype=cols.dtype)
    im2col(x[n0:n0 + n_img], whole, geom, r0, r1 - r0)
    first = p0 - r0 * out_w
    cols.reshape(cols.shape[0], n_img, span)[...] = whole[:, :, first:first + span].transpose(1, 0, 2)


def im2row_tile(x, rows, geom, groups, q0, q1):
    """NHWC patch rows of the flat output positions [q0, q1) across the batch
    (q = (n*OH + oh)*OW + ow) into `rows` (q1-q0, C*kh*kw)."""
    per_image = geom.out_area
    q = q0
    while q < q1:
        n = q // per_image
        stop = min(q1, (n + 1) * per_image)
        p0, p1 = q - n * per_image, stop - n * per_image
        r0, r1 = p0 // geom.out_w, -(-p1 // geom.out_w)
        dest = rows[q - q0:stop - q0]
        if p0 == r0 * geom.out_w and p1 == r1 * geom.out_w:
            im2row_nhwc(x[n:n + 1], dest.reshape(1, p1 - p0, dest.shape[1]), geom, groups, r0, r1 - r0)
        else:
            whole = np.empty((1, (r1 - r0) * geom.out_w, rows.shape[1]), dtype=rows.dtype)
            im2row_nhwc(x[n:n + 1], whole, geom, groups, r0, r1 - r0)
            first = p0 - r0 * geom.out_w
            dest[...] = whole[0, first:first + (p1 - p0)]
        q = stop


def scatter_folded(result, bias, out):
    """``out (nb, F, L) = result (F, nb*L)`` regrouped by image, plus `bias`
    (F,) if given."""
    n_img, filters, area = out.shape
    scattered = result.reshape(filters, n_img, area).transpose(1, 0, 2)
    if bias is None:
        out[...] = scattered
    else:
        np.add(scattered, bias[:, None], out=out)


def col2im(cols, out, geom):
    n_img, channels, height, width = out.shape
    bottom = max(0, (geom.out_h - 1) * geom.stride_h + geom.dilation_h * (geom.kernel_h - 1) + 1
                 - geom.pad_top - height)
    right = max(0, (geom.out_w - 1) * geom.stride_w + geom.dilation_w * (geom.kernel_w - 1) + 1
                - geom.pad_left - width)
    padded = np.zeros((n_img, channels, geom.pad_top + height + bottom, geom.pad_left + width + right),
                      dtype=out.dtype)
    view = cols.reshape(n_img, channels, geom.kernel_h, geom.kernel_w, geom.out_h, geom.out_w)
    for ki in range(geom.kernel_h):
        rows = _tap_slice(ki * geom.dilation_h, geom.stride_h, geom.out_h)
        for kj in range(geom.kernel_w):
            columns = _tap_slice(kj * geom.dilation_w, geom.stride_w, geom.out_w)
            padded[:, :, rows, columns] += view[:, :, ki, kj]
    out[...] = padded[:, :, geom.pad_top:geom.pad_top + height, geom.pad_left:geom.pad_left + width]


def im2row_nhwc(x, rows, geom, groups, row_start, row_count):
    n_img, channels = x.shape[0], x.shape[3]
    cg = channels // groups
    block = _padded_rows(x, geom, row_start, row_count, 1)
    view = rows.reshape(n_img, row_count, geom.out_w, groups, geom.kernel_h, geom.kernel_w, cg)
    for ki in range(geom.kernel_h):
        hs = _tap_slice(ki * geom.dilation_h, geom.stride_h, row_count)
        for kj in range(geom.kernel_w):
            ws = _tap_slice(kj * geom.dilation_w, geom.stride_w, geom.out_w)
            view[:, :, :, :, ki, kj, :] = block[:, hs, ws, :].reshape(n_img, row_count, geom.out_w, groups, cg)


def conv2d_direct_nchw(x, weight, out, geom, groups, bias=None):
    filters, cg = weight.shape[:2]
    fg = filters // groups
    block = _padded_rows(x, geom, 0, geom.out_h, 2)
    out[...] = 0 if bias is None else bias[:, None, None]
    for g in range(groups):
        fs, cs = slice(g * fg, (g + 1) * fg), slice(g * cg, (g + 1) * cg)
        for ki in range(geom.kernel_h):
            rows = _tap_slice(ki * geom.dilation_h, geom.stride_h, geom.out_h)
            for kj in range(geom.kernel_w):
                columns = _tap_slice(kj * geom.dilation_w, geom.stride_w, geom.out_w)
                out[:, fs] += np.einsum("fc,nchw->nfhw", weight[fs, :, ki, kj],
                                        block[:, cs, rows, columns], optimize=True)


def conv2d_direct_nhwc(x, weight_hwcf, out, geom, groups):
    cg, filters = weight_hwcf.shape[2:]
    fg = filters // groups
    block = _padded_rows(x, geom, 0, geom.out_h, 1)
    out[...] = 0
    for g in range(groups):
        fs, cs = slice(g * fg, (g + 1) * fg), slice(g * cg, (g + 1) * cg)
        for ki in range(geom.kernel_h):
            rows = _tap_slice(ki * geom.dilation_h, geom.stride_h, geom.out_h)
            for kj in range(geom.kernel_w):
                columns = _tap_slice(kj * geom.dilation_w, geom.stride_w, geom.out_w)
                out[..., fs] += block[:, rows, columns, cs] @ weight_hwcf[ki, kj][:, fs]


# Feature modules keep their NumPy implementations in ``_numpy_<feature>.py``
# (same names as the ``_numba_<feature>.py`` twins), re-exported here.
from ._numpy_grad import *  # noqa: F401,F403
from ._numpy_pool import *  # noqa: F401,F403
