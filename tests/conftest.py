"""Shared fixtures: every test that takes `backend` runs on both backends."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import im2col_nb  # noqa: E402


@pytest.fixture(params=["numba", "numpy"])
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
    return (2e-4, 2e-4) if np.dtype(dtype) == np.float32 else (1e-10, 1e-10)
