"""Every public op as a zero-argument call on small fixed inputs, for the tests that
run all of them the same way (allocation failures, leaks, threads, memory)."""
from __future__ import annotations

import numpy as np

import fastconv
from fastconv import _registry

CONV_ALGORITHMS = ("direct", "im2col", "winograd_f2x2k3x3", "winograd_f4x4k3x3")
BACKENDS = ("c", "numba")


def inputs(dtype=np.float32, seed=0, shape=(2, 6, 9, 10), c_out=8):
    """Integer-valued data (exact results whatever the summation order): an input of
    ``shape``, a 3x3 kernel to c_out channels, and gradients for the ops' outputs."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape

    def data(*dims):
        return rng.integers(-3, 4, size=dims).astype(dtype)

    pooled = ((h - 1) // 2 + 1, (w - 1) // 2 + 1)  # 3x3, stride 2, padding 1
    # gradients for: the convolutions (3x3, padding 1), the stride-2 pools, the
    # stride-1 pools, the (3, 4) adaptive pools and the 2x2 Lp pools
    return {"x": data(*shape), "w": data(c_out, c, 3, 3), "b": data(c_out), "gy": data(n, c_out, h, w),
            "gp": data(n, c, *pooled), "gs": data(*shape), "ga": data(n, c, 3, 4), "gl": data(n, c, h // 2, w // 2)}


def op_calls(d, backend):
    """(name, call) for every op of the backend: the convolutions once per algorithm,
    the poolings with their fast and general paths (indices, padding, strides)."""
    x, w, b, gy, gp, gs, ga, gl = (d[k] for k in ("x", "w", "b", "gy", "gp", "gs", "ga", "gl"))
    calls = []
    for alg in CONV_ALGORITHMS:
        if _registry.lookup("conv2d_fwd", alg, backend, _registry.DTYPE_TAGS[x.dtype]) is None:
            continue
        kw = {"padding": 1, "algorithm": alg, "backend": backend}
        calls += [
            (f"conv2d/{alg}", lambda kw=kw: fastconv.conv2d(x, w, b, **kw)),
            (f"conv2d_backward/{alg}", lambda kw=kw: fastconv.conv2d_backward(gy, x, w, **kw)),
        ]
    pool = {"kernel_size": 3, "stride": 2, "padding": 1, "backend": backend}
    box = {"kernel_size": 3, "stride": 1, "padding": 1, "backend": backend}
    calls += [
        ("max_pool2d", lambda: fastconv.max_pool2d(x, **pool)),
        ("max_pool2d/indices", lambda: fastconv.max_pool2d(x, **pool, return_indices=True)),
        ("max_pool2d/stride1", lambda: fastconv.max_pool2d(x, **box)),
        ("max_pool2d_backward", lambda: fastconv.max_pool2d_backward(gp, x, **pool)),
        ("avg_pool2d", lambda: fastconv.avg_pool2d(x, **pool)),
        ("avg_pool2d/stride1", lambda: fastconv.avg_pool2d(x, **box, count_include_pad=False)),
        ("avg_pool2d_backward", lambda: fastconv.avg_pool2d_backward(gp, x, **pool)),
        ("avg_pool2d_backward/stride1", lambda: fastconv.avg_pool2d_backward(gs, x, **box, count_include_pad=False)),
    ]
    if backend == "c":  # the adaptive and Lp pools choose their backend themselves
        calls += [
            ("adaptive_avg_pool2d", lambda: fastconv.adaptive_avg_pool2d(x, (3, 4))),
            ("adaptive_avg_pool2d_backward", lambda: fastconv.adaptive_avg_pool2d_backward(ga, x, (3, 4))),
            ("adaptive_max_pool2d", lambda: fastconv.adaptive_max_pool2d(x, (3, 4), return_indices=True)),
            ("adaptive_max_pool2d_backward", lambda: fastconv.adaptive_max_pool2d_backward(ga, x, (3, 4))),
            ("lp_pool2d", lambda: fastconv.lp_pool2d(np.abs(x) + 1, 2, 2)),
            ("lp_pool2d_backward", lambda: fastconv.lp_pool2d_backward(gl, np.abs(x) + 1, 2, 2)),
        ]
    return calls


def as_tuple(result):
    return result if isinstance(result, tuple) else (result,)
