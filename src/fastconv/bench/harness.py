"""The benchmark harness behind ``python -m fastconv bench``.

For every layer and op it times each registered kernel that can serve it, side by
side with the baselines a user would otherwise reach for (PyTorch when installed,
what a NumPy user writes, the float64 reference on small layers), and checks the
timed kernel's result against the reference with the same error bound as the tests.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import json
import sys

import numpy as np

import fastconv
from fastconv import _registry, reference
from fastconv._params import conv_params, pool_params

from .accuracy import conv_bound, error_bound, reduction_lengths, within_bound
from .benchdnn import ConvLayer, PoolLayer, parse_conv, parse_pool, read_conv_file, read_pool_file
from .peak import fma_peak_gflops
from .timing import block_times, interleaved_medians

CONV_OPS = {"fwd": "conv2d_fwd", "bwd_data": "conv2d_bwd_data", "bwd_filter": "conv2d_bwd_filter"}
POOL_OPS = {"max_fwd": "maxpool2d_fwd", "max_bwd": "maxpool2d_bwd",
            "avg_fwd": "avgpool2d_fwd", "avg_bwd": "avgpool2d_bwd"}

# suite name -> benchdnn files shipped in fastconv/bench/shapes (see NOTICE there)
SUITES = {
    "resnet50": ("conv/shapes_resnet_50", "pool/shapes_resnet_50"),
    "vgg19": ("conv/shapes_vgg_19",),
    "vgg11": ("conv/shapes_vgg_11",),
    "alexnet": ("conv/shapes_alexnet", "pool/shapes_alexnet"),
    "googlenet": ("conv/shapes_googlenet_v1", "pool/shapes_googlenet_v1"),
    "mobilenet_dw": ("conv/shapes_mobilenet_dw",),
    "dilated": ("conv/shapes_dilated",),
}
# --quick: four ResNet-50 convolutions and its first max pool, at a small batch
QUICK_LAYERS = ("resnet_50:res2a_branch2b*3", "resnet_50:res3a_branch2c*4",
                "resnet_50:res4a_branch2b*6", "resnet_50:res5a_branch2b*3", "resnet_50:max_pool1")
REFERENCE_TIMING_MAX_GFLOP = 0.05  # the float64 reference is timed only on layers this small
BLAS_PARK_SECONDS = 0.3  # after a candidate that calls OpenBLAS, for its spinning threads to sleep


def _shapes_file(relative):
    return importlib.resources.files("fastconv.bench").joinpath("shapes", relative)


def suite_layers(name, mb):
    """The layers of a shipped suite (conv and pool), batch set to mb."""
    layers = []
    for relative in SUITES[name]:
        with importlib.resources.as_file(_shapes_file(relative)) as path:
            reader = read_conv_file if relative.startswith("conv/") else read_pool_file
            layers += reader(path, mb=mb)
    return layers


def parse_descriptor(line, mb):
    """A ConvLayer (descriptors with ``oc``) or a PoolLayer from one benchdnn line."""
    body = line.split('n"', 1)[0]
    return parse_conv(line, mb) if "oc" in body else parse_pool(line, mb)


@dataclasses.dataclass
class Row:
    """One timed candidate on one layer and op."""

    layer: str
    op: str
    candidate: str
    dtype: str
    mb: int
    median_ms: float
    min_ms: float
    rate: float          # GFLOP/s for convolution, GB/s for pooling
    unit: str
    fraction: float      # of the FMA peak (convolution) or of copy bandwidth (pooling)
    speedup: dict        # baseline name -> its time / ours
    error: float | None  # max |ours - reference| / max |reference|, on the first image
    ok: bool | None      # within the tests' error bound


class _Torch:
    """PyTorch baselines, when torch is importable."""

    def __init__(self, threads):
        try:
            import torch
            import torch.nn.functional as F
        except ImportError:
            self.torch = None
            return
        self.torch, self.F = torch, F
        self.threads_before = torch.get_num_threads()
        torch.set_num_threads(threads)

    def restore_threads(self):
        """PyTorch's thread count as it was before this object set it."""
        if self.torch is not None:
            self.torch.set_num_threads(self.threads_before)

    def conv(self, layer, op, x, w, gy):
        torch, F = self.torch, self.F
        xc, kw = layer.conv_args(x)
        pt, pb, pl, pr = kw["padding"]
        tx = F.pad(torch.from_numpy(np.ascontiguousarray(xc)), (pl, pr, pt, pb))
        tw, tgy = torch.from_numpy(w), torch.from_numpy(gy)
        stride, dil = list(kw["stride"]), list(kw["dilation"])
        if op == "fwd":
            return lambda: F.conv2d(tx, tw, None, stride, 0, dil, layer.groups)
        mask = [op == "bwd_data", op == "bwd_filter", False]
        return lambda: torch.ops.aten.convolution_backward(tgy, tx, tw, None, stride, [0, 0], dil,
                                                           False, [0, 0], layer.groups, mask)

    def pool(self, layer, op, x, gy, idx):
        torch, F = self.torch, self.F
        xc, kw = layer.pool_args(x)
        pt, pb, pl, pr = kw["padding"]
        kind = op.split("_")[0]
        fill = -float("inf") if kind == "max" else 0.0
        tx = F.pad(torch.from_numpy(np.ascontiguousarray(xc)), (pl, pr, pt, pb), value=fill)
        k, s = list(kw["kernel_size"]), list(kw["stride"])
        tgy, tidx = torch.from_numpy(gy), None
        if op == "max_fwd":
            return lambda: F.max_pool2d(tx, k, s)
        if op == "avg_fwd":
            return lambda: F.avg_pool2d(tx, k, s)
        if op == "max_bwd":
            _, tidx = F.max_pool2d(tx, k, s, return_indices=True)
            return lambda: torch.ops.aten.max_pool2d_with_indices_backward(tgy, tx, k, s, [0, 0], [1, 1],
                                                                            False, tidx)
        return lambda: torch.ops.aten.avg_pool2d_backward(tgy, tx, k, s, [0, 0], False, True, None)


