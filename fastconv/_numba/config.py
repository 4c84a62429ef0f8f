"""Numba options for every fastconv kernel, in one place.

``cache`` keeps compiled kernels on disk so a fresh process only loads them;
``nogil`` lets other Python threads run during a kernel; ``contract`` allows
fused multiply-adds and nothing else of fast-math, so results stay those of
plain IEEE arithmetic up to FMA rounding.
"""
import numba

JIT_OPTIONS = dict(
    nogil=True,
    cache=True,
    fastmath={"contract"},
    boundscheck=False,
    error_model="numpy",
)


def jit(parallel=False):
    """The njit decorator with fastconv's options."""
    return numba.njit(parallel=parallel, **JIT_OPTIONS)


prange = numba.prange
