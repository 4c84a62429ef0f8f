"""Winograd convolution F(2x2, 3x3) and F(4x4, 3x3) with Numba: njit transforms
around fastconv._numba.gemm's batched GEMM for the element-wise stage (the A * A
GEMMs of one chunk of tiles in one call), as the C backend does around its GEMM.
(NumPy's batched ``matmul``, OpenBLAS on one thread, had run these GEMMs at 56-127
GFLOP/s; with the Numba GEMM, Numba / C on the 3x3 layers of ResNet-50 and VGG-19
went from 0.63-0.83 to 0.77-0.85 forward, docs/winograd.md.)

The input and output transforms run on blocks of NUMBA_BLOCK tiles in a work
array, through functions generated from the exact matrices of
``fastconv._winograd`` (``winograd_blocks``): each keeps one tile in scalars and
LLVM vectorizes it across the block's tiles, with no pass through memory between
the two matrix products (the earlier pass-per-row form spent 35-45 ns a tile on
F(4x4)'s input transform, the generated one 8).  The filter transform works the
same way, on blocks of NUMBA_BLOCK elements of a row panel of the GEMM's packed
A operand.
Threads share the tiles of the batch as in ``fastconv._numba.im2col`` (Python
threads, scratch within the workspace limit but for the transformed filters and
one panel of tiles per thread, as im2col's packed weights and panel); the filters
are transformed once per call, or, for deep layers (_correlate_by_channels), by
each thread a block of output channels at a time.
"""
from __future__ import annotations

import numpy as np

from .. import _winograd
from .._threads import get_num_threads
from .._workspace import get_workspace_limit
from .config import jit
from .gemm import MICRO_ROWS, batched_gemm, panel_columns
from .im2col import _run
from .winograd_blocks import NUMBA_BLOCK, filter_f2, filter_f4, input_f2, input_f4, output_f2, output_f4

