"""The engine: describe the problem, choose a method, plan, run the kernels.

Every public operation validates its arguments once and hands a call to the
engine:

* ``problem.py`` -- `prepare_conv` turns validated arguments into a
  `ConvCall` (kernel-ready arrays) and its `ConvProblem` (shapes, dtype,
  layout, geometry, groups: the key of every choice and plan);
* ``registry.py`` -- each operation's methods, what each supports and what
  it is expected to cost; `choose` picks one (``method="auto"``, or the one
  forced), `Choice` reports it (``im2col_nb.explain``);
* ``machine.py`` -- what a choice reads from the machine: backend, threads,
  BLAS reachable from Numba, workspace budget, CPU model;
* ``conv.py`` -- conv2d's methods (im2col, pointwise, shift, direct),
  registered, and the driver that runs the choice;
* ``pool.py`` -- max_pool2d's and avg_pool2d's methods (direct, im2col),
  registered, their `PoolProblem`, the drivers and the backward passes;
* ``plan.py`` -- tiles, workers and scratch of a GEMM method, cached per shape;
* ``conv_gemm.py`` -- the GEMM methods' drivers: the Numba tile kernels, or
  tiles from Python worker threads (``workers.py``);
* ``grad.py`` -- the methods of conv2d's input and weight gradients and of
  conv_transpose2d (col2im, full, pointwise; tiles, im2col, pointwise),
  registered, and the drivers that run the choice;
* ``backward.py`` -- the gradients' drivers, one per method, built from the
  same pieces.

The kernels themselves live in ``_kernels/numba`` and ``_kernels/numpy``.
"""
