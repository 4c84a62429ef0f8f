"""Convolution by im2col + GEMM with Numba: the column matrices are built (and
folded back, col2im) by njit kernels; the matrix products are NumPy's ``matmul``
(OpenBLAS), stacked over images and groups so one call covers a whole chunk.

For images n and groups g the columns are ``col[n, g, r, j]``, one row per filter
tap r = (ci, ki, kj) of the group and one column per output pixel j.  Then

- forward:          y[n, g] = W[g] @ col[n, g]
- backward-data:    dcol[n, g] = W[g]^T @ gy[n, g], folded into dx by col2im
- backward-filter:  dw[g] += gy[n, g] @ col[n, g]^T, summed over images

The work is shared out as in the C backend: each of fastconv's threads (Python
threads here; the njit kernels and BLAS release the GIL) takes its own chunks,
several whole images or part of one, builds their columns in its own scratch and
multiplies them with single-threaded BLAS.  (Parallel im2col followed by
multithreaded BLAS measured 2-4x slower: OpenBLAS's idle threads spin after
every call and took the cores from the im2col that followed.)  The scratch of
all threads together stays within the workspace limit.
"""
from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._threads import get_num_threads
from .._workspace import get_workspace_limit
from .config import jit

TABLES_BYTES = 64 * 1024  # index tables and bookkeeping, kept out of the column budget


@jit()
def _edge(dst, j, src, colmap_row, o0, o1, oj):
    """dst[j + o - oj] = src[colmap_row[o]] (0 where it is -1) for o0 <= o < o1."""
    for o in range(o0, o1):
        c = colmap_row[o]
        dst[j + o - oj] = src[c] if c >= 0 else 0


@jit()
def _im2col(x, n0, p0, colmap, lo, hi, map_h, kh, kw, sh, dh, ow, col):
    """col[i, g, r, j] = input of output pixel p0 + j of image n0 + i at tap r of
    group g; colmap[kj, oj] is the input column of output column oj at kernel
    column kj (or -1, padding), lo[kj] <= oj < hi[kj] the run where it advances by
    one (copied as a block), map_h the padded-row map."""
    nimg, groups, k, nc = col.shape
    cg = k // (kh * kw)
    for i in range(nimg):
        for g in range(groups):
            for r in range(k):
                ci, ki, kj = g * cg + r // (kh * kw), r // kw % kh, r % kw
                dst = col[i, g, r]
                oi, oj, j = p0 // ow, p0 % ow, 0
                while j < nc:
                    seg = min(ow - oj, nc - j)
                    sr = map_h[oi * sh + ki * dh]
                    if sr < 0:
                        dst[j:j + seg] = 0
                    else:
                        src = x[n0 + i, ci, sr]
                        a, b = max(lo[kj], oj), min(hi[kj], oj + seg)
                        if a < b:
                            # a slice copy: indexing with j + o - oj would keep
                            # LLVM from vectorizing (negative-index wraparound)
                            c0 = colmap[kj, a]
                            dst[j + a - oj:j + b - oj] = src[c0:c0 + b - a]
                            _edge(dst, j, src, colmap[kj], oj, a, oj)
                            _edge(dst, j, src, colmap[kj], b, oj + seg, oj)
                        else:
                            _edge(dst, j, src, colmap[kj], oj, oj + seg, oj)
                    j += seg
                    oi, oj = oi + 1, 0


# _col2im mirrors _im2col loop for loop (its adjoint).  One kernel with a "fold"
# flag measured 15-25 % slower on ResNet's 3x3 64-channel layer (the flag's
# branches stayed in the copy loops), so the pair stays written twice.
@jit()
def _edge_add(dst, j, src, colmap_row, o0, o1, oj):
    """dst[colmap_row[o]] += src[j + o - oj] where it is not -1, for o0 <= o < o1."""
    for o in range(o0, o1):
        c = colmap_row[o]
        if c >= 0:
            dst[c] += src[j + o - oj]


@jit()
def _col2im(dcol, n0, p0, colmap, lo, hi, map_h, kh, kw, sh, dh, ow, dx):
    """dx[n0 + i, channels of g] += the columns dcol[i, g] folded back (the adjoint of
    _im2col, run by run like it)."""
    nimg, groups, k, nc = dcol.shape
    cg = k // (kh * kw)
    for i in range(nimg):
        for g in range(groups):
            for r in range(k):
                ci, ki, kj = g * cg + r // (kh * kw), r // kw % kh, r % kw
                src = dcol[i, g, r]
                oi, oj, j = p0 // ow, p0 % ow, 0
                while j < nc:
                    seg = min(ow - oj, nc - j)
                    sr = map_h[oi * sh + ki * dh]
                    if sr >= 0:
                        dst = dx[n0 + i, ci, sr]
                        a, b = max(lo[kj], oj), min(hi[kj], oj + seg)
                        if a < b:
                            c0 = colmap[kj, a]
                            dst[c0:c0 + b - a] += src[j + a - oj:j + b - oj]
                            _edge_add(dst, j, src, colmap[kj], oj, a, oj)
                            _edge_add(dst, j, src, colmap[kj], b, oj + seg, oj)
                        else:
                            _edge_add(dst, j, src, colmap[kj], oj, oj + seg, oj)
                    j += seg
                    oi, oj = oi + 1, 0


