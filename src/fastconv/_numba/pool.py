"""Max and average pooling in Numba, forward and backward.

The same table-driven windows as csrc/pool/pool_impl.inc (see PoolParams), one
thread per plane, so overlapping windows' gradients never race.
"""
from __future__ import annotations

import numpy as np

from .config import jit, prange, use_threads


@jit(parallel=True)
def _max_fwd(x, rs, rn, cs, cn, step_h, step_w, y, idx, want_idx):
    n_batch, c, _, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        plane = x[n, k]
        for i in range(oh):
            for j in range(ow):
                best = -np.inf
                where = rs[i] * w + cs[j]
                for a in range(rn[i]):
                    r = rs[i] + a * step_h
                    for b in range(cn[j]):
                        col = cs[j] + b * step_w
                        v = plane[r, col]
                        if v > best or v != v:  # ties keep the first; NaN wins
                            best = v
                            where = r * w + col
                y[n, k, i, j] = best
                if want_idx:
                    idx[n, k, i, j] = where


@jit(parallel=True)
def _max_bwd(gy, idx, gx):
    n_batch, c = gy.shape[0], gy.shape[1]
    w = gx.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        gx[n, k] = 0
        for i in range(gy.shape[2]):
            for j in range(gy.shape[3]):
                q = idx[n, k, i, j]
                gx[n, k, q // w, q % w] += gy[n, k, i, j]


@jit(parallel=True)
def _avg_fwd(x, rs, rn, cs, cn, step_h, step_w, inv_div, y):
    n_batch, c = x.shape[0], x.shape[1]
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        plane = x[n, k]
        for i in range(oh):
            for j in range(ow):
                total = y.dtype.type(0)
                for a in range(rn[i]):
                    r = rs[i] + a * step_h
                    for b in range(cn[j]):
                        total += plane[r, cs[j] + b * step_w]
                y[n, k, i, j] = total * inv_div[i, j]


@jit(parallel=True)
def _avg_bwd(gy, rs, rn, cs, cn, step_h, step_w, inv_div, gx):
    n_batch, c = gy.shape[0], gy.shape[1]
    oh, ow = gy.shape[2], gy.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        gx[n, k] = 0
        for i in range(oh):
            for j in range(ow):
                v = gy[n, k, i, j] * inv_div[i, j]
                for a in range(rn[i]):
                    r = rs[i] + a * step_h
                    for b in range(cn[j]):
                        gx[n, k, r, cs[j] + b * step_w] += v


def _windows(p):
    return p.row_start, p.row_count, p.col_start, p.col_count, p.step_h, p.step_w


def maxpool2d_fwd_direct(p, x, y, idx):
    """y (and idx unless None) = window maxima of x."""
    use_threads()
    want = idx is not None
    _max_fwd(x, *_windows(p), y, idx if want else np.empty((1, 1, 1, 1), np.int64), want)


def maxpool2d_bwd_direct(p, gy, idx, gx):
    """gx = gy scattered to idx."""
    use_threads()
    _max_bwd(gy, idx, gx)


def avgpool2d_fwd_direct(p, x, inv_div, y):
    """y = window sums of x times inv_div."""
    use_threads()
    _avg_fwd(x, *_windows(p), inv_div, y)


def avgpool2d_bwd_direct(p, gy, inv_div, gx):
    """gx = each gy * inv_div spread over its window."""
    use_threads()
    _avg_bwd(gy, *_windows(p), inv_div, gx)
