"""Convolution backward passes and conv_transpose2d against the explicit-loop
oracle, finite differences and adjoint identities.

Every test that takes the `backend` fixture runs on the Numba and the NumPy
backend, and its Numba instance is also run uncompiled (NUMBA_DISABLE_JIT=1)
by test_nojit.py, unless marked ``jit_only``: keep them small; between them
they reach every gradient kernel path (col2im, row2im_nhwc, im2col,
im2row_nhwc, the 1x1 shortcut).
"""


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from _strategies import conv_problems
from conftest import tolerance

import im2col_nb
from im2col_nb._core.blas import gemm_function
from im2col_nb import (
    conv2d,
    conv2d_backward,
    conv2d_bias_grad,
    conv2d_input_grad,
    conv2d_weight_grad,
    conv_transpose2d,
)

LAYOUTS = ["NCHW", "NHWC"]
DTYPES = [np.float32, np.float64]


def to_nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, -3, -1))


def to_nchw(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, -3))


def dot(a, b):
    return float(np.sum(np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)))


def assert_close(got, want, dtype=np.float64):
    rtol, atol = tolerance(dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def input_grad(shape, w, go, layout="NCHW", **kw):
    """conv2d_input_grad on NCHW arrays, through either layout."""
    if layout == "NHWC":
        n, c, h, wd = shape
        return to_nchw(conv2d_input_grad((n, h, wd, c), w, to_nhwc(go), layout="NHWC", **kw))
    return conv2d_input_grad(shape, w, go, **kw)


def weight_grad(x, wshape, go, layout="NCHW", **kw):
    if layout == "NHWC":
        return conv2d_weight_grad(to_nhwc(x), wshape, to_nhwc(go), layout="NHWC", **kw)
    return conv2d_weight_grad(x, wshape, go, **kw)


def transpose(x, w, b=None, layout="NCHW", **kw):
    if layout == "NHWC":
        return to_nchw(conv_transpose2d(to_nhwc(x), w, b, layout="NHWC", **kw))
    return conv_transpose2d(x, w, b, **kw)


# (x shape NCHW, weight shape, geometry): every kind of geometry conv2d takes
CASES = [
    ((2, 3, 6, 6), (4, 3, 3, 3), dict()),
    ((2, 3, 7, 6), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ((1, 2, 7, 8), (3, 2, 2, 3), dict(stride=(2, 3), padding=(1, 0))),
    ((2, 2, 6, 6), (3, 2, 4, 4), dict(padding="same")),                 # even kernel: asymmetric
    ((1, 2, 7, 5), (2, 2, 2, 3), dict(padding="same", dilation=(3, 2))),  # asymmetric, dilated
    ((2, 3, 5, 5), (2, 3, 3, 3), dict(padding="valid")),
    ((2, 2, 9, 8), (3, 2, 3, 2), dict(dilation=(2, 3), padding=2)),
    ((2, 4, 6, 5), (6, 2, 3, 3), dict(groups=2, padding=1)),
    ((1, 6, 5, 5), (6, 1, 3, 3), dict(groups=6, padding="same")),       # depthwise
    ((2, 4, 5, 5), (4, 4, 1, 1), dict()),                                # 1x1 shortcut
    ((2, 4, 5, 6), (6, 2, 1, 1), dict(groups=2)),                        # grouped 1x1 shortcut
    ((1, 2, 7, 7), (3, 2, 1, 1), dict(stride=2, padding=1)),            # 1x1, not a shortcut
    ((1, 1, 9, 9), (2, 1, 2, 2), dict(stride=4)),                        # stride > kernel: gaps
    ((1, 2, 3, 3), (2, 2, 3, 3), dict(padding=4)),                       # padding > kernel
]
CASE_IDS = [f"{i}" for i in range(len(CASES))]


def case_arrays(i, rng):
    xs, ws, geo = CASES[i]
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    go = rng.standard_normal(naive.conv2d(x, w, **geo).shape)
    return x, w, go, geo


# ---------------------------------------------------------------------------
# against the explicit-loop reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("i", range(len(CASES)), ids=CASE_IDS)
def test_input_grad_matches_naive(backend, layout, i):
    x, w, go, geo = case_arrays(i, np.random.default_rng(i))
    want = naive.conv2d_input_grad(x.shape, w, go, **geo)
    for dtype in DTYPES:
        got = input_grad(x.shape, w.astype(dtype), go.astype(dtype), layout, **geo)
        assert_close(got, want, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("geo", [dict(padding=1), dict(padding="same", dilation=2),
                                 dict(padding=(0, 2)), dict(padding=1, groups=2)],
                         ids=["pad1", "same-dilated", "pad02", "groups"])
def test_stride1_input_grad_through_the_conv_drivers(backend, layout, geo, monkeypatch):
    """Stride-1 input gradients run as a forward convolution (the full
    correlation) when it pays, through every conv2d engine: the patch-matrix
    tiles (more input channels than filters), and (forced for these small
    shapes) the shifted GEMMs, on two workers; else GEMM + col2im."""
    from im2col_nb._engine import plan as _plan, workers as _workers

    groups = geo.get("groups", 1)
    rng = np.random.default_rng(7)
    monkeypatch.setattr(_plan, "PARALLEL_MIN_FLOPS", 0)
    monkeypatch.setattr(_workers, "blas_threads", lambda: 2)
    for channels, filters in ((4, 6), (6, 4)):
        x_shape, w_shape = (3, channels, 9, 11), (filters, channels // groups, 3, 2)
        w = rng.standard_normal(w_shape)
        go = rng.standard_normal(naive.conv2d(np.zeros(x_shape), w, **geo).shape)
        want = naive.conv2d_input_grad(x_shape, w, go, **geo)
        for shift in (False, True):
            monkeypatch.setattr(_plan, "SHIFT_MIN_CHANNELS", 1 if shift else 10**9)
            monkeypatch.setattr(_plan, "SHIFT_MAX_WASTE", 1.0)
            monkeypatch.setattr(_plan, "SHIFT_MAX_FILTERS_PER_CHANNEL", 10**9)
            for dtype in DTYPES:
                got = input_grad(x_shape, w.astype(dtype), go.astype(dtype), layout, **geo)
                assert_close(got, want, dtype)


# Tile kinds of conv2d's planner: (FOLD_POSITIONS, TILE_MIN_FLOPS, TILE_POSITIONS)
WEIGHT_TILE_MODES = {"default": None, "one-image": (1, 0, 2048), "stacked": (1, 10**12, 2048),
                     "folded": (10**6, 0, 2048), "part-rows": (1, 0, 3)}


@pytest.mark.parametrize("mode", list(WEIGHT_TILE_MODES))
@pytest.mark.parametrize("i", range(len(CASES)), ids=CASE_IDS)
def test_weight_grad_tile_kernel_matches_naive(backend, i, mode, monkeypatch, no_direct):
    """The NCHW weight gradient through the Numba tile kernel (forced for these
    small shapes, two workers), every kind of tile; the kernel must really run."""
    from im2col_nb._engine import conv_gemm as _drivers, plan as _plan, workers as _workers

    monkeypatch.setattr(_plan, "PARALLEL_MIN_FLOPS", 0)
    monkeypatch.setattr(_workers, "blas_threads", lambda: 2)
    if WEIGHT_TILE_MODES[mode] is not None:
        for name, value in zip(("FOLD_POSITIONS", "TILE_MIN_FLOPS", "TILE_POSITIONS"),
                               WEIGHT_TILE_MODES[mode]):
            monkeypatch.setattr(_plan, name, value)
    calls = []
    real = _drivers.backend_module

    class Spy:
        def __getattr__(self, name):
            value = getattr(real(), name)
            if name != "weight_grad_tiles_nchw":
                return value

            def counted(*args):
                calls.append(name)
                return value(*args)
            return counted

    monkeypatch.setattr(_drivers, "backend_module", Spy)
    x, w, go, geo = case_arrays(i, np.random.default_rng(200 + i))
    want = naive.conv2d_weight_grad(x, w.shape, go, **geo)
    for dtype in DTYPES:
        got = weight_grad(x.astype(dtype), w.shape, go.astype(dtype), "NCHW", **geo)
        assert_close(got, want, dtype)
    native = im2col_nb.get_backend() == "numba" and gemm_function(np.float64)
    one_to_one = w.shape[2:] == (1, 1) and geo.get("stride", 1) == 1 and "padding" not in geo
    assert len(calls) == (2 if native and not one_to_one else 0)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("i", range(len(CASES)), ids=CASE_IDS)
def test_weight_grad_matches_naive(backend, layout, i):
    x, w, go, geo = case_arrays(i, np.random.default_rng(100 + i))
    want = naive.conv2d_weight_grad(x, w.shape, go, **geo)
    for dtype in DTYPES:
        got = weight_grad(x.astype(dtype), w.shape, go.astype(dtype), layout, **geo)
        assert_close(got, want, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("i", [0, 3, 4, 7, 9])
def test_backward_returns_all_three_small(backend, layout, i):
    x, w, go, geo = case_arrays(i, np.random.default_rng(200 + i))
    if layout == "NHWC":
        gx, gw, gb = conv2d_backward(to_nhwc(x), w, to_nhwc(go), layout="NHWC", **geo)
        gx = to_nchw(gx)
    else:
        gx, gw, gb = conv2d_backward(x, w, go, **geo)
    assert_close(gx, naive.conv2d_input_grad(x.shape, w, go, **geo))
    assert_close(gw, naive.conv2d_weight_grad(x, w.shape, go, **geo))
    assert_close(gb, go.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("i", [1, 3, 7, 12])
@pytest.mark.parametrize("budget", [1, 200, 2000])
def test_small_workspace_budgets_give_the_same_result(backend, layout, i, budget):
    """Budgets that force chunking over images, channels (NCHW input grad)
    and output rows (NHWC input grad, weight grads) change nothing."""
    x, w, go, geo = case_arrays(i, np.random.default_rng(300 + i))
    whole_x = input_grad(x.shape, w, go, layout, **geo)
    whole_w = weight_grad(x, w.shape, go, layout, **geo)
    assert_close(input_grad(x.shape, w, go, layout, max_workspace_bytes=budget, **geo), whole_x)
    assert_close(weight_grad(x, w.shape, go, layout, max_workspace_bytes=budget, **geo), whole_w)
    assert_close(whole_x, naive.conv2d_input_grad(x.shape, w, go, **geo))


def test_larger_problem_chunked(backend):
    """A batch large enough for several chunks of a moderate budget, both
    layouts, against the adjoint identity (the reference would be slow)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((9, 5, 17, 13))
    w = rng.standard_normal((8, 5, 3, 4))
    geo = dict(stride=(2, 1), padding=(2, 1), dilation=(1, 2))
    y = conv2d(x, w, **geo)
    go = rng.standard_normal(y.shape)
    for layout in LAYOUTS:
        for budget in (None, 4096):
            gx = input_grad(x.shape, w, go, layout, max_workspace_bytes=budget, **geo)
            gw = weight_grad(x, w.shape, go, layout, max_workspace_bytes=budget, **geo)
            scale = np.sqrt(dot(y, y) * dot(go, go))
            assert abs(dot(y, go) - dot(x, gx)) <= 1e-12 * scale
            assert abs(dot(y, go) - dot(w, gw)) <= 1e-12 * scale


def test_bias_grad_small():
    rng = np.random.default_rng(0)
    go = rng.standard_normal((3, 4, 5, 6))
    np.testing.assert_allclose(conv2d_bias_grad(go), go.sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(conv2d_bias_grad(to_nhwc(go), layout="NHWC"), go.sum(axis=(0, 2, 3)),
                               rtol=1e-12)
    np.testing.assert_allclose(conv2d_bias_grad(go[0]), go[0].sum(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(conv2d_bias_grad(to_nhwc(go[0]), layout="nhwc"), go[0].sum(axis=(1, 2)),
                               rtol=1e-12)
    got = conv2d_bias_grad(go[0, 0])
    assert got.shape == (1,) and np.isclose(got[0], go[0, 0].sum())
    f32 = conv2d_bias_grad(go.astype(np.float32))
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, go.sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    # the bias gradient is the gradient: finite difference of <conv2d(x, w, b), go> in b
    x = rng.standard_normal((3, 2, 7, 8))
    w = rng.standard_normal((4, 2, 3, 3))
    b = rng.standard_normal(4)
    eps = 1e-6
    fd = [(dot(conv2d(x, w, b + eps * e), go) - dot(conv2d(x, w, b - eps * e), go)) / (2 * eps)
          for e in np.eye(4)]
    np.testing.assert_allclose(conv2d_bias_grad(go), fd, rtol=1e-6)


# ---------------------------------------------------------------------------
# unbatched and 2-D inputs, dtypes, memory layout of the arguments
# ---------------------------------------------------------------------------

def test_unbatched_and_2d_small(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 7))
    w = rng.standard_normal((2, 3, 2, 3))
    go = rng.standard_normal((2, 6, 7))
    geo = dict(padding="same")
    want_x = naive.conv2d_input_grad((1,) + x.shape, w, go[None], **geo)[0]
    want_w = naive.conv2d_weight_grad(x[None], w.shape, go[None], **geo)
    assert_close(conv2d_input_grad(x.shape, w, go, **geo), want_x)
    assert_close(conv2d_weight_grad(x, w.shape, go, **geo), want_w)
    assert_close(conv2d_input_grad((6, 7, 3), w, to_nhwc(go), layout="NHWC", **geo), to_nhwc(want_x))
    assert_close(conv2d_weight_grad(to_nhwc(x), w.shape, to_nhwc(go), layout="NHWC", **geo), want_w)
    gx, gw, gb = conv2d_backward(x, w, go, **geo)
    assert_close(gx, want_x)
    assert_close(gw, want_w)
    # the seed's single-channel 2-D case: (H, W) image, (kh, kw) kernel
    img = rng.standard_normal((7, 7))
    k = rng.standard_normal((3, 3))
    g = rng.standard_normal((5, 5))
    want_x = naive.conv2d_input_grad((1, 1, 7, 7), k[None, None], g[None, None])[0, 0]
    want_w = naive.conv2d_weight_grad(img[None, None], (1, 1, 3, 3), g[None, None])[0, 0]
    for layout in LAYOUTS:
        assert_close(conv2d_input_grad((7, 7), k, g, layout=layout), want_x)
        assert_close(conv2d_weight_grad(img, (3, 3), g, layout=layout), want_w)
        gx, gw, gb = conv2d_backward(img, k, g, layout=layout)
        assert_close(gx, want_x)
        assert_close(gw, want_w)
        assert gb.shape == (1,)
    assert_close(conv_transpose2d(g, k), naive.conv_transpose2d(g[None, None], k[None, None])[0, 0])


def test_dtypes_and_promotion(backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    go = rng.standard_normal((1, 3, 3, 3))
    f32, f64 = np.float32, np.float64
    assert conv2d_input_grad(x.shape, w.astype(f32), go.astype(f32)).dtype == f32
    assert conv2d_input_grad(x.shape, w.astype(f32), go).dtype == f64
    assert conv2d_input_grad(x.shape, w, go.astype(f32)).dtype == f64
    assert conv2d_weight_grad(x.astype(f32), w.shape, go.astype(f32)).dtype == f32
    assert conv2d_weight_grad(x.astype(f32), w.shape, go).dtype == f64
    assert conv2d_weight_grad(x.astype(np.float16), w.shape, go.astype(f32)).dtype == f32
    assert conv_transpose2d(go.astype(f32), w.astype(f32)).dtype == f32
    assert conv_transpose2d(go.astype(f32), w.astype(f32), np.zeros(2)).dtype == f64
    gx, gw, gb = conv2d_backward(x.astype(f32), w.astype(f32), go)
    assert gx.dtype == gw.dtype == gb.dtype == f64
    assert_close(gx, naive.conv2d_input_grad(x.shape, w.astype(f32), go))
    # integer arrays promote to float64
    xi = rng.integers(-3, 4, size=x.shape)
    gi = rng.integers(-3, 4, size=go.shape)
    got = conv2d_weight_grad(xi, w.shape, gi)
    assert got.dtype == f64
    np.testing.assert_array_equal(got, naive.conv2d_weight_grad(xi, w.shape, gi))


def test_non_contiguous_inputs_are_not_modified(backend):
    rng = np.random.default_rng(3)
    x = np.asfortranarray(rng.standard_normal((2, 3, 6, 7)))
    w = rng.standard_normal((4, 3, 6, 3))[:, :, ::2]          # strided view
    go_big = rng.standard_normal((2, 4, 12, 4))
    go = go_big[:, :, ::2]
    copies = [a.copy() for a in (x, w, go)]
    geo = dict(stride=(1, 2), padding=1)
    assert_close(conv2d_input_grad(x.shape, w, go, **geo), naive.conv2d_input_grad(x.shape, w, go, **geo))
    assert_close(conv2d_weight_grad(x, w.shape, go, **geo), naive.conv2d_weight_grad(x, w.shape, go, **geo))
    conv2d_backward(x, w, go, **geo)
    conv_transpose2d(go, w, **geo)
    for a, c in zip((x, w, go), copies):
        np.testing.assert_array_equal(a, c)
    # read-only inputs are fine
    for a in (x, w, go):
        a.flags.writeable = False
    conv2d_backward(x, w, go, **geo)


def test_empty_sizes(backend):
    w = np.ones((3, 2, 3, 3))
    # no images
    assert conv2d_input_grad((0, 2, 5, 5), w, np.ones((0, 3, 3, 3))).shape == (0, 2, 5, 5)
    gw = conv2d_weight_grad(np.ones((0, 2, 5, 5)), w.shape, np.ones((0, 3, 3, 3)))
    assert gw.shape == w.shape and not gw.any()
    # no filters: the input gradient is zero
    gx = conv2d_input_grad((2, 2, 5, 5), np.ones((0, 2, 3, 3)), np.ones((2, 0, 3, 3)))
    assert gx.shape == (2, 2, 5, 5) and not gx.any()
    gx = conv2d_input_grad((2, 5, 5, 2), np.ones((0, 2, 3, 3)), np.ones((2, 3, 3, 0)), layout="NHWC")
    assert gx.shape == (2, 5, 5, 2) and not gx.any()
    assert conv_transpose2d(np.ones((0, 3, 4, 4)), w).shape == (0, 2, 6, 6)


def test_deterministic(backend):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 6, 12, 12)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    go = rng.standard_normal((4, 8, 12, 12)).astype(np.float32)
    for layout in LAYOUTS:
        xs, gos = (x, go) if layout == "NCHW" else (to_nhwc(x), to_nhwc(go))
        first = conv2d_backward(xs, w, gos, padding=1, groups=2, layout=layout)
        for _ in range(3):
            again = conv2d_backward(xs, w, gos, padding=1, groups=2, layout=layout)
            for a, b in zip(first, again):
                np.testing.assert_array_equal(a, b)


def test_backends_agree():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 9, 8))
    w = rng.standard_normal((6, 2, 3, 2))
    go = rng.standard_normal((3, 6, 5, 4))
    geo = dict(stride=2, padding=(1, 1), dilation=(1, 2), groups=2)
    previous = im2col_nb.get_backend()
    results = {}
    try:
        for name in ("numba", "numpy"):
            im2col_nb.set_backend(name)
            results[name] = [input_grad(x.shape, w, go, lay, **geo) for lay in LAYOUTS]
            results[name] += [weight_grad(x, w.shape, go, lay, **geo) for lay in LAYOUTS]
            results[name] += [transpose(go, w, layout=lay, stride=2, padding=1, groups=2) for lay in LAYOUTS]
    finally:
        im2col_nb.set_backend(previous)
    for a, b in zip(results["numba"], results["numpy"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# finite differences (float64)
# ---------------------------------------------------------------------------

def _loss(y, c):
    """A nonlinear scalar loss of the conv output and its gradient in y."""
    return float(np.sum(np.sin(y) * c)), np.cos(y) * c


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("i", [1, 3, 4, 7, 12])
def test_finite_differences(backend, layout, i):
    rng = np.random.default_rng(400 + i)
    x, w, _, geo = case_arrays(i, rng)
    b = rng.standard_normal(w.shape[0])
    nhwc = layout == "NHWC"
    xs = to_nhwc(x) if nhwc else x

    def forward(xv, wv, bv):
        return conv2d(xv, wv, bv, layout=layout, **geo)

    y = forward(xs, w, b)
    c = rng.standard_normal(y.shape)
    _, dy = _loss(y, c)
    gx, gw, gb = conv2d_backward(xs, w, dy, layout=layout, **geo)
    np.testing.assert_allclose(gb, conv2d_bias_grad(dy, layout=layout), rtol=1e-12)
    eps = 1e-6
    for arr, grad, which in ((xs, gx, 0), (w, gw, 1), (b, gb, 2)):
        flat = rng.choice(arr.size, size=min(arr.size, 12), replace=False)
        for k in flat:
            idx = np.unravel_index(k, arr.shape)
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args_p = [xs, w, b]
            args_m = [xs, w, b]
            args_p[which], args_m[which] = plus, minus
            fd = (_loss(forward(*args_p), c)[0] - _loss(forward(*args_m), c)[0]) / (2 * eps)
            assert abs(fd - grad[idx]) <= 1e-6 * (1 + abs(fd)), (which, idx, fd, grad[idx])


def test_finite_differences_conv_transpose(backend):
    """Training a transposed convolution: its input gradient is conv2d and
    its weight gradient is conv2d_weight_grad with the roles swapped."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 4, 5))
    w = rng.standard_normal((4, 3, 3, 2))           # (C_in, F/groups, kh, kw), groups=2 -> F=6
    geo = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    y = conv_transpose2d(x, w, output_padding=1, **geo)
    c = rng.standard_normal(y.shape)
    _, dy = _loss(y, c)
    gx = conv2d(dy, w, **geo)                       # adjoint of the adjoint
    gw = conv2d_weight_grad(dy, w.shape, x, **geo)  # conv2d(dy, w) has output x's shape
    eps = 1e-6
    for arr, grad, which in ((x, gx, 0), (w, gw, 1)):
        for k in rng.choice(arr.size, size=10, replace=False):
            idx = np.unravel_index(k, arr.shape)
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            ap, am = [x, w], [x, w]
            ap[which], am[which] = plus, minus
            fd = (_loss(conv_transpose2d(*ap, output_padding=1, **geo), c)[0]
                  - _loss(conv_transpose2d(*am, output_padding=1, **geo), c)[0]) / (2 * eps)
            assert abs(fd - grad[idx]) <= 1e-6 * (1 + abs(fd)), (which, idx, fd, grad[idx])


# ---------------------------------------------------------------------------
# conv_transpose2d
# ---------------------------------------------------------------------------

TRANSPOSE_CASES = [
    ((2, 3, 4, 5), (3, 2, 3, 3), dict()),
    ((2, 3, 4, 5), (3, 2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 4, 3, 4), (4, 1, 2, 3), dict(stride=(3, 2), padding=(0, 1), output_padding=(2, 0), groups=2)),
    ((1, 2, 5, 4), (2, 3, 3, 2), dict(dilation=(2, 3), padding=(3, 1))),
    ((2, 2, 3, 3), (2, 2, 3, 3), dict(stride=1, dilation=3, output_padding=2)),   # op >= stride, < dilation
    ((1, 6, 4, 4), (6, 1, 3, 3), dict(groups=6, stride=2, output_padding=1)),
    ((2, 4, 3, 5), (4, 3, 1, 1), dict()),
    ((1, 2, 4, 4), (2, 2, 1, 1), dict(stride=2, padding=1)),
    ((1, 1, 3, 3), (1, 1, 2, 2), dict(stride=4)),                                 # gaps in the output
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("i", range(len(TRANSPOSE_CASES)))
def test_conv_transpose2d_matches_naive_small(backend, layout, i):
    xs, ws, geo = TRANSPOSE_CASES[i]
    rng = np.random.default_rng(500 + i)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[1] * geo.get("groups", 1))
    for bias in (None, b):
        want = naive.conv_transpose2d(x, w, bias, **geo)
        for dtype in DTYPES:
            got = transpose(x.astype(dtype), w.astype(dtype),
                            None if bias is None else bias.astype(dtype), layout, **geo)
            assert_close(got, want, dtype)
    # unbatched
    assert_close(transpose(x[0], w, b, layout, **geo), naive.conv_transpose2d(x[:1], w, b, **geo)[0])
    # a tiny budget (chunking over channels / output rows) changes nothing
    assert_close(transpose(x, w, b, layout, max_workspace_bytes=1, **geo),
                 naive.conv_transpose2d(x, w, b, **geo))


INT_PADDING_CASES = [i for i, (_, _, geo) in enumerate(CASES) if not isinstance(geo.get("padding"), str)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("i", INT_PADDING_CASES)
def test_conv_transpose2d_equals_input_grad(backend, layout, i):
    """For the geometry of a forward conv2d (padding given as ints: conv_transpose2d
    takes no strings), conv_transpose2d(grad_output, w) is the input gradient,
    with output_padding choosing the forward input size."""
    x, w, go, geo = case_arrays(i, np.random.default_rng(600 + i))
    sh, sw = naive.pair(geo.get("stride", 1))
    ph, pw = naive.pair(geo.get("padding", 0))
    dh, dw = naive.pair(geo.get("dilation", 1))
    kh, kw = w.shape[2:]
    H, W = x.shape[2:]
    output_padding = ((H + 2 * ph - dh * (kh - 1) - 1) % sh, (W + 2 * pw - dw * (kw - 1) - 1) % sw)
    got = transpose(go, w, layout=layout, output_padding=output_padding, **geo)
    want = input_grad(x.shape, w, go, layout, **geo)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got.shape == x.shape


@pytest.mark.jit_only
def test_conv_transpose2d_against_torch(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    for xs, ws, geo in TRANSPOSE_CASES:
        x = rng.standard_normal(xs)
        w = rng.standard_normal(ws)
        b = rng.standard_normal(ws[1] * geo.get("groups", 1))
        want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w),
                                                    torch.from_numpy(b), **geo).numpy()
        assert_close(conv_transpose2d(x, w, b, **geo), want)
        assert_close(transpose(x, w, b, "NHWC", **geo), want)


def test_grads_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    for i in (1, 2, 4, 6, 7, 8):
        x, w, go, geo = case_arrays(i, rng)
        tx = torch.from_numpy(x).requires_grad_(True)
        tw = torch.from_numpy(w).requires_grad_(True)
        y = torch.nn.functional.conv2d(tx, tw, **geo)
        y.backward(torch.from_numpy(go))
        gx, gw, _ = conv2d_backward(x, w, go, **geo)
        assert_close(gx, tx.grad.numpy())
        assert_close(gw, tw.grad.numpy())


# ---------------------------------------------------------------------------
# adjoint identities on random configurations (hypothesis)
# ---------------------------------------------------------------------------

@st.composite
def conv_configs(draw):
    return dict(draw(conv_problems()), layout=draw(st.sampled_from(LAYOUTS)))


@pytest.mark.jit_only
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=conv_configs())
def test_hypothesis_adjoint_identities(backend, cfg):
    """<conv2d(x, w), y> = <x, input_grad(x.shape, w, y)> = <w, weight_grad(x, w.shape, y)>."""
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"])
    w = rng.standard_normal(cfg["wshape"])
    geo, layout = cfg["geo"], cfg["layout"]
    xs = to_nhwc(x) if layout == "NHWC" else x
    y = conv2d(xs, w, layout=layout, **geo)
    go = rng.standard_normal(y.shape)
    gx = conv2d_input_grad(xs.shape, w, go, layout=layout, max_workspace_bytes=cfg["budget"], **geo)
    gw = conv2d_weight_grad(xs, w.shape, go, layout=layout, max_workspace_bytes=cfg["budget"], **geo)
    lhs = dot(y, go)
    scale = np.sqrt(dot(y, y) * dot(go, go)) + 1
    assert abs(lhs - dot(xs, gx)) <= 1e-12 * scale
    assert abs(lhs - dot(w, gw)) <= 1e-12 * scale


@pytest.mark.jit_only
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=conv_configs())
def test_hypothesis_grads_match_naive(backend, cfg):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"])
    w = rng.standard_normal(cfg["wshape"])
    geo, layout = cfg["geo"], cfg["layout"]
    go = rng.standard_normal(naive.conv2d(x, w, **geo).shape)
    assert_close(input_grad(x.shape, w, go, layout, max_workspace_bytes=cfg["budget"], **geo),
                 naive.conv2d_input_grad(x.shape, w, go, **geo))
    assert_close(weight_grad(x, w.shape, go, layout, max_workspace_bytes=cfg["budget"], **geo),
                 naive.conv2d_weight_grad(x, w.shape, go, **geo))


@st.composite
def transpose_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    oph = draw(st.integers(0, max(sh, dh) - 1))
    opw = draw(st.integers(0, max(sw, dw) - 1))
    H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # keep the output size positive
    ph = draw(st.integers(0, max(0, ((H - 1) * sh + dh * (kh - 1) + oph) // 2)))
    pw = draw(st.integers(0, max(0, ((W - 1) * sw + dw * (kw - 1) + opw) // 2)))
    return dict(shape=(draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)), H, W),
                fg=draw(st.integers(1, 2)), k=(kh, kw), groups=groups,
                geo=dict(stride=(sh, sw), padding=(ph, pw), output_padding=(oph, opw),
                         dilation=(dh, dw), groups=groups),
                layout=draw(st.sampled_from(LAYOUTS)), seed=draw(st.integers(0, 2**31)))


@pytest.mark.jit_only
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=transpose_configs())
def test_hypothesis_conv_transpose2d(backend, cfg):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"])
    w = rng.standard_normal((cfg["shape"][1], cfg["fg"]) + cfg["k"])
    b = rng.standard_normal(cfg["fg"] * cfg["groups"])
    want = naive.conv_transpose2d(x, w, b, **cfg["geo"])
    got = transpose(x, w, b, cfg["layout"], **cfg["geo"])
    assert_close(got, want)
    # adjoint: <conv_transpose2d(x, w), z> = <x, conv2d(z, w)>
    z = rng.standard_normal(want.shape)
    geo = {k: v for k, v in cfg["geo"].items() if k != "output_padding"}
    y = transpose(x, w, None, cfg["layout"], **cfg["geo"])
    # conv2d(z, w) has more rows than x when output_padding >= stride (allowed
    # when it is < dilation); conv_transpose2d never reads past x, so crop
    back = conv2d(z, w, **geo)[:, :, :x.shape[2], :x.shape[3]]
    assert back.shape == x.shape
    scale = np.sqrt(dot(y, y) * dot(z, z))
    assert abs(dot(y, z) - dot(x, back)) <= 1e-12 * scale


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

X = np.ones((2, 3, 6, 6))
W = np.ones((4, 3, 3, 3))
GO = np.ones((2, 4, 4, 4))


@pytest.mark.parametrize("call, exc, match", [
    # grad_output not the forward output's shape
    (lambda: conv2d_input_grad(X.shape, W, np.ones((2, 4, 5, 5))), ValueError,
     r"`grad_output` must have shape \(2, 4, 4, 4\).*got an array of shape \(2, 4, 5, 5\)"),
    (lambda: conv2d_input_grad(X.shape, W, GO, stride=2), ValueError,
     r"`grad_output` must have shape \(2, 4, 2, 2\)"),
    (lambda: conv2d_weight_grad(X, W.shape, np.ones((2, 5, 4, 4))), ValueError,
     r"`grad_output` must have shape \(2, 4, 4, 4\)"),
    (lambda: conv2d_weight_grad(X, W.shape, np.ones((4, 4, 4))), ValueError, r"`grad_output` must have shape"),
    (lambda: conv2d_backward(X, W, np.ones((1, 4, 4, 4))), ValueError, r"`grad_output` must have shape"),
    (lambda: conv2d_input_grad((2, 6, 6, 3), W, np.ones((2, 4, 4, 5)), layout="NHWC"), ValueError,
     r"`grad_output` must have shape \(2, 4, 4, 4\).*layout='NHWC'"),
    # weight vs channels / groups
    (lambda: conv2d_input_grad((2, 5, 6, 6), W, GO), ValueError,
     r"`weight` of shape \(4, 3, 3, 3\) expects 3 input channels.*`input_shape` of shape \(2, 5, 6, 6\)"),
    (lambda: conv2d_input_grad(X.shape, W, GO, groups=2), ValueError, r"`groups`=2 must divide"),
    (lambda: conv2d_input_grad(X.shape, np.ones((4, 3, 3)), GO), ValueError, r"`weight` must be 4-D"),
    (lambda: conv2d_weight_grad(X, (4, 2, 3, 3), GO), ValueError,
     r"`weight_shape` of shape \(4, 2, 3, 3\) expects 2 input channels"),
    (lambda: conv2d_weight_grad(X, (4, 3, 0, 3), GO), ValueError, r"`weight_shape` must have a non-empty kernel"),
    (lambda: conv2d_weight_grad(np.ones((2, 6, 6, 6)), (4, 3, 3, 3), GO, groups=4), ValueError,
     r"`groups`=4 must divide the input channels"),
    # malformed shapes
    (lambda: conv2d_input_grad((2, 3, 6, 6, 1), W, GO), ValueError, r"`input_shape` must be \(N, C, H, W\)"),
    (lambda: conv2d_input_grad((2, 3, -6, 6), W, GO), ValueError, r"`input_shape` must not have negative"),
    (lambda: conv2d_input_grad((2, 3, 6.0, 6), W, GO), TypeError, r"`input_shape` must be a tuple of ints"),
    (lambda: conv2d_input_grad(6, W, GO), TypeError, r"`input_shape` must be a tuple of ints, got 6"),
    (lambda: conv2d_input_grad("2336", W, GO), TypeError, r"`input_shape` must be a tuple of ints"),
    (lambda: conv2d_input_grad(X, W, GO), TypeError, r"`input_shape` must be a tuple of ints"),
    (lambda: conv2d_weight_grad(X, (4, 3, 3), GO), ValueError, r"`weight_shape` must be \(F, C/groups, kh, kw\)"),
    (lambda: conv2d_weight_grad(X, (4, 3, True, 3), GO), TypeError, r"`weight_shape` must be a tuple of ints"),
    (lambda: conv2d_input_grad((1, 3, 2, 2), W, GO), ValueError, r"larger than the padded"),
    # arguments shared with conv2d
    (lambda: conv2d_input_grad(X.shape, W, GO, stride=0), ValueError, r"`stride` must be positive"),
    (lambda: conv2d_input_grad(X.shape, W, GO, padding="full"), ValueError, r"`padding` must be"),
    (lambda: conv2d_weight_grad(X, W.shape, GO, layout="NCWH"), ValueError, r"`layout` must be"),
    (lambda: conv2d_weight_grad(X.astype(object), W.shape, GO), TypeError, r"`input` must hold real numbers"),
    (lambda: conv2d_input_grad(X.shape, W, GO.astype(object)), TypeError, r"`grad_output` must hold real"),
    (lambda: conv2d_input_grad(X.shape, W, GO, max_workspace_bytes=0), ValueError,
     r"`max_workspace_bytes` must be positive"),
    (lambda: conv2d_bias_grad(np.ones(4)), ValueError, r"`grad_output` must be 2-D"),
    (lambda: conv2d_bias_grad(GO, layout="CHW"), ValueError, r"`layout` must be"),
    (lambda: conv2d_bias_grad(GO.astype(object)), TypeError, r"`grad_output` must hold real"),
    # conv_transpose2d
    (lambda: conv_transpose2d(GO, W, stride=2, output_padding=2), ValueError,
     r"`output_padding` must be smaller than `stride` or `dilation`.*output_padding=\(2, 2\)"),
    (lambda: conv_transpose2d(GO, W, output_padding=(0, 1)), ValueError, r"`output_padding` must be smaller"),
    (lambda: conv_transpose2d(GO, W, output_padding=-1), ValueError, r"`output_padding` must be non-negative"),
    (lambda: conv_transpose2d(GO, np.ones((3, 4, 3, 3))), ValueError,
     r"`weight` of shape \(3, 4, 3, 3\) is \(C_in, F/groups, kh, kw\) for 3 input channels.*has 4"),
    (lambda: conv_transpose2d(GO, W, groups=3), ValueError, r"`groups`=3 must divide the input channels"),
    (lambda: conv_transpose2d(GO, W, bias=np.ones(4)), ValueError, r"`bias` must have shape \(3,\)"),
    (lambda: conv_transpose2d(GO, W, padding="full"), ValueError,
     r"`padding` must be an int, a pair of ints, 'valid' or 'same', got 'full'"),
    (lambda: conv_transpose2d(GO, W, stride=2, padding="same", output_padding=1), ValueError,
     r"`output_padding` must be 0 with padding='same' \(the string fixes the output size\), got \(1, 1\)"),
    (lambda: conv_transpose2d(GO, W, padding=4), ValueError, r"output size \(-2, -2\).*not positive"),
    (lambda: conv_transpose2d(np.ones(4), W), ValueError, r"`input` must be 2-D"),
    (lambda: conv_transpose2d(GO, np.ones((4, 3, 3))), ValueError, r"`weight` must be 4-D"),
    (lambda: conv_transpose2d(GO[0, 0], W), ValueError, r"`weight` must be 2-D \(kh, kw\) for a 2-D `input`"),
    (lambda: conv_transpose2d(GO, np.ones((4, 3, 0, 3))), ValueError, r"non-empty kernel"),
    (lambda: conv_transpose2d(GO, W, dilation=(1, 0)), ValueError, r"`dilation` must be positive"),
    (lambda: conv_transpose2d(GO, W, stride=1.5), TypeError, r"`stride` must be an int"),
    (lambda: conv_transpose2d(GO, W, layout="nchw "), ValueError, r"`layout` must be"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
