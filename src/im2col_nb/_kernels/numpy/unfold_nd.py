"""im2col and col2im for 1-3 spatial axes, in NumPy, through the per-axis
index tables of ``_core/padmap.py`` (any padding mode).

Arrays arrive as 3 spatial axes (unit axes prepended): x (N, C, S0, S1, S2),
cols (N, C*K0*K1*K2, O0*O1*O2), one int64 table (K_a, O_a) per axis.
"""

from __future__ import annotations

import numpy as np


def _flat_index(shape, t0, t1, t2):
    """(K, L) flat source index of every (tap, window) and where it is valid
    (every axis in range, i.e. no table entry negative)."""
    s1, s2 = shape[-2], shape[-1]
    k0, o0 = t0.shape
    k1, o1 = t1.shape
    k2, o2 = t2.shape
    a = t0.reshape(k0, 1, 1, o0, 1, 1)
    b = t1.reshape(1, k1, 1, 1, o1, 1)
    c = t2.reshape(1, 1, k2, 1, 1, o2)
    idx = (a * s1 + b) * s2 + c
    valid = (a >= 0) & (b >= 0) & (c >= 0)
    size = (k0 * k1 * k2, o0 * o1 * o2)
    return np.where(valid, idx, 0).reshape(size), valid.reshape(size)


def im2col_nd(x, cols, t0, t1, t2):
    n_img, channels = x.shape[:2]
    idx, valid = _flat_index(x.shape, t0, t1, t2)
    gathered = x.reshape(n_img, channels, -1)[:, :, idx]   # (N, C, K, L)
    gathered[:, :, ~valid] = 0   # (not `*= valid`: 0 * inf is NaN, padding must be 0)
    cols[...] = gathered.reshape(cols.shape)   # (cols may be a strided view)


def col2im_nd(cols, out, t0, t1, t2):
    """The adjoint of `im2col_nd`: `out` (N, C, S0, S1, S2) is overwritten
    with the sum of every column entry at the position it was read from
    (mirrored padding sums back into the input it mirrors)."""
    n_img, channels = out.shape[:2]
    idx, valid = _flat_index(out.shape, t0, t1, t2)
    taps = idx.shape[0]
    src = cols.reshape(n_img, channels, taps, -1)
    flat = out.reshape(n_img, channels, -1)
    flat[...] = 0
    for k in range(taps):
        keep = valid[k]
        where = idx[k][keep]
        values = src[:, :, k, keep]
        if np.unique(where).size == where.size:
            flat[:, :, where] += values
        else:  # a mirrored tap reads the same input twice
            np.add.at(flat, (slice(None), slice(None), where), values)
