"""Winograd's minimal filtering F(m x m, 3 x 3): the transform matrices.

``F(m, 3)`` computes m outputs of a 3-tap correlation from ``a = m + 2``
inputs with a multiplies instead of 3m (Lavin & Gray 2016, after Toom-Cook):

    y = A^T [(G g) * (B^T d)]                       (1-D)
    Y = A^T [(G g G^T) * (B^T d B)] A               (2-D: m x m outputs)

The matrices come from evaluating polynomials at ``a - 1`` points plus the
point at infinity: A^T (m x a) evaluates the output polynomial, G (a x 3)
the filter polynomial, and B^T (a x a) is the transposed inverse of the
full evaluation (Vandermonde) matrix. They are built here from the points
in exact rational arithmetic, then each row of B^T is scaled to the
smallest integers (the inverse scale goes to the same row of G), which
gives Lavin & Gray's published F(2, 3) and F(4, 3) matrices and an
integer B^T for F(6, 3).

Points: F(2, 3) 0, +-1; F(4, 3) 0, +-1, +-2; F(6, 3) 0, +-1, +-2, +-1/2
(the set ncnn, NNPACK and wincnn use for fp32: powers of two keep the
transform entries small, and +-1/2 mirrors +-2 so A^T's entries stay at
most 2**5 in magnitude).

Accuracy: the transforms amplify rounding error by roughly the size of
their entries; measured error bounds are in ``WINOGRAD_ERROR`` (see
`error_bound`) and docs/winograd.md.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from math import gcd, lcm

import numpy as np

__all__ = ["POINTS", "TILE_SIZES", "filter_transform", "matrices"]

POINTS = {
    2: (0, 1, -1),
    4: (0, 1, -1, 2, -2),
    6: (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)),
}
TILE_SIZES = tuple(POINTS)


def _inverse(rows: list) -> list:
    """Exact inverse of a square matrix of Fractions (Gauss-Jordan)."""
    n = len(rows)
    aug = [list(r) + [Fraction(int(i == j)) for j in range(n)] for i, r in enumerate(rows)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if aug[r][col] != 0)
        aug[col], aug[pivot] = aug[pivot], aug[col]
        head = aug[col][col]
        aug[col] = [v / head for v in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                factor = aug[r][col]
                aug[r] = [a - factor * b for a, b in zip(aug[r], aug[col])]
    return [row[n:] for row in aug]


@functools.lru_cache(maxsize=None)
def _exact(m: int, r: int = 3) -> tuple:
    points = [Fraction(p) for p in POINTS[m]]
    n = m + r - 1
    # evaluation of a degree n-1 polynomial at the points, and at infinity
    # (its leading coefficient)
    vander = [[p ** i for i in range(n)] for p in points] + [[Fraction(0)] * (n - 1) + [Fraction(1)]]
    inv = _inverse(vander)
    bt = [[inv[k][j] for k in range(n)] for j in range(n)]
    g = [[p ** k for k in range(r)] for p in points] + [[Fraction(0)] * (r - 1) + [Fraction(1)]]
    at = [[p ** i for p in points] + [Fraction(int(i == m - 1))] for i in range(m)]
    for j in range(n):  # row j of B^T to the smallest integers, G's row j by the inverse
        scale = 1
        for v in bt[j]:
            scale = lcm(scale, v.denominator)
        common = 0
        for v in bt[j]:
            common = gcd(common, (v * scale).numerator)
        factor = Fraction(scale, common)
        bt[j] = [v * factor for v in bt[j]]
        g[j] = [v / factor for v in g[j]]
    return bt, g, at


@functools.lru_cache(maxsize=None)
def matrices(m: int, dtype=np.float64) -> tuple:
    """``(B^T (a, a), G (a, 3), A^T (m, a))`` of F(m x m, 3 x 3), ``a = m + 2``,
    as read-only arrays of `dtype` (each entry rounded once from the exact
    rational value)."""
    out = []
    for rows in _exact(m):
        array = np.array([[float(v) for v in row] for row in rows], dtype=dtype)
        array.setflags(write=False)
        out.append(array)
    return tuple(out)


def filter_transform(weight: np.ndarray, m: int, out: np.ndarray | None = None) -> np.ndarray:
    """``U = G g G^T`` of every (filter, channel) kernel: ``weight (F, Cg, 3,
    3)`` -> ``(a*a, F, Cg)`` C-contiguous in the weight's dtype (one
    ``(F, Cg)`` matrix per element of the transformed tile, as the GEMMs
    take it), summed in float64 and rounded once: one GEMM of ``G (x) G``
    (a*a, 9) with the kernels, a block of filters at a time; into `out`
    when given."""
    _, g, _ = matrices(m)
    filters, cg = weight.shape[:2]
    a = m + 2
    both = np.kron(g, g)  # (a*a, 9): entry (i*a + j, k*3 + l) = g[i, k] g[j, l]
    u = np.empty((a * a, filters, cg), dtype=weight.dtype) if out is None else out
    block = max(1, 2**18 // max(cg, 1))  # filters per block: 2**18 kernels, 2**18 * a*a doubles
    for f0 in range(0, filters, block):
        kernels = weight[f0:f0 + block].reshape(-1, 9).astype(np.float64)
        u[:, f0:f0 + block] = (both @ kernels.T).reshape(a * a, -1, cg)
    return u
