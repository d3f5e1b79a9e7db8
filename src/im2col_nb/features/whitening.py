"""ZCA whitening of patches."""

from __future__ import annotations

import numpy as np

from ._checks import check_matrix, check_real

__all__ = ["ZCA"]


class ZCA:
    """ZCA whitening: ``(x - mean) @ W`` with ``W = V (Λ + eps I)^(-1/2) Vᵀ``.

    ``V Λ Vᵀ`` is the eigendecomposition of the covariance of the fitted
    rows. ZCA is the whitening transform that stays closest to the data (W
    is symmetric), so whitened patches still look like patches; `eps`
    damps the directions of small variance instead of amplifying their
    noise.

    Parameters
    ----------
    eps : float, default 0.1
        Regulariser added to the eigenvalues (Coates, Lee & Ng use 0.1 for
        normalised patches).

    Attributes
    ----------
    mean_ : ndarray, shape (d,)
        Mean of the fitted rows (float64).
    whitening_ : ndarray, shape (d, d)
        The symmetric matrix W (float64).
    eigenvalues_ : ndarray, shape (d,)
        Eigenvalues of the covariance, ascending.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import ZCA
    >>> x = np.random.default_rng(0).normal(size=(5000, 3)) @ [[2, 1, 0], [0, 1, 0], [0, 0, 3]]
    >>> white = ZCA(eps=0.0).fit(x).transform(x)
    >>> np.round(np.cov(white, rowvar=False, bias=True), 6) + 0.0
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """

    def __init__(self, eps=0.1):
        self.eps = eps

    def fit(self, patches):
        """Learn the mean and the whitening matrix from rows of `patches`.

        Parameters
        ----------
        patches : array_like, shape (n, d)

        Returns
        -------
        self : ZCA

        Raises
        ------
        ValueError
            If `patches` is not 2-D, is empty or holds NaN/inf, or `eps` is
            negative (or zero while the covariance is singular).

        Notes
        -----
        Cost: one ``d x n`` by ``n x d`` product (the covariance, in float64)
        and a ``d x d`` eigendecomposition.
        """
        eps = check_real("eps", self.eps, minimum=0.0)
        arr = check_matrix("patches", patches)
        x = np.asarray(arr, dtype=np.float64)
        mean = x.mean(axis=0)
        centered = x - mean
        cov = centered.T @ centered / x.shape[0]
        evals, evecs = np.linalg.eigh(cov)
        evals = np.maximum(evals, 0.0)
        if eps == 0.0 and evals[0] <= 1e-12 * max(evals[-1], 1e-300):
            raise ValueError("`eps`=0 but the covariance of `patches` is singular; use eps > 0")
        self.mean_ = mean
        self.eigenvalues_ = evals
        self.whitening_ = (evecs / np.sqrt(evals + eps)) @ evecs.T
        return self

    def transform(self, patches):
        """Whiten rows: ``(patches - mean_) @ whitening_``.

        Parameters
        ----------
        patches : array_like, shape (n, d)

        Returns
        -------
        white : ndarray, shape (n, d)
            Same float dtype as `patches`.

        Raises
        ------
        ValueError
            If not fitted, or `patches` is not 2-D with d columns, or holds
            NaN/inf.
        """
        if not hasattr(self, "whitening_"):
            raise ValueError("this ZCA is not fitted yet: call fit(patches) first")
        arr = check_matrix("patches", patches, columns=self.mean_.shape[0])
        dtype = arr.dtype
        return ((arr - self.mean_.astype(dtype)) @ self.whitening_.astype(dtype)).astype(dtype, copy=False)

    def fit_transform(self, patches):
        """``fit(patches).transform(patches)``."""
        return self.fit(patches).transform(patches)

    def __repr__(self):
        return f"ZCA(eps={self.eps!r})"
