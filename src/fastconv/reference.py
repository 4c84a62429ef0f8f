"""The float64 oracle: every op of fastconv in plain NumPy.

Slow and obvious on purpose, and independent of the fast kernels: padding is
``numpy.pad`` itself, and its gradient folds back through ``numpy.pad`` applied
to an index grid.  Takes the same arguments as the public functions (without
``algorithm``, ``backend`` and ``out``), validates them the same way, and
returns float64 arrays.
"""
from __future__ import annotations

import numpy as np

from ._params import as_batched, check_grad_output, conv_params, output_mask3

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
