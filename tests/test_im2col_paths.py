"""The copy paths of the im2col kernels, each checked bit for bit against the
explicit-loop oracle (tests/naive.py), on both backends.

The Numba kernels pick, per call, where a tile's patches are read from (the
input plane itself when no padding is involved, else a zero-bordered copy of
the rows the tile reads, split into column phases for strided wide rows) and
how each tap's patch row is copied (one contiguous run, one run per output
row for wide rows, or through a table of offsets for narrow rows). `PATH_CASES` covers every combination; a test
asserts that each one is really selected, so a change of the selection rule
cannot leave a path untested.
"""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


import naive

import im2col_nb
from im2col_nb._kernels.numba import im2col as nb_kernels  # the module
from im2col_nb._core.backend import backend_module, backend_named
from im2col_nb._core.geometry import conv_geometry

CONTIGUOUS, ROWS, GATHER = nb_kernels._CONTIGUOUS, nb_kernels._ROWS, nb_kernels._GATHER

# (N, C, H, W, kernel, stride, padding, dilation, (direct, mode, phases) of the whole-image tile)
PATH_CASES = {
    "pointwise-contiguous": (2, 3, 5, 6, 1, 1, 0, 1, (True, CONTIGUOUS, 1)),
    "1x1-stride2-gather": (2, 4, 14, 14, 1, 2, 0, 1, (True, GATHER, 1)),
    "1x1-padded-contiguous": (2, 2, 4, 5, 1, 1, 1, 1, (False, CONTIGUOUS, 1)),
    "3x3-small-padded-gather": (2, 5, 7, 7, 3, 1, 1, 1, (False, GATHER, 1)),
    "3x3-small-direct-gather": (2, 3, 9, 8, 3, 1, 0, 1, (True, GATHER, 1)),
    "3x3-wide-padded-rows": (2, 3, 6, 20, 3, 1, 1, 1, (False, ROWS, 1)),
    "3x3-wide-direct-rows": (1, 2, 5, 21, 3, 1, 0, 1, (True, ROWS, 1)),
    "stride2-wide-padded-phases": (1, 3, 9, 40, (3, 5), 2, (1, 2), 1, (False, ROWS, 2)),
    "stride2-wide-unpadded-phases": (2, 2, 7, 37, 3, (1, 2), 0, 1, (False, ROWS, 2)),
    "stride3-odd-width-phases": (1, 2, 4, 53, (1, 4), (1, 3), (0, 1), 1, (False, ROWS, 3)),
    "dilated-gather": (2, 3, 11, 10, 3, 1, 2, 2, (False, GATHER, 1)),
    "dilated-rows-stride3": (1, 2, 12, 60, (2, 3), (2, 3), (1, 0), (3, 2), (False, ROWS, 3)),
    "dilated-rows-stride2": (1, 2, 6, 44, (2, 4), (1, 2), (0, 3), (2, 3), (False, ROWS, 2)),
    "same-even-kernel": (2, 3, 8, 9, 4, 1, "same", 1, (False, GATHER, 1)),
    "right-padding-only": (1, 2, 6, 7, (1, 2), 1, "same", 1, (False, GATHER, 1)),
    "padding-wider-than-kernel": (2, 2, 3, 4, 2, 2, 3, 1, (False, GATHER, 1)),
    "kernel-is-the-input": (2, 3, 5, 4, (5, 4), 1, 0, 1, (True, CONTIGUOUS, 1)),
    "one-output-column": (2, 2, 6, 3, 3, 1, 0, 1, (True, GATHER, 1)),
}


def _make(case, dtype=np.float32, seed=0):
    n, c, h, w, k, s, p, d, _ = case
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)
    geom = conv_geometry((h, w), k, s, p, d)
    return x, geom, dict(kernel_size=k, stride=s, padding=p, dilation=d)


def _oracle(x, kw):
    return naive.im2col(x, kw["kernel_size"], dilation=kw["dilation"], padding=kw["padding"],
                        stride=kw["stride"])


def _plan(x, geom, p0, p1):
    _, _, _, direct, _, mode, phases, _ = nb_kernels._tile_plan(
        x.shape[2], x.shape[3], p0, p1, geom.kernel_h, geom.kernel_w, geom.stride_h, geom.stride_w,
        geom.pad_top, geom.pad_left, geom.dilation_h, geom.dilation_w, geom.out_w)
    return bool(direct), int(mode), int(phases)


def test_every_path_is_selected():
    for name, case in PATH_CASES.items():
        x, geom, _ = _make(case)
        assert _plan(x, geom, 0, geom.out_area) == case[-1], name
    # Part of one output row is always a single run when stride_w == 1.
    x, geom, _ = _make(PATH_CASES["3x3-small-padded-gather"])
    assert _plan(x, geom, 2, 5) == (False, CONTIGUOUS, 1)
    # Interior output rows of a padded layer read the input directly when no
    # column padding is involved.
    x, geom, _ = _make((1, 1, 12, 9, 3, 1, (1, 0), 1, None))
    assert _plan(x, geom, 2 * geom.out_w, 5 * geom.out_w) == (True, GATHER, 1)
    assert _plan(x, geom, 0, 5 * geom.out_w) == (False, GATHER, 1)


def _whole_batch(x, geom, kw):
    """The public im2col; its backend kernel directly for 'same' padding,
    which only the convolutions accept."""
    if not isinstance(kw["padding"], str):
        return im2col_nb.im2col(x, **kw)
    cols = np.full((x.shape[0], x.shape[1] * geom.kernel_area, geom.out_area), np.nan, x.dtype)
    backend_module().im2col(x, cols, geom, 0, geom.out_h)
    return cols


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(PATH_CASES))
def test_im2col_paths_match_naive(backend, name, dtype):
    x, geom, kw = _make(PATH_CASES[name], dtype)
    got = _whole_batch(x, geom, kw)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.astype(np.float64), _oracle(x, kw))


