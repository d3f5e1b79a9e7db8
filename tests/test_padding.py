"""Asymmetric padding, one (low, high) pair per spatial axis, as JAX and
TensorFlow take it, and one-element tuples for int-or-tuple arguments."""

import numpy as np
import pytest

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import (
    avg_pool2d,
    avg_pool2d_backward,
    col2im,
    conv2d,
    conv2d_input_grad,
    conv2d_weight_grad,
    conv_transpose2d,
    explain,
    im2col,
    max_pool2d,
    max_pool2d_backward,
)

# (padding as the package takes it, the same as naive's (top, bottom, left, right))
PADS = [
    (((1, 2), (0, 3)), (1, 2, 0, 3)),
    (((0, 0), (2, 1)), (0, 0, 2, 1)),
    (((3, 0), 1), (3, 0, 1, 1)),              # an int among the pairs pads both sides
    (np.array([[2, 1], [1, 0]]), (2, 1, 1, 0)),
]
METHODS = ("auto", "im2col", "shift", "direct")


def _layout(x, layout):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NHWC" else x


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", range(len(PADS)))
def test_conv2d_asymmetric_padding_matches_naive(backend, k, method, stride, layout):
    padding, sides = PADS[k]
    rng = np.random.default_rng(k)
    x, w, b = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    want = naive.conv2d(x, w, b, stride=stride, padding=sides)
    if method == "shift" and not explain("conv2d", x, w, padding=padding, stride=stride).candidates[2].supported:
        with pytest.raises(ValueError, match="`method`='shift' cannot run this conv2d"):
            conv2d(x, w, b, stride=stride, padding=padding, method=method)
        return
    for dtype in (np.float32, np.float64):
        got = conv2d(_layout(x.astype(dtype), layout), w.astype(dtype), b.astype(dtype),
                     stride=stride, padding=padding, layout=layout, method=method)
        if layout == "NHWC":
            got = got.transpose(0, 3, 1, 2)
        np.testing.assert_allclose(got, want, *tolerance(dtype))


@pytest.mark.parametrize("k", range(len(PADS)))
def test_im2col_col2im_asymmetric_padding_match_naive(backend, k):
    padding, sides = PADS[k]
    x = np.random.default_rng(k).standard_normal((2, 3, 7, 9))
    cols = im2col(x, (2, 3), dilation=(1, 2), padding=padding, stride=(2, 1))
    np.testing.assert_allclose(cols, naive.im2col(x, (2, 3), dilation=(1, 2), padding=sides,
                                                  stride=(2, 1)), 1e-12, 1e-12)
    back = col2im(cols, (7, 9), (2, 3), dilation=(1, 2), padding=padding, stride=(2, 1))
    np.testing.assert_allclose(back, naive.col2im(cols, (7, 9), (2, 3), dilation=(1, 2),
                                                  padding=sides, stride=(2, 1)), 1e-12, 1e-12)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", range(len(PADS)))
def test_gradients_with_asymmetric_padding_match_naive(backend, k, stride, layout):
    padding, sides = PADS[k]
    rng = np.random.default_rng(10 + k)
    x, w = rng.standard_normal((2, 4, 8, 7)), rng.standard_normal((3, 4, 3, 3))
    go = rng.standard_normal(naive.conv2d(x, w, stride=stride, padding=sides).shape)
    want_x = naive.conv2d_input_grad(x.shape, w, go, stride=stride, padding=sides)
    want_w = naive.conv2d_weight_grad(x, w.shape, go, stride=stride, padding=sides)
    shape = (2, 8, 7, 4) if layout == "NHWC" else x.shape
    got_x = conv2d_input_grad(shape, w, _layout(go, layout), stride=stride, padding=padding,
                              layout=layout)
    got_w = conv2d_weight_grad(_layout(x, layout), w.shape, _layout(go, layout), stride=stride,
                               padding=padding, layout=layout)
    if layout == "NHWC":
        got_x = got_x.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got_x, want_x, 1e-10, 1e-10)
    np.testing.assert_allclose(got_w, want_w, 1e-10, 1e-10)


