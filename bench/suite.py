"""Shared definitions of the benchmark suite: layers, implementations,
interleaved ratio timing and memory probes.

Used by the pytest-benchmark tests in this directory (``pytest bench``), by
the CI gate (``pytest bench --quick``) and by ``bench/report.py``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass

import numpy as np

import im2col_nb
from im2col_nb._core.geometry import conv_geometry
from im2col_nb.cli.timing import SETTLE_S, interleaved, settle  # noqa: F401  (suite.*)

HERE = os.path.dirname(os.path.abspath(__file__))
THRESHOLDS_FILE = os.path.join(HERE, "thresholds.json")


@dataclass(frozen=True)
class Layer:
    """A convolution layer: input (n, c, h, w), f filters of k x k, stride, padding."""

    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    stride: int
    pad: int

    @property
    def geom(self):
        return conv_geometry((self.h, self.w), self.k, self.stride, self.pad, 1)

    @property
    def gemm_mkn(self) -> tuple[int, int, int]:
        """(M, K, N) of the one GEMM the layer is: F x C*k*k x N*OH*OW."""
        return self.f, self.c * self.k * self.k, self.n * self.geom.out_area

    @property
    def flops(self) -> int:
        m, k, n = self.gemm_mkn
        return 2 * m * k * n

    def patch_bytes(self, itemsize: int = 4) -> int:
        _, k, n = self.gemm_mkn
        return k * n * itemsize

    @property
    def gemm_mkn_nhwc(self) -> tuple[int, int, int]:
        """(M, K, N) of the channels-last GEMM: patch rows (N*OH*OW, C*k*k) @ W.T (C*k*k, F)."""
        f, k, n = self.gemm_mkn
        return n, k, f

    def label(self) -> str:
        return (f"{self.n},{self.c},{self.h},{self.w}->{self.f},{self.k},"
                f"{self.stride},{self.pad}")


# The layer list: (N, C, H, W) -> (F, k, stride, pad).
LAYERS = {
    "lenet-c1": Layer(64, 1, 28, 28, 32, 5, 1, 2),
    "cifar": Layer(32, 32, 32, 32, 64, 3, 1, 1),
    "resnet18-conv1": Layer(8, 3, 224, 224, 64, 7, 2, 3),
    "r18-l1": Layer(8, 64, 56, 56, 64, 3, 1, 1),
    "r18-l2": Layer(8, 128, 28, 28, 128, 3, 1, 1),
    "r18-l3": Layer(8, 256, 14, 14, 256, 3, 1, 1),
    "r18-l4": Layer(8, 512, 7, 7, 512, 3, 1, 1),
    "downsample": Layer(8, 256, 14, 14, 512, 1, 2, 0),
    "pointwise": Layer(8, 128, 28, 28, 256, 1, 1, 0),
    "vgg-wide": Layer(2, 64, 112, 112, 128, 3, 1, 1),
}
# float64 is benchmarked on this subset.
FLOAT64_LAYERS = ("lenet-c1", "cifar", "r18-l3", "pointwise")
# Sweeps: the number of filters F (cifar-like layer, N = 8) and the batch N (F = 64).
SWEEP_F = [8, 16, 32, 64, 128, 256, 512]
SWEEP_N = [1, 2, 4, 8, 16, 32, 64]


def sweep_f_layer(f: int) -> Layer:
    return Layer(8, 64, 32, 32, f, 3, 1, 1)


def sweep_n_layer(n: int) -> Layer:
    return Layer(n, 64, 32, 32, 64, 3, 1, 1)


def inputs(layer: Layer, dtype=np.float32, seed: int = 0):
    """x (N, C, H, W), weight (F, C, k, k), bias (F,) of `dtype`."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    x = rng.standard_normal((layer.n, layer.c, layer.h, layer.w), dtype=dtype)
    w = rng.standard_normal((layer.f, layer.c, layer.k, layer.k), dtype=dtype)
    w *= dtype.type(1.0 / math.sqrt(layer.c * layer.k * layer.k))
    b = rng.standard_normal(layer.f, dtype=dtype)
    return x, w, b


def inputs_nhwc(layer: Layer, dtype=np.float32, seed: int = 0):
    """x (N, H, W, C) (the values of `inputs`, channels last), weight (F, C, k, k), bias (F,)."""
    x, w, b = inputs(layer, dtype, seed)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)), w, b


# ---------------------------------------------------------------------------
# implementations
# ---------------------------------------------------------------------------

def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def workers() -> int:
    """Threads the package uses (its BLAS thread count)."""
    from im2col_nb._engine.workers import blas_threads

    return blas_threads()


