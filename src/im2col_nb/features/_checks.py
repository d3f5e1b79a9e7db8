"""Argument checking for ``im2col_nb.features``.

Every public function of the subpackage checks its arguments here, in plain
Python, before any numerical work: wrong ranks, patches larger than the
images, more clusters than patches and non-finite values raise a
``ValueError`` that names the argument and the value received.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._core.validation import as_float_array, describe, pair

__all__ = [
    "as_images",
    "check_choice",
    "check_finite",
    "check_matrix",
    "check_patch_fits",
    "check_positive_int",
    "check_real",
    "resolve_rng",
]


def check_finite(name: str, arr: np.ndarray) -> None:
    """ValueError naming `name` if `arr` holds NaN or an infinity."""
    if arr.size and not np.isfinite(arr).all():
        what = "NaN" if np.isnan(arr).any() else "infinity"
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"`{name}` contains {what} ({bad} non-finite value(s)); "
                         "remove or impute non-finite values first")


def as_images(name: str, value, *, allow_empty: bool = False) -> np.ndarray:
    """Images as a float (N, C, H, W) array: (N, H, W) is a grey stack.

    The result is a view when possible; callers never write to it.
    """
    arr = as_float_array(name, value)
    if arr.ndim not in (3, 4):
        raise ValueError(
            f"`{name}` must be a 3-D stack of grey images (N, H, W) or a 4-D stack "
            f"(N, C, H, W), got an array of shape {arr.shape}"
        )
    x4 = arr[:, None] if arr.ndim == 3 else arr
    if not allow_empty and (x4.shape[0] == 0 or 0 in x4.shape[1:]):
        raise ValueError(f"`{name}` must hold at least one non-empty image, got shape {arr.shape}")
    check_finite(name, x4)
    return x4


def check_patch_fits(patch_size, images_shape, stride=1) -> tuple[tuple[int, int], tuple[int, int]]:
    """(kh, kw), (sh, sw) after checking the patch fits inside (H, W)."""
    kh, kw = pair("patch_size", patch_size)
    sh, sw = pair("stride", stride)
    height, width = images_shape[-2:]
    if kh > height or kw > width:
        raise ValueError(
            f"`patch_size` {(kh, kw)} is larger than the images ({height}, {width})"
        )
    return (kh, kw), (sh, sw)


def check_matrix(name: str, value, *, columns: int | None = None, what: str = "rows") -> np.ndarray:
    """A finite, non-empty 2-D float array (rows are samples)."""
    arr = as_float_array(name, value)
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D array (n_{what}, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"`{name}` must be non-empty, got shape {arr.shape}")
    if columns is not None and arr.shape[1] != columns:
        raise ValueError(f"`{name}` must have {columns} columns, got shape {arr.shape}")
    check_finite(name, arr)
    return arr


def check_positive_int(name: str, value, *, minimum: int = 1, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def check_real(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"`{name}` must be {'>' if strict else '>='} {minimum}, got {value}")
    return value


def check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {describe(value)}")
    return value


def resolve_rng(random_state) -> np.random.Generator:
    """A NumPy Generator from None, an int seed, a Generator or a RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or (isinstance(random_state, numbers.Integral)
                                and not isinstance(random_state, (bool, np.bool_))):
        if random_state is not None and random_state < 0:
            raise ValueError(f"`random_state` must be a non-negative int, got {random_state}")
        return np.random.default_rng(random_state)
    raise TypeError(
        f"`random_state` must be None, an int, a numpy Generator or RandomState, got {describe(random_state)}"
    )
