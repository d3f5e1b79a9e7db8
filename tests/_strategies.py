"""Hypothesis strategies shared by the test modules."""

from hypothesis import strategies as st


@st.composite
def conv_problems(draw):
    """A random valid conv2d problem, as a dict: ``shape`` (N, C, H, W) of the
    input, ``wshape`` (F, C/groups, kh, kw), ``geo`` (stride, padding,
    dilation, groups: the conv2d keywords), a workspace ``budget`` and a
    ``seed`` for the values.

    Padding is an int, a pair, ``'valid'`` or ``'same'`` (stride 1); stride and
    dilation are ints or pairs; the input is never smaller than the padded,
    dilated kernel span (up to 5 larger)."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C = groups * draw(st.integers(1, 2))
    F = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["int", "pair", "valid", "same"]))
    if kind == "same":
        sh = sw = 1
        padding, ph, pw = "same", 0, 0
    else:
        sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        padding = {"int": ph, "pair": (ph, pw), "valid": "valid"}[kind]
        if kind == "int":
            pw = ph
        elif kind == "valid":
            ph = pw = 0
    H = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 5))
    W = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 5))
    stride = (sh, sw) if draw(st.booleans()) or sh != sw else sh
    dilation = (dh, dw) if draw(st.booleans()) or dh != dw else dh
    return dict(shape=(draw(st.integers(1, 2)), C, H, W), wshape=(F, C // groups, kh, kw),
                geo=dict(stride=stride, padding=padding, dilation=dilation, groups=groups),
                budget=draw(st.sampled_from([None, 1, 300])), seed=draw(st.integers(0, 2**31)))
