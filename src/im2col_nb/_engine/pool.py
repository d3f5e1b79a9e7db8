"""Pooling's methods, registered with the engine, and the drivers that run them.

``max_pool2d`` and ``avg_pool2d`` each have two methods:

========== ================================================== ==========
method     what it does                                       supports
========== ================================================== ==========
direct     fused windowed kernel: reads each window of the     everything
           input in place, no patch matrix
im2col     the seed's recipe: the patch matrix (in chunks      everything
           within the workspace budget), then a max / sum of
           each window's column (NCHW) or row (NHWC)
========== ================================================== ==========

Estimates are times relative to the direct kernel (see `IM2COL_OVER_DIRECT`
for what was measured); ``auto`` picks the lowest, the direct kernel
everywhere measured. Both give identical results (values, indices, ties,
NaN) on both backends. The backward passes have one driver each
(`max_pool2d_backward`, `avg_pool2d_backward`) and no method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._core.backend import backend_module
from .._core.geometry import Geometry
from .._core.validation import describe
from .._core.workspace import chunking, chunks, resolve_budget, scratch
from .machine import current_machine
from .registry import Choice, Method, candidates, check_method, choose_here, methods, register

__all__ = ["IM2COL_OVER_DIRECT", "PoolCall", "PoolProblem", "avg_pool2d_backward",
           "choose_pool2d", "describe_plan", "explain_pool2d", "max_pool2d_backward",
           "pool_call", "pool_method", "pool_out_shape", "run_pool2d"]

UNIT = "direct kernel time"

_NO_INDICES = np.empty((0, 0, 0, 0), dtype=np.int64)
# dtype.name costs ~2 us (NumPy builds it in Python); a call's pooling is ~15 us
_DTYPE_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


# ---------------------------------------------------------------------------
# the problem and the call
# ---------------------------------------------------------------------------


def pool_out_shape(layout: str, n_img: int, channels: int, geom: Geometry) -> tuple:
    """The 4-D pooled shape in `layout`."""
    if layout == "NCHW":
        return (n_img, channels, geom.out_h, geom.out_w)
    return (n_img, geom.out_h, geom.out_w, channels)


class PoolProblem(NamedTuple):
    """What a pooling is, without its data: the key methods are chosen by.

    ``in_size`` and the geometry are per spatial axis; ``layout`` is 'NCHW'
    or 'NHWC'; the flags are the op's (``return_indices`` for max_pool2d,
    ``count_include_pad`` and ``divisor`` -- `divisor_override`, 0 for
    None, as the kernels take it -- for avg_pool2d; the other op's keep
    their defaults).
    """

    op: str
    batch: int
    channels: int
    in_size: tuple
    geom: Geometry
    dtype: str
    layout: str
    return_indices: bool = False
    count_include_pad: bool = True
    divisor: int = 0

    @property
    def out_shape(self) -> tuple:
        return pool_out_shape(self.layout, self.batch, self.channels, self.geom)

    @property
    def taps(self) -> int:
        """Window taps read: ``N*C*OH*OW*kh*kw``, the comparisons / additions."""
        return self.batch * self.channels * self.geom.out_area * self.geom.kernel_area

    def describe(self) -> str:
        """One line: shapes, window, dtype, layout, flags."""
        g = self.geom
        pads = tuple(lo if lo == hi else (lo, hi) for lo, hi in g.padding)
        size = "x".join(map(str, self.in_size))
        kernel = "x".join(map(str, g.kernel))
        out = "x".join(map(str, g.out))
        text = (f"{self.batch} x {self.channels} ch {size} ({self.layout}, {self.dtype}), "
                f"{kernel} windows, stride {g.stride}, padding {pads}")
        if self.op == "max_pool2d":
            text += f", dilation {g.dilation}"
        text += f" -> {out}"
        if self.return_indices:
            text += ", indices"
        if not self.count_include_pad:
            text += ", count_include_pad=False"
        if self.divisor:
            text += f", divisor_override {self.divisor}"
        return text


@dataclass
class PoolCall:
    """A validated pooling call: the kernel-ready 4-D input, its problem and
    whether the user's input had no batch axis."""

    x: np.ndarray          # (N, C, H, W) or (N, H, W, C), C-contiguous
    problem: PoolProblem
    unbatched: bool
    result_dtype: np.dtype  # what the user gets back (float16 input: computed in float32)

    def finish(self, arr: np.ndarray) -> np.ndarray:
        """`arr` without the batch axis the user's input did not have."""
        return arr[0] if self.unbatched else arr


def pool_call(op: str, x: np.ndarray, layout: str, geom: Geometry, unbatched: bool,
              result_dtype=None, **flags) -> PoolCall:
    """The `PoolCall` of validated arguments (`flags`: PoolProblem's)."""
    if layout == "NCHW":
        n_img, channels, *size = x.shape
    else:
        n_img, *size, channels = x.shape
    dtype = _DTYPE_NAMES.get(x.dtype) or x.dtype.name
    problem = PoolProblem(op, n_img, channels, tuple(size), geom, dtype, layout, **flags)
    return PoolCall(x, problem, unbatched, x.dtype if result_dtype is None else result_dtype)


