"""Sequences (one spatial axis): conv1d, its gradients, conv_transpose1d,
max/avg_pool1d and their gradients, against the N-D references of
``tests/naive.py`` (fuzzed geometry, both layouts, batched and unbatched,
float32/float64, both backends), with every method forced where it runs,
against PyTorch where installed, and their 1-D error messages."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import im2col_nb as nb
import naive
from conftest import tolerance
from im2col_nb._engine.registry import methods

SMALL = settings(max_examples=100, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow, HealthCheck.filter_too_much])
LAYOUTS = ("NCL", "NLC")


def to_layout(a, layout, batched=True):
    """An NCL array (batched or not) in `layout`, C-contiguous; unbatched
    drops the batch axis."""
    a = a if batched else a[0]
    return np.ascontiguousarray(np.swapaxes(a, -1, -2)) if layout == "NLC" else a


def from_layout(a, layout, batched=True):
    """The inverse of `to_layout`: batched NCL."""
    a = np.swapaxes(a, -1, -2) if layout == "NLC" else a
    return a if batched else a[None]


def close(got, want, dtype):
    rtol, atol = tolerance(dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(1.0, np.abs(want).max(initial=0)))


@st.composite
def conv1d_problems(draw):
    """A valid conv1d problem: NCL input/weight shapes and the keywords."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C = groups * draw(st.integers(1, 2))
    F = groups * draw(st.integers(1, 3))
    k, d, s = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["int", "tuple", "pair", "valid", "same"]))
    lo, hi = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    padding = {"int": lo, "tuple": (lo,), "pair": ((lo, hi),), "valid": "valid", "same": "same"}[kind]
    if kind in ("int", "tuple"):
        hi = lo
    elif kind in ("valid", "same"):
        lo = hi = 0
    L = max(1, d * (k - 1) + 1 - lo - hi) + draw(st.integers(0, 6))
    return dict(shape=(draw(st.integers(1, 2)), C, L), wshape=(F, C // groups, k),
                geo=dict(stride=draw(st.sampled_from([s, (s,)])), padding=padding,
                         dilation=draw(st.sampled_from([d, (d,)])), groups=groups),
                layout=draw(st.sampled_from(LAYOUTS)), batched=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                seed=draw(st.integers(0, 2**31)))


def operands(p):
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal(p["shape"]).astype(p["dtype"])
    x = x if p["batched"] else x[:1]
    w = rng.standard_normal(p["wshape"]).astype(p["dtype"])
    b = rng.standard_normal(p["wshape"][0]).astype(p["dtype"])
    return x, w, b


# ---------------------------------------------------------------------------
# against the N-D references, fuzzed
# ---------------------------------------------------------------------------


@pytest.mark.jit_only
@SMALL
@given(p=conv1d_problems())
def test_conv1d_and_gradients_match_the_reference(backend, p):
    x, w, b = operands(p)
    layout, batched, geo, dtype = p["layout"], p["batched"], p["geo"], p["dtype"]
    want = naive.conv_nd(x, w, b, **geo)
    xl = to_layout(x, layout, batched)
    x_before = xl.copy()
    out = nb.conv1d(xl, w, b, **geo, layout=layout)
    assert out.dtype == dtype
    close(from_layout(out, layout, batched), want, dtype)
    np.testing.assert_array_equal(xl, x_before)
    g = np.random.default_rng(p["seed"] + 1).standard_normal(want.shape).astype(dtype)
    gl = to_layout(g, layout, batched)
    gx = nb.conv1d_input_grad(xl.shape, w, gl, **geo, layout=layout)
    gw = nb.conv1d_weight_grad(xl, w.shape, gl, **geo, layout=layout)
    close(from_layout(gx, layout, batched), naive.conv_nd_input_grad(x.shape, w, g, **geo), dtype)
    close(gw, naive.conv_nd_weight_grad(x, w.shape, g, **geo), dtype)
    gx2, gw2, gb2 = nb.conv1d_backward(xl, w, gl, **geo, layout=layout)
    np.testing.assert_array_equal(gx2, gx)
    close(gw2, gw, dtype)
    close(gb2, g.sum(axis=(0, 2)), dtype)
    close(nb.conv1d_bias_grad(gl, layout=layout), g.sum(axis=(0, 2)), dtype)


@st.composite
def transpose_problems(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    C = groups * draw(st.integers(1, 2))
    Fg = draw(st.integers(1, 3))
    k, d, s = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    lo, hi = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    padding = draw(st.sampled_from([lo, (lo,), ((lo, hi),)]))
    if not isinstance(padding, tuple) or not isinstance(padding[0], tuple):
        hi = lo
    op = draw(st.integers(0, max(s, d) - 1))
    L = draw(st.integers(1, 6))
    assume((L - 1) * s - lo - hi + d * (k - 1) + op + 1 >= 1)
    return dict(shape=(draw(st.integers(1, 2)), C, L), wshape=(C, Fg, k),
                geo=dict(stride=s, padding=padding, output_padding=op, groups=groups, dilation=d),
                layout=draw(st.sampled_from(LAYOUTS)), batched=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                seed=draw(st.integers(0, 2**31)))


@pytest.mark.jit_only
@SMALL
@given(p=transpose_problems())
def test_conv_transpose1d_matches_the_reference(backend, p):
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal(p["shape"]).astype(p["dtype"])
    x = x if p["batched"] else x[:1]
    w = rng.standard_normal(p["wshape"]).astype(p["dtype"])
    b = rng.standard_normal(p["wshape"][1] * p["geo"]["groups"]).astype(p["dtype"])
    layout, batched = p["layout"], p["batched"]
    out = nb.conv_transpose1d(to_layout(x, layout, batched), w, b, **p["geo"], layout=layout)
    assert out.dtype == p["dtype"]
    close(from_layout(out, layout, batched), naive.conv_transpose_nd(x, w, b, **p["geo"]), p["dtype"])


@st.composite
def pool_problems(draw):
    k, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    s = draw(st.sampled_from([None, 1, 2, 3, (2,)]))
    p = draw(st.integers(0, k // 2))
    L = max(1, d * (k - 1) + 1 - 2 * p, d) + draw(st.integers(0, 6))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), L),
                k=draw(st.sampled_from([k, (k,)])),
                s=s, p=draw(st.sampled_from([p, (p,)])), d=d, ceil=draw(st.booleans()),
                cip=draw(st.booleans()), div=draw(st.sampled_from([None, None, 1, 3, -2])),
                layout=draw(st.sampled_from(LAYOUTS)), batched=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                seed=draw(st.integers(0, 2**31)))


@pytest.mark.jit_only
@SMALL
@given(q=pool_problems())
def test_pool1d_and_backward_match_the_reference(backend, q):
    rng = np.random.default_rng(q["seed"])
    # few distinct values: ties must go to the first maximum
    x = rng.integers(-3, 4, q["shape"]).astype(q["dtype"])
    x = x if q["batched"] else x[:1]
    layout, batched, dtype = q["layout"], q["batched"], q["dtype"]
    xl = to_layout(x, layout, batched)
    want, want_idx = naive.max_pool_nd(x, q["k"], q["s"], q["p"], q["d"], q["ceil"])
    out, idx = nb.max_pool1d(xl, q["k"], q["s"], q["p"], q["d"], q["ceil"], True, layout=layout)
    np.testing.assert_array_equal(from_layout(out, layout, batched), want)
    np.testing.assert_array_equal(from_layout(idx, layout, batched), want_idx)
    assert out.dtype == dtype and idx.dtype == np.int64
    g = rng.standard_normal(want.shape).astype(dtype)
    gl = to_layout(g, layout, batched)
    close(from_layout(nb.max_pool1d_backward(gl, idx, xl.shape, layout=layout), layout, batched),
          naive.max_pool_nd_backward(g, want_idx, x.shape), dtype)

    avg = naive.avg_pool_nd(x, q["k"], q["s"], q["p"], q["ceil"], q["cip"], q["div"])
    got = nb.avg_pool1d(xl, q["k"], q["s"], q["p"], q["ceil"], q["cip"], q["div"], layout=layout)
    close(from_layout(got, layout, batched), avg, dtype)
    ga = rng.standard_normal(avg.shape).astype(dtype)
    gi = nb.avg_pool1d_backward(to_layout(ga, layout, batched), xl.shape, q["k"], q["s"], q["p"],
                                q["ceil"], q["cip"], q["div"], layout=layout)
    close(from_layout(gi, layout, batched),
          naive.avg_pool_nd_backward(ga, x.shape, q["k"], q["s"], q["p"], q["ceil"], q["cip"],
                                     q["div"]), dtype)


# ---------------------------------------------------------------------------
# every method, forced (small, deterministic: also runs uncompiled)
# ---------------------------------------------------------------------------

GEOMETRIES = [
    dict(stride=1, padding=1, dilation=1, groups=1),
    dict(stride=1, padding=0, dilation=1, groups=1),                # with k=1: pointwise
    dict(stride=2, padding=((0, 2),), dilation=2, groups=2),
    dict(stride=1, padding="same", dilation=3, groups=1),
]


def _forced(op, method, call):
    """`call()` with `method` forced: the result, or None if the method
    cannot run the problem (then the 1-D message says so)."""
    try:
        return call()
    except ValueError as exc:
        assert f"cannot run this {op}" in str(exc) and "2d" not in str(exc), str(exc)
        return None


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("geo,k", [(g, k) for g in GEOMETRIES for k in (1, 3)])
def test_every_method_forced(backend, layout, geo, k):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 13))
    w = rng.standard_normal((6, 4 // geo["groups"], k))
    b = rng.standard_normal(6)
    xl = to_layout(x, layout)
    want = naive.conv_nd(x, w, b, **geo)
    g = rng.standard_normal(want.shape)
    gl = to_layout(g, layout)
    want_gx = naive.conv_nd_input_grad(x.shape, w, g, **geo)
    want_gw = naive.conv_nd_weight_grad(x, w.shape, g, **geo)
    ran = set()
    for m in methods("conv2d"):
        out = _forced("conv1d", m.name,
                      lambda: nb.conv1d(xl, w, b, **geo, layout=layout, method=m.name))
        if out is not None:
            ran.add(("conv1d", m.name))
            close(from_layout(out, layout), want, np.float64)
            assert nb.explain("conv1d", xl, w, b, **geo, layout=layout, method=m.name).method == m.name
    for m in methods("conv2d_input_grad"):
        gx = _forced("conv1d_input_grad", m.name, lambda: nb.conv1d_input_grad(
            xl.shape, w, gl, **geo, layout=layout, method=m.name))
        if gx is not None:
            ran.add(("input", m.name))
            close(from_layout(gx, layout), want_gx, np.float64)
    for m in methods("conv2d_weight_grad"):
        gw = _forced("conv1d_weight_grad", m.name, lambda: nb.conv1d_weight_grad(
            xl, w.shape, gl, **geo, layout=layout, method=m.name))
        if gw is not None:
            ran.add(("weight", m.name))
            close(gw, want_gw, np.float64)
    assert {("conv1d", "im2col"), ("conv1d", "direct"), ("input", "col2im"),
            ("weight", "im2col")} <= ran
    if k == 1 and geo["padding"] == 0:
        assert {("conv1d", "pointwise"), ("input", "pointwise"), ("weight", "pointwise")} <= ran


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("stride,padding,k", [(1, 1, 3), (2, ((1, 0),), 3), (1, 0, 1)])
def test_conv_transpose1d_every_method_forced(backend, layout, stride, padding, k):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 7))
    w = rng.standard_normal((4, 3, k))
    want = naive.conv_transpose_nd(x, w, None, stride, padding)
    ran = []
    for m in methods("conv_transpose2d"):
        out = _forced("conv_transpose1d", m.name, lambda: nb.conv_transpose1d(
            to_layout(x, layout), w, None, stride, padding, layout=layout, method=m.name))
        if out is not None:
            ran.append(m.name)
            close(from_layout(out, layout), want, np.float64)
    assert "col2im" in ran


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("method", ["direct", "im2col"])
def test_pool1d_methods_forced(backend, layout, method):
    x = np.random.default_rng(5).integers(-2, 3, (2, 3, 11)).astype(np.float32)
    want, want_idx = naive.max_pool_nd(x, 3, 2, 1, 2, True)
    out, idx = nb.max_pool1d(to_layout(x, layout), 3, 2, 1, 2, True, True, layout=layout,
                             method=method)
    np.testing.assert_array_equal(from_layout(out, layout), want)
    np.testing.assert_array_equal(from_layout(idx, layout), want_idx)
    got = nb.avg_pool1d(to_layout(x, layout), 4, 3, 2, True, False, None, layout=layout,
                        method=method)
    close(from_layout(got, layout), naive.avg_pool_nd(x, 4, 3, 2, True, False), np.float32)
    assert nb.explain("max_pool1d", to_layout(x, layout), 3, layout=layout,
                      method=method).method == method


