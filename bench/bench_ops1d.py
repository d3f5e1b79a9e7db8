"""Sequence convolution benchmarks: `conv1d` / `conv1d_backward` against
PyTorch's conv1d on audio and time-series layers (float32, NCL, 2 threads).

    python -m pytest bench/bench_ops1d.py --benchmark-only     # pytest-benchmark
    python bench/bench_ops1d.py                                # Markdown table

Each layer is timed forward (``conv1d`` against ``F.conv1d``) and backward
(``conv1d_backward``: input, weight and bias gradients, against
``torch.ops.aten.convolution_backward`` with the same three outputs, no
forward recomputation), in interleaved rounds (``im2col_nb.cli.timing``:
each timed call after `SETTLE_S` seconds of untimed calls of the same
implementation), fastest round of each. The ratio reported is PyTorch's
time / ours (above 1: ours is faster); results are checked against
PyTorch's first. The WaveNet layer is causal (``padding=((8, 0),)`` here;
PyTorch needs an ``F.pad`` copy for that, which its timing includes).
Not in ``--quick`` (the CI gate) and not in bench/thresholds.json: about a
minute on 2 cores.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import im2col_nb
from im2col_nb.cli.timing import SETTLE_S, interleaved

THREADS = 2
ROUNDS = 3
# name -> (N, C, L, F, k, dilation, padding)
LAYERS = {
    "audio 64->64 k9": (16, 64, 16000, 64, 9, 1, 4),
    "audio 64->64 k3": (16, 64, 16000, 64, 3, 1, 1),
    "wavenet 64->64 k2 d8 causal": (16, 64, 16000, 64, 2, 8, ((8, 0),)),
}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def calls(name: str):
    """{'ours fwd', 'torch fwd', 'ours bwd', 'torch bwd'}: no-argument callables
    for layer `name` (the torch ones only if PyTorch is installed)."""
    n, c, length, f, k, d, pad = LAYERS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, length)).astype(np.float32)
    w = (rng.standard_normal((f, c, k)) / np.sqrt(c * k)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    y = im2col_nb.conv1d(x, w, b, dilation=d, padding=pad)
    g = rng.standard_normal(y.shape).astype(np.float32)
    out = {"ours fwd": lambda: im2col_nb.conv1d(x, w, b, dilation=d, padding=pad),
           "ours bwd": lambda: im2col_nb.conv1d_backward(x, w, g, dilation=d, padding=pad)}
    try:
        import torch
    except ImportError:
        return out
    torch.set_num_threads(THREADS)
    F = torch.nn.functional
    tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))
    if isinstance(pad, int):
        def prep():
            return tx
        tpad = pad
    else:
        (lo, hi), = pad

        def prep():
            return F.pad(tx, (lo, hi))
        tpad = 0

    def torch_fwd():
        return F.conv1d(prep(), tw, tb, padding=tpad, dilation=d)

    def torch_bwd():
        return torch.ops.aten.convolution_backward(
            tg, prep(), tw, [f], [1], [tpad], [d], False, [0], 1, [True, True, True])

    out["torch fwd"] = torch_fwd
    out["torch bwd"] = torch_bwd
    return out


def check(c: dict) -> None:
    """Ours agree with PyTorch's (forward and the weight and bias gradients)."""
    if "torch fwd" not in c:
        return
    want = c["torch fwd"]().numpy()
    np.testing.assert_allclose(c["ours fwd"](), want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    _, gw, gb = c["ours bwd"]()
    _, tgw, tgb = c["torch bwd"]()
    np.testing.assert_allclose(gw, tgw.numpy(), rtol=2e-3, atol=2e-3 * float(tgw.abs().max()))
    np.testing.assert_allclose(gb, tgb.numpy(), rtol=2e-3, atol=2e-3 * float(tgb.abs().max()))


def measure(name: str) -> dict:
    """Fastest interleaved round (seconds) of each implementation of `name`,
    forward and backward measured separately."""
    with im2col_nb.threads(THREADS):
        c = calls(name)
        check(c)
        best = {}
        for direction in ("fwd", "bwd"):
            keys = [k for k in c if k.endswith(direction)]
            mins, _ = interleaved([c[k] for k in keys], rounds=ROUNDS, settle_s=SETTLE_S)
            best.update(zip(keys, mins))
    return best


@pytest.mark.parametrize("name", list(LAYERS))
def test_conv1d_against_torch(benchmark, name):
    best = measure(name)
    n, c, length, f, k, d, pad = LAYERS[name]
    x = np.zeros((n, c, length), np.float32)
    w = np.zeros((f, c, k), np.float32)
    benchmark.group = "conv1d vs torch (float32, 2 threads)"
    with im2col_nb.threads(THREADS):
        benchmark.pedantic(lambda: im2col_nb.conv1d(x, w, dilation=d, padding=pad), rounds=1,
                           warmup_rounds=0, iterations=1)
        method = im2col_nb.explain("conv1d", x, w, dilation=d, padding=pad).method
    benchmark.extra_info.update(layer=name, cpu=cpu_model(), threads=THREADS, method=method,
                                interleaved=best)
    for direction in ("fwd", "bwd"):
        if f"torch {direction}" in best:
            ratio = best[f"torch {direction}"] / best[f"ours {direction}"]
            benchmark.extra_info[f"torch_over_ours_{direction}"] = ratio
            assert ratio > 0


def main() -> int:
    print(f"conv1d vs PyTorch conv1d: float32, NCL, {THREADS} threads, {cpu_model()}; "
          f"fastest of {ROUNDS} interleaved rounds")
    print()
    print("| layer | method | ours fwd | torch fwd | torch/ours | ours bwd | torch bwd | torch/ours |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (n, c, length, f, k, d, pad) in LAYERS.items():
        best = measure(name)
        method = im2col_nb.explain("conv1d", np.empty((n, c, length), np.float32),
                                   np.empty((f, c, k), np.float32), dilation=d,
                                   padding=pad).method
        cells = [name + f" ({n}x{c}x{length})", method]
        for direction in ("fwd", "bwd"):
            ours, theirs = best[f"ours {direction}"], best.get(f"torch {direction}")
            cells += [f"{ours * 1e3:.0f} ms",
                      "--" if theirs is None else f"{theirs * 1e3:.0f} ms",
                      "--" if theirs is None else f"{theirs / ours:.2f}"]
        print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
