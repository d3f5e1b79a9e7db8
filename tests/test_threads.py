"""Thread safety, the one thread knob, and fork safety.

Anything that could abort or hang the interpreter (concurrent entry into
Numba's workqueue layer, GNU OpenMP after fork) runs in a subprocess with a
timeout, so a crash fails the test instead of killing the run.
"""

import ast
import glob
import os
import re
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import im2col_nb
from im2col_nb._core import threads as _threads

SRC = os.path.dirname(im2col_nb.__file__)


def run_python(code, env=None, timeout=300):
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("IM2COL_NB_BACKEND", "NUMBA_DISABLE_JIT", "NUMBA_THREADING_LAYER")}
    child_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=child_env, timeout=timeout)


def omp_available():
    proc = run_python("from numba.np.ufunc import omppool; print(omppool.openmp_vendor)", timeout=120)
    return proc.returncode == 0


# ---------------------------------------------------------------------------
# 8 threads x 64 mixed calls against single-threaded results
# ---------------------------------------------------------------------------

STRESS = """
import random, sys, threading
import numpy as np
import im2col_nb
from im2col_nb._warmup import example_calls
from im2col_nb._core import threads as _threads

rng = np.random.default_rng(7)
cases = []
for dtype in (np.float32, np.float64):
    cases += example_calls(dtype, rng=rng, scale=3)
# The feature-learning pipeline runs on the same kernels (conv2d, im2col, pooling).
try:
    from im2col_nb import features
except ImportError:
    features = None
if features is not None:
    images = rng.standard_normal((3, 2, 14, 14))
    for name, args, kwargs in [
        ("extract_features", (images, rng.standard_normal((5, 2, 3, 3))), {}),
        ("extract_features", (images, rng.standard_normal((5, 2, 4, 4))), dict(encoder="soft_threshold", stride=2)),
        ("extract_patches", (images, (3, 3), 40), dict(random_state=3)),
        ("grid_sum_pool", (rng.standard_normal((2, 4, 10, 10)), 2), {}),
    ]:
        if hasattr(features, name):
            cases.append((f"features.{name}", "features." + name, args, kwargs))
names = sorted({c[1] for c in cases})

def function(name):
    owner = im2col_nb
    for part in name.split("."):
        owner = getattr(owner, part)
    return owner

def run(case):
    _label, name, args, kwargs = case
    result = function(name)(*args, **kwargs)
    return result if isinstance(result, tuple) else (result,)

reference = [run(c) for c in cases]          # single-threaded results
failures = []
barrier = threading.Barrier(8)

def worker(seed):
    order = random.Random(seed).choices(range(len(cases)), k=64)
    barrier.wait()                            # all 8 threads start together
    for i in order:
        got = run(cases[i])
        for g, r in zip(got, reference[i]):
            if g.dtype != r.dtype or g.shape != r.shape or not np.allclose(g, r, rtol=1e-5, atol=1e-6):
                failures.append((cases[i][0], float(np.max(np.abs(g - r)))))

threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
for t in threads: t.start()
for t in threads: t.join()
import numba
print("LAYER", numba.threading_layer(), _threads._state["chosen"])
print("NAMES", " ".join(names))
print("FAILURES", failures[:5], len(failures))
print("STRESS-OK" if not failures else "STRESS-FAILED")
"""

LAYERS = [None, "workqueue", "omp", "tbb"]


@pytest.mark.parametrize("layer", LAYERS, ids=[str(x) for x in LAYERS])
def test_eight_threads_mixed_calls_match_single_threaded(layer):
    """512 concurrent calls of every public array function (both dtypes, both
    layouts, im2col/direct paths, pooling, backward passes) give the
    single-threaded results and never abort, whichever threading layer."""
    env = {}
    if layer is not None:
        if layer == "omp" and not omp_available():
            pytest.skip("no OpenMP threading layer in this numba")
        if layer == "tbb" and _tbb_missing():
            pytest.skip("TBB cannot be loaded")
        env["NUMBA_THREADING_LAYER"] = layer
    proc = run_python(STRESS, env=env)
    assert proc.returncode == 0, f"aborted (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert "STRESS-OK" in proc.stdout, proc.stdout
    active = re.search(r"^LAYER (\w+)", proc.stdout, re.M).group(1)
    if layer is None:
        assert active in ("tbb", "workqueue")   # never GNU OpenMP by default
    else:
        assert active == layer                   # the forced layer really ran
    names = set(re.search(r"^NAMES (.*)$", proc.stdout, re.M).group(1).split())
    assert {"conv2d", "im2col", "col2im", "conv2d_direct"} <= names
    public_ops = {n for n in ("max_pool2d", "avg_pool2d", "max_pool2d_backward", "avg_pool2d_backward",
                              "conv2d_input_grad", "conv2d_weight_grad", "conv2d_backward",
                              "conv_transpose2d") if hasattr(im2col_nb, n)}
    assert public_ops <= names
    try:
        from im2col_nb import features
    except ImportError:
        features = None
    if features is not None and hasattr(features, "extract_features"):
        assert "features.extract_features" in names


