"""The interface of the NumPy backend: vectorised fallback when numba is missing.

Same module and function names as the Numba backend (``_kernels/numba``),
minus its ``NUMBA_ONLY`` kernels. Nothing here imports numba. Each function
moves whole strided slices (im2col: one strided window view of a padded
block, copied at once; the others loop over the kh*kw kernel taps), so the
Python overhead is independent of the image size.
"""

from .col2im import col2im, row2im_nhwc
from .direct import conv2d_direct_nchw, conv2d_direct_nhwc, weight_grad_direct_nchw
from .gemm import scatter_folded
from .im2col import im2col, im2col_tile
from .im2row import im2row_nhwc, im2row_tile
from .pool import avg_pool2d_direct, max_pool2d_direct
from .pool_backward import avg_pool2d_backward, max_pool2d_backward
from .pool_nd import avg_pool_nd, avg_pool_nd_backward, max_pool_nd, max_pool_nd_backward
from .unfold_nd import col2im_nd, im2col_nd
from .unfold_strided import col2im_strided, first_touch, im2col_strided
from .pool_reduce import (
    avg_pool2d_reduce_cols,
    avg_pool2d_reduce_rows,
    max_pool2d_reduce_cols,
    max_pool2d_reduce_rows,
)

NAME = "numpy"

__all__ = [
    "NAME",
    "avg_pool2d_backward", "avg_pool2d_direct", "avg_pool2d_reduce_cols", "avg_pool2d_reduce_rows",
    "col2im", "col2im_nd", "col2im_strided", "first_touch", "im2col_strided",
    "conv2d_direct_nchw", "conv2d_direct_nhwc", "weight_grad_direct_nchw", "im2col", "im2col_nd",
    "im2col_tile", "im2row_nhwc",
    "im2row_tile", "max_pool2d_backward", "max_pool2d_direct", "max_pool2d_reduce_cols",
    "max_pool2d_reduce_rows", "row2im_nhwc", "scatter_folded",
    "avg_pool_nd", "avg_pool_nd_backward", "max_pool_nd", "max_pool_nd_backward",
]
