"""The public contract: argument validation, errors, dispatch and threads."""
from __future__ import annotations

import numpy as np
import pytest

import fastconv
from fastconv import _registry
from fastconv._params import conv_params, padding_index_map

X = np.zeros((2, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((X.astype(np.float64), W), {}, TypeError, "dtype"),
    ((X, W, np.zeros(6, np.float64)), {}, TypeError, "bias=float64"),
    ((X.astype(np.int32), W.astype(np.int32)), {}, TypeError, "int32"),
    ((X.astype(np.float16), W.astype(np.float16)), {}, TypeError, "float16"),
    ((X.astype(np.complex64), W.astype(np.complex64)), {}, TypeError, "complex64"),
    ((X.tolist(), W), {}, TypeError, "input"),
    ((X, "w"), {}, TypeError, "weight"),
    ((X[0, 0], W), {}, ValueError, "input"),
    ((X[None], W), {}, ValueError, "input"),
    ((X, W[0]), {}, ValueError, "weight"),
    ((X, W, np.zeros(5, np.float32)), {}, ValueError, "bias"),
    ((X, W, np.zeros((6, 1), np.float32)), {}, ValueError, "bias"),
    ((X, np.zeros((6, 3, 3, 3), np.float32)), {}, ValueError, "weight"),
    ((X, np.zeros((6, 2, 3, 3), np.float32)), {"groups": 3}, ValueError, "groups=3"),
    ((X, W), {"groups": 0}, ValueError, "groups"),
    ((X, W), {"groups": 1.0}, TypeError, "groups"),
    ((X, W), {"stride": 0}, ValueError, "stride=0"),
    ((X, W), {"stride": (1, -2)}, ValueError, "stride"),
    ((X, W), {"stride": 1.5}, TypeError, "stride=1.5"),
    ((X, W), {"stride": True}, TypeError, "stride"),
    ((X, W), {"stride": (1, 2, 3)}, TypeError, "stride"),
    ((X, W), {"dilation": 0}, ValueError, "dilation"),
    ((X, W), {"padding": -1}, ValueError, "padding=-1"),
    ((X, W), {"padding": (1, 1, 1, -1)}, ValueError, "padding"),
    ((X, W), {"padding": (1, 1, 1)}, TypeError, "padding"),
    ((X, W), {"padding": "half"}, ValueError, "padding='half'"),
    ((X, W), {"padding": 1.0}, TypeError, "padding"),
    ((X, W), {"padding_mode": "mirror"}, ValueError, "padding_mode='mirror'"),
    ((X, W), {"padding": 8, "padding_mode": "reflect"}, ValueError, "reflect"),
    ((X, W), {"padding": 9, "padding_mode": "circular"}, ValueError, "circular"),
    ((X, np.zeros((6, 4, 9, 3), np.float32)), {}, ValueError, "kernel"),
    ((X, W), {"dilation": 5}, ValueError, "larger than the padded input"),
    ((X, W), {"algorithm": "fft"}, ValueError, "algorithm='fft'"),
    ((X, W), {"backend": "cuda"}, ValueError, "backend='cuda'"),
    ((X, W), {"out": np.zeros((2, 6, 6, 6), np.float64)}, ValueError, "out"),
    ((X, W), {"out": np.zeros((2, 6, 6, 5), np.float32)}, ValueError, "out"),
    ((X, W), {"out": np.zeros((2, 6, 6, 12), np.float32)[..., ::2]}, ValueError, "C-contiguous"),
    ((X, W), {"out": [0.0]}, ValueError, "out"),
])
def test_conv2d_rejects_bad_arguments(args, kwargs, error, words):
    with pytest.raises(error) as info:
        fastconv.conv2d(*args, **kwargs)
    assert words in str(info.value)


def test_out_overlapping_an_input_is_rejected():
    storage = np.zeros(2 * 6 * 8 * 8, np.float32)
    x = storage.reshape(2, 6, 8, 8)
    out = storage[:2 * 6 * 6 * 6].reshape(2, 6, 6, 6)  # C-contiguous, inside x
    with pytest.raises(ValueError, match="overlaps the memory of input"):
        fastconv.conv2d(x, np.zeros((6, 6, 3, 3), np.float32), out=out)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"grad_output": np.zeros((2, 6, 5, 6), np.float32)}, ValueError, "grad_output"),
    ({"grad_output": np.zeros((2, 6, 6, 6), np.float64)}, TypeError, "grad_output"),
    ({"grad_output": np.zeros((6, 6, 6), np.float32)}, ValueError, "grad_output"),
    ({"output_mask": (True, False)}, TypeError, "output_mask"),
    ({"output_mask": (1, 0, 1)}, TypeError, "output_mask"),
])
@pytest.mark.parametrize("function", [fastconv.conv2d_backward, fastconv.reference.conv2d_backward],
                         ids=["fastconv", "reference"])
def test_conv2d_backward_rejects_bad_arguments(function, kwargs, error, words):
    call = {"grad_output": np.zeros((2, 6, 6, 6), np.float32), "input": X, "weight": W}
    call.update(kwargs)
    with pytest.raises(error, match=words):
        function(**call)


