"""Public pooling functions: validate, allocate, dispatch.

Every op runs on the registry's two window kernels (max and average), fed the
window tables of PoolParams; lp pooling is PyTorch's formula around the average
kernels.
"""
from __future__ import annotations

import numpy as np

from . import _registry
from ._params import (adaptive_pool_params, as_batched, check_bool, check_divisor_override,
                      check_grad_output, check_indices, check_norm_type, int_pair, pool_params)


def _unbatched(p, array):
    return array if array is None or p.batched else array[0]


def _max_forward(p, input, return_indices, backend):
    spec = _registry.select("maxpool2d_fwd", p, "auto", backend)
    y = np.empty(p.output_shape, dtype=p.dtype)
    idx = np.empty(p.output_shape, dtype=np.int64) if return_indices else None
    if y.size:
        spec.fn(p, as_batched(p, input), y, idx)
    if return_indices:
        return _unbatched(p, y), _unbatched(p, idx)
    return _unbatched(p, y)


def _max_backward(p, grad_output, input, indices, backend):
    check_grad_output(grad_output, p)
    spec = _registry.select("maxpool2d_bwd", p, "auto", backend)
    if indices is None:
        _, indices = _max_forward(p, input, True, backend)
    else:
        check_indices(indices, grad_output, p.h * p.w)
    gx = np.empty(p.input_shape, dtype=p.dtype)
    if gx.size:
        spec.fn(p, np.ascontiguousarray(as_batched(p, grad_output)),
                np.ascontiguousarray(as_batched(p, indices)), gx)
    return _unbatched(p, gx)


def _avg_forward(p, input, inv_div, backend):
    spec = _registry.select("avgpool2d_fwd", p, "auto", backend)
    y = np.empty(p.output_shape, dtype=p.dtype)
    if y.size:
        spec.fn(p, as_batched(p, input), np.ascontiguousarray(inv_div), y)
    return _unbatched(p, y)


def _avg_backward(p, grad_output, inv_div, backend):
    check_grad_output(grad_output, p)
    spec = _registry.select("avgpool2d_bwd", p, "auto", backend)
    gx = np.empty(p.input_shape, dtype=p.dtype)
    if gx.size:
        spec.fn(p, np.ascontiguousarray(as_batched(p, grad_output)), np.ascontiguousarray(inv_div), gx)
    return _unbatched(p, gx)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, *, backend="auto"):
    """2-D max pooling of NCHW arrays, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : numpy.ndarray
        (N, C, H, W) or unbatched (C, H, W), float32 or float64, any strides.
    kernel_size, stride, dilation : int or (int, int)
        ``stride=None`` means ``stride = kernel_size``.
    padding : int, (int, int) or (top, bottom, left, right)
        Padded cells never win; every window must overlap the input.
    ceil_mode : bool
        Round the output size up (a last window starting in the right padding is dropped).
    return_indices : bool
        Also return the int64 flat index ``h * W + w`` of each maximum in its plane.
    backend : {'auto', 'c', 'numba'}

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        The pooled array (and the indices). A window holding NaN yields NaN; on ties
        the first maximum in scan order wins.
    """
    p = pool_params(input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_forward(p, input, check_bool("return_indices", return_indices), backend)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, *, indices=None, backend="auto"):
    """Gradient of ``max_pool2d`` with respect to its input.

    Parameters
    ----------
    grad_output : numpy.ndarray
        Gradient with respect to max_pool2d's output (its exact shape and dtype).
    input, kernel_size, stride, padding, dilation, ceil_mode
        The forward call's arguments.
    indices : numpy.ndarray, optional
        The forward call's indices (int64, grad_output's shape, each in [0, H * W));
        recomputed when not given.
    backend : {'auto', 'c', 'numba'}

    Returns
    -------
    numpy.ndarray
        grad_input: each output's gradient added at its maximum.
    """
    p = pool_params(input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_backward(p, grad_output, input, indices, backend)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, backend="auto"):
    """2-D average pooling of NCHW arrays, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : numpy.ndarray
        (N, C, H, W) or unbatched (C, H, W), float32 or float64, any strides.
    kernel_size, stride : int or (int, int)
        ``stride=None`` means ``stride = kernel_size``.
    padding : int, (int, int) or (top, bottom, left, right)
    ceil_mode : bool
    count_include_pad : bool
        Divide by the window clipped to the padded input (True) or to the input.
    divisor_override : int, optional
        Divide every window by this instead.
    backend : {'auto', 'c', 'numba'}

    Returns
    -------
    numpy.ndarray
    """
    p = pool_params(input, kernel_size, stride, padding, 1, ceil_mode)
    inv = p.inverse_divisors(check_bool("count_include_pad", count_include_pad),
                             check_divisor_override(divisor_override))
    return _avg_forward(p, input, inv, backend)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, *, backend="auto"):
    """Gradient of ``avg_pool2d`` with respect to its input.

    Parameters
    ----------
    grad_output : numpy.ndarray
        Gradient with respect to avg_pool2d's output.
    input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        The forward call's arguments.
    backend : {'auto', 'c', 'numba'}

    Returns
    -------
    numpy.ndarray
        grad_input
    """
    p = pool_params(input, kernel_size, stride, padding, 1, ceil_mode)
    inv = p.inverse_divisors(check_bool("count_include_pad", count_include_pad),
                             check_divisor_override(divisor_override))
    return _avg_backward(p, grad_output, inv, backend)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Parameters
    ----------
    input : numpy.ndarray
        (N, C, H, W) or (C, H, W).
    output_size : int or (int or None, int or None)
        Output window i spans rows floor(i * H / OH) to ceil((i + 1) * H / OH);
        None keeps the input's size; 1 gives global pooling.

    Returns
    -------
    numpy.ndarray
    """
    p = adaptive_pool_params(input, output_size)
    return _avg_forward(p, input, p.inverse_divisors(count_include_pad=False), "auto")


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    """Gradient of ``adaptive_avg_pool2d`` with respect to its input.

    Returns
    -------
    numpy.ndarray
        grad_input
    """
    p = adaptive_pool_params(input, output_size)
    return _avg_backward(p, grad_output, p.inverse_divisors(count_include_pad=False), "auto")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d``.

    Parameters
    ----------
    input : numpy.ndarray
    output_size : int or (int or None, int or None)
    return_indices : bool
        Also return the int64 flat indices of the maxima.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
    """
    p = adaptive_pool_params(input, output_size)
    return _max_forward(p, input, check_bool("return_indices", return_indices), "auto")


