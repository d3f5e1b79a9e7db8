"""Dtypes: max pooling and its backward keep bool, integer and float16
inputs as they are (values picked, never computed); the operations that
multiply or divide compute in float."""

import numpy as np
import pytest

import naive

import im2col_nb
from im2col_nb import avg_pool2d, conv2d, max_pool2d, max_pool2d_backward

KEPT = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint16, np.float16]


def _values(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if dtype == np.float16:
        return rng.standard_normal(shape).astype(np.float16)
    info = np.iinfo(dtype)
    # the extremes included: the padding must never beat the dtype's minimum
    values = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    values.flat[::7] = info.min
    return values


def _nhwc(x):
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", KEPT, ids=lambda d: np.dtype(d).name)
def test_max_pool2d_keeps_the_dtype(backend, dtype, layout):
    rng = np.random.default_rng(0)
    x = _values(rng, (2, 3, 7, 6), dtype)
    want, want_idx = naive.max_pool_nd(x.astype(np.float64) if dtype != np.int64 else x, 3, 2, 1)
    xin = _nhwc(x) if layout == "NHWC" else x
    out, idx = max_pool2d(xin, 3, 2, 1, return_indices=True, layout=layout)
    assert out.dtype == np.dtype(dtype) and idx.dtype == np.int64
    if layout == "NHWC":
        out, idx = np.moveaxis(out, -1, 1), np.moveaxis(idx, -1, 1)
    np.testing.assert_array_equal(idx, want_idx)
    # the values are the input's own, picked at the indices
    np.testing.assert_array_equal(out, np.take_along_axis(x.reshape(2, 3, -1),
                                                          idx.reshape(2, 3, -1), 2).reshape(out.shape))
    if dtype != np.int64:  # float64 holds every value of the narrower dtypes exactly
        np.testing.assert_array_equal(out.astype(np.float64), want)
    # backward: the scatter-add in the same dtype (small gradients: no overflow)
    if dtype == np.bool_:
        grad = rng.random(out.shape) > 0.5
    else:
        grad = rng.integers(0, 5, out.shape).astype(dtype)
    gin = _nhwc(grad) if layout == "NHWC" else grad
    gidx = _nhwc(idx) if layout == "NHWC" else idx
    back = max_pool2d_backward(gin, gidx, xin.shape, layout=layout)
    assert back.dtype == np.dtype(dtype)
    back = np.moveaxis(back, -1, 1) if layout == "NHWC" else back
    want_back = naive.max_pool_nd_backward(grad.astype(np.float64), idx, x.shape)
    if dtype == np.bool_:  # bool sums are a logical or, as NumPy's
        want_back = want_back > 0
    np.testing.assert_array_equal(back.astype(np.float64), want_back)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64", "float16"])
def test_max_pool2d_integer_dtypes_match_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = _values(rng, (2, 3, 9, 8), np.dtype(dtype).type)
    out_t, idx_t = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 2, 1, 1, True, True)
    out, idx = max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, out_t.numpy())
    np.testing.assert_array_equal(idx, idx_t.numpy())


def test_im2col_pooling_method_refuses_integers_with_the_reason():
    x = np.zeros((1, 1, 4, 4), np.uint8)
    with pytest.raises(ValueError, match=r"float inputs only \(got uint8\)"):
        max_pool2d(x, 2, method="im2col")
    assert im2col_nb.explain("max_pool2d", x, 2).method == "direct"


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.bool_])
def test_multiplying_operations_compute_in_float64(dtype):
    x = _values(np.random.default_rng(2), (1, 2, 5, 5), dtype)
    assert avg_pool2d(x, 2).dtype == np.float64
    assert conv2d(x, np.ones((1, 2, 2, 2))).dtype == np.float64


def test_inputs_are_not_modified():
    x = _values(np.random.default_rng(3), (2, 3, 6, 6), np.uint8)
    copy = x.copy()
    max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(x, copy)


@pytest.mark.parametrize("bad", [np.zeros((1, 1, 4, 4), np.complex64),
                                 np.array([["a"]], dtype=object)])
def test_unsupported_dtypes_are_a_type_error(bad):
    with pytest.raises(TypeError, match="`input` must hold real numbers"):
        max_pool2d(bad, 1)


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int16, np.int64, np.float16],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("d", [1, 3])
def test_max_pool1d_and_3d_keep_the_dtype(backend, d, dtype):
    rng = np.random.default_rng(7)
    x = _values(rng, (2, 3) + (9, 6, 5, 4)[:d] if d == 1 else (2, 3, 5, 6, 4), dtype)
    pool = im2col_nb.max_pool1d if d == 1 else im2col_nb.max_pool3d
    back = im2col_nb.max_pool1d_backward if d == 1 else im2col_nb.max_pool3d_backward
    out, idx = pool(x, 3, 2, 1, return_indices=True)
    want, want_idx = naive.max_pool_nd(x if dtype == np.int64 else x.astype(np.float64), 3, 2, 1)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(idx, want_idx)
    if dtype != np.int64:
        np.testing.assert_array_equal(out.astype(np.float64), want)
    grad = np.ones(out.shape, dtype)
    assert back(grad, idx, x.shape).dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int32, np.float16, np.complex64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("d", [1, 3])
def test_unfold_1d_3d_keep_the_dtype(backend, d, dtype):
    rng = np.random.default_rng(8)
    x = rng.integers(0, 5, (2, 3) + (7, 5, 4, 6)[:d] if d == 1 else (2, 3, 4, 5, 3)).astype(dtype)
    unfold = im2col_nb.im2col1d if d == 1 else im2col_nb.im2col3d
    fold = im2col_nb.col2im1d if d == 1 else im2col_nb.col2im3d
    for mode in ("zeros", "reflect"):
        cols = unfold(x, 2, padding=1, padding_mode=mode)
        assert cols.dtype == np.dtype(dtype)
        wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
        np.testing.assert_array_equal(
            cols.astype(wide), naive.unfold_nd(x.real.astype(np.float64), (2,) * d, (1,) * d,
                                               ((1, 1),) * d, (1,) * d, mode).astype(wide)
            + 1j * naive.unfold_nd(np.imag(x).astype(np.float64), (2,) * d, (1,) * d,
                                   ((1, 1),) * d, (1,) * d, mode) * (wide == np.complex128))
        back = fold(cols, x.shape[2:], 2, padding=1, padding_mode=mode)
        assert back.dtype == np.dtype(dtype)
