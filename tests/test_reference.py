"""The float64 reference against hand-computed cases (the lecture notes' worked
examples in shared/seeds) and, when torch is importable, against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import fastconv
from fastconv import reference

from conftest import CASE_IDS, CONV_CASES, conv_params_of, make_data

# seeds/000: the 5x5 RGB corner of an image (zero-padded by 1 in the notes), three
# 3x3 kernel channels and bias 1; the top-left output is 308 - 498 + 164 + 1 = -25.
RGB = np.array([
    [[156, 155, 156, 158, 158], [153, 154, 157, 159, 159], [149, 151, 155, 158, 159],
     [146, 146, 149, 153, 158], [145, 143, 143, 148, 158]],
    [[167, 166, 167, 169, 169], [164, 165, 168, 170, 170], [160, 162, 166, 169, 170],
     [156, 156, 159, 163, 168], [155, 153, 153, 158, 168]],
    [[163, 162, 163, 165, 165], [160, 161, 164, 166, 166], [156, 158, 162, 165, 166],
     [155, 155, 158, 162, 167], [154, 152, 152, 157, 167]],
], dtype=np.float64)
RGB_KERNEL = np.array([
    [[-1, -1, 1], [0, 1, -1], [0, 1, 1]],
    [[1, 0, 0], [1, -1, -1], [1, 0, -1]],
    [[0, 1, 1], [0, 1, 0], [1, -1, 1]],
], dtype=np.float64)[None]


def test_seed_rgb_example_gives_minus_25():
    y = reference.conv2d(RGB, RGB_KERNEL, np.array([1.0]), padding=1)
    per_channel = [reference.conv2d(RGB[c:c + 1], RGB_KERNEL[:, c:c + 1], padding=1)[0, 0, 0] for c in range(3)]
    assert per_channel == [308, -498, 164]
    assert y[0, 0, 0] == -25
    for dtype in (np.float32, np.float64):
        for backend in ("c", "numba"):
            got = fastconv.conv2d(RGB.astype(dtype), RGB_KERNEL.astype(dtype), np.ones(1, dtype),
                                  padding=1, backend=backend)
            np.testing.assert_array_equal(got, y)


def test_seed_binary_image_example():
    """seeds/000: 5x5 binary image, kernel [[1,0,1],[0,1,0],[1,0,1]], feature map starts 4."""
    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], float)
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float)
    y = reference.conv2d(image[None], kernel[None, None])
    np.testing.assert_array_equal(y[0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_seed_2x2_sum_example():
    """seeds/004: [[1, 1], [2, 2]] correlated with a 2x2 kernel of ones gives 6."""
    y = reference.conv2d(np.array([[[1.0, 1], [2, 2]]]), np.ones((1, 1, 2, 2)))
    assert y.item() == 6


@pytest.mark.parametrize("n, f, p, s, out", [
    (6, 3, 0, 1, 4),      # seeds/001: 6x6 with 3x3 gives 4x4
    (7, 3, 0, 2, 3),      # seeds/001, 002: 7x7, 3x3, stride 2 gives 3x3
    (7, 3, 0, 1, 5),      # seeds/002: 7x7, 3x3, stride 1 gives 5x5
    (32, 5, 0, 1, 28),    # seeds/001: 32x32x3 with 5x5 filters gives 28x28
    (227, 11, 0, 4, 55),  # seeds/002: AlexNet conv1 gives 55x55
    (10, 3, 1, 1, 10),    # seeds/001: p = (f - 1) / 2 keeps the size
])
def test_seed_output_sizes(n, f, p, s, out):
    y = reference.conv2d(np.zeros((1, 1, n, n)), np.zeros((1, 1, f, f)), stride=s, padding=p)
    assert y.shape == (1, 1, out, out)


@pytest.mark.parametrize("in_shape, filters, f, s, out_shape, params", [
    ((3, 32, 32), 6, 5, 1, (6, 28, 28), 456),        # seeds/001: LeNet-style CONV1
    ((6, 14, 14), 16, 5, 1, (16, 10, 10), 2416),     # seeds/001: CONV2
    ((3, 227, 227), 96, 11, 4, (96, 55, 55), 34944),  # seeds/002: AlexNet conv1
    ((3, 32, 32), 100, 3, 1, (100, 30, 30), 2800),   # seeds/003: 100 3x3x3 filters
])
def test_seed_parameter_counts_as_shapes(in_shape, filters, f, s, out_shape, params):
    weight = np.zeros((filters, in_shape[0], f, f), np.float32)
    bias = np.zeros(filters, np.float32)
    assert weight.size + bias.size == params
    y = fastconv.conv2d(np.zeros(in_shape, np.float32), weight, bias, stride=s)
    assert y.shape == out_shape


def test_string_paddings():
    x, w = np.ones((1, 1, 5, 6)), np.ones((1, 1, 3, 2))
    assert reference.conv2d(x, w, padding="valid").shape == (1, 1, 3, 5)
    assert reference.conv2d(x, w, padding="same").shape == (1, 1, 5, 6)
    full = reference.conv2d(x, w, padding="full")
    assert full.shape == (1, 1, 7, 7) and full.sum() == 5 * 6 * 3 * 2


def test_padding_modes_by_hand():
    x = np.arange(3.0).reshape(1, 1, 1, 3)        # [0, 1, 2]
    w = np.ones((1, 1, 1, 1))
    expect = {"zeros": [0, 0, 0, 1, 2, 0, 0], "reflect": [2, 1, 0, 1, 2, 1, 0],
              "replicate": [0, 0, 0, 1, 2, 2, 2], "circular": [1, 2, 0, 1, 2, 0, 1]}
    for mode, row in expect.items():
        y = reference.conv2d(x, w, padding=(0, 0, 2, 2), padding_mode=mode)
        assert y[0, 0, 0].tolist() == row, mode
        # the gradient of sum(y) counts how often each input cell was copied
        gx = reference.conv2d_backward(np.ones_like(y), x, w, padding=(0, 0, 2, 2), padding_mode=mode)[0]
        sources = [0, 1, 2] if mode == "zeros" else row  # zeros copies each cell once
        counts = np.bincount(sources, minlength=3)
        assert gx[0, 0, 0].tolist() == counts.tolist(), mode


try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is optional
    torch = None


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("backend", ["reference", "c", "numba"])
@pytest.mark.parametrize("case", CONV_CASES, ids=CASE_IDS)
def test_against_torch(case, backend, rng):
    _, xshape, wshape, kwargs = case
    x, w = make_data(xshape, np.float64, rng), make_data(wshape, np.float64, rng)
    b = make_data(wshape[:1], np.float64, rng)
    p = conv_params_of(x, w, b, kwargs)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    mode = {"zeros": "constant"}.get(p.padding_mode, p.padding_mode)
    xp = F.pad(tx, (p.pad_left, p.pad_right, p.pad_top, p.pad_bottom), mode=mode)
    ty = F.conv2d(xp, tw, tb, stride=(p.sh, p.sw), dilation=(p.dh, p.dw), groups=p.groups)
    gy = make_data(tuple(ty.shape), np.float64, rng)
    ty.backward(torch.tensor(gy))
    if backend == "reference":
        y = reference.conv2d(x, w, b, **kwargs)
        grads = reference.conv2d_backward(gy, x, w, **kwargs)
    else:
        y = fastconv.conv2d(x, w, b, backend=backend, **kwargs)
        grads = fastconv.conv2d_backward(gy, x, w, backend=backend, **kwargs)
    for ours, theirs in zip((y,) + tuple(grads), (ty, tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
