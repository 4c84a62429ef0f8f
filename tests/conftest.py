"""Shared helpers: the geometry grid, data makers and the error bound."""
from __future__ import annotations

import re

import numpy as np
import pytest

import fastconv
from fastconv import _registry, reference
from fastconv._params import conv_params

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
from fastconv.bench.accuracy import conv_bound, error_bound, reduction_lengths  # noqa: E402,F401


def assert_within(actual, expected, bound, what):
    err = np.abs(actual.astype(np.float64) - expected)
    bad = err > bound
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} of {err.size} elements outside the error bound; "
        f"worst error {err.max():.3g}, its bound {bound.flat[int(np.argmax(err - bound))]:.3g}"
    )


def conv_params_of(x, w, b, kwargs):
    """The validated geometry of conv2d(x, w, b, **kwargs)."""
    return conv_params(x, w, b, kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("dilation", 1),
                       kwargs.get("groups", 1), kwargs.get("padding_mode", "zeros"))


def unsupported(p, pair):
    """True, after checking that every op refuses the call with the kernel's reason,
    when the (algorithm, backend) pair cannot serve ConvParams p (Winograd: 3x3
    stride 1 only)."""
    why = _registry.lookup("conv2d_fwd", *pair, "f32").supports(p)
    if why is None:
        return False
    for op in _registry.CONV_OPS:
        with pytest.raises(_registry.UnsupportedError, match=re.escape(why)):
            _registry.select(op, p, *pair)
    return True


def assert_conv_matches_reference(x, w, b, gy, kwargs, pair):
    """conv2d and conv2d_backward of the pair within their error bounds of the
    reference, dtypes and shapes kept (x may be unbatched)."""
    batched = x.ndim == 4
    x4, gy4 = (x, gy) if batched else (x[None], gy[None])
    p = conv_params_of(x4, w, b, kwargs)
    if unsupported(p, pair):
        return
    expected = (reference.conv2d(x, w, b, **kwargs),) + reference.conv2d_backward(gy, x, w, **kwargs)
    magnitudes = absolute_references(x4, w, b, gy4, kwargs)
    lengths = reduction_lengths(p)
    got = (fastconv.conv2d(x, w, b, algorithm=pair[0], backend=pair[1], **kwargs),) + tuple(
        fastconv.conv2d_backward(gy, x, w, algorithm=pair[0], backend=pair[1], **kwargs))
    names = ("conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter", "bias")
    for name, actual, exp, mag in zip(names, got, expected, magnitudes):
        assert actual.dtype == x.dtype and actual.shape == exp.shape, name
        if not batched and name in ("conv2d_fwd", "conv2d_bwd_data"):
            actual, exp = actual[None], exp[None]
        spec = _registry.select(name if name != "bias" else "conv2d_bwd_filter", p, *pair)
        bound = (error_bound(lengths[name], x.dtype, mag, spec.error_scale) if name == "bias" else
                 conv_bound(spec, name, p, x4, w, gy4, mag, lengths[name], bias=b))
        assert_within(actual, exp, bound, f"{name} {pair}")


def absolute_references(x, w, b, gy, kwargs):
    """Reference results of the ops on |arguments|: the sum|terms| of each element."""
    fwd = reference.conv2d(np.abs(x), np.abs(w), None if b is None else np.abs(b), **kwargs)
    gx, gw, gb = reference.conv2d_backward(np.abs(gy), np.abs(x), np.abs(w), **kwargs)
    return fwd, gx, gw, gb


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (tests/test_large.py)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="marked slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng(request):
    seed = abs(hash(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)
