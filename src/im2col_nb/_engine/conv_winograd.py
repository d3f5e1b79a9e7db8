"""conv2d by Winograd's minimal filtering F(m x m, 3 x 3): methods, plan, driver.

A 3x3, stride-1, dilation-1 convolution computes each m x m tile of
outputs from the (m+2) x (m+2) inputs under it with (m+2)**2 multiplies
per (channel, filter) pair instead of 9*m*m: 2.25x fewer for m = 2, 4x for
m = 4, 5.06x for m = 6 (Lavin & Gray 2016). The multiplies are (m+2)**2
GEMMs of ``(F, C) @ (C, tiles)``; the price is three transforms (filter,
input, output) and rounding error that grows with m (see ``ERROR_BOUND``).

Methods: ``winograd2``, ``winograd4``, ``winograd6`` (the tile size m), and
``winograd``, the one of them with the lowest estimate among those whose
error bound ``auto`` accepts for the dtype (float32: m <= 4; float64: any).
Forcing ``winograd6`` in float32 runs it: the bound is then the caller's
choice.

Exactness: an inf or NaN in the input or the weight would spread through
the transforms to every output of its tile (inf - inf), where the direct
sum gives a finite value or the same inf. The kernels detect a non-finite
input as they read it, the driver a non-finite transformed weight, and
the call is then computed again by im2col (same result as without
Winograd, at the cost of the discarded pass).
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from typing import NamedTuple

import numpy as np

from .._core import winograd as _wg
from .._core.backend import backend_module
from .._core.workspace import scratch
from . import plan as _plan
from .conv_gemm import conv_nchw, conv_nhwc
from .machine import current_machine
from .problem import ConvProblem
from .workers import single_threaded_blas

__all__ = ["ERROR_BOUND", "TILE_SIZES", "WinogradPlan", "auto_tiles", "best_tile", "estimate",
           "plan_winograd", "run_winograd", "supports", "winograd_driver"]

TILE_SIZES = _wg.TILE_SIZES
# Promised bound on max|out - ref| / max|ref| against the exact (float64)
# convolution of the same rounded operands, for inputs and weights of one
# sign mix and scale (random normal data, He-scaled weights), per dtype
# and tile size, up to 512 channels; measured maxima are in
# docs/winograd.md (bench/winograd_accuracy.py) and tested by
# tests/test_winograd.py. im2col's own error is about 1e-7 (float32).
ERROR_BOUND = {
    (np.dtype(np.float32), 2): 3e-6,
    (np.dtype(np.float32), 4): 5e-5,
    (np.dtype(np.float32), 6): 1e-4,
    (np.dtype(np.float64), 2): 1e-14,
    (np.dtype(np.float64), 4): 1e-13,
    (np.dtype(np.float64), 6): 2e-13,
}
# The largest bound `auto` accepts (F(6x6) in float32 runs only when forced).
AUTO_BOUND = {np.dtype(np.float32): 5e-5, np.dtype(np.float64): 1e-12}

# Chunks: about CHUNK_TILES tiles (whole rows of tiles for NCHW), each
# worker's V and M within its share of the budget. Measured on the ResNet
# layers (2 threads, float32, AMD EPYC Zen 4): 64-256 tiles within 10 %;
# fewer starve the GEMMs (F x C x tiles), more spill the worker's L2.
CHUNK_TILES = 96
# Cost model: time relative to the bare GEMM of the problem's direct
# multiply-adds (the unit conv2d's methods are compared in), in units of
# that GEMM's multiply-adds:
# * the (m+2)**2 GEMMs: their multiply-adds times GEMM_COST (many GEMMs
#   with a short side run well below the bare GEMM's rate), plus
#   CHUNK_COST / (tiles per chunk) of it (few tiles: short GEMMs);
# * the input transform: INPUT_COST per multiply-add of B^T d B (and per
#   input copied into the tile), per tile and channel; the output
#   transform: OUTPUT_COST per multiply-add of A^T M A, per tile and filter;
# * the filter transform: FILTER_COST per element of U written, times the
#   threads (it is bound by memory bandwidth, so it does not speed up with
#   them while the GEMM does).
# Fitted (least squares on the log of the time ratio, then rounded) to
# winograd{2,4,6} / im2col measured on 22 layers, 3-512 channels, 6x6 to
# 128x128 outputs, batch 1-32, each layout (2 threads, float32, AMD EPYC
# Zen 4; bench/bench_winograd.py reruns the comparison). On those layers
# auto's choice ran at most 1.08x im2col's time, and 0.48-0.8x where
# Winograd won.
GEMM_COST = 1.9
CHUNK_COST = 6.0
INPUT_COST = 2.0
OUTPUT_COST = 3.0
FILTER_COST = 25.0
# Channels-last transforms run one tile at a time along the channels: the
# same fit on NHWC measurements gives them this factor.
NHWC_TRANSFORMS = 1.4
# Added to every estimate: where the model sees less than this gain over
# im2col (1.1), the measurements scatter on both sides; im2col is kept.
MARGIN = 0.1


class WinogradPlan(NamedTuple):
    """How `run_winograd` cuts one problem (`plan_winograd`)."""

    m: int
    chunk: int        # tiles per chunk (NCHW: whole rows of tiles)
    workers: int
    scratch: int      # elements of scratch

    def describe(self) -> str:
        return (f"F({self.m}x{self.m}, 3x3) tiles, {self.chunk} per chunk, {self.workers} "
                f"workers (each its own chunks), {self.scratch} elements of scratch")


def _tiles(problem, m: int) -> tuple[int, int]:
    out_h, out_w = problem.geom.out
    return -(-out_h // m), -(-out_w // m)


def auto_tiles(dtype) -> tuple:
    """The tile sizes `auto` may run in `dtype` (their error bound within AUTO_BOUND)."""
    dtype = np.dtype(dtype)
    return tuple(m for m in TILE_SIZES if ERROR_BOUND[(dtype, m)] <= AUTO_BOUND[dtype])


def plan_winograd(problem, machine, m: int) -> WinogradPlan | None:
    """Chunks and scratch for F(m x m, 3 x 3) on `problem`, or None when one
    row of tiles does not fit the workspace budget (cached: every call and
    every estimate asks)."""
    return _plan_cached(problem, machine, m, CHUNK_TILES, _plan.PARALLEL_MIN_FLOPS)


@functools.lru_cache(maxsize=256)
def _plan_cached(problem, machine, m: int, chunk_tiles: int, parallel_min_flops: int):
    # the module constants are arguments: a test that changes one is never
    # served a stale plan
    tiles_h, tiles_w = _tiles(problem, m)
    total = problem.batch * tiles_h * tiles_w
    workers = 1
    if machine.blas_from_numba and problem.flops >= parallel_min_flops:
        workers = machine.threads  # as plan.workers_for: the BLAS threads
    aa = (m + 2) ** 2
    itemsize = np.dtype(problem.dtype).itemsize
    channels, filters = problem.channels, problem.filters
    layout = problem.layout
    chunk = min(chunk_tiles, -(-total // workers))
    if layout == "NCHW":  # whole rows of tiles
        chunk = max(1, -(-chunk // tiles_w)) * tiles_w

    def length(chunk):
        if layout == "NCHW":
            return workers * aa * chunk * (channels + filters + 2)
        return workers * aa * (chunk * (channels + filters) + 2 * max(channels, filters))

    step = tiles_w if layout == "NCHW" else 1
    while chunk > step and length(chunk) * itemsize > machine.budget:
        chunk = max(step, (chunk // 2) // step * step)
    if length(chunk) * itemsize > machine.budget:
        return None
    return WinogradPlan(m, chunk, workers, length(chunk))


def supports(problem, machine, m: int | None = None) -> str | None:
    """None if F(m x m, 3 x 3) (any tile size when `m` is None) can run
    `problem`, else why not."""
    g = problem.geom
    if tuple(g.kernel) != (3, 3):
        return f"it needs a 3x3 kernel, got {g.kernel[0]}x{g.kernel[1]}"
    if tuple(g.stride) != (1, 1):
        return f"it needs stride 1, got stride {tuple(g.stride)}"
    if tuple(g.dilation) != (1, 1):
        return f"it needs dilation 1, got dilation {tuple(g.dilation)}"
    if problem.flops == 0:
        return "the problem is empty"
    if np.dtype(problem.dtype) not in (np.float32, np.float64):
        return f"it needs float32 or float64, got {np.dtype(problem.dtype)}"
    sizes = TILE_SIZES if m is None else (m,)
    if all(plan_winograd(problem, machine, size) is None for size in sizes):
        return (f"one row of tiles' transformed buffers exceeds the workspace budget "
                f"({machine.budget} bytes)")
    return None


def estimate(problem, machine, m: int) -> float:
    """Expected time of F(m x m, 3 x 3) relative to the bare GEMM of the
    problem's direct flops (see the cost model's constants above)."""
    tiles_h, tiles_w = _tiles(problem, m)
    out_h, out_w = problem.geom.out
    tiles = problem.batch * tiles_h * tiles_w
    a = m + 2
    aa = a * a
    cg = problem.channels // problem.groups
    fg = problem.filters // problem.groups
    pairs = problem.groups * cg * fg
    direct = problem.batch * out_h * out_w * 9.0 * pairs
    plan = plan_winograd(problem, machine, m)
    chunk = min(plan.chunk if plan is not None else 1, tiles)
    gemm = tiles * aa * pairs * GEMM_COST * (1.0 + CHUNK_COST / chunk)
    b_nnz, a_nnz = _nonzeros(m)
    transforms = tiles * (INPUT_COST * problem.channels * (2 * b_nnz + aa)
                          + OUTPUT_COST * problem.filters * ((m * a + m * m) * a_nnz / m + m * m))
    if problem.layout == "NHWC":
        transforms *= NHWC_TRANSFORMS
    filters = FILTER_COST * aa * pairs * max(1, machine.threads)
    return (gemm + transforms + filters) / direct + MARGIN


@functools.lru_cache(maxsize=None)
def _nonzeros(m: int) -> tuple[float, float]:
    """Multiply-adds of B^T d B per a*a tile (both passes: a*a outputs each,
    the nonzeros of a row of B^T each), and the nonzeros of A^T (m x a)."""
    bt, _, at = _wg.matrices(m)
    return float(np.count_nonzero(bt) * (m + 2)), float(np.count_nonzero(at))


def transformed_weight(weight: np.ndarray, m: int, workers: int, out: np.ndarray) -> np.ndarray:
    """``out (a*a, F, C/groups)`` = G g G^T of every kernel (the backend's
    kernel, else `_core.winograd.filter_transform`)."""
    kernel = getattr(backend_module(), "winograd_filter_transform", None)
    if kernel is None:
        return _wg.filter_transform(weight, m, out)
    return kernel(weight, m, workers, out)


def run_winograd(x, weight, bias, out, problem, machine, m: int) -> bool:
    """``out = conv(x, weight) + bias`` by F(m x m, 3 x 3) (`x`, `out` 4-D,
    C-contiguous, in `problem`'s layout). False, with `out` garbage, when an
    operand holds inf or NaN: the caller computes the call another way."""
    geom, groups, layout = problem.geom, problem.groups, problem.layout
    if not np.isfinite(weight).all():
        return False
    plan = plan_winograd(problem, machine, m)
    # one scratch buffer (reused call to call: no page faults on the
    # transformed weight, a*a/9 times the weight's size): U, then the kernel's
    u_len = (m + 2) ** 2 * weight.shape[0] * weight.shape[1]
    buf = scratch((u_len + plan.scratch,), x.dtype)
    u = transformed_weight(weight, m, plan.workers, buf[:u_len].reshape((m + 2) ** 2,
                                                                       *weight.shape[:2]))
    work = buf[u_len:]
    bt, _, at = _wg.matrices(m, x.dtype)
    backend = backend_module()
    gemm = _plan.native_gemm(backend, x.dtype, problem.flops, force=True)
    if gemm is None or getattr(backend, "conv_winograd", None) is None:
        from .._kernels.numpy.winograd import conv_winograd as numpy_winograd

        return numpy_winograd(x, u, bias, out, bt, at, groups, geom.pad_top, geom.pad_left,
                              plan.chunk, layout)
    with single_threaded_blas() if plan.workers > 1 else nullcontext():
        return backend.conv_winograd(gemm, x, u, bias, out, bt, at, groups, geom.pad_top,
                                     geom.pad_left, plan.chunk, plan.workers, work, layout)


def best_tile(problem, machine) -> int:
    """The tile size 'winograd' runs: the lowest estimate among those `auto`
    accepts for the dtype that fit the budget."""
    sizes = [m for m in auto_tiles(problem.dtype) if plan_winograd(problem, machine, m) is not None]
    return min(sizes or TILE_SIZES, key=lambda m: estimate(problem, machine, m))


def winograd_driver(x, weight, bias, out, geom, groups: int, layout: str, budget: int,
                    m: int | None = None) -> None:
    """``out = conv(x, weight) + bias`` by F(m x m, 3 x 3) (m None:
    `best_tile`), or by im2col when an operand holds inf or NaN."""
    channels = x.shape[1] if layout == "NCHW" else x.shape[3]
    size = x.shape[2:] if layout == "NCHW" else x.shape[1:3]
    problem = ConvProblem(x.shape[0], channels, weight.shape[0], tuple(size), geom, groups,
                          x.dtype, layout, bias is not None)
    machine = current_machine(x.dtype, budget)
    if m is None:
        m = best_tile(problem, machine)
    if not run_winograd(x, weight, bias, out, problem, machine, m):
        driver = conv_nchw if layout == "NCHW" else conv_nhwc
        driver(x, weight, bias, out, geom, groups, budget, "im2col")
