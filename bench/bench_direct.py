"""The direct method against im2col + GEMM: the grid its cost model is fitted on.

    python bench/bench_direct.py --grid [--stride 1|2] [--dtype float32|float64]
                                 [--rounds R] [--json out.jsonl]
    python bench/bench_direct.py --fit out.jsonl [more.jsonl ...]

``--grid`` times ``conv2d(method="direct")`` and ``conv2d(method="im2col")``
interleaved (im2col, direct, im2col, ...; each timed call after a short
settle of untimed calls of the same method) on a grid of problems: C/groups
in 1, 3, 8, 16, 32, 64; filters per group 1, 4, 16, 32, 64, 128; 3x3, 5x5
and 7x7 kernels with 'same' padding; 28 and 112 pixels (28 and 56 where
C*k*k >= 200); and depthwise layers (32@112, 64@56, 128@28, 256@14, 512@7,
96@28, 512@14), at the stride given (``--stride``, default 1); the batch
is chosen for about 60 MFLOP per call. One JSON line per problem: its
shape, the fastest time of each method over the rounds, and
``ratio`` = direct / im2col. A stride-1 grid takes about 6 minutes on 2
cores; ``--stride 2`` runs a smaller one (C/groups 1, 3, 16, 64; filters
per group 1, 4, 16, 64).

``--fit`` fits ``_engine/conv_direct.py``'s model of that ratio::

    ratio = RATIO * fg / (fg + FILTERS_HALF) * (SINGLE if fg == 1)
                  * (1 + PLANE_COST / output positions per image)
                  * (STRIDED if a stride exceeds 1)

by least squares on log(ratio) (FILTERS_HALF and PLANE_COST by a grid
search), and prints the constants, the rms error and the problems the
model puts on the wrong side of 1 by more than 15 %.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import im2col_nb  # noqa: E402
from im2col_nb._engine.machine import cpu_model  # noqa: E402
from im2col_nb.cli.timing import interleaved_times  # noqa: E402

DEPTHWISE = [(32, 112), (64, 56), (128, 28), (256, 14), (512, 7), (96, 28), (512, 14)]


def grid(stride: int):
    """(C/groups, filters per group, k, stride, pixels, groups) of every problem."""
    if stride == 1:
        channels, filters = [1, 3, 8, 16, 32, 64], [1, 4, 16, 32, 64, 128]
    else:
        channels, filters = [1, 3, 16, 64], [1, 4, 16, 64]
    out = []
    for cg, fg, k in itertools.product(channels, filters, [3, 5, 7]):
        if fg == 1 and cg > 1 and k != 3:
            continue
        for hw in ([28, 112] if cg * k * k < 200 else [28, 56]):
            out.append((cg, fg, k, stride, hw, 1))
    out += [(1, 1, 3, stride, hw, c) for c, hw in DEPTHWISE]
    return out


def run_grid(stride: int, dtype, rounds: int, out):
    rng = np.random.default_rng(0)
    for cg, fg, k, s, hw, groups in grid(stride):
        c, f = cg * groups, fg * groups
        o = (hw + 2 * (k // 2) - k) // s + 1
        per_image = 2 * f * cg * k * k * o * o
        n = int(max(1, min(64, round(60e6 / per_image))))
        x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
        w = rng.standard_normal((f, cg, k, k)).astype(dtype)
        calls = [lambda m=m: im2col_nb.conv2d(x, w, None, s, k // 2, 1, groups, method=m)
                 for m in ("im2col", "direct")]
        np.testing.assert_allclose(calls[1](), calls[0](), rtol=1e-3, atol=1e-3)
        times = interleaved_times(calls, rounds=rounds, settle_s=0.05)
        t_i, t_d = min(times[0]), min(times[1])
        row = dict(cg=cg, fg=fg, k=k, s=s, hw=hw, g=groups, n=n, flops=n * per_image,
                   im2col=t_i, direct=t_d, ratio=t_d / t_i, dtype=np.dtype(dtype).name,
                   cpu=cpu_model(), threads=im2col_nb.get_num_threads())
        line = json.dumps(row)
        print(line, flush=True)
        if out is not None:
            out.write(line + "\n")
            out.flush()


def fit(paths):
    rows = [json.loads(line) for p in paths for line in open(p) if line.startswith("{")]
    y = np.log([r["ratio"] for r in rows])
    fg = np.array([r["fg"] for r in rows], float)
    area = np.array([((r["hw"] + 2 * (r["k"] // 2) - r["k"]) // r["s"] + 1) ** 2 for r in rows],
                    float)
    strided = np.array([r["s"] > 1 for r in rows], float)
    design = np.column_stack([np.ones_like(y), fg == 1, strided])
    best = None
    for half in (4, 6, 8, 12, 16, 24, 32):
        for plane in (0, 10, 25, 50, 100, 200):
            base = np.log(fg / (fg + half)) + np.log(1 + plane / area)
            coef = np.linalg.lstsq(design, y - base, rcond=None)[0]
            resid = y - base - design @ coef
            if best is None or (resid ** 2).sum() < best[0]:
                best = ((resid ** 2).sum(), half, plane, coef, resid)
    sse, half, plane, coef, resid = best
    ratio, single, strided_f = np.exp(coef)
    print(f"RATIO = {ratio:.2f}\nFILTERS_HALF = {half}\nSINGLE = {single:.2f}\n"
          f"PLANE_COST = {plane}\nSTRIDED = {strided_f:.2f}")
    print(f"rms error (log) {np.sqrt(sse / len(y)):.2f} over {len(y)} problems")
    wrong = 0
    for r, p in zip(rows, np.exp(y - resid)):
        if (p < 1) != (r["ratio"] < 1) and abs(np.log(r["ratio"])) > np.log(1.15):
            wrong += 1
            print(f"  wrong side: C/g {r['cg']} F/g {r['fg']} {r['k']}x{r['k']} s{r['s']} "
                  f"{r['hw']}px groups {r['g']}: measured {r['ratio']:.2f}, model {p:.2f}")
    print(f"{len(rows) - wrong} of {len(rows)} on the right side of 1 or within 15 % of it")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--stride", type=int, default=1, choices=(1, 2))
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--fit", nargs="+")
    args = ap.parse_args(argv)
    if args.fit:
        fit(args.fit)
        return 0
    if not args.grid:
        ap.error("give --grid or --fit")
    print(f"# {cpu_model()}, {im2col_nb.get_num_threads()} threads, {args.dtype}", flush=True)
    with open(args.json, "w") if args.json else open(os.devnull, "w") as out:
        run_grid(args.stride, np.dtype(args.dtype), args.rounds, out if args.json else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
