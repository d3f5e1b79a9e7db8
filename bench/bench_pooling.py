"""Pooling benchmarks: method="im2col" vs method="direct" vs a NumPy peer.

    python -m pytest bench/bench_pooling.py --benchmark-only     # pytest-benchmark
    python bench/bench_pooling.py                                # quick Markdown table

Each case times one forward pool and records the peak memory it allocates
(tracemalloc, measured in a separate untimed call after dropping the reused
im2col scratch buffer, so the patch matrix counts) in ``benchmark.extra_info``.
The NumPy peer is the textbook one-liner: pad with -inf, then
``sliding_window_view(...)[..., ::s, ::s, :, :].max(axis=(-2, -1))``.
Deliberately light: a handful of cases, a few rounds each.
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import im2col_nb
from im2col_nb import avg_pool2d, max_pool2d
from im2col_nb._core import workspace as _workspace

# (name, NCHW shape, kernel, stride, padding)
CASES = [
    ("resnet-stem k3s2p1", (16, 64, 56, 56), 3, 2, 1),
    ("vgg k2s2", (16, 64, 56, 56), 2, 2, 0),
    ("overlap k3s1p1", (8, 128, 28, 28), 3, 1, 1),
]
DTYPE = np.float32


def numpy_peer_max(x, k, s, p):
    """Max pool of NCHW `x` by sliding_window_view (padding as -inf)."""
    if p:
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(-2, -1))


def numpy_peer_avg(x, k, s, p):
    if p:
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s].mean(axis=(-2, -1))


def make_input(shape, layout, seed=0):
    x = np.random.default_rng(seed).normal(size=shape).astype(DTYPE)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NHWC" else x


def runner(op, impl, x, k, s, p, layout):
    """A no-argument callable running one pool."""
    if impl == "numpy-peer":
        peer = numpy_peer_max if op == "max" else numpy_peer_avg
        return lambda: peer(x, k, s, p)
    pool = max_pool2d if op == "max" else avg_pool2d
    return lambda: pool(x, k, s, p, layout=layout, method=impl)


def peak_bytes(fn) -> int:
    """Peak bytes allocated while `fn` runs (NumPy buffers are traced)."""
    _workspace.release_scratch()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


IMPLS = ["direct", "im2col", "numpy-peer"]
PARAMS = [(case, op, layout, impl)
          for case in CASES
          for op in ("max", "avg")
          for layout in ("NCHW", "NHWC")
          for impl in IMPLS
          if not (impl == "numpy-peer" and layout == "NHWC")]


@pytest.fixture(autouse=True)
def _numba_backend():
    previous = im2col_nb.get_backend()
    im2col_nb.set_backend("numba")
    yield
    im2col_nb.set_backend(previous)


@pytest.mark.parametrize("case, op, layout, impl", PARAMS,
                         ids=[f"{c[0]}-{op}-{lay}-{impl}" for c, op, lay, impl in PARAMS])
def test_pool_forward(benchmark, case, op, layout, impl):
    name, shape, k, s, p = case
    x = make_input(shape, layout)
    fn = runner(op, impl, x, k, s, p, layout)
    result = fn()                                  # compile / warm up, and check
    if impl != "direct":
        reference = runner(op, "direct", x, k, s, p, layout)()
        np.testing.assert_allclose(result, reference, rtol=1e-5, atol=1e-5)
    peak = peak_bytes(fn)
    benchmark.group = f"{name} {op} {layout}"
    benchmark.extra_info.update(
        case=name, op=op, layout=layout, method=impl, shape=list(shape), kernel=k, stride=s,
        padding=p, dtype=np.dtype(DTYPE).name, input_bytes=int(x.nbytes),
        output_bytes=int(result.nbytes), peak_bytes=int(peak),
        peak_over_output=round(peak / result.nbytes, 2),
    )
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1, iterations=1)


# ---------------------------------------------------------------------------
# quick table without pytest-benchmark
# ---------------------------------------------------------------------------


def _best_ms(fn, repeat=7) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def main() -> None:
    im2col_nb.set_backend("numba")
    print(f"dtype {np.dtype(DTYPE).name}, numba backend, best of 7; peak = tracemalloc peak of one call\n")
    print("| case | op | layout | method | ms | peak MiB | peak / output |")
    print("|---|---|---|---|---:|---:|---:|")
    for (case, op, layout, impl) in PARAMS:
        name, shape, k, s, p = case
        x = make_input(shape, layout)
        fn = runner(op, impl, x, k, s, p, layout)
        out = fn()
        ms = _best_ms(fn)
        peak = peak_bytes(fn)
        print(f"| {name} {shape} | {op} | {layout} | {impl} | {ms:.1f} | {peak / 2**20:.1f} | "
              f"{peak / out.nbytes:.1f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
