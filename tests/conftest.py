"""Shared fixtures: every test that takes `backend` runs on both backends."""

import os

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE: "ci" (the default)
# keeps every run bounded (Hypothesis' usual 100 examples where a test does not
# set its own count, no deadline: JIT compiles would trip it); "long" soaks the
# differential fuzzers in tests/test_fuzz.py locally; "dev" is a quick smoke run.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("long", deadline=None, max_examples=3000, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

import im2col_nb  # noqa: E402


# The Numba instance also runs uncompiled (marker nojit, tests/test_nojit.py).
@pytest.fixture(params=[pytest.param("numba", marks=pytest.mark.nojit), "numpy"])
def backend(request):
    """Run the test with each backend selected, restoring the previous one."""
    previous = im2col_nb.get_backend()
    im2col_nb.set_backend(request.param)
    try:
        yield request.param
    finally:
        im2col_nb.set_backend(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def tolerance(dtype):
    """(rtol, atol) for comparing a kernel in `dtype` with the float64 reference."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:  # sums rounded once to float16 (11-bit significand)
        return (2e-3, 2e-3)
    return (2e-4, 2e-4) if dtype == np.float32 else (1e-10, 1e-10)


@pytest.fixture
def no_direct(monkeypatch):
    """`auto` never picks the direct method (conv2d's or the weight
    gradient's): for tests of what it chooses among the GEMM methods, whose
    small shapes would otherwise go to the direct loops."""
    from im2col_nb._engine import conv_direct, registry

    monkeypatch.setattr(conv_direct, "RATIO", 1e9)
    monkeypatch.setattr(conv_direct, "WEIGHT_RATIO", 1e9)
    registry._choose_cached.cache_clear()
    yield
    registry._choose_cached.cache_clear()
