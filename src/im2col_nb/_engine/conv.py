"""conv2d's methods, registered with the engine, and the driver that runs the choice.

========== ================================================ =====================
method     what it does                                      supports
========== ================================================ =====================
im2col     patch-matrix tiles, one GEMM per tile (any size)  everything
pointwise  the input is the patch matrix: GEMMs on it        1x1, stride 1, no pad
shift      kh*kw GEMMs on shifted views, no patch matrix     stride 1, groups 1,
                                                             Numba backend
winograd   Winograd F(m x m, 3 x 3): (m+2)**2 GEMMs of        3x3, stride 1,
winograd2  transformed tiles, 2.25-5x fewer multiplies;       dilation 1
winograd4  'winograd' is the tile size with the lowest
winograd6  estimate among those auto accepts for the dtype
direct     register-blocked direct loops, no patch matrix     everything
           or GEMM: up to nine taps of two filters per pass
           over accumulators in L1
========== ================================================ =====================

Estimates are times relative to one bare GEMM of the problem's size (2
threads, float32, the benchmark layers of ``bench/suite.py``; rerun with
``python -m pytest bench --benchmark-json=out.json`` and ``python
bench/report.py out.json``): patch-matrix tiles measured 1.03-1.2x, the
pointwise GEMMs about 1.0x, shifted GEMMs 0.85-1.09x where
`plan._uses_shift` holds and 1.18-5.6x where it does not; Winograd's and
the direct loops' estimates are cost models (``conv_winograd.estimate``,
fitted on ``bench/bench_winograd.py``; ``conv_direct.estimate``, fitted on
``bench/bench_direct.py --grid``).
``auto`` picks the lowest.
"""

from __future__ import annotations


import numpy as np

from . import conv_direct as _direct_cost
from . import conv_winograd as _wino
from . import plan as _plan
from .conv_gemm import conv_nchw, conv_nhwc
from .conv_nd import explain_planar, run_planar
from .machine import current_machine
from .registry import Choice, Method, candidates, check_method, choose_here, register

__all__ = ["choose_conv2d", "describe_plan", "explain_conv2d", "run_conv2d"]


def _add_bias(call, out: np.ndarray) -> None:
    if call.bias is None:
        return
    if call.layout == "NCHW":
        out += call.bias[:, None, None]
    else:
        out += call.bias


def _gemm(method: str):
    def run(call, out, budget):
        driver = conv_nchw if call.layout == "NCHW" else conv_nhwc
        driver(call.x, call.weight, call.bias, out, call.geom, call.groups, budget, method)
    return run


def _winograd(m):
    def run(call, out, budget):
        _wino.winograd_driver(call.x, call.weight, call.bias, out, call.geom, call.groups,
                              call.layout, budget, m)
    return run


def _winograd_supports(m):
    def supports(problem, machine):
        reason = _wino.supports(problem, machine, m)
        if reason is None and m is None and not any(
                _wino.plan_winograd(problem, machine, size) is not None
                for size in _wino.auto_tiles(problem.dtype)):
            reason = "no tile size auto accepts fits the workspace budget"
        return reason
    return supports


def _winograd_estimate(m):
    def estimate(problem, machine):
        return _wino.estimate(problem, machine,
                              _wino.best_tile(problem, machine) if m is None else m)
    return estimate


def _winograd_bound(m):
    def skip(problem):
        dtype = np.dtype(problem.dtype)
        if m is None or m in _wino.auto_tiles(dtype):
            return None
        return (f"its rounding error bound in {dtype} ({_wino.ERROR_BOUND[(dtype, m)]:g} of the "
                f"largest output) exceeds {_wino.AUTO_BOUND[dtype]:g}")
    return skip


def _everything(problem, machine):
    return None


def _pointwise_only(problem, machine):
    return None if problem.pointwise else "it needs a 1x1 kernel, stride 1 and no padding"


def gemm_plan(problem, machine, method: str):
    """The cached `plan.Plan` the GEMM driver runs `problem` by `method` with
    on `machine` (None: 'shift' whose one output row does not fit the budget)."""
    flops = problem.flops
    native = machine.blas_from_numba and (flops >= _plan.PARALLEL_MIN_FLOPS or method == "shift")
    args = (problem.batch, problem.channels, problem.filters, problem.geom, problem.groups,
            np.dtype(problem.dtype).itemsize, machine.budget)
    if problem.layout == "NCHW":
        return _plan.plan_nchw(*args, problem.has_bias, _plan.workers_for(flops), native,
                               _plan.tuning(), method)
    return _plan.plan_nhwc(*args, _plan.workers_for(flops), native, _plan.tuning(), method)


