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
    for _dtype in ("f32", "f64"):
        for _op, _alg, _module, _name in _KERNELS:
            _registry.register(_registry.KernelSpec(
                _op, _alg, "numba", _dtype, _lazy(_module, _name), _registry.always,
                uses_blas=_alg == "im2col"))
