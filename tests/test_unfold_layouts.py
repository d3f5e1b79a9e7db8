"""im2col/col2im (1-D, 2-D, 3-D) on inputs of any strides, in every column
order, into caller buffers (`out=`), against the explicit-loop oracle.

The orders are the layouts existing NumPy CNN code builds: 'NKL' (torch's
unfold), 'KLN' (batch innermost: CS231n's im2col_cython, numpy-ml) and 'NLK'
(rows: *Deep Learning from Scratch*). Inputs arrive as NHWC arrays seen as
NCHW, reversed, sliced and Fortran-ordered views; a copy of the input or
of the columns would show up in tracemalloc.
"""

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import col2im, col2im1d, col2im3d, im2col, im2col1d, im2col3d

UNFOLD = {1: im2col1d, 2: im2col, 3: im2col3d}
FOLD = {1: col2im1d, 2: col2im, 3: col2im3d}
ORDERS = ("NKL", "KLN", "NLK", "KNL")
MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")


def in_order(cols, order):
    """(N, K, L) columns as `order` lays them out (the documented 2-D forms)."""
    n, k, length = cols.shape
    if order == "KLN":
        return cols.transpose(1, 2, 0).reshape(k, length * n)
    if order == "NLK":
        return cols.transpose(0, 2, 1).reshape(n * length, k)
    if order == "KNL":
        return cols.transpose(1, 0, 2).reshape(k, n * length)
    return cols


def as_nkl(cols, order, n_img):
    """The (N, K, L) array of 2-D columns laid out in `order`."""
    if order == "KLN":
        return cols.reshape(cols.shape[0], -1, n_img).transpose(2, 0, 1)
    if order == "NLK":
        return cols.reshape(n_img, -1, cols.shape[1]).transpose(0, 2, 1)
    if order == "KNL":
        return cols.reshape(cols.shape[0], n_img, -1).transpose(1, 0, 2)
    return cols


def odd_view(a, how):
    """`a`'s values through a non-contiguous view of some other memory."""
    if how == "contiguous":
        return np.ascontiguousarray(a)
    if how == "channels_last":   # NHWC memory seen as NCHW
        perm = (0,) + tuple(range(2, a.ndim)) + (1,)
        back = np.argsort(perm)
        return np.ascontiguousarray(a.transpose(perm)).transpose(back)
    if how == "reversed":        # negative strides
        flipped = np.ascontiguousarray(a[..., ::-1])
        return flipped[..., ::-1]
    if how == "sliced":          # every other element of a larger array
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if how == "fortran":
        return np.asfortranarray(a)
    raise AssertionError(how)


VIEWS = ("contiguous", "channels_last", "reversed", "sliced", "fortran")


def geometry(ndim, draw_int):
    k = tuple(draw_int(1, 3) for _ in range(ndim))
    d = tuple(draw_int(1, 2) for _ in range(ndim))
    s = tuple(draw_int(1, 3) for _ in range(ndim))
    pad = tuple((draw_int(0, 2), draw_int(0, 2)) for _ in range(ndim))
    return k, d, s, pad


@pytest.mark.parametrize("ndim", [1, 2, 3])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_orders_views_and_out_match_the_oracle(backend, ndim, data):
    draw_int = lambda lo, hi: data.draw(st.integers(lo, hi))  # noqa: E731
    k, d, s, pad = geometry(ndim, draw_int)
    mode = data.draw(st.sampled_from(MODES))
    # each axis long enough for the padding mode (reflect: padding < size)
    size = tuple(max(draw_int(1, 6), d_ * (k_ - 1) + 1, lo + 1, hi + 1)
                 for k_, d_, (lo, hi) in zip(k, d, pad))
    n_img = data.draw(st.sampled_from([1, 2, 5, 9]))   # 5 and 9: the scratch nests
    channels = draw_int(1, 3)
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    order = data.draw(st.sampled_from(ORDERS))
    view = data.draw(st.sampled_from(VIEWS))
    rng = np.random.default_rng(draw_int(0, 2**31))
    x = rng.standard_normal((n_img, channels) + size).astype(dtype)
    kwargs = dict(dilation=d, padding=pad, stride=s, padding_mode=mode)

    want = naive.unfold_nd(x, k, d, pad, s, mode)
    xv = odd_view(x, view)
    before = xv.copy()
    cols = UNFOLD[ndim](xv, k, order=order, **kwargs)
    np.testing.assert_array_equal(cols, in_order(want, order).astype(dtype))
    np.testing.assert_array_equal(xv, before)   # the input is never modified

    # into a caller's buffer of any layout
    out = odd_view(np.full(cols.shape, np.nan, dtype), data.draw(st.sampled_from(VIEWS)))
    got = UNFOLD[ndim](xv, k, order=order, out=out, **kwargs)
    assert got is out
    np.testing.assert_array_equal(out, cols)

    # the adjoint, from columns of any layout into an image buffer of any layout
    y = rng.standard_normal(cols.shape).astype(dtype)
    y_nkl = as_nkl(y, order, n_img)
    want_x = naive.fold_nd(y_nkl, size, k, d, pad, s, mode)
    yv = odd_view(y, data.draw(st.sampled_from(VIEWS)))
    back = FOLD[ndim](yv, size, k, order=order, **kwargs)
    rtol, atol = tolerance(dtype)
    np.testing.assert_allclose(back, want_x, rtol=rtol, atol=atol)
    x_out = odd_view(np.full(want_x.shape, np.nan, dtype), data.draw(st.sampled_from(VIEWS)))
    got = FOLD[ndim](yv, size, k, order=order, out=x_out, **kwargs)
    assert got is x_out
    # (another kernel may sum the overlaps in another order: rounding only)
    np.testing.assert_allclose(x_out, back, rtol=rtol, atol=atol)


