"""The gradients' and conv_transpose2d's methods, registered with the engine,
and the drivers that run the choice.

Each op's problem is the `ConvProblem` of the *forward* convolution: for
the gradients the conv2d being differentiated, for conv_transpose2d the
conv2d it is the adjoint of (its input is the transposed convolution's
result, its output the transposed convolution's input).

``conv2d_input_grad`` and ``conv_transpose2d`` (the same computation):

========== ================================================ =====================
method     what it does                                      supports
========== ================================================ =====================
col2im     ``W^T @ grad_output`` (one GEMM per group), then  everything
           col2im (row2im for NHWC) sums each patch entry
           onto its pixel
full       stride 1: conv2d of ``grad_output`` with the       stride 1, forward
           flipped, channel-swapped kernel (the "full"        padding within the
           correlation), by conv2d's own ``auto`` method      kernel span, a
                                                              finite weight
pointwise  1x1 one-to-one: ``W^T @ grad_output``, no copy     1x1, stride 1, no pad
========== ================================================ =====================

``conv2d_weight_grad``:

========== ================================================ =====================
tiles      conv2d's cache-sized patch-matrix tiles, one GEMM  NCHW, Numba backend
           each, accumulated per worker in one parallel       with NumPy's BLAS
           Numba kernel
im2col     whole-batch im2col (im2row for NHWC) in chunks     everything
           within the workspace, batched GEMMs
pointwise  1x1 one-to-one: ``grad_output @ input^T``          1x1, stride 1, no pad
direct     direct loops: every tap's dot product of            everything (NHWC
           grad_output with the input it read, per worker     through NCHW copies)
========== ================================================ =====================

Estimates are times relative to one bare GEMM of the forward's size (each
gradient is one GEMM of the same flops), measured with 2 threads, float32,
on the benchmark layers (``bench/test_backward.py``, docs/benchmarks.md);
they reproduce the rules the drivers followed before they were methods.
"""

from __future__ import annotations

import functools

import numpy as np

from . import plan as _plan
from .backward import (
    chunk_count,
    col2im_chunking,
    full_correlation,
    input_grad_col2im,
    input_grad_full,
    input_grad_pointwise,
    weight_grad_direct,
    weight_grad_im2col,
    weight_grad_pointwise,
    weight_grad_tiles,
)
from . import conv_direct as _direct
from .conv import choose_conv2d, describe_plan
from .conv_nd import explain_planar, planar_method, run_planar
from .machine import current_machine
from .problem import ConvProblem, finite_weight_only, weight_checked
from .registry import Choice, Method, candidates, check_method, choose_here, register

__all__ = ["INPUT_GRAD_OPS", "WEIGHT_GRAD_OP", "choose_grad", "explain_grad", "full_problem", "pick",
           "run_input_grad", "run_weight_grad"]

INPUT_GRAD_OPS = ("conv2d_input_grad", "conv_transpose2d")
WEIGHT_GRAD_OP = "conv2d_weight_grad"

# Measured input gradient / bare GEMM (docs/benchmarks.md, "Backward
# passes"): GEMM + col2im 1.97 (resnet18-conv1), 2.44 (downsample), 2.63
# (lenet-c1); the full correlation where it pays 0.81 (r18-l1) - 1.44
# (r18-l4), 1.1-2.1x faster than col2im on the stride-1 layers (cifar 2.1x,
# r18-l1 2.0x, vgg-wide 1.4x, r18-l2 1.35x, r18-l3/l4 1.1-1.2x), but 4.7x
# slower on lenet-c1 (1 input channel, 32 filters: its patch matrix is 32x
# col2im's, and it runs no shifted GEMMs); the 1x1 one-to-one GEMM 1.24
# (pointwise).
COL2IM = 2.0
FULL_PAYS = 1.1
FULL_DOES_NOT_PAY = 4.7 * COL2IM
INPUT_POINTWISE = 1.24
# Measured weight gradient / bare GEMM: the tile kernel against the chunk
# loop (geomean of the bench layers) 1.47 against 1.84 -- r18-l4 1.5 against
# 3.5, downsample 2.0 against 3.0, cifar 1.5 against 1.8; the 1x1
# one-to-one GEMM 1.37 (pointwise). Below PARALLEL_MIN_FLOPS the tile
# kernel saves nothing, and a process whose calls are all that small should
# never compile it (`plan.native_gemm`): there it is estimated above the
# chunk loop.
WEIGHT_IM2COL = 1.84
WEIGHT_TILES = 1.47
WEIGHT_TILES_SMALL = 2.0
WEIGHT_POINTWISE = 1.37


