"""The workspace cap of the im2col (and Winograd) kernels: chunked results, peak memory,
the setting."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import fastconv
from fastconv import reference

MIB = 2**20
BACKENDS = ["c", "numba"]


@pytest.fixture
def small_cap():
    before = fastconv.get_workspace_limit()
    fastconv.set_workspace_limit(MIB)
    yield MIB
    fastconv.set_workspace_limit(before)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs", [
    dict(padding=1),
    dict(stride=2, padding=(2, 1), dilation=(1, 2), padding_mode="reflect"),
    dict(groups=4, padding="same", padding_mode="circular"),
], ids=["pad", "stride-dilation-reflect", "groups-same-circular"])
def test_chunked_columns_give_exact_results(kwargs, backend, small_cap, rng):
    """1 MiB holds less than one image's columns (K = 144 rows x 4096 pixels x 4 B),
    so every pass works through pixel chunks, their ends mid-row."""
    x = rng.integers(-3, 4, (2, 16, 64, 64)).astype(np.float32)
    w = rng.integers(-3, 4, (8, 16 // kwargs.get("groups", 1), 3, 3)).astype(np.float32)
    y = reference.conv2d(x, w, **kwargs)
    gy = rng.integers(-3, 4, y.shape).astype(np.float32)
    gx, gw, _ = reference.conv2d_backward(gy, x, w, **kwargs)
    np.testing.assert_array_equal(fastconv.conv2d(x, w, algorithm="im2col", backend=backend, **kwargs), y)
    got = fastconv.conv2d_backward(gy, x, w, algorithm="im2col", backend=backend, **kwargs)
    np.testing.assert_array_equal(got[0], gx)
    np.testing.assert_array_equal(got[1], gw)


def _layer(rng):
    x = rng.standard_normal((4, 64, 48, 48)).astype(np.float32)  # columns of all: 21 MiB
    w = rng.standard_normal((32, 64, 3, 3)).astype(np.float32)
    return x, w


def test_numba_scratch_stays_within_the_cap(small_cap, rng):
    """NumPy's allocations (which tracemalloc sees) beyond the outputs: at most the cap."""
    x, w = _layer(rng)
    y = np.empty((4, 32, 48, 48), np.float32)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    fastconv.conv2d(x, w, padding=1, algorithm="im2col", backend="numba", out=y)  # compile
    fastconv.conv2d_backward(gy, x, w, padding=1, algorithm="im2col", backend="numba")
    tracemalloc.start()
    try:
        fastconv.conv2d(x, w, padding=1, algorithm="im2col", backend="numba", out=y)
        forward_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        grads = fastconv.conv2d_backward(gy, x, w, padding=1, algorithm="im2col", backend="numba")
        backward_peak = tracemalloc.get_traced_memory()[1] - start - sum(g.nbytes for g in grads if g is not None)
    finally:
        tracemalloc.stop()
    assert forward_peak <= small_cap
    assert backward_peak <= small_cap


def test_numba_winograd_deep_layer_stays_within_the_cap(rng):
    """A deep layer (64 x 160 channels, 160 tiles) under a 4 MiB cap on 2 threads:
    going by channels would take about 6 MB (the batch's transformed input, and per
    thread a block of transformed filters and its products), so the chunked path
    runs: the transformed filters (1.5 MB) and a 32-tile chunk per thread (1 MB).
    NumPy's and Numba's allocations beyond the outputs stay within the cap plus the
    transforms' fixed work arrays, 64 lanes of float32 per row: input (2 x 36 rows),
    filter (9 + 36), output (36 + 16, and 16 laid out) per thread, and a chunk's
    padded rows (a few hundred bytes here)."""
    cap = 4 * MIB
    x = rng.standard_normal((10, 64, 14, 14)).astype(np.float32)
    w = rng.standard_normal((160, 64, 3, 3)).astype(np.float32)
    y = np.empty((10, 160, 14, 14), np.float32)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    work = 2 * (2 * 36 + 9 + 36 + 36 + 16 + 16) * 64 * 4 + 4096
    kw = dict(padding=1, algorithm="winograd_f4x4k3x3", backend="numba")
    threads, before = fastconv.get_num_threads(), fastconv.get_workspace_limit()
    fastconv.set_num_threads(2)
    fastconv.set_workspace_limit(cap)
    try:
        fastconv.conv2d(x, w, out=y, **kw)  # compile
        fastconv.conv2d_backward(gy, x, w, output_mask=(True, False, False), **kw)
        tracemalloc.start()
        fastconv.conv2d(x, w, out=y, **kw)
        forward_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        gx = fastconv.conv2d_backward(gy, x, w, output_mask=(True, False, False), **kw)[0]
        backward_peak = tracemalloc.get_traced_memory()[1] - start - gx.nbytes
    finally:
        tracemalloc.stop()
        fastconv.set_num_threads(threads)
        fastconv.set_workspace_limit(before)
    assert forward_peak <= cap + work
    assert backward_peak <= cap + work


def test_c_peak_memory_stays_within_the_cap():
    """The resident-set high-water mark of a fresh process grows by at most the cap
    (4 MiB here) during a forward call whose columns would take 151 MiB at once."""
    script = textwrap.dedent("""
        import resource, numpy as np, fastconv
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 128, 64, 64)).astype(np.float32)
        w = rng.standard_normal((64, 128, 3, 3)).astype(np.float32)
        y = np.zeros((8, 64, 64, 64), np.float32)
        fastconv.set_workspace_limit(4 * 2**20)
        fastconv.conv2d(x[:1, :, :8, :8].copy(), w, padding=1, algorithm="im2col", backend="c")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fastconv.conv2d(x, w, padding=1, algorithm="im2col", backend="c", out=y)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    grown_kib = int(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                   text=True).stdout)
    assert grown_kib * 1024 <= 4 * MIB


@pytest.mark.parametrize("value,error", [(2**19, ValueError), (1.5e6, TypeError), ("64M", TypeError),
                                         (True, TypeError)])
def test_set_workspace_limit_rejects(value, error):
    with pytest.raises(error, match="nbytes"):
        fastconv.set_workspace_limit(value)
    assert fastconv.get_workspace_limit() >= MIB
