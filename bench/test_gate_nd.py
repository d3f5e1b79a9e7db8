"""Performance gate for 1-D and 3-D operations: same-run ratios against
bench/thresholds.json (``pytest bench --quick``), as bench/test_gate.py does
for 2-D.

All on one thread (Numba and BLAS): steady under background load, and what
catches a slower N-D kernel. The full comparisons against PyTorch, unfoldNd
and the NumPy peer are bench/bench_conv3d.py, bench/bench_unfold_nd.py,
bench/bench_pool3d.py and bench/bench_ops1d.py (docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

import im2col_nb
import suite
from suite import check_gate as check

pytestmark = pytest.mark.gate

ROUNDS = 7


def test_conv3d_near_bare_gemm(gate_results, thresholds):
    """conv3d (im2col_nd + GEMM per group) against the bare GEMM of the same
    M, K, N: its im2col_nd pass is all it adds."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 8, 28, 28)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3, 3)).astype(np.float32)
    a = w.reshape(32, -1)
    b = rng.standard_normal((16 * 27, 8 * 28 * 28)).astype(np.float32)
    out = np.empty((32, 8 * 28 * 28), np.float32)

    def gemm():
        for _ in range(2):  # the batch: one GEMM per image, as conv3d's driver
            np.matmul(a, b, out=out)

    with im2col_nb.threads(1), threadpool_limits(1, user_api="blas"):
        (t_conv, t_gemm), _ = suite.interleaved([lambda: im2col_nb.conv3d(x, w, padding=1), gemm],
                                                rounds=ROUNDS, budget_s=20)
    check(gate_results, thresholds, "conv3d_over_gemm", t_gemm / t_conv,
          f"conv3d {t_conv * 1e3:.1f} ms, GEMM {t_gemm * 1e3:.1f} ms")


def test_im2col3d_beats_the_numpy_peer(gate_results, thresholds):
    """im2col3d against sliding_window_view + one copy into the same layout,
    both on one thread, each writing a new patch matrix."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 8, 16, 56, 56)).astype(np.float32)

    def peer():
        windows = sliding_window_view(x, (3, 3, 3), axis=(2, 3, 4))  # N C OD OH OW 3 3 3
        return np.ascontiguousarray(windows.transpose(0, 1, 5, 6, 7, 2, 3, 4)).reshape(1, 8 * 27, -1)

    np.testing.assert_array_equal(peer(), im2col_nb.im2col3d(x, 3))
    with im2col_nb.threads(1):
        (t_ours, t_peer), _ = suite.interleaved([lambda: im2col_nb.im2col3d(x, 3), peer],
                                                rounds=ROUNDS, budget_s=20)
    check(gate_results, thresholds, "numpy_peer_over_im2col3d", t_peer / t_ours,
          f"im2col3d {t_ours * 1e3:.1f} ms, peer {t_peer * 1e3:.1f} ms")


def test_conv1d_costs_what_conv2d_does(gate_results, thresholds):
    """conv1d runs the 2-D engine on a unit axis: about conv2d's time on the
    same problem written as a height-1 image."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 32, 4000)).astype(np.float32)
    w = rng.standard_normal((32, 32, 9)).astype(np.float32)
    x4, w4 = x[:, :, None, :], w[:, :, None, :]
    with im2col_nb.threads(1), threadpool_limits(1, user_api="blas"):
        (t1, t2), _ = suite.interleaved([lambda: im2col_nb.conv1d(x, w, padding=4),
                                         lambda: im2col_nb.conv2d(x4, w4, padding=(0, 4))],
                                        rounds=ROUNDS, budget_s=20)
    check(gate_results, thresholds, "conv2d_over_conv1d", t2 / t1,
          f"conv1d {t1 * 1e3:.1f} ms, conv2d {t2 * 1e3:.1f} ms")
