"""im2row, NHWC, in NumPy: one patch-matrix row per output pixel, columns
ordered (group, ki, kj, channel-in-group)."""

from __future__ import annotations

import numpy as np

from ._slices import padded_rows as _padded_rows
from ._slices import tap_slice as _tap_slice


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
