"""Drop-in speed of im2col_nb in existing NumPy CNN code (docs/speed-up-numpy-cnn.md).

    python bench/bench_dropin.py [--quick] [--threads 1,2] [--json out.json] [--markdown out.md]

For three styles of NumPy CNN code (CS231n assignment 2: its Cython loops,
ported to serial Numba, its fancy-indexing im2col.py and its stride-trick
layer; *Deep Learning from Scratch* ch. 7; numpy-ml), on their typical
shapes, in float64 and float32 (drivers in bench/dropin_styles.py):

(a) primitives, call for call, each in the original's own layout: the
    original im2col / col2im against im2col_nb's with ``order=`` (and with
    ``out=`` into a reused buffer);
(b) a conv layer forward + backward (im2col, GEMM, col2im for dx, GEMM for
    dW) on the original primitives, on ours, and on im2col_nb.conv2d with
    conv2d_input_grad / conv2d_weight_grad (layout NHWC for numpy-ml);
(c) memory: tracemalloc peak of our call minus its result (or, with
    ``out=``, the whole peak): no input-sized copy;
(d) first touch: a call into a reused ``out=`` buffer against one that
    allocates its result, in a loop that also allocates other large arrays.

Every driver is checked against the others (allclose) before timing. Calls
are interleaved (A B A B ...), each timed call after a short settle; the
figures are the medians over the rounds of the ratio of two calls timed one
after the other in the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dropin_styles as st  # noqa: E402
import im2col_nb  # noqa: E402
from im2col_nb.cli.timing import interleaved_times, traced_peak  # noqa: E402

SETTLE_S = 0.02


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    stride: int
    pad: int

    def label(self):
        return f"{self.n}x{self.c}x{self.h}x{self.w} k{self.k} s{self.stride} p{self.pad}"


CASES = [
    Case("mnist-3x3", 32, 16, 28, 28, 32, 3, 1, 1),
    Case("cifar-5x5", 64, 3, 32, 32, 32, 5, 1, 2),
    Case("3x3-stride2", 32, 16, 28, 28, 32, 3, 2, 1),
    Case("2x2-stride2", 16, 32, 32, 32, 32, 2, 2, 0),
]
QUICK_CASES = [CASES[0], CASES[3]]


def ratios_of(calls, rounds):
    """Median over the rounds of (first call's time / each call's time), the
    calls timed one after the other in each round (interleaved), so every
    ratio compares calls made under the same background load."""
    t = np.array(interleaved_times(calls, rounds=rounds, warmup=1, settle_s=SETTLE_S))
    return [float(np.median(t[0] / ti)) for ti in t]


def _check(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} != {b.shape}"
    tol = 1e-4 if a.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())),
                               err_msg=what)


# ---------------------------------------------------------------------------
# (a) primitives
# ---------------------------------------------------------------------------


def primitive_calls(case: Case, dtype):
    """{name: (orig, ours, ours_out, result_bytes, input_bytes, ours_out_call_for_memory)}.
    Each callable takes no arguments; results are checked here."""
    rng = np.random.default_rng(0)
    n, c, h, w, k, s, p = case.n, case.c, case.h, case.w, case.k, case.stride, case.pad
    oh, ow = st.out_hw(h, w, k, k, p, s)
    kk, l = c * k * k, oh * ow
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    cols_kln = rng.standard_normal((kk, l * n)).astype(dtype)
    cols_knl = rng.standard_normal((kk, n * l)).astype(dtype)
    rows_nlk = rng.standard_normal((n * l, kk)).astype(dtype)
    X = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # numpy-ml's NHWC input
    p4 = (p, p, p, p)
    buf_kln = np.empty((kk, l * n), dtype)
    buf_knl = np.empty((kk, n * l), dtype)
    buf_nlk = np.empty((n * l, kk), dtype)
    img = np.empty((n, c, h, w), dtype)
    img_nhwc = np.empty((n, h, w, c), dtype)

    out = {}

    def add(name, orig, ours, ours_out, result_nbytes, in_nbytes):
        r0, r1, r2 = orig(), ours(), ours_out()
        _check(r1, r0, f"{name} ours vs original ({case.name}, {np.dtype(dtype).name})")
        _check(r2, r0, f"{name} ours out= vs original ({case.name}, {np.dtype(dtype).name})")
        out[name] = (orig, ours, ours_out, result_nbytes, in_nbytes)

    kw = dict(padding=p, stride=s)
    add("cs231n Cython im2col (KLN)",
        lambda: st.cs231n_im2col_cython(x, k, k, p, s),
        lambda: im2col_nb.im2col(x, k, order="KLN", **kw),
        lambda: im2col_nb.im2col(x, k, order="KLN", out=buf_kln, **kw),
        buf_kln.nbytes, x.nbytes)
    add("cs231n Cython col2im (KLN)",
        lambda: st.cs231n_col2im_cython(cols_kln, n, c, h, w, k, k, p, s),
        lambda: im2col_nb.col2im(cols_kln, (h, w), k, order="KLN", **kw),
        lambda: im2col_nb.col2im(cols_kln, (h, w), k, order="KLN", out=img, **kw),
        img.nbytes, cols_kln.nbytes)
    add("cs231n Cython col2im_6d (KNL)",
        lambda: st.cs231n_col2im_6d_cython(cols_knl.reshape(c, k, k, n, oh, ow), n, c, h, w, k, k, p, s),
        lambda: im2col_nb.col2im(cols_knl, (h, w), k, order="KNL", **kw),
        lambda: im2col_nb.col2im(cols_knl, (h, w), k, order="KNL", out=img, **kw),
        img.nbytes, cols_knl.nbytes)
    add("cs231n strides cols (KNL)",
        lambda: st.cs231n_strides_cols(x, k, k, p, s),
        lambda: im2col_nb.im2col(x, k, order="KNL", **kw),
        lambda: im2col_nb.im2col(x, k, order="KNL", out=buf_knl, **kw),
        buf_knl.nbytes, x.nbytes)
    add("cs231n im2col.py im2col (KLN)",
        lambda: st.cs231n_im2col_indices(x, k, k, p, s),
        lambda: im2col_nb.im2col(x, k, order="KLN", **kw),
        lambda: im2col_nb.im2col(x, k, order="KLN", out=buf_kln, **kw),
        buf_kln.nbytes, x.nbytes)
    add("cs231n im2col.py col2im (KLN)",
        lambda: st.cs231n_col2im_indices(cols_kln, n, c, h, w, k, k, p, s),
        lambda: im2col_nb.col2im(cols_kln, (h, w), k, order="KLN", **kw),
        lambda: im2col_nb.col2im(cols_kln, (h, w), k, order="KLN", out=img, **kw),
        img.nbytes, cols_kln.nbytes)
    add("book im2col (NLK)",
        lambda: st.book_im2col(x, k, k, s, p),
        lambda: im2col_nb.im2col(x, k, order="NLK", **kw),
        lambda: im2col_nb.im2col(x, k, order="NLK", out=buf_nlk, **kw),
        buf_nlk.nbytes, x.nbytes)
    add("book col2im (NLK)",
        lambda: st.book_col2im(rows_nlk, x.shape, k, k, s, p),
        lambda: im2col_nb.col2im(rows_nlk, (h, w), k, order="NLK", **kw),
        lambda: im2col_nb.col2im(rows_nlk, (h, w), k, order="NLK", out=img, **kw),
        img.nbytes, rows_nlk.nbytes)
    add("numpy-ml im2col (NHWC in, KLN)",
        lambda: st.nml_im2col(X, (k, k), p4, s, 0),
        lambda: im2col_nb.im2col(X.transpose(0, 3, 1, 2), k, padding=st.nml_pad(p4), stride=s,
                             dilation=1, order="KLN"),
        lambda: im2col_nb.im2col(X.transpose(0, 3, 1, 2), k, padding=st.nml_pad(p4), stride=s,
                             dilation=1, order="KLN", out=buf_kln),
        buf_kln.nbytes, X.nbytes)
    add("numpy-ml col2im (KLN, NHWC out=)",
        lambda: st.nml_col2im(cols_kln, X.shape, (k, k), p4, s, 0),
        lambda: im2col_nb.col2im(cols_kln, (h, w), k, padding=st.nml_pad(p4), stride=s, order="KLN"),
        lambda: im2col_nb.col2im(cols_kln, (h, w), k, padding=st.nml_pad(p4), stride=s, order="KLN",
                             out=img_nhwc.transpose(0, 3, 1, 2)),
        img.nbytes, cols_kln.nbytes)
    return out


def run_primitives(cases, dtypes, rounds, log):
    rows = []
    for case in cases:
        for dtype in dtypes:
            for name, (orig, ours, ours_out, res_nb, in_nb) in primitive_calls(case, dtype).items():
                _, r_ours, r_out = ratios_of([orig, ours, ours_out], rounds)
                peak_alloc = traced_peak(ours) - res_nb
                peak_out = traced_peak(ours_out)
                row = dict(kind="primitive", name=name, case=case.name, shape=case.label(),
                           dtype=np.dtype(dtype).name, speedup=r_ours,
                           speedup_out=r_out, extra_bytes_alloc=int(peak_alloc),
                           extra_bytes_out=int(peak_out), input_bytes=int(in_nb),
                           result_bytes=int(res_nb))
                rows.append(row)
                log(f"  {name:34s} {case.name:12s} {row['dtype']:8s} x{row['speedup']:6.2f} "
                    f"out= x{row['speedup_out']:6.2f}  extra {peak_alloc:>9d} B / {peak_out:>9d} B")
    return rows


# ---------------------------------------------------------------------------
# (b) layers
# ---------------------------------------------------------------------------


def layer_calls(case: Case, dtype):
    rng = np.random.default_rng(1)
    n, c, h, w, f, k, s, p = case.n, case.c, case.h, case.w, case.f, case.k, case.stride, case.pad
    oh, ow = st.out_hw(h, w, k, k, p, s)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((f, c, k, k)) / np.sqrt(c * k * k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    dout = rng.standard_normal((n, f, oh, ow)).astype(dtype)
    X = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    W = np.ascontiguousarray(wt.transpose(2, 3, 1, 0))      # numpy-ml (fr, fc, C, F)
    B = b.reshape(1, 1, 1, f)
    dZ = np.ascontiguousarray(dout.transpose(0, 2, 3, 1))
    p4 = (p, p, p, p)
    styles = {
        "cs231n Cython (im2col layer)": (
            lambda: st.layer_cs231n_im2col(x, wt, b, dout, p, s),
            lambda: st.layer_cs231n_im2col(x, wt, b, dout, p, s, ours=True),
            lambda: st.layer_conv2d(x, wt, b, dout, p, s)),
        "cs231n im2col.py (fancy)": (
            lambda: st.layer_cs231n_fancy(x, wt, b, dout, p, s),
            lambda: st.layer_cs231n_fancy(x, wt, b, dout, p, s, ours=True),
            lambda: st.layer_conv2d(x, wt, b, dout, p, s)),
        "cs231n strides + col2im_6d": (
            lambda: st.layer_cs231n_strides(x, wt, b, dout, p, s),
            lambda: st.layer_cs231n_strides(x, wt, b, dout, p, s, ours=True),
            lambda: st.layer_conv2d(x, wt, b, dout, p, s)),
        "book": (
            lambda: st.layer_book(x, wt, b, dout, p, s),
            lambda: st.layer_book(x, wt, b, dout, p, s, ours=True),
            lambda: st.layer_conv2d(x, wt, b, dout, p, s)),
        "numpy-ml (NHWC)": (
            lambda: st.layer_nml(X, W, B, dZ, p4, s),
            lambda: st.layer_nml(X, W, B, dZ, p4, s, ours=True),
            lambda: st.layer_nml_conv2d(X, W, B, dZ, p4, s)),
    }
    for name, calls in styles.items():
        ref = calls[0]()
        for other, label in ((calls[1], "ours"), (calls[2], "conv2d")):
            got = other()
            for r, g, what in zip(ref, got, ("out", "dx", "dw", "db")):
                _check(g, r, f"layer {name} {label} {what} ({case.name}, {np.dtype(dtype).name})")
    return styles


def run_layers(cases, dtypes, rounds, log):
    rows = []
    for case in cases:
        for dtype in dtypes:
            for name, (orig, ours, conv) in layer_calls(case, dtype).items():
                _, r_ours, r_conv = ratios_of([orig, ours, conv], rounds)
                row = dict(kind="layer", name=name, case=case.name, shape=case.label(),
                           dtype=np.dtype(dtype).name, speedup=r_ours,
                           speedup_conv2d=r_conv)
                rows.append(row)
                log(f"  {name:34s} {case.name:12s} {row['dtype']:8s} ours x{row['speedup']:6.2f} "
                    f"conv2d x{row['speedup_conv2d']:6.2f}")
    return rows


# ---------------------------------------------------------------------------
# (d) first touch: fresh result vs reused out= buffer, among other large allocations
# ---------------------------------------------------------------------------


def run_first_touch(rounds, log, dtype=np.float32):
    case = CASES[0]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((case.n, case.c, case.h, case.w)).astype(dtype)
    k, p, s = case.k, case.pad, case.stride
    oh, ow = st.out_hw(case.h, case.w, k, k, p, s)
    buf = np.empty((case.c * k * k, oh * ow * case.n), dtype)
    a = rng.standard_normal((512, 1024)).astype(dtype)
    bm = rng.standard_normal((1024, 4096)).astype(dtype)
    big = rng.standard_normal((2048, 2048)).astype(dtype)

    def step(reuse, others):
        if others:
            prod = np.dot(a, bm)                    # other large arrays come and go
            tcopy = np.ascontiguousarray(big.T)
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        if reuse:
            im2col_nb.im2col(x, k, padding=p, stride=s, order="KLN", out=buf)
        else:
            im2col_nb.im2col(x, k, padding=p, stride=s, order="KLN")
        dt = time.perf_counter() - t0
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        if others:
            del prod, tcopy
        return dt, faults

    rows = []
    for others in (True, False):
        times = {True: [], False: []}
        faults = {True: [], False: []}
        for _ in range(2):
            step(True, others), step(False, others)
        for _ in range(rounds * 3):
            for reuse in (True, False):
                dt, nf = step(reuse, others)
                times[reuse].append(dt)
                faults[reuse].append(nf)
        fresh, reused = float(np.median(times[False])), float(np.median(times[True]))
        where = "among other large allocations" if others else "alone in its loop"
        row = dict(kind="first_touch", case=case.name, shape=case.label(), dtype=np.dtype(dtype).name,
                   result_bytes=int(buf.nbytes), speedup_out=fresh / reused, others=others, where=where,
                   faults_fresh=float(np.median(faults[False])), faults_reused=float(np.median(faults[True])))
        log(f"  im2col KLN {where}, fresh result / reused out= buffer: x{fresh / reused:.2f} "
            f"({buf.nbytes / 2**20:.1f} MiB result; minor page faults per call "
            f"{row['faults_fresh']:.0f} fresh, {row['faults_reused']:.0f} reused)")
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def print_tables(rows, cpu, threads):
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print(json.dumps(rows, indent=1))
        return
    console = Console(width=max(150, Console().width))
    for nthreads in threads:
        sub = [r for r in rows if r["threads"] == nthreads]
        t = Table(title=f"(a) primitives, original time / ours ({cpu}, {nthreads} thread(s))")
        for col in ("primitive", "case", "dtype", "ours", "ours out=", "extra B (alloc)", "extra B (out=)",
                    "input B"):
            t.add_column(col, justify="left" if col in ("primitive", "case", "dtype") else "right")
        for r in sub:
            if r["kind"] == "primitive":
                t.add_row(r["name"], r["case"], r["dtype"], f"{r['speedup']:.2f}", f"{r['speedup_out']:.2f}",
                          str(r["extra_bytes_alloc"]), str(r["extra_bytes_out"]), str(r["input_bytes"]))
        console.print(t)
        t = Table(title=f"(b) conv layer forward + backward, original time / ours ({cpu}, {nthreads} thread(s))")
        for col in ("style", "case", "dtype", "our primitives", "conv2d + grads"):
            t.add_column(col, justify="left" if col in ("style", "case", "dtype") else "right")
        for r in sub:
            if r["kind"] == "layer":
                t.add_row(r["name"], r["case"], r["dtype"], f"{r['speedup']:.2f}", f"{r['speedup_conv2d']:.2f}")
        console.print(t)
        for r in sub:
            if r["kind"] == "first_touch":
                console.print(f"(d) first touch, {r['shape']} {r['dtype']}, {r['where']}: fresh result / "
                              f"reused out= x{r['speedup_out']:.2f} (minor faults per call "
                              f"{r['faults_fresh']:.0f} / {r['faults_reused']:.0f})")


def summary(rows):
    """Per threads and kind: the worst ratios (the goals)."""
    out = {}
    for nthreads in sorted({r["threads"] for r in rows}):
        prim = [r for r in rows if r["threads"] == nthreads and r["kind"] == "primitive"]
        lay = [r for r in rows if r["threads"] == nthreads and r["kind"] == "layer"]
        s = {}
        if prim:
            worst = min(prim, key=lambda r: r["speedup"])
            s["primitive_worst"] = (worst["speedup"], worst["name"], worst["case"], worst["dtype"])
            s["primitive_min_ge_1.5"] = all(r["speedup"] >= 1.5 for r in prim)
            s["max_extra_bytes_out"] = max(r["extra_bytes_out"] for r in prim)
            s["max_extra_bytes_alloc"] = max(r["extra_bytes_alloc"] for r in prim)
        if lay:
            worst = min(lay, key=lambda r: r["speedup"])
            s["layer_ours_worst"] = (worst["speedup"], worst["name"], worst["case"], worst["dtype"])
            worst = min(lay, key=lambda r: r["speedup_conv2d"])
            s["layer_conv2d_worst"] = (worst["speedup_conv2d"], worst["name"], worst["case"], worst["dtype"])
        out[nthreads] = s
    return out


def markdown(rows, cpu):
    """Tables for docs/speed-up-numpy-cnn.md: one row per (what, case), one
    column per (dtype, threads)."""
    cols = sorted({(r["dtype"], r["threads"]) for r in rows if r["kind"] != "first_touch"},
                  key=lambda c: (c[1], c[0] != "float64"))
    head = " | ".join(f"{d}, {t} thr" for d, t in cols)

    def table(kind, key, first):
        keys = []
        for r in rows:
            if r["kind"] == kind and (r["name"], r["case"]) not in keys:
                keys.append((r["name"], r["case"]))
        out = [f"| {first} | case | {head} |", "|---|---|" + "---:|" * len(cols)]
        for name, case in keys:
            cells = []
            for d, t in cols:
                hit = [r for r in rows if r["kind"] == kind and r["name"] == name and r["case"] == case
                       and r["dtype"] == d and r["threads"] == t]
                cells.append(f"{hit[0][key]:.2f}" if hit else "")
            out.append(f"| {name} | {case} | " + " | ".join(cells) + " |")
        return out

    lines = [f"CPU: {cpu}", "", "Primitives, original time / im2col_nb's (allocating its result, as the original):", ""]
    lines += table("primitive", "speedup", "primitive")
    lines += ["", "Primitives, original time / im2col_nb's writing into a reused `out=` buffer:", ""]
    lines += table("primitive", "speedup_out", "primitive")
    lines += ["", "Conv layer forward + backward, original layer's time / the same layer on im2col_nb's "
              "primitives:", ""]
    lines += table("layer", "speedup", "layer")
    lines += ["", "Conv layer forward + backward, original layer's time / conv2d + conv2d_input_grad + "
              "conv2d_weight_grad:", ""]
    lines += table("layer", "speedup_conv2d", "layer")
    prim = [r for r in rows if r["kind"] == "primitive"]
    if prim:
        lines += ["", f"Memory: largest tracemalloc peak of an im2col_nb call above its result: "
                  f"{max(r['extra_bytes_alloc'] for r in prim)} B allocating, "
                  f"{max(r['extra_bytes_out'] for r in prim)} B with `out=` "
                  f"(smallest input: {min(r['input_bytes'] for r in prim)} B)."]
    ft = [r for r in rows if r["kind"] == "first_touch"]
    if ft:
        lines += ["", "| im2col KLN, " + ft[0]["shape"] + " " + ft[0]["dtype"]
                  + " | threads | fresh result / reused `out=` | minor page faults per call, fresh / reused |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {r['where']} | {r['threads']} | {r['speedup_out']:.2f} | "
                  f"{r['faults_fresh']:.0f} / {r['faults_reused']:.0f} |" for r in ft]
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="two cases, float32, one thread, fewer rounds")
    ap.add_argument("--threads", default=None,
                    help="comma-separated thread counts (im2col_nb and BLAS); default 1 and all "
                         "(--quick: 1)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--only", default="abcd", help="parts to run, e.g. 'ab'")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args(argv)

    cpu = cpu_model()
    cases = QUICK_CASES if args.quick else CASES
    dtypes = [np.float32] if args.quick else [np.float64, np.float32]
    rounds = args.rounds or (5 if args.quick else 9)
    if args.threads:
        threads = [int(t) for t in args.threads.split(",")]
    else:
        threads = [1] if args.quick else sorted({1, im2col_nb.max_num_threads()})
    print(f"CPU: {cpu}; im2col_nb {im2col_nb.__version__}; "
          f"threads {threads}; {rounds} rounds")
    rows = []
    for nthreads in threads:
        with im2col_nb.threads(nthreads), threadpool_limits(nthreads, user_api="blas"):
            print(f"[{nthreads} thread(s)]")
            part = []
            if "a" in args.only:
                part += run_primitives(cases, dtypes, rounds, print)
            if "b" in args.only:
                part += run_layers(cases, dtypes, rounds, print)
            if "d" in args.only:
                part += run_first_touch(rounds, print)
        for r in part:
            r["threads"] = nthreads
        rows += part
    print_tables(rows, cpu, threads)
    summ = summary(rows)
    for nthreads, s in summ.items():
        print(f"[{nthreads} thread(s)] " + "; ".join(f"{k}: {v}" for k, v in s.items()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cpu": cpu, "threads": threads,
                       "rows": rows, "summary": {str(k): v for k, v in summ.items()}}, fh, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(markdown(rows, cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
