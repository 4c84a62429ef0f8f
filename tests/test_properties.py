"""Property-based tests (hypothesis): random geometry for every registered kernel
against the reference, forward and backward; random bad arguments to every public
function always raise ValueError or TypeError naming the argument.

Examples per test: the ``FASTCONV_HYPOTHESIS`` profile, "ci" (default) or "long".
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _registry, reference

from conftest import assert_conv_matches_reference, assert_within, error_bound

settings.register_profile("ci", max_examples=40, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=1500, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("FASTCONV_HYPOTHESIS", "ci"))

CONV_PAIRS = sorted({(s.algorithm, s.backend) for s in _registry.kernels("conv2d_fwd")})
POOL_BACKENDS = sorted({s.backend for s in _registry.kernels("maxpool2d_fwd")})
DTYPES = st.sampled_from([np.float32, np.float64])
BATCH = st.sampled_from([None, 0, 1, 2, 3])  # None: unbatched (C, H, W)


def _pair_or_int(lo, hi):
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


def _padding(hi, strings=True):
    forms = [st.integers(0, hi), st.tuples(st.integers(0, hi), st.integers(0, hi)),
             st.tuples(*[st.integers(0, hi)] * 4)]
    if strings:
        forms.append(st.sampled_from(["same", "valid", "full"]))
    return st.one_of(forms)


def _shape(batch, *rest):
    return tuple(rest) if batch is None else (batch,) + tuple(rest)


@st.composite
def conv_calls(draw, winograd):
    """(x, w, b, kwargs) of a random convolution; Winograd's: 3x3, stride 1, dilation 1.
    Sizes are drawn around the dilated kernel's extent, so some geometries are invalid."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    if winograd:
        kh = kw = 3
        kwargs = {}
    else:
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        kwargs = {"stride": draw(_pair_or_int(1, 3)), "dilation": draw(_pair_or_int(1, 3))}
    dh, dw = np.broadcast_to(kwargs.get("dilation", 1), 2)
    h = max(1, (kh - 1) * dh + 1 + draw(st.integers(-3, 9)))
    w = max(1, (kw - 1) * dw + 1 + draw(st.integers(-3, 9)))
    kwargs.update(groups=groups, padding=draw(_padding(3)),
                  padding_mode=draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])))
    dtype, batch = draw(DTYPES), draw(BATCH)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(_shape(batch, c_in, h, w)).astype(dtype)
    wt = rng.standard_normal((c_out, c_in // groups, kh, kw)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if draw(st.booleans()) else None
    return x, wt, b, kwargs, rng


def _valid_or_same_error(call_fast, call_reference):
    """Run both; if either raises ValueError the other must too.  Returns the
    reference's result, or None when the arguments are invalid."""
    try:
        expected = call_reference()
    except ValueError:
        event("invalid arguments: ValueError from both")
        with pytest.raises(ValueError):
            call_fast()
        return None
    event("valid arguments")
    return expected


@pytest.mark.parametrize("pair", CONV_PAIRS, ids=[f"{a}-{b}" for a, b in CONV_PAIRS])
@given(data=st.data())
def test_conv_random_geometry_matches_reference(pair, data):
    x, w, b, kwargs, rng = data.draw(conv_calls(winograd=pair[0].startswith("winograd")))
    y = _valid_or_same_error(lambda: fastconv.conv2d(x, w, b, algorithm=pair[0], backend=pair[1], **kwargs),
                             lambda: reference.conv2d(x, w, b, **kwargs))
    if y is None:
        return
    gy = rng.standard_normal(y.shape).astype(x.dtype)
    assert_conv_matches_reference(x, w, b, gy, kwargs, pair)


@st.composite
def pool_calls(draw):
    """(x, kwargs) of a random max/avg pooling; padding sometimes up to the kernel (so
    that some windows fall wholly in the padding: invalid)."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # mostly up to half the kernel (PyTorch's limit), sometimes up to the kernel
    ph, pw = (draw(st.integers(0, k if draw(st.integers(0, 9)) == 0 else k // 2)) for k in (kh, kw))
    padding = draw(st.sampled_from([max(ph, pw) if ph == pw else (ph, pw), (ph, pw), (ph, ph, pw, pw),
                                    (ph, 0, 0, pw)]))
    kwargs = {"kernel_size": (kh, kw), "stride": draw(st.one_of(st.none(), _pair_or_int(1, 4))),
              "padding": padding, "ceil_mode": draw(st.booleans())}
    h, w = kh + draw(st.integers(-1, 9)), kw + draw(st.integers(-1, 9))
    dtype, batch = draw(DTYPES), draw(BATCH)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # small integers: ties everywhere; sometimes NaN and infinities
    x = rng.integers(-3, 4, size=_shape(batch, draw(st.integers(1, 3)), max(h, 1), max(w, 1))).astype(dtype)
    if draw(st.booleans()) and x.size:
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, size=2)] = rng.choice([np.nan, np.inf, -np.inf], size=2)
    return x, kwargs, rng


@pytest.mark.parametrize("backend", POOL_BACKENDS)
@given(call=pool_calls(), dilation=_pair_or_int(1, 3))
def test_max_pool_random_geometry_matches_reference(backend, call, dilation):
    x, kwargs, rng = call
    kwargs = {**kwargs, "dilation": dilation}
    expected = _valid_or_same_error(
        lambda: fastconv.max_pool2d(x, **kwargs, return_indices=True, backend=backend),
        lambda: reference.max_pool2d(x, **kwargs, return_indices=True))
    if expected is None:
        return
    y, idx = fastconv.max_pool2d(x, **kwargs, return_indices=True, backend=backend)
    np.testing.assert_array_equal(y, expected[0])
    np.testing.assert_array_equal(idx, expected[1])
    np.testing.assert_array_equal(fastconv.max_pool2d(x, **kwargs, backend=backend), expected[0])
    gy = rng.integers(-3, 4, size=y.shape).astype(x.dtype)
    gx = reference.max_pool2d_backward(gy, x, **kwargs)
    np.testing.assert_array_equal(fastconv.max_pool2d_backward(gy, x, **kwargs, backend=backend), gx)
    np.testing.assert_array_equal(fastconv.max_pool2d_backward(gy, x, **kwargs, indices=idx, backend=backend), gx)


@pytest.mark.parametrize("backend", POOL_BACKENDS)
@given(call=pool_calls(), count_include_pad=st.booleans(), divisor_override=st.one_of(st.none(), st.integers(1, 7)))
def test_avg_pool_random_geometry_matches_reference(backend, call, count_include_pad, divisor_override):
    x, kwargs, rng = call
    x = np.where(np.isfinite(x), x, 1).astype(x.dtype)  # sums of infinities: covered by test_pool
    kwargs = {**kwargs, "count_include_pad": count_include_pad, "divisor_override": divisor_override}
    expected = _valid_or_same_error(lambda: fastconv.avg_pool2d(x, **kwargs, backend=backend),
                                    lambda: reference.avg_pool2d(x, **kwargs))
    if expected is None:
        return
    n = int(np.prod(kwargs["kernel_size"]))
    y = fastconv.avg_pool2d(x, **kwargs, backend=backend)
    assert y.dtype == x.dtype
    assert_within(y, expected, error_bound(n, x.dtype, reference.avg_pool2d(np.abs(x), **kwargs)), "avg fwd")
    gy = rng.standard_normal(y.shape).astype(x.dtype)
    bound = error_bound(n, x.dtype, reference.avg_pool2d_backward(np.abs(gy), x, **kwargs))
    assert_within(fastconv.avg_pool2d_backward(gy, x, **kwargs, backend=backend),
                  reference.avg_pool2d_backward(gy, x, **kwargs), bound, "avg bwd")


@given(h=st.integers(1, 12), w=st.integers(1, 12), batch=BATCH, dtype=DTYPES,
       output_size=st.one_of(st.integers(1, 14), st.tuples(st.one_of(st.none(), st.integers(1, 14)),
                                                           st.one_of(st.none(), st.integers(1, 14)))),
       seed=st.integers(0, 2**32 - 1))
def test_adaptive_pools_random_geometry_match_reference(h, w, batch, dtype, output_size, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=_shape(batch, 2, h, w)).astype(dtype)
    y, idx = fastconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    ry, ridx = reference.adaptive_max_pool2d(x, output_size, return_indices=True)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    gy = rng.integers(-3, 4, size=y.shape).astype(dtype)
    np.testing.assert_array_equal(fastconv.adaptive_max_pool2d_backward(gy, x, output_size),
                                  reference.adaptive_max_pool2d_backward(gy, x, output_size))
    n = h * w  # a window is at most the whole plane
    assert_within(fastconv.adaptive_avg_pool2d(x, output_size), reference.adaptive_avg_pool2d(x, output_size),
                  error_bound(n, dtype, reference.adaptive_avg_pool2d(np.abs(x), output_size)), "adaptive avg")
    assert_within(fastconv.adaptive_avg_pool2d_backward(gy, x, output_size),
                  reference.adaptive_avg_pool2d_backward(gy, x, output_size),
                  error_bound(n, dtype, reference.adaptive_avg_pool2d_backward(np.abs(gy), x, output_size)),
                  "adaptive avg bwd")


@given(call=pool_calls(), norm_type=st.sampled_from([1, 2, 3.5, 0.5]))
def test_lp_pool_random_geometry_matches_reference(call, norm_type):
    x, kwargs, rng = call
    x = (np.abs(np.where(np.isfinite(x), x, 1)) + 0.5).astype(x.dtype)  # Lp of positive values
    kwargs = {k: v for k, v in kwargs.items() if k != "padding"}  # lp_pool2d has no padding
    expected = _valid_or_same_error(lambda: fastconv.lp_pool2d(x, norm_type, **kwargs),
                                    lambda: reference.lp_pool2d(x, norm_type, **kwargs))
    if expected is None:
        return
    # relative error: a few roundings per term of the power sum and in the root
    rtol = 64 * int(np.prod(kwargs["kernel_size"])) * np.finfo(x.dtype).eps * max(norm_type, 1 / norm_type)
    np.testing.assert_allclose(fastconv.lp_pool2d(x, norm_type, **kwargs), expected, rtol=rtol)
    gy = rng.standard_normal(expected.shape).astype(x.dtype)
    expected_gx = reference.lp_pool2d_backward(gy, x, norm_type, **kwargs)
    scale = reference.lp_pool2d_backward(np.abs(gy), x, norm_type, **kwargs)
    gx = fastconv.lp_pool2d_backward(gy, x, norm_type, **kwargs)
    assert np.all(np.abs(gx - expected_gx) <= 4 * rtol * scale + 1e-300)


# -- bad arguments ------------------------------------------------------------------------

X = np.zeros((2, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)
B = np.zeros(6, np.float32)
GY = np.zeros((2, 6, 6, 6), np.float32)  # conv2d(X, W)'s shape
GP = np.zeros((2, 4, 4, 4), np.float32)  # 2x2 pooling's
GA = np.zeros((2, 4, 3, 3), np.float32)  # adaptive (3, 3)

_NOT_NUMBERS = st.sampled_from(["2", b"2", None, [], {}, object(), 1j])
_FLOATS = st.sampled_from([1.5, 2.0, float("nan"), float("inf"), np.float32(2.0)])


def _bad_positive(none_ok=False):
    """Values no int-or-pair parameter of minimum 1 accepts."""
    bad_scalar = st.one_of(st.integers(-5, 0), _FLOATS, st.just(True), _NOT_NUMBERS.filter(
        lambda v: not (none_ok and v is None)))
    return st.one_of(bad_scalar, st.tuples(st.integers(1, 3), bad_scalar), st.tuples(bad_scalar, st.integers(1, 3)),
                     st.tuples(*[st.integers(1, 3)] * 3), st.just(()), st.just([[1, 1]]))


_BAD_PADDING = st.one_of(st.integers(-5, -1), _FLOATS, st.just(True), st.sampled_from(["half", "SAME", "", None, 1j]),
                         st.tuples(st.integers(0, 1), st.integers(-3, -1)), st.tuples(*[st.integers(0, 1)] * 3),
                         st.tuples(*[st.integers(0, 1)] * 5), st.tuples(st.integers(0, 1), _FLOATS))
_BAD_FLAG = st.sampled_from([1, 0, "yes", None, np.array(True), 1.0])
_BAD_DTYPES = [np.int32, np.int64, np.float16, np.complex64, np.bool_, np.uint8, object]


def _bad_array(good, *wrong_shapes, alone=False, optional=False):
    """Arrays (or non-arrays) that cannot stand in for ``good``: other dtypes (the
    other float dtype too, unless it is the call's only array), other ranks,
    non-arrays (None too, unless the argument is optional) and zero arrays of each
    of ``wrong_shapes``."""
    dtypes = _BAD_DTYPES + ([] if alone else [np.float64 if good.dtype == np.float32 else np.float32])
    other_rank = [good[None], np.float32(1.0) if good.ndim == 1 else good.reshape(-1)]
    if good.ndim == 4:
        other_rank.append(good[0, 0])
    return st.sampled_from([good.astype(t) for t in dtypes] + other_rank +
                           [np.zeros(shape, good.dtype) for shape in wrong_shapes] + ["array", 3, [1.0]] +
                           ([] if optional else [None]))


def _bad_out(shape):
    storage = np.zeros(2 * int(np.prod(shape)), np.float32)
    return st.sampled_from([
        np.zeros(shape, np.float64), np.zeros(shape[:-1] + (shape[-1] + 1,), np.float32),
        storage.reshape(shape[:-1] + (2 * shape[-1],))[..., ::2], np.zeros(shape, np.float32).T.copy().T,
        X.reshape(-1)[:int(np.prod(shape))].reshape(shape), [0.0], "out", np.zeros(shape, np.int32)])


_BAD_CHOICE = st.one_of(st.sampled_from(["fft", "", "C", "AUTO", "cuda", None, 1, ("c",)]), st.text(max_size=6).filter(
    lambda s: s not in ("auto", "direct", "im2col", "winograd", "c", "numba") and not s.startswith("winograd_")))

# function -> (its valid arguments, {parameter: strategy of values it must reject})
BAD_CALLS = {
    "conv2d": ({"input": X, "weight": W, "bias": B}, {
        "input": _bad_array(X, (2, 5, 8, 8), (2, 4, 2, 2)), "weight": _bad_array(W, (6, 3, 3, 3), (6, 4, 9, 3)),
        "bias": _bad_array(B, (5,), (7,), optional=True),
        "stride": _bad_positive(), "dilation": _bad_positive(), "padding": _BAD_PADDING,
        "groups": st.one_of(st.integers(-3, 0), st.sampled_from([3, 5, 1.0, "1", None, True])),
        "padding_mode": st.sampled_from(["mirror", "ZEROS", "", None, 0, "same"]),
        "algorithm": _BAD_CHOICE, "backend": _BAD_CHOICE, "out": _bad_out((2, 6, 6, 6))}),
    "conv2d_backward": ({"grad_output": GY, "input": X, "weight": W}, {
        "grad_output": _bad_array(GY, (2, 6, 6, 5), (3, 6, 6, 6), (2, 5, 6, 6)), "input": _bad_array(X, (2, 5, 8, 8)),
        "weight": _bad_array(W, (5, 4, 3, 3), (6, 4, 2, 3)),
        "stride": _bad_positive(), "padding": _BAD_PADDING, "dilation": _bad_positive(),
        "output_mask": st.sampled_from([(True, False), (1, 0, 1), "yes", None, (True,) * 4, True]),
        "algorithm": _BAD_CHOICE, "backend": _BAD_CHOICE}),
    "max_pool2d": ({"input": X, "kernel_size": 2}, {
        "input": _bad_array(X, (2, 4, 1, 8), alone=True), "kernel_size": _bad_positive(), "stride": _bad_positive(none_ok=True),
        "padding": _BAD_PADDING, "dilation": _bad_positive(), "ceil_mode": _BAD_FLAG,
        "return_indices": _BAD_FLAG, "backend": _BAD_CHOICE}),
    "max_pool2d_backward": ({"grad_output": GP, "input": X, "kernel_size": 2}, {
        "grad_output": _bad_array(GP, (2, 4, 4, 3), (2, 3, 4, 4)), "input": _bad_array(X, (2, 4, 10, 10), (2, 5, 8, 8)),
        "kernel_size": _bad_positive(), "stride": _bad_positive(none_ok=True), "ceil_mode": _BAD_FLAG,
        "backend": _BAD_CHOICE,
        "indices": st.sampled_from([GP.astype(np.int32), GP.astype(np.float32), np.full(GP.shape, 64, np.int64),
                                    np.full(GP.shape, -1, np.int64), np.zeros((2, 4, 4, 3), np.int64), "idx"])}),
    "avg_pool2d": ({"input": X, "kernel_size": 2}, {
        "input": _bad_array(X, (2, 4, 8, 1), alone=True), "kernel_size": _bad_positive(), "stride": _bad_positive(none_ok=True),
        "padding": _BAD_PADDING, "ceil_mode": _BAD_FLAG, "count_include_pad": _BAD_FLAG,
        "divisor_override": st.one_of(st.integers(-3, 0), st.sampled_from([1.5, "2", True, 2.0])),
        "backend": _BAD_CHOICE}),
    "avg_pool2d_backward": ({"grad_output": GP, "input": X, "kernel_size": 2}, {
        "grad_output": _bad_array(GP, (1, 4, 4, 4)), "input": _bad_array(X, (2, 4, 10, 8)),
        "kernel_size": _bad_positive(), "padding": _BAD_PADDING, "count_include_pad": _BAD_FLAG, "backend": _BAD_CHOICE}),
    "adaptive_avg_pool2d": ({"input": X, "output_size": 3}, {
        "input": _bad_array(X, (2, 4, 0, 8), alone=True), "output_size": _bad_positive(none_ok=True)}),
    "adaptive_avg_pool2d_backward": ({"grad_output": GA, "input": X, "output_size": 3}, {
        "grad_output": _bad_array(GA, (2, 4, 3, 2)), "input": _bad_array(X, (2, 3, 8, 8)),
        "output_size": _bad_positive(none_ok=True)}),
    "adaptive_max_pool2d": ({"input": X, "output_size": 3}, {
        "input": _bad_array(X, (2, 4, 8, 0), alone=True), "output_size": _bad_positive(none_ok=True),
        "return_indices": _BAD_FLAG}),
    "adaptive_max_pool2d_backward": ({"grad_output": GA, "input": X, "output_size": 3}, {
        "grad_output": _bad_array(GA, (2, 4, 4, 3)), "input": _bad_array(X, (1, 4, 8, 8)),
        "output_size": _bad_positive(none_ok=True)}),
    "lp_pool2d": ({"input": X, "norm_type": 2, "kernel_size": 2}, {
        "input": _bad_array(X, (2, 4, 1, 1), alone=True), "kernel_size": _bad_positive(),
        "stride": _bad_positive(none_ok=True), "norm_type": st.sampled_from([0, -1, float("inf"), float("nan"), "2", None, True]),
        "ceil_mode": _BAD_FLAG}),
    "lp_pool2d_backward": ({"grad_output": GP, "input": X, "norm_type": 2, "kernel_size": 2}, {
        "grad_output": _bad_array(GP, (2, 4, 3, 4)), "input": _bad_array(X, (2, 4, 6, 8)),
        "kernel_size": _bad_positive(), "norm_type": st.sampled_from([0, -2, float("inf"), "2", None])}),
    "set_num_threads": ({"n": 1}, {"n": st.one_of(st.integers(-3, 0), st.integers(10**4, 10**6), _FLOATS,
                                                  _NOT_NUMBERS, st.just(True))}),
    "set_workspace_limit": ({"nbytes": 2**20}, {"nbytes": st.one_of(st.integers(-3, 2**20 - 1), _FLOATS,
                                                                    _NOT_NUMBERS, st.just(True))}),
}


@st.composite
def bad_calls(draw):
    name = draw(st.sampled_from(sorted(BAD_CALLS)))
    good, bad = BAD_CALLS[name]
    parameter = draw(st.sampled_from(sorted(bad)))
    return name, parameter, {**good, parameter: draw(bad[parameter])}


@settings(max_examples=10 * settings().max_examples)
@given(bad_calls())
def test_bad_arguments_raise_a_named_error(call):
    name, parameter, kwargs = call
    before = (X.copy(), W.copy(), fastconv.get_num_threads(), fastconv.get_workspace_limit())
    with pytest.raises((ValueError, TypeError)) as info:
        getattr(fastconv, name)(**kwargs)
    message = str(info.value)
    # the message names what was wrong: the parameter (arrays: by name or by their dtype)
    assert parameter in message or (parameter in ("input", "weight", "bias", "grad_output") and "dtype" in message), (
        f"{name}({parameter}=...): {type(info.value).__name__}: {message}")
    assert np.array_equal(before[0], X) and np.array_equal(before[1], W)
    assert (fastconv.get_num_threads(), fastconv.get_workspace_limit()) == before[2:]
