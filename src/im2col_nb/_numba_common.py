"""Shared pieces of the Numba kernels: the one fastmath flag set and
small inlined index helpers. Every ``_numba_*`` module takes its JIT options
from here so all kernels compile the same way."""

from __future__ import annotations

from numba import njit

# Reassociation and contraction let LLVM vectorise the reductions; 'nnan' and
# 'ninf' are deliberately left out so NaN and inf propagate as in NumPy.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

JIT_OPTIONS = dict(cache=True, fastmath=FASTMATH, nogil=True)


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
