"""max_pool2d / avg_pool2d and their backward passes against the oracle.

Every test that takes the `backend` fixture runs on the Numba and the NumPy
backend; the forward tests run both methods ("direct" and "im2col") and
check they agree exactly. The oracle (tests/naive.py) follows PyTorch,
which test_naive.py checks; a few tests here also compare with torch
directly when it is installed. The Numba instances are kept tiny: they also
run uncompiled (NUMBA_DISABLE_JIT=1, marker ``nojit``), unless marked
``jit_only``.
"""


import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from im2col_nb._engine import pool as _pool_engine

NAN = float("nan")
INF = float("inf")
METHODS = ("direct", "im2col")
LAYOUTS = ("NCHW", "NHWC")
HYP = settings(max_examples=30, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])


def to_nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, -3, -1))


def from_nhwc(a):
    return np.moveaxis(a, -1, -3)


def run_max(x, *args, layout="NCHW", method="direct", **kw):
    """max_pool2d(..., return_indices=True) on NCHW data; NHWC is converted
    on the way in and back on the way out. Also runs the values-only path
    (return_indices=False, separate kernel code) and checks it agrees."""
    if layout == "NHWC":
        out, idx = max_pool2d(to_nhwc(x), *args, return_indices=True, layout="NHWC",
                              method=method, **kw)
        out, idx = from_nhwc(out), from_nhwc(idx)
        values = from_nhwc(max_pool2d(to_nhwc(x), *args, layout="NHWC", method=method, **kw))
    else:
        out, idx = max_pool2d(x, *args, return_indices=True, method=method, **kw)
        values = max_pool2d(x, *args, method=method, **kw)
    np.testing.assert_array_equal(values, out)
    return out, idx


def run_avg(x, *args, layout="NCHW", method="direct", **kw):
    if layout == "NHWC":
        return from_nhwc(avg_pool2d(to_nhwc(x), *args, layout="NHWC", method=method, **kw))
    return avg_pool2d(x, *args, method=method, **kw)


def check_max(x, k, s, p, d, ceil, layout, method, dtype=np.float64):
    xd = np.asarray(x, dtype=dtype)
    want, want_idx = naive.max_pool2d(xd, k, s, p, d, ceil)
    got, idx = run_max(xd, k, s, p, d, ceil, layout=layout, method=method)
    assert got.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(got, want.astype(dtype))   # max is exact
    np.testing.assert_array_equal(idx, want_idx)
    return got, idx


