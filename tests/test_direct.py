"""The direct methods: conv2d's register-blocked loops and the weight
gradient's dot products, against the naive references.

Forced with ``method="direct"`` on both backends (the Numba one also
uncompiled, `test_nojit`), over fuzzed shapes, strides, paddings (wider than
the kernel, asymmetric), dilations, groups (depthwise with and without a
channel multiplier), dtypes, layouts and odd input layouts; then what `auto`
does with them, and how inf and NaN pass through.
"""

import numpy as np
import pytest

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import conv2d, conv2d_weight_grad, explain
from im2col_nb._core.geometry import conv_geometry

DTYPES = (np.float32, np.float64)


def _case(rng):
    """Random (x shape, w shape, geometry kwargs) for the direct kernels:
    every pass size (1 to 81 taps), strides 1-3, dilation, padding wider
    than the kernel, groups and depthwise."""
    kind = rng.integers(4)
    groups = 1
    if kind == 0:        # depthwise, channel multiplier 1 or 2
        groups = int(rng.integers(1, 6))
        cg, fg = 1, int(rng.integers(1, 3))
    elif kind == 1:      # grouped
        groups = int(rng.integers(2, 4))
        cg, fg = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    else:                # few channels, up to 9x9 kernels
        cg, fg = int(rng.integers(1, 5)), int(rng.integers(1, 8))
    kh, kw = (int(v) for v in rng.integers(1, 10, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    dh, dw = (int(v) for v in rng.choice([1, 1, 2, 3], 2))
    pads = [int(v) for v in rng.integers(0, 6, 4)]
    h_min = max(1, dh * (kh - 1) + 1 - pads[0] - pads[1])
    w_min = max(1, dw * (kw - 1) + 1 - pads[2] - pads[3])
    h, w = int(rng.integers(h_min, h_min + 20)), int(rng.integers(w_min, w_min + 20))
    geo = dict(stride=(sh, sw), padding=((pads[0], pads[1]), (pads[2], pads[3])),
               dilation=(dh, dw), groups=groups)
    return (int(rng.integers(1, 4)), cg * groups, h, w), (fg * groups, cg, kh, kw), geo


def _naive_padding(geo):
    (top, bottom), (left, right) = geo["padding"]
    return dict(geo, padding=(top, bottom, left, right))


CASES = 40


@pytest.mark.parametrize("seed", range(CASES))
def test_forced_direct_matches_naive(backend, seed):
    rng = np.random.default_rng(1000 + seed)
    xs, ws, geo = _case(rng)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    want = naive.conv2d(x, w, b, **_naive_padding(geo))
    for dtype in DTYPES:
        xd, wd, bd = x.astype(dtype), w.astype(dtype), b.astype(dtype)
        got = conv2d(xd, wd, bd, method="direct", **geo)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, *tolerance(dtype))
        nhwc = conv2d(np.ascontiguousarray(xd.transpose(0, 2, 3, 1)), wd, None, layout="NHWC",
                      method="direct", **geo)
        np.testing.assert_allclose(nhwc.transpose(0, 3, 1, 2), want - b[:, None, None],
                                   *tolerance(dtype))


@pytest.mark.parametrize("seed", range(CASES))
def test_forced_direct_weight_grad_matches_naive(backend, seed):
    rng = np.random.default_rng(2000 + seed)
    xs, ws, geo = _case(rng)
    x = rng.standard_normal(xs)
    out = naive.conv2d(x, np.zeros(ws), None, **_naive_padding(geo)).shape
    go = rng.standard_normal(out)
    want = naive.conv2d_weight_grad(x, ws, go, **_naive_padding(geo))
    for dtype in DTYPES:
        got = conv2d_weight_grad(x.astype(dtype), ws, go.astype(dtype), method="direct", **geo)
        assert got.dtype == dtype and got.shape == ws
        np.testing.assert_allclose(got, want, *tolerance(dtype))
        nhwc = conv2d_weight_grad(np.ascontiguousarray(x.transpose(0, 2, 3, 1)).astype(dtype), ws,
                                  np.ascontiguousarray(go.transpose(0, 2, 3, 1)).astype(dtype),
                                  layout="NHWC", method="direct", **geo)
        np.testing.assert_allclose(nhwc, want, *tolerance(dtype))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_odd_input_layouts_give_the_right_answer_and_are_not_modified(backend, layout):
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3, 12, 20, 18)).astype(np.float32)
    x = base[::2, ::2, 1:-1:1, ::-1]            # strided, reversed: neither C nor F order
    w = np.asfortranarray(rng.standard_normal((6, 3, 3, 5)).astype(np.float32))
    go = rng.standard_normal((2, 6, 9, 6)).astype(np.float32)[:, :, :, ::-1]
    geo = dict(stride=(2, 3), padding=1, groups=2)
    before = (x.copy(), w.copy(), go.copy())
    want = naive.conv2d(x, w, None, **geo)
    want_gw = naive.conv2d_weight_grad(x, w.shape, go, **geo)
    if layout == "NHWC":
        got = conv2d(x.transpose(0, 2, 3, 1), w, layout="NHWC", method="direct", **geo)
        gw = conv2d_weight_grad(x.transpose(0, 2, 3, 1), w.shape, go.transpose(0, 2, 3, 1),
                                layout="NHWC", method="direct", **geo)
        got = got.transpose(0, 3, 1, 2)
    else:
        got = conv2d(x, w, method="direct", **geo)
        gw = conv2d_weight_grad(x, w.shape, go, method="direct", **geo)
    np.testing.assert_allclose(got, want, *tolerance(np.float32))
    np.testing.assert_allclose(gw, want_gw, *tolerance(np.float32))
    for a, b in zip((x, w, go), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_inputs_reach_exactly_the_outputs_they_touch(backend, bad):
    """inf or NaN in the input reaches the outputs (and the weight-gradient
    taps) that read it, as in the reference, and nothing else: the wide
    runs' extra columns must not spread it."""
    rng = np.random.default_rng(11)
    with np.errstate(invalid="ignore", over="ignore"):   # the NumPy backend's inf - inf
        for trial in range(12):
            x = rng.standard_normal((2, 2, 9, 11))
            for _ in range(2):
                x[tuple(rng.integers(0, s) for s in x.shape)] = bad
            k, s, p = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
            w = rng.standard_normal((3, 2, k, k))
            want = naive.conv2d(x, w, None, stride=s, padding=p)
            got = conv2d(x, w, stride=s, padding=p, method="direct")
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            finite = np.isfinite(want)
            np.testing.assert_allclose(got[finite], want[finite], *tolerance(np.float64))
            go = rng.standard_normal(want.shape)
            want_gw = naive.conv2d_weight_grad(x, w.shape, go, stride=s, padding=p)
            gw = conv2d_weight_grad(x, w.shape, go, stride=s, padding=p, method="direct")
            np.testing.assert_array_equal(np.isnan(gw), np.isnan(want_gw))
            finite = np.isfinite(want_gw)
            np.testing.assert_allclose(gw[finite], want_gw[finite], *tolerance(np.float64))


def test_weight_grad_is_deterministic():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 16, 40, 40)).astype(np.float32)
    go = rng.standard_normal((8, 16, 40, 40)).astype(np.float32)
    first = conv2d_weight_grad(x, (16, 1, 3, 3), go, padding=1, groups=16, method="direct")
    for _ in range(3):
        np.testing.assert_array_equal(
            conv2d_weight_grad(x, (16, 1, 3, 3), go, padding=1, groups=16, method="direct"), first)


