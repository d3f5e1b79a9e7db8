"""The command line: ``im2col-nb`` (also ``python -m im2col_nb``).

``im2col-nb``          the main job: the seed's worked example, then conv2d
                       against conv2d_direct on one default layer.
``im2col-nb demo``     the seed's walk-through, a batch as one GEMM, max pooling.
``im2col-nb compare``  time, GFLOP/s and peak memory per layer, per method.
``im2col-nb info``     versions, backend, threads, BLAS, JIT cache.

Everything prints to standard output; the progress bar goes to standard
error. Bad options print a usage message and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

import im2col_nb as nb

__all__ = ["main"]

# ---------------------------------------------------------------------------
# The seed's example
# ---------------------------------------------------------------------------

#: The seed's 7x7 image I and 3x3 kernel K (read-only; the tests use them too).
SEED_IMAGE = np.array([[0, 1, 1, 1, 0, 0, 0],
                       [0, 0, 1, 1, 1, 0, 0],
                       [0, 0, 0, 1, 1, 1, 0],
                       [0, 0, 0, 1, 1, 0, 0],
                       [0, 0, 1, 1, 0, 0, 0],
                       [0, 1, 1, 0, 0, 0, 0],
                       [1, 1, 0, 0, 0, 0, 0]])
SEED_KERNEL = np.array([[1, 0, 1],
                        [0, 1, 0],
                        [1, 0, 1]])
SEED_IMAGE.flags.writeable = SEED_KERNEL.flags.writeable = False
#: The 5x5 result I * K printed in the seed.
SEED_RESULT = np.array([[1, 4, 3, 4, 1],
                        [1, 2, 4, 3, 3],
                        [1, 2, 3, 4, 1],
                        [1, 3, 3, 1, 1],
                        [3, 3, 1, 1, 0]])


def seed_steps() -> dict:
    """Every intermediate of the seed's I * K, computed by the package."""
    image, kernel = SEED_IMAGE, SEED_KERNEL
    cols = nb.im2col(image[None], kernel.shape)          # (9, 25)
    row = kernel.reshape(1, -1)                           # (1, 9)
    product = row @ cols                                  # (1, 25)
    out_h = image.shape[0] - kernel.shape[0] + 1
    out_w = image.shape[1] - kernel.shape[1] + 1
    result = product.reshape(out_h, out_w)
    return {"image": image, "kernel": kernel, "cols": cols, "row": row,
            "product": product, "result": result, "conv2d": nb.conv2d(image, kernel)}


def pool_steps() -> dict:
    """Max pooling 2x2 / stride 2 of a 4x4 image as im2col -> max -> reshape."""
    x = np.array([[1, 3, 2, 0],
                  [4, 2, 1, 5],
                  [0, 1, 3, 2],
                  [2, 6, 1, 1]], dtype=float)
    cols = nb.im2col(x[None], 2, stride=2)                # (4, 4): one column per window
    maxima = cols.max(axis=0)                             # (4,)
    result = maxima.reshape(2, 2)
    steps = {"image": x, "cols": cols, "max": maxima, "result": result, "max_pool2d": None}
    pool = getattr(nb, "max_pool2d", None)
    if pool is not None:
        with contextlib.suppress(Exception):
            steps["max_pool2d"] = np.asarray(pool(x[None], 2))[0]
    return steps


