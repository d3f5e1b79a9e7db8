"""im2col (unfold) and col2im (fold) against the explicit-loop oracle.

The Numba instance of every test that takes the `backend` fixture is also
run uncompiled, under NUMBA_DISABLE_JIT=1, by test_nojit.py (marker
``nojit``), unless marked ``jit_only``.
"""

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import col2im, im2col


def assert_close(got, want, dtype=np.float64):
    rtol, atol = tolerance(dtype)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def dot(a, b):
    return float(np.sum(np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)))


# ---------------------------------------------------------------------------
# a 4x4 image with 3 channels and a 2x2 kernel -> 12 x 9
# ---------------------------------------------------------------------------

def test_patch_matrix_12x9_small(backend):
    x = np.arange(48).reshape(3, 4, 4)
    cols = im2col(x, 2)
    assert cols.shape == (12, 9) and cols.dtype == x.dtype  # values copied: the dtype is kept
    np.testing.assert_array_equal(cols, naive.im2col(x[None], 2)[0])
    # first patch (top-left) down the rows, ordered channel, kernel row, kernel column
    np.testing.assert_array_equal(cols[:, 0], [0, 1, 4, 5, 16, 17, 20, 21, 32, 33, 36, 37])
    np.testing.assert_array_equal(cols[:, 8], [10, 11, 14, 15, 26, 27, 30, 31, 42, 43, 46, 47])
    # batched: (1, 12, 9)
    np.testing.assert_array_equal(im2col(x[None], 2), cols[None])
    # and back: each pixel summed once per patch that covers it
    counts = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    np.testing.assert_array_equal(col2im(cols, 4, 2), x * counts)


# ---------------------------------------------------------------------------
# a grid of geometries
# ---------------------------------------------------------------------------

def _case(N=2, C=3, H=6, W=7, k=3, dilation=1, padding=0, stride=1):
    return dict(N=N, C=C, H=H, W=W, k=k, dilation=dilation, padding=padding, stride=stride)


CASES = [
    _case(),
    _case(k=1),
    _case(k=2, stride=2),
    _case(stride=(2, 3), H=9),
    _case(k=2, stride=3, H=8, W=8),
    _case(padding=1),
    _case(padding=(2, 0), k=(3, 2)),
    _case(padding=(0, 3), k=2, stride=2),
    _case(padding=4, k=2, stride=3),          # windows entirely in the padding
    _case(dilation=2, H=7, W=9),
    _case(dilation=(3, 1), k=(2, 4), padding=(1, 1)),
    _case(dilation=2, padding=2, stride=2, H=8, W=8),
    _case(k=(1, 4), H=1, W=9),
    _case(k=(6, 7)),                            # a single patch
    _case(k=(5, 1), stride=(1, 2), padding=(2, 0)),
    _case(N=1, C=1, H=5, W=5, k=5, padding=2),
    _case(N=3, C=5, H=4, W=3, k=2),
]
CASE_IDS = [f"case{i}" for i in range(len(CASES))]


def geometry(i):
    c = CASES[i]
    return dict(kernel_size=c["k"], dilation=c["dilation"], padding=c["padding"], stride=c["stride"])


@functools.lru_cache(maxsize=None)
def case_data(i):
    """(x, cols, y, back): input, its patches, a random cotangent and col2im(y)."""
    c = CASES[i]
    rng = np.random.default_rng(500 + i)
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
    cols = naive.im2col(x, **geometry(i))
    y = rng.standard_normal(cols.shape)
    back = naive.col2im(y, (c["H"], c["W"]), **geometry(i))
    for a in (x, cols, y, back):
        a.flags.writeable = False
    return x, cols, y, back


@pytest.mark.parametrize("i", range(len(CASES)), ids=CASE_IDS)
def test_im2col_matches_naive(backend, i):
    x, want, _, _ = case_data(i)
    got = im2col(x, **geometry(i))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)     # a copy: exact
    # unbatched
    np.testing.assert_array_equal(im2col(x[0], **geometry(i)), want[0])


@pytest.mark.parametrize("i", range(len(CASES)), ids=CASE_IDS)
def test_col2im_matches_naive(backend, i):
    x, _, y, want = case_data(i)
    size = x.shape[2:]
    got = col2im(y, size, **geometry(i))
    assert got.dtype == np.float64
    assert_close(got, want)
    assert_close(col2im(y[0], size, **geometry(i)), want[0])
    # output_size as an int for a square image, as a list
    assert_close(col2im(y, list(size), **geometry(i)), want)