# ---------------------------------------------------------------------------
# problems
# ---------------------------------------------------------------------------


def one_to_one(problem: ConvProblem) -> bool:
    """1x1 kernel, stride 1, no padding, output the input's size: the input
    *is* the patch matrix (and grad_output the input gradient's)."""
    return (_plan.is_pointwise(problem.geom)
            and tuple(problem.geom.out) == tuple(problem.in_size))


@functools.lru_cache(maxsize=256)
def full_problem(problem: ConvProblem) -> ConvProblem | None:
    """The conv2d problem of the full correlation (`backward.full_correlation`):
    grad_output convolved into the input gradient; None where there is none."""
    full = full_correlation(problem.geom, *problem.in_size)
    if full is None:
        return None
    return ConvProblem(problem.batch, problem.filters, problem.channels, tuple(problem.geom.out),
                       full, problem.groups, problem.dtype, problem.layout, False)


def _everything(problem, machine):
    return None


def _one_to_one_only(problem, machine):
    return None if one_to_one(problem) else "it needs a 1x1 kernel, stride 1 and no padding"


# ---------------------------------------------------------------------------
# input gradient and conv_transpose2d
# ---------------------------------------------------------------------------


def _full_supports(problem, machine):
    stride = problem.geom.stride
    if any(s != 1 for s in stride):
        return f"it needs stride 1, got stride {stride}"
    if full_problem(problem) is None:
        return "the forward padding exceeds the dilated kernel span minus one"
    return None


def _full_estimate(problem, machine):
    if one_to_one(problem):
        # conv2d's pointwise GEMMs on grad_output, after a copy of the weight
        return INPUT_POINTWISE + 0.05
    full = full_problem(problem)
    chosen = choose_conv2d(full, machine.budget)
    if chosen.name.startswith("winograd") or chosen.name == "direct":
        # conv2d's estimate, plus flipping the weight
        return chosen.estimate(full, machine) + 0.02
    # Pays when it runs as shifted GEMMs (no patch matrix, no col2im), or the
    # input has at least as many channels as there are filters (its patch
    # matrix is then no bigger than the C*kh*kw x positions col2im sums).
    if problem.channels >= problem.filters or _plan.runs_shifted(
            full.channels, full.filters, full.geom, full.groups, full.dtype, full.flops):
        return FULL_PAYS
    return FULL_DOES_NOT_PAY


def _col2im_run(problem, go, weight, out, budget):
    input_grad_col2im(go, weight, out, problem.geom, problem.groups, problem.layout, budget)


def _full_run(problem, go, weight, out, budget):
    full = full_problem(problem)
    input_grad_full(go, weight, out, full.geom, problem.groups, problem.layout, budget,
                    choose_conv2d(full, budget).name)


def _input_pointwise_run(problem, go, weight, out, budget):
    input_grad_pointwise(go, weight, out, problem.geom, problem.groups, problem.layout, budget)