# ---------------------------------------------------------------------------
# fixed cases
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_small_max_pool_matches_naive(backend, layout, method, rng):
    x = rng.normal(size=(2, 3, 7, 6))
    for k, s, p, d, ceil in [(2, None, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False),
                             ((3, 2), (2, 1), (1, 1), (1, 2), True), (1, 1, 0, 1, False)]:
        check_max(x, k, s, p, d, ceil, layout, method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_small_avg_pool_matches_naive(backend, layout, method, rng):
    x = rng.normal(size=(2, 3, 7, 6))
    for k, s, p, ceil in [(2, None, 0, False), (3, 2, 1, True), ((3, 2), (2, 1), (1, 1), True)]:
        for cip in (True, False):
            for div in (None, 1, 7, -2):
                want = naive.avg_pool2d(x, k, s, p, ceil, cip, div)
                got = run_avg(x, k, s, p, ceil, cip, div, layout=layout, method=method)
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_dtypes(backend, layout, dtype, rng):
    x = rng.normal(size=(2, 4, 9, 9)).astype(dtype)
    for method in METHODS:
        check_max(x, 3, 2, 1, 1, True, layout, method, dtype)
        got = run_avg(x, 3, 2, 1, True, False, layout=layout, method=method)
        assert got.dtype == dtype
        rtol, atol = tolerance(dtype)
        np.testing.assert_allclose(got, naive.avg_pool2d(x, 3, 2, 1, True, False), rtol=rtol, atol=atol)


def test_promotion_and_inputs_untouched(backend, rng):
    xi = rng.integers(-5, 5, size=(1, 2, 6, 6))
    assert max_pool2d(xi, 2).dtype == xi.dtype  # values picked: the dtype is kept
    assert avg_pool2d(xi, 2).dtype == np.float64  # values divided: float
    assert avg_pool2d(xi.astype(np.float16), 2).dtype == np.float32
    x = rng.normal(size=(2, 3, 8, 8))
    before = x.copy()
    x.setflags(write=False)
    max_pool2d(x, 3, 2, 1, return_indices=True, method="im2col")
    avg_pool2d(x, 3, 2, 1, method="im2col")
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unbatched(backend, layout, rng):
    x = rng.normal(size=(3, 8, 7))
    xin = to_nhwc(x) if layout == "NHWC" else x
    for method in METHODS:
        out, idx = max_pool2d(xin, 3, 2, 1, return_indices=True, layout=layout, method=method)
        want, want_idx = naive.max_pool2d(x[None], 3, 2, 1)
        conv = from_nhwc if layout == "NHWC" else (lambda a: a)
        assert out.ndim == 3
        np.testing.assert_array_equal(conv(out), want[0])
        np.testing.assert_array_equal(conv(idx), want_idx[0])
        avg = avg_pool2d(xin, 2, layout=layout, method=method)
        np.testing.assert_allclose(conv(avg), naive.avg_pool2d(x[None], 2)[0], rtol=1e-12, atol=1e-12)
    g = rng.normal(size=out.shape)
    gx = max_pool2d_backward(g, idx, xin.shape, layout=layout)
    assert gx.shape == xin.shape
    g4 = from_nhwc(g) if layout == "NHWC" else g
    np.testing.assert_allclose(conv(gx), naive.max_pool2d_backward(g4[None], want_idx, (1,) + x.shape)[0])
    ga = rng.normal(size=avg.shape)
    gxa = avg_pool2d_backward(ga, xin.shape, 2, layout=layout)
    ga4 = from_nhwc(ga) if layout == "NHWC" else ga
    np.testing.assert_allclose(conv(gxa), naive.avg_pool2d_backward(ga4[None], (1,) + x.shape, 2)[0])


def test_noncontiguous_and_empty_batch(backend, rng):
    base = rng.normal(size=(8, 8, 3, 2))
    x = base.transpose(3, 2, 0, 1)[:, :, ::-1]         # (2, 3, 8, 8), negative strides
    check_max(x, 2, 1, 1, 1, False, "NCHW", "direct")
    check_max(x, 2, 1, 1, 1, False, "NCHW", "im2col")
    out, idx = max_pool2d(np.zeros((0, 3, 5, 5)), 2, return_indices=True)
    assert out.shape == idx.shape == (0, 3, 2, 2)
    assert avg_pool2d(np.zeros((0, 5, 5, 3)), 2, layout="NHWC", method="im2col").shape == (0, 2, 2, 3)
    assert max_pool2d_backward(out, idx, (0, 3, 5, 5)).shape == (0, 3, 5, 5)


def test_im2col_method_chunks_within_workspace(backend, rng):
    """A tiny workspace budget forces the im2col method to chunk over images
    and output rows; the result must not change."""
    x = rng.normal(size=(3, 4, 11, 10))
    old = im2col_nb.get_max_workspace_bytes()
    try:
        im2col_nb.set_max_workspace_bytes(4 * 9 * 5 * 8 * 2)    # two output rows of one image
        for layout in LAYOUTS:
            check_max(x, 3, 2, 1, 1, True, layout, "im2col")
            got = run_avg(x, 3, 2, 1, True, False, 3, layout=layout, method="im2col")
            np.testing.assert_allclose(got, naive.avg_pool2d(x, 3, 2, 1, True, False, 3), rtol=1e-12)
    finally:
        im2col_nb.set_max_workspace_bytes(old)


def test_stride_defaults_to_kernel_size(backend, rng):
    x = rng.normal(size=(1, 2, 7, 7))
    for stride in (None, (), []):          # PyTorch treats an empty stride as None
        np.testing.assert_array_equal(max_pool2d(x, 3, stride), max_pool2d(x, 3, 3))
        np.testing.assert_array_equal(avg_pool2d(x, (2, 3), stride), avg_pool2d(x, (2, 3), (2, 3)))


def test_default_method_is_documented_choice():
    x = np.random.default_rng(1).normal(size=(1, 2, 6, 6))
    for op in (max_pool2d, avg_pool2d):
        for method in (None, "auto"):     # the documented default: 'direct'
            assert im2col_nb.explain(op, x, 2, method=method).method == "direct"
    np.testing.assert_array_equal(max_pool2d(x, 2), max_pool2d(x, 2, method="direct"))


# ---------------------------------------------------------------------------
# ceil_mode edge cases (PyTorch's "last window starts inside" rule)
# ---------------------------------------------------------------------------

# (H, k, s, p, d, OH floor, OH ceil, what happens)
CEIL_CASES = [
    (5, 2, 2, 1, 1, 3, 3, "ceil formula gives 4; the 4th window would start in the right padding: dropped"),
    (6, 3, 2, 1, 1, 3, 4, "ceil adds a window overhanging the padding"),
    (5, 2, 2, 0, 1, 2, 3, "ceil adds a window that holds only the last pixel"),
    (4, 2, 2, 1, 1, 3, 3, "exact division: ceil changes nothing"),
    (2, 1, 3, 0, 1, 1, 1, "ceil formula gives 2; the 2nd would start past the input: dropped"),
    (7, 3, 3, 1, 1, 3, 3, "exact with padding"),
    (7, 3, 3, 0, 1, 2, 3, "adds a window starting on the last pixel"),
    (8, 3, 3, 1, 1, 3, 3, "ceil formula gives 4, starting on the right padding: dropped"),
    (7, 3, 2, 0, 2, 2, 2, "dilated, exact"),
    (8, 3, 2, 0, 2, 2, 3, "dilated: ceil adds a window whose later taps overhang"),
    (3, 4, 2, 0, 1, None, 1, "window larger than the input: only ceil_mode gives an output"),
]


@pytest.mark.parametrize("case", CEIL_CASES, ids=[c[-1][:40] for c in CEIL_CASES])
def test_small_ceil_mode_edge_cases(backend, case):
    height, k, s, p, d, floor_out, ceil_out, _ = case
    x = np.arange(2.0 * height * (height + 1)).reshape(1, 2, height, height + 1) % 7.0
    for ceil, want_h in ((False, floor_out), (True, ceil_out)):
        if want_h is None:
            with pytest.raises(ValueError, match="kernel_size"):
                max_pool2d(x, k, s, p, d, ceil)
            continue
        if p > k // 2:
            continue
        for layout in LAYOUTS:
            for method in METHODS:
                got, _ = check_max(x, k, s, p, d, ceil, layout, method)
                assert got.shape[2] == want_h
                if d == 1:
                    want = naive.avg_pool2d(x, k, s, p, ceil)
                    got_avg = run_avg(x, k, s, p, ceil, layout=layout, method=method)
                    assert got_avg.shape[2] == want_h
                    np.testing.assert_allclose(got_avg, want, rtol=1e-12)


def test_ceil_mode_sizes_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for height, k, s, p, d, floor_out, ceil_out, _ in CEIL_CASES:
        xt = torch.zeros(1, 1, height, height)
        for ceil, want in ((False, floor_out), (True, ceil_out)):
            if want is None:
                with pytest.raises(RuntimeError):
                    F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil)
            else:
                assert F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil).shape[2] == want