def _numpy_conv(layer, x, w):
    """What a NumPy user writes: pad, sliding_window_view, tensordot (groups == 1 only)."""
    if layer.groups != 1:
        return None
    xc, kw = layer.conv_args(x)
    pt, pb, pl, pr = kw["padding"]

    def run():
        xp = np.pad(xc, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        win = np.lib.stride_tricks.sliding_window_view(
            xp, ((layer.kh - 1) * layer.dh + 1, (layer.kw - 1) * layer.dw + 1), axis=(2, 3))
        win = win[:, :, ::layer.sh, ::layer.sw, ::layer.dh, ::layer.dw][:, :, :layer.oh, :layer.ow]
        return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)

    return run


def conv_call(layer, op, x, w, gy, spec):
    """A callable running ``spec``'s kernel for one conv op of the layer (its arguments,
    by default the whole batch, may be replaced to run on part of it)."""
    xc, kw = layer.conv_args(x)
    alg, be = spec.algorithm, spec.backend
    if op == "fwd":
        return lambda xx=xc, gg=gy: fastconv.conv2d(xx, w, algorithm=alg, backend=be, **kw)
    mask = (op == "bwd_data", op == "bwd_filter", False)
    index = 0 if op == "bwd_data" else 1
    return lambda xx=xc, gg=gy: fastconv.conv2d_backward(gg, xx, w, algorithm=alg, backend=be,
                                                         output_mask=mask, **kw)[index]


def _conv_reference(layer, op, x, w, gy, magnitudes=False):
    """The op in float64 on the given batch (on absolute values when magnitudes)."""
    xc, kw = layer.conv_args(x)
    if magnitudes:
        xc, w, gy = np.abs(xc), np.abs(w), np.abs(gy)
    if op == "fwd":
        return reference.conv2d(xc, w, **kw)
    grads = reference.conv2d_backward(gy, xc, w, **kw)
    return grads[0] if op == "bwd_data" else grads[1]