# ---------------------------------------------------------------------------
# layouts in memory, unbatched, empty batch, inputs untouched
# ---------------------------------------------------------------------------


def test_non_contiguous_inputs_and_inputs_untouched(backend):
    rng = np.random.default_rng(6)
    big = rng.standard_normal((3, 8, 30))
    x = big[::2, ::2, 1::2]                      # strided view (2, 4, 15)
    w = rng.standard_normal((3, 4, 3, 2))[..., 0]  # strided weight
    w_nlc = np.swapaxes(x, 1, 2)                 # an NLC view of the same data, not contiguous
    snapshot = big.copy()
    close(nb.conv1d(x, w, padding=1), naive.conv_nd(x, w, padding=1), np.float64)
    close(np.swapaxes(nb.conv1d(w_nlc, w, padding=1, layout="NLC"), 1, 2),
          naive.conv_nd(x, w, padding=1), np.float64)
    close(nb.conv1d(x[..., ::-1], w), naive.conv_nd(x[..., ::-1], w), np.float64)
    out, idx = nb.max_pool1d(w_nlc, 2, return_indices=True, layout="NLC")
    ref, ref_idx = naive.max_pool_nd(x, 2)
    np.testing.assert_array_equal(np.swapaxes(out, 1, 2), ref)
    np.testing.assert_array_equal(np.swapaxes(idx, 1, 2), ref_idx)
    g = rng.standard_normal((2, 3, 15))[..., ::-1]
    close(nb.conv1d_input_grad(x.shape, w, g, padding=1),
          naive.conv_nd_input_grad(x.shape, w, g, padding=1), np.float64)
    close(nb.conv1d_weight_grad(x, w.shape, g, padding=1),
          naive.conv_nd_weight_grad(x, w.shape, g, padding=1), np.float64)
    np.testing.assert_array_equal(big, snapshot)


