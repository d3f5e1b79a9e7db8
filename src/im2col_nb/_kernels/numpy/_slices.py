"""Index helpers shared by the NumPy kernels."""

import numpy as np


def tap_slice(offset, stride, count):
    """Slice selecting `count` positions offset, offset+stride, ..."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def padded_rows(x, geom, row_start, row_count, h_axis):
    """Zero-padded copy of the input rows that output rows
    [row_start, row_start + row_count) read, and of every column they read.

    Returns the padded block; tap (ki, kj) of output (i, j) in the chunk is at
    block[..., i*stride_h + ki*dilation_h, j*stride_w + kj*dilation_w, ...].
    """
    height, width = x.shape[h_axis], x.shape[h_axis + 1]
    first = row_start * geom.stride_h - geom.pad_top
    stop = (row_start + row_count - 1) * geom.stride_h + geom.dilation_h * (geom.kernel_h - 1) - geom.pad_top + 1
    right = max(0, (geom.out_w - 1) * geom.stride_w + geom.dilation_w * (geom.kernel_w - 1) + 1
                - geom.pad_left - width)
    lo = min(max(first, 0), height)
    hi = max(min(stop, height), lo)
    block = x[(slice(None),) * h_axis + (slice(lo, hi),)]
    top = min(max(0, -first), stop - first)  # rows wholly in the padding count once
    pads = [(0, 0)] * x.ndim
    pads[h_axis] = (top, (stop - first) - top - (hi - lo))
    pads[h_axis + 1] = (geom.pad_left, right)
    return np.pad(block, pads)
