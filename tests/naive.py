"""Explicit-loop reference implementations: the test oracle for ``im2col_nb``.

Every function here is deliberately slow and written so that it can be checked
by eye: plain Python ``for`` loops over output elements and kernel taps, with
NumPy used only to allocate arrays.  There is no vectorisation, no numba, and
the convolution references do not go through im2col, so they share no code
path (and hence no bug) with the package under test.

Semantics follow ``torch.nn.functional`` exactly (unfold, fold, conv2d,
conv_transpose2d, max_pool2d, avg_pool2d and their gradients); the
PyTorch cross-checks in ``test_naive.py`` prove it.

Conventions:
  * inputs are NCHW 4-D arrays; everything is computed in and returned as
    float64 (max-pool indices are int64);
  * geometry arguments (kernel_size, stride, dilation, ...) take an int or an
    (h, w) pair;
  * padding is (top, bottom, left, right) once resolved; conv-like functions
    also accept a 4-tuple and the strings 'valid' / 'same'.
"""

import itertools
import math

import numpy as np


# ----------------------------------------------------------------------------
# geometry helpers
# ----------------------------------------------------------------------------

def pair(v):
    """int -> (v, v); a pair is returned as a tuple."""
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    a, b = v
    return (int(a), int(b))


def same_padding(kernel_size, dilation):
    """PyTorch's padding='same': (top, bottom, left, right).

    The total padding d*(k-1) is split with the smaller half first (top/left),
    so an even kernel puts the extra row/column at the bottom/right.
    """
    kh, kw = pair(kernel_size)
    dh, dw = pair(dilation)
    th, tw = dh * (kh - 1), dw * (kw - 1)
    return (th // 2, th - th // 2, tw // 2, tw - tw // 2)


def tf_same_padding(size, kernel_size, stride, dilation):
    """TensorFlow's 'SAME' (top, bottom, left, right): ceil(size / stride)
    outputs per axis, total padding max((out-1)*s + d*(k-1) + 1 - size, 0),
    the extra one at the bottom/right."""
    pads = []
    for n, k, s, d in zip(pair(size), pair(kernel_size), pair(stride), pair(dilation)):
        out = -(-n // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def resolve_padding(padding, kernel_size, dilation, stride=1, size=None):
    """int / pair / ((top, bottom), (left, right)) / (top, bottom, left,
    right) / 'valid' / 'same' -> 4-tuple; 'same' with a stride above 1
    (TensorFlow's rule) needs the input `size`."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if pair(stride) == (1, 1):
                return same_padding(kernel_size, dilation)
            return tf_same_padding(size, kernel_size, stride, dilation)
        raise ValueError(f"unknown padding {padding!r}")
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return (p, p, p, p)
    if any(isinstance(p, (tuple, list)) for p in padding):  # one (low, high) pair per axis
        return tuple(int(v) for p in padding for v in (pair(p) if isinstance(p, (tuple, list)) else (p, p)))
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    if len(padding) == 4:
        return padding
    raise ValueError(f"bad padding {padding!r}")


def conv_output_size(size, k, s, pad_before, pad_after, d):
    """Output length of a convolution / unfold along one dimension."""
    out = (size + pad_before + pad_after - d * (k - 1) - 1) // s + 1
    if out <= 0:
        raise ValueError("output size is not positive")
    return out


def pool_output_size(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length along one dimension.

    out = floor_or_ceil((size + 2p - d*(k-1) - 1) / s) + 1; with ceil_mode the
    last window must still start inside the input or the left padding, so it
    is dropped when (out-1)*s >= size + p.
    """
    num = size + 2 * p - d * (k - 1) - 1
    if ceil_mode:
        out = -(-num // s) + 1          # ceil division (Python ints)
        if (out - 1) * s >= size + p:
            out -= 1
    else:
        out = num // s + 1
    return out


def _f64(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError("expected a 4-D NCHW array")
    return x


# ----------------------------------------------------------------------------
# im2col / col2im  (torch.nn.functional.unfold / fold)
# ----------------------------------------------------------------------------

def im2col(x, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C, H, W) -> (N, C*kh*kw, OH*OW), zero padded, like F.unfold.

    Row r = c*kh*kw + ki*kw + kj, column l = oh*OW + ow, and
    cols[n, r, l] = x[n, c, oh*sh - top + ki*dh, ow*sw - left + kj*dw]
    (zero where that position falls in the padding).
    """
    x = _f64(x)
    N, C, H, W = x.shape
    kh, kw = pair(kernel_size)
    dh, dw = pair(dilation)
    sh, sw = pair(stride)
    top, bottom, left, right = resolve_padding(padding, (kh, kw), (dh, dw))
    OH = conv_output_size(H, kh, sh, top, bottom, dh)
    OW = conv_output_size(W, kw, sw, left, right, dw)
    cols = np.zeros((N, C * kh * kw, OH * OW), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for ki in range(kh):
                for kj in range(kw):
                    r = c * kh * kw + ki * kw + kj
                    for oh in range(OH):
                        for ow in range(OW):
                            ih = oh * sh - top + ki * dh
                            iw = ow * sw - left + kj * dw
                            if 0 <= ih < H and 0 <= iw < W:
                                cols[n, r, oh * OW + ow] = x[n, c, ih, iw]
    return cols


def col2im(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """(N, C*kh*kw, L) -> (N, C, H, W), like F.fold: the adjoint of im2col.

    Every column entry is added back to the input position it was read from;
    overlapping patches sum, entries that came from padding are dropped.
    """
    cols = np.asarray(cols, dtype=np.float64)
    if cols.ndim != 3:
        raise ValueError("expected (N, C*kh*kw, L)")
    N, CK, L = cols.shape
    H, W = pair(output_size)
    kh, kw = pair(kernel_size)
    dh, dw = pair(dilation)
    sh, sw = pair(stride)
    top, bottom, left, right = resolve_padding(padding, (kh, kw), (dh, dw))
    if CK % (kh * kw):
        raise ValueError("cols.shape[1] is not a multiple of kh*kw")
    C = CK // (kh * kw)
    OH = conv_output_size(H, kh, sh, top, bottom, dh)
    OW = conv_output_size(W, kw, sw, left, right, dw)
    if L != OH * OW:
        raise ValueError(f"expected {OH * OW} columns, got {L}")
    x = np.zeros((N, C, H, W), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for ki in range(kh):
                for kj in range(kw):
                    r = c * kh * kw + ki * kw + kj
                    for oh in range(OH):
                        for ow in range(OW):
                            ih = oh * sh - top + ki * dh
                            iw = ow * sw - left + kj * dw
                            if 0 <= ih < H and 0 <= iw < W:
                                x[n, c, ih, iw] += cols[n, r, oh * OW + ow]
    return x


# ----------------------------------------------------------------------------
# convolution and its gradients
# ----------------------------------------------------------------------------

def _conv_geometry(x_shape, w_shape, stride, padding, dilation, groups):
    """Shared argument checking for conv2d and its gradients."""
    N, C, H, W = x_shape
    F, Cg, kh, kw = w_shape
    if C % groups or F % groups or Cg != C // groups:
        raise ValueError("channel / groups mismatch")
    sh, sw = pair(stride)
    dh, dw = pair(dilation)
    pad = resolve_padding(padding, (kh, kw), (dh, dw), (sh, sw), (H, W))
    OH = conv_output_size(H, kh, sh, pad[0], pad[1], dh)
    OW = conv_output_size(W, kw, sw, pad[2], pad[3], dw)
    return (sh, sw), (dh, dw), pad, (OH, OW)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation, like F.conv2d. weight is (F, C/groups, kh, kw).

    out[n, f, oh, ow] = bias[f] + sum_{c, ki, kj}
        w[f, c, ki, kj] * x[n, g*Cg + c, oh*sh - top + ki*dh, ow*sw - left + kj*dw]
    where g = f // (F/groups) is f's group and Cg = C/groups.
    """
    x = _f64(x)
    w = _f64(weight)
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    (sh, sw), (dh, dw), (top, _, left, _), (OH, OW) = _conv_geometry(
        x.shape, w.shape, stride, padding, dilation, groups)
    Fg = F // groups
    out = np.zeros((N, F, OH, OW), dtype=np.float64)
    for n in range(N):
        for f in range(F):
            g = f // Fg
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0.0 if bias is None else float(bias[f])
                    for c in range(Cg):
                        for ki in range(kh):
                            for kj in range(kw):
                                ih = oh * sh - top + ki * dh
                                iw = ow * sw - left + kj * dw
                                if 0 <= ih < H and 0 <= iw < W:
                                    acc += w[f, c, ki, kj] * x[n, g * Cg + c, ih, iw]
                    out[n, f, oh, ow] = acc
    return out


def conv2d_input_grad(input_shape, weight, grad_output, stride=1, padding=0,
                      dilation=1, groups=1):
    """d/dx of sum(conv2d(x, w) * grad_output): scatter each output gradient
    back through the kernel taps onto the input positions they read."""
    w = _f64(weight)
    go = _f64(grad_output)
    N, C, H, W = (int(s) for s in input_shape)
    F, Cg, kh, kw = w.shape
    (sh, sw), (dh, dw), (top, _, left, _), (OH, OW) = _conv_geometry(
        (N, C, H, W), w.shape, stride, padding, dilation, groups)
    if go.shape != (N, F, OH, OW):
        raise ValueError(f"grad_output shape {go.shape} != {(N, F, OH, OW)}")
    Fg = F // groups
    gx = np.zeros((N, C, H, W), dtype=np.float64)
    for n in range(N):
        for f in range(F):
            g = f // Fg
            for oh in range(OH):
                for ow in range(OW):
                    for c in range(Cg):
                        for ki in range(kh):
                            for kj in range(kw):
                                ih = oh * sh - top + ki * dh
                                iw = ow * sw - left + kj * dw
                                if 0 <= ih < H and 0 <= iw < W:
                                    gx[n, g * Cg + c, ih, iw] += (
                                        w[f, c, ki, kj] * go[n, f, oh, ow])
    return gx


def conv2d_weight_grad(input, weight_shape, grad_output, stride=1, padding=0,
                       dilation=1, groups=1):
    """d/dw of sum(conv2d(x, w) * grad_output)."""
    x = _f64(input)
    go = _f64(grad_output)
    N, C, H, W = x.shape
    F, Cg, kh, kw = (int(s) for s in weight_shape)
    (sh, sw), (dh, dw), (top, _, left, _), (OH, OW) = _conv_geometry(
        x.shape, (F, Cg, kh, kw), stride, padding, dilation, groups)
    if go.shape != (N, F, OH, OW):
        raise ValueError(f"grad_output shape {go.shape} != {(N, F, OH, OW)}")
    Fg = F // groups
    gw = np.zeros((F, Cg, kh, kw), dtype=np.float64)
    for n in range(N):
        for f in range(F):
            g = f // Fg
            for oh in range(OH):
                for ow in range(OW):
                    for c in range(Cg):
                        for ki in range(kh):
                            for kj in range(kw):
                                ih = oh * sh - top + ki * dh
                                iw = ow * sw - left + kj * dw
                                if 0 <= ih < H and 0 <= iw < W:
                                    gw[f, c, ki, kj] += (
                                        x[n, g * Cg + c, ih, iw] * go[n, f, oh, ow])
    return gw


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0,
                     output_padding=0, groups=1, dilation=1):
    """Like F.conv_transpose2d. weight is (C_in, F/groups, kh, kw).

    Each input element x[n, c, ih, iw] stamps x * w[c, fo, :, :] (dilated) into
    an uncropped buffer at rows ih*sh + ki*dh, cols iw*sw + kj*dw; the result
    is that buffer with `padding` rows/cols cut from the top/left and the
    output size OH = (H-1)*sh - 2*ph + dh*(kh-1) + oph + 1 kept.
    """
    x = _f64(x)
    w = _f64(weight)
    N, C, H, W = x.shape
    Cw, Fg, kh, kw = w.shape
    if Cw != C or C % groups:
        raise ValueError("channel / groups mismatch")
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    oph, opw = pair(output_padding)
    dh, dw = pair(dilation)
    Cg = C // groups
    F = Fg * groups
    OH = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if OH <= 0 or OW <= 0:
        raise ValueError("output size is not positive")
    # uncropped buffer: everything the scatter can reach plus output_padding
    full = np.zeros((N, F, (H - 1) * sh + dh * (kh - 1) + 1 + oph,
                     (W - 1) * sw + dw * (kw - 1) + 1 + opw), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            g = c // Cg
            for ih in range(H):
                for iw in range(W):
                    for fo in range(Fg):
                        for ki in range(kh):
                            for kj in range(kw):
                                full[n, g * Fg + fo, ih * sh + ki * dh,
                                     iw * sw + kj * dw] += x[n, c, ih, iw] * w[c, fo, ki, kj]
    out = full[:, :, ph:ph + OH, pw:pw + OW].copy()
    if bias is not None:
        for f in range(F):
            out[:, f] += float(bias[f])
    return out


# ----------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------

def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False):
    """Like F.max_pool2d(..., return_indices=True) -> (out, indices).

    Padding acts as -inf (never selected).  Window taps are visited row-major;
    a tap replaces the current best if it is strictly greater or is NaN, so
    ties keep the first maximum, NaN beats every number, and when a window
    holds several NaNs the LAST one in window order is selected (that is what
    PyTorch 2.x does on CPU, contiguous and channels-last alike).  A window
    of all -inf selects its first real tap.  indices are flat positions
    ih*W + iw within each (n, c) input plane.
    """
    x = _f64(x)
    N, C, H, W = x.shape
    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    ph, pw = pair(padding)
    dh, dw = pair(dilation)
    OH = pool_output_size(H, kh, sh, ph, dh, ceil_mode)
    OW = pool_output_size(W, kw, sw, pw, dw, ceil_mode)
    out = np.zeros((N, C, OH, OW), dtype=np.float64)
    idx = np.zeros((N, C, OH, OW), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best, best_i = None, -1
                    for ki in range(kh):
                        for kj in range(kw):
                            ih = oh * sh - ph + ki * dh
                            iw = ow * sw - pw + kj * dw
                            if not (0 <= ih < H and 0 <= iw < W):
                                continue          # padding: -inf, never chosen
                            v = x[n, c, ih, iw]
                            # PyTorch's rule: take v if it is greater or
                            # NaN, so later NaNs replace earlier ones.
                            if best is None or v > best or math.isnan(v):
                                best, best_i = v, ih * W + iw
                    if best is None:
                        raise ValueError("pooling window lies entirely in padding")
                    out[n, c, oh, ow] = best
                    idx[n, c, oh, ow] = best_i
    return out, idx


def max_pool2d_backward(grad_output, indices, input_shape):
    """Scatter-add grad_output[n, c, oh, ow] into input plane (n, c) at the
    flat position indices[n, c, oh, ow]."""
    go = _f64(grad_output)
    indices = np.asarray(indices)
    N, C, H, W = (int(s) for s in input_shape)
    _, _, OH, OW = go.shape
    gx = np.zeros((N, C, H, W), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    i = int(indices[n, c, oh, ow])
                    gx[n, c, i // W, i % W] += go[n, c, oh, ow]
    return gx


def _avg_window(o, s, p, k, size):
    """One dimension of PyTorch's avg-pool window for output position o.

    Returns (start, end, span): span is the window length counting padding
    (the window is cut only at size + p, the far edge of the padding); start
    and end are then clipped to the real input [0, size).
    """
    start = o * s - p
    end = min(start + k, size + p)
    span = end - start                   # measured BEFORE clipping to the input
    return max(start, 0), min(end, size), span


def _avg_divisor(span_h, span_w, h0, h1, w0, w1, count_include_pad,
                 divisor_override):
    if divisor_override is not None:
        return divisor_override
    if count_include_pad:
        return span_h * span_w
    return (h1 - h0) * (w1 - w0)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Like F.avg_pool2d: window sum over the real input / divisor, where the
    divisor is divisor_override, else the window size counting padding (but
    not the overhang past the padding that ceil_mode can create) if
    count_include_pad, else the number of real input elements.  A window
    with no real input element gives 0."""
    x = _f64(x)
    N, C, H, W = x.shape
    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    ph, pw = pair(padding)
    OH = pool_output_size(H, kh, sh, ph, 1, ceil_mode)
    OW = pool_output_size(W, kw, sw, pw, 1, ceil_mode)
    out = np.zeros((N, C, OH, OW), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                h0, h1, span_h = _avg_window(oh, sh, ph, kh, H)
                for ow in range(OW):
                    w0, w1, span_w = _avg_window(ow, sw, pw, kw, W)
                    if h0 >= h1 or w0 >= w1:
                        continue                  # empty window -> 0
                    total = 0.0
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            total += x[n, c, ih, iw]
                    out[n, c, oh, ow] = total / _avg_divisor(
                        span_h, span_w, h0, h1, w0, w1,
                        count_include_pad, divisor_override)
    return out


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None,
                        padding=0, ceil_mode=False, count_include_pad=True,
                        divisor_override=None):
    """Gradient of avg_pool2d: each real input element of a window receives
    grad_output / divisor (same windows and divisors as the forward)."""
    go = _f64(grad_output)
    N, C, H, W = (int(s) for s in input_shape)
    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    ph, pw = pair(padding)
    OH = pool_output_size(H, kh, sh, ph, 1, ceil_mode)
    OW = pool_output_size(W, kw, sw, pw, 1, ceil_mode)
    if go.shape != (N, C, OH, OW):
        raise ValueError(f"grad_output shape {go.shape} != {(N, C, OH, OW)}")
    gx = np.zeros((N, C, H, W), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                h0, h1, span_h = _avg_window(oh, sh, ph, kh, H)
                for ow in range(OW):
                    w0, w1, span_w = _avg_window(ow, sw, pw, kw, W)
                    if h0 >= h1 or w0 >= w1:
                        continue
                    share = go[n, c, oh, ow] / _avg_divisor(
                        span_h, span_w, h0, h1, w0, w1,
                        count_include_pad, divisor_override)
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            gx[n, c, ih, iw] += share
    return gx


# ----------------------------------------------------------------------------
# N-D convolution and pooling: any number of spatial axes
# ----------------------------------------------------------------------------
# Arrays are (N, C, *spatial); geometry arguments take an int (every axis) or
# one value per axis; padding also takes one (low, high) pair per axis, or
# 'valid' / 'same' (stride 1: PyTorch's rule; stride > 1: TensorFlow's).
# Loops run over itertools.product of output positions and taps, with the
# input position of each tap written out: o*stride - low + k*dilation.


def _per_axis(v, d):
    """int -> (v,)*d; a sequence of d ints (or one) -> tuple of d ints."""
    if isinstance(v, (int, np.integer)):
        return (int(v),) * d
    v = tuple(int(a) for a in v)
    return v * d if len(v) == 1 else v


def pads_nd(padding, size, kernel, stride, dilation):
    """Resolve `padding` to d (low, high) pairs."""
    d = len(size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        pairs = []
        for n, k, s, dl in zip(size, kernel, stride, dilation):
            out = -(-n // s)  # ceil(n / s) outputs ('same')
            total = max((out - 1) * s + dl * (k - 1) + 1 - n, 0)
            pairs.append((total // 2, total - total // 2))
        return tuple(pairs)
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * d
    pairs = []
    for p in padding:
        if isinstance(p, (tuple, list)):
            pairs.append((int(p[0]), int(p[1])))
        else:
            pairs.append((int(p), int(p)))
    return tuple(pairs * d if len(pairs) == 1 else pairs)


def pool_output_size_nd(size, k, s, lo, hi, d, ceil_mode):
    """`pool_output_size` with padding `lo` before and `hi` after: the last
    ceil-mode window must start inside the input or the low padding."""
    num = size + lo + hi - d * (k - 1) - 1
    if ceil_mode:
        out = -(-num // s) + 1
        if (out - 1) * s >= size + lo:
            out -= 1
        return out
    return num // s + 1


def _num(a):
    """float64, or complex128 for complex input (the N-D references take both)."""
    a = np.asarray(a)
    return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)


def conv_nd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Like F.conv1d / conv2d / conv3d (d = x.ndim - 2), in float64.

    out[n, f, *o] = bias[f] + sum over c in f's group and taps k of
    x[n, c, *(o*stride - low + k*dilation)] * w[f, c - group start, *k],
    positions outside the input reading zero.
    """
    x, w = _num(x), _num(weight)
    N, C = x.shape[:2]
    size = x.shape[2:]
    d = len(size)
    F, Cg = w.shape[:2]
    kernel = w.shape[2:]
    stride, dilation = _per_axis(stride, d), _per_axis(dilation, d)
    pads = pads_nd(padding, size, kernel, stride, dilation)
    out_size = tuple(conv_output_size(n, k, s, lo, hi, dl)
                     for n, k, s, (lo, hi), dl in zip(size, kernel, stride, pads, dilation))
    Fg = F // groups
    out = np.zeros((N, F) + out_size, dtype=np.result_type(x, w, _num(0 if bias is None else bias)))
    for n in range(N):
        for f in range(F):
            g = f // Fg
            for o in itertools.product(*(range(m) for m in out_size)):
                total = 0.0 if bias is None else bias[f]
                for c in range(Cg):
                    for k in itertools.product(*(range(m) for m in kernel)):
                        pos = tuple(oi * s - lo + ki * dl for oi, ki, s, (lo, _), dl
                                    in zip(o, k, stride, pads, dilation))
                        if all(0 <= p < m for p, m in zip(pos, size)):
                            total += x[(n, g * Cg + c) + pos] * w[(f, c) + k]
                out[(n, f) + o] = total
    return out


def conv_nd_input_grad(input_shape, weight, grad_output, stride=1, padding=0, dilation=1,
                       groups=1):
    """dL/dx of conv_nd: every output gradient flows back along each tap to
    the input position that tap read (positions in the padding drop out)."""
    w, gy = _num(weight), _num(grad_output)
    N, C = (int(s) for s in input_shape[:2])
    size = tuple(int(s) for s in input_shape[2:])
    d = len(size)
    F, Cg = w.shape[:2]
    kernel = w.shape[2:]
    stride, dilation = _per_axis(stride, d), _per_axis(dilation, d)
    pads = pads_nd(padding, size, kernel, stride, dilation)
    Fg = F // groups
    gx = np.zeros((N, C) + size, dtype=np.result_type(w, gy))
    for n in range(N):
        for f in range(F):
            g = f // Fg
            for o in itertools.product(*(range(m) for m in gy.shape[2:])):
                for c in range(Cg):
                    for k in itertools.product(*(range(m) for m in kernel)):
                        pos = tuple(oi * s - lo + ki * dl for oi, ki, s, (lo, _), dl
                                    in zip(o, k, stride, pads, dilation))
                        if all(0 <= p < m for p, m in zip(pos, size)):
                            # complex: PyTorch's gradient uses conj(w)
                            gx[(n, g * Cg + c) + pos] += gy[(n, f) + o] * np.conj(w[(f, c) + k])
    return gx


def conv_nd_weight_grad(x, weight_shape, grad_output, stride=1, padding=0, dilation=1,
                        groups=1):
    """dL/dw of conv_nd: the sum over images and output positions of the
    output gradient times the input value each tap read."""
    x, gy = _num(x), _num(grad_output)
    N = x.shape[0]
    size = x.shape[2:]
    d = len(size)
    F, Cg = (int(s) for s in weight_shape[:2])
    kernel = tuple(int(s) for s in weight_shape[2:])
    stride, dilation = _per_axis(stride, d), _per_axis(dilation, d)
    pads = pads_nd(padding, size, kernel, stride, dilation)
    Fg = F // groups
    gw = np.zeros((F, Cg) + kernel, dtype=np.result_type(x, gy))
    for n in range(N):
        for f in range(F):
            g = f // Fg
            for o in itertools.product(*(range(m) for m in gy.shape[2:])):
                for c in range(Cg):
                    for k in itertools.product(*(range(m) for m in kernel)):
                        pos = tuple(oi * s - lo + ki * dl for oi, ki, s, (lo, _), dl
                                    in zip(o, k, stride, pads, dilation))
                        if all(0 <= p < m for p, m in zip(pos, size)):
                            # complex: PyTorch's gradient uses conj(x)
                            gw[(f, c) + k] += gy[(n, f) + o] * np.conj(x[(n, g * Cg + c) + pos])
    return gw


def conv_transpose_nd(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                      dilation=1):
    """Like F.conv_transpose1d / 2d / 3d; weight is (C_in, F/groups, *k).

    Each input element stamps x * w[c, fo] (dilated) into an uncropped
    buffer at i*stride + k*dilation; the result is that buffer with `low`
    cut from the start of each axis and OUT = (size-1)*s - low - high +
    d*(k-1) + output_padding + 1 kept.
    """
    x, w = _num(x), _num(weight)
    N, C = x.shape[:2]
    size = x.shape[2:]
    d = len(size)
    Fg = w.shape[1]
    kernel = w.shape[2:]
    stride, dilation = _per_axis(stride, d), _per_axis(dilation, d)
    opad = _per_axis(output_padding, d)
    pads = pads_nd(padding, size, kernel, stride, dilation)
    Cg = C // groups
    F = Fg * groups
    out_size = tuple((n - 1) * s - lo - hi + dl * (k - 1) + op + 1 for n, s, (lo, hi), dl, k, op
                     in zip(size, stride, pads, dilation, kernel, opad))
    if min(out_size) <= 0:
        raise ValueError("output size is not positive")
    full = np.zeros((N, F) + tuple((n - 1) * s + dl * (k - 1) + 1 + op for n, s, dl, k, op
                                   in zip(size, stride, dilation, kernel, opad)),
                    dtype=np.result_type(x, w, _num(0 if bias is None else bias)))
    for n in range(N):
        for c in range(C):
            g = c // Cg
            for i in itertools.product(*(range(m) for m in size)):
                for fo in range(Fg):
                    for k in itertools.product(*(range(m) for m in kernel)):
                        pos = tuple(ii * s + ki * dl for ii, ki, s, dl in zip(i, k, stride, dilation))
                        full[(n, g * Fg + fo) + pos] += x[(n, c) + i] * w[(c, fo) + k]
    crop = tuple(slice(lo, lo + m) for (lo, _), m in zip(pads, out_size))
    out = full[(slice(None), slice(None)) + crop].copy()
    if bias is not None:
        out += _num(bias).reshape((1, F) + (1,) * d)
    return out


def max_pool_nd(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Like F.max_pool1d / 2d / 3d(..., return_indices=True) -> (out, indices).

    The same rules as `max_pool2d` (padding never chosen, ties keep the
    first, NaN wins and a later NaN replaces an earlier one); taps are
    visited in C order and indices are flat positions within each (n, c)
    input volume.
    """
    x = np.asarray(x, dtype=np.float64)
    N, C = x.shape[:2]
    size = x.shape[2:]
    d = len(size)
    kernel = _per_axis(kernel_size, d)
    stride = kernel if stride is None else _per_axis(stride, d)
    dilation = _per_axis(dilation, d)
    pads = pads_nd(padding, size, kernel, stride, dilation)
    pad = tuple(lo for lo, _ in pads)
    out_size = tuple(pool_output_size_nd(n, k, s, lo, hi, dl, ceil_mode)
                     for n, k, s, (lo, hi), dl in zip(size, kernel, stride, pads, dilation))
    out = np.zeros((N, C) + out_size, dtype=np.float64)
    idx = np.zeros((N, C) + out_size, dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for o in itertools.product(*(range(m) for m in out_size)):
                best, best_i = None, -1
                for k in itertools.product(*(range(m) for m in kernel)):
                    pos = tuple(oi * s - p + ki * dl for oi, ki, s, p, dl
                                in zip(o, k, stride, pad, dilation))
                    if not all(0 <= q < m for q, m in zip(pos, size)):
                        continue
                    v = x[(n, c) + pos]
                    if best is None or v > best or math.isnan(v):
                        best, best_i = v, int(np.ravel_multi_index(pos, size))
                if best is None:
                    raise ValueError("pooling window lies entirely in padding")
                out[(n, c) + o] = best
                idx[(n, c) + o] = best_i
    return out, idx


def max_pool_nd_backward(grad_output, indices, input_shape):
    """Scatter-add each output gradient onto the flat input position its
    index names, within its (n, c) volume."""
    go = np.asarray(grad_output, dtype=np.float64)
    shape = tuple(int(s) for s in input_shape)
    gx = np.zeros(shape, dtype=np.float64)
    for n in range(shape[0]):
        for c in range(shape[1]):
            for o in itertools.product(*(range(m) for m in go.shape[2:])):
                pos = np.unravel_index(int(indices[(n, c) + o]), shape[2:])
                gx[(n, c) + tuple(pos)] += go[(n, c) + o]
    return gx


def _avg_windows_nd(o, stride, pads, kernel, size):
    """Per axis (start, end, span) of an avg-pool window, as `_avg_window`
    with the window cut at the far edge of the high padding."""
    windows = []
    for oi, s, (lo, hi), k, n in zip(o, stride, pads, kernel, size):
        start = oi * s - lo
        end = min(start + k, n + hi)
        windows.append((max(start, 0), min(end, n), end - start))
    return windows


def avg_pool_nd(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
    """Like F.avg_pool1d / 2d / 3d (divisor_override on any d): the rules of
    `avg_pool2d` on every axis; the divisor with padding is the product of
    the per-axis spans. Padding may also be (low, high) pairs or 'same'
    (as `pads_nd`), for which PyTorch has no equivalent."""
    x = np.asarray(x, dtype=np.float64)
    N, C = x.shape[:2]
    size = x.shape[2:]
    d = len(size)
    kernel = _per_axis(kernel_size, d)
    stride = kernel if stride is None else _per_axis(stride, d)
    pads = pads_nd(padding, size, kernel, stride, (1,) * d)
    out_size = tuple(pool_output_size_nd(n, k, s, lo, hi, 1, ceil_mode)
                     for n, k, s, (lo, hi) in zip(size, kernel, stride, pads))
    out = np.zeros((N, C) + out_size, dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for o in itertools.product(*(range(m) for m in out_size)):
                win = _avg_windows_nd(o, stride, pads, kernel, size)
                if any(a >= b for a, b, _ in win):
                    continue  # empty window -> 0
                total = 0.0
                for pos in itertools.product(*(range(a, b) for a, b, _ in win)):
                    total += x[(n, c) + pos]
                out[(n, c) + o] = total / _avg_divisor_nd(win, count_include_pad,
                                                          divisor_override)
    return out


def _avg_divisor_nd(win, count_include_pad, divisor_override):
    if divisor_override is not None:
        return divisor_override
    if count_include_pad:
        return math.prod(span for _, _, span in win)
    return math.prod(b - a for a, b, _ in win)


def avg_pool_nd_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                         ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of avg_pool_nd: each real input element of a window receives
    grad_output / divisor."""
    go = np.asarray(grad_output, dtype=np.float64)
    shape = tuple(int(s) for s in input_shape)
    size = shape[2:]
    d = len(size)
    kernel = _per_axis(kernel_size, d)
    stride = kernel if stride is None else _per_axis(stride, d)
    pads = pads_nd(padding, size, kernel, stride, (1,) * d)
    gx = np.zeros(shape, dtype=np.float64)
    for n in range(shape[0]):
        for c in range(shape[1]):
            for o in itertools.product(*(range(m) for m in go.shape[2:])):
                win = _avg_windows_nd(o, stride, pads, kernel, size)
                if any(a >= b for a, b, _ in win):
                    continue
                share = go[(n, c) + o] / _avg_divisor_nd(win, count_include_pad, divisor_override)
                for pos in itertools.product(*(range(a, b) for a, b, _ in win)):
                    gx[(n, c) + pos] += share
    return gx


# ----------------------------------------------------------------------------
# N-D unfold  (im2col1d / im2col3d, and padding modes for any number of axes)
# ----------------------------------------------------------------------------
#
# Padding is given resolved: `padding` is one (low, high) pair per spatial
# axis. The forward pads the input with np.pad; the adjoint maps every padded
# position to the input element it copies with `mode_source`, written out
# case by case (no np.pad): the two are independent, and the adjoint
# identity <unfold_nd(x), y> == <x, fold_nd(y)> ties them together.

NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                   "circular": "wrap", "symmetric": "symmetric"}


def mode_source(i, n, mode):
    """Input index (0 <= . < n) that position i of the padded axis copies,
    or None for zero padding."""
    if 0 <= i < n:
        return i
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if i < 0 else n - 1
    if mode == "circular":
        return i % n
    if mode == "reflect":          # ... 2 1 | 0 1 2 3 | 2 1 ...  (edge not repeated)
        if n == 1:
            return 0
        m = i % (2 * n - 2)
        return m if m < n else 2 * n - 2 - m
    if mode == "symmetric":        # ... 1 0 | 0 1 2 3 | 3 2 ...  (edge repeated)
        m = i % (2 * n)
        return m if m < n else 2 * n - 1 - m
    raise ValueError(mode)


def _nd_args(ndim, kernel_size, dilation, stride):
    def tup(v):
        return (int(v),) * ndim if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)
    return tup(kernel_size), tup(dilation), tup(stride)


def unfold_nd(x, kernel_size, dilation, padding, stride, padding_mode="zeros"):
    """(N, C, *S) -> (N, C*prod(k), prod(O)): rows c then taps in C order,
    columns output positions in C order; `padding` one (low, high) per axis."""
    x = np.asarray(x, dtype=np.float64)
    ndim = x.ndim - 2
    k, d, s = _nd_args(ndim, kernel_size, dilation, stride)
    N, C = x.shape[:2]
    xp = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in padding],
                mode=NUMPY_PAD_MODES[padding_mode])
    out = [conv_output_size(n, k[a], s[a], padding[a][0], padding[a][1], d[a])
           for a, n in enumerate(x.shape[2:])]
    taps = list(itertools.product(*(range(v) for v in k)))
    windows = list(itertools.product(*(range(v) for v in out)))
    cols = np.zeros((N, C * len(taps), len(windows)), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for t, tap in enumerate(taps):
                for w, o in enumerate(windows):
                    pos = tuple(o[a] * s[a] + tap[a] * d[a] for a in range(ndim))
                    cols[n, c * len(taps) + t, w] = xp[(n, c) + pos]
    return cols


def fold_nd(cols, output_size, kernel_size, dilation, padding, stride, padding_mode="zeros"):
    """The adjoint of unfold_nd: (N, C*prod(k), prod(O)) -> (N, C, *output_size);
    an entry read from the padding is added to the element the padding copies."""
    cols = np.asarray(cols, dtype=np.float64)
    size = tuple(int(v) for v in output_size)
    ndim = len(size)
    k, d, s = _nd_args(ndim, kernel_size, dilation, stride)
    out = [conv_output_size(size[a], k[a], s[a], padding[a][0], padding[a][1], d[a])
           for a in range(ndim)]
    taps = list(itertools.product(*(range(v) for v in k)))
    windows = list(itertools.product(*(range(v) for v in out)))
    N, CK, L = cols.shape
    assert CK % len(taps) == 0 and L == len(windows)
    C = CK // len(taps)
    x = np.zeros((N, C) + size, dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for t, tap in enumerate(taps):
                for w, o in enumerate(windows):
                    src = [mode_source(o[a] * s[a] - padding[a][0] + tap[a] * d[a], size[a],
                                       padding_mode) for a in range(ndim)]
                    if None not in src:
                        x[(n, c) + tuple(src)] += cols[n, c * len(taps) + t, w]
    return x