def test_unbatched_and_empty_batch(backend):
    x = np.arange(10.0).reshape(2, 5)
    w = np.ones((3, 2, 2))
    assert nb.conv1d(x, w).shape == (3, 4)
    assert nb.conv1d(x.T, w, layout="nlc").shape == (4, 3)
    assert nb.conv1d(np.zeros((0, 2, 5)), w).shape == (0, 3, 4)
    assert nb.conv_transpose1d(np.zeros((0, 2, 5)), np.ones((2, 3, 2))).shape == (0, 3, 6)
    assert nb.max_pool1d(np.zeros((0, 2, 5)), 2).shape == (0, 2, 2)
    np.testing.assert_array_equal(nb.avg_pool1d(x, 5), [[2.0], [7.0]])


def test_integer_and_float16_inputs_promote():
    x = np.arange(12, dtype=np.int32).reshape(1, 2, 6)
    assert nb.conv1d(x, np.ones((1, 2, 3), np.float32)).dtype == np.float64
    assert nb.conv1d(x.astype(np.float16), np.ones((1, 2, 3), np.float16)).dtype == np.float32


def test_explain_reports_the_unit_axis_problem():
    x = np.zeros((4, 8, 100), np.float32)
    w = np.zeros((16, 8, 3), np.float32)
    choice = nb.explain("conv1d", x, w, padding=1)
    assert choice.op == "conv1d" and "1x100" in choice.problem and "1x3" in choice.problem
    unit_axis = nb.explain("conv2d", x[:, :, None], w[:, :, None], padding=((0, 0), (1, 1)))
    assert choice.method == unit_axis.method
    assert nb.explain(nb.conv1d_input_grad, x.shape, w, np.zeros((4, 16, 98), np.float32)).op == \
        "conv1d_input_grad"
    assert nb.explain("conv1d_weight_grad", x, w.shape, np.zeros((4, 16, 98), np.float32)).method in \
        {"tiles", "im2col", "pointwise", "direct"}
    assert nb.explain("conv_transpose1d", x, np.zeros((8, 4, 3), np.float32)).op == "conv_transpose1d"
    assert nb.explain("max_pool1d", x, 3).method == "direct"
    assert nb.explain("avg_pool1d", x, 3, method="im2col").method == "im2col"
    with pytest.raises(ValueError, match="`stride` must be an int or a tuple of 1 int"):
        nb.explain("conv1d", x, w, stride=(1, 1))


