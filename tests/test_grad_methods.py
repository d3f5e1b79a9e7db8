"""The methods of conv2d's gradients and of conv_transpose2d: each forced one
matches the reference, ``auto`` picks as the drivers did before they were
methods, unknown or unsupported methods are clear errors, `explain` says
what runs without running it."""

import numpy as np
import pytest

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import (
    conv2d_backward,
    conv2d_input_grad,
    conv2d_weight_grad,
    conv_transpose2d,
    explain,
)
from im2col_nb._core.backend import backend_module
from im2col_nb._core.blas import gemm_function
from im2col_nb._core.geometry import Geometry
from im2col_nb._engine import plan as _plan

INPUT_METHODS = ("col2im", "full", "pointwise")
WEIGHT_METHODS = ("tiles", "im2col", "pointwise", "direct")
LAYOUTS = ("NCHW", "NHWC")
DTYPES = (np.float32, np.float64)

# (x shape, w shape, geometry): strides, padding, dilation, groups, 1x1
CASES = [
    ((2, 5, 9, 8), (4, 5, 3, 3), dict(padding=1)),
    ((2, 6, 7, 7), (6, 3, 3, 2), dict(stride=2, padding=(1, 0), groups=2)),
    ((3, 4, 6, 5), (7, 4, 1, 1), dict()),
    ((1, 3, 10, 9), (2, 3, 3, 3), dict(padding="same", dilation=2)),
    ((2, 8, 5, 6), (3, 8, 2, 3), dict(padding="valid")),
    ((2, 4, 6, 6), (6, 2, 3, 3), dict(padding=1, groups=2)),
    ((2, 3, 5, 5), (4, 3, 1, 1), dict(padding=1)),
    ((1, 2, 5, 5), (3, 2, 2, 2), dict(padding=2)),
    ((2, 4, 6, 6), (4, 2, 1, 1), dict(groups=2)),
]

# (x shape, w shape (C_in, F/groups, kh, kw), geometry) of conv_transpose2d
TRANSPOSE_CASES = [
    ((2, 4, 5, 5), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 6, 4, 5), (6, 2, 3, 2), dict(padding=(1, 0), groups=2)),
    ((1, 3, 4, 4), (3, 5, 1, 1), dict()),
    ((2, 4, 5, 4), (4, 2, 3, 3), dict(dilation=2, padding=2)),
    ((1, 2, 3, 3), (2, 3, 1, 1), dict(dilation=2, output_padding=1)),
    ((2, 2, 4, 4), (2, 3, 2, 2), dict(padding=2)),
]


def to_nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, -3, -1))


def to_nchw(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, -3))


