"""``im2col-nb compare``: the methods compared and the measurement of each
on each layer (time, GFLOP/s, tracemalloc peak, agreement)."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

import im2col_nb as nb

from .layers import Layer
from .tables import ProgressBar
from .timing import interleaved_times, settle, traced_peak

__all__ = ["METHOD_KEYS", "Method", "available_methods", "measure", "run_compare",
           "thread_limit"]

METHOD_KEYS = ("im2col", "direct", "numpy", "torch")

# Without --repeat, timed runs continue until BUDGET_S seconds have passed,
# within these bounds.
BUDGET_S = 0.5
MIN_RUNS, MAX_RUNS = 3, 20


@dataclass
class Method:
    """One implementation compared: ``run(x, w, layer)`` returns the output."""

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
    """The methods of `wanted` that can run here, in `METHOD_KEYS` order.

    ``numpy`` is left out when the NumPy backend is the current one (it
    would repeat ``im2col``), ``torch`` when PyTorch is not installed.
    """
    backend = nb.get_backend()
    methods = []
    if "im2col" in wanted:
        methods.append(Method("im2col", f"conv2d (im2col+GEMM, {backend})",
                              lambda x, w, layer: nb.conv2d(x, w, method="im2col",
                                                            **layer.kwargs())))
    if "direct" in wanted:
        methods.append(Method("direct", f"conv2d_direct ({backend})",
                              lambda x, w, layer: nb.conv2d_direct(x, w, **layer.kwargs())))
    if "numpy" in wanted and backend != "numpy":
        def run_numpy(x, w, layer):
            with _backend("numpy"):
                return nb.conv2d(x, w, method="im2col", **layer.kwargs())
        methods.append(Method("numpy", "conv2d (im2col+GEMM, numpy)", run_numpy))
    if "torch" in wanted and _torch_available():
        import torch
        import torch.nn.functional as tf

        def run_torch(x, w, layer):
            with torch.no_grad():
                return tf.conv2d(torch.from_numpy(x), torch.from_numpy(w), **layer.kwargs()).numpy()
        methods.append(Method("torch", "torch.nn.functional.conv2d", run_torch, memory=False))
    return methods


def measure(method: Method, x, w, layer: Layer, repeat: int | None, budget_s: float = BUDGET_S):
    """Time one method on one layer.

    The first call is a warm-up (JIT compile), then `settle` runs untimed
    calls for `SETTLE_S` seconds, so the timed ones do not pay for the
    previous method's still-spinning threads.

    Parameters
    ----------
    repeat : int or None
        Timed runs; None: until `budget_s` seconds, 3 to 20 runs.

    Returns
    -------
    out, best, times, peak
        The output, the best time and all times (seconds), and the
        tracemalloc peak of one call in bytes (None when the method's
        memory is invisible to tracemalloc).
    """
    call = functools.partial(method.run, x, w, layer)
    out = call()
    settle(call)
    if repeat is not None:
        (times,) = interleaved_times([call], rounds=repeat, warmup=0)
    else:
        (times,) = interleaved_times([call], rounds=MAX_RUNS, warmup=0, budget_s=budget_s,
                                     min_rounds=MIN_RUNS)
    peak = None
    if method.memory:
        # The scratch buffer is reused across calls: drop it so the peak
        # includes the patch matrix, as a first call would.
        nb.release_workspace()
        peak = traced_peak(call)
    return out, min(times), times, peak


@contextlib.contextmanager
def thread_limit(threads: int | None, methods):
    """Limit the package (Numba and BLAS) and torch to `threads` threads
    for the block, then restore; None leaves everything as it is."""
    if threads is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(nb.threads(threads))
        if any(m.key == "torch" for m in methods):
            import torch
            old_torch = torch.get_num_threads()
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, old_torch)
        yield


def run_compare(layers, methods, dtype, repeat, budget_s=BUDGET_S, progress=True) -> list[dict]:
    """Time every method on every layer.

    Returns
    -------
    results : list of dict
        One per layer: its shapes, ``flops``, ``itemsize``, ``description``
        and ``results``, one dict per method with ``time_s`` (best),
        ``times_s``, ``gflops``, ``peak_bytes``, ``max_rel_diff`` (to
        ``conv2d_direct``, else the first method) and ``speedup_vs_direct``.
    """
    rng = np.random.default_rng(0)
    results = []
    with ProgressBar(len(layers) * len(methods), enabled=progress) as bar:
        for layer in layers:
            x = rng.standard_normal(layer.input_shape, dtype=np.float64).astype(dtype)
            w = rng.standard_normal(layer.weight_shape, dtype=np.float64).astype(dtype)
            w /= np.sqrt(w[0].size)
            flops = layer.flops()
            rows = []
            outputs = {}
            for method in methods:
                bar.step(f"{layer.name}: {method.label}")
                out, best, times, peak = measure(method, x, w, layer, repeat, budget_s)
                outputs[method.key] = out
                rows.append({"method": method.key, "label": method.label, "time_s": best,
                             "times_s": times, "gflops": flops / best / 1e9, "peak_bytes": peak})
                bar.advance()
            reference = outputs.get("direct", next(iter(outputs.values())))
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