def batch_steps(n_img=2, channels=3, size=4, filters=4, k=2) -> dict:
    """A batch of images against several filters as ONE matrix product."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(n_img, channels, size, size)).astype(float)
    w = rng.integers(-1, 2, size=(filters, channels, k, k)).astype(float)
    cols = nb.im2col(x, k)                                # (N, C*k*k, L)
    wide = np.concatenate(list(cols), axis=1)             # (C*k*k, N*L)
    wmat = w.reshape(filters, -1)                         # (F, C*k*k)
    product = wmat @ wide                                 # (F, N*L)
    out = size - k + 1
    result = product.reshape(filters, n_img, out, out).transpose(1, 0, 2, 3)
    return {"x": x, "w": w, "cols": cols, "wide": wide, "wmat": wmat,
            "product": product, "result": result, "conv2d": nb.conv2d(x, w)}


# ---------------------------------------------------------------------------
# Text formatting
# ---------------------------------------------------------------------------


def _cells(a: np.ndarray) -> list[list[str]]:
    a = np.atleast_2d(np.asarray(a))
    if np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return [[str(int(v)) for v in row] for row in a]
    return [[f"{v:.3g}" for v in row] for row in a]


def matrix_lines(a, indent="    ", group=None, labels=None) -> list[str]:
    """Rows of a 2-D array as right-aligned text, optionally with row labels
    and a ``|`` between every `group` columns."""
    cells = _cells(a)
    width = max(len(c) for row in cells for c in row)
    label_width = max((len(s) for s in labels), default=0) if labels else 0
    lines = []
    for i, row in enumerate(cells):
        parts = []
        for j, c in enumerate(row):
            if group and j and j % group == 0:
                parts.append("|")
            parts.append(c.rjust(width))
        prefix = indent + (labels[i].ljust(label_width) + "  " if labels else "")
        lines.append(prefix + " ".join(parts))
    return lines


def _shape(shape) -> str:
    return " x ".join(str(s) for s in shape)


def _real_layer_lines(n_img=32, channels=64, size=56, filters=128, k=3) -> list[str]:
    geom_rows = channels * k * k
    out = size  # padding 1 keeps the size for k = 3
    patches = n_img * out * out
    flops = 2 * filters * geom_rows * patches
    return [
        f"  A real layer is the same picture, larger: {n_img} images x {channels} channels x "
        f"{size}x{size}",
        f"  with {filters} filters {k}x{k} (padding 1) is ({filters} x {geom_rows}) @ "
        f"({geom_rows} x {patches}),",
        f"  {flops / 1e9:.1f} GFLOP in one BLAS call, every patch column reused by all "
        f"{filters} filters.",
    ]


def demo_text(*, brief: bool = False) -> str:
    """The walk-through printed by ``im2col-nb demo`` (``brief``: seed only)."""
    s = seed_steps()
    kh, kw = s["kernel"].shape
    out_h, out_w = s["result"].shape
    taps = [f"tap ({i},{j})" for i in range(kh) for j in range(kw)]
    lines = [
        "The seed example: I * K as one matrix product",
        "=============================================",
        "",
        f"The image I ({_shape(s['image'].shape)}):",
        *matrix_lines(s["image"]),
        "",
        f"The kernel K ({_shape(s['kernel'].shape)}):",
        *matrix_lines(s["kernel"]),
        "",
        f"1. im2col: every {kh}x{kw} patch of I becomes one column of the patch matrix,",
        f"   {kh * kw} rows (one per kernel tap) x {out_h * out_w} columns (one per patch position;",
        f"   '|' separates the {out_h} rows of output positions). im2col(I, {kh}) ->"
        f" {_shape(s['cols'].shape)}:",
        *matrix_lines(s["cols"], group=out_w, labels=taps),
        "",
        f"2. The kernel K flattened to one row ({_shape(s['row'].shape)}):",
        *matrix_lines(s["row"]),
        "",
        f"3. One matrix product: ({_shape(s['row'].shape)}) @ ({_shape(s['cols'].shape)})"
        f" = ({_shape(s['product'].shape)}):",
        *matrix_lines(s["product"], group=out_w),
        "",
        f"4. Reshaped to {out_h}x{out_w}, that row is I * K:",
        *matrix_lines(s["result"]),
        "",
        f"   conv2d(I, K) gives the same {out_h}x{out_w} result:"
        f" {bool(np.array_equal(s['result'], s['conv2d']))}",
    ]
    if brief:
        return "\n".join(lines)

    b = batch_steps()
    n_img, channels, size, _ = b["x"].shape
    filters, _, k, _ = b["w"].shape
    length = b["cols"].shape[2]
    out = b["result"].shape[-1]
    lines += [
        "",
        "A batch of colour images and several filters: still ONE matrix product",
        "=====================================================================",
        "",
        f"x: {n_img} images x {channels} channels x {size}x{size} pixels;"
        f" w: {filters} filters x {channels} channels x {k}x{k}",
        f"  im2col(x, {k})                 -> {_shape(b['cols'].shape)}"
        f"   ({channels}*{k}*{k} = {channels * k * k} rows, {out}*{out} = {length} patches per image)",
        f"  the images side by side      -> {_shape(b['wide'].shape)}",
        f"  w.reshape({filters}, -1)             -> {_shape(b['wmat'].shape)}   (one filter per row)",
        f"  one GEMM: ({_shape(b['wmat'].shape)}) @ ({_shape(b['wide'].shape)})"
        f" -> {_shape(b['product'].shape)}",
        f"  reshaped to (N, F, OH, OW)   -> {_shape(b['result'].shape)}",
        f"  conv2d(x, w) gives the same: {bool(np.allclose(b['result'], b['conv2d']))}",
        "",
        *_real_layer_lines(),
    ]

    p = pool_steps()
    lines += [
        "",
        "Max pooling as im2col -> max -> reshape",
        "=======================================",
        "",
        f"A {_shape(p['image'].shape)} image:",
        *matrix_lines(p["image"]),
        "",
        f"im2col(x, 2, stride=2) -> {_shape(p['cols'].shape)} (one column per 2x2 window):",
        *matrix_lines(p["cols"]),
        "",
        "max over each column:",
        *matrix_lines(p["max"]),
        "",
        "reshaped to 2x2 = max_pool2d(x, 2):",
        *matrix_lines(p["result"]),
    ]
    if p["max_pool2d"] is not None:
        lines.append(f"   im2col_nb.max_pool2d(x, 2) gives the same: "
                     f"{bool(np.array_equal(p['result'], p['max_pool2d']))}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Layers for `compare`
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One convolution problem: input (n, c, h, w), f filters k x k."""

    name: str
    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    stride: int = 1
    padding: int | str = 0
    dilation: int = 1
    groups: int = 1

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.h, self.w)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.f, self.c // self.groups, self.k, self.k)

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)

    def output_shape(self) -> tuple[int, ...]:
        """Validates the layer through the package (ValueError/TypeError if bad)."""
        empty = np.zeros((0,) + self.input_shape[1:], dtype=np.float32)
        weight = np.zeros(self.weight_shape, dtype=np.float32)
        return (self.n,) + nb.conv2d(empty, weight, **self.kwargs()).shape[1:]

    def flops(self) -> int:
        _, f, oh, ow = self.output_shape()
        return 2 * self.n * f * (self.c // self.groups) * self.k * self.k * oh * ow

    def describe(self) -> str:
        geo = f"stride {self.stride}, padding {self.padding!r}"
        if self.dilation != 1:
            geo += f", dilation {self.dilation}"
        if self.groups != 1:
            geo += f", groups {self.groups}"
        return (f"input {_shape(self.input_shape)}, {self.f} filters {self.k}x{self.k}, {geo}"
                f" -> output {_shape(self.output_shape())}, {self.flops() / 1e9:.2f} GFLOP")


DEFAULT_LAYERS = {
    layer.name: layer
    for layer in (
        Layer("rgb-3x3", 8, 3, 64, 64, 32, 3, padding=1),
        Layer("mid-3x3", 8, 32, 32, 32, 64, 3, padding=1),
        Layer("deep-3x3", 8, 64, 16, 16, 128, 3, padding=1),
        Layer("wide-5x5", 8, 16, 32, 32, 32, 5, padding=2),
        Layer("stride-2", 8, 32, 32, 32, 64, 3, stride=2, padding=1),
        Layer("pointwise-1x1", 8, 64, 16, 16, 128, 1),
    )
}
QUICK_LAYERS = ("rgb-3x3", "mid-3x3", "deep-3x3")
MAIN_LAYER = "mid-3x3"

LAYER_SPEC_HELP = (
    "built-in layer names (comma-separated, or 'all') or custom layers "
    "N,C,H,W,F,K[,STRIDE[,PADDING[,DILATION[,GROUPS]]]] (PADDING may be 'same' or 'valid'); "
    f"built-in: {', '.join(DEFAULT_LAYERS)}"
)


def _spec_int(spec: str, what: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"layer {spec!r}: {what} must be an int, got {text!r}") from None
    if value < (0 if what == "PADDING" else 1):
        raise ValueError(f"layer {spec!r}: {what} must be "
                         f"{'non-negative' if what == 'PADDING' else 'positive'}, got {value}")
    return value


def parse_layers(values) -> list[Layer]:
    """Layers from ``--layers`` values.

    Raises
    ------
    ValueError
        An unknown name, a malformed custom layer, or one the package rejects
        (the package's own message, e.g. a kernel larger than the input).
    """
    fields = ("N", "C", "H", "W", "F", "K", "STRIDE", "PADDING", "DILATION", "GROUPS")
    layers: list[Layer] = []
    for value in values:
        for part in value.split():
            first = part.split(",")[0].strip()
            if first.lstrip("-").isdigit():
                items = [t.strip() for t in part.split(",")]
                if not 6 <= len(items) <= 10:
                    raise ValueError(f"layer {part!r}: expected 6 to 10 comma-separated values "
                                     "N,C,H,W,F,K[,STRIDE[,PADDING[,DILATION[,GROUPS]]]], "
                                     f"got {len(items)}")
                numbers: dict = {}
                for field, text in zip(fields, items):
                    if field == "PADDING" and text.lower() in ("same", "valid"):
                        numbers[field] = text.lower()
                    else:
                        numbers[field] = _spec_int(part, field, text)
                layer = Layer(part, numbers["N"], numbers["C"], numbers["H"], numbers["W"],
                              numbers["F"], numbers["K"], numbers.get("STRIDE", 1),
                              numbers.get("PADDING", 0), numbers.get("DILATION", 1),
                              numbers.get("GROUPS", 1))
                if layer.c % layer.groups:
                    raise ValueError(f"layer {part!r}: GROUPS={layer.groups} must divide "
                                     f"C={layer.c}")
                try:
                    layer.output_shape()
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"layer {part!r}: {exc}") from None
                layers.append(layer)
                continue
            for name in part.split(","):
                name = name.strip()
                if not name:
                    continue
                if name == "all":
                    layers.extend(DEFAULT_LAYERS.values())
                elif name in DEFAULT_LAYERS:
                    layers.append(DEFAULT_LAYERS[name])
                else:
                    raise ValueError(f"unknown layer {name!r}; built-in layers: "
                                     f"{', '.join(DEFAULT_LAYERS)}, or a custom "
                                     "N,C,H,W,F,K[,STRIDE[,PADDING[,DILATION[,GROUPS]]]]")
    if not layers:
        raise ValueError("--layers named no layer")
    return layers


