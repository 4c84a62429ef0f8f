"""Splitting float32 rows into their even and odd elements at unit stride, for the
kernels that read every other element of a row (pooling's stride-2 windows)."""
import numpy as np

from .config import jit


@jit()
def split_pairs(src, even, odd, m):
    """even[q], odd[q] = src[2 * q], src[2 * q + 1], q < m, for float32: the pairs
    are read as 64-bit integers and split by truncation and shift (LLVM turns
    stride-2 loads into gathers, which cost several times more)."""
    pairs = src[:2 * m].view(np.uint64)
    low, high = even[:m].view(np.uint32), odd[:m].view(np.uint32)
    for q in range(m):
        low[q] = np.uint32(pairs[q] & np.uint64(0xFFFFFFFF))
        high[q] = np.uint32(pairs[q] >> np.uint64(32))
