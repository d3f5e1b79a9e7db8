"""Hypothesis strategies shared by the test modules."""

from hypothesis import strategies as st


@st.composite
def conv_problems(draw):
    """A random valid conv2d problem, as a dict: ``shape`` (N, C, H, W) of the
    input, ``wshape`` (F, C/groups, kh, kw), ``geo`` (stride, padding,
    dilation, groups: the conv2d keywords), a workspace ``budget`` and a
    ``seed`` for the values.

    Padding is an int, a pair, one (low, high) pair per axis, ``'valid'`` or
    ``'same'`` (any stride: TensorFlow's rule above 1); stride and dilation
    are ints or pairs; the input is never smaller than the padded, dilated
    kernel span (up to 5 larger)."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C = groups * draw(st.integers(1, 2))
    F = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["int", "pair", "pairs", "valid", "same"]))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    top, bottom, left, right = (draw(st.integers(0, 3)) for _ in range(4))
    if kind == "same":
        padding, top, bottom, left, right = "same", 0, 0, 0, 0
    elif kind == "pairs":
        padding = ((top, bottom), (left, right))
    else:
        bottom, right = top, left
        padding = {"int": top, "pair": (top, left), "valid": "valid"}[kind]
        if kind == "int":
            left = right = top
        elif kind == "valid":
            top = bottom = left = right = 0
    H = max(1, dh * (kh - 1) + 1 - top - bottom) + draw(st.integers(0, 5))
    W = max(1, dw * (kw - 1) + 1 - left - right) + draw(st.integers(0, 5))
    stride = (sh, sw) if draw(st.booleans()) or sh != sw else sh
    dilation = (dh, dw) if draw(st.booleans()) or dh != dw else dh
    return dict(shape=(draw(st.integers(1, 2)), C, H, W), wshape=(F, C // groups, kh, kw),
                geo=dict(stride=stride, padding=padding, dilation=dilation, groups=groups),
                budget=draw(st.sampled_from([None, 1, 300])), seed=draw(st.integers(0, 2**31)))