def _pads(geo, w_shape):
    """Low padding per axis of a conv2d geometry (ints, pairs, 'same', 'valid')."""
    pad = geo.get("padding", 0)
    dil = geo.get("dilation", 1)
    dil = (dil, dil) if np.isscalar(dil) else dil
    if pad == "valid":
        return (0, 0)
    if pad == "same":
        return tuple(d * (k - 1) // 2 for d, k in zip(dil, w_shape[2:]))
    return (pad, pad) if np.isscalar(pad) else tuple(pad)


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def _input_supported(method, w_shape, geo):
    stride, pads = _pair(geo.get("stride", 1)), _pads(geo, w_shape)
    dil = _pair(geo.get("dilation", 1))
    if method == "pointwise":
        return w_shape[2:] == (1, 1) and stride == (1, 1) and pads == (0, 0)
    if method == "full":
        return stride == (1, 1) and all(p <= d * (k - 1) for p, d, k in zip(pads, dil, w_shape[2:]))
    return True


def _native(dtype):
    return im2col_nb.get_backend() == "numba" and gemm_function(np.dtype(dtype)) is not None


def _weight_supported(method, w_shape, geo, layout, dtype):
    if method == "pointwise":
        return _input_supported("pointwise", w_shape, geo)
    if method == "tiles":
        return layout == "NCHW" and _native(dtype)
    return True


# ---------------------------------------------------------------------------
# each forced method against the reference
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("method", INPUT_METHODS)
@pytest.mark.parametrize("i", range(len(CASES)))
def test_each_forced_input_grad_method_matches_naive(backend, layout, method, i):
    x_shape, w_shape, geo = CASES[i]
    rng = np.random.default_rng(i)
    w = rng.standard_normal(w_shape)
    go = rng.standard_normal(naive.conv2d(np.zeros(x_shape), w, **geo).shape)
    want = naive.conv2d_input_grad(x_shape, w, go, **geo)
    n, c, h, wd = x_shape
    shape, go_in = ((n, h, wd, c), to_nhwc(go)) if layout == "NHWC" else (x_shape, go)
    if not _input_supported(method, w_shape, geo):
        with pytest.raises(ValueError, match=f"`method`='{method}' cannot run this conv2d_input_grad"):
            conv2d_input_grad(shape, w, go_in, layout=layout, method=method, **geo)
        return
    for dtype in DTYPES:
        got = conv2d_input_grad(shape, w.astype(dtype), go_in.astype(dtype), layout=layout,
                                method=method, **geo)
        assert got.dtype == dtype
        np.testing.assert_allclose(to_nchw(got) if layout == "NHWC" else got, want, *tolerance(dtype))
        assert explain("conv2d_input_grad", shape, w.astype(dtype), go_in.astype(dtype),
                       layout=layout, method=method, **geo).method == method


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("method", WEIGHT_METHODS)
@pytest.mark.parametrize("i", range(len(CASES)))
def test_each_forced_weight_grad_method_matches_naive(backend, layout, method, i):
    x_shape, w_shape, geo = CASES[i]
    rng = np.random.default_rng(100 + i)
    x = rng.standard_normal(x_shape)
    go = rng.standard_normal(naive.conv2d(x, np.zeros(w_shape), **geo).shape)
    want = naive.conv2d_weight_grad(x, w_shape, go, **geo)
    x_in, go_in = (to_nhwc(x), to_nhwc(go)) if layout == "NHWC" else (x, go)
    for dtype in DTYPES:
        args = (x_in.astype(dtype), w_shape, go_in.astype(dtype))
        if not _weight_supported(method, w_shape, geo, layout, dtype):
            with pytest.raises(ValueError,
                               match=f"`method`='{method}' cannot run this conv2d_weight_grad"):
                conv2d_weight_grad(*args, layout=layout, method=method, **geo)
            continue
        got = conv2d_weight_grad(*args, layout=layout, method=method, **geo)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, *tolerance(dtype))
        assert explain("conv2d_weight_grad", *args, layout=layout, method=method,
                       **geo).method == method


def _transpose_supported(method, w_shape, geo):
    stride, pad = _pair(geo.get("stride", 1)), _pair(geo.get("padding", 0))
    dil, out_pad = _pair(geo.get("dilation", 1)), _pair(geo.get("output_padding", 0))
    if method == "pointwise":
        return w_shape[2:] == (1, 1) and stride == (1, 1) and pad == out_pad == (0, 0)
    if method == "full":
        return stride == (1, 1) and all(p <= d * (k - 1) for p, d, k in zip(pad, dil, w_shape[2:]))
    return True


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("method", INPUT_METHODS)
@pytest.mark.parametrize("i", range(len(TRANSPOSE_CASES)))
def test_each_forced_conv_transpose2d_method_matches_naive(backend, layout, method, i):
    x_shape, w_shape, geo = TRANSPOSE_CASES[i]
    rng = np.random.default_rng(200 + i)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * geo.get("groups", 1))
    want = naive.conv_transpose2d(x, w, b, **geo)
    x_in = to_nhwc(x) if layout == "NHWC" else x
    if not _transpose_supported(method, w_shape, geo):
        with pytest.raises(ValueError, match=f"`method`='{method}' cannot run this conv_transpose2d"):
            conv_transpose2d(x_in, w, b, layout=layout, method=method, **geo)
        return
    for dtype in DTYPES:
        got = conv_transpose2d(x_in.astype(dtype), w.astype(dtype), b.astype(dtype), layout=layout,
                               method=method, **geo)
        assert got.dtype == dtype
        np.testing.assert_allclose(to_nchw(got) if layout == "NHWC" else got, want, *tolerance(dtype))
        assert explain("conv_transpose2d", x_in.astype(dtype), w.astype(dtype), layout=layout,
                       method=method, **geo).method == method