def _tbb_missing():
    proc = run_python("from im2col_nb._core.threads import _tbb_loadable; print(_tbb_loadable())", timeout=120)
    return "True" not in proc.stdout


UNGUARDED = """
import threading
import numpy as np
import numba
from im2col_nb._kernels.numba import backend as raw      # the kernels, bypassing the guard
from im2col_nb._core.geometry import conv_geometry
x = np.random.default_rng(0).standard_normal((8, 16, 64, 64))
g = conv_geometry((64, 64), 3, 1, 1, 1)
cols = [np.empty((8, 16 * 9, g.out_area)) for _ in range(8)]
raw.im2col(x, cols[0], g, 0, g.out_h)
def work(i):
    for _ in range(200):
        raw.im2col(x, cols[i], g, 0, g.out_h)
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("SURVIVED", numba.threading_layer())
"""


def test_workqueue_really_aborts_without_the_guard():
    """The control for the test above: the same layer, entered concurrently
    without the lock, kills the process, so the lock is what makes it safe."""
    proc = run_python(UNGUARDED, env={"NUMBA_THREADING_LAYER": "workqueue"})
    assert proc.returncode != 0 and "SURVIVED" not in proc.stdout, proc.stdout
    assert "workqueue" in proc.stderr or "parallel" in proc.stderr.lower(), proc.stderr[-2000:]


def test_default_layer_is_not_gnu_openmp_and_user_choice_is_kept():
    code = """
    import numpy as np, numba, im2col_nb
    from im2col_nb._core import threads as _threads
    im2col_nb.im2col(np.ones((1, 1, 4, 4)), 2)
    print(numba.threading_layer(), _threads._state["chosen"][0])
    """
    default = run_python(code).stdout.split()
    assert default[0] in ("tbb", "workqueue") and default[1] == "im2col_nb"
    forced = run_python(code, env={"NUMBA_THREADING_LAYER": "workqueue"}).stdout.split()
    assert forced == ["workqueue", "user"]


# ---------------------------------------------------------------------------
# The thread knob
# ---------------------------------------------------------------------------


@pytest.fixture
def restore_threads():
    yield
    im2col_nb.set_num_threads(None)


def blas_threads():
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_set_num_threads_limits_numba_and_blas_in_every_thread(restore_threads):
    import numba

    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16))
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    im2col_nb.set_backend("numba")
    expected = im2col_nb.conv2d(x, w)
    top = _threads.max_threads()
    original_blas = blas_threads()
    seen = {}

    def in_new_thread(key):
        out = im2col_nb.conv2d(x, w)
        seen[key] = (numba.get_num_threads(), np.allclose(out, expected))

    im2col_nb.set_num_threads(1)
    assert im2col_nb.get_num_threads() == 1
    assert set(blas_threads()) == {1}
    t = threading.Thread(target=in_new_thread, args=("one",))
    t.start()
    t.join()
    assert seen["one"] == (1, True)             # Numba's count is per thread: applied on entry
    im2col_nb.set_num_threads(None)
    assert im2col_nb.get_num_threads() == top
    assert blas_threads() == original_blas      # BLAS back to its own default
    in_new_thread("default")
    assert seen["default"] == (top, True)


def test_threads_context_manager_restores(restore_threads):
    im2col_nb.set_num_threads(None)
    top = im2col_nb.get_num_threads()
    with im2col_nb.threads(1):
        assert im2col_nb.get_num_threads() == 1
        assert set(blas_threads()) == {1}
        with pytest.raises(ValueError, match="between 1 and"):
            with im2col_nb.threads(0):
                pass
        assert im2col_nb.get_num_threads() == 1
    assert im2col_nb.get_num_threads() == top
    with pytest.raises(RuntimeError, match="inside"):
        with im2col_nb.threads(1):
            raise RuntimeError("inside")
    assert im2col_nb.get_num_threads() == top


@pytest.mark.parametrize("bad, error, match", [
    (0, ValueError, r"`n` must be between 1 and \d+.*got 0"),
    (-3, ValueError, r"`n` must be between 1 and \d+.*got -3"),
    (10**6, ValueError, r"`n` must be between 1 and \d+.*got 1000000"),
    (1.5, TypeError, r"`n` must be a positive int or None, got 1.5"),
    (True, TypeError, r"`n` must be a positive int or None, got True"),
    ("2", TypeError, r"`n` must be a positive int or None, got '2'"),
])
def test_set_num_threads_rejects_bad_values(bad, error, match, restore_threads):
    before = im2col_nb.get_num_threads()
    with pytest.raises(error, match=match):
        im2col_nb.set_num_threads(bad)
    with pytest.raises(error, match=match):
        im2col_nb.threads(bad).__enter__()
    assert im2col_nb.get_num_threads() == before


