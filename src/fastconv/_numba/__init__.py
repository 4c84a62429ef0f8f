"""The Numba backend.  Its kernels are registered here but the JIT modules are
imported on first use, so ``import fastconv`` does not pay for loading numba."""
from __future__ import annotations

import importlib
import importlib.util

from .. import _registry

_KERNELS = (  # (op, algorithm, module, function)
    ("conv2d_fwd", "direct", "fastconv._numba.direct", "conv2d_fwd_direct"),
    ("conv2d_bwd_data", "direct", "fastconv._numba.direct", "conv2d_bwd_data_direct"),
    ("conv2d_bwd_filter", "direct", "fastconv._numba.direct", "conv2d_bwd_filter_direct"),
    ("conv2d_fwd", "im2col", "fastconv._numba.im2col", "conv2d_fwd_im2col"),
    ("conv2d_bwd_data", "im2col", "fastconv._numba.im2col", "conv2d_bwd_data_im2col"),
    ("conv2d_bwd_filter", "im2col", "fastconv._numba.im2col", "conv2d_bwd_filter_im2col"),
    # Winograd's backward-filter is im2col's (docs/winograd.md says why)
    ("conv2d_fwd", "winograd_f2x2k3x3", "fastconv._numba.winograd", "conv2d_fwd_winograd_f2x2k3x3"),
    ("conv2d_bwd_data", "winograd_f2x2k3x3", "fastconv._numba.winograd", "conv2d_bwd_data_winograd_f2x2k3x3"),
    ("conv2d_bwd_filter", "winograd_f2x2k3x3", "fastconv._numba.im2col", "conv2d_bwd_filter_im2col"),
    ("conv2d_fwd", "winograd_f4x4k3x3", "fastconv._numba.winograd", "conv2d_fwd_winograd_f4x4k3x3"),
    ("conv2d_bwd_data", "winograd_f4x4k3x3", "fastconv._numba.winograd", "conv2d_bwd_data_winograd_f4x4k3x3"),
    ("conv2d_bwd_filter", "winograd_f4x4k3x3", "fastconv._numba.im2col", "conv2d_bwd_filter_im2col"),
    ("maxpool2d_fwd", "direct", "fastconv._numba.pool", "maxpool2d_fwd_direct"),
    ("maxpool2d_bwd", "direct", "fastconv._numba.pool", "maxpool2d_bwd_direct"),
    ("avgpool2d_fwd", "direct", "fastconv._numba.pool", "avgpool2d_fwd_direct"),
    ("avgpool2d_bwd", "direct", "fastconv._numba.pool", "avgpool2d_bwd_direct"),
)


def _lazy(module, name):
    def kernel(*args):
        return getattr(importlib.import_module(module), name)(*args)

    kernel.__name__ = kernel.__qualname__ = name
    return kernel


if importlib.util.find_spec("numba") is None:  # pragma: no cover - numba is a dependency
    _registry.mark_unavailable("numba", "numba is not installed")
else:
    from .. import _winograd

    # one wrapper per function, so a kernel registered under two names is one kernel
    _wrappers = {(m, n): _lazy(m, n) for _, _, m, n in _KERNELS}
    for _dtype in ("f32", "f64"):
        for _op, _alg, _module, _name in _KERNELS:
            _winograd_variant = _alg.startswith("winograd")
            _own = _winograd_variant and _module.endswith("winograd")  # not delegated
            _registry.register(_registry.KernelSpec(
                _op, _alg, "numba", _dtype, _wrappers[_module, _name],
                _winograd.supports if _winograd_variant else _registry.always,
                error_scale=_winograd.error_factor(_alg.split("_", 1)[1]) if _own else 1.0,
                uses_blas=_alg != "direct", tile=_winograd.VARIANT_TILES[_alg.split("_", 1)[1]] if _own else 0))
