"""What every operation shares: configuration, argument checking, geometry.

* ``backend.py`` -- which kernel package runs (Numba or NumPy);
* ``threads.py`` -- one thread count for Numba and BLAS, the threading
  layer, thread- and fork-safe kernel entry;
* ``workspace.py`` -- the scratch-memory budget and per-thread scratch;
* ``blas.py`` -- NumPy's own ``cblas_?gemm``, for calls from Numba;
* ``validation.py`` -- the argument checkers every public wrapper uses;
* ``geometry.py`` -- window geometry per spatial axis;
* ``config.py`` -- the knobs above in one place, with a context manager.
"""