def test_set_num_threads_accepts_numpy_ints(restore_threads):
    im2col_nb.set_num_threads(np.int64(1))
    assert im2col_nb.get_num_threads() == 1 and type(im2col_nb.get_num_threads()) is int


def test_threads_reuses_the_blas_scan_until_a_module_is_imported(restore_threads, monkeypatch):
    """threads(n) does not rescan the loaded libraries on every use (the scan
    is most of its cost); an import, or set_num_threads, rescans."""
    import types

    monkeypatch.setitem(_threads._state, "blas_scan", None)
    with im2col_nb.threads(1):
        assert set(blas_threads()) == {1}
    first = _threads._state["blas_scan"]
    assert first is not None and first[1]       # numpy's BLAS was found
    for _ in range(5):
        with im2col_nb.threads(1):
            assert set(blas_threads()) == {1}
    assert _threads._state["blas_scan"] is first
    monkeypatch.setitem(sys.modules, "im2col_nb_test_new_module", types.ModuleType("new"))
    with im2col_nb.threads(1):
        pass
    second = _threads._state["blas_scan"]
    assert second is not first                  # a module was imported: rescanned
    im2col_nb.set_num_threads(1)
    assert _threads._state["blas_scan"] is not second   # the explicit setter always rescans


SCIPY_AFTER_FIRST_SCAN = """
import json, sys
import im2col_nb
from im2col_nb._core import threads as _threads
from threadpoolctl import threadpool_info
if {control}:
    _threads._scan_key = lambda: 0              # the control: never notice new libraries

def blas():
    return {{lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}}

assert "scipy" not in sys.modules
with im2col_nb.threads(1):                      # the first scan: numpy's BLAS only
    pass
numpy_only = blas()
import scipy.linalg                             # loads SciPy's own OpenBLAS
defaults = blas()
with im2col_nb.threads(1):
    inside = blas()
print(json.dumps(dict(numpy_only=numpy_only, defaults=defaults, inside=inside, after=blas())))
"""


@pytest.mark.parametrize("control", [False, True], ids=["cached", "control-never-rescan"])
def test_threads_limits_a_blas_loaded_after_the_first_use(control):
    """SciPy's OpenBLAS, loaded by `import scipy.linalg` after threads() was
    first used, is limited too, and restored on exit. The control run, with
    the rescan trigger disabled, shows the new library would be missed."""
    pytest.importorskip("scipy")
    pytest.importorskip("threadpoolctl")
    import json

    proc = run_python(SCIPY_AFTER_FIRST_SCAN.format(control=control), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    new = set(got["defaults"]) - set(got["numpy_only"])
    if not new:
        pytest.skip("scipy.linalg loaded no BLAS library of its own")
    if max(got["defaults"][path] for path in new) == 1:
        pytest.skip("the new BLAS library runs one thread by default: nothing to limit")
    if control:
        assert any(got["inside"][path] != 1 for path in new), got
    else:
        assert set(got["inside"].values()) == {1}, got
    assert got["after"] == got["defaults"]          # every library back to its own default


def _njit_functions(path):
    """(name, node) of every function decorated with njit/jit in a module."""
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if name in ("njit", "jit"):
                    yield node.name, node


def test_no_blas_inside_numba_kernels():
    """No Numba kernel calls np.dot / matmul / einsum / linalg: GEMM runs in
    the Python wrappers, between kernel calls, except in the conv2d tile,
    shifted-GEMM and Winograd kernels (NCHW, NHWC), which call the GEMM function they are given (NumPy's cblas_?gemm)
    while BLAS is limited to one thread (test_conv_gemm checks that), so BLAS
    threads never start inside a parallel region (no oversubscription)."""
    blas_names = {"dot", "matmul", "einsum", "inner", "outer", "tensordot", "vdot", "linalg"}
    modules = glob.glob(os.path.join(SRC, "_kernels", "numba", "*.py"))
    assert len(modules) >= 2
    offenders = []
    checked = 0
    for path in modules:
        for fname, node in _njit_functions(path):
            checked += 1
            for sub in ast.walk(node):
                if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.MatMult):
                    offenders.append((os.path.basename(path), fname, "@"))
                if isinstance(sub, ast.Attribute) and sub.attr in blas_names:
                    offenders.append((os.path.basename(path), fname, sub.attr))
    assert checked >= 5
    assert not offenders, offenders
    takes_gemm = [(os.path.basename(path), fname) for path in modules
                  for fname, node in _njit_functions(path)
                  if "gemm" in [a.arg for a in node.args.args]]
    assert sorted(takes_gemm) == [("gemm.py", "_conv_tiles_nchw"),
                                  ("gemm.py", "_conv_tiles_nhwc"),
                                  ("gemm.py", "_weight_grad_tiles_nchw"),
                                  ("shift.py", "_conv_shift_nchw"),
                                  ("shift.py", "_conv_shift_nhwc"),
                                  ("winograd.py", "_winograd_nchw"),
                                  ("winograd.py", "_winograd_nhwc")]


