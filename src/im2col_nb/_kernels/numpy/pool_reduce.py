"""Pooling by im2col in NumPy: windows reduced from a patch matrix."""

from __future__ import annotations

import numpy as np

from .pool import _avg_divisor, _first_index, _tap_positions, _update


# ---------------------------------------------------------------------------
# im2col-method reducers
# ---------------------------------------------------------------------------


def _tap_valid(geom, ki, kj, height, width, row_start, row_count):
    hs, ws = _tap_positions(geom, ki, kj, row_start, row_count)
    valid = ((hs >= 0) & (hs < height))[:, None] & ((ws >= 0) & (ws < width))[None, :]
    return hs, ws, valid


def max_pool2d_reduce_cols(cols, out, indices, geom, height, width, n_start, row_start):
    n_b = cols.shape[0]
    channels = out.shape[1]
    row_count = cols.shape[2] // geom.out_w
    view = cols.reshape(n_b, channels, geom.kernel_h * geom.kernel_w, row_count, geom.out_w)
    part = (slice(n_start, n_start + n_b), slice(None), slice(row_start, row_start + row_count))
    dest = out[part]
    want = indices.shape[0] > 0
    idx = indices[part] if want else None
    dest[...] = -np.inf
    if want:
        idx[...] = _first_index(geom, width, row_start, row_count)
    for ki in range(geom.kernel_h):
        for kj in range(geom.kernel_w):
            hs, ws, valid = _tap_valid(geom, ki, kj, height, width, row_start, row_count)
            flat = hs[:, None] * width + ws[None, :] if want else None
            # im2col wrote zeros for padding taps: mask them out (-inf)
            _update(dest, idx, view[:, :, ki * geom.kernel_w + kj], flat, valid)


def max_pool2d_reduce_rows(rows, out, indices, geom, height, width, n_start, row_start):
    n_b = rows.shape[0]
    channels = out.shape[3]
    row_count = rows.shape[1] // geom.out_w
    view = rows.reshape(n_b, row_count, geom.out_w, geom.kernel_h * geom.kernel_w, channels)
    part = (slice(n_start, n_start + n_b), slice(row_start, row_start + row_count))
    dest = out[part]
    want = indices.shape[0] > 0
    idx = indices[part] if want else None
    dest[...] = -np.inf
    if want:
        idx[...] = _first_index(geom, width, row_start, row_count)[:, :, None]
    for ki in range(geom.kernel_h):
        for kj in range(geom.kernel_w):
            hs, ws, valid = _tap_valid(geom, ki, kj, height, width, row_start, row_count)
            flat = (hs[:, None] * width + ws[None, :])[:, :, None] if want else None
            _update(dest, idx, view[:, :, :, ki * geom.kernel_w + kj], flat, valid[:, :, None])


def avg_pool2d_reduce_cols(cols, out, geom, height, width, n_start, row_start,
                           count_include_pad, divisor_override):
    n_b = cols.shape[0]
    channels = out.shape[1]
    row_count = cols.shape[2] // geom.out_w
    view = cols.reshape(n_b, channels, geom.kernel_h * geom.kernel_w, row_count, geom.out_w)
    dest = out[n_start:n_start + n_b, :, row_start:row_start + row_count]
    view.sum(axis=2, out=dest)   # padding taps are zeros in cols
    divisor = _avg_divisor(geom, height, width, count_include_pad, divisor_override,
                           slice(row_start, row_start + row_count))
    np.divide(dest, divisor, out=dest, casting="unsafe")


def avg_pool2d_reduce_rows(rows, out, geom, height, width, n_start, row_start,
                           count_include_pad, divisor_override):
    n_b = rows.shape[0]
    channels = out.shape[3]
    row_count = rows.shape[1] // geom.out_w
    view = rows.reshape(n_b, row_count, geom.out_w, geom.kernel_h * geom.kernel_w, channels)
    dest = out[n_start:n_start + n_b, row_start:row_start + row_count]
    view.sum(axis=3, out=dest)
    divisor = _avg_divisor(geom, height, width, count_include_pad, divisor_override,
                           slice(row_start, row_start + row_count))
    if np.ndim(divisor):
        divisor = divisor[:, :, None]
    np.divide(dest, divisor, out=dest, casting="unsafe")
