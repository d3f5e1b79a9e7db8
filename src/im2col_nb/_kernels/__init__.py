"""Kernels: the loops that do the work, one package per backend.

``numba/`` (JIT-compiled, parallel; the default) and ``numpy/`` (vectorised
NumPy, never imports numba) hold modules of the same names -- ``im2col``,
``im2row``, ``col2im``, ``gemm``, ``direct``, ``pool``, ``pool_reduce``,
``pool_backward`` -- with the same function names and signatures, so a
reader can hold one beside the other; ``numba/shift.py`` has no NumPy twin
(it calls BLAS from inside a parallel Numba loop). Each package's
``backend.py`` is the backend namespace the engine calls through
(``_backend.backend_module()``).

House rules: kernels (``_name``) are private, never validate and never
allocate; the functions without an underscore take arrays already made
C-contiguous float32/float64 by the public wrappers, a geometry, and
preallocated outputs. ``parallel=True`` only on outer kernels, whose
``prange`` runs over independent output slices, so no two iterations write
the same element and results are deterministic.
"""
