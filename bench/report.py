"""Write docs/benchmarks.md and its plots from a pytest-benchmark JSON file.

    python -m pytest bench --benchmark-json=bench.json     # the full suite, a few minutes
    python bench/report.py bench.json                      # -> docs/benchmarks.md, docs/img/bench_*.png

Options: ``--out docs/benchmarks.md`` and ``--img docs/img``. Only the JSON
is read: the report states what that run measured, on that machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections import defaultdict

import suite  # bench/suite.py: this script's directory is on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

IMPL_LABELS = {
    "conv2d": "conv2d (im2col+GEMM)",
    "gemm": "bare GEMM",
    "conv2d_direct": "conv2d_direct",
    "numpy_backend": "NumPy fallback",
    "numpy_peer": "NumPy peer (tensordot)",
    "numpy_peer_einsum": "NumPy peer (einsum)",
    "torch": "PyTorch",
    "im2col_full": "unbounded im2col",
    "conv2d_nhwc": "conv2d NHWC",
    "gemm_nhwc": "bare GEMM, NHWC orientation",
    "torch_nhwc": "PyTorch channels_last",
}


def load(path):
    with open(path) as fh:
        data = json.load(fh)
    rows = []
    for b in data["benchmarks"]:
        info = dict(b.get("extra_info", {}))
        info["min"] = b["stats"]["min"]
        info["median"] = b["stats"]["median"]
        info["rounds"] = b["stats"]["rounds"]
        info["name"] = b["name"]
        info["group"] = b.get("group") or ""
        rows.append(info)
    return data, rows


def mib(nbytes):
    return "" if nbytes is None else f"{nbytes / 2**20:.1f}"


def fmt(v, spec=".0f"):
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def load_text(m):
    """How busy the machine was with other work during the run (bench/conftest.py)."""
    load = m.get("im2col_nb_load")
    if not load:
        return "- Machine load during the run: not recorded"
    def avg(v):
        return "?" if not v else "/".join(f"{x:.2f}" for x in v)
    text = (f"- Machine load during the run ({load['seconds'] / 60:.1f} min): other processes used "
            f"{100 * load['other_cpu_share']:.0f} % of the {load['cores']} cores"
            if load.get("other_cpu_share") is not None else
            f"- Machine load during the run ({load['seconds'] / 60:.1f} min): not measurable here")
    if load.get("steal_share"):
        text += f", the hypervisor took {100 * load['steal_share']:.0f} %"
    text += (f" (this suite: {100 * load['own_cpu_share']:.0f} %); load average (1/5/15 min) "
             f"{avg(load.get('loadavg_start'))} at the start, {avg(load.get('loadavg_end'))} at the end")
    return text


def run_threads(rows):
    """The package's thread count during the run (recorded by each case)."""
    counts = sorted({r["threads"] for r in rows
                     if r.get("threads") and "1-thread" not in r.get("group", "")})
    return "/".join(map(str, counts)) if counts else "?"


