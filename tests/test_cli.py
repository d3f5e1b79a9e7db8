"""The command line: `python -m im2col_nb`, `im2col-nb demo|compare|info`."""

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import im2col_nb
from im2col_nb import cli
from im2col_nb.cli import compare, layers, timing, worked_example

EXAMPLE_ROWS = ["1 4 3 4 1", "1 2 4 3 3", "1 2 3 4 1", "1 3 3 1 1", "3 3 1 1 0"]
# First row of the 9 x 25 patch matrix (tap (0, 0) of every patch), grouped by output row.
EXAMPLE_PATCH_ROW = "tap (0,0)  0 1 1 1 0 | 0 0 1 1 1 | 0 0 0 1 1 | 0 0 0 1 1 | 0 0 1 1 0"
EXAMPLE_PRODUCT = "1 4 3 4 1 | 1 2 4 3 3 | 1 2 3 4 1 | 1 3 3 1 1 | 3 3 1 1 0"
TINY = "2,3,8,8,4,3,1,1"           # N,C,H,W,F,K,stride,padding: fast everywhere
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, env=None, timeout=180):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "im2col_nb", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def assert_example_result(text):
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("4. Reshaped to 5x5, that row is I * K:")
    assert lines[start + 1:start + 6] == EXAMPLE_ROWS
    assert "conv2d(I, K) gives the same 5x5 result: True" in text


# ---------------------------------------------------------------------------
# the worked example, as the command line computes it
# ---------------------------------------------------------------------------


def test_example_steps_match_the_worked_example():
    s = worked_example.example_steps()
    assert s["cols"].shape == (9, 25)
    assert s["row"].shape == (1, 9)
    np.testing.assert_array_equal(s["result"], worked_example.RESULT)
    np.testing.assert_array_equal(s["conv2d"], worked_example.RESULT)
    # column j of the patch matrix is the patch at output position (j // 5, j % 5)
    for j in (0, 7, 24):
        i, k = divmod(j, 5)
        np.testing.assert_array_equal(s["cols"][:, j], worked_example.IMAGE[i:i + 3, k:k + 3].ravel())


def test_batch_and_pool_steps():
    b = worked_example.batch_steps()
    assert b["cols"].shape == (2, 12, 9)          # 12 x 9 per 4x4x3 image, 2x2 kernel
    assert b["wide"].shape == (12, 18)
    assert b["product"].shape == (4, 18)
    np.testing.assert_allclose(b["result"], b["conv2d"])
    p = worked_example.pool_steps()
    np.testing.assert_array_equal(p["result"], [[4, 5], [6, 3]])
    np.testing.assert_array_equal(p["max_pool2d"], p["result"])


# ---------------------------------------------------------------------------
# main job and subcommands, in a subprocess
# ---------------------------------------------------------------------------


def test_main_job_subprocess():
    proc = run()
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert_example_result(out)
    assert EXAMPLE_PATCH_ROW in out
    assert EXAMPLE_PRODUCT in out
    assert "conv2d_direct" in out and "conv2d (im2col+GEMM" in out
    assert "MiB" in out and "GFLOP/s" in out
    assert layers.MAIN_LAYER in out
    assert "Traceback" not in proc.stderr


