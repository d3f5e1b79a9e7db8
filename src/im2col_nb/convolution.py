"""Convolution: conv2d, and conv2d_direct (its direct loops, forced).

Public wrappers: each validates its arguments once (`prepare_conv`), hands
the problem to the engine, which chooses a method (``method="auto"``, or the
one asked for) and runs it, and returns the result in the shape the input
had.
"""

from __future__ import annotations

from ._core.workspace import resolve_budget
from ._engine.complex import bilinear, is_complex
from ._engine.conv import run_conv2d
from ._engine.problem import prepare_conv

__all__ = ["conv2d", "conv2d_direct"]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCHW", max_workspace_bytes=None, method="auto", padding_mode="zeros"):
    """2-D convolution (cross-correlation, as in CNNs) by im2col + one GEMM.

    Same arguments and result as ``torch.nn.functional.conv2d``, plus a
    channels-last layout and a memory budget.

    Parameters
    ----------
    input : array_like
        ``(N, C, H, W)``, unbatched ``(C, H, W)``, or a single-channel 2-D
        image ``(H, W)`` (then `weight` is a 2-D kernel ``(kh, kw)``). With
        ``layout="NHWC"``: ``(N, H, W, C)`` or ``(H, W, C)``.
    weight : array_like, shape (F, C/groups, kh, kw)
        Filters (the same layout for both `layout` values).
    bias : array_like, shape (F,), optional
        Added to every output position of each filter.
    stride : int or (int, int), default 1
        A one-element tuple means that value on both axes, as in PyTorch
        (likewise for `padding` and `dilation`).
    padding : int, (int, int), ((int, int), (int, int)), 'valid' or 'same', default 0
        Zeros added on both sides of each axis, or ``((top, bottom), (left,
        right))`` for different amounts on each side (as JAX and TensorFlow
        take it; PyTorch needs an ``F.pad`` copy for that). ``'same'`` gives
        ``ceil(H / sh)`` x ``ceil(W / sw)`` outputs (the input size with
        stride 1), padding split with the odd row/column at the bottom/right:
        PyTorch's rule with stride 1, TensorFlow's and JAX's for any stride
        (PyTorch rejects 'same' with stride > 1).
    dilation : int or (int, int), default 1
    groups : int, default 1
        Split channels and filters into `groups` independent convolutions.
    layout : {'NCHW', 'NHWC'}, keyword-only
        Memory layout of `input` and of the result. NHWC is computed without
        transposing the input.
    max_workspace_bytes : int, optional, keyword-only
        Largest patch matrix built at once; the work is chunked over images,
        then over output rows, to stay within it. Default:
        `get_max_workspace_bytes()`.
    method : {'auto', 'im2col', 'pointwise', 'shift', 'winograd', 'winograd2', \
'winograd4', 'winograd6', 'direct'}, keyword-only
        How to compute it. ``'auto'`` (default) picks the method expected to
        be fastest for this problem on this machine; `explain` shows the
        choice and why. ``'im2col'``: patch-matrix tiles, one GEMM each;
        ``'pointwise'``: 1x1 stride-1 unpadded kernels, GEMMs straight on the
        input; ``'shift'``: stride 1, one GEMM per kernel tap on shifted
        views of the input, no patch matrix (Numba backend, groups=1);
        ``'winogradM'``: 3x3, stride 1, dilation 1: Winograd's F(M x M, 3 x
        3), 2.25x (M=2), 4x (M=4) or 5.06x (M=6) fewer multiplies, at a
        larger rounding error (see Notes); ``'winograd'``: the tile size
        with the lowest estimate among those ``auto`` accepts for the dtype;
        ``'direct'``: the register-blocked direct loops of `conv2d_direct`,
        no patch matrix or BLAS (``auto`` picks them for few filters per
        group: depthwise layers, 5x5 and 7x7 layers with 16-32 filters).

    Returns
    -------
    out : ndarray
        ``(N, F, OH, OW)`` (``(N, OH, OW, F)`` for NHWC), ``(F, OH, OW)`` for
        unbatched input, ``(OH, OW)`` for a 2-D image; ``OH = (H + pad_top +
        pad_bottom - dh*(kh-1) - 1) // sh + 1`` and likewise for OW. float64
        if any operand is float64 (or integer), else float32; complex128 or
        complex64 likewise if any operand is complex.

    Raises
    ------
    TypeError
        Object or string arrays; non-integer geometry.
    ValueError
        Wrong number of dimensions, channels not matching `weight`, `groups`
        not dividing channels or filters, `bias` of the wrong length,
        non-positive stride/dilation, negative padding, stride, dilation or
        padding above ``2**62`` (or a padded size or kernel span above it),
        an unknown padding string or layout, a kernel larger than
        the padded input, or a `method` that is unknown or cannot run this
        problem (the message lists those that can).

    Notes
    -----
    Cost: ``2*N*F*(C/groups)*kh*kw*OH*OW`` flops in BLAS, plus one pass that
    writes the patch matrix (``C*kh*kw*OH*OW`` elements per image, bounded by
    `max_workspace_bytes`). A 1x1, stride-1, unpadded convolution multiplies
    the input directly, without im2col.

    Winograd's error, max|out - exact| / max|exact| over random normal
    inputs and He-scaled weights for 16-512 channels, is promised below
    3e-6 / 5e-5 / 1e-4 in float32 for M = 2 / 4 / 6 (im2col: about 7e-7),
    1e-14 / 1e-13 / 2e-13 in float64; ``auto`` runs M = 2 or 4 in float32
    and any M in float64 (docs/winograd.md has the measured table). An inf
    or NaN operand makes a Winograd call compute by im2col instead (the
    transforms would spread it across its tile).

    Zero input channels (``C = 0``, weight ``(F, 0, ...)``) sum nothing: the
    result is ``(N, F, ...)`` zeros plus the bias, the empty sum's value
    (PyTorch returns an empty ``(N, 0, ...)`` tensor there, and its
    gradients refuse it).

    Complex operands (as ``torch.nn.functional.conv2d`` takes them) run as
    four real convolutions, ``(xr*wr - xi*wi) + i(xr*wi + xi*wr)``, two when
    one side is real: the same multiplies as a complex GEMM, by the same
    methods, with the accuracy of the real ones (no three-product trick).

    Examples
    --------
    The worked example's image I and kernel K:

    >>> import numpy as np
    >>> from im2col_nb import conv2d
    >>> I = np.array([[0, 1, 1, 1, 0, 0, 0],
    ...               [0, 0, 1, 1, 1, 0, 0],
    ...               [0, 0, 0, 1, 1, 1, 0],
    ...               [0, 0, 0, 1, 1, 0, 0],
    ...               [0, 0, 1, 1, 0, 0, 0],
    ...               [0, 1, 1, 0, 0, 0, 0],
    ...               [1, 1, 0, 0, 0, 0, 0]])
    >>> K = np.array([[1, 0, 1],
    ...               [0, 1, 0],
    ...               [1, 0, 1]])
    >>> conv2d(I, K)
    array([[1., 4., 3., 4., 1.],
           [1., 2., 4., 3., 3.],
           [1., 2., 3., 4., 1.],
           [1., 3., 3., 1., 1.],
           [3., 3., 1., 1., 0.]])
    """
    if is_complex(input, weight, bias):
        return bilinear(lambda x, w, b: conv2d(
            x, w, b, stride, padding, dilation, groups, layout=layout,
            max_workspace_bytes=max_workspace_bytes, method=method, padding_mode=padding_mode),
            input, weight, bias)
    call = prepare_conv(input, weight, bias, stride, padding, dilation, groups, layout, padding_mode)
    return call.finish(run_conv2d(call, resolve_budget(max_workspace_bytes), method))