def machine_text(data):
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {})
    lines = [
        f"- CPU: {cpu.get('brand_raw', m.get('processor', '?'))}, {cpu.get('count', '?')} logical cores "
        f"(a VM shared with other jobs)",
        load_text(m),
        f"- Python {m.get('python_version', '?')} ({m.get('python_implementation', '')}), "
        f"{m.get('system', '')} {m.get('release', '')}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------

def sweep_points(rows, kind):
    """{x: row} of the interleaved sweep `kind` ('F' or 'N')."""
    key = "f" if kind == "F" else "n"
    return {r[key]: r for r in rows if r.get("sweep") == kind and "interleaved" in r}


def layer_ratios(rows, dtype, threads=None):
    """{layer: {impl: fastest seconds}} from the interleaved per-layer runs."""
    group = f"ratios {dtype}" + (f" {threads}-thread" if threads else "")
    return {r["layer"]: r["interleaved"] for r in rows
            if r.get("group") == group and "interleaved" in r}


def plot_all(rows, img_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(img_dir, exist_ok=True)
    made = {}
    styles = {"conv2d": "o-", "conv2d_direct": "s-", "im2col_full": "^--", "gemm": "k:"}

    for kind, fname, xlabel in (("F", "bench_sweep_filters.png", "number of filters F  (N = 8, 64 channels, 32x32, 3x3)"),
                                ("N", "bench_sweep_batch.png", "batch N  (64 -> 64 filters, 32x32, 3x3)")):
        pts = sweep_points(rows, kind)
        if not pts:
            continue
        xs = sorted(pts)
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for impl in ("conv2d", "conv2d_direct", "im2col_full", "gemm"):
            if impl in pts[xs[0]]["interleaved"]:
                ax.plot(xs, [pts[v]["interleaved"][impl] * 1e3 for v in xs], styles[impl],
                        label=IMPL_LABELS[impl])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("time (ms, fastest interleaved round)")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        ax2.plot(xs, [pts[v]["interleaved"]["conv2d_direct"] / pts[v]["interleaved"]["conv2d"] for v in xs], "o-")
        ax2.axhline(1.0, color="k", lw=0.8)
        ax2.set_xscale("log", base=2)
        ax2.set_xlabel(xlabel)
        ax2.set_ylabel("speed-up of conv2d over conv2d_direct")
        ax2.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(img_dir, fname), dpi=110)
        plt.close(fig)
        made[kind] = fname

    pts = {n: r for n, r in sweep_points(rows, "N").items() if "memory" in r}
    if pts:
        xs = sorted(pts)
        fig, ax = plt.subplots(figsize=(6.5, 4))
        labels = {"conv2d": "conv2d (budgeted im2col)", "conv2d_direct": "conv2d_direct",
                  "im2col_full": "unbounded im2col (whole patch matrix)"}
        for impl in ("im2col_full", "conv2d", "conv2d_direct"):
            ax.plot(xs, [pts[n]["memory"][impl]["tracemalloc_peak"] / 2**20 for n in xs], styles[impl],
                    label=labels[impl])
        ax.plot(xs, [pts[n]["memory"]["conv2d"]["out_bytes"] / 2**20 for n in xs], "k:",
                label="the output array alone")
        ax.plot(xs, [pts[n]["patch_bytes"] / 2**20 for n in xs], color="0.6", lw=0.8, ls="--",
                label="the full patch matrix")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch N  (64 -> 64 filters, 32x32, 3x3)")
        ax.set_ylabel("peak memory of one call (MiB, tracemalloc)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(img_dir, "bench_memory_batch.png"), dpi=110)
        plt.close(fig)
        made["memory"] = "bench_memory_batch.png"

    panels = [(t, layer_ratios(rows, "float32", t)) for t in (None, 1)]
    panels = [(t, per) for t, per in panels if per]
    if panels:
        fig, axes = plt.subplots(len(panels), 1, figsize=(12, 4.2 * len(panels)), squeeze=False)
        for ax, (threads, per) in zip(axes[:, 0], panels):
            names = [n for n in suite.LAYERS if n in per]
            impls = [i for i in ("gemm", "conv2d", "torch", "conv2d_direct", "numpy_backend", "numpy_peer")
                     if any(i in per[n] for n in names)]
            width = 0.8 / len(impls)
            for j, impl in enumerate(impls):
                vals = [suite.LAYERS[n].flops / per[n][impl] / 1e9 if impl in per[n] else 0 for n in names]
                ax.bar([i + j * width for i in range(len(names))], vals, width, label=IMPL_LABELS[impl],
                       color="0.8" if impl == "gemm" else None, edgecolor="k" if impl == "gemm" else None)
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))])
            ax.set_xticklabels(names, rotation=15)
            ax.set_ylabel("GFLOP/s (float32)")
            ax.set_title("one thread (steady)" if threads else
                         "all threads (the multi-threaded GEMM and PyTorch gain most from the second core)",
                         fontsize=10)
            ax.legend(ncol=3, fontsize=8, loc="upper left")
            ax.grid(True, axis="y", alpha=0.3)
        fig.suptitle("GFLOP/s per layer, fastest interleaved round; grey: the bare GEMM of the same M, K, N")
        fig.tight_layout()
        fig.savefig(os.path.join(img_dir, "bench_gflops_layers.png"), dpi=110)
        plt.close(fig)
        made["gflops"] = "bench_gflops_layers.png"
    return made


# ---------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------

