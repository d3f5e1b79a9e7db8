"""Performance gate for im2col_nb as a drop-in for existing NumPy CNN code:
same-run ratios against bench/thresholds.json (``pytest bench --quick``).

All on one thread (Numba and BLAS), as the original code it replaces runs:
steady under background load. The drivers are bench/dropin_styles.py; the
full comparison, every style, shape and dtype, is bench/bench_dropin.py
(docs/speed-up-numpy-cnn.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import dropin_styles as st
import im2col_nb
import suite
from suite import check_gate as check
from im2col_nb.cli.timing import traced_peak

pytestmark = pytest.mark.gate

ROUNDS = 7
SETTLE_S = 0.02
# CS231n / Deep Learning from Scratch MNIST-sized layer: 32 images, 16 channels,
# 28x28, 3x3 kernel, padding 1, stride 1.
N, C, H, W, K, PAD, STRIDE = 32, 16, 28, 28, 3, 1, 1
OH, OW = st.out_hw(H, W, K, K, PAD, STRIDE)


def medians(calls):
    with im2col_nb.threads(1), threadpool_limits(1, user_api="blas"):
        mins, meds = suite.interleaved(calls, rounds=ROUNDS, budget_s=10, settle_s=SETTLE_S)
    return meds


def test_col2im_kln_beats_the_cython_loops(gate_results, thresholds):
    """col2im on CS231n's batch-innermost columns (C*k*k, L*N) against the
    serial port of col2im_cython's loop nest (np.zeros, += into the padded
    image, the unpadded slice), both allocating their result."""
    cols = np.random.default_rng(0).standard_normal((C * K * K, OH * OW * N)).astype(np.float32)
    ours = lambda: im2col_nb.col2im(cols, (H, W), K, padding=PAD, stride=STRIDE, order="KLN")  # noqa: E731
    orig = lambda: st.cs231n_col2im_cython(cols, N, C, H, W, K, K, PAD, STRIDE)  # noqa: E731
    np.testing.assert_allclose(ours(), orig(), rtol=1e-4, atol=1e-4)
    t_ours, t_orig = medians([ours, orig])
    check(gate_results, thresholds, "cython_col2im_kln_over_col2im", t_orig / t_ours,
          f"col2im KLN {t_ours * 1e3:.2f} ms, Cython port {t_orig * 1e3:.2f} ms")


def test_im2col_nlk_beats_the_book(gate_results, thresholds):
    """im2col into the book's rows (N*OH*OW, C*k*k) against its np.pad +
    strided slice copies + transpose copy, both allocating their result."""
    x = np.random.default_rng(1).standard_normal((N, C, H, W)).astype(np.float32)
    ours = lambda: im2col_nb.im2col(x, K, padding=PAD, stride=STRIDE, order="NLK")  # noqa: E731
    orig = lambda: st.book_im2col(x, K, K, STRIDE, PAD)  # noqa: E731
    np.testing.assert_array_equal(ours(), orig())
    t_ours, t_orig = medians([ours, orig])
    check(gate_results, thresholds, "book_im2col_over_im2col_nlk", t_orig / t_ours,
          f"im2col NLK {t_ours * 1e3:.2f} ms, book {t_orig * 1e3:.2f} ms")


def test_no_input_sized_copy(gate_results, thresholds):
    """numpy-ml's layouts: im2col of an NHWC array's NCHW view into a reused
    (C*k*k, L*N) buffer, col2im from it into an NHWC buffer's NCHW view. The
    tracemalloc peak of the two calls must stay far below the input's size."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((N, H, W, C)).astype(np.float32)
    cols = np.empty((C * K * K, OH * OW * N), np.float32)
    dX = np.empty_like(X)
    pad = ((PAD, PAD), (PAD, PAD))

    def calls():
        im2col_nb.im2col(X.transpose(0, 3, 1, 2), K, padding=pad, stride=STRIDE, order="KLN", out=cols)
        im2col_nb.col2im(cols, (H, W), K, padding=pad, stride=STRIDE, order="KLN",
                         out=dX.transpose(0, 3, 1, 2))

    calls()  # compile / load the kernels first
    np.testing.assert_array_equal(cols, st.nml_im2col(X, (K, K), (PAD,) * 4, STRIDE, 0))
    peak = max(traced_peak(calls) for _ in range(3))
    check(gate_results, thresholds, "dropin_input_over_extra_peak", X.nbytes / max(peak, 1024),
          f"peak {peak} B above the arrays, input {X.nbytes} B")
