"""Bad input: a ValueError or TypeError naming the argument and the value
received, raised before any kernel runs, on both backends; inputs untouched.
"""

import re

import sys

import numpy as np
import pytest

import im2col_nb
from im2col_nb import col2im, conv2d, conv2d_direct, im2col

X = np.ones((2, 3, 6, 6))          # NCHW
XH = np.ones((2, 6, 6, 3))         # NHWC
W = np.ones((4, 3, 3, 3))
B = np.ones(4)
COLS = np.ones((2, 27, 16))        # im2col(X, 3) has 27 rows and 4*4 = 16 columns


def esc(text):
    return re.escape(text)


# (id, function name, args, kwargs, exception, regex the message must match)
CONV_CASES = [
    # wrong number of dimensions
    ("input-1d", (np.ones(6), W), {}, ValueError, r"`input`.*\(6,\)"),
    ("input-5d", (np.ones((1, 2, 3, 6, 6)), W), {}, ValueError, r"`input`.*\(1, 2, 3, 6, 6\)"),
    ("input-0d", (np.float64(3.0), W), {}, ValueError, r"`input`.*\(\)"),
    ("weight-3d", (X, np.ones((3, 3, 3))), {}, ValueError, r"`weight`.*\(3, 3, 3\)"),
    ("weight-5d", (X, np.ones((1, 4, 3, 3, 3))), {}, ValueError, r"`weight`.*\(1, 4, 3, 3, 3\)"),
    ("2d-image-4d-weight", (np.ones((6, 6)), W), {}, ValueError, r"`weight`.*\(4, 3, 3, 3\)"),
    # channels
    ("channels", (X, np.ones((4, 2, 3, 3))), {}, ValueError, r"`weight`.*\(4, 2, 3, 3\).*`input`.*3"),
    ("channels-nhwc", (XH, np.ones((4, 6, 3, 3))), {"layout": "NHWC"}, ValueError,
     r"`weight`.*\(4, 6, 3, 3\).*`input`.*3"),
    ("channels-nchw-given-nhwc", (XH, W), {}, ValueError, r"`weight`.*`input`.*6"),
    # stride / dilation / padding ranges
    ("stride-0", (X, W), {"stride": 0}, ValueError, r"`stride`.*\b0\b"),
    ("stride-neg", (X, W), {"stride": -2}, ValueError, r"`stride`.*-2"),
    ("stride-pair-0", (X, W), {"stride": (1, 0)}, ValueError, r"`stride`.*\(1, 0\)"),
    ("dilation-0", (X, W), {"dilation": 0}, ValueError, r"`dilation`.*\b0\b"),
    ("dilation-pair-neg", (X, W), {"dilation": [1, -1]}, ValueError, r"`dilation`.*\(1, -1\)"),
    ("padding-neg", (X, W), {"padding": -1}, ValueError, r"`padding`.*-1"),
    ("padding-pair-neg", (X, W), {"padding": (0, -2)}, ValueError, r"`padding`.*\(0, -2\)"),
    # non-integer geometry
    ("stride-float", (X, W), {"stride": 1.5}, TypeError, r"`stride`.*1\.5"),
    ("stride-float-int-valued", (X, W), {"stride": 2.0}, TypeError, r"`stride`.*2\.0"),
    ("stride-pair-float", (X, W), {"stride": (1, 1.5)}, TypeError, r"`stride`.*1\.5"),
    ("padding-float", (X, W), {"padding": 0.5}, TypeError, r"`padding`.*0\.5"),
    ("dilation-float", (X, W), {"dilation": 1.5}, TypeError, r"`dilation`.*1\.5"),
    ("stride-str", (X, W), {"stride": "2"}, TypeError, r"`stride`.*'2'"),
    ("stride-none", (X, W), {"stride": None}, TypeError, r"`stride`.*None"),
    ("stride-bool", (X, W), {"stride": True}, TypeError, r"`stride`.*True"),
    ("stride-triple", (X, W), {"stride": (1, 1, 1)}, ValueError, r"`stride`.*\(1, 1, 1\)"),
    ("padding-4-tuple", (X, W), {"padding": (1, 1, 1, 1)}, ValueError, r"`padding`.*\(1, 1, 1, 1\)"),
    # kernel larger than the padded input
    ("kernel-too-large", (X, np.ones((4, 3, 7, 7))), {}, ValueError, r"`weight`.*\(7, 7\).*\(6, 6\)"),
    ("kernel-too-large-padded", (X, np.ones((4, 3, 9, 3))), {"padding": 1}, ValueError,
     r"`weight`.*\(9, 3\).*\(8, 8\)"),
    ("dilated-kernel-too-large", (X, W), {"dilation": 3}, ValueError, r"`weight`.*dilation \(3, 3\).*\(7, 7\)"),
    ("empty-kernel", (X, np.ones((4, 3, 0, 3))), {}, ValueError, r"`weight`.*\(4, 3, 0, 3\)"),
    # groups
    ("groups-not-dividing-C", (X, np.ones((4, 1, 3, 3))), {"groups": 2}, ValueError, r"`groups`.*2.*3"),
    ("groups-not-dividing-F", (np.ones((2, 4, 6, 6)), np.ones((3, 2, 3, 3))), {"groups": 2}, ValueError,
     r"`groups`.*2.*3"),
    ("groups-0", (X, W), {"groups": 0}, ValueError, r"`groups`.*\b0\b"),
    ("groups-neg", (X, W), {"groups": -1}, ValueError, r"`groups`.*-1"),
    ("groups-float", (X, W), {"groups": 1.5}, TypeError, r"`groups`.*1\.5"),
    ("groups-bool", (X, W), {"groups": True}, TypeError, r"`groups`.*True"),
    ("groups-weight-channels", (X, np.ones((6, 3, 3, 3))), {"groups": 3}, ValueError,
     r"`weight`.*\(6, 3, 3, 3\).*9 input channels.*groups=3.*`input`.*3"),
    # bias
    ("bias-length", (X, W, np.ones(3)), {}, ValueError, r"`bias`.*\(3,\)"),
    ("bias-2d", (X, W, np.ones((4, 1))), {}, ValueError, r"`bias`.*\(4, 1\)"),
    ("bias-scalar", (X, W, 1.0), {}, ValueError, r"`bias`.*\(\)"),
    # strings
    ("padding-unknown", (X, W), {"padding": "full"}, ValueError, r"`padding`.*'full'"),
    ("padding-empty-string", (X, W), {"padding": ""}, ValueError, r"`padding`.*''"),
    ("layout-unknown", (X, W), {"layout": "NCWH"}, ValueError, r"`layout`.*'NCWH'"),
    ("layout-none", (X, W), {"layout": None}, ValueError, r"`layout`.*None"),
    # dtypes
    # (complex operands are convolutions too: tests/test_complex.py)
    ("input-object", (X.astype(object), W), {}, TypeError, r"`input`.*object"),
    ("weight-object", (X, W.astype(object)), {}, TypeError, r"`weight`.*object"),
    ("input-str", (np.full((1, 3, 6, 6), "a"), W), {}, TypeError, r"`input`.*<U1"),
    ("bias-str", (X, W, ["a", "b", "c", "d"]), {}, TypeError, r"`bias`.*<U1"),
    ("input-datetime", (X.astype("datetime64[s]"), W), {}, TypeError, r"`input`.*datetime64"),
    ("input-ragged", ([[[1.0, 2.0], [3.0]]], W), {}, TypeError, r"`input`.*\[\[\[1\.0, 2\.0\], \[3\.0\]\]\]"),
    ("input-none", (None, W), {}, TypeError, r"`input`.*object"),
]
if np.dtype(np.longdouble).itemsize > 8:
    CONV_CASES.append(("input-longdouble", (X.astype(np.longdouble), W), {}, TypeError,
                       r"`input`.*float(96|128)"))