def layer_table(rows, dtype, threads=None):
    per = layer_ratios(rows, dtype, threads)
    names = [n for n in suite.LAYERS if n in per]
    if not names:
        return "", {}
    impls = [i for i in ("conv2d", "gemm", "conv2d_direct", "numpy_backend", "numpy_peer",
                         "numpy_peer_einsum", "torch") if any(i in per[n] for n in names)]
    head = ("| layer (N,C,H,W->F,k,s,p) | " + " | ".join(IMPL_LABELS[i] for i in impls)
            + " | conv2d / GEMM time | speed-up vs direct | PyTorch / conv2d time | NumPy fallback / Numba time |")
    lines = [head, "|" + "---|" * (len(impls) + 5)]
    ratios = defaultdict(list)
    for n in names:
        t = per[n]
        flops = suite.LAYERS[n].flops
        cells = [fmt(flops / t[i] / 1e9) if i in t else "" for i in impls]

        def ratio(a, b, key):
            return _ratio_cell(t, a, b, ratios[key])

        lines.append(f"| {n} ({suite.LAYERS[n].label()}) | " + " | ".join(cells) + " | "
                     + " | ".join([ratio("conv2d", "gemm", "gemm"), ratio("conv2d_direct", "conv2d", "direct"),
                                   ratio("torch", "conv2d", "torch"), ratio("numpy_backend", "conv2d", "numpy")])
                     + " |")
    g = {k: geomean(v) for k, v in ratios.items()}
    g["direct_min"] = min(ratios["direct"]) if ratios["direct"] else None
    g["torch_wins"] = (sum(v >= 1 for v in ratios["torch"]), len(ratios["torch"]))
    lines.append("| **geometric mean** | " + " | ".join("" for _ in impls) + " | "
                 + " | ".join(f"**{g[k]:.2f}**" if g.get(k) else "" for k in ("gemm", "direct", "torch", "numpy"))
                 + " |")
    return "\n".join(lines), g



def _ratio_cell(times, a, b, collected):
    """Table cell of times[a] / times[b] (appended to `collected`), or "" if
    either implementation did not run."""
    if a in times and b in times:
        v = times[a] / times[b]
        collected.append(v)
        return f"{v:.2f}"
    return ""


def nhwc_ratios(rows, threads=None):
    """{layer: {impl: fastest seconds}} from the interleaved channels-last runs (test_nhwc.py)."""
    group = "ratios float32 NHWC" + (f" {threads}-thread" if threads else "")
    return {r["layer"]: r["interleaved"] for r in rows
            if r.get("group") == group and "interleaved" in r}


def nhwc_table(rows, threads=None):
    """Channels-last table: conv2d NHWC time and GFLOP/s, against the GEMM of
    the NHWC orientation, PyTorch on channels_last tensors and conv2d NCHW;
    and the geometric means of the three ratios."""
    per = nhwc_ratios(rows, threads)
    names = [n for n in suite.LAYERS if n in per]
    if not names:
        return "", {}
    lines = ["| layer (N,C,H,W->F,k,s,p) | conv2d NHWC (ms) | conv2d NHWC GFLOP/s | "
             "bare GEMM, NHWC (ms) | PyTorch channels_last (ms) | conv2d NCHW (ms) | "
             "conv2d NHWC / GEMM time | PyTorch channels_last / conv2d NHWC time | "
             "conv2d NHWC / NCHW time |",
             "|" + "---|" * 9]
    ratios = defaultdict(list)

    def ms(t, impl):
        return f"{t[impl] * 1e3:.2f}" if impl in t else ""

    for n in names:
        t = per[n]

        def ratio(a, b, key):
            return _ratio_cell(t, a, b, ratios[key])

        gflops = suite.LAYERS[n].flops / t["conv2d_nhwc"] / 1e9
        lines.append(f"| {n} ({suite.LAYERS[n].label()}) | {ms(t, 'conv2d_nhwc')} | {gflops:.0f} | "
                     f"{ms(t, 'gemm_nhwc')} | {ms(t, 'torch_nhwc')} | {ms(t, 'conv2d')} | "
                     + " | ".join([ratio("conv2d_nhwc", "gemm_nhwc", "gemm"),
                                   ratio("torch_nhwc", "conv2d_nhwc", "torch"),
                                   ratio("conv2d_nhwc", "conv2d", "nchw")]) + " |")
    g = {k: geomean(v) for k, v in ratios.items()}
    g["torch_wins"] = (sum(v >= 1 for v in ratios["torch"]), len(ratios["torch"]))
    lines.append("| **geometric mean** | | | | | | "
                 + " | ".join(f"**{g[k]:.2f}**" if g.get(k) else "" for k in ("gemm", "torch", "nchw"))
                 + " |")
    return "\n".join(lines), g


