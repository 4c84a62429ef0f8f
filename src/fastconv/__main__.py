"""Command line: ``python -m fastconv info`` and ``python -m fastconv demo``."""
from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

import fastconv
from fastconv import _c, _registry, reference


def _info(args):
    print(f"fastconv {fastconv.__version__}  (Python {platform.python_version()}, NumPy {np.__version__})")
    if _c.lib is not None:
        openmp = "OpenMP" if _c.lib.fc_openmp_enabled() else "no OpenMP: single-threaded"
        print(f"C backend: instruction set {_c.isa_active()} (CPU supports {_c.isa_detected()}), {openmp}")
    try:
        import numba

        print(f"Numba backend: numba {numba.__version__}, threading layer chosen at first use")
    except ImportError:
        pass
    for backend, why in _registry.unavailable_backends().items():
        print(f"{backend} backend unavailable: {why}")
    print(f"threads: {fastconv.get_num_threads()}")
    print("kernels (op: algorithm/backend dtypes):")
    table = {}
    for spec in _registry.kernels():
        table.setdefault(spec.op, {}).setdefault(f"{spec.algorithm}/{spec.backend}", []).append(spec.dtype)
    for op, entries in table.items():
        listed = ", ".join(f"{k} {'+'.join(v)}" for k, v in entries.items())
        print(f"  {op}: {listed}")
    return 0


# (name, N, C_in, H, C_out, k, stride, padding): small layers from ResNet-50's shapes
_DEMO_LAYERS = [
    ("resnet50 res2 3x3", 2, 64, 56, 64, 3, 1, 1),
    ("resnet50 res3 1x1", 2, 512, 28, 128, 1, 1, 0),
    ("resnet50 res4 3x3", 2, 256, 14, 256, 3, 1, 1),
]


def _median_time(fn, repeats):
    fn()  # warm-up: JIT compilation, page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _demo(args):
    """Time every registered forward kernel on a few layers and check it against the
    reference; a stand-in for the benchmark harness."""
    rng = np.random.default_rng(0)
    print(f"{'layer':20s} {'kernel':14s} {'dtype':5s} {'median ms':>9s} {'GFLOP/s':>8s} {'max rel err':>11s}")
    status = 0
    for name, n, c, h, o, k, s, pad in _DEMO_LAYERS:
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal((n, c, h, h)).astype(dtype)
            w = rng.standard_normal((o, c, k, k)).astype(dtype)
            ref = reference.conv2d(x, w, stride=s, padding=pad)
            scale = np.abs(ref).max()
            for spec in _registry.kernels("conv2d_fwd"):
                if spec.dtype != _registry.DTYPE_TAGS[np.dtype(dtype)]:
                    continue

                def call():
                    return fastconv.conv2d(x, w, stride=s, padding=pad, algorithm=spec.algorithm,
                                           backend=spec.backend)

                t = _median_time(call, args.repeats)
                err = float(np.abs(call() - ref).max() / scale)
                flops = 2 * n * o * c * k * k * ref.shape[2] * ref.shape[3]
                limit = 1e-4 if dtype == np.float32 else 1e-12
                flag = "" if err < limit else "  WRONG"
                status |= bool(flag)
                print(f"{name:20s} {spec.algorithm + '/' + spec.backend:14s} {spec.dtype:5s} "
                      f"{t * 1e3:9.2f} {flops / t / 1e9:8.1f} {err:11.2e}{flag}")
    return status


def main(argv=None):
    """Entry point of ``python -m fastconv`` and the ``fastconv`` script."""
    parser = argparse.ArgumentParser(prog="python -m fastconv", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, CPU features, backends, kernels, threads").set_defaults(func=_info)
    demo = sub.add_parser("demo", help="time every forward kernel on a few ResNet-50 layers")
    demo.add_argument("--repeats", type=int, default=3, help="timed runs per kernel (default 3)")
    demo.add_argument("--threads", type=int, default=None, help="threads (default: all)")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    if getattr(args, "threads", None):
        fastconv.set_num_threads(args.threads)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
