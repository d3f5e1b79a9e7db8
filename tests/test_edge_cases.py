"""Edge cases against PyTorch and the naive references, on both backends.

- inf/NaN weights in the transposed convolutions and input gradients: the
  zero padding adds nothing (no NaN where the inf/NaN does not reach), by
  every method `explain` lists; inf/NaN inputs of the forward convolutions;
- strides, dilations and paddings of ``2**31`` (one output window): no
  buffer sized by the stride;
- geometry integers above ``2**62``: a ValueError naming the argument;
- pooling windows far larger than the output (huge kernels);
- zero input channels.
"""

import time

import naive
import numpy as np
import pytest

import im2col_nb as m

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def T(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def assert_same(ours, ref):
    """Same shape, same NaN positions, same values elsewhere (inf included)."""
    ours = np.asarray(ours)
    ref = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12, equal_nan=True)


def runnable(op, *args, **kwargs):
    """'auto' and every method `explain` lists as able to run the call."""
    choice = m.explain(op, *args, **kwargs)
    return ["auto"] + [c.name for c in choice.candidates if c.supported]


def listed(op, *args, **kwargs):
    """Every method `explain` lists for the call, able or not."""
    return [c.name for c in m.explain(op, *args, **kwargs).candidates]


BAD = [np.inf, -np.inf, np.nan]


def _bad_weight(shape, bad, where):
    w = np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)
    w[where] = bad
    return w


# ---------------------------------------------------------------------------
# 1. inf / NaN weights: the padding contributes nothing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("bad", BAD, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("padding", [0, 1])
def test_transpose_nonfinite_weight(backend, ndim, bad, padding):
    x = np.ones((1, 2) + (4,) * ndim)
    w = _bad_weight((2, 3) + (3,) * ndim, bad, (0, 1) + (2,) * ndim)
    op = getattr(m, f"conv_transpose{ndim}d")
    ref = getattr(F, f"conv_transpose{ndim}d")(T(x), T(w), padding=padding)
    assert_same(naive.conv_transpose_nd(x, w, padding=padding), ref)
    for method in listed(op, x, w, padding=padding):
        if method == "pointwise":
            continue  # 1x1 kernels only
        assert_same(op(x, w, padding=padding, method=method), ref)
    assert_same(op(x, w, padding=padding), ref)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("bad", BAD, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("padding", [0, 1])
def test_input_grad_nonfinite_weight(backend, ndim, bad, padding):
    x = np.ones((1, 2) + (6,) * ndim)
    w = _bad_weight((3, 2) + (3,) * ndim, bad, (1, 0) + (2,) * ndim)
    go = np.ones((1, 3) + (6 + 2 * padding - 2,) * ndim)
    xt = T(x).requires_grad_()
    getattr(F, f"conv{ndim}d")(xt, T(w), padding=padding).backward(T(go))
    ig = getattr(m, f"conv{ndim}d_input_grad")
    for method in listed(ig, x.shape, w, go, padding=padding):
        if method == "pointwise":
            continue
        assert_same(ig(x.shape, w, go, padding=padding, method=method), xt.grad)
    assert_same(ig(x.shape, w, go, padding=padding), xt.grad)
    grad_input, _, _ = getattr(m, f"conv{ndim}d_backward")(x, w, go, padding=padding,
                                                           input_method="full")
    assert_same(grad_input, xt.grad)


def test_transpose_issue_example(backend):
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 2, 2] = np.inf
    out = m.conv_transpose2d(np.ones((1, 1, 4, 4)), w)
    assert not np.isnan(out).any()
    assert_same(out, F.conv_transpose2d(T(np.ones((1, 1, 4, 4))), T(w)))


def test_pointwise_nonfinite_weight(backend):
    """The 1x1 one-to-one GEMM reads no padding: exact as it is."""
    x = np.ones((1, 2, 4, 4))
    w = _bad_weight((2, 3, 1, 1), np.inf, (0, 1, 0, 0))
    assert_same(m.conv_transpose2d(x, w, method="pointwise"), F.conv_transpose2d(T(x), T(w)))