def backward_table(rows):
    """Backward-pass table (test_backward.py): our input and weight gradients
    against the forward's bare GEMM and PyTorch's, and the geometric means."""
    per = {r["layer"]: r["interleaved"] for r in rows
           if r.get("group") == "ratios float32 backward" and "interleaved" in r}
    names = [n for n in suite.LAYERS if n in per]
    if not names:
        return "", {}
    lines = ["| layer (N,C,H,W->F,k,s,p) | input grad (ms) | weight grad (ms) | bare GEMM (ms) | "
             "PyTorch input grad (ms) | PyTorch weight grad (ms) | input grad / GEMM time | "
             "weight grad / GEMM time | PyTorch / ours, input grad | PyTorch / ours, weight grad |",
             "|" + "---|" * 10]
    ratios = defaultdict(list)
    for n in names:
        t = per[n]

        def ms(impl):
            return f"{t[impl] * 1e3:.2f}" if impl in t else ""

        cells = [_ratio_cell(t, "input_grad", "gemm", ratios["input"]),
                 _ratio_cell(t, "weight_grad", "gemm", ratios["weight"]),
                 _ratio_cell(t, "torch_input_grad", "input_grad", ratios["torch_input"]),
                 _ratio_cell(t, "torch_weight_grad", "weight_grad", ratios["torch_weight"])]
        lines.append(f"| {n} ({suite.LAYERS[n].label()}) | {ms('input_grad')} | {ms('weight_grad')} | "
                     f"{ms('gemm')} | {ms('torch_input_grad')} | {ms('torch_weight_grad')} | "
                     + " | ".join(cells) + " |")
    g = {k: geomean(v) for k, v in ratios.items() if v}
    lines.append("| **geometric mean** | | | | | | " + " | ".join(
        f"**{g[k]:.2f}**" if k in g else "" for k in ("input", "weight", "torch_input", "torch_weight"))
        + " |")
    return "\n".join(lines), g


def memory_table(rows):
    per = defaultdict(dict)
    for r in rows:
        if r.get("group", "").startswith("layer ") and r.get("dtype") == "float32" and "tracemalloc_peak" in r:
            per[r["layer"]][r["impl"]] = r
    names = [n for n in suite.LAYERS if n in per]
    if not names:
        return ""
    lines = ["| layer | patch matrix (MiB) | output (MiB) | conv2d peak (MiB) | conv2d RSS growth | "
             "conv2d_direct peak | NumPy peer peak | NumPy peer RSS growth |",
             "|---|---|---|---|---|---|---|---|"]
    for n in names:
        p = per[n]
        c, d, q = p.get("conv2d", {}), p.get("conv2d_direct", {}), p.get("numpy_peer", {})
        lines.append(f"| {n} | {mib(suite.LAYERS[n].patch_bytes())} | {mib(c.get('out_bytes'))} | "
                     f"{mib(c.get('tracemalloc_peak'))} | {mib(c.get('rss_peak_delta'))} | "
                     f"{mib(d.get('tracemalloc_peak'))} | {mib(q.get('tracemalloc_peak'))} | "
                     f"{mib(q.get('rss_peak_delta'))} |")
    return "\n".join(lines)


