"""Worker threads and BLAS threads for the drivers that run tiles from Python.

``workers`` threads (the BLAS thread count, i.e. ``set_num_threads``) each
take the next tile and run it with a *single-threaded* BLAS call: while they
run, BLAS is limited to one thread per call (process-wide: BLAS has no
per-thread setting), then restored. Nothing ping-pongs between Numba's
thread pool and BLAS's (each hand-over between two spinning pools costs
milliseconds on a busy machine), and a GEMM never waits for another thread.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from .._core.threads import _blas_controllers


# ---------------------------------------------------------------------------
# BLAS threads and the worker pool
# ---------------------------------------------------------------------------

_lock = threading.Lock()
_state: dict = {"depth": 0, "saved": None, "pool": None, "pool_size": 0}


def blas_threads() -> int:
    """Threads a BLAS call would use now (1 if the BLAS is not controllable)."""
    controllers = _blas_controllers()
    if not controllers:
        return 1
    try:
        return max(1, max(int(c.num_threads) for c in controllers))
    except Exception:
        return 1


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread per call while at least one caller is inside.

    Re-entrant and safe with concurrent callers (a count: the first sets,
    the last restores). A limit somebody else changed meanwhile is left alone.
    """
    with _lock:
        if _state["depth"] == 0:
            saved = []
            for c in _blas_controllers():
                n = int(c.num_threads)
                if n != 1:
                    c.set_num_threads(1)
                    saved.append((c, n))
            _state["saved"] = saved
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                for c, n in _state["saved"]:
                    if int(c.num_threads) == 1:
                        c.set_num_threads(n)
                _state["saved"] = None


def _pool(size: int) -> ThreadPoolExecutor:
    with _lock:
        if _state["pool_size"] < size:
            old = _state["pool"]
            _state["pool"] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="im2col_nb")
            _state["pool_size"] = size
            if old is not None:
                old.shutdown(wait=False)
        return _state["pool"]


def _after_fork_in_child() -> None:
    # The parent's worker threads do not exist in a forked child.
    global _lock
    _lock = threading.Lock()
    _state.update(depth=0, saved=None, pool=None, pool_size=0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run_tiles(count: int, work, workers: int) -> None:
    """Call ``work(t)`` for t in range(count) on `workers` threads (the caller
    is one of them), each pulling the next tile; BLAS single-threaded."""
    if workers <= 1 or count <= 1:
        for t in range(count):
            work(t)
        return
    workers = min(workers, count)
    counter = itertools.count()
    failed: list = []

    def loop():
        try:
            while not failed:
                t = next(counter)
                if t >= count:
                    return
                work(t)
        except BaseException as exc:  # stop the others, re-raise in the caller
            failed.append(exc)

    with single_threaded_blas():
        futures = [_pool(workers - 1).submit(loop) for _ in range(workers - 1)]
        loop()
        for f in futures:
            f.result()
    if failed:
        raise failed[0]