def pool_call(layer, op, x, gy, idx, backend):
    """A callable running one pooling op of the layer on ``backend``."""
    xc, kw = layer.pool_args(x)
    if op == "max_fwd":
        return lambda xx=xc, gg=gy, ii=idx: fastconv.max_pool2d(xx, **kw, backend=backend)
    if op == "avg_fwd":
        return lambda xx=xc, gg=gy, ii=idx: fastconv.avg_pool2d(xx, **kw, backend=backend)
    if op == "max_bwd":
        return lambda xx=xc, gg=gy, ii=idx: fastconv.max_pool2d_backward(gg, xx, **kw, indices=ii,
                                                                         backend=backend)
    return lambda xx=xc, gg=gy, ii=idx: fastconv.avg_pool2d_backward(gg, xx, **kw, backend=backend)


def _pool_reference(layer, op, x, gy, magnitudes=False):
    """The op in float64 on the given batch; with magnitudes, the sums of |terms| (|x| for
    averages; |grad_output| for gradients, with x kept so the maxima stay where they are)."""
    xc, kw = layer.pool_args(x)
    if magnitudes:
        gy = np.abs(gy)
        if op.startswith("avg"):
            xc = np.abs(xc)
    fn = {"max_fwd": lambda: reference.max_pool2d(xc, **kw),
          "avg_fwd": lambda: reference.avg_pool2d(xc, **kw),
          "max_bwd": lambda: reference.max_pool2d_backward(gy, xc, **kw),
          "avg_bwd": lambda: reference.avg_pool2d_backward(gy, xc, **kw)}[op]
    return fn()


def layer_arrays(layer, rng, dtype):
    """(x, w, grad_output, max-pool indices, Params) of a layer: N(0, 1) data; w and
    the indices are None where they do not apply."""
    if isinstance(layer, ConvLayer):
        x, w, gy = layer.arrays(rng, dtype)
        xc, kw = layer.conv_args(x)
        params = conv_params(xc, w, None, kw["stride"], kw["padding"], kw["dilation"], layer.groups, "zeros")
        return x, w, gy, None, params
    x = rng.standard_normal((layer.mb, layer.c, layer.ih, layer.iw)).astype(dtype)
    gy = rng.standard_normal((layer.mb, layer.c, layer.oh, layer.ow)).astype(dtype)
    xc, kw = layer.pool_args(x)
    params = pool_params(xc, kw["kernel_size"], kw["stride"], kw["padding"], 1, False)
    _, idx = fastconv.max_pool2d(xc, **kw, return_indices=True)
    return x, None, gy, idx, params


def copy_bandwidth(repeats=5):
    """np.copyto of 256 MiB, in GB/s counting the bytes read and written."""
    src = np.ones(64 * 2**20, np.float32)
    dst = np.empty_like(src)
    seconds = interleaved_medians({"copy": lambda: np.copyto(dst, src)}, repeats)["copy"]
    return 2 * src.nbytes / seconds / 1e9


def _select(specs, algorithms, backends):
    """The specs of the chosen algorithms (a family name such as "winograd" chooses its
    variants) and backends; a kernel registered under several names (Winograd's
    backward-filter is im2col's) is timed once, under its first."""
    chosen = {a for name in algorithms for a in _registry.FAMILIES.get(name, (name,))}
    seen, out = set(), []
    for s in specs:
        if (algorithms and s.algorithm not in chosen) or (backends and s.backend not in backends):
            continue
        if (s.fn, s.dtype) not in seen:
            seen.add((s.fn, s.dtype))
            out.append(s)
    return out


def run(layers, *, conv_ops, pool_ops, dtype, threads, repeats, algorithms=(), backends=(),
        baselines=("torch", "numpy", "reference"), progress=None):
    """Benchmark every layer; returns a list of Rows.  fastconv's and PyTorch's thread
    counts are set to threads for the run and restored after it."""
    before = fastconv.get_num_threads()
    torch_base = _Torch(threads) if "torch" in baselines else None
    fastconv.set_num_threads(threads)
    try:
        return _measure(layers, conv_ops, pool_ops, dtype, threads, repeats, algorithms, backends, baselines,
                        progress, torch_base)
    finally:
        fastconv.set_num_threads(before)
        if torch_base is not None:
            torch_base.restore_threads()


