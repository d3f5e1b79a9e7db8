"""Checks of the test oracle itself (tests/naive.py).

1. the worked example and small hand-checked cases;
2. adjoint / algebraic identities between the references;
3. a cross-check against PyTorch (skipped when torch is not importable).
"""

import numpy as np
import pytest

import naive

NAN = float("nan")


def dot(a, b):
    return float(np.sum(np.asarray(a) * np.asarray(b)))


# ----------------------------------------------------------------------------
# 1. the worked example and hand-checked cases
# ----------------------------------------------------------------------------

def test_worked_example():
    img = np.array([[0, 1, 1, 1, 0, 0, 0],
                    [0, 0, 1, 1, 1, 0, 0],
                    [0, 0, 0, 1, 1, 1, 0],
                    [0, 0, 0, 1, 1, 0, 0],
                    [0, 0, 1, 1, 0, 0, 0],
                    [0, 1, 1, 0, 0, 0, 0],
                    [1, 1, 0, 0, 0, 0, 0]])
    ker = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    want = np.array([[1, 4, 3, 4, 1],
                     [1, 2, 4, 3, 3],
                     [1, 2, 3, 4, 1],
                     [1, 3, 3, 1, 1],
                     [3, 3, 1, 1, 0]])
    out = naive.conv2d(img[None, None], ker[None, None])
    assert out.dtype == np.float64 and out.shape == (1, 1, 5, 5)
    np.testing.assert_array_equal(out[0, 0], want)


def test_geometry_helpers():
    assert naive.pair(3) == (3, 3) and naive.pair([2, 5]) == (2, 5)
    assert naive.same_padding(3, 1) == (1, 1, 1, 1)
    assert naive.same_padding(4, 1) == (1, 2, 1, 2)      # extra at bottom/right
    assert naive.same_padding((2, 3), (3, 2)) == (1, 2, 2, 2)
    assert naive.resolve_padding(2, 3, 1) == (2, 2, 2, 2)
    assert naive.resolve_padding((1, 2), 3, 1) == (1, 1, 2, 2)
    assert naive.resolve_padding((0, 1, 2, 3), 3, 1) == (0, 1, 2, 3)
    assert naive.resolve_padding("valid", 3, 1) == (0, 0, 0, 0)
    assert naive.resolve_padding("same", 2, 1) == (0, 1, 0, 1)
    # pool output sizes: floor vs ceil, and ceil's "last window starts in
    # the input or the left padding" rule
    assert naive.pool_output_size(6, 3, 2, 1, 1, False) == 3
    assert naive.pool_output_size(6, 3, 2, 1, 1, True) == 4
    assert naive.pool_output_size(5, 2, 2, 1, 1, True) == 3   # 4 dropped to 3
    assert naive.pool_output_size(5, 2, 2, 0, 1, True) == 3
    assert naive.pool_output_size(7, 3, 2, 0, 2, False) == 2


def test_im2col_4x4x3_with_2x2_kernel():
    x = np.arange(48).reshape(1, 3, 4, 4)
    cols = naive.im2col(x, 2)
    assert cols.shape == (1, 12, 9) and cols.dtype == np.float64
    # first patch (top-left), rows ordered c, ki, kj
    np.testing.assert_array_equal(cols[0, :, 0],
                                  [0, 1, 4, 5, 16, 17, 20, 21, 32, 33, 36, 37])
    # last patch (bottom-right)
    np.testing.assert_array_equal(cols[0, :, 8],
                                  [10, 11, 14, 15, 26, 27, 30, 31, 42, 43, 46, 47])
    # column oh*OW + ow = 1*3 + 2 = 5, i.e. window at rows 1..2, cols 2..3
    np.testing.assert_array_equal(cols[0, :4, 5], [6, 7, 10, 11])


