"""Tensors of more than 2**31 elements (64-bit index arithmetic end to end).

Each test needs 13-17 GB of memory and tens of seconds, so all are marked slow:
``python -m pytest tests/test_large.py --slow``.  Data are small integers, so
every result is exact and is compared with the reference on row slices at the
array's end, past element 2**31, and at its start.
"""
from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

import fastconv
from fastconv import reference

pytestmark = pytest.mark.slow

@pytest.fixture(autouse=True)
def _free_arrays():
    """Drop a failed test's frames (pytest keeps them in sys.last_traceback), and
    the gigabytes they hold, before the next test allocates its own."""
    yield
    sys.last_type = sys.last_value = sys.last_traceback = None
    gc.collect()


H, W = 32768, 32800  # one plane: 1.07e9 elements; two planes: 2.15e9 > 2**31
assert 2 * H * W > 2**31


def _pattern(shape, dtype=np.float32, seed=0):
    """Integers in [-2, 2] that vary with row, column and plane, filled in chunks of
    rows (no temporary as large as the array)."""
    a = np.empty(shape, dtype)
    cols = np.arange(shape[-1], dtype=np.int64)
    for n in range(shape[0]):
        for c in range(shape[1]):
            for r0 in range(0, shape[2], 2048):
                rows = np.arange(r0, min(r0 + 2048, shape[2]), dtype=np.int64)[:, None]
                a[n, c, r0:r0 + len(rows)] = (rows * 7 + cols * 3 + c * 11 + n + seed) % 5 - 2
    return a


def _rows_to_check(total_rows, rows_per_row=1):
    """(first, last) ranges of rows of an array of total_rows rows, each standing for
    rows_per_row rows of an (H, W) plane: the start, the end, and around the row
    where a flat index into two such planes crosses 2**31."""
    crossing = (2**31 - H * W) // W // rows_per_row
    return [(0, 3), (crossing - 2, crossing + 3), (total_rows - 3, total_rows)]


@pytest.mark.parametrize("algorithm, backend", [("direct", "c"), ("im2col", "c"), ("direct", "numba")])
def test_conv2d_output_over_2_31_elements(algorithm, backend):
    x = _pattern((1, 1, H, W))
    w = np.array([[[[1, 2, -1], [0, 1, 3], [-2, 1, 1]]], [[[2, -1, 0], [1, 1, 1], [0, -3, 2]]]], np.float32)
    b = np.array([0.5, -1.0], np.float32)
    y = fastconv.conv2d(x, w, b, padding=1, algorithm=algorithm, backend=backend)
    assert y.shape == (1, 2, H, W) and y.size > 2**31
    for r0, r1 in _rows_to_check(H):
        lo, hi = max(r0 - 1, 0), min(r1 + 1, H)  # the input rows these outputs read
        pad = (1 if lo == 0 else 0, 1 if hi == H else 0, 1, 1)
        expected = reference.conv2d(x[:, :, lo:hi], w, b, padding=pad)
        np.testing.assert_array_equal(y[:, :, r0:r1], expected[:, :, r0 - lo - (1 - pad[0]):][:, :, :r1 - r0])


def test_conv2d_backward_data_over_2_31_elements():
    """grad_input of two planes (2.15e9 elements); the input itself is only read for
    its shape, so a zero-stride view stands in for it.  No padding: a padded
    problem would also hold a padded copy of grad_input, more than this machine has."""
    gy = _pattern((1, 1, H - 2, W - 2), seed=1)
    w = np.array([[[[1, 0, -1], [2, 1, 0], [0, 1, 1]], [[-1, 2, 0], [1, 1, -2], [3, 0, 1]]]], np.float32)
    x = np.broadcast_to(np.float32(0), (1, 2, H, W))
    gx, _, _ = fastconv.conv2d_backward(gy, x, w, output_mask=(True, False, False), backend="c",
                                        algorithm="direct")
    assert gx.shape == (1, 2, H, W) and gx.size > 2**31
    for r0, r1 in _rows_to_check(H):
        lo, hi = max(r0 - 2, 0), min(r1, H - 2)  # the grad_output rows that reach input rows r0..r1-1
        sub = reference.conv2d_backward(gy[:, :, lo:hi], np.zeros((1, 2, hi - lo + 2, W), np.float32), w,
                                        output_mask=(True, False, False))[0]  # input rows lo..hi+1
        np.testing.assert_array_equal(gx[:, :, r0:r1], sub[:, :, r0 - lo:r1 - lo])


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_max_pool_input_over_2_31_elements(backend):
    x = _pattern((1, 2, H, W), seed=2)
    assert x.size > 2**31
    y, idx = fastconv.max_pool2d(x, 2, return_indices=True, backend=backend)
    assert y.shape == (1, 2, H // 2, W // 2)
    for r0, r1 in _rows_to_check(H // 2, 2):
        ry, ridx = reference.max_pool2d(x[:, :, 2 * r0:2 * r1], 2, return_indices=True)
        np.testing.assert_array_equal(y[:, :, r0:r1], ry)
        np.testing.assert_array_equal(idx[:, :, r0:r1], ridx + 2 * r0 * W)  # flat within the whole plane


def test_avg_pool_backward_output_over_2_31_elements():
    gy = _pattern((1, 2, H // 2, W // 2), seed=3)
    x = np.broadcast_to(np.float32(0), (1, 2, H, W))
    gx = fastconv.avg_pool2d_backward(gy, x, 2, backend="c")
    assert gx.size > 2**31
    for r0, r1 in _rows_to_check(H // 2, 2):
        expected = reference.avg_pool2d_backward(gy[:, :, r0:r1], np.zeros((1, 2, 2 * (r1 - r0), W), np.float32), 2)
        np.testing.assert_array_equal(gx[:, :, 2 * r0:2 * r1], expected)
