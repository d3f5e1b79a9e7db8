"""3-D convolution benchmarks: conv3d and its gradients against PyTorch and
the bare GEMM of the same size (float32, 2 threads, ratios only).

    python bench/bench_conv3d.py                                 # Markdown table
    python -m pytest bench/bench_conv3d.py --benchmark-only      # pytest-benchmark

Not part of ``pytest bench``'s default collection, of ``--quick`` (the CI
gate) nor of bench/thresholds.json. Each case times, in interleaved rounds
(``suite.interleaved``, every timed call after ``suite.SETTLE_S`` seconds of
untimed calls of the same one):

* forward: ``conv3d`` (``method="auto"``), ``torch.nn.functional.conv3d``,
  and ``np.matmul`` of the (F, C*kd*kh*kw) @ (C*kd*kh*kw, N*OD*OH*OW)
  product conv3d's GEMMs add up to;
* backward: ``conv3d_input_grad`` and ``conv3d_weight_grad`` against
  ``torch.nn.grad.conv3d_input`` / ``conv3d_weight``, and the same bare GEMM
  (each gradient is one GEMM of the forward's flops).

The ratios are ``time(ours) / time(other)``: below 1 is faster. conv3d's
drivers call only the backend's ``im2col_nd`` / ``col2im_nd`` and NumPy's
matmul, so a faster N-D kernel changes these numbers and nothing else; the
table also shows which method ran and its plan (`explain`).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import im2col_nb
import suite

# (name, input shape (N, C, D, H, W), filters, kernel, padding)
CASES = [
    ("video 2x32x16x56x56 -> 64", (2, 32, 16, 56, 56), 64, 3, 1),
    ("volume 1x1x16x128x128 -> 16", (1, 1, 16, 128, 128), 16, 3, 1),
    ("c3d-stem 1x3x16x112x112 -> 64", (1, 3, 16, 112, 112), 64, 3, 1),
]
DTYPE = np.float32
THREADS = 2


def make(case, seed=0):
    """Input, weight and an output gradient of `case`."""
    _, shape, filters, k, pad = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(DTYPE)
    w = (rng.standard_normal((filters, shape[1], k, k, k)) / np.sqrt(shape[1] * k ** 3)).astype(DTYPE)
    o = tuple(n + 2 * pad - k + 1 for n in shape[2:])
    go = rng.standard_normal((shape[0], filters, *o)).astype(DTYPE)
    return x, w, go


def calls(case, direction):
    """{name: zero-argument callable} for `direction` ('forward' / 'backward')."""
    _, shape, filters, k, pad = case
    x, w, go = make(case)
    n_img, channels = shape[:2]
    positions = int(np.prod(go.shape[2:]))
    gemm = suite.bare_gemm(filters, channels * k ** 3, n_img * positions, DTYPE)
    out = {}
    if direction == "forward":
        out["conv3d"] = lambda: im2col_nb.conv3d(x, w, padding=pad)
        x_last = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        out["conv3d_ndhwc"] = lambda: im2col_nb.conv3d(x_last, w, padding=pad, layout="NDHWC")
    else:
        out["input_grad"] = lambda: im2col_nb.conv3d_input_grad(x.shape, w, go, padding=pad)
        out["weight_grad"] = lambda: im2col_nb.conv3d_weight_grad(x, w.shape, go, padding=pad)
    out["gemm"] = gemm
    if suite.torch_available():
        import torch

        tx, tw, tgo = (torch.from_numpy(a) for a in (x, w, go))
        if direction == "forward":
            out["torch"] = lambda: torch.nn.functional.conv3d(tx, tw, padding=pad)
        else:
            out["torch_input_grad"] = lambda: torch.nn.grad.conv3d_input(x.shape, tw, tgo, padding=pad)
            out["torch_weight_grad"] = lambda: torch.nn.grad.conv3d_weight(tx, w.shape, tgo, padding=pad)
    return out


def check(fns, direction):
    """Ours against PyTorch's before timing."""
    pairs = ([("conv3d", "torch")] if direction == "forward"
             else [("input_grad", "torch_input_grad"), ("weight_grad", "torch_weight_grad")])
    for ours, theirs in pairs:
        if theirs in fns:
            want = fns[theirs]().numpy()
            np.testing.assert_allclose(fns[ours](), want, rtol=2e-3,
                                       atol=2e-3 * float(np.abs(want).max()), err_msg=ours)


def ratios(mins: dict, direction: str) -> dict:
    ours = ["conv3d"] if direction == "forward" else ["input_grad", "weight_grad"]
    out = {}
    for name in ours:
        out[f"{name}/gemm"] = mins[name] / mins["gemm"]
        theirs = "torch" if name == "conv3d" else f"torch_{name}"
        if theirs in mins:
            out[f"{name}/{theirs}"] = mins[name] / mins[theirs]
    if "conv3d_ndhwc" in mins:
        out["conv3d_ndhwc/conv3d"] = mins["conv3d_ndhwc"] / mins["conv3d"]
    return out


