"""Encoders: map (whitened) patches to non-negative feature vectors."""

from __future__ import annotations

import numpy as np

from ._checks import check_matrix, check_real

__all__ = ["soft_threshold", "triangle"]


def triangle(patches, centers):
    """k-means "triangle" encoding: ``f_k = max(0, mean_j(z_j) - z_k)``.

    ``z_k = |x - c_k|`` is the distance of a patch to centre k: a patch
    activates the centres closer to it than its average distance, and the
    code is sparse (about half the features are zero).

    Parameters
    ----------
    patches : array_like, shape (n, d)
        One (normalised, whitened) patch per row.
    centers : array_like, shape (k, d)
        The k-means centres.

    Returns
    -------
    codes : ndarray, shape (n, k)
        Non-negative; float64 if either input is float64, else float32.

    Raises
    ------
    ValueError
        If an input is not 2-D, empty, holds NaN/inf, or the widths differ.

    Notes
    -----
    Distances by ``|x|^2 - 2 x.c + |c|^2``: one ``n x d`` by ``d x k``
    GEMM, then O(n*k) elementwise work.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import triangle
    >>> centers = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    >>> triangle(np.array([[0.0, 0.0]]), centers)     # z = (0, 3, 4), mean 7/3
    array([[2.33333333, 0.        , 0.        ]])
    """
    x = check_matrix("patches", patches)
    c = check_matrix("centers", centers, columns=x.shape[1], what="centers")
    dtype = np.result_type(x.dtype, c.dtype)
    x = x.astype(dtype, copy=False)
    c = c.astype(dtype, copy=False)
    z = x @ c.T
    z *= -2.0
    z += np.einsum("ij,ij->i", x, x)[:, None]
    z += np.einsum("ij,ij->i", c, c)[None, :]
    np.maximum(z, 0.0, out=z)
    np.sqrt(z, out=z)
    mu = z.mean(axis=1, keepdims=True)
    np.subtract(mu, z, out=z)
    np.maximum(z, 0.0, out=z)
    return z


def soft_threshold(patches, dictionary, alpha=0.5):
    """Soft-threshold encoding: ``f = max(0, D x - alpha)``.

    Parameters
    ----------
    patches : array_like, shape (n, d)
        One (normalised, whitened) patch per row.
    dictionary : array_like, shape (k, d)
        The rows of D, usually unit-length centres (spherical k-means).
    alpha : float, default 0.5
        Threshold; 0 gives a rectified linear code.

    Returns
    -------
    codes : ndarray, shape (n, k)
        Non-negative; float64 if either input is float64, else float32.

    Raises
    ------
    ValueError
        If an input is not 2-D, empty, holds NaN/inf, the widths differ, or
        `alpha` is not finite.

    Notes
    -----
    Cost: one ``n x d`` by ``d x k`` GEMM.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import soft_threshold
    >>> D = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> soft_threshold(np.array([[2.0, 0.25]]), D, alpha=0.5)
    array([[1.5, 0. ]])
    """
    x = check_matrix("patches", patches)
    dmat = check_matrix("dictionary", dictionary, columns=x.shape[1], what="atoms")
    alpha = check_real("alpha", alpha)
    dtype = np.result_type(x.dtype, dmat.dtype)
    codes = x.astype(dtype, copy=False) @ dmat.astype(dtype, copy=False).T
    codes -= alpha
    np.maximum(codes, 0.0, out=codes)
    return codes
