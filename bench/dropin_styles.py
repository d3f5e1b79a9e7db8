"""The im2col/col2im styles of existing NumPy CNN code, and their im2col_nb swaps.

Small drivers written for the benchmark (not the projects' code) that make the
same calls in the same layouts as:

* CS231n assignment 2: ``im2col.py`` (pure NumPy, fancy indexing and
  ``np.add.at``), the Cython ``im2col_cython`` / ``col2im_cython`` /
  ``col2im_6d_cython`` (here: serial Numba ports of the same loop nests, as
  Cython compiles them: plain loops, no parallel, no fastmath) and
  ``fast_layers``' stride-trick forward (``conv_forward_strides``);
* *Deep Learning from Scratch*, chapter 7: ``im2col`` / ``col2im`` with
  ``np.pad`` and strided slice copies, rows ``(N*OH*OW, C*fh*fw)``;
* numpy-ml: ``im2col`` / ``col2im`` on NHWC input, padding as a 4-tuple,
  dilation ``d`` (0 = none), columns ``(C*fr*fc, OH*OW*N)`` batch innermost.

Each style has ``orig_*`` drivers (the original's way), ``ours_*`` drivers
(the same call, same result layout, by `im2col_nb.im2col` / `col2im` with
``order=`` and ``out=``) and a conv layer forward + backward built three ways:
on the original primitives, on ours, and on `im2col_nb.conv2d` and its
gradients.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.lib.stride_tricks import as_strided

import im2col_nb

def out_hw(h, w, fh, fw, pad, stride, dil=1):
    """Output size with symmetric padding `pad` (int) or ((top, bottom), (left, right))."""
    (pt, pb), (pl, pr) = ((pad, pad), (pad, pad)) if np.isscalar(pad) else pad
    return ((h + pt + pb - dil * (fh - 1) - 1) // stride + 1,
            (w + pl + pr - dil * (fw - 1) - 1) // stride + 1)


# ---------------------------------------------------------------------------
# CS231n: Cython loops, ported to serial Numba
# ---------------------------------------------------------------------------


@numba.njit(cache=False, fastmath=False, parallel=False)
def _im2col_cython_inner(cols, x_padded, n, c_in, oh, ow, fh, fw, stride):
    for c in range(c_in):
        for yy in range(oh):
            for xx in range(ow):
                for ii in range(fh):
                    for jj in range(fw):
                        row = c * fh * fw + ii * fw + jj
                        for i in range(n):
                            col = yy * ow * n + xx * n + i
                            cols[row, col] = x_padded[i, c, stride * yy + ii, stride * xx + jj]


@numba.njit(cache=False, fastmath=False, parallel=False)
def _col2im_cython_inner(cols, x_padded, n, c_in, oh, ow, fh, fw, stride):
    for c in range(c_in):
        for ii in range(fh):
            for jj in range(fw):
                row = c * fw * fh + ii * fw + jj
                for yy in range(oh):
                    for xx in range(ow):
                        for i in range(n):
                            col = yy * ow * n + xx * n + i
                            x_padded[i, c, stride * yy + ii, stride * xx + jj] += cols[row, col]


@numba.njit(cache=False, fastmath=False, parallel=False)
def _col2im_6d_cython_inner(cols, x_padded, n, c_in, fh, fw, oh, ow, stride):
    for c in range(c_in):
        for ii in range(fh):
            for jj in range(fw):
                for i in range(n):
                    for h in range(oh):
                        for w in range(ow):
                            x_padded[i, c, stride * h + ii, stride * w + jj] += cols[c, ii, jj, i, h, w]


def _unpad(x_padded, pad):
    return x_padded[:, :, pad:-pad, pad:-pad] if pad > 0 else x_padded


def cs231n_im2col_cython(x, fh, fw, pad, stride):
    """(C*fh*fw, OH*OW*N), batch innermost, from an explicitly padded copy."""
    n, c, h, w = x.shape
    oh, ow = out_hw(h, w, fh, fw, pad, stride)
    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    cols = np.zeros((c * fh * fw, n * oh * ow), dtype=x.dtype)
    _im2col_cython_inner(cols, x_padded, n, c, oh, ow, fh, fw, stride)
    return cols


def cs231n_col2im_cython(cols, n, c, h, w, fh, fw, pad, stride):
    oh, ow = out_hw(h, w, fh, fw, pad, stride)
    x_padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    _col2im_cython_inner(cols, x_padded, n, c, oh, ow, fh, fw, stride)
    return _unpad(x_padded, pad)


def cs231n_col2im_6d_cython(cols6, n, c, h, w, fh, fw, pad, stride):
    """`cols6`: (C, fh, fw, N, OH, OW), the stride-trick columns' layout."""
    oh, ow = cols6.shape[4:]
    x_padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols6.dtype)
    _col2im_6d_cython_inner(cols6, x_padded, n, c, fh, fw, oh, ow, stride)
    return _unpad(x_padded, pad)