def test_overlapping_out_message():
    x = np.zeros((1, 1, 4, 4), np.float32)
    big = np.zeros(100, np.float32)
    out = big[:9].reshape(1, 1, 3, 3)
    w = big[5:9].reshape(1, 1, 2, 2)  # inside out's 9 elements
    with pytest.raises(ValueError, match="overlaps the memory of weight"):
        fastconv.conv2d(x, w, out=out)


def test_unsupported_explicit_choice_says_why():
    with pytest.raises(fastconv.UnsupportedError, match="winograd.*stride 1") as info:
        fastconv.conv2d(X, W, stride=2, algorithm="winograd", backend="c")
    assert isinstance(info.value, ValueError)


def test_auto_serves_every_valid_call_and_prefers_c():
    p = conv_params(X, W, None, 1, 0, 1, 1, "zeros")
    for op in _registry.OPS:
        spec = _registry.select(op, p)
        # convolutions of 4 input channels (a first layer) take im2col; pooling has one algorithm
        assert (spec.algorithm, spec.backend) == ("im2col" if op in _registry.CONV_OPS else "direct", "c")


@pytest.mark.parametrize("kernel,channels,dtype,expected", [
    (3, 8, np.float32, "direct"), (1, 8, np.float32, "im2col"), (3, 8, np.float64, "im2col"),
    (1, 8, np.float64, "im2col"), (3, 3, np.float32, "im2col"), (7, 1, np.float32, "im2col"),
])
def test_auto_picks_the_measured_faster_algorithm(kernel, channels, dtype, expected):
    x, w = np.ones((1, channels, 9, 9), dtype), np.ones((8, channels, kernel, kernel), dtype)
    p = conv_params(x, w, None, 1, 0, 1, 1, "zeros")
    for op in _registry.CONV_OPS:
        assert _registry.select(op, p).key == f"{op}/{expected}/c/{_registry.DTYPE_TAGS[np.dtype(dtype)]}"


def test_registry_keys_follow_the_vocabulary():
    for spec in _registry.kernels():
        op, alg, backend, dtype = spec.key.split("/")
        assert op in _registry.OPS and alg in _registry.ALGORITHMS
        assert backend in _registry.BACKENDS and dtype in ("f32", "f64")
    assert {s.dtype for s in _registry.kernels()} == {"f32", "f64"}


def test_threads_setting():
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(1)
        assert fastconv.get_num_threads() == 1
        assert fastconv._c.lib.fc_get_num_threads() == 1
    finally:
        fastconv.set_num_threads(before)
    with pytest.raises(ValueError, match="n=0"):
        fastconv.set_num_threads(0)
    with pytest.raises(TypeError, match="n="):
        fastconv.set_num_threads("2")
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        fastconv.set_num_threads(10**6)


@pytest.mark.parametrize("mode, expected", [
    ("zeros", [-1, -1, 0, 1, 2, -1]),
    ("reflect", [2, 1, 0, 1, 2, 1]),
    ("replicate", [0, 0, 0, 1, 2, 2]),
    ("circular", [1, 2, 0, 1, 2, 0]),
])
def test_padding_index_maps(mode, expected):
    assert padding_index_map(3, 2, 1, mode).tolist() == expected


@pytest.mark.parametrize("size, k, s, d, pads", [
    (10, 3, 1, 1, (1, 1)), (10, 4, 1, 1, (1, 2)), (10, 3, 2, 1, (0, 1)), (9, 3, 2, 1, (1, 1)),
    (7, 5, 3, 1, (2, 2)), (8, 3, 1, 2, (2, 2)), (5, 1, 4, 1, (0, 0)),
])
def test_same_padding_rule(size, k, s, d, pads):
    x = np.zeros((1, 1, size, size), np.float32)
    w = np.zeros((1, 1, k, k), np.float32)
    p = conv_params(x, w, None, s, "same", d, 1, "zeros")
    assert (p.pad_top, p.pad_bottom) == pads
    assert p.oh == -(-size // s)


def test_public_names_are_the_contract():
    assert set(fastconv.__all__) >= {"conv2d", "conv2d_backward", "set_num_threads",
                                     "get_num_threads", "reference", "UnsupportedError"}
    for name in ("conv2d", "conv2d_backward", "set_num_threads", "get_num_threads"):
        doc = getattr(fastconv, name).__doc__
        assert "Parameters" in doc or "Returns" in doc


@pytest.mark.parametrize("size,groups,dtype,expected", [
    (28, 1, np.float32, "winograd_f4x4k3x3"), (7, 1, np.float32, "winograd_f4x4k3x3"),
    (6, 1, np.float32, "winograd_f2x2k3x3"),
    (28, 8, np.float32, "direct"), (28, 1, np.float64, "im2col"),
])
def test_auto_picks_winograd_for_wide_3x3_float32_layers(size, groups, dtype, expected):
    x, w = np.ones((1, 32, size, size), dtype), np.ones((32, 32 // groups, 3, 3), dtype)
    p = conv_params(x, w, None, 1, 1, 1, groups, "zeros")
    for op in ("conv2d_fwd", "conv2d_bwd_data"):
        assert _registry.select(op, p).algorithm == expected
