"""3-D pooling against PyTorch: max_pool3d / avg_pool3d, forward and backward.

    python -m pytest bench/bench_pool3d.py --benchmark-only    # pytest-benchmark
    python bench/bench_pool3d.py                                # Markdown table of ratios

Each case times ours (Numba backend) and PyTorch's CPU op on the same float32
data in interleaved rounds (``suite.interleaved``: every timed call after
``suite.SETTLE_S`` seconds of untimed calls of the same one, so neither pays
for the other's spinning threads), both on the package's thread count, and
reports PyTorch time / ours (> 1: ours is faster), of the fastest rounds and
of the median rounds. The backwards are
PyTorch's ATen kernels called directly (``max_pool3d_with_indices_backward``,
``avg_pool3d_backward``), no autograd bookkeeping. Results are checked
against PyTorch's first. Ratios only: not in ``bench/thresholds.json``, not
in ``--quick``. Skipped without torch.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import suite  # noqa: E402

import im2col_nb  # noqa: E402
from im2col_nb import avg_pool3d, avg_pool3d_backward, max_pool3d, max_pool3d_backward  # noqa: E402

# (name, NCDHW shape, kernel, stride, padding)
CASES = [
    ("video k(1,3,3) s(1,2,2)", (2, 64, 16, 56, 56), (1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ("k2 s2", (2, 32, 16, 56, 56), 2, 2, 0),
    ("volume k3 s2 p1", (1, 16, 32, 64, 64), 3, 2, 1),
]
OPS = ("max", "avg")
PASSES = ("forward", "backward")
LAYOUTS = ("NCDHW", "NDHWC")


def _to_last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def calls(case, op, direction, layout="NCDHW"):
    """{'ours': fn, 'torch': fn} for one case (no-argument callables
    returning NCDHW-ordered arrays for the check), after checking they agree."""
    import torch

    _, shape, k, s, p = case
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    xt = torch.from_numpy(x)
    if layout == "NDHWC":
        xt = xt.contiguous(memory_format=torch.channels_last_3d)
        xin = _to_last(x)
    else:
        xin = x
    aten = torch.ops.aten
    if op == "max":
        out, idx = max_pool3d(xin, k, s, p, return_indices=True, layout=layout)
        ot, it = torch.nn.functional.max_pool3d(xt, k, s, p, return_indices=True)
        g = np.random.default_rng(1).normal(size=out.shape).astype(np.float32)
        gt = torch.from_numpy(g if layout == "NCDHW" else np.moveaxis(g, -1, 1))
        if layout == "NDHWC":
            gt = gt.contiguous(memory_format=torch.channels_last_3d)
        if direction == "forward":
            ours = lambda: max_pool3d(xin, k, s, p, return_indices=True, layout=layout)[0]  # noqa: E731
            theirs = lambda: torch.nn.functional.max_pool3d(xt, k, s, p, return_indices=True)[0]  # noqa: E731
        else:
            ours = lambda: max_pool3d_backward(g, idx, xin.shape, layout=layout)  # noqa: E731
            theirs = lambda: aten.max_pool3d_with_indices_backward(gt, xt, k, s, p, 1, False, it)  # noqa: E731
    else:
        out = avg_pool3d(xin, k, s, p, layout=layout)
        g = np.random.default_rng(1).normal(size=out.shape).astype(np.float32)
        gt = torch.from_numpy(g if layout == "NCDHW" else np.moveaxis(g, -1, 1))
        if layout == "NDHWC":
            gt = gt.contiguous(memory_format=torch.channels_last_3d)
        if direction == "forward":
            ours = lambda: avg_pool3d(xin, k, s, p, layout=layout)  # noqa: E731
            theirs = lambda: torch.nn.functional.avg_pool3d(xt, k, s, p)  # noqa: E731
        else:
            ours = lambda: avg_pool3d_backward(g, xin.shape, k, s, p, layout=layout)  # noqa: E731
            theirs = lambda: aten.avg_pool3d_backward(gt, xt, k, s, p, False, True, None)  # noqa: E731
    mine = ours()
    mine = mine if layout == "NCDHW" else np.moveaxis(mine, -1, 1)
    np.testing.assert_allclose(mine, theirs().numpy(), rtol=1e-5, atol=1e-5)
    return {"ours": ours, "torch": theirs}


def ratio(case, op, direction, layout="NCDHW", budget_s=15.0):
    """(torch min s, ours min s, torch / ours of the minima, of the medians)
    in interleaved rounds."""
    fns = calls(case, op, direction, layout)
    mins, medians = suite.interleaved([fns["torch"], fns["ours"]], rounds=25, budget_s=budget_s,
                                      settle_s=suite.SETTLE_S)
    return mins[0], mins[1], mins[0] / mins[1], medians[0] / medians[1]


PARAMS = [(case, op, direction, layout) for case in CASES for op in OPS for direction in PASSES
          for layout in LAYOUTS]


@pytest.fixture(autouse=True)
def _numba_and_threads():
    pytest.importorskip("torch")
    import torch

    previous = im2col_nb.get_backend()
    im2col_nb.set_backend("numba")
    torch.set_num_threads(suite.workers())
    yield
    im2col_nb.set_backend(previous)


@pytest.mark.parametrize("case, op, direction, layout", PARAMS,
                         ids=[f"{c[0]}-{op}-{d}-{lay}" for c, op, d, lay in PARAMS])
def test_pool3d_ratio(benchmark, case, op, direction, layout):
    t_torch, t_ours, r, r_median = ratio(case, op, direction, layout)
    benchmark.group = f"pool3d {case[0]} {op} {direction} {layout}"
    benchmark.pedantic(calls(case, op, direction, layout)["ours"], rounds=1, warmup_rounds=0,
                       iterations=1)
    benchmark.extra_info.update(case=case[0], shape=list(case[1]), op=op, direction=direction,
                                layout=layout, dtype="float32", threads=suite.workers(),
                                interleaved=dict(torch=t_torch, ours=t_ours),
                                torch_over_ours=round(r, 3),
                                torch_over_ours_median=round(r_median, 3))


def main() -> None:
    import platform

    import torch

    im2col_nb.set_backend("numba")
    torch.set_num_threads(suite.workers())
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"float32, numba backend, {suite.workers()} threads (torch too), {model}; "
          "min (and median) of interleaved rounds\n")
    print("| case | shape | op | pass | layout | torch ms | ours ms | torch / ours | of medians |")
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    layouts = sys.argv[1:] or LAYOUTS
    for case, op, direction, layout in PARAMS:
        if layout not in layouts:
            continue
        t_torch, t_ours, r, r_median = ratio(case, op, direction, layout)
        print(f"| {case[0]} | {'x'.join(map(str, case[1]))} | {op} | {direction} | {layout} | "
              f"{t_torch * 1e3:.1f} | {t_ours * 1e3:.1f} | {r:.2f} | {r_median:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
