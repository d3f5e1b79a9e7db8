"""Plans: how a convolution's work is cut into tiles, worked out once per shape.

* **Tiles.** The output is cut into tiles of output positions of (nearly)
  equal size: whole images (several at once when an image has few
  positions), else the same number of output rows of one image (else part of
  one row, when one row's patches exceed the budget). A tile's patch matrix
  is about TILE_POSITIONS positions' worth, between MIN_TILE_BYTES and
  TILE_BYTES, and at most ``budget / workers`` bytes, so the whole call never
  holds more than the workspace budget of patches, and a tile stays in the
  core's L2 cache between being written by im2col and read by the GEMM.
* **Folding.** When images have few output positions (small feature maps),
  several images are folded into one GEMM (``F x K x B*L``) and scattered
  into place in the same pass that adds the bias.
* **Bias.** Folded into the GEMM (a row of ones under the patches, a bias
  column of the weight) when that costs less than a pass over the output;
  else the output tile starts as the bias and the GEMM accumulates onto it.
* **Patch rows an odd multiple of 64 bytes apart** (`patch_ld`): OpenBLAS's
  packing reads rows a power of two apart into the same cache sets.
* **Shifted GEMMs** (`shift_plan`): tiles of output rows for the stride-1
  method without a patch matrix.

The tuning constants below are read at call time and are part of the plan
cache's key, so changing one (the tests do) never serves a stale plan.
"""

from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import numpy as np

from .._core import blas as _blas
from .._core.backend import backend_module
from . import workers as _workers_mod

# Largest patch-matrix tile per worker (bytes). Tiles of one to a few MiB
# stay in L2 between im2col and GEMM and are still wide enough for BLAS to
# run near its peak; larger ones measured no faster.
TILE_BYTES = 4 * 2**20
# ... but for short patch columns (small C*kh*kw) a tile of this many output
# positions, at least MIN_TILE_BYTES: on resnet18-conv1 (147 rows) 1 MiB
# tiles ran 1.06x the bare GEMM's time against 1.28x for 4 MiB ones.
TILE_POSITIONS = 2048
MIN_TILE_BYTES = 2**20
# Fold images into one GEMM while one image has fewer output positions than
# this (single-threaded SGEMM reaches its speed from about 256-512 columns).
FOLD_POSITIONS = 512
# Below this many flops a call runs on the calling thread only.
PARALLEL_MIN_FLOPS = 4_000_000
# Group small images into tiles of at least this many flops, so the fixed
# cost of a tile (a few microseconds of Python and BLAS set-up) stays small.
TILE_MIN_FLOPS = 8_000_000
PYTHON_TILE_FACTOR = 16
SHIFT_MIN_CHANNELS = 32
SHIFT_MAX_WASTE = 1 / 12
SHIFT_MAX_FILTERS_PER_CHANNEL = 2


# ---------------------------------------------------------------------------
# Tiling
# ---------------------------------------------------------------------------


