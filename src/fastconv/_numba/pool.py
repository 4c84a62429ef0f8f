"""Max and average pooling in Numba, forward and backward.

The same table-driven windows and the same two kinds of kernel as
csrc/pool/pool_impl.inc (see PoolParams): values-only max and every average go
output row by output row (the window's input rows combined into one row buffer,
a contiguous loop LLVM vectorizes, then a short pass per output); max with
indices scans each window in order, as ties and NaNs require.  One thread per
plane, so overlapping windows' gradients never race.
"""
from __future__ import annotations

import numpy as np

from .config import jit, prange, use_threads


@jit(parallel=True)
def _max_fwd(x, rs, rn, cs, cn, step_h, step_w, y, idx):
    """Max with indices: each window scanned in order, a later cell winning when
    greater or NaN (ties keep the first)."""
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
                idx[n, k, i, j] = where


@jit(parallel=True)
def _max_rows(x, rs, rn, cs, cn, step_h, step_w, y):
    """Values-only max: per output row, column maxima over the window's rows, then
    each output's maximum over its columns (NaN propagates through both)."""
    n_batch, c, _, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        colmax = np.empty(w, dtype=x.dtype)
        for i in range(oh):
            colmax[:] = x[n, k, rs[i]]
            for a in range(1, rn[i]):
                row = x[n, k, rs[i] + a * step_h]
                for col in range(w):
                    v, m = row[col], colmax[col]
                    colmax[col] = v if (v > m) | (v != v) else m
            for j in range(ow):
                best = colmax[cs[j]]
                nan = best != best
                for b in range(1, cn[j]):
                    v = colmax[cs[j] + b * step_w]
                    nan |= v != v
                    best = max(best, v)
                y[n, k, i, j] = np.nan if nan else best


@jit(parallel=True)
def _max_bwd(gy, idx, gx):
    """gx[n, c, idx[n, c, q]] += gy[n, c, q] over flattened planes."""
    n_batch, c = gy.shape[0], gy.shape[1]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        plane, grads, where = gx[n, k], gy[n, k], idx[n, k]
        plane[:] = 0
        for q in range(grads.size):
            plane[where[q]] += grads[q]


@jit(parallel=True)
def _avg_fwd(x, rs, rn, cs, cn, step_h, step_w, inv_div, y):
    n_batch, c, _, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        colsum = np.empty(w, dtype=x.dtype)
        for i in range(oh):
            colsum[:] = 0
            for a in range(rn[i]):
                row = x[n, k, rs[i] + a * step_h]
                for col in range(w):
                    colsum[col] += row[col]
            for j in range(ow):
                total = y.dtype.type(0)
                for b in range(cn[j]):
                    total += colsum[cs[j] + b * step_w]
                y[n, k, i, j] = total * inv_div[i, j]


@jit(parallel=True)
def _avg_bwd(gy, rs, rn, cs, cn, step_h, step_w, inv_div, gx):
    n_batch, c, _, w = gx.shape
    oh, ow = gy.shape[2], gy.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        spread = np.empty(w, dtype=gx.dtype)
        gx[n, k] = 0
        for i in range(oh):
            spread[:] = 0
            for j in range(ow):
                v = gy[n, k, i, j] * inv_div[i, j]
                for b in range(cn[j]):
                    spread[cs[j] + b * step_w] += v
            for a in range(rn[i]):
                row = gx[n, k, rs[i] + a * step_h]
                for col in range(w):
                    row[col] += spread[col]


def _windows(p):
    return p.row_start, p.row_count, p.col_start, p.col_count, p.step_h, p.step_w


def maxpool2d_fwd_direct(p, x, y, idx):
    """y (and idx unless None) = window maxima of x."""
    use_threads()
    if idx is None:
        _max_rows(x, *_windows(p), y)
    else:
        _max_fwd(x, *_windows(p), y, idx)


def maxpool2d_bwd_direct(p, gy, idx, gx):
    """gx = gy scattered to idx."""
    use_threads()
    flat = (p.n, p.c, -1)
    _max_bwd(gy.reshape(flat), idx.reshape(flat), gx.reshape(flat))


def avgpool2d_fwd_direct(p, x, inv_div, y):
    """y = window sums of x times inv_div."""
    use_threads()
    _avg_fwd(x, *_windows(p), inv_div, y)


def avgpool2d_bwd_direct(p, gy, inv_div, gx):
    """gx = each gy * inv_div spread over its window."""
    use_threads()
    _avg_bwd(gy, *_windows(p), inv_div, gx)
