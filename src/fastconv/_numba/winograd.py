"""Winograd convolution F(2x2, 3x3) and F(4x4, 3x3) with Numba: njit transforms
around NumPy's batched ``matmul`` for the element-wise stage (the A * A GEMMs of
one chunk of tiles in one call), as the C backend does around its GEMM.

The input and output transforms run on blocks of NUMBA_BLOCK tiles in a work
array, through functions generated from the exact matrices of
``fastconv._winograd`` (``winograd_blocks``): each keeps one tile in scalars and
LLVM vectorizes it across the block's tiles, with no pass through memory between
the two matrix products (the earlier pass-per-row form spent 35-45 ns a tile on
F(4x4)'s input transform, the generated one 8).  The filter transform works the
same way, on blocks of NUMBA_BLOCK input channels of one output channel.
Threads share the tiles of the batch as in ``fastconv._numba.im2col`` (Python
threads, single-threaded BLAS, scratch within the workspace limit); the filters
are transformed once per call, or, for deep layers (_correlate_by_channels), by
each thread a block of output channels at a time.
"""
from __future__ import annotations

import numpy as np

from .. import _winograd
from .._threads import get_num_threads
from .._workspace import get_workspace_limit
from .config import jit
from .im2col import _blas_single, _run
from .winograd_blocks import NUMBA_BLOCK, filter_f2, filter_f4, input_f2, input_f4, output_f2, output_f4

U = np.uint64  # see _output_transform
CHUNK_BYTES = 8 * 2**20  # a thread's V and M (in L3): long enough rows for BLAS
FILTER_BLOCK = 32  # output channels transformed at a time by _correlate_by_channels,
WIDE_FILTER_BLOCK = 64  # or, on 64 tiles or more, this many: OpenBLAS's GEMMs of 32 rows
# ran at 56-98 GFLOP/s against 81-108 for 64 rows there (K = 256 / 512, N = 64-256, one
# thread), the other way round on 32 tiles (ResNet's res5a at mb 8: 98 against 67-83)
BY_CHANNELS_V_BYTES = 16 * 2**20  # its transformed input of the whole batch, at most


@jit()
def _filter_transform(w, gm, k0, k1, u, rotated):
    """u[g, a * A + b, k, c] = (G f G^T)[a, b] for output channels k0 <= g * K + k < k1
    (u: groups x A^2 x K x C, C-contiguous) of filters f = w[g * K + k, c], or, rotated
    (backward-data), w[g * C + c, k] turned 180 degrees: NUMBA_BLOCK input channels
    at a time through the generated block transform (see _input_transform)."""
    alpha, kg, cg = gm.shape[0], u.shape[2], u.shape[3]
    aa = alpha * alpha
    work = np.zeros((9 + aa) * NUMBA_BLOCK, w.dtype)
    u_flat = u.ravel()  # contiguous: a view
    for kk in range(k0, k1):
        g, k = kk // kg, kk % kg
        for cb in range(0, cg, NUMBA_BLOCK):
            nb = min(NUMBA_BLOCK, cg - cb)
            if nb < NUMBA_BLOCK:  # lanes past the channels: zeros, never denormals
                work[:9 * NUMBA_BLOCK] = 0
            for q in range(nb):
                for i in range(3):
                    for j in range(3):
                        work[(i * 3 + j) * NUMBA_BLOCK + q] = \
                            w[g * cg + cb + q, k, 2 - i, 2 - j] if rotated else w[kk, cb + q, i, j]
            if alpha == 6:
                filter_f4(work, gm)
            else:
                filter_f2(work, gm)
            for ab in range(aa):
                frm, to = U((9 + ab) * NUMBA_BLOCK), U(((g * aa + ab) * kg + k) * cg + cb)
                for q in range(U(nb)):
                    u_flat[to + q] = work[frm + q]


