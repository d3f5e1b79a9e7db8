"""`PatchFeatures`: the whole pipeline as a scikit-learn-compatible transformer."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._core.validation import describe, pair
from ._base import HAVE_SKLEARN, BaseEstimator, NotFittedError, TransformerMixin
from ._checks import check_choice, check_finite, check_patch_fits, check_positive_int, check_real, resolve_rng
from .extraction import _grid_cells, extract_features
from .kmeans import kmeans
from .patches import extract_patches, normalize_patches
from .whitening import ZCA

__all__ = ["PatchFeatures"]


def _is_sparse(x) -> bool:
    return hasattr(x, "toarray") and hasattr(x, "nnz")


class PatchFeatures(TransformerMixin, BaseEstimator):
    """Single-layer unsupervised features from image patches (Coates, Lee & Ng 2011).

    `fit` learns, from unlabeled images: per-patch normalisation, ZCA
    whitening and a k-means dictionary of `n_clusters` centres over
    `n_patches` random patches. `transform` encodes every patch of every
    image against the dictionary (triangle or soft threshold, as one
    convolution, see `extract_features`) and sum-pools the codes over a
    ``pool_grid x pool_grid`` grid (the four quadrants by default), giving
    ``n_clusters * gh * gw`` features per image.

    Parameters
    ----------
    n_clusters : int, default 100
        Dictionary size K.
    patch_size : int or (int, int), default 6
        Receptive field (kh, kw).
    stride : int or (int, int), default 1
        Step between encoded patches in `transform`.
    pool_grid : int or (int, int), default 2
        Sum-pooling grid (gh, gw) over the code maps.
    encoder : {'triangle', 'soft_threshold'}, default 'triangle'
        Triangle ``max(0, mean(z) - z_k)``, or soft threshold ``max(0,
        d_k.y - alpha)`` with the unit-length centres as dictionary rows d_k.
    alpha : float, default 0.5
        Soft-threshold level.
    normalize : bool, default True
        Per-patch brightness/contrast normalisation.
    eps_norm : float, default 10.0
        Variance regulariser of the normalisation (for pixels in [0, 255];
        scale it with the square of the pixel range).
    whiten : bool, default True
        ZCA-whiten the patches.
    eps_zca : float, default 0.1
        ZCA regulariser.
    spherical : bool, default False
        Spherical k-means (cosine) instead of plain k-means.
    n_patches : int, default 100000
        Random patches for learning; every patch is used when the images
        have fewer.
    kmeans_batch_size : int, optional
        Mini-batch k-means with batches of this many patches; None (default)
        runs full-batch Lloyd iterations.
    max_iter : int, default 100
        k-means iterations (or passes over the patches for mini-batch).
    tol : float, default 1e-4
        k-means convergence tolerance (see `kmeans`).
    image_shape : (H, W) or (C, H, W), optional
        How to unflatten 2-D input ``(n, C*H*W)``. Default: square grey
        images when the number of columns is a perfect square, otherwise
        one-row images ``(1, n_columns)``.
    batch_size : int, optional
        Images encoded at once in `transform` (default: bounded memory).
    dtype : {None, 'float32', 'float64'}
        Precision of `transform`; default: that of the input (float64 for
        integer input).
    random_state : None, int, numpy Generator or RandomState
        Seed of the patch sample and of k-means.

    Attributes
    ----------
    centroids_ : ndarray, shape (n_clusters, C*kh*kw)
        k-means centres in the normalised, whitened patch space.
    whitening_mean_, whitening_ : ndarray or None
        ZCA mean (d,) and matrix (d, d); None without whitening.
    image_shape_ : tuple (C, H, W)
        Shape of one fitted image.
    n_features_in_ : int
        ``C*H*W``.
    n_patches_ : int
        Patches actually used for learning.
    inertia_ : float
        k-means objective on those patches.
    n_iter_ : int
        k-means iterations run.

    Notes
    -----
    Input: ``(n, H, W)`` grey images, ``(n, C, H, W)``, or 2-D ``(n, C*H*W)``
    (rows unflattened with `image_shape`), so the transformer drops into a
    `sklearn.pipeline.Pipeline` on flattened images. `transform` accepts
    images of another size with the fitted channel count (the pooled
    feature count does not depend on the size); 2-D input must have the
    fitted number of columns.

    Cost of `transform`: see `extract_features`; images are processed in
    batches, the patches of the whole data set are never in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import PatchFeatures
    >>> images = np.random.default_rng(0).random((20, 12, 12)) * 255
    >>> pf = PatchFeatures(n_clusters=8, patch_size=5, random_state=0).fit(images)
    >>> pf.transform(images).shape          # 8 centres x 4 quadrants
    (20, 32)
    >>> pf.centroids_.shape
    (8, 25)
    """

    def __init__(self, n_clusters=100, patch_size=6, *, stride=1, pool_grid=2, encoder="triangle",
                 alpha=0.5, normalize=True, eps_norm=10.0, whiten=True, eps_zca=0.1,
                 spherical=False, n_patches=100_000, kmeans_batch_size=None, max_iter=100,
                 tol=1e-4, image_shape=None, batch_size=None, dtype=None, random_state=None):
        self.n_clusters = n_clusters
        self.patch_size = patch_size
        self.stride = stride
        self.pool_grid = pool_grid
        self.encoder = encoder
        self.alpha = alpha
        self.normalize = normalize
        self.eps_norm = eps_norm
        self.whiten = whiten
        self.eps_zca = eps_zca
        self.spherical = spherical
        self.n_patches = n_patches
        self.kmeans_batch_size = kmeans_batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.image_shape = image_shape
        self.batch_size = batch_size
        self.dtype = dtype
        self.random_state = random_state

    # ------------------------------------------------------------------ input

    def _unflatten_shape(self, n_columns):
        if self.image_shape is None:
            side = math.isqrt(n_columns)
            return (1, side, side) if side * side == n_columns else (1, 1, n_columns)
        shape = tuple(self.image_shape) if isinstance(self.image_shape, (tuple, list)) else None
        if shape is None or len(shape) not in (2, 3) or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in shape):
            raise ValueError(f"`image_shape` must be (H, W) or (C, H, W) of positive ints, "
                             f"got {describe(self.image_shape)}")
        shape = (1,) + shape if len(shape) == 2 else shape
        if math.prod(shape) != n_columns:
            raise ValueError(f"`image_shape` {tuple(self.image_shape)} holds {math.prod(shape)} values "
                             f"but X has {n_columns} features (columns)")
        return tuple(int(v) for v in shape)

    def _validate(self, X, reset):
        name = type(self).__name__
        if _is_sparse(X):
            raise TypeError(f"{name} does not accept sparse input; pass a dense array of images")
        arr = np.asarray(X)
        if arr.dtype == object:
            arr = arr.astype(np.float64)
        if arr.dtype.kind == "c":
            raise ValueError("Complex data not supported: `X` must hold real pixel values")
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"`X` must hold real numbers, got dtype {arr.dtype}")
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        elif arr.dtype.itemsize < 4:
            arr = arr.astype(np.float32)
        elif arr.dtype.itemsize > 8:
            raise TypeError(f"`X` dtype {arr.dtype} is not supported; use float32 or float64")
        if arr.ndim not in (2, 3, 4):
            hint = " Reshape your data: X.reshape(1, -1) for one flattened image." if arr.ndim < 2 else ""
            raise ValueError(
                f"`X` must be 2-D (n_samples, C*H*W) flattened images, 3-D (n, H, W) grey images or "
                f"4-D (n, C, H, W) images, got an array of shape {arr.shape}.{hint}"
            )
        if arr.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 "
                             "is required.")
        if math.prod(arr.shape[1:]) == 0:
            raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 "
                             "is required.")
        n_columns = math.prod(arr.shape[1:])
        if arr.ndim == 2:
            if reset:
                shape = self._unflatten_shape(n_columns)
            else:
                if n_columns != self.n_features_in_:
                    raise ValueError(f"X has {n_columns} features, but {name} is expecting "
                                     f"{self.n_features_in_} features as input.")
                shape = self.image_shape_
            x4 = arr.reshape((arr.shape[0],) + shape)
        else:
            x4 = arr[:, None] if arr.ndim == 3 else arr
            if not reset and x4.shape[1] != self.image_shape_[0]:
                raise ValueError(f"X has images with {x4.shape[1]} channel(s), but {name} was fitted "
                                 f"on {self.image_shape_[0]}-channel images")
        check_finite("X", x4)
        if reset:
            self.n_features_in_ = int(n_columns)
            self.image_shape_ = tuple(int(v) for v in x4.shape[1:])
        return x4

    def _work_dtype(self, x4):
        if self.dtype is None:
            return x4.dtype
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"`dtype` must be None, float32 or float64, got {describe(self.dtype)}")
        return dtype

    # ------------------------------------------------------------------ API

    def fit(self, X, y=None):
        """Learn normalisation, whitening and the dictionary from images.

        Parameters
        ----------
        X : array_like
            ``(n, H, W)``, ``(n, C, H, W)`` or flattened ``(n, C*H*W)``.
        y : ignored
            Unsupervised; accepted for Pipeline compatibility.

        Returns
        -------
        self : PatchFeatures

        Raises
        ------
        TypeError
            Sparse, non-numeric or complex input; a parameter of the wrong
            type.
        ValueError
            Input of the wrong rank, empty, or with NaN/inf; a patch larger
            than the images; `n_clusters` larger than the number of patches;
            a parameter out of range.
        """
        k = check_positive_int("n_clusters", self.n_clusters)
        encoder = check_choice("encoder", self.encoder, ("triangle", "soft_threshold"))
        check_real("alpha", self.alpha)
        eps_norm = check_real("eps_norm", self.eps_norm, minimum=0.0)
        eps_zca = check_real("eps_zca", self.eps_zca, minimum=0.0)
        n_patches = check_positive_int("n_patches", self.n_patches)
        x4 = self._validate(X, reset=True)
        (kh, kw), (sh, sw) = check_patch_fits(self.patch_size, x4.shape, self.stride)
        out_h, out_w = (x4.shape[2] - kh) // sh + 1, (x4.shape[3] - kw) // sw + 1
        _grid_cells(out_h, out_w, self.pool_grid)
        self._work_dtype(x4)
        rng = resolve_rng(self.random_state)

        # learning samples patches at stride 1, whatever `stride` transform uses
        total = x4.shape[0] * (x4.shape[2] - kh + 1) * (x4.shape[3] - kw + 1)
        if n_patches >= total:
            patches = extract_patches(x4, (kh, kw))
        else:
            patches = extract_patches(x4, (kh, kw), n_patches=n_patches, random_state=rng)
        if k > patches.shape[0]:
            raise ValueError(
                f"`n_clusters`={k} is larger than the number of patches ({patches.shape[0]}) "
                f"the images give with patch_size {(kh, kw)}"
            )
        patches = patches.astype(np.float64)
        if self.normalize:
            patches = normalize_patches(patches, eps_norm)
        if self.whiten:
            zca = ZCA(eps_zca).fit(patches)
            patches = zca.transform(patches)
            self.whitening_mean_, self.whitening_ = zca.mean_, zca.whitening_
        else:
            self.whitening_mean_ = self.whitening_ = None
        result = kmeans(patches, k, spherical=bool(self.spherical), batch_size=self.kmeans_batch_size,
                        max_iter=self.max_iter, tol=self.tol, random_state=rng)
        self.centroids_ = result.centers
        self.inertia_ = result.inertia
        self.n_iter_ = result.n_iter
        self.n_patches_ = int(patches.shape[0])
        gh, gw = pair("pool_grid", self.pool_grid)
        self._n_features_out = k * gh * gw
        self._patch_hw = (kh, kw)
        return self

    def _check_fitted(self):
        if not hasattr(self, "centroids_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                                 "with appropriate arguments before using this estimator.")

    @property
    def filters_(self):
        """The centres shaped as patches: (n_clusters, C, kh, kw)."""
        self._check_fitted()
        return self.centroids_.reshape((-1, self.image_shape_[0]) + self._patch_hw)

    def transform(self, X):
        """Pooled patch features of each image.

        Parameters
        ----------
        X : array_like
            Images as for `fit`.

        Returns
        -------
        features : ndarray, shape (n, n_clusters * gh * gw)
            Ordered (cell row, cell column, centre); float32 or float64 as
            `dtype` (default: the input's).

        Raises
        ------
        NotFittedError
            Before `fit` (a ValueError and AttributeError).
        TypeError, ValueError
            As in `fit`; 2-D input with another column count than in `fit`,
            or images with another channel count.
        """
        self._check_fitted()
        x4 = self._validate(X, reset=False)
        centers = self.filters_
        if self.encoder == "soft_threshold":
            norms = np.sqrt(np.einsum("ij,ij->i", self.centroids_, self.centroids_))
            centers = centers / np.where(norms > 0, norms, 1.0)[:, None, None, None]
        return extract_features(
            x4, centers, stride=self.stride, normalize=bool(self.normalize), eps_norm=self.eps_norm,
            whitening_mean=self.whitening_mean_, whitening=self.whitening_, encoder=self.encoder,
            alpha=self.alpha, pool_grid=self.pool_grid, batch_size=self.batch_size,
            dtype=self._work_dtype(x4),
        )

    def get_feature_names_out(self, input_features=None):
        """Names ``patchfeatures0 ... patchfeatures{n-1}`` of the output columns."""
        self._check_fitted()
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = self._preserved_dtypes()
        return tags

    def _preserved_dtypes(self):
        if self.dtype is None:
            return ["float64", "float32"]
        try:
            return [np.dtype(self.dtype).name]
        except TypeError:
            return []

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.dtype(t).type for t in self._preserved_dtypes()]}


if not HAVE_SKLEARN:  # pragma: no cover
    del PatchFeatures.__sklearn_tags__