def test_console_script():
    script = shutil.which("im2col-nb", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("console script im2col-nb not installed next to this python")
    proc = subprocess.run([script, "demo"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert_example_result(proc.stdout)


def test_numpy_backend_subprocess(tmp_path):
    path = tmp_path / "r.json"
    proc = run("compare", "--quick", "--layers", TINY, "--methods", "im2col,direct,numpy",
               "--json", str(path), env={"IM2COL_NB_BACKEND": "numpy"})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(path.read_text())
    assert data["environment"]["backend"] == "numpy"
    # the separate "numpy" method is the backend itself here, so it is not repeated
    assert [r["method"] for r in data["layers"][0]["results"]] == ["im2col", "direct"]
    proc = run("info", env={"IM2COL_NB_BACKEND": "numpy"})
    assert proc.returncode == 0, proc.stderr
    assert "backend    numpy (IM2COL_NB_BACKEND=numpy)" in proc.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["frobnicate"], ["compare", "--dtype", "int8"],
                                  ["compare", "--layers", "1,3,4,4,2,9"]])
def test_bad_options_subprocess(args):
    proc = run(*args)
    assert proc.returncode == 2
    assert "usage: im2col-nb" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------
# in process
# ---------------------------------------------------------------------------


def test_demo(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert_example_result(out)
    assert EXAMPLE_PATCH_ROW in out
    assert EXAMPLE_PRODUCT in out
    assert "2 x 12 x 9" in out                       # a batch: 12 x 9 per image
    assert "one GEMM: (4 x 12) @ (12 x 18) -> 4 x 18" in out
    assert "conv2d(x, w) gives the same: True" in out
    assert "reshaped to 2x2 = max_pool2d(x, 2):" in out
    assert "    4 5\n    6 3" in out
    assert "im2col_nb.max_pool2d(x, 2) gives the same: True" in out
    assert "seed" not in out.lower()


def test_demo_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "demo.png"
    assert cli.main(["demo", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {path}" in capsys.readouterr().out


def test_compare_json(tmp_path, capsys):
    path = tmp_path / "r.json"
    argv = ["compare", "--quick", "--layers", TINY, "--methods", "im2col,direct,numpy",
            "--json", str(path), "--no-progress"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "time (ms)" in out and "peak memory" in out and "GFLOP/s" in out
    data = json.loads(path.read_text())
    assert data["dtype"] == "float32" and data["quick"] is True and data["repeat"] == 3
    (layer,) = data["layers"]
    assert layer["input_shape"] == [2, 3, 8, 8]
    assert layer["output_shape"] == [2, 4, 8, 8]
    assert layer["flops"] == 2 * 2 * 4 * 3 * 9 * 64
    rows = {r["method"]: r for r in layer["results"]}
    assert set(rows) == ({"im2col", "direct", "numpy"} if im2col_nb.get_backend() == "numba"
                         else {"im2col", "direct"})
    out_bytes = 2 * 4 * 8 * 8 * 4
    patch_bytes = 2 * 27 * 64 * 4
    for r in rows.values():
        assert len(r["times_s"]) == 3 and r["time_s"] == min(r["times_s"]) > 0
        assert r["gflops"] == pytest.approx(layer["flops"] / r["time_s"] / 1e9)
        assert r["max_rel_diff"] < 1e-5
    # the memory column sees the output, and for im2col also the patch matrix
    assert rows["direct"]["peak_bytes"] >= out_bytes
    assert rows["im2col"]["peak_bytes"] >= out_bytes + patch_bytes
    assert rows["direct"]["speedup_vs_direct"] == 1.0
    env = data["environment"]
    assert env["im2col_nb"] == im2col_nb.__version__ and env["backend"] == im2col_nb.get_backend()


def test_compare_float64_threads_and_plot(tmp_path, capsys):
    path = tmp_path / "r.json"
    argv = ["compare", "--layers", TINY, "--methods", "im2col,direct", "--dtype", "float64",
            "--threads", "1", "--repeat", "2", "--json", str(path), "--no-progress"]
    plot = tmp_path / "cmp.png" if importlib.util.find_spec("matplotlib") else None
    if plot is not None:
        argv += ["--plot", str(plot)]
    assert cli.main(argv) == 0
    data = json.loads(path.read_text())
    assert data["dtype"] == "float64" and data["threads"] == 1
    rows = data["layers"][0]["results"]
    assert [len(r["times_s"]) for r in rows] == [2, 2]
    assert all(r["max_rel_diff"] < 1e-12 for r in rows)
    assert rows[0]["peak_bytes"] >= 2 * 4 * 8 * 8 * 8 + 2 * 27 * 64 * 8
    if plot is not None:
        assert plot.read_bytes()[:8] == PNG_MAGIC


def test_compare_torch(capsys):
    pytest.importorskip("torch")
    argv = ["compare", "--layers", TINY, "--methods", "direct,torch", "--repeat", "1",
            "--no-progress"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "torch.nn.functional.conv2d" in out
    assert "n/a" in out                        # torch's memory is not visible to tracemalloc


def test_compare_progress_bar(capsys):
    assert cli.main(["compare", "--layers", TINY, "--methods", "direct", "--repeat", "1"]) == 0
    captured = capsys.readouterr()
    assert "conv2d_direct" in captured.out


def test_info(tmp_path, capsys):
    path = tmp_path / "info.json"
    assert cli.main(["info", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    for word in ("im2col_nb " + im2col_nb.__version__, "backend", "numpy", "BLAS", "JIT cache",
                 "threads"):
        assert word in out
    data = json.loads(path.read_text())
    assert data["backend"] == im2col_nb.get_backend()
    assert data["packages"]["numpy"] == np.__version__
    if data["numba"] is not None:
        assert data["numba"]["threading_layer"] in ("omp", "tbb", "workqueue")
        assert data["numba"]["num_threads"] >= 1
        assert data["jit_cache"]["kernels"] >= 5
        # a kernel just ran, so at least that one is cached now
        assert data["jit_cache"]["cached_kernels"] >= 1
        assert "threading  numba layer" in out
    assert any(p["user_api"] == "blas" for p in data["threadpools"])


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert im2col_nb.__version__ in capsys.readouterr().out


# ---------------------------------------------------------------------------
# layers and bad options
# ---------------------------------------------------------------------------


def test_parse_layers():
    names = layers.parse_layers(["mid-3x3,deep-3x3", "rgb-3x3"])
    assert [layer.name for layer in names] == ["mid-3x3", "deep-3x3", "rgb-3x3"]
    assert len(layers.parse_layers(["all"])) == len(layers.DEFAULT_LAYERS)
    (custom,) = layers.parse_layers(["1,4,9,9,6,3,1,same"])
    assert (custom.n, custom.c, custom.h, custom.w, custom.f, custom.k) == (1, 4, 9, 9, 6, 3)
    assert custom.stride == 1 and custom.padding == "same"
    (grouped,) = layers.parse_layers(["1,4,9,9,6,3,1,1,2,2"])
    assert grouped.weight_shape == (6, 2, 3, 3) and grouped.dilation == 2
    assert grouped.output_shape() == (1, 6, 7, 7)
    for layer in layers.DEFAULT_LAYERS.values():
        assert layer.flops() > 0


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "unrecognized arguments"),
    (["frobnicate"], "invalid choice"),
    (["compare", "--dtype", "int8"], "invalid choice: 'int8'"),
    (["compare", "--layers", "nope"], "unknown layer 'nope'"),
    (["compare", "--layers", "1,3,4,4,2,9"], "kernel"),
    (["compare", "--layers", "1,3,4"], "expected 6 to 10"),
    (["compare", "--layers", "1,3,8,8,4,3,0"], "STRIDE must be positive, got 0"),
    (["compare", "--layers", "1,3,8,8,4,x"], "K must be an int, got 'x'"),
    (["compare", "--layers", "1,3,8,8,4,3,1,1,1,2"], "GROUPS=2 must divide C=3"),
    (["compare", "--layers", "1,3,8,8,4,3,2,same"], "same"),
    (["compare", "--threads", "0"], "must be a positive int, got 0"),
    (["compare", "--threads", "many"], "must be a positive int"),
    (["compare", "--threads", "100000"], "--threads must be at most"),
    (["compare", "--repeat", "-1"], "must be a positive int"),
    (["compare", "--methods", "im2col,magic"], "comma-separated names"),
    (["compare", "--json", "/nonexistent-dir/r.json"], "does not exist"),
    (["demo", "--plot", "/nonexistent-dir/d.png"], "does not exist"),
    (["info", "--json", "/nonexistent-dir/i.json"], "does not exist"),
])
def test_bad_options_exit_2_with_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: im2col-nb" in err
    assert message in err


def test_threads_option_limits_numba_and_blas_then_restores():
    import threadpoolctl

    before = im2col_nb.get_num_threads()
    with compare.thread_limit(1, []):
        assert im2col_nb.get_num_threads() == 1
        im2col_nb.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)))
        blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)
    assert im2col_nb.get_num_threads() == before


def test_threads_bound_is_the_public_max_num_threads(capsys):
    top = im2col_nb.max_num_threads()
    with pytest.raises(SystemExit) as exc:
        cli.main(["compare", "--threads", str(top + 1)])
    assert exc.value.code == 2
    assert f"--threads must be at most {top} (NUMBA_NUM_THREADS), got {top + 1}" in capsys.readouterr().err


def test_no_method_available_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr(compare, "_torch_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        cli.main(["compare", "--layers", TINY, "--methods", "torch"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: im2col-nb" in err and "--methods: none of torch can run here" in err


# ---------------------------------------------------------------------------
# the package's shape: public API only, matplotlib only for --plot
# ---------------------------------------------------------------------------


CLI_DIR = pathlib.Path(cli.__file__).parent


def test_cli_uses_only_the_public_api():
    for path in sorted(CLI_DIR.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"im2col_nb\._", text), f"{path.name} uses a private module"
        assert not re.search(r"^\s*from \.\.", text, re.M), f"{path.name} imports outside cli/"
        assert not re.search(r"import \*", text), f"{path.name} has a star import"


def test_matplotlib_only_for_plot():
    code = ("import sys, im2col_nb.cli.commands, im2col_nb.cli.timing; "
            "print(sorted(m for m in ('matplotlib', 'im2col_nb.cli.figures') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ---------------------------------------------------------------------------
# the timing harness (shared with bench/suite.py)
# ---------------------------------------------------------------------------


def test_settle_runs_at_least_once_and_for_the_time_given():
    calls = []
    timing.settle(lambda: calls.append(1), seconds=0.0)
    assert len(calls) == 1
    t0 = time.perf_counter()
    timing.settle(lambda: calls.append(1), seconds=0.05)
    assert time.perf_counter() - t0 >= 0.05 and len(calls) > 2


def test_interleaved_times_rounds_order_and_budget():
    log = []
    times = timing.interleaved_times([lambda: log.append("a"), lambda: log.append("b")],
                                     rounds=3, warmup=1)
    assert log == ["a", "b"] + ["a", "b"] * 3            # warm-up, then A B, A B, A B
    assert [len(t) for t in times] == [3, 3] and all(x >= 0 for t in times for x in t)
    # a spent budget stops after min_rounds; without one, every round runs
    assert len(timing.interleaved_times([lambda: None], rounds=20, warmup=0, budget_s=0.0,
                                        min_rounds=3)[0]) == 3
    assert len(timing.interleaved_times([lambda: None], rounds=20, warmup=0, budget_s=0.0)[0]) == 2
    assert len(timing.interleaved_times([lambda: None], rounds=7, warmup=0)[0]) == 7
    slow = timing.interleaved_times([lambda: time.sleep(0.002)], rounds=2, warmup=0)[0]
    assert min(slow) >= 0.002
    mins, medians = timing.interleaved([lambda: time.sleep(0.001)], rounds=3)
    assert 0.001 <= mins[0] <= medians[0]


def test_traced_peak_sees_the_call_and_restores_tracing():
    import tracemalloc

    assert not tracemalloc.is_tracing()
    assert timing.traced_peak(lambda: np.ones(2**20, dtype=np.uint8)) >= 2**20
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        kept = np.ones(2**20, dtype=np.uint8)           # allocated before: not counted
        assert timing.traced_peak(lambda: None) < 2**16
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
    del kept