def _shift_supports(problem, machine):
    g = problem.geom
    if problem.flops == 0:
        return "the problem is empty"
    if not machine.blas_from_numba:
        return "it calls BLAS from Numba kernels: it needs the numba backend and NumPy's BLAS GEMM"
    if any(s != 1 for s in g.stride):
        return f"it needs stride 1, got stride {g.stride}"
    if problem.groups != 1:
        return f"it needs groups=1, got groups={problem.groups}"
    if g.kernel_area == 1:
        return "a 1x1 kernel has no taps to shift ('pointwise' is that case)"
    if gemm_plan(problem, machine, "shift") is None:
        return (f"one output row's scratch exceeds the workspace budget "
                f"({machine.budget} bytes)")
    return None


def _shift_estimate(problem, machine):
    fits = (_plan.uses_shift(problem.channels, problem.filters, problem.geom, problem.groups)
            and problem.flops >= _plan.PARALLEL_MIN_FLOPS)
    return 0.95 if fits else 1.3


register(Method("conv2d", "im2col",
                "patch-matrix tiles of about a MiB, each multiplied by one GEMM; any problem",
                _everything, lambda p, m: 1.0 if p.pointwise else 1.1, _gemm("im2col")))
register(Method("conv2d", "pointwise",
                "1x1 stride-1 unpadded kernels: GEMMs straight on the input, no copy",
                _pointwise_only, lambda p, m: 0.9, _gemm("pointwise")))
register(Method("conv2d", "shift",
                "stride 1: one GEMM per kernel tap on a shifted view of the zero-bordered "
                "input, no patch matrix (Numba backend)",
                _shift_supports, _shift_estimate, _gemm("shift")))
register(Method("conv2d", "winograd",
                "3x3 stride 1: Winograd F(m x m, 3 x 3), (m+2)**2 GEMMs of transformed tiles, "
                "the tile size auto accepts for the dtype with the lowest estimate",
                _winograd_supports(None), _winograd_estimate(None), _winograd(None)))
for _m in _wino.TILE_SIZES:
    register(Method("conv2d", f"winograd{_m}",
                    f"3x3 stride 1: Winograd F({_m}x{_m}, 3x3), {(_m + 2) ** 2} GEMMs of "
                    f"transformed tiles ({9 * _m * _m / (_m + 2) ** 2:.2f}x fewer multiplies)",
                    _winograd_supports(_m), _winograd_estimate(_m), _winograd(_m),
                    auto_skip=_winograd_bound(_m)))
register(Method("conv2d", "direct",
                "register-blocked direct loops, no patch matrix or BLAS: few filters per group, "
                "depthwise",
                _everything, _direct_cost.estimate, _direct_cost.run_direct))


def choose_conv2d(problem, budget: int, method="auto"):
    """The conv2d method to run `problem` with (cached per problem, machine
    and tuning); raises ValueError for an unknown or unsupported `method`."""
    return choose_here("conv2d", problem, budget, method)


def run_conv2d(call, budget: int, method="auto") -> np.ndarray:
    """``conv(call)`` by `method` (or the one ``auto`` picks): the 4-D result."""
    problem = call.problem
    out = np.empty(call.out_shape, dtype=call.x.dtype)
    if problem.geom.mode != "zeros":  # a padding mode: the N-D kernels, on a unit depth
        run_planar("conv2d", problem, call.x, call.weight, out, budget, method)
        _add_bias(call, out)
        return out
    if problem.flops == 0:  # an empty axis: nothing to choose, zeros (plus bias)
        check_method("conv2d", method)
        if out.size:
            out[...] = 0
            _add_bias(call, out)
        return out
    choose_conv2d(problem, budget, method).run(call, out, budget)
    return out


def describe_plan(problem, machine, method: str) -> str:
    """How `method` will cut `problem`'s work: its plan, in one line."""
    if problem.flops == 0:
        return "nothing to compute (an empty axis)"
    if method == "direct":
        return _direct_cost.describe(problem, machine)
    if method.startswith("winograd"):
        m = int(method[8:]) if method != "winograd" else _wino.best_tile(problem, machine)
        return _wino.plan_winograd(problem, machine, m).describe()
    return gemm_plan(problem, machine, method).describe()


def explain_conv2d(call, budget: int, method="auto") -> Choice:
    """The `Choice` `run_conv2d` makes for `call`, without running it."""
    problem = call.problem
    if problem.geom.mode != "zeros":
        return explain_planar("conv2d", problem, budget, method)
    chosen = choose_conv2d(problem, budget, method)
    machine = current_machine(np.dtype(problem.dtype), budget)
    return Choice("conv2d", chosen.name, method.lower(), problem.describe(), machine.describe(),
                  tuple(candidates("conv2d", problem, machine)),
                  describe_plan(problem, machine, chosen.name))
