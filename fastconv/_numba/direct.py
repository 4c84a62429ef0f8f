"""Direct convolution in Numba: forward, backward-data, backward-filter.

The same algorithm as csrc/conv/direct_impl.inc: the input is gathered through
the padding maps, then one "gather convolution" kernel serves the forward pass
and every stride phase of the backward-data pass, with output channels in the
innermost loop (a block of ``BLOCK`` channels that LLVM vectorizes); the
backward-filter pass reduces pixel chunks into thread-private partial sums.
Wrappers take validated Params and arrays; the njit kernels take only arrays
and scalars.
"""
from __future__ import annotations

import numba
import numpy as np

from .._threads import get_num_threads
from .config import jit, prange

BLOCK = 32  # output channels per register block (a multiple of every vector width)
TILE = 8    # output pixels per tile


@jit(parallel=True)
def _gather_padded(x, map_h, map_w, out):
    n, c = x.shape[0], x.shape[1]
    for p in prange(n * c):
        i_n, i_c = p // c, p % c
        for i in range(map_h.size):
            si = map_h[i]
            for j in range(map_w.size):
                sj = map_w[j]
                out[i_n, i_c, i, j] = x[i_n, i_c, si, sj] if si >= 0 and sj >= 0 else 0


@jit(parallel=True)
def _fold_padded(gxp, map_h, map_w, gx):
    n, c = gx.shape[0], gx.shape[1]
    for p in prange(n * c):
        i_n, i_c = p // c, p % c
        gx[i_n, i_c, :, :] = 0
        for i in range(map_h.size):
            si = map_h[i]
            if si < 0:
                continue
            for j in range(map_w.size):
                sj = map_w[j]
                if sj >= 0:
                    gx[i_n, i_c, si, sj] += gxp[i_n, i_c, i, j]


