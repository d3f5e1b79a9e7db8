"""Helpers of the tiled GEMM driver, in NumPy."""

from __future__ import annotations

import numpy as np


def scatter_folded(result, bias, out):
    """``out (nb, F, L) = result (F, nb*L)`` regrouped by image, plus `bias`
    (F,) if given."""
    n_img, filters, area = out.shape
    scattered = result.reshape(filters, n_img, area).transpose(1, 0, 2)
    if bias is None:
        out[...] = scattered
    else:
        np.add(scattered, bias[:, None], out=out)
