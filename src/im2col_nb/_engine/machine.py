"""The machine and settings a method choice reads.

`current_machine` describes what a call may use right now: the backend, the
threads (``set_num_threads``, else the BLAS's own count), whether the
kernels that call NumPy's BLAS GEMM from inside Numba can run, the
workspace budget, and the CPU model (shown by `explain`, so a choice is
always reported beside the CPU it was made on).
"""

from __future__ import annotations

import functools
import os
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
    simd: int = 512         # widest vector registers the CPU has, in bits (`simd_bits`)

    def describe(self) -> str:
        gemm = "BLAS called from Numba" if self.blas_from_numba else "BLAS called from Python"
        return (f"{self.cpu} ({self.simd}-bit vectors); {self.threads} thread(s); "
                f"{self.backend} backend, {gemm}; workspace {self.budget / 2**20:g} MiB")


def _cpuinfo(field: str) -> str | None:
    """The first ``field`` line's value in /proc/cpuinfo (None if absent)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``lscpu``'s "Model name"), or what the platform says."""
    return (_cpuinfo("model name") or platform.processor() or platform.machine()
            or "unknown CPU")


# Vector widths of the CPU names ``NUMBA_CPU_NAME`` most often narrows the
# kernels to (LLVM's names); any other name leaves the host's width.
_NAMED_SIMD = {"generic": 128, "x86-64": 128, "nehalem": 128, "westmere": 128,
               "sandybridge": 256, "ivybridge": 256, "haswell": 256, "broadwell": 256,
               "skylake": 256, "znver1": 256, "znver2": 256, "znver3": 256,
               "skylake-avx512": 512, "cascadelake": 512, "icelake-server": 512,
               "sapphirerapids": 512, "znver4": 512}


@functools.lru_cache(maxsize=1)
def simd_bits() -> int:
    """Width in bits of the vectors the kernels are compiled for: 512
    (AVX-512), 256 (AVX, AVX2) or 128 -- the host's (``/proc/cpuinfo``), or
    that of the CPU ``NUMBA_CPU_NAME`` names."""
    name = os.environ.get("NUMBA_CPU_NAME", "host").strip().lower()
    if name in _NAMED_SIMD:
        return _NAMED_SIMD[name]
    flags = set((_cpuinfo("flags") or "").split())
    if "avx512f" in flags:
        return 512
    if "avx2" in flags or "avx" in flags:
        return 256
    return 128


def current_machine(dtype, budget: int) -> Machine:
    """The `Machine` a call in `dtype` with `budget` workspace bytes runs on now."""
    backend = backend_module()
    native = _plan.native_gemm(backend, dtype, 0, force=True) is not None
    return _machine(backend.NAME, _workers.blas_threads(), native, budget)


@functools.lru_cache(maxsize=64)
def _machine(backend: str, threads: int, native: bool, budget: int) -> Machine:
    # one object per setting: creating it is most of the cost of a choice
    return Machine(backend, threads, native, budget, cpu_model(), simd_bits())
