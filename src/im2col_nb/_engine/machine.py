"""The machine and settings a method choice reads.

`current_machine` describes what a call may use right now: the backend, the
threads (``set_num_threads``, else the BLAS's own count), whether the
kernels that call NumPy's BLAS GEMM from inside Numba can run, the
workspace budget, and the CPU model (shown by `explain`, so a choice is
always reported beside the CPU it was made on).
"""

from __future__ import annotations

import functools
import platform
from typing import NamedTuple

from .._core.backend import backend_module
from . import plan as _plan
from . import workers as _workers

__all__ = ["Machine", "cpu_model", "current_machine"]


class Machine(NamedTuple):
    """What a call may use: the inputs of `auto` besides the problem itself."""

    backend: str            # 'numba' or 'numpy'
    threads: int            # BLAS threads a call would use
    blas_from_numba: bool   # NumPy's cblas_?gemm callable from the Numba kernels
    budget: int             # workspace bytes for this call
    cpu: str

    def describe(self) -> str:
        gemm = "BLAS called from Numba" if self.blas_from_numba else "BLAS called from Python"
        return (f"{self.cpu}; {self.threads} thread(s); {self.backend} backend, {gemm}; "
                f"workspace {self.budget / 2**20:g} MiB")


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``lscpu``'s "Model name"), or what the platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def current_machine(dtype, budget: int) -> Machine:
    """The `Machine` a call in `dtype` with `budget` workspace bytes runs on now."""
    backend = backend_module()
    native = _plan.native_gemm(backend, dtype, 0, force=True) is not None
    return _machine(backend.NAME, _workers.blas_threads(), native, budget)


@functools.lru_cache(maxsize=64)
def _machine(backend: str, threads: int, native: bool, budget: int) -> Machine:
    # one object per setting: creating it is most of the cost of a choice
    return Machine(backend, threads, native, budget, cpu_model())
