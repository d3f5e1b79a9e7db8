"""Generate docs/support.md: which argument forms and dtypes each operation accepts.

    python docs/scripts/support_table.py            # rewrite docs/support.md
    python docs/scripts/support_table.py --check    # exit 1 if it is out of date

Every cell is a real call: the script builds a small input for each
operation, calls it once per argument form (padding as an int, per axis, as
(low, high) pairs, 'same' with a stride above 1, each padding mode, each input
dtype, channels-last, unbatched) and records what happened: the result dtype,
or the error the call raised (listed under the table). The table therefore
says what the code does, not what anyone remembers it doing.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from typing import NamedTuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "docs", "support.md")

import im2col_nb  # noqa: E402


class Op(NamedTuple):
    """How to call one public operation on a small input of `ndim` spatial axes."""

    name: str
    kind: str   # unfold, fold, conv, input_grad, weight_grad, transpose, max_pool, avg_pool
    ndim: int
    layouts: tuple  # (channels-first, channels-last) layout names, or () if none


def _ops() -> list:
    """The public operations the table covers (those that exist in this build)."""
    kinds = [
        ("im2col{}", "unfold"), ("col2im{}", "fold"), ("conv{}", "conv"),
        ("conv{}_direct", "conv"), ("conv{}_input_grad", "input_grad"),
        ("conv{}_weight_grad", "weight_grad"), ("conv_transpose{}", "transpose"),
        ("max_pool{}", "max_pool"), ("avg_pool{}", "avg_pool"),
    ]
    layouts = {1: ("NCL", "NLC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}
    ops = []
    for pattern, kind in kinds:
        for ndim, suffix in ((1, "1d"), (2, "2d"), (3, "3d")):
            name = pattern.format(suffix)
            if kind in ("unfold", "fold") and ndim == 2:
                name = pattern.format("")
            function = getattr(im2col_nb, name, None)
            if function is None:
                continue
            takes_layout = "layout" in inspect.signature(function).parameters
            ops.append(Op(name, kind, ndim, layouts[ndim] if takes_layout else ()))
    return ops


# The argument forms (columns): name -> changes to the default call.
GEOMETRY = {
    "int padding": {"padding": 1},
    "per-axis ints": {"padding": "per-axis"},
    "(low, high) pairs": {"padding": "pairs"},
    "'valid'": {"padding": "valid"},
    "'same'": {"padding": "same"},
    "'same', stride 2": {"padding": "same", "stride": 2},
    "1-tuple stride": {"stride": (2,)},
    "dilation 2": {"dilation": 2},
}
MODES = {f"padding_mode='{m}'": {"padding": 1, "padding_mode": m}
         for m in ("reflect", "replicate", "circular", "symmetric")}
DTYPES = {str(d): {"dtype": d} for d in
          ("float32", "float64", "float16", "int32", "uint8", "bool", "complex64")}
LAYOUT = {"channels-last": {"layout": "last"}, "unbatched": {"unbatched": True}}


def _padding(form, ndim):
    if form == "per-axis":  # 1, 0, 1: a different amount on neighbouring axes
        return tuple((a + 1) % 2 for a in range(ndim))
    if form == "pairs":
        return tuple((1, 0) if a % 2 == 0 else (0, 1) for a in range(ndim))
    return form


def _call(op: Op, change: dict):
    """Call `op` once with `change` applied; return the result's dtype name."""
    rng = np.random.default_rng(0)
    ndim = op.ndim
    dtype = np.dtype(change.get("dtype", "float64"))
    size = (6, 5, 4)[:ndim]
    kernel = (3, 2, 2)[:ndim] if op.kind not in ("max_pool", "avg_pool") else (2,) * ndim
    geo = {"stride": change.get("stride", 1), "padding": _padding(change.get("padding", 0), ndim),
           "dilation": change.get("dilation", 1)}
    if "padding_mode" in change:
        geo["padding_mode"] = change["padding_mode"]
    kw = {}
    last = change.get("layout") == "last"
    if last:
        if not op.layouts:
            raise TypeError(f"{op.name}() has no channels-last layout")
        kw["layout"] = op.layouts[1]
    unbatched = change.get("unbatched", False)

    def data(shape):
        values = rng.standard_normal(shape) * 3
        if np.issubdtype(dtype, np.complexfloating):
            values = values + 1j * rng.standard_normal(shape)
        return values.astype(dtype)

    def image(channels):
        shape = (channels,) + size
        if last:
            shape = size + (channels,)
        return data(shape if unbatched else (2,) + shape)

    function = getattr(im2col_nb, op.name)
    if op.kind == "unfold":
        return function(image(3), kernel, **geo).dtype
    if op.kind == "fold":
        unfold = getattr(im2col_nb, op.name.replace("col2im", "im2col"))
        shape = unfold(np.zeros((2, 3) + size), kernel, **geo).shape
        cols = data(shape[1:] if unbatched else shape)
        return function(cols, size, kernel, **geo).dtype
    weight = data((4, 3) + kernel)
    if op.kind in ("conv", "input_grad", "weight_grad"):
        conv = getattr(im2col_nb, f"conv{ndim}d")
        x = image(3)
        forward = conv(x.astype(np.float64) if dtype.kind != "c" else x, weight, **geo, **kw)
        grad = data(forward.shape)
        if op.kind == "conv":
            return function(x, weight, data(4), **geo, **kw).dtype
        if op.kind == "input_grad":
            return function(x.shape, weight, grad, **geo, **kw).dtype
        return function(x, weight.shape, grad, **geo, **kw).dtype
    if op.kind == "transpose":
        return function(image(3), data((3, 4) + kernel), data(4), **geo, **kw).dtype
    geo["stride"] = None if "stride" not in change else geo["stride"]
    if op.kind == "avg_pool":
        geo.pop("dilation")
    result = function(image(3), kernel, **geo, **kw)
    return (result[0] if isinstance(result, tuple) else result).dtype