class use_backend:
    """Context manager: run with backend `name`, then restore."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.previous = im2col_nb.get_backend()
        im2col_nb.set_backend(self.name)

    def __exit__(self, *exc):
        im2col_nb.set_backend(self.previous)


def numpy_peer(x, w, b, stride: int, pad: int):
    """The textbook NumPy convolution: pad, sliding_window_view, tensordot.

    ``tensordot`` reshapes the (strided) window view into a matrix, which
    copies it: the patch matrix, in full, then one BLAS GEMM.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    k = w.shape[-1]
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, F)
    out += b
    return out.transpose(0, 3, 1, 2)


def numpy_peer_einsum(x, w, b, stride: int, pad: int):
    """Same with ``np.einsum(..., optimize=True)``."""
    from numpy.lib.stride_tricks import sliding_window_view

    k = w.shape[-1]
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,fcij->nfhw", win, w, optimize=True) + b[:, None, None]


def im2col_full(x, w, b, layer: Layer):
    """Unbounded im2col convolution: the whole batch's patch matrix at once
    (``im2col_nb.im2col``), one batched GEMM, then the bias: what conv2d
    would cost in memory without its workspace budget."""
    cols = im2col_nb.im2col(x, layer.k, padding=layer.pad, stride=layer.stride)
    out = np.matmul(w.reshape(w.shape[0], -1), cols)
    out += b[:, None]
    g = layer.geom
    return out.reshape(layer.n, layer.f, g.out_h, g.out_w)


IMPLS = ("conv2d", "conv2d_direct", "numpy_backend", "numpy_peer", "numpy_peer_einsum", "torch",
         "gemm")
# Channels-last (NHWC): conv2d(layout="NHWC"), PyTorch on channels_last tensors, and the GEMM
# of that orientation; conv2d (NCHW) as the reference for what the layout costs.
NHWC_IMPLS = ("conv2d_nhwc", "gemm_nhwc", "torch_nhwc", "conv2d")
# Backward passes (NCHW): conv2d_input_grad / conv2d_weight_grad, PyTorch's
# torch.nn.grad.conv2d_input / conv2d_weight, and the forward's bare GEMM (each
# gradient is one GEMM of the same flops).
BACKWARD_IMPLS = ("input_grad", "weight_grad", "torch_input_grad", "torch_weight_grad", "gemm")


def bare_gemm(m: int, k: int, n: int, dtype=np.float32, transposed_b: bool = False):
    """``np.matmul`` of random (m, k) @ (k, n) into a preallocated output; with
    `transposed_b` the right operand is the transposed view of an (n, k) array."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transposed_b else (k, n)).astype(dtype)
    b = b.T if transposed_b else b
    out = np.empty((m, n), dtype)
    return lambda: np.matmul(a, b, out=out)


def make_call(impl: str, layer: Layer, dtype=np.float32):
    """A zero-argument callable running `impl` on `layer` (inputs made once).

    ``gemm`` is the bare GEMM of the same (M, K, N), into a preallocated
    output: the ceiling for an im2col convolution. Returns None if the
    implementation is not available (torch not installed).

    Channels-last: ``conv2d_nhwc`` is ``conv2d(..., layout="NHWC")`` on an
    (N, H, W, C) input; ``torch_nhwc`` is PyTorch's conv2d with the input
    and the weight in ``torch.channels_last`` memory format (converted once,
    here, not in the timed call; the output is channels-last too);
    ``gemm_nhwc`` is the GEMM of that orientation, ``rows (N*OH*OW, K) @
    W.T (K, F)`` with W a C-contiguous (F, K) matrix (BLAS takes the
    transposed view without a copy) into a preallocated (N*OH*OW, F) output,
    as conv2d's NHWC tiles do.
    """
    if impl in ("conv2d_nhwc", "torch_nhwc", "gemm_nhwc"):
        return _make_call_nhwc(impl, layer, dtype)
    if impl in ("input_grad", "weight_grad", "torch_input_grad", "torch_weight_grad"):
        return _make_call_backward(impl, layer, dtype)
    x, w, b = inputs(layer, dtype)
    s, p = layer.stride, layer.pad
    if impl == "conv2d":
        return lambda: im2col_nb.conv2d(x, w, b, stride=s, padding=p)
    if impl == "conv2d_direct":
        return lambda: im2col_nb.conv2d_direct(x, w, b, stride=s, padding=p)
    if impl == "numpy_backend":
        def call():
            with use_backend("numpy"):
                return im2col_nb.conv2d(x, w, b, stride=s, padding=p)
        return call
    if impl == "numpy_peer":
        return lambda: numpy_peer(x, w, b, s, p)
    if impl == "numpy_peer_einsum":
        return lambda: numpy_peer_einsum(x, w, b, s, p)
    if impl == "torch":
        if not torch_available():
            return None
        import torch

        torch.set_num_threads(workers())
        xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)

        def call():
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
        return call
    if impl == "im2col_full":
        return lambda: im2col_full(x, w, b, layer)
    if impl == "gemm":
        return bare_gemm(*layer.gemm_mkn, dtype)
    raise ValueError(f"unknown implementation {impl!r}")


def _make_call_backward(impl: str, layer: Layer, dtype=np.float32):
    """The gradients of `layer`'s convolution for a random output gradient:
    ours (``input_grad``, ``weight_grad``) or PyTorch's (None if absent)."""
    x, w, _ = inputs(layer, dtype)
    s, p = layer.stride, layer.pad
    geom = layer.geom
    go = np.random.default_rng(2).standard_normal(
        (layer.n, layer.f, geom.out_h, geom.out_w)).astype(dtype)
    if impl == "input_grad":
        return lambda: im2col_nb.conv2d_input_grad(x.shape, w, go, stride=s, padding=p)
    if impl == "weight_grad":
        return lambda: im2col_nb.conv2d_weight_grad(x, w.shape, go, stride=s, padding=p)
    if not torch_available():
        return None
    import torch

    torch.set_num_threads(workers())
    xt, wt, got = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(go)
    if impl == "torch_input_grad":
        return lambda: torch.nn.grad.conv2d_input(xt.shape, wt, got, stride=s, padding=p)
    return lambda: torch.nn.grad.conv2d_weight(xt, wt.shape, got, stride=s, padding=p)