@jit()
def _identity_run(mp):
    """(lo, hi, shift): the longest run lo <= v < hi of a padding map where mp[v] is
    v - shift (the input's own columns, for zero padding all of them)."""
    best_lo, best_hi, best_shift = 0, 0, 0
    v = 0
    while v < mp.shape[0]:
        if mp[v] < 0:
            v += 1
            continue
        lo = v
        while v + 1 < mp.shape[0] and mp[v + 1] == mp[v] + 1:
            v += 1
        v += 1
        if v - lo > best_hi - best_lo:
            best_lo, best_hi, best_shift = lo, v, lo - mp[lo]
    return best_lo, best_hi, best_shift


@jit()
def _padded_row(plane, ri, map_w, lo, hi, shift, rows, at, n):
    """rows[at + u] = padded column u of input row ri of plane, u < n, through map_w
    (-1 or past its end: zero); the identity run [lo, hi) of map_w as one copy.
    Indexed in place, no slices: on small planes a slice per row cost more than
    the row's copy."""
    hi = max(min(hi, n), lo)
    for u in range(lo, hi):
        rows[at + U(u)] = plane[ri, u - shift]
    for u in range(lo):
        cj = map_w[u]
        rows[at + U(u)] = plane[ri, cj] if cj >= 0 else 0
    for u in range(hi, n):
        cj = map_w[u] if u < map_w.shape[0] else -1
        rows[at + U(u)] = plane[ri, cj] if cj >= 0 else 0


