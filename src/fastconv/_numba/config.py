"""Numba options for every fastconv kernel, in one place.

``cache`` keeps compiled kernels on disk so a fresh process only loads them;
``nogil`` lets other Python threads run during a kernel.  Of fast-math only
``contract`` (fused multiply-adds) and ``reassoc`` (reordered sums, which is
what lets LLVM keep a reduction in vector registers) are allowed: no
assumptions about NaN, infinities or signed zeros, so those propagate as in
plain IEEE arithmetic.
"""
import numba

JIT_OPTIONS = dict(
    nogil=True,
    cache=True,
    fastmath={"contract", "reassoc"},
    boundscheck=False,
    error_model="numpy",
)


def jit(parallel=False):
    """The njit decorator with fastconv's options."""
    return numba.njit(parallel=parallel, **JIT_OPTIONS)


prange = numba.prange


def use_threads():
    """Make the calling thread's Numba kernels use fastconv's thread setting (Numba's
    setting is per thread, so every wrapper calls this before its kernel)."""
    from .._threads import get_num_threads

    numba.set_num_threads(get_num_threads())
