"""Direct convolution in NumPy: one multiply-accumulate per kernel tap."""

from __future__ import annotations

import numpy as np

from ._slices import padded_rows as _padded_rows
from ._slices import tap_slice as _tap_slice


def _taps(geom, groups, filters, cg):
    """(filters of a group, its channels, ki, kj, the tap's rows, its columns)
    for every group and kernel tap: the slices of the padded input block
    (`_padded_rows`) that tap (ki, kj) reads for every output position."""
    fg = filters // groups
    for g in range(groups):
        fs, cs = slice(g * fg, (g + 1) * fg), slice(g * cg, (g + 1) * cg)
        for ki in range(geom.kernel_h):
            rows = _tap_slice(ki * geom.dilation_h, geom.stride_h, geom.out_h)
            for kj in range(geom.kernel_w):
                columns = _tap_slice(kj * geom.dilation_w, geom.stride_w, geom.out_w)
                yield fs, cs, ki, kj, rows, columns


def conv2d_direct_nchw(x, weight, out, geom, groups, bias=None):
    filters, cg = weight.shape[:2]
    block = _padded_rows(x, geom, 0, geom.out_h, 2)
    out[...] = 0 if bias is None else bias[:, None, None]
    for fs, cs, ki, kj, rows, columns in _taps(geom, groups, filters, cg):
        out[:, fs] += np.einsum("fc,nchw->nfhw", weight[fs, :, ki, kj],
                                block[:, cs, rows, columns], optimize=True)


def conv2d_direct_nhwc(x, weight_hwcf, out, geom, groups):
    cg, filters = weight_hwcf.shape[2:]
    block = _padded_rows(x, geom, 0, geom.out_h, 1)
    out[...] = 0
    for fs, cs, ki, kj, rows, columns in _taps(geom, groups, filters, cg):
        out[..., fs] += block[:, rows, columns, cs] @ weight_hwcf[ki, kj][:, fs]


def weight_grad_direct_nchw(x, go, gw, geom, groups):
    filters, cg = gw.shape[:2]
    block = _padded_rows(x, geom, 0, geom.out_h, 2)
    for fs, cs, ki, kj, rows, columns in _taps(geom, groups, filters, cg):
        gw[fs, :, ki, kj] = np.einsum("nfhw,nchw->fc", go[:, fs], block[:, cs, rows, columns],
                                      optimize=True)
