"""Backend selection: IM2COL_NB_BACKEND, numba missing or broken, set_backend.

Selection happens at import, so those cases run in a fresh interpreter.
"""

import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import im2col_nb
from im2col_nb._core import backend as _backend

SRC = os.path.dirname(im2col_nb.__file__)

# Makes `import numba` fail as if numba were not installed.
BLOCK_NUMBA = """
import importlib.abc, sys
class _NoNumba(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "numba" or name.startswith("numba."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoNumba())
"""

# Imports im2col_nb, uses every public function on the worked example, reports as JSON.
PROBE = """
import json, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import im2col_nb
    after_import = "numba" in sys.modules
    report = {"after_import_has_numba": after_import}
    if __USE__:
        import numpy as np
        I = np.array([[0,1,1,1,0,0,0],[0,0,1,1,1,0,0],[0,0,0,1,1,1,0],[0,0,0,1,1,0,0],
                      [0,0,1,1,0,0,0],[0,1,1,0,0,0,0],[1,1,0,0,0,0,0]])
        K = np.array([[1,0,1],[0,1,0],[1,0,1]])
        results = []
        for layout in ("NCHW", "NHWC"):
            results.append(im2col_nb.conv2d(I, K, layout=layout).tolist())
            results.append(im2col_nb.conv2d_direct(I, K, layout=layout).tolist())
        cols = im2col_nb.im2col(I[None], 3)
        results.append((K.reshape(1, 9) @ cols).reshape(5, 5).tolist())
        back = im2col_nb.col2im(cols, 7, 3)
        report["col2im_sum"] = float(back.sum())
        report["results"] = results
    __EXTRA__
    report["backend"] = im2col_nb.get_backend()
report["numba_imported"] = "numba" in sys.modules
report["warnings"] = [(w.category.__name__, str(w.message)) for w in caught]
print("REPORT" + json.dumps(report))
"""

EXAMPLE_RESULT = [[1, 4, 3, 4, 1], [1, 2, 4, 3, 3], [1, 2, 3, 4, 1], [1, 3, 3, 1, 1], [3, 3, 1, 1, 0]]


def run_probe(tmp_path, *, env=None, block=False, fake_numba=False, use=True, extra=""):
    """Run PROBE in a fresh interpreter; return (report dict or None, completed process)."""
    probe = PROBE.replace("__USE__", str(use)).replace("    __EXTRA__\n", textwrap.indent(extra, "    ") + "\n")
    code = (BLOCK_NUMBA if block else "") + probe
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("IM2COL_NB_BACKEND", "NUMBA_DISABLE_JIT", "PYTHONPATH")}
    child_env.update(env or {})
    if fake_numba:
        fake = tmp_path / "fake"
        fake.mkdir()
        (fake / "numba.py").write_text('raise ImportError("numba is broken: fake for the test")\n')
        child_env["PYTHONPATH"] = str(fake)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env, cwd=str(tmp_path), timeout=300)
    match = re.search(r"^REPORT(.*)$", proc.stdout, re.M)
    return (json.loads(match.group(1)) if match else None), proc


def ok(report, proc):
    assert report is not None, proc.stderr[-3000:]
    return report


def check_results(report):
    assert report["results"] == [EXAMPLE_RESULT] * 5
    assert report["col2im_sum"] > 0


def runtime_warnings(report):
    return [m for cat, m in report["warnings"] if cat == "RuntimeWarning"]


# ---------------------------------------------------------------------------
# selection at import
# ---------------------------------------------------------------------------

def test_default_is_numba_and_import_is_lazy(tmp_path):
    report = ok(*run_probe(tmp_path, use=False))
    assert report["after_import_has_numba"] is False     # numba is loaded on first use only
    assert report["backend"] == "numba"
    assert report["warnings"] == []


@pytest.mark.parametrize("value", ["numpy", "NumPy", " numpy "])
def test_env_numpy_never_imports_numba(tmp_path, value):
    report = ok(*run_probe(tmp_path, env={"IM2COL_NB_BACKEND": value}))
    assert report["backend"] == "numpy"
    check_results(report)
    assert report["numba_imported"] is False
    assert report["warnings"] == []


def test_env_numba(tmp_path):
    report = ok(*run_probe(tmp_path, env={"IM2COL_NB_BACKEND": "numba"}))
    assert report["backend"] == "numba"
    check_results(report)
    assert report["numba_imported"] is True
    assert report["warnings"] == []


def test_env_bogus_warns_once_and_uses_default(tmp_path):
    report = ok(*run_probe(tmp_path, env={"IM2COL_NB_BACKEND": "cuda"}, use=False))
    assert report["backend"] == "numba"
    [message] = runtime_warnings(report)
    assert "IM2COL_NB_BACKEND" in message and "'cuda'" in message


def test_numba_missing_falls_back_with_one_warning(tmp_path):
    report = ok(*run_probe(tmp_path, block=True))
    assert report["backend"] == "numpy"
    check_results(report)
    assert report["numba_imported"] is False
    [message] = runtime_warnings(report)
    assert "numba" in message and "NumPy" in message
    assert len(report["warnings"]) == 1


def test_numba_missing_and_env_numpy_is_silent(tmp_path):
    report = ok(*run_probe(tmp_path, block=True, env={"IM2COL_NB_BACKEND": "numpy"}))
    assert report["backend"] == "numpy"
    check_results(report)
    assert report["warnings"] == []


