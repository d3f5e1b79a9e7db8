"""The worked example: a 7x7 image I and a 3x3 kernel K, I * K as one GEMM.

Every intermediate is computed by the package (``im2col_nb.im2col`` and
``conv2d``), never written out by hand, so the walk-through printed by
``im2col-nb demo`` and the figures drawn from it show what the code does.
The tests use `IMAGE`, `KERNEL` and `RESULT` too.
"""

from __future__ import annotations

import numpy as np

import im2col_nb as nb

__all__ = ["IMAGE", "KERNEL", "RESULT", "batch_steps", "demo_text", "example_steps",
           "matrix_lines", "pool_steps"]

#: The worked example's 7x7 image I (read-only).
IMAGE = np.array([[0, 1, 1, 1, 0, 0, 0],
                  [0, 0, 1, 1, 1, 0, 0],
                  [0, 0, 0, 1, 1, 1, 0],
                  [0, 0, 0, 1, 1, 0, 0],
                  [0, 0, 1, 1, 0, 0, 0],
                  [0, 1, 1, 0, 0, 0, 0],
                  [1, 1, 0, 0, 0, 0, 0]])
#: Its 3x3 kernel K (read-only).
KERNEL = np.array([[1, 0, 1],
                   [0, 1, 0],
                   [1, 0, 1]])
#: The 5x5 result I * K, written out as the oracle the package must reproduce.
RESULT = np.array([[1, 4, 3, 4, 1],
                   [1, 2, 4, 3, 3],
                   [1, 2, 3, 4, 1],
                   [1, 3, 3, 1, 1],
                   [3, 3, 1, 1, 0]])
for _a in (IMAGE, KERNEL, RESULT):
    _a.flags.writeable = False


def example_steps() -> dict:
    """Every intermediate of the worked example's I * K, computed by the package.

    Returns
    -------
    steps : dict
        ``image`` (7, 7), ``kernel`` (3, 3), ``cols`` the patch matrix
        ``im2col(I, 3)`` (9, 25), ``row`` the kernel as a row (1, 9),
        ``product`` ``row @ cols`` (1, 25), ``result`` that product reshaped
        (5, 5), and ``conv2d`` what ``conv2d(I, K)`` returns.

    Examples
    --------
    >>> s = example_steps()
    >>> s["cols"].shape, s["product"].shape
    ((9, 25), (1, 25))
    >>> bool((s["result"] == RESULT).all())
    True
    """
    image, kernel = IMAGE, KERNEL
    cols = nb.im2col(image[None], kernel.shape)           # (9, 25)
    row = kernel.reshape(1, -1)                           # (1, 9)
    product = row @ cols                                  # (1, 25)
    out_h = image.shape[0] - kernel.shape[0] + 1
    out_w = image.shape[1] - kernel.shape[1] + 1
    result = product.reshape(out_h, out_w)
    return {"image": image, "kernel": kernel, "cols": cols, "row": row,
            "product": product, "result": result, "conv2d": nb.conv2d(image, kernel)}


def pool_steps() -> dict:
    """Max pooling 2x2 / stride 2 of a 4x4 image as im2col -> max -> reshape.

    Returns
    -------
    steps : dict
        ``image`` (4, 4), ``cols`` (4, 4) one column per window, ``max``
        the column maxima (4,), ``result`` them reshaped (2, 2), and
        ``max_pool2d`` what ``im2col_nb.max_pool2d`` returns.
    """
    x = np.array([[1, 3, 2, 0],
                  [4, 2, 1, 5],
                  [0, 1, 3, 2],
                  [2, 6, 1, 1]], dtype=float)
    cols = nb.im2col(x[None], 2, stride=2)                # (4, 4): one column per window
    maxima = cols.max(axis=0)                             # (4,)
    return {"image": x, "cols": cols, "max": maxima, "result": maxima.reshape(2, 2),
            "max_pool2d": np.asarray(nb.max_pool2d(x[None], 2))[0]}


