"""Numba kernels: JIT-compiled, parallel loops (the default backend).

``backend.py`` is the namespace the engine calls; the other modules hold the
kernels by concern.
"""
