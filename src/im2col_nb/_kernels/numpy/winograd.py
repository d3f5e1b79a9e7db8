"""Winograd F(m x m, 3 x 3) convolution in NumPy: the twin of the Numba kernel.

Same arithmetic as ``_kernels/numba/winograd.py`` (``V = B^T d B``, ``a*a``
GEMMs ``M[e] = U[e] V[e]`` per group, ``Y = A^T M A`` plus the bias), with
every step one array operation instead of a loop:

* tiles of m x m outputs are taken in boxes -- several whole images, else
  several whole tile rows of one image, else a run of tiles in one tile row
  -- of at most `chunk` tiles, so memory stays that of `chunk` tiles
  whatever the input size;
* a box's inputs are copied once into a zero-bordered block, channels last
  (NCHW is transposed on the way; input positions outside the image, in
  the padding or under the last tiles' overhang, are the block's zeros);
* each transform is two passes, rows then columns, each one `tensordot`
  (a GEMM) of a transform matrix with a strided view of overlapping windows;
* the GEMMs are one batched `np.matmul` per group over the ``a*a``
  elements; edge tiles are cropped when the box is written into `out`.

Everything stays in the input's dtype (the transform matrices are cast to
it), so float32 rounds like the Numba kernel.
"""

from __future__ import annotations

import numpy as np

_as_strided = np.lib.stride_tricks.as_strided


def _boxes(n_img, tiles_h, tiles_w, chunk):
    """(n0, n1, r0, r1, c0, c1) boxes of tiles in the kernel's order (image
    by image, row by row), each at most `chunk` tiles (at least one)."""
    chunk = max(1, chunk)
    per_image = tiles_h * tiles_w
    if per_image <= chunk:  # whole images
        step = chunk // per_image
        for n0 in range(0, n_img, step):
            yield n0, min(n0 + step, n_img), 0, tiles_h, 0, tiles_w
    elif tiles_w <= chunk:  # whole tile rows of one image
        step = chunk // tiles_w
        for n in range(n_img):
            for r0 in range(0, tiles_h, step):
                yield n, n + 1, r0, min(r0 + step, tiles_h), 0, tiles_w
    else:  # runs of one tile row
        for n in range(n_img):
            for r in range(tiles_h):
                for c0 in range(0, tiles_w, chunk):
                    yield n, n + 1, r, r + 1, c0, min(c0 + chunk, tiles_w)


def _block(x, nhwc, n0, n1, h0, w0, rows, cols):
    """Input rows [h0, h0 + rows) and columns [w0, w0 + cols) of images
    [n0, n1) as a (n1 - n0, rows, cols, C) array, zero where they fall
    outside the image (h0, w0 may be negative, the ends past H, W)."""
    height, width = (x.shape[1], x.shape[2]) if nhwc else (x.shape[2], x.shape[3])
    channels = x.shape[3] if nhwc else x.shape[1]
    block = np.zeros((n1 - n0, rows, cols, channels), dtype=x.dtype)
    lo_h, hi_h = max(h0, 0), min(h0 + rows, height)
    lo_w, hi_w = max(w0, 0), min(w0 + cols, width)
    if lo_h < hi_h and lo_w < hi_w:
        src = x[n0:n1, lo_h:hi_h, lo_w:hi_w] if nhwc else \
            x[n0:n1, :, lo_h:hi_h, lo_w:hi_w].transpose(0, 2, 3, 1)
        block[:, lo_h - h0:hi_h - h0, lo_w - w0:hi_w - w0] = src
    return block