def cs231n_strides_cols(x, fh, fw, pad, stride):
    """conv_forward_strides' columns: a stride-trick view of the padded input,
    copied to (C*fh*fw, N*OH*OW): rows c, ki, kj, columns n, oh, ow (batch outermost)."""
    n, c, h, w = x.shape
    oh, ow = out_hw(h, w, fh, fw, pad, stride)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    s0, s1, s2, s3 = xp.strides
    view = as_strided(xp, shape=(c, fh, fw, n, oh, ow),
                      strides=(s1, s2, s3, s0, stride * s2, stride * s3))
    return np.ascontiguousarray(view).reshape(c * fh * fw, n * oh * ow)


# ---------------------------------------------------------------------------
# CS231n: im2col.py, fancy indexing and np.add.at
# ---------------------------------------------------------------------------


def _fancy_indices(c, h, w, fh, fw, pad, stride):
    oh, ow = out_hw(h, w, fh, fw, pad, stride)
    tap_r = np.tile(np.repeat(np.arange(fh), fw), c)          # per row of cols
    tap_c = np.tile(np.arange(fw), fh * c)
    pos_r = stride * np.repeat(np.arange(oh), ow)            # per position
    pos_c = stride * np.tile(np.arange(ow), oh)
    rows = tap_r[:, None] + pos_r[None, :]
    cols = tap_c[:, None] + pos_c[None, :]
    chan = np.repeat(np.arange(c), fh * fw)[:, None]
    return chan, rows, cols


def cs231n_im2col_indices(x, fh, fw, pad, stride):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    k, i, j = _fancy_indices(c, h, w, fh, fw, pad, stride)
    cols = xp[:, k, i, j]                                   # (N, K, L)
    return cols.transpose(1, 2, 0).reshape(c * fh * fw, -1)


def cs231n_col2im_indices(cols, n, c, h, w, fh, fw, pad, stride):
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    k, i, j = _fancy_indices(c, h, w, fh, fw, pad, stride)
    per_image = cols.reshape(c * fh * fw, -1, n).transpose(2, 0, 1)
    np.add.at(xp, (slice(None), k, i, j), per_image)
    return _unpad(xp, pad)


# ---------------------------------------------------------------------------
# Deep Learning from Scratch, chapter 7
# ---------------------------------------------------------------------------


def book_im2col(x, fh, fw, stride=1, pad=0):
    """Rows (N*OH*OW, C*fh*fw). (The book allocates float64 whatever the input;
    here the input's dtype, so float32 compares like with like.)"""
    n, c, h, w = x.shape
    oh, ow = out_hw(h, w, fh, fw, pad, stride)
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow), dtype=x.dtype)
    for y in range(fh):
        for xx in range(fw):
            col[:, :, y, xx] = img[:, :, y:y + stride * oh:stride, xx:xx + stride * ow:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def book_col2im(col, input_shape, fh, fw, stride=1, pad=0):
    n, c, h, w = input_shape
    oh, ow = out_hw(h, w, fh, fw, pad, stride)
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(fh):
        for xx in range(fw):
            img[:, :, y:y + stride * oh:stride, xx:xx + stride * ow:stride] += col[:, :, y, xx]
    return img[:, :, pad:h + pad, pad:w + pad]


# ---------------------------------------------------------------------------
# numpy-ml: NHWC input, (top, bottom, left, right) padding, dilation d (0 = none)
# ---------------------------------------------------------------------------


def _nml_indices(c, h, w, fr, fc, p, s, d):
    pt, pb, pl, pr = p
    oh = (h + pt + pb - (fr * (d + 1) - d)) // s + 1
    ow = (w + pl + pr - (fc * (d + 1) - d)) // s + 1
    tap_r = np.tile(np.repeat(np.arange(fr), fc), c) * (d + 1)
    tap_c = np.tile(np.arange(fc), fr * c) * (d + 1)
    rows = tap_r[:, None] + (s * np.repeat(np.arange(oh), ow))[None, :]
    cols = tap_c[:, None] + (s * np.tile(np.arange(ow), oh))[None, :]
    return np.repeat(np.arange(c), fr * fc)[:, None], rows, cols


def nml_im2col(X, W_shape, p, s, d=0):
    """X (N, H, W, C); p = (top, bottom, left, right); returns (C*fr*fc, OH*OW*N)."""
    fr, fc = W_shape[:2]
    n, h, w, c = X.shape
    pt, pb, pl, pr = p
    xp = np.pad(X, ((0, 0), (pt, pb), (pl, pr), (0, 0)), mode="constant").transpose(0, 3, 1, 2)
    k, i, j = _nml_indices(c, h, w, fr, fc, p, s, d)
    return xp[:, k, i, j].transpose(1, 2, 0).reshape(fr * fc * c, -1)


def nml_col2im(X_col, X_shape, W_shape, p, s, d=0):
    """Back to (N, C, H, W) (numpy-ml's layer then transposes to NHWC).
    (numpy-ml allocates float64 whatever the input; here the input's dtype.)"""
    fr, fc = W_shape[:2]
    n, h, w, c = X_shape
    pt, pb, pl, pr = p
    xp = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=X_col.dtype)
    k, i, j = _nml_indices(c, h, w, fr, fc, p, s, d)
    np.add.at(xp, (slice(None), k, i, j), X_col.reshape(c * fr * fc, -1, n).transpose(2, 0, 1))
    return xp[:, :, pt:h + pt, pl:w + pl]


