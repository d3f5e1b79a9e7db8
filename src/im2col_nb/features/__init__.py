"""Unsupervised feature learning from image patches.

The single-layer pipeline of Coates, Lee & Ng (AISTATS 2011, "An Analysis of
Single-Layer Networks in Unsupervised Feature Learning") on im2col_nb's
kernels: sample patches, normalise them, ZCA-whiten them, learn a dictionary
with k-means, then encode every patch of every image (a convolution) and
sum-pool the codes over the image's quadrants.

`PatchFeatures` runs it all as a scikit-learn-compatible transformer; the
steps are also available one by one.
"""

from .encoders import soft_threshold, triangle
from .estimator import PatchFeatures
from .extraction import extract_features, grid_sum_pool
from .kmeans import KMeansResult, kmeans
from .patches import extract_patches, normalize_patches
from .plotting import filter_grid, plot_filters
from .whitening import ZCA

__all__ = [
    "KMeansResult",
    "PatchFeatures",
    "ZCA",
    "extract_features",
    "extract_patches",
    "filter_grid",
    "grid_sum_pool",
    "kmeans",
    "normalize_patches",
    "plot_filters",
    "soft_threshold",
    "triangle",
]
