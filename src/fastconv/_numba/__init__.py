"""The Numba backend.  Its kernels are registered here but the JIT modules are
imported on first use, so ``import fastconv`` does not pay for loading numba."""
from __future__ import annotations

import importlib
import importlib.util

from .. import _registry

_MODULES = {"direct": "fastconv._numba.direct"}
_KERNELS = (
    ("conv2d_fwd", "direct", "conv2d_fwd_direct"),
    ("conv2d_bwd_data", "direct", "conv2d_bwd_data_direct"),
    ("conv2d_bwd_filter", "direct", "conv2d_bwd_filter_direct"),
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
        for _op, _alg, _name in _KERNELS:
            _registry.register(_registry.KernelSpec(
                _op, _alg, "numba", _dtype, _lazy(_MODULES[_alg], _name), _registry.always))
