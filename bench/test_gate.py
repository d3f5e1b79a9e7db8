"""Performance gate: ratios measured in interleaved rounds, checked against
bench/thresholds.json (``pytest bench --quick`` in CI, also part of the full
suite).

Only ratios of two implementations timed in the same rounds are checked
(never seconds), because CI machines are shared and noisy: A and B are
called alternately and each keeps its fastest round. Each threshold sits
below what a 2-core shared machine measures, with margin for noise, yet
above what a real regression (e.g. im2col twice as slow) gives. The measured
value of every gate is printed at the end of the run. Where thread pools are
involved, each timed call follows suite.SETTLE_S seconds of untimed calls of
the same implementation (the previous one's spinning threads would otherwise
slow it ~1.5x). ``-p slow_im2col_2x`` (bench/slow_im2col_2x.py) makes im2col
twice as slow, to check that the gate catches it.
"""

from __future__ import annotations

import numpy as np
import pytest

import suite
from suite import check_gate as check

pytestmark = pytest.mark.gate

# Layers of the gate: the benchmark layers (suite.LAYERS) minus the slowest (a few seconds each).
GATE_LAYERS = ("lenet-c1", "cifar", "resnet18-conv1", "r18-l2", "r18-l3", "r18-l4", "downsample",
               "pointwise")
ROUNDS = 7


def _per_layer(impl_a: str, impl_b: str, layers=GATE_LAYERS, rounds=ROUNDS,
               settle_s=suite.SETTLE_S):
    """{layer: t_a / t_b} from interleaved minima (> 1: b is faster), each
    timed call after `settle_s` seconds of untimed ones (suite.SETTLE_S)."""
    ratios = {}
    for name in layers:
        layer = suite.LAYERS[name]
        a, b = suite.make_call(impl_a, layer), suite.make_call(impl_b, layer)
        (ta, tb), _ = suite.interleaved([a, b], rounds=rounds, budget_s=20, settle_s=settle_s)
        ratios[name] = ta / tb
    return ratios


def _fmt(ratios):
    return " ".join(f"{k}={v:.2f}" for k, v in ratios.items())


def test_conv2d_near_bare_gemm(gate_results, thresholds):
    """conv2d costs about what the GEMM of the same M, K, N costs (target: within 10 %).

    With the machine's threads, the bare GEMM is one multi-threaded BLAS
    call, whose speed swings several-fold with background load (its threads
    wait for each other), so that gate only catches disasters. The single-
    threaded form (BLAS limited to one thread: conv2d then runs its tiles on
    the calling thread) compares the same work with none of that noise: it
    is what catches a slower im2col, a copying GEMM or an extra bias pass.
    """
    ratios = _per_layer("gemm", "conv2d")
    check(gate_results, thresholds, "conv2d_over_gemm_geomean", suite.geomean(ratios.values()),
          _fmt(ratios))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):  # no spinning helper threads: no settling
        ratios = _per_layer("gemm", "conv2d", settle_s=0.0)
    check(gate_results, thresholds, "conv2d_over_gemm_1thread_geomean",
          suite.geomean(ratios.values()), _fmt(ratios))
    check(gate_results, thresholds, "conv2d_over_gemm_1thread_worst", min(ratios.values()))


def test_conv2d_beats_direct(gate_results, thresholds):
    """conv2d's auto choice no slower than the register-blocked direct loops on
    any layer (auto runs them itself where they win: the ratio is then 1)."""
    ratios = _per_layer("conv2d_direct", "conv2d")
    check(gate_results, thresholds, "direct_over_conv2d_worst", min(ratios.values()), _fmt(ratios))


def test_im2col_near_memcpy(gate_results, thresholds):
    """im2col costs about a plain copy of the patch matrix's bytes (target: <= 1.25x).

    Both on one thread (``np.copyto`` is single-threaded): steady when
    another job takes a core, which a 2-thread im2col against a 1-thread
    copy is not."""
    import im2col_nb

    ratios = {}
    for name in ("cifar", "resnet18-conv1", "r18-l1", "r18-l3"):
        im2col, memcpy = suite.im2col_calls(suite.LAYERS[name])
        with im2col_nb.threads(1):
            (ti, tc), _ = suite.interleaved([im2col, memcpy], rounds=ROUNDS, budget_s=20)
        ratios[name] = tc / ti
    check(gate_results, thresholds, "memcpy_over_im2col_geomean", suite.geomean(ratios.values()),
          _fmt(ratios))


