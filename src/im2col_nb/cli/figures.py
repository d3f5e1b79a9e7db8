"""Figures drawn from the package's own output (needs matplotlib).

Used by ``im2col-nb demo --plot``, ``im2col-nb compare --plot`` and by
``docs/scripts/make_figures.py``, which writes the documentation's figures.
Only matplotlib's object-oriented API is used (no pyplot, no GUI backend), and
matplotlib is imported inside the functions, so importing this module is
cheap and works without matplotlib.
"""

from __future__ import annotations

import numpy as np

from .worked_example import batch_steps, example_steps, pool_steps

__all__ = ["draw_batch_gemm", "draw_example_inputs", "draw_matrix", "draw_max_pool",
           "draw_patch_product", "figure", "plot_compare", "plot_demo", "save"]

HIGHLIGHT = "#d62728"


def figure(width, height):
    """A matplotlib Figure of `width` x `height` inches, constrained layout,
    not attached to any GUI backend."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig, path) -> None:
    """Save without the version stamp, so regenerated PNGs stay identical."""
    fig.savefig(path, dpi=110, metadata={"Software": None})


def _text(v) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.2g}"


def draw_matrix(ax, a, title=None, *, annotate=True, cmap="Blues", vmin=None, vmax=None,
                group=None, boxes=(), fontsize=8):
    """A matrix as coloured cells with its values; `boxes` are (row, col,
    height, width) rectangles outlined in red; `group` draws a line every
    `group` columns."""
    from matplotlib.patches import Rectangle

    a = np.atleast_2d(np.asarray(a, dtype=float))
    lo = np.min(a) if vmin is None else vmin
    hi = np.max(a) if vmax is None else vmax
    if hi == lo:
        hi = lo + 1
    ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi, aspect="equal", interpolation="nearest")
    if annotate:
        for (i, j), v in np.ndenumerate(a):
            dark = (v - lo) / (hi - lo) > 0.6
            ax.text(j, i, _text(v), ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "black")
    if group:
        for x in range(group, a.shape[1], group):
            ax.axvline(x - 0.5, color="0.3", lw=1.2)
    for r, c, h, w in boxes:
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, ec=HIGHLIGHT, lw=2.2))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


# ---------------------------------------------------------------------------
# the worked example
# ---------------------------------------------------------------------------


def draw_example_inputs(fig, steps=None):
    """I with its first patch outlined, K, and the result I * K."""
    s = steps or example_steps()
    axes = fig.subplots(1, 3, width_ratios=[7, 3, 5])
    draw_matrix(axes[0], s["image"], "image I (7 x 7)", boxes=[(0, 0, 3, 3)], vmax=2)
    draw_matrix(axes[1], s["kernel"], "kernel K (3 x 3)", cmap="Oranges", vmax=2)
    draw_matrix(axes[2], s["conv2d"], "I * K = conv2d(I, K) (5 x 5)", cmap="Greens",
                boxes=[(0, 0, 1, 1)])
    return axes


def draw_patch_product(fig, steps=None):
    """The kernel as a column beside the 9 x 25 patch matrix, and their
    product: one row of 25 outputs."""
    s = steps or example_steps()
    cols, row, product = s["cols"], s["row"], s["product"]
    taps, length = cols.shape
    out_w = s["result"].shape[1]
    axes = fig.subplots(2, 2, width_ratios=[1, length], height_ratios=[taps, 1])
    draw_matrix(axes[0, 0], row.T, "K", cmap="Oranges", vmax=2)
    draw_matrix(axes[0, 1], cols, f"patch matrix im2col(I, 3): {taps} x {length} "
                "(one column per patch; column 0 is the outlined patch of I)",
                group=out_w, boxes=[(0, 0, taps, 1)], vmax=2)
    axes[1, 0].axis("off")
    axes[1, 0].text(0.5, 0.5, "K @ cols", ha="center", va="center", fontsize=9,
                    transform=axes[1, 0].transAxes)
    draw_matrix(axes[1, 1], product, f"K as a row (1 x {taps}) @ patch matrix = 1 x {length}; "
                f"reshaped to {s['result'].shape[0]} x {out_w} it is I * K",
                cmap="Greens", group=out_w, boxes=[(0, 0, 1, 1)])
    return axes


def draw_max_pool(fig, steps=None):
    """Max pooling as im2col -> max over each column -> reshape."""
    p = steps or pool_steps()
    axes = fig.subplots(1, 4, width_ratios=[4, 4, 4, 2])
    draw_matrix(axes[0], p["image"], "x (4 x 4), 2 x 2 windows",
                boxes=[(0, 0, 2, 2), (0, 2, 2, 2), (2, 0, 2, 2), (2, 2, 2, 2)])
    best = np.argmax(p["cols"], axis=0)
    draw_matrix(axes[1], p["cols"], "im2col(x, 2, stride=2)",
                boxes=[(int(r), c, 1, 1) for c, r in enumerate(best)])
    draw_matrix(axes[2], p["max"][None], "max of each column")
    draw_matrix(axes[3], p["result"], "reshaped: max pool", cmap="Greens")
    return axes


def draw_batch_gemm(fig, steps=None):
    """A batch of multi-channel images against several filters: W @ cols."""
    b = steps or batch_steps(n_img=3, channels=3, size=6, filters=6, k=3)
    wmat, wide, product = b["wmat"], b["wide"], b["product"]
    length = b["cols"].shape[2]
    axes = fig.subplots(1, 3, width_ratios=[wmat.shape[1], wide.shape[1], product.shape[1]])
    n_img, channels, size, _ = b["x"].shape
    k = b["w"].shape[-1]
    draw_matrix(axes[0], wmat, f"W: {wmat.shape[0]} filters x {wmat.shape[1]}",
                annotate=False, cmap="Oranges")
    draw_matrix(axes[1], wide, f"patch matrix im2col(x, {k}): {wide.shape[0]} x {wide.shape[1]}\n"
                f"({channels} channels x {k}x{k} taps; {n_img} images x {length} patches)",
                annotate=False, group=length)
    draw_matrix(axes[2], product, f"W @ cols = {product.shape[0]} x {product.shape[1]}\n"
                f"({n_img} images x {length} outputs per filter)",
                annotate=False, cmap="Greens", group=length)
    for ax, sign in ((axes[0], "@"), (axes[1], "=")):
        ax.text(1.0, 0.5, f" {sign}", transform=ax.transAxes, fontsize=18, va="center",
                ha="left")
    return axes


def plot_demo(path) -> None:
    """``im2col-nb demo --plot``: the whole walk-through on one page."""
    fig = figure(12, 13)
    top, middle, batch, bottom = fig.subfigures(4, 1, height_ratios=[3.2, 4.2, 2.7, 2.6])
    draw_example_inputs(top)
    top.suptitle("The worked example: I * K by im2col + one matrix product", fontsize=12)
    draw_patch_product(middle)
    draw_batch_gemm(batch)
    batch.suptitle("A batch of 3-channel images and several filters: still one GEMM",
                   fontsize=11)
    draw_max_pool(bottom)
    bottom.suptitle("Max pooling: im2col -> max over each column -> reshape", fontsize=11)
    save(fig, path)


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------


def plot_compare(results, path) -> None:
    """``im2col-nb compare --plot``: GFLOP/s and peak memory per layer."""
    names = [layer["name"] for layer in results]
    methods = []
    for layer in results:
        for r in layer["results"]:
            if (r["method"], r["label"]) not in methods:
                methods.append((r["method"], r["label"]))
    fig = figure(max(7.0, 1.6 * len(names) + 3), 7.5)
    ax_speed, ax_mem = fig.subplots(2, 1)
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(names))
    for i, (key, label) in enumerate(methods):
        speed, mem = [], []
        for layer in results:
            r = next((r for r in layer["results"] if r["method"] == key), None)
            speed.append(r["gflops"] if r else np.nan)
            mem.append(r["peak_bytes"] / 2**20 if r and r["peak_bytes"] is not None else np.nan)
        offset = (i - (len(methods) - 1) / 2) * width
        ax_speed.bar(x + offset, speed, width, label=label)
        ax_mem.bar(x + offset, mem, width, label=label)
    ax_speed.set_yscale("log")
    ax_speed.set_ylabel("GFLOP/s (log scale, higher is better)")
    ax_speed.legend(fontsize=8, ncols=2)
    ax_mem.set_ylabel("peak memory of one call (MiB)")
    for ax in (ax_speed, ax_mem):
        ax.set_xticks(x, names, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    dtype = "float32" if results and results[0].get("itemsize", 4) == 4 else "float64"
    ax_speed.set_title(f"im2col conv2d vs direct convolution ({dtype})")
    ax_mem.set_title("memory (tracemalloc; PyTorch's allocator is not visible to it)",
                     fontsize=9)
    save(fig, path)