@pytest.mark.parametrize("order", ORDERS)
def test_three_d_column_forms(backend, order, rng):
    """col2im takes the 3-D form of each order as well as the 2-D one."""
    x = rng.standard_normal((4, 2, 5, 6))
    cols = im2col(x, 3, padding=1, order=order)
    k, length = 18, 30
    three = {"NKL": cols, "KLN": cols.reshape(k, length, 4),
             "NLK": cols.reshape(4, length, k), "KNL": cols.reshape(k, 4, length)}[order]
    np.testing.assert_allclose(col2im(three, (5, 6), 3, padding=1, order=order),
                               col2im(cols, (5, 6), 3, padding=1, order=order))


def test_unbatched_input_in_every_order(backend, rng):
    x = rng.standard_normal((2, 5, 5))
    cols = im2col(x, 2)
    assert cols.shape == (8, 16)
    np.testing.assert_array_equal(im2col(x, 2, order="KLN"), cols)
    np.testing.assert_array_equal(im2col(x, 2, order="NLK"), cols.T)
    # col2im of the batch forms gives a batch of one
    assert col2im(cols, (5, 5), 2).shape == (2, 5, 5)
    assert col2im(cols, (5, 5), 2, order="KLN").shape == (1, 2, 5, 5)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_, np.float16, np.complex64,
                                   np.complex128])
@pytest.mark.parametrize("order", ORDERS)
def test_every_dtype_is_copied_exactly(backend, dtype, order, rng):
    """im2col is a copy: exact on the bits in every order, including int64
    values beyond float64's 53-bit mantissa."""
    x = (rng.integers(0, 2, (5, 2, 4, 6)) * (2**60 + 1 if dtype == np.int64 else 1)
         + (1j if np.dtype(dtype).kind == "c" else 0)).astype(dtype)
    xv = odd_view(x, "channels_last")
    want = naive.unfold_nd(x.real if np.dtype(dtype).kind == "c" else x.astype(np.float64),
                           (2, 3), (1, 1), ((1, 0), (1, 1)), (1, 2))
    cols = im2col(xv, (2, 3), padding=((1, 0), (1, 1)), stride=(1, 2), order=order)
    assert cols.dtype == dtype
    if dtype == np.int64:   # the oracle works in float64: compare the structure instead
        nkl = naive.unfold_nd((x > 0).astype(np.float64), (2, 3), (1, 1), ((1, 0), (1, 1)),
                              (1, 2))
        np.testing.assert_array_equal(cols, in_order(nkl, order).astype(np.int64) * (2**60 + 1))
    elif np.dtype(dtype).kind == "c":
        np.testing.assert_array_equal(cols.real, in_order(want, order))
    else:
        np.testing.assert_array_equal(cols, in_order(want, order).astype(dtype))


@pytest.mark.jit_only
@pytest.mark.parametrize("order, view", [(o, v) for o in ORDERS
                                         for v in ("contiguous", "channels_last")
                                         if (o, v) not in (("NKL", "channels_last"),
                                                           ("KNL", "channels_last"))])
