"""Direct convolution in Numba: forward, backward-data, backward-filter.

Numba has no SIMD intrinsics and leaves LLVM's SLP vectorizer off, so the C
kernels' outer-product register tile does not carry over.  What LLVM's loop
vectorizer does well is a loop of several independent *reductions* over
contiguous data, each kept in vector registers.  So every pass is written as a
block of 4 x 4 dot products whose innermost loop runs over a contiguous axis:

- forward and each stride phase of backward-data: one ``_dot_conv`` over a
  channels-last (NHWC) padded source, reducing over input channels;
- backward-filter: tap by tap, the input that tap reads is gathered into a
  pixel-contiguous buffer, and dot products run over chunks of pixels against
  grad_output's channels, both laid out channel-major over the whole batch so
  the chunks stay long however small the images.

Summation order differs from plain left-to-right (``reassoc``), which the error
bound of the tests allows for any order.  Wrappers take validated Params and
arrays; the njit kernels take only arrays and scalars.
"""
from __future__ import annotations

import numpy as np

from .config import jit, prange, use_threads


@jit(parallel=True)
def _gather_nhwc(x, map_h, map_w, out):
    """out[n, i, j, c] = x[n, c, map_h[i], map_w[j]], or 0 where a map is -1."""
    n_batch, c = x.shape[0], x.shape[1]
    for task in prange(n_batch * map_h.size):
        n, i = task // map_h.size, task % map_h.size
        si = map_h[i]
        for j in range(map_w.size):
            sj = map_w[j]
            if si < 0 or sj < 0:
                out[n, i, j, :] = 0
            else:
                for k in range(c):
                    out[n, i, j, k] = x[n, k, si, sj]


@jit(parallel=True)
def _to_nhwc_padded(gy, top, left, out):
    """out[n, top + i, left + j, c] = gy[n, c, i, j]; every other cell of out = 0."""
    n_batch, c, oh, ow = gy.shape
    hs = out.shape[1]
    for task in prange(n_batch * hs):
        n, i = task // hs, task % hs
        si = i - top
        if si < 0 or si >= oh:
            out[n, i, :, :] = 0
            continue
        out[n, i, :left, :] = 0
        out[n, i, left + ow:, :] = 0
        for j in range(ow):
            for k in range(c):
                out[n, i, left + j, k] = gy[n, k, si, j]


@jit(parallel=True)
def _gather_nchw(x, map_h, map_w, out):
    """out[n, c, i, j] = x[n, c, map_h[i], map_w[j]], or 0 where a map is -1."""
    n_batch, c = x.shape[0], x.shape[1]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        for i in range(map_h.size):
            si = map_h[i]
            for j in range(map_w.size):
                sj = map_w[j]
                out[n, k, i, j] = x[n, k, si, sj] if si >= 0 and sj >= 0 else 0


@jit(parallel=True)
def _fold_padded(gxp, map_h, map_w, gx):
    """Adjoint of _gather_nchw: gx[.., map_h[i], map_w[j]] += gxp[.., i, j]."""
    n_batch, c = gx.shape[0], gx.shape[1]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        gx[n, k, :, :] = 0
        for i in range(map_h.size):
            si = map_h[i]
            if si < 0:
                continue
            for j in range(map_w.size):
                sj = map_w[j]
                if sj >= 0:
                    gx[n, k, si, sj] += gxp[n, k, i, j]