def conv_winograd(x, u, bias, out, bt, at, groups, pad_top, pad_left, chunk, layout):
    """``out = conv(x, weight) + bias`` for a 3x3, stride-1, dilation-1
    convolution by Winograd F(m x m, 3 x 3), m = ``at.shape[0]``, written
    into `out` in place.

    `x` (N, C, H, W) (NHWC: (N, H, W, C)), `u` (a*a, F, C/groups) the
    transformed weight (`_core.winograd.filter_transform`), `bias` (F,) or
    None, `out` (N, F, OH, OW) (NHWC: (N, OH, OW, F)); `bt`/`at` B^T and
    A^T; `pad_top`/`pad_left` the padding before the first row/column (the
    bottom/right padding follows from out's size); at most `chunk` tiles
    are transformed at once. Returns True, or False, with `out` garbage,
    when the inputs read hold inf or NaN (the transforms would spread them
    to every output of their tiles)."""
    nhwc = layout == "NHWC"
    dtype = x.dtype
    bt = np.asarray(bt, dtype=dtype)
    at = np.asarray(at, dtype=dtype)
    m, a = at.shape
    filters = u.shape[1]
    channels = x.shape[3] if nhwc else x.shape[1]
    cg, fg = channels // groups, filters // groups
    n_img = x.shape[0]
    out_h, out_w = (out.shape[1], out.shape[2]) if nhwc else (out.shape[2], out.shape[3])
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    # ut[j, i] = U[i, j]: the transforms below give the a x a tile transposed
    # (see the input transform), so the weight is indexed the same way.
    ut = u.reshape(a, a, filters, cg).swapaxes(0, 1)
    for n0, n1, r0, r1, c0, c1 in _boxes(n_img, tiles_h, tiles_w, chunk):
        nb, rb, cb = n1 - n0, r1 - r0, c1 - c0
        count = nb * rb * cb
        # Tile (r, s) reads input rows r*m - pad_top + k and columns
        # s*m - pad_left + l, k, l < a: the box needs rb*m + 2 rows and
        # cb*m + 2 columns (neighbouring tiles share 2 of each).
        block = _block(x, nhwc, n0, n1, r0 * m - pad_top, c0 * m - pad_left,
                       rb * m + 2, cb * m + 2)
        if not np.isfinite(block).all():
            return False
        s_n, s_h, s_w, s_c = block.strides
        # Input transform, rows: view (n, r, k, column, C) of the block, k-th
        # row of tile row r at block row r*m + k (the windows overlap, so a
        # strided view, not a reshape); contract k with B^T -> (i, n, r,
        # column, C).
        rows = _as_strided(block, shape=(nb, rb, a, cb * m + 2, channels),
                           strides=(s_n, m * s_h, s_h, s_w, s_c), writeable=False)
        t = np.tensordot(bt, rows, axes=(1, 2))
        # Columns: the same windows along the columns, (i, n, r, s, l, C);
        # contracting l puts j in front: v[j, i] = (B^T d B)[i, j], each tile
        # transposed -- which the GEMMs and the output transform follow.
        s_i, s_n, s_r, s_w, s_c = t.strides
        cols = _as_strided(t, shape=(a, nb, rb, cb, a, channels),
                           strides=(s_i, s_n, s_r, m * s_w, s_w, s_c), writeable=False)
        v = np.tensordot(bt, cols, axes=(1, 4)).reshape(a, a, count, channels)
        # a*a GEMMs per group, one batched matmul: M[j, i] (tiles, Fg) =
        # V[j, i] (tiles, Cg) @ U[i, j].T.
        mm = np.empty((a, a, count, filters), dtype=dtype)
        for g in range(groups):
            fs, cs = slice(g * fg, (g + 1) * fg), slice(g * cg, (g + 1) * cg)
            np.matmul(v[..., cs], ut[:, :, fs].swapaxes(-1, -2), out=mm[..., fs])
        # Output transform, rows (contract i, axis 1, with A^T: (p, j, ...)),
        # then columns (contract j: (q, p, ...)): y[q, p] = (A^T M A)[p, q].
        y = np.tensordot(at, np.tensordot(at, mm, axes=(1, 1)), axes=(1, 1))
        # (q, p, n, r, s, F) -> (n, r, p, s, q, F) = (n, rb*m rows, cb*m
        # columns, F), cropped to what lies inside the output
        # (y is this box's own fresh memory: the bias is added in place)
        y = y.reshape(m, m, nb, rb, cb, filters).transpose(2, 3, 1, 4, 0, 5)
        y = y.reshape(nb, rb * m, cb * m, filters)
        oh0, ow0 = r0 * m, c0 * m
        oh1, ow1 = min(r1 * m, out_h), min(c1 * m, out_w)
        y = y[:, :oh1 - oh0, :ow1 - ow0]
        if bias is not None:
            y += bias.astype(dtype, copy=False)
        if nhwc:
            out[n0:n1, oh0:oh1, ow0:ow1] = y
        else:
            out[n0:n1, :, oh0:oh1, ow0:ow1] = y.transpose(0, 3, 1, 2)
    return True
