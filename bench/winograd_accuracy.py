"""Accuracy of Winograd F(m x m, 3 x 3) against im2col, float32 and float64.

    python bench/winograd_accuracy.py            # 5 seeds (~10 s)
    python bench/winograd_accuracy.py --quick    # 2 seeds (~4 s)
    python bench/winograd_accuracy.py --numba    # also the Numba kernel

A 3x3 convolution, padding 1, of random normal images (N = 1 or 2, 16 x
16) with He-scaled filters (normal, std sqrt(2 / (9 C)), F = 64) for C in
16, 64, 256, 512, computed by ``conv2d(..., method="im2col")`` and by the
Winograd kernel for each tile size m = 2, 4, 6 (the NumPy kernel; with
``--numba`` the Numba one too, in a second table). The error is
``max|out - ref| / max|ref|``, the largest over the seeds, where `ref` is
the same convolution of the same (already rounded) inputs in extended
precision (``np.longdouble``, 64-bit mantissa on x86; plain float64 where
longdouble is no wider -- then the float64 rows measure mostly the
reference's own rounding). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import im2col_nb
from im2col_nb._core.winograd import TILE_SIZES, filter_transform, matrices
from im2col_nb._engine.machine import cpu_model
from im2col_nb._kernels.numpy.winograd import conv_winograd as numpy_winograd

CHANNELS = (16, 64, 256, 512)
FILTERS = 64
SIZE = 16
PAD = 1
CHUNK = 64  # tiles per chunk (does not change the arithmetic)


REF_DTYPE = np.longdouble if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps else np.float64


def reference(x, w):
    """The convolution (padding `PAD`) of x (N, C, H, W) by w (F, C, 3, 3) in
    `REF_DTYPE`: one patch matrix and a (non-BLAS) matmul."""
    n_img, channels = x.shape[:2]
    filters = w.shape[0]
    xp = np.pad(x.astype(REF_DTYPE), ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # (N, C, OH, OW, 3, 3)
    out_h, out_w = win.shape[2:4]
    cols = np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(-1, channels * 9)
    out = cols @ w.astype(REF_DTYPE).reshape(filters, channels * 9).T
    return out.reshape(n_img, out_h, out_w, filters).transpose(0, 3, 1, 2)


def winograd_numpy(x, w, m):
    bt, _, at = matrices(m, x.dtype)
    n_img, _, height, width = x.shape
    out = np.empty((n_img, w.shape[0], height + 2 * PAD - 2, width + 2 * PAD - 2), x.dtype)
    ok = numpy_winograd(x, filter_transform(w, m), None, out, bt, at, 1, PAD, PAD, CHUNK, "NCHW")
    assert ok  # False: inf/NaN in the input
    return out


def winograd_numba(x, w, m):
    """The Numba kernel on one worker (its NCHW form takes whole rows of
    tiles per chunk, counted in tiles)."""
    from im2col_nb._core import blas
    from im2col_nb._engine.workers import single_threaded_blas
    from im2col_nb._kernels.numba.winograd import conv_winograd, scratch_length

    dtype = x.dtype
    bt, _, at = matrices(m, dtype)
    n_img, channels, height, width = x.shape
    filters = w.shape[0]
    out = np.empty((n_img, filters, height + 2 * PAD - 2, width + 2 * PAD - 2), dtype)
    tiles_w = -(-out.shape[3] // m)
    chunk = max(1, CHUNK // tiles_w) * tiles_w
    work = np.empty(scratch_length("NCHW", m, channels, filters, chunk, 1, False), dtype)
    with single_threaded_blas():
        ok = conv_winograd(blas.gemm_function(dtype), x, filter_transform(w, m), None, out, bt,
                           at, 1, PAD, PAD, chunk, False, 1, work, "NCHW")
    assert ok is not False  # False: inf/NaN in the input
    return out


def rel_error(out, ref) -> float:
    return float(np.max(np.abs(out.astype(REF_DTYPE) - ref)) / np.max(np.abs(ref)))


def measure(seeds, with_numba):
    """{(kind, dtype name, C, column): largest error over the seeds}."""
    worst = {}
    for dtype in (np.float32, np.float64):
        for channels in CHANNELS:
            for seed in range(seeds):
                rng = np.random.default_rng([seed, channels])
                n_img = 1 + seed % 2
                x = rng.standard_normal((n_img, channels, SIZE, SIZE)).astype(dtype)
                w = (rng.standard_normal((FILTERS, channels, 3, 3))
                     * np.sqrt(2.0 / (9 * channels))).astype(dtype)
                ref = reference(x, w)
                results = {("numpy", "im2col"): im2col_nb.conv2d(x, w, padding=PAD, method="im2col")}
                for m in TILE_SIZES:
                    results[("numpy", m)] = winograd_numpy(x, w, m)
                    if with_numba:
                        results[("numba", m)] = winograd_numba(x, w, m)
                for (kind, column), out in results.items():
                    assert out.dtype == dtype, (kind, column, out.dtype)
                    key = (kind, np.dtype(dtype).name, channels, column)
                    worst[key] = max(worst.get(key, 0.0), rel_error(out, ref))
    return worst


def table(worst, kind, with_im2col):
    columns = (["im2col"] if with_im2col else []) + list(TILE_SIZES)
    head = ["dtype", "C"] + ["im2col" if c == "im2col" else f"F({c}x{c},3x3)" for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for dtype in ("float32", "float64"):
        for channels in CHANNELS:
            cells = [f"{worst[(kind, dtype, channels, c)]:.1e}" for c in columns]
            lines.append(f"| {dtype} | {channels} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds instead of 5")
    parser.add_argument("--seeds", type=int, help="number of seeds (overrides --quick)")
    parser.add_argument("--numba", action="store_true",
                        help="also measure the Numba Winograd kernel (second table)")
    args = parser.parse_args()
    seeds = args.seeds or (2 if args.quick else 5)

    print(f"CPU: {cpu_model()}")  # lscpu's "Model name" (/proc/cpuinfo)
    print(f"NumPy {np.__version__}, im2col_nb {getattr(im2col_nb, '__version__', '?')}; "
          f"reference in {np.dtype(REF_DTYPE).name} "
          f"(eps {float(np.finfo(REF_DTYPE).eps):.1e})\n")
    start = time.perf_counter()
    worst = measure(seeds, args.numba)
    print(f"max|out - ref| / max|ref|, worst of {seeds} seeds; 3x3 conv, padding 1, "
          f"N = 1..2, {SIZE}x{SIZE} images, F = {FILTERS}, He-scaled weights; "
          "Winograd: NumPy kernel\n")
    print(table(worst, "numpy", True))
    if args.numba:
        print("\nWinograd: Numba kernel\n")
        print(table(worst, "numba", False))
        gap = max(worst[("numba",) + k[1:]] / worst[k] for k in worst
                  if k[0] == "numpy" and k[3] != "im2col")
        print(f"\nlargest Numba / NumPy error ratio: {gap:.2f}")
    print(f"\n({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
