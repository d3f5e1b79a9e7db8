"""Pooling's methods in the engine: each forced method matches the reference
in both layouts and dtypes, ``auto`` (and None) picks the direct kernel as
measured, unknown methods are clear errors, `explain` says what runs."""

import numpy as np
import pytest

import naive
from conftest import tolerance

import im2col_nb
from im2col_nb import avg_pool2d, explain, max_pool2d
from im2col_nb._engine import pool as _pool
from im2col_nb._engine.registry import methods

METHODS = ("direct", "im2col")
OPS = ("max_pool2d", "avg_pool2d")

# (x shape, max_pool2d geometry, avg_pool2d geometry)
CASES = [
    ((2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1),
     dict(kernel_size=3, stride=2, padding=1)),
    ((1, 4, 7, 7), dict(kernel_size=(2, 3), stride=(1, 2), ceil_mode=True),
     dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), ceil_mode=True,
          count_include_pad=False)),
    ((3, 2, 10, 9), dict(kernel_size=3, stride=1, padding=1, dilation=2),
     dict(kernel_size=2, divisor_override=3)),
    ((0, 2, 5, 5), dict(kernel_size=2), dict(kernel_size=2)),     # empty batch
]


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _nchw(a):
    return a.transpose(0, 3, 1, 2)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("i", range(len(CASES)))
def test_each_forced_method_matches_naive(backend, layout, method, i):
    x_shape, max_geo, avg_geo = CASES[i]
    x = np.random.default_rng(i).standard_normal(x_shape)
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        xin = _nhwc(xd) if layout == "NHWC" else xd
        want, want_idx = naive.max_pool2d(xd, **max_geo)
        out, idx = max_pool2d(xin, return_indices=True, layout=layout, method=method, **max_geo)
        values = max_pool2d(xin, layout=layout, method=method, **max_geo)
        if layout == "NHWC":
            out, idx, values = _nchw(out), _nchw(idx), _nchw(values)
        assert out.dtype == dtype and idx.dtype == np.int64
        np.testing.assert_array_equal(out, want.astype(dtype))     # a max is exact
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_array_equal(values, out)

        got = avg_pool2d(xin, layout=layout, method=method, **avg_geo)
        if layout == "NHWC":
            got = _nchw(got)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, naive.avg_pool2d(x, **avg_geo), *tolerance(dtype))

        assert explain("max_pool2d", xin, layout=layout, method=method, **max_geo).method == method
        assert explain("avg_pool2d", xin, layout=layout, method=method, **avg_geo).method == method


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_im2col_in_chunks_matches_naive(backend, layout):
    """A budget of two output rows: the plan says how many chunks, the result
    does not change."""
    x = np.random.default_rng(7).standard_normal((2, 3, 11, 10))
    xin = _nhwc(x) if layout == "NHWC" else x
    budget = 3 * 9 * 5 * 8 * 2                       # C*kh*kw * OW * 8 bytes * 2 rows
    with im2col_nb.config(max_workspace_bytes=budget):
        choice = explain("max_pool2d", xin, 3, 2, 1, layout=layout, method="im2col")
        assert choice.plan.startswith("patch matrix in 6 chunk(s) of 2 output row(s) of one image")
        out, idx = max_pool2d(xin, 3, 2, 1, return_indices=True, layout=layout, method="im2col")
        got = avg_pool2d(xin, 3, 2, 1, layout=layout, method="im2col")
    if layout == "NHWC":
        out, idx, got = _nchw(out), _nchw(idx), _nchw(got)
    want, want_idx = naive.max_pool2d(x, 3, 2, 1)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(got, naive.avg_pool2d(x, 3, 2, 1), rtol=1e-12)


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_auto_and_none_pick_direct(op, layout):
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8))
    if layout == "NHWC":
        x = _nhwc(x)
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        for method in (None, "auto", "AUTO"):
            choice = explain(op, xd, 3, 2, 1, layout=layout, method=method)
            assert choice.method == "direct" and choice.requested == "auto"
            np.testing.assert_array_equal(op(xd, 3, 2, 1, layout=layout, method=method),
                                          op(xd, 3, 2, 1, layout=layout, method="direct"))
    # the big benchmark case of the docstrings, too
    big = np.empty((16, 64, 56, 56), np.float32)
    assert explain(op, big, 3, stride=2, padding=1).method == "direct"


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("method", ["fft", "", 3, "AUTO ", "shift", "pointwise", ["direct"]])
def test_unknown_method_is_a_value_error_listing_the_methods(op, method):
    x = np.ones((1, 1, 4, 4))
    pattern = r"`method` must be None or one of 'auto', 'direct', 'im2col', got "
    with pytest.raises(ValueError, match=pattern):
        op(x, 2, method=method)
    with pytest.raises(ValueError, match=pattern):
        op(np.ones((0, 1, 4, 4)), 2, method=method)      # an empty batch checks it too
    with pytest.raises(ValueError, match=pattern):
        explain(op.__name__, x, 2, method=method)    # by name: docs/errors.md shows the call


