"""The kernel registry: one list that drives dispatch, tests and benchmarks.

A key reads ``op/algorithm/backend/dtype``, e.g. ``conv2d_fwd/direct/c/f32``.
Each spec holds the kernel, a ``supports(params)`` that returns None or the
reason it cannot serve, and its error scale (1 for direct summation; the tests
multiply their reduction-length bound by it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

CONV_OPS = ("conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter")
POOL_OPS = ("maxpool2d_fwd", "maxpool2d_bwd", "avgpool2d_fwd", "avgpool2d_bwd")
OPS = CONV_OPS + POOL_OPS
# "winograd" names a family: its variants are registered as algorithms of their own
# (F(4x4, 3x3) first: four times fewer multiplications than direct, against 2.25)
FAMILIES = {"winograd": ("winograd_f4x4k3x3", "winograd_f2x2k3x3")}
ALGORITHMS = ("direct", "im2col") + FAMILIES["winograd"]  # pooling has one: "direct" (window loops)
CHOICES = ALGORITHMS + tuple(FAMILIES)  # what algorithm= accepts besides "auto"
BACKENDS = ("c", "numba")
DTYPE_TAGS = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


class UnsupportedError(ValueError):
    """An explicitly chosen algorithm or backend cannot serve this call."""


@dataclass(frozen=True)
class KernelSpec:
    """One registered kernel."""

    op: str
    algorithm: str
    backend: str
    dtype: str
    fn: Callable
    supports: Callable[[object], Optional[str]]
    error_scale: float = 1.0
    uses_blas: bool = False  # calls NumPy's BLAS (benchmarks let its threads settle after)
    tile: int = 0  # Winograd output tile: the error of an output depends on its tile's whole patch

    @property
    def key(self):
        return f"{self.op}/{self.algorithm}/{self.backend}/{self.dtype}"


_REGISTRY: dict[str, KernelSpec] = {}
_UNAVAILABLE: dict[str, str] = {}  # backend -> why it did not load


def always(params):
    """``supports`` for kernels that serve every valid geometry."""
    return None


def register(spec):
    """Add a kernel; a key may be registered once."""
    if spec.key in _REGISTRY:
        raise RuntimeError(f"kernel {spec.key} registered twice")
    _REGISTRY[spec.key] = spec
    return spec


def mark_unavailable(backend, reason):
    """Record that a backend failed to load, so errors can say why."""
    _UNAVAILABLE[backend] = reason


def kernels(op=None):
    """Registered kernels, optionally of one op, in a stable order."""
    return [s for k, s in sorted(_REGISTRY.items()) if op is None or s.op == op]


def lookup(op, algorithm, backend, dtype):
    """The kernel registered under ``op/algorithm/backend/dtype`` (dtype a tag, "f32"),
    or None."""
    return _REGISTRY.get(f"{op}/{algorithm}/{backend}/{dtype}")


def unavailable_backends():
    return dict(_UNAVAILABLE)


# "auto": first algorithm of the first matching rule whose kernel serves the call,
# trying backends in BACKEND_PREFERENCE order.  Later algorithms add rules above.
def _winograd_fits(p, min_pixels=0, max_pixels=None):
    """float32 3x3 stride-1 dilation-1 convolution with >= 16 channels per group in and
    out (with fewer, its GEMMs are too thin to pay for the transforms), output planes
    of min_pixels <= oh * ow < max_pixels."""
    if not hasattr(p, "c_out") or p.dtype != np.float32 or (p.kh, p.kw, p.sh, p.sw, p.dh, p.dw) != (3, 3, 1, 1, 1, 1):
        return False
    pixels = p.oh * p.ow
    return (min(p.c_in, p.c_out) // p.groups >= 16 and pixels >= min_pixels
            and (max_pixels is None or pixels < max_pixels))


AUTO_RULES = (
    # measured with `python -m fastconv bench` on ResNet-50's 3x3 stride-1 layers, mb 8
    # (docs/winograd.md): Winograd beats direct and im2col forward on all four, and
    # F(4x4) beats F(2x2) on all four, 56x56 down to 7x7 planes, in both backends (it
    # lost on 14x14 and 7x7 until C's filter transform was vectorized); F(2x2) below
    # 7x7, where F(4x4)'s tiles would mostly hang past the plane (not measured)
    ("3x3 stride 1, float32, planes >= 7x7", lambda p: _winograd_fits(p, min_pixels=7 * 7),
     ("winograd_f4x4k3x3",)),
    ("3x3 stride 1, float32, smaller planes", lambda p: _winograd_fits(p, max_pixels=7 * 7),
     ("winograd_f2x2k3x3",)),
    # a network's first layer on its colour planes: with so few input channels the
    # direct kernels' reductions are short; im2col + GEMM measured faster over
    # forward + backward (VGG-19 conv1_1, 3 channels: 1.5-3.9x on every pass; ResNet-50
    # conv1: equal forward, 2.3x backward-data, 0.6x backward-filter; 112x112, 3x3, 64
    # outputs: 2.3x for 1 channel, 1.5x for 3 and 4, equal at 8, 0.8x at 16)
    ("float32, fewer than 8 input channels, one group",
     lambda p: hasattr(p, "c_out") and p.dtype == np.float32 and p.groups == 1 and p.c_in < 8, ("im2col",)),
    # measured with `python -m fastconv bench --suite resnet50 --algorithms direct,im2col`
    # (BENCHMARKS.md): im2col + GEMM wins every pass of the 1x1 layers (1.3-4x the
    # direct kernels) and, in float64, most layers; direct wins the 3x3 and 7x7 ones
    # in float32
    ("1x1 kernels", lambda p: getattr(p, "kw", None) == 1 and getattr(p, "kh", None) == 1, ("im2col",)),
    ("float64 convolution", lambda p: hasattr(p, "c_out") and p.dtype == np.float64, ("im2col",)),
    ("any geometry", lambda p: True, ("direct",)),
)
BACKEND_PREFERENCE = ("c", "numba")


def _check_choice(name, value, allowed):
    if not isinstance(value, str) or (value != "auto" and value not in allowed):
        raise ValueError(f"{name}={value!r}: expected 'auto' or one of {allowed}")


def select(op, params, algorithm="auto", backend="auto"):
    """The kernel that serves ``op`` for ``params``, honoring explicit choices."""
    _check_choice("algorithm", algorithm, CHOICES)
    _check_choice("backend", backend, BACKENDS)
    dtype = DTYPE_TAGS[params.dtype]
    backends = BACKEND_PREFERENCE if backend == "auto" else (backend,)
    if algorithm == "auto":
        algorithms = [a for _, rule, algs in AUTO_RULES if rule(params) for a in algs]
        algorithms += [a for a in ALGORITHMS if a not in algorithms]
    else:
        algorithms = list(FAMILIES.get(algorithm, (algorithm,)))
    reasons = []
    for alg in algorithms:
        for be in backends:
            spec = _REGISTRY.get(f"{op}/{alg}/{be}/{dtype}")
            if spec is None:
                why = _UNAVAILABLE.get(be, "not implemented")
                reasons.append(f"{alg}/{be}: {why}")
                continue
            why = spec.supports(params)
            if why is None:
                return spec
            reasons.append(f"{alg}/{be}: {why}")
    raise UnsupportedError(
        f"no kernel for {op} with algorithm={algorithm!r}, backend={backend!r}, "
        f"dtype={params.dtype}: " + "; ".join(reasons)
    )
