"""pytest configuration of the benchmark suite (``pytest bench``).

* ``pytest bench`` -- the full suite (a few minutes): every layer and
  implementation, the sweeps, memory probes, the budget checks and the
  ratio gates. Save it with ``--benchmark-json=bench.json`` and turn it into
  docs/benchmarks.md with ``python bench/report.py bench.json``.
* ``pytest bench --quick`` (or ``IM2COL_NB_BENCH_QUICK=1``) -- the CI gate:
  a handful of benchmarks plus the tests marked ``gate``, which measure
  ratios in interleaved rounds and fail below the thresholds in
  ``bench/thresholds.json``.

The suite lives outside the unit-test paths (``testpaths`` in pyproject.toml
does not list bench/), so a plain ``pytest`` never runs it.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_GATE_RESULTS: list = []


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", default=False,
                     help="im2col_nb benchmarks: CI gate mode (few cases, ratio thresholds)")


def pytest_configure(config):
    config.addinivalue_line("markers", "quick: also runs in --quick mode")
    config.addinivalue_line("markers", "gate: ratio check against bench/thresholds.json")


def is_quick(config) -> bool:
    return bool(config.getoption("--quick")) or os.environ.get("IM2COL_NB_BENCH_QUICK", "") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    if not is_quick(config):
        return
    keep, drop = [], []
    for item in items:
        (keep if item.get_closest_marker("quick") or item.get_closest_marker("gate") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def quick(request) -> bool:
    return is_quick(request.config)


@pytest.fixture(scope="session")
def gate_results():
    """Gates append (name, measured, threshold, passed, details) here; printed at the end."""
    return _GATE_RESULTS


def pytest_terminal_summary(terminalreporter):
    if not _GATE_RESULTS:
        return
    tr = terminalreporter
    tr.section("im2col_nb performance gate (ratios, higher is better)")
    for name, measured, threshold, passed, details in _GATE_RESULTS:
        tr.write_line(f"{'ok  ' if passed else 'FAIL'} {name:42s} {measured:8.3f}  (threshold {threshold:.3f})"
                      + (f"  {details}" if details else ""))