def conv2d_direct(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                  layout="NCHW"):
    """2-D convolution by direct loops, without a patch matrix or BLAS.

    ``conv2d(..., method="direct")``: the same arguments, result and errors
    as `conv2d` (without `max_workspace_bytes`; it needs no workspace).
    NCHW: each task takes a band of output rows of one image for up to 16
    filters of a group; per input channel it copies the band's input rows,
    zero-padded and split by stride phase, into a per-thread buffer, then
    adds up to nine kernel taps of two filters per pass over accumulators
    held in L1 (one input load feeds 18 multiply-adds). NHWC: one task per
    output row, each tap multiplying an input pixel's channels into its
    output's filters (depthwise: vectorised over the channels).

    Parameters
    ----------
    input, weight, bias, stride, padding, dilation, groups, layout
        As in `conv2d`.

    Returns
    -------
    out : ndarray
        As in `conv2d`: ``(N, F, OH, OW)``, ``(N, OH, OW, F)`` for NHWC,
        ``(F, OH, OW)`` unbatched, ``(OH, OW)`` for a 2-D image.

    Raises
    ------
    TypeError, ValueError
        As in `conv2d`.

    Notes
    -----
    Cost: the same ``2*N*F*(C/groups)*kh*kw*OH*OW`` flops as `conv2d`, and
    per-thread buffers of a few tens of KiB. NCHW runs at 80-150 GFLOP/s on
    2 threads of an AMD EPYC (Zen 4) whatever the filter count, so it beats
    im2col + GEMM where the GEMM is inefficient -- few filters per group,
    above all depthwise (1.3-5x faster there) -- and loses from about 32
    filters per group on (``python bench/bench_direct.py --grid``). Sums run
    in another order than the GEMM's: results agree to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from im2col_nb import conv2d, conv2d_direct
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
    >>> w = np.random.default_rng(1).normal(size=(4, 3, 3, 3))
    >>> conv2d_direct(x, w, padding="same").shape
    (2, 4, 8, 8)
    >>> bool(np.allclose(conv2d_direct(x, w, stride=2), conv2d(x, w, stride=2)))
    True
    """
    if is_complex(input, weight, bias):
        return bilinear(lambda x, w, b: conv2d_direct(
            x, w, b, stride, padding, dilation, groups, layout=layout), input, weight, bias)
    call = prepare_conv(input, weight, bias, stride, padding, dilation, groups, layout)
    return call.finish(run_conv2d(call, resolve_budget(None), "direct"))
