"""The Numba kernels also work uncompiled (NUMBA_DISABLE_JIT=1).

That is how line coverage of the kernels is measured, and it proves the
kernel bodies are plain, correct Python. A fresh interpreter runs the
Numba-backend half of the kernel test files with the JIT disabled, except the
random (hypothesis) tests and the ones on large inputs, which are too slow
uncompiled.
"""

import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

# Test files whose numba-backend tests run uncompiled; feature test files can
# be appended here.
FILES = ["test_convolution.py", "test_im2col.py", "test_grad.py", "test_pooling.py",
         "test_im2col_paths.py", "test_conv_gemm.py"]
# (the shifted-GEMM tests of test_conv_gemm.py need the Numba backend by themselves)
SELECT = "(numba or shift) and not hypothesis and not whole_input and not torch"


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


@pytest.mark.parametrize("name", FILES)
def test_kernels_uncompiled(name):
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header",
           "-o", "addopts=", "-k", SELECT, os.path.join(TESTS, name)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=600)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
