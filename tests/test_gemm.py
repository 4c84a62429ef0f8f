"""The C packed GEMM alone, against NumPy's matmul, on every instruction set."""
from __future__ import annotations

import numpy as np
import pytest

from fastconv import _c

ISAS = list(_c.ISA_NAMES[:_c.ISA_NAMES.index(_c.isa_detected()) + 1])
# 1, primes, and MR / NR +- 1 of every ISA's tiles (MR 6 or 14; NR 8, 16, 32 or 64)
SIZES = [(1, 1, 1), (1, 7, 3), (13, 1, 5), (5, 6, 7), (13, 17, 19), (14, 32, 256), (15, 33, 257),
         (6, 16, 9), (7, 15, 8), (5, 17, 11), (29, 63, 31), (31, 65, 513), (97, 101, 3)]


@pytest.fixture(params=ISAS)
def isa(request):
    best = _c.isa_active()
    _c.select_isa(request.param)
    yield request.param
    _c.select_isa(best)


def integers(rng, shape, dtype):
    """Small integers: every product and sum is exact, so results must be equal."""
    return rng.integers(-4, 5, shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("m,n,k", SIZES)
def test_exact_on_integers(m, n, k, dtype, isa, rng):
    a, b = integers(rng, (m, k), dtype), integers(rng, (k, n), dtype)
    np.testing.assert_array_equal(_c.gemm(a, b), a @ b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_transposed_strided_and_negative_stride_operands(dtype, isa, rng):
    m, n, k = 23, 37, 41
    big_a, big_b = integers(rng, (3 * k, 2 * m), dtype), integers(rng, (2 * n, 3 * k), dtype)
    a = big_a[::3, ::2].T  # m x k, both strides non-unit, column-major
    b = big_b[::-2, ::3].T  # k x n, negative strides
    expected = a @ b
    np.testing.assert_array_equal(_c.gemm(a, b), expected)
    out = np.zeros((n, m), dtype).T  # column-major output
    _c.gemm(a, b, out=out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_accumulate_and_empty_reduction(dtype, rng):
    a, b = integers(rng, (9, 4), dtype), integers(rng, (4, 21), dtype)
    c = integers(rng, (9, 21), dtype)
    expected = c + a @ b
    _c.gemm(a, b, out=c, accumulate=True)
    np.testing.assert_array_equal(c, expected)
    np.testing.assert_array_equal(_c.gemm(np.ones((3, 0), dtype), np.ones((0, 5), dtype)), np.zeros((3, 5)))
    assert _c.gemm(np.ones((0, 4), dtype), np.ones((4, 5), dtype)).shape == (0, 5)


def test_random_data_within_the_reduction_bound(rng):
    """float32 on N(0, 1) data: |error| <= gamma_k |A| |B| elementwise."""
    m, n, k = 70, 90, 1100
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    u = np.finfo(np.float32).eps / 2
    bound = k * u / (1 - k * u) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert np.all(np.abs(_c.gemm(a, b) - exact) <= bound)


def test_large_enough_for_every_blocking_loop(rng):
    """Sizes past NC and several KC blocks, on the default and a small blocking."""
    a, b = integers(rng, (300, 700), np.float32), integers(rng, (700, 2100), np.float32)
    expected = a @ b
    np.testing.assert_array_equal(_c.gemm(a, b), expected)
    _c.lib.fc_gemm_blocking(64, 64, 64 * 1024)
    try:
        np.testing.assert_array_equal(_c.gemm(a, b), expected)
    finally:
        _c.lib.fc_gemm_blocking(256, 256, 1024 * 1024)


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_does_not_change_the_result(threads, rng):
    import fastconv

    a = rng.standard_normal((50, 300)).astype(np.float32)
    b = rng.standard_normal((300, 40)).astype(np.float32)
    before = fastconv.get_num_threads()
    fastconv.set_num_threads(1)
    one = _c.gemm(a, b)
    fastconv.set_num_threads(min(threads, fastconv._threads.MAX_THREADS))
    try:
        np.testing.assert_array_equal(_c.gemm(a, b), one)
    finally:
        fastconv.set_num_threads(before)


@pytest.mark.parametrize("args,message", [
    ((np.ones((2, 3)), np.ones((4, 2))), "do not multiply"),
    ((np.ones((2, 3), np.float32), np.ones((3, 2))), "dtypes"),
    ((np.ones(3), np.ones((3, 2))), "do not multiply"),
    ((np.ones((2, 3), np.int64), np.ones((3, 2), np.int64)), "dtypes"),
])
def test_bad_arguments(args, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _c.gemm(*args)


def test_bad_out():
    a, b = np.ones((2, 3)), np.ones((3, 4))
    with pytest.raises(ValueError, match="out is"):
        _c.gemm(a, b, out=np.empty((2, 5)))
    square = np.ones((3, 3))
    with pytest.raises(ValueError, match="overlaps"):
        _c.gemm(square, np.ones((3, 3)), out=square)
    with pytest.raises(ValueError, match="read-only"):
        _c.gemm(a, b, out=np.broadcast_to(np.zeros(4), (2, 4)))
    with pytest.raises(ValueError, match="accumulate"):
        _c.gemm(a, b, accumulate=True)
