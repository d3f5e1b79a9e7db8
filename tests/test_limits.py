"""64-bit index arithmetic: a convolution whose patch matrix has more than
2**31 elements, built chunk by chunk in the bounded workspace.

Review notes (all kernels in ``_kernels/numba``): every index is a Python int
or an array shape passed to Numba, typed int64 (intp); products such as
``n_img * rows_per_image`` and ``i * out_w`` are int64 in compiled code and
unbounded Python ints in the chunking driver; no kernel casts to a 32-bit
type (the source check below keeps it that way). A single kernel call on
more than 2**31 elements would need an array of over 8 GB, so the big case
goes through the workspace: the patch matrix exists only as a sequence of
64 MiB chunks whose offsets reach past 2**31 in total.
"""

import glob
import os
import re

import numpy as np

import im2col_nb

SRC = os.path.dirname(im2col_nb.__file__)


def test_no_32_bit_integer_types_in_kernels():
    pattern = re.compile(r"\b(u?int(8|16|32)|intc|uintc|int_t)\b")
    offenders = []
    for path in glob.glob(os.path.join(SRC, "_kernels", "*", "*.py")):
        for number, line in enumerate(open(path), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code):
                offenders.append(f"{os.path.basename(path)}:{number}: {line.strip()}")
    assert not offenders, offenders


def _exact_outputs(x, w, positions):
    """float64 dot products of the windows at (f, i, j) positions (NCHW, stride 1, no padding)."""
    kh, kw = w.shape[2:]
    return np.array([np.dot(x[0, :, i:i + kh, j:j + kw].astype(np.float64).ravel(),
                            w[f].astype(np.float64).ravel()) for f, i, j in positions])


def _big_case():
    # C*kh*kw = 4*17*17 = 1156 patch rows, 1366*1366 patches: 2,157,045,136
    # patch-matrix elements (8.6 GB in float32) for an 8 MB input and a
    # 15 MB output, streamed through the 64 MiB default workspace.
    channels, k, size = 4, 17, 1382
    rng = np.random.default_rng(2**31)
    x = rng.standard_normal((1, channels, size, size), dtype=np.float32)
    w = rng.standard_normal((2, channels, k, k), dtype=np.float32)
    out = size - k + 1
    assert channels * k * k * out * out > 2**31
    positions = [(int(f), int(i), int(j)) for f, i, j in zip(rng.integers(0, 2, 64),
                                                               rng.integers(0, out, 64),
                                                               rng.integers(0, out, 64))]
    positions += [(1, out - 1, out - 1), (0, out - 1, 0), (1, 0, out - 1)]   # the last tile's corners
    return x, w, positions


def _check(y_nchw, x, w, positions, direct):
    assert y_nchw.shape == direct.shape
    scale = np.abs(direct).max()
    np.testing.assert_allclose(y_nchw, direct, rtol=0, atol=1e-5 * scale)
    got = np.array([y_nchw[0, f, i, j] for f, i, j in positions])
    np.testing.assert_allclose(got, _exact_outputs(x, w, positions), rtol=0, atol=1e-5 * scale)


def test_conv2d_with_a_patch_matrix_over_2_to_the_31_elements():
    """About 3 s (10-16 s before the tiled driver): the im2col + GEMM path
    over 2**31+ patch elements matches the direct kernel everywhere and exact
    float64 dot products at sampled positions (the last tile's corners
    included). Mark it slow if it ever takes more than ~30 s."""
    x, w, positions = _big_case()
    im2col_nb.set_backend("numba")
    budget = im2col_nb.get_max_workspace_bytes()
    assert budget < 2**31                     # the patch matrix really is chunked
    y = im2col_nb.conv2d(x, w)
    direct = im2col_nb.conv2d_direct(x, w)
    _check(y, x, w, positions, direct)


def test_conv2d_nhwc_with_a_patch_matrix_over_2_to_the_31_elements():
    x, w, positions = _big_case()
    im2col_nb.set_backend("numba")
    y = im2col_nb.conv2d(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), w, layout="NHWC")
    direct = im2col_nb.conv2d_direct(x, w)
    _check(np.ascontiguousarray(y.transpose(0, 3, 1, 2)), x, w, positions, direct)
