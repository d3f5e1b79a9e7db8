"""Shared pieces of the Numba kernels: the one fastmath flag set and
small inlined index helpers. Every kernel module takes its JIT options
from here so all kernels compile the same way.

Importing this module (the first numba import of the package) also chooses
Numba's threading layer and checks that the on-disk JIT cache is usable."""

from __future__ import annotations

import warnings

from numba import njit

from ..._core.threads import configure_numba_threading

# Pick a thread- and fork-safe threading layer before any parallel kernel
# compiles or loads from the cache (see _threads.py).
configure_numba_threading()


def _cache_probe():
    """Stand-in function used only to ask Numba where kernels would be cached."""


def _cache_usable() -> bool:
    """Whether Numba can find a writable cache directory for this package.

    Numba looks next to the source (``__pycache__``), then in
    ``NUMBA_CACHE_DIR`` or the user cache directory; with none writable (a
    read-only install without a writable home) ``cache=True`` would raise at
    import, so the kernels are then compiled in every process instead.
    """
    try:
        from numba.core.caching import FunctionCache

        FunctionCache(_cache_probe)
    except Exception as exc:  # RuntimeError: no locator available
        warnings.warn(
            f"im2col_nb: no writable directory for Numba's JIT cache ({exc}); kernels are "
            "compiled again in every new process (seconds). Set NUMBA_CACHE_DIR to a "
            "writable directory to cache them.",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


CACHE = _cache_usable()

# Reassociation and contraction let LLVM vectorise the reductions; 'nnan' and
# 'ninf' are deliberately left out so NaN and inf propagate as in NumPy.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

JIT_OPTIONS = dict(cache=CACHE, fastmath=FASTMATH, nogil=True)


@njit(inline="always", **JIT_OPTIONS)
def valid_range(offset, stride, size, n_out):
    """Output indices o in [lo, hi) with 0 <= o*stride + offset < size."""
    if offset >= 0:
        lo = 0
    else:
        lo = (-offset + stride - 1) // stride
    last = size - 1 - offset
    if last < 0:
        hi = 0
    else:
        hi = last // stride + 1
    if hi > n_out:
        hi = n_out
    if lo > hi:
        lo = hi
    return lo, hi