def test_im2col_padding_and_col2im_counts():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    cols = naive.im2col(x, 2, padding=1)
    assert cols.shape == (1, 4, 9)
    np.testing.assert_array_equal(cols[0, :, 0], [0, 0, 0, 1])   # corner window
    np.testing.assert_array_equal(cols[0, :, 4], [1, 2, 3, 4])   # centre window
    # asymmetric padding: one zero row at the bottom only
    cols = naive.im2col(x, 2, padding=(0, 1, 0, 0))
    assert cols.shape == (1, 4, 2)
    np.testing.assert_array_equal(cols[0, :, 1], [3, 4, 0, 0])
    # fold of ones counts how many patches cover each pixel
    counts = naive.col2im(np.ones((1, 4, 4)), (3, 3), 2)
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_conv2d_same_even_kernel_pads_bottom_right():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    out = naive.conv2d(x, np.ones((1, 1, 2, 2)), padding="same")
    np.testing.assert_array_equal(out[0, 0], [[8, 12, 7], [20, 24, 13], [13, 15, 8]])


def test_conv2d_groups_and_bias_by_hand():
    x = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 10.0)])[None]  # C=2
    w = np.ones((2, 1, 1, 1))
    w[1] = 2.0
    out = naive.conv2d(x, w, bias=[0.5, -1.0], groups=2)
    np.testing.assert_array_equal(out[0, 0], np.full((2, 2), 1.5))
    np.testing.assert_array_equal(out[0, 1], np.full((2, 2), 19.0))


def test_conv_transpose2d_by_hand():
    x = np.array([[[[1.0, 2.0]]]])
    w = np.ones((1, 1, 1, 2))
    np.testing.assert_array_equal(naive.conv_transpose2d(x, w)[0, 0], [[1, 3, 2]])
    np.testing.assert_array_equal(naive.conv_transpose2d(x, w, stride=2)[0, 0],
                                  [[1, 1, 2, 2]])
    # output_padding appends a (zero + bias) column; padding crops both sides
    np.testing.assert_array_equal(
        naive.conv_transpose2d(x, w, bias=[1.0], stride=2, output_padding=(0, 1))[0, 0],
        [[2, 2, 3, 3, 1]])
    np.testing.assert_array_equal(
        naive.conv_transpose2d(x, w, stride=2, padding=(0, 1))[0, 0], [[1, 2]])


def test_max_pool_ties_nan_and_padding():
    out, idx = naive.max_pool2d(np.array([[[[1.0, 3.0], [3.0, 2.0]]]]), 2)
    assert out[0, 0, 0, 0] == 3 and idx[0, 0, 0, 0] == 1      # first maximum
    assert idx.dtype == np.int64
    # NaN wins; with several NaNs PyTorch picks the last one in window order
    out, idx = naive.max_pool2d(np.array([[[[1.0, NAN], [NAN, 5.0]]]]), 2)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 2
    out, idx = naive.max_pool2d(np.array([[[[1.0, NAN], [4.0, 5.0]]]]), 2)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1
    # padding is -inf: negative inputs still win against it
    out, pad_idx = naive.max_pool2d(-np.ones((1, 1, 2, 2)), 2, stride=1, padding=1)
    np.testing.assert_array_equal(out[0, 0], -np.ones((3, 3)))
    np.testing.assert_array_equal(pad_idx[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])
    # all -inf: the first real tap is chosen
    out, idx = naive.max_pool2d(np.full((1, 1, 3, 3), -np.inf), 2, padding=1)
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])
    # backward routes the gradient to the chosen positions, summing repeats
    g = naive.max_pool2d_backward(np.ones((1, 1, 3, 3)), pad_idx, (1, 1, 2, 2))
    np.testing.assert_array_equal(g[0, 0], [[4, 2], [2, 1]])