def measure(case, direction, rounds=5, budget_s=60):
    fns = calls(case, direction)
    check(fns, direction)
    mins, _ = suite.interleaved(list(fns.values()), rounds=rounds, budget_s=budget_s,
                                settle_s=suite.SETTLE_S)
    return dict(zip(fns, mins))


def kernel_share(fn, repeat: int = 2) -> float:
    """The share of a call of `fn` spent inside the backend's im2col_nd /
    col2im_nd (timed by wrapping them; the call with the smallest total of
    `repeat`): what a faster N-D kernel can save; the rest is GEMM and
    driver."""
    import time

    from im2col_nb._core.backend import backend_module

    backend = backend_module()
    spent = [0.0]
    saved = {name: getattr(backend, name) for name in ("im2col_nd", "col2im_nd")}

    def timed(kernel):
        def run(*args):
            t0 = time.perf_counter()
            kernel(*args)
            spent[0] += time.perf_counter() - t0
        return run

    best = None
    try:
        for name, kernel in saved.items():
            setattr(backend, name, timed(kernel))
        for _ in range(repeat):
            spent[0] = 0.0
            t0 = time.perf_counter()
            fn()
            total = time.perf_counter() - t0
            if best is None or total < best[1]:
                best = (spent[0], total)
    finally:
        for name, kernel in saved.items():
            setattr(backend, name, kernel)
    return best[0] / best[1]


def _threads():
    if suite.torch_available():
        import torch

        torch.set_num_threads(THREADS)
    return im2col_nb.threads(THREADS)


@pytest.fixture(autouse=True)
def _setup():
    with suite.use_backend("numba"), _threads():
        yield


PARAMS = [(case, direction) for case in CASES for direction in ("forward", "backward")]


@pytest.mark.parametrize("case, direction", PARAMS, ids=[f"{c[0]}-{d}" for c, d in PARAMS])
def test_conv3d_ratios(benchmark, case, direction):
    mins = measure(case, direction, rounds=3, budget_s=30)
    benchmark.group = f"conv3d {direction} float32"
    first = "conv3d" if direction == "forward" else "input_grad"
    fns = calls(case, direction)
    benchmark.pedantic(fns[first], rounds=1, warmup_rounds=0, iterations=1)
    benchmark.extra_info.update(case=case[0], direction=direction, threads=suite.workers(),
                                interleaved=mins, ratios=ratios(mins, direction))


def main() -> None:
    from im2col_nb._engine.machine import cpu_model

    with suite.use_backend("numba"), _threads():
        print(f"{cpu_model()}; {suite.workers()} thread(s); float32; numba backend; "
              f"min of interleaved rounds\n")
        print("| case | op | method / plan | ms (ours) | share in im2col_nd/col2im_nd | "
              "ms (GEMM) | ms (torch) | ours / GEMM | ours / torch |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for case in CASES:
            x, w, go = make(case)
            pad = case[4]
            for direction in ("forward", "backward"):
                mins = measure(case, direction)
                fns = calls(case, direction)
                ours = (["conv3d", "conv3d_ndhwc"] if direction == "forward"
                        else ["input_grad", "weight_grad"])
                for name in ours:
                    if name == "conv3d_ndhwc":
                        choice = im2col_nb.explain("conv3d", np.moveaxis(x, 1, -1), w, padding=pad,
                                                   layout="NDHWC")
                        theirs = "torch"
                    elif name == "conv3d":
                        choice = im2col_nb.explain("conv3d", x, w, padding=pad)
                        theirs = "torch"
                    elif name == "input_grad":
                        choice = im2col_nb.explain("conv3d_input_grad", x.shape, w, go, padding=pad)
                        theirs = "torch_input_grad"
                    else:
                        choice = im2col_nb.explain("conv3d_weight_grad", x, w.shape, go, padding=pad)
                        theirs = "torch_weight_grad"
                    torch_ms = mins.get(theirs)
                    share = kernel_share(fns[name])
                    print(f"| {case[0]} | {name} | {choice.method}: {choice.plan} | "
                          f"{mins[name] * 1e3:.0f} | {share:.0%} | {mins['gemm'] * 1e3:.0f} | "
                          f"{'-' if torch_ms is None else f'{torch_ms * 1e3:.0f}'} | "
                          f"{mins[name] / mins['gemm']:.2f} | "
                          f"{'-' if torch_ms is None else f'{mins[name] / torch_ms:.2f}'} |")
                    sys.stdout.flush()


if __name__ == "__main__":
    main()
