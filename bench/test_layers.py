"""Per-layer benchmarks: conv2d (im2col + GEMM) against conv2d_direct, the
NumPy fallback, the NumPy peers (sliding_window_view + tensordot / einsum),
PyTorch (when installed) and the bare GEMM of the same M, K, N.

``test_layer[layer-impl-dtype]``: one implementation per case, the usual
pytest-benchmark timing (what ``--benchmark-compare`` compares). Each records
in ``extra_info`` the layer, GFLOP/s (fastest round), the GEMM shape and, in
the full suite, the peak memory of one call in a fresh interpreter
(tracemalloc peak and peak RSS growth).

``test_layer_ratios[layer-dtype]``: all implementations of a layer timed in
interleaved rounds (A B C ... A B C ...), fastest round of each in
``extra_info["interleaved"]``: on a shared machine only these give fair
ratios, and docs/benchmarks.md is built from them. Each timed call follows
~0.15 s of untimed calls of the same implementation (`suite.SETTLE_S`), so
it does not pay for the spinning threads the previous one left behind.
"""

from __future__ import annotations

import numpy as np
import pytest

import suite

QUICK_LAYERS = ("cifar", "r18-l3", "pointwise")
QUICK_IMPLS = ("conv2d", "conv2d_direct", "gemm")
MEMORY_IMPLS = ("conv2d", "conv2d_direct", "numpy_peer")
# Slow implementations get fewer rounds.
SLOW = ("numpy_backend", "numpy_peer", "numpy_peer_einsum", "conv2d_direct")


def _cases():
    for name in suite.LAYERS:
        for impl in suite.IMPLS:
            marks = [pytest.mark.quick] if name in QUICK_LAYERS and impl in QUICK_IMPLS else []
            yield pytest.param(name, impl, "float32", marks=marks, id=f"{name}-{impl}-float32")
    for name in suite.FLOAT64_LAYERS:
        for impl in ("conv2d", "conv2d_direct", "numpy_backend", "torch", "gemm"):
            yield pytest.param(name, impl, "float64", id=f"{name}-{impl}-float64")


def record(benchmark, layer: suite.Layer, name: str, impl: str, dtype: str):
    m, k, n = layer.gemm_mkn
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(
        layer=name, label=layer.label(), impl=impl, dtype=dtype, flops=layer.flops,
        gflops=layer.flops / best / 1e9, time_min_s=best, gemm_m=m, gemm_k=k, gemm_n=n,
        patch_bytes=layer.patch_bytes(np.dtype(dtype).itemsize), threads=suite.workers(),
    )


@pytest.mark.parametrize("name, impl, dtype", list(_cases()))
def test_layer(benchmark, quick, name, impl, dtype):
    layer = suite.LAYERS[name]
    call = suite.make_call(impl, layer, np.dtype(dtype))
    if call is None:
        pytest.skip(f"{impl} not installed")
    rounds = 3 if quick or impl in SLOW else 7
    benchmark.group = f"layer {name} {dtype}"
    suite.settle(call)  # not right after the previous case's spinning BLAS threads
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=0, iterations=1)
    record(benchmark, layer, name, impl, dtype)
    if not quick and dtype == "float32" and impl in MEMORY_IMPLS:
        benchmark.extra_info.update(suite.memory_probe(layer, impl))


def _ratio_cases():
    for name in suite.LAYERS:
        yield pytest.param(name, "float32", 0, id=f"{name}-float32")
    for name in suite.LAYERS:
        yield pytest.param(name, "float32", 1, id=f"{name}-float32-1thread")
    for name in suite.FLOAT64_LAYERS:
        yield pytest.param(name, "float64", 0, id=f"{name}-float64")


@pytest.mark.parametrize("name, dtype, threads", list(_ratio_cases()))
def test_layer_ratios(benchmark, name, dtype, threads):
    """All implementations of a layer in interleaved rounds; ``threads=1``: every
    library on one thread (``im2col_nb.threads(1)`` limits Numba and BLAS,
    PyTorch is set to match), the steady view of the same comparison."""
    import contextlib

    import im2col_nb

    layer = suite.LAYERS[name]
    impls = suite.IMPLS if dtype == "float32" else ("conv2d", "conv2d_direct", "numpy_backend",
                                                     "torch", "gemm")
    with im2col_nb.threads(threads) if threads else contextlib.nullcontext():
        calls = {i: suite.make_call(i, layer, np.dtype(dtype)) for i in impls}
        calls = {i: c for i, c in calls.items() if c is not None}
        mins, medians = suite.interleaved(list(calls.values()), rounds=5, budget_s=40,
                                          settle_s=suite.SETTLE_S)
        benchmark.group = f"ratios {dtype}" + (f" {threads}-thread" if threads else "")
        benchmark.pedantic(calls["conv2d"], rounds=1, warmup_rounds=0, iterations=1)
        record(benchmark, layer, name, "conv2d", dtype)
    if "torch" in calls:
        import torch

        torch.set_num_threads(suite.workers())
    benchmark.extra_info["interleaved"] = dict(zip(calls, mins))
    benchmark.extra_info["interleaved_median"] = dict(zip(calls, medians))
