"""Channels-last (NHWC) benchmarks: ``conv2d(..., layout="NHWC")`` against
the bare GEMM of the NHWC orientation and PyTorch on ``torch.channels_last``
tensors, on the issue's ten layers, float32.

``test_layer_nhwc[layer-impl]``: one implementation per case, the usual
pytest-benchmark timing (what ``--benchmark-compare`` compares), with the
layer, GFLOP/s (fastest round) and the GEMM shape in ``extra_info``.
Implementations (suite.make_call): ``conv2d_nhwc`` (input (N, H, W, C),
output (N, OH, OW, F)); ``gemm_nhwc``, patch rows (N*OH*OW, C*k*k) @ W.T
(C*k*k, F) into a preallocated output, the ceiling for an NHWC im2col
convolution; ``torch_nhwc``, PyTorch's conv2d with input and weight in
channels_last memory format (converted once, outside the timed call, run
under ``torch.no_grad``).

``test_layer_ratios_nhwc[layer-float32]`` (and ``-1thread``): the three,
plus conv2d on NCHW (what the layout costs or saves), timed in interleaved
rounds, each timed call after suite.SETTLE_S seconds of untimed calls of the
same implementation; fastest round of each in ``extra_info["interleaved"]``,
and the ratios conv2d_nhwc / gemm_nhwc, torch_nhwc / conv2d_nhwc and
conv2d_nhwc / conv2d (NCHW) time in ``extra_info["ratios"]``.
docs/benchmarks.md's NHWC table is built from these.

Nothing here runs in ``--quick`` mode (the CI gate): no case is marked
``quick`` and there is no NHWC gate threshold.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import suite


def record(benchmark, layer: suite.Layer, name: str, impl: str, dtype: str = "float32"):
    m, k, n = layer.gemm_mkn_nhwc
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(
        layer=name, label=layer.label(), impl=impl, dtype=dtype, layout="NHWC", flops=layer.flops,
        gflops=layer.flops / best / 1e9, time_min_s=best, gemm_m=m, gemm_k=k, gemm_n=n,
        patch_bytes=layer.patch_bytes(np.dtype(dtype).itemsize), threads=suite.workers(),
    )


@pytest.mark.parametrize("name, impl", [
    pytest.param(n, i, id=f"{n}-{i}-float32") for n in suite.LAYERS
    for i in ("conv2d_nhwc", "gemm_nhwc", "torch_nhwc")])
def test_layer_nhwc(benchmark, name, impl):
    layer = suite.LAYERS[name]
    call = suite.make_call(impl, layer, np.float32)
    if call is None:
        pytest.skip(f"{impl} not installed")
    benchmark.group = f"layer {name} float32 NHWC"
    suite.settle(call)  # not right after the previous case's spinning BLAS threads
    benchmark.pedantic(call, rounds=7, warmup_rounds=0, iterations=1)
    record(benchmark, layer, name, impl)


def _check_same_result(layer: suite.Layer, calls: dict) -> None:
    """The NHWC implementations compute the NCHW convolution, transposed."""
    ref = np.asarray(calls["conv2d"]()).transpose(0, 2, 3, 1)
    got = {"conv2d_nhwc": np.asarray(calls["conv2d_nhwc"]())}
    if "torch_nhwc" in calls:
        got["torch_nhwc"] = calls["torch_nhwc"]().numpy().transpose(0, 2, 3, 1)
    for impl, out in got.items():
        assert out.shape == ref.shape, (impl, out.shape, ref.shape)
        np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-3, err_msg=f"{impl} on {layer}")


@pytest.mark.parametrize("threads", (0, 1), ids=("float32", "float32-1thread"))
@pytest.mark.parametrize("name", list(suite.LAYERS))
def test_layer_ratios_nhwc(benchmark, name, threads):
    """conv2d NHWC, the NHWC GEMM, PyTorch channels_last and conv2d NCHW in
    interleaved rounds; ``threads=1``: every library on one thread
    (``im2col_nb.threads(1)``, PyTorch set to match)."""
    import im2col_nb

    layer = suite.LAYERS[name]
    with im2col_nb.threads(threads) if threads else contextlib.nullcontext():
        calls = {i: suite.make_call(i, layer, np.float32) for i in suite.NHWC_IMPLS}
        calls = {i: c for i, c in calls.items() if c is not None}
        _check_same_result(layer, calls)
        mins, medians = suite.interleaved(list(calls.values()), rounds=5, budget_s=40,
                                          settle_s=suite.SETTLE_S)
        benchmark.group = "ratios float32 NHWC" + (f" {threads}-thread" if threads else "")
        benchmark.pedantic(calls["conv2d_nhwc"], rounds=1, warmup_rounds=0, iterations=1)
        record(benchmark, layer, name, "conv2d_nhwc")
    if "torch_nhwc" in calls:
        import torch

        torch.set_num_threads(suite.workers())
    t = dict(zip(calls, mins))
    ratios = {"conv2d_nhwc/gemm_nhwc": t["conv2d_nhwc"] / t["gemm_nhwc"],
              "conv2d_nhwc/conv2d": t["conv2d_nhwc"] / t["conv2d"]}
    if "torch_nhwc" in t:
        ratios["torch_nhwc/conv2d_nhwc"] = t["torch_nhwc"] / t["conv2d_nhwc"]
    benchmark.extra_info["interleaved"] = t
    benchmark.extra_info["interleaved_median"] = dict(zip(calls, medians))
    benchmark.extra_info["ratios"] = ratios
