"""The tiled im2col + GEMM driver (_conv_gemm): tiles, worker threads, bias,
budget, BLAS thread restoration; the tile and direct kernels it relies on.

Small inputs normally run on the calling thread only, so most tests here force
the multi-worker path (two workers, no minimum size) with the `parallel`
fixture; the results are compared with the explicit-loop oracle.
"""

import ast
import itertools
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


import naive
from _strategies import conv_problems
from conftest import tolerance

import im2col_nb
from im2col_nb import conv2d, conv2d_direct
from im2col_nb._engine import conv_gemm as _drivers, plan as _plan, workers as _workers
from im2col_nb._core import blas as _blas
from im2col_nb._core.backend import backend_named
from im2col_nb._core.geometry import conv_geometry


@pytest.fixture(params=[pytest.param("numba-native", marks=pytest.mark.nojit),
                        pytest.param("numba-python", marks=pytest.mark.nojit), "numpy"])
def engine(request, monkeypatch):
    """The three ways conv2d runs its tiles: the Numba tile kernel calling
    NumPy's GEMM (the default), the Python tile driver with Numba kernels
    (used when NumPy's GEMM symbol is not found), and the NumPy backend."""
    previous = im2col_nb.get_backend()
    im2col_nb.set_backend(request.param.split("-")[0])
    if request.param == "numba-python":
        monkeypatch.setattr(_plan, "native_gemm", lambda *args, **kwargs: None)
    elif request.param == "numba-native" and _blas.gemm_function(np.float64) is None:
        pytest.skip("NumPy's BLAS GEMM symbol not found: the Python tile driver runs")
    try:
        yield request.param
    finally:
        im2col_nb.set_backend(previous)


@pytest.fixture
def parallel(monkeypatch, no_direct):
    """Two workers for every call, however small (by a GEMM method: `auto`
    would run these small shapes by the direct loops)."""
    monkeypatch.setattr(_plan, "PARALLEL_MIN_FLOPS", 0)
    monkeypatch.setattr(_workers, "blas_threads", lambda: 2)


def data(rng, n, c, h, w, f, k, groups=1, dtype=np.float64):
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c // groups) + k).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, wt, b


