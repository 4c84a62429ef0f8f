"""fastconv: 2-D convolution and pooling kernels for NumPy arrays, in C and Numba.

The public names are those of the API contract (shared/API.md); the float64
oracle lives in ``fastconv.reference``.
"""
from . import _c, _numba  # noqa: F401  (registers the backends' kernels)
from . import reference
from ._registry import UnsupportedError
from ._threads import get_num_threads, set_num_threads
from ._workspace import get_workspace_limit, set_workspace_limit
from .conv import conv2d, conv2d_backward
from .pool import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward, adaptive_max_pool2d,
                   adaptive_max_pool2d_backward, avg_pool2d, avg_pool2d_backward, lp_pool2d,
                   lp_pool2d_backward, max_pool2d, max_pool2d_backward)

__version__ = "0.1.0"

__all__ = [
    "UnsupportedError",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_backward",
    "get_num_threads",
    "get_workspace_limit",
    "lp_pool2d",
    "lp_pool2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "reference",
    "set_num_threads",
    "set_workspace_limit",
]
