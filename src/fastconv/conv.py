"""Public convolution functions: validate, allocate, dispatch."""
from __future__ import annotations

import numpy as np

from . import _registry
from ._params import as_batched, check_grad_output, check_out, conv_params, output_mask3

_GEOMETRY_DOC = """
    stride, dilation : int or (int, int), optional
        Each >= 1.
    padding : int, (int, int), (top, bottom, left, right) or {'valid', 'same', 'full'}
        'same' gives output size ceil(in / stride) with the extra padding on the
        bottom/right; 'full' pads (k - 1) * dilation on every side.
    groups : int, optional
        Divides both channel counts; groups == C_in gives a depthwise convolution.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}, optional
        How padded cells are filled; their gradients fold back into the input.
    algorithm : {'auto', 'direct', 'im2col', 'winograd'}, optional
    backend : {'auto', 'c', 'numba'}, optional
        An explicit choice that cannot serve the call raises UnsupportedError."""


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", *, algorithm="auto", backend="auto", out=None):
    p = conv_params(input, weight, bias, stride, padding, dilation, groups, padding_mode)
    spec = _registry.select("conv2d_fwd", p, algorithm, backend)
    shape = p.user_shape(p.output_shape)
    if out is None:
        out = np.empty(shape, dtype=p.dtype)
    else:
        check_out(out, shape, p.dtype, {"input": input, "weight": weight, "bias": bias})
    if p.n > 0:
        bias_c = None if bias is None else np.ascontiguousarray(bias)
        spec.fn(p, as_batched(p, input), np.ascontiguousarray(weight), bias_c, as_batched(p, out))
    return out


conv2d.__doc__ = f"""2-D cross-correlation of NCHW arrays, as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    input : numpy.ndarray
        (N, C_in, H, W) or unbatched (C_in, H, W), float32 or float64, any strides.
    weight : numpy.ndarray
        (C_out, C_in // groups, kH, kW), same dtype.
    bias : numpy.ndarray or None, optional
        (C_out,), same dtype.{_GEOMETRY_DOC}
    out : numpy.ndarray, optional
        C-contiguous array of the result's exact shape and dtype, overlapping no input.

    Returns
    -------
    numpy.ndarray
        (N, C_out, OH, OW), or (C_out, OH, OW) for unbatched input, in the input's dtype.

    Raises
    ------
    TypeError
        Non-array arguments, unsupported or mixed dtypes.
    ValueError
        Invalid shapes or geometry, bad ``out``; UnsupportedError (a ValueError)
        when an explicit algorithm/backend cannot serve the call.
    """


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", *, output_mask=(True, True, True), algorithm="auto",
                    backend="auto"):
    p = conv_params(input, weight, None, stride, padding, dilation, groups, padding_mode)
    mask = output_mask3(output_mask)
    check_grad_output(grad_output, p)
    data_spec = _registry.select("conv2d_bwd_data", p, algorithm, backend) if mask[0] else None
    filter_spec = (_registry.select("conv2d_bwd_filter", p, algorithm, backend)
                   if mask[1] or mask[2] else None)
    gy = np.ascontiguousarray(as_batched(p, grad_output))
    w = np.ascontiguousarray(weight)
    x = as_batched(p, input)
    grad_input = np.empty(p.input_shape, dtype=p.dtype) if mask[0] else None
    grad_weight = np.empty(p.weight_shape, dtype=p.dtype) if mask[1] else None
    grad_bias = np.empty(p.c_out, dtype=p.dtype) if mask[2] else None
    if p.n == 0:
        for g in (grad_input, grad_weight, grad_bias):
            if g is not None:
                g[...] = 0
    else:
        if data_spec is not None:
            data_spec.fn(p, gy, w, grad_input)
        if filter_spec is not None:
            filter_spec.fn(p, gy, x, grad_weight, grad_bias)
    if grad_input is not None and not p.batched:
        grad_input = grad_input[0]
    return grad_input, grad_weight, grad_bias


conv2d_backward.__doc__ = f"""Gradients of ``conv2d`` with respect to its input, weight and bias.

    Parameters
    ----------
    grad_output : numpy.ndarray
        Gradient of the loss with respect to conv2d's output (its exact shape).
    input, weight : numpy.ndarray
        The forward call's arguments.{_GEOMETRY_DOC}
    output_mask : (bool, bool, bool), optional
        Which of (grad_input, grad_weight, grad_bias) to compute.

    Returns
    -------
    tuple
        (grad_input, grad_weight, grad_bias); an entry is None where output_mask
        is False.  grad_bias is grad_output summed over N, H and W.
    """
