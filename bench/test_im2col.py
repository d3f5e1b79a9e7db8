"""im2col alone against a plain copy of the same number of bytes.

``im2col``: the backend's whole-batch kernel (Numba: parallel over
(image, block of channels)) writing the full patch matrix into a
preallocated array, on all threads and on one. ``memcpy``: ``np.copyto`` of
an array of the patch matrix's size (what a plain, single-threaded copy of
those bytes costs). Both write the same bytes; im2col reads only the (up to
kh*kw times smaller) input.
"""

from __future__ import annotations

import pytest

import suite

QUICK_LAYERS = ("cifar", "r18-l1")


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.quick] if n in QUICK_LAYERS else [])
                                  for n in suite.LAYERS])
def test_im2col_vs_memcpy(benchmark, quick, name):
    """im2col and the copy timed in interleaved rounds, on all threads, then
    again with im2col on one thread (``im2col_nb.threads(1)`` around the
    whole block: switching the thread count per call costs ~0.5 ms);
    pytest-benchmark times im2col (all threads)."""
    import im2col_nb

    layer = suite.LAYERS[name]
    im2col, memcpy = suite.im2col_calls(layer)
    rounds = 3 if quick else 9
    (ti, tc), (mi, mc) = suite.interleaved([im2col, memcpy], rounds=rounds, budget_s=20)
    with im2col_nb.threads(1):
        (t1, tc1), (m1, mc1) = suite.interleaved([im2col, memcpy], rounds=rounds, budget_s=20)
    benchmark.group = "im2col"
    benchmark.pedantic(im2col, rounds=rounds, warmup_rounds=0, iterations=1)
    nbytes = layer.patch_bytes(4)
    benchmark.extra_info.update(layer=name, label=layer.label(), impl="im2col", dtype="float32",
                                patch_bytes=nbytes, gbytes_per_s=nbytes / ti / 1e9,
                                interleaved={"im2col": ti, "memcpy": tc, "im2col_1thread": t1,
                                             "memcpy_1thread": tc1},
                                interleaved_median={"im2col": mi, "memcpy": mc, "im2col_1thread": m1,
                                                    "memcpy_1thread": mc1},
                                threads=suite.workers())