def test_numba_missing_but_forced_is_an_import_error(tmp_path):
    report, proc = run_probe(tmp_path, block=True, env={"IM2COL_NB_BACKEND": "numba"}, use=False)
    assert report is None and proc.returncode != 0
    assert "ImportError" in proc.stderr and "IM2COL_NB_BACKEND=numba" in proc.stderr


def test_numba_missing_set_backend_numba_raises(tmp_path):
    extra = textwrap.dedent("""
        try:
            im2col_nb.set_backend("numba")
        except ImportError as exc:
            report["set_numba"] = str(exc)
        report["after_set"] = im2col_nb.get_backend()
    """)
    report = ok(*run_probe(tmp_path, block=True, use=False, extra=extra))
    assert "numba" in report["set_numba"]
    assert report["after_set"] == "numpy"


def test_broken_numba_falls_back_with_one_warning(tmp_path):
    """numba is found but raises on import (broken install, unsupported
    NumPy): the NumPy backend runs, with one warning, and asking for numba
    explicitly is an ImportError."""
    extra = textwrap.dedent("""
        try:
            im2col_nb.set_backend("numba")
        except ImportError as exc:
            report["set_numba"] = str(exc)
        report["after_set"] = im2col_nb.get_backend()
    """)
    report = ok(*run_probe(tmp_path, fake_numba=True, extra=extra))
    assert report["backend"] == "numpy"
    check_results(report)
    [message] = runtime_warnings(report)
    assert "numba is broken" in message and "NumPy" in message
    assert len(report["warnings"]) == 1
    assert "numba is broken" in report["set_numba"]
    assert report["after_set"] == "numpy"


def test_broken_numba_get_backend_tells_the_truth(tmp_path):
    report = ok(*run_probe(tmp_path, fake_numba=True, use=False))
    assert report["backend"] == "numpy"
    assert len(runtime_warnings(report)) == 1


def test_broken_numba_but_forced_raises(tmp_path):
    report, proc = run_probe(tmp_path, fake_numba=True, env={"IM2COL_NB_BACKEND": "numba"})
    assert report is None and proc.returncode != 0
    assert "ImportError" in proc.stderr and "numba is broken" in proc.stderr


def test_set_backend_numpy_at_run_time_never_imports_numba(tmp_path):
    extra = textwrap.dedent("""
        import numpy as np
        im2col_nb.set_backend("numpy")
        x = np.ones((1, 2, 5, 5))
        w = np.ones((3, 2, 3, 3))
        for layout, xl in (("NCHW", x), ("NHWC", x.transpose(0, 2, 3, 1))):
            im2col_nb.conv2d(xl, w, layout=layout, padding=1)
            im2col_nb.conv2d_direct(xl, w, layout=layout, padding=1)
        im2col_nb.col2im(im2col_nb.im2col(x, 3), 5, 3)
    """)
    report = ok(*run_probe(tmp_path, use=False, extra=extra))
    assert report["backend"] == "numpy"
    assert report["numba_imported"] is False


def test_numpy_backend_sources_do_not_import_numba():
    files = glob.glob(os.path.join(SRC, "_kernels", "numpy", "*.py"))
    assert os.path.join(SRC, "_kernels", "numpy", "backend.py") in files
    assert len(files) >= 8
    for path in files:
        with open(path) as f:
            text = f.read()
        assert not re.search(r"^\s*(import numba|from numba)", text, re.M), path
        assert "_numba" not in re.sub(r"#.*|\"\"\"[\s\S]*?\"\"\"", "", text), path


# ---------------------------------------------------------------------------
# set_backend / get_backend in this process
# ---------------------------------------------------------------------------

def test_set_and_get_backend():
    previous = im2col_nb.get_backend()
    try:
        for name, expected in (("numpy", "numpy"), ("NUMBA", "numba"), ("NumPy", "numpy"),
                               ("numba", "numba")):
            assert im2col_nb.set_backend(name) is None
            assert im2col_nb.get_backend() == expected
            assert _backend.backend_module().NAME == expected
    finally:
        im2col_nb.set_backend(previous)


@pytest.mark.parametrize("bad", ["bogus", "", "torch", None, 3, ["numpy"]])
def test_set_backend_bad_name(bad):
    previous = im2col_nb.get_backend()
    with pytest.raises(ValueError, match=r"`name`.*" + re.escape(repr(bad))):
        im2col_nb.set_backend(bad)
    assert im2col_nb.get_backend() == previous


def test_backends_expose_the_same_functions():
    numba_mod = _backend.backend_named("numba")
    numpy_mod = _backend.backend_named("numpy")

    def public(mod):
        return {n for n, v in vars(mod).items() if callable(v) and not n.startswith("_")
                and getattr(v, "__module__", "").startswith("im2col_nb.")}

    # Only the tile kernels calling BLAS from Numba are Numba's alone (the NumPy
    # backend runs the same tiles from _conv_gemm's Python driver).
    # Winograd's kernels likewise (the NumPy twin runs where they cannot).
    assert numba_mod.NUMBA_ONLY == ("conv_tiles_nchw", "conv_tiles_nhwc", "conv_shift_nchw",
                                    "conv_shift_nhwc", "conv_winograd", "weight_grad_tiles_nchw",
                                    "winograd_filter_transform")
    assert public(numba_mod) - set(numba_mod.NUMBA_ONLY) == public(numpy_mod)
    for name in ("im2col", "col2im", "im2row_nhwc", "conv2d_direct_nchw", "conv2d_direct_nhwc"):
        assert name in public(numpy_mod)
