"""Vectorised pure-NumPy backend: the fallback when numba is missing.

Same function names and signatures as ``_numba_backend``. This module must
never import numba. Each function loops only over the kh*kw kernel taps and
moves whole strided slices per tap, so the Python overhead is independent of
the image size.
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


def im2col(x, cols, geom, row_start, row_count):
    n_img, channels = x.shape[:2]
    block = _padded_rows(x, geom, row_start, row_count, 2)
    view = cols.reshape(n_img, channels, geom.kernel_h, geom.kernel_w, row_count, geom.out_w)
    for ki in range(geom.kernel_h):
        rows = _tap_slice(ki * geom.dilation_h, geom.stride_h, row_count)
        for kj in range(geom.kernel_w):
            columns = _tap_slice(kj * geom.dilation_w, geom.stride_w, geom.out_w)
            view[:, :, ki, kj] = block[:, :, rows, columns]


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


def conv2d_direct_nchw(x, weight, out, geom, groups):
    filters, cg = weight.shape[:2]
    fg = filters // groups
    block = _padded_rows(x, geom, 0, geom.out_h, 2)
    out[...] = 0
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
