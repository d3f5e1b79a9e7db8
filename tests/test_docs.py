"""The documentation: nav and links complete, every public function in the API
reference, the equivalence tables true, and the strict mkdocs build green.

The >>> examples in docs/*.md run as doctests (pytest's testpaths include docs/)."""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import im2col_nb as nb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as fh:
        return fh.read()


def nav_files():
    return re.findall(r"^\s*-\s+[^:\n]+:\s+(\S+\.md)\s*$", read("mkdocs.yml"), flags=re.M)


def test_nav_lists_every_page_and_only_existing_ones():
    nav = nav_files()
    assert nav[0] == "index.md"
    for page in nav:
        assert os.path.isfile(os.path.join(DOCS, page)), f"nav names missing docs/{page}"
    pages = sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))
    missing = [p for p in pages if p not in nav]
    assert not missing, f"add these pages to the nav in mkdocs.yml: {missing}"


def test_images_and_local_links_exist():
    for page in nav_files():
        text = read("docs", page)
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert os.path.exists(os.path.join(DOCS, os.path.dirname(page), target)), (
                f"docs/{page} links to missing {target}")


def public_names():
    names = [n for n in nb.__all__ if not n.startswith("_") and callable(getattr(nb, n))]
    return sorted(names)


def test_api_reference_lists_every_public_function():
    api = read("docs", "api.md")
    entries = set(re.findall(r"^::: (\S+)\s*$", api, flags=re.M))
    missing = [n for n in public_names() if f"im2col_nb.{n}" not in entries]
    assert not missing, f"add `::: im2col_nb.NAME` to docs/api.md for: {missing}"
    if importlib.util.find_spec("im2col_nb.features") is not None:
        import im2col_nb.features as features
        missing = [n for n in features.__all__ if f"im2col_nb.features.{n}" not in entries]
        assert not missing, f"add `::: im2col_nb.features.NAME` to docs/api.md for: {missing}"
    for entry in entries:                       # and nothing that does not exist
        module, _, name = entry.rpartition(".")
        assert hasattr(importlib.import_module(module), name), entry


def test_figure_script_writes_the_drawings(tmp_path):
    pytest.importorskip("matplotlib")
    proc = subprocess.run([sys.executable, os.path.join(DOCS, "scripts", "make_figures.py"),
                           "--no-measure", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, MPLBACKEND="Agg"))
    assert proc.returncode == 0, proc.stderr
    for name in ("example-inputs.png", "patch-matrix.png", "batch-gemm.png", "max-pool.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
        # the committed copy used by the site exists too
        assert os.path.isfile(os.path.join(DOCS, "img", name))


def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material"):
        pytest.importorskip(module)
    proc = subprocess.run([sys.executable, os.path.join(DOCS, "scripts", "build_docs.py"),
                           "--skip-figures", "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "api" / "index.html").is_file()
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in public_names():
        assert f'id="im2col_nb.{name}"' in api, name


# ---------------------------------------------------------------------------
# docs/coming-from.md: every row of the tables, checked
# ---------------------------------------------------------------------------

I = np.array([[0, 1, 1, 1, 0, 0, 0],
              [0, 0, 1, 1, 1, 0, 0],
              [0, 0, 0, 1, 1, 1, 0],
              [0, 0, 0, 1, 1, 0, 0],
              [0, 0, 1, 1, 0, 0, 0],
              [0, 1, 1, 0, 0, 0, 0],
              [1, 1, 0, 0, 0, 0, 0]], dtype=float)
K = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 2]], dtype=float)   # not symmetric: flips show
K_EVEN = np.array([[1, 2], [3, 4]], dtype=float)
RNG = np.random.default_rng(7)
IMG = RNG.standard_normal((6, 8))
X = RNG.standard_normal((2, 3, 6, 8))


def test_numpy_equivalents():
    view = np.lib.stride_tricks.sliding_window_view(I, (3, 3)).reshape(-1, 9).T
    np.testing.assert_array_equal(view, nb.im2col(I[None], (3, 3)))


