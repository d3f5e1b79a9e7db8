"""How the strided im2col/col2im kernels walk their arrays: which column
axis runs innermost, and when the batch-innermost nests use scratch.

One place for the policy, read by the kernels (``_kernels/*/unfold_strided.py``)
and by the plan that `explain` shows (``unfold.py``).
"""

from __future__ import annotations

INNER_L, INNER_N, INNER_K = 0, 1, 2
INNER_NAMES = {INNER_L: "positions (L)", INNER_N: "images (N)", INNER_K: "patch rows (K)"}

# Largest per-thread scratch of the batch-innermost nests (one channel of
# every image): it should stay in L2.
SCRATCH_BYTES = 1 << 21


def inner_axis(strides, shape) -> int:
    """The axis of (N, K, L) columns with the smallest stride among those
    longer than 1: the loop that runs innermost (L when none is longer)."""
    best = None
    for axis, code in zip((2, 0, 1), (INNER_L, INNER_N, INNER_K)):
        if shape[axis] > 1 and (best is None or abs(strides[axis]) < best[0]):
            best = (abs(strides[axis]), code)
    return INNER_L if best is None else best[1]


def scratch_elements(shape, itemsize: int, threads: int, inner: int) -> int:
    """Elements of the per-thread scratch of the batch-innermost nests for
    an image array of `shape` (N, C, *spatial), or 0 when they run without:
    columns not batch-innermost, fewer than 4 images, one channel of the
    batch over `SCRATCH_BYTES`, or the buffers not small next to the input."""
    n_img, channels = shape[0], shape[1]
    total = 1
    for v in shape:
        total *= v
    size = total // max(1, channels)
    if (inner != INNER_N or n_img < 4 or size * itemsize > SCRATCH_BYTES
            or threads * size * 2 > total):
        return 0
    return size
