"""Gradients of max and average pooling with respect to their input, in NumPy."""

from __future__ import annotations

import numpy as np

from ._slices import tap_slice as _tap_slice
from .pool import _avg_divisor, _overhang, few_windows, reads_of


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
    if few_windows(geom):
        from .pool_nd import avg_pool_windows_backward
        divisor = _avg_divisor(geom, height, width, count_include_pad, divisor_override)
        if np.ndim(divisor):
            divisor = divisor[None, :, :, None]
        share = np.divide(grad, divisor, dtype=grad.dtype, casting="unsafe")
        grad_input[...] = 0
        avg_pool_windows_backward(share[:, None], grad_input[:, None],
                                  reads_of(geom, height, width))
        return
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
