"""The Numba backend's GEMM (fastconv._numba.gemm) alone, against NumPy's matmul, and
on the narrower vector widths it compiles for on CPUs without AVX-512."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import llvmlite.binding as llvm
import numpy as np
import pytest

from fastconv._numba import gemm

MR = gemm.MICRO_ROWS
# 1, MR +- 1, and depths either side of a DEPTH_BLOCK step (the accumulating calls)
SIZES = [(1, 1, 1), (MR - 1, 5, 1), (MR, 3, 2), (MR + 1, 17, 3), (3 * MR + 5, gemm.DEPTH_BLOCK, 2),
         (2 * MR, gemm.DEPTH_BLOCK + 1, 1), (5, 2 * gemm.DEPTH_BLOCK + 3, 2)]


def pack_rows(a):
    """A (m x k) as batched_gemm reads it: row panels of MR rows, zero rows past m."""
    m, k = a.shape
    panels = -(-m // MR)
    padded = np.zeros((panels * MR, k), a.dtype)
    padded[:m] = a
    return padded.reshape(panels, MR, k).transpose(0, 2, 1).ravel(), panels


def run(a_list, b_list):
    """batched_gemm over the pairs, each B padded to whole NR columns; the products."""
    dtype, (m, k), n = a_list[0].dtype, a_list[0].shape, b_list[0].shape[1]
    columns = -(-n // gemm.panel_columns(dtype)) * gemm.panel_columns(dtype)
    packed = [pack_rows(a) for a in a_list]
    panels = packed[0][1]
    b = np.zeros((len(b_list), k, columns), dtype)
    for s, one in enumerate(b_list):
        b[s, :, :n] = one
    c = np.full((len(a_list), panels * MR, columns), np.nan, dtype)
    gemm.batched_gemm(np.concatenate([p for p, _ in packed]), b.ravel(), c.ravel(), panels, columns, k)
    return c[:, :m, :n]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("m,k,column_panels", SIZES)
def test_exact_on_integers(m, k, column_panels, dtype, rng):
    """Small integers: every product and sum is exact, so the results must be equal;
    a batch of three, and n one short of whole panels."""
    n = column_panels * gemm.panel_columns(dtype) - 1
    a = [rng.integers(-4, 5, (m, k)).astype(dtype) for _ in range(3)]
    b = [rng.integers(-4, 5, (k, n)).astype(dtype) for _ in range(3)]
    got = run(a, b)
    for s in range(3):
        np.testing.assert_array_equal(got[s], a[s] @ b[s])


def test_random_data_within_the_reduction_bound(rng):
    """float32 sums of k products: within k * eps * sum |a| |b| of the float64 product."""
    m, k, n = 37, 300, 70
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    exact = a.astype(np.float64) @ b
    bound = k * np.finfo(np.float32).eps * (np.abs(a).astype(np.float64) @ np.abs(b))
    assert np.all(np.abs(run([a], [b])[0] - exact) <= bound)


def test_empty_reduction_gives_zeros():
    c = np.full(MR * gemm.panel_columns(np.float32), np.nan, np.float32)
    gemm.batched_gemm(np.empty(0, np.float32), np.empty(0, np.float32), c, 1, gemm.panel_columns(np.float32), 0)
    assert not c.any()


@pytest.mark.parametrize("columns,b_size", [(gemm.panel_columns(np.float32) + 1, None), (None, -1)],
                         ids=["columns-not-whole-panels", "b-too-short"])
def test_bad_shapes_raise_before_any_access(columns, b_size):
    nr = gemm.panel_columns(np.float32)
    columns = columns or nr
    a = np.zeros(MR * 4, np.float32)
    b = np.zeros(4 * columns + (b_size or 0), np.float32)
    c = np.zeros(MR * columns, np.float32)
    with pytest.raises(ValueError, match="multiple of panel_columns"):
        gemm.batched_gemm(a, b, c, 1, columns, 4)


def _has(*features):
    host = llvm.get_host_cpu_features()
    return all(host.get(f) for f in features)


TARGETS = [
    pytest.param("haswell", "+avx,+avx2,+fma,+sse4.2,+popcnt,+f16c,+bmi,+bmi2,+lzcnt,+movbe", 32,
                 marks=pytest.mark.skipif(not _has("avx2", "fma"), reason="this CPU has no AVX2 and FMA"),
                 id="avx2"),
    pytest.param("x86-64", "", 16, id="sse2"),
]

CHECK = textwrap.dedent("""
    import numpy as np, fastconv
    from fastconv import reference
    from fastconv._numba import gemm
    assert gemm.VECTOR_BYTES == {vector_bytes}, gemm.VECTOR_BYTES
    rows = 2 * gemm.MICRO_ROWS
    rng = np.random.default_rng(0)
    a = rng.integers(-4, 5, (2, rows, 45)).astype(np.float64)
    b = rng.integers(-4, 5, (2, 45, 2 * gemm.panel_columns(np.float64))).astype(np.float64)
    packed = np.concatenate([np.ascontiguousarray(x.reshape(-1, gemm.MICRO_ROWS, 45).transpose(0, 2, 1)).ravel()
                             for x in a])
    c = np.empty((2, rows, b.shape[2]))
    gemm.batched_gemm(packed, b.ravel(), c.ravel(), rows // gemm.MICRO_ROWS, b.shape[2], 45)
    assert np.array_equal(c, a @ b)
    x = rng.integers(-2, 3, (2, 5, 11, 9)).astype(np.float32)
    w = rng.integers(-2, 3, (7, 5, 3, 3)).astype(np.float32)
    y = fastconv.conv2d(x, w, padding=1, algorithm="winograd_f2x2k3x3", backend="numba")
    expected = reference.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1)
    assert np.allclose(y, expected, rtol=0, atol=1e-4), np.abs(y - expected).max()
""")


@pytest.mark.parametrize("cpu,features,vector_bytes", TARGETS)
def test_narrower_targets(cpu, features, vector_bytes, tmp_path):
    """Compiled for a CPU without AVX-512 (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES, in a
    fresh process with its own cache): the vector width follows, and the GEMM and a
    Winograd convolution built on it stay right (integers: the GEMM is exact, the
    convolution within F(2x2)'s rounding of its transforms)."""
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features, NUMBA_CACHE_DIR=str(tmp_path))
    code = CHECK.format(vector_bytes=vector_bytes)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