def test_scipy_equivalents():
    signal = pytest.importorskip("scipy.signal")
    ndimage = pytest.importorskip("scipy.ndimage")
    np.testing.assert_allclose(signal.correlate2d(I, K, mode="valid"), nb.conv2d(I, K))
    for k in (K, K_EVEN):
        np.testing.assert_allclose(signal.correlate2d(I, k, mode="same"),
                                   nb.conv2d(I, k, padding="same"))
        np.testing.assert_allclose(signal.correlate2d(I, k, mode="full"),
                                   nb.conv2d(I, k, padding=(k.shape[0] - 1, k.shape[1] - 1)))
    np.testing.assert_allclose(signal.convolve2d(I, K, mode="valid"), nb.conv2d(I, K[::-1, ::-1]))
    np.testing.assert_allclose(ndimage.correlate(I, K, mode="constant"),
                               nb.conv2d(I, K, padding="same"))
    if not hasattr(nb, "max_pool2d"):
        return
    np.testing.assert_array_equal(
        ndimage.maximum_filter(IMG, size=3, mode="constant", cval=-np.inf),
        nb.max_pool2d(IMG[None], 3, stride=1, padding=1)[0])
    np.testing.assert_array_equal(ndimage.maximum_filter(IMG, size=2)[1::2, 1::2],
                                  nb.max_pool2d(IMG[None], 2)[0])


def test_skimage_equivalents():
    util = pytest.importorskip("skimage.util")
    measure = pytest.importorskip("skimage.measure")
    for s in (1, 2):
        np.testing.assert_array_equal(util.view_as_windows(I, (3, 3), step=s).reshape(-1, 9).T,
                                      nb.im2col(I[None], (3, 3), stride=s))
    if hasattr(nb, "max_pool2d"):
        np.testing.assert_array_equal(measure.block_reduce(X, (1, 1, 2, 2), np.max),
                                      nb.max_pool2d(X, 2))
        np.testing.assert_allclose(measure.block_reduce(X, (1, 1, 2, 2), np.mean),
                                   nb.avg_pool2d(X, 2))


def test_torch_equivalents():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = torch.from_numpy
    x = RNG.standard_normal((2, 4, 9, 7))
    w = RNG.standard_normal((6, 2, 3, 2))
    b = RNG.standard_normal(6)
    np.testing.assert_allclose(F.unfold(t(x), (3, 2), 2, 1, (2, 1)).numpy(),
                               nb.im2col(x, (3, 2), 2, 1, (2, 1)))
    cols = nb.im2col(x, 3, 1, 1, 2)
    np.testing.assert_allclose(F.fold(t(cols), (9, 7), 3, 1, 1, 2).numpy(),
                               nb.col2im(cols, (9, 7), 3, 1, 1, 2))
    np.testing.assert_allclose(F.conv2d(t(x), t(w), t(b), 2, 1, 1, 2).numpy(),
                               nb.conv2d(x, w, b, 2, 1, 1, 2), atol=1e-12)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(F.conv2d(t(x), t(w), groups=2).numpy().transpose(0, 2, 3, 1),
                               nb.conv2d(nhwc, w, groups=2, layout="NHWC"), atol=1e-12)
    if hasattr(nb, "conv_transpose2d"):
        wt = RNG.standard_normal((4, 3, 3, 3))
        np.testing.assert_allclose(
            F.conv_transpose2d(t(x), t(wt), None, 2, 1, 1, 1, 1).numpy(),
            nb.conv_transpose2d(x, wt, None, 2, 1, 1, 1, 1), atol=1e-12)
    if hasattr(nb, "max_pool2d"):
        ref, ref_idx = F.max_pool2d(t(x), 3, 2, 1, 1, True, True)
        out, idx = nb.max_pool2d(x, 3, 2, 1, 1, True, True)
        np.testing.assert_array_equal(ref.numpy(), out)
        np.testing.assert_array_equal(ref_idx.numpy(), idx)
        np.testing.assert_allclose(F.avg_pool2d(t(x), 3, 2, 1, True, False, None).numpy(),
                                   nb.avg_pool2d(x, 3, 2, 1, True, False, None), atol=1e-12)
    if hasattr(nb, "conv2d_input_grad"):
        g = RNG.standard_normal((2, 6, 5, 4))
        np.testing.assert_allclose(
            torch.nn.grad.conv2d_input(x.shape, t(w), t(g), 2, 1, 1, 2).numpy(),
            nb.conv2d_input_grad(x.shape, w, g, 2, 1, 1, 2), atol=1e-10)
        np.testing.assert_allclose(
            torch.nn.grad.conv2d_weight(t(x), w.shape, t(g), 2, 1, 1, 2).numpy(),
            nb.conv2d_weight_grad(x, w.shape, g, 2, 1, 1, 2), atol=1e-10)
        np.testing.assert_allclose(t(g).sum((0, 2, 3)).numpy(), nb.conv2d_bias_grad(g),
                                   atol=1e-12)
    if hasattr(nb, "threads"):
        with nb.threads(1):
            assert nb.get_num_threads() == 1
