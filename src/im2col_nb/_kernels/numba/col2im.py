"""col2im: the adjoint of im2col (NCHW) and of im2row (NHWC, ``row2im``).

``col2im`` mirrors Caffe's loop order; one ``prange`` task per output plane
owns that plane, so the scatter-add has no races and a fixed order.
``row2im_nhwc`` is written as a gather: one task per input row ``(n, h)``
collects every patch entry read from that row (no atomics, deterministic).
It *adds* into its output, so the caller zeroes the output once and can then
feed the patch matrix in chunks of output rows.
"""

from __future__ import annotations

from numba import njit, prange

from ._jit import JIT_OPTIONS as _JIT
from ._jit import valid_range as _valid_range


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


def col2im(cols, out, geom):
    """Overwrite `out` (N, C, H, W) with the sum of the patches in `cols`."""
    _col2im_nchw(cols, out, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 geom.out_h, geom.out_w)


@njit(parallel=True, **_JIT)
def _row2im_nhwc(rows, x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                 dilation_h, dilation_w, row_start, row_count, out_w, groups):
    # rows: (N, row_count*out_w, C*kh*kw), columns ordered
    # (group, ki, kj, channel-in-group) as _im2row_nhwc writes them.
    # x: (N, H, W, C), accumulated into.
    n_img, height, width, channels = x.shape
    cg = channels // groups
    kk = kernel_h * kernel_w
    for task in prange(n_img * height):
        n = task // height
        h = task - n * height
        for ki in range(kernel_h):
            # output row oh reads input row h through tap ki when
            # oh*stride_h + ki*dilation_h - pad_top == h
            t = h + pad_top - ki * dilation_h
            if t < 0 or t % stride_h != 0:
                continue
            oh = t // stride_h
            if oh < row_start or oh >= row_start + row_count:
                continue
            i = oh - row_start
            for kj in range(kernel_w):
                w_off = kj * dilation_w - pad_left
                j_lo, j_hi = _valid_range(w_off, stride_w, width, out_w)
                for j in range(j_lo, j_hi):
                    src = rows[n, i * out_w + j]
                    dest = x[n, h, j * stride_w + w_off]
                    for g in range(groups):
                        base = (g * kk + ki * kernel_w + kj) * cg
                        for ch in range(cg):
                            dest[g * cg + ch] += src[base + ch]


def row2im_nhwc(rows, x, geom, groups, row_start, row_count):
    """Add the patches in `rows` (B, row_count*OW, C*kh*kw), which belong to
    output rows [row_start, row_start + row_count), into `x` (B, H, W, C)."""
    _row2im_nhwc(rows, x, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
                 geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w,
                 row_start, row_count, geom.out_w, groups)