# ---------------------------------------------------------------------------
# Methods compared
# ---------------------------------------------------------------------------

METHOD_KEYS = ("im2col", "direct", "numpy", "torch")


@dataclass
class Method:
    key: str
    label: str
    run: Callable[[np.ndarray, np.ndarray, Layer], np.ndarray]
    memory: bool = True      # peak memory measurable with tracemalloc


@contextlib.contextmanager
def _backend(name: str):
    previous = nb.get_backend()
    nb.set_backend(name)
    try:
        yield
    finally:
        nb.set_backend(previous)


def _torch_available() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def available_methods(wanted=METHOD_KEYS) -> list[Method]:
    backend = nb.get_backend()
    methods = []
    if "im2col" in wanted:
        methods.append(Method("im2col", f"conv2d (im2col+GEMM, {backend})",
                              lambda x, w, layer: nb.conv2d(x, w, **layer.kwargs())))
    if "direct" in wanted:
        methods.append(Method("direct", f"conv2d_direct ({backend})",
                              lambda x, w, layer: nb.conv2d_direct(x, w, **layer.kwargs())))
    if "numpy" in wanted and backend != "numpy":
        def run_numpy(x, w, layer):
            with _backend("numpy"):
                return nb.conv2d(x, w, **layer.kwargs())
        methods.append(Method("numpy", "conv2d (im2col+GEMM, numpy)", run_numpy))
    if "torch" in wanted and _torch_available():
        import torch
        import torch.nn.functional as tf

        def run_torch(x, w, layer):
            with torch.no_grad():
                return tf.conv2d(torch.from_numpy(x), torch.from_numpy(w), **layer.kwargs()).numpy()
        methods.append(Method("torch", "torch.nn.functional.conv2d", run_torch, memory=False))
    return methods


