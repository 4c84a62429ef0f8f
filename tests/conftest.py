"""Shared helpers: the geometry grid, data makers and the error bound."""
from __future__ import annotations

import numpy as np
import pytest

from fastconv import reference

# (name, input shape, weight shape, keyword arguments): the edge-case grid every
# convolution kernel is checked on.
CONV_CASES = [
    ("basic", (2, 3, 7, 8), (4, 3, 3, 3), {}),
    ("n1_c1", (1, 1, 5, 5), (1, 1, 3, 3), {}),
    ("primes", (3, 5, 11, 13), (7, 5, 3, 2), {"padding": 1}),
    ("1x1", (2, 17, 6, 5), (19, 17, 1, 1), {}),
    ("stride2", (2, 3, 9, 10), (5, 3, 3, 3), {"stride": 2, "padding": 1}),
    ("stride3_asym", (1, 4, 10, 11), (6, 4, 3, 2), {"stride": (3, 2), "padding": (1, 2, 0, 1)}),
    ("dilation", (2, 3, 12, 11), (4, 3, 3, 3), {"dilation": (2, 3), "padding": 2}),
    ("stride_dilation", (1, 2, 13, 13), (3, 2, 3, 3), {"stride": 2, "dilation": 2, "padding": (2, 1, 0, 3)}),
    ("groups", (2, 6, 8, 7), (9, 2, 3, 3), {"groups": 3, "padding": 1}),
    ("depthwise", (2, 8, 9, 9), (8, 1, 3, 3), {"groups": 8, "padding": 1}),
    ("depthwise_mult", (1, 4, 7, 6), (12, 1, 3, 3), {"groups": 4, "stride": 2, "padding": 1}),
    ("wide_channels", (1, 40, 6, 6), (70, 40, 3, 3), {"padding": 1}),
    ("many_out_channels", (1, 3, 5, 9), (131, 3, 2, 2), {"stride": (1, 2)}),
    ("same", (2, 3, 9, 10), (4, 3, 4, 3), {"padding": "same"}),
    ("same_stride", (1, 3, 10, 9), (4, 3, 3, 3), {"padding": "same", "stride": 2}),
    ("full", (1, 2, 5, 6), (3, 2, 3, 2), {"padding": "full"}),
    ("valid", (1, 2, 6, 6), (3, 2, 6, 6), {"padding": "valid"}),
    ("small_input_padded", (1, 2, 2, 3), (3, 2, 4, 4), {"padding": 2}),
    ("kernel_equals_input", (2, 3, 5, 5), (4, 3, 5, 5), {}),
    ("reflect", (2, 3, 7, 8), (4, 3, 3, 3), {"padding": (2, 1, 3, 1), "padding_mode": "reflect"}),
    ("replicate", (2, 3, 6, 7), (4, 3, 3, 3), {"padding": 3, "padding_mode": "replicate"}),
    ("circular", (2, 3, 5, 6), (4, 3, 3, 3), {"padding": (1, 2, 5, 6), "padding_mode": "circular"}),
    ("reflect_stride_groups", (1, 4, 9, 8), (6, 2, 3, 3), {"padding": 2, "padding_mode": "reflect", "stride": 2, "groups": 2}),
    ("wide_row", (1, 2, 3, 70), (3, 2, 3, 5), {"padding": (1, 1, 2, 2)}),
    ("tall_image", (1, 3, 40, 4), (5, 3, 3, 1), {"stride": (2, 1)}),
]
CASE_IDS = [c[0] for c in CONV_CASES]
DTYPES = (np.float32, np.float64)


def make_data(shape, dtype, rng, integer=False):
    """Random data of ``dtype``: small integers (exactly representable) or N(0, 1)."""
    if integer:
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# The bounds live in the package so the benchmark harness's error column gives the
# same verdicts as these tests.
from fastconv.bench.accuracy import error_bound, reduction_lengths  # noqa: E402,F401


def assert_within(actual, expected, bound, what):
    err = np.abs(actual.astype(np.float64) - expected)
    bad = err > bound
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} of {err.size} elements outside the error bound; "
        f"worst error {err.max():.3g}, its bound {bound.flat[int(np.argmax(err - bound))]:.3g}"
    )


def absolute_references(x, w, b, gy, kwargs):
    """Reference results of the ops on |arguments|: the sum|terms| of each element."""
    fwd = reference.conv2d(np.abs(x), np.abs(w), None if b is None else np.abs(b), **kwargs)
    gx, gw, gb = reference.conv2d_backward(np.abs(gy), np.abs(x), np.abs(w), **kwargs)
    return fwd, gx, gw, gb


@pytest.fixture
def rng(request):
    seed = abs(hash(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)