@jit()
def _input_transform(x, x_c0, c_lo, c_hi, map_h, map_w, t0, tw_n, tiles_per_image, tile, bt, v):
    """v[a * A + b, c, q] = (B^T d B)[a, b] for the patch d of tile t0 + q of input
    channel x_c0 + c, c_lo <= c < c_hi (v: A^2 x channels x tiles, C-contiguous: it
    is written through a flat view, so threads can fill their channels of one v);
    map_h / map_w give the input row / column of every padded one, -1 (or past
    their end) for a zero.

    Per channel, the padded rows the chunk's tiles read are built once; each tap
    (i, j) of a block of NUMBA_BLOCK tiles is gathered from there into a work array,
    at every tile's patch start (computed once for all channels), and the block
    transformed by the generated winograd_blocks functions.
    (The rows had also been split by column phase so that a patch column lay at unit
    stride; since the gather goes through each tile's patch start anyway, that pass
    only cost time: without it the transform took 0.7-0.8 of its time on ResNet-50's
    four 3x3 layers, one thread.)"""
    alpha, nch, nt = bt.shape[0], v.shape[1], v.shape[2]
    aa = alpha * alpha
    # zeros: the lanes past a short last block are transformed too (never denormals)
    w = np.zeros(2 * aa * NUMBA_BLOCK, v.dtype)
    lo, hi, shift = _identity_run(map_w)
    pitch = tile * tw_n + 2  # a padded row: every tile's patch columns
    # the chunk's images and, for each, its first tile row and its rows' place in rows
    n0, n1 = t0 // tiles_per_image, (t0 + nt - 1) // tiles_per_image
    first_tr = np.empty(n1 - n0 + 1, np.int64)
    row_base = np.empty(n1 - n0 + 2, np.int64)
    row_base[0] = 0
    for n in range(n0, n1 + 1):
        ta, tb = max(t0, n * tiles_per_image), min(t0 + nt, (n + 1) * tiles_per_image)
        ra, rb = (ta - n * tiles_per_image) // tw_n, (tb - 1 - n * tiles_per_image) // tw_n
        first_tr[n - n0] = ra
        row_base[n - n0 + 1] = row_base[n - n0] + (rb - ra) * tile + alpha
    rows = np.zeros(row_base[-1] * pitch, v.dtype)
    v_flat = v.ravel()  # indexed by unsigned offsets (see _output_transform)
    # where each tile's patch starts in rows, the same for every channel: the patches
    # are gathered tap by tap across a block
    patch_at = np.empty(nt, np.uint64)
    for q in range(nt):
        n, r = (t0 + q) // tiles_per_image, (t0 + q) % tiles_per_image
        first_row = row_base[n - n0] + (r // tw_n - first_tr[n - n0]) * tile
        patch_at[q] = first_row * pitch + r % tw_n * tile
    for c in range(c_lo, c_hi):
        for n in range(n0, n1 + 1):
            plane = x[n, x_c0 + c]
            for k in range(row_base[n - n0 + 1] - row_base[n - n0]):
                pr = first_tr[n - n0] * tile + k
                ri = map_h[pr] if pr < map_h.shape[0] else -1
                at = U((row_base[n - n0] + k) * pitch)
                if ri < 0:
                    for u in range(U(pitch)):
                        rows[at + u] = 0
                else:
                    _padded_row(plane, ri, map_w, lo, hi, shift, rows, at, pitch)
        for qb in range(0, nt, NUMBA_BLOCK):
            nb = U(min(NUMBA_BLOCK, nt - qb))
            for i in range(alpha):
                for j in range(alpha):
                    frm, to = U(i * pitch + j), U((i * alpha + j) * NUMBA_BLOCK)
                    for u in range(nb):
                        w[to + u] = rows[frm + patch_at[U(qb) + u]]
            if tile == 4:
                input_f4(w, bt)
            else:
                input_f2(w, bt)
            for ab in range(aa):
                frm, to = U((aa + ab) * NUMBA_BLOCK), U((ab * nch + c) * nt + qb)
                for u in range(U(nb)):
                    v_flat[to + u] = w[frm + u]


@jit()
def _output_transform(m, t0, tw_n, tiles_per_image, tile, at, k0, bias, y):
    """y[n, k0 + k, tile rows and columns] = (A^T M A) of m[:, k, q] for tile t0 + q,
    plus bias[k0 + k] (m: A^2 x channels x tiles, C-contiguous; bias of m's dtype: a
    literal 0 for no bias had made every sum float64, 1.15-1.5x the transform's
    time), in blocks of NUMBA_BLOCK tiles through a work array (see
    _input_transform).  Each block's output rows are laid out once, tiles side by
    side, and copied a run of tiles at a time: storing each tile's columns straight
    into y (a stride-4 loop per run, 2-14 tiles long on ResNet's planes) took
    0.55-0.77 of the transform's time."""
    alpha, nk, nt = at.shape[1], m.shape[1], m.shape[2]
    aa = alpha * alpha
    w = np.zeros((aa + tile * tile) * NUMBA_BLOCK, m.dtype)
    rows = np.empty(tile * tile * NUMBA_BLOCK, m.dtype)
    oh, ow = y.shape[2], y.shape[3]
    flat = m.ravel()  # m is contiguous: a view
    for k in range(nk):
        add = bias[k0 + k]
        for qb in range(0, nt, NUMBA_BLOCK):
            nb = min(NUMBA_BLOCK, nt - qb)
            for ab in range(aa):
                frm, to = U((ab * nk + k) * nt + qb), U(ab * NUMBA_BLOCK)
                for u in range(U(nb)):
                    w[to + u] = flat[frm + u]
            if tile == 4:
                output_f4(w, at)
            else:
                output_f2(w, at)
            # the block's output rows, its tiles side by side, in one vectorized
            # interleave over all lanes (unsigned offsets: Numba's wraparound of a
            # negative signed index stops LLVM vectorizing, fastconv._numba.pool)
            for i in range(tile):
                frm, to = U((aa + i * tile) * NUMBA_BLOCK), U(i * tile * NUMBA_BLOCK)
                if tile == 4:
                    for u in range(U(NUMBA_BLOCK)):
                        rows[to + U(4) * u] = w[frm + u] + add
                        rows[to + U(4) * u + U(1)] = w[frm + U(NUMBA_BLOCK) + u] + add
                        rows[to + U(4) * u + U(2)] = w[frm + U(2 * NUMBA_BLOCK) + u] + add
                        rows[to + U(4) * u + U(3)] = w[frm + U(3 * NUMBA_BLOCK) + u] + add
                else:
                    for u in range(U(NUMBA_BLOCK)):
                        rows[to + U(2) * u] = w[frm + u] + add
                        rows[to + U(2) * u + U(1)] = w[frm + U(NUMBA_BLOCK) + u] + add
            # then copied out a run of tiles of one tile row at a time, 8 elements per
            # step (one vector: LLVM's own loop takes 32 a pass, more than most runs)
            q = qb
            while q < qb + nb:
                t = t0 + q
                n, r = t // tiles_per_image, t % tiles_per_image
                r0, c0 = r // tw_n * tile, r % tw_n * tile
                run = min(qb + nb - q, tw_n - r % tw_n)
                cols = U(min(run * tile, ow - c0))
                by8 = cols // U(8) * U(8)
                plane = y[n, k0 + k]
                for i in range(min(tile, oh - r0)):
                    dst = plane[r0 + i]
                    frm, to = U((i * NUMBA_BLOCK + q - qb) * tile), U(c0)
                    for e in range(U(0), by8, U(8)):
                        for e8 in range(U(8)):
                            dst[to + e + e8] = rows[frm + e + e8]
                    for e in range(by8, cols):
                        dst[to + e] = rows[frm + e]
                q += run


def _correlate(tile, corr, x, w, bias, y, rotated=False):
    """y = the Correlation corr of x with w (+ bias; w read rotated for backward-data,
    see _filter_transform): chunks of tiles per thread,
    or, where the transformed filters outweigh the whole batch's transformed input,
    blocks of output channels."""
    at, gm, bt = (np.asarray(m, dtype=x.dtype) for m in _winograd.matrices(_variant(tile), x.dtype))
    G, alpha = corr.groups, tile + 2
    cg, kg = corr.c_in // G, corr.c_out // G
    th_n, tw_n = -(-corr.oh // tile), -(-corr.ow // tile)
    per_image, nt_all = th_n * tw_n, corr.n * th_n * tw_n
    threads = get_num_threads()
    u_bytes = G * alpha * alpha * kg * cg * x.itemsize
    bias = np.zeros(corr.c_out, x.dtype) if bias is None else bias  # the API gives it x's dtype
    v_bytes = alpha * alpha * cg * nt_all * x.itemsize  # the whole batch's transformed input
    # by channels: that, and every thread's transformed filters and products of a block,
    # within the workspace limit (as C's fwd_by_channels)
    block = FILTER_BLOCK if nt_all < 64 else WIDE_FILTER_BLOCK
    by_channels_bytes = v_bytes + threads * alpha * alpha * block * (cg + nt_all) * x.itemsize
    if (G == 1 and kg >= threads * FILTER_BLOCK and v_bytes <= min(BY_CHANNELS_V_BYTES, u_bytes)
            and by_channels_bytes <= get_workspace_limit()):
        _correlate_by_channels(tile, corr, x, w, rotated, bias, y, at, gm, bt, block)
        return
    per_tile = alpha * alpha * (cg + kg) * x.itemsize
    budget = max(per_tile, min(CHUNK_BYTES, (get_workspace_limit() - u_bytes) // threads))
    # as many chunks for every thread, of tiles as even as can be: the chunks are dealt
    # to the threads in turn, and ResNet's res2a at mb 8 had been cut into 455, 455, 455
    # and 203 tiles (910 for one thread, 658 for the other)
    chunks = -(-nt_all // (budget // per_tile))
    if G == 1:
        chunks = -(-chunks // threads) * threads
    nt = -(-nt_all // chunks)
    u = np.empty((G, alpha * alpha, kg, cg), x.dtype)
    halves = [(corr.c_out * i // threads, corr.c_out * (i + 1) // threads) for i in range(threads)]
    _run([lambda a=a, b=b: _filter_transform(w, gm, a, b, u, rotated) for a, b in halves if b > a])
    tasks = [(g, t0, min(nt_all, t0 + nt)) for g in range(G) for t0 in range(0, nt_all, nt)]

    def share(mine):
        v_buf = np.empty(alpha * alpha * cg * nt, x.dtype)
        m_buf = np.empty(alpha * alpha * kg * nt, x.dtype)
        for g, t0, t1 in mine:
            v = v_buf[:alpha * alpha * cg * (t1 - t0)].reshape(alpha * alpha, cg, t1 - t0)
            m = m_buf[:alpha * alpha * kg * (t1 - t0)].reshape(alpha * alpha, kg, t1 - t0)
            _input_transform(x, g * cg, 0, cg, corr.map_h, corr.map_w, t0, tw_n, per_image, tile, bt, v)
            np.matmul(u[g], v, out=m)
            _output_transform(m, t0, tw_n, per_image, tile, at, g * kg, bias, y)

    with _blas_single():
        _run([lambda s=tasks[i::threads]: share(s) for i in range(min(threads, len(tasks)))])


def _correlate_by_channels(tile, corr, x, w, rotated, bias, y, at, gm, bt, block):
    """_correlate for few tiles and many channels (deep layers, one group): the
    threads transform the input of the whole batch, a share of the channels each,
    then split the output channels, each transforming its filters ``block`` output
    channels at a time just before their GEMMs.  The transformed filters are never
    written whole (512 x 512 channels: 37.7 MB, whose writing cost more than the
    GEMMs)."""
    alpha, cg, kg = tile + 2, corr.c_in, corr.c_out
    aa, th_n, tw_n = alpha * alpha, -(-corr.oh // tile), -(-corr.ow // tile)
    per_image = th_n * tw_n
    nt_all, threads = corr.n * per_image, get_num_threads()
    c_cuts = [cg * i // threads for i in range(threads + 1)]
    v = np.empty((aa, cg, nt_all), x.dtype)
    _run([lambda i=i: _input_transform(x, 0, c_cuts[i], c_cuts[i + 1], corr.map_h, corr.map_w, 0, tw_n,
                                       per_image, tile, bt, v) for i in range(threads)])

    def share(k_lo, k_hi):
        u_buf = np.empty(aa * block * cg, x.dtype)
        m_buf = np.empty(aa * block * nt_all, x.dtype)
        for k0 in range(k_lo, k_hi, block):
            kb = min(block, k_hi - k0)
            u = u_buf[:aa * kb * cg].reshape(1, aa, kb, cg)
            m = m_buf[:aa * kb * nt_all].reshape(aa, kb, nt_all)
            _filter_transform(w[:, k0:k0 + kb] if rotated else w[k0:k0 + kb], gm, 0, kb, u, rotated)
            np.matmul(u[0], v, out=m)
            _output_transform(m, 0, tw_n, per_image, tile, at, k0, bias, y)

    k_cuts = [kg * i // threads for i in range(threads + 1)]
    with _blas_single():
        _run([lambda i=i: share(k_cuts[i], k_cuts[i + 1]) for i in range(threads)])


def _variant(tile):
    return next(name for name, t in _winograd.VARIANT_TILES.items() if t == tile)


def _kernels(tile):
    from .im2col import conv2d_bwd_filter_im2col

    return _winograd.make_kernels(lambda *args, **kw: _correlate(tile, *args, **kw), conv2d_bwd_filter_im2col)


(conv2d_fwd_winograd_f2x2k3x3, conv2d_bwd_data_winograd_f2x2k3x3,
 conv2d_bwd_filter_winograd_f2x2k3x3) = _kernels(2)
(conv2d_fwd_winograd_f4x4k3x3, conv2d_bwd_data_winograd_f4x4k3x3,
 conv2d_bwd_filter_winograd_f4x4k3x3) = _kernels(4)