def test_ceil_mode_last_window_contents(backend):
    # H=W=5, k=2, s=2, p=1, ceil: windows start at -1, 1, 3 -> rows {0}, {1,2}, {3,4}
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    out = max_pool2d(x, 2, 2, 1, ceil_mode=True)
    np.testing.assert_array_equal(out[0, 0], [[0, 2, 4], [10, 12, 14], [20, 22, 24]])
    # count_include_pad: the corner window counts its padding, the windows
    # at the far edge end inside the input
    avg = avg_pool2d(x, 2, 2, 1, ceil_mode=True)
    assert avg[0, 0, 0, 0] == 0 / 4 and avg[0, 0, 2, 2] == (18 + 19 + 23 + 24) / 4
    # H=6, k=3, s=2, p=1, ceil: the 4th window starts at 5 and overhangs past
    # the padding; count_include_pad counts only up to the padding (2 rows)
    x6 = np.ones((1, 1, 6, 6))
    avg6 = avg_pool2d(x6, 3, 2, 1, ceil_mode=True)
    assert avg6.shape == (1, 1, 4, 4)
    assert avg6[0, 0, 3, 3] == pytest.approx(1 / 4)      # 1 real pixel / (2*2)
    assert avg6[0, 0, 0, 0] == pytest.approx(4 / 9)
    np.testing.assert_array_equal(avg_pool2d(x6, 3, 2, 1, ceil_mode=True, count_include_pad=False), 1.0)