def _release_workspace() -> None:
    from ._workspace import release_scratch
    release_scratch()


# Untimed calls before the timed ones: a multi-threaded call right after
# another thread pool's work (the previous method's BLAS or Numba threads still
# spinning, or parked) runs up to ~1.5-2x slower (bench/suite.py SETTLE_S).
SETTLE_S = 0.15


def measure(method: Method, x, w, layer: Layer, repeat: int | None, budget_s: float):
    """(output, best time, all times, peak bytes or None). The first call is
    a warm-up (JIT compile), followed by SETTLE_S seconds of untimed calls;
    `repeat=None` repeats until `budget_s` seconds."""
    out = method.run(x, w, layer)
    settle_end = time.perf_counter() + SETTLE_S
    while time.perf_counter() < settle_end:
        method.run(x, w, layer)
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        method.run(x, w, layer)
        times.append(time.perf_counter() - t0)
        if repeat is not None:
            if len(times) >= repeat:
                break
        elif len(times) >= 20 or (len(times) >= 3 and time.perf_counter() - start > budget_s):
            break
    peak = None
    if method.memory:
        # The scratch buffer is reused across calls: drop it so the peak
        # includes the patch matrix, as a first call would.
        _release_workspace()
        tracing = tracemalloc.is_tracing()
        if not tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        method.run(x, w, layer)
        peak = tracemalloc.get_traced_memory()[1] - base
        if not tracing:
            tracemalloc.stop()
    return out, min(times), times, peak