def im2col_table(rows):
    """Table and geometric means (all threads, one thread) of im2col / memcpy time."""
    per = {r["layer"]: r for r in rows if r.get("group") == "im2col" and "interleaved" in r}
    names = [n for n in suite.LAYERS if n in per]
    if not names:
        return "", None, None
    lines = ["| layer | patch matrix (MiB) | im2col, all threads (ms) | im2col, one thread (ms) | "
             "memcpy (ms) | im2col / memcpy, all threads | im2col / memcpy, one thread | "
             "GB/s written, all threads |",
             "|---|---|---|---|---|---|---|---|"]
    ratios, ratios1 = [], []
    for n in names:
        r = per[n]
        t = r["interleaved"]
        ti, tc, t1 = t["im2col"], t["memcpy"], t.get("im2col_1thread")
        tc1 = t.get("memcpy_1thread", tc)  # the copy timed in the same rounds as im2col_1thread
        ratios.append(ti / tc)
        if t1:
            ratios1.append(t1 / tc1)
        lines.append(f"| {n} | {mib(r['patch_bytes'])} | {ti * 1e3:.2f} | "
                     f"{'' if not t1 else f'{t1 * 1e3:.2f}'} | {tc * 1e3:.2f} | {ti / tc:.2f} | "
                     f"{'' if not t1 else f'{t1 / tc1:.2f}'} | {r['patch_bytes'] / ti / 1e9:.1f} |")
    g, g1 = geomean(ratios), geomean(ratios1)
    lines.append(f"| **geometric mean** | | | | | **{g:.2f}** | "
                 f"{'' if g1 is None else f'**{g1:.2f}**'} | |")
    return "\n".join(lines), g, g1


def sweep_table(rows, kind, key):
    pts = sweep_points(rows, kind)
    if not pts:
        return ""
    impls = list(next(iter(pts.values()))["interleaved"])
    mem = kind == "N" and all("memory" in r for r in pts.values())
    lines = [f"| {key.upper()} | GEMM M,K,N | " + " | ".join(f"{IMPL_LABELS[i]} (ms)" for i in impls)
             + " | speed-up vs direct |"
             + (" conv2d peak (MiB) | direct peak | unbounded peak | patch matrix |" if mem else ""),
             "|" + "---|" * (len(impls) + 3 + (4 if mem else 0))]
    for v in sorted(pts):
        r = pts[v]
        t = r["interleaved"]
        layer = suite.sweep_f_layer(v) if kind == "F" else suite.sweep_n_layer(v)
        line = (f"| {v} | {','.join(map(str, layer.gemm_mkn))} | "
                + " | ".join(f"{t[i] * 1e3:.2f}" for i in impls)
                + f" | {t['conv2d_direct'] / t['conv2d']:.2f} |")
        if mem:
            line += " " + " | ".join(mib(r["memory"][i]["tracemalloc_peak"])
                                     for i in ("conv2d", "conv2d_direct", "im2col_full"))
            line += f" | {mib(r['patch_bytes'])} |"
        lines.append(line)
    return "\n".join(lines)


def budget_table(rows):
    rs = sorted((r for r in rows if r.get("group") == "budget r18-l1"), key=lambda r: r["budget"])
    if not rs:
        return ""
    base = next((r for r in rs if r["budget"] == 2**26), rs[-1])
    lines = ["| max_workspace_bytes | time (ms) | relative to the default (64 MiB) | peak memory (MiB, tracemalloc) | bound: budget + output + input (MiB) |",
             "|---|---|---|---|---|"]
    for r in rs:
        bound = r["budget"] + r.get("out_bytes", 0) + r.get("in_bytes", 0)
        lines.append(f"| {r['budget'] / 2**20:g} MiB | {r['min'] * 1e3:.1f} | {r['min'] / base['min']:.2f} | "
                     f"{mib(r.get('tracemalloc_peak'))} | {mib(bound)} |")
    return "\n".join(lines)


def ram_text(rows):
    r = next((r for r in rows if r.get("group") == "larger than RAM"), None)
    if r is None:
        return "_(not run)_"
    return (f"Layer {r['label']}: its full patch matrix would be {r['patch_bytes'] / 2**30:.1f} GiB, "
            f"more than this machine's {r['ram_bytes'] / 2**30:.1f} GiB of RAM. conv2d with the default "
            f"budget ran it in {r['min']:.2f} s ({r['gflops']:.1f} GFLOP/s; only 4 filters, so each patch "
            f"element feeds few multiply-adds) with a peak of {mib(r['tracemalloc_peak'])} MiB "
            f"(tracemalloc; peak RSS growth {mib(r['rss_peak_delta'])} MiB) against a bound of budget "
            f"{mib(r['budget'])} + output {mib(r['out_bytes'])} + input {mib(r['in_bytes'])} MiB.")


