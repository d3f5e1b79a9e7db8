"""Bounded, reused scratch memory for patch matrices.

A convolution never materialises more than ``max_workspace_bytes`` of patch
matrix: the driver chunks over images, then over output rows, to stay under
the budget. The scratch buffer is kept per thread and reused across calls,
because a fresh multi-megabyte allocation per call costs page faults that can
exceed the im2col work itself.
"""

from __future__ import annotations

import threading

import numpy as np

from .validation import positive_int

# An upper bound, not a target: conv2d's tiles are min(budget / workers, 4 MiB)
# (_engine/plan.TILE_BYTES), so a call holds about workers x 4 MiB of patches;
# speed is flat for budgets down to a few MiB (docs/benchmarks.md).
DEFAULT_MAX_WORKSPACE_BYTES = 64 * 2**20

_settings = {"max_workspace_bytes": DEFAULT_MAX_WORKSPACE_BYTES}
_local = threading.local()


def _check_budget(name, value) -> int:
    return positive_int(name, value, "an int number of bytes")


def set_max_workspace_bytes(nbytes: int) -> None:
    """Set the package-wide default budget for patch-matrix scratch memory.

    Parameters
    ----------
    nbytes : int
        Largest patch matrix (in bytes) a convolution builds at once. Calls
        can override it with their ``max_workspace_bytes=`` keyword.

    Raises
    ------
    TypeError, ValueError
        If `nbytes` is not a positive int.

    Examples
    --------
    >>> import im2col_nb
    >>> old = im2col_nb.get_max_workspace_bytes()
    >>> im2col_nb.set_max_workspace_bytes(16 * 2**20)
    >>> im2col_nb.get_max_workspace_bytes()
    16777216
    >>> im2col_nb.set_max_workspace_bytes(old)
    """
    _settings["max_workspace_bytes"] = _check_budget("nbytes", nbytes)


def get_max_workspace_bytes() -> int:
    """The package-wide patch-matrix budget in bytes (default 64 MiB).

    Examples
    --------
    >>> import im2col_nb
    >>> im2col_nb.get_max_workspace_bytes() > 0
    True
    """
    return _settings["max_workspace_bytes"]


def resolve_budget(max_workspace_bytes) -> int:
    if max_workspace_bytes is None:
        return _settings["max_workspace_bytes"]
    return _check_budget("max_workspace_bytes", max_workspace_bytes)


def scratch(shape, dtype) -> np.ndarray:
    """A C-contiguous array of `shape` backed by this thread's reused buffer.

    The contents are garbage; the array is valid until the next call to
    `scratch` in the same thread.
    """
    dtype = np.dtype(dtype)
    count = 1
    for s in shape:
        count *= int(s)
    nbytes = count * dtype.itemsize
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = np.empty(max(nbytes, 64), dtype=np.uint8)
        _local.buffer = buffer
    return buffer[:nbytes].view(dtype).reshape(shape)


def release_scratch() -> None:
    """Drop this thread's scratch buffer (frees its memory)."""
    _local.buffer = None


def chunking(n_img: int, out_h: int, bytes_per_row: int, budget: int) -> tuple[int, int]:
    """(images per chunk, output rows per chunk) keeping a patch matrix of
    `bytes_per_row` per output row within `budget` bytes: whole images
    while one fits, else rows of one."""
    bytes_per_image = bytes_per_row * out_h
    if bytes_per_image <= budget:
        return max(1, min(n_img, budget // max(bytes_per_image, 1))), out_h
    return 1, max(1, min(out_h, budget // max(bytes_per_row, 1)))


def chunks(n_img: int, out_h: int, bytes_per_row: int, budget: int):
    """The chunk loop: ``(n0, n1, r0, r1)``, images [n0, n1) x output rows
    [r0, r1), in order, each chunk's patch matrix within `budget` bytes (see
    `chunking`); a chunk is whole images or rows of one image, so its slice
    of a contiguous batch is contiguous."""
    images, rows = chunking(n_img, out_h, bytes_per_row, budget)
    for n0 in range(0, n_img, images):
        n1 = min(n_img, n0 + images)
        for r0 in range(0, out_h, rows):
            yield n0, n1, r0, min(out_h, r0 + rows)
