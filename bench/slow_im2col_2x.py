"""pytest plugin for checking the performance gate itself: every im2col
kernel call of the Numba backend runs twice (im2col twice as slow).

    PYTHONPATH=bench python -m pytest bench --quick -p no:cacheprovider -p slow_im2col_2x

must fail the ``memcpy_over_im2col_geomean`` and
``memcpy_over_im2col_tile_geomean`` gates (measured 0.64-0.81 and 0.40 against
thresholds 0.95 and 0.60; 1.16-1.24 and 0.81-0.90 without the plugin).
"""

import functools


def pytest_configure(config):
    import im2col_nb._kernels.numba.backend as kernels
    from im2col_nb._core import threads as _threads

    for name in ("im2col", "im2col_tile"):
        original = getattr(kernels, name)

        @functools.wraps(original)
        def twice(*args, _f=original, **kwargs):
            _f(*args, **kwargs)
            return _f(*args, **kwargs)

        setattr(kernels, name, twice)
    _threads._guarded_cache.clear()  # rebuild the guarded backend proxy with the wrappers