def batch_steps(n_img=2, channels=3, size=4, filters=4, k=2) -> dict:
    """A batch of images against several filters as ONE matrix product.

    Parameters
    ----------
    n_img, channels, size, filters, k : int
        Images, channels per image, image side, filters, kernel side.

    Returns
    -------
    steps : dict
        ``x`` (N, C, size, size) and ``w`` (F, C, k, k) small random
        integers, ``cols`` ``im2col(x, k)``, ``wide`` the images' patch
        matrices side by side, ``wmat`` one filter per row, ``product``
        ``wmat @ wide``, ``result`` it reshaped to (N, F, OH, OW), and
        ``conv2d`` what ``conv2d(x, w)`` returns.
    """
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(n_img, channels, size, size)).astype(float)
    w = rng.integers(-1, 2, size=(filters, channels, k, k)).astype(float)
    cols = nb.im2col(x, k)                                # (N, C*k*k, L)
    wide = np.concatenate(list(cols), axis=1)             # (C*k*k, N*L)
    wmat = w.reshape(filters, -1)                         # (F, C*k*k)
    product = wmat @ wide                                 # (F, N*L)
    out = size - k + 1
    result = product.reshape(filters, n_img, out, out).transpose(1, 0, 2, 3)
    return {"x": x, "w": w, "cols": cols, "wide": wide, "wmat": wmat,
            "product": product, "result": result, "conv2d": nb.conv2d(x, w)}


def _cells(a: np.ndarray) -> list[list[str]]:
    a = np.atleast_2d(np.asarray(a))
    if np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return [[str(int(v)) for v in row] for row in a]
    return [[f"{v:.3g}" for v in row] for row in a]


def matrix_lines(a, indent="    ", group=None, labels=None) -> list[str]:
    """Rows of a 2-D array as right-aligned text.

    Parameters
    ----------
    a : array_like
        At most 2-D; whole numbers print without a decimal point.
    indent : str
        Put before every row.
    group : int, optional
        Put a ``|`` between every `group` columns.
    labels : list of str, optional
        One label per row, printed left of it.

    Returns
    -------
    lines : list of str

    Examples
    --------
    >>> print("\\n".join(matrix_lines([[1, 10, 2, 3]], indent="", group=2)))
     1 10 |  2  3
    """
    cells = _cells(a)
    width = max(len(c) for row in cells for c in row)
    label_width = max((len(s) for s in labels), default=0) if labels else 0
    lines = []
    for i, row in enumerate(cells):
        parts = []
        for j, c in enumerate(row):
            if group and j and j % group == 0:
                parts.append("|")
            parts.append(c.rjust(width))
        prefix = indent + (labels[i].ljust(label_width) + "  " if labels else "")
        lines.append(prefix + " ".join(parts))
    return lines


def _shape(shape) -> str:
    return " x ".join(str(s) for s in shape)


def _real_layer_lines(n_img=32, channels=64, size=56, filters=128, k=3) -> list[str]:
    geom_rows = channels * k * k
    out = size  # padding 1 keeps the size for k = 3
    patches = n_img * out * out
    flops = 2 * filters * geom_rows * patches
    return [
        f"  A real layer is the same picture, larger: {n_img} images x {channels} channels x "
        f"{size}x{size}",
        f"  with {filters} filters {k}x{k} (padding 1) is ({filters} x {geom_rows}) @ "
        f"({geom_rows} x {patches}),",
        f"  {flops / 1e9:.1f} GFLOP in one BLAS call, every patch column reused by all "
        f"{filters} filters.",
    ]


