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