def _measure(layers, conv_ops, pool_ops, dtype, threads, repeats, algorithms, backends, baselines, progress,
             torch_base):
    """run's rows, with the thread counts already set."""
    dtype = np.dtype(dtype)
    tag = _registry.DTYPE_TAGS[dtype]
    peak = fma_peak_gflops(threads) / (1 if dtype == np.float32 else 2)
    copy = copy_bandwidth() if any(isinstance(layer, PoolLayer) for layer in layers) and pool_ops else None
    rng = np.random.default_rng(0)
    rows = []
    for layer in layers:
        is_conv = isinstance(layer, ConvLayer)
        ops = conv_ops if is_conv else pool_ops
        x, w, gy, idx, params = layer_arrays(layer, rng, dtype)
        xc, kw = layer.conv_args(x) if is_conv else layer.pool_args(x)
        for op in ops:
            registry_op = (CONV_OPS if is_conv else POOL_OPS)[op]
            specs = _select(_registry.kernels(registry_op), algorithms, backends)
            specs = [s for s in specs if s.dtype == tag and s.supports(params) is None]
            calls = {}
            for s in specs:
                name = f"{s.algorithm}/{s.backend}"
                calls[name] = (conv_call(layer, op, x, w, gy, s) if is_conv
                               else pool_call(layer, op, x, gy, idx, s.backend))
            base = {}
            if torch_base is not None and torch_base.torch is not None:
                base["torch"] = (torch_base.conv(layer, op, x, w, gy) if is_conv
                                 else torch_base.pool(layer, op, x, gy, idx))
            if is_conv and op == "fwd" and "numpy" in baselines:
                numpy_call = _numpy_conv(layer, x, w)
                if numpy_call is not None:
                    base["numpy"] = numpy_call
            if is_conv and "reference" in baselines and layer.flops / 1e9 <= REFERENCE_TIMING_MAX_GFLOP:
                base["reference"] = lambda: _conv_reference(layer, op, x, w, gy)
            # each candidate in a block of its own (see block_times), with a rest after
            # those that call OpenBLAS, whose threads spin on after a call
            blas_users = {f"{s.algorithm}/{s.backend}" for s in specs if s.uses_blas} | {"numpy", "torch"}
            raw = block_times({**calls, **base}, repeats, blas_users, BLAS_PARK_SECONDS)
            times = {name: float(np.median(t)) for name, t in raw.items()}
            # the error is judged on the first image, against the reference of that image
            if is_conv:
                expected = _conv_reference(layer, op, x[:1], w, gy[:1])
                magnitude = _conv_reference(layer, op, x[:1], w, gy[:1], magnitudes=True)
                first = conv_params(xc[:1], w, None, kw["stride"], kw["padding"], kw["dilation"], layer.groups,
                                    "zeros")
                lengths = reduction_lengths(first)
            else:
                expected = _pool_reference(layer, op, x[:1], gy[:1])
                magnitude = _pool_reference(layer, op, x[:1], gy[:1], magnitudes=True)
            for s in specs:
                name = f"{s.algorithm}/{s.backend}"
                # the timed call's first image (bwd-filter: the call on that image alone)
                fn = calls[name]
                if is_conv:
                    result = fn(xc[:1], gy[:1]) if op == "bwd_filter" else fn()[:1]
                    bound = conv_bound(s, CONV_OPS[op], first, xc[:1], w, gy[:1], magnitude, lengths[CONV_OPS[op]])
                    error, ok = within_bound(result, expected, bound)
                    rate, unit = layer.flops / times[name] / 1e9, "GFLOP/s"
                    fraction = rate / peak
                else:
                    result = fn()[:1]
                    # a max selects (exact or wrong); every other op sums up to kh*kw terms
                    # (max backward: the gradients of overlapping windows sharing a maximum)
                    exact = op == "max_fwd"
                    bound = 0.0 if exact else error_bound(layer.kh * layer.kw, dtype, magnitude)
                    error, ok = within_bound(result, expected, bound)
                    moved = xc.nbytes + gy.nbytes + (idx.nbytes if op == "max_bwd" else 0)
                    rate, unit = moved / times[name] / 1e9, "GB/s"
                    fraction = rate / copy
                rows.append(Row(layer.name, op, name, dtype.name, layer.mb, times[name] * 1e3,
                                min(raw[name]) * 1e3, rate, unit, fraction,
                                {b: times[b] / times[name] for b in base}, error, ok))
            if progress is not None:
                progress.update(1)
    return rows