def _cell(op, change, notes: dict) -> str:
    try:
        dtype = _call(op, change)
    except (TypeError, ValueError) as exc:
        message = f"{type(exc).__name__}: {exc}"
        number = notes.setdefault(message, len(notes) + 1)
        return f"no [{number}]"
    wanted = change.get("dtype")
    if wanted is not None and np.dtype(dtype) != np.dtype(wanted):
        return f"yes, gives {dtype}"
    return "yes"


def _table(title: str, forms: dict, ops: list, notes: dict) -> list:
    lines = [f"## {title}", "", "| operation | " + " | ".join(forms) + " |",
             "|---" * (len(forms) + 1) + "|"]
    for op in ops:
        cells = [_cell(op, change, notes) for change in forms.values()]
        lines.append(f"| `{op.name}` | " + " | ".join(cells) + " |")
    return lines + [""]


def render() -> str:
    ops = _ops()
    notes: dict = {}
    lines = [
        "# What each operation accepts",
        "",
        "Generated by `python docs/scripts/support_table.py` from real calls on small inputs "
        "(the script's docstring says how): *yes* means the call ran (and, for dtypes, "
        "kept the input dtype unless the cell names the result dtype); *no [n]* means it "
        "raised the error numbered n under the tables. Rerun it after changing an operation; "
        "the test suite fails when this page is out of date.",
        "",
    ]
    lines += _table("Padding and geometry", GEOMETRY, ops, notes)
    lines += _table("Padding modes", MODES, ops, notes)
    lines += _table("Input dtypes", DTYPES, ops, notes)
    lines += _table("Layouts", LAYOUT, ops, notes)
    lines += ["## Errors", ""]
    lines += [f"{number}. {message.replace('|', '/')}" for message, number in notes.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/support.md is stale")
    parser.add_argument("--output", default=OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        with open(args.output) as f:
            if f.read() != text:
                print(f"{args.output} is out of date: run python docs/scripts/support_table.py")
                return 1
        return 0
    with open(args.output, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
