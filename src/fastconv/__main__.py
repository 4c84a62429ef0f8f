"""Command line: ``python -m fastconv info`` and ``python -m fastconv bench``."""
from __future__ import annotations

import argparse
import platform
import sys

import numpy as np

import fastconv
from fastconv import _c, _registry
from fastconv.bench import harness


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
    print(f"workspace limit (im2col): {fastconv.get_workspace_limit() / 2**20:g} MiB")
    print("kernels (op: algorithm/backend dtypes):")
    table = {}
    for spec in _registry.kernels():
        table.setdefault(spec.op, {}).setdefault(f"{spec.algorithm}/{spec.backend}", []).append(spec.dtype)
    for op, entries in table.items():
        listed = ", ".join(f"{k} {'+'.join(v)}" for k, v in entries.items())
        print(f"  {op}: {listed}")
    return 0


def _bench(args):
    """The benchmark harness: every registered kernel against the baselines."""
    from tqdm import tqdm

    mb = args.mb if args.mb is not None else (2 if args.quick else 8)
    if args.desc or args.batch:
        lines = list(args.desc or [])
        for path in args.batch or []:
            with open(path) as fh:
                lines += fh.readlines()
        layers = [layer for layer in (harness.parse_descriptor(line, mb) for line in lines) if layer is not None]
    else:
        layers = harness.suite_layers(args.suite, mb)
        if args.quick:
            layers = [layer for layer in layers if layer.name in harness.QUICK_LAYERS]
    if not layers:
        print("no 2-D layers to benchmark", file=sys.stderr)
        return 2
    ops = args.ops.split(",") if args.ops else list(harness.CONV_OPS) + list(harness.POOL_OPS)
    unknown = [op for op in ops if op not in harness.CONV_OPS and op not in harness.POOL_OPS]
    if unknown:
        print(f"--ops: unknown {unknown}; choose from {list(harness.CONV_OPS) + list(harness.POOL_OPS)}",
              file=sys.stderr)
        return 2
    conv_ops = [op for op in ops if op in harness.CONV_OPS]
    pool_ops = [op for op in ops if op in harness.POOL_OPS]
    total = sum(len(conv_ops if isinstance(layer, harness.ConvLayer) else pool_ops) for layer in layers)
    threads = args.threads or fastconv.get_num_threads()
    repeats = args.repeats or (3 if args.quick else 7)
    with tqdm(total=total, desc="benchmark", unit="case", file=sys.stderr, disable=args.no_progress) as bar:
        rows = harness.run(layers, conv_ops=conv_ops, pool_ops=pool_ops, dtype=args.dtype, threads=threads,
                           repeats=repeats, algorithms=_split(args.algorithms), backends=_split(args.backends),
                           baselines=_split(args.baselines), progress=bar)
    print(f"# fastconv {fastconv.__version__}, {args.dtype}, mb={mb}, threads={threads}, median of {repeats}; "
          f"rate: GFLOP/s of the direct algorithm's count (conv) or GB/s read + written (pool)")
    print(harness.format_table(rows))
    print("\nspeedups, geometric means:")
    print("\n".join(harness.summary(rows)))
    if args.json:
        harness.write_json(rows, args.json, {"version": fastconv.__version__, "dtype": args.dtype, "mb": mb,
                                             "threads": threads, "repeats": repeats})
    if args.plot and not harness.write_plot(rows, args.plot):
        return 2
    return 0 if all(r.ok for r in rows) else 1


def _split(text):
    return tuple(t for t in text.split(",") if t) if text else ()


def main(argv=None):
    """Entry point of ``python -m fastconv`` and the ``fastconv`` script."""
    parser = argparse.ArgumentParser(prog="python -m fastconv", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, CPU features, backends, kernels, threads").set_defaults(func=_info)
    bench = sub.add_parser("bench", help="benchmark every kernel on real-network layers",
                           description="Time every registered kernel on real-network layers against "
                                       "PyTorch (when installed), NumPy and the float64 reference, and check "
                                       "each result against the reference. Exits 1 if any is outside the "
                                       "tests' error bound.")
    bench.add_argument("--suite", default="resnet50", choices=sorted(harness.SUITES),
                       help="shipped layer suite (default resnet50)")
    bench.add_argument("--quick", action="store_true", help="a small suite that runs in about a minute")
    bench.add_argument("--desc", action="append", help="a benchdnn descriptor (repeatable)")
    bench.add_argument("--batch", action="append", help="a file of benchdnn descriptors (repeatable)")
    bench.add_argument("--ops", help="comma-separated: fwd,bwd_data,bwd_filter,max_fwd,max_bwd,avg_fwd,avg_bwd")
    bench.add_argument("--mb", type=int, help="batch size (default 8; 2 with --quick)")
    bench.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    bench.add_argument("--threads", type=int, help="threads (default: all)")
    bench.add_argument("--algorithms", help="comma-separated subset of direct,im2col,winograd "
                       "(its variants: winograd_f2x2k3x3, winograd_f4x4k3x3)")
    bench.add_argument("--backends", help="comma-separated subset of c,numba")
    bench.add_argument("--baselines", default="torch,numpy,reference",
                       help="comma-separated subset of torch,numpy,reference (default all)")
    bench.add_argument("--repeats", type=int, help="timed runs per candidate (default 7; 3 with --quick)")
    bench.add_argument("--json", help="write the rows to this JSON file")
    bench.add_argument("--plot", help="write grouped bars to this PNG (needs matplotlib)")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
