"""Pooling: every registered kernel against the reference, and the reference against
hand-checked cases and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import fastconv
from fastconv import _registry, reference

from conftest import assert_within, error_bound, make_data

BACKENDS = sorted({s.backend for s in _registry.kernels("maxpool2d_fwd")})
DTYPES = [np.float32, np.float64]

# (name, input shape, kwargs for max_pool2d; avg_pool2d takes them without dilation)
POOL_CASES = [
    ("k2", (2, 3, 8, 8), {"kernel_size": 2}),
    ("k3s2", (1, 4, 9, 11), {"kernel_size": 3, "stride": 2}),
    ("k3s2p1", (2, 2, 10, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("ceil_border", (1, 3, 8, 9), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
    ("ceil_padded", (1, 2, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("one_side_padding", (2, 2, 6, 7), {"kernel_size": (3, 2), "stride": 2, "padding": (0, 1, 1, 0)}),
    ("kernel_is_input", (2, 3, 5, 6), {"kernel_size": (5, 6)}),
    ("stride_over_kernel", (1, 3, 11, 10), {"kernel_size": 2, "stride": (4, 3)}),
    ("rect", (1, 2, 9, 13), {"kernel_size": (2, 4), "stride": (1, 3), "padding": (1, 2)}),
    ("unit", (1, 5, 4, 4), {"kernel_size": 1}),
    ("overlap_s1", (2, 2, 6, 6), {"kernel_size": 3, "stride": 1, "padding": 1}),
    ("resnet_like", (1, 8, 16, 16), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("tall_plane", (1, 2, 150, 9), {"kernel_size": 3, "stride": 1, "padding": 1}),  # > 64 output rows
    # many small planes: stacked several at a time, the last group short
    ("many_planes", (3, 37, 7, 7), {"kernel_size": 3, "stride": 1, "padding": (1, 0, 2, 1)}),
    # stride-2 small planes: blocks of output rows across planes, the last one short
    ("small_planes_s2", (3, 29, 14, 14), {"kernel_size": 3, "stride": 2}),
    # wide rows: average backward by input rows (even/odd halves for stride 2, odd width)
    ("wide_s2_ceil", (1, 3, 13, 70), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("wide_odd_s2", (2, 2, 21, 33), {"kernel_size": (3, 4), "stride": 2}),
    ("wide_s1_tall", (1, 1, 70, 48), {"kernel_size": 3, "stride": 1, "padding": 1}),  # runs of 64 rows
    ("wide_tall_window", (1, 1, 140, 40), {"kernel_size": (70, 3), "stride": (1, 2)}),  # > 64 covering rows
    # clipped windows that do not advance: both outputs of a row read column 0
    ("windows_not_advancing", (2, 3, 4, 1), {"kernel_size": (1, 2), "stride": 1, "padding": (0, 1)}),
    # planes across vector lanes: outputs fewer than a vector's lanes; planes of fewer
    # elements than float32's 8 lanes (float64's 4 still take the lanes); uncovered cells
    ("lanes_tiny_outputs", (2, 9, 5, 6), {"kernel_size": 3, "stride": 2}),
    ("lanes_short_planes", (3, 5, 2, 3), {"kernel_size": 2, "stride": 1, "padding": (0, 1)}),
    ("lanes_uncovered", (1, 19, 7, 9), {"kernel_size": 2, "stride": 3, "ceil_mode": True}),
    # planes too big for one buffer: bands of output rows, the last one short
    ("lanes_bands", (1, 9, 100, 80), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    # output the input's size (Numba's flat passes and their clipped rows and columns):
    # many planes to a group, and padding on one side of the columns only
    ("same_many_planes", (3, 37, 7, 7), {"kernel_size": 3, "stride": 1, "padding": 1}),
    ("same_asym", (2, 5, 9, 10), {"kernel_size": (3, 2), "stride": 1, "padding": (1, 1, 0, 1)}),
]
DILATED_CASES = [
    ("dilation", (1, 3, 12, 11), {"kernel_size": 3, "stride": 2, "dilation": (2, 3), "padding": 1}),
    ("dilation_ceil", (2, 2, 9, 9), {"kernel_size": 2, "stride": 2, "dilation": 2, "ceil_mode": True}),
    ("dilation_s1_planes", (2, 21, 9, 8), {"kernel_size": (3, 2), "stride": 1, "dilation": (2, 3), "padding": 1}),
]
IDS = [c[0] for c in POOL_CASES]


def _avg_kwargs(kwargs, count_include_pad=True, divisor_override=None):
    return {**kwargs, "count_include_pad": count_include_pad, "divisor_override": divisor_override}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", POOL_CASES + DILATED_CASES, ids=IDS + [c[0] for c in DILATED_CASES])
def test_max_pool_matches_reference_exactly(case, backend, dtype, rng):
    _, shape, kwargs = case
    x = make_data(shape, dtype, rng, integer=True)  # small integers: ties everywhere
    y, idx = fastconv.max_pool2d(x, **kwargs, return_indices=True, backend=backend)
    ry, ridx = reference.max_pool2d(x, **kwargs, return_indices=True)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    assert y.dtype == dtype and idx.dtype == np.int64
    # without indices the kernels take their faster values-only paths
    np.testing.assert_array_equal(fastconv.max_pool2d(x, **kwargs, backend=backend), ry)
    gy = make_data(y.shape, dtype, rng, integer=True)
    expected = reference.max_pool2d_backward(gy, x, **kwargs)
    np.testing.assert_array_equal(fastconv.max_pool2d_backward(gy, x, **kwargs, backend=backend), expected)
    np.testing.assert_array_equal(fastconv.max_pool2d_backward(gy, x, **kwargs, indices=idx, backend=backend), expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("divisor", [(True, None), (False, None), (True, 5)], ids=["include_pad", "exclude_pad", "override"])
@pytest.mark.parametrize("case", POOL_CASES, ids=IDS)
def test_avg_pool_matches_reference(case, divisor, backend, dtype, rng):
    _, shape, kwargs = case
    kw = _avg_kwargs(kwargs, *divisor)
    x = make_data(shape, dtype, rng)
    y = fastconv.avg_pool2d(x, **kw, backend=backend)
    k = np.prod(np.broadcast_to(kwargs["kernel_size"], 2))
    assert_within(y, reference.avg_pool2d(x, **kw), error_bound(k, dtype, reference.avg_pool2d(np.abs(x), **kw)), "avg fwd")
    gy = make_data(y.shape, dtype, rng)
    expected = reference.avg_pool2d_backward(gy, x, **kw)
    bound = error_bound(k, dtype, reference.avg_pool2d_backward(np.abs(gy), x, **kw))
    assert_within(fastconv.avg_pool2d_backward(gy, x, **kw, backend=backend), expected, bound, "avg bwd")


def test_seed_max_pool_example_and_its_shift():
    """seeds/004: A's 2x2 max-pool is [[20, 30], [112, 37]]; A shifted right behind a
    zero column (B) gives [[12, 30], [112, 100]]."""
    A = np.array([[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]], np.float64)
    B = np.hstack([np.zeros((4, 1)), A[:, :3]])
    for fn in [reference.max_pool2d] + [lambda *a, b=b: fastconv.max_pool2d(*a, backend=b) for b in BACKENDS]:
        assert fn(A[None], 2)[0].tolist() == [[20, 30], [112, 37]]
        assert fn(B[None], 2)[0].tolist() == [[12, 30], [112, 100]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_inf_and_ties(backend):
    x = np.array([[[[1, 5, 5, 2], [0, np.nan, 1, 3], [-np.inf, -np.inf, 7, 7], [-np.inf, -np.inf, 7, np.inf]]]])
    for dtype in DTYPES:
        y, idx = fastconv.max_pool2d(x.astype(dtype), 2, return_indices=True, backend=backend)
        ry, ridx = reference.max_pool2d(x, 2, return_indices=True)
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(idx, ridx)
        assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 5  # the NaN's position
        assert y[0, 0, 0, 1] == 5 and idx[0, 0, 0, 1] == 2       # first of the tied 5s
        assert y[0, 0, 1, 0] == -np.inf and idx[0, 0, 1, 0] == 8  # all -inf: the first cell
        assert y[0, 0, 1, 1] == np.inf and idx[0, 0, 1, 1] == 15
        a = fastconv.avg_pool2d(x.astype(dtype), 2, backend=backend)
        assert np.isnan(a[0, 0, 0, 0]) and a[0, 0, 1, 0] == -np.inf and a[0, 0, 1, 1] == np.inf


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_global_pooling_of_large_planes_with_nan_and_inf(backend, dtype, rng):
    """Whole-plane windows (the vectorized one-reduction-per-plane path): a NaN
    anywhere in the plane, first, in the middle or in the tail, wins; infinities."""
    x = rng.standard_normal((2, 6, 9, 11)).astype(dtype)
    x[0, 0, 0, 0] = x[0, 1, 4, 5] = x[1, 2, 8, 10] = np.nan
    x[0, 3, 7, 2], x[1, 4, 0, 3] = np.inf, -np.inf
    for kwargs in ({"kernel_size": (9, 11)}, {"kernel_size": (9, 11), "padding": 0}):
        np.testing.assert_array_equal(fastconv.max_pool2d(x, **kwargs, backend=backend), reference.max_pool2d(x, **kwargs))
        y = fastconv.avg_pool2d(x, **kwargs, backend=backend)
        finite = np.isfinite(reference.avg_pool2d(x, **kwargs))
        np.testing.assert_array_equal(y[~finite], reference.avg_pool2d(x, **kwargs)[~finite])  # NaN, +-inf
        bound = error_bound(99, dtype, reference.avg_pool2d(np.abs(np.where(np.isfinite(x), x, 0)), **kwargs))
        assert_within(y[finite], reference.avg_pool2d(x, **kwargs)[finite], bound[finite], "global avg")
    assert np.isnan(fastconv.max_pool2d(x, (9, 11), backend=backend)[[0, 0, 1], [0, 1, 2]]).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_many_small_planes_with_nan_and_inf(backend, dtype, rng):
    """Planes pooled a group at a time across vector lanes (C) find out per group
    whether a NaN is present: groups with NaN or infinities in some planes, and
    groups with none."""
    x = rng.standard_normal((2, 11, 7, 9)).astype(dtype)
    x[0, 1, 3, 4] = x[1, 9, 6, 8] = x[1, 10, 0, 0] = np.nan
    x[0, 2, 0, 0], x[1, 3, 5, 5] = np.inf, -np.inf
    for kwargs in ({"kernel_size": 3, "stride": 1, "padding": 1}, {"kernel_size": 3, "stride": 2, "ceil_mode": True}):
        np.testing.assert_array_equal(fastconv.max_pool2d(x, **kwargs, backend=backend), reference.max_pool2d(x, **kwargs))
        y, expected = fastconv.avg_pool2d(x, **kwargs, backend=backend), reference.avg_pool2d(x, **kwargs)
        finite = np.isfinite(expected)
        np.testing.assert_array_equal(y[~finite], expected[~finite])  # NaN, +-inf
        bound = error_bound(9, dtype, reference.avg_pool2d(np.abs(np.where(np.isfinite(x), x, 0)), **kwargs))
        assert_within(y[finite], expected[finite], bound[finite], "avg with NaN elsewhere")


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbatched_noncontiguous_empty_and_untouched(backend, rng):
    x = make_data((3, 9, 8), np.float32, rng, integer=True)
    before = x.copy()
    y = fastconv.max_pool2d(x, 3, 2, 1, backend=backend)
    np.testing.assert_array_equal(y, fastconv.max_pool2d(x[None], 3, 2, 1, backend=backend)[0])
    np.testing.assert_array_equal(x, before)
    view = np.ascontiguousarray(x[:, ::-1, :].transpose(0, 2, 1)).transpose(0, 2, 1)[:, ::-1, :]
    np.testing.assert_array_equal(fastconv.max_pool2d(view, 3, 2, 1, backend=backend), y)
    np.testing.assert_array_equal(fastconv.avg_pool2d(np.asfortranarray(x), 3, 2, 1, backend=backend),
                                  fastconv.avg_pool2d(x, 3, 2, 1, backend=backend))
    empty = np.zeros((0, 3, 9, 8), np.float32)
    assert fastconv.max_pool2d(empty, 3, 2, 1, backend=backend).shape == (0, 3, 5, 4)
    assert fastconv.avg_pool2d_backward(np.zeros((0, 3, 5, 4), np.float32), empty, 3, 2, 1,
                                        backend=backend).shape == (0, 3, 9, 8)


@pytest.mark.parametrize("output_size", [1, 3, (2, 5), (None, 2), (7, 9), (11, 4)])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_adaptive_pools(output_size, dtype, rng):
    x = make_data((2, 3, 7, 9), dtype, rng, integer=True)
    y, idx = fastconv.adaptive_max_pool2d(x, output_size, return_indices=True)
    ry, ridx = reference.adaptive_max_pool2d(x, output_size, return_indices=True)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    gy = make_data(y.shape, dtype, rng, integer=True)
    np.testing.assert_array_equal(fastconv.adaptive_max_pool2d_backward(gy, x, output_size),
                                  reference.adaptive_max_pool2d_backward(gy, x, output_size))
    a = fastconv.adaptive_avg_pool2d(x, output_size)
    bound = error_bound(63, dtype, reference.adaptive_avg_pool2d(np.abs(x), output_size))
    assert_within(a, reference.adaptive_avg_pool2d(x, output_size), bound, "adaptive avg")
    ga = fastconv.adaptive_avg_pool2d_backward(gy, x, output_size)
    bound = error_bound(63, dtype, reference.adaptive_avg_pool2d_backward(np.abs(gy), x, output_size))
    assert_within(ga, reference.adaptive_avg_pool2d_backward(gy, x, output_size), bound, "adaptive avg bwd")


@pytest.mark.parametrize("norm_type", [1, 2, 3.5])
@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "ceil_mode": True}])
def test_lp_pool(norm_type, kwargs, rng):
    x = np.abs(rng.standard_normal((2, 3, 7, 8))) + 0.1
    y = fastconv.lp_pool2d(x, norm_type, **kwargs)
    np.testing.assert_allclose(y, reference.lp_pool2d(x, norm_type, **kwargs), rtol=1e-12)
    gy = rng.standard_normal(y.shape)
    gx = fastconv.lp_pool2d_backward(gy, x, norm_type, **kwargs)
    np.testing.assert_allclose(gx, reference.lp_pool2d_backward(gy, x, norm_type, **kwargs), rtol=1e-10)
    h = 1e-6  # finite differences of sum(lp(x) * gy)
    for idx in [(0, 0, 0, 0), (1, 2, 3, 4), (0, 1, 6, 7)]:
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        numeric = (np.vdot(fastconv.lp_pool2d(plus, norm_type, **kwargs), gy)
                   - np.vdot(fastconv.lp_pool2d(minus, norm_type, **kwargs), gy)) / (2 * h)
        assert abs(numeric - gx[idx]) <= 1e-6 * (1 + abs(numeric))


@pytest.mark.parametrize("backend", BACKENDS)
def test_avg_pool_adjoint_identity(backend, rng):
    x = rng.standard_normal((2, 3, 9, 8))
    kw = {"kernel_size": 3, "stride": 2, "padding": (1, 0, 0, 1), "ceil_mode": True, "count_include_pad": False}
    y = fastconv.avg_pool2d(x, **kw, backend=backend)
    gy = rng.standard_normal(y.shape)
    assert np.isclose(np.vdot(y, gy), np.vdot(x, fastconv.avg_pool2d_backward(gy, x, **kw, backend=backend)), rtol=1e-12)


X = np.zeros((1, 2, 6, 6), np.float32)


@pytest.mark.parametrize("call, error, words", [
    (lambda: fastconv.max_pool2d(X, 0), ValueError, "kernel_size"),
    (lambda: fastconv.max_pool2d(X, 2, stride=0), ValueError, "stride"),
    (lambda: fastconv.max_pool2d(X, 2, padding="same"), TypeError, "padding"),
    (lambda: fastconv.max_pool2d(X, 2, padding=-1), ValueError, "padding"),
    (lambda: fastconv.max_pool2d(X, 2, padding=2), ValueError, "entirely in the padding"),
    (lambda: fastconv.max_pool2d(X, 7), ValueError, "kernel_size"),
    (lambda: fastconv.max_pool2d(X, 2, ceil_mode=1), TypeError, "ceil_mode"),
    (lambda: fastconv.max_pool2d(X, 2, return_indices="yes"), TypeError, "return_indices"),
    (lambda: fastconv.max_pool2d(X.astype(np.int64), 2), TypeError, "int64"),
    (lambda: fastconv.max_pool2d(X, 2, backend="gpu"), ValueError, "backend"),
    (lambda: fastconv.avg_pool2d(X, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: fastconv.avg_pool2d(X, 2, count_include_pad=None), TypeError, "count_include_pad"),
    (lambda: fastconv.lp_pool2d(X, 0, 2), ValueError, "norm_type"),
    (lambda: fastconv.lp_pool2d(X, float("inf"), 2), ValueError, "norm_type"),
    (lambda: fastconv.lp_pool2d(X, "2", 2), ValueError, "norm_type"),
    (lambda: fastconv.adaptive_avg_pool2d(X, 0), ValueError, "output_size"),
    (lambda: fastconv.adaptive_max_pool2d(X, (2, 2, 2)), TypeError, "output_size"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 2, 3, 3), np.float32), X, 3, stride=1), ValueError, "grad_output"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 2, 3, 3), np.float64), X, 2, stride=2), TypeError, "grad_output"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 2, 3, 3), np.float32), X, 2, indices=np.zeros((1, 2, 3, 3), np.int32)), TypeError, "indices"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 2, 3, 3), np.float32), X, 2, indices=np.zeros((1, 2, 3, 2), np.int64)), ValueError, "indices"),
    (lambda: fastconv.max_pool2d_backward(np.zeros((1, 2, 3, 3), np.float32), X, 2, indices=np.full((1, 2, 3, 3), 36, np.int64)), ValueError, r"\[0, 36\)"),
])
def test_pool_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()


try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is optional
    torch = None


# PyTorch's pooling has no (top, bottom, left, right) padding: those cases are
# checked against the reference only.
TORCH_CASES = [c for c in POOL_CASES + DILATED_CASES if len(np.atleast_1d(c[2].get("padding", 0))) < 4]


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_against_torch(case, backend, rng):
    _, shape, kwargs = case
    kwargs = dict(kwargs)
    pad = kwargs.pop("padding", 0)
    x = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = F.max_pool2d(tx, padding=pad, return_indices=True, **kwargs)
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    y, idx = fastconv.max_pool2d(x, padding=pad, return_indices=True, backend=backend, **kwargs)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, ti.numpy())
    np.testing.assert_array_equal(fastconv.max_pool2d_backward(gy, x, padding=pad, backend=backend, **kwargs), tx.grad.numpy())
    if "dilation" in kwargs:
        return
    for cip in (True, False):
        tx = torch.tensor(x, requires_grad=True)
        ta = F.avg_pool2d(tx, padding=pad, count_include_pad=cip, **kwargs)
        ta.backward(torch.tensor(gy))
        a = fastconv.avg_pool2d(x, padding=pad, count_include_pad=cip, backend=backend, **kwargs)
        np.testing.assert_allclose(a, ta.detach().numpy(), rtol=1e-12, atol=1e-14)
        ga = fastconv.avg_pool2d_backward(gy, x, padding=pad, count_include_pad=cip, backend=backend, **kwargs)
        np.testing.assert_allclose(ga, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_adaptive_and_lp_against_torch(rng):
    x = np.abs(rng.standard_normal((2, 3, 7, 9))) + 0.1
    for size in [1, (3, 4), (7, 9), (10, 5)]:
        tx = torch.tensor(x, requires_grad=True)
        F.adaptive_avg_pool2d(tx, size).sum().backward()
        np.testing.assert_allclose(fastconv.adaptive_avg_pool2d(x, size), F.adaptive_avg_pool2d(torch.tensor(x), size).numpy(), rtol=1e-12)
        gy = np.ones(fastconv.adaptive_avg_pool2d(x, size).shape)
        np.testing.assert_allclose(fastconv.adaptive_avg_pool2d_backward(gy, x, size), tx.grad.numpy(), rtol=1e-12)
        ty, ti = F.adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)
        y, idx = fastconv.adaptive_max_pool2d(x, size, return_indices=True)
        np.testing.assert_array_equal(y, ty.numpy())
        np.testing.assert_array_equal(idx, ti.numpy())
    for p_norm, kw in [(2, {"kernel_size": 2}), (3.5, {"kernel_size": 3, "stride": 2, "ceil_mode": True})]:
        tx = torch.tensor(x, requires_grad=True)
        ty = F.lp_pool2d(tx, p_norm, **kw)
        gy = rng.standard_normal(tuple(ty.shape))
        ty.backward(torch.tensor(gy))
        np.testing.assert_allclose(fastconv.lp_pool2d(x, p_norm, **kw), ty.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(fastconv.lp_pool2d_backward(gy, x, p_norm, **kw), tx.grad.numpy(), rtol=1e-9)
