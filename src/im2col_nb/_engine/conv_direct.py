"""The direct method of conv2d and of its weight gradient: when it pays.

The direct kernels (``_kernels/numba/direct.py``) skip the patch matrix and
BLAS: each pass adds up to nine taps of two filters into accumulators held
in L1, at 80-130 GFLOP/s on 2 threads of the machine the constants below
were fitted on, almost whatever the problem. A GEMM, by contrast, is fast
only when its M (filters per group) is large: with few filters each packed
patch element is used a few times only, and the patch matrix itself costs
as much as the multiply. So direct wins on few filters per group, above all
depthwise (one filter per group: per-group GEMMs of one row), and loses to
the GEMM methods from about 32 filters per group on.

The estimate is direct's time relative to the bare GEMM of the problem's
size, the unit of conv2d's estimates, as im2col's 1.1 times the
direct / im2col time ratio this model predicts::

    ratio = RATIO * fg / (fg + FILTERS_HALF) * (SINGLE if fg == 1)
                  * (1 + PLANE_COST / output positions per image)
                  * (STRIDED if a stride exceeds 1)

fitted (least squares on the log ratio, rms error 0.29 in log) on 294
problems: C/groups 1-64, filters per group 1-128, 3x3-7x7 kernels, 28-112
pixels, strides 1 and 2, depthwise on 7-112 pixels; float32, 2 threads,
AMD EPYC (Zen 4) (``python bench/bench_direct.py --grid [--stride 2]``,
then ``--fit``). It puts 273 of them on the right side of 1 or within 15 %
of it; the rest are near the crossing (16-32 filters per group, measured
0.75-1.8). On vector units narrower
than 512 bits the two-filter passes need more registers than there are
(18 weights and 9 inputs in 16 registers), so the estimate is scaled by
NARROW_SIMD there (`machine.Machine.simd`).
"""

from __future__ import annotations

import numpy as np

from .._core.backend import backend_module

__all__ = ["describe", "direct_conv", "estimate", "run_direct", "weight_estimate"]

IM2COL = 1.1           # im2col's estimate for a kernel larger than 1x1 (`conv.py`)
RATIO = 1.52
FILTERS_HALF = 12
SINGLE = 3.47
PLANE_COST = 100
STRIDED = 1.25
NARROW_SIMD = 1.3
# The NHWC kernel vectorises over a tap's filters (one filter per group:
# over the channels), with the accumulators in memory: measured 3.2-5.2x
# im2row + GEMM's time on 5x5 and 7x7 layers of 1-16 channels and 16-32
# filters (`python bench/bench_torch.py --passes nhwc --methods im2col,direct`),
# but 15-75x faster than im2row's per-group GEMMs on depthwise layers, where
# the NCHW model holds.
NHWC_GENERAL = 3.5
# The NumPy backend's direct method, one einsum per kernel tap: about 5x the
# bare GEMM on the benchmark layers.
NUMPY_BACKEND = 5.0
# The weight gradient: direct's time against the tile kernel's, the same
# form without the single-filter term, fitted on the 21 float32 layers of
# ``python bench/bench_torch.py --passes wgrad --methods tiles,direct``
# where both run (few channels, depthwise, U-Net, ResNet-18's first
# layers): direct 0.45-0.8x the tile kernel's time with 1-32 filters per
# group, 1.05-1.9x with 64.
WEIGHT_RATIO = 1.7
WEIGHT_FILTERS_HALF = 32
WEIGHT_TILES = 1.47   # the tile kernel's estimate (`grad.py`)
# NHWC operands are copied to NCHW first: measured 1.07-1.27x im2row's time
# where NCHW's direct/tiles ratio is about 1 (64 filters), 0.17-0.57x with
# 1-32 filters per group.
WEIGHT_NHWC_COPIES = 1.25


def _ratio(problem, machine, scale: float, half: int, single: float) -> float:
    fg = problem.filters // problem.groups
    ratio = scale * fg / (fg + half)
    if fg == 1:
        ratio *= single
    ratio *= 1 + PLANE_COST / max(1, problem.geom.out_area)
    if any(s > 1 for s in problem.geom.stride):
        ratio *= STRIDED
    if machine.simd < 512:
        ratio *= NARROW_SIMD
    return ratio


def estimate(problem, machine) -> float:
    """conv2d's direct loops: time relative to the bare GEMM of the problem."""
    if machine.backend != "numba":
        return NUMPY_BACKEND
    if problem.layout != "NCHW" and problem.channels != problem.groups:
        return IM2COL * NHWC_GENERAL
    return IM2COL * _ratio(problem, machine, RATIO, FILTERS_HALF, SINGLE)


def weight_estimate(problem, machine) -> float:
    """The weight gradient's direct loops, relative to the bare GEMM."""
    if machine.backend != "numba":
        return NUMPY_BACKEND
    copies = WEIGHT_NHWC_COPIES if problem.layout != "NCHW" else 1.0
    return WEIGHT_TILES * copies * _ratio(problem, machine, WEIGHT_RATIO, WEIGHT_FILTERS_HALF, 1.0)


def direct_conv(x, weight, bias, out, geom, groups, layout) -> None:
    """``out = conv2d(x, weight) + bias`` (bias may be None) by the direct kernels."""
    backend = backend_module()
    if layout == "NCHW":
        # The bias initialises the accumulators: no extra pass.
        backend.conv2d_direct_nchw(x, weight, out, geom, groups, bias=bias)
        return
    weight_hwcf = np.ascontiguousarray(weight.transpose(2, 3, 1, 0))
    backend.conv2d_direct_nhwc(x, weight_hwcf, out, geom, groups)
    if bias is not None:
        out += bias


def run_direct(call, out, budget) -> None:
    """conv2d of `call` into `out` by the direct kernels, bias included."""
    direct_conv(call.x, call.weight, call.bias, out, call.geom, call.groups, call.layout)


def describe(problem, machine, weight_grad: bool = False) -> str:
    """How the direct kernels cut `problem` (its conv2d, or `weight_grad`):
    one line for `explain`."""
    if machine.backend != "numba":
        return "one einsum per kernel tap over the whole batch (NumPy backend)"
    copies = "input and grad_output copied to NCHW; " if problem.layout != "NCHW" else ""
    if problem.layout != "NCHW" and not weight_grad:
        return ("one task per output row; each tap multiplies an input pixel's channels into its "
                "output's filters (NHWC)")
    from .._kernels.numba.direct import DirectLayout

    g = problem.geom
    lay = DirectLayout(problem.batch, problem.groups, problem.filters // problem.groups, g,
                       machine.threads)
    tasks = (f"{copies}tasks of {lay.filter_block} filter(s) x {lay.chunk_rows} output row(s) of "
             f"one image and group")
    if weight_grad:
        runs = "over the band" if lay.wide else "per output row"
        return (f"{tasks}; per input channel, each tap's dot products with grad_output {runs}, "
                f"summed per worker")
    runs = "one run per band" if lay.wide else "one run per output row"
    pair = "2 filters" if lay.filter_block > 1 else "1 filter"
    return f"{tasks}; per input channel, passes of up to 9 taps of {pair}, {runs}"