def format_table(rows):
    """The rows as a readable fixed-width table."""
    baselines = sorted({b for r in rows for b in r.speedup})
    head = (f"{'layer':34s} {'op':10s} {'kernel':22s} {'median ms':>9s} {'min ms':>8s} {'rate':>14s} "
            f"{'of peak/copy':>12s}" + "".join(f" {'x ' + b:>11s}" for b in baselines) + f" {'rel err':>9s}  ok")
    lines = [head, "-" * len(head)]
    for r in rows:
        line = (f"{r.layer[:34]:34s} {r.op:10s} {r.candidate:22s} {r.median_ms:9.3f} {r.min_ms:8.3f} "
                f"{r.rate:7.1f} {r.unit:6s} {100 * r.fraction:11.0f}%")
        line += "".join(f" {r.speedup[b]:11.2f}" if b in r.speedup else f" {'-':>11s}" for b in baselines)
        line += f" {r.error:9.1e}  {'yes' if r.ok else 'NO'}"
        lines.append(line)
    return "\n".join(lines)


def summary(rows):
    """Geometric means of the speedups per (op, kernel, baseline)."""
    groups = {}
    for r in rows:
        for b, v in r.speedup.items():
            groups.setdefault((r.op, r.candidate, b), []).append(v)
    return [f"  {op:10s} {cand:22s} x{np.exp(np.mean(np.log(v))):.2f} vs {b} (geometric mean of {len(v)})"
            for (op, cand, b), v in sorted(groups.items())]


def write_json(rows, path, meta):
    with open(path, "w") as fh:
        json.dump({"meta": meta, "rows": [dataclasses.asdict(r) for r in rows]}, fh, indent=1)


def write_plot(rows, path):
    """Grouped bars, one panel per op (GFLOP/s for convolution, GB/s for pooling) and one
    group per layer: every kernel and every baseline (a baseline's rate is ours / speedup)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install 'fastconv[plot]'", file=sys.stderr)
        return False
    ops = list(dict.fromkeys(r.op for r in rows))
    names = sorted({r.candidate for r in rows}) + sorted({b for r in rows for b in r.speedup})
    color = {name: f"C{i}" for i, name in enumerate(names)}  # one color per series, every panel
    layers_most = max(len({r.layer for r in rows if r.op == op}) for op in ops)
    fig, axes = plt.subplots(len(ops), 1, figsize=(max(8, 0.55 * layers_most + 3), 3.2 * len(ops)),
                             squeeze=False)
    for ax, op in zip(axes[:, 0], ops):
        mine = [r for r in rows if r.op == op]
        layers = list(dict.fromkeys(r.layer for r in mine))
        rates = {}
        for r in mine:
            rates[(r.layer, r.candidate)] = r.rate
            for base, speedup in r.speedup.items():
                rates.setdefault((r.layer, base), r.rate / speedup)
        kernels = sorted({r.candidate for r in mine})
        series = kernels + sorted({name for (_, name) in rates} - set(kernels))  # same order per panel
        width = 0.8 / len(series)
        for i, name in enumerate(series):
            ax.bar(np.arange(len(layers)) + i * width, [rates.get((layer, name), 0) for layer in layers],
                   width, label=name, color=color[name])
        ax.set_xticks(np.arange(len(layers)) + 0.4 - width / 2)
        ax.set_xticklabels([layer.split(":")[-1] for layer in layers], fontsize=7, rotation=35, ha="right")
        ax.set_title(op, fontsize=9)
        ax.set_ylabel(mine[0].unit)
        ax.legend(fontsize=7, ncol=len(series))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True