@pytest.mark.parametrize("op", ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                                "conv1d_input_grad", "conv2d_input_grad", "conv3d_input_grad"])
def test_explain_shows_full_rerouted(backend, op):
    ndim = int(next(ch for ch in op if ch.isdigit()))
    w = np.ones((2, 2) + (3,) * ndim)
    w[(0, 0) + (1,) * ndim] = np.nan
    if op.startswith("conv_transpose"):
        args = (np.ones((1, 2) + (4,) * ndim), w)
    else:
        args = ((1, 2) + (6,) * ndim, w, np.ones((1, 2) + (4,) * ndim))
    choice = m.explain(op, *args, method="full")
    assert choice.method == "col2im"
    assert "inf or NaN" in str(choice)
    full = next(c for c in choice.candidates if c.name == "full")
    assert not full.supported and "inf or NaN" in full.reason
    # a finite weight keeps 'full'
    assert m.explain(op, *((args[0], np.ones_like(w)) + args[2:]), method="full").method == "full"


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("bad", BAD, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("padding", [0, 1])
def test_forward_nonfinite_input(backend, ndim, bad, padding):
    x = np.ones((1, 2) + (6,) * ndim)
    x[(0, 1) + (0,) * ndim] = bad
    w = np.linspace(0.5, 1.5, 3 * 2 * 3**ndim).reshape((3, 2) + (3,) * ndim)
    op = getattr(m, f"conv{ndim}d")
    ref = getattr(F, f"conv{ndim}d")(T(x), T(w), padding=padding)
    for method in runnable(op, x, w, padding=padding):
        assert_same(op(x, w, padding=padding, method=method), ref)


# ---------------------------------------------------------------------------
# 2. strides, dilations and paddings of 2**31: one window, no huge buffer
# ---------------------------------------------------------------------------

BIG = 2**31
SIZES = {1: (7,), 2: (7, 6), 3: (5, 7, 6)}


@pytest.mark.parametrize("big", [2**31, 2**40, 2**62])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_huge_stride_convolutions(backend, ndim, big):
    x = np.arange(1.0, 1 + np.prod(SIZES[ndim])).reshape((1, 1) + SIZES[ndim])
    w = np.linspace(0.5, 1.5, 3**ndim).reshape((1, 1) + (3,) * ndim)
    conv = getattr(m, f"conv{ndim}d")
    out = conv(x, w, stride=big)
    assert_same(out, getattr(F, f"conv{ndim}d")(T(x), T(w), stride=big))
    # stride = the input size: the same single window
    assert_same(out, conv(x, w, stride=max(SIZES[ndim])))
    go = np.full(out.shape, 2.0)
    small = max(SIZES[ndim])
    ig = getattr(m, f"conv{ndim}d_input_grad")(x.shape, w, go, stride=big)
    assert_same(ig, getattr(m, f"conv{ndim}d_input_grad")(x.shape, w, go, stride=small))
    wg = getattr(m, f"conv{ndim}d_weight_grad")(x, w.shape, go, stride=big)
    assert_same(wg, getattr(m, f"conv{ndim}d_weight_grad")(x, w.shape, go, stride=small))
    xt, wt = T(x).requires_grad_(), T(w).requires_grad_()
    getattr(F, f"conv{ndim}d")(xt, wt, stride=small).backward(T(go))
    assert_same(ig, xt.grad)
    assert_same(wg, wt.grad)
    gi, gw, _ = getattr(m, f"conv{ndim}d_backward")(x, w, go, stride=big)
    assert_same(gi, xt.grad)
    assert_same(gw, wt.grad)
    # a transposed convolution of a one-element input: the stride never applies
    x1 = np.full((1, 1) + (1,) * ndim, 3.0)
    ct = getattr(m, f"conv_transpose{ndim}d")(x1, w, stride=big)
    assert_same(ct, getattr(F, f"conv_transpose{ndim}d")(T(x1), T(w)))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_huge_stride_pooling(backend, ndim):
    rng = np.random.default_rng(ndim)
    x = rng.standard_normal((2, 3) + SIZES[ndim])
    mp, ap = getattr(m, f"max_pool{ndim}d"), getattr(m, f"avg_pool{ndim}d")
    small = max(SIZES[ndim])
    out, idx = mp(x, 3, stride=BIG, return_indices=True)
    ref, ref_idx = getattr(F, f"max_pool{ndim}d")(T(x), 3, stride=small, return_indices=True)
    assert_same(out, ref)
    np.testing.assert_array_equal(idx, ref_idx.numpy())
    avg = ap(x, 3, stride=BIG)
    assert_same(avg, getattr(F, f"avg_pool{ndim}d")(T(x), 3, stride=small))
    g = np.ones(out.shape)
    xt = T(x).requires_grad_()
    getattr(F, f"max_pool{ndim}d")(xt, 3, stride=small).backward(T(g))
    assert_same(getattr(m, f"max_pool{ndim}d_backward")(g, idx, x.shape), xt.grad)
    assert_same(getattr(m, f"avg_pool{ndim}d_backward")(g, x.shape, 3, stride=BIG),
                getattr(m, f"avg_pool{ndim}d_backward")(g, x.shape, 3, stride=small))
    # a huge dilation on a one-tap kernel changes nothing
    assert_same(mp(x, 1, dilation=BIG), x)


@pytest.mark.parametrize("big", [2**31, 2**62])
def test_huge_stride_unfold(backend, big):
    x = np.arange(42.0).reshape(1, 7, 6)
    assert_same(m.im2col(x, 3, stride=big), m.im2col(x, 3, stride=7))
    assert_same(m.im2col1d(x, 3, stride=big), m.im2col1d(x, 3, stride=6))
    x3 = np.arange(210.0).reshape(1, 5, 7, 6)
    assert_same(m.im2col3d(x3, 3, stride=big), m.im2col3d(x3, 3, stride=7))
    cols = np.arange(1.0, 10.0).reshape(9, 1)
    assert_same(m.col2im(cols, (7, 6), 3, stride=big), m.col2im(cols, (7, 6), 3, stride=7))


# ---------------------------------------------------------------------------
# 3. geometry integers above 2**62: ValueError naming the argument
# ---------------------------------------------------------------------------



def _ops(ndim):
    """(name, call(**geometry)) for every public op of `ndim` spatial axes
    that takes geometry arguments, on tiny valid operands."""
    size = (5,) * ndim
    x = np.ones((1, 1) + size)
    w = np.ones((1, 1) + (3,) * ndim)
    go = np.ones((1, 1) + (3,) * ndim)
    s = "" if ndim == 2 else f"{ndim}d"
    d = f"{ndim}d"
    return {
        f"conv{d}": lambda **k: getattr(m, f"conv{d}")(x, w, **k),
        f"conv{d}_input_grad": lambda **k: getattr(m, f"conv{d}_input_grad")(x.shape, w, go, **k),
        f"conv{d}_weight_grad": lambda **k: getattr(m, f"conv{d}_weight_grad")(x, w.shape, go, **k),
        f"conv{d}_backward": lambda **k: getattr(m, f"conv{d}_backward")(x, w, go, **k),
        f"conv_transpose{d}": lambda **k: getattr(m, f"conv_transpose{d}")(x, w, **k),
        f"max_pool{d}": lambda **k: getattr(m, f"max_pool{d}")(x, k.pop("kernel_size", 2), **k),
        f"avg_pool{d}": lambda **k: getattr(m, f"avg_pool{d}")(x, k.pop("kernel_size", 2), **k),
        f"avg_pool{d}_backward": lambda **k: getattr(m, f"avg_pool{d}_backward")(
            np.ones((1, 1) + (2,) * ndim), x.shape, k.pop("kernel_size", 2), **k),
        f"im2col{s}": lambda **k: getattr(m, f"im2col{s}")(x[0], k.pop("kernel_size", 3), **k),
        f"col2im{s}": lambda **k: getattr(m, f"col2im{s}")(
            np.ones((3**ndim, 3**ndim)), k.pop("output_size", size), k.pop("kernel_size", 3), **k),
    }


def _arguments(name):
    if name.startswith(("conv1d", "conv2d", "conv3d", "conv_transpose")):
        args = ["stride", "dilation", "padding"]
        if name.startswith("conv_transpose"):
            args.append("output_padding")
        return args
    if name.startswith("max_pool"):
        return ["stride", "dilation", "padding", "kernel_size"]
    if name.startswith("avg_pool"):
        return ["stride", "padding", "kernel_size"]
    args = ["stride", "dilation", "padding", "kernel_size"]
    return args + ["output_size"] if name.startswith("col2im") else args


CASES = [(ndim, name, arg) for ndim in (1, 2, 3) for name in _ops(ndim) for arg in _arguments(name)]


@pytest.mark.parametrize(("ndim", "name", "arg"), CASES,
                         ids=[f"{n}-{a}" for _, n, a in CASES])
def test_too_large_geometry(backend, ndim, name, arg):
    call = _ops(ndim)[name]
    given = (2**63,) * ndim if arg == "output_size" else 2**63
    with pytest.raises(ValueError, match=rf"`{arg}`.*at most 2\*\*62"):
        call(**{arg: given})


@pytest.mark.parametrize("value", [2**62 + 1, 2**64 + 5, np.uint64(2**63)])
def test_too_large_values(backend, value):
    x, w = np.ones((1, 1, 7, 6)), np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"`stride` must be at most 2\*\*62"):
        m.conv2d(x, w, stride=value)
    with pytest.raises(ValueError, match=r"`stride` must be at most 2\*\*62"):
        m.conv2d_direct(x, w, stride=(1, value))
    with pytest.raises(ValueError, match=r"`stride` must be at most 2\*\*62"):
        m.max_pool2d(x, 2, stride=value)
    # 2**62 itself is taken: one window
    assert_same(m.conv2d(x, w, stride=2**62), m.conv2d(x, w, stride=7))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_too_large_sums(backend, ndim):
    x = np.ones((1, 1) + (5,) * ndim)
    w = np.ones((1, 1) + (3,) * ndim)
    conv = getattr(m, f"conv{ndim}d")
    with pytest.raises(ValueError, match=r"spans .*more than 2\*\*62"):
        conv(x, w, dilation=2**62)
    with pytest.raises(ValueError, match=r"`padding` makes the padded input .*more than 2\*\*62"):
        conv(x, w, padding=2**62, stride=2**62)
    with pytest.raises(ValueError, match=r"uncropped output .*more than 2\*\*62"):
        getattr(m, f"conv_transpose{ndim}d")(x, w, stride=2**62)
    with pytest.raises(ValueError, match=r"spans .*more than 2\*\*62"):
        getattr(m, f"max_pool{ndim}d")(x, 2, dilation=2**62)