# ---------------------------------------------------------------------------
# NaN, infinities and ties
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_small_nan_inf_and_ties(backend, layout, method):
    def pool(x, *a, **kw):
        return run_max(np.asarray(x, dtype=np.float64)[None, None], *a, layout=layout,
                       method=method, **kw)

    out, idx = pool([[1.0, 3.0], [3.0, 2.0]], 2)                # tie: first in window order
    assert out[0, 0, 0, 0] == 3 and idx[0, 0, 0, 0] == 1
    out, idx = pool([[1.0, NAN], [4.0, 5.0]], 2)                # NaN beats larger numbers
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1
    out, idx = pool([[NAN, 1.0], [NAN, 2.0]], 2)                # the LAST NaN wins (PyTorch)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 2
    out, idx = pool([[INF, NAN], [INF, 2.0]], 2)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1
    out, idx = pool([[2.0, INF], [INF, 2.0]], 2)                # +inf tie: first
    assert out[0, 0, 0, 0] == INF and idx[0, 0, 0, 0] == 1
    out, idx = pool([[-1.0, -0.0], [0.0, -2.0]], 2)             # -0.0 == 0.0: first
    assert out[0, 0, 0, 0] == 0 and idx[0, 0, 0, 0] == 1
    out, idx = pool([[-INF, -INF], [-INF, -INF]], 2)            # all -inf, no padding: first
    assert out[0, 0, 0, 0] == -INF and idx[0, 0, 0, 0] == 0
    # all -inf with padding: padding is never selected, the first real tap is
    out, idx = pool(np.full((3, 3), -INF), 2, 1, 1)
    assert np.all(out == -INF)
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1, 2], [0, 0, 1, 2], [3, 3, 4, 5], [6, 6, 7, 8]])
    # negative values next to padding: padding acts as -inf, not 0
    out, idx = pool(-np.ones((2, 2)), 2, 1, 1)
    assert np.all(out == -1)
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])
    # and the oracle agrees on a random array sprinkled with NaN/inf/ties
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, size=(2, 2, 7, 7)).astype(float)
    x[rng.random(x.shape) < 0.1] = NAN
    x[rng.random(x.shape) < 0.05] = INF
    x[rng.random(x.shape) < 0.05] = -INF
    for k, s, p, d, ceil in [(3, 1, 1, 1, False), (2, 2, 1, 1, True), (3, 2, 1, 2, True)]:
        want, want_idx = naive.max_pool2d(x, k, s, p, d, ceil)
        got, idx = run_max(x, k, s, p, d, ceil, layout=layout, method=method)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(idx, want_idx)


def test_nan_and_ties_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(2, 3, 9, 8)).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = NAN
    x[rng.random(x.shape) < 0.05] = -INF
    for k, s, p, d, ceil in [(3, 1, 1, 1, False), (2, 2, 1, 1, True), (3, 2, 1, 2, True), ((2, 3), 1, (1, 0), 1, False)]:
        want, want_idx = F.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
        for method in METHODS:
            got, idx = max_pool2d(x, k, s, p, d, ceil, True, method=method)
            np.testing.assert_array_equal(got, want.numpy())
            np.testing.assert_array_equal(idx, want_idx.numpy())
            # channels-last: same values and the same per-plane flat indices
            goth, idxh = max_pool2d(to_nhwc(x), k, s, p, d, ceil, True, layout="NHWC", method=method)
            np.testing.assert_array_equal(from_nhwc(goth), want.numpy())
            np.testing.assert_array_equal(from_nhwc(idxh), want_idx.numpy())