@contextlib.contextmanager
def thread_limit(threads: int | None, methods):
    """Limit numba, BLAS/OpenMP and torch to `threads` threads (None: leave)."""
    if threads is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        if hasattr(nb, "threads"):
            # the package's one knob: Numba's loops and BLAS, restored after
            stack.enter_context(nb.threads(threads))
        else:
            from threadpoolctl import threadpool_limits
            stack.enter_context(threadpool_limits(limits=threads))
            if nb.get_backend() == "numba":
                import numba
                old_numba = numba.get_num_threads()
                numba.set_num_threads(threads)
                stack.callback(numba.set_num_threads, old_numba)
        if any(m.key == "torch" for m in methods):
            import torch
            old_torch = torch.get_num_threads()
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, old_torch)
        yield


def max_threads() -> int:
    """The most threads ``--threads`` may ask for."""
    with contextlib.suppress(ImportError, AttributeError):
        from ._threads import max_threads as package_max
        return int(package_max())
    if nb.get_backend() == "numba":
        import numba
        return int(numba.config.NUMBA_NUM_THREADS)
    return os.cpu_count() or 1


class _Progress:
    """A rich progress bar on stderr (plain lines if rich is missing)."""

    def __init__(self, total: int, enabled: bool = True):
        self.total = total
        self.enabled = enabled
        self.bar = None
        if enabled:
            try:
                from rich.console import Console
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                           TimeElapsedColumn)
            except ImportError:
                return
            self.bar = Progress(TextColumn("{task.description:<44}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task("starting", total=self.total)
        self.done = 0
        return self

    def step(self, description: str):
        if self.bar is not None:
            self.bar.update(self.task, description=description)
        elif self.enabled:
            print(f"[{self.done + 1}/{self.total}] {description}", file=sys.stderr, flush=True)

    def advance(self):
        self.done += 1
        if self.bar is not None:
            self.bar.advance(self.task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def run_compare(layers, methods, dtype, repeat, budget_s=0.5, progress=True) -> list[dict]:
    """Time every method on every layer; one dict per layer."""
    rng = np.random.default_rng(0)
    results = []
    with _Progress(len(layers) * len(methods), enabled=progress) as bar:
        for layer in layers:
            x = rng.standard_normal(layer.input_shape, dtype=np.float64).astype(dtype)
            w = rng.standard_normal(layer.weight_shape, dtype=np.float64).astype(dtype)
            w /= np.sqrt(w[0].size)
            flops = layer.flops()
            rows = []
            reference = None
            outputs = {}
            for method in methods:
                bar.step(f"{layer.name}: {method.label}")
                out, best, times, peak = measure(method, x, w, layer, repeat, budget_s)
                outputs[method.key] = out
                if method.key == "direct":
                    reference = out
                rows.append({"method": method.key, "label": method.label, "time_s": best,
                             "times_s": times, "gflops": flops / best / 1e9, "peak_bytes": peak})
                bar.advance()
            if reference is None:
                reference = next(iter(outputs.values()))
            scale = float(np.max(np.abs(reference))) or 1.0
            direct = next((r for r in rows if r["method"] == "direct"), None)
            for row in rows:
                row["max_rel_diff"] = float(np.max(np.abs(outputs[row["method"]] - reference))) / scale
                row["speedup_vs_direct"] = direct["time_s"] / row["time_s"] if direct else None
            results.append({"layer": asdict(layer), "name": layer.name,
                            "input_shape": list(layer.input_shape),
                            "weight_shape": list(layer.weight_shape),
                            "output_shape": list(layer.output_shape()),
                            "flops": flops, "itemsize": x.dtype.itemsize,
                            "description": layer.describe(), "results": rows})
    return results


def _mib(nbytes) -> str:
    return "n/a" if nbytes is None else f"{nbytes / 2**20:.2f} MiB"


def compare_table(results) -> list[list[str]]:
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


COMPARE_HEADER = ["layer", "method", "time (ms)", "GFLOP/s", "peak memory", "vs direct",
                  "max rel diff"]


def print_table(header, rows, title=None) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None
    if Console is not None:
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
        return
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    if title:
        print(title)
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))


def summary_lines(results) -> list[str]:
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


# ---------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def jit_cache_status() -> dict | None:
    """Where Numba caches the compiled kernels and how many are cached for
    this source (None when the numba backend cannot be loaded)."""
    if not _numba_importable():
        return None
    try:
        from ._backend import backend_named
        backend_named("numba")
        from numba.core.dispatcher import Dispatcher
    except Exception:  # pragma: no cover - numba broken
        return None
    kernels, cached, versions, dirs = 0, 0, 0, set()
    for mod_name, module in sorted(sys.modules.items()):
        if not mod_name.startswith("im2col_nb._kernels.numba.") or module is None:
            continue
        for name, obj in vars(module).items():
            if not isinstance(obj, Dispatcher) or getattr(obj, "__module__", None) != mod_name:
                continue
            cache = getattr(obj, "_cache", None)
            cache_file = getattr(cache, "_cache_file", None)
            if cache_file is None:
                continue
            kernels += 1
            dirs.add(cache._cache_path)
            try:
                index = cache_file._load_index()
            except Exception:
                index = {}
            if index:
                cached += 1
                versions += len(index)
    return {"dirs": sorted(dirs), "kernels": kernels, "cached_kernels": cached,
            "cached_versions": versions, "warm": kernels > 0 and cached == kernels,
            "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR")}


