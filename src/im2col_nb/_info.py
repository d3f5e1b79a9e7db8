"""What the package runs on: versions, backend, threads, BLAS, JIT cache.

The public functions here answer questions whose answers live in private
modules (the thread knob's bounds, the threading layer im2col_nb chose, the
per-thread scratch buffer, the Numba kernels and their disk cache). They are
what ``im2col-nb info`` and ``im2col-nb compare`` report, and what a user
filing a performance issue would paste.

This is deliberately the one module that reaches into the private ones for
them, so the command line and the scripts need only the public API.
Nothing heavy (numba, threadpoolctl) is imported until a function is called.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from ._core import threads as _threads
from ._core import workspace as _workspace
from ._core.backend import backend_named, get_backend, numba_available, set_backend

__all__ = ["info", "max_num_threads", "release_workspace"]

# Distributions whose versions `info` reports (None when not installed).
_PACKAGES = ("numpy", "numba", "llvmlite", "threadpoolctl", "rich", "matplotlib", "torch",
             "scipy")


def max_num_threads() -> int:
    """The largest thread count `set_num_threads` and `threads` accept.

    Returns
    -------
    n : int
        Numba's thread-pool size, ``NUMBA_NUM_THREADS``: by default the
        number of CPUs this process may run on. Known without importing numba.

    Examples
    --------
    >>> import im2col_nb
    >>> im2col_nb.max_num_threads() >= im2col_nb.get_num_threads() >= 1
    True
    """
    return int(_threads.max_threads())


def release_workspace() -> None:
    """Free the calling thread's reused patch-matrix scratch buffer.

    Convolutions keep their scratch buffer (at most the workspace budget,
    see `set_max_workspace_bytes`) per thread and reuse it across calls,
    because allocating it afresh each time costs page faults. Releasing it
    returns that memory; the next call allocates a new one. Memory
    measurements use it so a call's peak includes its patch matrix, as a
    first call's would.

    Examples
    --------
    >>> import numpy as np
    >>> import im2col_nb
    >>> y = im2col_nb.conv2d(np.ones((1, 1, 8, 8)), np.ones((2, 1, 3, 3)))
    >>> im2col_nb.release_workspace()
    >>> y.shape
    (1, 2, 6, 6)
    """
    _workspace.release_scratch()


def info(run_kernel: bool = True) -> dict:
    """Versions, backend, threading layer, threads, BLAS and JIT cache, as a dict.

    Parameters
    ----------
    run_kernel : bool, default True
        Run one tiny parallel Numba kernel first. Numba only picks its
        threading layer when the first parallel kernel runs, so without it
        ``info()["numba"]["threading_layer"]`` may still be None; the call
        also times that first kernel (``first_call_s``: the JIT compile or the
        load from the disk cache).

    Returns
    -------
    report : dict
        JSON-serialisable. Keys: ``im2col_nb`` (version), ``python``,
        ``platform``, ``cpus``, ``packages`` (distribution -> version or
        None), ``backend``, ``IM2COL_NB_BACKEND`` (the environment variable or
        None), ``max_workspace_bytes``, ``jit_cache`` (None without numba;
        else ``dirs``, ``kernels``, ``cached_kernels``, ``cached_versions``,
        ``warm``, ``NUMBA_CACHE_DIR``), ``numba`` (None without numba; else
        ``threading_layer_requested``, ``NUMBA_NUM_THREADS``, ``num_threads``,
        ``threading_layer``, ``first_call_s`` and ``layer_chosen_by``, a
        pair such as ``["im2col_nb", "tbb"]`` or ``["user", "omp"]``),
        ``im2col_nb_threads`` (`get_num_threads`) and ``threadpools`` (the
        BLAS and OpenMP libraries threadpoolctl finds, with their thread
        counts and file paths).

    Notes
    -----
    ``im2col-nb info`` prints this report; ``im2col-nb compare --json``
    stores it (taken with ``run_kernel=False``) next to the timings.

    Examples
    --------
    >>> import im2col_nb
    >>> report = im2col_nb.info(run_kernel=False)
    >>> report["im2col_nb"] == im2col_nb.__version__
    True
    >>> report["backend"] == im2col_nb.get_backend()
    True
    """
    import platform

    # Imported here: the package is still being imported when this module loads.
    from . import __version__

    report: dict = {
        "im2col_nb": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "backend": get_backend(),
        "IM2COL_NB_BACKEND": os.environ.get("IM2COL_NB_BACKEND"),
        "max_workspace_bytes": _workspace.get_max_workspace_bytes(),
    }
    report["jit_cache"] = _jit_cache()
    report["numba"] = _numba_threads(run_kernel) if numba_available() else None
    report["im2col_nb_threads"] = _threads.get_num_threads()
    report["threadpools"] = _threadpools()
    return report


def _version(dist: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _numba_threads(run_kernel: bool) -> dict:
    import numba

    report = {
        "threading_layer_requested": numba.config.THREADING_LAYER,
        "NUMBA_NUM_THREADS": int(numba.config.NUMBA_NUM_THREADS),
        "num_threads": int(numba.get_num_threads()),
        "threading_layer": None,
        "first_call_s": None,
    }
    if run_kernel:
        from .unfold import im2col

        # On the numba backend even when NumPy's is selected: the report is
        # about the threading layer, which only a Numba kernel launches.
        previous = get_backend()
        set_backend("numba")
        try:
            t0 = time.perf_counter()
            im2col(np.zeros((1, 1, 2, 2)), 1)
            report["first_call_s"] = time.perf_counter() - t0
        finally:
            set_backend(previous)
        try:
            report["threading_layer"] = numba.threading_layer()
        except ValueError:      # no parallel kernel has launched the pool
            pass
    chosen = _threads._state.get("chosen")
    if chosen:
        report["layer_chosen_by"] = list(chosen)
    return report


def _jit_cache() -> dict | None:
    """Where Numba caches the compiled kernels and how many of the loaded
    kernels have code cached for this source (None without a working numba)."""
    if not numba_available():
        return None
    try:
        backend_named("numba")      # imports every kernel module
        from numba.core.dispatcher import Dispatcher
    except Exception:  # pragma: no cover - numba installed but broken
        return None
    kernels, cached, versions, dirs = 0, 0, 0, set()
    for mod_name, module in sorted(sys.modules.items()):
        if not mod_name.startswith("im2col_nb.") or module is None:
            continue
        for obj in vars(module).values():
            # A kernel counts once, in the module that defines it, not where it is re-exported.
            if not isinstance(obj, Dispatcher) or getattr(obj, "__module__", None) != mod_name:
                continue
            cache = getattr(obj, "_cache", None)
            cache_file = getattr(cache, "_cache_file", None)
            if cache_file is None:      # cache=False (e.g. a read-only install without a cache dir)
                continue
            kernels += 1
            dirs.add(cache._cache_path)
            try:
                index = cache_file._load_index()
            except Exception:
                index = {}
            if index:
                cached += 1
                versions += len(index)
    return {"dirs": sorted(dirs), "kernels": kernels, "cached_kernels": cached,
            "cached_versions": versions, "warm": kernels > 0 and cached == kernels,
            "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR")}


def _threadpools() -> list[dict]:
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer",
            "architecture", "filepath")
    try:
        pools = threadpool_info()
    except Exception:  # pragma: no cover - it opens every loaded library; a report must not fail
        return []
    return [{k: pool.get(k) for k in keys} for pool in pools]
