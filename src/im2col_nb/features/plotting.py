"""Learned filters as a picture (matplotlib optional)."""

from __future__ import annotations

import math

import numpy as np

from .._core.validation import as_float_array
from ._checks import check_finite, check_positive_int

__all__ = ["filter_grid", "plot_filters"]


def _filters_of(filters):
    if hasattr(filters, "filters_"):       # a fitted PatchFeatures
        filters = filters.filters_
    arr = as_float_array("filters", filters)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[0] == 0 or 0 in arr.shape[1:]:
        raise ValueError(f"`filters` must be (K, kh, kw) or (K, C, kh, kw) and non-empty, "
                         f"got an array of shape {arr.shape}")
    check_finite("filters", arr)
    return arr


def filter_grid(filters, n_cols=None, *, pad=1):
    """Tile filters into one image, each scaled to [0, 1] on its own.

    Parameters
    ----------
    filters : array_like or PatchFeatures
        ``(K, kh, kw)`` or ``(K, C, kh, kw)``, or a fitted `PatchFeatures`
        (its ``filters_``). Three channels are shown as RGB; any other
        channel count as grey tiles of the channel mean.
    n_cols : int, optional
        Tiles per row; default ``ceil(sqrt(K))``.
    pad : int, default 1
        Blank pixels (value 1, white) between tiles.

    Returns
    -------
    grid : ndarray, shape (rows*(kh+pad)+pad, n_cols*(kw+pad)+pad) or (..., 3)
        float64 in [0, 1].

    Raises
    ------
    ValueError
        If `filters` has the wrong rank, is empty or holds NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import filter_grid
    >>> filter_grid(np.random.default_rng(0).normal(size=(10, 5, 5))).shape   # 4 x 3 tiles
    (19, 25)
    """
    arr = _filters_of(filters)
    pad = check_positive_int("pad", pad, minimum=0)
    k, channels, kh, kw = arr.shape
    n_cols = math.ceil(math.sqrt(k)) if n_cols is None else check_positive_int("n_cols", n_cols)
    n_rows = math.ceil(k / n_cols)
    tiles = arr.transpose(0, 2, 3, 1) if channels == 3 else arr.mean(axis=1)[..., None]
    lo = tiles.min(axis=(1, 2, 3), keepdims=True)
    span = tiles.max(axis=(1, 2, 3), keepdims=True) - lo
    tiles = np.where(span > 0, (tiles - lo) / np.where(span > 0, span, 1.0), 0.5)
    depth = tiles.shape[-1]
    grid = np.ones((n_rows * (kh + pad) + pad, n_cols * (kw + pad) + pad, depth))
    for i in range(k):
        r, c = divmod(i, n_cols)
        top, left = pad + r * (kh + pad), pad + c * (kw + pad)
        grid[top:top + kh, left:left + kw] = tiles[i]
    return grid if depth == 3 else grid[..., 0]


def plot_filters(filters, n_cols=None, *, ax=None, title=None, path=None):
    """Show filters (or a fitted PatchFeatures' centres) as an image grid.

    Parameters
    ----------
    filters : array_like or PatchFeatures
        As in `filter_grid`.
    n_cols : int, optional
        Tiles per row.
    ax : matplotlib Axes, optional
        Where to draw; default: a new figure.
    title : str, optional
    path : str or path-like, optional
        Save the figure there (PNG, SVG, ... by extension).

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    ImportError
        If matplotlib is not installed (``pip install im2col_nb[features]``).
    ValueError
        As in `filter_grid`.

    Notes
    -----
    Needs matplotlib, imported only when this function is called.
    """
    try:
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plot_filters needs matplotlib: pip install 'im2col_nb[features]'") from exc
    grid = filter_grid(filters, n_cols)
    if ax is None:
        height = 6.0 * grid.shape[0] / max(grid.shape[1], 1)
        _, ax = plt.subplots(figsize=(6.0, max(height, 1.0)))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if path is not None:
        ax.figure.savefig(path, bbox_inches="tight", dpi=150)
    return ax
