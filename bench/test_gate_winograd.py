"""Performance gate for conv2d's Winograd methods: same-run ratios against
bench/thresholds.json (``pytest bench --quick``).

``method="winograd"`` (the tile size the engine picks) against
``method="im2col"`` (patch-matrix tiles + GEMM) on three ResNet-18-like 3x3
layers, timed in interleaved rounds. The figure is im2col time / winograd
time (higher is better, as every gate here): the median over the rounds
of the two calls' ratio within a round, which background load moves far
less than the ratio of the two minima (2 threads, 128@28 layer, one core
busy with other work: minima 0.9-1.9, median of the ratios 1.55-1.68).
Every threshold is at least 1.0: Winograd slower than im2col fails.

Per layer on one thread (steady under load: 1.21-1.56 whether the machine
was quiet or both cores were busy with other work), and the 64@56 layer on
the machine's threads, each timed call after suite.SETTLE_S seconds of
untimed calls of the same method (as bench/test_gate.py). Not the deeper
layers on 2 threads: there the ratio is 1.2-1.5 while the shared machine is
quiet but 0.87-0.98 (128@28, 256@14) in its slow periods, which neither
/proc/stat (no other process, no steal) nor the one-thread ratios show, and
im2col's 2-thread time grows less in them than Winograd's. The full
comparison, more layers, PyTorch and the forced tile sizes, is
bench/bench_winograd.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import im2col_nb
import suite
from im2col_nb.cli.timing import interleaved_times
from suite import Layer
from suite import check_gate as check

pytestmark = pytest.mark.gate

ROUNDS = 9
BUDGET_S = 6
# 3x3, stride 1, padding 1, channels = filters: ResNet-18's first three stages at small batches.
GATE_LAYERS = {
    "c64_56_n2": Layer(2, 64, 56, 56, 64, 3, 1, 1),
    "c128_28_n2": Layer(2, 128, 28, 28, 128, 3, 1, 1),
    "c256_14_n8": Layer(8, 256, 14, 14, 256, 3, 1, 1),
}
# The layer also gated on all threads.
THREADED_LAYER = "c64_56_n2"


def _calls(layer: Layer):
    x, w, b = suite.inputs(layer)
    wino = lambda: im2col_nb.conv2d(x, w, b, padding=layer.pad, method="winograd")  # noqa: E731
    im2col = lambda: im2col_nb.conv2d(x, w, b, padding=layer.pad, method="im2col")  # noqa: E731
    ref = im2col()
    # a sanity check: float32 Winograd promises at most 1e-4 of the largest output (F(6x6))
    np.testing.assert_allclose(wino(), ref, rtol=0, atol=2e-4 * float(np.abs(ref).max()))
    plan = im2col_nb.explain("conv2d", x, w, b, padding=layer.pad, method="winograd").plan
    return wino, im2col, plan.split(" tiles")[0]


def _ratio(layer: Layer, settle_s: float):
    """(median over interleaved rounds of im2col time / winograd time, details)."""
    wino, im2col, tile = _calls(layer)
    tw, ti = (np.array(t) for t in interleaved_times([wino, im2col], rounds=ROUNDS, warmup=1,
                                                       budget_s=BUDGET_S, settle_s=settle_s))
    return (float(np.median(ti / tw)),
            f"{tile}: winograd {np.median(tw) * 1e3:.2f} ms, im2col {np.median(ti) * 1e3:.2f} ms")


@pytest.mark.parametrize("name", list(GATE_LAYERS))
def test_winograd_beats_im2col_1thread(name, gate_results, thresholds):
    """Per layer on one thread (no spinning pools: no settling): steady under
    load, catches a slower transform or GEMM step on any of the layers."""
    with im2col_nb.threads(1):
        ratio, details = _ratio(GATE_LAYERS[name], 0.0)
    check(gate_results, thresholds, f"im2col_over_winograd_1thread_{name}", ratio, details)


def test_winograd_beats_im2col_threads(gate_results, thresholds):
    """On the machine's threads (BLAS and im2col_nb), each timed call settled,
    on the 64@56 layer: catches the parallel scheme (chunks per worker)
    losing to im2col's. Only there: on the deeper layers the multi-threaded
    ratio itself drops below 1 while this shared machine is slow (see above)."""
    ratio, details = _ratio(GATE_LAYERS[THREADED_LAYER], suite.SETTLE_S)
    check(gate_results, thresholds, f"im2col_over_winograd_{THREADED_LAYER}", ratio,
          f"{details} ({suite.workers()} threads)")
