"""Argument parsing and the three commands; `main` is the console script."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys

import numpy as np

import im2col_nb as nb

from .compare import METHOD_KEYS, available_methods, run_compare, thread_limit
from .layers import (
    DEFAULT_LAYERS,
    LAYER_SPEC_HELP,
    MAIN_LAYER,
    QUICK_LAYERS,
    parse_layers,
)
from .tables import COMPARE_HEADER, compare_table, info_text, print_table, summary_lines
from .worked_example import demo_text

__all__ = ["build_parser", "cmd_compare", "cmd_demo", "cmd_info", "main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {value}")
    return value


def _method_list(text: str) -> tuple[str, ...]:
    keys = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [k for k in keys if k not in METHOD_KEYS]
    if bad or not keys:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated names from {', '.join(METHOD_KEYS)}, got {text!r}")
    return keys


def build_parser() -> argparse.ArgumentParser:
    """The ``im2col-nb`` parser; ``parser.subcommands`` maps each command to its subparser."""
    parser = argparse.ArgumentParser(
        prog="im2col-nb",
        description="im2col_nb: convolution as one matrix multiply. Without a command: the "
                    "worked example, then conv2d against conv2d_direct on one layer.",
    )
    parser.add_argument("--version", action="version", version=f"im2col_nb {nb.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,compare,info}")

    demo = sub.add_parser("demo", help="the worked example: patch matrix, GEMM, pooling",
                          description="The worked example I * K as im2col + one matrix product, "
                                      "a batch with several filters, and max pooling.")
    demo.add_argument("--plot", metavar="FILE.png", help="also draw the walk-through")

    compare = sub.add_parser(
        "compare", help="time im2col conv2d against direct convolution (and NumPy, PyTorch)",
        description="Time, GFLOP/s and peak memory (tracemalloc) per layer of im2col conv2d, "
                    "conv2d_direct, the NumPy backend and PyTorch (when installed).")
    compare.add_argument("--layers", nargs="+", metavar="LAYER", help=LAYER_SPEC_HELP)
    compare.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    compare.add_argument("--threads", type=_positive_int, metavar="N",
                         help="threads for numba, BLAS and torch (default: all)")
    compare.add_argument("--quick", action="store_true",
                         help=f"3 timed runs per method on {', '.join(QUICK_LAYERS)}")
    compare.add_argument("--repeat", type=_positive_int, metavar="R",
                         help="timed runs per method (default: until 0.5 s, 3 to 20 runs)")
    compare.add_argument("--methods", type=_method_list, default=METHOD_KEYS,
                         metavar="M[,M...]",
                         help=f"which of {','.join(METHOD_KEYS)} to run (default: all available)")
    compare.add_argument("--json", metavar="FILE", help="write the results as JSON")
    compare.add_argument("--plot", metavar="FILE.png", help="bar charts of GFLOP/s and memory")
    compare.add_argument("--no-progress", action="store_true", help="no progress bar")

    info = sub.add_parser("info", help="versions, backend, threads, BLAS, JIT cache",
                          description="Versions, backend in use, threading layer, thread counts, "
                                      "BLAS library and the Numba JIT cache.")
    info.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    parser.subcommands = {"demo": demo, "compare": compare, "info": info}
    return parser


def _check_output_path(parser, option: str, path: str | None, need_matplotlib: bool = False):
    """Fail early (usage error, exit 2) rather than after minutes of timing."""
    if path is None:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        parser.error(f"{option}: directory {parent!r} does not exist")
    if need_matplotlib and importlib.util.find_spec("matplotlib") is None:
        parser.error(f"{option} needs matplotlib: pip install matplotlib")


def cmd_demo(args) -> int:
    """``im2col-nb demo``: print the walk-through (and draw it with ``--plot``)."""
    print(demo_text())
    if args.plot:
        from .figures import plot_demo  # matplotlib: only when asked for
        plot_demo(args.plot)
        print(f"\nwrote {args.plot}")
    return 0


def cmd_compare(args, layers, *, header=True) -> int:
    """``im2col-nb compare`` on `layers`: the table, the summary, ``--json``, ``--plot``."""
    methods = available_methods(args.methods)
    dtype = np.dtype(args.dtype)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else None)
    if header:
        print(f"Comparing {', '.join(m.label for m in methods)}")
        print(f"dtype {dtype.name}, backend {nb.get_backend()}, threads "
              f"{args.threads if args.threads else 'all'}; time = best of "
              f"{repeat if repeat else '3-20'} runs after a warm-up (JIT compile) run; "
              "peak memory = tracemalloc peak of one call")
    for layer in layers:
        print(f"  {layer.name}: {layer.describe()}")
    with thread_limit(args.threads, methods):
        results = run_compare(layers, methods, dtype, repeat, progress=not args.no_progress)
    print()
    print_table(COMPARE_HEADER, compare_table(results))
    for line in summary_lines(results):
        print(line)
    if any(m.key == "torch" for m in methods):
        print("(PyTorch allocates outside tracemalloc's view: its memory is n/a.)")
    if args.json:
        payload = {"command": "compare", "dtype": dtype.name, "threads": args.threads,
                   "quick": bool(args.quick), "repeat": repeat,
                   "environment": nb.info(run_kernel=False), "layers": results}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        from .figures import plot_compare  # matplotlib: only when asked for
        plot_compare(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_info(args) -> int:
    """``im2col-nb info``: print ``im2col_nb.info()`` (and write it with ``--json``)."""
    report = nb.info()
    print(info_text(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


def _compare_layers(parser, args) -> list:
    """The layers ``compare`` runs, after checking its options (usage error, exit 2)."""
    _check_output_path(parser, "--json", args.json)
    _check_output_path(parser, "--plot", args.plot, need_matplotlib=True)
    top = nb.max_num_threads()
    if args.threads is not None and args.threads > top:
        parser.error(f"--threads must be at most {top} (NUMBA_NUM_THREADS), got {args.threads}")
    if not args.layers:
        layers = [DEFAULT_LAYERS[n] for n in (QUICK_LAYERS if args.quick else DEFAULT_LAYERS)]
    else:
        try:
            layers = parse_layers(args.layers)
        except (TypeError, ValueError) as exc:
            parser.error(f"--layers: {exc}")
    if not available_methods(args.methods):     # e.g. --methods torch without PyTorch
        parser.error(f"--methods: none of {','.join(args.methods)} can run here")
    return layers


def main(argv=None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0, or 130 when interrupted. Bad options print a usage message to
        standard error and exit with status 2 (``SystemExit``), as argparse
        does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            print(demo_text(brief=True))
            print()
            print(f"im2col conv2d against direct convolution on layer {MAIN_LAYER!r}")
            print("(`im2col-nb demo` for the full walk-through, `im2col-nb compare` for more "
                  "layers)")
            args = parser.parse_args(["compare", "--quick", "--layers", MAIN_LAYER])
            return cmd_compare(args, parse_layers(args.layers), header=False)
        if args.command == "demo":
            _check_output_path(parser.subcommands["demo"], "--plot", args.plot,
                               need_matplotlib=True)
            return cmd_demo(args)
        if args.command == "info":
            _check_output_path(parser.subcommands["info"], "--json", args.json)
            return cmd_info(args)
        return cmd_compare(args, _compare_layers(parser.subcommands["compare"], args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `im2col-nb demo | head`
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        return 0
