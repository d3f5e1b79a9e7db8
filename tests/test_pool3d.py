"""max_pool3d / avg_pool3d and their backward passes against the N-D oracle.

Every test that takes the `backend` fixture runs on the Numba and the NumPy
backend. The oracle (tests/naive.py, ``max_pool_nd`` / ``avg_pool_nd`` and
their backwards) follows PyTorch, which test_naive.py checks; a few tests
here also compare with torch directly when it is installed. Volumes are
tiny: the Numba instances also run uncompiled (NUMBA_DISABLE_JIT=1, marker
``nojit``) unless marked ``jit_only``.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import avg_pool3d, avg_pool3d_backward, max_pool3d, max_pool3d_backward

NAN = float("nan")
INF = float("inf")
LAYOUTS = ("NCDHW", "NDHWC")
HYP = settings(max_examples=40, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])


def to_last(a):
    return np.ascontiguousarray(np.moveaxis(a, -4, -1))


def from_last(a):
    return np.moveaxis(a, -1, -4)


def run_max(x, *args, layout="NCDHW", **kw):
    """max_pool3d(..., return_indices=True) on NCDHW data (NDHWC converted on
    the way in and out); also checks the values-only path agrees."""
    if layout == "NDHWC":
        out, idx = max_pool3d(to_last(x), *args, return_indices=True, layout="NDHWC", **kw)
        values = from_last(max_pool3d(to_last(x), *args, layout="NDHWC", **kw))
        out, idx = from_last(out), from_last(idx)
    else:
        out, idx = max_pool3d(x, *args, return_indices=True, **kw)
        values = max_pool3d(x, *args, **kw)
    np.testing.assert_array_equal(values, out)
    return out, idx


def run_avg(x, *args, layout="NCDHW", **kw):
    if layout == "NDHWC":
        return from_last(avg_pool3d(to_last(x), *args, layout="NDHWC", **kw))
    return avg_pool3d(x, *args, **kw)


def run_max_backward(g, idx, shape, layout):
    if layout == "NDHWC":
        shape = shape[:-4] + shape[-3:] + shape[-4:-3]
        return from_last(max_pool3d_backward(to_last(g), to_last(idx), shape, layout="NDHWC"))
    return max_pool3d_backward(g, idx, shape)


def run_avg_backward(g, shape, *args, layout="NCDHW"):
    if layout == "NDHWC":
        shape = shape[:-4] + shape[-3:] + shape[-4:-3]
        return from_last(avg_pool3d_backward(to_last(g), shape, *args, layout="NDHWC"))
    return avg_pool3d_backward(g, shape, *args)


# ---------------------------------------------------------------------------
# small fixed cases
# ---------------------------------------------------------------------------

CASES = [  # kernel, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    ((1, 3, 3), (1, 2, 2), (0, 1, 1), 1, False),
    (3, 2, 1, 1, True),
    ((2, 3, 2), (2, 1, 3), (1, 0, 1), (1, 2, 1), True),
    ((3,), (2,), (1,), (2,), False),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES)
def test_small_max_pool_matches_naive(backend, layout, case, rng):
    x = rng.integers(-3, 4, size=(2, 3, 5, 6, 7)).astype(np.float64)
    want, want_idx = naive.max_pool_nd(x, *case)
    out, idx = run_max(x, *case, layout=layout)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(idx, want_idx)
    g = rng.normal(size=want.shape)
    np.testing.assert_allclose(run_max_backward(g, idx, x.shape, layout),
                               naive.max_pool_nd_backward(g, want_idx, x.shape), atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", [c for c in CASES if c[3] == 1])
@pytest.mark.parametrize("cip, div", [(True, None), (False, None), (True, 2), (False, -3)])
def test_small_avg_pool_matches_naive(backend, layout, case, cip, div, rng):
    kernel, stride, padding, _, ceil = case
    args = (kernel, stride, padding, ceil, cip, div)
    x = rng.normal(size=(2, 3, 5, 6, 7))
    want = naive.avg_pool_nd(x, *args)
    np.testing.assert_allclose(run_avg(x, *args, layout=layout), want, atol=1e-12)
    g = rng.normal(size=want.shape)
    np.testing.assert_allclose(run_avg_backward(g, x.shape, *args, layout=layout),
                               naive.avg_pool_nd_backward(g, x.shape, *args), atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_and_unbatched(backend, layout, dtype, rng):
    x = rng.normal(size=(1, 2, 4, 5, 6)).astype(dtype)
    out, idx = run_max(x, 2, 1, layout=layout)
    assert out.dtype == dtype and idx.dtype == np.int64
    assert run_avg(x, 2, 1, layout=layout).dtype == dtype
    xs = to_last(x[0]) if layout == "NDHWC" else x[0]
    out1, idx1 = max_pool3d(xs, 2, 1, return_indices=True, layout=layout)
    out_b, idx_b = max_pool3d(xs[None], 2, 1, return_indices=True, layout=layout)
    np.testing.assert_array_equal(out1, out_b[0])
    np.testing.assert_array_equal(idx1, idx_b[0])
    avg1 = avg_pool3d(xs, 2, 1, 1, layout=layout)
    np.testing.assert_array_equal(avg1, avg_pool3d(xs[None], 2, 1, 1, layout=layout)[0])
    g = np.ones_like(out1)
    gx = max_pool3d_backward(g, idx1, xs.shape, layout=layout)
    assert gx.shape == xs.shape and gx.dtype == dtype
    np.testing.assert_array_equal(gx, max_pool3d_backward(g[None], idx1[None], (1,) + xs.shape,
                                                          layout=layout)[0])
    ga = avg_pool3d_backward(np.ones_like(avg1), xs.shape, 2, 1, 1, layout=layout)
    assert ga.shape == xs.shape and ga.dtype == dtype


def test_promotion_inputs_untouched_noncontiguous_and_empty_batch(backend, rng):
    xi = rng.integers(-5, 5, size=(1, 2, 4, 4, 4))
    assert max_pool3d(xi, 2).dtype == xi.dtype  # values picked: the dtype is kept
    assert avg_pool3d(xi.astype(np.float16), 2).dtype == np.float32
    x = rng.normal(size=(2, 3, 6, 8, 10))
    keep = x.copy()
    view = x[:, ::2, 1::, ::-2, ::2]          # strided, reversed
    want, want_idx = naive.max_pool_nd(view, 2)
    out, idx = max_pool3d(view, 2, return_indices=True)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(avg_pool3d(view, 2, 1, 1), naive.avg_pool_nd(view, 2, 1, 1),
                               atol=1e-12)
    g = np.asfortranarray(rng.normal(size=want.shape))
    max_pool3d_backward(g, idx, view.shape)
    np.testing.assert_array_equal(x, keep)
    empty = np.zeros((0, 2, 4, 4, 4))
    assert max_pool3d(empty, 2).shape == (0, 2, 2, 2, 2)
    out, idx = max_pool3d(empty, 2, return_indices=True)
    assert idx.shape == (0, 2, 2, 2, 2)
    assert avg_pool3d(empty, 2, layout="NDHWC").shape == (0, 1, 2, 2, 4)
    assert max_pool3d_backward(np.zeros(out.shape), idx, empty.shape).shape == empty.shape
    assert avg_pool3d_backward(np.zeros(out.shape), empty.shape, 2).shape == empty.shape


def test_stride_defaults_and_one_tuples(backend, rng):
    x = rng.normal(size=(1, 1, 6, 6, 6))
    np.testing.assert_array_equal(max_pool3d(x, 3), max_pool3d(x, (3, 3, 3), (3,), [0], (1,)))
    np.testing.assert_array_equal(avg_pool3d(x, 2, ()), avg_pool3d(x, 2, 2))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nan_inf_and_ties(backend, layout):
    x = np.zeros((1, 1, 2, 2, 3))
    x[0, 0, 0, 0, 1] = NAN               # a NaN wins over a larger number
    x[0, 0, 1, 1, 1] = 5.0
    x[0, 0, 1, 0, 2] = NAN               # ... and a later NaN replaces an earlier one
    x[0, 0, 1, 1, 2] = NAN
    out, idx = run_max(x, 2, 1, layout=layout)
    assert np.isnan(out).all()
    np.testing.assert_array_equal(idx.ravel(), [1, 11])
    ties = np.ones((1, 1, 2, 2, 2))      # ties keep the first in (d, h, w) order
    out, idx = run_max(ties, 2, layout=layout)
    assert idx.ravel().tolist() == [0]
    minus = np.full((1, 1, 3, 3, 3), -INF)  # all -inf with padding: the first real tap
    out, idx = run_max(minus, 3, 2, 1, layout=layout)
    assert (out == -INF).all()
    np.testing.assert_array_equal(idx.ravel(), naive.max_pool_nd(minus, 3, 2, 1)[1].ravel())
    assert idx.ravel().tolist() == [0, 1, 3, 4, 9, 10, 12, 13]
    inf = np.zeros((1, 1, 2, 2, 2))
    inf[0, 0, 1, 1, 1] = INF
    assert run_avg(inf, 2, layout=layout).ravel().tolist() == [INF]


def test_ceil_mode_overhang_counts(backend):
    # D=5, k=2, s=2, p=1, ceil: 4 windows along each axis, the last one
    # beyond the padding: count_include_pad divides by 1 there, not 2
    x = np.ones((1, 1, 5, 5, 5))
    out = avg_pool3d(x, 2, 2, 1, ceil_mode=True)
    assert out.shape == (1, 1, 3, 3, 3)
    np.testing.assert_allclose(out, naive.avg_pool_nd(x, 2, 2, 1, ceil_mode=True))
    out = avg_pool3d(x, 2, 2, 0, ceil_mode=True)
    assert out.shape == (1, 1, 3, 3, 3)
    np.testing.assert_allclose(out, 1.0)


def test_backward_accumulates_and_is_deterministic(backend, rng):
    x = rng.integers(0, 2, size=(2, 3, 5, 5, 5)).astype(np.float64)
    out, idx = max_pool3d(x, 3, 1, 1, return_indices=True)
    g = rng.normal(size=out.shape)
    first = max_pool3d_backward(g, idx, x.shape)
    np.testing.assert_allclose(first.sum(), g.sum())
    np.testing.assert_array_equal(first, max_pool3d_backward(g, idx, x.shape))
    a = avg_pool3d_backward(g, x.shape, 3, 1, 1)
    np.testing.assert_array_equal(a, avg_pool3d_backward(g, x.shape, 3, 1, 1))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_avg_backward_is_the_adjoint(backend, layout, rng):
    x = rng.normal(size=(1, 2, 5, 6, 7))
    args = ((2, 3, 2), (2, 1, 3), (1, 1, 0), True, False, None)
    y = run_avg(x, *args, layout=layout)
    g = rng.normal(size=y.shape)
    gx = run_avg_backward(g, x.shape, *args, layout=layout)
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * gx), rtol=1e-12)


# ---------------------------------------------------------------------------
# random configurations against the oracle
# ---------------------------------------------------------------------------


@st.composite
def pool_configs(draw, dilation=True):
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    cfg = dict(
        n=draw(st.integers(1, 2)), c=draw(st.integers(1, 3)),
        size=tuple(draw(st.integers(1, 6)) for _ in range(3)),
        k=k, s=tuple(draw(st.integers(1, 3)) for _ in range(3)),
        p=tuple(draw(st.integers(0, kk // 2)) for kk in k),
        d=tuple(draw(st.integers(1, 2)) for _ in range(3)) if dilation else (1, 1, 1),
        ceil=draw(st.booleans()),
        layout=draw(st.sampled_from(LAYOUTS)),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        unbatched=draw(st.booleans()),
    )
    for n, kk, s, p, d in zip(cfg["size"], k, cfg["s"], cfg["p"], cfg["d"]):
        assume(naive.pool_output_size(n, kk, s, p, d, cfg["ceil"]) >= 1)
    if cfg["unbatched"]:
        cfg["n"] = 1
    return cfg


def _squeeze(arr, cfg):
    return arr[0] if cfg["unbatched"] else arr


def _unsqueeze(arr, cfg):
    return arr[None] if cfg["unbatched"] else arr


@pytest.mark.jit_only
@HYP
@given(cfg=pool_configs(), seed=st.integers(0, 2**16))
def test_hypothesis_max_pool3d(backend, cfg, seed):
    rng = np.random.default_rng(seed)
    # small integers: plenty of ties, exact in float32; a few NaN
    x = rng.integers(-3, 4, size=(cfg["n"], cfg["c"]) + cfg["size"]).astype(cfg["dtype"])
    x[rng.random(x.shape) < 0.03] = NAN
    args = (cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"])
    try:
        want, want_idx = naive.max_pool_nd(x, *args)
    except ValueError:          # a dilated window with no input element
        with pytest.raises(ValueError, match="dilation"):
            max_pool3d(x, *args)
        return
    out, idx = run_max(_squeeze(x, cfg), *args, layout=cfg["layout"])
    out, idx = _unsqueeze(out, cfg), _unsqueeze(idx, cfg)
    assert out.dtype == cfg["dtype"]
    np.testing.assert_array_equal(out, want.astype(cfg["dtype"]))
    np.testing.assert_array_equal(idx, want_idx)
    g = rng.normal(size=want.shape).astype(cfg["dtype"])
    gx = _unsqueeze(run_max_backward(_squeeze(g, cfg), _squeeze(idx, cfg),
                                     _squeeze(x, cfg).shape, cfg["layout"]), cfg)
    assert gx.dtype == cfg["dtype"]
    rtol, atol = tolerance(cfg["dtype"])
    np.testing.assert_allclose(gx, naive.max_pool_nd_backward(g, want_idx, x.shape),
                               rtol=rtol, atol=atol)


@pytest.mark.jit_only
@HYP
@given(cfg=pool_configs(dilation=False), seed=st.integers(0, 2**16),
       cip=st.booleans(), div=st.sampled_from([None, None, 1, 3, -2]))
def test_hypothesis_avg_pool3d(backend, cfg, seed, cip, div):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(cfg["n"], cfg["c"]) + cfg["size"]).astype(cfg["dtype"])
    args = (cfg["k"], cfg["s"], cfg["p"], cfg["ceil"], cip, div)
    want = naive.avg_pool_nd(x, *args)
    rtol, atol = tolerance(cfg["dtype"])
    out = _unsqueeze(run_avg(_squeeze(x, cfg), *args, layout=cfg["layout"]), cfg)
    assert out.dtype == cfg["dtype"]
    np.testing.assert_allclose(out, want, rtol=rtol, atol=atol)
    g = rng.normal(size=want.shape).astype(cfg["dtype"])
    gx = _unsqueeze(run_avg_backward(_squeeze(g, cfg), _squeeze(x, cfg).shape, *args,
                                     layout=cfg["layout"]), cfg)
    assert gx.dtype == cfg["dtype"]
    np.testing.assert_allclose(gx, naive.avg_pool_nd_backward(g, x.shape, *args),
                               rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------


@pytest.mark.jit_only
@pytest.mark.parametrize("layout", LAYOUTS)
def test_matches_torch_forward_and_backward(backend, layout):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    x = rng.integers(-4, 5, size=(2, 3, 7, 9, 8)).astype(np.float32)
    x[rng.random(x.shape) < 0.02] = NAN
    for k, s, p, d, ceil in [(2, None, 0, 1, False), ((1, 3, 3), (1, 2, 2), (0, 1, 1), 1, False),
                             (3, 2, 1, 1, True), ((2, 3, 3), (1, 2, 3), (1, 1, 0), (2, 1, 2), True)]:
        xt = torch.tensor(x, requires_grad=True)
        ot, it = F.max_pool3d(xt, k, s, p, d, ceil, return_indices=True)
        out, idx = run_max(x, k, s, p, d, ceil, layout=layout)
        np.testing.assert_array_equal(out, ot.detach().numpy())
        np.testing.assert_array_equal(idx, it.numpy())
        g = rng.normal(size=out.shape).astype(np.float32)
        (want,) = torch.autograd.grad(ot, xt, torch.from_numpy(g))
        np.testing.assert_allclose(run_max_backward(g, idx, x.shape, layout), want.numpy(),
                                   rtol=1e-5, atol=1e-5)
        if d != 1:
            continue
        xn = np.nan_to_num(x)
        for cip, div in [(True, None), (False, None), (True, 3)]:
            xt = torch.tensor(xn, requires_grad=True)
            at = F.avg_pool3d(xt, k, s, p, ceil, cip, div)
            args = (k, s, p, ceil, cip, div)
            np.testing.assert_allclose(run_avg(xn, *args, layout=layout), at.detach().numpy(),
                                       rtol=1e-5, atol=1e-5)
            g = rng.normal(size=at.shape).astype(np.float32)
            (want,) = torch.autograd.grad(at, xt, torch.from_numpy(g))
            np.testing.assert_allclose(run_avg_backward(g, xn.shape, *args, layout=layout),
                                       want.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

X = np.zeros((1, 2, 8, 8, 8))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: max_pool3d(X, (2, 2)), ValueError,
     r"`kernel_size` must be an int or a tuple of 3 ints \(or 1 for every axis\), got 2 entries"),
    (lambda: max_pool3d(X, 2, (1, 2, 3, 4)), ValueError, r"`stride` must be .*3 ints.*got 4 entries"),
    (lambda: max_pool3d(X, 2, padding=[0, 1]), ValueError, r"`padding` must be .*got 2 entries"),
    (lambda: max_pool3d(X, 2, dilation=(1, 1)), ValueError, r"`dilation` must be .*got 2 entries"),
    (lambda: avg_pool3d(X, 2, stride=(1, 2)), ValueError, r"`stride` must be .*got 2 entries"),
    (lambda: max_pool3d(X, 0), ValueError, r"`kernel_size` must be positive"),
    (lambda: max_pool3d(X, 2, 0), ValueError, r"`stride` must be positive"),
    (lambda: max_pool3d(X, 2, padding=-1), ValueError, r"`padding` must be non-negative"),
    (lambda: max_pool3d(X, 2, padding=2), ValueError, r"`padding` must be at most half"),
    (lambda: max_pool3d(X, 2, dilation=0), ValueError, r"`dilation` must be positive"),
    (lambda: max_pool3d(X, 9), ValueError, r"larger than the padded input"),
    (lambda: max_pool3d(np.zeros((1, 1, 1, 1, 1)), 3, 10, 1, 5, True), ValueError,
     r"`dilation`.*no input element"),
    (lambda: max_pool3d(X, 2.0), TypeError, r"`kernel_size` must be an int"),
    (lambda: max_pool3d(X, 2, ceil_mode="yes"), TypeError, r"`ceil_mode` must be a bool"),
    (lambda: max_pool3d(X, 2, return_indices=None), TypeError, r"`return_indices` must be a bool"),
    (lambda: max_pool3d(X, 2, layout="NCHW"), ValueError, r"`layout` must be 'NCDHW' or 'NDHWC'"),
    (lambda: max_pool3d(np.zeros((8, 8, 8)), 2), ValueError,
     r"`input` must be 4-D \(C, D, H, W\) or 5-D \(N, C, D, H, W\), got an array of shape \(8, 8, 8\)"),
    (lambda: avg_pool3d(np.zeros((8, 8, 8)), 2, layout="NDHWC"), ValueError,
     r"`input` must be 4-D \(D, H, W, C\) or 5-D \(N, D, H, W, C\)"),
    (lambda: max_pool3d(np.zeros((1, 0, 8, 8, 8)), 2), ValueError, r"`input` must have non-empty"),
    (lambda: max_pool3d(np.zeros((1, 8, 8, 8, 0)), 2, layout="NDHWC"), ValueError, r"non-empty"),
    (lambda: max_pool3d(X.astype(complex), 2), TypeError, r"`input` must hold real numbers"),
    (lambda: avg_pool3d(X, 2, divisor_override=0), ValueError, r"`divisor_override` must not be zero"),
    (lambda: avg_pool3d(X, 2, divisor_override=1.5), TypeError, r"`divisor_override` must be None or an int"),
    (lambda: avg_pool3d(X, 2, count_include_pad="no"), TypeError, r"`count_include_pad` must be a bool"),
])
def test_bad_forward_input(backend, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


G = np.zeros((1, 2, 4, 4, 4))
IDX = np.zeros((1, 2, 4, 4, 4), dtype=np.int64)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: max_pool3d_backward(G, IDX[..., :3], X.shape), ValueError,
     r"`indices` must have the shape of `grad_output` \(1, 2, 4, 4, 4\), got \(1, 2, 4, 4, 3\)"),
    (lambda: max_pool3d_backward(G, IDX - 1, X.shape), ValueError,
     r"`indices` must lie in \[0, D\*H\*W\) = \[0, 512\).*got -1"),
    (lambda: max_pool3d_backward(G, IDX + 512, X.shape), ValueError, r"`indices` must lie in.*got 512"),
    (lambda: max_pool3d_backward(G, IDX.astype(float), X.shape), TypeError, r"`indices` must hold integers"),
    (lambda: max_pool3d_backward(G, IDX, (1, 3, 8, 8, 8)), ValueError,
     r"`grad_output` of shape .* does not match `input_shape`"),
    (lambda: max_pool3d_backward(G, IDX, (2, 8, 8, 8)), ValueError, r"`input_shape` must have 5 entries"),
    (lambda: max_pool3d_backward(G, IDX, (1, 2, 8.0, 8, 8)), TypeError,
     r"`input_shape` must be a sequence of ints"),
    (lambda: max_pool3d_backward(G, IDX, (1, 2, 0, 8, 8)), ValueError, r"`input_shape` must have non-empty"),
    (lambda: max_pool3d_backward(G[0, 0], IDX[0, 0], (8, 8, 8)), ValueError, r"`grad_output` must be 4-D"),
    (lambda: max_pool3d_backward(G, IDX, X.shape, layout="NHWC"), ValueError, r"`layout` must be"),
    (lambda: avg_pool3d_backward(G, X.shape, 3), ValueError,
     r"`grad_output` must have shape \(1, 2, 2, 2, 2\) .*got \(1, 2, 4, 4, 4\)"),
    (lambda: avg_pool3d_backward(G, X.shape, (2, 2)), ValueError, r"`kernel_size` must be .*got 2 entries"),
    (lambda: avg_pool3d_backward(G, X.shape, 2, padding=2), ValueError, r"`padding` must be at most half"),
    (lambda: avg_pool3d_backward(G, X.shape, 2, divisor_override=0), ValueError, r"`divisor_override`"),
])
def test_bad_backward_input(backend, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_validation_runs_before_any_kernel(monkeypatch):
    """Bad arguments never reach a backend."""
    import im2col_nb.pooling3d as pooling3d

    class Exploding:
        def __getattr__(self, name):
            raise AssertionError(f"backend.{name} called")

    monkeypatch.setattr(pooling3d, "backend_module", lambda: Exploding())
    with pytest.raises(ValueError, match="padding"):
        max_pool3d(X, 2, padding=2)
    with pytest.raises(ValueError, match="indices"):
        max_pool3d_backward(G, IDX + 1000, X.shape)
    with pytest.raises(AssertionError, match="backend.max_pool_nd called"):
        max_pool3d(X, 2)
    with pytest.raises(AssertionError, match="backend.avg_pool_nd_backward called"):
        avg_pool3d_backward(G, X.shape, 2)


def test_exported():
    for name in ("max_pool3d", "avg_pool3d", "max_pool3d_backward", "avg_pool3d_backward"):
        assert name in im2col_nb.__all__
