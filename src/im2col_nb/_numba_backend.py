"""JIT-compiled parallel kernels (the default backend).

House rules for this module:

* kernels (``_name``) are private, never validate and never allocate: the
  backend functions below them take arrays already made C-contiguous
  float32/float64 by the public wrappers and pass preallocated outputs;
* ``parallel=True`` only on outer kernels, whose ``prange`` runs over
  independent output slices (rows of the patch matrix, whole planes), so no
  two iterations ever write the same element and results are deterministic;
* every kernel uses the one NaN-safe fastmath set and ``cache=True`` from
  ``_numba_common``.

Loop order follows Caffe's ``im2col.cpp``: channel -> kernel row -> kernel
column -> output row -> output column, with the valid output-column range for
each kernel column hoisted out of the inner loop, and col2im as a
line-for-line mirror of im2col.
"""

from __future__ import annotations

from numba import njit, prange

from ._numba_common import JIT_OPTIONS as _JIT
from ._numba_common import valid_range as _valid_range


@njit(parallel=True, **_JIT)
def _im2col_nchw(x, cols, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, row_start, row_count, out_w):
    # One prange task per patch-matrix row (n, c, ki, kj): each writes only
    # its own row, so the tasks are independent.
    n_img, channels, height, width = x.shape
    rows_per_image = channels * kernel_h * kernel_w
    for task in prange(n_img * rows_per_image):
        n = task // rows_per_image
        r = task - n * rows_per_image
        c = r // (kernel_h * kernel_w)
        ki = (r // kernel_w) % kernel_h
        kj = r % kernel_w
        dest = cols[n, r]
        h_off = ki * dilation_h - pad_top
        w_off = kj * dilation_w - pad_left
        j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
        for i in range(row_count):
            h = (row_start + i) * stride_h + h_off
            base = i * out_w
            if h < 0 or h >= height:
                for j in range(out_w):
                    dest[base + j] = 0.0
            else:
                src = x[n, c, h]
                for j in range(j_lo):
                    dest[base + j] = 0.0
                for j in range(j_lo, j_hi):
                    dest[base + j] = src[j * stride_w + w_off]
                for j in range(j_hi, out_w):
                    dest[base + j] = 0.0


@njit(parallel=True, **_JIT)
def _col2im_nchw(cols, out, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, out_h, out_w):
    # Mirror of _im2col_nchw. One prange task per output plane (n, c): a task
    # owns its plane, so the scatter-add has no races and a fixed order.
    n_img, channels, height, width = out.shape
    for task in prange(n_img * channels):
        n = task // channels
        c = task - n * channels
        plane = out[n, c]
        for h in range(height):
            for w in range(width):
                plane[h, w] = 0.0
        for ki in range(kernel_h):
            h_off = ki * dilation_h - pad_top
            i_lo, i_hi = _valid_range(h_off, stride_h, height, out_h)
            for kj in range(kernel_w):
                w_off = kj * dilation_w - pad_left
                j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                src = cols[n, (c * kernel_h + ki) * kernel_w + kj]
                for i in range(i_lo, i_hi):
                    dest = plane[i * stride_h + h_off]
                    base = i * out_w
                    for j in range(j_lo, j_hi):
                        dest[j * stride_w + w_off] += src[base + j]


@njit(parallel=True, **_JIT)
def _im2row_nhwc(x, rows, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, row_start, row_count, out_w, groups):
    # NHWC patch matrix: one row per output pixel, columns ordered
    # (group, ki, kj, channel-in-group), so a group's columns are contiguous
    # and each (ki, kj) tap copies a contiguous run of channels.
    n_img, height, width, channels = x.shape
    cg = channels // groups
    kk = kernel_h * kernel_w
    for task in prange(n_img * row_count):
        n = task // row_count
        i = task - n * row_count
        oh = row_start + i
        for j in range(out_w):
            dest = rows[n, i * out_w + j]
            for ki in range(kernel_h):
                h = oh * stride_h + ki * dilation_h - pad_top
                inside_h = 0 <= h < height
                for kj in range(kernel_w):
                    w = j * stride_w + kj * dilation_w - pad_left
                    inside = inside_h and 0 <= w < width
                    for g in range(groups):
                        base = (g * kk + ki * kernel_w + kj) * cg
                        if inside:
                            src = x[n, h, w]
                            for ch in range(cg):
                                dest[base + ch] = src[g * cg + ch]
                        else:
                            for ch in range(cg):
                                dest[base + ch] = 0.0


@njit(parallel=True, **_JIT)
def _conv_direct_nchw(x, weight, out, stride_h, stride_w, pad_top, pad_left,
                      dilation_h, dilation_w, groups):
    # Direct convolution: one prange task per (image, filter) output plane.
    # For each tap (c, ki, kj) the weight is a scalar and the inner loop is a
    # contiguous axpy over an output row (vectorised when stride_w == 1), with
    # the valid column range hoisted so the inner loop has no branches.
    n_img, channels, height, width = x.shape
    filters, cg, kernel_h, kernel_w = weight.shape
    out_h = out.shape[2]
    out_w = out.shape[3]
    fg = filters // groups
    for task in prange(n_img * filters):
        n = task // filters
        f = task - n * filters
        g = f // fg
        plane = out[n, f]
        for i in range(out_h):
            for j in range(out_w):
                plane[i, j] = 0.0
        for cc in range(cg):
            c = g * cg + cc
            for ki in range(kernel_h):
                h_off = ki * dilation_h - pad_top
                i_lo, i_hi = _valid_range(h_off, stride_h, height, out_h)
                for kj in range(kernel_w):
                    w_off = kj * dilation_w - pad_left
                    j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                    wv = weight[f, cc, ki, kj]
                    for i in range(i_lo, i_hi):
                        src = x[n, c, i * stride_h + h_off]
                        dest = plane[i]
                        for j in range(j_lo, j_hi):
                            dest[j] += wv * src[j * stride_w + w_off]


@njit(parallel=True, **_JIT)
def _conv_direct_nhwc(x, weight_hwcf, out, stride_h, stride_w, pad_top, pad_left,
                      dilation_h, dilation_w, groups):
    # NHWC direct convolution; weight pre-arranged as (kh, kw, C/groups, F) so
    # the inner loop runs over contiguous filters of one group.
    n_img, height, width, channels = x.shape
    kernel_h, kernel_w, cg, filters = weight_hwcf.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    fg = filters // groups
    for task in prange(n_img * out_h):
        n = task // out_h
        i = task - n * out_h
        for j in range(out_w):
            dest = out[n, i, j]
            for f in range(filters):
                dest[f] = 0.0
            for ki in range(kernel_h):
                h = i * stride_h + ki * dilation_h - pad_top
                if h < 0 or h >= height:
                    continue
                for kj in range(kernel_w):
                    w = j * stride_w + kj * dilation_w - pad_left
                    if w < 0 or w >= width:
                        continue
                    src = x[n, h, w]
                    taps = weight_hwcf[ki, kj]
                    for g in range(groups):
                        for cc in range(cg):
                            xv = src[g * cg + cc]
                            tap = taps[cc]
                            for f in range(g * fg, (g + 1) * fg):
                                dest[f] += xv * tap[f]


# ---------------------------------------------------------------------------
# Backend interface: the same names and signatures as _numpy_backend.
# Inputs are validated, C-contiguous float32/float64; outputs preallocated.
# ---------------------------------------------------------------------------

NAME = "numba"


def im2col(x, cols, geom, row_start, row_count):
    """Fill `cols` (B, C*kh*kw, row_count*OW) with the patches of output rows
    [row_start, row_start + row_count) of `x` (B, C, H, W)."""
    _im2col_nchw(x, cols, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 row_start, row_count, geom.out_w)


def col2im(cols, out, geom):
    """Overwrite `out` (N, C, H, W) with the sum of the patches in `cols`."""
    _col2im_nchw(cols, out, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 geom.out_h, geom.out_w)


def im2row_nhwc(x, rows, geom, groups, row_start, row_count):
    """Fill `rows` (B, row_count*OW, C*kh*kw) from `x` (B, H, W, C); columns
    ordered (group, ki, kj, channel-in-group)."""
    _im2row_nhwc(x, rows, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 row_start, row_count, geom.out_w, groups)


def conv2d_direct_nchw(x, weight, out, geom, groups):
    """Direct convolution into `out` (N, F, OH, OW)."""
    _conv_direct_nchw(x, weight, out, geom.stride_h, geom.stride_w, geom.pad_top,
                      geom.pad_left, geom.dilation_h, geom.dilation_w, groups)


def conv2d_direct_nhwc(x, weight_hwcf, out, geom, groups):
    """Direct convolution of `x` (N, H, W, C) into `out` (N, OH, OW, F)."""
    _conv_direct_nhwc(x, weight_hwcf, out, geom.stride_h, geom.stride_w, geom.pad_top,
                      geom.pad_left, geom.dilation_h, geom.dilation_w, groups)


# Feature modules (pooling, gradients, ...) keep their kernels in their own
# ``_numba_<feature>.py`` files; the backend namespace re-exports them here.
from ._numba_pool import *  # noqa: F401,F403
from ._numba_grad import *  # noqa: F401,F403
