"""Performance gate for the direct methods: same-run ratios against
bench/thresholds.json (``pytest bench --quick``).

``method="direct"`` against ``method="im2col"`` on the problems it is chosen
for -- a depthwise 3x3 layer and a 5x5 layer with 16 filters on few
channels -- for conv2d and for its weight gradient, timed in interleaved
rounds on one thread (steady under background load, as in
bench/test_gate_winograd.py). The figure is im2col time / direct time
(higher is better, as every gate here): the median over the rounds of the
two calls' ratio within a round. The full comparison, on more layers and
against PyTorch, is ``python bench/bench_torch.py --methods im2col,direct``;
the grid the cost model is fitted on, ``python bench/bench_direct.py --grid``.
"""

from __future__ import annotations

import numpy as np
import pytest

import im2col_nb
from im2col_nb.cli.timing import interleaved_times
from suite import check_gate as check

pytestmark = pytest.mark.gate

ROUNDS = 9
BUDGET_S = 6
# name: (x shape (N, C, H, W), weight shape, padding, groups)
GATE_PROBLEMS = {
    "depthwise_32_56_n4": ((4, 32, 56, 56), (32, 1, 3, 3), 1, 32),
    "few_channels_5x5_n4": ((4, 8, 64, 64), (16, 8, 5, 5), 2, 1),
}


def _calls(name: str, op: str):
    shape, wshape, pad, groups = GATE_PROBLEMS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal(wshape, dtype=np.float32)
    if op == "conv2d":
        def call(method):
            return lambda: im2col_nb.conv2d(x, w, padding=pad, groups=groups, method=method)
    else:
        go = im2col_nb.conv2d(x, w, padding=pad, groups=groups, method="im2col")

        def call(method):
            return lambda: im2col_nb.conv2d_weight_grad(x, wshape, go, padding=pad, groups=groups,
                                                        method=method)
    direct, im2col = call("direct"), call("im2col")
    ref = im2col()
    np.testing.assert_allclose(direct(), ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))
    return direct, im2col


@pytest.mark.parametrize("op", ["conv2d", "weight_grad"])
@pytest.mark.parametrize("name", list(GATE_PROBLEMS))
def test_direct_beats_im2col_1thread(name, op, gate_results, thresholds):
    with im2col_nb.threads(1):
        direct, im2col = _calls(name, op)
        td, ti = (np.array(t) for t in interleaved_times([direct, im2col], rounds=ROUNDS, warmup=1,
                                                           budget_s=BUDGET_S, settle_s=0.0))
    check(gate_results, thresholds, f"im2col_over_direct_{op}_{name}", float(np.median(ti / td)),
          f"direct {np.median(td) * 1e3:.2f} ms, im2col {np.median(ti) * 1e3:.2f} ms (1 thread)")