def _numba_importable() -> bool:
    from ._backend import numba_available
    return numba_available()


def collect_info(run_kernel: bool = True) -> dict:
    """Everything ``im2col-nb info`` reports, as a dict."""
    info: dict = {
        "im2col_nb": nb.__version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": {name: _version(name) for name in
                     ("numpy", "numba", "llvmlite", "threadpoolctl", "rich", "matplotlib",
                      "torch", "scipy")},
        "backend": nb.get_backend(),
        "IM2COL_NB_BACKEND": os.environ.get("IM2COL_NB_BACKEND"),
        "max_workspace_bytes": nb.get_max_workspace_bytes(),
    }
    info["jit_cache"] = jit_cache_status()
    numba_info = None
    if _numba_importable():
        import numba
        numba_info = {
            "threading_layer_requested": numba.config.THREADING_LAYER,
            "NUMBA_NUM_THREADS": int(numba.config.NUMBA_NUM_THREADS),
            "num_threads": int(numba.get_num_threads()),
            "threading_layer": None,
            "first_call_s": None,
        }
        if run_kernel:
            # The threading layer is only chosen when a parallel kernel first runs.
            with _backend("numba"):
                t0 = time.perf_counter()
                nb.im2col(np.zeros((1, 1, 2, 2)), 1)
                numba_info["first_call_s"] = time.perf_counter() - t0
            with contextlib.suppress(ValueError):
                numba_info["threading_layer"] = numba.threading_layer()
        with contextlib.suppress(Exception):
            from ._threads import _state as threads_state
            chosen = threads_state.get("chosen")
            if chosen:
                numba_info["layer_chosen_by"] = list(chosen)
    info["numba"] = numba_info
    get_threads = getattr(nb, "get_num_threads", None)
    info["im2col_nb_threads"] = get_threads() if get_threads is not None else None
    try:
        from threadpoolctl import threadpool_info
        pools = [{k: p.get(k) for k in ("user_api", "internal_api", "version", "num_threads",
                                         "threading_layer", "architecture", "filepath")}
                 for p in threadpool_info()]
    except Exception:  # pragma: no cover
        pools = []
    info["threadpools"] = pools
    return info


