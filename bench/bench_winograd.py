"""Winograd conv2d against im2col + GEMM and PyTorch, on the 3x3 layers of common CNNs.

    python bench/bench_winograd.py [--quick] [--threads N] [--dtype float32|float64]
                                   [--layout NCHW|NHWC] [--json out.json] [--steps | --steps-only]
                                   [--layers REGEX] [--rounds R] [--settle S] [--max-call S]

Layers: every 3x3 stride-1 layer of bench/suite.py (cifar, r18-l1..l4,
vgg-wide) and the 3x3 layers of ResNet-50 (64@56, 128@28, 256@14, 512@7,
channels = filters), VGG-16 (64@224 at batch 1 only, 128@112, 256@56,
512@28, 512@14) and a 128x128 U-Net (64@128, 128@64, 256@32, 512@16), at
batch 1 and 8, padding 1. A layer whose shape an earlier one already has
is timed once (ResNet-50 at batch 8 is r18-l1..l4). A layer whose im2col
call takes more than ``--max-call`` seconds (0.5) is skipped. ``--quick``:
five small layers at batch 1.

For each layer, in interleaved rounds (torch, im2col, winograd, winograd2,
winograd4, winograd6, auto, torch, ...), each timed call after
``--settle`` seconds of untimed calls of the same implementation (a
thread pool left spinning by the previous one would slow it): PyTorch
(``torch.nn.functional.conv2d`` under ``no_grad``; for NHWC on
channels_last input and weight), ``conv2d(method="im2col")``,
``method="winograd"`` (the tile size the engine picks), the forced tile
sizes, and ``method="auto"``. Ratios are medians over the rounds of the
ratio of two calls timed in the same round (same background load);
GFLOP/s are the direct convolution's flops (2 N F C 9 OH OW) over the
fastest round. Every method's output is checked against im2col's first
(max|diff| / max|ref|, flagged above twice its error bound).

``--steps`` adds where each tile size's time goes (``--steps-only``: only
that): the filter transform every call computes (the engine's,
``_engine.conv_winograd.transformed_weight``, where it has its own kernel;
``_core.winograd.filter_transform(w, m)`` is timed too), the bare GEMMs --
(m+2)**2 ``np.matmul`` calls of (F, C) @ (C, tiles), tiles = N ceil(OH/m)
ceil(OW/m), into preallocated outputs, on the threads set: one GEMM per
transformed-tile element over all tiles, the ideal shape, where the engine
runs them on chunks of ~100 tiles -- and the whole call, each the fastest
of the interleaved rounds; the rest of the call is the input and output
transforms plus overheads.

``--layers REGEX`` keeps the layers whose name or shape (``8x128x28x28->128``)
matches; ``--rounds`` defaults to 5 (``--quick``: 4). A full run takes
several minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import im2col_nb  # noqa: E402
import suite  # noqa: E402
from im2col_nb._core.winograd import TILE_SIZES, filter_transform  # noqa: E402
from im2col_nb._engine import conv_winograd  # noqa: E402
from im2col_nb.cli.timing import interleaved_times  # noqa: E402
from suite import Layer  # noqa: E402

from im2col_nb._engine.machine import cpu_model  # noqa: E402  (lscpu's "Model name")

OURS = ("im2col", "winograd", "winograd2", "winograd4", "winograd6", "auto")
IMPLS = ("torch",) + OURS


# ---------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------

def _sq(n: int, c: int, hw: int, f: int | None = None) -> Layer:
    """3x3, stride 1, padding 1: n images of c channels hw x hw, f filters (default c)."""
    return Layer(n, c, hw, hw, c if f is None else f, 3, 1, 1)


def all_layers() -> list[tuple[str, Layer]]:
    """(name, layer) of every benchmark layer; a shape that comes again keeps
    its first name plus the others (``r18-l1 = r50 64@56``)."""
    named: list[tuple[str, Layer]] = []
    for name, layer in suite.LAYERS.items():
        if layer.k == 3 and layer.stride == 1:
            named.append((f"{name} (suite)", layer))
    for n in (1, 8):
        for c, hw in ((64, 56), (128, 28), (256, 14), (512, 7)):
            named.append((f"r50 {c}@{hw}", _sq(n, c, hw)))
    named.append(("vgg16 64@224", _sq(1, 64, 224)))
    for n in (1, 8):
        for c, hw in ((128, 112), (256, 56), (512, 28), (512, 14)):
            named.append((f"vgg16 {c}@{hw}", _sq(n, c, hw)))
    for n in (1, 8):
        for c, hw in ((64, 128), (128, 64), (256, 32), (512, 16)):
            named.append((f"unet {c}@{hw}", _sq(n, c, hw)))
    merged: dict[Layer, list[str]] = {}
    for name, layer in named:
        merged.setdefault(layer, []).append(name)
    return [(" = ".join(names), layer) for layer, names in merged.items()]


def quick_layers() -> list[tuple[str, Layer]]:
    return [("r50 64@56", _sq(1, 64, 56)), ("r50 128@28", _sq(1, 128, 28)),
            ("r50 256@14", _sq(1, 256, 14)), ("r50 512@7", _sq(1, 512, 7)),
            ("unet 256@32", _sq(1, 256, 32))]


def direct_flops(layer: Layer) -> int:
    g = layer.geom
    return 2 * layer.n * layer.f * layer.c * 9 * g.out_h * g.out_w


def shape_label(layer: Layer) -> str:
    return f"{layer.n}x{layer.c}x{layer.h}x{layer.w}->{layer.f}"


# ---------------------------------------------------------------------------
# calls
# ---------------------------------------------------------------------------

def make_calls(layer: Layer, dtype, layout: str):
    """{impl: zero-argument callable returning the output as a logical NCHW
    array} (PyTorch: None when not installed), plus the operands."""
    if layout == "NHWC":
        x, w, b = suite.inputs_nhwc(layer, dtype)
    else:
        x, w, b = suite.inputs(layer, dtype)
    p = layer.pad
    calls = {}
    for method in OURS:
        calls[method] = (lambda method=method:
                         im2col_nb.conv2d(x, w, b, padding=p, method=method, layout=layout))
    calls["torch"] = None
    if suite.torch_available():
        import torch

        if layout == "NHWC":
            xt = torch.from_numpy(x).permute(0, 3, 1, 2)   # (N, H, W, C) memory: channels_last
            wt = torch.from_numpy(w).contiguous(memory_format=torch.channels_last)
            assert xt.is_contiguous(memory_format=torch.channels_last)
        else:
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        bt = torch.from_numpy(b)

        def call_torch():
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, bt, padding=p)
        calls["torch"] = call_torch
    return calls, (x, w, b)


def as_nchw(out, layout: str) -> np.ndarray:
    if hasattr(out, "numpy"):          # a torch tensor: logical NCHW already
        return out.numpy()
    return out.transpose(0, 3, 1, 2) if layout == "NHWC" else out


def rel_error(out, ref) -> float:
    return float(np.max(np.abs(out - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def error_bound(method: str, tile: int | None, dtype) -> float | None:
    """The promised bound of a Winograd method (relative to the largest output)."""
    m = tile if method in ("winograd", "auto") else (int(method[8:]) if method[8:] else None)
    if m is None or not method.startswith(("winograd", "auto")):
        return None
    return conv_winograd.ERROR_BOUND[(np.dtype(dtype), m)]


def tile_of_plan(plan: str) -> int | None:
    found = re.search(r"F\((\d+)x\d+", plan)
    return int(found.group(1)) if found else None


def chosen(x, w, b, layer: Layer, layout: str, method: str = "auto") -> tuple[str, str]:
    """(method, plan) explain gives for `method`."""
    choice = im2col_nb.explain("conv2d", x, w, b, padding=layer.pad, layout=layout, method=method)
    return choice.method, choice.plan


def warm_up(dtype, layout: str) -> None:
    """Load (or compile) every method's kernels on a tiny layer."""
    calls, _ = make_calls(_sq(1, 8, 12), dtype, layout)
    for call in calls.values():
        if call is not None:
            try:
                call()
            except Exception:  # reported per layer
                pass