# ---------------------------------------------------------------------------
# fork
# ---------------------------------------------------------------------------

FORK = """
import multiprocessing as mp, threading, time
import numpy as np
import im2col_nb
from im2col_nb._core import threads as _threads

x = np.random.default_rng(0).standard_normal((2, 3, 12, 12))
w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))

def work(i):
    out = [im2col_nb.conv2d(x, w, padding=i % 2), im2col_nb.im2col(x, 3), im2col_nb.conv2d_direct(x, w)]
    if hasattr(im2col_nb, "max_pool2d"):
        out.append(im2col_nb.max_pool2d(x, 2))
    return out

if __name__ == "__main__":
    expected = [work(i) for i in range(4)]          # the parent has run parallel kernels
    if __HOLD__:
        # Another thread of the parent holds the kernel lock while the pool forks.
        held = threading.Event()
        def hold():
            with _threads._kernel_lock:
                held.set()
                time.sleep(3)
        threading.Thread(target=hold, daemon=True).start()
        held.wait()
    print("START", mp.get_start_method())
    with mp.Pool(2) as pool:
        try:
            got = pool.map_async(work, range(4)).get(timeout=120)
        except Exception as exc:
            print("ERROR", type(exc).__name__, exc)
        else:
            ok = all(np.allclose(a, b) for g, e in zip(got, expected) for a, b in zip(g, e))
            print("FORK-OK" if ok else "FORK-MISMATCH")
"""


def run_fork(layer=None, hold=False):
    code = FORK.replace("__HOLD__", str(hold))
    env = {"NUMBA_THREADING_LAYER": layer} if layer else {}
    # Run as a file: the pool's children need an importable __main__.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fork_probe.py")
        with open(path, "w") as f:
            f.write(code)
        child_env = {k: v for k, v in os.environ.items()
                     if k not in ("IM2COL_NB_BACKEND", "NUMBA_DISABLE_JIT", "NUMBA_THREADING_LAYER")}
        child_env.update(env)
        return subprocess.run([sys.executable, path], capture_output=True, text=True,
                              env=child_env, timeout=300)


@pytest.mark.parametrize("layer", [None, "workqueue"], ids=["default", "workqueue"])
def test_process_pool_after_parent_used_the_package(layer):
    proc = run_fork(layer)
    assert "FORK-OK" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_fork_while_another_thread_holds_the_kernel_lock():
    proc = run_fork("workqueue", hold=True)
    assert "FORK-OK" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_fork_after_gnu_openmp_gives_a_clear_error():
    """A forced GNU OpenMP layer cannot run in a forked child; instead of
    Numba terminating the worker (and the pool hanging), the call raises."""
    if not omp_available():
        pytest.skip("no OpenMP threading layer in this numba")
    proc = run_fork("omp")
    if "START fork" not in proc.stdout:
        pytest.skip("default start method is not fork here")
    assert "ERROR RuntimeError" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "forked from a process that had already started GNU OpenMP" in proc.stdout
    assert "spawn" in proc.stdout


def test_kernels_are_only_reached_through_the_guarded_backend():
    """The guard lives in backend_module(); it covers every kernel only while
    no module outside ``_kernels/numba`` imports from it directly."""
    offenders = []
    pattern = re.compile(r"^\s*(from\s+[.\w]*_kernels(\.numba)?\s+import|import\s+[.\w]*_kernels)", re.M)
    kernels = os.path.join(SRC, "_kernels")
    for root, _dirs, files in os.walk(SRC):
        if root.startswith(kernels):
            continue
        for name in files:
            if not name.endswith(".py") or name in ("_backend.py",):
                continue
            path = os.path.join(root, name)
            if pattern.search(open(path).read()):
                offenders.append(os.path.relpath(path, SRC))
    assert not offenders, offenders


def test_backend_module_is_the_guarded_proxy():
    from im2col_nb._core import backend as _backend

    previous = im2col_nb.get_backend()
    try:
        im2col_nb.set_backend("numba")
        guarded = _backend.backend_module()
        assert isinstance(guarded, _threads.GuardedBackend)
        assert guarded.im2col.__wrapped__.__module__ == "im2col_nb._kernels.numba.im2col"
        im2col_nb.set_backend("numpy")
        assert not isinstance(_backend.backend_module(), _threads.GuardedBackend)
    finally:
        im2col_nb.set_backend(previous)
