"""The C packed GEMM against NumPy's matmul (OpenBLAS), square and conv-shaped.

    python benchmarks/gemm_vs_numpy.py --sizes 2048 --threads 2 --rounds 7

Each round times a block of calls of ours, then a block of NumPy's, with a pause
after NumPy's (OpenBLAS's threads keep spinning after a call and would slow the
next candidate); figures are medians over rounds, GFLOP/s = 2 m n k / time, and
the fraction of the FMA peak measured by fastconv.bench.peak.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastconv
from fastconv import _c
from fastconv.bench.peak import fma_peak_gflops


def timed_block(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2048", help="comma-separated m=n=k, or MxNxK")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    fastconv.set_num_threads(args.threads)
    peak = fma_peak_gflops(args.threads)
    print(f"# threads={args.threads} float32 FMA peak {peak:.0f} GFLOP/s (float64 half); median of {args.rounds} rounds")
    print(f"{'dtype':8s} {'m x n x k':>16s} {'ours GF/s':>10s} {'of peak':>8s} {'numpy GF/s':>10s} {'ours/numpy':>10s}")
    rng = np.random.default_rng(0)
    for dtype in args.dtypes.split(","):
        for size in args.sizes.split(","):
            m, n, k = (int(v) for v in size.split("x")) if "x" in size else (int(size),) * 3
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            c = np.empty((m, n), dtype)
            ours, theirs = lambda: _c.gemm(a, b, out=c), lambda: np.matmul(a, b, out=c)
            flops = 2.0 * m * n * k
            calls = max(1, int(0.2 / (flops / 100e9)))
            t_ours, t_np = [], []
            ours(), theirs()
            time.sleep(0.3)
            for _ in range(args.rounds):
                t_ours.append(timed_block(ours, calls))
                t_np.append(timed_block(theirs, calls))
                time.sleep(0.3)
            go, gn = flops / np.median(t_ours) / 1e9, flops / np.median(t_np) / 1e9
            dpeak = peak if dtype == "float32" else peak / 2
            print(f"{dtype:8s} {f'{m}x{n}x{k}':>16s} {go:10.1f} {go / dpeak:8.0%} {gn:10.1f} {go / gn:10.2f}", flush=True)


if __name__ == "__main__":
    main()
