"""The workspace budget: speed against the budget, and a layer whose full
patch matrix would not fit in this machine's RAM.

conv2d never holds more than ``max_workspace_bytes`` of patch matrix (the
default is ``im2col_nb.get_max_workspace_bytes()``, 64 MiB). The budget sweep
times conv2d on r18-l1 (a 55 MiB patch matrix) from 256 KiB to 1 GiB, with
the peak memory of each (fresh interpreter) in the full suite.
"""

from __future__ import annotations

import math
import os

import pytest

import suite

BUDGETS = [2**18, 2**20, 2**22, 2**24, 2**26, 2**30]


@pytest.mark.parametrize("budget", BUDGETS, ids=[f"{b >> 10}KiB" for b in BUDGETS])
def test_budget_sweep(benchmark, budget):
    import im2col_nb

    layer = suite.LAYERS["r18-l1"]
    x, w, b = suite.inputs(layer)
    benchmark.group = "budget r18-l1"
    benchmark.pedantic(lambda: im2col_nb.conv2d(x, w, b, padding=1, max_workspace_bytes=budget),
                       rounds=5, warmup_rounds=1, iterations=1)
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(layer="r18-l1", impl="conv2d", budget=budget, time_min_s=best,
                                gflops=layer.flops / best / 1e9, patch_bytes=layer.patch_bytes())
    mem = suite.memory_probe(layer, "conv2d", budget=budget)
    benchmark.extra_info.update(mem)
    assert mem["tracemalloc_peak"] <= budget + mem["out_bytes"] + mem["in_bytes"]


def ram_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_patch_matrix_larger_than_ram(benchmark):
    """1 x 32 x S x S -> 4 filters of 7x7 ('same' padding), S chosen so that
    the full patch matrix is 1.1x the machine's RAM (49x the input). It runs
    with the default budget, holding budget + output + input at most."""
    ram = ram_bytes()
    side = math.ceil(math.sqrt(1.1 * ram / (32 * 49 * 4)))
    layer = suite.Layer(1, 32, side, side, 4, 7, 1, 3)
    if layer.n * layer.c * side * side * 4 > ram / 8:
        pytest.skip("input would take more than 1/8 of RAM on this machine")
    assert layer.patch_bytes() > ram
    mem = suite.memory_probe(layer, "conv2d", timeout=1800)
    bound = mem["budget"] + mem["out_bytes"] + mem["in_bytes"]
    assert mem["tracemalloc_peak"] <= bound
    call = suite.make_call("conv2d", layer)
    benchmark.group = "larger than RAM"
    benchmark.pedantic(call, rounds=1, warmup_rounds=0, iterations=1)
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(layer=f"S={side}", label=layer.label(), impl="conv2d",
                                ram_bytes=ram, patch_bytes=layer.patch_bytes(), time_min_s=best,
                                gflops=layer.flops / best / 1e9, **mem)