def test_asymmetric_padding_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 10, 9)), rng.standard_normal((5, 3, 3, 4))
    for (top, bottom), (left, right) in (((1, 2), (0, 3)), ((0, 2), (3, 1))):
        for stride, dilation in ((1, 1), (2, 1), (1, 2)):
            want = F.conv2d(F.pad(torch.from_numpy(x), (left, right, top, bottom)),
                            torch.from_numpy(w), stride=stride, dilation=dilation).numpy()
            got = conv2d(x, w, stride=stride, dilation=dilation,
                         padding=((top, bottom), (left, right)))
            np.testing.assert_allclose(got, want, 1e-10, 1e-10)


def test_one_element_tuples_mean_every_axis(backend):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 9, 9)), rng.standard_normal((3, 2, 3, 3))
    np.testing.assert_array_equal(conv2d(x, w, stride=(2,), padding=[1], dilation=(2,)),
                                  conv2d(x, w, stride=2, padding=1, dilation=2))
    np.testing.assert_array_equal(im2col(x, (3,), stride=[2]), im2col(x, 3, stride=2))
    np.testing.assert_array_equal(max_pool2d(x, (3,), stride=(2,)), max_pool2d(x, 3, stride=2))


@pytest.mark.parametrize("padding, error, message", [
    (((1, 2),), ValueError, r"`padding` as \(low, high\) pairs needs one entry per spatial axis \(2\)"),
    (((1, 2), (0, 1), (1, 1)), ValueError, r"needs one entry per spatial axis"),
    (((1, 2, 3), (0, 1)), ValueError, r"`padding` must be an int or a pair of ints, got \(1, 2, 3\)"),
    (((1, -1), (0, 1)), ValueError, r"`padding` must be non-negative, got \(1, -1\)"),
    (((1, 1.5), (0, 1)), TypeError, r"`padding` must be an int or a pair of ints, got 1.5"),
])
def test_bad_padding_pairs(padding, error, message):
    with pytest.raises(error, match=message):
        conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=padding)


