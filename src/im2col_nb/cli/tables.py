"""What ``compare`` and ``info`` print: the progress bar, the results table,
the summary lines and the environment report (with rich)."""

from __future__ import annotations

import sys

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

__all__ = ["COMPARE_HEADER", "ProgressBar", "compare_table", "info_text", "print_table",
           "summary_lines"]

COMPARE_HEADER = ["layer", "method", "time (ms)", "GFLOP/s", "peak memory", "vs direct",
                  "max rel diff"]


class ProgressBar:
    """A transient rich progress bar on standard error; does nothing when
    not `enabled`.

    Parameters
    ----------
    total : int
        Steps until done.
    enabled : bool
        False for ``--no-progress``.
    """

    def __init__(self, total: int, enabled: bool = True):
        self.total = total
        self.bar = None
        if enabled:
            self.bar = Progress(TextColumn("{task.description:<44}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task("starting", total=self.total)
        return self

    def step(self, description: str) -> None:
        """Say what runs now."""
        if self.bar is not None:
            self.bar.update(self.task, description=description)

    def advance(self) -> None:
        """One step done."""
        if self.bar is not None:
            self.bar.advance(self.task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _mib(nbytes) -> str:
    return "n/a" if nbytes is None else f"{nbytes / 2**20:.2f} MiB"


def compare_table(results) -> list[list[str]]:
    """Rows of text under `COMPARE_HEADER`, one per layer and method.

    Parameters
    ----------
    results : list of dict
        What ``compare.run_compare`` returns.
    """
    rows = []
    for layer in results:
        for r in layer["results"]:
            rows.append([
                layer["name"], r["label"], f"{r['time_s'] * 1e3:.2f}", f"{r['gflops']:.1f}",
                _mib(r["peak_bytes"]),
                "" if r["speedup_vs_direct"] is None else f"{r['speedup_vs_direct']:.1f}x",
                f"{r['max_rel_diff']:.1e}",
            ])
    return rows


def print_table(header, rows, title=None) -> None:
    """Print a rich table to standard output, a section per first-column value.

    The first two columns are left-aligned, the others (numbers) right-aligned.
    Not to a terminal (a pipe, a file), the table is 140 columns wide and
    without colour, so saved output does not depend on the terminal.
    """
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 2 else "right", no_wrap=True)
    last = None
    for row in rows:
        if last is not None and row[0] != last:
            table.add_section()
        last = row[0]
        table.add_row(*row)
    console = Console() if sys.stdout.isatty() else Console(width=140, color_system=None)
    console.print(table)


def summary_lines(results) -> list[str]:
    """One sentence per layer: im2col conv2d against conv2d_direct, time and memory."""
    lines = []
    for layer in results:
        by = {r["method"]: r for r in layer["results"]}
        if "im2col" in by and "direct" in by:
            a, d = by["im2col"], by["direct"]
            speed = d["time_s"] / a["time_s"]
            line = (f"{layer['name']}: im2col conv2d took {a['time_s'] * 1e3:.2f} ms, conv2d_direct "
                    f"{d['time_s'] * 1e3:.2f} ms ({speed:.1f}x "
                    f"{'faster' if speed >= 1 else 'slower'})")
            if a["peak_bytes"] is not None and d["peak_bytes"] is not None:
                line += (f"; peak memory {_mib(a['peak_bytes'])} vs {_mib(d['peak_bytes'])}"
                         f" (the output alone is "
                         f"{_mib(int(np.prod(layer['output_shape'])) * layer['itemsize'])})")
            lines.append(line + ".")
    return lines


def info_text(info: dict) -> str:
    """The report ``im2col-nb info`` prints, from ``im2col_nb.info()``."""
    pk = info["packages"]
    missing = [k for k, v in pk.items() if not v]
    lines = [
        f"im2col_nb {info['im2col_nb']}",
        f"python     {info['python']} on {info['platform']}, {info['cpus']} CPUs",
        "packages   " + ", ".join(f"{k} {v}" for k, v in pk.items() if v)
        + ("; not installed: " + ", ".join(missing) if missing else ""),
        f"backend    {info['backend']}"
        + (f" (IM2COL_NB_BACKEND={info['IM2COL_NB_BACKEND']})" if info["IM2COL_NB_BACKEND"]
           else " (IM2COL_NB_BACKEND not set)"),
        f"workspace  {info['max_workspace_bytes'] / 2**20:g} MiB patch-matrix budget",
    ]
    nbi = info["numba"]
    if nbi is None:
        lines.append("numba      not installed: the NumPy backend runs everything")
    else:
        layer = nbi["threading_layer"] or "not chosen yet"
        chosen = nbi.get("layer_chosen_by")
        why = (f"chosen by {chosen[0]}" if chosen and chosen[0] in ("user", "im2col_nb")
               else f"requested: {nbi['threading_layer_requested']}")
        lines.append(f"threading  numba layer {layer} ({why})")
        lines.append(f"threads    numba {nbi['num_threads']} of NUMBA_NUM_THREADS="
                     f"{nbi['NUMBA_NUM_THREADS']}; im2col_nb {info['im2col_nb_threads']}")
    blas = [p for p in info["threadpools"] if p["user_api"] == "blas"]
    other = [p for p in info["threadpools"] if p["user_api"] != "blas"]
    for p in blas:
        extra = ", ".join(x for x in (p.get("threading_layer") and f"{p['threading_layer']} threading",
                                       p.get("architecture")) if x)
        lines.append(f"BLAS       {p['internal_api']} {p['version'] or ''} ({extra}), "
                     f"{p['num_threads']} threads: {p['filepath']}")
    if not blas:
        lines.append("BLAS       none found by threadpoolctl")
    for p in other:
        lines.append(f"{p['user_api']:<10} {p['internal_api']} {p['version'] or ''}, "
                     f"{p['num_threads']} threads: {p['filepath']}")
    cache = info["jit_cache"]
    if cache is None:
        lines.append("JIT cache  none (numba backend unavailable)")
    else:
        state = "warm" if cache["warm"] else ("partly warm" if cache["cached_kernels"] else "cold")
        lines.append(f"JIT cache  {', '.join(cache['dirs']) or '?'}")
        lines.append(f"           {state}: {cache['cached_kernels']} of {cache['kernels']} kernels "
                     f"have compiled code cached ({cache['cached_versions']} signatures)"
                     + (f"; NUMBA_CACHE_DIR={cache['NUMBA_CACHE_DIR']}"
                        if cache["NUMBA_CACHE_DIR"] else ""))
        if nbi is not None and nbi["first_call_s"] is not None:
            lines.append(f"           first parallel kernel call took {nbi['first_call_s']:.2f} s")
        if not cache["warm"]:
            lines.append("           compile everything ahead of time: "
                         "python -c 'import im2col_nb; im2col_nb.warmup()'")
    return "\n".join(lines)
