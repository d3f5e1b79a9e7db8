"""The package's knobs in one place: backend, threads, workspace budget.

Each knob keeps its own setter and getter (``set_backend``,
``set_num_threads``, ``set_max_workspace_bytes``, ...); `config` sets any of
them for a block and restores them after, `get_config` reads them all, and
`reset_config` puts back the defaults.
"""

from __future__ import annotations

import contextlib

from . import backend as _backend
from . import threads as _threads
from . import workspace as _workspace

__all__ = ["config", "get_config", "reset_config"]

_UNSET = object()


def get_config() -> dict:
    """The current settings.

    Returns
    -------
    settings : dict
        ``{"backend": str, "num_threads": int, "max_workspace_bytes": int}``:
        the values `config` accepts.

    Examples
    --------
    >>> import im2col_nb
    >>> sorted(im2col_nb.get_config())
    ['backend', 'max_workspace_bytes', 'num_threads']
    """
    return {
        "backend": _backend.get_backend(),
        "num_threads": _threads.get_num_threads(),
        "max_workspace_bytes": _workspace.get_max_workspace_bytes(),
    }


@contextlib.contextmanager
def config(*, backend=_UNSET, num_threads=_UNSET, max_workspace_bytes=_UNSET):
    """Context manager: change some settings for a block, then restore them all.

    Parameters
    ----------
    backend : {'numba', 'numpy'}, optional
        As `set_backend`.
    num_threads : int or None, optional
        As `set_num_threads` (None: the libraries' defaults).
    max_workspace_bytes : int, optional
        As `set_max_workspace_bytes`.

    Raises
    ------
    TypeError, ValueError, ImportError
        As the setters, on entry; nothing is changed then.

    Notes
    -----
    The settings are process-wide (the BLAS thread limit is global to the
    process), so use it around a block of work rather than to give
    concurrent threads different settings. Settings left out are still
    restored on exit, so a block may also call the setters itself.

    Examples
    --------
    >>> import numpy as np
    >>> import im2col_nb
    >>> with im2col_nb.config(backend="numpy", max_workspace_bytes=2**20):
    ...     y = im2col_nb.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)))
    ...     im2col_nb.get_config()["max_workspace_bytes"]
    1048576
    >>> float(y[0, 0, 0, 0])
    4.0
    """
    # Check every value before changing anything.
    if num_threads is not _UNSET:
        num_threads = _threads._check_n(num_threads)
    if max_workspace_bytes is not _UNSET:
        max_workspace_bytes = _workspace._check_budget("max_workspace_bytes", max_workspace_bytes)
    saved = (_backend.get_backend(), _threads._state["requested"], _workspace.get_max_workspace_bytes())
    try:
        if backend is not _UNSET:
            _backend.set_backend(backend)
        if num_threads is not _UNSET:
            _threads.set_num_threads(num_threads)
        if max_workspace_bytes is not _UNSET:
            _workspace.set_max_workspace_bytes(max_workspace_bytes)
        yield
    finally:
        name, threads, budget = saved
        if _backend.get_backend() != name:
            _backend.set_backend(name)
        if _threads._state["requested"] != threads:
            _threads.set_num_threads(threads)
        _workspace.set_max_workspace_bytes(budget)


def reset_config() -> None:
    """Put every setting back to its default.

    The backend chosen at import (``IM2COL_NB_BACKEND``, else numba when it
    imports), the libraries' own thread counts, a 64 MiB workspace budget.

    Examples
    --------
    >>> import im2col_nb
    >>> im2col_nb.set_max_workspace_bytes(2**20)
    >>> im2col_nb.reset_config()
    >>> im2col_nb.get_max_workspace_bytes() == 64 * 2**20
    True
    """
    _backend.set_backend(_backend.default_backend())
    _threads.set_num_threads(None)
    _workspace.set_max_workspace_bytes(_workspace.DEFAULT_MAX_WORKSPACE_BYTES)