def test_avg_pool_ceil_mode_by_hand():
    x = np.ones((1, 1, 6, 6))
    # k=3, s=2, p=1, ceil -> 4x4; last window starts at 5 and is cut at 7
    # (= H + p), so it spans 2 (counting padding) but holds 1 real element.
    out = naive.avg_pool2d(x, 3, 2, 1, ceil_mode=True)
    assert out.shape == (1, 1, 4, 4)
    assert out[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert out[0, 0, 1, 1] == pytest.approx(1.0)
    assert out[0, 0, 0, 3] == pytest.approx(2 / 6)
    assert out[0, 0, 3, 3] == pytest.approx(1 / 4)
    out = naive.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(out, 1.0)
    out = naive.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=2)
    assert out[0, 0, 0, 0] == 2.0 and out[0, 0, 3, 3] == 0.5
    # no padding, ceil: the overhanging window only counts the real part
    out = naive.avg_pool2d(np.arange(25.0).reshape(1, 1, 5, 5), 2, ceil_mode=True)
    assert out.shape == (1, 1, 3, 3)
    assert out[0, 0, 2, 2] == 24.0 and out[0, 0, 0, 2] == pytest.approx((4 + 9) / 2)


# ----------------------------------------------------------------------------
# 2. identities between the references
# ----------------------------------------------------------------------------

def _random_conv_config(rng, allow_strings=True, symmetric=False):
    groups = int(rng.choice([1, 1, 2, 3]))
    C = groups * int(rng.integers(1, 3))
    F = groups * int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
    sh, sw = (int(v) for v in rng.integers(1, 3, size=2))
    dh, dw = (int(v) for v in rng.integers(1, 3, size=2))
    kind = rng.integers(0, 5 if allow_strings else 3)
    if symmetric:
        kind = min(kind, 1)
    if kind == 0:
        padding = int(rng.integers(0, 3))
    elif kind == 1:
        padding = tuple(int(v) for v in rng.integers(0, 3, size=2))
    elif kind == 2:
        padding = tuple(int(v) for v in rng.integers(0, 3, size=4))
    elif kind == 3:
        padding = "valid"
    else:
        padding, sh, sw = "same", 1, 1           # torch: 'same' needs stride 1
    H = dh * (kh - 1) + 1 + int(rng.integers(0, 4))
    W = dw * (kw - 1) + 1 + int(rng.integers(0, 4))
    N = int(rng.integers(1, 3))
    return dict(N=N, C=C, F=F, H=H, W=W, k=(kh, kw), stride=(sh, sw),
                dilation=(dh, dw), padding=padding, groups=groups)