def info_text(info: dict) -> str:
    pk = info["packages"]
    lines = [
        f"im2col_nb {info['im2col_nb']}",
        f"python     {info['python']} on {info['platform']}, {info['cpus']} CPUs",
        "packages   " + ", ".join(f"{k} {v}" for k, v in pk.items() if v)
        + ("" if not [k for k, v in pk.items() if not v]
           else "; not installed: " + ", ".join(k for k, v in pk.items() if not v)),
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
                     f"{nbi['NUMBA_NUM_THREADS']}"
                     + (f"; im2col_nb {info['im2col_nb_threads']}"
                        if info["im2col_nb_threads"] is not None else ""))
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
        if not cache["warm"] and hasattr(nb, "warmup"):
            lines.append("           compile everything ahead of time: "
                         "python -c 'import im2col_nb; im2col_nb.warmup()'")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# argument parsing and commands
# ---------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {value}")
    return value


def _method_list(text: str) -> tuple[str, ...]:
    keys = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [k for k in keys if k not in METHOD_KEYS]
    if bad or not keys:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated names from {', '.join(METHOD_KEYS)}, got {text!r}")
    return keys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="im2col-nb",
        description="im2col_nb: convolution as one matrix multiply. Without a command: the "
                    "seed's worked example, then conv2d against conv2d_direct on one layer.",
    )
    parser.add_argument("--version", action="version", version=f"im2col_nb {nb.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,compare,info}")

    demo = sub.add_parser("demo", help="the seed's walk-through: patch matrix, GEMM, pooling",
                          description="The seed's I * K as im2col + one matrix product, a batch "
                                      "with several filters, and max pooling.")
    demo.add_argument("--plot", metavar="FILE.png", help="also draw the walk-through")

    compare = sub.add_parser(
        "compare", help="time im2col conv2d against direct convolution (and NumPy, PyTorch)",
        description="Time, GFLOP/s and peak memory (tracemalloc) per layer of im2col conv2d, "
                    "conv2d_direct, the NumPy backend and PyTorch (when installed).")
    compare.add_argument("--layers", nargs="+", metavar="LAYER", help=LAYER_SPEC_HELP)
    compare.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    compare.add_argument("--threads", type=_positive_int, metavar="N",
                         help="threads for numba, BLAS and torch (default: all)")
    compare.add_argument("--quick", action="store_true",
                         help=f"3 timed runs per method on {', '.join(QUICK_LAYERS)}")
    compare.add_argument("--repeat", type=_positive_int, metavar="R",
                         help="timed runs per method (default: until 0.5 s, 3 to 20 runs)")
    compare.add_argument("--methods", type=_method_list, default=METHOD_KEYS,
                         metavar="M[,M...]",
                         help=f"which of {','.join(METHOD_KEYS)} to run (default: all available)")
    compare.add_argument("--json", metavar="FILE", help="write the results as JSON")
    compare.add_argument("--plot", metavar="FILE.png", help="bar charts of GFLOP/s and memory")
    compare.add_argument("--no-progress", action="store_true", help="no progress bar")

    info = sub.add_parser("info", help="versions, backend, threads, BLAS, JIT cache",
                          description="Versions, backend in use, threading layer, thread counts, "
                                      "BLAS library and the Numba JIT cache.")
    info.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    parser.subcommands = {"demo": demo, "compare": compare, "info": info}
    return parser