# ---------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------

def median_ratio(t_num, t_den) -> float:
    return float(np.median(np.asarray(t_num) / np.asarray(t_den)))


def run_layer(name: str, layer: Layer, dtype, layout: str, rounds: int, settle_s: float,
              max_call: float, log) -> dict:
    row = dict(name=name, shape=shape_label(layer), n=layer.n, c=layer.c, h=layer.h,
               f=layer.f, gflop=direct_flops(layer) / 1e9, dtype=np.dtype(dtype).name,
               layout=layout, errors={}, rel_error={}, skipped=None)
    calls, (x, w, b) = make_calls(layer, dtype, layout)
    # size probe: im2col, the reference method (second call if the first is over: first touch)
    probe = calls["im2col"]
    for _ in range(2):
        t0 = time.perf_counter()
        ref = as_nchw(probe(), layout)
        dt = time.perf_counter() - t0
        if dt <= max_call:
            break
    row["im2col_first_s"] = dt
    if dt > max_call:
        row["skipped"] = f"im2col call {dt:.2f} s > {max_call} s"
        log(f"  {name:28s} {row['shape']:22s} skipped: {row['skipped']}")
        return row
    row["auto"], row["auto_plan"] = chosen(x, w, b, layer, layout)
    _, wplan = chosen(x, w, b, layer, layout, "winograd")
    row["winograd_tile"] = tile_of_plan(wplan)
    row["auto_tile"] = tile_of_plan(row["auto_plan"]) if row["auto"].startswith("winograd") else None
    timed = []
    for impl in IMPLS:
        call = calls[impl]
        if call is None:
            row["errors"][impl] = "not installed"
            continue
        try:
            out = as_nchw(call(), layout)
        except Exception as exc:  # noqa: BLE001  (reported, the others still run)
            row["errors"][impl] = f"{type(exc).__name__}: {exc}"
            continue
        row["rel_error"][impl] = rel_error(out, ref)
        timed.append(impl)
    times = interleaved_times([calls[i] for i in timed], rounds=rounds, warmup=0,
                              settle_s=settle_s)
    t = dict(zip(timed, times))
    row["min_s"] = {i: float(min(v)) for i, v in t.items()}
    row["gflops"] = {i: direct_flops(layer) / 1e9 / row["min_s"][i] for i in timed}
    if "torch" in t:
        row["torch_over"] = {i: median_ratio(t["torch"], t[i]) for i in timed if i != "torch"}
    row["im2col_over"] = {i: median_ratio(t["im2col"], t[i]) for i in timed
                          if i not in ("im2col", "torch")}
    flags = []
    for impl, err in row["rel_error"].items():
        tile = row["winograd_tile"] if impl == "winograd" else row["auto_tile"]
        bound = error_bound(impl, tile, dtype)
        if bound is not None and err > 2 * bound + 10 * np.finfo(dtype).eps:
            flags.append(f"{impl} error {err:.1e} > 2x bound {bound:.0e}")
    row["flags"] = flags
    ti = row["min_s"]
    log(f"  {name:28s} {row['shape']:22s} auto={row['auto']:<9s} "
        + " ".join(f"{i}={ti[i] * 1e3:.1f}ms" for i in timed)
        + (f"  ERRORS {row['errors']}" if row["errors"] else "")
        + (f"  !! {'; '.join(flags)}" if flags else ""))
    return row