def _blas_single():
    """A context in which NumPy's BLAS runs on the calling thread alone."""
    from threadpoolctl import ThreadpoolController

    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


_controller = None
_executor = None


def _run(work):
    """Call each of the ``work`` callables on its own thread (the first on this one)."""
    global _executor
    if len(work) == 1:
        work[0]()
        return
    if _executor is None or _executor._max_workers < len(work) - 1:
        _executor = ThreadPoolExecutor(max_workers=len(work) - 1, thread_name_prefix="fastconv")
    futures = [_executor.submit(job) for job in work[1:]]
    work[0]()
    for f in futures:
        f.result()


def _shares(p, k, reserved=0, by_image=False):
    """Per thread, its chunks (n0, n1, p0, p1): runs of whole images, or pixel ranges
    of one image when an image's columns (groups x k rows) exceed the thread's share
    of the workspace limit minus ``reserved`` bytes.  by_image keeps all chunks of
    an image on one thread (col2im of two chunks of one image could collide)."""
    threads = max(1, min(get_num_threads(), p.n)) if by_image else get_num_threads()
    pixels = p.oh * p.ow
    per_pixel = p.groups * k * p.dtype.itemsize
    budget = max((get_workspace_limit() - reserved) // threads - TABLES_BYTES, per_pixel)
    if per_pixel * pixels <= budget:
        images = max(1, min(budget // (per_pixel * pixels), -(-p.n // threads)))
        chunks = [(n0, min(p.n, n0 + images), 0, pixels) for n0 in range(0, p.n, images)]
    else:
        step = budget // per_pixel
        chunks = [(n0, n0 + 1, p0, min(pixels, p0 + step))
                  for n0, p0 in itertools.product(range(p.n), range(0, pixels, step))]
    if by_image:
        shares = [[c for c in chunks if c[0] * threads // p.n == t] for t in range(threads)]
    else:
        shares = [chunks[t::threads] for t in range(threads)]
    return [s for s in shares if s]


def _image_slices(n):
    """Each thread's run of images."""
    threads = max(1, min(get_num_threads(), n))
    return [slice(n * t // threads, n * (t + 1) // threads) for t in range(threads)]


def _scratch(p, k, chunks):
    """One array for a thread's largest chunk; each chunk takes a view of it (an
    array per chunk would hold two at once while the next is allocated)."""
    size = max((n1 - n0) * (p1 - p0) for n0, n1, p0, p1 in chunks)
    return np.empty(size * p.groups * k, dtype=p.dtype)


def _view(buf, shape):
    return buf[:int(np.prod(shape))].reshape(shape)


def _geometry(p):
    """(colmap, lo, hi, map_h, (kh, kw, sh, dh, ow)), the tables of _im2col/_col2im."""
    mh, mw = p.padding_maps
    colmap = mw[np.arange(p.ow)[None, :] * p.sw + np.arange(p.kw)[:, None] * p.dw]
    lo, hi = np.zeros(p.kw, np.int64), np.zeros(p.kw, np.int64)
    for kj, row in enumerate(colmap):  # the longest run of consecutive input columns
        start = 0
        for oj in range(1, p.ow + 1):
            if oj == p.ow or row[oj] != row[oj - 1] + 1 or row[oj - 1] < 0:
                if row[start] >= 0 and oj - start > hi[kj] - lo[kj]:
                    lo[kj], hi[kj] = start, oj
                start = oj
    return colmap, lo, hi, mh, (p.kh, p.kw, p.sh, p.dh, p.ow)


def _per_group(p, a):
    """(n, G, channels per group, pixels) view of an NCHW array."""
    return a.reshape(a.shape[0], p.groups, a.shape[1] // p.groups, a.shape[2] * a.shape[3])


def _pointwise(p):
    """True for 1x1, stride-1, unpadded convolutions: their columns are the input
    itself, so im2col is skipped and BLAS reads the input (a no-copy reshape)."""
    return (p.kh, p.kw, p.sh, p.sw, p.hp, p.wp) == (1, 1, 1, 1, p.h, p.w)


def _input_as_columns(p, x):
    """x as (n, G, c_in / G, pixels) without a copy, or None when its rows and
    columns do not merge into one pixel axis."""
    s0, s1, s2, s3 = x.strides
    if p.h > 1 and p.w > 1 and s2 != p.w * s3:
        return None
    pixel_stride = s3 if p.w > 1 else s2
    return np.lib.stride_tricks.as_strided(
        x, (p.n, p.groups, p.c_in // p.groups, p.h * p.w),
        (s0, p.c_in // p.groups * s1, s1, pixel_stride), writeable=False)


def conv2d_fwd_im2col(p, x, w, bias, y):
    """y = conv(x, w) + bias; y contiguous."""
    G, k = p.groups, p.c_in // p.groups * p.kh * p.kw
    wg = w.reshape(G, p.c_out // G, k)
    yg = _per_group(p, y)
    cols = _input_as_columns(p, x) if _pointwise(p) else None
    if cols is not None:
        with _blas_single():
            _run([lambda s=s: np.matmul(wg, cols[s], out=yg[s]) for s in _image_slices(p.n)])
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return
    colmap, lo, hi, mh, geo = _geometry(p)

    def share(chunks):
        buf = _scratch(p, k, chunks)
        for n0, n1, p0, p1 in chunks:
            col = _view(buf, (n1 - n0, G, k, p1 - p0))
            _im2col(x, n0, p0, colmap, lo, hi, mh, *geo, col)
            np.matmul(wg, col, out=yg[n0:n1, :, :, p0:p1])
            if bias is not None:
                yg[n0:n1, :, :, p0:p1] += bias.reshape(G, -1, 1)

    with _blas_single():
        _run([lambda c=c: share(c) for c in _shares(p, k)])


def conv2d_bwd_data_im2col(p, gy, w, gx):
    """gx = grad of input: per chunk, W^T @ gy, folded back by col2im."""
    G, k = p.groups, p.c_in // p.groups * p.kh * p.kw
    wt = w.reshape(G, p.c_out // G, k).transpose(0, 2, 1)
    gyg = _per_group(p, gy)
    if _pointwise(p):  # the columns' gradient is the input's
        gxg = _per_group(p, gx)
        with _blas_single():
            _run([lambda s=s: np.matmul(wt, gyg[s], out=gxg[s]) for s in _image_slices(p.n)])
        return
    colmap, lo, hi, mh, geo = _geometry(p)

    def share(chunks):
        gx[chunks[0][0]:chunks[-1][1]] = 0
        buf = _scratch(p, k, chunks)
        for n0, n1, p0, p1 in chunks:
            dcol = np.matmul(wt, gyg[n0:n1, :, :, p0:p1], out=_view(buf, (n1 - n0, G, k, p1 - p0)))
            _col2im(dcol, n0, p0, colmap, lo, hi, mh, *geo, gx)

    with _blas_single():
        _run([lambda c=c: share(c) for c in _shares(p, k, by_image=True)])


def _accumulate(target, jobs):
    """Run the jobs one per thread, each adding into its own zeroed copy of target
    (the first into target itself), then sum the copies into target."""
    partials = [target] + [np.empty_like(target) for _ in jobs[1:]]

    def run(job, dw):
        dw[...] = 0
        job(dw)

    with _blas_single():
        _run([lambda j=j, d=d: run(j, d) for j, d in zip(jobs, partials)])
    for dw in partials[1:]:
        target += dw


def conv2d_bwd_filter_im2col(p, gy, x, gw, gb):
    """gw, gb = grads of weight and bias (either may be None)."""
    if gb is not None:
        gy.sum(axis=(0, 2, 3), out=gb)
    if gw is None:
        return
    G, k = p.groups, p.c_in // p.groups * p.kh * p.kw
    gwg = gw.reshape(G, p.c_out // G, k)
    gyg = _per_group(p, gy)
    cols = _input_as_columns(p, x) if _pointwise(p) else None
    if cols is not None:
        def images(s, dw):
            product = np.empty_like(dw)
            for i in range(s.start, s.stop):
                dw += np.matmul(gyg[i], cols[i].transpose(0, 2, 1), out=product)

        _accumulate(gwg, [lambda dw, s=s: images(s, dw) for s in _image_slices(p.n)])
        return
    colmap, lo, hi, mh, geo = _geometry(p)

    def share(chunks, dw):
        buf, product = _scratch(p, k, chunks), np.empty_like(dw)
        for n0, n1, p0, p1 in chunks:
            col = _view(buf, (n1 - n0, G, k, p1 - p0))
            _im2col(x, n0, p0, colmap, lo, hi, mh, *geo, col)
            for i in range(n1 - n0):
                dw += np.matmul(gyg[n0 + i, :, :, p0:p1], col[i].transpose(0, 2, 1), out=product)

    # every thread has a dw and a product buffer, out of the workspace too
    shares = _shares(p, k, reserved=2 * get_num_threads() * gw.nbytes)
    _accumulate(gwg, [lambda dw, c=c: share(c, dw) for c in shares])