def test_im2col_tile_kernel_speed(gate_results, thresholds):
    """The serial tile kernel (what conv2d's workers run) against a copy of the
    same bytes, one image at a time (cache-resident), single-threaded: the
    steady check of the kernel's own speed (wide rows, narrow rows of a small
    map through the offset table, strided rows through column phases)."""
    ratios = {}
    for name in ("cifar", "r18-l3", "r18-l4", "resnet18-conv1"):
        tile, copy = suite.im2col_tile_calls(suite.LAYERS[name], repeat=20)
        (tt, tc), _ = suite.interleaved([tile, copy], rounds=15, budget_s=20)
        ratios[name] = tc / tt
    check(gate_results, thresholds, "memcpy_over_im2col_tile_geomean",
          suite.geomean(ratios.values()), _fmt(ratios))


def test_numpy_backend_within_3x(gate_results, thresholds):
    """The NumPy fallback within 3x of the Numba path (target ratio >= 1/3)."""
    ratios = _per_layer("conv2d", "numpy_backend", layers=("cifar", "r18-l3", "resnet18-conv1"),
                        rounds=3)
    check(gate_results, thresholds, "numba_over_numpy_backend_geomean",
          suite.geomean(ratios.values()), _fmt(ratios))


def test_budget_costs_no_speed(gate_results, thresholds):
    """The bounded workspace is as fast as building the whole patch matrix (target: within 10 %)."""
    ratios = _per_layer("im2col_full", "conv2d", layers=("cifar", "resnet18-conv1", "r18-l3"))
    check(gate_results, thresholds, "unbounded_over_conv2d_geomean", suite.geomean(ratios.values()),
          _fmt(ratios))


def test_peak_memory_within_budget(gate_results, thresholds):
    """Peak memory (tracemalloc, fresh interpreter) <= budget + output + input,
    on two layers whose patch matrix is ~14x the budget: resnet18-conv1
    (stride 2: tiles of patch matrices) and r18-l1 (stride 1: shifted GEMMs,
    whose scratch the budget bounds too); the worse ratio counts."""
    budget = 4 * 2**20
    ratios, details = [], []
    for name in ("resnet18-conv1", "r18-l1"):
        layer = suite.LAYERS[name]
        assert layer.patch_bytes() > 10 * budget
        mem = suite.memory_probe(layer, "conv2d", budget=budget)
        bound = mem["budget"] + mem["out_bytes"] + mem["in_bytes"]
        ratios.append(bound / mem["tracemalloc_peak"])
        details.append(f"{name}: peak {mem['tracemalloc_peak'] / 2**20:.1f} MiB, bound "
                       f"{bound / 2**20:.1f} MiB, rss growth {mem['rss_peak_delta'] / 2**20:.1f} MiB, "
                       f"patch {layer.patch_bytes() / 2**20:.0f} MiB")
    check(gate_results, thresholds, "memory_bound_over_peak", min(ratios), "; ".join(details))


def test_direct_is_a_fair_opponent(gate_results, thresholds):
    """The direct kernel runs at a fair fraction of the GEMM ceiling on the cifar
    layer (the goal is >= 10 GFLOP/s there with 2 threads; this machine-
    independent form compares it with the bare GEMM timed in the same rounds)."""
    layer = suite.LAYERS["cifar"]
    direct, gemm = suite.make_call("conv2d_direct", layer), suite.make_call("gemm", layer)
    (td, tg), _ = suite.interleaved([direct, gemm], rounds=5, budget_s=20, settle_s=suite.SETTLE_S)
    check(gate_results, thresholds, "direct_over_gemm_speed_cifar", tg / td,
          f"direct {layer.flops / td / 1e9:.1f} GFLOP/s, gemm {layer.flops / tg / 1e9:.1f} GFLOP/s "
          f"({suite.workers()} threads)")
    assert np.isfinite(td)
