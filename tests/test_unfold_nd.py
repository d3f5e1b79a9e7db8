"""im2col1d / im2col3d, their adjoints, and padding modes (im2col/col2im
with padding_mode) against the explicit-loop oracle, PyTorch and unfoldNd.

The Numba instance of every test that takes the `backend` fixture also runs
uncompiled, under NUMBA_DISABLE_JIT=1 (test_nojit.py), unless marked
``jit_only``.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import naive
from conftest import tolerance

from im2col_nb import col2im, col2im1d, col2im3d, im2col, im2col1d, im2col3d

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
UNFOLD = {1: im2col1d, 2: im2col, 3: im2col3d}
FOLD = {1: col2im1d, 2: col2im, 3: col2im3d}


def out_size(size, k, s, d, pad):
    return tuple((n + lo + hi - d_ * (k_ - 1) - 1) // s_ + 1
                 for n, k_, s_, d_, (lo, hi) in zip(size, k, s, d, pad))


def check_case(ndim, shape, k, d, s, pad, mode, dtype, rng):
    """im2colNd and col2imNd against the naive loops, for one geometry."""
    x = rng.standard_normal(shape).astype(dtype)
    kwargs = dict(dilation=d, padding=pad, stride=s, padding_mode=mode)
    cols = UNFOLD[ndim](x, k, **kwargs)
    want = naive.unfold_nd(x, k, d, pad, s, mode)
    assert cols.dtype == dtype and cols.shape == want.shape
    np.testing.assert_array_equal(cols, want.astype(dtype))   # a copy: exact
    y = rng.standard_normal(cols.shape).astype(dtype)
    back = FOLD[ndim](y, shape[2:], k, **kwargs)
    rtol, atol = tolerance(dtype)
    assert back.dtype == dtype
    np.testing.assert_allclose(back, naive.fold_nd(y, shape[2:], k, d, pad, s, mode),
                               rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# fixed cases, both backends (small: the Numba one also runs uncompiled)
# ---------------------------------------------------------------------------

CASES = [
    # ndim, shape, kernel, dilation, stride, padding pairs
    (1, (2, 3, 9), (3,), (1,), (1,), ((1, 1),)),
    (1, (1, 2, 11), (4,), (2,), (3,), ((2, 0),)),
    (1, (2, 1, 5), (1,), (1,), (2,), ((0, 3),)),
    (2, (2, 2, 5, 6), (3, 2), (1, 2), (2, 1), ((2, 1), (0, 3))),
    (2, (1, 3, 4, 4), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    (3, (2, 2, 4, 5, 6), (3, 3, 3), (1, 1, 1), (1, 1, 1), ((1, 1), (1, 1), (1, 1))),
    (3, (1, 2, 3, 6, 7), (2, 3, 2), (1, 2, 1), (2, 1, 3), ((0, 2), (2, 1), (1, 0))),
    (3, (2, 1, 5, 3, 4), (1, 2, 3), (2, 1, 1), (1, 2, 2), ((3, 0), (0, 0), (2, 2))),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}d-{i}" for i, c in enumerate(CASES)])
def test_against_naive(backend, case, mode):
    ndim, shape, k, d, s, pad = case
    # PyTorch's limits on the padding of the two wrapping/mirroring modes
    size = shape[2:]
    if mode == "reflect":
        pad = tuple((min(lo, n - 1), min(hi, n - 1)) for (lo, hi), n in zip(pad, size))
    if mode == "circular":
        pad = tuple((min(lo, n), min(hi, n)) for (lo, hi), n in zip(pad, size))
    if min(out_size(size, k, s, d, pad)) < 1:
        pytest.skip("no window fits after clipping the padding")
    check_case(ndim, shape, k, d, s, pad, mode, np.float64, np.random.default_rng(0))


def test_im2col1d_small(backend):
    x = np.arange(10.0).reshape(2, 5)
    cols = im2col1d(x, 2, stride=2, padding=1, padding_mode="replicate")
    # windows [x0 x0] [x1 x2] [x3 x4], channel by channel
    np.testing.assert_array_equal(cols, [[0, 1, 3], [0, 2, 4], [5, 6, 8], [5, 7, 9]])
    np.testing.assert_array_equal(col2im1d(cols, 5, 2, stride=2, padding=1,
                                           padding_mode="replicate"),
                                  [[0, 1, 2, 3, 4], [10, 6, 7, 8, 9]])


def test_im2col3d_layout_matches_torch_unfold_order(backend):
    # a (C, D, H, W) volume: rows c, then (i, j, l); columns (od, oh, ow)
    x = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    cols = im2col3d(x, (2, 2, 3), stride=(1, 2, 1))
    assert cols.shape == (2 * 12, 2 * 2 * 3)
    tap = (1 * 2 + 0) * 3 + 2                            # (i, j, l) = (1, 0, 2)
    col = (1 * 2 + 1) * 3 + 0                            # (od, oh, ow) = (1, 1, 0)
    assert cols[12 + tap, col] == x[1, 1 + 1, 2 * 1 + 0, 0 + 2]


@pytest.mark.parametrize("mode", MODES)
def test_adjoint_identity_every_mode(backend, mode):
    rng = np.random.default_rng(1)
    for ndim, shape, k, d, s, pad in [
        (1, (2, 2, 7), (3,), (2,), (1,), ((3, 2),)),
        (2, (1, 2, 5, 4), (3, 2), (1, 1), (2, 1), ((2, 1), (1, 3))),
        (3, (1, 2, 4, 3, 5), (2, 3, 3), (1, 1, 2), (1, 2, 1), ((1, 3), (2, 2), (0, 4))),
    ]:
        if mode == "reflect":
            pad = tuple((min(lo, n - 1), min(hi, n - 1)) for (lo, hi), n in zip(pad, shape[2:]))
        x = rng.standard_normal(shape)
        kw = dict(dilation=d, padding=pad, stride=s, padding_mode=mode)
        cols = UNFOLD[ndim](x, k, **kw)
        y = rng.standard_normal(cols.shape)
        lhs = float(np.sum(cols * y))
        rhs = float(np.sum(x * FOLD[ndim](y, shape[2:], k, **kw)))
        assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_inputs_untouched_odd_layouts_and_dtypes(backend):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((3, 2, 6, 5, 8))
    x = base[::-1, :, 1:, ::-1, ::2]                     # negative strides, a slice
    want = naive.unfold_nd(x, 2, 1, ((1, 0), (1, 1), (0, 2)), 1, "reflect")
    keep = base.copy()
    got = im2col3d(x, 2, padding=((1, 0), 1, (0, 2)), padding_mode="reflect")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(base, keep)
    # Fortran order, read-only, unbatched
    xf = np.asfortranarray(base[0])
    xf.flags.writeable = False
    np.testing.assert_array_equal(im2col3d(xf, 3, padding=1, padding_mode="circular"),
                                  naive.unfold_nd(base[:1], 3, 1, ((1, 1),) * 3, 1, "circular")[0])
    # values are copied: every dtype is kept; 1-D unbatched
    s = np.arange(6)
    assert im2col1d(s[None], 3).dtype == s.dtype
    assert im2col1d(s[None].astype(np.float16), 3).dtype == np.float16
    assert im2col3d(np.ones((1, 2, 2, 2), np.uint8), 1, padding=1,
                    padding_mode="reflect").dtype == np.uint8
    cols = im2col1d(s[None].astype(np.float32), (3,), padding=(1,), padding_mode="symmetric")
    np.testing.assert_array_equal(cols[:, 0], [0, 0, 1])
    # a tuple of one entry means every axis
    np.testing.assert_array_equal(im2col3d(base, (2,), stride=(2,), padding=((1, 0),)),
                                  im2col3d(base, 2, stride=2, padding=((1, 0),) * 3))


def test_empty_batch_and_channels(backend):
    assert im2col3d(np.zeros((0, 2, 3, 3, 3)), 2).shape == (0, 16, 8)
    assert im2col1d(np.zeros((2, 0, 5)), 2, padding_mode="reflect", padding=1).shape == (2, 0, 6)
    assert col2im3d(np.zeros((1, 0, 8)), 3, 2).shape == (1, 0, 3, 3, 3)


# ---------------------------------------------------------------------------
# fuzzed against the oracle (compiled only: Hypothesis is too slow uncompiled)
# ---------------------------------------------------------------------------

@st.composite
def geometries(draw):
    ndim = draw(st.sampled_from([1, 2, 3]))
    mode = draw(st.sampled_from(MODES))
    size, k, d, s, pad = [], [], [], [], []
    for _ in range(ndim):
        n = draw(st.integers(1, 7 if ndim < 3 else 5))
        limit = n - 1 if mode == "reflect" else n if mode == "circular" else 3
        pad.append((draw(st.integers(0, min(limit, 3))), draw(st.integers(0, min(limit, 3)))))
        size.append(n)
        k.append(draw(st.integers(1, 3)))
        d.append(draw(st.integers(1, 2)))
        s.append(draw(st.integers(1, 3)))
    assume(min(out_size(size, k, s, d, pad)) >= 1)
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + tuple(size)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return ndim, shape, tuple(k), tuple(d), tuple(s), tuple(pad), mode, dtype


@pytest.mark.jit_only
@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                   HealthCheck.filter_too_much])
@given(case=geometries(), seed=st.integers(0, 2**16))
def test_fuzz_against_naive(backend, case, seed):
    ndim, shape, k, d, s, pad, mode, dtype = case
    check_case(ndim, shape, k, d, s, pad, mode, dtype, np.random.default_rng(seed))


@pytest.mark.jit_only
def test_single_volume_uses_the_parallel_split():
    # N*C = 1: the prange splits over taps and output slabs; same answer as
    # the NumPy backend, and col2im is deterministic run to run
    import im2col_nb
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 9, 40, 33)).astype(np.float32)
    kw = dict(padding=((1, 2), 1, (3, 0)), stride=(1, 2, 1), padding_mode="symmetric")
    with_numba = im2col3d(x, 3, **kw)
    y = rng.standard_normal(with_numba.shape).astype(np.float32)
    back = col2im3d(y, x.shape[2:], 3, **kw)
    np.testing.assert_array_equal(back, col2im3d(y, x.shape[2:], 3, **kw))
    previous = im2col_nb.get_backend()
    im2col_nb.set_backend("numpy")
    try:
        np.testing.assert_array_equal(with_numba, im2col3d(x, 3, **kw))
        np.testing.assert_allclose(back, col2im3d(y, x.shape[2:], 3, **kw), rtol=1e-5, atol=1e-5)
    finally:
        im2col_nb.set_backend(previous)


# ---------------------------------------------------------------------------
# PyTorch and unfoldNd
# ---------------------------------------------------------------------------

TORCH_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
               "circular": "circular"}


@pytest.mark.jit_only
@pytest.mark.parametrize("mode", list(TORCH_MODES))
def test_2d_modes_match_torch_unfold_of_padded_input(mode):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 9))
    pad = ((2, 1), (3, 0))                                   # (top, bottom), (left, right)
    padded = F.pad(torch.from_numpy(x), (3, 0, 2, 1), mode=TORCH_MODES[mode])
    want = F.unfold(padded, (3, 2), dilation=(1, 2), stride=(2, 1)).numpy()
    got = im2col(x, (3, 2), dilation=(1, 2), padding=pad, stride=(2, 1), padding_mode=mode)
    np.testing.assert_array_equal(got, want)
    # and the adjoint is autograd's gradient of that unfold
    y = np.random.default_rng(5).standard_normal(got.shape)
    xt = torch.from_numpy(x).requires_grad_()
    F.unfold(F.pad(xt, (3, 0, 2, 1), mode=TORCH_MODES[mode]), (3, 2), dilation=(1, 2),
             stride=(2, 1)).backward(torch.from_numpy(y))
    np.testing.assert_allclose(col2im(y, (7, 9), (3, 2), dilation=(1, 2), padding=pad,
                                      stride=(2, 1), padding_mode=mode),
                               xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.jit_only
@pytest.mark.parametrize("ndim", [1, 3])
@pytest.mark.parametrize("mode", list(TORCH_MODES))
def test_1d_3d_match_torch_pad_and_tensor_unfold(ndim, mode):
    # conv-free: F.pad, then Tensor.unfold along each spatial axis (windows
    # as trailing axes), rearranged to (N, C*taps, positions)
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    shape = (2, 3, 11) if ndim == 1 else (2, 2, 5, 6, 7)
    k, s = ((3,), (2,)) if ndim == 1 else ((2, 3, 2), (1, 2, 3))
    pad = ((2, 1),) if ndim == 1 else ((1, 0), (2, 2), (0, 1))
    x = rng.standard_normal(shape)
    flat_pad = [p for lo_hi in reversed(pad) for p in lo_hi]   # F.pad: last axis first
    t = F.pad(torch.from_numpy(x), flat_pad, mode=TORCH_MODES[mode])
    for a in range(ndim):
        t = t.unfold(2 + a, k[a], s[a])        # (N, C, *O, *K)
    n, c = shape[:2]
    out = t.shape[2:2 + ndim]
    want = t.reshape(n, c, int(np.prod(out)), int(np.prod(k))).permute(0, 1, 3, 2)
    want = want.reshape(n, c * int(np.prod(k)), -1).numpy()
    got = UNFOLD[ndim](x, k, padding=pad, stride=s, padding_mode=mode)
    np.testing.assert_array_equal(got, want)


@pytest.mark.jit_only
def test_3d_matches_unfoldnd():
    torch = pytest.importorskip("torch")
    unfoldNd = pytest.importorskip("unfoldNd")
    x = np.random.default_rng(7).standard_normal((2, 3, 6, 7, 8)).astype(np.float32)
    geo = dict(kernel_size=(3, 2, 3), dilation=(1, 2, 1), padding=(1, 0, 2), stride=(2, 1, 2))
    want = unfoldNd.unfoldNd(torch.from_numpy(x), **geo).numpy()
    got = im2col3d(x, **geo)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    fold = unfoldNd.FoldNd((6, 7, 8), **geo)
    np.testing.assert_allclose(col2im3d(got, (6, 7, 8), **geo),
                               fold(torch.from_numpy(want)).numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

X1 = np.ones((2, 3, 6))
X3 = np.ones((1, 2, 4, 5, 6))


@pytest.mark.parametrize("call, error, match", [
    (lambda: im2col3d(X3, (2, 2)), ValueError, "`kernel_size` has 2 entries but im2col3d has 3"),
    (lambda: im2col3d(X3, 2, stride=(1, 1)), ValueError, "`stride` has 2 entries"),
    (lambda: im2col3d(X3, 2, dilation=[1, 1, 1, 1]), ValueError, "`dilation` has 4 entries"),
    (lambda: im2col3d(X3, 2, padding=(1, 1)), ValueError, "`padding` has 2 entries"),
    (lambda: im2col1d(X1, 2, padding=(1, 2)), ValueError, r"write \(\(1, 2\),\)"),
    (lambda: im2col1d(X1, (2, 2)), ValueError, "im2col1d has 1 spatial axis"),
    (lambda: col2im3d(np.ones((2, 8, 60)), (4, 5), 2), ValueError, "`output_size` has 2 entries"),
    (lambda: im2col3d(np.ones((4, 5, 6)), 2), ValueError, r"`input` must be 4-D \(C, D, H, W\)"),
    (lambda: im2col1d(np.ones((1, 2, 4, 5)), 2), ValueError, r"`input` must be 2-D \(C, L\)"),
    (lambda: col2im1d(np.ones(6), 6, 2), ValueError, "`input` must be 2-D"),
    (lambda: im2col3d(X3, 2, padding=4, padding_mode="reflect"), ValueError,
     "must be smaller than the input size 4"),
    (lambda: im2col1d(X1, 2, padding=((0, 6),), padding_mode="reflect"), ValueError,
     "padding_mode='reflect'"),
    (lambda: im2col(np.ones((1, 5, 5)), 3, padding=(1, 5), padding_mode="reflect"), ValueError,
     "must be smaller than the input size 5"),
    (lambda: col2im(np.ones((9, 9)), 3, 3, padding=3, padding_mode="reflect"), ValueError,
     "padding_mode='reflect'"),
    (lambda: im2col3d(X3, 2, padding=5, padding_mode="circular"), ValueError,
     "at most the input size 4"),
    (lambda: im2col3d(X3, 2, padding_mode="mirror"), ValueError, "`padding_mode` must be one of"),
    (lambda: im2col(np.ones((1, 5, 5)), 3, padding_mode=None), ValueError, "`padding_mode`"),
    (lambda: col2im3d(np.ones((2, 7, 60)), (4, 5, 6), 2), ValueError, "multiple of 8"),
    (lambda: col2im3d(np.ones((2, 8, 59)), (4, 5, 6), 2), ValueError, "has 59 patches"),
    (lambda: im2col3d(X3, 2, stride=0), ValueError, "`stride` must be positive"),
    (lambda: im2col3d(X3, 2.5), TypeError, "`kernel_size`"),
    (lambda: im2col1d(X1, 7), ValueError, "larger than the padded input"),
    (lambda: im2col3d(np.ones((1, 1, 2, 2, 2), dtype=object), 1), TypeError, "`input`"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
