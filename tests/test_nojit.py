"""The Numba kernels also work uncompiled (NUMBA_DISABLE_JIT=1).

That is how line coverage of the kernels is measured, and it proves the
kernel bodies are plain, correct Python. A fresh interpreter runs, with the
JIT disabled, every test marked ``nojit`` (the Numba instance of the
``backend`` fixture carries the mark, and so do the Numba-only kernel tests
that ask for it) except those also marked ``jit_only``: the random
(Hypothesis) tests, the ones on large inputs and the PyTorch cross-checks,
which are too slow uncompiled. Both markers are declared in pyproject.toml.
"""

import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

SELECT = "nojit and not jit_only"


def _env():
    env = {k: v for k, v in os.environ.items() if k != "IM2COL_NB_BACKEND"}
    env["NUMBA_DISABLE_JIT"] = "1"
    return env


def test_jit_is_really_disabled_in_the_child():
    code = ("import numba, im2col_nb._kernels.numba.im2col as m; "
            "assert numba.config.DISABLE_JIT; "
            "assert type(m._im2col_nchw).__name__ == 'function', type(m._im2col_nchw); print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(),
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_marked_tests_pass_uncompiled():
    # --strict-markers: a misspelt marker fails here instead of silently
    # selecting nothing; no -x, so the summary lists every failure.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
           "-o", "addopts=", "--strict-markers", "-m", SELECT, TESTS]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=1200)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
