"""col2im (NCHW) and row2im (NHWC) in NumPy: the adjoints of im2col and im2row,
one strided add per kernel tap."""

from __future__ import annotations

import numpy as np

from ._slices import tap_slice as _tap_slice


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


def row2im_nhwc(rows, x, geom, groups, row_start, row_count):
    """Add the patches in `rows` (B, row_count*OW, C*kh*kw), which belong to
    output rows [row_start, row_start + row_count), into `x` (B, H, W, C)."""
    n_img, height, width, channels = x.shape
    cg = channels // groups
    out_w = geom.out_w
    if row_count == 0 or out_w == 0:
        return
    # Padded frame in which tap (ki, kj) of chunk output (i, j) sits at
    # (i*sh + ki*dh, j*sw + kj*dw); its row 0 is input row first.
    first = row_start * geom.stride_h - geom.pad_top
    span_h = (row_count - 1) * geom.stride_h + geom.dilation_h * (geom.kernel_h - 1) + 1
    span_w = (out_w - 1) * geom.stride_w + geom.dilation_w * (geom.kernel_w - 1) + 1
    frame = np.zeros((n_img, span_h, max(span_w, geom.pad_left + width), channels), dtype=x.dtype)
    view = rows.reshape(n_img, row_count, out_w, groups, geom.kernel_h, geom.kernel_w, cg)
    for ki in range(geom.kernel_h):
        hs = _tap_slice(ki * geom.dilation_h, geom.stride_h, row_count)
        for kj in range(geom.kernel_w):
            ws = _tap_slice(kj * geom.dilation_w, geom.stride_w, out_w)
            frame[:, hs, ws, :] += view[:, :, :, :, ki, kj, :].reshape(n_img, row_count, out_w, channels)
    # frame row r is input row first + r; keep the rows inside [0, height)
    lo = max(first, 0)
    hi = min(first + span_h, height)
    if lo < hi:
        x[:, lo:hi] += frame[:, lo - first:hi - first, geom.pad_left:geom.pad_left + width]