def pool_method(op: str, method) -> str:
    """`method` checked for `op`: None is ``"auto"``; ValueError listing the
    methods for anything else that is not one."""
    if method is None:
        return "auto"
    try:
        return check_method(op, method)
    except ValueError:
        names = ", ".join(repr(n) for n in ("auto", *(m.name for m in methods(op))))
        raise ValueError(f"`method` must be None or one of {names}, got {describe(method)}") from None


# ---------------------------------------------------------------------------
# the methods
# ---------------------------------------------------------------------------


def _channels_last(arr, problem: PoolProblem):
    """(N', H, W, C') view the direct kernels take: NHWC as is,
    NCHW as N*C one-channel images (a free reshape of a contiguous array)."""
    if problem.layout == "NCHW":
        return arr.reshape(problem.batch * problem.channels, arr.shape[2], arr.shape[3], 1)
    return arr


def _patches(x, problem: PoolProblem, budget: int, reduce) -> None:
    """Build the patch matrix chunk by chunk and hand each to `reduce(patches,
    n_start, row_start)`."""
    backend = backend_module()
    geom = problem.geom
    k_total = problem.channels * geom.kernel_area
    for n0, n1, r0, r1 in chunks(problem.batch, geom.out_h, k_total * geom.out_w * x.dtype.itemsize,
                                 budget):
        count = (r1 - r0) * geom.out_w
        if problem.layout == "NCHW":
            patches = scratch((n1 - n0, k_total, count), x.dtype)
            backend.im2col(x[n0:n1], patches, geom, r0, r1 - r0)
        else:
            patches = scratch((n1 - n0, count, k_total), x.dtype)
            backend.im2row_nhwc(x[n0:n1], patches, geom, 1, r0, r1 - r0)
        reduce(patches, n0, r0)


# Each method's run(call, out, indices, budget) fills `out` (and max_pool2d's
# `indices`, when asked for) for a call whose output is not empty.

def _max_direct(call, out, indices, budget):
    p = call.problem
    backend_module().max_pool2d_direct(
        _channels_last(call.x, p), _channels_last(out, p),
        _channels_last(indices, p) if p.return_indices else indices, p.geom)


def _max_im2col(call, out, indices, budget):
    p = call.problem
    backend = backend_module()
    reducer = backend.max_pool2d_reduce_cols if p.layout == "NCHW" else backend.max_pool2d_reduce_rows
    height, width = p.in_size
    _patches(call.x, p, budget,
             lambda patches, n0, r0: reducer(patches, out, indices, p.geom, height, width, n0, r0))


def _avg_direct(call, out, indices, budget):
    p = call.problem
    backend_module().avg_pool2d_direct(_channels_last(call.x, p), _channels_last(out, p), p.geom,
                                       p.count_include_pad, p.divisor)


def _avg_im2col(call, out, indices, budget):
    p = call.problem
    backend = backend_module()
    reducer = backend.avg_pool2d_reduce_cols if p.layout == "NCHW" else backend.avg_pool2d_reduce_rows
    height, width = p.in_size
    _patches(call.x, p, budget,
             lambda patches, n0, r0: reducer(patches, out, p.geom, height, width, n0, r0,
                                             p.count_include_pad, p.divisor))


def _everything(problem, machine):
    return None


def _floats_only(problem, machine):
    if problem.dtype in ("float32", "float64"):
        return None
    return (f"it reduces a zero-padded patch matrix, float inputs only (got {problem.dtype}); "
            "the direct kernel keeps the dtype")


# im2col's time over the direct kernel's, per (op, layout). Measured with
# ``python bench/bench_pooling.py`` (Numba backend, float32, best of 7 on a
# shared 2-core machine; the Notes of max_pool2d / avg_pool2d), input
# 16x64x56x56, k=3, s=2, p=1:
#   max_pool2d NCHW: direct 4.4 ms, im2col 12.7 ms (2.9x)
#              NHWC: direct 0.9 ms, im2col 13.5 ms (15x)
#   avg_pool2d NCHW: direct 3.8 ms, im2col 28 ms   (7.4x)
#              NHWC: direct 0.7 ms, im2col 9.1 ms  (13x)
# and max_pool2d NCHW k=2, s=2: 2.2 vs 10.0 ms (4.5x); k=3, s=1: 4.2 vs
# 11.6 ms (2.8x). Both read every tap once; im2col also writes and re-reads
# the patch matrix (kh*kw times the output), so it was slower in every case.
# Rechecked when these were registered, on a shared 2-core AMD EPYC under
# other load (interleaved, median of 25, float32): NHWC still 6-20x, but
# NCHW im2col/direct only 0.90-1.52 (max k=2 s=2: 0.90; k=3 s=2 p=1: 1.01;
# k=3 s=1 p=1 on 8x128x28x28: 1.52) -- re-measure on a quiet machine
# before trusting the NCHW figures beyond "direct is not slower".
IM2COL_OVER_DIRECT = {
    ("max_pool2d", "NCHW"): 2.9,
    ("max_pool2d", "NHWC"): 15.0,
    ("avg_pool2d", "NCHW"): 7.4,
    ("avg_pool2d", "NHWC"): 13.0,
}


