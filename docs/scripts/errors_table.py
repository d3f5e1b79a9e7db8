"""Generate docs/errors.md, the table of bad inputs and their errors, from the tests.

    python docs/scripts/errors_table.py            # rewrite docs/errors.md
    python docs/scripts/errors_table.py --check    # exit 1 if it is out of date
    python docs/scripts/errors_table.py --output t.md -- -k conv2d   # a subset

Runs, in-process, every test under tests/ whose source uses ``pytest.raises``
(Hypothesis and ``slow`` tests excepted) with a small plugin that wraps
``pytest.raises`` and records each exception the package raised: which public
function raised it (the outermost im2col_nb frame of the traceback), the case
(the test's parameter id, or the source of the ``with`` block), the exception
type and its actual message. Only ValueError/TypeError/ImportError/RuntimeError
raised inside im2col_nb are kept, so tests that expect their own exceptions (a
trap, a context-manager check) do not appear. Rows are de-duplicated across
the two backends. The tables are therefore exactly what the tests check, with
the real messages users see.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
from collections import defaultdict

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "docs", "errors.md")
KEPT = (ValueError, TypeError, ImportError, RuntimeError)


class Recorder:
    """pytest plugin: wrap pytest.raises and remember what the package raised."""

    def __init__(self, package_dir: str):
        self.package_dir = package_dir
        self.rows = []
        self.item = None
        self.sources: dict = {}
        self.original = None

    # -- pytest hooks --------------------------------------------------------
    def pytest_configure(self, config):
        self.original = pytest.raises
        pytest.raises = self.raises

    def pytest_unconfigure(self, config):
        if self.original is not None:
            pytest.raises = self.original

    def pytest_collection_modifyitems(self, session, config, items):
        keep = []
        for item in items:
            function = getattr(item, "function", None)
            if function is None or getattr(function, "is_hypothesis_test", False):
                continue
            if item.get_closest_marker("slow"):
                continue
            try:
                source = inspect.getsource(function)
            except (OSError, TypeError):
                continue
            if "raises(" in source:
                keep.append(item)
        items[:] = keep

    def pytest_runtest_call(self, item):
        self.item = item

    # -- the wrapper ---------------------------------------------------------
    def raises(self, expected_exception, *args, **kwargs):
        frame = sys._getframe(1)
        where = (frame.f_code.co_filename, frame.f_lineno)
        if args:                                   # pytest.raises(E, func, *args)
            info = self.original(expected_exception, *args, **kwargs)
            self.record(info.value, where)
            return info
        return _Context(self, self.original(expected_exception, **kwargs), where)

    def record(self, exc, where):
        if not isinstance(exc, KEPT) or self.item is None:
            return
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        inside = [f for f in frames if os.path.abspath(f.f_code.co_filename).startswith(self.package_dir)]
        if not inside or inside[-1] is not frames[-1]:
            return                                 # not raised by the package
        code = inside[0].f_code
        function = _qualname(inside[0])
        if code.co_name.startswith("_") or code.co_name == "<module>":
            return
        self.rows.append({
            "function": function,
            "case": self.case(where),
            "call": describe_call(inside[0]),
            "exception": type(exc).__name__,
            "message": str(exc),
            "test": self.item.nodeid.split("::", 1)[0].replace("tests/", ""),
        })

    def case(self, where):
        """The test's parameter id when it reads as a name, else the test's name."""
        callspec = getattr(self.item, "callspec", None)
        name = self.item.originalname if hasattr(self.item, "originalname") else self.item.name
        if callspec is not None:
            ids = [part for part in callspec.id.split("-") if part not in ("numba", "numpy")]
            label = "-".join(ids)
            if label and re.fullmatch(r"[\w.,=+-]+", label) and not re.fullmatch(r"[A-Za-z_]+\d+", label):
                return f"{name}[{label}]"
        return name


class _Context:
    def __init__(self, recorder, context, where):
        self.recorder, self.context, self.where = recorder, context, where

    def __enter__(self):
        return self.context.__enter__()

    def __exit__(self, exc_type, exc, tb):
        suppressed = self.context.__exit__(exc_type, exc, tb)
        if suppressed and exc is not None:
            if exc.__traceback__ is None:
                exc = exc.with_traceback(tb)
            self.recorder.record(exc, self.where)
        return suppressed


def _short(value) -> str:
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"array({value.item()!r})"
        return f"{value.dtype}{value.shape}"
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"{type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _qualname(frame) -> str:
    """`function`, or `Class.method` named after the instance's own class."""
    code = frame.f_code
    if "self" in frame.f_locals and code.co_argcount and code.co_varnames[0] == "self":
        return f"{type(frame.f_locals['self']).__name__}.{code.co_name}"
    return code.co_name