@pytest.mark.parametrize("i", range(len(CASES)), ids=CASE_IDS)
def test_adjoint_identity(backend, i):
    """<im2col(x), y> == <x, col2im(y)>, with the package on both sides."""
    x, _, y, _ = case_data(i)
    lhs = dot(im2col(x, **geometry(i)), y)
    rhs = dot(x, col2im(y, x.shape[2:], **geometry(i)))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_im2col_col2im_small(backend):
    """Every geometry feature at once, both directions (also run uncompiled)."""
    for i in (3, 8, 10, 11, 14):
        x, cols, y, back = case_data(i)
        np.testing.assert_array_equal(im2col(x, **geometry(i)), cols)
        assert_close(col2im(y, x.shape[2:], **geometry(i)), back)


def test_square_output_size_int(backend):
    x = np.arange(2 * 25.0).reshape(1, 2, 5, 5)
    cols = im2col(x, 3, padding=1)
    np.testing.assert_array_equal(col2im(cols, 5, 3, padding=1), col2im(cols, (5, 5), 3, padding=1))


# ---------------------------------------------------------------------------
# dtypes, lists, empty batches, odd layouts
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,result", [
    ("float64", "float64"), ("float32", "float32"), ("float16", "float16"),
    ("int64", "int64"), ("uint8", "uint8"), ("int8", "int8"), ("uint16", "uint16"),
    ("bool", "bool"), (">f8", "float64"), (">f4", "float32"), (">i2", "int16"),
    ("complex64", "complex64"), ("complex128", "complex128"),
])
def test_dtypes(backend, dtype, result):
    """im2col copies values: every dtype is kept (native byte order); col2im
    sums in it (small values here: no integer overflow)."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2 if dtype == "bool" else 9, size=(2, 3, 5, 6)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.integers(0, 9, size=x.shape).astype(dtype)
    cols = im2col(x, 2, padding=1, stride=(1, 2))
    assert cols.dtype == np.dtype(result) and cols.dtype.isnative
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    for part in (np.real, np.imag) if np.dtype(dtype).kind == "c" else (np.real,):
        np.testing.assert_array_equal(part(cols).astype(np.float64),
                                      naive.im2col(part(x).astype(np.float64), 2, padding=1,
                                                   stride=(1, 2)))
    back = col2im(cols, (5, 6), 2, padding=1, stride=(1, 2))
    assert back.dtype == np.dtype(result)
    want = col2im(cols.astype(wide), (5, 6), 2, padding=1, stride=(1, 2))
    if dtype == "bool":  # bool sums are a logical or
        want = want != 0
    np.testing.assert_array_equal(back, want.astype(result))


def test_col2im_integer_sums_wrap_as_numpy(backend):
    cols = np.full((1, 4, 4), 100, dtype=np.uint8)     # 2x2 kernel over a 3x3 image
    back = col2im(cols, (3, 3), 2)
    # the centre is covered by 4 patches: 400 wraps to 400 - 256 = 144, as NumPy's uint8 sums
    assert back.dtype == np.uint8 and back[0, 0, 1, 1] == np.uint8(144)
    np.testing.assert_array_equal(col2im(cols.astype(np.int32), (3, 3), 2)[0, 0, 1, 1], 400)


def test_float32_col2im_to_float32_accuracy(backend, rng):
    y = rng.standard_normal((2, 3 * 9, 25))
    want = naive.col2im(y, (7, 7), 3, dilation=1, padding=0, stride=1)
    got = col2im(y.astype(np.float32), (7, 7), 3)
    assert got.dtype == np.float32
    assert_close(got, want, np.float32)


def test_lists_are_accepted(backend):
    x = np.arange(18.0).reshape(2, 3, 3)
    np.testing.assert_array_equal(im2col(x.tolist(), 2), im2col(x, 2))
    cols = im2col(x, 2)
    np.testing.assert_array_equal(col2im(cols.tolist(), [3, 3], [2, 2]), col2im(cols, 3, 2))


def test_empty_batch(backend):
    cols = im2col(np.zeros((0, 3, 5, 6)), 2, padding=1)
    assert cols.shape == (0, 12, 42) and cols.dtype == np.float64
    out = col2im(np.zeros((0, 12, 42), dtype=np.float32), (5, 6), 2, padding=1)
    assert out.shape == (0, 3, 5, 6) and out.dtype == np.float32
    # zero channels
    assert im2col(np.zeros((2, 0, 5, 6)), 2).shape == (2, 0, 20)
    assert col2im(np.zeros((2, 0, 20)), (5, 6), 2).shape == (2, 0, 5, 6)


def _odd_views(a):
    """(kind, array equal to `a` with that memory layout)."""
    rev = a[:, :, ::-1, ::-1].copy()
    big = np.zeros((a.shape[0], a.shape[1] + 1, 2 * a.shape[2], a.shape[3] + 3))
    sliced = big[:, 1:, ::2, 3:]
    sliced[...] = a
    ro = a.copy()
    ro.flags.writeable = False
    return [("fortran", np.asfortranarray(a)), ("negative", rev[:, :, ::-1, ::-1]),
            ("sliced", sliced), ("readonly", ro), ("bigendian", a.astype(">f8")),
            ("transposed", np.ascontiguousarray(a.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2))]


def test_odd_memory_layouts(backend):
    i = 11
    x, cols, y, back = case_data(i)
    for kind, xo in _odd_views(np.array(x)):
        saved = xo.copy()
        np.testing.assert_array_equal(im2col(xo, **geometry(i)), cols, err_msg=kind)
        np.testing.assert_array_equal(xo, saved)
    y4 = np.array(y)[:, :, None, :]                    # reuse the 4-D helper on (N, K, 1, L)
    for kind, yo in _odd_views(y4):
        yo = yo[:, :, 0, :]
        saved = yo.copy()
        flags = (yo.strides, yo.flags.writeable)
        assert_close(col2im(yo, x.shape[2:], **geometry(i)), back)
        np.testing.assert_array_equal(yo, saved)
        assert (yo.strides, yo.flags.writeable) == flags, kind


def test_result_is_fresh_and_writeable(backend):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x.flags.writeable = False
    cols = im2col(x, 1)          # a 1x1 unfold is a reshape of the input ...
    assert cols.flags.writeable and not np.shares_memory(cols, x)   # ... but must not alias it
    back = col2im(cols, 4, 1)
    assert back.flags.writeable and not np.shares_memory(back, cols)


def test_backends_agree_to_rounding():
    previous = im2col_nb.get_backend()
    try:
        for i in range(len(CASES)):
            x, _, y, _ = case_data(i)
            res = {}
            for name in ("numba", "numpy"):
                im2col_nb.set_backend(name)
                res[name] = (im2col(x.astype(np.float32), **geometry(i)),
                             col2im(y.astype(np.float32), x.shape[2:], **geometry(i)),
                             col2im(y, x.shape[2:], **geometry(i)))
            np.testing.assert_array_equal(res["numba"][0], res["numpy"][0])
            np.testing.assert_allclose(res["numba"][1], res["numpy"][1], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(res["numba"][2], res["numpy"][2], rtol=1e-13, atol=1e-13)
    finally:
        im2col_nb.set_backend(previous)


# ---------------------------------------------------------------------------
# hypothesis: random configurations
# ---------------------------------------------------------------------------

@st.composite
def unfold_configs(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 6))
    W = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 6))
    return dict(N=draw(st.integers(1, 2)), C=draw(st.integers(1, 3)), H=H, W=W,
                kernel_size=(kh, kw) if kh != kw or draw(st.booleans()) else kh,
                dilation=(dh, dw), padding=(ph, pw) if ph != pw else ph,
                stride=(sh, sw), seed=draw(st.integers(0, 2**31)),
                dtype=draw(st.sampled_from([np.float32, np.float64])))


@pytest.mark.jit_only
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=unfold_configs())
def test_hypothesis_im2col_col2im(backend, cfg):
    rng = np.random.default_rng(cfg["seed"])
    geo = {k: cfg[k] for k in ("kernel_size", "dilation", "padding", "stride")}
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(cfg["dtype"])
    cols = im2col(x, **geo)
    assert cols.dtype == cfg["dtype"]
    np.testing.assert_array_equal(cols, naive.im2col(x, **geo))
    y = rng.standard_normal(cols.shape).astype(cfg["dtype"])
    back = col2im(y, (cfg["H"], cfg["W"]), **geo)
    assert back.dtype == cfg["dtype"]
    assert_close(back, naive.col2im(y, (cfg["H"], cfg["W"]), **geo), cfg["dtype"])
    if cfg["dtype"] == np.float64:
        assert dot(cols, y) == pytest.approx(dot(x, back), rel=1e-11, abs=1e-11)


@pytest.mark.jit_only
def test_against_torch(backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for i in range(len(CASES)):
        x, _, y, _ = case_data(i)
        geo = geometry(i)
        want = F.unfold(torch.from_numpy(x.copy()), **geo).numpy()
        np.testing.assert_array_equal(im2col(x, **geo), want)
        want = F.fold(torch.from_numpy(y.copy()), x.shape[2:], **geo).numpy()
        assert_close(col2im(y, x.shape[2:], **geo), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_is_deterministic(backend, dtype):
    """Overlapping sums are gathered in a fixed order: bit-identical results
    from repeated calls (no write races between threads)."""
    rng = np.random.default_rng(5)
    y = rng.standard_normal((3, 8 * 9, 30 * 30)).astype(dtype)
    first = col2im(y, (32, 32), 3)
    for _ in range(3):
        again = col2im(y, (32, 32), 3)
        assert again.tobytes() == first.tobytes()
    y = rng.standard_normal((2, 4 * 9, 18 * 18)).astype(dtype)
    first = col2im(y, (16, 16), 3, dilation=2, padding=3, stride=(1, 1))
    for _ in range(3):
        assert col2im(y, (16, 16), 3, dilation=2, padding=3).tobytes() == first.tobytes()