def _im2col_estimate(problem, machine):
    return IM2COL_OVER_DIRECT[problem.op, problem.layout]


_DIRECT = "fused windowed kernel: reads each window in place, no patch matrix, no workspace"
_IM2COL = ("the seed's recipe: the patch matrix in chunks within the workspace budget, "
           "then a {} of each window")

for _op, _direct, _im2col, _reduce in (("max_pool2d", _max_direct, _max_im2col, "max"),
                                       ("avg_pool2d", _avg_direct, _avg_im2col, "sum")):
    # direct first: it also wins a tie
    register(Method(_op, "direct", _DIRECT, _everything, lambda p, m: 1.0, _direct))
    register(Method(_op, "im2col", _IM2COL.format(_reduce),
                    _floats_only if _op == "max_pool2d" else _everything, _im2col_estimate,
                    _im2col))
del _op, _direct, _im2col, _reduce


# ---------------------------------------------------------------------------
# choosing, running, explaining
# ---------------------------------------------------------------------------


def choose_pool2d(problem: PoolProblem, budget: int, method: str = "auto") -> Method:
    """The method to run `problem` with (cached per problem, machine and
    method); `method` as `pool_method` returns it."""
    return choose_here(problem.op, problem, budget, method)


def run_pool2d(call: PoolCall, method: str = "auto"):
    """Pool `call` by `method` (or the one ``auto`` picks): the 4-D result and
    max_pool2d's 4-D int64 indices (an empty array unless asked for)."""
    p = call.problem
    out = np.empty(p.out_shape, dtype=call.x.dtype)
    indices = np.empty(p.out_shape, dtype=np.int64) if p.return_indices else _NO_INDICES
    if out.size:
        budget = resolve_budget(None)
        choose_pool2d(p, budget, method).run(call, out, indices, budget)
    return out, indices


def describe_plan(problem: PoolProblem, machine, method: str) -> str:
    """How `method` will cut `problem`'s work, in one line."""
    if problem.taps == 0:
        return "nothing to compute (an empty batch)"
    if method == "direct":
        return "direct windowed kernel over output rows, no workspace"
    geom = problem.geom
    row_bytes = problem.channels * geom.kernel_area * geom.out_w * np.dtype(problem.dtype).itemsize
    images, rows = chunking(problem.batch, geom.out_h, row_bytes, machine.budget)
    count = math.ceil(problem.batch / images) * math.ceil(geom.out_h / rows)
    what = f"{images} image(s)" if rows == geom.out_h else f"{rows} output row(s) of one image"
    reduce = "max" if problem.op == "max_pool2d" else "sum"
    along = "column" if problem.layout == "NCHW" else "row"
    return (f"patch matrix in {count} chunk(s) of {what} ({images * rows * row_bytes / 2**20:.3g} "
            f"MiB each) within the workspace budget ({machine.budget / 2**20:g} MiB), "
            f"then a {reduce} of each {along}")


def explain_pool2d(call: PoolCall, method: str = "auto") -> Choice:
    """The `Choice` `run_pool2d` makes for `call`, without running it."""
    problem = call.problem
    budget = resolve_budget(None)
    chosen = choose_pool2d(problem, budget, method)
    machine = current_machine(np.dtype(problem.dtype), budget)
    return Choice(problem.op, chosen.name, method, problem.describe(), machine.describe(),
                  tuple(candidates(problem.op, problem, machine)),
                  describe_plan(problem, machine, chosen.name), UNIT)


# ---------------------------------------------------------------------------
# backward: one driver each
# ---------------------------------------------------------------------------


def max_pool2d_backward(g, idx, grad_input, layout: str) -> None:
    """Scatter `g` (4-D, kernel-ready) into `grad_input` (4-D, the input's
    shape) at the flat plane positions `idx` (int64, `g`'s shape)."""
    if not grad_input.size:
        return
    if g.size == 0:
        grad_input[...] = 0
        return
    if layout == "NCHW":
        n_img, channels, height, width = grad_input.shape
        planes = n_img * channels
        backend_module().max_pool2d_backward(
            g.reshape(planes, -1, 1), idx.reshape(planes, -1, 1),
            grad_input.reshape(planes, height * width, 1))
    else:
        n_img, height, width, channels = grad_input.shape
        backend_module().max_pool2d_backward(
            g.reshape(n_img, -1, channels), idx.reshape(n_img, -1, channels),
            grad_input.reshape(n_img, height * width, channels))


def avg_pool2d_backward(g, grad_input, geom: Geometry, layout: str, count_include_pad: bool,
                        divisor) -> None:
    """Spread `g` (4-D, kernel-ready, the forward output's shape) over
    `grad_input` (4-D, the input's shape)."""
    if not grad_input.size:
        return
    if layout == "NCHW":
        n_img, channels = grad_input.shape[:2]
        g = g.reshape(n_img * channels, g.shape[2], g.shape[3], 1)
        grad_input = grad_input.reshape(n_img * channels, *grad_input.shape[2:], 1)
    backend_module().avg_pool2d_backward(g, grad_input, geom, count_include_pad, divisor)