def thresholds_table():
    th = suite.load_thresholds(resolve=False)
    lines = ["| gate (ratio, higher is better) | threshold | target | measured (float32, 2-core VM shared with other jobs), and why the threshold sits there | meaning |",
             "|---|---|---|---|---|"]
    for k, v in th.items():
        target = v.get("target")
        threshold, measured = str(v["threshold"]), v.get("measured", "")
        for vendor, override in v.get("by_cpu_vendor", {}).items():
            threshold += f" ({vendor}: {override['threshold']})"
            measured += f"; on {vendor}: {override['measured']}"
        lines.append(f"| `{k}` | {threshold} | {'' if target is None else target} | "
                     f"{measured} | {v.get('meaning', '')} |")
    return "\n".join(lines)


def write_report(json_path, out_path, img_dir):
    data, rows = load(json_path)
    made = plot_all(rows, img_dir)
    rel_img = os.path.relpath(img_dir, os.path.dirname(out_path))
    t32, g32 = layer_table(rows, "float32")
    t1, g1 = layer_table(rows, "float32", 1)
    t64, g64 = layer_table(rows, "float64")
    timg, gim, gim1 = im2col_table(rows)
    tn, gn = nhwc_table(rows)
    tn1, gn1 = nhwc_table(rows, 1)
    tb, gb = backward_table(rows)

    def img(key, alt):
        return f"![{alt}]({rel_img}/{made[key]})" if key in made else "_(no data in this run)_"

    def g(d, k):
        return f"{d[k]:.2f}" if d and isinstance(d.get(k), float) else "n/a"

    text = f"""# Benchmarks

_Measured with `python -m pytest bench --benchmark-json={os.path.basename(json_path)}` (the full
suite, a few minutes) and written by `python bench/report.py {os.path.basename(json_path)}`;
edit the generator, not this file._

{machine_text(data)}
- Threads: {run_threads(rows)} (the package's BLAS thread count, i.e. all cores; PyTorch set to the same)

**How to read these numbers.** Every case reports its **fastest** round, and
the implementations of a layer are timed in **interleaved** rounds (A B C ...
A B C ...), so background load from other jobs hits all of them alike; the
minimum discards rounds another process slowed. Each timed call follows
0.15 s of untimed calls of the same implementation: multi-threaded BLAS and
OpenMP pools keep their threads spinning for ~0.1 s after each call
(OpenBLAS: 2^28 cycles, `OPENBLAS_THREAD_TIMEOUT`), and whatever runs next on
the same two cores pays for it -- conv2d measured right after a 2-thread GEMM
or a PyTorch call ran ~1.5x slower (r18-l3: 10-12 ms against 6.5-8 ms
back to back). A program that calls multi-threaded NumPy BLAS between its
convolutions meets the same cost; setting `OPENBLAS_THREAD_TIMEOUT=4` before
NumPy is imported removes it. With two threads, a job running on the other
core slows conv2d (two workers) and above all the multi-threaded GEMM and
PyTorch, whose threads wait for each other, so the all-threads ratios move
with the load; the one-thread tables are the steadier ones (see the machine
load above). Treat differences of a few percent as noise.

## Summary (float32)

| goal | all threads | one thread |
|---|---|---|
| conv2d within 10 % of the bare GEMM of the same M, K, N (conv2d / GEMM time <= 1.10) | {g(g32, 'gemm')} | {g(g1, 'gemm')} |
| conv2d faster than conv2d_direct on every layer (speed-up > 1) | {g(g32, 'direct')}; slowest layer {g(g32, 'direct_min')} | {g(g1, 'direct')}; slowest layer {g(g1, 'direct_min')} |
| at or above PyTorch's CPU conv2d (PyTorch / conv2d time >= 1) | {g(g32, 'torch')}; on {g32.get('torch_wins', (0, 0))[0]} of {g32.get('torch_wins', (0, 0))[1]} layers | {g(g1, 'torch')}; on {g1.get('torch_wins', (0, 0))[0]} of {g1.get('torch_wins', (0, 0))[1]} layers |
| NumPy fallback within 3x of Numba (time ratio <= 3) | {g(g32, 'numpy')} | {g(g1, 'numpy')} |
| channels-last: conv2d NHWC / bare GEMM of the NHWC orientation (time) | {g(gn, 'gemm')} | {g(gn1, 'gemm')} |
| channels-last: PyTorch channels_last / conv2d NHWC time (>= 1: conv2d faster) | {g(gn, 'torch')}; on {gn.get('torch_wins', (0, 0))[0]} of {gn.get('torch_wins', (0, 0))[1]} layers | {g(gn1, 'torch')}; on {gn1.get('torch_wins', (0, 0))[0]} of {gn1.get('torch_wins', (0, 0))[1]} layers |
| im2col <= 1.25x a memcpy (one thread) of the patch matrix's bytes, whole batch | {f'{gim:.2f}' if gim else 'n/a'} | {f'{gim1:.2f}' if gim1 else 'n/a'} |
| backward passes (no target): input grad / GEMM, weight grad / GEMM time; PyTorch / ours | {g(gb, 'input')}, {g(gb, 'weight')}; {g(gb, 'torch_input')}, {g(gb, 'torch_weight')} | n/a |

Geometric means over the ten layers, from interleaved rounds. "One thread":
Numba, BLAS and PyTorch all limited to one thread, which removes most of the
background-load noise (no thread waits for another): the steadier measure of
how much conv2d adds to its GEMM.

## Layers, float32

GFLOP/s (2 N F C k² OH OW flops) from the fastest of 5 interleaved rounds
(`test_layer_ratios`); ratios are times from the same rounds. "bare GEMM" is
one `np.matmul` of (F, C k²) @ (C k², N OH OW) into a preallocated output: the
ceiling for any convolution that builds the patch matrix. Stride-1 layers
with enough channels (here cifar, r18-l1, r18-l2, vgg-wide) run as shifted
GEMMs without one (see docs/how-im2col-works.md) and can beat that ceiling.

{t32}

{img('gflops', 'GFLOP/s per layer against the GEMM ceiling')}

## Layers, float32, one thread

The same, with every library on one thread (`im2col_nb.threads(1)`,
`torch.set_num_threads(1)`).

{t1 or '_(not run)_'}

## Layers, float32, channels-last (NHWC)

`conv2d(x, w, b, layout="NHWC")` on an (N, H, W, C) input, output
(N, OH, OW, F) (`test_layer_ratios_nhwc`, fastest of 5 interleaved rounds).
"bare GEMM, NHWC" is the GEMM of that orientation: patch rows
(N OH OW, C k²) @ Wᵀ (C k², F) into a preallocated output, Wᵀ a transposed
view BLAS takes without a copy, as conv2d's NHWC tiles multiply. "PyTorch
channels_last": `torch.nn.functional.conv2d` under `torch.no_grad()` with
the input and the weight in `torch.channels_last` memory format (converted
once, outside the timed call). "conv2d NCHW": the same layer in the default
layout, in the same rounds (what the layout costs or saves).

All threads:

{tn or '_(not run)_'}

One thread:

{tn1 or '_(not run)_'}

## Backward passes, float32

`conv2d_input_grad` and `conv2d_weight_grad` (NCHW, all threads) for a random
output gradient (`test_backward_ratios`, fastest of 5 interleaved rounds),
against the forward's bare GEMM (each gradient is one GEMM of the same flops)
and PyTorch's `torch.nn.grad.conv2d_input` / `conv2d_weight`. With stride 1
the input gradient runs as a forward convolution of the output gradient with
the flipped kernel (shifted GEMMs where those pay), else as GEMM + col2im; the
weight gradient multiplies conv2d's cache-sized patch-matrix tiles.

{tb or '_(not run)_'}

## Layers, float64 (subset)

{t64 or '_(not run)_'}

## Peak memory per call (float32, fresh interpreter)

`tracemalloc` peak (sees NumPy and Numba allocations in every thread; the
interpreter is fresh, so conv2d's reused scratch buffers count) and growth of
the peak RSS during the call (everything, BLAS included). conv2d's bound is
its workspace budget (64 MiB by default) + output + input; in practice its
tiles are smaller (4 MiB per worker).

{memory_table(rows) or '_(memory probes run in the full suite only)_'}

## im2col against a plain copy

The backend's whole-batch im2col into a preallocated patch matrix, on all
threads and on one, against `np.copyto` (single-threaded) of as many bytes.
im2col reads each input element once per channel into a zero-bordered plane
when padding is involved, then copies each tap: one run per output row for
wide rows (split into column phases when strided), one loop per tile through
a table of offsets for narrow rows (small feature maps), one run for 1x1
convolutions. The strided 1x1 `downsample` reads every other input row and
column, twice the cache lines it writes, and its 0.4 MiB patch matrix copies
in ~10 us, so fixed costs dominate there.

{timg or '_(not run)_'}

## Sweeps: number of filters and batch size

The case for im2col, measured: it pays off most with many filters and large
batches; its only cost is memory, which the budget removes.

{img('F', 'time vs number of filters')}

{sweep_table(rows, 'F', 'f')}

{img('N', 'time vs batch')}

{sweep_table(rows, 'N', 'n')}

{img('memory', 'peak memory vs batch')}

## The workspace budget

conv2d builds and multiplies the patch matrix in tiles of at most
`min(max_workspace_bytes / workers, 4 MiB)`, so memory stays bounded whatever
the layer; speed is flat down to budgets of a few MiB.

{budget_table(rows) or '_(not run)_'}

**A patch matrix larger than RAM.** {ram_text(rows)}

## The CI performance gate

`.ci/run` runs, after the tests:

```bash
python -m pytest bench --quick -p no:cacheprovider --benchmark-json=artifacts/bench-quick.json
```

It takes about a minute of measurement (plus JIT compilation on a cold
cache) and fails when a ratio falls below its threshold in
`bench/thresholds.json`. Ratios, never seconds: each gate times its two
implementations alternately in the same rounds (each timed call after 0.15 s
of untimed ones where thread pools are involved) and keeps each one's
fastest, so a busy CI machine slows both. The thresholds sit well below what a shared
2-core machine measures, yet above what a real regression gives (im2col
twice as slow, a GEMM that copies, a bias pass over the whole output, BLAS
and Numba thread pools fighting). The measured values are printed at the end
of the run. To check that the gate still catches a 2x slower im2col, run it
with `PYTHONPATH=bench ... -p slow_im2col_2x` (every im2col kernel call runs
twice): the two im2col gates must fail.

{thresholds_table()}

The 1-D and 3-D operations have their own gates and comparisons against
PyTorch: [Benchmarks: 1-D and 3-D](benchmarks-nd.md).

## Comparing runs on a fixed machine

Seconds are only comparable on the same, otherwise idle machine. There,
pytest-benchmark can keep a baseline and fail on slow-downs:

```bash
# once, on the reference commit: store the run (in .benchmarks/)
python -m pytest bench --benchmark-autosave --benchmark-save=baseline
# later: compare against it, failing if any case's fastest round is > 10 % slower
python -m pytest bench --benchmark-compare=0001_baseline --benchmark-compare-fail=min:10%
# or compare two stored runs side by side
pytest-benchmark compare 0001_baseline 0002 --group-by=group --columns=min,median
```

`--benchmark-compare-fail` accepts `min:5%`, `mean:0.001` (seconds) and the
like; use `min` (least noise). Keep the thread count fixed
(`OPENBLAS_NUM_THREADS`, `NUMBA_NUM_THREADS`) and the machine otherwise idle.
"""
    # bench/bench_torch.py --docs writes its own section: keep it
    if os.path.exists(out_path):
        old = open(out_path).read()
        start, end = "<!-- bench_torch.py --docs: start -->", "<!-- bench_torch.py --docs: end -->"
        if start in old and end in old:
            text = (text.rstrip("\n") + "\n\n" + start + old.split(start, 1)[1].split(end, 1)[0]
                    + end + "\n")
    with open(out_path, "w") as fh:
        fh.write(text)
    return out_path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="pytest-benchmark JSON (--benchmark-json=...)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--img", default=os.path.join(ROOT, "docs", "img"))
    args = ap.parse_args(argv)
    print(write_report(args.json, args.out, args.img))


if __name__ == "__main__":
    main()