def test_too_large_shape_argument():
    with pytest.raises(ValueError, match=r"`input_shape` sizes must be at most 2\*\*62"):
        m.conv2d_input_grad((1, 1, 2**63, 5), np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)))


# ---------------------------------------------------------------------------
# 4. pooling windows much larger than the output
# ---------------------------------------------------------------------------

K = 2**20


def _warm(ndim):
    """Compile the kernels the timed calls run (the Numba backend)."""
    x = np.ones((1, 1) + (4,) * ndim)
    getattr(m, f"max_pool{ndim}d")(x, 2, return_indices=True)
    getattr(m, f"max_pool{ndim}d")(x, 2)
    getattr(m, f"avg_pool{ndim}d")(x, 2)
    getattr(m, f"avg_pool{ndim}d_backward")(np.ones((1, 1) + (2,) * ndim), x.shape, 2)


def _timed(f):
    start = time.perf_counter()
    out = f()
    assert time.perf_counter() - start < 2.0
    return out


@pytest.mark.jit_only  # timed: the uncompiled Numba loops are far slower
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_huge_kernel_pooling(backend, ndim):
    _warm(ndim)
    rng = np.random.default_rng(7)
    shape = (1, 2) + (1,) * (ndim - 2) + ((2,) if ndim >= 2 else ()) + (K,)
    kernel = shape[2:]
    x = rng.standard_normal(shape)
    x.reshape(-1)[123] = np.nan
    mp, ap = getattr(m, f"max_pool{ndim}d"), getattr(m, f"avg_pool{ndim}d")
    out, idx = _timed(lambda: mp(x, kernel, return_indices=True))
    ref, ref_idx = getattr(F, f"max_pool{ndim}d")(T(x), kernel, return_indices=True)
    assert_same(out, ref)
    np.testing.assert_array_equal(idx, ref_idx.numpy())
    assert_same(_timed(lambda: mp(x, kernel)), ref)
    avg = _timed(lambda: ap(x[:, 1:], kernel))
    assert_same(avg, getattr(F, f"avg_pool{ndim}d")(T(x[:, 1:]), kernel))
    g = np.full(avg.shape, 3.0)
    xt = T(x[:, 1:]).requires_grad_()
    getattr(F, f"avg_pool{ndim}d")(xt, kernel).backward(T(g))
    assert_same(_timed(lambda: getattr(m, f"avg_pool{ndim}d_backward")(g, xt.shape, kernel)),
                xt.grad)


