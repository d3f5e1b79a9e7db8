"""Feature extraction by convolution: normalise, whiten and encode every
patch of every image, then sum-pool over a grid, in batches of images."""

from __future__ import annotations

import numpy as np

from .._core.validation import as_float_array, check_layout, describe, pair
from ..convolution import conv2d
from ..pooling import avg_pool2d
from ._checks import as_images, check_choice, check_finite, check_patch_fits, check_positive_int, check_real

__all__ = ["extract_features", "grid_sum_pool"]

_BATCH_BYTES = 32 * 2**20


def _axis_cells(size, cells, grid):
    """Start of each of `cells` cells along an axis of `size`, and the common
    cell length when cells of ceil(size/cells) tile the axis (else None)."""
    if cells > size:
        raise ValueError(f"`pool_grid` {grid} is too fine for feature maps with {size} "
                         f"row(s)/column(s): a cell would be empty; use a coarser grid")
    cell = -(-size // cells)
    if (cells - 1) * cell < size:
        return np.arange(cells) * cell, cell
    q, r = divmod(size, cells)                   # numpy.array_split's split
    sizes = np.array([q + 1] * r + [q] * (cells - r))
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]), None


def _grid_cells(out_h, out_w, pool_grid):
    """Cell starts and lengths of a gh x gw grid over OH x OW maps."""
    grid = pair("pool_grid", pool_grid)
    return _axis_cells(out_h, grid[0], grid), _axis_cells(out_w, grid[1], grid)


def grid_sum_pool(maps, pool_grid, *, layout="NCHW"):
    """Sum feature maps over a grid of cells (the four quadrants for 2).

    Parameters
    ----------
    maps : array_like, shape (N, K, OH, OW)
        Feature maps ((N, OH, OW, K) with ``layout="NHWC"``).
    pool_grid : int or (int, int)
        Cells per column and per row (gh, gw). Cells are ``ceil(OH/gh)``
        rows by ``ceil(OW/gw)`` columns, the last row/column of cells taking
        what is left; where that would leave a cell empty (e.g. 4 rows in 3
        cells), the rows are split as `numpy.array_split` does (2, 1, 1).

    Returns
    -------
    pooled : ndarray, shape (N, K, gh, gw)
        ((N, gh, gw, K) with ``layout="NHWC"``); same float dtype as `maps`.

    Raises
    ------
    ValueError
        If `maps` is not 4-D, or the grid has more cells than the maps have
        rows or columns.

    Notes
    -----
    Runs ``im2col_nb.avg_pool2d`` with kernel = stride = cell size,
    ``ceil_mode=True`` and ``divisor_override=1`` (a sum): one pass over the
    maps. Uneven (array_split) cells, which no fixed pooling window gives,
    are summed with ``numpy.add.reduceat``.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import grid_sum_pool
    >>> maps = np.arange(25.0).reshape(1, 1, 5, 5)
    >>> grid_sum_pool(maps, 2)[0, 0]    # cells of 3x3, 3x2, 2x3 and 2x2 pixels
    array([[ 54.,  51.],
           [111.,  84.]])
    >>> grid_sum_pool(maps[:, :, :4, :4], 3)[0, 0]    # rows and columns split 2, 1, 1
    array([[12.,  9., 11.],
           [21., 12., 13.],
           [31., 17., 18.]])
    """
    arr = as_float_array("maps", maps)
    if arr.ndim != 4:
        raise ValueError(f"`maps` must be 4-D (N, K, OH, OW), got an array of shape {arr.shape}")
    layout = check_layout(layout)
    out_h, out_w = arr.shape[2:] if layout == "NCHW" else arr.shape[1:3]
    (starts_h, cell_h), (starts_w, cell_w) = _grid_cells(out_h, out_w, pool_grid)
    if cell_h is not None and cell_w is not None:
        return avg_pool2d(arr, (cell_h, cell_w), stride=(cell_h, cell_w), ceil_mode=True,
                          divisor_override=1, layout=layout)
    axis_h = 2 if layout == "NCHW" else 1
    return np.add.reduceat(np.add.reduceat(arr, starts_h, axis=axis_h), starts_w, axis=axis_h + 1)