def _make_call_nhwc(impl: str, layer: Layer, dtype=np.float32):
    x, w, b = inputs_nhwc(layer, dtype)
    s, p = layer.stride, layer.pad
    if impl == "conv2d_nhwc":
        return lambda: im2col_nb.conv2d(x, w, b, stride=s, padding=p, layout="NHWC")
    if impl == "torch_nhwc":
        if not torch_available():
            return None
        import torch

        torch.set_num_threads(workers())
        # (N, H, W, C) memory seen as a logical NCHW tensor: channels_last, no copy.
        xt = torch.from_numpy(x).permute(0, 3, 1, 2)
        wt = torch.from_numpy(w).contiguous(memory_format=torch.channels_last)
        bt = torch.from_numpy(b)
        assert xt.is_contiguous(memory_format=torch.channels_last)

        def call():
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
        return call
    if impl == "gemm_nhwc":  # rows (N*OH*OW, K) @ W.T, W (F, K) as conv2d's NHWC tiles
        return bare_gemm(*layer.gemm_mkn_nhwc, dtype, transposed_b=True)
    raise ValueError(f"unknown implementation {impl!r}")


def im2col_calls(layer: Layer, dtype=np.float32):
    """(im2col, memcpy): the backend's im2col of the whole batch into a
    preallocated patch matrix, and ``np.copyto`` of the same number of bytes
    (single-threaded, what a plain copy costs)."""
    from im2col_nb._core.backend import backend_module

    x, _, _ = inputs(layer, dtype)
    g = layer.geom
    cols = np.empty((layer.n, layer.c * g.kernel_area, g.out_area), dtype)
    src = np.ones_like(cols)
    dst = np.empty_like(cols)
    backend = backend_module()
    return (lambda: backend.im2col(x, cols, g, 0, g.out_h)), (lambda: np.copyto(dst, src))


def im2col_tile_calls(layer: Layer, dtype=np.float32, repeat: int = 50):
    """(im2col tile, memcpy), each repeated `repeat` times: the serial tile
    kernel conv2d's workers run, on one image (patch matrix of one image,
    cache-resident), and ``np.copyto`` of the same bytes. Both single-
    threaded, so their ratio is steady on a busy machine."""
    from im2col_nb._core.backend import backend_module

    x, _, _ = inputs(layer, dtype)
    g = layer.geom
    k = layer.c * g.kernel_area
    cols = np.empty((k, g.out_area), dtype)
    src = np.ones_like(cols)
    backend = backend_module()

    def tile():
        for _ in range(repeat):
            backend.im2col_tile(x, cols, g, 0, 1, 0, g.out_area)

    def copy():
        for _ in range(repeat):
            np.copyto(cols, src)

    return tile, copy


# ---------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------

