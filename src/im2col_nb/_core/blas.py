"""NumPy's own BLAS GEMM as a C function pointer that Numba kernels can call.

The conv2d driver's Numba kernel (``_kernels/numba/gemm.py``) calls
``cblas_?gemm`` of the BLAS library NumPy links to, once per tile, from inside
its parallel loop: no Python between im2col and GEMM, no GIL, no thread-pool
hand-over per tile. It has to be *NumPy's* library, so that the GEMM is the
one ``np.matmul`` runs (the bare GEMM conv2d is measured against; SciPy's
bundled OpenBLAS is another build, up to 15 % slower here) and so that
``set_num_threads`` / threadpoolctl limits apply to it.

The library is found through threadpoolctl: the loaded BLAS whose file lies
in NumPy's own directory (``numpy.libs`` / ``numpy/.dylibs``: the OpenBLAS
NumPy's wheels bundle), and the symbol among the names such builds export:
``scipy_cblas_sgemm64_`` (NumPy >= 2 wheels, 64-bit integers),
``cblas_sgemm64_`` (NumPy 1.x wheels), or ``scipy_cblas_sgemm`` /
``cblas_sgemm`` (32-bit integers). When none is found -- NumPy linked to a
system, conda or MKL BLAS outside its directory, Apple's Accelerate, a BLAS
threadpoolctl cannot see, or ``IM2COL_NB_NATIVE_GEMM=0`` -- conv2d falls back
to its Python tile driver (same results, more overhead per call).
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from .threads import _blas_controllers

# (symbol pattern, integer type): '?' is 's' or 'd'.
_SYMBOLS = (
    ("scipy_cblas_?gemm64_", ctypes.c_int64),
    ("cblas_?gemm64_", ctypes.c_int64),
    ("scipy_cblas_?gemm", ctypes.c_int),
    ("cblas_?gemm", ctypes.c_int),
)
# CBLAS enum values (cblas.h).
ROW_MAJOR = 101
NO_TRANS = 111

_lock = threading.Lock()
_found: dict = {}


def _numpy_blas_paths() -> list[str]:
    """Paths of the loaded BLAS libraries that lie in NumPy's own directory."""
    paths = [c.filepath for c in _blas_controllers()]
    numpy_dir = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))
    own = [p for p in paths if "numpy" in os.path.basename(os.path.dirname(os.path.realpath(p)))
           or os.path.realpath(p).startswith(os.path.join(numpy_dir, "numpy"))]
    return own


def _lookup(dtype: np.dtype):
    if os.environ.get("IM2COL_NB_NATIVE_GEMM", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    letter = "s" if dtype == np.float32 else "d"
    scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    for path in _numpy_blas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pattern, integer in _SYMBOLS:
            try:
                function = getattr(lib, pattern.replace("?", letter))
            except AttributeError:
                continue
            function.restype = None
            pointer = ctypes.c_void_p
            function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer,
                                 integer, scalar, pointer, integer, pointer, integer, scalar,
                                 pointer, integer]
            return function
    return None


def gemm_function(dtype):
    """NumPy's ``cblas_sgemm`` / ``cblas_dgemm`` as a ctypes function, or None.

    Signature (row-major CBLAS): ``gemm(101, 111, 111, M, N, K, alpha, A, lda,
    B, ldb, beta, C, ldc)`` computes ``C = alpha * A @ B + beta * C`` for
    row-major ``A (M, K)``, ``B (K, N)``, ``C (M, N)`` with leading
    dimensions (row strides, in elements) lda, ldb, ldc. Found once per dtype.
    """
    dtype = np.dtype(dtype)
    with _lock:
        if dtype not in _found:
            _found[dtype] = _lookup(dtype)
        return _found[dtype]


def reset() -> None:
    """Forget what was found (tests switch IM2COL_NB_NATIVE_GEMM)."""
    with _lock:
        _found.clear()