@pytest.mark.jit_only  # timed: the uncompiled Numba loops are far slower
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_huge_kernel_padding_beyond_input(backend, count_include_pad):
    """Padding makes a window larger than the input: windows of 2**17 + 1
    taps over 1000 elements."""
    _warm(2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 3, 1000))
    kernel, padding = (3, 2**17 + 1), (1, 2**16)
    out, idx = _timed(lambda: m.max_pool2d(x, kernel, stride=(1, 7), padding=padding,
                                           return_indices=True))
    ref, ref_idx = F.max_pool2d(T(x), kernel, stride=(1, 7), padding=padding,
                                return_indices=True)
    assert_same(out, ref)
    np.testing.assert_array_equal(idx, ref_idx.numpy())
    avg = _timed(lambda: m.avg_pool2d(x, kernel, stride=(1, 7), padding=padding,
                                      count_include_pad=count_include_pad))
    assert_same(avg, F.avg_pool2d(T(x), kernel, stride=(1, 7), padding=padding,
                                  count_include_pad=count_include_pad))
    assert_same(avg, naive.avg_pool2d(x, kernel, stride=(1, 7), padding=padding,
                                      count_include_pad=count_include_pad))


# ---------------------------------------------------------------------------
# 5. zero input channels
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_zero_channels_convolution(backend, ndim):
    size = (5,) * ndim
    x = np.ones((2, 0) + size)
    w = np.ones((4, 0) + (3,) * ndim)
    b = np.arange(1.0, 5.0)
    out = getattr(m, f"conv{ndim}d")(x, w, b, padding=1)
    # the empty sum is zero: the bias alone (PyTorch returns a (2, 0, ...) tensor)
    expected = np.broadcast_to(b.reshape((1, 4) + (1,) * ndim), (2, 4) + size)
    assert_same(out, expected)
    assert_same(out, naive.conv_nd(x, w, b, padding=1))
    go = np.ones((2, 4) + size)
    gi = getattr(m, f"conv{ndim}d_input_grad")(x.shape, w, go, padding=1)
    gw = getattr(m, f"conv{ndim}d_weight_grad")(x, w.shape, go, padding=1)
    assert gi.shape == x.shape and gw.shape == w.shape
    bi, bw, bb = getattr(m, f"conv{ndim}d_backward")(x, w, go, padding=1)
    assert bi.shape == x.shape and bw.shape == w.shape
    assert_same(bb, np.full(4, 2.0 * 5**ndim))
    # conv_transpose: no input channels gives the bias; no filters an empty result
    ct = getattr(m, f"conv_transpose{ndim}d")
    out_t = ct(x, np.ones((0, 4) + (3,) * ndim), b)
    assert_same(out_t, np.broadcast_to(b.reshape((1, 4) + (1,) * ndim), (2, 4) + (7,) * ndim))
    x3 = np.ones((2, 3) + size)
    empty = ct(x3, np.ones((3, 0) + (3,) * ndim))
    assert empty.shape == (2, 0) + (7,) * ndim
    assert_same(empty, F.__dict__[f"conv_transpose{ndim}d"](
        T(x3), T(np.ones((3, 1) + (3,) * ndim)))[:, :0])


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_zero_channels_pooling_and_unfold(backend, ndim):
    x = np.ones((2, 0) + (5,) * ndim)
    for op in (f"max_pool{ndim}d", f"avg_pool{ndim}d"):
        with pytest.raises(ValueError, match="`input` must have non-empty channel"):
            getattr(m, op)(x, 2)  # as PyTorch, which refuses it too
    s = "" if ndim == 2 else f"{ndim}d"
    cols = getattr(m, f"im2col{s}")(x, 3)
    assert cols.shape == (2, 0, 3**ndim)
    back = getattr(m, f"col2im{s}")(cols, (5,) * ndim, 3)
    assert back.shape == x.shape
