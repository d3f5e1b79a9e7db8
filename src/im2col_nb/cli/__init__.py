"""The command line: ``im2col-nb`` (also ``python -m im2col_nb``).

``im2col-nb``          the main job: the worked example, then conv2d against
                       conv2d_direct on one default layer.
``im2col-nb demo``     the worked example step by step, a batch as one GEMM,
                       max pooling.
``im2col-nb compare``  time, GFLOP/s and peak memory per layer, per method.
``im2col-nb info``     versions, backend, threads, BLAS, JIT cache.

Everything prints to standard output; the progress bar goes to standard
error. Bad options print a usage message and exit with status 2.

Modules: `commands` (argparse, the commands, `main`), `worked_example` (the
7x7 example and the demo text), `layers` and `compare` (what ``compare``
times, and how), `timing` (the measurement harness, shared with
``bench/suite.py``), `tables` (rich output) and `figures` (matplotlib, only
imported for ``--plot``). Only the public API of im2col_nb is used.
"""

from .commands import main

__all__ = ["main"]