def _conv_arrays(rng, cfg):
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))
    w = rng.standard_normal((cfg["F"], cfg["C"] // cfg["groups"]) + cfg["k"])
    b = rng.standard_normal(cfg["F"])
    return x, w, b


def _conv(x, w, b, cfg):
    return naive.conv2d(x, w, b, stride=cfg["stride"], padding=cfg["padding"],
                        dilation=cfg["dilation"], groups=cfg["groups"])


@pytest.mark.parametrize("seed", range(8))
def test_conv2d_equals_weight_matrix_times_im2col(seed):
    rng = np.random.default_rng(seed)
    cfg = _random_conv_config(rng)
    x, w, b = _conv_arrays(rng, cfg)
    out = _conv(x, w, b, cfg)
    pad = naive.resolve_padding(cfg["padding"], cfg["k"], cfg["dilation"])
    cols = naive.im2col(x, cfg["k"], cfg["dilation"], pad, cfg["stride"])
    G, F = cfg["groups"], cfg["F"]
    rows = cols.shape[1] // G                      # rows per group
    N, _, OH, OW = out.shape
    for g in range(G):
        wm = w[g * F // G:(g + 1) * F // G].reshape(F // G, -1)
        for n in range(N):
            got = wm @ cols[n, g * rows:(g + 1) * rows] + b[g * F // G:(g + 1) * F // G, None]
            np.testing.assert_allclose(got.reshape(F // G, OH, OW),
                                       out[n, g * F // G:(g + 1) * F // G], atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_im2col_col2im_adjoint(seed):
    rng = np.random.default_rng(100 + seed)
    cfg = _random_conv_config(rng, allow_strings=False, symmetric=True)
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))
    cols = naive.im2col(x, cfg["k"], cfg["dilation"], cfg["padding"], cfg["stride"])
    y = rng.standard_normal(cols.shape)
    back = naive.col2im(y, (cfg["H"], cfg["W"]), cfg["k"], cfg["dilation"],
                        cfg["padding"], cfg["stride"])
    assert dot(cols, y) == pytest.approx(dot(x, back), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_conv_gradients_adjoint(seed):
    rng = np.random.default_rng(200 + seed)
    cfg = _random_conv_config(rng)
    x, w, _ = _conv_arrays(rng, cfg)
    out = _conv(x, w, None, cfg)
    g = rng.standard_normal(out.shape)
    geo = dict(stride=cfg["stride"], padding=cfg["padding"],
               dilation=cfg["dilation"], groups=cfg["groups"])
    gx = naive.conv2d_input_grad(x.shape, w, g, **geo)
    gw = naive.conv2d_weight_grad(x, w.shape, g, **geo)
    lhs = dot(out, g)
    assert dot(x, gx) == pytest.approx(lhs, rel=1e-10, abs=1e-10)
    assert dot(w, gw) == pytest.approx(lhs, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("seed", range(8))
def test_conv_transpose_is_conv_input_grad(seed):
    rng = np.random.default_rng(300 + seed)
    cfg = _random_conv_config(rng, allow_strings=False, symmetric=True)
    x, w, _ = _conv_arrays(rng, cfg)
    g = rng.standard_normal(_conv(x, w, None, cfg).shape)
    gx = naive.conv2d_input_grad(x.shape, w, g, stride=cfg["stride"],
                                 padding=cfg["padding"], dilation=cfg["dilation"],
                                 groups=cfg["groups"])
    # output_padding makes conv_transpose reach exactly the conv input size
    ph, pw = naive.pair(cfg["padding"])
    (sh, sw), (dh, dw), (kh, kw) = cfg["stride"], cfg["dilation"], cfg["k"]
    OH, OW = g.shape[2:]
    op = (cfg["H"] - ((OH - 1) * sh - 2 * ph + dh * (kh - 1) + 1),
          cfg["W"] - ((OW - 1) * sw - 2 * pw + dw * (kw - 1) + 1))
    ct = naive.conv_transpose2d(g, w, stride=cfg["stride"], padding=cfg["padding"],
                                output_padding=op, groups=cfg["groups"],
                                dilation=cfg["dilation"])
    np.testing.assert_allclose(ct, gx, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_pool_backwards_adjoint(seed):
    rng = np.random.default_rng(400 + seed)
    k = int(rng.integers(1, 4))
    s = int(rng.integers(1, 4))
    p = int(rng.integers(0, k // 2 + 1))
    ceil = bool(rng.integers(0, 2))
    x = rng.standard_normal((2, 2, 5, 6))
    out, idx = naive.max_pool2d(x, k, s, p, 1, ceil)
    g = rng.standard_normal(out.shape)
    assert dot(out, g) == pytest.approx(
        dot(x, naive.max_pool2d_backward(g, idx, x.shape)), rel=1e-12, abs=1e-12)
    for cip, div in [(True, None), (False, None), (True, 5)]:
        out = naive.avg_pool2d(x, k, s, p, ceil, cip, div)
        gx = naive.avg_pool2d_backward(g, x.shape, k, s, p, ceil, cip, div)
        assert dot(out, g) == pytest.approx(dot(x, gx), rel=1e-12, abs=1e-12)


# ----------------------------------------------------------------------------
# 3. cross-check against PyTorch
# ----------------------------------------------------------------------------

N_CONV, N_UNFOLD, N_TCONV, N_MAXPOOL, N_AVGPOOL = 40, 25, 25, 40, 40


def _torch():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


def _t(torch, a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _torch_pad(F, xt, pad):
    """Apply a (top, bottom, left, right) zero pad with F.pad's order."""
    top, bottom, left, right = pad
    return F.pad(xt, (left, right, top, bottom))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("seed", range(N_CONV))
def test_torch_conv2d_and_grads(seed):
    torch, F = _torch()
    rng = np.random.default_rng(1000 + seed)
    cfg = _random_conv_config(rng)
    x, w, b = _conv_arrays(rng, cfg)
    use_bias = bool(seed % 2)
    xt, wt = _t(torch, x, True), _t(torch, w, True)
    bt = _t(torch, b) if use_bias else None
    geo = dict(stride=cfg["stride"], dilation=cfg["dilation"], groups=cfg["groups"])
    if isinstance(cfg["padding"], tuple) and len(cfg["padding"]) == 4:
        ref = F.conv2d(_torch_pad(F, xt, cfg["padding"]), wt, bt, padding=0, **geo)
    else:
        ref = F.conv2d(xt, wt, bt, padding=cfg["padding"], **geo)
    got = naive.conv2d(x, w, b if use_bias else None, padding=cfg["padding"], **geo)
    np.testing.assert_allclose(got, ref.detach().numpy(), rtol=1e-12, atol=1e-12)

    g = rng.standard_normal(got.shape)
    ref.backward(_t(torch, g))
    gx = naive.conv2d_input_grad(x.shape, w, g, padding=cfg["padding"], **geo)
    gw = naive.conv2d_weight_grad(x, w.shape, g, padding=cfg["padding"], **geo)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(N_UNFOLD))
def test_torch_unfold_fold(seed):
    torch, F = _torch()
    rng = np.random.default_rng(2000 + seed)
    cfg = _random_conv_config(rng, allow_strings=False)
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))
    geo = dict(kernel_size=cfg["k"], dilation=cfg["dilation"], stride=cfg["stride"])
    pad = naive.resolve_padding(cfg["padding"], cfg["k"], cfg["dilation"])
    got = naive.im2col(x, padding=cfg["padding"], **geo)
    ref = F.unfold(_torch_pad(F, _t(torch, x), pad), padding=0, **geo)
    np.testing.assert_array_equal(got, ref.numpy())
    # fold supports symmetric padding only
    sym = (pad[0], pad[2])
    cols = naive.im2col(x, padding=sym, **geo)
    y = rng.standard_normal(cols.shape)
    got = naive.col2im(y, (cfg["H"], cfg["W"]), padding=sym, **geo)
    ref = F.fold(_t(torch, y), (cfg["H"], cfg["W"]), padding=sym, **geo)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(N_TCONV))
def test_torch_conv_transpose2d(seed):
    torch, F = _torch()
    rng = np.random.default_rng(3000 + seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    C, Fo = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 4, size=2))
    s = tuple(int(v) for v in rng.integers(1, 4, size=2))
    d = tuple(int(v) for v in rng.integers(1, 3, size=2))
    # output_padding must be smaller than stride or dilation
    op = tuple(int(rng.integers(0, max(s[i], d[i]))) for i in range(2))
    x = rng.standard_normal((int(rng.integers(1, 3)), C) +
                            tuple(int(v) for v in rng.integers(1, 5, size=2)))
    # padding small enough to keep the output size positive
    p = tuple(int(rng.integers(0, 1 + ((x.shape[2 + i] - 1) * s[i] + d[i] * (k[i] - 1)
                                        + op[i]) // 2)) for i in range(2))
    w = rng.standard_normal((C, Fo // groups) + k)
    b = rng.standard_normal(Fo) if seed % 2 else None
    geo = dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)
    got = naive.conv_transpose2d(x, w, b, **geo)
    ref = F.conv_transpose2d(_t(torch, x), _t(torch, w),
                             None if b is None else _t(torch, b), **geo)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12, atol=1e-12)


def _random_pool_config(rng, dilation=True):
    k = tuple(int(v) for v in rng.integers(1, 4, size=2))
    s = None if rng.integers(0, 4) == 0 else tuple(int(v) for v in rng.integers(1, 4, size=2))
    p = tuple(int(rng.integers(0, ki // 2 + 1)) for ki in k)   # torch: p <= k/2
    d = tuple(int(v) for v in rng.integers(1, 3, size=2)) if dilation else (1, 1)
    ceil = bool(rng.integers(0, 2))
    H = d[0] * (k[0] - 1) + 1 + int(rng.integers(0, 5))
    W = d[1] * (k[1] - 1) + 1 + int(rng.integers(0, 5))
    return k, s, p, d, ceil, (int(rng.integers(1, 3)), int(rng.integers(1, 3)), H, W)


@pytest.mark.parametrize("seed", range(N_MAXPOOL))
def test_torch_max_pool2d(seed):
    torch, F = _torch()
    rng = np.random.default_rng(4000 + seed)
    k, s, p, d, ceil, shape = _random_pool_config(rng)
    # small integers make ties common; some cases get NaNs and infinities
    x = rng.integers(-2, 3, size=shape).astype(np.float64)
    if seed % 3 == 0:
        x[rng.random(shape) < 0.25] = NAN
    if seed % 5 == 0:
        x[rng.random(shape) < 0.2] = -np.inf
    xt = _t(torch, x, True)
    ref, ref_idx = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil, return_indices=True)
    got, idx = naive.max_pool2d(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(got, ref.detach().numpy())      # NaN == NaN here
    np.testing.assert_array_equal(idx, ref_idx.numpy())
    g = rng.standard_normal(got.shape)
    ref.backward(_t(torch, g))
    np.testing.assert_allclose(naive.max_pool2d_backward(g, idx, shape),
                               xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(N_AVGPOOL))
def test_torch_avg_pool2d(seed):
    torch, F = _torch()
    rng = np.random.default_rng(5000 + seed)
    k, s, p, _, ceil, shape = _random_pool_config(rng, dilation=False)
    cip = bool(seed % 2)
    div = None if seed % 3 else int(rng.integers(1, 7))
    x = rng.standard_normal(shape)
    xt = _t(torch, x, True)
    ref = F.avg_pool2d(xt, k, s, p, ceil_mode=ceil, count_include_pad=cip,
                       divisor_override=div)
    got = naive.avg_pool2d(x, k, s, p, ceil, cip, div)
    np.testing.assert_allclose(got, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(got.shape)
    ref.backward(_t(torch, g))
    gx = naive.avg_pool2d_backward(g, shape, k, s, p, ceil, cip, div)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------
# 4. the N-D references: identities, and PyTorch for d = 1, 2, 3
# ----------------------------------------------------------------------------

ND_CASES = [  # (spatial size, kernel, stride, padding, dilation, groups)
    ((7,), (3,), 2, 1, 1, 2),
    ((9,), (2,), 1, ((2, 0),), 3, 1),
    ((5, 6), (3, 2), (2, 1), ((1, 0), (0, 1)), (1, 2), 1),
    ((4, 5, 3), (3, 2, 2), 1, 1, 1, 2),
    ((5, 4, 6), (2, 3, 3), (2, 1, 2), "valid", (1, 1, 2), 1),
]


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, groups", ND_CASES)
def test_conv_nd_gradients_are_adjoints(size, kernel, stride, padding, dilation, groups):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4) + size)
    w = rng.standard_normal((6, 4 // groups) + kernel)
    y = naive.conv_nd(x, w, None, stride, padding, dilation, groups)
    gy = rng.standard_normal(y.shape)
    gx = naive.conv_nd_input_grad(x.shape, w, gy, stride, padding, dilation, groups)
    gw = naive.conv_nd_weight_grad(x, w.shape, gy, stride, padding, dilation, groups)
    # conv is linear in x and in w: <conv(x, w), gy> = <x, gx> = <w, gw>
    assert dot(y, gy) == pytest.approx(dot(x, gx), rel=1e-12)
    assert dot(y, gy) == pytest.approx(dot(w, gw), rel=1e-12)


def test_conv_nd_in_two_dimensions_is_conv2d():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 2, 3, 2))
    np.testing.assert_allclose(naive.conv_nd(x, w, None, (2, 1), 1, (1, 2), 2),
                               naive.conv2d(x, w, None, (2, 1), 1, (1, 2), 2), rtol=1e-13)


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, groups", ND_CASES)
def test_nd_references_match_torch(size, kernel, stride, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    d = len(size)
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4) + size)
    w = rng.standard_normal((6, 4 // groups) + kernel)
    b = rng.standard_normal(6)
    pads = naive.pads_nd(padding, size, kernel, naive._per_axis(stride, d),
                         naive._per_axis(dilation, d))
    # torch takes symmetric padding only: pad the input explicitly
    xp = F.pad(torch.tensor(x), [v for lo_hi in reversed(pads) for v in lo_hi])
    xt = xp.clone().requires_grad_(True)
    wt = torch.tensor(w, requires_grad=True)
    yt = conv(xt, wt, torch.tensor(b), stride=stride, dilation=dilation, groups=groups)
    ours = naive.conv_nd(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(ours, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    gy = rng.standard_normal(ours.shape)
    yt.backward(torch.tensor(gy))
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, size))
    np.testing.assert_allclose(
        naive.conv_nd_input_grad(x.shape, w, gy, stride, padding, dilation, groups),
        xt.grad.numpy()[(slice(None), slice(None)) + crop], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        naive.conv_nd_weight_grad(x, w.shape, gy, stride, padding, dilation, groups),
        wt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_nd_transpose_and_pooling_match_torch(d):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(10 + d)
    size = (5, 6, 4)[:d]
    x = rng.standard_normal((2, 4) + size)
    wt = rng.standard_normal((4, 3) + (3, 2, 2)[:d])
    transpose = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[d - 1]
    np.testing.assert_allclose(
        naive.conv_transpose_nd(x, wt, None, 2, 1, 1, 2, 1),
        transpose(torch.tensor(x), torch.tensor(wt), None, 2, 1, 1, 2, 1).numpy(), atol=1e-12)
    max_pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[d - 1]
    avg_pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[d - 1]
    for ceil_mode in (False, True):
        xt = torch.tensor(x, requires_grad=True)
        out_t, idx_t = max_pool(xt, 2, 2, 1, 1, ceil_mode, True)
        out, idx = naive.max_pool_nd(x, 2, 2, 1, 1, ceil_mode)
        np.testing.assert_array_equal(out, out_t.detach().numpy())
        np.testing.assert_array_equal(idx, idx_t.numpy())
        g = rng.standard_normal(out.shape)
        out_t.backward(torch.tensor(g))
        np.testing.assert_allclose(naive.max_pool_nd_backward(g, idx, x.shape), xt.grad.numpy())
        for include in (False, True):
            xt = torch.tensor(x, requires_grad=True)
            out_t = avg_pool(xt, 3, 2, 1, ceil_mode, include)
            np.testing.assert_allclose(naive.avg_pool_nd(x, 3, 2, 1, ceil_mode, include),
                                       out_t.detach().numpy(), atol=1e-12)
            g = rng.standard_normal(out_t.shape)
            out_t.backward(torch.tensor(g))
            np.testing.assert_allclose(
                naive.avg_pool_nd_backward(g, x.shape, 3, 2, 1, ceil_mode, include),
                xt.grad.numpy(), atol=1e-12)