# ---------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------

STEPS_MAX_BYTES = 512 * 2**20


def engine_filter_transform():
    """The filter transform conv2d's Winograd runs, ``(weight, m, workers, out)``
    (``_engine.conv_winograd.transformed_weight``: the backend's kernel, else
    ``_core.winograd.filter_transform``), or None in a version without it."""
    import inspect

    fn = getattr(conv_winograd, "transformed_weight", None)
    if fn is None or len(inspect.signature(fn).parameters) != 4:
        return None
    return fn


def run_steps(name: str, layer: Layer, dtype, layout: str, rounds: int, settle_s: float,
              log) -> list[dict]:
    """For each tile size: filter transform, bare GEMMs, whole call."""
    if layout == "NHWC":
        x, w, b = suite.inputs_nhwc(layer, dtype)
    else:
        x, w, b = suite.inputs(layer, dtype)
    g = layer.geom
    rows = []
    for m in TILE_SIZES:
        aa = (m + 2) ** 2
        tiles = layer.n * math.ceil(g.out_h / m) * math.ceil(g.out_w / m)
        nbytes = aa * (layer.c + layer.f) * tiles * np.dtype(dtype).itemsize
        row = dict(name=name, shape=shape_label(layer), m=m, tiles=tiles, dtype=np.dtype(dtype).name,
                   layout=layout)
        if nbytes > STEPS_MAX_BYTES:
            row["skipped"] = f"GEMM operands {nbytes / 2**20:.0f} MiB"
            rows.append(row)
            continue
        u = np.empty((aa, layer.f, layer.c), dtype)                 # (aa, F, C)
        filter_calls = {"core": lambda m=m: filter_transform(w, m)}
        engine = engine_filter_transform()
        if engine is not None:
            workers = im2col_nb.get_num_threads()
            filter_calls["engine"] = lambda m=m, u=u, f=engine, n=workers: f(w, m, n, u)
        u[...] = filter_transform(w, m)
        v = np.random.default_rng(3).standard_normal((aa, layer.c, tiles)).astype(dtype)
        prod = np.empty((aa, layer.f, tiles), dtype)

        def gemms(u=u, v=v, prod=prod, aa=aa):
            for i in range(aa):
                np.matmul(u[i], v[i], out=prod[i])

        method = f"winograd{m}"
        calls = list(filter_calls.values()) + [
            gemms, lambda method=method: im2col_nb.conv2d(x, w, b, padding=layer.pad,
                                                          method=method, layout=layout)]
        for c in calls:
            c()
        times = interleaved_times(calls, rounds=rounds, warmup=0, settle_s=settle_s)
        # the fastest round of each: the steps are timed apart, and on a shared
        # machine a thread now and then waits ~0.1 s for its core, which a
        # median of a few rounds does not always hide
        fastest = [float(np.min(t)) for t in times]
        t_gemm, t_call = fastest[-2:]
        t_filters = dict(zip(filter_calls, fastest))
        # the filter transform the call runs: the engine's when it has its own
        t_filter = t_filters.get("engine", t_filters["core"])
        row.update(filter_s=t_filter, filter_core_s=t_filters["core"],
                   filter_engine_s=t_filters.get("engine"), gemm_s=t_gemm, call_s=t_call,
                   filter_frac=t_filter / t_call, gemm_frac=t_gemm / t_call,
                   rest_frac=1.0 - (t_filter + t_gemm) / t_call,
                   gemm_gflops=2.0 * aa * layer.f * layer.c * tiles / t_gemm / 1e9,
                   call_gflops=direct_flops(layer) / t_call / 1e9)
        rows.append(row)
        log(f"  {name:28s} F({m}x{m}) call {t_call * 1e3:7.2f} ms: filter {row['filter_frac']:5.1%}, "
            f"GEMMs {row['gemm_frac']:5.1%} ({row['gemm_gflops']:.0f} GFLOP/s), rest "
            f"{row['rest_frac']:5.1%}")
        del u, v, prod
    return rows


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def _f(value, fmt="{:.2f}"):
    return "-" if value is None else fmt.format(value)


