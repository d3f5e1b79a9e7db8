"""NumPy kernels: the vectorised fallback (never imports numba).

``backend.py`` is the namespace the engine calls; the other modules hold the
kernels by concern.
"""
