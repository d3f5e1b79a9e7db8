"""im2col_nb.features: patch sampling, normalisation, ZCA, k-means, encoders,
feature extraction by convolution (against an explicit patch-matrix oracle),
PatchFeatures (scikit-learn protocol), plots, bad input, and the measured
accuracy on scikit-learn's bundled digits."""

import os
import sys
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive

import im2col_nb
from im2col_nb import features as F
from im2col_nb.features import (
    ZCA,
    PatchFeatures,
    extract_features,
    extract_patches,
    filter_grid,
    grid_sum_pool,
    kmeans,
    normalize_patches,
    soft_threshold,
    triangle,
)
from im2col_nb.features import _base
from im2col_nb.features import extraction as _extraction
from im2col_nb.features import patches as _patches


def images(rng, n=3, c=None, h=9, w=8, scale=255.0):
    shape = (n, h, w) if c is None else (n, c, h, w)
    return rng.random(shape) * scale


# ---------------------------------------------------------------------------
# explicit oracle: every patch through im2col (naive loops), then the formulas
# ---------------------------------------------------------------------------


def oracle_patches(x4, k, stride=1):
    """(N, OH, OW, d) patches from the explicit-loop im2col of tests/naive.py."""
    kh, kw = (k, k) if np.isscalar(k) else k
    cols = naive.im2col(x4, (kh, kw), stride=stride)          # (N, d, L)
    n, d, _ = cols.shape
    s = (stride, stride) if np.isscalar(stride) else stride
    oh = (x4.shape[2] - kh) // s[0] + 1
    ow = (x4.shape[3] - kw) // s[1] + 1
    return cols.transpose(0, 2, 1).reshape(n, oh, ow, d)