def describe_call(frame) -> str:
    """`name(arg=value, ...)` of the public function's frame, arrays shown as
    dtype(shape), arguments left at their defaults omitted."""
    code = frame.f_code
    qualname = _qualname(frame)
    if "self" in frame.f_locals:
        function = getattr(type(frame.f_locals["self"]), code.co_name, None)
    else:
        function = frame.f_globals.get(code.co_name)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return qualname
    parts = []
    for name, parameter in parameters.items():
        if name not in frame.f_locals or name == "self":
            continue
        value = frame.f_locals[name]
        default = parameter.default
        if default is not inspect.Parameter.empty:
            try:
                if type(value) is type(default) and bool(value == default):
                    continue
            except Exception:
                pass
        parts.append(f"{name}={_short(value)}")
    return f"{qualname}({', '.join(parts)})"


def _cell(text: str, limit: int = 220) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text.replace("|", "\\|")


def render(rows) -> str:
    by_function = defaultdict(dict)
    for row in rows:
        key = (row["exception"], row["message"])
        by_function[row["function"]].setdefault(key, row)
    total = sum(len(v) for v in by_function.values())
    lines = [
        "# Bad input and the errors it gets",
        "",
        "<!-- Generated by `python docs/scripts/errors_table.py` from the tests; do not edit by hand. -->",
        "",
        "Every row is a case the test suite checks: the call (arguments as the function",
        "held them when it raised, arrays shown as dtype(shape), defaults omitted) is",
        "made with the bad input, and the error, with exactly this message, is what the",
        "package raised.",
        "They are raised by plain-Python validation before any compiled kernel runs,",
        "name the offending argument and repeat the value received; inputs are never",
        "modified. `Test` is where the case lives (file and test, with its parameter",
        "id when it has a readable one).",
        "",
        f"{total} distinct errors from {len(by_function)} public functions.",
        "",
    ]
    for function in sorted(by_function):
        entries = sorted(by_function[function].values(), key=lambda r: (r["exception"], r["message"]))
        lines += [f"## `{function}`", "", "| Call | Exception | Message | Test |", "|---|---|---|---|"]
        for r in entries:
            lines.append(f"| `{_cell(r['call'], 160)}` | {r['exception']} | {_cell(r['message'])} "
                         f"| {r['test']}::{_cell(r['case'], 60)} |")
        lines.append("")
    return "\n".join(lines)


def collect(extra_args=()) -> list:
    import im2col_nb

    recorder = Recorder(os.path.dirname(os.path.abspath(im2col_nb.__file__)))
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--no-header", "-o", "addopts=",
            "-W", "ignore", os.path.join(ROOT, "tests"), *extra_args]
    code = pytest.main(args, plugins=[recorder])
    if code not in (0, 1):          # 1: some test failed; the table is still meaningful
        raise SystemExit(f"pytest exited with {code}")
    return recorder.rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/errors.md is out of date")
    parser.add_argument("--output", default=OUT, help="where to write the table (default docs/errors.md)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k conv2d)")
    options = parser.parse_args(argv)
    text = render(collect(options.pytest_args)) + "\n"
    out = options.output
    if options.check:
        current = open(out).read() if os.path.exists(out) else ""
        if current != text:
            print(f"{out} is out of date: run python docs/scripts/errors_table.py")
            return 1
        print(f"{out} is up to date")
        return 0
    with open(out, "w") as f:
        f.write(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
