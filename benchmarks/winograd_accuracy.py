"""Accuracy of every float32 convolution algorithm against the float64 reference.

Random N(0, 1) input and weights, 3x3 kernels, padding 1, C input channels; prints
a Markdown table of the relative L2 error ||y - ref|| / ||ref|| and of the worst
element max |y - ref| / max |ref|, forward and backward-data.  Usage:
    python benchmarks/winograd_accuracy.py [--channels 64,256,512] [--size 14] [--backend c]
"""
from __future__ import annotations

import argparse

import numpy as np

import fastconv
from fastconv import reference

ALGORITHMS = ("direct", "im2col", "winograd_f2x2k3x3", "winograd_f4x4k3x3")


def errors(actual, expected):
    diff = actual.astype(np.float64) - expected
    return (float(np.linalg.norm(diff) / np.linalg.norm(expected)),
            float(np.abs(diff).max() / np.abs(expected).max()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="64,256,512")
    parser.add_argument("--size", type=int, default=14, help="input height and width")
    parser.add_argument("--out-channels", type=int, default=64)
    parser.add_argument("--backend", default="c")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"float32, N(0,1) data, input (2, C, {args.size}, {args.size}), weight ({args.out_channels}, C, 3, 3), "
          f"padding 1, backend {args.backend}; errors against the float64 reference\n")
    print("| C | algorithm | fwd rel L2 | fwd worst | bwd-data rel L2 | bwd-data worst |")
    print("|---|---|---|---|---|---|")
    for c in (int(v) for v in args.channels.split(",")):
        x = rng.standard_normal((2, c, args.size, args.size))
        w = rng.standard_normal((args.out_channels, c, 3, 3))
        gy = rng.standard_normal((2, args.out_channels, args.size, args.size))
        y_ref = reference.conv2d(x, w, padding=1)
        gx_ref = reference.conv2d_backward(gy, x, w, padding=1, output_mask=(True, False, False))[0]
        x32, w32, gy32 = (a.astype(np.float32) for a in (x, w, gy))
        for alg in ALGORITHMS:
            y = fastconv.conv2d(x32, w32, padding=1, algorithm=alg, backend=args.backend)
            gx = fastconv.conv2d_backward(gy32, x32, w32, padding=1, output_mask=(True, False, False),
                                          algorithm=alg, backend=args.backend)[0]
            (f2, fw), (b2, bw) = errors(y, y_ref), errors(gx, gx_ref)
            print(f"| {c} | {alg} | {f2:.1e} | {fw:.1e} | {b2:.1e} | {bw:.1e} |")


if __name__ == "__main__":
    main()
