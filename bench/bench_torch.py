"""PyTorch against im2col_nb: forward, channels-last, both gradients and pooling, on CNN layers.

    python bench/bench_torch.py [--quick] [--layers REGEX] [--passes fwd,nhwc,dgrad,wgrad,pool]
                                [--dtype float32|float64] [--threads N] [--rounds R] [--settle S]
                                [--max-call S] [--methods a,b,...] [--json out.json]
                                [--markdown out.md] [--docs]

Measures, per layer and pass, PyTorch's time over ours (> 1: ours faster):
the median over interleaved rounds (torch, ours, torch, ours, ...) of the
ratio of the two calls timed in the same round (same background load), each
timed call after ``--settle`` seconds of untimed calls of the same
implementation (a thread pool left spinning by the previous one would slow
it). "Ours" is ``method="auto"``; the method it runs is the one
``im2col_nb.explain`` names.

Passes (``--passes``, default all):

* ``fwd``: ``im2col_nb.conv2d`` against ``torch.nn.functional.conv2d``
  under ``torch.no_grad()``;
* ``nhwc``: ``conv2d(..., layout="NHWC")`` on an (N, H, W, C) input against
  PyTorch on ``channels_last`` input and weight;
* ``dgrad``: ``conv2d_input_grad`` against ``torch.nn.grad.conv2d_input``;
* ``wgrad``: ``conv2d_weight_grad`` against ``torch.nn.grad.conv2d_weight``;
* ``pool``: ``max_pool2d(3, 2, 1)`` and ``avg_pool2d(2, 2)`` against
  ``torch.nn.functional``'s.

Layers: LeNet (5x5), CIFAR (3x3, batch 32 and 64), the ResNet-18 3x3 layers
and stem at batch 8 and 1, pointwise and strided 1x1 downsamples, stride-2
3x3, depthwise 3x3 (groups = channels) and U-Net-style 5x5 and 7x7 on
128x128 and 256x256 maps. ``--quick``: one small layer of each family (and
one pooling input at batch 2), 3 rounds. ``--layers REGEX`` keeps the
layers (and pooling inputs) whose name or shape matches. float64 runs a
subset of the layers unless ``--layers`` or ``--quick`` selects them.

``--methods im2col,direct``: also time those methods of ours, forced, in the
same rounds (PyTorch over each); a method a pass or problem does not have
shows "-". Every output of ours is checked against PyTorch's (max|diff| /
max|ref|, flagged above 1e-3 in float32, 1e-9 in float64). A layer's pass
is skipped when our ``auto`` call takes more than ``--max-call`` seconds (2;
a forced method over it is left out). GFLOP/s are the convolution's flops
(2 N F C/groups kh kw OH OW, the same for both gradients) over the fastest
round; for pooling, GB/s of input and output. The CPU time other processes
(and the hypervisor) take while a layer is timed is recorded from
/proc/stat: a row timed while they kept more than 0.3 cores busy is marked,
its ratios suspect (PyTorch's threads wait at barriers for a core another
process holds: tens of times slower on a small layer).

``--docs`` writes the tables into docs/benchmarks.md, as its section
"Against PyTorch, every pass" (between the markers `DOCS_START` and
`DOCS_END`; ``bench/report.py`` keeps that section when it rewrites the
rest of the page).

Defaults: the threads im2col_nb and PyTorch start with (``--threads N`` sets
both), 5 rounds, settle ``im2col_nb.cli.timing.SETTLE_S``. Exits with 1 when an
output of ours mismatches or a call of ours fails. The full float32
run takes about five minutes on 2 cores; ``--quick`` under one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import im2col_nb  # noqa: E402
import suite  # noqa: E402
from im2col_nb._engine.machine import cpu_model  # noqa: E402
from im2col_nb.cli.timing import interleaved_times  # noqa: E402
from suite import Layer  # noqa: E402

PASSES = ("fwd", "nhwc", "dgrad", "wgrad", "pool")
TOLERANCE = {"float32": 1e-3, "float64": 1e-9}
# other processes using more cores than this while a layer is timed: its row is marked busy
BUSY_CORES = 0.3


# ---------------------------------------------------------------------------
# problems
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Conv:
    """A convolution layer: input (n, c, h, w), f filters of k x k, stride, padding, groups."""

    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    stride: int = 1
    pad: int = 0
    groups: int = 1

    @property
    def layer(self) -> Layer:
        return Layer(self.n, self.c, self.h, self.w, self.f, self.k, self.stride, self.pad)

    @property
    def work(self) -> float:
        """Flops of the convolution (either gradient has as many)."""
        g = self.layer.geom
        return 2.0 * self.n * self.f * (self.c // self.groups) * self.k ** 2 * g.out_h * g.out_w

    def label(self) -> str:
        return (f"{self.n}x{self.c}x{self.h}x{self.w}->{self.f} {self.k}x{self.k}"
                + (f" s{self.stride}" if self.stride > 1 else "")
                + (f" p{self.pad}" if self.pad else "")
                + (f" g{self.groups}" if self.groups > 1 else ""))


@dataclass(frozen=True)
class Pool:
    """A pooling call: op ('max' or 'avg') of k x k windows on an (n, c, h, w) input."""

    op: str
    n: int
    c: int
    h: int
    w: int
    k: int
    stride: int
    pad: int = 0

    @property
    def work(self) -> float:
        """Elements read and written (input and output, once each)."""
        oh = (self.h + 2 * self.pad - self.k) // self.stride + 1
        ow = (self.w + 2 * self.pad - self.k) // self.stride + 1
        return float(self.n * self.c * (self.h * self.w + oh * ow))

    def label(self) -> str:
        return (f"{self.op} {self.k}x{self.k} s{self.stride}" + (f" p{self.pad}" if self.pad else "")
                + f" on {self.n}x{self.c}x{self.h}x{self.w}")


def _r18(n: int) -> list[tuple[str, Conv]]:
    b = "" if n == 8 else f" b{n}"
    return ([(f"r18 {c}@{hw}{b}", Conv(n, c, hw, hw, c, 3, 1, 1))
             for c, hw in ((64, 56), (128, 28), (256, 14), (512, 7))]
            + [(f"r18 stem{b}", Conv(n, 3, 224, 224, 64, 7, 2, 3))])


def _dw(n: int, c: int, hw: int, stride: int = 1) -> Conv:
    return Conv(n, c, hw, hw, c, 3, stride, 1, groups=c)


# (name, layer); the names of FLOAT64_LAYERS form the default float64 subset
LAYERS: list[tuple[str, Conv]] = [
    ("lenet-c1", Conv(64, 1, 28, 28, 32, 5, 1, 2)),
    ("lenet-c2", Conv(64, 32, 14, 14, 64, 5, 1, 2)),
    ("lenet-rgb", Conv(8, 3, 32, 32, 16, 5)),
    ("lenet-c1 b1", Conv(1, 1, 28, 28, 32, 5, 1, 2)),
    ("cifar", Conv(32, 32, 32, 32, 64, 3, 1, 1)),
    ("cifar-rgb", Conv(32, 3, 32, 32, 32, 3, 1, 1)),
    ("cifar b64", Conv(64, 32, 32, 32, 64, 3, 1, 1)),
    *_r18(8),
    *_r18(1),
    ("pw 128@28", Conv(8, 128, 28, 28, 256, 1)),
    ("pw 64@56 b1", Conv(1, 64, 56, 56, 256, 1)),
    ("down 256@14", Conv(8, 256, 14, 14, 512, 1, 2)),
    ("down 64@56", Conv(8, 64, 56, 56, 128, 1, 2)),
    ("s2 64@56", Conv(8, 64, 56, 56, 128, 3, 2, 1)),
    ("s2 128@28", Conv(8, 128, 28, 28, 256, 3, 2, 1)),
    ("s2 32@112", Conv(8, 32, 112, 112, 64, 3, 2, 1)),
    ("s2 256@14 b1", Conv(1, 256, 14, 14, 512, 3, 2, 1)),
    ("dw 32@112", _dw(8, 32, 112)),
    ("dw 64@56", _dw(8, 64, 56)),
    ("dw 128@28 s2", _dw(8, 128, 28, 2)),
    ("dw 256@14", _dw(8, 256, 14)),
    ("dw 512@14 b1", _dw(1, 512, 14)),
    ("unet5 16@128", Conv(4, 16, 128, 128, 32, 5, 1, 2)),
    ("unet5 32@128", Conv(4, 32, 128, 128, 32, 5, 1, 2)),
    ("unet7 16@256", Conv(2, 16, 256, 256, 16, 7, 1, 3)),
    ("unet7 32@128 b1", Conv(1, 32, 128, 128, 32, 7, 1, 3)),
    ("unet5 3@128", Conv(4, 3, 128, 128, 16, 5, 1, 2)),
]
FLOAT64_LAYERS = ("lenet-c1", "cifar", "r18 64@56 b1", "pw 128@28", "pw 64@56 b1", "down 256@14",
                  "down 64@56", "dw 64@56", "unet5 16@128")
# one small layer of each family
QUICK_LAYERS: list[tuple[str, Conv]] = [
    ("lenet-c1 b1", Conv(1, 1, 28, 28, 32, 5, 1, 2)),
    ("cifar b4", Conv(4, 32, 32, 32, 64, 3, 1, 1)),
    ("r18 128@28 b1", Conv(1, 128, 28, 28, 128, 3, 1, 1)),
    ("r18 stem b1", Conv(1, 3, 224, 224, 64, 7, 2, 3)),
    ("pw 64@56 b1", Conv(1, 64, 56, 56, 256, 1)),
    ("s2 256@14 b1", Conv(1, 256, 14, 14, 512, 3, 2, 1)),
    ("dw 512@14 b1", _dw(1, 512, 14)),
    ("unet7 32@128 b1", Conv(1, 32, 128, 128, 32, 7, 1, 3)),
]
POOLS: list[tuple[str, Pool]] = [
    (f"{op} {c}@{hw}", Pool(op, 8, c, hw, hw, *window))
    for c, hw in ((64, 112), (128, 56))
    for op, window in (("max", (3, 2, 1)), ("avg", (2, 2)))
]
QUICK_POOLS: list[tuple[str, Pool]] = [
    ("max 64@112 b2", Pool("max", 2, 64, 112, 112, 3, 2, 1)),
    ("avg 64@112 b2", Pool("avg", 2, 64, 112, 112, 2, 2)),
]


def operands(conv: Conv, dtype):
    """x (N, C, H, W), weight (F, C/groups, k, k), bias (F,) and an output
    gradient (N, F, OH, OW), of `dtype`: `suite.inputs`, the weight cut to
    C/groups input channels (and scaled as suite's for that fan-in)."""
    x, w, b = suite.inputs(conv.layer, dtype)
    if conv.groups > 1:
        w = np.ascontiguousarray(w[:, :conv.c // conv.groups]) * w.dtype.type(math.sqrt(conv.groups))
    g = conv.layer.geom
    go = np.random.default_rng(2).standard_normal((conv.n, conv.f, g.out_h, g.out_w)).astype(dtype)
    return x, w, b, go


@dataclass
class Case:
    """One problem of one pass: ``ours(method)`` a zero-argument callable
    (ours, method forced), ``torch`` PyTorch's, ``auto`` the method explain
    names, ``nchw`` our output as PyTorch's logical layout."""

    ours: object
    torch: object
    auto: object
    nchw: object = None


def make_case(pass_name: str, spec, dtype) -> Case:
    import torch
    import torch.nn.functional as F

    def no_grad(fn):
        def call():
            with torch.no_grad():
                return fn()
        return call

    if pass_name == "pool":
        x = np.random.default_rng(0).standard_normal((spec.n, spec.c, spec.h, spec.w)).astype(dtype)
        xt = torch.from_numpy(x)
        ours_fn = im2col_nb.max_pool2d if spec.op == "max" else im2col_nb.avg_pool2d
        torch_fn = F.max_pool2d if spec.op == "max" else F.avg_pool2d
        k, s, p = spec.k, spec.stride, spec.pad
        return Case(lambda m: lambda: ours_fn(x, k, s, p, method=m),
                    no_grad(lambda: torch_fn(xt, k, s, p)),
                    lambda: im2col_nb.explain(f"{spec.op}_pool2d", x, k, s, p).method)

    x, w, b, go = operands(spec, dtype)
    s, p, g = spec.stride, spec.pad, spec.groups
    wt, bt, got = torch.from_numpy(w), torch.from_numpy(b), torch.from_numpy(go)
    xt = torch.from_numpy(x)
    if pass_name == "fwd":
        return Case(lambda m: lambda: im2col_nb.conv2d(x, w, b, s, p, groups=g, method=m),
                    no_grad(lambda: F.conv2d(xt, wt, bt, s, p, groups=g)),
                    lambda: im2col_nb.explain("conv2d", x, w, b, stride=s, padding=p,
                                              groups=g).method)
    if pass_name == "nhwc":
        xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        xht = torch.from_numpy(xh).permute(0, 3, 1, 2)      # (N, H, W, C) memory: channels_last
        wht = wt.contiguous(memory_format=torch.channels_last)
        assert xht.is_contiguous(memory_format=torch.channels_last)
        return Case(lambda m: lambda: im2col_nb.conv2d(xh, w, b, s, p, groups=g, layout="NHWC",
                                                       method=m),
                    no_grad(lambda: F.conv2d(xht, wht, bt, s, p, groups=g)),
                    lambda: im2col_nb.explain("conv2d", xh, w, b, stride=s, padding=p, groups=g,
                                              layout="NHWC").method,
                    nchw=lambda out: out.transpose(0, 3, 1, 2))
    if pass_name == "dgrad":
        return Case(lambda m: lambda: im2col_nb.conv2d_input_grad(x.shape, w, go, s, p, groups=g,
                                                                  method=m),
                    no_grad(lambda: torch.nn.grad.conv2d_input(x.shape, wt, got, stride=s, padding=p,
                                                               groups=g)),
                    lambda: im2col_nb.explain("conv2d_input_grad", x.shape, w, go, stride=s,
                                              padding=p, groups=g).method)
    if pass_name == "wgrad":
        return Case(lambda m: lambda: im2col_nb.conv2d_weight_grad(x, w.shape, go, s, p, groups=g,
                                                                   method=m),
                    no_grad(lambda: torch.nn.grad.conv2d_weight(xt, w.shape, got, stride=s, padding=p,
                                                                groups=g)),
                    lambda: im2col_nb.explain("conv2d_weight_grad", x, w.shape, go, stride=s,
                                              padding=p, groups=g).method)
    raise ValueError(f"unknown pass {pass_name!r}")


# ---------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------

def rel_error(out, ref) -> float:
    """max|out - ref| / max|ref| (inf when the shapes differ)."""
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    if out.shape != ref.shape:
        return math.inf
    return float(np.max(np.abs(out - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def cpu_clock():
    """(CPU seconds all processes have used, this process's, wall seconds), or
    None where /proc/stat cannot be read."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(ticks[i] for i in (0, 1, 2, 5, 6, 7))   # user nice system irq softirq steal
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.perf_counter()


def other_cores(start, end) -> float | None:
    """Cores other processes (and the hypervisor's steal) kept busy between
    two `cpu_clock` readings."""
    if start is None or end is None:
        return None
    return max(0.0, ((end[0] - start[0]) - (end[1] - start[1])) / (end[2] - start[2]))


def probe(call, max_call: float):
    """(output, seconds) of `call`; called a second time when the first is
    over `max_call` (compilation, first touch of the pages)."""
    for _ in range(2):
        t0 = time.perf_counter()
        out = call()
        dt = time.perf_counter() - t0
        if dt <= max_call:
            break
    return out, dt


def run_case(pass_name: str, name: str, spec, dtype, methods, rounds: int, settle_s: float,
             max_call: float, log) -> dict:
    """Time PyTorch and ours (auto, then each forced method) on one problem."""
    work = spec.work * (np.dtype(dtype).itemsize if pass_name == "pool" else 1)
    row = dict(name=name, shape=spec.label(), work=work, auto=None, skipped=None,
               rel_error={}, unsupported={}, errors={}, flags=[])
    head = f"{pass_name:5s} {name:16s} {row['shape']:34s}"
    case = make_case(pass_name, spec, dtype)
    ref = case.torch().numpy()
    try:
        row["auto"] = case.auto()
    except Exception as exc:  # noqa: BLE001  (reported; the call below says more)
        row["errors"]["explain"] = f"{type(exc).__name__}: {exc}"
    nchw = case.nchw or (lambda out: out)
    calls = {}
    for method in ("auto",) + tuple(methods):
        call = case.ours(method)
        try:
            out, dt = probe(call, max_call)
        except ValueError as exc:
            if method == "auto":
                row["errors"][method] = f"ValueError: {exc}"
            else:
                row["unsupported"][method] = str(exc)
            continue
        except Exception as exc:  # noqa: BLE001  (reported; the others still run)
            row["errors"][method] = f"{type(exc).__name__}: {exc}"
            continue
        if dt > max_call:
            row["unsupported"][method] = f"call {dt:.2f} s > {max_call} s"
            if method == "auto":
                row["skipped"] = row["unsupported"].pop(method)
                break
            continue
        row["rel_error"][method] = err = rel_error(nchw(out), ref)
        if not err <= TOLERANCE[np.dtype(dtype).name]:
            row["flags"].append(f"{method} max|diff|/max|ref| {err:.1e}")
        calls[method] = call
    if row["skipped"] or "auto" not in calls:
        row["skipped"] = row["skipped"] or f"ours failed: {row['errors'].get('auto')}"
        log(f"{head} skipped: {row['skipped']}")
        return row
    clock = cpu_clock()
    times = interleaved_times([case.torch] + list(calls.values()), rounds=rounds, warmup=0,
                              settle_s=settle_s)
    row["other_cores"] = busy = other_cores(clock, cpu_clock())
    t_torch = np.asarray(times[0])
    t = {m: np.asarray(ts) for m, ts in zip(calls, times[1:])}
    row["torch_ms"] = float(t_torch.min()) * 1e3
    row["ms"] = {m: float(ts.min()) * 1e3 for m, ts in t.items()}
    row["torch_over"] = {m: float(np.median(t_torch / ts)) for m, ts in t.items()}
    row["rate"] = work / 1e9 / float(t["auto"].min())
    row["torch_rate"] = work / 1e9 / float(t_torch.min())
    forced = " ".join(f"{m}={row['torch_over'][m]:.2f}" if m in calls else f"{m}=-"
                      for m in methods)
    log(f"{head} auto={row['auto'] or '?':9s} torch {row['torch_ms']:8.2f} ms  ours "
        f"{row['ms']['auto']:8.2f} ms  torch/ours {row['torch_over']['auto']:5.2f}"
        + (f"  [{forced}]" if forced else "") + f"  err {row['rel_error']['auto']:.1e}"
        + (f"  !! MISMATCH: {'; '.join(row['flags'])}" if row["flags"] else "")
        + (f"  !! ERRORS: {row['errors']}" if row["errors"] else "")
        + (f"  (busy: other processes used {busy:.1f} cores)" if busy and busy > BUSY_CORES else ""))
    return row


def summary(rows, methods) -> dict:
    """Geometric mean and minimum of torch/ours (and of each forced method) over the rows."""
    out = {}
    for method in ("auto",) + tuple(methods):
        pairs = [(r["torch_over"][method], r["name"]) for r in rows
                 if not r["skipped"] and method in r.get("torch_over", {})]
        if pairs:
            low = min(pairs)
            out[method] = dict(geomean=suite.geomean(v for v, _ in pairs), min=low[0], min_layer=low[1],
                               layers=len(pairs))
    return out


def summary_line(pass_name: str, res: dict) -> str:
    parts = []
    for method, s in res["summary"].items():
        label = pass_name if method == "auto" else f"{pass_name} {method}"
        parts.append(f"{label} geomean {s['geomean']:.2f} min {s['min']:.2f} ({s['min_layer']})"
                     f" over {s['layers']} layers")
    busy = res.get("other_cores")
    if parts and busy is not None:
        parts[0] += f"; other processes used {busy:.2f} cores"
    return "\n".join(parts) if parts else f"{pass_name}: no layer measured"


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def _f(value, fmt="{:.2f}"):
    return "-" if value is None else fmt.format(value)


def markdown(header: list[str], results: dict, methods) -> str:
    lines = [f"{h}  " for h in header] + [
        "", "torch/X: PyTorch time over ours (method X; ours = auto), median over interleaved "
        "rounds; > 1: ours faster. ms: fastest round. others: cores other processes kept busy "
        f"while the layer was timed (over {BUSY_CORES}: its ratios are suspect).", ""]
    for pass_name, res in results.items():
        rows, summ = res["rows"], res["summary"]
        rate = "GB/s" if pass_name == "pool" else "GFLOP/s"
        if not rows:
            lines += [f"## {pass_name}", "", "No layer selected.", ""]
            continue
        lines += [f"## {pass_name}", "",
                  "| layer | shape | auto runs | torch ms | ours ms | torch/ours | "
                  + "".join(f"torch/{m} | " for m in methods) + f"ours {rate} | torch {rate} | others |",
                  "|---|---|---|---:|---:|---:|" + "---:|" * len(methods) + "---:|---:|---:|"]
        for r in rows:
            if r["skipped"]:
                lines.append(f"| {r['name']} | {r['shape']} | {r['auto'] or '-'} | skipped: "
                             f"{r['skipped']} |" + " |" * (5 + len(methods)))
                continue
            to = r["torch_over"]
            lines.append(f"| {r['name']} | {r['shape']} | {r['auto']} | {r['torch_ms']:.2f} | "
                         f"{r['ms']['auto']:.2f} | {to['auto']:.2f} | "
                         + "".join(f"{_f(to.get(m))} | " for m in methods)
                         + f"{r['rate']:.1f} | {r['torch_rate']:.1f} | {_f(r.get('other_cores'))} |")
        lines.append("")
        for method, s in summ.items():
            lines.append(f"torch/{method}: geomean {s['geomean']:.2f}, min {s['min']:.2f} "
                         f"({s['min_layer']}), {s['layers']} layers.  ")
        if res.get("other_cores") is not None:
            lines.append(f"Other processes used {res['other_cores']:.2f} cores during the pass.  ")
        busy = [r["name"] for r in rows if (r.get("other_cores") or 0.0) > BUSY_CORES]
        if busy:
            lines += ["", f"**Timed while other processes were busy** (> {BUSY_CORES} cores): "
                      + ", ".join(busy) + "."]
        notes = []
        for r in rows:
            notes += [f"{r['name']}: {f}" for f in r["flags"]]
            notes += [f"{r['name']}: {k} {v}" for k, v in r["errors"].items()]
        if notes:
            lines += ["", "**Mismatches and errors:** " + "; ".join(notes) + "."]
        worst = max(((e, r["name"]) for r in rows for e in r["rel_error"].values()), default=None)
        if worst:
            lines += ["", f"Largest max|ours - torch| / max|torch|: {worst[0]:.1e} ({worst[1]})."]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                    "benchmarks.md")
DOCS_START = "<!-- bench_torch.py --docs: start -->"
DOCS_END = "<!-- bench_torch.py --docs: end -->"


def docs_section(header: list[str], results: dict, methods, command: str) -> str:
    """The tables as docs/benchmarks.md's section, between the markers."""
    body = markdown(header, results, methods).replace("\n## ", "\n### ")
    return (f"{DOCS_START}\n## Against PyTorch, every pass\n\n_Written by `{command}`; rerun it "
            f"to update this section._\n\n{body.rstrip()}\n{DOCS_END}\n")


def write_docs(section: str, path: str = DOCS) -> None:
    """Replace the marked section of `path` with `section` (appended if absent)."""
    text = open(path).read() if os.path.exists(path) else ""
    if DOCS_START in text and DOCS_END in text:
        head, rest = text.split(DOCS_START, 1)
        tail = rest.split(DOCS_END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as fh:
        fh.write(text)


def select(named, pattern):
    return [(n, s) for n, s in named if pattern is None or pattern.search(n) or pattern.search(s.label())]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one small layer per family, 3 rounds")
    ap.add_argument("--layers", default=None, help="only layers whose name or shape matches this regex")
    ap.add_argument("--passes", default=",".join(PASSES), help=f"comma list of {', '.join(PASSES)}")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for im2col_nb and PyTorch (default: as they start)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 3)")
    ap.add_argument("--settle", type=float, default=suite.SETTLE_S,
                    help="seconds of untimed calls before each timed one")
    ap.add_argument("--max-call", type=float, default=2.0,
                    help="skip a layer's pass when our call takes longer (seconds)")
    ap.add_argument("--methods", default="", help="comma list of our methods to time forced too")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--docs", action="store_true",
                    help="write the tables into docs/benchmarks.md's section on PyTorch")
    args = ap.parse_args(argv)

    passes = [p.strip() for p in args.passes.split(",") if p.strip()]
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        ap.error(f"unknown pass(es) {', '.join(unknown)}; choose from {', '.join(PASSES)}")
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip() and m.strip() != "auto")
    if not suite.torch_available():
        print("PyTorch is not installed", file=sys.stderr)
        return 2
    import torch

    dtype = np.dtype(args.dtype)
    if args.threads is not None:
        im2col_nb.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    pattern = re.compile(args.layers) if args.layers else None
    layers = select(QUICK_LAYERS if args.quick else LAYERS, pattern)
    if dtype == np.float64 and not (args.quick or pattern):
        layers = [(n, s) for n, s in layers if n in FLOAT64_LAYERS]
    pools = select(QUICK_POOLS if args.quick else POOLS, pattern)
    rounds = args.rounds or (3 if args.quick else 5)

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    header = [f"CPU: {cpu_model()}; threads: im2col_nb {im2col_nb.get_num_threads()}, BLAS "
              f"{suite.workers()}, torch {torch.get_num_threads()}",
              f"im2col_nb {im2col_nb.__version__}, numpy {np.__version__}, torch {torch.__version__}; "
              f"{dtype.name}; {rounds} rounds, settle {args.settle} s, max call {args.max_call} s"
              + (f"; load average at start {load[0]:.2f}" if load else "")]
    for line in header:
        print(line, flush=True)

    results = {}
    for pass_name in passes:
        named = pools if pass_name == "pool" else layers
        clock = cpu_clock()
        rows = [run_case(pass_name, name, spec, dtype, methods, rounds, args.settle, args.max_call,
                         lambda s: print(s, flush=True))
                for name, spec in named]
        results[pass_name] = dict(rows=rows, summary=summary(rows, methods),
                                  other_cores=other_cores(clock, cpu_clock()))
        print(summary_line(pass_name, results[pass_name]), flush=True)

    print("\nsummary")
    for pass_name, res in results.items():
        print(summary_line(pass_name, res))
    flagged = [(p, r["name"], f) for p, res in results.items() for r in res["rows"]
               for f in r["flags"] + [f"{k}: {v}" for k, v in r["errors"].items()]]
    for p, name, f in flagged:
        print(f"!! {p} {name}: {f}")
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(markdown(header, results, methods))
    if args.docs:
        given = list(argv if argv is not None else sys.argv[1:])
        for option in ("--json", "--markdown"):   # output files: not part of the measurement
            while option in given:
                i = given.index(option)
                del given[i:i + 2]
        command = "python bench/bench_torch.py " + " ".join(given)
        write_docs(docs_section(header, results, methods, command.strip()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"header": header, "dtype": dtype.name, "rounds": rounds, "settle": args.settle,
                       "max_call": args.max_call, "methods": list(methods),
                       "threads": {"im2col_nb": im2col_nb.get_num_threads(),
                                   "torch": torch.get_num_threads()},
                       "passes": results}, fh, indent=1)
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
