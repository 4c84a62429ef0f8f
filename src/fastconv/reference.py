"""The float64 oracle: every op of fastconv in plain NumPy.

Slow and obvious on purpose, and independent of the fast kernels: padding is
``numpy.pad`` itself, and its gradient folds back through ``numpy.pad`` applied
to an index grid.  Takes the same arguments as the public functions (without
``algorithm``, ``backend`` and ``out``), validates them the same way, and
returns float64 arrays.
"""
from __future__ import annotations

import numpy as np

from ._params import (as_batched, check_divisor_override, check_grad_output, check_norm_type,
                      conv_params, output_mask3)

_NUMPY_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(x, p):
    widths = ((0, 0), (0, 0), (p.pad_top, p.pad_bottom), (p.pad_left, p.pad_right))
    return np.pad(x, widths, mode=_NUMPY_PAD_MODE[p.padding_mode])


def _unpad_grad(gxp, p):
    """Adjoint of _pad: each padded cell's gradient goes to the cell it copies."""
    index = np.arange(p.h * p.w, dtype=np.int64).reshape(p.h, p.w)
    widths = ((p.pad_top, p.pad_bottom), (p.pad_left, p.pad_right))
    if p.padding_mode == "zeros":
        source = np.pad(index, widths, mode="constant", constant_values=-1)
    else:
        source = np.pad(index, widths, mode=_NUMPY_PAD_MODE[p.padding_mode])
    keep = source >= 0
    gx = np.zeros((p.n, p.c_in, p.h * p.w))
    np.add.at(gx, (slice(None), slice(None), source[keep]), gxp[:, :, keep])
    return gx.reshape(p.n, p.c_in, p.h, p.w)


def _window(xp, p, i, j):
    """xp[:, :, rows read by kernel row i, cols read by kernel col j] (N, C, OH, OW)."""
    r0, c0 = i * p.dh, j * p.dw
    return xp[:, :, r0:r0 + (p.oh - 1) * p.sh + 1:p.sh, c0:c0 + (p.ow - 1) * p.sw + 1:p.sw]


def _groups(p):
    icg, ocg = p.c_in // p.groups, p.c_out // p.groups
    return [(slice(g * icg, (g + 1) * icg), slice(g * ocg, (g + 1) * ocg)) for g in range(p.groups)]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Reference 2-D cross-correlation in float64 (see ``fastconv.conv2d``).

    Returns
    -------
    numpy.ndarray
        float64, shape (N, C_out, OH, OW), or (C_out, OH, OW) for unbatched input.
    """
    p = conv_params(input, weight, bias, stride, padding, dilation, groups, padding_mode)
    xp = _pad(as_batched(p, input).astype(np.float64), p)
    w = weight.astype(np.float64)
    y = np.zeros(p.output_shape)
    for ci, co in _groups(p):
        for i in range(p.kh):
            for j in range(p.kw):
                y[:, co] += np.einsum("nchw,oc->nohw", _window(xp[:, ci], p, i, j), w[co, :, i, j])
    if bias is not None:
        y += bias.astype(np.float64)[None, :, None, None]
    return y if p.batched else y[0]


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", *, output_mask=(True, True, True)):
    """Reference gradients of ``conv2d`` in float64 (see ``fastconv.conv2d_backward``).

    Returns
    -------
    tuple
        (grad_input, grad_weight, grad_bias), float64, ``None`` where
        ``output_mask`` is False.
    """
    p = conv_params(input, weight, None, stride, padding, dilation, groups, padding_mode)
    mask = output_mask3(output_mask)
    check_grad_output(grad_output, p)
    gy = as_batched(p, grad_output).astype(np.float64)
    xp = _pad(as_batched(p, input).astype(np.float64), p)
    w = weight.astype(np.float64)
    gxp = np.zeros_like(xp)
    gw = np.zeros(p.weight_shape)
    for ci, co in _groups(p):
        for i in range(p.kh):
            for j in range(p.kw):
                _window(gxp[:, ci], p, i, j)[...] += np.einsum("nohw,oc->nchw", gy[:, co], w[co, :, i, j])
                gw[co, :, i, j] = np.einsum("nohw,nchw->oc", gy[:, co], _window(xp[:, ci], p, i, j))
    grad_input = _unpad_grad(gxp, p) if mask[0] else None
    if grad_input is not None and not p.batched:
        grad_input = grad_input[0]
    return (grad_input, gw if mask[1] else None, gy.sum(axis=(0, 2, 3)) if mask[2] else None)


# ---------------------------------------------------------------------------- pooling
# Windows are rebuilt here from their definition; only validation and output sizes
# are shared with the fast kernels (through PoolParams).

def _pool_windows(size, out, k, s, d, before):
    """Input indices of each window's taps that fall inside the input."""
    return [[i * s - before + t * d for t in range(k) if 0 <= i * s - before + t * d < size]
            for i in range(out)]


