"""Convolution by im2col + GEMM with Numba: the column matrices are built (and
folded back, col2im) by njit kernels; the matrix products are NumPy's ``matmul``
(OpenBLAS), stacked over images and groups so one call covers a whole chunk.

For images n and groups g the columns are ``col[n, g, r, j]``, one row per filter
tap r = (ci, ki, kj) of the group and one column per output pixel j.  Then

- forward:          y[n, g] = W[g] @ col[n, g]
- backward-data:    dcol[n, g] = W[g]^T @ gy[n, g], folded into dx by col2im
- backward-filter:  dw[g] += gy[n, g] @ col[n, g]^T, summed over images

The columns of a call are built a chunk at a time, several whole images or part
of one, so they never take more than the workspace limit.  BLAS runs on
fastconv's thread setting (threadpoolctl).
"""
from __future__ import annotations

import numpy as np

from .._workspace import get_workspace_limit
from .config import jit, prange, use_threads


@jit(parallel=True)
def _im2col(x, n0, p0, colmap, map_h, kh, kw, sh, dh, ow, col):
    """col[i, g, r, j] = input of output pixel p0 + j of image n0 + i at tap r of
    group g; colmap[kj, oj] is the input column of output column oj at kernel
    column kj (or -1, padding), map_h the padded-row map."""
    nimg, groups, k, nc = col.shape
    cg = k // (kh * kw)
    for t in prange(nimg * groups * k):
        i, g, r = t // (groups * k), t // k % groups, t % k
        ci, ki, kj = g * cg + r // (kh * kw), r // kw % kh, r % kw
        oi, oj = (p0 // ow), p0 % ow
        for j in range(nc):
            sr = map_h[oi * sh + ki * dh]
            sc = colmap[kj, oj]
            col[i, g, r, j] = x[n0 + i, ci, sr, sc] if sr >= 0 and sc >= 0 else 0
            oj += 1
            if oj == ow:
                oj = 0
                oi += 1


@jit(parallel=True)
def _col2im(dcol, n0, p0, colmap, map_h, kh, kw, sh, dh, ow, dx):
    """dx[n0 + i, channels of g] += the columns dcol[i, g] folded back (the adjoint of
    _im2col).  One (image, channel) plane per iteration, so no two write one element."""
    nimg, groups, k, nc = dcol.shape
    cg = k // (kh * kw)
    for t in prange(nimg * groups * cg):
        i, g, c = t // (groups * cg), t // cg % groups, t % cg
        for q in range(kh * kw):
            ki, kj = q // kw, q % kw
            r = c * kh * kw + q
            oi, oj = (p0 // ow), p0 % ow
            for j in range(nc):
                sr = map_h[oi * sh + ki * dh]
                sc = colmap[kj, oj]
                if sr >= 0 and sc >= 0:
                    dx[n0 + i, g * cg + c, sr, sc] += dcol[i, g, r, j]
                oj += 1
                if oj == ow:
                    oj = 0
                    oi += 1


def _blas_limit():
    """A context that runs NumPy's BLAS on fastconv's thread setting."""
    from threadpoolctl import ThreadpoolController

    from .._threads import get_num_threads

    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=get_num_threads(), user_api="blas")


_controller = None


TABLES_BYTES = 64 * 1024  # index tables and bookkeeping, kept out of the column budget


def _chunks(p, k, reserved):
    """(n0, n1, p0, p1) pieces of the batch x pixels whose columns (groups x k rows
    each) fit in the workspace limit minus ``reserved`` bytes: runs of whole
    images, or pixel ranges of one image when one image does not fit."""
    pixels = p.oh * p.ow
    per_pixel = p.groups * k * p.dtype.itemsize
    budget = max(get_workspace_limit() - reserved - TABLES_BYTES, per_pixel)
    images = budget // (per_pixel * pixels)
    if images >= 1:
        for n0 in range(0, p.n, images):
            yield n0, min(p.n, n0 + images), 0, pixels
    else:
        step = max(1, budget // per_pixel)
        for n0 in range(p.n):
            for p0 in range(0, pixels, step):
                yield n0, n0 + 1, p0, min(pixels, p0 + step)


def _buffer(p, k, chunks):
    """One scratch array for the largest chunk; each chunk takes a view of it (a new
    array per chunk would hold two chunks at once while the next is allocated)."""
    size = max((n1 - n0) * (p1 - p0) for n0, n1, p0, p1 in chunks)
    return np.empty(size * p.groups * k, dtype=p.dtype)


def _view(buf, shape):
    return buf[:int(np.prod(shape))].reshape(shape)


def _geometry(p):
    mh, mw = p.padding_maps
    colmap = np.array([[mw[oj * p.sw + kj * p.dw] for oj in range(p.ow)] for kj in range(p.kw)],
                      dtype=np.int64).reshape(p.kw, p.ow)
    return colmap, mh, (p.kh, p.kw, p.sh, p.dh, p.ow)


def _per_group(p, a):
    """(n, G, channels per group, pixels) view of an NCHW array."""
    return a.reshape(a.shape[0], p.groups, a.shape[1] // p.groups, a.shape[2] * a.shape[3])


def conv2d_fwd_im2col(p, x, w, bias, y):
    """y = conv(x, w) + bias; y contiguous."""
    use_threads()
    G, k = p.groups, p.c_in // p.groups * p.kh * p.kw
    wg = w.reshape(G, p.c_out // G, k)
    yg = _per_group(p, y)
    colmap, mh, geo = _geometry(p)
    chunks = list(_chunks(p, k, 0))
    buf = _buffer(p, k, chunks)
    with _blas_limit():
        for n0, n1, p0, p1 in chunks:
            col = _view(buf, (n1 - n0, G, k, p1 - p0))
            _im2col(x, n0, p0, colmap, mh, *geo, col)
            np.matmul(wg, col, out=yg[n0:n1, :, :, p0:p1])
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)


def conv2d_bwd_data_im2col(p, gy, w, gx):
    """gx = grad of input: per chunk, W^T @ gy, folded back by col2im."""
    use_threads()
    G, k = p.groups, p.c_in // p.groups * p.kh * p.kw
    wt = w.reshape(G, p.c_out // G, k).transpose(0, 2, 1)
    gyg = _per_group(p, gy)
    colmap, mh, geo = _geometry(p)
    gx[...] = 0
    chunks = list(_chunks(p, k, 0))
    buf = _buffer(p, k, chunks)
    with _blas_limit():
        for n0, n1, p0, p1 in chunks:
            dcol = np.matmul(wt, gyg[n0:n1, :, :, p0:p1], out=_view(buf, (n1 - n0, G, k, p1 - p0)))
            _col2im(dcol, n0, p0, colmap, mh, *geo, gx)


def conv2d_bwd_filter_im2col(p, gy, x, gw, gb):
    """gw, gb = grads of weight and bias (either may be None)."""
    use_threads()
    if gb is not None:
        gy.sum(axis=(0, 2, 3), out=gb)
    if gw is None:
        return
    G, k = p.groups, p.c_in // p.groups * p.kh * p.kw
    gwg = gw.reshape(G, p.c_out // G, k)
    gwg[...] = 0
    gyg = _per_group(p, gy)
    colmap, mh, geo = _geometry(p)
    # the per-image products (G x ocg x k) come out of the workspace too
    reserved = gw.nbytes
    chunks = list(_chunks(p, k, reserved))
    buf = _buffer(p, k, chunks)
    product = np.empty_like(gwg)
    with _blas_limit():
        for n0, n1, p0, p1 in chunks:
            col = _view(buf, (n1 - n0, G, k, p1 - p0))
            _im2col(x, n0, p0, colmap, mh, *geo, col)
            for i in range(n1 - n0):
                gwg += np.matmul(gyg[n0 + i, :, :, p0:p1], col[i].transpose(0, 2, 1), out=product)