# ---------------------------------------------------------------------------
# random configurations (hypothesis)
# ---------------------------------------------------------------------------


@st.composite
def pool_configs(draw, dilation=True):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    cfg = dict(
        n=draw(st.integers(1, 2)), c=draw(st.integers(1, 3)),
        h=draw(st.integers(1, 9)), w=draw(st.integers(1, 9)),
        k=(kh, kw), s=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
        p=(draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))),
        d=(draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1),
        ceil=draw(st.booleans()),
        layout=draw(st.sampled_from(LAYOUTS)),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
    )
    oh = naive.pool_output_size(cfg["h"], kh, cfg["s"][0], cfg["p"][0], cfg["d"][0], cfg["ceil"])
    ow = naive.pool_output_size(cfg["w"], kw, cfg["s"][1], cfg["p"][1], cfg["d"][1], cfg["ceil"])
    assume(oh >= 1 and ow >= 1)
    return cfg


def _draw_input(cfg, seed):
    rng = np.random.default_rng(seed)
    # small integers: plenty of ties, all exactly representable in float32
    x = rng.integers(-3, 4, size=(cfg["n"], cfg["c"], cfg["h"], cfg["w"])).astype(cfg["dtype"])
    x[rng.random(x.shape) < 0.03] = NAN
    return x


