"""Imported first by the benchmark scripts: BLAS and OpenMP on one thread.

The variables must be set before NumPy (or PyTorch, or JAX) loads its thread pool, so a
script imports this module before anything that imports NumPy, with its own folder on
``sys.path``.
"""

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"
