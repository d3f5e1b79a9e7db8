"""conv2d (im2col + GEMM) and conv2d_direct against the explicit-loop oracle.

Every test that takes the `backend` fixture runs on the Numba and the NumPy
backend, and its Numba instance is also run uncompiled, under
NUMBA_DISABLE_JIT=1, by test_nojit.py (marker ``nojit``; tests too slow for
that are marked ``jit_only``): keep them small and make them cover every
kernel (im2col, im2row_nhwc, both direct kernels).
"""

import functools
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from _strategies import conv_problems
from conftest import tolerance

import im2col_nb
from im2col_nb import conv2d, conv2d_direct, im2col
from im2col_nb._core.backend import backend_module
from im2col_nb._engine import conv_direct as _direct_method, conv_gemm as _drivers
from im2col_nb.cli.worked_example import IMAGE as EXAMPLE_I, KERNEL as EXAMPLE_K

CONV_FUNCS = {"conv2d": conv2d, "conv2d_direct": conv2d_direct}

# The worked example: I * K (cross-correlation, no padding). The image
# and kernel are the package's own (the CLI prints them); the expected result
# is written out here, as the oracle.
EXAMPLE_RESULT = np.array([[1, 4, 3, 4, 1],
                        [1, 2, 4, 3, 3],
                        [1, 2, 3, 4, 1],
                        [1, 3, 3, 1, 1],
                        [3, 3, 1, 1, 0]])


def to_nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, -3, -1))


def run_conv(func, x, w, b=None, layout="NCHW", **kw):
    """Call `func` with NCHW arrays; for NHWC pass and return channels-last."""
    if layout == "NHWC":
        return np.moveaxis(func(to_nhwc(x), w, b, layout="NHWC", **kw), -1, -3)
    return func(x, w, b, **kw)


def assert_close(got, want, dtype=np.float64):
    rtol, atol = tolerance(dtype)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# the worked example
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_worked_example_small(backend, name):
    out = CONV_FUNCS[name](EXAMPLE_I, EXAMPLE_K)
    assert out.shape == (5, 5) and out.dtype == np.float64
    np.testing.assert_array_equal(out, EXAMPLE_RESULT)
    # the same as an unbatched one-channel image and a batched one
    np.testing.assert_array_equal(CONV_FUNCS[name](EXAMPLE_I[None], EXAMPLE_K[None, None])[0], EXAMPLE_RESULT)
    np.testing.assert_array_equal(CONV_FUNCS[name](EXAMPLE_I[None, None], EXAMPLE_K[None, None])[0, 0],
                                  EXAMPLE_RESULT)
    # and channels-last
    np.testing.assert_array_equal(
        CONV_FUNCS[name](EXAMPLE_I[:, :, None], EXAMPLE_K[None, None], layout="NHWC")[:, :, 0], EXAMPLE_RESULT)
    np.testing.assert_array_equal(CONV_FUNCS[name](EXAMPLE_I, EXAMPLE_K, layout="NHWC"), EXAMPLE_RESULT)


def test_worked_example_im2col_times_weight_row_small(backend):
    """The worked example's recipe: unroll I into a 9 x 25 patch matrix, multiply by K
    as a 1 x 9 row, reshape the 1 x 25 row to 5 x 5."""
    cols = im2col(EXAMPLE_I[None], 3)
    assert cols.shape == (9, 25)
    np.testing.assert_array_equal(cols, naive.im2col(EXAMPLE_I[None, None], 3)[0])
    row = EXAMPLE_K.reshape(1, 9) @ cols
    np.testing.assert_array_equal(row.reshape(5, 5), EXAMPLE_RESULT)


# ---------------------------------------------------------------------------
# a grid of geometries against the oracle
# ---------------------------------------------------------------------------

def _case(N=2, C=3, H=7, W=6, F=4, k=3, stride=1, padding=0, dilation=1, groups=1, bias=True):
    return dict(N=N, C=C, H=H, W=W, F=F, k=k, stride=stride, padding=padding,
                dilation=dilation, groups=groups, bias=bias)