def _tiles(n_img, area, out_w):
    """(n0, n_img, p0, p1): whole batch, image runs, row runs, parts of rows."""
    yield 0, n_img, 0, area
    yield n_img - 1, 1, 0, area
    if n_img > 1:
        yield 1, n_img - 1, 0, area
    yield 0, 1, 0, min(area, 2 * out_w)                      # first rows
    yield 0, n_img, max(0, area - 2 * out_w), area           # last rows
    yield 0, n_img, min(1, area - 1), area - 1 if area > 2 else area  # ragged ends
    yield 0, 1, area // 2, area // 2 + 1                      # one position
    mid = (area // out_w // 2) * out_w
    yield n_img - 1, 1, mid + out_w // 3, min(area, mid + out_w // 3 + max(1, out_w // 2))  # inside one row
    yield 0, n_img, min(area - 1, out_w - 1), min(area, 2 * out_w + 1)  # across row ends


@pytest.mark.parametrize("name", [pytest.param("numba", marks=pytest.mark.nojit), "numpy"])
@pytest.mark.parametrize("case", list(PATH_CASES))
def test_tile_paths_match_naive(name, case):
    be = backend_named(name)
    for dtype in (np.float32, np.float64):
        x, geom, kw = _make(PATH_CASES[case], dtype)
        want = _oracle(x, kw)
        k = want.shape[1]
        for n0, count, p0, p1 in _tiles(x.shape[0], geom.out_area, geom.out_w):
            cols = np.full((k, count * (p1 - p0)), np.nan, dtype=dtype)
            be.im2col_tile(x, cols, geom, n0, count, p0, p1)
            expect = want[n0:n0 + count, :, p0:p1].transpose(1, 0, 2).reshape(k, -1)
            np.testing.assert_array_equal(cols, expect, err_msg=f"{case} tile {(n0, count, p0, p1)}")


@pytest.mark.parametrize("name", [pytest.param("numba", marks=pytest.mark.nojit), "numpy"])
@pytest.mark.parametrize("case", ["3x3-small-padded-gather", "stride2-wide-padded-phases",
                                  "dilated-gather", "same-even-kernel", "1x1-stride2-gather"])
def test_row_ranges_match_naive(name, case):
    """The whole-batch kernel on runs of output rows (top, interior, bottom)."""
    be = backend_named(name)
    x, geom, kw = _make(PATH_CASES[case], np.float64)
    want = _oracle(x, kw)
    k, out_w = want.shape[1], geom.out_w
    for r0, rc in [(0, geom.out_h), (0, 1), (geom.out_h - 1, 1), (1, max(1, geom.out_h - 2))]:
        cols = np.full((x.shape[0], k, rc * out_w), np.nan)
        be.im2col(x, cols, geom, r0, rc)
        np.testing.assert_array_equal(cols, want[:, :, r0 * out_w:(r0 + rc) * out_w])


def test_many_tasks_share_thread_planes(backend):
    """More (image, channel) tasks than threads: each thread's plane buffer is
    reused across channels and must keep its zero borders."""
    x = np.random.default_rng(3).standard_normal((6, 40, 9, 7)).astype(np.float32)
    for kw in [dict(kernel_size=3, padding=1), dict(kernel_size=3, padding=2, dilation=2, stride=2),
               dict(kernel_size=(2, 4), padding="same")]:
        kw = {"stride": 1, "dilation": 1, **kw}
        geom = conv_geometry((9, 7), kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"])
        got = _whole_batch(x, geom, kw)
        np.testing.assert_array_equal(got.astype(np.float64), _oracle(x, kw))


@st.composite
def _tile_configs(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pt, pl = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, (kh - 1) * dh + 1 - 2 * pt), 12))
    w = draw(st.integers(max(1, (kw - 1) * dw + 1 - 2 * pl), 40))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return n, c, h, w, (kh, kw), (sh, sw), (pt, pl), (dh, dw), draw(st.randoms())


@settings(max_examples=60, deadline=None)
@given(cfg=_tile_configs())
def test_hypothesis_tiles_numba(cfg):
    n, c, h, w, k, s, p, d, rnd = cfg
    x = np.random.default_rng(rnd.randrange(2**32)).standard_normal((n, c, h, w)).astype(np.float32)
    geom = conv_geometry((h, w), k, s, p, d)
    want = naive.im2col(x, k, dilation=d, padding=p, stride=s)
    area, kk = geom.out_area, want.shape[1]
    n0 = rnd.randrange(n)
    count = rnd.randrange(1, n - n0 + 1)
    p0 = rnd.randrange(area)
    p1 = rnd.randrange(p0 + 1, area + 1)
    if count > 1:
        p0, p1 = 0, area
    cols = np.full((kk, count * (p1 - p0)), np.nan, dtype=np.float32)
    backend_named("numba").im2col_tile(x, cols, geom, n0, count, p0, p1)
    expect = want[n0:n0 + count, :, p0:p1].transpose(1, 0, 2).reshape(kk, -1)
    np.testing.assert_array_equal(cols, expect)
    full = np.full((n, kk, area), np.nan, dtype=np.float32)
    backend_named("numba").im2col(x, full, geom, 0, geom.out_h)
    np.testing.assert_array_equal(full, want)