def test_forced_tiles_runs_below_the_size_auto_gives_it(no_direct):
    """'tiles' forced on a call under PARALLEL_MIN_FLOPS runs the tile kernel
    (auto would take the chunk loop there, of the GEMM methods)."""
    if not _native(np.float64):
        pytest.skip("the tile kernel needs the Numba backend and NumPy's BLAS")
    rng = np.random.default_rng(5)
    x, go = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 4, 6, 6))
    assert explain("conv2d_weight_grad", x, (4, 3, 3, 3), go).method == "im2col"
    np.testing.assert_allclose(conv2d_weight_grad(x, (4, 3, 3, 3), go, method="tiles"),
                               naive.conv2d_weight_grad(x, (4, 3, 3, 3), go), *tolerance(np.float64))


# ---------------------------------------------------------------------------
# auto: the choices the drivers made before they were methods
# ---------------------------------------------------------------------------


def _shifts_here():
    return im2col_nb.get_backend() == "numba" and gemm_function(np.dtype(np.float32)) is not None


def test_auto_input_grad_picks_as_documented():
    f32 = np.float32
    # a 64->64 3x3 stride-1 layer: the full correlation (as many channels as filters)
    x, w = (8, 64, 56, 56), np.zeros((64, 64, 3, 3), f32)
    assert explain("conv2d_input_grad", x, w, np.zeros(x, f32), padding=1).method == "full"
    # lenet-c1: 1 input channel, 32 filters: the full correlation has one
    # filter, which conv2d runs by its direct loops (Numba backend), else col2im
    go = np.zeros((64, 32, 28, 28), f32)
    assert explain("conv2d_input_grad", (64, 1, 28, 28), np.zeros((32, 1, 5, 5), f32), go,
                   padding=2).method == ("full" if im2col_nb.get_backend() == "numba" else "col2im")
    # stride 2 (resnet18-conv1, downsample): col2im
    assert explain("conv2d_input_grad", (8, 3, 224, 224), np.zeros((64, 3, 7, 7), f32),
                   np.zeros((8, 64, 112, 112), f32), stride=2, padding=3).method == "col2im"
    assert explain("conv2d_input_grad", (8, 256, 14, 14), np.zeros((512, 256, 1, 1), f32),
                   np.zeros((8, 512, 7, 7), f32), stride=2).method == "col2im"
    # 1x1 one-to-one (pointwise layer): pointwise, in both layouts
    go = np.zeros((8, 256, 28, 28), f32)
    w = np.zeros((256, 128, 1, 1), f32)
    assert explain("conv2d_input_grad", (8, 128, 28, 28), w, go).method == "pointwise"
    assert explain("conv2d_input_grad", (8, 28, 28, 128), w, to_nhwc(go),
                   layout="NHWC").method == "pointwise"
    # fewer channels than filters: full only where conv2d runs it as shifted GEMMs
    x, w = (8, 64, 28, 28), np.zeros((128, 64, 3, 3), f32)
    want = "full" if _shifts_here() else "col2im"
    assert explain("conv2d_input_grad", x, w, np.zeros((8, 128, 28, 28), f32),
                   padding=1).method == want
    # conv_transpose2d: the same rule on the conv2d it is the adjoint of
    assert explain("conv_transpose2d", np.zeros((8, 64, 56, 56), f32),
                   np.zeros((64, 64, 3, 3), f32), padding=1).method == "full"
    assert explain("conv_transpose2d", np.zeros((8, 64, 28, 28), f32),
                   np.zeros((64, 32, 4, 4), f32), stride=2, padding=1).method == "col2im"