@jit(parallel=True)
def _dot_conv(src, tap_h, tap_w, s_h, s_w, w, bias, has_bias, out, oy0, ox0, osy, osx,
              rows, cols, groups):
    """out[n, o, oy0 + i*osy, ox0 + j*osx] = bias[o] + sum over taps (th, tw) and the
    channels c of o's group of src[n, i*s_h + tap_h[th], j*s_w + tap_w[tw], c] * w[o, th, tw, c].

    src is (N, Hs, Ws, C) channels-last; w is (O, NTH, NTW, C // groups); out is NCHW.
    Blocks of 4 pixels (flattened over rows) x 4 output channels; a short block at
    the end repeats its last pixel or channel and stores only the valid sums."""
    n_batch = src.shape[0]
    n_out = w.shape[0]
    cg, og = src.shape[3] // groups, n_out // groups
    npix = rows * cols
    pblocks, oblocks = (npix + 3) // 4, (og + 3) // 4
    for task in prange(n_batch * pblocks):
        n, q0 = task // pblocks, (task % pblocks) * 4
        nq = min(4, npix - q0)
        i0, j0 = divmod(q0, cols)
        i1, j1 = divmod(q0 + min(1, nq - 1), cols)
        i2, j2 = divmod(q0 + min(2, nq - 1), cols)
        i3, j3 = divmod(q0 + min(3, nq - 1), cols)
        for g in range(groups):
            c0 = g * cg
            for ob in range(oblocks):
                o = g * og + ob * 4
                no = min(4, g * og + og - o)
                oa, ob_, oc = o + min(1, no - 1), o + min(2, no - 1), o + min(3, no - 1)
                # The 4 x 4 block is written out here and in _filter_dots: as a shared
                # njit helper it measured 25% slower (not inlined by LLVM), and Numba's
                # inline="always" trips its parfor array analysis.
                z = w.dtype.type(0)
                s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
                s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = z
                for th in range(tap_h.size):
                    r0 = src[n, i0 * s_h + tap_h[th]]
                    r1 = src[n, i1 * s_h + tap_h[th]]
                    r2 = src[n, i2 * s_h + tap_h[th]]
                    r3 = src[n, i3 * s_h + tap_h[th]]
                    for tw in range(tap_w.size):
                        x0 = r0[j0 * s_w + tap_w[tw], c0:c0 + cg]
                        x1 = r1[j1 * s_w + tap_w[tw], c0:c0 + cg]
                        x2 = r2[j2 * s_w + tap_w[tw], c0:c0 + cg]
                        x3 = r3[j3 * s_w + tap_w[tw], c0:c0 + cg]
                        w0, w1, w2, w3 = w[o, th, tw], w[oa, th, tw], w[ob_, th, tw], w[oc, th, tw]
                        for c in range(cg):
                            a0, a1, a2, a3 = x0[c], x1[c], x2[c], x3[c]
                            b = w0[c]
                            s00 += a0 * b; s01 += a1 * b; s02 += a2 * b; s03 += a3 * b  # noqa: E702
                            b = w1[c]
                            s10 += a0 * b; s11 += a1 * b; s12 += a2 * b; s13 += a3 * b  # noqa: E702
                            b = w2[c]
                            s20 += a0 * b; s21 += a1 * b; s22 += a2 * b; s23 += a3 * b  # noqa: E702
                            b = w3[c]
                            s30 += a0 * b; s31 += a1 * b; s32 += a2 * b; s33 += a3 * b  # noqa: E702
                sums = ((s00, s01, s02, s03), (s10, s11, s12, s13),
                        (s20, s21, s22, s23), (s30, s31, s32, s33))
                pix = ((i0, j0), (i1, j1), (i2, j2), (i3, j3))
                for a in range(no):
                    bv = bias[o + a] if has_bias else z
                    row_sums = sums[a]
                    for k in range(nq):
                        out[n, o + a, oy0 + pix[k][0] * osy, ox0 + pix[k][1] * osx] = row_sums[k] + bv


@jit(parallel=True)
def _gather_tap(xp, row0, col0, s_h, s_w, out):
    """out[c, n, i, j] = xp[n, c, row0 + i*s_h, col0 + j*s_w]: the input one tap reads,
    channel-major so that a channel's pixels of the whole batch are contiguous."""
    c, n_batch, oh, ow = out.shape
    for task in prange(n_batch * c):
        n, k = task // c, task % c
        for i in range(oh):
            src = xp[n, k, row0 + i * s_h]
            for j in range(ow):
                out[k, n, i, j] = src[col0 + j * s_w]


