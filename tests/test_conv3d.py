"""conv3d, its gradients and conv_transpose3d against the explicit loops of
tests/naive.py (N-D section) and PyTorch, on both backends, every method
forced where it runs, both layouts, batched and unbatched, and a tiny
workspace that forces many chunks."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import im2col_nb as nb
from conftest import tolerance
from naive import conv_nd, conv_nd_input_grad, conv_nd_weight_grad, conv_transpose_nd, pads_nd

FUZZ = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FORWARD = ("auto", "im2col", "pointwise")
INPUT_GRAD = ("auto", "col2im", "full", "pointwise")
WEIGHT_GRAD = ("auto", "im2col", "pointwise")
BUDGETS = (None, 1, 700)          # default; one output depth of one image per chunk; a few


def to_layout(a, layout):
    """(N, C, D, H, W) or (C, D, H, W) -> channels last for NDHWC."""
    return np.ascontiguousarray(np.moveaxis(a, -4, -1)) if layout == "NDHWC" else a


def from_layout(a, layout):
    return np.moveaxis(a, -1, -4) if layout == "NDHWC" else a


def runnable(function, methods, *args, **kwargs):
    """The methods of `methods` that `explain` says can run this call."""
    choice = nb.explain(function, *args, **kwargs)
    able = {c.name for c in choice.candidates if c.supported}
    return [m for m in methods if m == "auto" or m in able]


@st.composite
def problems(draw, pointwise_ok=True):
    """A small random conv3d problem: shapes, geometry keywords, dtype."""
    groups = draw(st.sampled_from([1, 1, 2]))
    C = groups * draw(st.integers(1, 2))
    F = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 2 if a else 3)) for a in range(3))
    if pointwise_ok and draw(st.integers(0, 5)) == 0:
        kernel = (1, 1, 1)
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    kind = draw(st.sampled_from(["int", "triple", "pairs", "valid", "same"]))
    pairs = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(3))
    padding = {"int": pairs[0][0], "triple": tuple(p[0] for p in pairs), "pairs": pairs,
               "valid": "valid", "same": "same"}[kind]
    if kind == "int":
        pairs = ((pairs[0][0],) * 2,) * 3
    elif kind == "triple":
        pairs = tuple((p[0], p[0]) for p in pairs)
    elif kind in ("valid", "same"):
        pairs = ((0, 0),) * 3
    size = tuple(max(1, d * (k - 1) + 1 - lo - hi) + draw(st.integers(0, 2))
                 for k, d, (lo, hi) in zip(kernel, dilation, pairs))
    if kernel == (1, 1, 1) and draw(st.booleans()):
        stride, padding, dilation = 1, 0, 1
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return dict(shape=(draw(st.integers(1, 2)), C, *size), wshape=(F, C // groups, *kernel), geo=geo,
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                unbatched=draw(st.booleans()), seed=draw(st.integers(0, 2**31)))


def arrays(p):
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal(p["shape"])
    w = rng.standard_normal(p["wshape"])
    b = rng.standard_normal(p["wshape"][0])
    return x, w, b


def close(got, want, dtype, scale=1.0):
    rtol, atol = tolerance(dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(1.0, scale))


# ---------------------------------------------------------------------------
# against the naive loops, fuzzed
# ---------------------------------------------------------------------------


@pytest.mark.jit_only
@FUZZ
@given(p=problems())
def test_conv3d_matches_naive(backend, p):
    x, w, b = arrays(p)
    want = conv_nd(x, w, b, **p["geo"])
    if p["unbatched"]:
        x, want = x[0], want[0]
    dt = p["dtype"]
    scale = float(np.abs(want).max(initial=1.0))
    for layout in ("NCDHW", "NDHWC"):
        xl = to_layout(x.astype(dt), layout)
        for method in runnable("conv3d", FORWARD, xl, w.astype(dt), b, layout=layout, **p["geo"]):
            for budget in BUDGETS:
                got = nb.conv3d(xl, w.astype(dt), b.astype(dt), layout=layout, method=method,
                                max_workspace_bytes=budget, **p["geo"])
                assert got.dtype == dt
                close(from_layout(got, layout), want, dt, scale)


@pytest.mark.jit_only
@FUZZ
@given(p=problems())
def test_gradients_match_naive(backend, p):
    x, w, _ = arrays(p)
    if p["unbatched"]:
        x = x[:1]
    out = conv_nd(x, w, None, **p["geo"])
    go = np.random.default_rng(p["seed"] + 1).standard_normal(out.shape)
    want_x = conv_nd_input_grad(x.shape, w, go, **p["geo"])
    want_w = conv_nd_weight_grad(x, w.shape, go, **p["geo"])
    if p["unbatched"]:
        x, go, want_x = x[0], go[0], want_x[0]
    dt = p["dtype"]
    sx, sw = float(np.abs(want_x).max(initial=1.0)), float(np.abs(want_w).max(initial=1.0))
    for layout in ("NCDHW", "NDHWC"):
        xl, gol = to_layout(x.astype(dt), layout), to_layout(go.astype(dt), layout)
        for method in runnable("conv3d_input_grad", INPUT_GRAD, xl.shape, w.astype(dt), gol,
                               layout=layout, **p["geo"]):
            for budget in BUDGETS:
                got = nb.conv3d_input_grad(xl.shape, w.astype(dt), gol, layout=layout,
                                           method=method, max_workspace_bytes=budget, **p["geo"])
                assert got.dtype == dt
                close(from_layout(got, layout), want_x, dt, sx)
        for method in runnable("conv3d_weight_grad", WEIGHT_GRAD, xl, w.shape, gol, layout=layout,
                               **p["geo"]):
            for budget in BUDGETS:
                got = nb.conv3d_weight_grad(xl, w.shape, gol, layout=layout, method=method,
                                            max_workspace_bytes=budget, **p["geo"])
                close(got, want_w, dt, sw)
        gx, gw, gb = nb.conv3d_backward(xl, w.astype(dt), gol, layout=layout, max_workspace_bytes=1,
                                        **p["geo"])
        close(from_layout(gx, layout), want_x, dt, sx)
        close(gw, want_w, dt, sw)
        close(gb, go.sum(axis=tuple(a for a in range(go.ndim) if a != go.ndim - 4)), dt,
              float(np.abs(go).sum()))


@st.composite
def transpose_problems(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    fg = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    opad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = tuple(draw(st.integers(1, 3)) for _ in range(3))
    pads = []
    for n, s, d, k, op in zip(size, stride, dilation, kernel, opad):
        full = (n - 1) * s + d * (k - 1) + op + 1
        lo = draw(st.integers(0, min(2, (full - 1) // 2)))
        hi = draw(st.integers(0, min(2, full - 1 - lo)))
        pads.append((lo, hi))
    padding = tuple(pads) if draw(st.booleans()) else tuple(lo for lo, _ in pads)
    if not isinstance(padding[0], tuple):
        pads = [(lo, lo) for lo in padding]
        if any((n - 1) * s + d * (k - 1) + op + 1 - 2 * lo < 1 for n, s, d, k, op, (lo, _)
               in zip(size, stride, dilation, kernel, opad, pads)):
            padding = 0
    return dict(shape=(draw(st.integers(1, 2)), c_in, *size), wshape=(c_in, fg, *kernel),
                geo=dict(stride=stride, padding=padding, output_padding=opad, groups=groups,
                         dilation=dilation),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                unbatched=draw(st.booleans()), seed=draw(st.integers(0, 2**31)))


@pytest.mark.jit_only
@FUZZ
@given(p=transpose_problems())
def test_conv_transpose3d_matches_naive(backend, p):
    x, w, _ = arrays(p)
    b = np.random.default_rng(p["seed"]).standard_normal(w.shape[1] * p["geo"]["groups"])
    want = conv_transpose_nd(x, w, b, **p["geo"])
    if p["unbatched"]:
        x, want = x[0], want[0]
    dt = p["dtype"]
    scale = float(np.abs(want).max(initial=1.0))
    for layout in ("NCDHW", "NDHWC"):
        xl = to_layout(x.astype(dt), layout)
        for method in runnable("conv_transpose3d", INPUT_GRAD, xl, w.astype(dt), b, layout=layout,
                               **p["geo"]):
            for budget in (None, 1):
                got = nb.conv_transpose3d(xl, w.astype(dt), b.astype(dt), layout=layout,
                                          method=method, max_workspace_bytes=budget, **p["geo"])
                assert got.dtype == dt
                close(from_layout(got, layout), want, dt, scale)


# ---------------------------------------------------------------------------
# fixed cases: every method, chunking, layouts
# ---------------------------------------------------------------------------


def test_every_method_and_many_chunks(backend, rng):
    x = rng.standard_normal((2, 4, 5, 4, 6))
    w = rng.standard_normal((6, 2, 3, 2, 3))
    b = rng.standard_normal(6)
    geo = dict(stride=(1, 2, 1), padding=((1, 0), 1, (2, 1)), dilation=(1, 1, 2), groups=2)
    want = conv_nd(x, w, b, **geo)
    for budget in (None, 1, 100, 5000):
        np.testing.assert_allclose(nb.conv3d(x, w, b, max_workspace_bytes=budget, **geo), want,
                                   atol=1e-10)
        got = nb.conv3d(to_layout(x, "NDHWC"), w, b, layout="NDHWC", max_workspace_bytes=budget, **geo)
        np.testing.assert_allclose(from_layout(got, "NDHWC"), want, atol=1e-10)


def test_pointwise_methods(backend, rng):
    x = rng.standard_normal((2, 4, 3, 4, 5))
    w = rng.standard_normal((6, 2, 1, 1, 1))
    go = rng.standard_normal((2, 6, 3, 4, 5))
    assert nb.explain("conv3d", x, w, groups=2).method == "pointwise"
    np.testing.assert_allclose(nb.conv3d(x, w, groups=2, method="pointwise"),
                               conv_nd(x, w, groups=2), atol=1e-10)
    np.testing.assert_allclose(nb.conv3d_input_grad(x.shape, w, go, groups=2, method="pointwise"),
                               conv_nd_input_grad(x.shape, w, go, groups=2), atol=1e-10)
    np.testing.assert_allclose(nb.conv3d_weight_grad(x, w.shape, go, groups=2, method="pointwise"),
                               conv_nd_weight_grad(x, w.shape, go, groups=2), atol=1e-10)
    with pytest.raises(ValueError, match="`method`='pointwise' cannot run this conv3d.*1x1x1"):
        nb.conv3d(x, rng.standard_normal((6, 2, 3, 1, 1)), groups=2, method="pointwise")


def test_input_grad_depth_slabs_touch_every_voxel(backend, rng):
    # stride above the kernel: some input depths are read by no window and
    # must come out zero when the col2im runs in slabs through a temporary
    x = rng.standard_normal((1, 2, 7, 4, 3))
    w = rng.standard_normal((3, 2, 2, 2, 2))
    go = rng.standard_normal((1, 3, 2, 2, 2))
    geo = dict(stride=(3, 2, 1), padding=(0, 0, (0, 0)))
    want = conv_nd_input_grad(x.shape, w, go, **geo)
    for budget in (1, 50, None):
        out = nb.conv3d_input_grad(x.shape, w, go, method="col2im", max_workspace_bytes=budget, **geo)
        np.testing.assert_allclose(out, want, atol=1e-12)
    assert np.all(out[0, :, 2] == 0) and np.all(out[0, :, 5:] == 0)


def test_non_contiguous_inputs_and_not_modified(backend, rng):
    base = rng.standard_normal((2, 6, 5, 6, 7))
    x = base[:, ::2, :, ::-1]                       # strided, negative stride
    w = np.asfortranarray(rng.standard_normal((4, 3, 2, 3, 2)))
    b = rng.standard_normal(8)[::2]
    snapshot = [a.copy() for a in (x, w, b)]
    np.testing.assert_allclose(nb.conv3d(x, w, b, padding=1), conv_nd(x, w, b, padding=1), atol=1e-10)
    go = rng.standard_normal((2, 4, 12, 6, 8))[:, :, ::2]
    gx, gw, gb = nb.conv3d_backward(x, w, go, padding=1)
    np.testing.assert_allclose(gx, conv_nd_input_grad(x.shape, w, go, padding=1), atol=1e-10)
    np.testing.assert_allclose(gw, conv_nd_weight_grad(x, w.shape, go, padding=1), atol=1e-10)
    for a, s in zip((x, w, b), snapshot):
        np.testing.assert_array_equal(a, s)


def test_dtypes_and_integer_input(backend):
    x = np.arange(2 * 3 * 3 * 3, dtype=np.int32).reshape(1, 2, 3, 3, 3)
    w = np.ones((1, 2, 2, 2, 2), dtype=np.float32)
    out = nb.conv3d(x, w)
    assert out.dtype == np.float64 and out.shape == (1, 1, 2, 2, 2)
    np.testing.assert_allclose(out, conv_nd(x, w))
    assert nb.conv3d(x.astype(np.float16), w).dtype == np.float32


def test_empty_batch_and_channels(backend):
    out = nb.conv3d(np.ones((0, 2, 3, 3, 3)), np.ones((4, 2, 2, 2, 2)), np.ones(4))
    assert out.shape == (0, 4, 2, 2, 2)
    out = nb.conv3d(np.ones((1, 0, 3, 3, 3)), np.ones((4, 0, 2, 2, 2)), np.arange(4.0))
    np.testing.assert_array_equal(out[0, :, 0, 0, 0], np.arange(4.0))
    gx = nb.conv3d_input_grad((0, 2, 3, 3, 3), np.ones((4, 2, 2, 2, 2)), np.ones((0, 4, 2, 2, 2)))
    assert gx.shape == (0, 2, 3, 3, 3)
    gw = nb.conv3d_weight_grad(np.ones((0, 2, 3, 3, 3)), (4, 2, 2, 2, 2), np.ones((0, 4, 2, 2, 2)))
    np.testing.assert_array_equal(gw, 0)


def test_bias_grad(backend, rng):
    go = rng.standard_normal((2, 3, 2, 4, 5))
    np.testing.assert_allclose(nb.conv3d_bias_grad(go), go.sum(axis=(0, 2, 3, 4)))
    np.testing.assert_allclose(nb.conv3d_bias_grad(to_layout(go, "NDHWC"), layout="NDHWC"),
                               go.sum(axis=(0, 2, 3, 4)))
    np.testing.assert_allclose(nb.conv3d_bias_grad(go[0]), go[0].sum(axis=(1, 2, 3)))


def test_explain_3d():
    x = np.zeros((2, 8, 6, 10, 10), np.float32)
    w = np.zeros((16, 8, 3, 3, 3), np.float32)
    choice = nb.explain("conv3d", x, w, padding=1, max_workspace_bytes=50_000)
    assert choice.method == "im2col" and "chunk(s) of im2col_nd" in choice.plan
    assert [c.name for c in choice.candidates] == ["im2col", "pointwise"]
    choice = nb.explain(nb.conv3d, to_layout(x, "NDHWC"), w, padding=1, layout="NDHWC")
    assert "channels-first copies" in choice.plan
    go = np.zeros((2, 16, 6, 10, 10), np.float32)
    choice = nb.explain("conv3d_input_grad", x.shape, w, go, padding=1, method="full")
    assert choice.method == "full" and "flipped kernel" in choice.plan
    assert nb.explain("conv3d_weight_grad", x, w.shape, go, padding=1).method == "im2col"
    assert nb.explain("conv_transpose3d", go, w, padding=1).method in ("col2im", "full")


# ---------------------------------------------------------------------------
# against PyTorch
# ---------------------------------------------------------------------------


@pytest.mark.jit_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
def test_against_torch(backend, dtype, layout):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 7, 9, 8)).astype(dtype)
    w = rng.standard_normal((8, 3, 3, 2, 3)).astype(dtype)
    b = rng.standard_normal(8).astype(dtype)
    rtol, atol = (1e-4, 1e-4) if dtype == np.float32 else (1e-10, 1e-10)
    for geo in (dict(stride=2, padding=1, dilation=1, groups=2),
                dict(stride=(1, 2, 1), padding=(2, 0, 1), dilation=(2, 1, 1), groups=1),
                dict(stride=1, padding="same", dilation=(1, 2, 1), groups=2)):
        if geo["groups"] == 1:
            wg = rng.standard_normal((8, 6, 3, 2, 3)).astype(dtype)
        else:
            wg = w
        xt = torch.from_numpy(x).requires_grad_()
        wt = torch.from_numpy(wg).requires_grad_()
        bt = torch.from_numpy(b).requires_grad_()
        y = F.conv3d(xt, wt, bt, **geo)
        go = rng.standard_normal(y.shape).astype(dtype)
        y.backward(torch.from_numpy(go))
        xl, gol = to_layout(x, layout), to_layout(go, layout)
        got = nb.conv3d(xl, wg, b, layout=layout, **geo)
        np.testing.assert_allclose(from_layout(got, layout), y.detach().numpy(), rtol=rtol, atol=atol)
        gx, gw, gb = nb.conv3d_backward(xl, wg, gol, layout=layout, **geo)
        np.testing.assert_allclose(from_layout(gx, layout), xt.grad.numpy(), rtol=rtol, atol=atol)
        np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=rtol, atol=10 * atol)
        np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=rtol, atol=10 * atol)
    # conv_transpose3d
    for geo in (dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1),
                dict(stride=(1, 3, 2), padding=(0, 1, 2), output_padding=(0, 2, 1), groups=1,
                     dilation=(2, 1, 2))):
        wt = rng.standard_normal((6, 2, 3, 3, 3)).astype(dtype)
        bias = rng.standard_normal(wt.shape[1] * geo["groups"]).astype(dtype)
        want = F.conv_transpose3d(torch.from_numpy(x), torch.from_numpy(wt), torch.from_numpy(bias),
                                  **geo).numpy()
        got = nb.conv_transpose3d(to_layout(x, layout), wt, bias, layout=layout, **geo)
        np.testing.assert_allclose(from_layout(got, layout), want, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# errors: checked once in the wrapper, naming the argument
# ---------------------------------------------------------------------------

X = np.ones((1, 2, 4, 4, 4))
W = np.ones((3, 2, 3, 3, 3))
GO = np.ones((1, 3, 2, 2, 2))


@pytest.mark.parametrize("call, match", [
    (lambda: nb.conv3d(X, np.ones((3, 3))), r"`weight` must be 5-D .*got a 2-D array"),
    (lambda: nb.conv3d(np.ones((4, 4, 4)), W), r"`input` must be 5-D .*got a 3-D array"),
    (lambda: nb.conv3d(X, W, stride=(1, 2)), r"`stride` .*expected length 3, got length 2"),
    (lambda: nb.conv3d(X, W, padding=(1, 1)), r"`padding` .*expected length 3, got length 2"),
    (lambda: nb.conv3d(X, W, padding=((1, 1), (1, 1))), r"`padding` .*length 3, got length 2"),
    (lambda: nb.conv3d(X, W, dilation=[1, 1, 1, 1]), r"`dilation` .*length 3, got length 4"),
    (lambda: nb.conv3d(X, W, stride=0), r"`stride` must be positive"),
    (lambda: nb.conv3d(X, W, padding="full"), r"`padding` must be"),
    (lambda: nb.conv3d(X, W, layout="NCHW"), r"`layout` must be 'NCDHW' or 'NDHWC'"),
    (lambda: nb.conv3d(X, np.ones((3, 1, 3, 3, 3))), r"`weight` of shape .* expects 1 input channels"),
    (lambda: nb.conv3d(X, W, groups=4), r"`groups`=4 must divide the input channels"),
    (lambda: nb.conv3d(X, W, np.ones(2)), r"`bias` must have shape \(3,\)"),
    (lambda: nb.conv3d(X, np.ones((3, 2, 5, 3, 3))), r"`weight` kernel .* larger than the padded"),
    (lambda: nb.conv3d(X, W, method="shift"), r"`method` must be one of 'auto', 'im2col'"),
    (lambda: nb.conv3d(X, W, method="pointwise"), r"`method`='pointwise' cannot run this conv3d"),
    (lambda: nb.conv3d(X, W, max_workspace_bytes=0), r"`max_workspace_bytes` must be positive"),
    (lambda: nb.conv3d_input_grad((1, 4, 4, 4, 4), W, GO), r"`input_shape` .* has 4"),
    (lambda: nb.conv3d_input_grad((2, 4, 4), W, GO), r"`input_shape` must be"),
    (lambda: nb.conv3d_input_grad(X.shape, W, GO[0, :2]), r"`grad_output` must have shape \(1, 3, 2, 2, 2\)"),
    (lambda: nb.conv3d_weight_grad(X, (3, 2, 3, 3), GO), r"`weight_shape` must be"),
    (lambda: nb.conv3d_weight_grad(X, (3, 1, 3, 3, 3), GO), r"`weight_shape` of shape"),
    (lambda: nb.conv3d_backward(X, W, GO, input_method="tiles"), r"`input_method` must be one of"),
    (lambda: nb.conv3d_backward(X, W, GO, weight_method="pointwise"), r"`weight_method`='pointwise'"),
    (lambda: nb.conv3d_bias_grad(np.ones((3, 2, 2))), r"`grad_output` must be 4-D"),
    (lambda: nb.conv_transpose3d(GO, W, padding="full"), r"`padding` must be an int, a tuple of 3 ints, 'valid' or 'same', got 'full'"),
    (lambda: nb.conv_transpose3d(GO, W, output_padding=(1, 0)),
     r"`output_padding` .*length 3, got length 2"),
    (lambda: nb.conv_transpose3d(GO, W, stride=2, output_padding=2),
     r"`output_padding` must be smaller than `stride` or `dilation`"),
    (lambda: nb.conv_transpose3d(GO, W, padding=3), r"output size .* is not positive"),
    (lambda: nb.conv_transpose3d(GO, W[:2]), r"`weight` of shape .* for 2 input channels"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_type_errors():
    with pytest.raises(TypeError, match="`input` must hold real numbers"):
        nb.conv3d(X.astype(object), W)  # (complex operands are convolutions too)
    with pytest.raises(TypeError, match="`stride` must be an int or a tuple of 3 ints"):
        nb.conv3d(X, W, stride=1.5)
    with pytest.raises(TypeError, match="`input_shape` must be a tuple of ints"):
        nb.conv3d_input_grad("shape", W, GO)


def test_one_tuples_mean_every_axis(rng):
    x = rng.standard_normal((1, 2, 5, 6, 7))
    w = rng.standard_normal((3, 2, 3, 3, 3))
    np.testing.assert_array_equal(nb.conv3d(x, w, stride=(2,), padding=(1,), dilation=[1]),
                                  nb.conv3d(x, w, stride=2, padding=1, dilation=1))
    np.testing.assert_array_equal(nb.conv3d(x, w, padding=((1, 2),)),
                                  nb.conv3d(x, w, padding=((1, 2),) * 3))
    pads = pads_nd("same", x.shape[2:], w.shape[2:], (2, 2, 2), (1, 1, 1))
    np.testing.assert_array_equal(nb.conv3d(x, w, stride=2, padding="same"),
                                  nb.conv3d(x, w, stride=2, padding=pads))


def test_backward_promotes_dtype(rng):
    x = rng.standard_normal((1, 2, 4, 4, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 2, 2)).astype(np.float32)
    go = rng.standard_normal((1, 3, 3, 3, 3))                     # float64
    gx, gw, gb = nb.conv3d_backward(x, w, go)
    assert gx.dtype == gw.dtype == gb.dtype == np.float64
    np.testing.assert_allclose(gx, conv_nd_input_grad(x.shape, w, go), atol=1e-5)
    np.testing.assert_allclose(gw, conv_nd_weight_grad(x, w.shape, go), atol=1e-5)


def test_drivers_reach_the_data_only_through_the_nd_kernels(backend, rng, monkeypatch):
    # a replacement im2col_nd / col2im_nd (as the Numba kernel will be) is
    # what every im2col/col2im method runs: spy on the backend's two entries
    from im2col_nb._core.backend import backend_module

    module = backend_module()
    seen = []
    for name in ("im2col_nd", "col2im_nd"):
        kernel = getattr(module, name)

        def spy(*args, _kernel=kernel, _name=name):
            assert all(a.flags.c_contiguous for a in args)
            seen.append(_name)
            return _kernel(*args)
        monkeypatch.setattr(module, name, spy)
    x = rng.standard_normal((2, 2, 4, 5, 3))
    w = rng.standard_normal((3, 2, 2, 3, 2))
    go = rng.standard_normal((2, 3, 3, 3, 2))
    np.testing.assert_allclose(nb.conv3d(x, w, method="im2col", max_workspace_bytes=64),
                               conv_nd(x, w), atol=1e-10)
    np.testing.assert_allclose(nb.conv3d_input_grad(x.shape, w, go, method="col2im",
                                                    max_workspace_bytes=64),
                               conv_nd_input_grad(x.shape, w, go), atol=1e-10)
    nb.conv3d_weight_grad(x, w.shape, go, method="im2col")
    assert {"im2col_nd", "col2im_nd"} <= set(seen) and len(seen) > 3