def _adaptive_windows(size, out):
    return [list(range((i * size) // out, -((-(i + 1) * size) // out))) for i in range(out)]


def _regular_pool(input, kernel_size, stride, padding, dilation, ceil_mode):
    from ._params import int_pair, padding_4, pool_params

    p = pool_params(input, kernel_size, stride, padding, dilation, ceil_mode)
    kh, kw = int_pair("kernel_size", kernel_size, 1)
    sh, sw = (kh, kw) if stride is None else int_pair("stride", stride, 1)
    dh, dw = int_pair("dilation", dilation, 1)
    pt, pb, pl, pr = padding_4("padding", padding)
    rows = _pool_windows(p.h, p.oh, kh, sh, dh, pt)
    cols = _pool_windows(p.w, p.ow, kw, sw, dw, pl)
    return p, rows, cols, (kh, kw, sh, sw, pt, pb, pl, pr)


def _max_over(x, p, rows, cols):
    """Max of every window, PyTorch's rule: a later cell wins if greater or NaN."""
    y = np.empty(p.output_shape)
    idx = np.empty(p.output_shape, dtype=np.int64)
    for i, rr in enumerate(rows):
        for j, cc in enumerate(cols):
            best = np.full((p.n, p.c), -np.inf)
            arg = np.full((p.n, p.c), rr[0] * p.w + cc[0], dtype=np.int64)
            for r in rr:
                for c in cc:
                    v = x[:, :, r, c]
                    take = (v > best) | np.isnan(v)
                    best, arg = np.where(take, v, best), np.where(take, r * p.w + c, arg)
            y[:, :, i, j], idx[:, :, i, j] = best, arg
    return y, idx


def _unbatch(p, *arrays):
    return tuple(a if a is None or p.batched else a[0] for a in arrays)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Reference max pooling in float64 (see ``fastconv.max_pool2d``)."""
    p, rows, cols, _ = _regular_pool(input, kernel_size, stride, padding, dilation, ceil_mode)
    y, idx = _unbatch(p, *_max_over(as_batched(p, input).astype(np.float64), p, rows, cols))
    return (y, idx) if return_indices else y


def _scatter_max_grad(p, grad_output, idx):
    gy = as_batched(p, grad_output).astype(np.float64)
    gx = np.zeros((p.n, p.c, p.h * p.w))
    for n in range(p.n):
        for c in range(p.c):
            np.add.at(gx[n, c], as_batched(p, idx)[n, c].ravel(), gy[n, c].ravel())
    return _unbatch(p, gx.reshape(p.input_shape))[0]


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, *, indices=None):
    """Reference gradient of max pooling: each output's gradient goes to its argmax."""
    _, idx = max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    p, *_ = _regular_pool(input, kernel_size, stride, padding, dilation, ceil_mode)
    check_grad_output(grad_output, p)
    return _scatter_max_grad(p, grad_output, idx if indices is None else indices)


def _avg_divisors(p, rows, cols, geometry, count_include_pad, divisor_override):
    kh, kw, sh, sw, pt, pb, pl, pr = geometry
    div = np.empty((p.oh, p.ow))
    for i, rr in enumerate(rows):
        for j, cc in enumerate(cols):
            if divisor_override is not None:
                div[i, j] = divisor_override
            elif count_include_pad:  # the window clipped to the padded input
                h0, w0 = i * sh - pt, j * sw - pl
                div[i, j] = (min(h0 + kh, p.h + pb) - h0) * (min(w0 + kw, p.w + pr) - w0)
            else:
                div[i, j] = len(rr) * len(cc)
    return div


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Reference average pooling in float64 (see ``fastconv.avg_pool2d``)."""
    p, rows, cols, geometry = _regular_pool(input, kernel_size, stride, padding, 1, ceil_mode)
    check_divisor_override(divisor_override)
    x = as_batched(p, input).astype(np.float64)
    div = _avg_divisors(p, rows, cols, geometry, count_include_pad, divisor_override)
    y = np.empty(p.output_shape)
    for i, rr in enumerate(rows):
        for j, cc in enumerate(cols):
            y[:, :, i, j] = x[:, :, rr][:, :, :, cc].sum(axis=(2, 3)) / div[i, j]
    return _unbatch(p, y)[0]


def _spread_avg_grad(p, grad_output, rows, cols, div):
    gy = as_batched(p, grad_output).astype(np.float64)
    gx = np.zeros(p.input_shape)
    for i, rr in enumerate(rows):
        for j, cc in enumerate(cols):
            gx[:, :, rr[0]:rr[-1] + 1, cc[0]:cc[-1] + 1] += (gy[:, :, i, j] / div[i, j])[:, :, None, None]
    return _unbatch(p, gx)[0]


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Reference gradient of average pooling."""
    p, rows, cols, geometry = _regular_pool(input, kernel_size, stride, padding, 1, ceil_mode)
    check_divisor_override(divisor_override)
    check_grad_output(grad_output, p)
    div = _avg_divisors(p, rows, cols, geometry, count_include_pad, divisor_override)
    return _spread_avg_grad(p, grad_output, rows, cols, div)


def _adaptive(input, output_size):
    from ._params import adaptive_pool_params

    p = adaptive_pool_params(input, output_size)
    return p, _adaptive_windows(p.h, p.oh), _adaptive_windows(p.w, p.ow)


def adaptive_avg_pool2d(input, output_size):
    """Reference adaptive average pooling (window i spans floor(i*in/out) .. ceil((i+1)*in/out))."""
    p, rows, cols = _adaptive(input, output_size)
    x = as_batched(p, input).astype(np.float64)
    y = np.empty(p.output_shape)
    for i, rr in enumerate(rows):
        for j, cc in enumerate(cols):
            y[:, :, i, j] = x[:, :, rr][:, :, :, cc].mean(axis=(2, 3))
    return _unbatch(p, y)[0]


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    """Reference gradient of adaptive average pooling."""
    p, rows, cols = _adaptive(input, output_size)
    check_grad_output(grad_output, p)
    div = np.array([[len(rr) * len(cc) for cc in cols] for rr in rows], dtype=np.float64)
    return _spread_avg_grad(p, grad_output, rows, cols, div)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Reference adaptive max pooling."""
    p, rows, cols = _adaptive(input, output_size)
    y, idx = _unbatch(p, *_max_over(as_batched(p, input).astype(np.float64), p, rows, cols))
    return (y, idx) if return_indices else y


def adaptive_max_pool2d_backward(grad_output, input, output_size, *, indices=None):
    """Reference gradient of adaptive max pooling."""
    p, _, _ = _adaptive(input, output_size)
    check_grad_output(grad_output, p)
    _, idx = adaptive_max_pool2d(input, output_size, return_indices=True)
    return _scatter_max_grad(p, grad_output, idx if indices is None else indices)


def _lp_parts(input, norm_type, kernel_size, stride, ceil_mode):
    from ._params import int_pair

    check_norm_type(norm_type)
    kh, kw = int_pair("kernel_size", kernel_size, 1)
    x = input.astype(np.float64)
    mean_pow = avg_pool2d(x ** norm_type, kernel_size, stride, 0, ceil_mode)
    return x, mean_pow, kh * kw


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Reference power-average pooling, PyTorch's formula:
    ``(sign(a) * relu(|a|) * kH * kW) ** (1 / p)`` with ``a = avg_pool2d(x ** p)``."""
    _, a, k = _lp_parts(input, norm_type, kernel_size, stride, ceil_mode)
    with np.errstate(invalid="ignore"):
        return (np.sign(a) * np.maximum(np.abs(a), 0) * k) ** (1.0 / norm_type)


def lp_pool2d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Reference gradient of lp_pool2d: the chain rule through PyTorch's formula
    (the relu passes no gradient where the average is 0)."""
    x, a, k = _lp_parts(input, norm_type, kernel_size, stride, ceil_mode)
    p = norm_type
    with np.errstate(invalid="ignore", divide="ignore"):
        grad_a = np.where(a != 0, grad_output * k * (k * a) ** (1.0 / p - 1.0) / p, 0.0)
        return avg_pool2d_backward(grad_a, x ** p, kernel_size, stride, 0, ceil_mode) * p * x ** (p - 1)