@jit(parallel=True)
def _gather_conv(a, a_n, a_g, a_row, a_col, roff, wpk, bias, has_bias, out, o_n, o_c, o_row,
                 o_col, o_base, n_batch, groups, nblk, cg_out, rows, cols):
    """out[n, g*cg_out + c, row, col] = sum_r a[base + roff[r]] * wpk[g, blk, r, c]
    (+ bias), with base = n*a_n + g*a_g + row*a_row + col*a_col; the output offset is
    o_base + n*o_n + channel*o_c + row*o_row + col*o_col."""
    R = roff.size
    tasks = n_batch * groups * nblk * rows
    for task in prange(tasks):
        row = task % rows
        blk = (task // rows) % nblk
        g = (task // rows // nblk) % groups
        n = task // (rows * nblk * groups)
        acc = np.empty((TILE, BLOCK), dtype=out.dtype)
        c0 = g * cg_out + blk * BLOCK
        nv = min(BLOCK, cg_out - blk * BLOCK)
        a_base = n * a_n + g * a_g + row * a_row
        o_row_base = o_base + n * o_n + c0 * o_c + row * o_row
        for col0 in range(0, cols, TILE):
            tt = min(TILE, cols - col0)
            acc[:, :] = 0
            for r in range(R):
                ar = a_base + col0 * a_col + roff[r]
                for t in range(tt):
                    xv = a[ar + t * a_col]
                    for v in range(BLOCK):
                        acc[t, v] += xv * wpk[g, blk, r, v]
            for v in range(nv):
                bv = bias[c0 + v] if has_bias else 0.0
                for t in range(tt):
                    out[o_row_base + v * o_c + (col0 + t) * o_col] = acc[t, v] + bv


@jit(parallel=True)
def _filter_partials(xf, a_n, a_row, a_col, toff, gy, part, groups, icg_plane, chunk):
    """part[th, g, blk, q, v] = sum over this thread's pixels of x[q-tap] * gy[oc]."""
    n_batch, c_out, oh, ow = gy.shape
    nthreads, _, nblk, Q, _ = part.shape
    ocg = c_out // groups
    P = n_batch * oh * ow
    nchunks = (P + chunk - 1) // chunk
    for th in prange(nthreads):
        lo = nchunks * th // nthreads
        hi = nchunks * (th + 1) // nthreads
        gyt = np.empty((chunk, BLOCK), dtype=gy.dtype)
        roff = np.empty(chunk, dtype=np.int64)
        for ci in range(lo, hi):
            p0 = ci * chunk
            rc = min(chunk, P - p0)
            for r in range(rc):
                p = p0 + r
                n, pix = p // (oh * ow), p % (oh * ow)
                roff[r] = n * a_n + (pix // ow) * a_row + (pix % ow) * a_col
            for g in range(groups):
                for blk in range(nblk):
                    for r in range(rc):
                        p = p0 + r
                        n, pix = p // (oh * ow), p % (oh * ow)
                        for v in range(BLOCK):
                            o = blk * BLOCK + v
                            gyt[r, v] = gy[n, g * ocg + o, pix // ow, pix % ow] if o < ocg else 0
                    for q in range(Q):
                        tq = g * icg_plane + toff[q]
                        for r in range(rc):
                            xv = xf[roff[r] + tq]
                            for v in range(BLOCK):
                                part[th, g, blk, q, v] += xv * gyt[r, v]


def _padded_input(p, x):
    mh, mw = p.padding_maps
    xp = np.empty((p.n, p.c_in, p.hp, p.wp), dtype=p.dtype)
    _gather_padded(x, mh, mw, xp)
    return xp


def _use_threads():
    numba.set_num_threads(get_num_threads())


def _pack_blocks(w2, groups):
    """(C, R) weights grouped along C -> (groups, nblk, R, BLOCK), zero-padded."""
    c, R = w2.shape
    cg = c // groups
    nblk = -(-cg // BLOCK)
    packed = np.zeros((groups, nblk * BLOCK, R), dtype=w2.dtype)
    packed[:, :cg, :] = w2.reshape(groups, cg, R)
    return np.ascontiguousarray(packed.reshape(groups, nblk, BLOCK, R).transpose(0, 1, 3, 2)), nblk


def conv2d_fwd_direct(p, x, w, bias, y):
    """y = conv(x, w) + bias; y contiguous."""
    _use_threads()
    xp = _padded_input(p, x)
    icg, ksz = p.c_in // p.groups, p.kh * p.kw
    wpk, nblk = _pack_blocks(w.reshape(p.c_out, icg * ksz), p.groups)
    ic, i, j = np.unravel_index(np.arange(icg * ksz), (icg, p.kh, p.kw))
    roff = (ic * p.hp * p.wp + i * p.dh * p.wp + j * p.dw).astype(np.int64)
    b = bias if bias is not None else np.zeros(1, p.dtype)
    _gather_conv(xp.reshape(-1), p.c_in * p.hp * p.wp, icg * p.hp * p.wp, p.sh * p.wp, p.sw,
                 roff, wpk, b, bias is not None, y.reshape(-1), p.c_out * p.oh * p.ow,
                 p.oh * p.ow, p.ow, 1, 0, p.n, p.groups, nblk, p.c_out // p.groups, p.oh, p.ow)


def conv2d_bwd_data_direct(p, gy, w, gx):
    """gx = grad of input: per stride phase, a gather convolution of padded gy."""
    _use_threads()
    G, icg, ocg = p.groups, p.c_in // p.groups, p.c_out // p.groups
    top = -(-(p.kh - 1) * p.dh // p.sh)
    left = -(-(p.kw - 1) * p.dw // p.sw)
    hg = top + max(p.oh, -(-p.hp // p.sh))
    wg = left + max(p.ow, -(-p.wp // p.sw))
    gyp = np.zeros((p.n, p.c_out, hg, wg), dtype=p.dtype)
    gyp[:, :, top:top + p.oh, left:left + p.ow] = gy
    gxp = np.zeros((p.n, p.c_in, p.hp, p.wp), dtype=p.dtype)
    # w as (g, ic, oc, kh, kw): input channels are this pass's outputs
    wt = w.reshape(G, ocg, icg, p.kh, p.kw).transpose(0, 2, 1, 3, 4)
    dummy_bias = np.zeros(1, p.dtype)
    for rh in range(p.sh):
        for rw in range(p.sw):
            taps_h = [i for i in range(p.kh) if (rh - i * p.dh) % p.sh == 0]
            taps_w = [j for j in range(p.kw) if (rw - j * p.dw) % p.sw == 0]
            hsub, wsub = -(-(p.hp - rh) // p.sh), -(-(p.wp - rw) // p.sw)
            if not taps_h or not taps_w or hsub <= 0 or wsub <= 0:
                continue
            e_h = np.array([(rh - i * p.dh) // p.sh for i in taps_h], dtype=np.int64)
            e_w = np.array([(rw - j * p.dw) // p.sw for j in taps_w], dtype=np.int64)
            roff = ((np.arange(ocg)[:, None, None] * hg + e_h[None, :, None] + top) * wg
                    + e_w[None, None, :] + left).reshape(-1)
            sub = wt[:, :, :, taps_h][:, :, :, :, taps_w]
            wpk, nblk = _pack_blocks(sub.reshape(p.c_in, -1), G)
            _gather_conv(gyp.reshape(-1), p.c_out * hg * wg, ocg * hg * wg, wg, 1, roff, wpk,
                         dummy_bias, False, gxp.reshape(-1), p.c_in * p.hp * p.wp, p.hp * p.wp,
                         p.sh * p.wp, p.sw, rh * p.wp + rw, p.n, G, nblk, icg, hsub, wsub)
    _fold_padded(gxp, *p.padding_maps, gx)


@jit(parallel=True)
def _bias_grad(gy, gb):
    for oc in prange(gy.shape[1]):
        s = 0.0
        for n in range(gy.shape[0]):
            s += np.sum(gy[n, oc].astype(np.float64))
        gb[oc] = s


def conv2d_bwd_filter_direct(p, gy, x, gw, gb):
    """gw, gb = grads of weight and bias (either may be None)."""
    _use_threads()
    if gb is not None:
        _bias_grad(gy, gb)
    if gw is None:
        return
    icg, ocg, ksz = p.c_in // p.groups, p.c_out // p.groups, p.kh * p.kw
    xp = _padded_input(p, x)
    ic, i, j = np.unravel_index(np.arange(icg * ksz), (icg, p.kh, p.kw))
    toff = ((ic * p.hp + i * p.dh) * p.wp + j * p.dw).astype(np.int64)
    nblk = -(-ocg // BLOCK)
    nthreads = get_num_threads()
    part = np.zeros((nthreads, p.groups, nblk, icg * ksz, BLOCK), dtype=p.dtype)
    chunk = max(16, min(512, 8192 // (p.groups * nblk * BLOCK)))
    _filter_partials(xp.reshape(-1), p.c_in * p.hp * p.wp, p.sh * p.wp, p.sw, toff, gy, part,
                     p.groups, icg * p.hp * p.wp, chunk)
    total = part.sum(axis=0)  # (g, nblk, Q, BLOCK)
    per_oc = total.transpose(0, 1, 3, 2).reshape(p.groups, nblk * BLOCK, icg * ksz)[:, :ocg]
    gw[...] = per_oc.reshape(gw.shape)
