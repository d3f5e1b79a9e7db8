"""k-means dictionary learning: plain or spherical, full-batch or mini-batch."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._checks import check_matrix, check_positive_int, check_real, resolve_rng

__all__ = ["KMeansResult", "kmeans"]

_CHUNK_BYTES = 32 * 2**20


class KMeansResult(NamedTuple):
    """What `kmeans` returns."""

    centers: np.ndarray
    """(n_clusters, d) cluster centres (unit rows when spherical)."""
    labels: np.ndarray
    """(n,) index of the centre each row is assigned to."""
    inertia: float
    """Sum of squared distances of the rows to their centres (of the
    unit-normalised rows when spherical)."""
    n_iter: int
    """Iterations (full batch) or passes over the data (mini-batch) run."""


def _row_norms_sq(x):
    return np.einsum("ij,ij->i", x, x)


def _assign(x, centers, x_sq=None):
    """Nearest centre of each row and the squared distance to it, by
    ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2`` in row chunks of bounded size."""
    n = x.shape[0]
    k = centers.shape[0]
    labels = np.empty(n, dtype=np.intp)
    dist = np.empty(n, dtype=np.float64)
    if x_sq is None:
        x_sq = _row_norms_sq(x)
    c_sq = _row_norms_sq(centers)
    minus_2c = -2.0 * centers.T
    step = max(1, _CHUNK_BYTES // (8 * max(k, 1)))
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        prod = x[i0:i1] @ minus_2c
        prod += c_sq
        lab = np.argmin(prod, axis=1)
        labels[i0:i1] = lab
        best = np.take_along_axis(prod, lab[:, None], axis=1)[:, 0] + x_sq[i0:i1]
        dist[i0:i1] = np.maximum(best, 0.0)
    return labels, dist


def _sums(x, labels, k):
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, x)
    return sums, np.bincount(labels, minlength=k)


def _project(centers, rows=None):
    """Unit-normalise rows of `centers` in place (zero rows stay zero)."""
    sel = centers if rows is None else centers[rows]
    norms = np.sqrt(_row_norms_sq(sel))
    sel = sel / np.where(norms > 0, norms, 1.0)[:, None]
    if rows is None:
        centers[...] = sel
    else:
        centers[rows] = sel


def _kmeans_plusplus(x, k, rng):
    """Greedy k-means++ seeding (several candidates per step, the one that
    lowers the potential most is kept)."""
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    x_sq = _row_norms_sq(x)
    centers = np.empty((k, x.shape[1]), dtype=np.float64)
    first = int(rng.integers(n))
    centers[0] = x[first]
    closest = np.maximum(x_sq - 2.0 * (x @ x[first]) + x_sq[first], 0.0)
    for c in range(1, k):
        potential = closest.sum()
        if potential <= 0.0:  # fewer distinct rows than clusters
            centers[c:] = x[rng.choice(n, size=k - c, replace=n < k - c)]
            break
        cum = np.cumsum(closest)
        cand = np.minimum(np.searchsorted(cum, rng.random(trials) * cum[-1]), n - 1)
        d_cand = np.maximum(x_sq[cand][:, None] - 2.0 * (x[cand] @ x.T) + x_sq, 0.0)
        np.minimum(d_cand, closest, out=d_cand)
        best = int(np.argmin(d_cand.sum(axis=1)))
        closest = d_cand[best]
        centers[c] = x[cand[best]]
    return centers


def _reseed(x, dist, empty, rng):
    """Rows to restart empty clusters from: drawn without replacement with
    probability proportional to their squared distance to their centre
    (far, badly represented rows first), uniformly if all distances are 0."""
    m = int(np.count_nonzero(empty))
    n = x.shape[0]
    positive = np.count_nonzero(dist > 0)
    if positive >= m:
        picks = rng.choice(n, size=m, replace=False, p=dist / dist.sum())
    else:
        picks = rng.choice(n, size=m, replace=n < m)
    return x[picks]


def kmeans(X, n_clusters, *, spherical=False, batch_size=None, max_iter=100, tol=1e-4,
           init="k-means++", reassignment_ratio=0.01, random_state=None):
    """Cluster the rows of `X` with k-means (Lloyd or mini-batch, plain or spherical).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Rows to cluster, e.g. whitened patches.
    n_clusters : int
        Number of centres k; at most n.
    spherical : bool, default False
        Spherical k-means: rows are scaled to unit length (zero rows stay
        zero), centres are projected back onto the unit sphere after each
        update, so clusters group directions (cosine similarity).
    batch_size : int, optional
        ``None`` (default): full-batch Lloyd iterations. Otherwise mini-batch
        k-means (Sculley 2010): each pass over the shuffled data updates the
        centres after every `batch_size` rows, a centre moving towards the
        mean of its rows with a step of 1/(rows it has seen).
    max_iter : int, default 100
        Maximum Lloyd iterations, or passes over the data for mini-batch.
    tol : float, default 1e-4
        Stop when the centres move (sum of squared shifts over one iteration
        or pass) less than ``tol`` times the mean per-column variance of X.
    init : {'k-means++', 'random'} or array_like of shape (n_clusters, d)
        Greedy k-means++ seeding on a sample of at most ``max(20*k, 10000)``
        rows, k distinct random rows, or explicit initial centres.
    reassignment_ratio : float, default 0.01
        Clusters with fewer rows than this fraction of the largest cluster
        are restarted at random rows (mini-batch: after every pass; Lloyd:
        during the first half of `max_iter`), as scikit-learn's
        MiniBatchKMeans does: tiny clusters make features that almost never
        fire. 0 restarts only empty clusters.
    random_state : None, int, numpy Generator or RandomState
        Seed for the initialisation, the shuffling and the re-seeding; the
        same seed gives the same result.

    Returns
    -------
    result : KMeansResult
        ``centers`` (n_clusters, d) float64, ``labels`` (n,), ``inertia``,
        ``n_iter``.

    Raises
    ------
    TypeError
        If a size is not an int or `X` is not real-valued.
    ValueError
        If `X` is not 2-D, is empty or holds NaN/inf, if `n_clusters` is
        larger than the number of rows, or an option is out of range.

    Notes
    -----
    Empty clusters: after a Lloyd iteration a centre that received no row is
    restarted at a row drawn with probability proportional to its squared
    distance from its own centre; in mini-batch, a centre that received no
    row during a pass restarts at a random row. Every returned centre is in
    use when there are at least k distinct rows (mini-batch: except a
    cluster emptied in the very last pass). Restarting tiny clusters matters
    for features: on Fashion-MNIST (K=400, 6x6 patches, 18k training
    images, a 2k validation split) it raised the validation accuracy of the
    mini-batch dictionary from 90.3 % to 91.1-91.5 %, level with
    scikit-learn's MiniBatchKMeans dictionary (91.5-91.8 %).

    Cost per Lloyd iteration (or pass): ``2*n*k*d`` flops in BLAS for the
    distances (``|x|^2 - 2 x.c + |c|^2``, in chunks of bounded memory) plus
    O(n*d) for the update. Mini-batch needs fewer passes on large n.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import kmeans
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    >>> result = kmeans(x, 2, random_state=0)
    >>> np.round(np.sort(result.centers[:, 0]), 1) + 0.0
    array([0., 5.])
    >>> int(np.bincount(result.labels).min())
    50
    """
    arr = check_matrix("X", X)
    k = check_positive_int("n_clusters", n_clusters)
    n, d = arr.shape
    if k > n:
        raise ValueError(f"`n_clusters`={k} is larger than the number of rows (patches) in `X` ({n})")
    batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
    max_iter = check_positive_int("max_iter", max_iter)
    tol = check_real("tol", tol, minimum=0.0)
    ratio = check_real("reassignment_ratio", reassignment_ratio, minimum=0.0)
    if ratio >= 1.0:
        raise ValueError(f"`reassignment_ratio` must be < 1, got {ratio}")
    rng = resolve_rng(random_state)

    x = np.array(arr, dtype=np.float64)  # a private copy: never touch the caller's data
    if spherical:
        _project(x)
    x_sq = _row_norms_sq(x)
    tol_abs = tol * float(np.mean(np.var(x, axis=0)))

    if isinstance(init, str):
        if init == "k-means++":
            size = min(n, max(20 * k, 10_000))
            sample = x if size == n else x[rng.choice(n, size=size, replace=False)]
            centers = _kmeans_plusplus(sample, k, rng)
        elif init == "random":
            centers = x[rng.choice(n, size=k, replace=False)].copy()
        else:
            raise ValueError(f"`init` must be 'k-means++', 'random' or an array, got {init!r}")
    else:
        centers = np.array(check_matrix("init", init, columns=d), dtype=np.float64)
        if centers.shape[0] != k:
            raise ValueError(f"`init` must have shape ({k}, {d}), got {centers.shape}")
    if spherical:
        _project(centers)

    if batch_size is None or batch_size >= n:
        centers, n_iter = _lloyd(x, x_sq, centers, max_iter, tol_abs, spherical, ratio, rng)
    else:
        centers, n_iter = _minibatch(x, x_sq, centers, batch_size, max_iter, tol_abs, spherical, ratio, rng)
    labels, dist = _assign(x, centers, x_sq)
    return KMeansResult(centers, labels, float(dist.sum()), n_iter)


def _small(counts, ratio):
    """Clusters with fewer rows than `ratio` times the largest one (or none)."""
    return counts < ratio * counts.max()


def _lloyd(x, x_sq, centers, max_iter, tol_abs, spherical, ratio, rng):
    n, k = x.shape[0], centers.shape[0]
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        labels, dist = _assign(x, centers, x_sq)
        sums, counts = _sums(x, labels, k)
        new = sums / np.maximum(counts, 1)[:, None]
        if spherical:
            _project(new)
            # rows summing to zero leave a centre without a direction
            counts = np.where(_row_norms_sq(new) > 0, counts, 0)
        empty = counts == 0
        if empty.any():
            new[empty] = _reseed(x, dist, empty, rng)
        # tiny clusters restart at random rows, during the first half only so
        # that the iterations can settle
        small = _small(counts, ratio) & ~empty if 2 * n_iter <= max_iter else np.zeros(k, bool)
        if small.any():
            new[small] = x[rng.choice(n, size=int(small.sum()), replace=False)]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= tol_abs and not (empty.any() or small.any()):
            break
    return centers, n_iter


def _minibatch(x, x_sq, centers, batch_size, max_iter, tol_abs, spherical, ratio, rng):
    n, k = x.shape[0], centers.shape[0]
    counts = np.zeros(k, dtype=np.float64)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        before = centers.copy()
        in_pass = np.zeros(k, dtype=np.float64)
        order = rng.permutation(n)
        for b0 in range(0, n, batch_size):
            idx = order[b0:b0 + batch_size]
            xb = x[idx]
            labels, _ = _assign(xb, centers, x_sq[idx])
            sums, nb = _sums(xb, labels, k)
            hit = nb > 0
            counts[hit] += nb[hit]
            centers[hit] += (sums[hit] - nb[hit, None] * centers[hit]) / counts[hit, None]
            if spherical:
                _project(centers, hit)
            in_pass += nb
        # empty and tiny clusters of this pass restart at random rows, with
        # the smallest count of the others (so one batch does not fix them);
        # not after the last pass, which would return untrained centres
        small = ((in_pass == 0) | _small(in_pass, ratio)) & (n_iter < max_iter)
        if small.any():
            centers[small] = x[rng.choice(n, size=int(small.sum()), replace=n < small.sum())]
            counts[small] = counts[~small].min() if (~small).any() else 0.0
        shift = float(((centers - before) ** 2).sum())
        if shift <= tol_abs and not small.any():
            break
    return centers, n_iter
