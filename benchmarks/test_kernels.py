"""pytest-benchmark suites: every registered kernel on real-network layers.

    pytest benchmarks/ --benchmark-only                  # ResNet-50 layers, mb 8
    FASTCONV_BENCH_SUITE=vgg19 FASTCONV_BENCH_MB=2 pytest benchmarks/ --benchmark-only
    pytest benchmarks/ -m smoke --benchmark-disable      # a quick run-once check (CI)

Cases come from the kernel registry (a new kernel appears here without edits),
grouped by op and layer; extra_info carries algorithm, backend and GFLOP/s (or GB/s).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from fastconv import _registry
from fastconv.bench import harness
from fastconv.bench.benchdnn import ConvLayer

MB = int(os.environ.get("FASTCONV_BENCH_MB", "8"))
SUITE = os.environ.get("FASTCONV_BENCH_SUITE", "resnet50")
SMOKE_LAYERS = [harness.parse_descriptor(line, 1) for line in (
    'mb1ic16ih12oc16oh12kh3ph1n"smoke:conv3x3"', 'mb1ic8_ih12oh6_kh3sh2ph1n"smoke:pool"')]
OPS = {**{v: k for k, v in harness.CONV_OPS.items()}, **{v: k for k, v in harness.POOL_OPS.items()}}


def _cases():
    cases = []
    for layers, marks in ((harness.suite_layers(SUITE, MB), ()), (SMOKE_LAYERS, (pytest.mark.smoke,))):
        for spec in _registry.kernels():
            if spec.dtype != "f32":
                continue
            conv = spec.op in harness.CONV_OPS.values()
            for layer in layers:
                if isinstance(layer, ConvLayer) == conv:
                    cases.append(pytest.param(spec, layer, marks=marks,
                                              id=f"{spec.key}:{layer.name}"))
    return cases


@pytest.mark.parametrize("spec, layer", _cases())
def test_kernel(benchmark, spec, layer):
    x, w, gy, idx, params = harness.layer_arrays(layer, np.random.default_rng(0), np.float32)
    if spec.supports(params) is not None:
        pytest.skip(f"{spec.key} cannot serve {layer.name}: {spec.supports(params)}")
    op = OPS[spec.op]
    if isinstance(layer, ConvLayer):
        call = harness.conv_call(layer, op, x, w, gy, spec)
        work, unit = layer.flops / 1e9, "GFLOP/s"
    else:
        call = harness.pool_call(layer, op, x, gy, idx, spec.backend)
        work, unit = (x.nbytes + gy.nbytes + (idx.nbytes if op == "max_bwd" else 0)) / 1e9, "GB/s"
    call()  # compile the JIT and touch the buffers before timing
    benchmark.group = f"{op} {layer.name}"
    benchmark.extra_info.update(algorithm=spec.algorithm, backend=spec.backend, dtype=spec.dtype, unit=unit)
    benchmark(call)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["rate"] = work / benchmark.stats.stats.median
