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

import pytest

_GATE_RESULTS: list = []
_LOAD: dict = {}


def _cpu_snapshot():
    """(wall s, busy CPU s of the whole machine, steal s, CPU s of this process
    and its waited-for children): busy = all /proc/stat time but idle/iowait."""
    import time

    busy = steal = None
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        steal = (fields[7] if len(fields) > 7 else 0) / hz
        busy = (sum(fields[:8]) - idle) / hz - steal  # guest time is already in user
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return time.perf_counter(), busy, steal, own


def pytest_sessionstart(session):
    _LOAD["start"] = _cpu_snapshot()
    _LOAD["loadavg_start"] = os.getloadavg() if hasattr(os, "getloadavg") else None


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record how busy the machine was with other work while the suite ran:
    the machine's busy CPU time minus this run's own, as a share of all
    cores, plus the load averages at the start and the end."""
    start = _LOAD.get("start")
    if start is None:
        return
    wall1, busy1, steal1, own1 = _cpu_snapshot()
    wall0, busy0, steal0, own0 = start
    cores = os.cpu_count() or 1
    info = {"seconds": wall1 - wall0, "cores": cores,
            "loadavg_start": _LOAD.get("loadavg_start"),
            "loadavg_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "own_cpu_share": (own1 - own0) / ((wall1 - wall0) * cores)}
    if busy0 is not None and busy1 is not None:
        info["other_cpu_share"] = max(0.0, (busy1 - busy0) - (own1 - own0)) / ((wall1 - wall0) * cores)
        info["steal_share"] = (steal1 - steal0) / ((wall1 - wall0) * cores)
    machine_info["im2col_nb_load"] = info


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
def thresholds():
    """bench/thresholds.json: each gate's threshold, target and measurements."""
    import suite

    return suite.load_thresholds()


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
