"""How ``im2col-nb compare`` and the benchmark suite (``bench/suite.py``) time
calls: settle, then timed repeats interleaved across implementations, and the
tracemalloc peak of one call.

Only the standard library and NumPy: the benchmarks import this module too.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

__all__ = ["SETTLE_S", "interleaved", "interleaved_times", "settle", "traced_peak"]

# Seconds each implementation runs untimed before it is timed, when several
# are interleaved: longer than the ~0.1 s that multi-threaded BLAS and OpenMP
# pools keep their threads spinning after a call (OpenBLAS: 2**28 cycles,
# OPENBLAS_THREAD_TIMEOUT), which otherwise slows whatever runs next on the
# same cores (conv2d right after a 2-thread GEMM or PyTorch call: ~1.5x).
SETTLE_S = 0.15


def settle(call, seconds: float = SETTLE_S) -> None:
    """Run `call` untimed (at least once) until `seconds` have passed.

    Parameters
    ----------
    call : callable
        Called without arguments.
    seconds : float
        From before the first call.

    Examples
    --------
    >>> calls = []
    >>> settle(lambda: calls.append(1), seconds=0.0)
    >>> len(calls)
    1
    """
    end = time.perf_counter() + seconds
    call()
    while time.perf_counter() < end:
        call()


def interleaved_times(calls, rounds: int = 5, warmup: int = 1, budget_s: float | None = None,
                      settle_s: float = 0.0, min_rounds: int = 2) -> list[list[float]]:
    """Seconds of every timed call of each callable, in interleaved rounds.

    Interleaving (A B C A B C ...) exposes every implementation to the same
    background load, so ratios of the minima are meaningful on a shared,
    noisy machine; the minimum discards the rounds another process slowed.

    Parameters
    ----------
    calls : sequence of callables
        Called without arguments.
    rounds : int
        Most rounds; each times every callable once.
    warmup : int
        Untimed calls of each callable first (JIT compile, first-touch pages).
    budget_s : float, optional
        Stop after the round that passes `budget_s` seconds (counted after
        the warm-up), once `min_rounds` rounds are done.
    settle_s : float
        Before each timed call, `settle` the same callable for `settle_s`
        seconds, so it does not pay for the previous implementation's
        spinning threads (see `SETTLE_S`).
    min_rounds : int
        Rounds run before `budget_s` may stop the loop.

    Returns
    -------
    times : list of list of float
        One list per callable, in round order.

    Examples
    --------
    >>> (times,) = interleaved_times([lambda: None], rounds=20, warmup=0, budget_s=0.0,
    ...                              min_rounds=3)
    >>> len(times)
    3
    """
    for call in calls:
        for _ in range(warmup):
            call()
    times: list[list[float]] = [[] for _ in calls]
    start = time.perf_counter()
    for r in range(rounds):
        for i, call in enumerate(calls):
            if settle_s:
                settle(call, settle_s)
            t0 = time.perf_counter()
            call()
            times[i].append(time.perf_counter() - t0)
        if budget_s is not None and r + 1 >= min_rounds and time.perf_counter() - start > budget_s:
            break
    return times


def interleaved(calls, rounds: int = 5, warmup: int = 1, budget_s: float | None = None,
                settle_s: float = 0.0):
    """Min and median seconds of each callable, timed in interleaved rounds.

    `interleaved_times` with at least 2 rounds before `budget_s` stops it.

    Returns
    -------
    mins, medians : list of float
        One per callable.

    Examples
    --------
    >>> mins, medians = interleaved([lambda: None, lambda: None], rounds=3)
    >>> len(mins), all(m <= med for m, med in zip(mins, medians))
    (2, True)
    """
    times = interleaved_times(calls, rounds, warmup, budget_s, settle_s)
    return [min(t) for t in times], [float(np.median(t)) for t in times]


def traced_peak(call) -> int:
    """Bytes allocated at the peak of one call, above what was allocated before.

    Measured with tracemalloc, which sees NumPy's and Numba's allocations
    (not those of libraries with their own allocator, such as PyTorch).
    Tracing is started for the call if it is not on already, and stopped
    after.

    Examples
    --------
    >>> traced_peak(lambda: np.ones(2**20, dtype=np.uint8)) >= 2**20
    True
    """
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if not tracing:
            tracemalloc.stop()
