"""One thread setting for both backends."""
from __future__ import annotations

import os

from ._params import _is_int

try:
    import numba.config as _numba_config  # light: does not load the JIT

    MAX_THREADS = int(_numba_config.NUMBA_NUM_THREADS)
except ImportError:  # pragma: no cover - numba is a run-time dependency
    MAX_THREADS = os.cpu_count() or 1

_num_threads = MAX_THREADS


def set_num_threads(n):
    """Set the number of threads every kernel uses (C OpenMP and Numba prange).

    Parameters
    ----------
    n : int
        From 1 to the number of threads Numba was started with
        (``NUMBA_NUM_THREADS``, by default the number of CPUs).
    """
    global _num_threads
    if not _is_int(n):
        raise TypeError(f"n={n!r}: expected an int from 1 to {MAX_THREADS}")
    if not 1 <= int(n) <= MAX_THREADS:
        raise ValueError(f"n={n}: must be from 1 to {MAX_THREADS} (NUMBA_NUM_THREADS)")
    _num_threads = int(n)
    from . import _c

    if _c.lib is not None:
        _c.lib.fc_set_num_threads(_num_threads)


def get_num_threads():
    """The number of threads kernels use.

    Returns
    -------
    int
    """
    return _num_threads
