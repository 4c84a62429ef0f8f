"""Winograd convolution F(2x2, 3x3) and F(4x4, 3x3) with Numba: njit transforms
around NumPy's batched ``matmul`` for the element-wise stage (the A * A GEMMs of
one chunk of tiles in one call), as the C backend does around its GEMM.

The transforms loop with the tiles (or input channels, for the filters) innermost
and contiguous, so LLVM vectorizes them; the matrices are the exact ones of
``fastconv._winograd``, their zero entries skipped.  Each matrix product is written
out where it is used rather than shared: a helper taking the source rows as one
strided 2-D view gets them as non-contiguous arrays, which LLVM does not vectorize
(measured 1.7x slower).  Threads share the tiles of the
batch as in ``fastconv._numba.im2col`` (Python threads, single-threaded BLAS, scratch
within the workspace limit); the filters are transformed once per call.
"""
from __future__ import annotations

import numpy as np

from .. import _winograd
from .._threads import get_num_threads
from .._workspace import get_workspace_limit
from .config import jit
from .im2col import _blas_single, _run

CHUNK_BYTES = 8 * 2**20  # a thread's V and M (in L3): long enough rows for BLAS


@jit()
def _filter_transform(w, gm, k0, k1, u):
    """u[g, a * A + b, k, c] = (G w[g * K + k, c] G^T)[a, b] for output channels
    k0 <= g * K + k < k1 (u: groups x A^2 x K x C)."""
    alpha, kg, cg = gm.shape[0], u.shape[2], u.shape[3]
    wt = np.empty((3, 3, cg), w.dtype)
    t = np.empty((alpha, 3, cg), w.dtype)
    for kk in range(k0, k1):
        g, k = kk // kg, kk % kg
        for c in range(cg):
            for i in range(3):
                for j in range(3):
                    wt[i, j, c] = w[kk, c, i, j]
        # explicit loops over c: an array expression would allocate a temporary
        for a in range(alpha):
            for j in range(3):
                ta = t[a, j]
                ta[:] = 0
                for i in range(3):
                    coef, src = gm[a, i], wt[i, j]
                    if coef != 0:
                        for c in range(cg):
                            ta[c] += coef * src[c]
        for a in range(alpha):
            for b in range(alpha):
                dst = u[g, a * alpha + b, k]
                dst[:] = 0
                for j in range(3):
                    coef, src = gm[b, j], t[a, j]
                    if coef != 0:
                        for c in range(cg):
                            dst[c] += coef * src[c]


@jit()
def _input_transform(x, c0, map_h, map_w, t0, tw_n, tiles_per_image, tile, bt, v):
    """v[a * A + b, c, q] = (B^T d B)[a, b] for the patch d of tile t0 + q of input
    channel c0 + c (v: A^2 x channels x tiles); map_h / map_w give the input row /
    column of every padded one, -1 (or past their end) for a zero."""
    alpha, nch, nt = bt.shape[0], v.shape[1], v.shape[2]
    d = np.empty((alpha, alpha, nt), v.dtype)
    s = np.empty((alpha, alpha, nt), v.dtype)
    for c in range(nch):
        # gathered a run of tiles of one tile row at a time: patch row i of the run's
        # tiles comes from one input row
        q = 0
        while q < nt:
            t = t0 + q
            n, r = t // tiles_per_image, t % tiles_per_image
            run = min(nt - q, tw_n - r % tw_n)
            plane = x[n, c0 + c]
            for i in range(alpha):
                pr = r // tw_n * tile + i
                ri = map_h[pr] if pr < map_h.shape[0] else -1
                for j in range(alpha):
                    dq = d[i, j, q:q + run]
                    if ri < 0:
                        dq[:] = 0
                        continue
                    row = plane[ri]
                    for u in range(run):
                        pc = (r % tw_n + u) * tile + j
                        cj = map_w[pc] if pc < map_w.shape[0] else -1
                        dq[u] = row[cj] if cj >= 0 else 0
            q += run
        for a in range(alpha):  # s = B^T d
            for j in range(alpha):
                sa = s[a, j]
                sa[:] = 0
                for i in range(alpha):
                    coef, src = bt[a, i], d[i, j]
                    if coef != 0:
                        for q in range(nt):
                            sa[q] += coef * src[q]
        for a in range(alpha):  # V = s B
            for b in range(alpha):
                dst = v[a * alpha + b, c]
                dst[:] = 0
                for j in range(alpha):
                    coef, src = bt[b, j], s[a, j]
                    if coef != 0:
                        for q in range(nt):
                            dst[q] += coef * src[q]


