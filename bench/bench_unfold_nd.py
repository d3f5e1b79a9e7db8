"""3-D im2col (``im2col3d``) against unfoldNd and a NumPy peer, float32.

    python -m pytest bench/bench_unfold_nd.py --benchmark-only   # pytest-benchmark
    python bench/bench_unfold_nd.py                              # Markdown table of ratios

Every implementation returns a new patch matrix (N, C*27, OD*OH*OW) in the
same layout, so each pays for the same output allocation and writes:

* ``im2col3d``: the public function (Numba backend, all threads);
* ``unfoldNd``: ``unfoldNd.unfoldNd`` on a tensor sharing the input's memory
  (PyTorch on the same number of threads), when unfoldNd is installed;
* ``numpy-peer``: ``sliding_window_view`` over the three spatial axes,
  copied into the (N, C, taps, positions) layout.

Timed in interleaved rounds (``im2col_nb.cli.timing``): ratios of the
minima come from the same run. Not part of the ``--quick`` CI gate.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import im2col_nb
from im2col_nb.cli.timing import SETTLE_S, interleaved

# (name, NCDHW shape, kernel, stride, padding)
CASES = [
    ("batch 2x32x16x56x56 k3", (2, 32, 16, 56, 56), 3, 1, 0),
    ("volume 1x1x16x128x128 k3", (1, 1, 16, 128, 128), 3, 1, 0),
    ("volume 1x1x16x128x128 k3 p1", (1, 1, 16, 128, 128), 3, 1, 1),
]
DTYPE = np.float32


def numpy_peer(x, k, s, p):
    """im2col3d by sliding_window_view (zero padding by np.pad)."""
    if p:
        x = np.pad(x, ((0, 0), (0, 0)) + ((p, p),) * 3)
    view = sliding_window_view(x, (k, k, k), axis=(2, 3, 4))[:, :, ::s, ::s, ::s]
    n, c, od, oh, ow = view.shape[:5]
    cols = np.empty((n, c, k, k, k, od, oh, ow), dtype=x.dtype)
    cols[...] = view.transpose(0, 1, 5, 6, 7, 2, 3, 4)
    return cols.reshape(n, c * k ** 3, od * oh * ow)


def implementations(x, k, s, p):
    """{name: no-argument callable} of the implementations available here."""
    calls = {"im2col3d": lambda: im2col_nb.im2col3d(x, k, padding=p, stride=s),
             "numpy-peer": lambda: numpy_peer(x, k, s, p)}
    try:
        import torch
        from unfoldNd import unfoldNd
    except ImportError:
        return calls
    torch.set_num_threads(im2col_nb.get_num_threads())
    xt = torch.from_numpy(x)

    def peer():
        with torch.no_grad():
            return unfoldNd(xt, k, padding=p, stride=s).numpy()

    calls["unfoldNd"] = peer
    return calls


def measure(case, rounds=7, budget_s=30.0):
    """(minimum seconds per implementation, the calls), checked equal first."""
    _, shape, k, s, p = case
    x = np.random.default_rng(0).standard_normal(shape).astype(DTYPE)
    calls = implementations(x, k, s, p)
    want = calls["im2col3d"]()
    for name, call in calls.items():
        np.testing.assert_allclose(call(), want, rtol=1e-6, atol=1e-6, err_msg=name)
    del want
    names = list(calls)
    mins, _ = interleaved([calls[n] for n in names], rounds=rounds, budget_s=budget_s,
                          settle_s=SETTLE_S)
    return dict(zip(names, mins)), calls


@pytest.fixture(autouse=True)
def _numba_backend():
    previous = im2col_nb.get_backend()
    im2col_nb.set_backend("numba")
    yield
    im2col_nb.set_backend(previous)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_im2col3d_vs_peers(benchmark, case):
    """Interleaved minima and their ratios in ``extra_info``; pytest-benchmark
    times im2col3d."""
    times, calls = measure(case)
    benchmark.group = "im2col3d"
    benchmark.extra_info.update(
        case=case[0], dtype=np.dtype(DTYPE).name, threads=im2col_nb.get_num_threads(),
        interleaved=times,
        speedup={n: t / times["im2col3d"] for n, t in times.items() if n != "im2col3d"})
    benchmark.pedantic(calls["im2col3d"], rounds=5, warmup_rounds=1, iterations=1)


def main() -> None:
    import platform

    im2col_nb.set_backend("numba")
    print(f"{platform.processor() or platform.machine()}, {im2col_nb.get_num_threads()} threads, "
          f"{np.dtype(DTYPE).name}; interleaved minima, speed-up = peer time / im2col3d time\n")
    print("| case | im2col3d ms | peer | peer ms | speed-up |")
    print("|---|---:|---|---:|---:|")
    for case in CASES:
        times, _ = measure(case)
        ours = times.pop("im2col3d")
        for name, t in times.items():
            print(f"| {case[0]} | {ours * 1e3:.2f} | {name} | {t * 1e3:.2f} | {t / ours:.1f}x |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