U = np.uint64  # see _output_transform
CHUNK_BYTES = 8 * 2**20  # a thread's V and M, at most (in L3)
# output channels transformed at a time by _correlate_by_channels: whole row panels
FILTER_BLOCK = MICRO_ROWS * -(-64 // MICRO_ROWS)
BY_CHANNELS_V_BYTES = 16 * 2**20  # its transformed input of the whole batch, at most


@jit()
def _filter_transform(w, gm, kg, p0, p1, u, rotated):
    """u[g, a * A + b, r] = the packed A operand (see gemm.batched_gemm) of row panel r
    of (G f G^T)[a, b], for the row panels p0 <= g * panels + r < p1 (u: groups x A^2
    x panels x C x MICRO_ROWS, C-contiguous; rows past kg zero), f = w[g * kg + k, c]
    or, rotated (backward-data), w[g * C + c, k] turned 180 degrees.

    A panel of one position is C x MICRO_ROWS elements in a row; it is transformed
    NUMBA_BLOCK of them at a time through the generated block transform (see
    _input_transform), so each block is stored as one contiguous run.  (One output
    channel a block, with the channels' results stored MICRO_ROWS apart, took 2.5-3x
    as long on 512 x 512 channels.)"""
    alpha, panels, cg, mr = gm.shape[0], u.shape[2], u.shape[3], MICRO_ROWS
    aa, span = alpha * alpha, cg * mr
    work = np.zeros((9 + aa) * NUMBA_BLOCK, w.dtype)
    u_flat = u.ravel()  # contiguous: a view
    for gp in range(p0, p1):
        g, r = gp // panels, gp % panels
        for e0 in range(0, span, NUMBA_BLOCK):
            nb = min(NUMBA_BLOCK, span - e0)
            if nb < NUMBA_BLOCK:  # lanes past the panel: zeros, never denormals
                work[:9 * NUMBA_BLOCK] = 0
            for q in range(nb):
                c, k = (e0 + q) // mr, r * mr + (e0 + q) % mr
                for i in range(3):
                    for j in range(3):
                        if k >= kg:
                            tap = w.dtype.type(0)
                        elif rotated:
                            tap = w[g * cg + c, k, 2 - i, 2 - j]
                        else:
                            tap = w[g * kg + k, c, i, j]
                        work[(i * 3 + j) * NUMBA_BLOCK + q] = tap
            if alpha == 6:
                filter_f4(work, gm)
            else:
                filter_f2(work, gm)
            for ab in range(aa):
                frm, to = U((9 + ab) * NUMBA_BLOCK), U(((g * aa + ab) * panels + r) * span + e0)
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
def _input_transform(x, x_c0, c_lo, c_hi, map_h, map_w, t0, nt, tw_n, tiles_per_image, tile, bt, v):
    """v[a * A + b, c, q] = (B^T d B)[a, b] for the patch d of tile t0 + q, q < nt, of
    input channel x_c0 + c, c_lo <= c < c_hi (v: A^2 x channels x columns >= nt,
    C-contiguous: it is written through a flat view, so threads can fill their
    channels of one v; the columns past nt, up to a multiple of gemm's NR, hold
    finite values of no tile); map_h / map_w give the input row / column of every
    padded one, -1 (or past their end) for a zero.

    Per channel, the padded rows the chunk's tiles read are built once; each tap
    (i, j) of a block of NUMBA_BLOCK tiles is gathered from there into a work array,
    at every tile's patch start (computed once for all channels), and the block
    transformed by the generated winograd_blocks functions.
    (The rows had also been split by column phase so that a patch column lay at unit
    stride; since the gather goes through each tile's patch start anyway, that pass
    only cost time: without it the transform took 0.7-0.8 of its time on ResNet-50's
    four 3x3 layers, one thread.)"""
    alpha, nch, columns = bt.shape[0], v.shape[1], v.shape[2]
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
            # up to the columns' end: a short block's lanes past nb hold the previous
            # block's values, or zeros
            lanes = U(min(NUMBA_BLOCK, columns - qb))
            for ab in range(aa):
                frm, to = U((aa + ab) * NUMBA_BLOCK), U((ab * nch + c) * columns + qb)
                for u in range(lanes):
                    v_flat[to + u] = w[frm + u]


@jit()
def _output_transform(m, nk, t0, nt, tw_n, tiles_per_image, tile, at, k0, bias, y):
    """y[n, k0 + k, tile rows and columns] = (A^T M A) of m[:, k, q] for tile t0 + q,
    k < nk, q < nt, plus bias[k0 + k] (m: A^2 x rows x columns, C-contiguous, as
    gemm.batched_gemm writes it, rows >= nk, columns >= nt; bias of m's dtype: a
    literal 0 for no bias had made every sum float64, 1.15-1.5x the transform's
    time), in blocks of NUMBA_BLOCK tiles through a work array (see
    _input_transform).  Each block's output rows are laid out once, tiles side by
    side, and copied a run of tiles at a time: storing each tile's columns straight
    into y (a stride-4 loop per run, 2-14 tiles long on ResNet's planes) took
    0.55-0.77 of the transform's time."""
    alpha, rows_m, ldm = at.shape[1], m.shape[1], m.shape[2]
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
                frm, to = U((ab * rows_m + k) * ldm + qb), U(ab * NUMBA_BLOCK)
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
    aa, cg, kg = alpha * alpha, corr.c_in // G, corr.c_out // G
    th_n, tw_n = -(-corr.oh // tile), -(-corr.ow // tile)
    per_image, nt_all = th_n * tw_n, corr.n * th_n * tw_n
    threads = get_num_threads()
    mr, nr = MICRO_ROWS, panel_columns(x.dtype)
    row_panels = -(-kg // mr)
    u_bytes = G * aa * row_panels * mr * cg * x.itemsize
    bias = np.zeros(corr.c_out, x.dtype) if bias is None else bias  # the API gives it x's dtype
    v_bytes = aa * cg * _whole_panels(nt_all, nr) * x.itemsize  # the whole batch's transformed input
    # by channels: that, and every thread's transformed filters and products of a block,
    # within the workspace limit (as C's fwd_by_channels)
    by_channels_bytes = v_bytes + threads * aa * FILTER_BLOCK * (cg + nt_all + nr) * x.itemsize
    if (G == 1 and kg >= threads * FILTER_BLOCK and v_bytes <= min(BY_CHANNELS_V_BYTES, u_bytes)
            and by_channels_bytes <= get_workspace_limit()):
        _correlate_by_channels(tile, corr, x, w, rotated, bias, y, at, gm, bt)
        return
    per_tile = aa * (cg + row_panels * mr) * x.itemsize
    budget = max(per_tile * nr, min(CHUNK_BYTES, (get_workspace_limit() - u_bytes) // threads))
    # as many chunks for every thread, of tiles as even as can be (whole panels but the
    # last): the chunks are dealt to the threads in turn, and ResNet's res2a at mb 8 had
    # been cut into 455, 455, 455 and 203 tiles (910 for one thread, 658 for the other)
    chunks = -(-nt_all // (budget // per_tile // nr * nr))
    if G == 1:
        chunks = -(-chunks // threads) * threads
    nt = _whole_panels(-(-nt_all // chunks), nr)
    u = np.empty((G, aa, row_panels, cg, mr), x.dtype)
    halves = [(G * row_panels * i // threads, G * row_panels * (i + 1) // threads) for i in range(threads)]
    _run([lambda a=a, b=b: _filter_transform(w, gm, kg, a, b, u, rotated) for a, b in halves if b > a])
    tasks = [(g, t0, min(nt_all, t0 + nt)) for g in range(G) for t0 in range(0, nt_all, nt)]

    def share(mine):
        v_buf = np.empty(aa * cg * nt, x.dtype)
        m_buf = np.empty(aa * row_panels * mr * nt, x.dtype)
        for g, t0, t1 in mine:
            columns = _whole_panels(t1 - t0, nr)
            v = v_buf[:aa * cg * columns].reshape(aa, cg, columns)
            m = m_buf[:aa * row_panels * mr * columns].reshape(aa, row_panels * mr, columns)
            _input_transform(x, g * cg, 0, cg, corr.map_h, corr.map_w, t0, t1 - t0, tw_n, per_image, tile, bt, v)
            batched_gemm(u[g].ravel(), v.ravel(), m.ravel(), row_panels, columns, cg)
            _output_transform(m, kg, t0, t1 - t0, tw_n, per_image, tile, at, g * kg, bias, y)

    _run([lambda s=tasks[i::threads]: share(s) for i in range(min(threads, len(tasks)))])


def _correlate_by_channels(tile, corr, x, w, rotated, bias, y, at, gm, bt):
    """_correlate for few tiles and many channels (deep layers, one group): the
    threads transform the input of the whole batch, a share of the channels each,
    then split the output channels (in whole row panels), each transforming its
    filters FILTER_BLOCK output channels at a time just before their GEMMs.  The
    transformed filters are never written whole (512 x 512 channels: 37.7 MB, whose
    writing cost more than the GEMMs)."""
    alpha, cg, kg = tile + 2, corr.c_in, corr.c_out
    aa, th_n, tw_n = alpha * alpha, -(-corr.oh // tile), -(-corr.ow // tile)
    per_image = th_n * tw_n
    nt_all, threads = corr.n * per_image, get_num_threads()
    mr, nr = MICRO_ROWS, panel_columns(x.dtype)
    columns = _whole_panels(nt_all, nr)
    c_cuts = [cg * i // threads for i in range(threads + 1)]
    v = np.empty((aa, cg, columns), x.dtype)
    _run([lambda i=i: _input_transform(x, 0, c_cuts[i], c_cuts[i + 1], corr.map_h, corr.map_w, 0, nt_all, tw_n,
                                       per_image, tile, bt, v) for i in range(threads)])

    def share(k_lo, k_hi):
        u_buf = np.empty(aa * FILTER_BLOCK * cg, x.dtype)
        m_buf = np.empty(aa * FILTER_BLOCK * columns, x.dtype)
        for k0 in range(k_lo, k_hi, FILTER_BLOCK):
            kb = min(FILTER_BLOCK, k_hi - k0)
            row_panels = -(-kb // mr)
            u = u_buf[:aa * row_panels * cg * mr].reshape(1, aa, row_panels, cg, mr)
            m = m_buf[:aa * row_panels * mr * columns].reshape(aa, row_panels * mr, columns)
            _filter_transform(w[:, k0:k0 + kb] if rotated else w[k0:k0 + kb], gm, kb, 0, row_panels, u, rotated)
            batched_gemm(u.ravel(), v.ravel(), m.ravel(), row_panels, columns, cg)
            _output_transform(m, kb, 0, nt_all, tw_n, per_image, tile, at, k0, bias, y)

    k_cuts = [kg * i // threads // mr * mr for i in range(threads)] + [kg]
    _run([lambda i=i: share(k_cuts[i], k_cuts[i + 1]) for i in range(threads)])


def _whole_panels(tiles, nr):
    """tiles rounded up to a multiple of the GEMM's panel width nr."""
    return -(-tiles // nr) * nr


def _variant(tile):
    return next(name for name, t in _winograd.VARIANT_TILES.items() if t == tile)


def _kernels(tile):
    from .im2col import conv2d_bwd_filter_im2col

    return _winograd.make_kernels(lambda *args, **kw: _correlate(tile, *args, **kw), conv2d_bwd_filter_im2col)


(conv2d_fwd_winograd_f2x2k3x3, conv2d_bwd_data_winograd_f2x2k3x3,
 conv2d_bwd_filter_winograd_f2x2k3x3) = _kernels(2)
(conv2d_fwd_winograd_f4x4k3x3, conv2d_bwd_data_winograd_f4x4k3x3,
 conv2d_bwd_filter_winograd_f4x4k3x3) = _kernels(4)