@jit()
def _output_transform(m, t0, tw_n, tiles_per_image, tile, at, k0, bias, y):
    """y[n, k0 + k, tile rows and columns] = (A^T M A) of m[:, k, q] for tile t0 + q,
    plus bias[k0 + k] when bias has entries (m: A^2 x channels x tiles)."""
    alpha, nk, nt = at.shape[1], m.shape[1], m.shape[2]
    s = np.empty((tile, alpha, nt), m.dtype)
    out = np.empty((tile, tile, nt), m.dtype)
    oh, ow = y.shape[2], y.shape[3]
    for k in range(nk):
        for i in range(tile):  # s = A^T M
            for b in range(alpha):
                si = s[i, b]
                si[:] = 0
                for a in range(alpha):
                    coef, src = at[i, a], m[a * alpha + b, k]
                    if coef != 0:
                        for q in range(nt):
                            si[q] += coef * src[q]
        for i in range(tile):  # Y = s A
            for j in range(tile):
                oi = out[i, j]
                oi[:] = 0
                for b in range(alpha):
                    coef, src = at[j, b], s[i, b]
                    if coef != 0:
                        for q in range(nt):
                            oi[q] += coef * src[q]
        add = bias[k0 + k] if bias.shape[0] > 0 else 0
        # written a run of tiles of one tile row at a time: one output row per tile
        # row i, each column j of the tiles a strided pass over it
        q = 0
        while q < nt:
            t = t0 + q
            n, r = t // tiles_per_image, t % tiles_per_image
            r0, c0 = r // tw_n * tile, r % tw_n * tile
            run = min(nt - q, tw_n - r % tw_n)
            whole = min(run, (ow - c0) // tile)  # the run's tiles wholly inside the width
            plane = y[n, k0 + k]
            for i in range(min(tile, oh - r0)):
                dst = plane[r0 + i, c0:]
                for j in range(tile):
                    src = out[i, j, q:q + whole]
                    for u in range(whole):
                        dst[u * tile + j] = src[u] + add
                for j in range(ow - c0 - whole * tile if whole < run else 0):
                    dst[whole * tile + j] = out[i, j, q + whole] + add
            q += run


def _correlate(tile, corr, x, w, bias, y):
    """y = the Correlation corr of x with w (+ bias): chunks of tiles per thread."""
    at, gm, bt = (np.asarray(m, dtype=x.dtype) for m in _winograd.matrices(_variant(tile), x.dtype))
    G, alpha = corr.groups, tile + 2
    cg, kg = corr.c_in // G, corr.c_out // G
    th_n, tw_n = -(-corr.oh // tile), -(-corr.ow // tile)
    per_image, nt_all = th_n * tw_n, corr.n * th_n * tw_n
    threads = get_num_threads()
    u = np.empty((G, alpha * alpha, kg, cg), x.dtype)
    halves = [(corr.c_out * i // threads, corr.c_out * (i + 1) // threads) for i in range(threads)]
    _run([lambda a=a, b=b: _filter_transform(w, gm, a, b, u) for a, b in halves if b > a])
    per_tile = alpha * alpha * (cg + kg) * x.itemsize
    budget = max(per_tile, min(CHUNK_BYTES, (get_workspace_limit() - u.nbytes) // threads))
    nt = max(1, min(budget // per_tile, -(-nt_all // threads)))
    tasks = [(g, t0, min(nt_all, t0 + nt)) for g in range(G) for t0 in range(0, nt_all, nt)]
    bias = np.zeros(0, x.dtype) if bias is None else bias

    def share(mine):
        v_buf = np.empty(alpha * alpha * cg * nt, x.dtype)
        m_buf = np.empty(alpha * alpha * kg * nt, x.dtype)
        for g, t0, t1 in mine:
            v = v_buf[:alpha * alpha * cg * (t1 - t0)].reshape(alpha * alpha, cg, t1 - t0)
            m = m_buf[:alpha * alpha * kg * (t1 - t0)].reshape(alpha * alpha, kg, t1 - t0)
            _input_transform(x, g * cg, corr.map_h, corr.map_w, t0, tw_n, per_image, tile, bt, v)
            np.matmul(u[g], v, out=m)
            _output_transform(m, t0, tw_n, per_image, tile, at, g * kg, bias, y)

    with _blas_single():
        _run([lambda s=tasks[i::threads]: share(s) for i in range(min(threads, len(tasks)))])


def _variant(tile):
    return next(name for name, t in _winograd.VARIANT_TILES.items() if t == tile)


def _kernels(tile):
    from .im2col import conv2d_bwd_filter_im2col

    return _winograd.make_kernels(lambda *args: _correlate(tile, *args), conv2d_bwd_filter_im2col)


(conv2d_fwd_winograd_f2x2k3x3, conv2d_bwd_data_winograd_f2x2k3x3,
 conv2d_bwd_filter_winograd_f2x2k3x3) = _kernels(2)
(conv2d_fwd_winograd_f4x4k3x3, conv2d_bwd_data_winograd_f4x4k3x3,
 conv2d_bwd_filter_winograd_f4x4k3x3) = _kernels(4)