# SETTLE_S, settle and interleaved (settle, then timed rounds interleaved
# across implementations) are the command line's harness, im2col_nb.cli.timing,
# imported above: `im2col-nb compare` and the benchmarks time the same way.


def geomean(values) -> float:
    values = list(values)
    return float(np.exp(np.mean(np.log(values))))


def cpu_vendor() -> str:
    """The CPU vendor (``vendor_id`` of /proc/cpuinfo: 'GenuineIntel',
    'AuthenticAMD', ...), or '' where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def load_thresholds(resolve: bool = True) -> dict:
    """bench/thresholds.json; with `resolve`, each gate's threshold for this
    machine's CPU vendor where the file gives one (``by_cpu_vendor``: some
    ratios, such as im2col against a memcpy, differ by CPU family while both
    still separate a healthy kernel from a 2x slower one)."""
    with open(THRESHOLDS_FILE) as fh:
        thresholds = json.load(fh)
    if resolve:
        vendor = cpu_vendor()
        for entry in thresholds.values():
            override = entry.get("by_cpu_vendor", {}).get(vendor)
            if override is not None:
                entry["threshold"] = override["threshold"]
    return thresholds


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------

_PROBE = r"""
import json, resource, sys, tracemalloc
import numpy as np
import suite                   # run with cwd=bench/: the current directory is on sys.path
spec = json.loads(sys.argv[1])
layer = suite.Layer(**spec["layer"])
dtype = np.dtype(spec["dtype"])
x, w, b = suite.inputs(layer, dtype)
import im2col_nb
if spec["budget"] is not None:
    im2col_nb.set_max_workspace_bytes(spec["budget"])
# Load every kernel first (from the JIT cache), so the peak is the call's own:
# one image of the same layer takes the same code path (tile kernels or shifted
# GEMMs are chosen by size, channels, filters and map width); its scratch is
# then released, so the measured call allocates its own.
warm = suite.Layer(1, layer.c, layer.h, layer.w, layer.f, layer.k, layer.stride, layer.pad)
xt, wt, bt = suite.inputs(warm, dtype)
impl = spec["impl"]
def run(x, w, b, layer):
    s, p = layer.stride, layer.pad
    if impl == "conv2d":
        return im2col_nb.conv2d(x, w, b, stride=s, padding=p)
    if impl == "conv2d_direct":
        return im2col_nb.conv2d_direct(x, w, b, stride=s, padding=p)
    if impl == "im2col_full":      # unbounded: the whole patch matrix, one GEMM
        return suite.im2col_full(x, w, b, layer)
    if impl == "numpy_peer":
        return suite.numpy_peer(x, w, b, s, p)
    raise ValueError(impl)
run(xt, wt, bt, warm)
from im2col_nb._core.workspace import release_scratch
release_scratch()
del xt, wt, bt
def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
def reset_peak():
    # Linux >= 4.0: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return status("VmRSS")
    except OSError:
        return None
base = reset_peak()
if base is None:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
out = run(x, w, b, layer)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
hwm = status("VmHWM") if status("VmHWM") is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"tracemalloc_peak": peak, "rss_peak_delta": hwm - base,
                  "out_bytes": int(np.asarray(out).nbytes), "in_bytes": int(x.nbytes),
                  "budget": im2col_nb.get_max_workspace_bytes()}))
"""


def memory_probe(layer: Layer, impl: str, dtype=np.float32, budget: int | None = None,
                 timeout: float = 600) -> dict:
    """Peak memory of one call in a fresh interpreter.

    ``tracemalloc_peak``: bytes allocated at the peak (NumPy and Numba
    allocations, all threads), scratch buffers included since the process is
    fresh. ``rss_peak_delta``: growth of the peak resident set size during the
    call (everything, incl. BLAS buffers), after the kernels were loaded by a
    call on one image of the same layer (same code path; its scratch then
    released). The inputs are allocated before either is measured.
    """
    spec = {"layer": asdict(layer), "impl": impl, "dtype": np.dtype(dtype).name, "budget": budget}
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(spec)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=HERE)  # cwd: `import suite`
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed for {impl} on {layer}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_gate(gate_results, thresholds, key, measured, details=""):
    """Record one gate figure (for the terminal summary) and fail the test
    when `measured` is under the threshold of `key` in thresholds.json."""
    threshold = float(thresholds[key]["threshold"])
    passed = measured >= threshold
    gate_results.append((key, measured, threshold, passed, details))
    assert passed, (f"{key}: measured {measured:.3f} < threshold {threshold:.3f} "
                    f"(target {thresholds[key].get('target')}) {details}")
