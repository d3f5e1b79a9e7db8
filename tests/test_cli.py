"""The command line: `python -m im2col_nb`, `im2col-nb demo|compare|info`."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import im2col_nb
from im2col_nb import cli

SEED_ROWS = ["1 4 3 4 1", "1 2 4 3 3", "1 2 3 4 1", "1 3 3 1 1", "3 3 1 1 0"]
# First row of the 9 x 25 patch matrix (tap (0, 0) of every patch), grouped by output row.
SEED_PATCH_ROW = "tap (0,0)  0 1 1 1 0 | 0 0 1 1 1 | 0 0 0 1 1 | 0 0 0 1 1 | 0 0 1 1 0"
SEED_PRODUCT = "1 4 3 4 1 | 1 2 4 3 3 | 1 2 3 4 1 | 1 3 3 1 1 | 3 3 1 1 0"
TINY = "2,3,8,8,4,3,1,1"           # N,C,H,W,F,K,stride,padding: fast everywhere
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, env=None, timeout=180):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "im2col_nb", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def assert_seed_result(text):
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("4. Reshaped to 5x5, that row is I * K:")
    assert lines[start + 1:start + 6] == SEED_ROWS
    assert "conv2d(I, K) gives the same 5x5 result: True" in text


# ---------------------------------------------------------------------------
# the seed's example, as the command line computes it
# ---------------------------------------------------------------------------


def test_seed_steps_match_the_seed():
    s = cli.seed_steps()
    assert s["cols"].shape == (9, 25)
    assert s["row"].shape == (1, 9)
    np.testing.assert_array_equal(s["result"], cli.SEED_RESULT)
    np.testing.assert_array_equal(s["conv2d"], cli.SEED_RESULT)
    # column j of the patch matrix is the patch at output position (j // 5, j % 5)
    for j in (0, 7, 24):
        i, k = divmod(j, 5)
        np.testing.assert_array_equal(s["cols"][:, j], cli.SEED_IMAGE[i:i + 3, k:k + 3].ravel())


def test_batch_and_pool_steps():
    b = cli.batch_steps()
    assert b["cols"].shape == (2, 12, 9)          # the seed's 12 x 9 per 4x4x3 image, 2x2 kernel
    assert b["wide"].shape == (12, 18)
    assert b["product"].shape == (4, 18)
    np.testing.assert_allclose(b["result"], b["conv2d"])
    p = cli.pool_steps()
    np.testing.assert_array_equal(p["result"], [[4, 5], [6, 3]])
    if p["max_pool2d"] is not None:
        np.testing.assert_array_equal(p["max_pool2d"], p["result"])


# ---------------------------------------------------------------------------
# main job and subcommands, in a subprocess
# ---------------------------------------------------------------------------


def test_main_job_subprocess():
    proc = run()
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert_seed_result(out)
    assert SEED_PATCH_ROW in out
    assert SEED_PRODUCT in out
    assert "conv2d_direct" in out and "conv2d (im2col+GEMM" in out
    assert "MiB" in out and "GFLOP/s" in out
    assert cli.MAIN_LAYER in out
    assert "Traceback" not in proc.stderr


def test_console_script():
    script = shutil.which("im2col-nb", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("console script im2col-nb not installed next to this python")
    proc = subprocess.run([script, "demo"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert_seed_result(proc.stdout)


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
    assert_seed_result(out)
    assert SEED_PATCH_ROW in out
    assert SEED_PRODUCT in out
    assert "2 x 12 x 9" in out                       # a batch: 12 x 9 per image
    assert "one GEMM: (4 x 12) @ (12 x 18) -> 4 x 18" in out
    assert "conv2d(x, w) gives the same: True" in out
    assert "reshaped to 2x2 = max_pool2d(x, 2):" in out
    assert "    4 5\n    6 3" in out
    if hasattr(im2col_nb, "max_pool2d"):
        assert "im2col_nb.max_pool2d(x, 2) gives the same: True" in out


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
    names = cli.parse_layers(["mid-3x3,deep-3x3", "rgb-3x3"])
    assert [layer.name for layer in names] == ["mid-3x3", "deep-3x3", "rgb-3x3"]
    assert len(cli.parse_layers(["all"])) == len(cli.DEFAULT_LAYERS)
    (custom,) = cli.parse_layers(["1,4,9,9,6,3,1,same"])
    assert (custom.n, custom.c, custom.h, custom.w, custom.f, custom.k) == (1, 4, 9, 9, 6, 3)
    assert custom.stride == 1 and custom.padding == "same"
    (grouped,) = cli.parse_layers(["1,4,9,9,6,3,1,1,2,2"])
    assert grouped.weight_shape == (6, 2, 3, 3) and grouped.dilation == 2
    assert grouped.output_shape() == (1, 6, 7, 7)
    for layer in cli.DEFAULT_LAYERS.values():
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
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not hasattr(im2col_nb, "get_num_threads"):
        pytest.skip("no thread knob in this build")
    before = im2col_nb.get_num_threads()
    with cli.thread_limit(1, []):
        assert im2col_nb.get_num_threads() == 1
        im2col_nb.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)))
        blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)
    assert im2col_nb.get_num_threads() == before