@jit(parallel=True)
def _channel_major(gy, out):
    """out[c, n, :, :] = gy[n, c, :, :]."""
    n_batch, c = gy.shape[0], gy.shape[1]
    for task in prange(n_batch * c):
        n, k = task // c, task % c
        out[k, n] = gy[n, k]


@jit(parallel=True)
def _filter_dots(gy, xt, groups, chunk, out):
    """out[o, c] += sum over pixels p of gy[o, p] * xt[c, p], for c in o's group (indexed
    within the group); gy and xt are (channels, all pixels of the batch).

    Chunks of pixels run one after another, and within a chunk threads share out the
    4 x 4 blocks of (output, input) channels, which own disjoint entries of out."""
    n_out, npix = gy.shape
    cg, og = xt.shape[0] // groups, n_out // groups
    ob, cb = (og + 3) // 4, (cg + 3) // 4
    for p_lo in range(0, npix, chunk):
        p_hi = min(npix, p_lo + chunk)
        for task in prange(groups * ob * cb):
            g, blk = task // (ob * cb), task % (ob * cb)
            o0 = g * og + (blk // cb) * 4
            c0 = g * cg + (blk % cb) * 4
            no, nc = min(4, g * og + og - o0), min(4, g * cg + cg - c0)
            # a short block repeats its last channel; only valid sums are kept
            g0, g1 = gy[o0, p_lo:p_hi], gy[o0 + min(1, no - 1), p_lo:p_hi]
            g2, g3 = gy[o0 + min(2, no - 1), p_lo:p_hi], gy[o0 + min(3, no - 1), p_lo:p_hi]
            x0, x1 = xt[c0, p_lo:p_hi], xt[c0 + min(1, nc - 1), p_lo:p_hi]
            x2, x3 = xt[c0 + min(2, nc - 1), p_lo:p_hi], xt[c0 + min(3, nc - 1), p_lo:p_hi]
            # the same 4 x 4 block as in _dot_conv (see there why it is written twice)
            z = out.dtype.type(0)
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = z
            for p in range(p_hi - p_lo):
                a0, a1, a2, a3 = x0[p], x1[p], x2[p], x3[p]
                b = g0[p]
                s00 += a0 * b; s01 += a1 * b; s02 += a2 * b; s03 += a3 * b  # noqa: E702
                b = g1[p]
                s10 += a0 * b; s11 += a1 * b; s12 += a2 * b; s13 += a3 * b  # noqa: E702
                b = g2[p]
                s20 += a0 * b; s21 += a1 * b; s22 += a2 * b; s23 += a3 * b  # noqa: E702
                b = g3[p]
                s30 += a0 * b; s31 += a1 * b; s32 += a2 * b; s33 += a3 * b  # noqa: E702
            sums = ((s00, s01, s02, s03), (s10, s11, s12, s13),
                    (s20, s21, s22, s23), (s30, s31, s32, s33))
            cl = c0 - g * cg
            for a in range(no):
                for t in range(nc):
                    out[o0 + a, cl + t] += sums[a][t]


@jit(parallel=True)
def _bias_grad(gy, gb):
    for oc in prange(gy.shape[1]):
        s = 0.0
        for n in range(gy.shape[0]):
            for r in range(gy.shape[2]):
                for c in range(gy.shape[3]):
                    s += gy[n, oc, r, c]
        gb[oc] = s


def conv2d_fwd_direct(p, x, w, bias, y):
    """y = conv(x, w) + bias; y contiguous."""
    use_threads()
    src = np.empty((p.n, p.hp, p.wp, p.c_in), dtype=p.dtype)
    _gather_nhwc(x, *p.padding_maps, src)
    wt = np.ascontiguousarray(w.transpose(0, 2, 3, 1))
    tap_h = np.arange(p.kh, dtype=np.int64) * p.dh
    tap_w = np.arange(p.kw, dtype=np.int64) * p.dw
    b = bias if bias is not None else np.zeros(1, p.dtype)
    _dot_conv(src, tap_h, tap_w, p.sh, p.sw, wt, b, bias is not None, y, 0, 0, 1, 1,
              p.oh, p.ow, p.groups)


def conv2d_bwd_data_direct(p, gy, w, gx):
    """gx = grad of input: per stride phase, a dot-convolution of padded gy with the
    phase's taps of w rotated 180 degrees."""
    use_threads()
    G, icg, ocg = p.groups, p.c_in // p.groups, p.c_out // p.groups
    top = -(-(p.kh - 1) * p.dh // p.sh)
    left = -(-(p.kw - 1) * p.dw // p.sw)
    hg = top + max(p.oh, -(-p.hp // p.sh))
    wg = left + max(p.ow, -(-p.wp // p.sw))
    src = np.empty((p.n, hg, wg, p.c_out), dtype=p.dtype)
    _to_nhwc_padded(gy, top, left, src)
    # stride 1 writes every cell of the padded gradient; without padding that is gx
    unpadded = p.hp == p.h and p.wp == p.w
    if p.sh > 1 or p.sw > 1:
        gxp = np.zeros((p.n, p.c_in, p.hp, p.wp), dtype=p.dtype)
    else:
        gxp = gx if unpadded else np.empty((p.n, p.c_in, p.hp, p.wp), dtype=p.dtype)
    # (g, ic, oc, kh, kw): this pass's outputs are input channels, it reduces over oc
    wt = w.reshape(G, ocg, icg, p.kh, p.kw).transpose(0, 2, 1, 3, 4)
    no_bias = np.zeros(1, p.dtype)
    for rh in range(p.sh):
        for rw in range(p.sw):
            taps_h = [i for i in range(p.kh) if (rh - i * p.dh) % p.sh == 0]
            taps_w = [j for j in range(p.kw) if (rw - j * p.dw) % p.sw == 0]
            hsub, wsub = -(-(p.hp - rh) // p.sh), -(-(p.wp - rw) // p.sw)
            if not taps_h or not taps_w or hsub <= 0 or wsub <= 0:
                continue
            off_h = np.array([(rh - i * p.dh) // p.sh + top for i in taps_h], dtype=np.int64)
            off_w = np.array([(rw - j * p.dw) // p.sw + left for j in taps_w], dtype=np.int64)
            sub = wt[:, :, :, taps_h][:, :, :, :, taps_w]  # (g, ic, oc, nth, ntw)
            wph = np.ascontiguousarray(sub.transpose(0, 1, 3, 4, 2).reshape(p.c_in, len(taps_h), len(taps_w), ocg))
            _dot_conv(src, off_h, off_w, 1, 1, wph, no_bias, False, gxp, rh, rw, p.sh, p.sw,
                      hsub, wsub, G)
    if gxp is not gx:
        _fold_padded(gxp, *p.padding_maps, gx)


def conv2d_bwd_filter_direct(p, gy, x, gw, gb):
    """gw, gb = grads of weight and bias (either may be None)."""
    use_threads()
    if gb is not None:
        _bias_grad(gy, gb)
    if gw is None:
        return
    xp = np.empty((p.n, p.c_in, p.hp, p.wp), dtype=p.dtype)
    _gather_nchw(x, *p.padding_maps, xp)
    npix = p.n * p.oh * p.ow
    gy_cm = np.empty((p.c_out, p.n, p.oh, p.ow), dtype=p.dtype)
    _channel_major(gy, gy_cm)
    xt = np.empty((p.c_in, p.n, p.oh, p.ow), dtype=p.dtype)
    # pixels per chunk: shorter chunks cost more in per-block reductions than they
    # save in cache misses (measured: 1024+ pixels run 2-4x faster than 64)
    chunk = 4096
    tap_grad = np.empty((p.c_out, p.c_in // p.groups), dtype=p.dtype)
    for kh in range(p.kh):
        for kw in range(p.kw):
            _gather_tap(xp, kh * p.dh, kw * p.dw, p.sh, p.sw, xt)
            tap_grad[...] = 0
            _filter_dots(gy_cm.reshape(p.c_out, npix), xt.reshape(p.c_in, npix), p.groups, chunk, tap_grad)
            gw[:, :, kh, kw] = tap_grad