def markdown(rows, steps, header: list[str], dtype) -> str:
    w6 = "w6" if 6 in conv_winograd.auto_tiles(dtype) else "w6*"
    lines = header + [""]
    done = [r for r in rows if not r.get("skipped")]
    lines += ["Time ratios (median over interleaved rounds; > 1: ours faster). "
              "torch/X = PyTorch time / method X time; wino/im2col = im2col time / "
              "method=\"winograd\" time (the speed-up).", "",
              f"| layer | N x C x H x W -> F | GFLOP | auto runs | winograd tile | torch ms | "
              f"torch/im2col | torch/wino | torch/w2 | torch/w4 | torch/{w6} | torch/auto | "
              f"wino/im2col | best w/im2col |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in done:
        to = r.get("torch_over", {})
        io = r["im2col_over"]
        best_m = max((k for k in ("winograd2", "winograd4", "winograd6") if k in io),
                     key=lambda k: io[k], default=None)
        auto = r["auto"] + (f" (F{r['auto_tile']})" if r.get("auto_tile") else "")
        torch_ms = r["min_s"]["torch"] * 1e3 if "torch" in r["min_s"] else None
        lines.append(
            f"| {r['name']} | {r['shape']} | {r['gflop']:.2f} | {auto} | {_f(r['winograd_tile'], '{}')} | "
            f"{_f(torch_ms)} | "
            f"{_f(to.get('im2col'))} | {_f(to.get('winograd'))} | {_f(to.get('winograd2'))} | "
            f"{_f(to.get('winograd4'))} | {_f(to.get('winograd6'))} | {_f(to.get('auto'))} | "
            f"{_f(io.get('winograd'))} | "
            f"{'-' if best_m is None else best_m[8:] + ': ' + format(io[best_m], '.2f')} |")
    lines += ["", "Effective GFLOP/s (direct-convolution flops 2 N F C 9 OH OW / fastest round):", "",
              f"| layer | N x C x H x W -> F | torch | im2col | winograd | w2 | w4 | {w6} | auto |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in done:
        g = r["gflops"]
        lines.append(f"| {r['name']} | {r['shape']} | "
                     + " | ".join(_f(g.get(i), "{:.0f}") for i in IMPLS) + " |")
    if w6.endswith("*"):
        lines += ["", f"{w6}: winograd6 in {np.dtype(dtype).name} is forced: auto never uses it "
                  f"(error bound {conv_winograd.ERROR_BOUND[(np.dtype(dtype), 6)]:g} of the largest "
                  f"output > {conv_winograd.AUTO_BOUND[np.dtype(dtype)]:g})."]
    geo = geomeans(done)
    if geo:
        lines += ["", "Geometric means over the layers: "
                  + "; ".join(f"{k} {v:.2f}" for k, v in geo.items()) + "."]
    skipped = [r for r in rows if r.get("skipped")]
    if skipped:
        lines += ["", "Skipped: " + "; ".join(f"{r['name']} {r['shape']} ({r['skipped']})"
                                            for r in skipped) + "."]
    errs = [(r["name"], r["shape"], k, v) for r in rows for k, v in r.get("errors", {}).items()]
    if errs:
        lines += ["", "Errors: " + "; ".join(f"{n} {s} {k}: {v}" for n, s, k, v in errs) + "."]
    slower = [(r["name"], r["shape"], r["im2col_over"]["winograd"]) for r in done
              if r["im2col_over"].get("winograd", 2.0) < 1.0]
    if slower:
        lines += ["", "method=\"winograd\" slower than im2col on: "
                  + "; ".join(f"{n} {s} ({v:.2f})" for n, s, v in slower) + "."]
    flags = [f"{r['name']} {r['shape']}: {f}" for r in done for f in r.get("flags", [])]
    if flags:
        lines += ["", "Errors above twice the bound: " + "; ".join(flags) + "."]
    worst = {}
    for r in done:
        for k, v in r["rel_error"].items():
            worst[k] = max(worst.get(k, 0.0), v)
    if worst:
        lines += ["", "Largest max|out - im2col| / max|im2col| per method: "
                  + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()) + "."]
    if steps:
        lines += ["", "Where Winograd's time goes (fastest of interleaved rounds, as fractions of "
                  "the call `method=\"winogradM\"`; `filter`: the filter transform the call runs "
                  "(`_engine.conv_winograd.transformed_weight`, else `_core.winograd."
                  "filter_transform`); `core filter ms`: `_core.winograd.filter_transform(w, m)`; "
                  "`GEMMs`: (m+2)^2 np.matmul of (F, C) @ (C, tiles) over all tiles; `rest`: the "
                  "call minus filter and GEMMs, i.e. input/output transforms and overheads; the steps "
                  "are timed apart, so on a busy machine the fractions need not add up):", "",
                  "| layer | N x C x H x W -> F | m | tiles | call ms | filter | GEMMs | rest | "
                  "core filter ms | GEMM GFLOP/s | call GFLOP/s |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for s in steps:
            if s.get("skipped"):
                lines.append(f"| {s['name']} | {s['shape']} | {s['m']} | {s['tiles']} | "
                             f"skipped: {s['skipped']} | | | | | | |")
                continue
            lines.append(f"| {s['name']} | {s['shape']} | {s['m']} | {s['tiles']} | "
                         f"{s['call_s'] * 1e3:.2f} | {s['filter_frac']:.1%} | {s['gemm_frac']:.1%} | "
                         f"{s['rest_frac']:.1%} | {s['filter_core_s'] * 1e3:.2f} | "
                         f"{s['gemm_gflops']:.0f} | {s['call_gflops']:.0f} |")
    lines.append("")
    return "\n".join(lines)


def geomeans(done) -> dict:
    out = {}

    def gm(key, pick):
        values = [v for v in (pick(r) for r in done) if v is not None]
        if values:
            out[f"{key} ({len(values)} layers)"] = suite.geomean(values)

    gm("torch/winograd", lambda r: r.get("torch_over", {}).get("winograd"))
    gm("torch/auto", lambda r: r.get("torch_over", {}).get("auto"))
    gm("torch/im2col", lambda r: r.get("torch_over", {}).get("im2col"))
    gm("winograd speed-up over im2col", lambda r: r["im2col_over"].get("winograd"))
    gm("auto speed-up over im2col", lambda r: r["im2col_over"].get("auto"))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="five small layers at batch 1")
    ap.add_argument("--threads", type=int, default=2, help="threads for im2col_nb, BLAS and torch")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--layout", choices=("NCHW", "NHWC"), default="NCHW")
    ap.add_argument("--json", default=None)
    ap.add_argument("--steps", action="store_true",
                    help="also time the filter transform, the bare GEMMs and the call per tile size")
    ap.add_argument("--steps-only", action="store_true", help="only the --steps part")
    ap.add_argument("--layers", default=None, help="only layers whose name or shape matches this regex")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 4)")
    ap.add_argument("--settle", type=float, default=suite.SETTLE_S,
                    help="seconds of untimed calls before each timed one")
    ap.add_argument("--max-call", type=float, default=0.5,
                    help="skip a layer whose im2col call takes longer (seconds)")
    args = ap.parse_args(argv)

    dtype = np.dtype(args.dtype)
    if "set_num_threads" in im2col_nb.__all__:
        im2col_nb.set_num_threads(args.threads)
    torch_version = None
    if suite.torch_available():
        import torch

        torch.set_num_threads(args.threads)
        torch_version = torch.__version__
    layers = quick_layers() if args.quick else all_layers()
    if args.layers:
        pattern = re.compile(args.layers)
        layers = [(n, layer) for n, layer in layers
                  if pattern.search(n) or pattern.search(shape_label(layer))]
    rounds = args.rounds or (4 if args.quick else 5)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    header = [f"CPU: {cpu_model()}; threads: {args.threads} (im2col_nb "
              f"{im2col_nb.get_num_threads()}, BLAS {suite.workers()}"
              + (f", torch {torch.get_num_threads()}" if torch_version else "") + ")",
              f"im2col_nb {im2col_nb.__version__}, numpy {np.__version__}, torch {torch_version}; "
              f"{args.dtype}, {args.layout}, padding 1; {rounds} rounds, settle {args.settle} s"
              + (f"; load average at start {load[0]:.2f}" if load else "")]
    for line in header:
        print(line)
    warm_up(dtype, args.layout)
    rows, steps = [], []
    if not args.steps_only:
        print("[compare]")
        for name, layer in layers:
            rows.append(run_layer(name, layer, dtype, args.layout, rounds, args.settle,
                                  args.max_call, print))
    if args.steps or args.steps_only:
        print("[steps]")
        for name, layer in layers:
            if rows and any(r["name"] == name and r.get("skipped") for r in rows):
                continue
            steps += run_steps(name, layer, dtype, args.layout, rounds, args.settle, print)
    print()
    print(markdown(rows, steps, header, dtype))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"header": header, "threads": args.threads, "dtype": args.dtype,
                       "layout": args.layout, "rows": rows, "steps": steps,
                       "geomeans": geomeans([r for r in rows if not r.get("skipped")])}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
