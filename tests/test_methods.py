"""conv2d's methods: each forced one matches the reference, `auto` picks as
documented, unknown or unsupported methods are clear errors, `explain` says
what runs without running it."""

import numpy as np
import pytest

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import conv2d, explain

METHODS = ("im2col", "pointwise", "shift", "direct")

# (x shape, w shape, geometry, layouts) covering every method's support
CASES = [
    ((2, 5, 9, 8), (4, 5, 3, 3), dict(padding=1)),
    ((2, 6, 7, 7), (6, 3, 3, 2), dict(stride=2, padding=(1, 0), groups=2)),
    ((3, 4, 6, 5), (7, 4, 1, 1), dict()),
    ((1, 3, 10, 9), (2, 3, 3, 3), dict(padding="same", dilation=2)),
    ((2, 8, 5, 6), (3, 8, 2, 3), dict(padding="valid")),
]


def _supported(method, x_shape, w_shape, geo):
    stride = geo.get("stride", 1)
    pad = geo.get("padding", 0)
    if method == "pointwise":
        return w_shape[2:] == (1, 1) and stride == 1 and pad in (0, "valid")
    if method == "shift":
        return (stride == 1 and geo.get("groups", 1) == 1 and w_shape[2:] != (1, 1)
                and im2col_nb.get_backend() == "numba"
                and explain("conv2d", np.zeros(x_shape), np.zeros(w_shape), **geo)
                .candidates[2].supported)
    return True


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("i", range(len(CASES)))
def test_each_forced_method_matches_naive(backend, layout, method, i):
    x_shape, w_shape, geo = CASES[i]
    rng = np.random.default_rng(i)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    want = naive.conv2d(x, w, b, **geo)
    if not _supported(method, x_shape, w_shape, geo):
        with pytest.raises(ValueError, match=f"`method`='{method}' cannot run this conv2d"):
            conv2d(x, w, b, method=method, **geo)
        return
    for dtype in (np.float32, np.float64):
        xin = x.astype(dtype)
        if layout == "NHWC":
            xin = np.ascontiguousarray(xin.transpose(0, 2, 3, 1))
        got = conv2d(xin, w.astype(dtype), b.astype(dtype), layout=layout, method=method, **geo)
        if layout == "NHWC":
            got = got.transpose(0, 3, 1, 2)
        np.testing.assert_allclose(got, want, *tolerance(dtype))
        assert explain("conv2d", xin, w.astype(dtype), b, layout=layout, method=method,
                       **geo).method == method


def test_auto_picks_pointwise_shift_and_im2col_where_documented():
    if im2col_nb.get_backend() != "numba" or explain(
            "conv2d", np.zeros((8, 64, 56, 56), np.float32),
            np.zeros((64, 64, 3, 3), np.float32), padding=1).machine.find("from Numba") < 0:
        pytest.skip("the shifted GEMMs need the Numba backend and NumPy's BLAS")
    x = np.zeros((8, 64, 56, 56), np.float32)
    assert explain("conv2d", x, np.zeros((64, 64, 5, 5), np.float32), padding=2).method == "shift"
    assert explain("conv2d", x, np.zeros((64, 64, 3, 3), np.float32),
                   padding=1).method.startswith("winograd")
    assert explain("conv2d", x, np.zeros((128, 64, 1, 1), np.float32)).method == "pointwise"
    assert explain("conv2d", x, np.zeros((128, 64, 3, 3), np.float32), stride=2).method == "im2col"
    # few channels (the fitted rule: shift needs >= 32) and tiny problems stay on im2col
    assert explain("conv2d", x[:, :3], np.zeros((64, 3, 3, 3), np.float32), padding=1).method == "im2col"
    assert explain("conv2d", x[:1, :, :8, :8], np.zeros((64, 64, 3, 3), np.float32)).method == "im2col"
    # a budget too small for one row of shifted GEMMs: auto falls back, forcing says why
    assert explain("conv2d", x, np.zeros((64, 64, 5, 5), np.float32), padding=2,
                   max_workspace_bytes=4096).method == "im2col"
    with pytest.raises(ValueError, match="exceeds the workspace budget"):
        conv2d(x, np.zeros((64, 64, 5, 5), np.float32), padding=2, method="shift",
               max_workspace_bytes=4096)


def test_direct_method_is_conv2d_direct():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_array_equal(conv2d(x, w, stride=2, method="direct"),
                                  im2col_nb.conv2d_direct(x, w, stride=2))
    assert explain(im2col_nb.conv2d_direct, x, w).method == "direct"


@pytest.mark.parametrize("method", ["fft", "winograd3", "", None, 3, "AUTO "])
def test_unknown_method_is_a_value_error_listing_the_methods(method):
    with pytest.raises(ValueError, match=r"`method` must be one of 'auto', 'im2col', 'pointwise', "
                                         r"'shift', 'winograd', 'winograd2', 'winograd4', "
                                         r"'winograd6', 'direct', got"):
        conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), method=method)


def test_method_names_are_case_insensitive_and_empty_problems_check_them():
    x, w = np.ones((0, 2, 4, 4)), np.ones((3, 2, 2, 2))
    assert conv2d(x, w, method="IM2COL").shape == (0, 3, 3, 3)
    with pytest.raises(ValueError, match="`method` must be one of"):
        conv2d(x, w, method="fast")


def test_explain_reports_every_candidate_and_the_machine():
    x, w = np.zeros((2, 3, 16, 16), np.float32), np.zeros((8, 3, 3, 3), np.float32)
    choice = explain("conv2d", x, w, stride=2)
    assert [c.name for c in choice.candidates] == ["im2col", "pointwise", "shift", "winograd",
                                                   "winograd2", "winograd4", "winograd6", "direct"]
    pointwise = choice.candidates[1]
    assert not pointwise.supported and "1x1" in pointwise.reason and pointwise.estimate is None
    assert choice.method == min((c for c in choice.candidates if c.supported),
                                key=lambda c: c.estimate).name
    text = str(choice)
    assert "<- runs" in text and "thread" in choice.machine and choice.requested == "auto"
    assert "2 x 3 ch 16x16 (NCHW, float32) * 8 filters 3x3, stride (2, 2)" in choice.problem
    assert "tiles" in choice.plan


def test_explain_validates_like_the_call():
    with pytest.raises(ValueError, match="`op` must be one of 'conv2d', 'conv2d_direct'"):
        explain("conv4d", np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="`stride` must be positive"):
        explain("conv2d", np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=0)
    with pytest.raises(TypeError):
        explain("conv2d", np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), strides=2)