def test_auto_weight_grad_picks_as_documented():
    f32 = np.float32
    x, go = np.zeros((8, 64, 56, 56), f32), np.zeros((8, 64, 56, 56), f32)
    big = explain("conv2d_weight_grad", x, (64, 64, 3, 3), go, padding=1).method
    assert big == ("tiles" if _shifts_here() else "im2col")
    assert explain("conv2d_weight_grad", to_nhwc(x), (64, 64, 3, 3), to_nhwc(go), padding=1,
                   layout="NHWC").method == "im2col"
    assert explain("conv2d_weight_grad", x, (64, 64, 1, 1), go).method == "pointwise"
    # few filters per group, depthwise: the direct loops (Numba backend)
    direct = "direct" if im2col_nb.get_backend() == "numba" else "im2col"
    assert explain("conv2d_weight_grad", x, (64, 1, 3, 3), go, padding=1,
                   groups=64).method == direct
    assert explain("conv2d_weight_grad", x[:, :3], (16, 3, 5, 5), go[:, :16, 2:-2, 2:-2],
                   ).method == direct


def test_auto_weight_grad_below_parallel_size_takes_the_chunk_loop(no_direct):
    f32 = np.float32
    x, go = np.zeros((1, 4, 8, 8), f32), np.zeros((1, 4, 8, 8), f32)
    # under PARALLEL_MIN_FLOPS the tile kernel is never compiled: the chunk loop
    assert explain("conv2d_weight_grad", x, (4, 4, 3, 3), go, padding=1).method == "im2col"


def _old_input_rule(x_shape, w_shape, stride, pad, dtype, layout):
    """`_engine.backward.input_grad`'s rule before the methods (groups 1)."""
    n, c, h, wd = x_shape
    f, _, k, _ = w_shape
    if k == 1 and stride == 1 and pad == 0:
        return "pointwise"
    if stride != 1 or pad > k - 1:
        return "col2im"
    oh = ow = (h + 2 * pad - k) // stride + 1
    full = Geometry((k, k), (1, 1), ((k - 1 - pad,) * 2,) * 2, (1, 1), (h, wd))
    flops = 2 * n * c * f * k * k * h * wd
    shifted = (_plan.uses_shift(f, c, full, 1)
               and _plan.native_gemm(backend_module(), np.dtype(dtype), flops) is not None)
    assert (oh, ow) == (h + 2 * pad - k + 1,) * 2
    return "full" if c >= f or shifted else "col2im"


def _old_weight_rule(x_shape, w_shape, stride, pad, dtype, layout):
    n, c, h, _ = x_shape
    f, _, k, _ = w_shape
    if k == 1 and stride == 1 and pad == 0:
        return "pointwise"
    out = (h + 2 * pad - k) // stride + 1
    flops = 2 * n * f * c * k * k * out * out
    native = _plan.native_gemm(backend_module(), np.dtype(dtype), flops) is not None
    return "tiles" if layout == "NCHW" and native else "im2col"


@pytest.mark.parametrize("backend_name", ["numba", "numpy"])
def test_auto_reproduces_the_rules_before_the_methods(backend_name, no_direct):
    """Over a grid of layers (shapes, kernels, strides, padding, dtypes,
    layouts), ``auto`` picks what the drivers' hard-wired rules picked, or
    the full correlation where conv2d runs it by Winograd."""
    previous = im2col_nb.get_backend()
    im2col_nb.set_backend(backend_name)
    try:
        for n, h in ((1, 7), (8, 28), (8, 56)):
            for c, f in ((1, 32), (3, 64), (16, 64), (32, 32), (64, 64), (64, 128), (128, 64),
                         (256, 256)):
                for k, stride, pad in ((1, 1, 0), (1, 2, 0), (1, 1, 1), (3, 1, 1), (3, 2, 1),
                                       (3, 1, 0), (5, 1, 2), (5, 1, 4), (7, 2, 3), (3, 1, 3)):
                    if h + 2 * pad < k:
                        continue
                    out = (h + 2 * pad - k) // stride + 1
                    for dtype in DTYPES:
                        for layout in LAYOUTS:
                            xs = (n, c, h, h) if layout == "NCHW" else (n, h, h, c)
                            gs = (n, f, out, out) if layout == "NCHW" else (n, out, out, f)
                            w = np.zeros((f, c, k, k), dtype)
                            go = np.zeros(gs, dtype)
                            geo = dict(stride=stride, padding=pad, layout=layout)
                            args = ((n, c, h, h), (f, c, k, k), stride, pad, dtype, layout)
                            expected = _old_input_rule(*args)
                            if k == 3 and stride == 1 and pad <= 2 and "by 'winograd" in explain(
                                    "conv2d_input_grad", xs, w, go, method="full", **geo).plan:
                                # where conv2d runs the full correlation by
                                # Winograd, that beats col2im (added since)
                                expected = "full"
                            assert (explain("conv2d_input_grad", xs, w, go, **geo).method
                                    == expected), (args, "input")
                            assert (explain("conv2d_weight_grad", np.zeros(xs, dtype), w.shape, go,
                                            **geo).method == _old_weight_rule(*args)), (args, "weight")
    finally:
        im2col_nb.set_backend(previous)