def check(x, w, b, layout="NCHW", budget=None, **geom):
    want = naive.conv2d(x, w, b, **geom)
    xin = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = conv2d(xin, w, b, layout=layout, max_workspace_bytes=budget, **geom)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    rtol, atol = tolerance(x.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    assert got.dtype == x.dtype


# (N, C, H, W, F, (kh, kw), geometry, groups)
CASES = [
    (3, 4, 9, 11, 5, (3, 3), dict(padding=1), 1),                  # whole-image tiles, fused bias
    (5, 3, 4, 5, 6, (3, 2), dict(padding=(1, 0), stride=(1, 2)), 1),  # few positions: folded
    (2, 4, 12, 7, 6, (3, 3), dict(padding=2, dilation=2), 2),      # groups
    (4, 6, 5, 5, 4, (1, 1), {}, 1),                                # pointwise, small maps
    (2, 6, 24, 24, 6, (1, 1), {}, 3),                              # pointwise, large maps, groups
    (5, 3, 4, 6, 7, (1, 1), {}, 1),                                # pointwise, C < F: bias in the GEMM
    (2, 4, 24, 24, 9, (1, 1), {}, 1),                              # same, large maps
    (2, 3, 10, 10, 4, (1, 1), dict(stride=2), 1),                  # 1x1 strided: im2col
    (1, 2, 17, 13, 3, (4, 5), dict(padding=(2, 3), stride=(2, 3)), 1),
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_parallel_tiles_match_oracle(engine, parallel, rng, case, layout):
    n, c, h, w, f, k, geom, groups = case
    x, wt, b = data(rng, n, c, h, w, f, k, groups)
    check(x, wt, b, layout, groups=groups, **geom)
    check(x, wt, None, layout, groups=groups, **geom)


# Tile kinds: (FOLD_POSITIONS, TILE_MIN_FLOPS) forcing each way of grouping images.
TILE_MODES = {"one-image": (1, 0), "stacked": (1, 10**12), "folded": (10**6, 0)}


@pytest.mark.parametrize("mode", list(TILE_MODES))
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_every_tile_kind(engine, parallel, rng, monkeypatch, case, mode):
    fold, min_flops = TILE_MODES[mode]
    monkeypatch.setattr(_plan, "FOLD_POSITIONS", fold)
    monkeypatch.setattr(_plan, "TILE_MIN_FLOPS", min_flops)
    n, c, h, w, f, k, geom, groups = case
    x, wt, b = data(rng, n, c, h, w, f, k, groups)
    check(x, wt, b, groups=groups, **geom)
    check(x, wt, None, groups=groups, **geom)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("budget", [1, 50, 200, 1000, 10**9])
def test_tiny_budgets_split_rows(engine, parallel, rng, layout, budget):
    """Budgets below one output row's patches: tiles of part of a row."""
    x, wt, b = data(rng, 2, 3, 9, 10, 4, (3, 3))
    check(x, wt, b, layout, budget=budget, padding=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_serial_and_parallel(engine, rng, monkeypatch, dtype):
    x, wt, b = data(rng, 3, 5, 8, 8, 7, (3, 3), dtype=dtype)
    check(x, wt, b, padding=1)
    monkeypatch.setattr(_plan, "PARALLEL_MIN_FLOPS", 0)
    monkeypatch.setattr(_workers, "blas_threads", lambda: 3)
    check(x, wt, b, padding=1)


def test_plan_tiles_cover_everything_once():
    for n_img, area, out_w, col, fold, cap, workers in [
        (32, 1024, 32, 1152, 256, 4 << 20, 2), (8, 49, 7, 18436, 2048, 4 << 20, 2),
        (2, 12544, 112, 2304, 0, 4 << 20, 2), (1, 10, 5, 100, 0, 1, 4), (3, 7, 7, 10, 4, 10**9, 1),
    ]:
        seen = np.zeros((n_img, area), int)
        for n0, nb, p0, p1 in _plan.plan_tiles(n_img, area, out_w, col, fold, cap, workers):
            assert nb == 1 or (p0, p1) == (0, area)
            seen[n0:n0 + nb, p0:p1] += 1
            assert nb * (p1 - p0) * (col + (fold if nb > 1 else 0)) <= max(cap, col)
        assert (seen == 1).all()


@pytest.mark.parametrize("itemsize", [4, 8])
def test_patch_ld_is_the_next_odd_multiple_of_64_bytes(itemsize):
    unit = 64 // itemsize
    for span in range(1, 4 * unit + 3):
        ld = _plan.patch_ld(span, itemsize)
        assert span <= ld < span + 2 * unit
        assert ld * itemsize % 128 == 64
        # the first such length: one less is below span or not of that form
        assert ld == span or (ld - 1) * itemsize % 128 != 64
    assert _plan.patch_ld(1024, 4) == 1040 and _plan.patch_ld(784, 4) == 784

def test_blas_threads_restored(parallel, rng):
    controllers = _workers._blas_controllers()
    if not controllers:
        pytest.skip("no controllable BLAS")
    before = [c.num_threads for c in controllers]
    x, wt, b = data(rng, 4, 3, 8, 8, 4, (3, 3))
    conv2d(x, wt, b, padding=1)
    assert [c.num_threads for c in controllers] == before
    inside = []
    with _workers.single_threaded_blas():
        with _workers.single_threaded_blas():   # re-entrant
            inside.append([c.num_threads for c in controllers])
        inside.append([c.num_threads for c in controllers])
    assert inside == [[1] * len(controllers)] * 2
    assert [c.num_threads for c in controllers] == before


def test_worker_error_propagates_and_restores(parallel, rng, monkeypatch):
    controllers = _workers._blas_controllers()
    before = [c.num_threads for c in controllers]
    calls = []

    def work(t):
        calls.append(t)
        if t == 3:
            raise RuntimeError("tile 3 failed")

    with pytest.raises(RuntimeError, match="tile 3 failed"):
        _workers.run_tiles(50, work, 2)
    assert 3 in calls and len(calls) < 50
    assert [c.num_threads for c in controllers] == before


@pytest.mark.nojit
@pytest.mark.parametrize("kernel", ["tiles", "shifted", "shifted-nhwc"])
def test_concurrent_calls_from_threads(parallel, rng, monkeypatch, kernel):
    if kernel != "tiles":  # every stride-1 call takes the shifted GEMMs
        monkeypatch.setattr(_plan, "SHIFT_MIN_CHANNELS", 1)
        monkeypatch.setattr(_plan, "SHIFT_MAX_WASTE", 1.0)
        monkeypatch.setattr(_plan, "SHIFT_MAX_FILTERS_PER_CHANNEL", 10**9)
    layout = "NHWC" if kernel == "shifted-nhwc" else "NCHW"
    x, wt, b = data(rng, 4, 3, 10, 10, 5, (3, 3), dtype=np.float32)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    want = conv2d(x, wt, b, padding=1, layout=layout)
    results, errors = [], []

    def run():
        try:
            for _ in range(5):
                results.append(conv2d(x, wt, b, padding=1, layout=layout))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 20 and all(np.array_equal(r, want) for r in results)


def test_single_threaded_blas_covers_a_blas_loaded_later():
    """A BLAS library loaded after conv2d first ran (SciPy's own OpenBLAS,
    with `import scipy.linalg`) is limited too while the workers run: the
    driver uses _threads' BLAS scan, which is redone after new imports."""
    pytest.importorskip("scipy")
    code = """
import numpy as np, im2col_nb
from threadpoolctl import threadpool_info
from im2col_nb._engine import conv_gemm as _drivers, plan as _plan, workers as _workers
x = np.ones((8, 16, 24, 24)); w = np.ones((16, 16, 3, 3))
im2col_nb.conv2d(x, w, padding=1)            # the first scan: NumPy's BLAS only
import scipy.linalg                          # loads SciPy's own OpenBLAS
with _workers.single_threaded_blas():
    print([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    inside = ast.literal_eval(proc.stdout.strip())
    if len(inside) < 2:
        pytest.skip("SciPy shares NumPy's BLAS here")
    assert inside == [1] * len(inside)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_parallel_conv():
    """The worker pool of the parent does not exist in a forked child."""
    code = """
import multiprocessing as mp, numpy as np, im2col_nb
from im2col_nb._engine import conv_gemm as _drivers, plan as _plan, workers as _workers
_plan.PARALLEL_MIN_FLOPS = 0
_workers.blas_threads = lambda: 2
x = np.ones((4, 2, 8, 8)); w = np.ones((3, 2, 3, 3))
want = im2col_nb.conv2d(x, w, padding=1)   # starts the pool in the parent
def child(q):
    q.put(bool(np.array_equal(im2col_nb.conv2d(x, w, padding=1), want)))
ctx = mp.get_context("fork"); q = ctx.Queue(); p = ctx.Process(target=child, args=(q,))
p.start(); print(q.get(timeout=120)); p.join(60)
"""
    env = {k: v for k, v in os.environ.items() if k != "IM2COL_NB_BACKEND"}
    env["IM2COL_NB_BACKEND"] = "numpy"   # fork safety of the driver, not of Numba's pools
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr[-2000:]


# ---------------------------------------------------------------------------
# tile kernels: both backends against the whole-batch im2col
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [pytest.param("numba", marks=pytest.mark.nojit), "numpy"])
@pytest.mark.parametrize("geom", [(7, 9, (3, 3), 1, 1, 1), (8, 8, (2, 2), 2, 0, 1),
                                  (9, 9, (5, 3), (3, 1), (4, 1), (2, 1)), (6, 6, (1, 1), 2, 0, 1)])
def test_im2col_tile_kernels(rng, name, geom):
    be = backend_named(name)
    h, w, k, s, p, d = geom
    x = rng.standard_normal((3, 2, h, w))
    g = conv_geometry((h, w), k, s, p, d)
    kk, area = 2 * g.kernel_area, g.out_area
    full = im2col_nb.im2col(x, k, dilation=d, padding=p, stride=s)
    for n0, nb, p0, p1 in [(0, 3, 0, area), (1, 2, 0, area), (2, 1, 1, area - 1), (0, 1, area // 2, area // 2 + 1)]:
        cols = np.full((kk, nb * (p1 - p0)), np.nan)
        be.im2col_tile(x, cols, g, n0, nb, p0, p1)
        np.testing.assert_array_equal(cols, full[n0:n0 + nb, :, p0:p1].transpose(1, 0, 2).reshape(kk, -1))
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    ref = np.empty((3, area, kk))
    backend_named("numpy").im2row_nhwc(xh, ref, g, 1, 0, g.out_h)
    ref = ref.reshape(3 * area, kk)
    for q0, q1 in [(0, 3 * area), (1, 3 * area - 1), (area - 1, area + 1), (5, 6)]:
        rows = np.full((q1 - q0, kk), np.nan)
        be.im2row_tile(xh, rows, g, 1, q0, q1)
        np.testing.assert_array_equal(rows, ref[q0:q1])


def test_direct_kernel_blocks(rng):
    """Filter blocks that do not divide the filters, row chunks, groups."""
    for n, c, hw, f, k, groups, geom in [(1, 4, (9, 23), 70, (3, 3), 1, dict(padding=1)),
                                         (2, 6, (11, 5), 9, (2, 4), 3, dict(stride=(2, 1), padding=(1, 2))),
                                         (1, 2, (40, 3), 130, (1, 1), 1, {}),
                                         (3, 2, (8, 8), 4, (5, 5), 2, dict(dilation=2, padding=4))]:
        x, wt, b = data(rng, n, c, *hw, f, k, groups)
        for dtype in (np.float64, np.float32):
            got = conv2d_direct(x.astype(dtype), wt.astype(dtype), b.astype(dtype), groups=groups, **geom)
            rtol, atol = tolerance(dtype)
            np.testing.assert_allclose(got, naive.conv2d(x, wt, b, groups=groups, **geom), rtol=rtol,
                                       atol=atol)


@pytest.mark.parametrize("name", [pytest.param("numba", marks=pytest.mark.nojit), "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_folded(rng, name, dtype):
    """The folded GEMM result (F, nb*L) regrouped into (nb, F, L), + bias."""
    be = backend_named(name)
    for filters, n_img, area in [(5, 3, 7), (1, 1, 1), (4, 2, 49)]:
        result = rng.standard_normal((filters, n_img * area)).astype(dtype)
        bias = rng.standard_normal(filters).astype(dtype)
        want = result.reshape(filters, n_img, area).transpose(1, 0, 2)
        out = np.full((n_img, filters, area), np.nan, dtype)
        be.scatter_folded(result, None, out)
        np.testing.assert_array_equal(out, want)
        be.scatter_folded(result, bias, out)
        np.testing.assert_array_equal(out, want + bias[:, None])


def _numpy_wheel_openblas() -> bool:
    """NumPy's BLAS is the OpenBLAS its wheels bundle (in numpy.libs / .dylibs)."""
    from threadpoolctl import threadpool_info

    return any(info["internal_api"] == "openblas" and "numpy" in info["filepath"]
               for info in threadpool_info() if info["user_api"] == "blas")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_gemm_found_and_correct(rng, dtype):
    """The GEMM the Numba tile kernel calls is NumPy's, and computes
    C = A @ B (+ C) with row strides (leading dimensions) as given."""
    gemm = _blas.gemm_function(dtype)
    if gemm is None:
        assert not _numpy_wheel_openblas(), "NumPy's wheel OpenBLAS is loaded but not found"
        pytest.skip("no cblas GEMM symbol in NumPy's BLAS: the Python driver runs")
    a = rng.standard_normal((5, 9)).astype(dtype)       # A = a[:, 2:9]: lda 9
    b = rng.standard_normal((7, 11)).astype(dtype)      # B = b[:, 1:5]: ldb 11
    c = rng.standard_normal((5, 6)).astype(dtype)       # C = c[:, 1:5]: ldc 6
    want = a[:, 2:9] @ b[:, 1:5]
    c0 = c.copy()
    gemm(_blas.ROW_MAJOR, _blas.NO_TRANS, _blas.NO_TRANS, 5, 4, 7, 1.0, a[:, 2:].ctypes, 9,
         b[:, 1:].ctypes, 11, 0.0, c[:, 1:].ctypes, 6)
    rtol, atol = tolerance(dtype)
    np.testing.assert_allclose(c[:, 1:5], want, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(c[:, [0, 5]], c0[:, [0, 5]])  # nothing outside C written
    gemm(_blas.ROW_MAJOR, _blas.NO_TRANS, _blas.NO_TRANS, 5, 4, 7, 1.0, a[:, 2:].ctypes, 9,
         b[:, 1:].ctypes, 11, 1.0, c[:, 1:].ctypes, 6)  # beta = 1 accumulates
    np.testing.assert_allclose(c[:, 1:5], 2 * want, rtol=rtol, atol=atol)


def test_native_gemm_can_be_switched_off(monkeypatch):
    """IM2COL_NB_NATIVE_GEMM=0 selects the Python tile driver."""
    monkeypatch.setenv("IM2COL_NB_NATIVE_GEMM", "0")
    _blas.reset()
    try:
        assert _blas.gemm_function(np.float32) is None
    finally:
        monkeypatch.delenv("IM2COL_NB_NATIVE_GEMM")
        _blas.reset()


class _KernelSpy:
    """Backend proxy recording, for each call of a Numba tile kernel, the
    BLAS thread count at that moment."""

    def __init__(self, module, seen):
        self._module, self._seen = module, seen

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if name not in ("conv_tiles_nchw", "conv_tiles_nhwc", "conv_shift_nchw",
                        "conv_shift_nhwc"):
            return value

        def spied(*args):
            self._seen.append((name, _blas_threads_now()))
            return value(*args)
        return spied


def _blas_threads_now():  # not _workers.blas_threads: the `parallel` fixture replaces it
    return max(int(c.num_threads) for c in _workers._blas_controllers())


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_native_kernel_is_the_default_and_runs_with_single_threaded_blas(parallel, rng,
                                                                        monkeypatch, layout):
    """With NumPy's wheel OpenBLAS, conv2d runs the Numba tile kernel (else
    these tests would only exercise the Python driver), and while its workers
    run (each calling BLAS), BLAS is limited to one thread; afterwards the
    limit is restored. (A call with a single tile runs one worker, whose GEMM
    may use BLAS's threads.)"""
    if not _numpy_wheel_openblas():
        pytest.skip("NumPy does not use its wheel's OpenBLAS here")
    real = _drivers.backend_module
    seen = []
    monkeypatch.setattr(_drivers, "backend_module", lambda: _KernelSpy(real(), seen))
    previous = im2col_nb.get_backend()
    im2col_nb.set_backend("numba")
    try:
        with im2col_nb.threads(2):
            x, wt, b = data(rng, 8, 3, 16, 16, 5, (3, 3))  # several tiles in both layouts
            check(x, wt, b, layout, padding=1)
            after = _blas_threads_now()
    finally:
        im2col_nb.set_backend(previous)
    assert seen == [(f"conv_tiles_{layout.lower()}", 1)]
    assert after == 2


# ---------------------------------------------------------------------------
# Shifted GEMMs (stride 1, no patch matrix)
# ---------------------------------------------------------------------------


@pytest.fixture
def shifted(monkeypatch, no_direct):
    """Every convolution that can (stride 1, ungrouped, not 1x1) runs as
    shifted GEMMs, whatever its channels, filters and garbage columns."""
    monkeypatch.setattr(_plan, "SHIFT_MIN_CHANNELS", 1)
    monkeypatch.setattr(_plan, "SHIFT_MAX_WASTE", 1.0)
    monkeypatch.setattr(_plan, "SHIFT_MAX_FILTERS_PER_CHANNEL", 10**9)


# (N, C, H, W, F, (kh, kw), geometry)
SHIFT_CASES = [
    (3, 4, 9, 11, 5, (3, 3), dict(padding=1)),
    (2, 3, 8, 8, 4, (3, 3), {}),                                   # no padding
    (1, 2, 7, 12, 4, (2, 4), dict(padding="same")),                # even kernel: pad 0/1, 1/2
    (3, 4, 10, 9, 3, (3, 3), dict(padding=2, dilation=2)),
    (2, 2, 6, 13, 3, (1, 3), dict(padding=(0, 3), dilation=(1, 3))),
    (1, 3, 12, 5, 2, (5, 1), dict(padding=(2, 0))),                # no garbage columns
    (2, 5, 4, 4, 6, (4, 4), dict(padding=(3, 0))),                 # rows of zeros only
]


def _spy_kernels(monkeypatch):
    real = _drivers.backend_module
    seen = []
    monkeypatch.setattr(_drivers, "backend_module", lambda: _KernelSpy(real(), seen))
    return seen


@pytest.mark.nojit
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", ["whole-images", "one-row"])
@pytest.mark.parametrize("case", SHIFT_CASES, ids=[f"case{i}" for i in range(len(SHIFT_CASES))])
def test_shifted_gemms_match_oracle(parallel, shifted, rng, monkeypatch, case, rows, dtype,
                                    layout):
    if _blas.gemm_function(dtype) is None or im2col_nb.get_backend() != "numba":
        pytest.skip("the shifted-GEMM kernels need the Numba backend and NumPy's GEMM")
    if rows == "one-row":
        monkeypatch.setattr(_plan, "TILE_POSITIONS", 1)
    seen = _spy_kernels(monkeypatch)
    n, c, h, w, f, k, geom = case
    x, wt, b = data(rng, n, c, h, w, f, k, dtype=dtype)
    check(x, wt, b, layout, **geom)
    check(x, wt, None, layout, **geom)
    assert [name for name, _ in seen] == [f"conv_shift_{layout.lower()}"] * 2


def test_shift_plan_tiles_and_scratch():
    """Tiles cover every output row once, equal but for the last; the
    scratch holds each tile's result, planes and overrun; a budget below one
    row's needs gives None (conv2d then builds patch matrices)."""
    for (n_img, c, f, h, k, d, pad, cap, workers), channels_last in itertools.product([
        (8, 64, 64, 56, 3, 1, 1, 4 << 20, 2), (1, 3, 5, 9, 3, 2, 2, 4 << 20, 2),
        (2, 64, 128, 112, 3, 1, 1, 2 << 20, 2), (3, 2, 2, 5, 2, 1, 0, 10**9, 4),
        (1, 4, 4, 7, 3, 1, 1, 900, 2),  # halved to one-row tiles
    ], [False, True]):
        geom = conv_geometry((h, h), (k, k), 1, pad, d)
        plan = _plan.shift_plan(n_img, c, f, geom, 4, cap, workers, channels_last)
        seen = np.zeros((n_img, geom.out_h), int)
        padded_w = geom.out_w + (k - 1) * d
        for n, i0, i1, ld in plan.table.tolist():
            seen[n, i0:i1] += 1
            rows_needed = i1 - i0 + (k - 1) * d
            result = f * (i1 - i0) * padded_w
            if channels_last:  # one plane of pixels, read (kw-1)*dw pixels past its end
                need = result + (rows_needed * padded_w + (k - 1) * d) * c
            else:  # a plane per channel, ld apart
                assert ld >= rows_needed * padded_w and ld * 4 % 128 == 64
                need = result + (c - 1) * ld + rows_needed * padded_w + (k - 1) * d
            assert need <= plan.work_length and plan.work_length * 4 <= max(cap, need * 4)
        assert (seen == 1).all() and plan.method == "shift"
        assert 1 <= plan.workers <= workers
    geom = conv_geometry((30, 30), (3, 3), 1, 1, 1)
    assert _plan.shift_plan(2, 64, 64, geom, 4, 1000, 2) is None
    assert _plan.shift_plan(2, 64, 64, geom, 4, 1000, 2, True) is None


@pytest.mark.nojit
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_shift_falls_back_to_patches_under_a_tiny_budget(parallel, shifted, rng, monkeypatch,
                                                         layout):
    if _blas.gemm_function(np.float64) is None or im2col_nb.get_backend() != "numba":
        pytest.skip("the shifted-GEMM kernels need the Numba backend and NumPy's GEMM")
    seen = _spy_kernels(monkeypatch)
    x, wt, b = data(rng, 2, 4, 9, 9, 5, (3, 3))
    check(x, wt, b, layout, budget=200, padding=1)
    assert [name for name, _ in seen] == [f"conv_tiles_{layout.lower()}"]


def test_shift_used_only_where_it_pays():
    geom = conv_geometry((56, 56), (3, 3), 1, 1, 1)
    assert _plan.uses_shift(64, 64, geom, 1)            # r18-l1
    assert not _plan.uses_shift(16, 64, geom, 1)        # few channels
    assert not _plan.uses_shift(64, 256, geom, 1)       # many filters
    assert not _plan.uses_shift(64, 64, geom, 2)        # groups
    assert not _plan.uses_shift(64, 64, conv_geometry((56, 56), (3, 3), 2, 1, 1), 1)
    assert not _plan.uses_shift(64, 64, conv_geometry((56, 56), (1, 1), 1, 0, 1), 1)
    assert not _plan.uses_shift(256, 256, conv_geometry((14, 14), (3, 3), 1, 1, 1), 1)


@st.composite
def stride1_problems(draw):
    """A random conv_problems() problem made stride 1 and ungrouped (what the
    shifted GEMMs take), with or without a bias, in either layout."""
    p = draw(conv_problems())
    n, c, h, w = p["shape"]
    f, _, kh, kw = p["wshape"]
    geo = dict(p["geo"], stride=1, groups=1)
    return dict(p, wshape=(f, c, kh, kw), geo=geo, bias=draw(st.booleans()),
                layout=draw(st.sampled_from(["NCHW", "NHWC"])),
                dtype=draw(st.sampled_from([np.float32, np.float64])))


# (about a quarter of the examples take the shifted GEMMs: not 1x1, budget big enough)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=stride1_problems())
def test_hypothesis_shifted_gemms_match_naive(parallel, shifted, p):
    """Random stride-1 geometries (dilation, 'same'/'valid'/pairs, tiny
    budgets that fall back to patch matrices) through the shifted GEMMs."""
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal(p["shape"]).astype(p["dtype"])
    w = rng.standard_normal(p["wshape"]).astype(p["dtype"])
    b = rng.standard_normal(w.shape[0]).astype(p["dtype"]) if p["bias"] else None
    check(x, w, b, p["layout"], budget=p["budget"], **p["geo"])