def test_no_copy_of_the_input_or_the_columns(order, view, rng):
    """What the drop-in layouts cost in memory: no input-sized temporary, in
    either direction. (The orders with contiguous rows, 'NKL' and 'KNL',
    from a channels-last input are the exception: a C-contiguous copy of
    the input and the contiguous kernel measured faster than the strided
    kernel, and the plan says so: test_copy_route_is_shown.)"""
    x = odd_view(rng.standard_normal((32, 16, 28, 28)), view)
    cols = im2col(x, 3, padding=1, order=order)
    out_x = np.empty_like(x)
    im2col(x, 3, padding=1, order=order, out=cols)     # compiled and warm
    col2im(cols, (28, 28), 3, padding=1, order=order, out=out_x)
    tracemalloc.start()
    try:
        im2col(x, 3, padding=1, order=order, out=cols)
        col2im(cols, (28, 28), 3, padding=1, order=order, out=out_x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 4, f"peak {peak} bytes against an input of {x.nbytes}"


@pytest.mark.parametrize("func", [im2col, col2im])
def test_order_and_out_errors(func, rng):
    x = rng.standard_normal((2, 3, 5, 5))
    cols = im2col(x, 3)
    args = (x, 3) if func is im2col else (cols, (5, 5), 3)
    good = func(*args)
    with pytest.raises(ValueError, match="`order` must be one of 'NKL', 'KLN', 'NLK', 'KNL', got 'NCHW'"):
        func(*args, order="NCHW")
    with pytest.raises(TypeError, match=r"`out` must be a numpy.ndarray or None, got \[0.0\]"):
        func(*args, out=[0.0])
    with pytest.raises(ValueError, match=r"`out` must have shape \(.*\), got \(1,\)"):
        func(*args, out=np.empty(1))
    with pytest.raises(TypeError, match="`out` must have dtype float64 .*, got float32"):
        func(*args, out=np.empty(good.shape, np.float32))
    ro = np.empty(good.shape)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="`out` must be writeable"):
        func(*args, out=ro)
    overlapping = np.lib.stride_tricks.as_strided(np.empty(good.size), good.shape,
                                                  (8,) * good.ndim)
    with pytest.raises(ValueError, match="`out` must not have overlapping elements"):
        func(*args, out=overlapping)
    with pytest.raises(ValueError, match="`out` must not share memory with `input`"):
        func(args[0], *args[1:], out=args[0] if args[0].shape == good.shape else
             np.lib.stride_tricks.as_strided(args[0], good.shape, good.strides))


@pytest.mark.parametrize("order, shape, message", [
    ("KLN", (27, 19), "must have L\\*N columns with L = 3x3 = 9 patches"),
    ("NLK", (19, 27), "must have N\\*L rows with L = 3x3 = 9 patches"),
    ("KLN", (26, 18), "must have C\\*9 patch rows with kernel_size 3x3, got 26"),
    ("NLK", (2, 8, 27), "has 8 patches \\(axis 1\\) but output_size \\(5, 5\\)"),
])
def test_column_shape_errors_per_order(order, shape, message):
    with pytest.raises(ValueError, match=message):
        col2im(np.zeros(shape), (5, 5), 3, order=order)


def test_strided_and_contiguous_kernels_agree_on_a_large_batch(rng):
    """The batch-innermost nests with their scratch (large batches) against
    the contiguous kernels on the same values."""
    x = rng.standard_normal((64, 3, 17, 19)).astype(np.float32)
    kw = dict(padding=2, stride=(1, 2), dilation=(2, 1))
    ref = im2col(x, 5, **kw)
    kln = im2col(odd_view(x, "channels_last"), 5, order="KLN", **kw)
    np.testing.assert_array_equal(kln, in_order(ref, "KLN"))
    y = rng.standard_normal(ref.shape).astype(np.float32)
    back = col2im(in_order(y, "KLN"), (17, 19), 5, order="KLN", **kw)
    np.testing.assert_allclose(back, col2im(y, (17, 19), 5, **kw), rtol=1e-5, atol=1e-5)
    assert im2col_nb.get_backend() in ("numba", "numpy")


def test_copy_route_is_shown(rng):
    """Where a copy is cheaper the plan takes it and says so."""
    x = odd_view(rng.standard_normal((4, 3, 9, 9)), "channels_last")
    choice = im2col_nb.explain("im2col", x, 3, padding=1)
    assert choice.method == "copy" and "C-contiguous copy of the input" in choice.plan
    assert [c.name for c in choice.candidates] == ["contiguous", "copy", "strided"]
    kln = im2col_nb.explain("im2col", x, 3, padding=1, order="KLN")
    assert kln.method == "strided" and "images (N)" in kln.plan
    cols = im2col(x, 3, padding=1)
    out = np.empty((4, 9, 9, 3)).transpose(0, 3, 1, 2)
    choice = im2col_nb.explain("col2im", cols, (9, 9), 3, padding=1, out=out)
    assert choice.method == "copy" and "copy of the result" in choice.plan
    assert im2col_nb.explain("col2im", cols, (9, 9), 3, padding=1).method == "contiguous"
    assert "im2col" in str(choice) or "col2im" in str(choice)
    np.testing.assert_allclose(col2im(cols, (9, 9), 3, padding=1, out=out),
                               col2im(cols, (9, 9), 3, padding=1))
