"""Padding modes in convolution: conv1d/conv2d/conv3d and their gradients
with padding_mode 'reflect', 'replicate', 'circular' and 'symmetric', read
in place through the padmap index tables (no padded copy of the input).

References: the explicit loops of tests/naive.py on an input padded by
np.pad (the forward and weight gradient), and the padded input gradient
folded back onto the positions the padding copies (naive.mode_source: the
adjoint sums mirrored contributions); PyTorch's F.pad + conv where installed.
"""

import itertools
import tracemalloc

import numpy as np
import pytest

import naive

import im2col_nb
from im2col_nb import (
    conv1d,
    conv1d_backward,
    conv2d,
    conv2d_backward,
    conv2d_input_grad,
    conv2d_weight_grad,
    conv3d,
    conv3d_backward,
    explain,
)

MODES = ["reflect", "replicate", "circular", "symmetric"]
NUMPY = {"reflect": "reflect", "replicate": "edge", "circular": "wrap", "symmetric": "symmetric"}
FORWARD = {1: conv1d, 2: conv2d, 3: conv3d}
BACKWARD = {1: conv1d_backward, 2: conv2d_backward, 3: conv3d_backward}
LAYOUTS = {1: ("NCL", "NLC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def _references(x, w, b, stride, pads, dilation, groups, mode, gy):
    """(forward, input gradient, weight gradient) by the naive loops."""
    xp = np.pad(x, [(0, 0), (0, 0)] + list(pads), mode=NUMPY[mode])
    y = naive.conv_nd(xp, w, b, stride, 0, dilation, groups)
    if gy is None:
        return y, None, None
    gxp = naive.conv_nd_input_grad(xp.shape, w, gy, stride, 0, dilation, groups)
    gx = np.zeros_like(x)
    size = x.shape[2:]
    for pos in itertools.product(*(range(n) for n in xp.shape[2:])):
        src = tuple(naive.mode_source(p - lo, n, mode) for p, (lo, _), n in zip(pos, pads, size))
        gx[(slice(None), slice(None)) + src] += gxp[(slice(None), slice(None)) + pos]
    gw = naive.conv_nd_weight_grad(xp, w.shape, gy, stride, 0, dilation, groups)
    return y, gx, gw


def _last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _first(a):
    return np.moveaxis(a, -1, 1)


CASES = [  # (size, kernel, stride, padding as pairs, dilation, groups)
    ((9,), (3,), 2, ((2, 1),), 1, 2),
    ((7, 6), (3, 2), (2, 1), ((2, 1), (0, 1)), (1, 2), 1),
    ((5, 6), (3, 3), 1, ((1, 1), (1, 1)), 1, 2),
    ((4, 5, 4), (3, 2, 3), (1, 2, 1), ((1, 1), (0, 1), (2, 1)), 1, 1),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_padding_modes_match_naive(backend, case, mode):
    size, kernel, stride, pads, dilation, groups = CASES[case]
    d = len(size)
    rng = np.random.default_rng(case)
    x = rng.standard_normal((2, 4) + size)
    w = rng.standard_normal((6, 4 // groups) + kernel)
    b = rng.standard_normal(6)
    y_ref, _, _ = _references(x, w, b, stride, pads, dilation, groups, mode, None)
    gy = rng.standard_normal(y_ref.shape)
    _, gx_ref, gw_ref = _references(x, w, None, stride, pads, dilation, groups, mode, gy)
    for layout, dtype in itertools.product(LAYOUTS[d], (np.float32, np.float64)):
        last = layout != LAYOUTS[d][0]
        xin = (_last(x) if last else x).astype(dtype)
        gin = (_last(gy) if last else gy).astype(dtype)
        tol = {"rtol": 2e-4, "atol": 2e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}
        y = FORWARD[d](xin, w.astype(dtype), b.astype(dtype), stride, pads, dilation, groups,
                       layout=layout, padding_mode=mode)
        assert y.dtype == dtype
        np.testing.assert_allclose(_first(y) if last else y, y_ref, **tol)
        gx, gw, gb = BACKWARD[d](xin, w.astype(dtype), gin, stride, pads, dilation, groups,
                                 layout=layout, padding_mode=mode)
        np.testing.assert_allclose(_first(gx) if last else gx, gx_ref, **tol)
        np.testing.assert_allclose(gw, gw_ref, **tol)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_padding_modes_match_torch(mode, d):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    size, kernel, stride, pads, dilation, groups = CASES[{1: 0, 2: 1, 3: 3}[d]]
    rng = np.random.default_rng(10 + d)
    x = rng.standard_normal((2, 4) + size)
    w = rng.standard_normal((6, 4 // groups) + kernel)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    flat = [v for pair in reversed(pads) for v in pair]  # F.pad: last axis first
    yt = conv(F.pad(xt, flat, mode=mode), wt, None, stride, 0, dilation, groups)
    y = FORWARD[d](x, w, None, stride, pads, dilation, groups, padding_mode=mode)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    gy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(gy))
    gx, gw, _ = BACKWARD[d](x, w, gy, stride, pads, dilation, groups, padding_mode=mode)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_same_padding_with_a_mode(backend):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 2, 7, 8)), rng.standard_normal((3, 2, 4, 3))
    pads = naive.pads_nd("same", (7, 8), (4, 3), (2, 2), (1, 1))
    want, _, _ = _references(x, w, None, 2, pads, 1, 1, "reflect", None)
    got = conv2d(x, w, stride=2, padding="same", padding_mode="reflect")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_no_padding_makes_the_mode_irrelevant():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_array_equal(conv2d(x, w, padding_mode="reflect"), conv2d(x, w))
    # every method stays available: the mode changes nothing without padding
    assert explain("conv2d", x, w, padding_mode="reflect", method="shift").method == "shift"


def test_methods_that_pad_with_zeros_say_so():
    x, w = np.ones((1, 2, 6, 6)), np.ones((3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"`method`='shift' cannot run this conv2d: it pads with "
                                         r"zeros, not padding_mode='reflect'; methods that can: "
                                         r"'auto', 'im2col'"):
        conv2d(x, w, padding=1, padding_mode="reflect", method="shift")
    with pytest.raises(ValueError, match=r"`method`='full' cannot run this conv2d_input_grad"):
        conv2d_input_grad(x.shape, w, np.ones((1, 3, 6, 6)), padding=1, padding_mode="circular",
                          method="full")
    with pytest.raises(ValueError, match=r"`method`='tiles' cannot run this conv2d_weight_grad"):
        conv2d_weight_grad(x, w.shape, np.ones((1, 3, 6, 6)), padding=1, padding_mode="replicate",
                           method="tiles")
    choice = explain("conv2d", x, w, padding=1, padding_mode="reflect")
    assert choice.method == "im2col" and "padding_mode 'reflect'" in choice.problem


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), padding=3, padding_mode="reflect"),
     r"`padding` \(3, 3\) must be smaller than the input size 3 along spatial axis 0 with "
     r"padding_mode='reflect'"),
    (lambda: conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), padding=4,
                    padding_mode="circular"),
     r"at most the input size 3 .* padding_mode='circular'"),
    (lambda: conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 3)), padding=1, padding_mode="mirror"),
     r"`padding_mode` must be one of 'zeros', 'reflect', 'replicate', 'circular', 'symmetric', "
     r"got 'mirror'"),
    (lambda: conv3d(np.ones((1, 1, 2, 4, 4)), np.ones((1, 1, 3, 3, 3)), padding=2,
                    padding_mode="reflect"),
     r"`padding` \(2, 2\) must be smaller than the input size 2 along spatial axis 0"),
])
def test_bad_padding_modes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_padding_modes_allocate_no_padded_copy():
    """A padding mode costs no more memory than zero padding on the same
    route: the tables replace the padded copy (tracemalloc peak)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 8, 16, 64, 64)).astype(np.float32)  # 2 MiB, padded copy ~2.5 MiB
    w = rng.standard_normal((4, 8, 1, 1, 3)).astype(np.float32)
    conv3d(x, w, padding=(0, 0, 1), padding_mode="reflect")  # compile and warm the scratch
    conv3d(x, w, padding=(0, 0, 1))
    peaks = {}
    for mode in ("zeros", "reflect"):
        tracemalloc.start()
        conv3d(x, w, padding=(0, 0, 1), padding_mode=mode)
        peaks[mode] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["reflect"] < peaks["zeros"] + x.nbytes // 4, peaks
    im2col_nb.release_workspace()
