"""Differential fuzzing: both backends against the explicit-loop oracle.

Hypothesis draws shapes, geometry (kernel, stride, padding incl. 'same' and
'valid', dilation, groups, ceil_mode, ...), dtypes (float16/32/64 and ints,
mixed between operands), memory layouts (C, Fortran, strided, negative
strides, byte-swapped, read-only), channels-first or channels-last, tiny
workspace budgets that force chunking, and non-finite values (NaN, +inf,
-inf) sprinkled into the data. Every public array function must agree with
``tests/naive.py`` on both backends (NaN where the oracle has NaN, the same
infinities), return the promoted dtype, and leave its inputs untouched.

How long it runs follows the Hypothesis profile (tests/conftest.py): ``ci``
(the default: 400 examples per fuzzer, about a minute for this file) or
``HYPOTHESIS_PROFILE=long`` (12000 per fuzzer) for a local soak.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import im2col_nb
import naive
from conftest import tolerance
from im2col_nb._core.geometry import pool_geometry

# inf - inf in a sum is NaN, as in the reference; NumPy warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

BACKENDS = ("numba", "numpy")
# Four times the profile's example count: 400 per fuzzer in the "ci" profile
# (about a minute for the file), 12000 with HYPOTHESIS_PROFILE=long.
FUZZ = settings(max_examples=4 * settings.default.max_examples,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])

MEMORY = ["C", "F", "strided", "negative", "byteswapped", "readonly"]
FLOATS = ["float32", "float64"]
INPUT_DTYPES = FLOATS + ["float16", "int64"]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def result_dtype(*dtypes):
    """The package's promotion: float64 if any operand is float64 or an integer."""
    for d in dtypes:
        d = np.dtype(d)
        if d.kind in "iub" or d.itemsize == 8:
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def relayout(a, kind):
    """The same values as `a` in another memory layout."""
    if kind == "C":
        return np.ascontiguousarray(a)
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if kind == "negative":
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if kind == "byteswapped":
        return a.astype(a.dtype.newbyteorder("S"))
    if kind == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    raise AssertionError(kind)


@st.composite
def data_array(draw, shape, dtype=None, nonfinite=True):
    """(array in a drawn dtype and memory layout, exact float64 values)."""
    dtype = np.dtype(draw(st.sampled_from(INPUT_DTYPES)) if dtype is None else dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.kind == "f":
        values = rng.standard_normal(shape).astype(dtype)
        if nonfinite and values.size and draw(st.integers(0, 3)) == 0:
            for _ in range(draw(st.integers(1, 3))):
                flat = draw(st.integers(0, values.size - 1))
                values.flat[flat] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    else:
        values = rng.integers(-3, 4, size=shape).astype(dtype)
    kind = draw(st.sampled_from(MEMORY))
    return relayout(values, kind), values.astype(np.float64)


def on_both_backends(call):
    """{backend: call()} for both backends, restoring the current one."""
    previous = im2col_nb.get_backend()
    results = {}
    try:
        for name in BACKENDS:
            im2col_nb.set_backend(name)
            results[name] = call()
    finally:
        im2col_nb.set_backend(previous)
    return results


def check(got, expected, dtype, what=""):
    dtype = np.dtype(dtype)
    assert got.dtype == dtype, (what, got.dtype, dtype)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    rtol, atol = tolerance(dtype)
    # Same NaN positions, same infinities, finite values within tolerance.
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def unchanged(arrays_before, arrays_after):
    for before, after in zip(arrays_before, arrays_after):
        np.testing.assert_array_equal(np.asarray(after), before)


def nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def nchw(a):
    return np.moveaxis(a, -1, 1)


@st.composite
def window(draw, max_kernel=4, max_stride=3, max_dilation=3):
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    sh, sw = draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))
    dh, dw = draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation))
    return (kh, kw), (sh, sw), (dh, dw)


def plane_size(draw, kernel, dilation, pad):
    """An input length that fits the dilated kernel with this padding."""
    span = dilation * (kernel - 1) + 1
    low = max(1, span - 2 * pad)
    return draw(st.integers(low, low + 7))