# ---------------------------------------------------------------------------
# against PyTorch
# ---------------------------------------------------------------------------


@pytest.mark.jit_only
@pytest.mark.parametrize("layout", LAYOUTS)
def test_against_torch(layout):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = torch.from_numpy
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 23))
    w = rng.standard_normal((6, 2, 3))
    b = rng.standard_normal(6)
    xl = to_layout(x, layout)
    for geo in (dict(stride=2, padding=1, dilation=2, groups=2),
                dict(stride=1, padding="same", dilation=3, groups=2),
                dict(stride=3, padding="valid", dilation=1, groups=1)):
        ww = w if geo["groups"] == 2 else rng.standard_normal((6, 4, 3))
        want = F.conv1d(t(x), t(ww), t(b), **geo).numpy()
        close(from_layout(nb.conv1d(xl, ww, b, **geo, layout=layout), layout), want, np.float64)
    wt = rng.standard_normal((4, 3, 3))
    want = F.conv_transpose1d(t(x), t(wt), t(b), 2, 1, 1, 2, 2).numpy()
    close(from_layout(nb.conv_transpose1d(xl, wt, b, 2, 1, 1, 2, 2, layout=layout), layout),
          want, np.float64)
    ref, ref_idx = F.max_pool1d(t(x), 3, 2, 1, 2, True, True)
    out, idx = nb.max_pool1d(xl, 3, 2, 1, 2, True, True, layout=layout)
    np.testing.assert_array_equal(from_layout(out, layout), ref.numpy())
    np.testing.assert_array_equal(from_layout(idx, layout), ref_idx.numpy())
    close(from_layout(nb.avg_pool1d(xl, 4, 3, 2, True, False, layout=layout), layout),
          F.avg_pool1d(t(x), 4, 3, 2, True, False).numpy(), np.float64)

    # autograd: the gradients PyTorch computes through each op
    tx = t(x).requires_grad_()
    tw = t(w).requires_grad_()
    tb = t(b).requires_grad_()
    y = F.conv1d(tx, tw, tb, stride=2, padding=2, dilation=1, groups=2)
    g = rng.standard_normal(tuple(y.shape))
    (y * t(g)).sum().backward()
    gx, gw, gb = nb.conv1d_backward(xl, w, to_layout(g, layout), stride=2, padding=2, groups=2,
                                    layout=layout)
    close(from_layout(gx, layout), tx.grad.numpy(), np.float64)
    close(gw, tw.grad.numpy(), np.float64)
    close(gb, tb.grad.numpy(), np.float64)
    tx = t(x).requires_grad_()
    y, i = F.max_pool1d(tx, 3, 2, 1, 1, False, True)
    g = rng.standard_normal(tuple(y.shape))
    (y * t(g)).sum().backward()
    got = nb.max_pool1d_backward(to_layout(g, layout), to_layout(i.numpy(), layout), xl.shape,
                                 layout=layout)
    close(from_layout(got, layout), tx.grad.numpy(), np.float64)
    tx = t(x).requires_grad_()
    y = F.avg_pool1d(tx, 3, 2, 1, True, False)
    g = rng.standard_normal(tuple(y.shape))
    (y * t(g)).sum().backward()
    got = nb.avg_pool1d_backward(to_layout(g, layout), xl.shape, 3, 2, 1, True, False,
                                 layout=layout)
    close(from_layout(got, layout), tx.grad.numpy(), np.float64)