@pytest.mark.jit_only
@HYP
@given(cfg=pool_configs(), seed=st.integers(0, 2**16))
def test_hypothesis_max_pool(backend, cfg, seed):
    x = _draw_input(cfg, seed)
    args = (cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"])
    try:
        want, want_idx = naive.max_pool2d(x, *args)
    except ValueError:          # a dilated window with no input element
        with pytest.raises(ValueError, match="dilation"):
            max_pool2d(x, *args)
        return
    results = [run_max(x, *args, layout=cfg["layout"], method=m) for m in METHODS]
    for got, idx in results:
        np.testing.assert_array_equal(got, want.astype(cfg["dtype"]))
        np.testing.assert_array_equal(idx, want_idx)
    # backward: scatter-add of a random gradient at the chosen positions
    g = np.random.default_rng(seed + 1).normal(size=want.shape).astype(cfg["dtype"])
    idx = results[0][1]
    if cfg["layout"] == "NHWC":
        gx = from_nhwc(max_pool2d_backward(to_nhwc(g), to_nhwc(idx), to_nhwc(x).shape, layout="NHWC"))
    else:
        gx = max_pool2d_backward(g, idx, x.shape)
    assert gx.dtype == cfg["dtype"]
    rtol, atol = tolerance(cfg["dtype"])
    np.testing.assert_allclose(gx, naive.max_pool2d_backward(g, want_idx, x.shape), rtol=rtol, atol=atol)


@pytest.mark.jit_only
@HYP
@given(cfg=pool_configs(dilation=False), seed=st.integers(0, 2**16),
       cip=st.booleans(), div=st.sampled_from([None, None, 1, 3]))
def test_hypothesis_avg_pool(backend, cfg, seed, cip, div):
    x = np.random.default_rng(seed).normal(size=(cfg["n"], cfg["c"], cfg["h"], cfg["w"])).astype(cfg["dtype"])
    args = (cfg["k"], cfg["s"], cfg["p"], cfg["ceil"], cip, div)
    want = naive.avg_pool2d(x, *args)
    rtol, atol = tolerance(cfg["dtype"])
    got = [run_avg(x, *args, layout=cfg["layout"], method=m) for m in METHODS]
    for out in got:
        assert out.dtype == cfg["dtype"]
        np.testing.assert_allclose(out, want, rtol=rtol, atol=atol)
    np.testing.assert_allclose(got[0], got[1], rtol=rtol, atol=atol)
    g = np.random.default_rng(seed + 1).normal(size=want.shape).astype(cfg["dtype"])
    if cfg["layout"] == "NHWC":
        gx = from_nhwc(avg_pool2d_backward(to_nhwc(g), to_nhwc(x).shape, *args, layout="NHWC"))
    else:
        gx = avg_pool2d_backward(g, x.shape, *args)
    np.testing.assert_allclose(gx, naive.avg_pool2d_backward(g, x.shape, *args), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# gradients: finite differences, accumulation, determinism
# ---------------------------------------------------------------------------


def _finite_difference(f, x, g, n_probe, rng, eps):
    """Central differences of sum(f(x) * g) at `n_probe` random elements."""
    flat = rng.choice(x.size, size=n_probe, replace=False)
    result = []
    for i in flat:
        e = np.zeros(x.size)
        e[i] = eps
        e = e.reshape(x.shape)
        result.append((np.sum(f(x + e) * g) - np.sum(f(x - e) * g)) / (2 * eps))
    return flat, np.array(result)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_avg_pool_gradient_finite_differences(backend, layout, rng):
    x = rng.normal(size=(2, 3, 7, 8))
    xin = to_nhwc(x) if layout == "NHWC" else x
    for k, s, p, ceil, cip, div in [(3, 2, 1, True, True, None), (3, 1, 1, False, False, None),
                                    ((2, 3), (2, 1), (1, 1), True, True, 2)]:
        f = lambda a: avg_pool2d(a, k, s, p, ceil, cip, div, layout=layout)  # noqa: E731
        g = rng.normal(size=f(xin).shape)
        gx = avg_pool2d_backward(g, xin.shape, k, s, p, ceil, cip, div, layout=layout)
        flat, fd = _finite_difference(f, xin, g, 25, rng, 1e-4)
        np.testing.assert_allclose(gx.ravel()[flat], fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_max_pool_gradient_finite_differences(backend, layout, rng):
    # distinct, well separated values: no tie is within eps of changing
    x = rng.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8).astype(float) * 0.1
    xin = to_nhwc(x) if layout == "NHWC" else x
    for k, s, p, d, ceil in [(3, 2, 1, 1, True), (3, 1, 1, 1, False), (2, 1, 1, 2, False)]:
        f = lambda a: max_pool2d(a, k, s, p, d, ceil, layout=layout)  # noqa: E731
        out, idx = max_pool2d(xin, k, s, p, d, ceil, True, layout=layout)
        g = rng.normal(size=out.shape)
        gx = max_pool2d_backward(g, idx, xin.shape, layout=layout)
        flat, fd = _finite_difference(f, xin, g, 40, rng, 1e-3)
        np.testing.assert_allclose(gx.ravel()[flat], fd, rtol=1e-6, atol=1e-8)
        assert np.count_nonzero(gx) > 0


def test_backward_accumulates_and_is_deterministic(backend, rng):
    # stride 1, k=3: a dominant pixel wins 9 overlapping windows
    x = rng.normal(size=(4, 20, 9, 9))
    x[:, :, 4, 4] = 100.0
    for layout in LAYOUTS:
        xin = to_nhwc(x) if layout == "NHWC" else x
        out, idx = max_pool2d(xin, 3, 1, return_indices=True, layout=layout)
        g = np.ones_like(out)
        gx = max_pool2d_backward(g, idx, xin.shape, layout=layout)
        gx4 = from_nhwc(gx) if layout == "NHWC" else gx
        assert np.all(gx4[:, :, 4, 4] == 9.0)
        assert gx.sum() == pytest.approx(out.size)
        g = rng.normal(size=out.shape)
        first = max_pool2d_backward(g, idx, xin.shape, layout=layout)
        for _ in range(3):
            np.testing.assert_array_equal(max_pool2d_backward(g, idx, xin.shape, layout=layout), first)
        ga = avg_pool2d_backward(g, xin.shape, 3, 1, layout=layout)
        for _ in range(3):
            np.testing.assert_array_equal(avg_pool2d_backward(g, xin.shape, 3, 1, layout=layout), ga)


def test_sum_pooling_adjoint(backend, rng):
    """divisor_override=1 is sum pooling; its backward is its adjoint:
    <sum_pool(x), g> == <x, sum_pool_backward(g)>."""
    x = rng.normal(size=(2, 3, 9, 7))
    for k, s, p, ceil in [(2, 2, 0, False), (3, 2, 1, True), (4, 1, 2, False)]:
        y = avg_pool2d(x, k, s, p, ceil, divisor_override=1)
        g = rng.normal(size=y.shape)
        gx = avg_pool2d_backward(g, x.shape, k, s, p, ceil, divisor_override=1)
        assert np.sum(y * g) == pytest.approx(np.sum(x * gx), rel=1e-12)


def test_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3, 10, 9)).astype(np.float32)
    for k, s, p, d, ceil in [(3, 2, 1, 1, True), (2, 1, 1, 1, False), (3, 2, 1, 2, True)]:
        xt = torch.from_numpy(x.copy()).requires_grad_()
        yt = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil)
        g = rng.normal(size=tuple(yt.shape)).astype(np.float32)
        yt.backward(torch.from_numpy(g))
        y, idx = max_pool2d(x, k, s, p, d, ceil, True)
        np.testing.assert_array_equal(y, yt.detach().numpy())
        np.testing.assert_allclose(max_pool2d_backward(g, idx, x.shape), xt.grad.numpy(), rtol=1e-6, atol=1e-6)
        if d == 1:
            for cip, div in [(True, None), (False, None), (True, 1), (False, -3)]:
                xt = torch.from_numpy(x.copy()).requires_grad_()
                yt = F.avg_pool2d(xt, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
                yt.backward(torch.from_numpy(g))
                np.testing.assert_allclose(avg_pool2d(x, k, s, p, ceil, cip, div), yt.detach().numpy(),
                                           rtol=1e-6, atol=1e-6)
                np.testing.assert_allclose(avg_pool2d_backward(g, x.shape, k, s, p, ceil, cip, div),
                                           xt.grad.numpy(), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

X = np.zeros((1, 2, 8, 8))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: max_pool2d(X, 0), ValueError, r"`kernel_size` must be positive, got 0"),
    (lambda: max_pool2d(X, (2, -1)), ValueError, r"`kernel_size` must be positive"),
    (lambda: max_pool2d(X, 2, 0), ValueError, r"`stride` must be positive, got 0"),
    (lambda: max_pool2d(X, 2, 1, 0, 0), ValueError, r"`dilation` must be positive"),
    (lambda: max_pool2d(X, 2, 1, -1), ValueError, r"`padding` must be non-negative"),
    (lambda: max_pool2d(X, 3, 1, 2), ValueError, r"`padding` must be at most half of `kernel_size`.*\(2, 2\)"),
    (lambda: max_pool2d(X, 3, 1, 2, 2), ValueError, r"`padding` must be at most half"),
    (lambda: max_pool2d(X, 1, 1, 1), ValueError, r"`padding` must be at most half"),
    (lambda: avg_pool2d(X, 3, 1, 2), ValueError, r"`padding` must be at most half"),
    (lambda: max_pool2d(X, 9), ValueError, r"`kernel_size` \(9, 9\).*larger than the padded input"),
    (lambda: avg_pool2d(X, (2, 9)), ValueError, r"larger than the padded input"),
    (lambda: max_pool2d(X, 3, 1, 0, 4), ValueError, r"larger than the padded input"),
    (lambda: max_pool2d(np.zeros((1, 1, 1, 1)), 3, 10, 1, 5, True), ValueError, r"`dilation`.*no input element"),
    (lambda: max_pool2d(X, 2.0), TypeError, r"`kernel_size` must be an int"),
    (lambda: max_pool2d(X, 2, (1, 2, 3)), ValueError, r"`stride` must be an int or a pair"),
    (lambda: max_pool2d(X, 2, ceil_mode="yes"), TypeError, r"`ceil_mode` must be a bool"),
    (lambda: max_pool2d(X, 2, return_indices=None), TypeError, r"`return_indices` must be a bool"),
    (lambda: max_pool2d(X, 2, method="fft"), ValueError, r"`method` must be None or one of 'auto', 'direct', 'im2col', got 'fft'"),
    (lambda: max_pool2d(X, 2, layout="CHWN"), ValueError, r"`layout` must be 'NCHW' or 'NHWC'"),
    (lambda: max_pool2d(np.zeros((8, 8)), 2), ValueError, r"`input` must be 3-D \(C, H, W\) or 4-D"),
    (lambda: max_pool2d(np.zeros((1, 0, 8, 8)), 2), ValueError, r"`input` must have non-empty channel"),
    (lambda: max_pool2d(np.zeros((1, 8, 8, 0)), 2, layout="NHWC"), ValueError, r"non-empty channel"),
    (lambda: max_pool2d(np.zeros((1, 1, 4, 4), dtype=complex), 2), TypeError, r"`input` must hold real numbers"),
    (lambda: avg_pool2d(X, 2, divisor_override=0), ValueError, r"`divisor_override` must not be zero"),
    (lambda: avg_pool2d(X, 2, divisor_override=1.5), TypeError, r"`divisor_override` must be None or an int"),
    (lambda: avg_pool2d(X, 2, count_include_pad="no"), TypeError, r"`count_include_pad` must be a bool"),
    (lambda: avg_pool2d(X, 2, method=3), ValueError, r"`method` must be"),
])
def test_bad_forward_input(backend, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


G = np.zeros((1, 2, 4, 4))
IDX = np.zeros((1, 2, 4, 4), dtype=np.int64)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: max_pool2d_backward(G, IDX[..., :3], X.shape), ValueError,
     r"`indices` must have the shape of `grad_output` \(1, 2, 4, 4\), got \(1, 2, 4, 3\)"),
    (lambda: max_pool2d_backward(G, IDX - 1, X.shape), ValueError, r"`indices` must lie in \[0, H\*W\) = \[0, 64\).*got -1"),
    (lambda: max_pool2d_backward(G, IDX + 64, X.shape), ValueError, r"`indices` must lie in \[0, H\*W\).*got 64"),
    (lambda: max_pool2d_backward(G, IDX.astype(float), X.shape), TypeError, r"`indices` must hold integers"),
    (lambda: max_pool2d_backward(G, IDX, (1, 3, 8, 8)), ValueError, r"`grad_output` of shape .* does not match `input_shape`"),
    (lambda: max_pool2d_backward(G, IDX, (2, 8, 8)), ValueError, r"`input_shape` must have 4 entries"),
    (lambda: max_pool2d_backward(G, IDX, (1, 2, 8.0, 8)), TypeError, r"`input_shape` must be a sequence of ints"),
    (lambda: max_pool2d_backward(G, IDX, (1, 2, 0, 8)), ValueError, r"`input_shape` must have non-empty"),
    (lambda: max_pool2d_backward(G[0, 0], IDX[0, 0], (8, 8)), ValueError, r"`grad_output` must be 3-D"),
    (lambda: avg_pool2d_backward(G, X.shape, 3), ValueError,
     r"`grad_output` must have shape \(1, 2, 2, 2\) .*got \(1, 2, 4, 4\)"),
    (lambda: avg_pool2d_backward(G, X.shape, 2, padding=2), ValueError, r"`padding` must be at most half"),
    (lambda: avg_pool2d_backward(G, X.shape, 2, divisor_override=0), ValueError, r"`divisor_override`"),
    (lambda: avg_pool2d_backward(G, X.shape, 2, layout="nchw "), ValueError, r"`layout`"),
])
def test_bad_backward_input(backend, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_validation_runs_before_any_kernel(monkeypatch):
    """Bad arguments never reach a backend: a backend that raises on any
    call proves the ValueError comes from the wrapper."""
    class Exploding:
        def __getattr__(self, name):
            raise AssertionError(f"backend.{name} called")

    monkeypatch.setattr(_pool_engine, "backend_module", lambda: Exploding())
    with pytest.raises(ValueError, match="padding"):
        max_pool2d(X, 2, padding=2)
    with pytest.raises(ValueError, match="indices"):
        max_pool2d_backward(G, IDX + 100, X.shape)
    # the patched backend is the one the kernels are reached through
    with pytest.raises(AssertionError, match="backend.max_pool2d_direct called"):
        max_pool2d(X, 2)
    with pytest.raises(AssertionError, match="backend.avg_pool2d_backward called"):
        avg_pool2d_backward(G, X.shape, 2)
