"""Every registered convolution kernel against the float64 reference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastconv
from fastconv import _c, _registry, reference

from conftest import (CASE_IDS, CONV_CASES, absolute_references, assert_conv_matches_reference, assert_within,
                      conv_params_of, make_data, reduction_lengths, unsupported)
from fastconv.bench.accuracy import conv_bound

FWD_KERNELS = _registry.kernels("conv2d_fwd")
PAIRS = sorted({(s.algorithm, s.backend) for s in FWD_KERNELS})
PAIR_IDS = [f"{a}-{b}" for a, b in PAIRS]
C_ALGORITHMS = sorted({a for a, b in PAIRS if b == "c"})
# exact on integer data: every algorithm but F(4x4, 3x3), whose G has 1/6, 1/12 and
# 1/24 (F(2x2, 3x3)'s transforms hold only 0, +-1 and +-1/2, so small integers stay exact)
INEXACT = {"winograd_f4x4k3x3"}
EXACT_PAIRS = [pair for pair in PAIRS if pair[0] not in INEXACT]


def _run_all(x, w, b, gy, kwargs, algorithm, backend):
    y = fastconv.conv2d(x, w, b, algorithm=algorithm, backend=backend, **kwargs)
    grads = fastconv.conv2d_backward(gy, x, w, algorithm=algorithm, backend=backend, **kwargs)
    return (y,) + tuple(grads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("case", CONV_CASES, ids=CASE_IDS)
def test_matches_reference_within_bound(case, pair, dtype, rng):
    _, xshape, wshape, kwargs = case
    x, w = make_data(xshape, dtype, rng), make_data(wshape, dtype, rng)
    b = make_data(wshape[:1], dtype, rng)
    gy = make_data(conv_params_of(x, w, b, kwargs).output_shape, dtype, rng)
    assert_conv_matches_reference(x, w, b, gy, kwargs, pair)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("pair", EXACT_PAIRS, ids=[f"{a}-{b}" for a, b in EXACT_PAIRS])
@pytest.mark.parametrize("case", CONV_CASES, ids=CASE_IDS)
def test_exact_on_integer_data(case, pair, dtype, rng):
    _, xshape, wshape, kwargs = case
    x, w = make_data(xshape, dtype, rng, integer=True), make_data(wshape, dtype, rng, integer=True)
    b = make_data(wshape[:1], dtype, rng, integer=True)
    if unsupported(conv_params_of(x, w, b, kwargs), pair):
        return
    y_ref = reference.conv2d(x, w, b, **kwargs)
    gy = make_data(y_ref.shape, dtype, rng, integer=True)
    expected = (y_ref,) + reference.conv2d_backward(gy, x, w, **kwargs)
    for actual, exp in zip(_run_all(x, w, b, gy, kwargs, *pair), expected):
        np.testing.assert_array_equal(actual, exp)


def _noncontiguous_views(x):
    """The same values as x through views with unusual strides."""
    yield "transposed", np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    yield "fortran", np.asfortranarray(x)
    flipped = np.ascontiguousarray(x[:, ::-1, ::-1, ::-1])
    yield "negative_strides", flipped[:, ::-1, ::-1, ::-1]
    padded = np.zeros(x.shape[:3] + (2 * x.shape[3],), x.dtype)
    padded[..., ::2] = x
    yield "step2", padded[..., ::2]


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("kwargs", [{}, {"padding": 1, "stride": 2}, {"padding": 2, "padding_mode": "reflect"}],
                         ids=["plain", "padded_strided", "reflect"])
def test_any_strides_give_the_contiguous_result(pair, kwargs, rng):
    x = make_data((2, 3, 7, 6), np.float32, rng, integer=True)
    w = make_data((4, 3, 3, 3), np.float32, rng, integer=True)
    if unsupported(conv_params_of(x, w, None, kwargs), pair):
        return
    y0 = fastconv.conv2d(x, w, algorithm=pair[0], backend=pair[1], **kwargs)
    gy = make_data(y0.shape, np.float32, rng, integer=True)
    g0 = fastconv.conv2d_backward(gy, x, w, algorithm=pair[0], backend=pair[1], **kwargs)
    for name, view in _noncontiguous_views(x):
        np.testing.assert_array_equal(view, x)
        np.testing.assert_array_equal(fastconv.conv2d(view, w, algorithm=pair[0], backend=pair[1], **kwargs), y0, err_msg=name)
        for a, b in zip(fastconv.conv2d_backward(gy[:, :, ::-1][:, :, ::-1], view, w[::-1][::-1],
                                                  algorithm=pair[0], backend=pair[1], **kwargs), g0):
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("isa", [i for i in _c.ISA_NAMES[:_c.ISA_NAMES.index(_c.isa_detected())]])
@pytest.mark.parametrize("case", CONV_CASES[::3], ids=CASE_IDS[::3])
def test_every_instruction_set_of_the_c_backend(case, isa, rng):
    """The lesser ISAs' micro-kernels (tile shapes, tails) on this machine too, for
    every C algorithm."""
    _, xshape, wshape, kwargs = case
    x, w = make_data(xshape, np.float32, rng, integer=True), make_data(wshape, np.float32, rng, integer=True)
    y_ref = reference.conv2d(x, w, **kwargs)
    gy = make_data(y_ref.shape, np.float32, rng, integer=True)
    expected = (y_ref,) + reference.conv2d_backward(gy, x, w, **kwargs)
    best = _c.isa_active()
    _c.select_isa(isa)
    try:
        for dtype, algorithm in itertools.product((np.float32, np.float64), C_ALGORITHMS):
            xd, wd, gyd = x.astype(dtype), w.astype(dtype), gy.astype(dtype)
            p = conv_params_of(xd, wd, None, kwargs)
            if unsupported(p, (algorithm, "c")):
                continue
            got = (fastconv.conv2d(xd, wd, backend="c", algorithm=algorithm, **kwargs),) + \
                fastconv.conv2d_backward(gyd, xd, wd, backend="c", algorithm=algorithm, **kwargs)
            magnitudes = absolute_references(xd, wd, None, gyd, kwargs)
            lengths = reduction_lengths(p)
            for name, actual, exp, mag in zip(("conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter", "bias"),
                                              got, expected, magnitudes):
                if algorithm not in INEXACT:
                    np.testing.assert_array_equal(actual, exp, err_msg=f"{isa} {algorithm} {dtype}")
                elif name != "bias":
                    spec = _registry.select(name, p, algorithm, "c")
                    bound = conv_bound(spec, name, p, xd, wd, gyd, mag, lengths[name])
                    assert_within(actual, exp, bound, f"{isa} {algorithm} {dtype} {name}")
    finally:
        _c.select_isa(best)


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("case", CONV_CASES[::2], ids=CASE_IDS[::2])
def test_adjoint_identities(case, pair, rng):
    """<conv(x, w), y> = <x, bwd_data(y)> = <w, bwd_filter(x, y)> in float64."""
    _, xshape, wshape, kwargs = case
    x, w = make_data(xshape, np.float64, rng), make_data(wshape, np.float64, rng)
    if unsupported(conv_params_of(x, w, None, kwargs), pair):
        return
    y = fastconv.conv2d(x, w, algorithm=pair[0], backend=pair[1], **kwargs)
    gy = make_data(y.shape, np.float64, rng)
    gx, gw, _ = fastconv.conv2d_backward(gy, x, w, algorithm=pair[0], backend=pair[1], **kwargs)
    lhs = np.vdot(y, gy)
    scale = np.vdot(np.abs(y), np.abs(gy)) + 1.0
    assert abs(lhs - np.vdot(x, gx)) <= 1e-11 * scale
    assert abs(lhs - np.vdot(w, gw)) <= 1e-11 * scale


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("kwargs", [
    {"padding": 1}, {"stride": 2, "padding": (1, 0, 2, 1)}, {"dilation": 2, "padding": 2, "padding_mode": "reflect"},
    {"padding": 2, "padding_mode": "replicate", "groups": 2}, {"padding": (1, 2, 3, 1), "padding_mode": "circular"},
], ids=["pad", "stride_asym", "dilation_reflect", "replicate_groups", "circular"])
def test_finite_differences(pair, kwargs, rng):
    """Gradients of L = sum(conv(x, w, b) * g) by central differences in float64."""
    x, w = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((2, 2 // kwargs.get("groups", 1), 3, 2))
    if pair[0].startswith("winograd"):  # its one kernel shape
        w = rng.standard_normal((2, 2 // kwargs.get("groups", 1), 3, 3))
    b = rng.standard_normal(2)
    if unsupported(conv_params_of(x, w, b, kwargs), pair):
        return
    y = fastconv.conv2d(x, w, b, algorithm=pair[0], backend=pair[1], **kwargs)
    g = rng.standard_normal(y.shape)
    grads = fastconv.conv2d_backward(g, x, w, algorithm=pair[0], backend=pair[1], **kwargs)

    def loss(xx, ww, bb):
        return float(np.vdot(fastconv.conv2d(xx, ww, bb, algorithm=pair[0], backend=pair[1], **kwargs), g))

    h = 1e-6
    for k, (arr, grad) in enumerate(zip((x, w, b), grads)):
        for idx in np.ndindex(arr.shape):
            plus, minus = [a.copy() for a in (x, w, b)], [a.copy() for a in (x, w, b)]
            plus[k][idx] += h
            minus[k][idx] -= h
            numeric = (loss(*plus) - loss(*minus)) / (2 * h)
            assert abs(numeric - grad[idx]) <= 1e-6 * (1 + abs(numeric)), (k, idx)


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
def test_unbatched_empty_batch_out_and_inputs_untouched(pair, rng):
    alg, be = pair
    x = make_data((3, 6, 7), np.float32, rng, integer=True)
    w = make_data((5, 3, 3, 3), np.float32, rng, integer=True)
    b = make_data((5,), np.float32, rng, integer=True)
    copies = [a.copy() for a in (x, w, b)]
    y = fastconv.conv2d(x, w, b, padding=1, algorithm=alg, backend=be)
    assert y.shape == (5, 6, 7)
    np.testing.assert_array_equal(y, fastconv.conv2d(x[None], w, b, padding=1, algorithm=alg, backend=be)[0])
    out = np.full((5, 6, 7), np.nan, np.float32)
    assert fastconv.conv2d(x, w, b, padding=1, algorithm=alg, backend=be, out=out) is out
    np.testing.assert_array_equal(out, y)
    gx, gw, gb = fastconv.conv2d_backward(y, x, w, padding=1, algorithm=alg, backend=be)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == (5,)
    for original, now in zip(copies, (x, w, b)):
        np.testing.assert_array_equal(original, now)
    empty = np.zeros((0, 3, 6, 7), np.float32)
    assert fastconv.conv2d(empty, w, b, padding=1, algorithm=alg, backend=be).shape == (0, 5, 6, 7)
    ge = fastconv.conv2d_backward(np.zeros((0, 5, 6, 7), np.float32), empty, w, padding=1, algorithm=alg, backend=be)
    assert ge[0].shape == (0, 3, 6, 7) and not ge[1].any() and not ge[2].any()
    masked = fastconv.conv2d_backward(y, x, w, padding=1, output_mask=(False, True, False), algorithm=alg, backend=be)
    assert masked[0] is None and masked[2] is None
    np.testing.assert_array_equal(masked[1], gw)


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
def test_thread_count_does_not_change_results(pair, rng):
    """On one thread, two and the current count, every op within its error bound of the
    reference (so any two differ by at most twice the bound: F(4x4) splits its
    tiles by thread count, and the GEMM of a shorter chunk rounds differently);
    on integer data the exact algorithms give the same results on every count."""
    x = make_data((3, 8, 9, 9), np.float32, rng)
    w = make_data((16, 8, 3, 3), np.float32, rng)
    gy = make_data((3, 16, 9, 9), np.float32, rng)
    xi, wi = make_data(x.shape, np.float32, rng, integer=True), make_data(w.shape, np.float32, rng, integer=True)
    before, exact = fastconv.get_num_threads(), []
    try:
        for n in sorted({1, min(2, fastconv._threads.MAX_THREADS), before}):
            fastconv.set_num_threads(n)
            assert_conv_matches_reference(x, w, None, gy, {"padding": 1}, pair)
            if pair in EXACT_PAIRS:
                y = fastconv.conv2d(xi, wi, padding=1, algorithm=pair[0], backend=pair[1])
                exact.append((y,) + fastconv.conv2d_backward(y, xi, wi, padding=1, algorithm=pair[0],
                                                              backend=pair[1]))
    finally:
        fastconv.set_num_threads(before)
    for results in exact[1:]:
        for a, b in zip(exact[0], results):
            np.testing.assert_array_equal(a, b)
