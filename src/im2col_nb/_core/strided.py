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


def rows_contiguous(cols) -> bool:
    """Whether (N, K, L) columns can go to the contiguous N-D kernels: C
    order, or rows of L contiguous elements with non-negative image and row
    strides (the transpose of a (K, N, L) buffer: order 'KNL')."""
    item = cols.itemsize
    return cols.flags.c_contiguous or (
        (cols.strides[2] == item or cols.shape[2] == 1)
        and all(s >= 0 and s % item == 0 for s in cols.strides[:2]))


def inner_axis(strides, shape) -> int:
    """The axis of (N, K, L) columns with the smallest stride among those
    longer than 1: the loop that runs innermost (L when none is longer)."""
    best = None
    for axis, code in zip((2, 0, 1), (INNER_L, INNER_N, INNER_K)):
        if shape[axis] > 1 and (best is None or abs(strides[axis]) < best[0]):
            best = (abs(strides[axis]), code)
    return INNER_L if best is None else best[1]


def scratch_blocks(shape, itemsize: int, threads: int, inner: int,
                   rows_split: bool) -> tuple[int, int]:
    """(split, elements): how the batch-innermost nests with per-thread
    scratch split each channel's work, and the elements of each thread's
    scratch; (0, 0) when they run without scratch: columns not
    batch-innermost, fewer than 4 images, or a thread's scratch too large
    for L2 (`SCRATCH_BYTES`) or for all of them to stay at most half the
    input.

    Enough tasks for about two per thread even with few channels (an RGB
    input layer). col2im (`rows_split`) splits a channel's rows along the
    middle spatial axis into `split` blocks, each task's scratch holding its
    rows; im2col splits the images into blocks of `split` images, a
    multiple of one 64-byte cache line of the columns (so tasks never write
    the same line), each task's scratch holding its images of the channel."""
    n_img, channels = shape[0], shape[1]
    spatial = 1
    for v in shape[2:]:
        spatial *= v
    rows = shape[3] if len(shape) > 3 else 1
    if inner != INNER_N or n_img < 4 or channels == 0 or spatial == 0:
        return 0, 0
    want = max(1, -(-2 * threads // channels))
    if rows_split:
        split = min(rows, want)
        elements = spatial // rows * -(-rows // split) * n_img
    else:
        line = max(1, 64 // itemsize)
        split = min(n_img, -(-(-(-n_img // want)) // line) * line)   # ceil(N / want), whole lines
        elements = spatial * split
    if elements * itemsize > SCRATCH_BYTES or 2 * threads * elements > spatial * n_img * channels:
        return 0, 0
    return split, elements
