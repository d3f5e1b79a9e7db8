"""Sweeps over the number of filters F and the batch N (im2col vs direct).

The case for im2col: im2col pays off most with many filters and big batches,
and its only problem is memory. The F sweep (N = 8, 64 -> F, 32x32, 3x3)
and the N sweep (64 -> 64, 32x32, 3x3) time conv2d and conv2d_direct; the
N sweep also times the unbounded im2col convolution (whole patch matrix at
once, ``im2col_full``) and, in the full suite, records each one's peak memory
(fresh interpreter): unbounded im2col grows with N like the patch matrix,
conv2d stays at its workspace budget plus the output.
"""

from __future__ import annotations

import pytest

import suite

SWEEP_MEMORY = ("conv2d", "conv2d_direct", "im2col_full")


def _sweep(benchmark, kind, layer, impls, memory=False):
    calls = [suite.make_call(i, layer) for i in impls]
    mins, medians = suite.interleaved(calls, rounds=5, budget_s=20, settle_s=suite.SETTLE_S)
    benchmark.group = f"sweep {kind}"
    benchmark.pedantic(calls[0], rounds=1, warmup_rounds=0, iterations=1)
    benchmark.extra_info.update(sweep=kind, f=layer.f, n=layer.n, label=layer.label(),
                                impl=impls[0], flops=layer.flops,
                                patch_bytes=layer.patch_bytes(4),
                                interleaved=dict(zip(impls, mins)),
                                interleaved_median=dict(zip(impls, medians)))
    if memory:
        benchmark.extra_info["memory"] = {i: suite.memory_probe(layer, i) for i in SWEEP_MEMORY}


@pytest.mark.parametrize("f", suite.SWEEP_F)
def test_sweep_filters(benchmark, f):
    """conv2d, conv2d_direct and the bare GEMM, interleaved, for F filters."""
    _sweep(benchmark, "F", suite.sweep_f_layer(f), ("conv2d", "conv2d_direct", "gemm"))


@pytest.mark.parametrize("n", suite.SWEEP_N)
def test_sweep_batch(benchmark, n):
    """conv2d, conv2d_direct and unbounded im2col, interleaved, for a batch of
    N; and each one's peak memory."""
    _sweep(benchmark, "N", suite.sweep_n_layer(n), ("conv2d", "conv2d_direct", "im2col_full"),
           memory=True)
