"""Patch sampling and per-patch brightness/contrast normalisation."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..unfold import im2col
from ._checks import as_images, check_matrix, check_patch_fits, check_positive_int, check_real, resolve_rng

__all__ = ["extract_patches", "normalize_patches"]


def extract_patches(images, patch_size, n_patches=None, *, stride=1, random_state=None):
    """All patches of a stack of images, or `n_patches` of them drawn at random.

    Parameters
    ----------
    images : array_like, shape (N, H, W) or (N, C, H, W)
        Grey or multi-channel images. Integers and bools promote to float64,
        float16 to float32.
    patch_size : int or (int, int)
        Patch height and width (kh, kw).
    n_patches : int, optional
        How many patches to draw, uniformly and without replacement, from the
        ``N * OH * OW`` patch positions. ``None`` (default) returns every
        patch, in the order of `im2col` (image by image, row by row).
    stride : int or (int, int), default 1
        Step between neighbouring patch positions.
    random_state : None, int, numpy Generator or RandomState
        Seed of the draw; the same seed gives the same patches.

    Returns
    -------
    patches : ndarray, shape (n_patches, C*kh*kw)
        One flattened patch per row, laid out as the columns of `im2col`:
        entry ``c*kh*kw + ki*kw + kj`` is tap (ki, kj) of channel c. Without
        `n_patches` there are ``N * OH * OW`` rows with ``OH = (H - kh) //
        sh + 1`` and ``OW = (W - kw) // sw + 1``.

    Raises
    ------
    TypeError
        If `images` is not real-valued, or a size is not an int.
    ValueError
        If `images` is not 3-D or 4-D, is empty or holds NaN/inf, if the patch
        is larger than the images, or if `n_patches` exceeds the number of
        patch positions.

    Notes
    -----
    Memory: a random sample only ever holds ``n_patches * C*kh*kw`` values:
    the patches are gathered from a strided view of the images, the full
    patch matrix (``N*OH*OW`` rows) is never built. All patches go through
    `im2col`.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import extract_patches
    >>> images = np.arange(2 * 4 * 4.0).reshape(2, 4, 4)
    >>> extract_patches(images, 3).shape          # 2 images x 2x2 positions
    (8, 9)
    >>> extract_patches(images, 3)[0]
    array([ 0.,  1.,  2.,  4.,  5.,  6.,  8.,  9., 10.])
    >>> sample = extract_patches(images, 3, n_patches=5, random_state=0)
    >>> sample.shape
    (5, 9)
    >>> bool(np.array_equal(sample, extract_patches(images, 3, n_patches=5, random_state=0)))
    True
    """
    x4 = as_images("images", images)
    (kh, kw), (sh, sw) = check_patch_fits(patch_size, x4.shape, stride)
    n_img, channels, height, width = x4.shape
    out_h = (height - kh) // sh + 1
    out_w = (width - kw) // sw + 1
    total = n_img * out_h * out_w
    if n_patches is None:
        cols = im2col(x4, (kh, kw), stride=(sh, sw))          # (N, d, L)
        return np.ascontiguousarray(cols.transpose(0, 2, 1)).reshape(total, channels * kh * kw)
    n_patches = check_positive_int("n_patches", n_patches)
    if n_patches > total:
        raise ValueError(
            f"`n_patches`={n_patches} is larger than the number of patches available "
            f"({total} = {n_img} images x {out_h}x{out_w} positions)"
        )
    rng = resolve_rng(random_state)
    flat = rng.choice(total, size=n_patches, replace=False)
    img, pos = np.divmod(flat, out_h * out_w)
    row, col = np.divmod(pos, out_w)
    windows = sliding_window_view(x4, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    # Advanced indices separated by a slice: result (n_patches, C, kh, kw).
    patches = windows[img, :, row, col]
    return np.ascontiguousarray(patches).reshape(n_patches, channels * kh * kw)


def normalize_patches(patches, eps=10.0):
    """Brightness and contrast normalisation of each patch (row).

    ``(p - mean(p)) / sqrt(var(p) + eps)``, the first step of Coates, Lee &
    Ng (2011).

    Parameters
    ----------
    patches : array_like, shape (n, d)
        One flattened patch per row.
    eps : float, default 10.0
        Added to each patch's variance: it keeps nearly flat patches from
        being blown up into noise. 10 is the paper's value for pixels in
        [0, 255]; scale it with the square of the pixel range.

    Returns
    -------
    normalized : ndarray, shape (n, d)
        Same float dtype as `patches`; a new array.

    Raises
    ------
    ValueError
        If `patches` is not 2-D, is empty or holds NaN/inf, or `eps` is
        negative.

    Notes
    -----
    The variance is the population variance (divide by d). Coates' code uses
    MATLAB's ``var`` (divide by d - 1): the same up to a factor d/(d-1) that
    `eps` absorbs. Cost: two passes over the patches.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb.features import normalize_patches
    >>> p = np.array([[0.0, 2.0, 4.0, 6.0], [1.0, 1.0, 1.0, 1.0]])
    >>> normalize_patches(p, eps=0.0)[0]
    array([-1.34164079, -0.4472136 ,  0.4472136 ,  1.34164079])
    >>> normalize_patches(p, eps=1.0)[1]           # a flat patch stays flat
    array([0., 0., 0., 0.])
    """
    arr = check_matrix("patches", patches)
    eps = check_real("eps", eps, minimum=0.0)
    mean = arr.mean(axis=1, keepdims=True)
    centered = arr - mean
    var = np.einsum("ij,ij->i", centered, centered)[:, None] / arr.shape[1]
    scale = np.sqrt(var + eps)
    # eps = 0 and a constant patch: 0 / 0 -> 0 (the patch has no contrast).
    np.divide(centered, scale, out=centered, where=scale > 0)
    return centered
