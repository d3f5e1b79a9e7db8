"""im2col_nb: convolution the way fast CNN libraries do it, on the CPU.

Image patches are unrolled into the columns of a matrix (im2col) and the whole
convolution becomes one BLAS matrix multiply. Kernels are JIT-compiled,
parallel Numba loops, with a pure-NumPy fallback behind the same API.
Signatures follow ``torch.nn.functional``.
"""

from ._core.backend import get_backend, set_backend
from ._core.config import config, get_config, reset_config
from ._core.threads import get_num_threads, set_num_threads, threads
from ._core.workspace import get_max_workspace_bytes, set_max_workspace_bytes
from ._info import info, max_num_threads, release_workspace
from ._warmup import warmup
from .convolution import conv2d, conv2d_direct
from .gradients import conv2d_backward, conv2d_bias_grad, conv2d_input_grad, conv2d_weight_grad
from .methods import explain
from .ops1d import (
    avg_pool1d,
    avg_pool1d_backward,
    conv1d,
    conv1d_backward,
    conv1d_bias_grad,
    conv1d_input_grad,
    conv1d_weight_grad,
    conv_transpose1d,
    max_pool1d,
    max_pool1d_backward,
)
from .ops3d import (conv3d, conv3d_backward, conv3d_bias_grad, conv3d_input_grad,
                    conv3d_weight_grad, conv_transpose3d)
from .pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .pooling3d import avg_pool3d, avg_pool3d_backward, max_pool3d, max_pool3d_backward
from .transposed import conv_transpose2d
from .unfold import col2im, col2im1d, col2im3d, im2col, im2col1d, im2col3d

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "col2im",
    "col2im1d",
    "col2im3d",
    "config",
    "conv1d",
    "conv1d_backward",
    "conv1d_bias_grad",
    "conv1d_input_grad",
    "conv1d_weight_grad",
    "conv2d",
    "conv2d_direct",
    "conv2d_backward",
    "conv2d_bias_grad",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "conv_transpose1d",
    "conv3d",
    "conv3d_backward",
    "conv3d_bias_grad",
    "conv3d_input_grad",
    "conv3d_weight_grad",
    "conv_transpose2d",
    "conv_transpose3d",
    "explain",
    "get_backend",
    "get_config",
    "get_max_workspace_bytes",
    "get_num_threads",
    "im2col",
    "im2col1d",
    "im2col3d",
    "info",
    "max_num_threads",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool3d",
    "max_pool3d_backward",
    "release_workspace",
    "reset_config",
    "set_backend",
    "set_max_workspace_bytes",
    "set_num_threads",
    "threads",
    "warmup",
]