def test_method_names_are_case_insensitive():
    x = np.random.default_rng(4).standard_normal((1, 2, 6, 6))
    np.testing.assert_array_equal(max_pool2d(x, 2, method="IM2COL"), max_pool2d(x, 2, method="im2col"))
    assert explain("avg_pool2d", x, 2, method="Direct").method == "direct"


def test_registry_entries():
    for op in OPS:
        entries = methods(op)
        assert [m.name for m in entries] == list(METHODS)
        for m in entries:
            assert m.op == op and m.summary
    x = np.empty((2, 3, 8, 8), np.float32)
    for op, call in (("max_pool2d", explain("max_pool2d", x, 2)),
                     ("avg_pool2d", explain("avg_pool2d", x, 2))):
        assert [c.name for c in call.candidates] == list(METHODS)
        assert all(c.supported for c in call.candidates)
        direct, im2col = call.candidates
        assert direct.estimate == 1.0
        assert im2col.estimate == _pool.IM2COL_OVER_DIRECT[op, "NCHW"] > 1.0
    for key, ratio in _pool.IM2COL_OVER_DIRECT.items():
        assert key[0] in OPS and key[1] in ("NCHW", "NHWC") and ratio > 1.0


def test_explain_reports_problem_candidates_plan_and_machine():
    x = np.empty((16, 64, 56, 56), np.float32)
    choice = explain("max_pool2d", x, 3, stride=2, padding=1, return_indices=True)
    assert choice.op == "max_pool2d" and choice.method == "direct" and choice.requested == "auto"
    assert choice.problem == ("16 x 64 ch 56x56 (NCHW, float32), 3x3 windows, stride (2, 2), "
                              "padding (1, 1), dilation (1, 1) -> 28x28, indices")
    assert choice.plan == "direct windowed kernel over output rows, no workspace"
    assert choice.unit == "direct kernel time" and "thread" in choice.machine
    text = str(choice)
    assert "candidates (estimated time / direct kernel time):" in text and "<- runs" in text

    choice = explain(avg_pool2d, _nhwc(x), 3, 2, 1, count_include_pad=False, divisor_override=2,
                     layout="NHWC", method="im2col")
    assert choice.op == "avg_pool2d" and choice.method == "im2col" and choice.requested == "im2col"
    assert "(NHWC, float32)" in choice.problem and "count_include_pad=False" in choice.problem
    assert "divisor_override 2" in choice.problem and "dilation" not in choice.problem
    with im2col_nb.config(max_workspace_bytes=64 * 2**20):
        plan = explain(avg_pool2d, _nhwc(x), 3, 2, 1, layout="NHWC", method="im2col").plan
    # 16 images x 28 rows x 28 columns x 576 taps x 4 bytes = 27.6 MiB: one chunk
    assert plan == ("patch matrix in 1 chunk(s) of 16 image(s) (27.6 MiB each) within the "
                    "workspace budget (64 MiB), then a sum of each row")
    assert explain("max_pool2d", x[:0], 2).plan == "nothing to compute (an empty batch)"


def test_explain_validates_like_the_call():
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match="`padding` must be at most half"):
        explain("max_pool2d", x, 2, padding=2)
    with pytest.raises(ValueError, match="`divisor_override` must not be zero"):
        explain("avg_pool2d", x, 2, divisor_override=0)
    with pytest.raises(TypeError):
        explain("avg_pool2d", x, 2, dilation=2)          # avg_pool2d has no dilation
    with pytest.raises(ValueError, match="`op` must be one of 'conv2d', 'conv2d_direct', "
                                         "'conv2d_input_grad', 'conv2d_weight_grad', "
                                         "'conv_transpose2d', 'max_pool2d', 'avg_pool2d', "
                                         ".*got 'max_pool2d_backward'"):
        explain("max_pool2d_backward", x, x.astype(int), x.shape)
