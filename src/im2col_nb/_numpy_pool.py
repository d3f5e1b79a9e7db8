"""Vectorised NumPy twins of the ``_numba_pool`` kernels (never imports numba).

Same names and signatures as ``_numba_pool``; re-exported by
``_numpy_backend``. Every function loops only over the kh*kw window taps and
processes whole strided slices per tap, so Python overhead does not grow with
the image. Taps are visited in row-major window order with PyTorch's update
rule ``v > best or isnan(v)``, which gives the same results, ties and NaN
handling as the Numba kernels and ``torch.nn.functional``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "avg_pool2d_backward",
    "avg_pool2d_direct",
    "avg_pool2d_reduce_cols",
    "avg_pool2d_reduce_rows",
    "max_pool2d_backward",
    "max_pool2d_direct",
    "max_pool2d_reduce_cols",
    "max_pool2d_reduce_rows",
]


def _tap_slice(offset, stride, count):
    return slice(offset, offset + stride * (count - 1) + 1, stride)


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


def _avg_counts(out, stride, pad, kernel, size, count_include_pad):
    starts = np.arange(out) * stride - pad
    ends = np.minimum(starts + kernel, size + pad)
    if count_include_pad:
        return ends - starts
    return np.minimum(ends, size) - np.maximum(starts, 0)


def _avg_divisor(geom, height, width, count_include_pad, divisor_override, rows=None):
    """Divisor for each output position, shape (OH, OW) (or the `rows` slice)."""
    if divisor_override:
        return divisor_override
    ch = _avg_counts(geom.out_h, geom.stride_h, geom.pad_top, geom.kernel_h, height, count_include_pad)
    cw = _avg_counts(geom.out_w, geom.stride_w, geom.pad_left, geom.kernel_w, width, count_include_pad)
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
    padded = _pad_hw(x, geom, -np.inf)
    want = indices.shape[0] > 0
    out[...] = -np.inf
    if want:
        indices[...] = _first_index(geom, width, 0, geom.out_h)[None, :, :, None]
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


# ---------------------------------------------------------------------------
# im2col-method reducers
# ---------------------------------------------------------------------------


def _tap_valid(geom, ki, kj, height, width, row_start, row_count):
    hs, ws = _tap_positions(geom, ki, kj, row_start, row_count)
    valid = ((hs >= 0) & (hs < height))[:, None] & ((ws >= 0) & (ws < width))[None, :]
    return hs, ws, valid


def max_pool2d_reduce_cols(cols, out, indices, geom, height, width, n_start, row_start):
    n_b = cols.shape[0]
    channels = out.shape[1]
    row_count = cols.shape[2] // geom.out_w
    view = cols.reshape(n_b, channels, geom.kernel_h * geom.kernel_w, row_count, geom.out_w)
    part = (slice(n_start, n_start + n_b), slice(None), slice(row_start, row_start + row_count))
    dest = out[part]
    want = indices.shape[0] > 0
    idx = indices[part] if want else None
    dest[...] = -np.inf
    if want:
        idx[...] = _first_index(geom, width, row_start, row_count)
    for ki in range(geom.kernel_h):
        for kj in range(geom.kernel_w):
            hs, ws, valid = _tap_valid(geom, ki, kj, height, width, row_start, row_count)
            flat = hs[:, None] * width + ws[None, :] if want else None
            # im2col wrote zeros for padding taps: mask them out (-inf)
            _update(dest, idx, view[:, :, ki * geom.kernel_w + kj], flat, valid)


def max_pool2d_reduce_rows(rows, out, indices, geom, height, width, n_start, row_start):
    n_b = rows.shape[0]
    channels = out.shape[3]
    row_count = rows.shape[1] // geom.out_w
    view = rows.reshape(n_b, row_count, geom.out_w, geom.kernel_h * geom.kernel_w, channels)
    part = (slice(n_start, n_start + n_b), slice(row_start, row_start + row_count))
    dest = out[part]
    want = indices.shape[0] > 0
    idx = indices[part] if want else None
    dest[...] = -np.inf
    if want:
        idx[...] = _first_index(geom, width, row_start, row_count)[:, :, None]
    for ki in range(geom.kernel_h):
        for kj in range(geom.kernel_w):
            hs, ws, valid = _tap_valid(geom, ki, kj, height, width, row_start, row_count)
            flat = (hs[:, None] * width + ws[None, :])[:, :, None] if want else None
            _update(dest, idx, view[:, :, :, ki * geom.kernel_w + kj], flat, valid[:, :, None])


def avg_pool2d_reduce_cols(cols, out, geom, height, width, n_start, row_start,
                           count_include_pad, divisor_override):
    n_b = cols.shape[0]
    channels = out.shape[1]
    row_count = cols.shape[2] // geom.out_w
    view = cols.reshape(n_b, channels, geom.kernel_h * geom.kernel_w, row_count, geom.out_w)
    dest = out[n_start:n_start + n_b, :, row_start:row_start + row_count]
    view.sum(axis=2, out=dest)   # padding taps are zeros in cols
    divisor = _avg_divisor(geom, height, width, count_include_pad, divisor_override,
                           slice(row_start, row_start + row_count))
    np.divide(dest, divisor, out=dest, casting="unsafe")


def avg_pool2d_reduce_rows(rows, out, geom, height, width, n_start, row_start,
                           count_include_pad, divisor_override):
    n_b = rows.shape[0]
    channels = out.shape[3]
    row_count = rows.shape[1] // geom.out_w
    view = rows.reshape(n_b, row_count, geom.out_w, geom.kernel_h * geom.kernel_w, channels)
    dest = out[n_start:n_start + n_b, row_start:row_start + row_count]
    view.sum(axis=3, out=dest)
    divisor = _avg_divisor(geom, height, width, count_include_pad, divisor_override,
                           slice(row_start, row_start + row_count))
    if np.ndim(divisor):
        divisor = divisor[:, :, None]
    np.divide(dest, divisor, out=dest, casting="unsafe")


# ---------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------


def max_pool2d_backward(grad, indices, grad_input):
    n_img, area, channels = grad_input.shape
    # Flat target of every gradient entry in grad_input; bincount sums in a
    # fixed order, so the result is deterministic.
    flat = indices * channels
    flat += (np.arange(n_img, dtype=np.int64) * (area * channels))[:, None, None]
    flat += np.arange(channels, dtype=np.int64)
    summed = np.bincount(flat.ravel(), weights=grad.ravel(), minlength=grad_input.size)
    grad_input[...] = summed.reshape(grad_input.shape)


def avg_pool2d_backward(grad, grad_input, geom, count_include_pad, divisor_override):
    n_img, height, width, channels = grad_input.shape
    bottom = _overhang(geom.out_h, geom.stride_h, geom.kernel_h, 1, geom.pad_top, height)
    right = _overhang(geom.out_w, geom.stride_w, geom.kernel_w, 1, geom.pad_left, width)
    acc = np.zeros((n_img, geom.pad_top + height + bottom, geom.pad_left + width + right, channels),
                   dtype=grad_input.dtype)
    divisor = _avg_divisor(geom, height, width, count_include_pad, divisor_override)
    if np.ndim(divisor):
        divisor = divisor[None, :, :, None]
    share = np.divide(grad, divisor, dtype=grad.dtype, casting="unsafe")
    for ki in range(geom.kernel_h):
        rows = _tap_slice(ki, geom.stride_h, geom.out_h)
        for kj in range(geom.kernel_w):
            cols = _tap_slice(kj, geom.stride_w, geom.out_w)
            acc[:, rows, cols, :] += share
    grad_input[...] = acc[:, geom.pad_top:geom.pad_top + height, geom.pad_left:geom.pad_left + width, :]
