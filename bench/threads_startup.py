"""Measurements behind docs/threads-and-startup.md.

    python bench/threads_startup.py            # everything (~1-2 minutes)
    python bench/threads_startup.py layers     # threading layers only
    python bench/threads_startup.py startup    # import and first-call latency only

Every measurement runs in a fresh interpreter so the threading layer and the
JIT cache state are what a new process sees. Prints Markdown tables.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src", "im2col_nb")

LAYER_PROBE = """
import json, threading, time
import numpy as np
import im2col_nb
from im2col_nb._core import backend as _backend
from im2col_nb._kernels.numba import backend as raw
from im2col_nb._core.geometry import conv_geometry

rng = np.random.default_rng(0)
big = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
wbig = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
tiny = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
g = conv_geometry((8, 8), 3, 1, 0, 1)
cols = np.empty((1, 27, g.out_area), np.float32)

def best(f, n, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        times.append((time.perf_counter() - t0) / n)
    return min(times)

def concurrent(f, per, threads=8):
    def run():
        for _ in range(per):
            f()
    ts = [threading.Thread(target=run) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts: t.start()
    for t in ts: t.join()
    return (time.perf_counter() - t0) / (threads * per)

guarded = _backend.backend_module()
for f in (lambda: im2col_nb.im2col(big, 3), lambda: im2col_nb.conv2d(big, wbig),
          lambda: guarded.im2col(tiny, cols, g, 0, g.out_h)):
    f()
import numba
report = {
    "layer": numba.threading_layer(),
    "kernel_raw_us": 1e6 * best(lambda: raw.im2col(tiny, cols, g, 0, g.out_h), 2000),
    "kernel_guarded_us": 1e6 * best(lambda: guarded.im2col(tiny, cols, g, 0, g.out_h), 2000),
    "im2col_tiny_us": 1e6 * best(lambda: im2col_nb.im2col(tiny, 3), 2000),
    "im2col_big_ms": 1e3 * best(lambda: im2col_nb.im2col(big, 3), 30),
    "conv2d_big_ms": 1e3 * best(lambda: im2col_nb.conv2d(big, wbig), 30),
    "conc_im2col_tiny_us": 1e6 * concurrent(lambda: im2col_nb.im2col(tiny, 3), 300),
    "conc_im2col_big_ms": 1e3 * concurrent(lambda: im2col_nb.im2col(big, 3), 20),
    "conc_conv2d_big_ms": 1e3 * concurrent(lambda: im2col_nb.conv2d(big, wbig), 10),
}
with im2col_nb.threads(1):
    report["conc_conv2d_big_1_ms"] = 1e3 * concurrent(lambda: im2col_nb.conv2d(big, wbig), 10)
    report["conv2d_big_1_ms"] = 1e3 * best(lambda: im2col_nb.conv2d(big, wbig), 30)
print("REPORT" + json.dumps(report))
"""

FIRST_CALL = """
import json, time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
import im2col_nb
t2 = time.perf_counter()
x = np.ones((1, 3, 8, 8), np.float32)
w = np.ones((2, 3, 3, 3), np.float32)
im2col_nb.conv2d(x, w)
t3 = time.perf_counter()
im2col_nb.conv2d(x, w)
t4 = time.perf_counter()
seconds = im2col_nb.warmup() if __WARMUP__ else {"total": 0.0}
print("REPORT" + json.dumps({"numpy": t1 - t0, "import": t2 - t1, "first": t3 - t2,
                             "second": t4 - t3, "warmup": seconds["total"]}))
"""


def run(code, env=None):
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("NUMBA_THREADING_LAYER", "NUMBA_CACHE_DIR", "IM2COL_NB_BACKEND")}
    child_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=child_env, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("REPORT"):
            return json.loads(line[6:])
    raise RuntimeError(proc.stderr[-3000:])


def layers():
    rows = []
    for layer in (None, "tbb", "workqueue", "omp"):
        env = {"NUMBA_THREADING_LAYER": layer} if layer else {}
        try:
            r = run(LAYER_PROBE, env)
        except RuntimeError as exc:
            print(f"{layer}: failed: {str(exc)[-300:]}")
            continue
        rows.append((f"{layer or 'default'} -> {r['layer']}", r))
    print("| layer | raw kernel call, tiny (us) | guarded (us) | im2col tiny (us) | im2col 8x16x32x32 (ms) "
          "| conv2d 8x16x32x32, 32 3x3 filters (ms) | 8 threads: im2col tiny (us/call) "
          "| 8 threads: im2col big (ms/call) | 8 threads: conv2d big (ms/call) "
          "| threads(1): conv2d big (ms) | threads(1), 8 threads: conv2d big (ms/call) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['kernel_raw_us']:.1f} | {r['kernel_guarded_us']:.1f} | {r['im2col_tiny_us']:.1f} "
              f"| {r['im2col_big_ms']:.2f} | {r['conv2d_big_ms']:.2f} | {r['conc_im2col_tiny_us']:.1f} "
              f"| {r['conc_im2col_big_ms']:.2f} | {r['conc_conv2d_big_ms']:.2f} "
              f"| {r['conv2d_big_1_ms']:.2f} | {r['conc_conv2d_big_1_ms']:.2f} |")


def startup():
    with tempfile.TemporaryDirectory() as tmp:
        site = os.path.join(tmp, "site")
        shutil.copytree(SRC, os.path.join(site, "im2col_nb"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        env = {"PYTHONPATH": site}
        rows = [
            ("cold cache (first process after install)", run(FIRST_CALL.replace("__WARMUP__", "False"), env)),
            ("warm cache (second process)", run(FIRST_CALL.replace("__WARMUP__", "False"), env)),
        ]
        # warmup() on a cold cache compiles every kernel signature once; the
        # next process finds them all on disk.
        shutil.rmtree(os.path.join(site, "im2col_nb", "__pycache__"))
        rows.append(("cold cache, then warmup()", run(FIRST_CALL.replace("__WARMUP__", "True"), env)))
        rows.append(("warm cache, then warmup()", run(FIRST_CALL.replace("__WARMUP__", "True"), env)))
    print("| process | import numpy (s) | import im2col_nb (s) | first conv2d (s) | second conv2d (ms) "
          "| warmup() (s) |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['numpy']:.3f} | {r['import']:.3f} | {r['first']:.3f} | "
              f"{1e3 * r['second']:.2f} | {r['warmup']:.2f} |")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("all", "layers"):
        layers()
    if what in ("all", "startup"):
        startup()
