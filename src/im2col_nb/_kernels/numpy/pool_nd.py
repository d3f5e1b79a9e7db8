"""Max and average pooling over three spatial axes, forward and backward, in NumPy.

The windows are described by one index table per axis (``_core/padmap.py``,
``axis_table``): ``table[k, o]`` is the input position tap k of window o
reads, -1 in the padding, -2 past it (a ceil_mode overhang). Arrays are
channels-last, ``(N, D, H, W, C)``; a channels-first batch comes in as
``(N*C, D, H, W, 1)``. 1-D and 2-D problems use unit axes (a (1, 1) table
of 0).

Each function loops over the ``kd*kh*kw`` window taps and moves whole
arrays per tap -- or, where there are more taps than windows (a huge
kernel, a small output), over the windows, reducing each gathered window
at once (`_by_windows`), so the Python loop never runs more than
``min(taps, windows)`` times: the input gets one extra slab at the end of each spatial
axis holding the padding value (-inf for max, 0 for average), and padding
entries of the tables point there, so one fancy index gathers a tap for
every window at once. Taps are visited in row-major window order with
PyTorch's update rule ``v > best or isnan(v)``: the same values, indices,
ties and NaN handling as the Numba kernels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..._core.dtypes import lowest

from .pool import _update
from .pool_backward import max_pool2d_backward as _scatter

__all__ = ["AxisRuns", "avg_pool_nd", "avg_pool_nd_backward", "axis_runs", "max_pool_nd",
           "max_pool_nd_backward"]


class AxisRuns(NamedTuple):
    """What the kernels read off one axis table (kernel, out), all int64.

    Window o reads real input with taps ``[k_lo[o], k_hi[o])``; tap k reads
    real input for windows ``[o_lo[k], o_hi[k])`` (both runs are contiguous:
    positions grow with k and with o). ``count_pad[o]`` counts the window's
    taps that are input or padding (not past it), ``count_real[o]`` its
    input taps: the per-axis factors of the average's divisor. ``step`` is
    the distance between the positions of consecutive windows (the stride).
    """

    k_lo: np.ndarray
    k_hi: np.ndarray
    o_lo: np.ndarray
    o_hi: np.ndarray
    count_pad: np.ndarray
    count_real: np.ndarray
    step: int


def axis_runs(table: np.ndarray) -> AxisRuns:
    """The `AxisRuns` of one index table."""
    real = table >= 0
    count_real = real.sum(axis=0, dtype=np.int64)
    k_lo = real.argmax(axis=0).astype(np.int64)
    per_tap = real.sum(axis=1, dtype=np.int64)
    o_lo = real.argmax(axis=1).astype(np.int64)
    o_hi = np.where(per_tap > 0, o_lo + per_tap, o_lo)
    count_pad = (table != -2).sum(axis=0, dtype=np.int64)
    step = 1
    runs = np.nonzero(per_tap >= 2)[0]
    if runs.size:
        k = runs[0]
        step = int(table[k, o_lo[k] + 1] - table[k, o_lo[k]])
    return AxisRuns(k_lo, k_lo + count_real, o_lo, o_hi, count_pad, count_real, step)


def _gather_tables(tables, sizes):
    """The tables with every padding entry pointing at the extra slab."""
    return [np.where(t >= 0, t, n) for t, n in zip(tables, sizes)]


def _extended(x, fill):
    """`x` (N, D, H, W, C) with one slab of `fill` after each spatial axis."""
    return np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 1), (0, 0)), constant_values=fill)


def _divisor(tables, count_include_pad, divisor_override):
    """Divisor of every window, (OD, OH, OW, 1) float64, or the override."""
    if divisor_override:
        return divisor_override
    counts = [axis_runs(t).count_pad if count_include_pad else axis_runs(t).count_real
              for t in tables]
    return (counts[0][:, None, None] * counts[1][None, :, None]
            * counts[2][None, None, :]).astype(np.float64)[..., None]


def _taps(tables):
    """(a, b, c) of every window tap in row-major order."""
    kd, kh, kw = (t.shape[0] for t in tables)
    for a in range(kd):
        for b in range(kh):
            for c in range(kw):
                yield a, b, c


def _by_windows(tables) -> bool:
    """Loop over the windows rather than the taps: there are fewer."""
    taps = tables[0].shape[0] * tables[1].shape[0] * tables[2].shape[0]
    return taps > tables[0].shape[1] * tables[1].shape[1] * tables[2].shape[1]


def reads_of(tables):
    """Per axis, per window, the input positions its real taps read (taps
    in the padding, which add nothing to a sum or a maximum, left out)."""
    runs = [axis_runs(t) for t in tables]
    return [[t[r.k_lo[o]:r.k_hi[o], o] for o in range(t.shape[1])]
            for t, r in zip(tables, runs)]


def _windows(reads):
    """(a, b, c) of every window with a real tap, row-major, and the
    positions its taps read along each axis (`reads_of`)."""
    for a, pd in enumerate(reads[0]):
        for b, ph in enumerate(reads[1]):
            for c, pw in enumerate(reads[2]):
                if pd.size and ph.size and pw.size:
                    yield a, b, c, (pd, ph, pw)


def _window(x, pos):
    """The real taps of one window of `x`: (N, taps, C), taps row-major."""
    pd, ph, pw = pos
    v = x[:, pd[:, None, None], ph[None, :, None], pw[None, None, :], :]
    return v.reshape(v.shape[0], -1, v.shape[-1])


def max_pool_windows(x, out, indices, reads):
    """Max pool `x` (N, D, H, W, C) one window at a time (`reads`: see
    `reads_of`), PyTorch's rule on the whole window: the last NaN if there
    is one, else the first maximum. `out` must hold -inf (the lowest value)
    and `indices` (unless empty) each window's first real tap, which a
    window with no value above -inf keeps."""
    _, _, height, width, _ = x.shape
    want = indices.shape[0] > 0
    for a, b, c, (pd, ph, pw) in _windows(reads):
        v = _window(x, (pd, ph, pw))
        best = v.max(axis=1)                        # propagates NaN
        out[:, a, b, c, :] = best
        if not want:
            continue
        flat = ((pd[:, None, None] * height + ph[None, :, None]) * width
                + pw[None, None, :]).ravel()
        nan = np.isnan(v) if v.dtype.kind in "fc" else np.zeros(v.shape, dtype=bool)
        any_nan = nan.any(axis=1)
        last_nan = v.shape[1] - 1 - nan[:, ::-1, :].argmax(axis=1)
        pick = np.where(any_nan, last_nan, v.argmax(axis=1))
        taken = any_nan | (best > lowest(v.dtype))
        np.copyto(indices[:, a, b, c, :], flat[pick], where=taken)


def avg_pool_windows(x, out, reads):
    """`out` (N, OD, OH, OW, C) overwritten with each window's sum of `x`
    (N, D, H, W, C), one window at a time (the caller divides)."""
    out[...] = 0
    for a, b, c, pos in _windows(reads):
        out[:, a, b, c, :] = _window(x, pos).sum(axis=1)


def avg_pool_windows_backward(share, acc, reads):
    """Add each window's `share` (N, OD, OH, OW, C) to every input position
    it reads in `acc` (N, D, H, W, C), one window at a time."""
    for a, b, c, (pd, ph, pw) in _windows(reads):
        # a window reads distinct positions (dilation >= 1)
        acc[:, pd[:, None, None], ph[None, :, None], pw[None, None, :], :] \
            += share[:, a, b, c, None, None, None, :]


# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------


def max_pool_nd(x, out, indices, tables):
    """Max pool `x` (N, D, H, W, C) into `out` (N, OD, OH, OW, C) through the
    index `tables` (td, th, tw); flat ``(d*H + h)*W + w`` positions of the
    maxima into `indices` (same shape, int64) unless it is empty."""
    _, depth, height, width, _ = x.shape
    td, th, tw = tables
    gd, gh, gw = _gather_tables(tables, (depth, height, width))
    xe = _extended(x, lowest(x.dtype))
    want = indices.shape[0] > 0
    out[...] = lowest(x.dtype)
    if want:
        # a window of -inf (or all padding but one tap) reports its first real tap
        first = [t[axis_runs(t).k_lo, np.arange(t.shape[1])] for t in tables]
        indices[...] = ((first[0][:, None, None] * height + first[1][None, :, None]) * width
                        + first[2][None, None, :])[None, ..., None]
    if _by_windows(tables):
        max_pool_windows(x, out, indices, reads_of(tables))
        return
    for a, b, c in _taps(tables):
        v = xe[:, gd[a][:, None, None], gh[b][None, :, None], gw[c][None, None, :], :]
        flat = None
        if want:
            # padding taps hold -inf: never taken, so their (wrong) flat is unused
            flat = ((td[a][:, None, None] * height + th[b][None, :, None]) * width
                    + tw[c][None, None, :])[None, ..., None]
        _update(out, indices if want else None, v, flat, None)


def avg_pool_nd(x, out, tables, count_include_pad, divisor_override):
    """Average pool `x` (N, D, H, W, C) into `out` (N, OD, OH, OW, C);
    `divisor_override` 0 means none."""
    _, depth, height, width, _ = x.shape
    gd, gh, gw = _gather_tables(tables, (depth, height, width))
    xe = _extended(x, 0.0)
    out[...] = 0.0
    if _by_windows(tables):
        avg_pool_windows(x, out, reads_of(tables))
    for a, b, c in ([] if _by_windows(tables) else _taps(tables)):
        out += xe[:, gd[a][:, None, None], gh[b][None, :, None], gw[c][None, None, :], :]
    np.divide(out, _divisor(tables, count_include_pad, divisor_override), out=out,
              casting="unsafe")


# ---------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------


def max_pool_nd_backward(grad, indices, grad_input):
    """Overwrite `grad_input` (N, V, C) with the scatter-add of `grad`
    (N, L, C) at the flat volume positions `indices` (N, L, C, int64,
    already range-checked)."""
    _scatter(grad, indices, grad_input)


def avg_pool_nd_backward(grad, grad_input, tables, count_include_pad, divisor_override):
    """Overwrite `grad_input` (N, D, H, W, C) with the average-pool gradient
    of `grad` (N, OD, OH, OW, C): the adjoint of `avg_pool_nd`."""
    n_img, depth, height, width, channels = grad_input.shape
    gd, gh, gw = _gather_tables(tables, (depth, height, width))
    acc = np.zeros((n_img, depth + 1, height + 1, width + 1, channels), dtype=grad_input.dtype)
    share = np.divide(grad, _divisor(tables, count_include_pad, divisor_override),
                      dtype=grad.dtype, casting="unsafe")
    if _by_windows(tables):
        avg_pool_windows_backward(share, acc, reads_of(tables))
    for a, b, c in ([] if _by_windows(tables) else _taps(tables)):
        # one tap reads distinct positions in distinct windows (strides >= 1),
        # so a buffered += adds each share once; only the padding slab collides
        acc[:, gd[a][:, None, None], gh[b][None, :, None], gw[c][None, None, :], :] += share
    grad_input[...] = acc[:, :depth, :height, :width, :]