def plan_tiles(n_img: int, out_area: int, out_w: int, col_bytes: int, fold_bytes: int,
               cap: int, workers: int, min_positions: int = FOLD_POSITIONS
               ) -> list[tuple[int, int, int, int]]:
    """Tiles ``(n0, n_img_in_tile, p0, p1)`` covering images x output positions.

    A tile is either ``b`` whole images (``p0, p1 = 0, out_area``) or positions
    [p0, p1) of one image. Images are grouped while one has fewer than
    `min_positions` output positions (GEMM columns), as long as they fit.
    `col_bytes` is the patch-matrix bytes of one output position,
    `fold_bytes` the extra scratch bytes per position of a folded tile (one
    with fewer than FOLD_POSITIONS positions per image: its GEMM result
    before the scatter); `cap` the bytes a tile may use.
    """
    # Tiles of (nearly) equal size: the Numba tile kernel deals them out to
    # the workers in turn (tile t to worker t % workers).
    per_position = col_bytes + (fold_bytes if out_area < FOLD_POSITIONS else 0)
    if out_area < min_positions and out_area * per_position <= cap:
        per_tile = min(n_img, -(-min_positions // out_area), cap // (out_area * per_position))
        per_tile = max(1, min(per_tile, -(-n_img // workers)))
        count = -(-n_img // per_tile)
        if count > workers:  # a multiple of the workers, when that many images exist
            count = min(n_img, -(-count // workers) * workers)
        # sizes differ by at most one image, the larger ones first (as np.array_split)
        base, extra = divmod(n_img, count)
        sizes = [base + (i < extra) for i in range(count)]
        starts = itertools.accumulate(sizes, initial=0)
        return [(n0, size, 0, out_area) for n0, size in zip(starts, sizes)]
    positions = max(1, cap // max(col_bytes, 1))
    # Enough tiles to keep every worker busy (when the images allow it).
    if n_img < 2 * workers:
        positions = min(positions, -(-out_area * n_img // (2 * workers)))
    positions = max(1, min(positions, out_area))
    if positions >= out_w:  # whole output rows, the same number in every tile
        out_h = out_area // out_w
        chunks = -(-out_h // (positions // out_w))
        positions = -(-out_h // chunks) * out_w
    else:
        positions = -(-out_area // -(-out_area // positions))
    return [(n, 1, p0, min(out_area, p0 + positions))
            for n in range(n_img) for p0 in range(0, out_area, positions)]


def tile_cap(budget: int, workers: int, position_bytes: int | None = None) -> int:
    """Bytes of patch matrix one worker's tile may hold: TILE_POSITIONS
    output positions' worth, between MIN_TILE_BYTES and TILE_BYTES (small
    patch rows: a tile that fits L2; long ones: GEMMs wide enough for BLAS),
    and the worker's share of the budget at most."""
    tile = TILE_BYTES
    if position_bytes is not None:
        tile = min(TILE_BYTES, max(MIN_TILE_BYTES, position_bytes * TILE_POSITIONS))
    return max(1, min(budget // workers, tile))


def is_pointwise(geom) -> bool:
    """1x1 kernel, stride 1, no padding (so the output is the input's size):
    the input already is the patch matrix (any number of axes)."""
    return (all(k == 1 for k in geom.kernel) and all(s == 1 for s in geom.stride)
            and all(p == (0, 0) for p in geom.padding))


def is_folded(n_img_in_tile: int, area: int) -> bool:
    """A tile of several images with few output positions each: one GEMM over
    all of them into scratch, then scattered into place (see plan_tiles)."""
    return n_img_in_tile > 1 and area < FOLD_POSITIONS


def workers_for(flops: int) -> int:
    return 1 if flops < PARALLEL_MIN_FLOPS else _workers_mod.blas_threads()


def native_gemm(backend, dtype, flops: int, force: bool = False):
    """NumPy's cblas_?gemm for the Numba tile kernel, or None: the Python
    tile driver runs (NumPy backend, a BLAS whose GEMM symbol was not found,
    or a call under PARALLEL_MIN_FLOPS -- there the tile kernel would save
    nothing, and a process whose calls are all that small never compiles
    it: its first call after installing took 5.0 s instead of 9.5 s).
    `force`: whatever the size (a method that needs the kernel was asked for)."""
    if (flops < PARALLEL_MIN_FLOPS and not force) or getattr(backend, "conv_tiles_nchw", None) is None:
        return None
    return _blas.gemm_function(dtype)


def patch_ld(span: int, itemsize: int) -> int:
    """Row length, in elements, for a patch matrix of `span` columns: the
    first at least `span` whose bytes are an odd multiple of 64.

    OpenBLAS packs the patch matrix by reading down its rows; rows a large
    power of two bytes apart map to the same cache sets. Measured one-thread
    sgemm times on tile shapes (M, K in 64..512, 289..2305): rows of 1024,
    1792 or 2048 floats cost 1.03-1.28x rows of 1040, 1808 or 2064; rows
    already an odd multiple of 16 floats (784, 1008) gain nothing from more.
    On the bench layers conv2d / bare GEMM went from 1.15 to 1.13 (geomean,
    2 threads; vgg-wide 1.20 -> 1.06, r18-l1 1.09 -> 1.06).
    """
    unit = 64 // itemsize
    return span + (unit - span) % (2 * unit)


def weight_rows(weight, groups: int) -> np.ndarray:
    """(F, C/groups, kh, kw) -> (groups, F/groups, kh*kw*C/groups), columns in
    the NHWC patch rows' (ki, kj, channel) order: a copy of the small weight,
    never of the input."""
    filters, cg, kh, kw = weight.shape
    fg = filters // groups
    return np.ascontiguousarray(
        weight.reshape(groups, fg, cg, kh, kw).transpose(0, 1, 3, 4, 2)
    ).reshape(groups, fg, kh * kw * cg)


def weight_taps(weight) -> np.ndarray:
    """(F, C, kh, kw) -> (kh*kw, F, C): the weight tap by tap, as the
    shifted-GEMM kernels multiply it."""
    filters, channels, kh, kw = weight.shape
    return np.ascontiguousarray(weight.transpose(2, 3, 0, 1)).reshape(kh * kw, filters, channels)


class Plan(NamedTuple):
    """What a conv2d driver decides from the shapes alone (`plan_nchw`, `plan_nhwc`)."""

    method: str             # 'im2col', 'pointwise' or 'shift'
    tiles: tuple            # NCHW: ((n0, images, p0, p1), ...), see plan_tiles
    fuse: bool              # bias as a weight column times a row of ones
    workers: int
    table: np.ndarray | None  # the Numba kernel's int64 tile table; never written
    work_length: int        # scratch elements per worker in the Numba kernel
    starts: tuple = ()      # NHWC: first flat output position of each tile
    positions: int = 0      # NHWC: output positions per tile

    @property
    def scratch_elements(self) -> int:
        """Scratch the Numba kernel holds (elements, all workers)."""
        return self.workers * self.work_length

    def describe(self) -> str:
        """One line: tiles, workers, scratch."""
        count = len(self.table) if self.table is not None else len(self.tiles or self.starts)
        driver = "one parallel Numba kernel" if self.table is not None else "Python worker threads"
        fused = ", bias fused into the GEMM" if self.fuse else ""
        return f"{count} tiles on {self.workers} workers ({driver}{fused})"


def uses_shift(channels: int, filters: int, geom, groups: int) -> bool:
    """Whether a stride-1 convolution runs as shifted GEMMs (see
    `shift_plan`): ungrouped, at least SHIFT_MIN_CHANNELS channels (each
    tap's GEMM has K = C), at most SHIFT_MAX_FILTERS_PER_CHANNEL * C filters
    (the patch matrix costs about 1/F of the GEMM: with many filters im2col
    is the cheaper overhead),
    and at most SHIFT_MAX_WASTE of the computed grid in garbage columns.

    Fitted on measured pairs (2 threads, float32, time / bare GEMM, im2col
    -> shift): C, F, OW = 64, 64, 56: 1.06 -> 0.85; 128, 128, 28: 1.13 ->
    1.01; 64, 128, 112: 1.06 -> 0.99; 32, 64, 32: 1.20 -> 1.09; 32, 32, 56:
    1.24 -> 0.93. Left to im2col: 16, 64, 32: 1.20 -> 1.38; 64, 256, 28:
    1.13 -> 1.18; 256, 256, 14 (12 % garbage): 1.15 -> 1.38.
    """
    if (geom.stride_h, geom.stride_w, groups) != (1, 1, 1) or geom.kernel_area == 1:
        return False
    overrun = (geom.kernel_w - 1) * geom.dilation_w
    return (channels >= SHIFT_MIN_CHANNELS
            and filters <= SHIFT_MAX_FILTERS_PER_CHANNEL * channels
            and overrun <= SHIFT_MAX_WASTE * (geom.out_w + overrun))


def runs_shifted(channels: int, filters: int, geom, groups: int, dtype, flops: int) -> bool:
    """Whether conv2d's ``auto`` runs this problem as shifted GEMMs (unless
    the budget is too small for one output row's scratch)."""
    return (uses_shift(channels, filters, geom, groups)
            and native_gemm(backend_module(), np.dtype(dtype), flops) is not None)


def shift_plan(n_img: int, channels: int, filters: int, geom, itemsize: int, cap: int,
                workers: int, channels_last: bool = False) -> Plan | None:
    """Tiles of output rows for conv_shift_nchw (conv_shift_nhwc if
    `channels_last`), or None if one output row does not fit `cap` bytes.

    Stride 1 lets a convolution skip the patch matrix: on a grid OW +
    (kw-1)*dw wide, every tap's patches are one matrix of the zero-bordered
    input planes, shifted (see the kernel). The price is the garbage
    columns and kh*kw GEMMs with K = C instead of one with K = C*kh*kw.
    When it pays is decided by `uses_shift`.
    """
    out_h = geom.out_h
    padded_w = geom.out_w + (geom.kernel_w - 1) * geom.dilation_w
    halo = (geom.kernel_h - 1) * geom.dilation_h
    overrun = (geom.kernel_w - 1) * geom.dilation_w

    def length(rows):  # result, then the planes (see the kernels), and their ld
        span = rows * padded_w
        if channels_last:  # one plane of pixels
            return filters * span + ((rows + halo) * padded_w + overrun) * channels, 0
        ld = patch_ld((rows + halo) * padded_w, itemsize)
        return filters * span + (channels - 1) * ld + (rows + halo) * padded_w + overrun, ld

    rows = min(out_h, -(-TILE_POSITIONS // padded_w))
    if n_img < 2 * workers:  # enough tiles for the workers
        rows = min(rows, -(-out_h * n_img // (2 * workers)))
    while rows > 1 and length(rows)[0] * itemsize > cap:
        rows = max(1, rows // 2)
    if length(rows)[0] * itemsize > cap:
        return None
    rows = -(-out_h // -(-out_h // rows))  # equal tiles
    tiles = [(n, i0, min(out_h, i0 + rows)) for n in range(n_img) for i0 in range(0, out_h, rows)]
    table = np.array([(n, i0, i1, length(i1 - i0)[1]) for n, i0, i1 in tiles], dtype=np.int64)
    work_length = max(length(i1 - i0)[0] for _, i0, i1 in tiles)
    return Plan("shift", (), False, max(1, min(workers, len(tiles))), table, work_length)


def tuning() -> tuple:
    """The module's tuning constants, part of the cache key of `plan_nchw` and `plan_nhwc` (so
    a changed constant -- the tests set some -- is never served a stale plan)."""
    return (TILE_BYTES, TILE_POSITIONS, MIN_TILE_BYTES, FOLD_POSITIONS, TILE_MIN_FLOPS,
            PARALLEL_MIN_FLOPS,
            PYTHON_TILE_FACTOR, SHIFT_MIN_CHANNELS, SHIFT_MAX_WASTE,
            SHIFT_MAX_FILTERS_PER_CHANNEL)


@functools.lru_cache(maxsize=256)
def plan_nchw(n_img: int, channels: int, filters: int, geom, groups: int, itemsize: int,
              budget: int, has_bias: bool, workers: int, native: bool, tuning: tuple,
              method: str) -> Plan | None:
    """Tiles, bias fusion and the Numba kernel's table of one conv2d shape
    and method (None: 'shift' whose one output row does not fit the budget).

    Cached: a training or inference loop calls the same shapes again and
    again, and planning costs 15-25 us of Python per call (the downsample
    bench layer's whole call is 0.4 ms). `native`: a Numba kernel runs the
    tiles (else the Python driver); `tuning` is `tuning()`."""
    k_total = channels * geom.kernel_area
    cgk = k_total // groups
    area, out_w = geom.out_area, geom.out_w
    # Smaller tiles suit the Numba tile kernel (no cost per tile); the Python
    # driver keeps TILE_BYTES tiles, fewer of them (each costs Python calls,
    # one per kernel tap with the NumPy backend).
    cap = tile_cap(budget, workers, (k_total + 1) * itemsize if native else None)
    if method == "shift":
        return shift_plan(n_img, channels, filters, geom, itemsize, cap, workers)
    pointwise = method == "pointwise"
    if pointwise:
        # 1x1, stride 1, unpadded: the input already is the patch matrix.
        # Tiles: runs of positions of one image, or whole images (small maps:
        # one stacked matmul, NumPy loops over the images in C).
        if area >= FOLD_POSITIONS:
            positions = max(out_w, -(-area * n_img // (4 * workers)))
            positions = min(area, max(FOLD_POSITIONS, positions - positions % out_w))
            tiles = [(n, 1, p0, min(area, p0 + positions))
                     for n in range(n_img) for p0 in range(0, area, positions)]
        else:
            per_tile = max(1, min(-(-FOLD_POSITIONS // area), -(-n_img // workers)))
            tiles = [(n0, min(per_tile, n_img - n0), 0, area) for n0 in range(0, n_img, per_tile)]
        # Bias folded into the GEMM as a row of ones under a copy of the input
        # tile (and a bias column of the weight) when that copy is smaller
        # than the pass over the output tile it saves (C < F): 1.16 -> 1.04x
        # the bare GEMM's time on the pointwise bench layer (Python driver;
        # the tile kernel fills the tile with the bias and adds onto it).
        span_max = max(nb * (p1 - p0) for _, nb, p0, p1 in tiles)
        fuse = (not native and has_bias and groups == 1 and channels < filters
                and (channels + 1) * span_max * itemsize <= cap)
    else:
        # The Python driver pays per tile in Python calls (the NumPy backend:
        # a few per tile, GIL-bound): it groups small images into 16x bigger
        # tiles (NumPy fallback on lenet-c1: 3.4x -> 1.7x the Numba path's time).
        min_flops = TILE_MIN_FLOPS * (1 if native else PYTHON_TILE_FACTOR)
        min_positions = max(FOLD_POSITIONS, -(-min_flops // (2 * filters * cgk)))
        tiles = plan_tiles(n_img, area, out_w, (k_total + 1) * itemsize, filters * itemsize, cap,
                           workers, min_positions)
        # Bias folded into the GEMM as one more patch row of ones (and a bias
        # column of the weight) when copying the weight costs less than a pass
        # over the output; else added to each tile while it is in cache.
        fuse = has_bias and groups == 1 and 8 * k_total <= n_img * area
    if not native:
        return Plan(method, tuple(tiles), fuse, workers, None, 0)
    table = np.array([(n0, nb, p0, p1, int(is_folded(nb, area) and not pointwise),
                       patch_ld(nb * (p1 - p0), itemsize)) for n0, nb, p0, p1 in tiles],
                     dtype=np.int64)
    # Scratch per tile: its patch matrix (rows of ld) and, folded, its GEMM result.
    length = 1
    for _, nb, p0, p1, folded, ld in table.tolist():
        if not pointwise:
            rows = k_total + (1 if fuse and not folded else 0)
            length = max(length, rows * ld + (filters * nb * (p1 - p0) if folded else 0))
    return Plan(method, tuple(tiles), fuse, max(1, min(workers, len(tiles))), table, length)


@functools.lru_cache(maxsize=256)
def plan_nhwc(n_img: int, channels: int, filters: int, geom, groups: int, itemsize: int,
              budget: int, workers: int, native: bool, tuning: tuple, method: str) -> Plan | None:
    """The channels-last `plan_nchw`: tiles of the flat output positions
    (n, oh, ow), contiguous rows of the (N*OH*OW, F) output, or for 'shift'
    tiles of output rows (None when one does not fit the budget)."""
    k_total = channels * geom.kernel_area
    if method == "shift":
        return shift_plan(n_img, channels, filters, geom, itemsize,
                           tile_cap(budget, workers, (k_total + 1) * itemsize), workers,
                           channels_last=True)
    pointwise = method == "pointwise"
    cap = tile_cap(budget, workers)
    total = n_img * geom.out_area
    positions = cap // (1 if pointwise else k_total * itemsize)
    positions = min(positions, max(FOLD_POSITIONS, -(-total // (4 * workers))))
    positions = max(1, min(total, positions))
    count = -(-total // positions)
    if count > workers:  # equal tiles, a multiple of the workers (dealt out in turn)
        count = min(total, -(-count // workers) * workers)
    positions = -(-total // count)
    starts = tuple(range(0, total, positions))
    if not native:
        return Plan(method, (), False, workers, None, 0, starts, positions)
    table = np.asarray(starts, dtype=np.int64)
    return Plan(method, (), False, max(1, min(workers, len(starts))), table,
                1 if pointwise else positions * k_total, starts, positions)
