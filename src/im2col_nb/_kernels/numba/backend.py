"""The interface of the Numba backend: JIT-compiled, parallel kernels (the default).

Every kernel compiles with the one NaN-safe fastmath set and ``cache=True``
from ``_jit.py``. The names below are the backend's interface; the NumPy
backend (``_kernels/numpy``) has the same ones, except `NUMBA_ONLY`.
"""

from .col2im import col2im, row2im_nhwc
from .direct import conv2d_direct_nchw, conv2d_direct_nhwc, weight_grad_direct_nchw
from .gemm import conv_tiles_nchw, conv_tiles_nhwc, scatter_folded, weight_grad_tiles_nchw
from .im2col import im2col, im2col_tile
from .im2row import im2row_nhwc, im2row_tile
from .pool import avg_pool2d_direct, max_pool2d_direct
from .pool_backward import avg_pool2d_backward, max_pool2d_backward
from .pool_nd import avg_pool_nd, avg_pool_nd_backward, max_pool_nd, max_pool_nd_backward
from .pool_reduce import (
    avg_pool2d_reduce_cols,
    avg_pool2d_reduce_rows,
    max_pool2d_reduce_cols,
    max_pool2d_reduce_rows,
)
from .shift import conv_shift_nchw, conv_shift_nhwc
from .unfold_nd import col2im_nd, im2col_nd
from .unfold_strided import col2im_strided, first_touch, im2col_strided
from .winograd import conv_winograd
from .winograd import filter_transform as winograd_filter_transform

NAME = "numba"

# Backend functions that run only serial kernels (no Numba thread pool): safe
# to call from several threads at once, which the conv2d driver's workers do;
# the thread guard (_threads.py) therefore does not serialise them under a
# non-thread-safe threading layer.
SERIAL = ("im2col_tile", "im2row_tile", "scatter_folded")
# Backend functions the NumPy backend does not have: the kernels that call
# BLAS from inside a parallel Numba loop. Without them (NumPy backend, or no
# GEMM symbol found) conv2d runs the same tiles from its Python driver (and
# the weight gradient its whole-batch im2col + batched matmul).
NUMBA_ONLY = ("conv_tiles_nchw", "conv_tiles_nhwc", "conv_shift_nchw", "conv_shift_nhwc",
              "conv_winograd", "weight_grad_tiles_nchw", "winograd_filter_transform")

__all__ = [
    "NAME", "NUMBA_ONLY", "SERIAL",
    "avg_pool2d_backward", "avg_pool2d_direct", "avg_pool2d_reduce_cols", "avg_pool2d_reduce_rows",
    "col2im", "col2im_nd", "col2im_strided", "first_touch", "im2col_strided",
    "conv2d_direct_nchw", "conv2d_direct_nhwc", "weight_grad_direct_nchw", "conv_shift_nchw",
    "conv_shift_nhwc",
    "conv_tiles_nchw", "conv_tiles_nhwc", "conv_winograd", "im2col", "im2col_nd", "im2col_tile",
    "im2row_nhwc", "im2row_tile",
    "max_pool2d_backward", "max_pool2d_direct", "max_pool2d_reduce_cols", "max_pool2d_reduce_rows",
    "row2im_nhwc", "scatter_folded", "weight_grad_tiles_nchw", "winograd_filter_transform",
    "avg_pool_nd", "avg_pool_nd_backward", "max_pool_nd", "max_pool_nd_backward",
]
