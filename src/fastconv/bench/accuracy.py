"""Error bounds shared by the tests and the benchmark harness, so that the harness's
error column gives the tests' verdict.

Higham's bound holds for any summation order: a sum of n products computed in
precision eps is off by at most gamma_n * sum |terms|, gamma_n ~ n * eps.  Here it
is doubled to cover the float64 reference's own error and the final rounding, and
scaled per algorithm by the kernel's declared error scale.
"""
from __future__ import annotations

import numpy as np


def _fold_multiplicity(p):
    """Most padded cells any one input cell is copied to (its gradient sums them)."""
    mh, mw = p.padding_maps
    return int(np.bincount(mh[mh >= 0]).max()) * int(np.bincount(mw[mw >= 0]).max())


def reduction_lengths(p):
    """Terms summed per output element of each convolution op (ConvParams p)."""
    icg, ocg = p.c_in // p.groups, p.c_out // p.groups
    return {
        "conv2d_fwd": icg * p.kh * p.kw + 1,
        "conv2d_bwd_data": ocg * p.kh * p.kw * _fold_multiplicity(p),
        "conv2d_bwd_filter": p.n * p.oh * p.ow,
        "bias": p.n * p.oh * p.ow,
    }


def error_bound(n_terms, dtype, magnitude, scale=1.0):
    """Largest error allowed per element: 2 * gamma_(n+2) * sum|terms| * scale, with
    ``magnitude`` the sum of |terms| (the op applied to absolute values, in float64)."""
    eps = np.finfo(dtype).eps
    return scale * 2.0 * (n_terms + 2) * eps * np.asarray(magnitude, dtype=np.float64)


def within_bound(actual, expected, bound):
    """(max |actual - expected| relative to max |expected|, whether every element is
    within its bound)."""
    err = np.abs(np.asarray(actual, dtype=np.float64) - expected)
    scale = max(float(np.abs(expected).max(initial=0.0)), np.finfo(np.float64).tiny)
    return float(err.max(initial=0.0)) / scale, bool((err <= bound).all())


def _box_sums(a, axis, before, after, start, count):
    """out[o] = sum of a[q] over start + o - before <= q <= start + o + after (q inside a),
    for o < count, along ``axis``."""
    size = a.shape[axis]
    zero = np.zeros_like(np.take(a, [0], axis=axis))
    cum = np.concatenate([zero, np.cumsum(a, axis=axis)], axis=axis)
    o = np.arange(count) + start
    return (np.take(cum, np.clip(o + after + 1, 0, size), axis=axis)
            - np.take(cum, np.clip(o - before, 0, size), axis=axis))


def winograd_magnitude(op, p, tile, x, w, gy):
    """What bounds the rounding error of a Winograd kernel with output tile ``tile``
    (ConvParams p; op "conv2d_fwd" or "conv2d_bwd_data"), in float64.

    The transforms mix every input of a tile's (tile + 2)^2 patch into each of its
    outputs (in exact arithmetic the extra terms cancel, their rounding errors do
    not), and the patch of the tile holding an output lies within tile - 1 cells
    before and tile + 1 after it.  So instead of sum |x| |w| over the output's
    window this is sum_c (sum |w_c|) (sum |x_c| over that wider box): multiplied by
    the largest transform coefficient product (``_winograd.error_factor``), it bounds
    the error terms of any tile alignment.  Backward-data runs the same algorithm on
    grad_output (box shifted the other way, then folded like the gradient).
    """
    from .._winograd import backward_data_correlation, fold_padding

    g = p.groups
    wsum = np.abs(np.asarray(w, dtype=np.float64)).sum(axis=(2, 3))  # (c_out, c_in / g)
    ocg, icg = p.c_out // g, p.c_in // g
    wsum = wsum.reshape(g, ocg, icg)
    if op == "conv2d_fwd":
        mh, mw = p.padding_maps
        xa = np.abs(np.asarray(x, dtype=np.float64))
        xp = xa[:, :, np.maximum(mh, 0)][..., np.maximum(mw, 0)]
        xp = xp * (mh >= 0)[:, None] * (mw >= 0)
        box = _box_sums(_box_sums(xp, 2, tile - 1, tile + 1, 0, p.oh), 3, tile - 1, tile + 1, 0, p.ow)
        box = box.reshape(p.n, g, icg, p.oh, p.ow)
        return np.einsum("goc,ngchw->ngohw", wsum, box).reshape(p.n, p.c_out, p.oh, p.ow)
    corr, folded = backward_data_correlation(p)
    r0, c0 = (0, 0) if folded else (p.pad_top, p.pad_left)
    ga = np.abs(np.asarray(gy, dtype=np.float64))
    box = _box_sums(_box_sums(ga, 2, tile + 1, tile - 1, r0, corr.oh), 3, tile + 1, tile - 1, c0, corr.ow)
    box = box.reshape(p.n, g, ocg, corr.oh, corr.ow)
    mag = np.einsum("goc,ngohw->ngchw", wsum, box).reshape(p.n, p.c_in, corr.oh, corr.ow)
    return fold_padding(mag, p) if folded else mag


def winograd_terms(tile):
    """Additions the transforms add to each output's reduction (two 1-D passes each of
    the input and output transforms, at most tile + 2 terms per pass)."""
    return 4 * (tile + 2)


def conv_bound(spec, op, p, x, w, gy, magnitude, n_terms, bias=None):
    """Per-element error bound of kernel ``spec``'s result of conv op ``op``: the
    direct algorithm's (``magnitude`` = the op on absolute values, ``n_terms`` its
    reduction length), or, for a Winograd kernel, its own (winograd_magnitude)."""
    if spec.tile and op in ("conv2d_fwd", "conv2d_bwd_data"):
        magnitude = winograd_magnitude(op, p, spec.tile, x, w, gy)
        if op == "conv2d_fwd" and bias is not None:
            magnitude = magnitude + np.abs(np.asarray(bias, dtype=np.float64))[:, None, None]
        n_terms += winograd_terms(spec.tile)
    return error_bound(n_terms, p.dtype, magnitude, spec.error_scale)
