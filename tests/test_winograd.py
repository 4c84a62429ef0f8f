"""Winograd kernels on tile-edge geometries, against the reference within their bound."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastconv
from fastconv import _c, _registry, _winograd, reference
from fastconv.bench.accuracy import conv_bound, reduction_lengths

from conftest import absolute_references, assert_within, make_data
from conftest import conv_params_of as _params

VARIANTS = sorted({s.algorithm for s in _registry.kernels("conv2d_fwd") if s.algorithm.startswith("winograd")})
BACKENDS = sorted({s.backend for s in _registry.kernels("conv2d_fwd") if s.algorithm.startswith("winograd")})


def _sizes(tile):
    """Output sizes at the tile's edges, and primes."""
    return (1, tile - 1, tile, tile + 1, 2 * tile + 1, 7, 13)


# benchdnn's Winograd thresholds on relative L2 error in float32 (docs/winograd.md),
# scaled by the dtype's epsilon.  The per-element bounds are worst cases that grow
# with the reduction and the transforms' coefficients: for F(4x4) on tens of
# channels they exceed half an output's magnitude, loose enough to pass an
# output computed from the wrong channels.  This typical-error check is not.
REL_L2_TARGET_F32 = {2: 1e-6, 4: 2e-5}


def _assert_rel_l2(actual, expected, tile, dtype, what):
    scale = np.linalg.norm(expected)
    if scale == 0:
        return
    target = REL_L2_TARGET_F32[tile] * np.finfo(dtype).eps / np.finfo(np.float32).eps
    rel = np.linalg.norm(np.asarray(actual, dtype=np.float64) - expected) / scale
    assert rel <= target, f"{what}: relative L2 error {rel:.2e} > {target:.1e}"


def _check(x, w, b, kwargs, algorithm, backend, rng):
    p = _params(x, w, b, kwargs)
    y = fastconv.conv2d(x, w, b, algorithm=algorithm, backend=backend, **kwargs)
    gy = make_data(y.shape, x.dtype, rng)
    got = (y,) + fastconv.conv2d_backward(gy, x, w, algorithm=algorithm, backend=backend, **kwargs)
    expected = (reference.conv2d(x, w, b, **kwargs),) + reference.conv2d_backward(gy, x, w, **kwargs)
    mags = absolute_references(x, w, b, gy, kwargs)
    lengths = reduction_lengths(p)
    for name, actual, exp, mag in zip(("conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter"), got, expected, mags):
        spec = _registry.select(name, p, algorithm, backend)
        what = f"{name} {algorithm}/{backend} {x.shape} {kwargs}"
        assert_within(actual, exp, conv_bound(spec, name, p, x, w, gy, mag, lengths[name], bias=b), what)
        if spec.tile and name != "conv2d_bwd_filter":
            _assert_rel_l2(actual, exp, spec.tile, x.dtype, what)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_tile_edge_sizes(algorithm, backend, dtype, rng):
    tile = _winograd.VARIANT_TILES[algorithm.split("_", 1)[1]]
    for oh, ow in itertools.product(_sizes(tile), repeat=2):
        x = make_data((2, 3, oh + 2, ow + 2), dtype, rng)  # valid: output oh x ow
        w = make_data((5, 3, 3, 3), dtype, rng)
        _check(x, w, make_data((5,), dtype, rng), {}, algorithm, backend, rng)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", VARIANTS)
