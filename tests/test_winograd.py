"""Winograd F(m x m, 3 x 3): against the naive loops, its error bound, inf and
NaN, the plan's modes, the choice, the input gradient, and bad input."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import im2col_nb as nb
from im2col_nb._core import winograd as core
from im2col_nb._engine import conv_winograd as wino
from im2col_nb._engine import registry
from im2col_nb._engine.registry import methods

import naive

WINOGRAD = ("winograd", "winograd2", "winograd4", "winograd6")


def bound(dtype, method):
    """The promised error bound of `method` in `dtype`, relative to max|ref|."""
    dtype = np.dtype(dtype)
    if method == "winograd":
        return max(wino.ERROR_BOUND[(dtype, m)] for m in wino.auto_tiles(dtype))
    return wino.ERROR_BOUND[(dtype, int(method[-1]))]


def check(got, want, dtype, method):
    scale = max(float(np.abs(want).max()), 1e-30)
    err = float(np.abs(got - want).max()) / scale
    assert err <= bound(dtype, method), (err, bound(dtype, method))


def to_nhwc(x):
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


# ---------------------------------------------------------------------------
# the transforms
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("m", core.TILE_SIZES)
def test_the_matrices_compute_the_correlation_exactly_in_one_and_two_dimensions(m):
    bt, g, at = core.matrices(m)
    rng = np.random.default_rng(m)
    d, k = rng.standard_normal(m + 2), rng.standard_normal(3)
    want = np.array([d[i:i + 3] @ k for i in range(m)])
    np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), want, rtol=1e-12, atol=1e-12)
    d2, k2 = rng.standard_normal((m + 2, m + 2)), rng.standard_normal((3, 3))
    want2 = np.array([[np.sum(d2[i:i + 3, j:j + 3] * k2) for j in range(m)] for i in range(m)])
    got2 = at @ ((g @ k2 @ g.T) * (bt @ d2 @ bt.T)) @ at.T
    np.testing.assert_allclose(got2, want2, rtol=1e-12, atol=1e-12)


def test_the_matrices_are_lavin_and_grays():
    bt, g, at = core.matrices(4)
    np.testing.assert_array_equal(bt[0], [4, 0, -5, 0, 1, 0])
    np.testing.assert_array_equal(at[3], [0, 1, -1, 8, -8, 1])
    np.testing.assert_allclose(g[3], [1 / 24, 1 / 12, 1 / 6])
    assert not core.matrices(2)[0].flags.writeable


# ---------------------------------------------------------------------------
# against the naive loops
# ---------------------------------------------------------------------------


@st.composite
def winograd_problems(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c = groups * draw(st.integers(1, 4))
    f = groups * draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["int", "pair", "pairs", "same", "valid"]))
    top, bottom, left, right = (draw(st.integers(0, 4)) for _ in range(4))
    padding = {"int": top, "pair": (top, left), "pairs": ((top, bottom), (left, right)),
               "same": "same", "valid": "valid"}[kind]
    pads = naive.resolve_padding(padding, (3, 3), (1, 1))
    h = max(1, 3 - pads[0] - pads[1]) + draw(st.integers(0, 13))
    w = max(1, 3 - pads[2] - pads[3]) + draw(st.integers(0, 13))
    return dict(shape=(draw(st.integers(1, 3)), c, h, w), wshape=(f, c // groups, 3, 3),
                padding=padding, groups=groups, bias=draw(st.booleans()),
                method=draw(st.sampled_from(WINOGRAD)),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                layout=draw(st.sampled_from(["NCHW", "NHWC"])),
                seed=draw(st.integers(0, 2**16)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=winograd_problems())
def test_every_tile_size_matches_the_naive_loops(backend, p):
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal(p["shape"]).astype(p["dtype"])
    w = rng.standard_normal(p["wshape"]).astype(p["dtype"])
    b = rng.standard_normal(p["wshape"][0]).astype(p["dtype"]) if p["bias"] else None
    want = naive.conv2d(x, w, b, padding=p["padding"], groups=p["groups"])
    xl = x if p["layout"] == "NCHW" else to_nhwc(x)
    got = nb.conv2d(xl, w, b, padding=p["padding"], groups=p["groups"], layout=p["layout"],
                    method=p["method"])
    assert got.dtype == p["dtype"]
    if p["layout"] == "NHWC":
        got = np.moveaxis(got, -1, 1)
    check(got, want, p["dtype"], p["method"])


@pytest.mark.parametrize("method", WINOGRAD)
def test_unbatched_2d_and_odd_layouts_give_the_right_answer_and_leave_inputs_alone(backend, method):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 9, 10, 11))[:2, ::2, :, ::-1]   # sliced, reversed
    w = np.asfortranarray(rng.standard_normal((4, 5, 3, 3)))
    b = rng.standard_normal(4)
    saved = (x.copy(), w.copy(), b.copy())
    check(nb.conv2d(x, w, b, padding=1, method=method), naive.conv2d(x, w, b, padding=1),
          np.float64, method)
    check(nb.conv2d(x[0], w, b, padding=1, method=method), naive.conv2d(x[:1], w, b, padding=1)[0],
          np.float64, method)
    image, kernel = x[0, 0], w[0, 0]
    check(nb.conv2d(image, kernel, method=method),
          naive.conv2d(image[None, None], kernel[None, None])[0, 0], np.float64, method)
    for before, after in zip(saved, (x, w, b)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("chunk_tiles", [1, 7, 10**6])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_many_chunks_one_chunk_and_partial_chunks_agree(monkeypatch, layout, chunk_tiles):
    # a small CHUNK_TILES gives many chunks (NCHW: one row of tiles each,
    # or two with a partial last one); a huge one a chunk per worker
    monkeypatch.setattr(wino, "CHUNK_TILES", chunk_tiles)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 23, 17)).astype(np.float32)
    w = rng.standard_normal((5, 6, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    want = naive.conv2d(x, w, b, padding=((2, 0), (1, 3)))
    xl = x if layout == "NCHW" else to_nhwc(x)
    for m in (2, 4, 6):
        got = nb.conv2d(xl, w, b, padding=((2, 0), (1, 3)), layout=layout,
                        method=f"winograd{m}", max_workspace_bytes=2**30)
        check(got if layout == "NCHW" else np.moveaxis(got, -1, 1), want, np.float32,
              f"winograd{m}")


def test_a_small_budget_shrinks_the_chunks_and_a_tiny_one_is_refused():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 40, 40)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    want = naive.conv2d(x, w, padding=1)
    got = nb.conv2d(x, w, padding=1, method="winograd4", max_workspace_bytes=200_000)
    check(got, want, np.float32, "winograd4")
    plan = nb.explain("conv2d", x, w, padding=1, method="winograd4",
                      max_workspace_bytes=200_000).plan
    assert "F(4x4, 3x3)" in plan
    with pytest.raises(ValueError, match="cannot run this conv2d: one row of tiles"):
        nb.conv2d(x, w, padding=1, method="winograd4", max_workspace_bytes=1000)


# ---------------------------------------------------------------------------
# accuracy: the bounds promised in ERROR_BOUND
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [16, 64, 256, 512])
def test_the_error_stays_within_the_promised_bound(dtype, channels):
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((1, channels, 12, 12)).astype(dtype)
    w = (rng.standard_normal((8, channels, 3, 3)) * np.sqrt(2 / (9 * channels))).astype(dtype)
    want = naive.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1)
    for m in core.TILE_SIZES:
        got = nb.conv2d(x, w, padding=1, method=f"winograd{m}")
        check(got, want, dtype, f"winograd{m}")


def test_auto_never_picks_a_tile_size_beyond_the_dtypes_bound():
    assert wino.auto_tiles(np.float32) == (2, 4)
    assert wino.auto_tiles(np.float64) == (2, 4, 6)
    x = np.zeros((8, 256, 14, 14), np.float32)
    w = np.zeros((256, 256, 3, 3), np.float32)
    choice = nb.explain("conv2d", x, w, padding=1)
    assert choice.method != "winograd6"
    six = next(c for c in choice.candidates if c.name == "winograd6")
    assert six.supported and "rounding error bound" in six.skipped
    assert "not for auto" in str(choice)
    forced = nb.explain("conv2d", x, w, padding=1, method="winograd6")
    assert forced.method == "winograd6"


# ---------------------------------------------------------------------------
# inf and NaN: the transforms would spread them; the call falls back
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["input", "weight"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_inf_and_nan_give_what_im2col_gives(backend, where, layout):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 11, 13))
    w = rng.standard_normal((4, 3, 3, 3))
    if where == "input":
        x[0, 1, 4, 5], x[1, 2, 0, 0] = np.inf, np.nan
    else:
        w[1, 2, 0, 1] = -np.inf
    xl = x if layout == "NCHW" else to_nhwc(x)
    want = nb.conv2d(xl, w, padding=1, layout=layout, method="im2col")
    for method in WINOGRAD:
        got = nb.conv2d(xl, w, padding=1, layout=layout, method=method)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------
# the choice, the input gradient, complex, bad input
# ---------------------------------------------------------------------------


def test_every_winograd_method_is_registered_and_explained():
    names = [m.name for m in methods("conv2d")]
    assert all(name in names for name in WINOGRAD)
    x, w = np.zeros((1, 4, 9, 9)), np.zeros((4, 4, 3, 3))
    for method in WINOGRAD:
        choice = nb.explain("conv2d", x, w, padding=1, method=method)
        assert choice.method == method and "3x3) tiles" in choice.plan


def test_auto_runs_winograd_where_its_estimate_wins():
    x = np.zeros((8, 64, 56, 56), np.float32)
    w = np.zeros((64, 64, 3, 3), np.float32)
    choice = nb.explain("conv2d", x, w, padding=1)
    assert choice.method.startswith("winograd"), str(choice)
    lenet = nb.explain("conv2d", np.zeros((8, 1, 28, 28), np.float32),
                       np.zeros((6, 1, 3, 3), np.float32))
    assert not lenet.method.startswith("winograd"), str(lenet)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_the_input_gradient_runs_through_winograd_by_the_full_correlation(monkeypatch, layout):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 12, 10))
    w = rng.standard_normal((6, 6, 3, 3))
    go = rng.standard_normal((2, 6, 12, 10))
    want = naive.conv2d_input_grad(x.shape, w, go, padding=1)
    ran = []
    original = wino.run_winograd

    def spy(*args, **kwargs):
        ran.append(args[6])  # the tile size
        return original(*args, **kwargs)

    monkeypatch.setattr(wino, "run_winograd", spy)
    # every method choice cached so far was made with the real estimates;
    # the ones made here must not outlive the test
    registry._choose_cached.cache_clear()
    monkeypatch.setattr(wino, "estimate", lambda problem, machine, m: 0.01 * m)
    monkeypatch.setattr(registry, "_choose_cached",
                        lambda op, problem, machine, method, tuning:
                        registry.choose(op, problem, machine, method))
    shape = x.shape if layout == "NCHW" else to_nhwc(x).shape
    gol = go if layout == "NCHW" else to_nhwc(go)
    got = nb.conv2d_input_grad(shape, w, gol, padding=1, layout=layout, method="full")
    assert ran, "the full correlation did not run through Winograd"
    check(got if layout == "NCHW" else np.moveaxis(got, -1, 1), want, np.float64, "winograd")


def test_complex_operands_run_through_the_real_winograd():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 3, 8, 8)) + 1j * rng.standard_normal((1, 3, 8, 8))
    w = rng.standard_normal((2, 3, 3, 3)) + 1j * rng.standard_normal((2, 3, 3, 3))
    want = nb.conv2d(x, w, padding=1, method="im2col")
    got = nb.conv2d(x, w, padding=1, method="winograd4")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs,weight,message", [
    (dict(stride=2), (4, 3, 3, 3), r"it needs stride 1, got stride \(2, 2\)"),
    (dict(dilation=2), (4, 3, 3, 3), r"it needs dilation 1, got dilation \(2, 2\)"),
    ({}, (4, 3, 5, 5), "it needs a 3x3 kernel, got 5x5"),
    ({}, (4, 3, 3, 1), "it needs a 3x3 kernel, got 3x1"),
])
@pytest.mark.parametrize("method", WINOGRAD)
def test_unsupported_problems_are_value_errors_naming_the_condition_and_the_methods_that_can(
        kwargs, weight, message, method):
    x, w = np.ones((1, 3, 9, 9)), np.ones(weight)
    with pytest.raises(ValueError, match=rf"`method`='{method}' cannot run this conv2d: "
                                         rf"{message}; methods that can: 'auto', 'im2col'"):
        nb.conv2d(x, w, padding=1, method=method, **kwargs)


def test_padding_modes_other_than_zeros_are_not_winograds():
    x, w = np.ones((1, 3, 9, 9)), np.ones((4, 3, 3, 3))
    with pytest.raises(ValueError, match="cannot run this conv2d"):
        nb.conv2d(x, w, padding=1, padding_mode="reflect", method="winograd")