def as_arg(pair_value, draw):
    """An int when both entries agree (half the time), else the pair."""
    if pair_value[0] == pair_value[1] and draw(st.booleans()):
        return pair_value[0]
    return tuple(pair_value)


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------


@FUZZ
@given(st.data())
def test_fuzz_im2col(data):
    draw = data.draw
    (kh, kw), (sh, sw), (dh, dw) = draw(window())
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = plane_size(draw, kh, dh, ph), plane_size(draw, kw, dw, pw)
    batched = draw(st.booleans())
    shape = (n, c, h, w) if batched else (c, h, w)
    x, x64 = draw(data_array(shape))
    args = dict(kernel_size=as_arg((kh, kw), draw), dilation=as_arg((dh, dw), draw),
                padding=as_arg((ph, pw), draw), stride=as_arg((sh, sw), draw))
    note(f"x {x.dtype} {x.shape} strides {x.strides}; {args}")
    expected = naive.im2col(x64 if batched else x64[None], **args)
    expected = expected if batched else expected[0]
    before = np.array(x, copy=True)
    results = on_both_backends(lambda: im2col_nb.im2col(x, **args))
    unchanged([before], [x])
    for name, got in results.items():
        check(got, expected, x.dtype.newbyteorder("="), name)  # values copied: dtype kept