def _tf_same(size, kernel, stride, dilation):
    """TensorFlow's documented 'SAME': ceil(size / stride) outputs, the total
    padding split with the extra one at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("stride, dilation, size, kernel", [
    ((2, 2), (1, 1), (9, 8), (3, 3)), ((3, 2), (1, 2), (10, 7), (3, 2)), ((2, 1), (2, 1), (6, 6), (4, 5)),
    ((1, 1), (1, 1), (7, 6), (4, 2)),
])
def test_same_padding_with_stride_follows_tensorflow(backend, layout, stride, dilation, size, kernel):
    rng = np.random.default_rng(sum(size))
    x, w = rng.standard_normal((2, 3) + size), rng.standard_normal((4, 3) + kernel)
    (top, bottom), (left, right) = (_tf_same(*a) for a in zip(size, kernel, stride, dilation))
    want = naive.conv2d(x, w, stride=stride, dilation=dilation, padding=(top, bottom, left, right))
    assert want.shape[2:] == tuple(-(-n // s) for n, s in zip(size, stride))
    got = conv2d(_layout(x, layout), w, stride=stride, dilation=dilation, padding="same",
                 layout=layout)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, want, 1e-10, 1e-10)
    go = rng.standard_normal(want.shape)
    np.testing.assert_allclose(
        conv2d_input_grad(x.shape, w, go, stride=stride, dilation=dilation, padding="same"),
        naive.conv2d_input_grad(x.shape, w, go, stride=stride, dilation=dilation,
                                padding=(top, bottom, left, right)), 1e-10, 1e-10)


def test_strided_same_against_torch_explicit_padding():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w = np.random.default_rng(1).standard_normal((1, 2, 11, 10)), np.ones((3, 2, 3, 3))
    (top, bottom), (left, right) = _tf_same(11, 3, 2, 1), _tf_same(10, 3, 2, 1)
    want = F.conv2d(F.pad(torch.from_numpy(x), (left, right, top, bottom)),
                    torch.from_numpy(w), stride=2).numpy()
    np.testing.assert_allclose(conv2d(x, w, stride=2, padding="same"), want, 1e-10, 1e-10)
    assert want.shape[2:] == (6, 5)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", range(len(PADS)))
def test_conv_transpose2d_asymmetric_padding(backend, k, stride, layout):
    """(low, high) pairs crop that many rows/columns from each side of the
    unpadded result, and make conv_transpose2d the adjoint of conv2d with
    the same padding (its input gradient)."""
    from im2col_nb import conv_transpose2d

    padding, (top, bottom, left, right) = PADS[k]
    rng = np.random.default_rng(20 + k)
    y, w = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 3, 3))
    full = conv_transpose2d(y, w, stride=stride)
    want = full[:, :, top:full.shape[2] - bottom, left:full.shape[3] - right]
    got = conv_transpose2d(_layout(y, layout), w, stride=stride, padding=padding, layout=layout)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, want, 1e-10, 1e-10)
    np.testing.assert_allclose(got, conv2d_input_grad(want.shape, w, y, stride=stride,
                                                      padding=padding), 1e-10, 1e-10)


# Pooling: (low, high) pairs per axis (each side at most half the kernel) and
# 'same' by TensorFlow's rule, for both pooling methods and layouts.
POOL_PADS = [((1, 0), (0, 1)), ((0, 1), 1), "same", "valid"]


def _nchw(y, layout):
    return y.transpose(0, 3, 1, 2) if layout == "NHWC" else y


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("method", ["direct", "im2col"])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", POOL_PADS, ids=str)
def test_pooling_asymmetric_and_same_padding_match_naive(backend, padding, stride, ceil_mode,
                                                         method, layout):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    x[0, 0, 0, :3] = np.nan  # NaN wins, as in PyTorch
    want, want_idx = naive.max_pool_nd(x, 3, stride, padding, 1, ceil_mode)
    grad = rng.standard_normal(want.shape)
    for dtype in (np.float32, np.float64):
        xd = _layout(x.astype(dtype), layout)
        got, idx = max_pool2d(xd, 3, stride, padding, ceil_mode=ceil_mode, return_indices=True,
                              layout=layout, method=method)
        np.testing.assert_allclose(_nchw(got, layout), want, rtol=1e-6)
        np.testing.assert_array_equal(_nchw(idx, layout), want_idx)
        for include in (False, True):
            avg = avg_pool2d(xd, 3, stride, padding, ceil_mode, include, layout=layout,
                             method=method)
            np.testing.assert_allclose(_nchw(avg, layout),
                                       naive.avg_pool_nd(x, 3, stride, padding, ceil_mode, include),
                                       rtol=1e-5, atol=1e-6)
            g = _layout(grad.astype(dtype), layout)
            back = avg_pool2d_backward(g, xd.shape, 3, stride, padding, ceil_mode, include,
                                       layout=layout)
            np.testing.assert_allclose(
                _nchw(back, layout),
                naive.avg_pool_nd_backward(grad, x.shape, 3, stride, padding, ceil_mode, include),
                rtol=1e-5, atol=1e-6)


def test_pooling_same_keeps_ceil_size_over_stride():
    x = np.random.default_rng(0).standard_normal((1, 1, 7, 10))
    out = max_pool2d(x, 2, 2, "same")
    assert out.shape == (1, 1, 4, 5)  # ceil(7 / 2), ceil(10 / 2): the odd row padded at the end
    np.testing.assert_array_equal(out[0, 0, -1], x[0, 0, 6].reshape(5, 2).max(axis=1))


def test_pooling_asymmetric_padding_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 6))
    xt = torch.tensor(x)
    # max: an explicit -inf border; avg counting padding: an explicit zero border
    want = F.max_pool2d(F.pad(xt, (0, 1, 1, 0), value=-float("inf")), 2, 2).numpy()
    np.testing.assert_array_equal(max_pool2d(x, 2, 2, ((1, 0), (0, 1))), want)
    want = F.avg_pool2d(F.pad(xt, (1, 1, 0, 1)), 3, 1).numpy()
    np.testing.assert_allclose(avg_pool2d(x, 3, 1, ((0, 1), (1, 1))), want, rtol=1e-12)


@pytest.mark.parametrize("padding, message", [
    (((2, 0), (0, 0)), "at most half of `kernel_size`"),
    (((0, 0), (0, 0), (0, 0)), "one entry per spatial axis"),
    ("full", "`padding` must be"),
])
def test_bad_pooling_padding(padding, message):
    with pytest.raises(ValueError, match=message):
        max_pool2d(np.zeros((1, 1, 6, 6)), 3, 1, padding)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("stride, dilation, kernel", [
    (1, 1, (3, 3)), (2, 1, (3, 2)), (3, 1, (2, 2)), (2, 2, (3, 1)), (4, 1, (3, 5)),
])
def test_conv_transpose2d_same_and_valid_follow_tensorflow(backend, layout, stride, dilation, kernel):
    rng = np.random.default_rng(stride * 10 + dilation)
    y = rng.standard_normal((2, 3, 4, 5))
    w = rng.standard_normal((3, 2) + kernel)
    b = rng.standard_normal(2)
    size = (4 * stride, 5 * stride)
    same = conv_transpose2d(_layout(y, layout), w, b, stride, "same", dilation=dilation, layout=layout)
    same = same.transpose(0, 3, 1, 2) if layout == "NHWC" else same
    assert same.shape == (2, 2) + size  # TensorFlow: exactly input * stride
    # the adjoint of conv2d(padding='same') on an input of that size (TensorFlow's definition)
    want = naive.conv2d_input_grad((2, 2) + size, w, y, stride=stride,
                                   padding=naive.tf_same_padding(size, kernel, stride, dilation),
                                   dilation=dilation) + b[:, None, None]
    np.testing.assert_allclose(same, want, rtol=1e-10, atol=1e-10)
    valid = conv_transpose2d(y, w, None, stride, "valid", dilation=dilation)
    spans = [dilation * (k - 1) + 1 for k in kernel]
    assert valid.shape[2:] == tuple(n * stride + max(sp - stride, 0) for n, sp in zip((4, 5), spans))
    want = naive.conv_transpose2d(y, w, None, stride, 0, 0, 1, dilation)
    np.testing.assert_allclose(valid[:, :, :want.shape[2], :want.shape[3]], want, rtol=1e-10, atol=1e-10)
    # outputs past the span are reached by no input (TensorFlow's VALID pads them)
    assert not valid[:, :, want.shape[2]:].any() and not valid[:, :, :, want.shape[3]:].any()


@pytest.mark.parametrize("padding", [((1, 0),), "same", "valid"], ids=str)
def test_pool1d_asymmetric_and_same_padding(backend, padding):
    x = np.random.default_rng(9).standard_normal((2, 3, 9))
    out, idx = im2col_nb.max_pool1d(x, 3, 2, padding, return_indices=True)
    want, want_idx = naive.max_pool_nd(x, 3, 2, padding, 1, False)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(idx, want_idx)
    for include in (False, True):
        np.testing.assert_allclose(im2col_nb.avg_pool1d(x, 3, 2, padding, False, include),
                                   naive.avg_pool_nd(x, 3, 2, padding, False, include), rtol=1e-12)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("padding", [((1, 0), (0, 1), (1, 1)), "same"], ids=str)
def test_pool3d_asymmetric_and_same_padding(backend, padding, ceil_mode):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 5, 6, 7))
    out, idx = im2col_nb.max_pool3d(x, 3, 2, padding, ceil_mode=ceil_mode, return_indices=True)
    want, want_idx = naive.max_pool_nd(x, 3, 2, padding, 1, ceil_mode)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(idx, want_idx)
    for include in (False, True):
        avg = im2col_nb.avg_pool3d(x, 3, 2, padding, ceil_mode, include)
        np.testing.assert_allclose(avg, naive.avg_pool_nd(x, 3, 2, padding, ceil_mode, include),
                                   rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(avg.shape)
        np.testing.assert_allclose(
            im2col_nb.avg_pool3d_backward(g, x.shape, 3, 2, padding, ceil_mode, include),
            naive.avg_pool_nd_backward(g, x.shape, 3, 2, padding, ceil_mode, include),
            rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 3])
def test_conv_transpose1d_3d_same_and_valid_follow_tensorflow(backend, d, stride):
    rng = np.random.default_rng(30 + d)
    size = (4,) if d == 1 else (3, 4, 2)
    y, w = rng.standard_normal((2, 3) + size), rng.standard_normal((3, 2) + (3,) * d)
    transpose = getattr(im2col_nb, f"conv_transpose{d}d")
    same = transpose(y, w, None, stride, "same")
    out_size = tuple(n * stride for n in size)
    assert same.shape == (2, 2) + out_size
    pads = naive.pads_nd("same", out_size, (3,) * d, (stride,) * d, (1,) * d)
    np.testing.assert_allclose(same, naive.conv_nd_input_grad((2, 2) + out_size, w, y, stride, pads),
                               rtol=1e-10, atol=1e-10)
    valid = transpose(y, w, None, stride, "valid")
    assert valid.shape[2:] == tuple(n * stride + max(3 - stride, 0) for n in size)
