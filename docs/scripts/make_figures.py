"""Write the documentation's figures, docs/img/*.png, from the package's own output.

Nothing here is hand-drawn: the matrices are what ``im2col_nb.im2col`` and
``conv2d`` return, the memory curve is what tracemalloc sees ``conv2d`` allocate
under each workspace budget, and the speed curves are timed on the machine
that runs this script.

    python docs/scripts/make_figures.py             # all figures (about half a minute)
    python docs/scripts/make_figures.py --no-measure  # only the drawings of matrices
    python docs/scripts/make_figures.py --out DIR   # somewhere else than docs/img

Needs matplotlib (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "img")


def _best_time(fn, repeat=5):
    fn()                                  # warm-up: JIT compile
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def drawings(out_dir):
    """The worked example, the batch GEMM and max pooling, drawn from the package's output."""
    from im2col_nb.cli import figures

    written = []
    for name, draw, size in [
        ("example-inputs.png", figures.draw_example_inputs, (10, 3.3)),
        ("patch-matrix.png", figures.draw_patch_product, (11, 4.6)),
        ("batch-gemm.png", figures.draw_batch_gemm, (11, 3.0)),
        ("max-pool.png", figures.draw_max_pool, (10, 2.8)),
    ]:
        fig = figures.figure(*size)
        draw(fig)
        path = os.path.join(out_dir, name)
        figures.save(fig, path)
        written.append(path)
    return written


def workspace_figure(out_dir):
    """Peak extra memory and time of conv2d under a range of workspace budgets."""
    import numpy as np

    import im2col_nb as nb
    from im2col_nb.cli import figures

    n_img, channels, size, filters, k = 16, 32, 32, 32, 3
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_img, channels, size, size)).astype(np.float32)
    w = rng.standard_normal((filters, channels, k, k)).astype(np.float32)
    out_bytes = n_img * filters * size * size * 4
    full = n_img * channels * k * k * size * size * 4          # the whole patch matrix
    budgets = [2**p for p in range(16, 26)]                     # 64 KiB .. 32 MiB
    extra, times = [], []
    for budget in budgets:
        nb.release_workspace()      # so each budget's peak includes its own scratch
        tracemalloc.start()
        nb.conv2d(x, w, padding=1, max_workspace_bytes=budget)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        extra.append((peak - out_bytes) / 2**20)
        times.append(1e3 * _best_time(
            lambda: nb.conv2d(x, w, padding=1, max_workspace_bytes=budget), repeat=3))
    nb.release_workspace()

    mib = [b / 2**20 for b in budgets]
    fig = figures.figure(10, 3.6)
    ax_mem, ax_time = fig.subplots(1, 2)
    ax_mem.loglog(mib, extra, "o-", label="measured: tracemalloc peak minus the output")
    ax_mem.loglog(mib, mib, "--", color="0.5", label="the budget")
    ax_mem.axhline(full / 2**20, color="tab:red", ls=":",
                   label=f"whole patch matrix ({full / 2**20:.0f} MiB)")
    ax_mem.set_xlabel("max_workspace_bytes (MiB)")
    ax_mem.set_ylabel("extra memory of one conv2d call (MiB)")
    ax_mem.legend(fontsize=8)
    ax_mem.set_title(f"x: {n_img}x{channels}x{size}x{size}, {filters} filters {k}x{k}, float32",
                     fontsize=9)
    ax_time.semilogx(mib, times, "o-")
    ax_time.set_xlabel("max_workspace_bytes (MiB)")
    ax_time.set_ylabel("time of one call (ms, best of 3)")
    ax_time.set_ylim(bottom=0)
    ax_time.set_title(f"time ({os.cpu_count()} CPUs)", fontsize=9)
    for ax in (ax_mem, ax_time):
        ax.grid(alpha=0.3, which="both")
    path = os.path.join(out_dir, "workspace.png")
    figures.save(fig, path)
    return [path]


def speed_figure(out_dir):
    """GFLOP/s of conv2d and conv2d_direct as the filters and the batch grow."""
    import numpy as np

    import im2col_nb as nb
    from im2col_nb.cli import figures

    rng = np.random.default_rng(0)
    channels, size, k = 16, 32, 3

    def seconds(n_img, filters):
        x = rng.standard_normal((n_img, channels, size, size)).astype(np.float32)
        w = rng.standard_normal((filters, channels, k, k)).astype(np.float32)
        return [_best_time(lambda f=f: f(x, w, padding=1), repeat=3)
                for f in (nb.conv2d, nb.conv2d_direct)]

    def gflops(configs, rounds=3):
        # Several interleaved rounds, best time of all: a busy moment on a
        # shared machine then spoils one round of one point, not the curve.
        best = np.full((len(configs), 2), np.inf)
        for _ in range(rounds):
            for i, (n_img, filters) in enumerate(configs):
                best[i] = np.minimum(best[i], seconds(n_img, filters))
        flops = np.array([2 * n * f * channels * k * k * size * size for n, f in configs])
        return flops[:, None] / best / 1e9

    filter_counts = [1, 2, 4, 8, 16, 32, 64, 128]
    by_filters = gflops([(8, f) for f in filter_counts])
    batch_sizes = [1, 2, 4, 8, 16, 32]
    by_batch = gflops([(n, 32) for n in batch_sizes])

    fig = figures.figure(10, 3.6)
    ax_f, ax_n = fig.subplots(1, 2, sharey=True)
    for ax, xs, ys, label in [(ax_f, filter_counts, by_filters, "filters F (batch of 8)"),
                              (ax_n, batch_sizes, by_batch, "images N (32 filters)")]:
        ax.semilogx(xs, ys[:, 0], "o-", label="conv2d (im2col + one GEMM)", base=2)
        ax.semilogx(xs, ys[:, 1], "s-", label="conv2d_direct", base=2)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, which="both")
    ax_f.set_ylabel("GFLOP/s (float32)")
    ax_f.legend(fontsize=8)
    ax_f.set_title(f"{channels} channels, {size}x{size}, 3x3, padding 1", fontsize=9)
    ax_n.set_title(f"measured on {os.cpu_count()} CPUs", fontsize=9)
    path = os.path.join(out_dir, "speed-vs-size.png")
    figures.save(fig, path)
    return [path]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory (default docs/img)")
    parser.add_argument("--no-measure", action="store_true",
                        help="skip the timed figures (workspace.png, speed-vs-size.png)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    written = drawings(args.out)
    if not args.no_measure:
        written += workspace_figure(args.out)
        written += speed_figure(args.out)
    for path in written:
        rel = os.path.relpath(path)
        print("wrote", path if rel.startswith("..") else rel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