@FUZZ
@given(st.data())
def test_fuzz_col2im(data):
    draw = data.draw
    (kh, kw), (sh, sw), (dh, dw) = draw(window())
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = plane_size(draw, kh, dh, ph), plane_size(draw, kw, dw, pw)
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cols, cols64 = draw(data_array((n, c * kh * kw, oh * ow)))
    args = dict(kernel_size=(kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
    note(f"cols {cols.dtype} {cols.shape} strides {cols.strides}; output {(h, w)}; {args}")
    expected = naive.col2im(cols64, (h, w), **args)
    before = np.array(cols, copy=True)
    results = on_both_backends(lambda: im2col_nb.col2im(cols, (h, w), **args))
    unchanged([before], [cols])
    for name, got in results.items():
        check(got, expected, cols.dtype.newbyteorder("="), name)  # summed in its dtype


# ---------------------------------------------------------------------------
# convolution
# ---------------------------------------------------------------------------


@st.composite
def conv_case(draw, allow_same=True):
    (kh, kw), (sh, sw), (dh, dw) = draw(window())
    groups = draw(st.integers(1, 3))
    cg, fg = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    n = draw(st.integers(1, 2))
    mode = draw(st.sampled_from(["int", "int", "same", "valid"] if allow_same else ["int"]))
    if mode == "same":
        sh = sw = 1
        padding = "same"
        pads = ((dh * (kh - 1)) // 2 + 1, (dw * (kw - 1)) // 2 + 1)   # generous: fits either way
    elif mode == "valid":
        padding, pads = "valid", (0, 0)
    else:
        pads = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        padding = as_arg(pads, draw)
    h, w = plane_size(draw, kh, dh, pads[0]), plane_size(draw, kw, dw, pads[1])
    if mode != "int":      # 'same' pads d*(k-1) in total, 'valid' nothing
        h = max(h, dh * (kh - 1) + 1)
        w = max(w, dw * (kw - 1) + 1)
    return dict(n=n, c=cg * groups, f=fg * groups, h=h, w=w, kernel=(kh, kw), groups=groups,
                stride=as_arg((sh, sw), draw), padding=padding, dilation=as_arg((dh, dw), draw))


@FUZZ
@given(st.data())
def test_fuzz_conv2d(data):
    draw = data.draw
    case = draw(conv_case())
    layout = draw(st.sampled_from(["NCHW", "NHWC"]))
    shape = (case["n"], case["c"], case["h"], case["w"])
    x, x64 = draw(data_array(shape))
    weight, w64 = draw(data_array((case["f"], case["c"] // case["groups"]) + case["kernel"],
                                  dtype=draw(st.sampled_from(FLOATS)), nonfinite=False))
    with_bias = draw(st.booleans())
    bias, b64 = draw(data_array((case["f"],), dtype=draw(st.sampled_from(FLOATS)), nonfinite=False)) \
        if with_bias else (None, None)
    budget = draw(st.sampled_from([None, 1, 256, 4096]))
    geometry = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                    groups=case["groups"])
    note(f"x {x.dtype} {x.shape} strides {x.strides}, w {weight.dtype} {weight.shape}, "
         f"bias {with_bias}, {geometry}, {layout}, budget {budget}")
    expected = naive.conv2d(x64, w64, b64, **geometry)
    dtype = result_dtype(x.dtype, weight.dtype, *(() if bias is None else (bias.dtype,)))
    x_in = x if layout == "NCHW" else relayout(nhwc(x64).astype(x.dtype), draw(st.sampled_from(MEMORY)))
    before = [np.array(a, copy=True) for a in (x_in, weight)]

    def run():
        return (im2col_nb.conv2d(x_in, weight, bias, layout=layout, max_workspace_bytes=budget, **geometry),
                im2col_nb.conv2d_direct(x_in, weight, bias, layout=layout, **geometry))

    results = on_both_backends(run)
    unchanged(before, [x_in, weight])
    for name, (gemm, direct) in results.items():
        for label, got in (("conv2d", gemm), ("conv2d_direct", direct)):
            check(got if layout == "NCHW" else nchw(got), expected, dtype, f"{name} {label}")


def padding_nan(dw, go64, x_shape, kernel, geometry):
    """The weight gradient PyTorch computes from non-finite `grad_output`.

    dW = sum(grad_output * x_padded): a NaN or inf gradient at an output
    position whose tap reads the zero padding gives 0 * NaN = NaN there
    (PyTorch does this; so does im2col + GEMM). ``naive.conv2d_weight_grad``
    skips padded taps instead, so mark those entries NaN on top of it.
    """
    bad = ~np.isfinite(go64)
    if not bad.any():
        return dw
    n, f = go64.shape[:2]
    groups = geometry["groups"]
    inside = naive.im2col(np.ones(x_shape), kernel, geometry["dilation"], geometry["padding"],
                          geometry["stride"])                        # 1 inside, 0 in the padding
    rows = dw.shape[1] * kernel[0] * kernel[1]                       # rows per group
    fg = f // groups
    dw = dw.copy()
    for g in range(groups):
        hits = np.einsum("nfl,nkl->fk", bad[:, g * fg:(g + 1) * fg].reshape(n, fg, -1).astype(float),
                         1.0 - inside[:, g * rows:(g + 1) * rows])
        dw[g * fg:(g + 1) * fg][hits.reshape(dw[g * fg:(g + 1) * fg].shape) > 0] = np.nan
    return dw


@FUZZ
@given(st.data())
def test_fuzz_conv_gradients_and_transpose(data):
    draw = data.draw
    case = draw(conv_case(allow_same=False))
    layout = draw(st.sampled_from(["NCHW", "NHWC"]))
    dtype = np.dtype(draw(st.sampled_from(FLOATS)))
    shape = (case["n"], case["c"], case["h"], case["w"])
    x, x64 = draw(data_array(shape, dtype=dtype, nonfinite=False))
    weight, w64 = draw(data_array((case["f"], case["c"] // case["groups"]) + case["kernel"],
                                  dtype=dtype, nonfinite=False))
    geometry = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                    groups=case["groups"])
    out_shape = naive.conv2d(np.zeros(shape), w64, None, **geometry).shape
    go, go64 = draw(data_array(out_shape, dtype=dtype))
    note(f"x {shape}, w {weight.shape}, grad_output {go.shape} {go.dtype} strides {go.strides}, "
         f"{geometry}, {layout}")
    expected_dx = naive.conv2d_input_grad(shape, w64, go64, **geometry)
    expected_dw = padding_nan(naive.conv2d_weight_grad(x64, weight.shape, go64, **geometry),
                              go64, shape, case["kernel"], geometry)
    # conv_transpose2d of grad_output with the same weight is the input
    # gradient up to the output size (rows/columns no window reached are 0).
    try:
        expected_t = naive.conv_transpose2d(go64, w64, None, stride=case["stride"], padding=case["padding"],
                                            groups=case["groups"], dilation=case["dilation"])
    except ValueError:      # the padding crops the whole output: an error, on both sides
        expected_t = None
    if layout == "NHWC":
        x_in, go_in, in_shape = nhwc(x64).astype(dtype), nhwc(go64).astype(dtype), nhwc(x64).shape
    else:
        x_in, go_in, in_shape = x, go, shape
    before = [np.array(a, copy=True) for a in (x_in, go_in, weight)]

    def transpose():
        return im2col_nb.conv_transpose2d(go_in, weight, stride=case["stride"], padding=case["padding"],
                                          groups=case["groups"], dilation=case["dilation"], layout=layout)

    def run():
        if expected_t is None:
            with pytest.raises(ValueError, match="padding"):
                transpose()
        return (im2col_nb.conv2d_input_grad(in_shape, weight, go_in, layout=layout, **geometry),
                im2col_nb.conv2d_weight_grad(x_in, weight.shape, go_in, layout=layout, **geometry),
                None if expected_t is None else transpose())

    results = on_both_backends(run)
    unchanged(before, [x_in, go_in, weight])
    back = (lambda a: a) if layout == "NCHW" else nchw
    for name, (dx, dw, t) in results.items():
        check(back(dx), expected_dx, dtype, f"{name} input grad")
        check(dw, expected_dw, dtype, f"{name} weight grad")
        if expected_t is not None:
            check(back(t), expected_t, dtype, f"{name} conv_transpose2d")


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------


@FUZZ
@given(st.data())
def test_fuzz_pooling(data):
    draw = data.draw
    (kh, kw), (sh, sw), (dh, dw) = draw(window(max_kernel=4, max_stride=3, max_dilation=2))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    ceil_mode = draw(st.booleans())
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = plane_size(draw, kh, dh, ph), plane_size(draw, kw, dw, pw)
    stride = None if (sh, sw) == (kh, kw) and draw(st.booleans()) else (sh, sw)
    try:
        pool_geometry((h, w), (kh, kw), stride, (ph, pw), (dh, dw), ceil_mode)
    except ValueError:
        assume(False)
    layout = draw(st.sampled_from(["NCHW", "NHWC"]))
    method = draw(st.sampled_from([None, "direct", "im2col"]))
    x, x64 = draw(data_array((n, c, h, w), dtype=draw(st.sampled_from(FLOATS + ["float16"]))))
    dtype = result_dtype(x.dtype)
    count_include_pad = draw(st.booleans())
    divisor = draw(st.sampled_from([None, None, 1, 3]))
    note(f"x {x.dtype} {x.shape} strides {x.strides}; k {(kh, kw)} s {stride} p {(ph, pw)} "
         f"d {(dh, dw)} ceil {ceil_mode} {layout} {method} cip {count_include_pad} div {divisor}")
    exp_max, exp_idx = naive.max_pool2d(x64, (kh, kw), stride, (ph, pw), (dh, dw), ceil_mode)
    exp_avg = naive.avg_pool2d(x64, (kh, kw), stride, (ph, pw), ceil_mode, count_include_pad, divisor) \
        if (dh, dw) == (1, 1) else None
    go, go64 = draw(data_array(exp_max.shape, dtype=dtype))
    exp_max_back = naive.max_pool2d_backward(go64, exp_idx, x64.shape)
    exp_avg_back = naive.avg_pool2d_backward(go64, x64.shape, (kh, kw), stride, (ph, pw), ceil_mode,
                                             count_include_pad, divisor) if exp_avg is not None else None
    to_layout = (lambda a: a) if layout == "NCHW" else nhwc
    back = (lambda a: a) if layout == "NCHW" else nchw
    x_in = x if layout == "NCHW" else relayout(nhwc(x64).astype(x.dtype), draw(st.sampled_from(MEMORY)))
    go_in = to_layout(go)
    in_shape = x_in.shape
    before = [np.array(a, copy=True) for a in (x_in, go_in)]

    def run():
        out, idx = im2col_nb.max_pool2d(x_in, (kh, kw), stride, (ph, pw), (dh, dw), ceil_mode,
                                        return_indices=True, layout=layout, method=method)
        results = [out, idx, im2col_nb.max_pool2d_backward(go_in, to_layout(exp_idx), in_shape, layout=layout)]
        if exp_avg is not None:
            results.append(im2col_nb.avg_pool2d(x_in, (kh, kw), stride, (ph, pw), ceil_mode, count_include_pad,
                                                divisor, layout=layout, method=method))
            results.append(im2col_nb.avg_pool2d_backward(go_in, in_shape, (kh, kw), stride, (ph, pw), ceil_mode,
                                                         count_include_pad, divisor, layout=layout))
        return results

    results = on_both_backends(run)
    unchanged(before, [x_in, go_in])
    for name, got in results.items():
        # max pooling picks values: the input's dtype, float16 included (exact)
        check(back(got[0]), exp_max, x.dtype.newbyteorder("="), f"{name} max_pool2d")
        np.testing.assert_array_equal(back(got[1]), exp_idx, err_msg=f"{name} max_pool2d indices")
        check(back(got[2]), exp_max_back, dtype, f"{name} max_pool2d_backward")
        if exp_avg is not None:
            check(back(got[3]), exp_avg, dtype, f"{name} avg_pool2d")
            check(back(got[4]), exp_avg_back, dtype, f"{name} avg_pool2d_backward")


def test_relayout_really_changes_the_memory_layout():
    """Guard for the fuzzers: each layout kind is what its name says."""
    a = np.arange(24.0).reshape(2, 3, 4)
    views = {k: relayout(a, k) for k in MEMORY}
    assert views["C"].flags.c_contiguous
    assert views["F"].flags.f_contiguous and not views["F"].flags.c_contiguous
    assert not views["strided"].flags.c_contiguous and views["strided"].strides[-1] == 16
    assert views["negative"].strides[-1] < 0
    assert not views["byteswapped"].dtype.isnative
    assert not views["readonly"].flags.writeable
    for v in views.values():
        np.testing.assert_array_equal(v, a)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_nan_and_inf_propagate_like_the_reference(backend_name):
    """A fixed, readable case of what the fuzzers check at random."""
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 3, 3] = np.inf
    x[0, 0, 3, 0] = np.inf
    x[0, 0, 3, 1] = -np.inf
    w = np.ones((1, 1, 2, 2))
    previous = im2col_nb.get_backend()
    im2col_nb.set_backend(backend_name)
    try:
        got = im2col_nb.conv2d(x, w)
        direct = im2col_nb.conv2d_direct(x, w)
    finally:
        im2col_nb.set_backend(previous)
    expected = naive.conv2d(x, w)
    assert np.isnan(expected[0, 0, 0, 0]) and np.isnan(expected[0, 0, 2, 0])   # NaN; inf + -inf
    assert expected[0, 0, 2, 2] == np.inf
    for y in (got, direct):
        np.testing.assert_array_equal(y, expected)


def test_weight_grad_nan_model_matches_pytorch():
    """`padding_nan` (the fuzzers' expectation for non-finite grad_output)
    is what PyTorch computes: NaN where a non-finite gradient meets padding."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 3, 4))
    w = rng.standard_normal((2, 2, 2, 2))
    geometry = dict(stride=(1, 2), padding=(1, 1), dilation=(1, 1), groups=1)
    go = rng.standard_normal(naive.conv2d(x, w, **geometry).shape)
    go[0, 0, 0, 0] = np.nan          # this window reads the top-left padding
    go[1, 1, 2, 1] = np.inf          # an interior window
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(tx, tw, **geometry).backward(torch.tensor(go))
    expected = padding_nan(naive.conv2d_weight_grad(x, w.shape, go, **geometry), go, x.shape, (2, 2), geometry)
    skipping_padding = naive.conv2d_weight_grad(x, w.shape, go, **geometry)
    assert np.isnan(expected).sum() > np.isnan(skipping_padding).sum()   # the case matters
    np.testing.assert_allclose(tw.grad.numpy(), expected, rtol=1e-10, atol=1e-10, equal_nan=True)
    for backend_name in BACKENDS:
        previous = im2col_nb.get_backend()
        im2col_nb.set_backend(backend_name)
        try:
            got = im2col_nb.conv2d_weight_grad(x, w.shape, go, **geometry)
        finally:
            im2col_nb.set_backend(previous)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, equal_nan=True)