for _op in INPUT_GRAD_OPS:
    register(Method(_op, "col2im",
                    "W^T @ grad_output, one GEMM per group, then col2im (row2im for NHWC) sums "
                    "each patch entry onto its pixel; any problem",
                    _everything, lambda p, m: COL2IM, _col2im_run))
    register(Method(_op, "full",
                    "stride 1: conv2d of grad_output with the flipped, channel-swapped kernel "
                    "(the full correlation), by conv2d's own method choice; no col2im",
                    _full_supports, _full_estimate, _full_run, exact=finite_weight_only))
    register(Method(_op, "pointwise",
                    "1x1 stride-1 unpadded kernels: W^T @ grad_output, one GEMM per group, no copy",
                    _one_to_one_only, lambda p, m: INPUT_POINTWISE, _input_pointwise_run))


# ---------------------------------------------------------------------------
# weight gradient
# ---------------------------------------------------------------------------


def _tiles_supports(problem, machine):
    if problem.layout != "NCHW":
        return "it is NCHW only (NHWC accumulates im2row chunks: 'im2col')"
    if not machine.blas_from_numba:
        return "it calls BLAS from Numba kernels: it needs the numba backend and NumPy's BLAS GEMM"
    return None


def _tiles_estimate(problem, machine):
    return WEIGHT_TILES if problem.flops >= _plan.PARALLEL_MIN_FLOPS else WEIGHT_TILES_SMALL


def _weight_run(driver):
    def run(problem, x, go, gw, budget):
        driver(x, go, gw, problem.geom, problem.groups, problem.layout, budget)
    return run


register(Method(WEIGHT_GRAD_OP, "tiles",
                "conv2d's cache-sized patch-matrix tiles, one GEMM each, accumulated per worker "
                "in one parallel Numba kernel (NCHW)",
                _tiles_supports, _tiles_estimate, _weight_run(weight_grad_tiles)))
register(Method(WEIGHT_GRAD_OP, "im2col",
                "im2col (im2row for NHWC) of chunks of images or output rows within the "
                "workspace, one batched GEMM per group each; any problem",
                _everything, lambda p, m: WEIGHT_IM2COL, _weight_run(weight_grad_im2col)))
register(Method(WEIGHT_GRAD_OP, "pointwise",
                "1x1 stride-1 unpadded kernels: grad_output @ input^T, one GEMM per group, no copy",
                _one_to_one_only, lambda p, m: WEIGHT_POINTWISE, _weight_run(weight_grad_pointwise)))
register(Method(WEIGHT_GRAD_OP, "direct",
                "direct loops, no patch matrix or BLAS: each tap's dot product of grad_output "
                "with the input it read, per worker; few filters per group, depthwise",
                _everything, _direct.weight_estimate, _weight_run(weight_grad_direct)))


# ---------------------------------------------------------------------------
# choosing and running
# ---------------------------------------------------------------------------


def choose_grad(op: str, problem: ConvProblem, budget: int, method="auto") -> Method:
    """The method of `op` to run `problem` with (cached per problem, machine
    and tuning); raises ValueError for an unknown or unsupported `method`."""
    return choose_here(op, problem, budget, method)


def pick(op: str, problem: ConvProblem, budget: int, method, result, operands) -> Method | None:
    """The method of `op` that computes `result` from `operands`, or None
    where there is nothing to compute: an empty `result`, or an empty
    operand (nothing summed: the result is zero). Their GEMMs and chunking
    assume non-empty arrays, so no method runs then; `method` is still
    checked by name."""
    if problem.geom.mode != "zeros":  # run by run_planar; checked here in the op's words
        planar_method(op, problem, method)
        return None
    if result.size and all(a.size for a in operands):
        return choose_grad(op, problem, budget, method)
    check_method(op, method)
    return None


def run_input_grad(op: str, problem: ConvProblem, go, weight, out, budget: int,
                   method="auto") -> None:
    """Overwrite `out` (the forward's input-shaped, 4-D) with the adjoint of
    conv2d(., weight) applied to `go` (the forward's output-shaped, 4-D), by
    `method` of `op` (``"conv2d_input_grad"`` or ``"conv_transpose2d"``)."""
    problem = weight_checked(problem, weight)
    if problem.geom.mode != "zeros":  # a padding mode: the N-D kernels, on a unit depth
        run_planar(op, problem, go, weight, out, budget, method)
        return
    chosen = pick(op, problem, budget, method, out, (go,))
    if chosen is not None:
        chosen.run(problem, go, weight, out, budget)
    elif out.size:
        out[...] = 0