def _as_filters(centers, channels):
    arr = as_float_array("centers", centers)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ValueError(
            f"`centers` must be 3-D (K, kh, kw) for grey images or 4-D (K, C, kh, kw), "
            f"got an array of shape {arr.shape}"
        )
    if arr.shape[0] == 0 or 0 in arr.shape[2:]:
        raise ValueError(f"`centers` must hold at least one non-empty filter, got shape {arr.shape}")
    if arr.shape[1] != channels:
        raise ValueError(
            f"`centers` of shape {arr.shape} has {arr.shape[1]} channel(s) but the images have {channels}"
        )
    check_finite("centers", arr)
    return arr


def extract_features(images, centers, *, stride=1, normalize=True, eps_norm=10.0,
                     whitening_mean=None, whitening=None, encoder="triangle", alpha=0.5,
                     pool_grid=2, batch_size=None, dtype=None):
    """Encode every patch of every image and sum-pool the codes over a grid.

    Each patch ``p`` (every position, at `stride`) is normalised to ``n =
    (p - mean(p)) / sqrt(var(p) + eps_norm)``, whitened to ``y = (n - μ) W``
    and encoded against the centres ``c_k`` -- triangle ``max(0, mean_j z_j
    - z_k)`` with ``z_k = |y - c_k|``, or soft threshold ``max(0, y.c_k -
    alpha)`` -- without ever building the patches: everything linear in the
    patch is one `conv2d` with filters derived from the centres.

    Parameters
    ----------
    images : array_like, shape (N, H, W) or (N, C, H, W)
        Grey or multi-channel images.
    centers : array_like, shape (K, kh, kw) or (K, C, kh, kw)
        The dictionary, in the normalised-whitened patch space, shaped as
        patches (a flattened centre of `kmeans` reshaped to (C, kh, kw)).
        The patch size is the centres' (kh, kw).
    stride : int or (int, int), default 1
        Step between encoded patches.
    normalize : bool, default True
        Per-patch brightness/contrast normalisation (see
        `normalize_patches`); False encodes raw patches.
    eps_norm : float, default 10.0
        Variance regulariser of the normalisation.
    whitening_mean : array_like, shape (C*kh*kw,), optional
        μ: the mean removed before whitening (``ZCA.mean_``); default 0.
    whitening : array_like, shape (C*kh*kw, C*kh*kw), optional
        W: the symmetric whitening matrix (``ZCA.whitening_``); default
        identity (no whitening).
    encoder : {'triangle', 'soft_threshold'}, default 'triangle'
    alpha : float, default 0.5
        Threshold of the soft-threshold encoder.
    pool_grid : int, (int, int) or None, default 2
        Sum-pool the code maps over a gh x gw grid (2: the four quadrants)
        by `grid_sum_pool`. ``None`` returns the unpooled code maps.
    batch_size : int, optional
        Images encoded at once; default: as many as keep the code maps of a
        batch within 32 MiB.
    dtype : {None, float32, float64}
        Precision of the convolution and the codes; default: that of
        `images` (float64 for integers).

    Returns
    -------
    features : ndarray, shape (N, gh*gw*K)
        Pooled codes, ordered (cell row, cell column, k): feature
        ``(i*gw + j)*K + k`` is centre k summed over cell (i, j). With
        ``pool_grid=None``: code maps of shape (N, K, OH, OW), ``OH = (H -
        kh) // sh + 1`` and likewise for OW.

    Raises
    ------
    TypeError
        If an array is not real-valued or a size is not an int.
    ValueError
        Images of the wrong rank, empty, or holding NaN/inf; centres that do
        not match the images' channels or are larger than the images; a
        whitening mean or matrix of the wrong shape; an unknown encoder; a
        pooling grid too fine for the code maps.

    Notes
    -----
    With ``r = 1/sqrt(var + eps_norm)`` and ``w_k = W c_k``, the dot product
    ``y.c_k = r * (p - mean(p)).w_k - μ.w_k = r * p.(w_k - mean(w_k)) -
    μ.w_k``: a convolution with the zero-mean filter ``w_k - mean(w_k)``,
    scaled per position. The patch mean and variance are box filters: sum
    pooling at the patch size (`avg_pool2d` with ``divisor_override=1``) of
    the channel sums of x and x², in float64. The triangle encoder also
    needs ``|y|^2``: with whitening, ``y_j`` come from a second convolution
    with d filters (the columns of W); without, it is
    ``r^2 * d * var`` in closed form. Distances then follow from ``|y -
    c|^2 = |y|^2 - 2 y.c + |c|^2`` (the -2 folded into the filters).

    Cost per image: ``2*(K[+d])*d*OH*OW`` flops in one im2col + GEMM
    convolution (channels-last), about ten elementwise passes over the
    ``K*OH*OW`` codes, one pooling pass. Memory:
    one batch of code maps; the patches of the data set are never all held
    (only `conv2d`'s bounded workspace).

    Examples
    --------
    Features match encoding explicit patches (``im2col`` → normalise →
    whiten → encode) and summing over the quadrants:

    >>> import numpy as np
    >>> from im2col_nb.features import (ZCA, extract_features, extract_patches,
    ...                                 normalize_patches, triangle)
    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((3, 9, 9))
    >>> zca = ZCA(0.1).fit(normalize_patches(extract_patches(images, 4), 0.01))
    >>> centers = rng.normal(size=(5, 16))
    >>> f = extract_features(images, centers.reshape(5, 4, 4), eps_norm=0.01,
    ...                      whitening_mean=zca.mean_, whitening=zca.whitening_)
    >>> f.shape                       # 5 centres x 2x2 quadrants
    (3, 20)
    >>> codes = triangle(zca.transform(normalize_patches(extract_patches(images, 4), 0.01)), centers)
    >>> maps = codes.reshape(3, 6, 6, 5).transpose(0, 3, 1, 2)
    >>> top_left = maps[:, :, :3, :3].sum(axis=(2, 3))
    >>> bool(np.allclose(f.reshape(3, 2, 2, 5)[:, 0, 0], top_left))
    True
    """
    x4 = as_images("images", images)
    n_img, channels, height, width = x4.shape
    filt = _as_filters(centers, channels)
    n_centers, _, kh, kw = filt.shape
    (kh, kw), (sh, sw) = check_patch_fits((kh, kw), x4.shape, stride)
    d = channels * kh * kw
    encoder = check_choice("encoder", encoder, ("triangle", "soft_threshold"))
    eps_norm = check_real("eps_norm", eps_norm, minimum=0.0)
    alpha = check_real("alpha", alpha)
    batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
    if dtype is None:
        work = x4.dtype
    else:
        work = np.dtype(dtype)
        if work not in (np.float32, np.float64):
            raise ValueError(f"`dtype` must be float32 or float64, got {describe(dtype)}")

    mu = None
    if whitening_mean is not None:
        mu = as_float_array("whitening_mean", whitening_mean).astype(np.float64)
        if mu.shape != (d,):
            raise ValueError(f"`whitening_mean` must have shape ({d},) for {channels}x{kh}x{kw} "
                             f"patches, got {mu.shape}")
        check_finite("whitening_mean", mu)
    wmat = None
    if whitening is not None:
        wmat = as_float_array("whitening", whitening).astype(np.float64)
        if wmat.shape != (d, d):
            raise ValueError(f"`whitening` must have shape ({d}, {d}) for {channels}x{kh}x{kw} "
                             f"patches, got {wmat.shape}")
        check_finite("whitening", wmat)
    if mu is not None and wmat is None and encoder == "triangle":
        wmat = np.eye(d)          # centring only: |y|^2 has no closed form then

    c = filt.reshape(n_centers, d).astype(np.float64)
    # Filters acting on the normalised patch n: y.c_k = (n - mu).(W c_k).
    w = c if wmat is None else c @ wmat.T
    offsets = np.zeros(n_centers) if mu is None else w @ mu
    c_sq = np.einsum("ij,ij->i", c, c)
    if encoder == "triangle":
        # |y - c_k|^2 = |y|^2 + (|c_k|^2 + 2 mu.w_k) + r * (p.(-2 w_k)): fold the -2 in
        rows = [-2.0 * w]
        shift = (c_sq + 2.0 * offsets).astype(work)
        if wmat is not None:
            rows.append(wmat.T)                                # y_j = (n - mu).W[:, j]
            norm_offsets = (wmat.T @ mu if mu is not None else np.zeros(d)).astype(work)
    else:
        rows = [w]
        shift = (offsets + alpha).astype(work)
    # Two convolutions rather than one with K + d filters: the codes then are
    # a contiguous array, which NumPy's elementwise passes and the pooling
    # kernel run through about twice as fast as a strided view.
    bank, norm_bank = (_filter_bank(r, normalize, channels, kh, kw, work) for r in
                       (rows[0], rows[1] if len(rows) > 1 else None))
    n_maps = n_centers + (0 if norm_bank is None else d)

    out_h = (height - kh) // sh + 1
    out_w = (width - kw) // sw + 1
    if pool_grid is not None:
        _grid_cells(out_h, out_w, pool_grid)
    per_image = (n_maps + 4) * out_h * out_w * work.itemsize + 3 * channels * height * width * 8
    if batch_size is None:
        batch_size = max(1, _BATCH_BYTES // per_image)
    need_box = normalize or (encoder == "triangle" and wmat is None)

    results = []
    for b0 in range(0, n_img, batch_size):
        # channels-last batch: code vectors are contiguous per position, which
        # the reductions over k and the pooling kernel read fastest
        xb = np.array(x4[b0:b0 + batch_size].transpose(0, 2, 3, 1), dtype=work)
        nb = xb.shape[0]
        if normalize:
            # normalisation is invariant to a constant shift: centring each
            # image keeps float32 convolutions of large pixel values accurate
            xb -= xb.mean(axis=(1, 2, 3), keepdims=True, dtype=np.float64).astype(work)
        if need_box:
            # patch sums of x and x^2: box filters, i.e. sum pooling at stride 1
            x64 = xb.astype(np.float64)
            planes = np.stack([x64.sum(axis=3), np.einsum("nhwc,nhwc->nhw", x64, x64)], axis=3)
            sums = avg_pool2d(planes, (kh, kw), stride=(sh, sw), divisor_override=1, layout="NHWC")
            if normalize:
                mean = sums[..., 0] / d
                var = np.maximum(sums[..., 1] / d - mean * mean, 0.0)
                std = np.sqrt(var + eps_norm)
                inv_std = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
                rscale = inv_std[..., None].astype(work)         # (nb, OH, OW, 1)
        codes = conv2d(xb, bank, stride=(sh, sw), layout="NHWC")  # (nb, OH, OW, K)
        if normalize:
            codes *= rscale
        if encoder == "soft_threshold":
            codes -= shift                     # max(0, y.c_k - alpha)
            np.maximum(codes, 0.0, out=codes)
        else:
            if wmat is not None:
                ycoord = conv2d(xb, norm_bank, stride=(sh, sw), layout="NHWC")
                if normalize:
                    ycoord *= rscale
                ycoord -= norm_offsets
                y_sq = np.einsum("nhwj,nhwj->nhw", ycoord, ycoord)
            elif normalize:
                y_sq = (var * d * inv_std * inv_std).astype(work)
            else:
                y_sq = sums[..., 1].astype(work)
            codes += y_sq[..., None]
            codes += shift                     # codes = z^2 = |y - c_k|^2
            np.maximum(codes, 0.0, out=codes)
            np.sqrt(codes, out=codes)
            mean_dist = codes.mean(axis=3, keepdims=True)
            np.subtract(mean_dist, codes, out=codes)
            np.maximum(codes, 0.0, out=codes)  # max(0, mean_j z_j - z_k)
        if pool_grid is None:
            results.append(codes.transpose(0, 3, 1, 2))
        else:
            results.append(grid_sum_pool(codes, pool_grid, layout="NHWC").reshape(nb, -1))
    return np.ascontiguousarray(np.concatenate(results, axis=0))


def _filter_bank(rows, normalize, channels, kh, kw, dtype):
    """(F, d) filter rows in patch order -> conv2d weights (F, C, kh, kw).

    With normalisation the rows are made zero-mean: ``p.(w - mean(w)) =
    (p - mean(p)).w``, so the convolution sees the mean-removed patch."""
    if rows is None:
        return None
    if normalize:
        rows = rows - rows.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(rows.reshape(-1, channels, kh, kw), dtype=dtype)