CASES = [
    _case(),
    _case(bias=False),
    _case(stride=2),
    _case(stride=(1, 2)),
    _case(H=9, W=8, stride=(3, 2)),
    _case(k=2, stride=3, H=8, W=8),                       # stride larger than the kernel
    _case(padding=1),
    _case(padding=(1, 2)),
    _case(padding=(0, 3), k=2),
    _case(padding=3, k=2, stride=2),                      # padding larger than the kernel
    _case(padding="valid"),
    _case(padding="same"),
    _case(padding="same", k=2),                           # even: extra row/col bottom/right
    _case(padding="same", k=(4, 2), H=6, W=5),
    _case(padding="same", k=2, dilation=3, H=8, W=9),     # total 3 -> (1, 2)
    _case(padding="same", k=(3, 4), dilation=(2, 1)),
    _case(padding="SAME", k=(1, 2)),
    _case(dilation=2, H=9, W=9),
    _case(dilation=(2, 3), H=8, W=10, padding=(1, 2), stride=(2, 1)),
    _case(groups=3, C=3, F=6),
    _case(groups=2, C=4, F=2, padding=1, stride=2),
    _case(groups=3, C=3, F=3, k=3, padding="same"),        # depthwise
    _case(groups=2, C=6, F=4, dilation=2, H=8, W=8, padding=(2, 1)),
    _case(k=1),                                           # pointwise: no im2col
    _case(k=1, groups=3, C=6, F=3),
    _case(k=1, stride=2),
    _case(k=1, padding=1),
    _case(k=1, padding="same", dilation=3),
    _case(k=(1, 5), W=9),
    _case(k=(5, 1), H=9, padding=(2, 0)),
    _case(k=(7, 6)),                                      # one output pixel
    _case(k=5, H=3, W=3, padding=1),                      # kernel fits only thanks to padding
    _case(H=1, W=9, k=(1, 3)),
    _case(N=1, C=1, F=1),
    _case(N=3, C=2, F=5, H=11, W=5, k=(2, 3), stride=(2, 1), padding=(0, 1)),
]
CASE_IDS = [f"case{i}" for i in range(len(CASES))]