# ---------------------------------------------------------------------------
# errors, conv2d_backward, explain
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["winograd", "", None, 3, "shift"])
def test_unknown_methods_are_value_errors_listing_the_methods(method):
    x, w, go = np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"`method` must be one of 'auto', 'col2im', 'full', "
                                         r"'pointwise', got"):
        conv2d_input_grad(x.shape, w, go, method=method)
    with pytest.raises(ValueError, match=r"`method` must be one of 'auto', 'col2im', 'full', "
                                         r"'pointwise', got"):
        conv_transpose2d(go, w, method=method)
    with pytest.raises(ValueError, match=r"`method` must be one of 'auto', 'tiles', 'im2col', "
                                         r"'pointwise', 'direct', got"):
        conv2d_weight_grad(x, w.shape, go, method=method)


def test_unsupported_method_lists_those_that_can():
    x, w, go = np.ones((1, 2, 6, 6)), np.ones((3, 2, 3, 3)), np.ones((1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"`method`='full' cannot run this conv2d_input_grad: it "
                                         r"needs stride 1, got stride \(2, 2\); methods that can: "
                                         r"'auto', 'col2im'$"):
        conv2d_input_grad(x.shape, w, go, stride=2, method="full")
    with pytest.raises(ValueError, match="'tiles' cannot run this conv2d_weight_grad: it is NCHW only"):
        conv2d_weight_grad(to_nhwc(x), w.shape, to_nhwc(go), stride=2, layout="NHWC", method="tiles")


def test_method_names_are_case_insensitive_and_empty_problems_check_them():
    w = np.ones((3, 2, 3, 3))
    assert conv2d_input_grad((0, 2, 5, 5), w, np.ones((0, 3, 3, 3)), method="COL2IM").shape == (0, 2, 5, 5)
    # nothing to compute: the name is checked, not whether the method could run
    gw = conv2d_weight_grad(np.ones((0, 2, 5, 5)), w.shape, np.ones((0, 3, 3, 3)), method="pointwise")
    np.testing.assert_array_equal(gw, np.zeros(w.shape))
    with pytest.raises(ValueError, match="`method` must be one of"):
        conv2d_weight_grad(np.ones((0, 2, 5, 5)), w.shape, np.ones((0, 3, 3, 3)), method="fast")
    with pytest.raises(ValueError, match="`method` must be one of"):
        conv_transpose2d(np.ones((0, 3, 3, 3)), np.ones((3, 2, 3, 3)), method="fast")


def test_backward_takes_a_method_for_each_gradient(backend):
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 4, 7, 7)), rng.standard_normal((6, 4, 3, 3))
    go = rng.standard_normal((2, 6, 7, 7))
    want = (naive.conv2d_input_grad(x.shape, w, go, padding=1),
            naive.conv2d_weight_grad(x, w.shape, go, padding=1))
    for input_method in ("auto", "col2im", "full"):
        for weight_method in ("auto", "im2col"):
            gx, gw, gb = conv2d_backward(x, w, go, padding=1, input_method=input_method,
                                         weight_method=weight_method)
            np.testing.assert_allclose(gx, want[0], *tolerance(np.float64))
            np.testing.assert_allclose(gw, want[1], *tolerance(np.float64))
            np.testing.assert_allclose(gb, go.sum(axis=(0, 2, 3)))


