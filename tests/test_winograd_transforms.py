"""The Winograd transforms, in exact arithmetic: each reproduces direct correlation."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from fastconv import _winograd

VARIANTS = sorted(_winograd.POINTS)


def exact(a):
    return np.array(a, dtype=object)


def random_integers(rng, shape):
    return np.vectorize(Fraction)(rng.integers(-9, 10, shape)).astype(object)


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_dimensional_identity_is_exact(variant, rng):
    m, r, _ = _winograd.POINTS[variant]
    at, g, bt = (exact(x) for x in _winograd.exact_matrices(variant))
    for _ in range(20):
        d, k = random_integers(rng, m + r - 1), random_integers(rng, r)
        direct = np.array([sum(d[i + j] * k[j] for j in range(r)) for i in range(m)], dtype=object)
        assert list(at.dot(g.dot(k) * bt.dot(d))) == list(direct)


@pytest.mark.parametrize("variant", VARIANTS)
def test_two_dimensional_tile_is_exact(variant, rng):
    """Y = A^T [(G g G^T) * (B^T d B)] A is the tile's 2-D correlation."""
    m, r, _ = _winograd.POINTS[variant]
    n = m + r - 1
    at, g, bt = (exact(x) for x in _winograd.exact_matrices(variant))
    for _ in range(5):
        d, k = random_integers(rng, (n, n)), random_integers(rng, (r, r))
        u = g.dot(k).dot(g.T)
        v = bt.dot(d).dot(bt.T)
        y = at.dot(u * v).dot(at.T)
        direct = np.array([[sum(d[i + a, j + b] * k[a, b] for a in range(r) for b in range(r))
                            for j in range(m)] for i in range(m)], dtype=object)
        assert (y == direct).all()


@pytest.mark.parametrize("variant,multiplications", [("f2x2k3x3", 2.25), ("f4x4k3x3", 4.0)])
def test_multiplications_saved(variant, multiplications):
    m, r, _ = _winograd.POINTS[variant]
    assert (m * m * r * r) / (m + r - 1) ** 2 == multiplications


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_matrices_round_the_exact_ones(variant, dtype):
    for got, want in zip(_winograd.matrices(variant, dtype), _winograd.exact_matrices(variant)):
        assert got.dtype == dtype and not got.flags.writeable
        np.testing.assert_array_equal(got, np.array([[float(v) for v in row] for row in want], dtype))


def test_too_few_points_are_refused(monkeypatch):
    monkeypatch.setitem(_winograd.POINTS, "f4x4k3x3-bad", (4, 3, (0, 1, -1)))
    with pytest.raises(ValueError, match="finite points"):
        _winograd.exact_matrices("f4x4k3x3-bad")


def test_c_header_is_generated_from_these_matrices():
    """csrc/conv/winograd_matrices.h is exactly what _winograd.c_header() writes."""
    import pathlib

    header = pathlib.Path(__file__).resolve().parents[1] / "csrc" / "conv" / "winograd_matrices.h"
    if not header.exists():  # an installed copy without the sources
        pytest.fail(f"{header} not found: run the tests from a source checkout")
    assert header.read_text() == _winograd.c_header()


def test_numba_blocks_are_generated_from_these_matrices():
    """src/fastconv/_numba/winograd_blocks.py is exactly what _winograd.numba_module()
    writes."""
    import pathlib

    module = pathlib.Path(_winograd.__file__).resolve().parent / "_numba" / "winograd_blocks.py"
    assert module.read_text() == _winograd.numba_module()


@pytest.mark.parametrize("variant", sorted(_winograd.POINTS))
def test_numba_block_transforms_apply_the_matrices(variant):
    """Every lane of a block: the generated input transform gives B^T d B and the
    output transform A^T M A (float64, against the matrices in exact arithmetic)."""
    from fastconv._numba import winograd_blocks as blocks

    at, _, bt = (np.array([[float(v) for v in row] for row in m]) for m in _winograd.exact_matrices(variant))
    tile, alpha, lanes = at.shape[0], at.shape[1], blocks.NUMBA_BLOCK
    rng = np.random.default_rng(0)
    d = rng.integers(-9, 10, size=(alpha, alpha, lanes)).astype(np.float64)
    w = np.zeros(2 * alpha * alpha * lanes)
    w[:alpha * alpha * lanes] = d.ravel()
    getattr(blocks, f"input_f{tile}")(w, bt)
    expected = np.einsum("ai,ijq,bj->abq", bt, d, bt)
    np.testing.assert_array_equal(w[alpha * alpha * lanes:].reshape(alpha, alpha, lanes), expected)
    w = np.zeros((alpha * alpha + tile * tile) * lanes)
    w[:alpha * alpha * lanes] = d.ravel()
    getattr(blocks, f"output_f{tile}")(w, at)
    expected = np.einsum("ia,abq,jb->ijq", at, d, at)
    np.testing.assert_array_equal(w[alpha * alpha * lanes:].reshape(tile, tile, lanes), expected)