def nml_pad(p):
    """numpy-ml's (top, bottom, left, right) as im2col_nb's ((top, bottom), (left, right))."""
    return ((p[0], p[1]), (p[2], p[3]))


# ---------------------------------------------------------------------------
# Layers: forward (im2col + GEMM) and backward (GEMM + col2im for dx, GEMM for dW)
# ---------------------------------------------------------------------------


def layer_cs231n_im2col(x, w, b, dout, pad, stride, ours=False, bufs=None):
    """conv_forward_im2col + conv_backward_im2col (Cython primitives, or ours
    with order='KLN'). Returns out, dx, dw, db."""
    n, c, h, wd = x.shape
    f, _, fh, fw = w.shape
    oh, ow = out_hw(h, wd, fh, fw, pad, stride)
    if ours:
        x_cols = im2col_nb.im2col(x, (fh, fw), padding=pad, stride=stride, order="KLN")
    else:
        x_cols = cs231n_im2col_cython(x, fh, fw, pad, stride)
    res = w.reshape(f, -1).dot(x_cols) + b.reshape(-1, 1)
    out = res.reshape(f, oh, ow, n).transpose(3, 0, 1, 2)
    db = dout.sum(axis=(0, 2, 3))
    dout_r = dout.transpose(1, 2, 3, 0).reshape(f, -1)
    dw = dout_r.dot(x_cols.T).reshape(w.shape)
    dx_cols = w.reshape(f, -1).T.dot(dout_r)
    if ours:
        dx = im2col_nb.col2im(dx_cols, (h, wd), (fh, fw), padding=pad, stride=stride, order="KLN")
    else:
        dx = cs231n_col2im_cython(dx_cols, n, c, h, wd, fh, fw, pad, stride)
    return out, dx, dw, db


def layer_cs231n_fancy(x, w, b, dout, pad, stride, ours=False):
    """The same layer on im2col.py's im2col_indices / col2im_indices (or ours)."""
    if ours:
        return layer_cs231n_im2col(x, w, b, dout, pad, stride, ours=True)
    n, c, h, wd = x.shape
    f, _, fh, fw = w.shape
    oh, ow = out_hw(h, wd, fh, fw, pad, stride)
    x_cols = cs231n_im2col_indices(x, fh, fw, pad, stride)
    res = w.reshape(f, -1).dot(x_cols) + b.reshape(-1, 1)
    out = res.reshape(f, oh, ow, n).transpose(3, 0, 1, 2)
    db = dout.sum(axis=(0, 2, 3))
    dout_r = dout.transpose(1, 2, 3, 0).reshape(f, -1)
    dw = dout_r.dot(x_cols.T).reshape(w.shape)
    dx_cols = w.reshape(f, -1).T.dot(dout_r)
    dx = cs231n_col2im_indices(dx_cols, n, c, h, wd, fh, fw, pad, stride)
    return out, dx, dw, db


def layer_cs231n_strides(x, w, b, dout, pad, stride, ours=False):
    """conv_forward_strides + conv_backward_strides: columns (C*fh*fw, N*OH*OW),
    batch outermost; dx by col2im_6d_cython (or ours: order 'KNL')."""
    n, c, h, wd = x.shape
    f, _, fh, fw = w.shape
    oh, ow = out_hw(h, wd, fh, fw, pad, stride)
    if ours:
        x_cols = im2col_nb.im2col(x, (fh, fw), padding=pad, stride=stride, order="KNL")
    else:
        x_cols = cs231n_strides_cols(x, fh, fw, pad, stride)
    res = w.reshape(f, -1).dot(x_cols) + b.reshape(-1, 1)
    out = np.ascontiguousarray(res.reshape(f, n, oh, ow).transpose(1, 0, 2, 3))
    db = dout.sum(axis=(0, 2, 3))
    dout_r = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    dw = dout_r.dot(x_cols.T).reshape(w.shape)
    dx_cols = w.reshape(f, -1).T.dot(dout_r)
    if ours:
        dx = im2col_nb.col2im(dx_cols, (h, wd), (fh, fw), padding=pad, stride=stride,
                              order="KNL")
    else:
        dx = cs231n_col2im_6d_cython(dx_cols.reshape(c, fh, fw, n, oh, ow), n, c, h, wd, fh, fw,
                                     pad, stride)
    return out, dx, dw, db