@pytest.mark.parametrize("threads", [1, 2])
def test_many_tasks_and_threads(threads):
    """Bands cut so there are more tasks than threads, in both kernels."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 40, 21))
    w = rng.standard_normal((10, 3, 5, 3))
    with im2col_nb.threads(threads):
        got = conv2d(x, w, padding=(2, 1), groups=2, method="direct")
        go = rng.standard_normal(got.shape)
        gw = conv2d_weight_grad(x, w.shape, go, padding=(2, 1), groups=2, method="direct")
    np.testing.assert_allclose(got, naive.conv2d(x, w, None, padding=(2, 1), groups=2),
                               *tolerance(np.float64))
    np.testing.assert_allclose(gw, naive.conv2d_weight_grad(x, w.shape, go, padding=(2, 1), groups=2),
                               *tolerance(np.float64))


def test_auto_picks_direct_where_filters_per_group_are_few():
    if im2col_nb.get_backend() != "numba":
        pytest.skip("the direct loops are the NumPy backend's slowest method")
    f32 = np.float32
    dw = explain("conv2d", np.zeros((8, 32, 112, 112), f32), np.zeros((32, 1, 3, 3), f32),
                 padding=1, groups=32)
    assert dw.method == "direct" and "filter(s)" in dw.plan
    few = explain("conv2d", np.zeros((4, 16, 128, 128), f32), np.zeros((16, 16, 7, 7), f32),
                  padding=3)
    assert few.method == "direct"
    # many filters per group: a GEMM method
    assert explain("conv2d", np.zeros((8, 64, 56, 56), f32), np.zeros((64, 64, 3, 3), f32),
                   padding=1).method != "direct"
    candidate = {c.name: c for c in dw.candidates}["direct"]
    assert candidate.supported and 0 < candidate.estimate < 1.1


def test_narrow_vectors_make_direct_dearer():
    from im2col_nb._engine import conv_direct
    from im2col_nb._engine.machine import current_machine
    from im2col_nb._engine.problem import ConvProblem

    geom = conv_geometry((56, 56), 3, 1, 1, 1)
    problem = ConvProblem(8, 64, 64, (56, 56), geom, 64, np.dtype(np.float32), "NCHW", False)
    machine = current_machine(np.dtype(np.float32), 1 << 26)
    wide = conv_direct.estimate(problem, machine._replace(backend="numba", simd=512))
    narrow = conv_direct.estimate(problem, machine._replace(backend="numba", simd=256))
    assert narrow == pytest.approx(wide * conv_direct.NARROW_SIMD)
    assert conv_direct.estimate(problem, machine._replace(backend="numpy")) == \
        conv_direct.NUMPY_BACKEND


def test_pass_sizes_cover_every_tap_with_the_fewest_passes():
    from im2col_nb._kernels.numba.direct import pass_sizes

    for taps in range(1, 100):
        sizes = pass_sizes(taps)
        assert sizes.sum() == taps and set(sizes) <= {9, 3, 1}
        assert len(sizes) <= taps // 9 + 4
    assert list(pass_sizes(9)) == [9] and list(pass_sizes(25)) == [9, 9, 3, 3, 1]
