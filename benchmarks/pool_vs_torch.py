"""Pooling (C and Numba) against PyTorch and a plain memory copy, on real-network layers.

    python benchmarks/pool_vs_torch.py ../shared/benchdnn/pool/shapes_resnet_50 \\
        ../shared/benchdnn/pool/shapes_googlenet_v1 --mb 8 --threads 2

Pooling is memory-bound, so each row gives GB/s (bytes read + written: input and
output forward; grad_output, int64 indices for max, and grad_input backward) and
its fraction of the bandwidth of ``np.copyto`` of a 256 MiB array measured in
the same run (counted as read + write).  Average pooling excludes padding
(PyTorch: count_include_pad=False) so both sides compute the same values.
Each candidate is timed in blocks of its own, warmed up, with a rest after
PyTorch, as the benchmark harness does (``block_times``): timed in turn, a
fastconv call right after PyTorch's ran up to 2x slower on small layers while
PyTorch's OpenMP threads spun on the two cores.  The blocks go round the
candidates ``--rounds`` times, so that a burst of load on a shared machine falls
on all of them; figures are medians over all the timed calls.
"""
from __future__ import annotations

import argparse
import numpy as np
import torch
import torch.nn.functional as F

import fastconv
from fastconv.bench.benchdnn import read_pool_file
from fastconv.bench.harness import BLAS_PARK_SECONDS, copy_bandwidth
from fastconv.bench.timing import block_times

OPS = ("max_fwd", "max_bwd", "avg_fwd", "avg_bwd")


def torch_geometry(layer, xc):
    """(padding, ceil_mode) with which PyTorch reproduces the layer's output shape."""
    pt, pb, pl, pr = layer.padding
    for ceil_mode in (False, True):
        oh = -(-(xc.shape[2] + 2 * pt - layer.kh) // layer.sh) if ceil_mode else (xc.shape[2] + 2 * pt - layer.kh) // layer.sh
        ow = -(-(xc.shape[3] + 2 * pl - layer.kw) // layer.sw) if ceil_mode else (xc.shape[3] + 2 * pl - layer.kw) // layer.sw
        if (oh + 1, ow + 1) == (layer.oh, layer.ow):
            return [pt, pl], ceil_mode
    raise ValueError(f"{layer.name}: no PyTorch padding reproduces this layer")


def calls(layer, op, x, gy, idx, backend):
    xc, kw = layer.pool_args(x)
    k, s = [layer.kh, layer.kw], [layer.sh, layer.sw]
    pad, ceil = torch_geometry(layer, xc)
    tx, tgy, tidx = torch.from_numpy(np.ascontiguousarray(xc)), torch.from_numpy(gy), torch.from_numpy(idx)
    if op == "max_fwd":
        return (lambda: F.max_pool2d(tx, k, s, pad, 1, ceil),
                {b: (lambda b=b: fastconv.max_pool2d(xc, **kw, backend=b)) for b in backend})
    if op == "max_bwd":
        return (lambda: torch.ops.aten.max_pool2d_with_indices_backward(tgy, tx, k, s, pad, [1, 1], ceil, tidx),
                {b: (lambda b=b: fastconv.max_pool2d_backward(gy, xc, **kw, indices=idx, backend=b)) for b in backend})
    if op == "avg_fwd":
        return (lambda: F.avg_pool2d(tx, k, s, pad, ceil, False),
                {b: (lambda b=b: fastconv.avg_pool2d(xc, **kw, count_include_pad=False, backend=b)) for b in backend})
    return (lambda: torch.ops.aten.avg_pool2d_backward(tgy, tx, k, s, pad, ceil, False, None),
            {b: (lambda b=b: fastconv.avg_pool2d_backward(gy, xc, **kw, count_include_pad=False, backend=b))
             for b in backend})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shapes", nargs="+", help="benchdnn pooling batch files")
    parser.add_argument("--mb", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--backends", default="c,numba")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per block")
    parser.add_argument("--rounds", type=int, default=3, help="blocks of each candidate, in turn")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fastconv.set_num_threads(args.threads)
    backends = args.backends.split(",")
    copy = copy_bandwidth(args.repeats)
    print(f"# mb={args.mb} float32 threads={args.threads} torch {torch.__version__} "
          f"np.copyto {copy:.1f} GB/s  median of {args.rounds} x {args.repeats}")
    print(f"{'op':8s} {'layer':34s} {'MB':>6s} {'torch GB/s':>10s}" +
          "".join(f" {b + ' GB/s':>10s} {'%copy':>6s} {'x torch':>7s}" for b in backends))
    ratios, fractions = {}, {}
    rng = np.random.default_rng(0)
    for path in args.shapes:
        for layer in read_pool_file(path, mb=args.mb):
            x = rng.standard_normal((layer.mb, layer.c, layer.ih, layer.iw)).astype(np.float32)
            xc, kw = layer.pool_args(x)
            gy = rng.standard_normal((layer.mb, layer.c, layer.oh, layer.ow)).astype(np.float32)
            _, idx = fastconv.max_pool2d(xc, **kw, return_indices=True)
            for op in args.ops.split(","):
                moved = {"max_fwd": xc.nbytes + gy.nbytes, "avg_fwd": xc.nbytes + gy.nbytes,
                         "max_bwd": gy.nbytes + idx.nbytes + xc.nbytes, "avg_bwd": gy.nbytes + xc.nbytes}[op]
                torch_fn, ours = calls(layer, op, x, gy, idx, backends)
                candidates = {"torch": torch_fn, **ours}
                times = {name: [] for name in candidates}
                for _ in range(args.rounds):
                    for name, t in block_times(candidates, args.repeats, ("torch",), BLAS_PARK_SECONDS).items():
                        times[name] += t
                med = {name: float(np.median(t)) for name, t in times.items()}
                line = f"{op:8s} {layer.name[:34]:34s} {moved / 1e6:6.1f} {moved / med['torch'] / 1e9:10.1f}"
                for b in backends:
                    gbs = moved / med[b] / 1e9
                    ratios.setdefault((op, b), []).append(med["torch"] / med[b])
                    fractions.setdefault((op, b), []).append(gbs / copy)
                    line += f" {gbs:10.1f} {100 * gbs / copy:5.0f}% {med['torch'] / med[b]:7.2f}"
                print(line, flush=True)
    print("\ngeometric means over layers")
    for (op, b), r in ratios.items():
        line = (f"  {op:8s} {b:6s} {100 * np.exp(np.mean(np.log(fractions[(op, b)]))):5.0f}% of copy, "
                f"x{np.exp(np.mean(np.log(r))):.2f} torch")
        if b != "c" and (op, "c") in ratios:
            line += f", x{np.exp(np.mean(np.log(np.array(r) / np.array(ratios[(op, 'c')])))):.2f} c"
        print(line)


if __name__ == "__main__":
    main()