def oracle_features(x4, centers, *, stride=1, normalize=True, eps_norm=10.0, mean=None, wmat=None,
                    encoder="triangle", alpha=0.5, pool_grid=2):
    k = centers.shape[0]
    kh, kw = centers.shape[-2:]
    p = oracle_patches(x4, (kh, kw), stride)
    n, oh, ow, d = p.shape
    rows = p.reshape(-1, d)
    if normalize:
        m = rows.mean(axis=1, keepdims=True)
        v = ((rows - m) ** 2).mean(axis=1, keepdims=True)
        rows = (rows - m) / np.sqrt(v + eps_norm)
    if mean is not None:
        rows = rows - mean
    if wmat is not None:
        rows = rows @ wmat
    c = centers.reshape(k, d)
    codes = np.zeros((rows.shape[0], k))
    for i, y in enumerate(rows):                               # explicit per-patch loop
        if encoder == "triangle":
            z = np.sqrt(((y - c) ** 2).sum(axis=1))
            codes[i] = np.maximum(0.0, z.mean() - z)
        else:
            codes[i] = np.maximum(0.0, c @ y - alpha)
    maps = codes.reshape(n, oh, ow, k)
    if pool_grid is None:
        return maps.transpose(0, 3, 1, 2)
    gh, gw = (pool_grid, pool_grid) if np.isscalar(pool_grid) else pool_grid
    rb = np.array_split(np.arange(oh), gh) if (gh - 1) * -(-oh // gh) >= oh else \
        [np.arange(oh)[i:i + -(-oh // gh)] for i in range(0, oh, -(-oh // gh))]
    cb = np.array_split(np.arange(ow), gw) if (gw - 1) * -(-ow // gw) >= ow else \
        [np.arange(ow)[i:i + -(-ow // gw)] for i in range(0, ow, -(-ow // gw))]
    out = np.zeros((n, gh, gw, k))
    for i, r in enumerate(rb):
        for j, cc in enumerate(cb):
            out[:, i, j] = maps[:, r][:, :, cc].sum(axis=(1, 2))
    return out.reshape(n, -1)


# ---------------------------------------------------------------------------
# patches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("channels,k,stride", [(None, 3, 1), (3, 2, 1), (2, (3, 2), (2, 1)), (None, 9, 1)])
def test_all_patches_match_explicit_im2col(backend, rng, channels, k, stride):
    x = images(rng, 2, channels, 9, 8)
    x4 = x[:, None] if channels is None else x
    if np.max(k) > 8:
        with pytest.raises(ValueError, match="larger than the images"):
            extract_patches(x, k, stride=stride)
        return
    got = extract_patches(x, k, stride=stride)
    ref = oracle_patches(x4, k, stride)
    np.testing.assert_array_equal(got, ref.reshape(-1, ref.shape[-1]))


def test_random_patches_are_seeded_distinct_real_patches(backend, rng):
    x = images(rng, 4, 3, 10, 9)
    every = extract_patches(x, 4)
    a = extract_patches(x, 4, n_patches=50, random_state=7)
    b = extract_patches(x, 4, n_patches=50, random_state=7)
    c = extract_patches(x, 4, n_patches=50, random_state=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    lookup = {row.tobytes(): i for i, row in enumerate(every)}
    idx = [lookup[row.tobytes()] for row in a]                 # each one is a real patch
    assert len(set(idx)) == 50                                 # drawn without replacement
    # all of them, in some order, when n_patches is the total
    full = extract_patches(x, 4, n_patches=len(every), random_state=0)
    assert sorted(lookup[r.tobytes()] for r in full) == list(range(len(every)))


def test_random_patches_never_build_the_patch_matrix(monkeypatch, rng):
    def forbidden(*args, **kwargs):
        raise AssertionError("im2col called for a random sample")
    monkeypatch.setattr(_patches, "im2col", forbidden)
    x = images(rng, 5, None, 12, 12)
    assert extract_patches(x, 5, n_patches=20, random_state=0).shape == (20, 25)
    with pytest.raises(AssertionError, match="im2col called"):
        extract_patches(x, 5)


def test_random_patches_respect_stride(rng):
    x = images(rng, 2, None, 9, 9)
    strided = {r.tobytes() for r in extract_patches(x, 3, stride=2)}
    sample = extract_patches(x, 3, n_patches=30, stride=2, random_state=1)
    assert all(r.tobytes() in strided for r in sample)


def test_normalize_patches_matches_formula(rng):
    p = rng.normal(size=(40, 12)) * 30 + 100
    for eps in (0.0, 10.0):
        ref = (p - p.mean(1, keepdims=True)) / np.sqrt(p.var(1, keepdims=True) + eps)
        np.testing.assert_allclose(normalize_patches(p, eps), ref, rtol=1e-12, atol=1e-12)
    out = normalize_patches(p, 0.0)
    np.testing.assert_allclose(out.mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(1), 1, atol=1e-12)
    flat = np.full((2, 5), 3.0)
    np.testing.assert_array_equal(normalize_patches(flat, 0.0), 0.0)
    assert normalize_patches(p.astype(np.float32)).dtype == np.float32
    before = p.copy()
    normalize_patches(p)
    np.testing.assert_array_equal(p, before)                   # input untouched


# ---------------------------------------------------------------------------
# ZCA
# ---------------------------------------------------------------------------


def test_zca_whitens_and_is_symmetric(rng):
    a = rng.normal(size=(5, 5))
    x = rng.normal(size=(4000, 5)) @ a + 3.0
    zca = ZCA(eps=0.0).fit(x)
    white = zca.transform(x)
    np.testing.assert_allclose(np.cov(white, rowvar=False, bias=True), np.eye(5), atol=1e-10)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-12)
    # ZCA is the whitening closest to identity: W = C^(-1/2)
    cov = np.cov(x, rowvar=False, bias=True)
    np.testing.assert_allclose(zca.whitening_ @ zca.whitening_ @ cov, np.eye(5), atol=1e-8)
    # eps shrinks the small directions: eigenvalues of W are 1/sqrt(lambda + eps)
    w_eps = ZCA(eps=0.5).fit(x).whitening_
    lam = np.linalg.eigvalsh(cov)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(w_eps)), np.sort(1 / np.sqrt(lam + 0.5)),
                               rtol=1e-8)
    assert zca.transform(x.astype(np.float32)).dtype == np.float32


def test_zca_errors(rng):
    with pytest.raises(ValueError, match="not fitted"):
        ZCA().transform(np.ones((3, 2)))
    with pytest.raises(ValueError, match="singular"):
        ZCA(eps=0.0).fit(np.ones((10, 3)))
    with pytest.raises(ValueError, match="3 columns"):
        ZCA().fit(rng.normal(size=(10, 3))).transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="`eps` must be >= 0"):
        ZCA(eps=-1).fit(rng.normal(size=(10, 3)))


# ---------------------------------------------------------------------------
# k-means
# ---------------------------------------------------------------------------


def blobs(rng, k=4, per=60, d=3, spread=0.05):
    centres = rng.normal(size=(k, d)) * 5
    x = np.concatenate([c + spread * rng.normal(size=(per, d)) for c in centres])
    return x, centres


def match_error(found, true):
    return max(np.min(np.linalg.norm(found - t, axis=1)) for t in true)


@pytest.mark.parametrize("batch_size", [None, 32])
def test_kmeans_recovers_blobs_and_is_seeded(rng, batch_size):
    x, true = blobs(rng)
    res = kmeans(x, 4, batch_size=batch_size, random_state=3)
    assert match_error(res.centers, true) < 0.05
    assert np.bincount(res.labels, minlength=4).tolist() == [60] * 4
    again = kmeans(x, 4, batch_size=batch_size, random_state=3)
    np.testing.assert_array_equal(res.centers, again.centers)
    # labels and inertia are those of the returned centres
    d2 = ((x[:, None] - res.centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(res.labels, d2.argmin(1))
    np.testing.assert_allclose(res.inertia, d2.min(1).sum(), rtol=1e-10)
    assert res.n_iter >= 1


def test_lloyd_converges_to_a_fixed_point(rng):
    x = rng.normal(size=(300, 4))
    res = kmeans(x, 6, tol=0.0, max_iter=300, random_state=0)
    for j in range(6):
        np.testing.assert_allclose(res.centers[j], x[res.labels == j].mean(0), atol=1e-12)


@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.parametrize("spherical", [False, True])
def test_empty_clusters_are_reseeded(rng, batch_size, spherical):
    x, _ = blobs(rng, k=3, per=40)
    init = np.concatenate([x[[0, 40, 80]], np.full((2, 3), 1e3)])   # two centres far from everything
    res = kmeans(x, 5, init=init, batch_size=batch_size, spherical=spherical, max_iter=20,
                 random_state=0)
    assert (np.bincount(res.labels, minlength=5) > 0).all()
    assert np.abs(res.centers).max() < 100


@pytest.mark.parametrize("batch_size", [None, 30])
def test_tiny_clusters_are_restarted_unless_disabled(rng, batch_size):
    x, _ = blobs(rng, k=3, per=100, spread=0.5)
    x = np.concatenate([x, [[40.0, 40.0, 40.0]]])                    # one far outlier
    init = np.concatenate([x[[0, 100, 200, 50]], x[-1:]])           # a centre sits on the outlier
    kept = kmeans(x, 5, init=init, batch_size=batch_size, reassignment_ratio=0.0, max_iter=20,
                  random_state=0)
    assert np.bincount(kept.labels, minlength=5).min() == 1         # the outlier keeps its own centre
    moved = kmeans(x, 5, init=init, batch_size=batch_size, reassignment_ratio=0.05, max_iter=20,
                   random_state=0)
    assert np.bincount(moved.labels, minlength=5).min() >= 5        # restarted inside the data
    with pytest.raises(ValueError, match="`reassignment_ratio` must be < 1"):
        kmeans(x, 2, reassignment_ratio=1.0)


def test_spherical_kmeans_clusters_directions(rng):
    dirs = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    x = np.concatenate([d * rng.uniform(0.5, 20, (50, 1)) + 0.02 * rng.normal(size=(50, 3)) for d in dirs])
    for batch_size in (None, 25):
        res = kmeans(x, 3, spherical=True, batch_size=batch_size, random_state=1)
        np.testing.assert_allclose(np.linalg.norm(res.centers, axis=1), 1.0, atol=1e-12)
        assert match_error(res.centers, dirs) < 0.05
    # plain k-means on the same data splits by length instead
    assert match_error(kmeans(x, 3, random_state=1).centers, dirs) > 1


def test_kmeans_init_options_and_inertia_vs_sklearn(rng):
    cluster = pytest.importorskip("sklearn.cluster")
    x, _ = blobs(rng, k=5, per=50, d=4, spread=1.0)
    ours = kmeans(x, 5, random_state=0)
    theirs = cluster.KMeans(5, n_init=1, random_state=0).fit(x)
    assert ours.inertia <= theirs.inertia_ * 1.05
    rand = kmeans(x, 5, init="random", random_state=0)
    assert rand.inertia <= theirs.inertia_ * 1.5
    with pytest.raises(ValueError, match="`init` must be"):
        kmeans(x, 5, init="kmeans")
    with pytest.raises(ValueError, match=r"shape \(5, 4\)"):
        kmeans(x, 5, init=x[:4])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 60), d=st.integers(1, 5), k=st.integers(1, 8), spherical=st.booleans(),
       batch=st.sampled_from([None, 7]), seed=st.integers(0, 2**16))
def test_kmeans_invariants_on_random_data(n, d, k, spherical, batch, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    k = min(k, n)
    res = kmeans(x, k, spherical=spherical, batch_size=batch, max_iter=15, random_state=seed)
    rows = x / np.linalg.norm(x, axis=1, keepdims=True) if spherical else x
    d2 = ((rows[:, None] - res.centers[None]) ** 2).sum(-1)
    assert res.centers.shape == (k, d) and np.isfinite(res.centers).all()
    np.testing.assert_allclose(d2[np.arange(n), res.labels], d2.min(1), atol=1e-9)   # nearest centre
    np.testing.assert_allclose(res.inertia, d2.min(1).sum(), rtol=1e-9, atol=1e-9)
    if spherical:
        np.testing.assert_allclose(np.linalg.norm(res.centers, axis=1), 1.0, atol=1e-9)
    if batch is None and len(np.unique(rows.round(9), axis=0)) >= k:
        assert np.bincount(res.labels, minlength=k).min() >= 1      # Lloyd: every centre in use
    again = kmeans(x, k, spherical=spherical, batch_size=batch, max_iter=15, random_state=seed)
    np.testing.assert_array_equal(res.centers, again.centers)


def test_kmeans_errors(rng):
    x = rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match="`n_clusters`=11 is larger than the number of rows"):
        kmeans(x, 11)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="`X` contains NaN"):
        kmeans(bad, 2)
    with pytest.raises(ValueError, match="2-D"):
        kmeans(x[:, 0], 2)
    with pytest.raises(TypeError, match="`n_clusters` must be an int"):
        kmeans(x, 2.0)
    with pytest.raises(ValueError, match="`max_iter` must be >= 1"):
        kmeans(x, 2, max_iter=0)


# ---------------------------------------------------------------------------
# encoders
# ---------------------------------------------------------------------------


def test_encoders_match_their_formulas(rng):
    x = rng.normal(size=(30, 6))
    c = rng.normal(size=(7, 6))
    z = np.linalg.norm(x[:, None] - c[None], axis=2)
    np.testing.assert_allclose(triangle(x, c), np.maximum(0, z.mean(1, keepdims=True) - z), atol=1e-12)
    np.testing.assert_allclose(soft_threshold(x, c, 0.3), np.maximum(0, x @ c.T - 0.3), atol=1e-12)
    assert (triangle(x, c) > 0).sum(1).min() >= 1           # the closest centre always fires
    assert triangle(x.astype(np.float32), c.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="`centers` must have 6 columns"):
        triangle(x, c[:, :5])
    with pytest.raises(ValueError, match="`alpha` must be finite"):
        soft_threshold(x, c, np.inf)


# ---------------------------------------------------------------------------
# feature extraction by convolution == explicit patches
# ---------------------------------------------------------------------------


def fitted_zca(x, k, eps_norm):
    return ZCA(0.1).fit(normalize_patches(extract_patches(x, k), eps_norm))


CASES = [
    # channels, patch, stride, normalize, whiten, encoder, pool_grid
    (None, 3, 1, True, "zca", "triangle", 2),
    (None, 3, 1, True, "zca", "soft_threshold", 2),
    (3, 2, 1, True, "zca", "triangle", (2, 3)),
    (2, (3, 2), 2, True, "zca", "triangle", 1),
    (None, 4, 1, True, None, "triangle", None),
    (None, 4, 1, False, None, "triangle", 3),
    (3, 3, 1, False, "zca", "triangle", 2),
    (None, 3, 1, True, "mean", "triangle", 2),
    (None, 3, 1, False, "mean", "soft_threshold", 2),
    (None, 5, 1, True, None, "soft_threshold", 3),       # 5x4 maps: uneven 3x3 grid
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extract_features_matches_explicit_patches(backend, rng, case, dtype):
    channels, k, stride, normalize, whiten, encoder, grid = case
    x = images(rng, 3, channels, 9, 8)
    x4 = x[:, None] if channels is None else x
    kh, kw = (k, k) if np.isscalar(k) else k
    d = x4.shape[1] * kh * kw
    mean = wmat = None
    if whiten == "zca":
        zca = fitted_zca(x, (kh, kw), 10.0) if normalize else ZCA(0.1).fit(extract_patches(x, (kh, kw)))
        mean, wmat = zca.mean_, zca.whitening_
    elif whiten == "mean":
        mean = rng.normal(size=d) * 0.1
    centers = rng.normal(size=(6, x4.shape[1], kh, kw)) * (1.0 if normalize else 50.0)
    ref = oracle_features(x4, centers, stride=stride, normalize=normalize, mean=mean, wmat=wmat,
                          encoder=encoder, alpha=0.2, pool_grid=grid)
    got = extract_features(x.astype(dtype), centers, stride=stride, normalize=normalize,
                           whitening_mean=mean, whitening=wmat, encoder=encoder, alpha=0.2,
                           pool_grid=grid)
    assert got.dtype == dtype
    assert got.shape == ref.shape
    scale = np.abs(ref).max()
    tol = 1e-9 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 3), c=st.sampled_from([None, 1, 3]), h=st.integers(4, 9), w=st.integers(4, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), s=st.integers(1, 2), g=st.integers(1, 3),
       normalize=st.booleans(), whiten=st.booleans(), enc=st.sampled_from(["triangle", "soft_threshold"]),
       seed=st.integers(0, 2**16))
def test_extract_features_random_configurations(n, c, h, w, kh, kw, s, g, normalize, whiten, enc, seed):
    rng = np.random.default_rng(seed)
    x = images(rng, n, c, h, w, scale=10.0)
    x4 = x[:, None] if c is None else x
    oh, ow = (h - kh) // s + 1, (w - kw) // s + 1
    grid = min(g, oh, ow)
    d = x4.shape[1] * kh * kw
    mean = wmat = None
    if whiten:
        a = rng.normal(size=(d, d))
        wmat = (a + a.T) / (2 * d)
        mean = rng.normal(size=d) * 0.1
    centers = rng.normal(size=(5, x4.shape[1], kh, kw))
    ref = oracle_features(x4, centers, stride=s, normalize=normalize, eps_norm=1.0, mean=mean, wmat=wmat,
                          encoder=enc, alpha=0.1, pool_grid=grid)
    got = extract_features(x, centers, stride=s, normalize=normalize, eps_norm=1.0, whitening_mean=mean,
                           whitening=wmat, encoder=enc, alpha=0.1, pool_grid=grid)
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8 * max(1.0, np.abs(ref).max()))


def test_extraction_runs_in_batches_and_is_batch_independent(monkeypatch, rng):
    x = images(rng, 7, None, 10, 10)
    centers = rng.normal(size=(4, 3, 3))
    whole = extract_features(x, centers)
    seen = []
    real = _extraction.conv2d

    def spy(inp, *args, **kwargs):
        seen.append(inp.shape[0])
        return real(inp, *args, **kwargs)

    monkeypatch.setattr(_extraction, "conv2d", spy)
    before = x.copy()
    batched = extract_features(x, centers, batch_size=2)
    np.testing.assert_allclose(batched, whole, rtol=1e-12, atol=1e-12)
    assert seen and max(seen) <= 2 and sum(seen) == 7        # never more than 2 images at once
    np.testing.assert_array_equal(x, before)                  # input untouched


def test_float32_shift_invariance_of_normalised_features(rng):
    # normalisation removes brightness: adding 1000 to every pixel changes nothing
    x = images(rng, 2, None, 10, 10)
    centers = rng.normal(size=(5, 4, 4))
    a = extract_features(x.astype(np.float32), centers)
    b = extract_features((x + 1000.0).astype(np.float32), centers)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * np.abs(a).max())


def test_grid_sum_pool_layouts_and_uneven_cells(backend, rng):
    maps = rng.normal(size=(2, 3, 7, 5))
    got = grid_sum_pool(maps, (2, 3))                           # rows 4+3, columns 2+2+1
    ref = np.stack([np.stack([maps[:, :, r0:r1, c0:c1].sum((2, 3)) for c0, c1 in ((0, 2), (2, 4), (4, 5))],
                             -1) for r0, r1 in ((0, 4), (4, 7))], -2)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    nhwc = grid_sum_pool(np.ascontiguousarray(maps.transpose(0, 2, 3, 1)), (2, 3), layout="NHWC")
    np.testing.assert_allclose(nhwc.transpose(0, 3, 1, 2), ref, atol=1e-12)
    uneven = grid_sum_pool(maps[:, :, :4, :4], 3)               # 4 = 2 + 1 + 1
    np.testing.assert_allclose(uneven[..., 0, 0], maps[:, :, :2, :2].sum((2, 3)), atol=1e-12)
    np.testing.assert_allclose(uneven[..., 2, 2], maps[:, :, 3, 3], atol=1e-12)
    np.testing.assert_allclose(grid_sum_pool(maps, 1)[..., 0, 0], maps.sum((2, 3)), atol=1e-12)
    with pytest.raises(ValueError, match="too fine"):
        grid_sum_pool(maps, (8, 1))
    with pytest.raises(ValueError, match="4-D"):
        grid_sum_pool(maps[0], 2)


# ---------------------------------------------------------------------------
# bad input: ValueError saying which
# ---------------------------------------------------------------------------


def test_bad_input_messages(rng):
    x = images(rng, 3, None, 8, 8)
    centers = rng.normal(size=(4, 3, 3))
    nan = x.copy()
    nan[1, 2, 3] = np.nan
    inf = x.copy()
    inf[0, 0, 0] = -np.inf
    cases = [
        (lambda: extract_patches(x[0], 3), r"`images` must be a 3-D stack .* got an array of shape \(8, 8\)"),
        (lambda: extract_patches(x[None, None], 3), r"shape \(1, 1, 3, 8, 8\)"),
        (lambda: extract_patches(x, 9), r"`patch_size` \(9, 9\) is larger than the images \(8, 8\)"),
        (lambda: extract_patches(x, (2, 9)), r"`patch_size` \(2, 9\) is larger"),
        (lambda: extract_patches(x, 3, n_patches=200), r"`n_patches`=200 is larger than the number of "
                                                        r"patches available \(108"),
        (lambda: extract_patches(nan, 3), "`images` contains NaN"),
        (lambda: extract_patches(inf, 3), "`images` contains infinity"),
        (lambda: extract_patches(x[:0], 3), "at least one non-empty image"),
        (lambda: extract_features(x, rng.normal(size=(4, 9, 9))), r"`patch_size` \(9, 9\) is larger"),
        (lambda: extract_features(x, centers[:, None].repeat(2, 1)), "2 channel"),
        (lambda: extract_features(nan, centers), "`images` contains NaN"),
        (lambda: extract_features(x, centers * np.inf), "`centers` contains"),
        (lambda: extract_features(x[0], centers), "`images` must be a 3-D stack"),
        (lambda: extract_features(x, centers, whitening=np.eye(8)), r"`whitening` must have shape \(9, 9\)"),
        (lambda: extract_features(x, centers, whitening_mean=np.zeros(3)), r"`whitening_mean` must have shape"),
        (lambda: extract_features(x, centers, encoder="relu"), "`encoder` must be one of"),
        (lambda: extract_features(x, centers, pool_grid=7), "too fine"),
        (lambda: normalize_patches(np.ones((3, 2, 2))), "2-D"),
        (lambda: normalize_patches(np.ones((3, 4)), eps=-1), "`eps` must be >= 0"),
        (lambda: PatchFeatures(n_clusters=500, patch_size=3).fit(x), r"`n_clusters`=500 is larger than the "
                                                                      r"number of patches \(108\)"),
        (lambda: PatchFeatures(patch_size=9).fit(x), r"`patch_size` \(9, 9\) is larger than the images"),
        (lambda: PatchFeatures(n_clusters=2, patch_size=3).fit(nan), "`X` contains NaN"),
        (lambda: PatchFeatures(n_clusters=2, patch_size=3).fit(inf), "`X` contains infinity"),
        (lambda: PatchFeatures(n_clusters=2, patch_size=3).fit(x[None, None]), r"got an array of shape \(1, 1"),
        (lambda: PatchFeatures(n_clusters=2, patch_size=3).fit(x[0, 0]), "Reshape your data"),
        (lambda: PatchFeatures(n_clusters=2, image_shape=(3, 3)).fit(x.reshape(3, -1)),
         r"`image_shape` \(3, 3\) holds 9 values but X has 64"),
        (lambda: PatchFeatures(n_clusters=2, patch_size=3, encoder="x").fit(x), "`encoder` must be one of"),
        (lambda: PatchFeatures(n_clusters=2, patch_size=3, eps_norm=-1.0).fit(x), "`eps_norm` must be >= 0"),
        (lambda: PatchFeatures(n_clusters=2, patch_size=3, dtype="int8").fit(x), "`dtype` must be"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()


def test_bad_types(rng):
    x = images(rng, 2, None, 8, 8)
    with pytest.raises(TypeError, match="`n_patches` must be an int"):
        extract_patches(x, 3, n_patches=2.5)
    with pytest.raises(TypeError, match="`random_state` must be"):
        extract_patches(x, 3, n_patches=2, random_state="seed")
    with pytest.raises(TypeError, match="real numbers"):
        extract_patches(x.astype(complex), 3)
    with pytest.raises(TypeError, match="sparse"):
        scipy_sparse = pytest.importorskip("scipy.sparse")
        PatchFeatures(n_clusters=2).fit(scipy_sparse.csr_matrix(x.reshape(2, -1)))


# ---------------------------------------------------------------------------
# PatchFeatures
# ---------------------------------------------------------------------------


def test_patch_features_transform_is_the_documented_pipeline(rng):
    x = images(rng, 12, None, 10, 10)
    pf = PatchFeatures(n_clusters=6, patch_size=4, eps_norm=10.0, eps_zca=0.1, random_state=0).fit(x)
    # fit: patches -> normalise -> ZCA -> k-means, reproduced step by step
    p = normalize_patches(extract_patches(x, 4), 10.0)              # fewer than n_patches: all of them
    zca = ZCA(0.1).fit(p)
    np.testing.assert_allclose(pf.whitening_, zca.whitening_, atol=1e-10)
    assert pf.n_patches_ == len(p) == 12 * 49
    ref = kmeans(zca.transform(p), 6, random_state=np.random.default_rng(0))
    np.testing.assert_allclose(pf.centroids_, ref.centers, atol=1e-8)
    assert pf.filters_.shape == (6, 1, 4, 4)
    feats = pf.transform(x)
    expected = extract_features(x, pf.filters_, whitening_mean=pf.whitening_mean_,
                                whitening=pf.whitening_)
    np.testing.assert_allclose(feats, expected, rtol=1e-12)
    assert feats.shape == (12, 24) and (feats >= 0).all()
    assert pf.get_feature_names_out().tolist()[:2] == ["patchfeatures0", "patchfeatures1"]


def test_patch_features_inputs_shapes_and_seeds(rng):
    x = images(rng, 10, 3, 9, 9)
    pf = PatchFeatures(n_clusters=5, patch_size=3, n_patches=200, random_state=1)
    a = pf.fit_transform(x)
    np.testing.assert_array_equal(a, PatchFeatures(**pf.get_params()).fit_transform(x))
    assert pf.n_patches_ == 200 and pf.image_shape_ == (3, 9, 9) and pf.n_features_in_ == 243
    # flattened rows with image_shape give the same features
    flat = PatchFeatures(n_clusters=5, patch_size=3, n_patches=200, random_state=1, image_shape=(3, 9, 9))
    np.testing.assert_allclose(flat.fit_transform(x.reshape(10, -1)), a, rtol=1e-12)
    with pytest.raises(ValueError, match="X has 81 features, but PatchFeatures is expecting 243"):
        flat.transform(x[:, 0].reshape(10, -1))
    with pytest.raises(ValueError, match="1 channel"):
        pf.transform(x[:, 0])
    # larger images, same channels: the same number of pooled features
    assert pf.transform(images(rng, 2, 3, 15, 12)).shape == (2, 20)
    # square rows are unflattened as square grey images
    grey = PatchFeatures(n_clusters=3, patch_size=2, random_state=0).fit(x[:, 0].reshape(10, 81))
    assert grey.image_shape_ == (1, 9, 9)
    # float32 in, float32 out; dtype overrides
    assert pf.transform(x.astype(np.float32)).dtype == np.float32
    assert pf.set_params(dtype="float32").transform(x).dtype == np.float32
    with pytest.raises(_base.NotFittedError):
        PatchFeatures().transform(x)


@pytest.mark.parametrize("options", [
    dict(encoder="soft_threshold", spherical=True),
    dict(kmeans_batch_size=50, whiten=False),
    dict(normalize=False, eps_zca=1.0, pool_grid=(1, 3), stride=2),
])
def test_patch_features_variants_run_and_are_nonnegative(rng, options):
    x = images(rng, 8, None, 11, 11)
    pf = PatchFeatures(n_clusters=6, patch_size=3, random_state=0, **options).fit(x)
    f = pf.transform(x)
    gh, gw = (options.get("pool_grid"),) * 2 if np.isscalar(options.get("pool_grid", 2)) else options["pool_grid"]
    assert f.shape == (8, 6 * (gh or 2) * (gw or 2)) and (f >= 0).all() and f.any()
    if options.get("spherical"):
        np.testing.assert_allclose(np.linalg.norm(pf.centroids_, axis=1), 1.0, atol=1e-12)


def test_get_set_params_and_the_fallback_base():
    pf = PatchFeatures(n_clusters=7, random_state=3)
    params = pf.get_params()
    assert params["n_clusters"] == 7 and params["patch_size"] == 6 and params["random_state"] == 3
    assert pf.set_params(patch_size=(3, 4)) is pf and pf.patch_size == (3, 4)
    # the stand-in used when scikit-learn is missing speaks the same protocol
    class Mini(_base._MiniTransformerMixin, _base._MiniBaseEstimator):
        def __init__(self, a=1, *, b="x"):
            self.a = a
            self.b = b

        def fit(self, X, y=None):
            self.seen_ = X
            return self

        def transform(self, X):
            return X * self.a

    m = Mini(a=2)
    assert m.get_params() == {"a": 2, "b": "x"}
    assert m.set_params(b="y").b == "y"
    assert repr(m) == "Mini(a=2, b='y')"
    assert m.fit_transform(3) == 6
    with pytest.raises(ValueError, match="Invalid parameter 'c'"):
        m.set_params(c=1)
    assert issubclass(_base._MiniNotFittedError, ValueError)


def test_works_without_scikit_learn():
    """scikit-learn stays optional: with it unimportable, PatchFeatures uses the stand-in base."""
    import subprocess
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import numpy as np\n"
        "from im2col_nb.features import PatchFeatures, _base\n"
        "assert not _base.HAVE_SKLEARN\n"
        "x = np.random.default_rng(0).random((6, 9, 9)) * 255\n"
        "pf = PatchFeatures(n_clusters=4, patch_size=3, random_state=0)\n"
        "f = pf.fit_transform(x)\n"
        "assert f.shape == (6, 16) and (f >= 0).all()\n"
        "assert pf.set_params(n_clusters=3).get_params()['n_clusters'] == 3\n"
        "assert repr(pf) == 'PatchFeatures(n_clusters=3, patch_size=3, random_state=0)', repr(pf)\n"
        "try:\n"
        "    PatchFeatures().transform(x)\n"
        "except ValueError as e:\n"
        "    assert 'not fitted' in str(e)\n"
        "else:\n"
        "    raise AssertionError('no error before fit')\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


CHECK_CONFIGS = [
    dict(n_clusters=3, patch_size=1, normalize=False, pool_grid=1),
    dict(n_clusters=3, patch_size=1, normalize=False, whiten=False, encoder="soft_threshold", alpha=0.0,
         pool_grid=1, spherical=True),
    dict(n_clusters=2, patch_size=1, normalize=False, pool_grid=1, kmeans_batch_size=4, dtype="float64"),
]


@pytest.mark.parametrize("config", CHECK_CONFIGS)
def test_passes_sklearn_check_estimator(config):
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(PatchFeatures(random_state=0, **config), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 40


def test_filter_grid_and_plot(rng, tmp_path):
    filters = rng.normal(size=(10, 3, 4, 4))
    rgb = filter_grid(filters, n_cols=5)
    assert rgb.shape == (2 * 5 + 1, 5 * 5 + 1, 3) and rgb.min() >= 0 and rgb.max() <= 1
    tile = filters[7].transpose(1, 2, 0)
    np.testing.assert_allclose(rgb[6:10, 11:15], (tile - tile.min()) / (tile.max() - tile.min()))
    grey = filter_grid(np.zeros((3, 2, 2)), pad=0)               # flat filters: mid grey
    assert grey.shape == (4, 4)
    np.testing.assert_array_equal(grey[:2], 0.5)
    np.testing.assert_array_equal(grey[2:, :2], 0.5)
    np.testing.assert_array_equal(grey[2:, 2:], 1.0)             # the unused slot stays white
    with pytest.raises(ValueError, match="`filters` must be"):
        filter_grid(np.ones(5))
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    pf = PatchFeatures(n_clusters=4, patch_size=3, random_state=0).fit(images(rng, 4, None, 8, 8))
    ax = F.plot_filters(pf, title="centres", path=tmp_path / "f.png")
    assert ax.get_title() == "centres"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------
# measured on real data: scikit-learn's bundled digits
# ---------------------------------------------------------------------------

# The hyper-parameter grid the test searches by 3-fold cross-validation on the
# training split; the test split is used once, for the final score.
DIGITS_FEATURE_GRID = [dict(n_clusters=200, patch_size=4, pool_grid=2),
                       dict(n_clusters=200, patch_size=4, pool_grid=2, encoder="soft_threshold", alpha=0.25)]
DIGITS_C_GRID = [0.03, 0.1, 0.3, 1.0]


def _cv_select(make_features, X, y, grid, folds):
    """Best (feature config, C) by mean validation accuracy over the folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    best = (-1.0, None, None)
    for config in grid:
        scores = {C: [] for C in DIGITS_C_GRID}
        for train, val in folds:
            featurize = make_features(config)
            f_train = featurize.fit_transform(X[train])             # unsupervised: no labels
            f_val = featurize.transform(X[val])
            scaler = StandardScaler().fit(f_train)
            for C in DIGITS_C_GRID:
                clf = LogisticRegression(C=C, max_iter=3000).fit(scaler.transform(f_train), y[train])
                scores[C].append(clf.score(scaler.transform(f_val), y[val]))
        for C, s in scores.items():
            if np.mean(s) > best[0]:
                best = (float(np.mean(s)), config, C)
    return best


def test_digits_learned_features_beat_raw_pixels():
    pytest.importorskip("sklearn")
    # One thread for Numba and the BLAS: on a busy 2-core machine many small
    # multi-threaded GEMMs (k-means, logistic regression) can run 10x slower.
    with im2col_nb.threads(1):
        _digits_check()


def _digits_check():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    start = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X_train, y_train))

    def features(config):
        return PatchFeatures(image_shape=(8, 8), random_state=0, **config)

    def raw(config):
        return FunctionTransformer()

    cv_feat, config, c_feat = _cv_select(features, X_train, y_train, DIGITS_FEATURE_GRID, folds)
    cv_raw, _, c_raw = _cv_select(raw, X_train, y_train, [None], folds)

    learned = make_pipeline(features(config), StandardScaler(), LogisticRegression(C=c_feat, max_iter=3000))
    pixels = make_pipeline(StandardScaler(), LogisticRegression(C=c_raw, max_iter=3000))
    acc_feat = learned.fit(X_train, y_train).score(X_test, y_test)
    acc_raw = pixels.fit(X_train, y_train).score(X_test, y_test)
    elapsed = time.perf_counter() - start
    print(f"\ndigits: learned {acc_feat:.4f} (cv {cv_feat:.4f}, {config}, C={c_feat}) | "
          f"raw {acc_raw:.4f} (cv {cv_raw:.4f}, C={c_raw}) | {elapsed:.1f}s")
    assert acc_feat >= 0.985
    assert acc_feat - acc_raw >= 0.015


# ---------------------------------------------------------------------------
# docs/examples/fashion_mnist_features.py: IDX reading, clean skip, a tiny run
# ---------------------------------------------------------------------------


def _demo():
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "examples", "fashion_mnist_features.py")
    spec = importlib.util.spec_from_file_location("fashion_mnist_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_idx(path, array, gz):
    import gzip
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    data = bytes([0, 0, codes[array.dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes() \
        + array.tobytes()
    with (gzip.open if gz else open)(path, "wb") as fh:
        fh.write(data)


def test_demo_reads_idx_and_skips_cleanly(tmp_path, capsys):
    demo = _demo()
    images_u8 = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    for gz in (False, True):
        path = str(tmp_path / f"a{gz}.idx{'.gz' if gz else ''}")
        _write_idx(path, images_u8, gz)
        np.testing.assert_array_equal(demo.read_idx(path), images_u8)
    floats = np.arange(6, dtype=">f4").reshape(2, 3)
    _write_idx(str(tmp_path / "f.idx"), floats, False)
    np.testing.assert_array_equal(demo.read_idx(str(tmp_path / "f.idx")), floats)
    assert demo.load_fashion_mnist(str(tmp_path)) is None
    assert demo.main(["--data", str(tmp_path / "missing")]) == 0
    assert "skipping" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::UserWarning")      # lbfgs convergence on the fake data
def test_demo_runs_end_to_end_on_a_tiny_fake_dataset(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    for stem, n in (("train", 120), ("t10k", 40)):
        labels = np.arange(n, dtype=np.uint8) % 10
        imgs = (rng.random((n, 28, 28)) * 60 + labels[:, None, None] * 19).astype(np.uint8)
        _write_idx(str(tmp_path / f"{stem}-images-idx3-ubyte.gz"), imgs, True)
        _write_idx(str(tmp_path / f"{stem}-labels-idx1-ubyte"), labels, False)
    out = tmp_path / "r.json"
    demo = _demo()
    assert demo.main(["--data", str(tmp_path), "--clusters", "8", "--n-patches", "3000", "--max-iter", "3",
                      "--c", "0.1", "--pool-grid", "2", "--threads", "1",
                      "--filters", str(tmp_path / "f.png"), "--json", str(out)]) == 0
    import json
    result = json.loads(out.read_text())
    assert result["n_features"] == 8 * 4 and result["n_train"] == 120
    assert 0 <= result["acc_features"] <= 1 and "acc_sklearn_features" in result
    assert result["time_features_sklearn"] > 0
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
