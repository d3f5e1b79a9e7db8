"""The one place that decides which backend runs the kernels.

Two backend packages expose the same function names and signatures:
``im2col_nb._kernels.numba.backend`` (JIT-compiled parallel loops, the default) and
``im2col_nb._kernels.numpy.backend`` (vectorised NumPy, never imports numba).

The choice is made once at import, from ``IM2COL_NB_BACKEND`` (``numba`` or
``numpy``) and from whether numba can be found; numba itself is only imported
when the first kernel runs (or `get_backend` is asked), so ``import im2col_nb``
stays fast. A numba that is installed but fails to import (a broken install, an
unsupported NumPy) then also falls back to NumPy with one warning, unless numba
was asked for explicitly. ``set_backend`` changes the choice at run time.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import warnings
from types import ModuleType

from .threads import guarded

BACKENDS = ("numba", "numpy")
_MODULES = {"numba": "im2col_nb._kernels.numba.backend", "numpy": "im2col_nb._kernels.numpy.backend"}

# name: the chosen backend; module: its module once imported; forced: numba
# was asked for explicitly (environment or set_backend), so it never falls back.
_state: dict = {"name": None, "module": None, "forced": False}


def numba_available() -> bool:
    """True when numba can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):
        return False


def _initial_backend() -> str:
    requested = os.environ.get("IM2COL_NB_BACKEND", "").strip().lower()
    if requested and requested not in BACKENDS:
        warnings.warn(
            f"IM2COL_NB_BACKEND must be one of {BACKENDS}, got {requested!r}; "
            "using the default",
            RuntimeWarning,
            stacklevel=3,
        )
        requested = ""
    if requested == "numpy":
        return "numpy"
    _state["forced"] = requested == "numba"
    if numba_available():
        return "numba"
    if requested == "numba":
        raise ImportError("IM2COL_NB_BACKEND=numba but numba cannot be imported; install numba")
    warnings.warn(
        "numba is not installed: im2col_nb uses its pure-NumPy backend (slower). "
        "`pip install numba` for the JIT-compiled kernels.",
        RuntimeWarning,
        stacklevel=3,
    )
    return "numpy"


def set_backend(name: str) -> None:
    """Choose the backend used by every later call.

    Parameters
    ----------
    name : {'numba', 'numpy'}
        ``'numba'``: JIT-compiled parallel kernels; ``'numpy'``: the vectorised
        pure-NumPy fallback.

    Raises
    ------
    ValueError
        If `name` is not a known backend.
    ImportError
        If ``'numba'`` is asked for and numba is not installed or cannot be
        imported.

    Examples
    --------
    >>> import im2col_nb
    >>> previous = im2col_nb.get_backend()
    >>> im2col_nb.set_backend("numpy")
    >>> im2col_nb.get_backend()
    'numpy'
    >>> im2col_nb.set_backend(previous)
    """
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"`name` must be one of {BACKENDS}, got {name!r}")
    name = name.lower()
    module = None
    if name == "numba":
        if not numba_available():
            raise ImportError("the 'numba' backend needs numba; install numba")
        try:
            importlib.import_module("numba")
        except (ImportError, OSError) as exc:
            raise ImportError(f"the 'numba' backend needs a working numba; importing it failed: {exc}") from exc
        module = importlib.import_module(_MODULES["numba"])
    _state["name"] = name
    _state["module"] = module
    _state["forced"] = name == "numba"


def get_backend() -> str:
    """Name of the backend in use: ``'numba'`` or ``'numpy'``.

    Asking loads the backend (importing numba if it is the choice), so the
    answer is the backend that will really run, even when an installed numba
    turns out not to import.

    Examples
    --------
    >>> import im2col_nb
    >>> im2col_nb.get_backend() in ("numba", "numpy")
    True
    """
    backend_module()
    return _state["name"]


def backend_module() -> ModuleType:
    """The module implementing the current backend (imported on first use).

    If numba was chosen by default (not asked for) but cannot be imported,
    switch to the NumPy backend with one warning.
    """
    module = _state["module"]
    if module is None:
        name = _state["name"]
        if name == "numba" and not _state["forced"]:
            try:
                importlib.import_module("numba")
            except (ImportError, OSError) as exc:
                warnings.warn(
                    f"numba is installed but cannot be imported ({exc}): im2col_nb uses its "
                    "pure-NumPy backend (slower).",
                    RuntimeWarning,
                    stacklevel=3,
                )
                name = _state["name"] = _state["default"] = "numpy"
        module = importlib.import_module(_MODULES[name])
        _state["module"] = module
    # The Numba backend comes wrapped so every kernel entry is thread-safe and
    # honours set_num_threads (see _threads.py); NumPy's is returned as is.
    return guarded(module)


def default_backend() -> str:
    """The backend chosen at import (what `reset_config` returns to)."""
    return _state["default"]


def backend_named(name: str) -> ModuleType:
    """A specific backend's module, regardless of the current choice."""
    return guarded(importlib.import_module(_MODULES[name]))


_state["name"] = _state["default"] = _initial_backend()
