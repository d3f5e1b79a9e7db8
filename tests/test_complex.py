"""Complex convolution: conv2d, conv2d_direct, conv_transpose2d and the
gradients on complex64/complex128 (and mixed real/complex) operands, against
the explicit-loop references (which take complex values) and PyTorch's
complex convolution and autograd."""

import numpy as np
import pytest

import naive

import im2col_nb
from im2col_nb import (
    conv2d,
    conv2d_backward,
    conv2d_bias_grad,
    conv2d_direct,
    conv2d_input_grad,
    conv2d_weight_grad,
    conv_transpose2d,
)

METHODS = ["auto", "im2col", "direct"]


def _c(rng, shape, dtype=np.complex128):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def _nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if np.dtype(dtype) == np.complex64 else dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("stride, padding, dilation, groups", [
    (1, 1, 1, 1), (2, ((1, 0), (2, 1)), 1, 2), (1, "same", 2, 1), (2, "same", 1, 2),
])
def test_complex_conv2d_and_gradients_match_naive(backend, dtype, method, layout, stride, padding,
                                                  dilation, groups):
    rng = np.random.default_rng(0)
    x, w, b = _c(rng, (2, 4, 7, 6), dtype), _c(rng, (6, 4 // groups, 3, 2), dtype), _c(rng, 6, dtype)
    geometry = (stride, padding, dilation, groups)
    want = naive.conv_nd(x, w, b, *geometry)
    xin = _nhwc(x) if layout == "NHWC" else x
    got = conv2d(xin, w, b, *geometry, layout=layout, method=method)
    assert got.dtype == dtype
    np.testing.assert_allclose(np.moveaxis(got, -1, 1) if layout == "NHWC" else got, want,
                               **_tol(dtype))
    gy = _c(rng, want.shape, dtype)
    gyin = _nhwc(gy) if layout == "NHWC" else gy
    gx = conv2d_input_grad(xin.shape, w, gyin, *geometry, layout=layout)
    gw = conv2d_weight_grad(xin, w.shape, gyin, *geometry, layout=layout)
    np.testing.assert_allclose(np.moveaxis(gx, -1, 1) if layout == "NHWC" else gx,
                               naive.conv_nd_input_grad(x.shape, w, gy, *geometry), **_tol(dtype))
    np.testing.assert_allclose(gw, naive.conv_nd_weight_grad(x, w.shape, gy, *geometry), **_tol(dtype))
    np.testing.assert_allclose(conv2d_bias_grad(gyin, layout=layout), gy.sum(axis=(0, 2, 3)),
                               **_tol(dtype))
    both = conv2d_backward(xin, w, gyin, *geometry, layout=layout)
    for a, b_ in zip(both, (gx, gw, conv2d_bias_grad(gyin, layout=layout))):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


def test_mixed_real_and_complex_operands(backend):
    rng = np.random.default_rng(1)
    x, w, b = _c(rng, (2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), _c(rng, 4)
    np.testing.assert_allclose(conv2d(x, w, b, padding=1), naive.conv_nd(x, w, b, 1, 1),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv2d(x.real, w, b), naive.conv_nd(x.real, w, b), rtol=1e-12)
    np.testing.assert_allclose(conv2d_direct(x.real, w.astype(complex)),
                               naive.conv_nd(x.real, w.astype(complex)), rtol=1e-12)
    # complex64 with float32 stays complex64; with float64 becomes complex128
    assert conv2d(x.astype(np.complex64), w.astype(np.float32)).dtype == np.complex64
    assert conv2d(x.astype(np.complex64), w).dtype == np.complex128
    # unbatched and 2-D inputs keep their shapes
    assert conv2d(x[0], w).shape == (4, 4, 4)
    assert conv2d(x[0, 0], w[0, 0]).shape == (4, 4)


@pytest.mark.parametrize("stride, padding, output_padding, groups", [(1, 0, 0, 1), (2, 1, 1, 2)])
def test_complex_conv_transpose2d_matches_naive(backend, stride, padding, output_padding, groups):
    rng = np.random.default_rng(2)
    x, w, b = _c(rng, (2, 4, 5, 4)), _c(rng, (4, 3, 3, 2)), _c(rng, 3 * groups)
    got = conv_transpose2d(x, w, b, stride, padding, output_padding, groups)
    np.testing.assert_allclose(got, naive.conv_transpose_nd(x, w, b, stride, padding, output_padding,
                                                            groups), rtol=1e-12, atol=1e-12)


def test_complex_convolution_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x, w, b = _c(rng, (2, 4, 7, 6)), _c(rng, (6, 2, 3, 3)), _c(rng, 6)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.conv2d(xt, wt, bt, stride=2, padding=1, groups=2)
    y = conv2d(x, w, b, stride=2, padding=1, groups=2)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = _c(rng, y.shape)
    yt.backward(torch.tensor(gy))
    gx, gw, gb = conv2d_backward(x, w, gy, stride=2, padding=1, groups=2)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-12, atol=1e-12)
    wt2 = _c(rng, (4, 3, 3, 3))
    np.testing.assert_allclose(
        conv_transpose2d(x, wt2, None, 2, 1, 1, 2),
        F.conv_transpose2d(torch.tensor(x), torch.tensor(wt2), None, 2, 1, 1, 2).numpy(),
        rtol=1e-12, atol=1e-12)


def test_complex_errors_name_the_users_shapes():
    x = np.ones((1, 3, 5, 5), complex)
    with pytest.raises(ValueError, match=r"expects 2 input channels .* has 3"):
        conv2d(x, np.ones((4, 2, 3, 3), complex))
    with pytest.raises(TypeError, match="`weight` must hold real numbers"):
        conv2d(x, np.ones((4, 3, 3, 3), dtype=object))
    before = x.copy()
    conv2d(x, np.ones((4, 3, 3, 3), complex))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("d", [1, 3])
def test_complex_conv1d_conv3d_and_gradients_match_naive(backend, d):
    rng = np.random.default_rng(20 + d)
    size = (9,) if d == 1 else (4, 5, 4)
    x, w, b = _c(rng, (2, 4) + size), _c(rng, (6, 2) + (3,) * d), _c(rng, 6)
    conv = getattr(im2col_nb, f"conv{d}d")
    backward = getattr(im2col_nb, f"conv{d}d_backward")
    transpose = getattr(im2col_nb, f"conv_transpose{d}d")
    geometry = (2, 1, 1, 2)
    y = conv(x, w, b, *geometry)
    np.testing.assert_allclose(y, naive.conv_nd(x, w, b, *geometry), rtol=1e-10, atol=1e-10)
    gy = _c(rng, y.shape)
    gx, gw, gb = backward(x, w, gy, *geometry)
    np.testing.assert_allclose(gx, naive.conv_nd_input_grad(x.shape, w, gy, *geometry),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, naive.conv_nd_weight_grad(x, w.shape, gy, *geometry),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gb, gy.sum(axis=tuple(i for i in range(gy.ndim) if i != 1)),
                               rtol=1e-10, atol=1e-10)
    wt = _c(rng, (4, 3) + (3,) * d)
    np.testing.assert_allclose(transpose(x, wt, None, 2, 1, 1, 2),
                               naive.conv_transpose_nd(x, wt, None, 2, 1, 1, 2),
                               rtol=1e-10, atol=1e-10)