def adaptive_max_pool2d_backward(grad_output, input, output_size, *, indices=None):
    """Gradient of ``adaptive_max_pool2d`` with respect to its input.

    Parameters
    ----------
    grad_output, input, output_size
        As for the forward call.
    indices : numpy.ndarray, optional
        The forward call's indices; recomputed when not given.

    Returns
    -------
    numpy.ndarray
        grad_input
    """
    p = adaptive_pool_params(input, output_size)
    return _max_backward(p, grad_output, input, indices, "auto")


def _lp_setup(input, norm_type, kernel_size, stride, ceil_mode):
    power = check_norm_type(norm_type)
    p = pool_params(input, kernel_size, stride, 0, 1, ceil_mode)
    kh, kw = int_pair("kernel_size", kernel_size, 1)
    return p, power, kh * kw, p.inverse_divisors(count_include_pad=True)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling, as ``torch.nn.functional.lp_pool2d``.

    Computes ``(sign(a) * relu(|a|) * kH * kW) ** (1 / p)`` with
    ``a = avg_pool2d(input ** p, kernel_size, stride, 0, ceil_mode)``: the p-norm of
    each full window (PyTorch's formula, also for ceil-mode's partial windows).

    Parameters
    ----------
    input : numpy.ndarray
    norm_type : float
        p, a finite number > 0.
    kernel_size, stride : int or (int, int)
    ceil_mode : bool

    Returns
    -------
    numpy.ndarray
    """
    p, power, k, inv = _lp_setup(input, norm_type, kernel_size, stride, ceil_mode)
    with np.errstate(invalid="ignore"):
        a = _avg_forward(p, input ** power, inv, "auto")
        return ((np.sign(a) * np.maximum(np.abs(a), 0) * k) ** (1.0 / power)).astype(p.dtype, copy=False)


def lp_pool2d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Gradient of ``lp_pool2d`` with respect to its input (no gradient flows where a
    window's power average is 0, as through PyTorch's relu).

    Returns
    -------
    numpy.ndarray
        grad_input
    """
    p, power, k, inv = _lp_setup(input, norm_type, kernel_size, stride, ceil_mode)
    check_grad_output(grad_output, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = _avg_forward(p, input ** power, inv, "auto")
        grad_a = np.where(a != 0, grad_output * k * (k * a) ** (1.0 / power - 1.0) / power, 0)
        gx = _avg_backward(p, grad_a.astype(p.dtype, copy=False), inv, "auto")
        return (gx * power * input ** (power - 1)).astype(p.dtype, copy=False)