WORKSPACE_CASES = [
    ("budget-0", (X, W), {"max_workspace_bytes": 0}, ValueError, r"`max_workspace_bytes`.*\b0\b"),
    ("budget-neg", (X, W), {"max_workspace_bytes": -5}, ValueError, r"`max_workspace_bytes`.*-5"),
    ("budget-float", (X, W), {"max_workspace_bytes": 1e6}, TypeError, r"`max_workspace_bytes`.*1000000\.0"),
    ("budget-bool", (X, W), {"max_workspace_bytes": True}, TypeError, r"`max_workspace_bytes`.*True"),
]

IM2COL_CASES = [
    ("input-2d", (np.ones((6, 6)), 3), {}, ValueError, r"`input`.*\(6, 6\)"),
    ("input-5d", (np.ones((1, 1, 3, 6, 6)), 3), {}, ValueError, r"`input`.*\(1, 1, 3, 6, 6\)"),
    ("kernel-0", (X, 0), {}, ValueError, r"`kernel_size`.*\b0\b"),
    ("kernel-pair-0", (X, (2, 0)), {}, ValueError, r"`kernel_size`.*\(2, 0\)"),
    ("kernel-float", (X, 1.5), {}, TypeError, r"`kernel_size`.*1\.5"),
    ("kernel-none", (X, None), {}, TypeError, r"`kernel_size`.*None"),
    ("kernel-too-large", (X, 7), {}, ValueError, r"`kernel_size`.*\(7, 7\).*\(6, 6\)"),
    ("dilated-too-large", (X, 3), {"dilation": (1, 3)}, ValueError, r"`kernel_size`.*\(1, 3\).*\(3, 7\)"),
    ("stride-0", (X, 3), {"stride": 0}, ValueError, r"`stride`.*\b0\b"),
    ("dilation-neg", (X, 3), {"dilation": -1}, ValueError, r"`dilation`.*-1"),
    ("padding-neg", (X, 3), {"padding": -1}, ValueError, r"`padding`.*-1"),
    ("padding-float", (X, 3), {"padding": 1.5}, TypeError, r"`padding`.*1\.5"),
    ("padding-same", (X, 3), {"padding": "same"}, ValueError, r"`padding`.*'same'"),
    ("input-object", (X.astype(object), 3), {}, TypeError, r"`input`.*object"),
    ("input-str", (np.full((1, 3, 6, 6), "ab"), 3), {}, TypeError, r"`input`.*<U2"),
]