@pytest.mark.parametrize("kwargs", [
    {"padding": 1}, {"padding": (0, 2, 1, 0)}, {"padding": "same"}, {"padding": "full"}, {"padding": 3},
    {"padding": (2, 1, 0, 2), "padding_mode": "reflect"}, {"padding": 2, "padding_mode": "replicate"},
    {"padding": (1, 3, 2, 1), "padding_mode": "circular"}, {"padding": 1, "groups": 3},
    {"padding": 1, "groups": 6},
], ids=["pad1", "asym", "same", "full", "pad3", "reflect", "replicate", "circular", "groups", "depthwise"])
def test_padding_and_groups(kwargs, algorithm, backend, rng):
    x = make_data((2, 6, 11, 9), np.float32, rng)
    w = make_data((12, 6 // kwargs.get("groups", 1), 3, 3), np.float32, rng)
    _check(x, w, make_data((12,), np.float32, rng), kwargs, algorithm, backend, rng)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", VARIANTS)
@pytest.mark.parametrize("shape", [(3, 40, 30, 30, 50), (2, 300, 5, 6, 40), (1, 20, 3, 3, 700)],
                         ids=["many_chunks", "long_reduction", "many_out_channels"])
def test_blocks_chunks_and_a_small_workspace(shape, algorithm, backend, rng):
    """Many tile chunks; several GEMM reduction blocks; output channels split among
    threads and, under a 1 MiB workspace, into several filter blocks."""
    n, c, h, wd, k = shape
    x = make_data((n, c, h, wd), np.float32, rng)
    w = make_data((k, c, 3, 3), np.float32, rng)
    before = fastconv.get_workspace_limit()
    try:
        for limit in (before, 2**20):
            fastconv.set_workspace_limit(limit)
            _check(x, w, None, {"padding": 1}, algorithm, backend, rng)
    finally:
        fastconv.set_workspace_limit(before)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", VARIANTS)
@pytest.mark.parametrize("kwargs", [{"padding": 1}, {"padding": (2, 0, 1, 1), "padding_mode": "reflect"}],
                         ids=["pad1", "reflect"])
def test_deep_layer_few_tiles(kwargs, algorithm, backend, rng):
    """Many channels on small planes, as ResNet's res5: the transformed filters
    outweigh the batch's transformed input, so Numba splits the output channels
    (in blocks, the last one short) in both the forward and the backward-data
    correlation; with bias."""
    x = make_data((2, 70, 7, 6), np.float32, rng)
    w = make_data((99, 70, 3, 3), np.float32, rng)
    _check(x, w, make_data((99,), np.float32, rng), kwargs, algorithm, backend, rng)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", VARIANTS)
def test_deep_layer_many_tiles(algorithm, backend, rng):
    """As test_deep_layer_few_tiles with 64 tiles or more (72 for F(2x2), 64 for
    F(4x4)) and more output channels than tiles: Numba's by-channels blocks are 64
    output channels wide, here a whole block and a short one on each of 2 threads."""
    shape = {"winograd_f2x2k3x3": (2, 40, 11, 11), "winograd_f4x4k3x3": (4, 40, 14, 14)}[algorithm]
    x = make_data(shape, np.float32, rng)
    w = make_data((150, 40, 3, 3), np.float32, rng)
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(2)
        _check(x, w, make_data((150,), np.float32, rng), {"padding": 1}, algorithm, backend, rng)
    finally:
        fastconv.set_num_threads(before)


@pytest.mark.parametrize("algorithm", VARIANTS)
def test_reduction_blocks_that_cut_a_run_of_filters(algorithm, rng):
    """C's filter transform gathers 32 input channels at a time and splits them where
    the GEMM's reduction blocks (KC) end: with KC = 40 the runs straddle the blocks,
    in the blocked path (few output channels) and the by-channels one."""
    x = make_data((2, 70, 7, 6), np.float32, rng)
    _c.lib.fc_gemm_blocking(40, 24, 64 * 1024)
    try:
        for c_out in (20, 99):
            w = make_data((c_out, 70, 3, 3), np.float32, rng)
            _check(x, w, make_data((c_out,), np.float32, rng), {"padding": 1}, algorithm, "c", rng)
            _check(x.astype(np.float64), w.astype(np.float64), None, {"padding": 1}, algorithm, "c", rng)
    finally:
        _c.lib.fc_gemm_blocking(256, 256, 1024 * 1024)


@pytest.mark.parametrize("algorithm", VARIANTS)
@pytest.mark.parametrize("kwargs, why", [
    ({"stride": 2}, "stride 1"), ({"dilation": 2}, "dilation 1"), ({}, "3x3 kernel"),
])
def test_unsupported_geometries_say_why(algorithm, kwargs, why, rng):
    x = make_data((1, 2, 9, 9), np.float32, rng)
    w = make_data((2, 2, 3, 3 if why != "3x3 kernel" else 5), np.float32, rng)
    with pytest.raises(_registry.UnsupportedError, match=why):
        fastconv.conv2d(x, w, algorithm=algorithm, **kwargs)
    with pytest.raises(_registry.UnsupportedError, match=why):
        fastconv.conv2d(x, w, algorithm="winograd", **kwargs)
    # auto never picks Winograd for them
    y = fastconv.conv2d(x, w, **kwargs)
    np.testing.assert_allclose(y, reference.conv2d(x, w, **kwargs), rtol=1e-5, atol=1e-5)


def test_family_name_picks_a_variant(rng):
    x, w = make_data((1, 4, 8, 8), np.float32, rng), make_data((4, 4, 3, 3), np.float32, rng)
    p = _params(x, w, None, {"padding": 1})
    assert _registry.select("conv2d_fwd", p, "winograd", "c").algorithm == "winograd_f4x4k3x3"


def test_nan_stays_inside_its_tiles(rng):
    """A non-finite input spreads to the outputs of the tiles whose patches hold it
    (the transforms mix a patch), never further."""
    x = make_data((1, 2, 16, 16), np.float32, rng)
    x[0, 1, 5, 5] = np.nan
    w = make_data((3, 2, 3, 3), np.float32, rng)
    for algorithm in VARIANTS:
        tile = _winograd.VARIANT_TILES[algorithm.split("_", 1)[1]]
        y = fastconv.conv2d(x, w, padding=1, algorithm=algorithm, backend="c")
        bad = np.argwhere(np.isnan(y[0, 0]))
        # padded row/column 6 lies in the patches of tiles starting at 6 - (tile + 1) .. 6
        lo, hi = (6 - (tile + 1)) // tile * tile, 6 // tile * tile + tile
        assert bad.size and bad.min() >= max(lo, 0) and bad.max() < hi