def demo_text(*, brief: bool = False) -> str:
    """The walk-through printed by ``im2col-nb demo``.

    Parameters
    ----------
    brief : bool
        Only the worked example (what ``im2col-nb`` without a command
        prints), without the batch and the pooling.

    Returns
    -------
    text : str
        Lines joined by newlines, no trailing newline.
    """
    s = example_steps()
    kh, kw = s["kernel"].shape
    out_h, out_w = s["result"].shape
    taps = [f"tap ({i},{j})" for i in range(kh) for j in range(kw)]
    lines = [
        "The worked example: I * K as one matrix product",
        "===============================================",
        "",
        f"The image I ({_shape(s['image'].shape)}):",
        *matrix_lines(s["image"]),
        "",
        f"The kernel K ({_shape(s['kernel'].shape)}):",
        *matrix_lines(s["kernel"]),
        "",
        f"1. im2col: every {kh}x{kw} patch of I becomes one column of the patch matrix,",
        f"   {kh * kw} rows (one per kernel tap) x {out_h * out_w} columns (one per patch position;",
        f"   '|' separates the {out_h} rows of output positions). im2col(I, {kh}) ->"
        f" {_shape(s['cols'].shape)}:",
        *matrix_lines(s["cols"], group=out_w, labels=taps),
        "",
        f"2. The kernel K flattened to one row ({_shape(s['row'].shape)}):",
        *matrix_lines(s["row"]),
        "",
        f"3. One matrix product: ({_shape(s['row'].shape)}) @ ({_shape(s['cols'].shape)})"
        f" = ({_shape(s['product'].shape)}):",
        *matrix_lines(s["product"], group=out_w),
        "",
        f"4. Reshaped to {out_h}x{out_w}, that row is I * K:",
        *matrix_lines(s["result"]),
        "",
        f"   conv2d(I, K) gives the same {out_h}x{out_w} result:"
        f" {bool(np.array_equal(s['result'], s['conv2d']))}",
    ]
    if not brief:
        lines += _batch_lines() + _pool_lines()
    return "\n".join(lines)


def _batch_lines() -> list[str]:
    b = batch_steps()
    n_img, channels, size, _ = b["x"].shape
    filters, _, k, _ = b["w"].shape
    length = b["cols"].shape[2]
    out = b["result"].shape[-1]
    return [
        "",
        "A batch of colour images and several filters: still ONE matrix product",
        "=====================================================================",
        "",
        f"x: {n_img} images x {channels} channels x {size}x{size} pixels;"
        f" w: {filters} filters x {channels} channels x {k}x{k}",
        f"  im2col(x, {k})                 -> {_shape(b['cols'].shape)}"
        f"   ({channels}*{k}*{k} = {channels * k * k} rows, {out}*{out} = {length} patches per image)",
        f"  the images side by side      -> {_shape(b['wide'].shape)}",
        f"  w.reshape({filters}, -1)             -> {_shape(b['wmat'].shape)}   (one filter per row)",
        f"  one GEMM: ({_shape(b['wmat'].shape)}) @ ({_shape(b['wide'].shape)})"
        f" -> {_shape(b['product'].shape)}",
        f"  reshaped to (N, F, OH, OW)   -> {_shape(b['result'].shape)}",
        f"  conv2d(x, w) gives the same: {bool(np.allclose(b['result'], b['conv2d']))}",
        "",
        *_real_layer_lines(),
    ]


def _pool_lines() -> list[str]:
    p = pool_steps()
    return [
        "",
        "Max pooling as im2col -> max -> reshape",
        "=======================================",
        "",
        f"A {_shape(p['image'].shape)} image:",
        *matrix_lines(p["image"]),
        "",
        f"im2col(x, 2, stride=2) -> {_shape(p['cols'].shape)} (one column per 2x2 window):",
        *matrix_lines(p["cols"]),
        "",
        "max over each column:",
        *matrix_lines(p["max"]),
        "",
        "reshaped to 2x2 = max_pool2d(x, 2):",
        *matrix_lines(p["result"]),
        f"   im2col_nb.max_pool2d(x, 2) gives the same: "
        f"{bool(np.array_equal(p['result'], p['max_pool2d']))}",
    ]
