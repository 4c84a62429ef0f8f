"""Direct convolution (C and Numba) against PyTorch on real-network layers.

    python benchmarks/direct_vs_torch.py ../shared/benchdnn/conv/shapes_resnet_50 --mb 8 --threads 2

Candidates are timed in turn within each repetition, so the machine's noise hits
them alike; each figure is the median over repetitions.  GFLOP/s counts the direct
algorithm's 2 * multiply-adds for every pass; "peak" is this machine's measured
float32 FMA peak (half of it for float64).  Needs torch (pip install torch).
"""
from __future__ import annotations

import argparse
import numpy as np
import torch
import torch.nn.functional as F

import fastconv
from fastconv.bench.timing import interleaved_medians
from fastconv.bench.benchdnn import read_conv_file
from fastconv.bench.peak import fma_peak_gflops

OPS = ("fwd", "bwd_data", "bwd_filter")
MASKS = {"bwd_data": (True, False, False), "bwd_filter": (False, True, False)}


def torch_call(layer, op, x, w, gy):
    """A PyTorch callable for one op, padding natively when that reads the same input."""
    xc, kw = layer.conv_args(x)
    pt, pb, pl, pr = kw["padding"]
    tx, tw, tgy = torch.from_numpy(np.ascontiguousarray(xc)), torch.from_numpy(w), torch.from_numpy(gy)
    pad = [pt, pl]
    oh = (xc.shape[2] + 2 * pt - (layer.kh - 1) * layer.dh - 1) // layer.sh + 1
    ow = (xc.shape[3] + 2 * pl - (layer.kw - 1) * layer.dw - 1) // layer.sw + 1
    if (oh, ow) != (layer.oh, layer.ow):
        tx, pad = F.pad(tx, (pl, pr, pt, pb)), [0, 0]
    stride, dil = [layer.sh, layer.sw], [layer.dh, layer.dw]
    if op == "fwd":
        return lambda: F.conv2d(tx, tw, None, stride, pad, dil, layer.groups)
    mask = [op == "bwd_data", op == "bwd_filter", False]
    return lambda: torch.ops.aten.convolution_backward(tgy, tx, tw, None, stride, pad, dil, False,
                                                       [0, 0], layer.groups, mask)


def fastconv_call(layer, op, x, w, gy, backend):
    xc, kw = layer.conv_args(x)
    if op == "fwd":
        return lambda: fastconv.conv2d(xc, w, algorithm="direct", backend=backend, **kw)
    return lambda: fastconv.conv2d_backward(gy, xc, w, algorithm="direct", backend=backend,
                                            output_mask=MASKS[op], **kw)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shapes", help="a benchdnn convolution batch file")
    parser.add_argument("--mb", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--backends", default="c,numba")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fastconv.set_num_threads(args.threads)
    dtype = np.dtype(args.dtype)
    peak = fma_peak_gflops(args.threads) / (1 if dtype == np.float32 else 2)
    backends = args.backends.split(",")
    print(f"# {args.shapes}  mb={args.mb}  {args.dtype}  threads={args.threads}  "
          f"FMA peak {peak:.0f} GFLOP/s  torch {torch.__version__}  median of {args.repeats}")
    print(f"{'op':10s} {'layer':34s} {'torch GF/s':>10s}" + "".join(
        f" {b + ' GF/s':>10s} {'%peak':>6s} {'x torch':>7s}" for b in backends))
    ratios = {}
    rng = np.random.default_rng(0)
    for layer in read_conv_file(args.shapes, mb=args.mb):
        x, w, gy = layer.arrays(rng, dtype)
        for op in args.ops.split(","):
            calls = {"torch": torch_call(layer, op, x, w, gy)}
            calls.update({b: fastconv_call(layer, op, x, w, gy, b) for b in backends})
            med = interleaved_medians(calls, args.repeats)
            line = f"{op:10s} {layer.name[:34]:34s} {layer.flops / med['torch'] / 1e9:10.1f}"
            for b in backends:
                gf = layer.flops / med[b] / 1e9
                ratios.setdefault((op, b), []).append(med["torch"] / med[b])
                line += f" {gf:10.1f} {100 * gf / peak:5.0f}% {med['torch'] / med[b]:7.2f}"
            print(line, flush=True)
    print("\ngeometric mean over layers of the speed ratio")
    for (op, b), r in ratios.items():
        line = f"  {op:10s} {b:6s} vs torch {np.exp(np.mean(np.log(r))):.2f}"
        if b != "c" and (op, "c") in ratios:
            rel = np.array(r) / np.array(ratios[(op, "c")])
            line += f"   vs c {np.exp(np.mean(np.log(rel))):.2f} (worst layer {rel.min():.2f})"
        print(line)


if __name__ == "__main__":
    main()