# ---------------------------------------------------------------------------
# errors: 1-D wording, the argument named
# ---------------------------------------------------------------------------

X = np.ones((2, 4, 10))
W = np.ones((3, 4, 3))


@pytest.mark.parametrize("call,match", [
    (lambda: nb.conv1d(X, W, stride=(1, 2)),
     r"`stride` must be an int or a tuple of 1 int for conv1d, got \(1, 2\)"),
    (lambda: nb.conv1d(X, W, dilation=(1, 1)), r"`dilation` must be an int or a tuple of 1 int"),
    (lambda: nb.conv1d(X, W, padding=(1, 2)), r"`padding` must be an int, a tuple of 1 int, or one"),
    (lambda: nb.conv1d(X, W, padding=((1, 2), (0, 0))), r"`padding` .* got \(\(1, 2\), \(0, 0\)\)"),
    (lambda: nb.conv1d(X, np.ones((3, 4, 3, 3))), r"`weight` must be 3-D \(F, C/groups, k\) for conv1d"),
    (lambda: nb.conv1d(np.ones(10), W), r"`input` must be 2-D \(C, L\) or 3-D \(N, C, L\)"),
    (lambda: nb.conv1d(np.ones((2, 4, 10, 1)), W), r"`input` must be 2-D"),
    (lambda: nb.conv1d(X, W, layout="NCHW"), r"`layout` must be 'NCL' or 'NLC', got 'NCHW'"),
    (lambda: nb.conv1d(X, np.ones((3, 4, 12))), r"`weight` kernel \(12,\) .* padded input \(10,\)"),
    (lambda: nb.conv1d(X, np.ones((3, 2, 3))), r"`weight` of shape \(3, 2, 3\) expects 2 input"),
    (lambda: nb.conv1d(X, W, stride=2, method="shift"),
     r"`method`='shift' cannot run this conv1d: it needs stride 1, got stride \(2,\)"),
    (lambda: nb.conv1d(X, W, method="nope"), r"`method` must be one of 'auto'"),
    (lambda: nb.conv1d_input_grad((2, 4, 10, 1), W, np.ones((2, 3, 8))), r"`input_shape` must be"),
    (lambda: nb.conv1d_input_grad(X.shape, W, np.ones((2, 3, 9))),
     r"`grad_output` must have shape \(2, 3, 8\), the shape conv1d returns"),
    (lambda: nb.conv1d_weight_grad(X, (3, 4), np.ones((2, 3, 8))), r"`weight_shape` must be"),
    (lambda: nb.conv1d_weight_grad(X, (3, 4, 3), np.ones((2, 3, 8)), method="pointwise"),
     r"`method`='pointwise' cannot run this conv1d_weight_grad: it needs a kernel of size 1"),
    (lambda: nb.conv1d_backward(X, W, np.ones((2, 3, 4)), stride=2, input_method="full"),
     r"`input_method`='full' cannot run this conv1d_input_grad"),
    (lambda: nb.conv1d_bias_grad(np.ones((2, 3, 8, 1))), r"`grad_output` must be 2-D \(F, OL\)"),
    (lambda: nb.conv_transpose1d(X, np.ones((4, 3, 3)), output_padding=(1, 1)),
     r"`output_padding` must be an int or a tuple of 1 int for conv_transpose1d"),
    (lambda: nb.conv_transpose1d(X, np.ones((4, 3, 3)), padding="full"), r"`padding` must be an int"),
    (lambda: nb.conv_transpose1d(X, np.ones((4, 3, 3)), output_padding=1),
     r"`output_padding` must be smaller than `stride` or `dilation`"),
    (lambda: nb.conv_transpose1d(X, np.ones((4, 3))), r"`weight` must be 3-D \(C_in, F/groups, k\)"),
    (lambda: nb.max_pool1d(X, (2, 2)), r"`kernel_size` must be an int or a tuple of 1 int for max_pool1d"),
    (lambda: nb.max_pool1d(X, 2, stride=(1, 1)), r"`stride` must be an int or a tuple of 1 int"),
    (lambda: nb.max_pool1d(np.ones(10), 2), r"`input` must be 2-D \(C, L\) or 3-D"),
    (lambda: nb.max_pool1d(X, 2, layout="NHWC"), r"`layout` must be 'NCL' or 'NLC'"),
    (lambda: nb.max_pool1d(X, 3, padding=2), r"`padding` must be at most half of `kernel_size`"),
    (lambda: nb.avg_pool1d(X, 2, padding=(1, 1)),
     r"`padding` must be an int, a tuple of 1 int, or one \(low, high\) pair \(\(lo, hi\),\), "
     r"'same' or 'valid' for avg_pool1d, got \(1, 1\) \(length 2, expected 1\)"),
    (lambda: nb.avg_pool1d(X, 2, divisor_override=0), r"`divisor_override` must not be zero"),
    (lambda: nb.avg_pool1d(X, 20), r"`kernel_size` \(20,\) .* padded input \(10,\)"),
    (lambda: nb.max_pool1d_backward(np.ones((2, 4, 5)), np.full((2, 4, 5), 10), X.shape),
     r"`indices` must lie in \[0, L\) = \[0, 10\)"),
    (lambda: nb.max_pool1d_backward(np.ones((2, 4, 5)), np.zeros((2, 4, 4), int), X.shape),
     r"`indices` must have the shape of `grad_output`"),
    (lambda: nb.avg_pool1d_backward(np.ones((2, 4, 4)), X.shape, 2),
     r"`grad_output` must have shape \(2, 4, 5\) \(the avg_pool1d output"),
    (lambda: nb.avg_pool1d_backward(np.ones((2, 4, 5, 1)), X.shape, 2), r"`grad_output` must be 2-D"),
])
def test_errors_name_the_argument_in_1d_words(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    message = str(info.value)
    assert "2d" not in message and "(H, W)" not in message and "kh" not in message, message
