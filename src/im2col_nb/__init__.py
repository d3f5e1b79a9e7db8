"""im2col_nb: convolution the way fast CNN libraries do it, on the CPU.

Image patches are unrolled into the columns of a matrix (im2col) and the whole
convolution becomes one BLAS matrix multiply. Kernels are JIT-compiled,
parallel Numba loops, with a pure-NumPy fallback behind the same API.
Signatures follow ``torch.nn.functional``.
"""

from ._backend import get_backend, set_backend
from ._workspace import get_max_workspace_bytes, set_max_workspace_bytes
from .convolution import col2im, conv2d, conv2d_direct, im2col
from .pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "avg_pool2d",
    "avg_pool2d_backward",
    "col2im",
    "conv2d",
    "conv2d_direct",
    "get_backend",
    "get_max_workspace_bytes",
    "im2col",
    "max_pool2d",
    "max_pool2d_backward",
    "set_backend",
    "set_max_workspace_bytes",
]
