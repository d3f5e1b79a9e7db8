"""Max and average pooling, direct, in NumPy: one strided slice per window tap
(or, where a window has more taps than there are windows, one window at a
time by the N-D kernels of ``pool_nd.py``: `few_windows`).

Taps are visited in row-major window order with PyTorch's update rule
``v > best or isnan(v)``, which gives the same results, ties and NaN
handling as the Numba kernels and ``torch.nn.functional``.
"""

from __future__ import annotations

import numpy as np

from ..._core.dtypes import lowest

from ._slices import tap_slice as _tap_slice


def few_windows(geom) -> bool:
    """More taps per window than windows: loop over the windows instead."""
    return geom.kernel_area > geom.out_area


def _real_taps(size, kernel, stride, pad, dilation, out):
    """Per window along one axis, the input positions its real taps read."""
    reads = []
    for o in range(out):
        start = o * stride - pad
        k0 = max(0, -(start // dilation)) if start < 0 else 0
        k1 = min(kernel, -(-(size - start) // dilation))
        reads.append(start + dilation * np.arange(k0, max(k0, k1), dtype=np.int64))
    return reads


def reads_of(geom, height, width):
    """`pool_nd.reads_of` for a 2-D `geom` (a unit depth axis first), from
    the geometry alone: no (kernel, out) table."""
    return [[np.zeros(1, dtype=np.int64)],
            _real_taps(height, geom.kernel_h, geom.stride_h, geom.pad_top, geom.dilation_h,
                       geom.out_h),
            _real_taps(width, geom.kernel_w, geom.stride_w, geom.pad_left, geom.dilation_w,
                       geom.out_w)]


def _first_real(starts, dilation):
    """Position of the first tap at or after 0 of windows starting at
    `starts` (validation guarantees it lies inside the input)."""
    skip = np.where(starts >= 0, 0, (-starts + dilation - 1) // dilation)
    return starts + skip * dilation


def _overhang(out, stride, kernel, dilation, pad, size):
    """Padding needed after the input so every window fits (ceil_mode windows
    may run past the nominal padding)."""
    return max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - pad - size)


def _pad_hw(x, geom, fill):
    """`x` (N, H, W, C) padded on H and W so that tap (ki, kj) of output
    (i, j) sits at [i*sh + ki*dh, j*sw + kj*dw]."""
    _, height, width, _ = x.shape
    bottom = _overhang(geom.out_h, geom.stride_h, geom.kernel_h, geom.dilation_h, geom.pad_top, height)
    right = _overhang(geom.out_w, geom.stride_w, geom.kernel_w, geom.dilation_w, geom.pad_left, width)
    if geom.pad_top == geom.pad_left == bottom == right == 0:
        return x
    return np.pad(x, ((0, 0), (geom.pad_top, bottom), (geom.pad_left, right), (0, 0)),
                  constant_values=fill)


def _avg_counts(out, stride, pad, pad_high, kernel, size, count_include_pad):
    starts = np.arange(out) * stride - pad
    ends = np.minimum(starts + kernel, size + pad_high)
    if count_include_pad:
        return ends - starts
    return np.minimum(ends, size) - np.maximum(starts, 0)


def _avg_divisor(geom, height, width, count_include_pad, divisor_override, rows=None):
    """Divisor for each output position, shape (OH, OW) (or the `rows` slice)."""
    if divisor_override:
        return divisor_override
    ch = _avg_counts(geom.out_h, geom.stride_h, geom.pad_top, geom.pad_bottom, geom.kernel_h,
                     height, count_include_pad)
    cw = _avg_counts(geom.out_w, geom.stride_w, geom.pad_left, geom.pad_right, geom.kernel_w,
                     width, count_include_pad)
    if rows is not None:
        ch = ch[rows]
    return (ch[:, None] * cw[None, :]).astype(np.float64)


def _tap_positions(geom, ki, kj, row_start, row_count):
    """Input row / column of tap (ki, kj) for output rows [row_start,
    row_start + row_count) and all output columns."""
    hs = (np.arange(row_start, row_start + row_count) * geom.stride_h - geom.pad_top
          + ki * geom.dilation_h)
    ws = np.arange(geom.out_w) * geom.stride_w - geom.pad_left + kj * geom.dilation_w
    return hs, ws


def _first_index(geom, width, row_start, row_count):
    hs = np.arange(row_start, row_start + row_count) * geom.stride_h - geom.pad_top
    ws = np.arange(geom.out_w) * geom.stride_w - geom.pad_left
    return (_first_real(hs, geom.dilation_h)[:, None] * width
            + _first_real(ws, geom.dilation_w)[None, :])


def _update(dest, idx, v, flat, valid):
    """One tap of the max reduction: take v where v > best or v is NaN."""
    if idx is None:
        # Values only: np.maximum keeps the first operand on ties and
        # propagates NaN, so the values equal those of the rule below.
        np.maximum(dest, v, out=dest, where=True if valid is None else valid)
        return
    take = v > dest
    take |= np.isnan(v)
    if valid is not None:
        take &= valid
    np.copyto(dest, v, where=take)
    if idx is not None:
        np.copyto(idx, flat, where=take)


# ---------------------------------------------------------------------------
# direct forward
# ---------------------------------------------------------------------------


def max_pool2d_direct(x, out, indices, geom):
    _, height, width, _ = x.shape
    want = indices.shape[0] > 0
    out[...] = lowest(x.dtype)
    if want:
        indices[...] = _first_index(geom, width, 0, geom.out_h)[None, :, :, None]
    if few_windows(geom):
        from .pool_nd import max_pool_windows
        max_pool_windows(x[:, None], out[:, None], indices[:, None], reads_of(geom, height, width))
        return
    padded = _pad_hw(x, geom, lowest(x.dtype))
    for ki in range(geom.kernel_h):
        rows = _tap_slice(ki * geom.dilation_h, geom.stride_h, geom.out_h)
        for kj in range(geom.kernel_w):
            cols = _tap_slice(kj * geom.dilation_w, geom.stride_w, geom.out_w)
            flat = None
            if want:
                hs, ws = _tap_positions(geom, ki, kj, 0, geom.out_h)
                flat = (hs[:, None] * width + ws[None, :])[None, :, :, None]
            # padding taps are -inf: never greater, never NaN, never taken
            _update(out, indices if want else None, padded[:, rows, cols, :], flat, None)


def avg_pool2d_direct(x, out, geom, count_include_pad, divisor_override):
    _, height, width, _ = x.shape
    if few_windows(geom):
        from .pool_nd import avg_pool_windows
        avg_pool_windows(x[:, None], out[:, None], reads_of(geom, height, width))
    else:
        padded = _pad_hw(x, geom, 0.0)
        out[...] = 0.0
        for ki in range(geom.kernel_h):
            rows = _tap_slice(ki, geom.stride_h, geom.out_h)
            for kj in range(geom.kernel_w):
                cols = _tap_slice(kj, geom.stride_w, geom.out_w)
                out += padded[:, rows, cols, :]
    divisor = _avg_divisor(geom, height, width, count_include_pad, divisor_override)
    if np.ndim(divisor):
        divisor = divisor[None, :, :, None]
    np.divide(out, divisor, out=out, casting="unsafe")
