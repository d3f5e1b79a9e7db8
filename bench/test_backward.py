"""Backward passes: ``conv2d_input_grad`` and ``conv2d_weight_grad`` (NCHW,
float32, all threads) on the issue's ten layers, against the bare GEMM of the
forward's size (each gradient is one GEMM of the same flops) and PyTorch's
``torch.nn.grad.conv2d_input`` / ``conv2d_weight`` when installed.

``test_backward_ratios[layer]``: the implementations timed in interleaved
rounds, each timed call after suite.SETTLE_S seconds of untimed calls of the
same one; fastest round of each in ``extra_info["interleaved"]``. The
gradients are first checked against PyTorch's. docs/benchmarks.md's
backward table is built from these. Not part of ``--quick`` (the CI gate).
"""

from __future__ import annotations

import numpy as np
import pytest

import suite


def _check_against_torch(calls: dict) -> None:
    for ours, theirs in (("input_grad", "torch_input_grad"), ("weight_grad", "torch_weight_grad")):
        if theirs in calls:
            want = calls[theirs]().numpy()
            np.testing.assert_allclose(calls[ours](), want, rtol=2e-3,
                                       atol=2e-3 * float(np.abs(want).max()), err_msg=ours)


@pytest.mark.parametrize("name", list(suite.LAYERS))
def test_backward_ratios(benchmark, name):
    layer = suite.LAYERS[name]
    calls = {i: suite.make_call(i, layer, np.float32) for i in suite.BACKWARD_IMPLS}
    calls = {i: c for i, c in calls.items() if c is not None}
    _check_against_torch(calls)
    mins, medians = suite.interleaved(list(calls.values()), rounds=5, budget_s=40,
                                      settle_s=suite.SETTLE_S)
    benchmark.group = "ratios float32 backward"
    benchmark.pedantic(calls["input_grad"], rounds=1, warmup_rounds=0, iterations=1)
    benchmark.extra_info.update(layer=name, label=layer.label(), impl="input_grad",
                                dtype="float32", flops=layer.flops, threads=suite.workers(),
                                interleaved=dict(zip(calls, mins)),
                                interleaved_median=dict(zip(calls, medians)))