@functools.lru_cache(maxsize=None)
def case_data(i):
    """(x, w, b, expected) for CASES[i], float64; the oracle runs once per case."""
    c = CASES[i]
    rng = np.random.default_rng(1000 + i)
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
    kh, kw = naive.pair(c["k"])
    w = rng.standard_normal((c["F"], c["C"] // c["groups"], kh, kw))
    b = rng.standard_normal(c["F"]) if c["bias"] else None
    want = naive.conv2d(x, w, b, stride=c["stride"], padding=c["padding"].lower()
                        if isinstance(c["padding"], str) else c["padding"],
                        dilation=c["dilation"], groups=c["groups"])
    for a in (x, w, b, want):
        if a is not None:
            a.flags.writeable = False
    return x, w, b, want


def geometry(i):
    c = CASES[i]
    return dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
@pytest.mark.parametrize("i", range(len(CASES)), ids=CASE_IDS)
def test_conv_matches_naive(backend, name, layout, i):
    x, w, b, want = case_data(i)
    got = run_conv(CONV_FUNCS[name], x, w, b, layout, **geometry(i))
    assert got.dtype == np.float64
    assert_close(got, want)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
@pytest.mark.parametrize("i", [0, 4, 12, 18, 20, 24], ids=[CASE_IDS[j] for j in [0, 4, 12, 18, 20, 24]])
def test_conv_float32_small(backend, name, layout, i):
    """float32 in, float32 out, computed in float32 (to float32 accuracy)."""
    x, w, b, want = case_data(i)
    got = run_conv(CONV_FUNCS[name], x.astype(np.float32), w.astype(np.float32),
                   None if b is None else b.astype(np.float32), layout, **geometry(i))
    assert got.dtype == np.float32
    assert_close(got, want, np.float32)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_conv_nchw_and_nhwc_small(backend, name, layout):
    """Covers every kernel path with strides, padding, dilation and groups
    (also run uncompiled by test_nojit.py)."""
    for i in (2, 12, 18, 20, 24, 31):
        x, w, b, want = case_data(i)
        assert_close(run_conv(CONV_FUNCS[name], x, w, b, layout, **geometry(i)), want)


@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_unbatched_input(backend, name):
    x, w, b, want = case_data(6)
    got = CONV_FUNCS[name](x[1], w, b, padding=1)
    assert got.shape == want.shape[1:]
    assert_close(got, want[1])
    got = CONV_FUNCS[name](to_nhwc(x[1]), w, b, padding=1, layout="NHWC")
    assert got.shape == (want.shape[2], want.shape[3], want.shape[1])
    assert_close(np.moveaxis(got, -1, 0), want[1])


@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_two_dimensional_image_and_kernel(backend, name, rng):
    img = rng.standard_normal((6, 9))
    ker = rng.standard_normal((2, 4))
    want = naive.conv2d(img[None, None], ker[None, None], stride=(2, 1), padding=1, dilation=(1, 2))[0, 0]
    for layout in ("NCHW", "NHWC"):
        got = CONV_FUNCS[name](img, ker, stride=(2, 1), padding=1, dilation=(1, 2), layout=layout)
        assert got.shape == want.shape
        assert_close(got, want)
    # a bias of one filter is allowed
    got = CONV_FUNCS[name](img, ker, [0.5])
    want = naive.conv2d(img[None, None], ker[None, None], np.array([0.5]))[0, 0]
    assert_close(got, want)


@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_lists_are_accepted(backend, name):
    out = CONV_FUNCS[name](EXAMPLE_I.tolist(), EXAMPLE_K.tolist(), None)
    np.testing.assert_array_equal(out, EXAMPLE_RESULT)
    x, w, b, want = case_data(0)
    assert_close(CONV_FUNCS[name](x.tolist(), w.tolist(), b.tolist()), want)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_empty_batch(backend, name, layout):
    w = np.ones((4, 3, 3, 3))
    x = np.zeros((0, 3, 7, 6)) if layout == "NCHW" else np.zeros((0, 7, 6, 3))
    out = CONV_FUNCS[name](x, w, np.ones(4), padding=(1, 0), stride=(1, 2), layout=layout)
    assert out.shape == ((0, 4, 7, 2) if layout == "NCHW" else (0, 7, 2, 4))
    assert out.dtype == np.float64
    out = CONV_FUNCS[name](x.astype(np.float32), w.astype(np.float32), layout=layout)
    assert out.dtype == np.float32 and out.size == 0


@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_zero_filters_and_zero_channels(backend, name):
    x = np.ones((2, 3, 5, 5))
    out = CONV_FUNCS[name](x, np.ones((0, 3, 3, 3)))
    assert out.shape == (2, 0, 3, 3)
    # no input channels: the sum is empty, only the bias remains
    out = CONV_FUNCS[name](np.ones((2, 0, 5, 5)), np.ones((2, 0, 3, 3)), np.array([1.0, -2.0]))
    assert out.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(out[:, 0], 1.0)
    np.testing.assert_array_equal(out[:, 1], -2.0)


# ---------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------

DTYPE_CASES = [
    # (input dtype, weight dtype, bias dtype, result dtype)
    ("float64", "float64", "float64", "float64"),
    ("float32", "float32", "float32", "float32"),
    ("float32", "float32", None, "float32"),
    ("float16", "float16", "float16", "float32"),
    ("float16", "float32", None, "float32"),
    ("float32", "float64", None, "float64"),        # mixed -> float64
    ("float64", "float32", "float32", "float64"),
    ("float32", "float32", "float64", "float64"),
    ("int64", "int64", "int64", "float64"),
    ("int8", "uint8", None, "float64"),
    ("int32", "float32", None, "float64"),          # integers count as float64
    ("bool", "bool", "bool", "float64"),
    ("bool", "float32", None, "float64"),
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
@pytest.mark.parametrize("dx,dw,db,dres", DTYPE_CASES)
def test_dtype_promotion(backend, name, layout, dx, dw, db, dres, rng):
    x = rng.integers(0, 2 if dx == "bool" else 4, size=(2, 3, 6, 5)).astype(dx)
    w = rng.integers(0, 2 if dw == "bool" else 3, size=(4, 3, 3, 2)).astype(dw)
    b = None if db is None else rng.integers(0, 2 if db == "bool" else 5, size=4).astype(db)
    got = run_conv(CONV_FUNCS[name], x, w, b, layout, padding=1)
    assert got.dtype == np.dtype(dres)
    want = naive.conv2d(x.astype(np.float64), w.astype(np.float64),
                        None if b is None else b.astype(np.float64), padding=1)
    # small integers: exact in every dtype used here
    np.testing.assert_array_equal(got, want)


def test_float32_is_computed_in_float32(backend, rng):
    """Not computed in float64 and rounded: the error is float32-sized."""
    x = rng.standard_normal((1, 16, 12, 12)).astype(np.float32)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    want = naive.conv2d(x, w)  # float64 from the same float32 values
    for func in CONV_FUNCS.values():
        for layout in ("NCHW", "NHWC"):
            got = run_conv(func, x, w, None, layout)
            assert got.dtype == np.float32
            assert np.max(np.abs(got - want)) < 1e-3
            # computing in float64 and rounding would give exactly this:
            assert not np.array_equal(got, want.astype(np.float32))


# ---------------------------------------------------------------------------
# workspace chunking and the pointwise path
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("budget", [1, 200, 3000, 10**9])
@pytest.mark.parametrize("i", [0, 9, 18, 20, 34], ids=[CASE_IDS[j] for j in [0, 9, 18, 20, 34]])
def test_workspace_chunking_small(backend, layout, budget, i):
    """A tiny budget forces one output row per chunk, a middle one several
    rows or several images with a ragged last chunk: same results."""
    x, w, b, want = case_data(i)
    got = run_conv(conv2d, x, w, b, layout, max_workspace_bytes=budget, **geometry(i))
    assert_close(got, want)


def test_global_workspace_budget(backend):
    x, w, b, want = case_data(34)
    old = im2col_nb.get_max_workspace_bytes()
    try:
        im2col_nb.set_max_workspace_bytes(64)
        assert im2col_nb.get_max_workspace_bytes() == 64
        assert_close(conv2d(x, w, b, **geometry(34)), want)
        assert_close(run_conv(conv2d, x, w, b, "NHWC", **geometry(34)), want)
    finally:
        im2col_nb.set_max_workspace_bytes(old)
    assert im2col_nb.get_max_workspace_bytes() == old


def test_scratch_reuse_across_dtypes_and_sizes(backend):
    """The per-thread scratch buffer is reused: alternate dtypes and sizes."""
    for i in (34, 0, 18, 0):
        x, w, b, want = case_data(i)
        assert_close(conv2d(x.astype(np.float32), w.astype(np.float32), b, **geometry(i)), want,
                     np.float32)
        assert_close(conv2d(x, w, b, max_workspace_bytes=100, **geometry(i)), want)


class _NoIm2col:
    """Backend proxy whose patch-matrix builders fail the test."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if name in ("im2col", "im2row_nhwc", "im2col_tile", "im2row_tile"):
            raise AssertionError(f"pointwise conv2d called backend.{name}")
        if name in ("conv_tiles_nchw", "conv_tiles_nhwc"):
            # the Numba tile kernels run im2col unless told pointwise
            kernel = getattr(self._module, name)
            pointwise_arg = 9 if name == "conv_tiles_nchw" else 8

            def checked(*args):
                if not args[pointwise_arg]:
                    raise AssertionError(f"pointwise conv2d called backend.{name} "
                                         "with im2col")
                return kernel(*args)
            return checked
        return getattr(self._module, name)


def _patch_backend(monkeypatch):
    """Route conv2d's kernels (its methods and their GEMM driver) through _NoIm2col."""
    module = backend_module()
    for owner in (_direct_method, _drivers):
        monkeypatch.setattr(owner, "backend_module", lambda: _NoIm2col(module))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("i", [23, 24, 27], ids=[CASE_IDS[j] for j in [23, 24, 27]])
def test_pointwise_needs_no_im2col(backend, monkeypatch, layout, i):
    _patch_backend(monkeypatch)
    x, w, b, want = case_data(i)
    assert_close(run_conv(conv2d, x, w, b, layout, **geometry(i)), want)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_non_pointwise_1x1_uses_im2col(backend, monkeypatch, layout):
    """The proxy above does catch im2col (the previous test can fail)."""
    _patch_backend(monkeypatch)
    x, w, b, _ = case_data(25)  # 1x1 with stride 2
    with pytest.raises(AssertionError, match="pointwise conv2d called"):
        run_conv(conv2d, x, w, b, layout, **geometry(25))


# ---------------------------------------------------------------------------
# odd memory layouts: right answer, inputs untouched
# ---------------------------------------------------------------------------

def _odd(a, kind):
    """An array equal to `a` with an unusual memory layout."""
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "negative":
        rev = a[(slice(None, None, -1),) * a.ndim].copy()
        return rev[(slice(None, None, -1),) * a.ndim]
    if kind == "sliced":
        big = np.zeros(tuple(2 * s + 1 for s in a.shape))
        view = big[(slice(1, None, 2),) * a.ndim]
        view[...] = a
        return view
    if kind == "readonly":
        r = a.copy()
        r.flags.writeable = False
        return r
    if kind == "bigendian":
        return a.astype(">f8")
    raise ValueError(kind)


ODD_KINDS = ["fortran", "negative", "sliced", "readonly", "bigendian"]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
@pytest.mark.parametrize("kind", ODD_KINDS)
def test_odd_memory_layouts(backend, name, layout, kind):
    i = 20  # groups, padding and stride
    x, w, b, want = case_data(i)
    xin = to_nhwc(x) if layout == "NHWC" else x
    for which in ("input", "weight", "bias", "all"):
        args = {"input": xin, "weight": w, "bias": b}
        if which == "all":
            args = {k: _odd(v, kind) for k, v in args.items()}
        else:
            args[which] = _odd(args[which], kind)
        before = {k: (v.copy(), v.strides, v.flags.writeable, v.dtype) for k, v in args.items()}
        got = CONV_FUNCS[name](args["input"], args["weight"], args["bias"], layout=layout, **geometry(i))
        if layout == "NHWC":
            got = np.moveaxis(got, -1, 1)
        assert got.dtype == np.float64 and got.dtype.isnative
        assert_close(got, want)
        for k, v in args.items():
            copy, strides, writeable, dtype = before[k]
            np.testing.assert_array_equal(v, copy)
            assert (v.strides, v.flags.writeable, v.dtype) == (strides, writeable, dtype)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_output_does_not_alias_input(backend, layout):
    """A 1x1 convolution with an identity weight: the result must be a new
    array, not a view of the input."""
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    xin = to_nhwc(x) if layout == "NHWC" else x
    saved = xin.copy()
    for func in CONV_FUNCS.values():
        out = func(xin, np.eye(3).reshape(3, 3, 1, 1), layout=layout)
        np.testing.assert_array_equal(out, xin)
        assert not np.shares_memory(out, xin)
        out += 1
        np.testing.assert_array_equal(xin, saved)


@pytest.mark.jit_only
@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_nhwc_makes_no_copy_of_the_whole_input(backend, name):
    """Channels-last input is read in place: a whole transposed (or padded)
    copy would show as a peak allocation of the input's size."""
    if name == "conv2d_direct" and backend == "numpy":
        pytest.skip("the NumPy fallback of the direct baseline pads a copy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 64, 64, 16))   # 1 MiB
    w = rng.standard_normal((4, 16, 3, 3))
    kwargs = {"max_workspace_bytes": 64 * 1024} if name == "conv2d" else {}
    CONV_FUNCS[name](x, w, padding=1, layout="NHWC", **kwargs)   # warm up (JIT, scratch)
    tracemalloc.start()
    try:
        out = CONV_FUNCS[name](x, w, padding=1, layout="NHWC", **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 2 + out.nbytes, (peak, x.nbytes)
    want = np.moveaxis(conv2d(np.ascontiguousarray(np.moveaxis(x, -1, 1)), w, padding=1), 1, -1)
    assert_close(out, want)


# ---------------------------------------------------------------------------
# both backends agree; random configurations (hypothesis)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backends_agree_to_rounding(dtype):
    previous = im2col_nb.get_backend()
    try:
        for i in (0, 13, 18, 20, 24, 34):
            x, w, b, _ = case_data(i)
            x, w, b = (None if a is None else a.astype(dtype) for a in (x, w, b))
            results = {}
            for name in ("numba", "numpy"):
                im2col_nb.set_backend(name)
                results[name] = [run_conv(f, x, w, b, lay, **geometry(i))
                                 for f in CONV_FUNCS.values() for lay in ("NCHW", "NHWC")]
            for a, c in zip(results["numba"], results["numpy"]):
                assert a.dtype == c.dtype == dtype
                scale = np.max(np.abs(c)) + 1
                eps = np.finfo(dtype).eps
                assert np.max(np.abs(a - c)) <= 64 * eps * scale
    finally:
        im2col_nb.set_backend(previous)


@st.composite
def conv_configs(draw):
    return dict(draw(conv_problems()), bias=draw(st.booleans()))


@pytest.mark.jit_only
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=conv_configs())
def test_hypothesis_conv_matches_naive(backend, layout, cfg):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"])
    w = rng.standard_normal(cfg["wshape"])
    b = rng.standard_normal(w.shape[0]) if cfg["bias"] else None
    geo = cfg["geo"]
    want = naive.conv2d(x, w, b, **geo)
    assert_close(run_conv(conv2d, x, w, b, layout, max_workspace_bytes=cfg["budget"], **geo), want)
    assert_close(run_conv(conv2d_direct, x, w, b, layout, **geo), want)


@pytest.mark.jit_only
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_against_torch(backend, layout):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for i in (0, 13, 15, 18, 22, 28, 34):
        x, w, b, _ = case_data(i)
        geo = geometry(i)
        want = F.conv2d(torch.from_numpy(x.copy()), torch.from_numpy(w.copy()),
                        None if b is None else torch.from_numpy(b.copy()),
                        stride=geo["stride"], padding=geo["padding"].lower()
                        if isinstance(geo["padding"], str) else geo["padding"],
                        dilation=geo["dilation"], groups=geo["groups"]).numpy()
        for func in CONV_FUNCS.values():
            assert_close(run_conv(func, x, w, b, layout, **geo), want)


# ---------------------------------------------------------------------------
# non-finite values, threads
# ---------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("name", sorted(CONV_FUNCS))
def test_nan_and_inf_propagate_like_the_reference(backend, name, layout):
    """NaN and inf reach exactly the outputs whose windows contain them
    (fastmath keeps NaN/inf semantics); padding never reads them."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 8, 8))
    x[0, 1, 2, 3] = np.nan
    x[1, 0, 5, 5] = np.inf
    x[1, 2, 0, 0] = -np.inf
    x[0, 0, 7, 7] = np.inf
    w = rng.standard_normal((4, 3, 3, 3))
    w[2, 1, 1, 1] = 0.0                       # 0 * nan is nan, as in the reference
    want = naive.conv2d(x, w, padding=1, stride=(1, 2))
    got = run_conv(CONV_FUNCS[name], x, w, None, layout, padding=1, stride=(1, 2))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(want).any() and np.isinf(want).any()
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite])
    cols = im2col(x, 3, padding=1)
    np.testing.assert_array_equal(cols, naive.im2col(x, 3, padding=1))   # NaN == NaN here


def test_concurrent_calls_from_threads(backend):
    """Each thread has its own scratch buffer: concurrent calls (kernels run
    without the GIL) give the serial results."""
    import threading

    x, w, b, want = case_data(34)
    x6, w6, b6, want6 = case_data(20)
    failures = []

    def work(k):
        for _ in range(5):
            for func in CONV_FUNCS.values():
                for (xx, ww, bb, ref, i) in ((x, w, b, want, 34), (x6, w6, b6, want6, 20)):
                    budget = {"max_workspace_bytes": 64 + 32 * k} if func is conv2d else {}
                    got = run_conv(func, xx, ww, bb, "NHWC" if k % 2 else "NCHW", **budget, **geometry(i))
                    if not np.allclose(got, ref, rtol=1e-10, atol=1e-10):
                        failures.append((k, func.__name__, i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
