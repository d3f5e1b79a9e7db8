"""im2col and col2im on arrays of any strides, in NumPy: the contiguous
N-D functions of ``unfold_nd.py`` through contiguous temporaries (the NumPy
backend copies anyway: its gathers build new arrays)."""

from __future__ import annotations

import numpy as np

from .unfold_nd import col2im_nd, im2col_nd


def im2col_strided(x, cols, t0, t1, t2):
    """Write the patches of `x` (N, C, S0, S1, S2) into `cols` (N, K, L), any strides."""
    tmp = np.empty(cols.shape, dtype=cols.dtype)
    im2col_nd(np.ascontiguousarray(x), tmp, t0, t1, t2)
    cols[...] = tmp


def col2im_strided(cols, out, t0, t1, t2):
    """Overwrite `out` (N, C, S0, S1, S2) with the sum of the patches in `cols` (N, K, L)."""
    tmp = np.empty(out.shape, dtype=out.dtype)
    col2im_nd(np.ascontiguousarray(cols), tmp, t0, t1, t2)
    out[...] = tmp


def first_touch(a):
    """Nothing to do: the NumPy kernels fill arrays in order, on one thread."""
