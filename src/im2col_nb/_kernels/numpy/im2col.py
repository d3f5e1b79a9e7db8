"""im2col, NCHW, in NumPy: one strided window view of a padded block, copied at once."""

from __future__ import annotations

import numpy as np

from ._slices import padded_rows as _padded_rows


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
