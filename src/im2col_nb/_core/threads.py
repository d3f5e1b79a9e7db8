"""Threads: one knob for the Numba loops and BLAS, safe concurrent and forked use.

Everything that runs a Numba kernel goes through the backend module returned
by ``_backend.backend_module()``; for the Numba backend that is a thin proxy
(`guarded`) whose every function runs under `_enter_kernel`:

* **Threading layer.** Before the first kernel compiles or loads from the
  cache, `configure_numba_threading` (called by ``_kernels/numba/_jit.py`` right after
  ``import numba``) picks Numba's threading layer unless the user already chose
  one (``NUMBA_THREADING_LAYER`` or ``numba.config.THREADING_LAYER``): ``tbb``
  when a compatible TBB can be loaded (the PyPI ``tbb`` wheel included, whose
  library is not on the loader path of a virtual environment, so it is
  preloaded by absolute path), else ``workqueue``. Both are fork-safe. GNU
  OpenMP (``omp``), Numba's usual pick on Linux, is avoided: it kills a forked
  child that runs a parallel loop, and its spinning threads starve the BLAS
  threads that run right after each im2col (conv2d measured ~5x slower).
* **Concurrent entry.** ``workqueue`` aborts the process when two threads are
  inside parallel kernels at once, so while the active layer is not known to
  be thread-safe (``tbb``/``omp``) every kernel entry is serialised by one
  process-wide lock. A kernel already uses all the Numba threads, so the lock
  costs little throughput (see docs/threads-and-startup.md).
* **Thread count.** `set_num_threads` stores one number; BLAS pools are
  limited through threadpoolctl when it changes (process-wide, as BLAS is),
  and Numba's count, which is per calling thread, is applied on every kernel
  entry. GEMM runs in the public wrappers between kernel calls, or inside
  conv2d's tile kernels while BLAS is limited to one thread
  (``_engine/workers.single_threaded_blas``), so the two pools never oversubscribe
  each other.
* **Fork.** After ``fork()`` the lock is replaced (a thread of the parent may
  have held it). A child forked from a process that had started GNU OpenMP
  (a user-forced ``omp`` layer) gets a clear RuntimeError instead of being
  terminated by Numba.

This module never imports numba or threadpoolctl at import time.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
import types

__all__ = ["get_num_threads", "set_num_threads", "threads"]

# Layers that tolerate several threads launching parallel kernels at once.
THREAD_SAFE_LAYERS = ("tbb", "omp")

_settings_lock = threading.Lock()
_kernel_lock = threading.RLock()
_tls = threading.local()
_state: dict = {
    "requested": None,        # the knob: None (library defaults) or an int
    "blas_originals": None,   # [(lib controller, original num_threads)] while limited
    "blas_scan": None,        # (scan key, [BLAS lib controllers]): the last threadpoolctl scan
    "layer": None,            # Numba's threading layer once launched
    "chosen": None,           # what configure_numba_threading decided, and why
    "forked_gnu_omp": False,  # this process was forked after GNU OpenMP started
}


# ---------------------------------------------------------------------------
# The knob
# ---------------------------------------------------------------------------


def max_threads() -> int:
    """Upper bound for `set_num_threads`: Numba's thread-pool size.

    ``numba.config.NUMBA_NUM_THREADS`` once numba is imported; before that the
    same value computed without importing it (``NUMBA_NUM_THREADS`` or the
    CPUs this process may run on).
    """
    numba = sys.modules.get("numba")
    if numba is not None and hasattr(numba, "config"):
        return int(numba.config.NUMBA_NUM_THREADS)
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _check_n(n):
    if n is None:
        return None
    import numbers

    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"`n` must be a positive int or None, got {n!r}")
    n = int(n)
    top = max_threads()
    if not 1 <= n <= top:
        raise ValueError(
            f"`n` must be between 1 and {top} (Numba's thread pool size, NUMBA_NUM_THREADS), got {n}"
        )
    return n


def _scan_key() -> int:
    """Changes when a new BLAS library may have been loaded: the number of
    imported modules (see `_blas_controllers`)."""
    return len(sys.modules)


def _blas_controllers(rescan: bool = False):
    """threadpoolctl controllers of the BLAS libraries loaded, from a cached scan.

    A threadpoolctl scan walks every shared library of the process (0.1-0.3
    ms, more than many blocks `threads(n)` wraps), and threadpoolctl has no
    hook telling when a library is loaded. So the scan is reused while
    `_scan_key` (``len(sys.modules)``) is unchanged: BLAS libraries arrive by
    importing extension modules (numpy, ``scipy.linalg`` with its own OpenBLAS,
    torch, ...), which adds modules, and in a steady loop nothing is imported.
    A library loaded by ctypes alone is picked up at the next import or the
    next `set_num_threads`, which always rescans (`rescan`).
    """
    scan = _state["blas_scan"]
    if scan is not None and not rescan and scan[0] == _scan_key():
        return scan[1]
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        controllers = []
    else:
        controllers = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    _state["blas_scan"] = (_scan_key(), controllers)   # after the import above
    return controllers


def _apply_blas(n, rescan: bool = False) -> None:
    originals = _state["blas_originals"]
    if n is None:
        if originals is not None:
            for controller, value in originals:
                controller.set_num_threads(value)
            _state["blas_originals"] = None
        return
    controllers = _blas_controllers(rescan)
    if originals is None:
        originals = [(c, c.num_threads) for c in controllers]
        _state["blas_originals"] = originals
    else:
        # Libraries loaded since the first limit: remember their own defaults too.
        known = {c.filepath for c, _ in originals}
        originals.extend((c, c.num_threads) for c in controllers if c.filepath not in known)
    for controller in controllers:
        controller.set_num_threads(n)


def set_num_threads(n) -> None:
    """Set the number of threads every later call may use.

    One knob for both thread pools the package runs on: the Numba parallel
    loops (im2col, col2im, pooling, direct convolution, ...) and the BLAS
    library doing the matrix multiplies (through threadpoolctl).

    Parameters
    ----------
    n : int or None
        Between 1 and ``NUMBA_NUM_THREADS`` (by default the number of CPUs the
        process may use). ``None`` restores the libraries' own defaults.

    Raises
    ------
    TypeError
        If `n` is not an int or None.
    ValueError
        If `n` is out of range.

    Notes
    -----
    The setting is process-wide: the BLAS limit is global to the process, and
    the Numba count (which Numba keeps per thread) is applied on entry to
    every kernel, whichever Python thread calls. Libraries other than the
    numpy BLAS used here are not touched. With many Python threads calling at
    once, ``set_num_threads(1)`` avoids running threads x n OS threads.
    Every BLAS library loaded at the time is limited (threadpoolctl scans
    them on each call, ~0.1-0.3 ms), including ones loaded after an earlier
    call, such as SciPy's own OpenBLAS.

    Examples
    --------
    >>> import im2col_nb
    >>> im2col_nb.set_num_threads(1)
    >>> im2col_nb.get_num_threads()
    1
    >>> im2col_nb.set_num_threads(None)   # back to the defaults
    """
    _set(_check_n(n), rescan=True)


def _set(n, rescan: bool) -> None:
    with _settings_lock:
        _apply_blas(n, rescan)
        _state["requested"] = n


def get_num_threads() -> int:
    """The number of threads calls may use (see `set_num_threads`).

    Returns
    -------
    n : int
        The value set, or the default, Numba's thread-pool size, when
        `set_num_threads` was never called (or reset with None).

    Examples
    --------
    >>> import im2col_nb
    >>> im2col_nb.get_num_threads() >= 1
    True
    """
    requested = _state["requested"]
    return max_threads() if requested is None else requested


@contextlib.contextmanager
def threads(n):
    """Context manager: `set_num_threads(n)` for a block, then restore.

    Parameters
    ----------
    n : int or None
        As in `set_num_threads`.

    Raises
    ------
    TypeError, ValueError
        As `set_num_threads`, on entry.

    Notes
    -----
    Process-wide like `set_num_threads` (the BLAS limit is global), so use
    it around a block of work, not to give concurrent threads different
    counts. Cheap (a few microseconds): the BLAS libraries found by the last
    scan are reused until a module is imported (a new BLAS library, e.g.
    SciPy's, is loaded by an import), so it also fits around short calls.

    Examples
    --------
    >>> import numpy as np
    >>> import im2col_nb
    >>> with im2col_nb.threads(1):
    ...     y = im2col_nb.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)))
    ...     im2col_nb.get_num_threads()
    1
    >>> float(y[0, 0, 0, 0])
    4.0
    """
    n = _check_n(n)
    previous = _state["requested"]
    _set(n, rescan=False)
    try:
        yield
    finally:
        _set(previous, rescan=False)


# ---------------------------------------------------------------------------
# Threading layer selection (runs when the Numba backend is first imported)
# ---------------------------------------------------------------------------

_TBB_SONAME = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}


def _tbb_loadable() -> bool:
    """Whether TBB >= 2021.6 (what Numba needs) can be loaded, preloading the
    PyPI wheel's library by absolute path if the loader cannot find it."""
    soname = _TBB_SONAME.get(sys.platform)
    if soname is None:
        return False
    try:
        lib = ctypes.CDLL(soname)
    except OSError:
        lib = None
        try:
            from importlib import metadata

            files = metadata.files("tbb") or []
        except Exception:  # PackageNotFoundError, broken metadata
            files = []
        for f in files:
            if f.name == soname:
                try:
                    lib = ctypes.CDLL(str(f.locate()), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
                except OSError:
                    lib = None
                break
        if lib is None:
            return False
    try:
        version = lib.TBB_runtime_interface_version
        version.restype = ctypes.c_int
        if version() < 12060:
            return False
        from numba.np.ufunc import tbbpool  # noqa: F401  (the extension links libtbb)
    except Exception:
        return False
    return True


def configure_numba_threading() -> None:
    """Choose Numba's threading layer before any parallel kernel is launched.

    Leaves an explicit user choice alone; records what was decided in
    ``_state["chosen"]``.
    """
    import numba
    from numba.np.ufunc import parallel

    if parallel._is_initialized:
        _state["chosen"] = ("already-launched", parallel._threading_layer)
        return
    configured = str(numba.config.THREADING_LAYER).lower()
    if os.environ.get("NUMBA_THREADING_LAYER") or configured != "default":
        if configured not in ("omp", "workqueue"):
            _tbb_loadable()   # let a requested 'tbb' (or 'safe', ...) find the PyPI wheel's library
        _state["chosen"] = ("user", configured)
        return
    layer = "tbb" if _tbb_loadable() else "workqueue"
    numba.config.THREADING_LAYER = layer
    _state["chosen"] = ("im2col_nb", layer)


def _active_layer():
    layer = _state["layer"]
    if layer is None:
        parallel = sys.modules.get("numba.np.ufunc.parallel")
        layer = getattr(parallel, "_threading_layer", None)
        _state["layer"] = layer
    return layer


def threading_layer():
    """Numba's active threading layer, or None before the first kernel ran."""
    return _active_layer()


# ---------------------------------------------------------------------------
# Kernel entry guard
# ---------------------------------------------------------------------------

_FORK_MESSAGE = (
    "im2col_nb cannot run its parallel Numba kernels in this process: it was forked from a "
    "process that had already started GNU OpenMP threads (Numba threading layer 'omp'), and "
    "GNU OpenMP is not fork-safe (Numba would terminate this process). Use the 'spawn' or "
    "'forkserver' start method (multiprocessing.get_context('spawn')), the 'tbb' or "
    "'workqueue' threading layer (unset NUMBA_THREADING_LAYER to let im2col_nb choose), or "
    "call im2col_nb.set_backend('numpy') in the child."
)


def _apply_numba_threads() -> None:
    requested = _state["requested"]
    applied = getattr(_tls, "applied", None)
    if requested is None and applied is None:
        return
    target = max_threads() if requested is None else requested
    if applied != target:
        import numba

        if not numba.config.DISABLE_JIT:
            numba.set_num_threads(target)
        _tls.applied = target


def _enter_kernel(function, args, kwargs):
    if _state["forked_gnu_omp"]:
        raise RuntimeError(_FORK_MESSAGE)
    if _active_layer() in THREAD_SAFE_LAYERS:
        _apply_numba_threads()
        return function(*args, **kwargs)
    with _kernel_lock:
        _apply_numba_threads()
        return function(*args, **kwargs)


def _guard(function, serial=False):
    if serial:
        # No parallel region: concurrent calls are safe, so no lock (the
        # conv2d driver's worker threads call these at the same time).
        @functools.wraps(function)
        def serial_call(*args, **kwargs):
            _apply_numba_threads()
            return function(*args, **kwargs)

        return serial_call

    @functools.wraps(function)
    def guarded_call(*args, **kwargs):
        return _enter_kernel(function, args, kwargs)

    return guarded_call


class GuardedBackend:
    """A backend module whose im2col_nb functions all run under `_enter_kernel`."""

    def __init__(self, module: types.ModuleType):
        self.__dict__["_module"] = module
        # Functions the module lists in SERIAL run no parallel region: their
        # guard applies the thread count but takes no lock.
        serial = set(getattr(module, "SERIAL", ()))
        for name, value in vars(module).items():
            if name.startswith("_"):
                continue
            if isinstance(value, types.FunctionType) and value.__module__.startswith("im2col_nb"):
                value = _guard(value, serial=name in serial)
            self.__dict__[name] = value

    def __getattr__(self, name):
        return getattr(self.__dict__["_module"], name)

    def __repr__(self) -> str:
        return f"<guarded {self.__dict__['_module'].__name__}>"


_guarded_cache: dict = {}


def guarded(module: types.ModuleType):
    """The guarded proxy of a Numba backend module; other modules unchanged."""
    if getattr(module, "NAME", None) != "numba":
        return module
    proxy = _guarded_cache.get(module.__name__)
    if proxy is None or proxy.__dict__["_module"] is not module:
        proxy = GuardedBackend(module)
        _guarded_cache[module.__name__] = proxy
    return proxy


# ---------------------------------------------------------------------------
# fork
# ---------------------------------------------------------------------------


def _after_fork_in_child() -> None:
    global _kernel_lock, _settings_lock
    # Another thread of the parent may have held these at fork time.
    _kernel_lock = threading.RLock()
    _settings_lock = threading.Lock()
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is not None and getattr(parallel, "_threading_layer", None) == "omp":
        omppool = sys.modules.get("numba.np.ufunc.omppool")
        if getattr(omppool, "openmp_vendor", "GNU") == "GNU":
            _state["forked_gnu_omp"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