def run_weight_grad(problem: ConvProblem, x, go, gw, budget: int, method="auto") -> None:
    """Overwrite `gw` (F, C/groups, kh, kw) with the weight gradient of
    conv2d(x, .) for the output gradient `go`, by `method`."""
    if problem.geom.mode != "zeros":
        run_planar(WEIGHT_GRAD_OP, problem, x, go, gw, budget, method)
        return
    chosen = pick(WEIGHT_GRAD_OP, problem, budget, method, gw, (go, x))
    if chosen is not None:
        chosen.run(problem, x, go, gw, budget)
    elif gw.size:
        gw[...] = 0


# ---------------------------------------------------------------------------
# explaining
# ---------------------------------------------------------------------------


def describe_grad_plan(problem: ConvProblem, machine, method: str) -> str:
    """How `method` will cut `problem`'s gradient: its plan, in one line."""
    if problem.flops == 0:
        return "nothing to compute (an empty axis)"
    g = problem.geom
    itemsize = np.dtype(problem.dtype).itemsize
    if method == "pointwise":
        return "one GEMM per group on the whole batch, no patch matrix"
    if method == "direct":
        return _direct.describe(problem, machine, weight_grad=True)
    if method == "full":
        full = full_problem(problem)
        conv = choose_conv2d(full, machine.budget)
        return (f"conv2d with the flipped kernel by {conv.name!r} (padding {full.geom.padding}): "
                f"{describe_plan(full, machine, conv.name)}")
    if method == "col2im":
        if problem.layout == "NCHW":
            images, chans = col2im_chunking(problem.batch, problem.channels, g, itemsize,
                                            machine.budget)
            count = -(-problem.batch // images) * -(-problem.channels // chans)
            what = "col2im"
        else:
            count = chunk_count(problem.batch, g.out_h,
                                problem.channels * g.kernel_area * g.out_w * itemsize, machine.budget)
            what = "row2im"
        return f"{count} chunk(s) of W^T @ grad_output, each summed back by {what}"
    if method == "tiles":
        plan = _plan.plan_nchw(problem.batch, problem.channels, problem.filters, g, problem.groups,
                               itemsize, machine.budget, False, _plan.workers_for(problem.flops),
                               True, _plan.tuning(), "im2col")
        return plan.describe() + ", one accumulator per worker"
    count = chunk_count(problem.batch, g.out_h, problem.channels * g.kernel_area * g.out_w * itemsize,
                        machine.budget)
    return (f"{count} chunk(s) of {'im2col' if problem.layout == 'NCHW' else 'im2row'}, "
            f"one batched GEMM per group each")


def explain_grad(op: str, problem: ConvProblem, budget: int, method="auto",
                 weight=None) -> Choice:
    """The `Choice` `run_input_grad` / `run_weight_grad` makes for `problem`
    under `op`, without running it (`weight`: the input gradient's or
    transposed convolution's weight, whose inf or NaN rule methods out)."""
    if weight is not None and op in INPUT_GRAD_OPS:
        problem = weight_checked(problem, weight)
    if problem.geom.mode != "zeros":
        return explain_planar(op, problem, budget, method)
    chosen = choose_grad(op, problem, budget, method)
    machine = current_machine(np.dtype(problem.dtype), budget)
    what = {"conv2d_input_grad": "input gradient of conv2d", "conv_transpose2d": "adjoint of conv2d",
            WEIGHT_GRAD_OP: "weight gradient of conv2d"}[op]
    return Choice(op, chosen.name, method.lower(), f"{what} {problem.describe()}",
                  machine.describe(), tuple(candidates(op, problem, machine)),
                  describe_grad_plan(problem, machine, chosen.name))