COL2IM_CASES = [
    ("input-1d", (np.ones(27), (6, 6), 3), {}, ValueError, r"`input`.*\(27,\)"),
    ("input-4d", (COLS[None], (6, 6), 3), {}, ValueError, r"`input`.*\(1, 2, 27, 16\)"),
    ("rows-not-multiple", (np.ones((2, 26, 16)), (6, 6), 3), {}, ValueError, r"`input`.*26 rows.*9"),
    ("length-mismatch", (np.ones((2, 27, 15)), (6, 6), 3), {}, ValueError, r"`input`.*15.*\(6, 6\).*16"),
    ("length-mismatch-stride", (COLS, (6, 6), 3), {"stride": 2}, ValueError, r"`input`.*16.*\(6, 6\).*4"),
    ("output-size-0", (COLS, (0, 6), 3), {}, ValueError, r"`output_size`.*\(0, 6\)"),
    ("output-size-float", (COLS, 4.5, 3), {}, TypeError, r"`output_size`.*4\.5"),
    ("output-size-triple", (COLS, (6, 6, 1), 3), {}, ValueError, r"`output_size`.*\(6, 6, 1\)"),
    ("output-size-too-small", (COLS, (2, 6), 3), {}, ValueError, r"`kernel_size`.*\(3, 3\).*output_size \(2, 6\)"),
    ("kernel-0", (COLS, (6, 6), 0), {}, ValueError, r"`kernel_size`.*\b0\b"),
    ("stride-float", (COLS, (6, 6), 3), {"stride": 1.0}, TypeError, r"`stride`.*1\.0"),
    ("padding-neg", (COLS, (6, 6), 3), {"padding": (-1, 0)}, ValueError, r"`padding`.*\(-1, 0\)"),
    ("padding-valid", (COLS, (6, 6), 3), {"padding": "valid"}, ValueError, r"`padding`.*'valid'"),
    ("dilation-0", (COLS, (6, 6), 3), {"dilation": 0}, ValueError, r"`dilation`.*\b0\b"),
    ("input-bytes", (COLS.astype("S3"), (6, 6), 3), {}, TypeError, r"`input`.*\|S3"),
]