def test_backward_method_errors_name_the_argument_before_any_work(monkeypatch):
    x, w, go = np.ones((1, 2, 6, 6)), np.ones((3, 2, 3, 3)), np.ones((1, 3, 2, 2))
    from im2col_nb._engine import grad as _grad

    def trap(*args):
        raise AssertionError("a gradient was computed before the methods were checked")

    monkeypatch.setattr(_grad, "run_input_grad", trap)
    monkeypatch.setattr(im2col_nb.gradients, "run_input_grad", trap)
    with pytest.raises(ValueError, match=r"`input_method`='full' cannot run this conv2d_input_grad: "
                                         r"it needs stride 1"):
        conv2d_backward(x, w, go, stride=2, input_method="full")
    with pytest.raises(ValueError, match=r"`weight_method` must be one of 'auto', 'tiles', 'im2col', "
                                         r"'pointwise', 'direct', got 'col2im'"):
        conv2d_backward(x, w, go, stride=2, weight_method="col2im")
    with pytest.raises(ValueError, match=r"`weight_method`='pointwise' cannot run"):
        conv2d_backward(x, w, go, stride=2, weight_method="pointwise")


def test_explain_reports_the_gradients_and_the_transposed_convolution():
    f32 = np.float32
    x, w = np.zeros((2, 3, 16, 16), f32), np.zeros((8, 3, 3, 3), f32)
    go = np.zeros((2, 8, 8, 8), f32)
    choice = explain("conv2d_input_grad", x.shape, w, go, stride=2, padding=1)
    assert [c.name for c in choice.candidates] == list(INPUT_METHODS)
    full = choice.candidates[1]
    assert not full.supported and "stride 1" in full.reason and full.estimate is None
    assert choice.method == "col2im" and choice.requested == "auto"
    assert choice.problem.startswith("input gradient of conv2d 2 x 3 ch 16x16 (NCHW, float32) * "
                                     "8 filters 3x3, stride (2, 2)")
    assert "col2im" in choice.plan and "<- runs" in str(choice) and "thread" in choice.machine

    choice = explain(im2col_nb.conv2d_weight_grad, x, w.shape, go, stride=2, padding=1)
    assert [c.name for c in choice.candidates] == list(WEIGHT_METHODS)
    assert "dot products" in explain(im2col_nb.conv2d_weight_grad, x, w.shape, go, stride=2,
                                     padding=1, method="direct").plan
    assert choice.problem.startswith("weight gradient of conv2d 2 x 3 ch 16x16")
    assert choice.method == min((c for c in choice.candidates if c.supported),
                                key=lambda c: c.estimate).name

    choice = explain("conv_transpose2d", go, w, stride=2, padding=1, output_padding=1,
                     method="COL2IM")
    assert choice.method == "col2im" and choice.requested == "col2im"
    # the conv2d it is the adjoint of maps its 16x16 result back to the 8x8 input
    assert choice.problem.startswith("adjoint of conv2d 2 x 3 ch 16x16 (NCHW, float32) * 8 filters")
    # as many output channels as input channels: the full correlation pays
    full = explain("conv_transpose2d", go, np.zeros((8, 8, 3, 3), f32), padding=1)
    assert full.method == "full" and "conv2d with the flipped kernel" in full.plan


def test_explain_validates_the_gradients_like_the_calls():
    w, go = np.ones((3, 2, 3, 3)), np.ones((1, 3, 4, 4))
    with pytest.raises(ValueError, match="`grad_output` must have shape"):
        explain("conv2d_input_grad", (1, 2, 5, 5), w, go)
    with pytest.raises(ValueError, match="`input_shape`"):
        explain("conv2d_input_grad", (1, 2, -6, 6), w, go)
    with pytest.raises(ValueError, match="`method`='pointwise' cannot run this conv2d_weight_grad"):
        explain("conv2d_weight_grad", np.ones((1, 2, 6, 6)), w.shape, go, method="pointwise")
    with pytest.raises(ValueError, match="`output_padding` must be smaller"):
        explain("conv_transpose2d", go, np.ones((3, 2, 3, 3)), output_padding=1)
    with pytest.raises(TypeError):
        explain("conv_transpose2d", go, np.ones((3, 2, 3, 3)), strides=2)