def _check_output_path(parser, option: str, path: str | None, need_matplotlib: bool = False):
    if path is None:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        parser.error(f"{option}: directory {parent!r} does not exist")
    if need_matplotlib and importlib.util.find_spec("matplotlib") is None:
        parser.error(f"{option} needs matplotlib: pip install matplotlib")


def cmd_demo(args) -> int:
    print(demo_text())
    if args.plot:
        from ._figures import plot_demo
        plot_demo(args.plot)
        print(f"\nwrote {args.plot}")
    return 0


def cmd_compare(args, layers, *, header=True) -> int:
    methods = available_methods(args.methods)
    dtype = np.dtype(args.dtype)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else None)
    if header:
        print(f"Comparing {', '.join(m.label for m in methods)}")
        print(f"dtype {dtype.name}, backend {nb.get_backend()}, threads "
              f"{args.threads if args.threads else 'all'}; time = best of "
              f"{repeat if repeat else '3-20'} runs after a warm-up (JIT compile) run; "
              "peak memory = tracemalloc peak of one call")
    for layer in layers:
        print(f"  {layer.name}: {layer.describe()}")
    with thread_limit(args.threads, methods):
        results = run_compare(layers, methods, dtype, repeat,
                              progress=not args.no_progress)
    print()
    print_table(COMPARE_HEADER, compare_table(results))
    for line in summary_lines(results):
        print(line)
    if any(m.key == "torch" for m in methods):
        print("(PyTorch allocates outside tracemalloc's view: its memory is n/a.)")
    if args.json:
        payload = {"command": "compare", "dtype": dtype.name, "threads": args.threads,
                   "quick": bool(args.quick), "repeat": repeat,
                   "environment": collect_info(run_kernel=False), "layers": results}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        from ._figures import plot_compare
        plot_compare(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_info(args) -> int:
    info = collect_info()
    print(info_text(info))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


def main(argv=None) -> int:
    """Run the command line; returns the exit status (argparse exits 2 on
    bad options)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            print(demo_text(brief=True))
            print()
            print(f"im2col conv2d against direct convolution on layer {MAIN_LAYER!r}")
            print("(`im2col-nb demo` for the full walk-through, `im2col-nb compare` for more "
                  "layers)")
            args = parser.parse_args(["compare", "--quick", "--layers", MAIN_LAYER])
            return cmd_compare(args, parse_layers(args.layers), header=False)
        if args.command == "demo":
            _check_output_path(parser.subcommands["demo"], "--plot", args.plot,
                               need_matplotlib=True)
            return cmd_demo(args)
        if args.command == "info":
            _check_output_path(parser.subcommands["info"], "--json", args.json)
            return cmd_info(args)
        # compare
        sub = parser.subcommands["compare"]
        _check_output_path(sub, "--json", args.json)
        _check_output_path(sub, "--plot", args.plot, need_matplotlib=True)
        if args.threads is not None and args.threads > max_threads():
            sub.error(f"--threads must be at most {max_threads()} (NUMBA_NUM_THREADS), "
                      f"got {args.threads}")
        if args.layers:
            try:
                layers = parse_layers(args.layers)
            except (TypeError, ValueError) as exc:
                sub.error(f"--layers: {exc}")
        else:
            layers = [DEFAULT_LAYERS[n] for n in (QUICK_LAYERS if args.quick else DEFAULT_LAYERS)]
        return cmd_compare(args, layers)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `im2col-nb demo | head`
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