def _params(cases, names):
    return [pytest.param(name, args, kwargs, exc, match, id=f"{name}-{cid}")
            for name in names for cid, args, kwargs, exc, match in cases]


ALL = (_params(CONV_CASES, ["conv2d", "conv2d_direct"])
       + _params(WORKSPACE_CASES, ["conv2d"])
       + _params(IM2COL_CASES, ["im2col"])
       + _params(COL2IM_CASES, ["col2im"]))
FUNCS = {"conv2d": conv2d, "conv2d_direct": conv2d_direct, "im2col": im2col, "col2im": col2im}


def _snapshot(args, kwargs):
    return [(a, a.copy()) for a in list(args) + list(kwargs.values()) if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("name,args,kwargs,exc,match", ALL)
def test_bad_input_message(backend, name, args, kwargs, exc, match):
    saved = _snapshot(args, kwargs)
    with pytest.raises(exc, match=match):
        FUNCS[name](*args, **kwargs)
    for a, copy in saved:
        np.testing.assert_array_equal(a, copy)


class _Trap:
    """Stands in for the backend: any kernel call fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"backend.{name} was reached before validation failed")


def _install_trap(monkeypatch):
    """Replace `backend_module` in every package module that looked it up."""
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("im2col_nb") and hasattr(module, "backend_module"):
            monkeypatch.setattr(module, "backend_module", lambda: _Trap())


@pytest.mark.parametrize("name,args,kwargs,exc,match", ALL)
def test_bad_input_rejected_before_any_kernel(monkeypatch, name, args, kwargs, exc, match):
    _install_trap(monkeypatch)
    with pytest.raises(exc, match=match):
        FUNCS[name](*args, **kwargs)


def test_trap_catches_kernel_calls(monkeypatch):
    """The trap above works: a good call does reach it."""
    _install_trap(monkeypatch)
    for call in (lambda: conv2d(X, W), lambda: conv2d_direct(X, W), lambda: im2col(X, 3),
                 lambda: col2im(COLS, 6, 3)):
        with pytest.raises(AssertionError, match="was reached"):
            call()


def test_nhwc_input_with_nchw_weight_channels():
    # NHWC (2, 6, 6, 3) read as NCHW has 6 channels: the message names both shapes
    with pytest.raises(ValueError, match=esc("(2, 6, 6, 3)")):
        conv2d(XH, W)
    assert conv2d(XH, W, layout="NHWC").shape == (2, 4, 4, 4)
    assert conv2d(XH, W, layout="nhwc").shape == (2, 4, 4, 4)


@pytest.mark.parametrize("value,exc,match", [
    (0, ValueError, r"`nbytes`.*\b0\b"),
    (-1, ValueError, r"`nbytes`.*-1"),
    (1.5, TypeError, r"`nbytes`.*1\.5"),
    ("64MB", TypeError, r"`nbytes`.*'64MB'"),
    (None, TypeError, r"`nbytes`.*None"),
])
def test_set_max_workspace_bytes_bad(value, exc, match):
    old = im2col_nb.get_max_workspace_bytes()
    with pytest.raises(exc, match=match):
        im2col_nb.set_max_workspace_bytes(value)
    assert im2col_nb.get_max_workspace_bytes() == old


def test_geometry_accepts_numpy_ints_and_lists(backend):
    """Not errors: NumPy integers, lists and 0-d integer arrays are ints."""
    ref = conv2d(X, W, stride=(1, 2), padding=1, dilation=1, groups=1)
    for kw in (dict(stride=[np.int64(1), np.int32(2)], padding=np.uint8(1), dilation=np.int16(1),
                    groups=np.int64(1)),
               dict(stride=np.array([1, 2]), padding=np.array(1), dilation=(1, 1))):
        np.testing.assert_array_equal(conv2d(X, W, **kw), ref)
        np.testing.assert_array_equal(conv2d_direct(X, W, **kw), ref)