def layer_book(x, w, b, dout, pad, stride, ours=False):
    """The book's Convolution.forward / backward: rows (N*OH*OW, C*fh*fw)."""
    n, c, h, wd = x.shape
    f, _, fh, fw = w.shape
    oh, ow = out_hw(h, wd, fh, fw, pad, stride)
    if ours:
        col = im2col_nb.im2col(x, (fh, fw), padding=pad, stride=stride, order="NLK")
    else:
        col = book_im2col(x, fh, fw, stride, pad)
    col_w = w.reshape(f, -1).T
    out = (np.dot(col, col_w) + b).reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
    d = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    db = np.sum(d, axis=0)
    dw = np.dot(col.T, d).transpose(1, 0).reshape(f, c, fh, fw)
    dcol = np.dot(d, col_w.T)
    if ours:
        dx = im2col_nb.col2im(dcol, (h, wd), (fh, fw), padding=pad, stride=stride, order="NLK")
    else:
        dx = book_col2im(dcol, x.shape, fh, fw, stride, pad)
    return out, dx, dw, db


def layer_nml(X, W, b, dZ, p, s, d=0, ours=False):
    """numpy-ml's Conv2D: conv2D forward, _bwd (which runs im2col again).
    X (N, H, W, C), W (fr, fc, C, F), p = (top, bottom, left, right), dZ (N, OH, OW, F).
    Returns Z, dX, dW, dB, all channels-last as numpy-ml's."""
    fr, fc, c, f = W.shape
    n, h, w, _ = X.shape
    oh, ow = out_hw(h, w, fr, fc, nml_pad(p), s, d + 1)

    def cols():
        if ours:
            return im2col_nb.im2col(X.transpose(0, 3, 1, 2), (fr, fc), dilation=d + 1, padding=nml_pad(p),
                             stride=s, order="KLN")
        return nml_im2col(X, W.shape, p, s, d)

    W_col = W.transpose(3, 2, 0, 1).reshape(f, -1)
    Z = (W_col @ cols()).reshape(f, oh, ow, n).transpose(3, 1, 2, 0) + b
    dZ_col = dZ.transpose(3, 1, 2, 0).reshape(f, -1)
    X_col = cols()
    dB = dZ_col.sum(axis=1).reshape(1, 1, 1, -1)
    dW = (dZ_col @ X_col.T).reshape(f, c, fr, fc).transpose(2, 3, 1, 0)
    dX_col = W_col.T @ dZ_col
    if ours:
        dX = np.empty((n, h, w, c), dtype=X.dtype)
        im2col_nb.col2im(dX_col, (h, w), (fr, fc), dilation=d + 1, padding=nml_pad(p), stride=s,
                  order="KLN", out=dX.transpose(0, 3, 1, 2))
    else:
        dX = nml_col2im(dX_col, X.shape, W.shape, p, s, d).transpose(0, 2, 3, 1)
    return Z, dX, dW, dB


def layer_conv2d(x, w, b, dout, pad, stride, dil=1, layout="NCHW"):
    """The same layer on im2col_nb.conv2d, conv2d_input_grad, conv2d_weight_grad
    (weights (F, C, kh, kw); x, dout in `layout`)."""
    out = im2col_nb.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, layout=layout)
    dx = im2col_nb.conv2d_input_grad(x.shape, w, dout, stride=stride, padding=pad, dilation=dil,
                                     layout=layout)
    dw = im2col_nb.conv2d_weight_grad(x, w.shape, dout, stride=stride, padding=pad, dilation=dil,
                                      layout=layout)
    db = dout.sum(axis=(0, 2, 3) if layout == "NCHW" else (0, 1, 2))
    return out, dx, dw, db


def layer_nml_conv2d(X, W, b, dZ, p, s, d=0):
    """numpy-ml's layer on conv2d(layout='NHWC') and its gradients, numpy-ml's shapes."""
    Wt = np.ascontiguousarray(W.transpose(3, 2, 0, 1))  # (F, C, fr, fc)
    Z, dX, dW, dB = layer_conv2d(X, Wt, b.reshape(-1), dZ, nml_pad(p), s, d + 1, layout="NHWC")
    return Z, dX, dW.transpose(2, 3, 1, 0), dB.reshape(1, 1, 1, -1)
