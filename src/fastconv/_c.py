"""The C backend: loads the cffi extension and registers its kernels.

Status codes become exceptions here and nowhere else.  cffi releases the GIL
for the duration of every call.
"""
from __future__ import annotations

import numpy as np

from . import _registry
from . import _winograd
from ._params import element_strides, strides_usable
from ._workspace import get_workspace_limit

try:
    from ._cfastconv import ffi, lib
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    ffi = lib = None
    _registry.mark_unavailable("c", f"the C extension did not load ({exc})")

ISA_NAMES = ("generic", "avx2", "avx512")
_CTYPES = {np.dtype(np.float32): "float *", np.dtype(np.float64): "double *"}


def check(status):
    """Raise the exception a C status stands for."""
    if status == 0:
        return
    if status == 1:
        raise MemoryError("fastconv: a C kernel could not allocate its workspace")
    raise RuntimeError(f"fastconv: C kernel reported status {status} (inconsistent arguments)")


# cffi's view of a contiguous array's buffer costs a seventh of NumPy's ctypes
# attribute (0.35 us against 2.4), which per pooling call on small planes was a
# quarter of the Python-side time
_BUFFERS = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}


def _ptr(array):
    """A pointer to array's first element (float32 or float64, any strides)."""
    if array is None:
        return ffi.NULL
    if array.flags.c_contiguous and array.size:
        return ffi.from_buffer(_BUFFERS[array.dtype], array)
    return ffi.cast(_CTYPES[array.dtype], array.ctypes.data)


def _i64(array):
    """A pointer to the first element of a contiguous int64 array."""
    return ffi.from_buffer("int64_t[]", array)


def _geom(p):
    g = ffi.new("fc_conv_geom *")
    g.n, g.c_in, g.h, g.w = p.n, p.c_in, p.h, p.w
    g.c_out, g.kh, g.kw, g.oh, g.ow = p.c_out, p.kh, p.kw, p.oh, p.ow
    g.sh, g.sw, g.dh, g.dw = p.sh, p.sw, p.dh, p.dw
    g.hp, g.wp, g.groups = p.hp, p.wp, p.groups
    return g


def _strided(x):
    """x (4-D) and its element strides; copies only when strides are not whole elements."""
    if not strides_usable(x):
        x = np.ascontiguousarray(x)
    return x, np.array(element_strides(x), dtype=np.int64)


def _fn(name, dtype):
    return getattr(lib, f"fc_{_registry.DTYPE_TAGS[dtype]}_{name}")


def conv2d_fwd_direct(p, x, w, bias, y):
    """y = conv(x, w) + bias; x any strides, w/bias/y contiguous."""
    x, xs = _strided(x)
    mh, mw = p.padding_maps
    check(_fn("conv2d_fwd_direct", p.dtype)(
        _geom(p), _ptr(x), _i64(xs), _i64(mh), _i64(mw), _ptr(w), _ptr(bias), _ptr(y)))


def conv2d_bwd_data_direct(p, gy, w, gx):
    """gx = grad of input; gy, w, gx contiguous."""
    mh, mw = p.padding_maps
    check(_fn("conv2d_bwd_data_direct", p.dtype)(
        _geom(p), _ptr(gy), _ptr(w), _i64(mh), _i64(mw), _ptr(gx)))


def conv2d_bwd_filter_direct(p, gy, x, gw, gb):
    """gw, gb = grads of weight and bias (either may be None); gy contiguous."""
    x, xs = _strided(x)
    mh, mw = p.padding_maps
    check(_fn("conv2d_bwd_filter_direct", p.dtype)(
        _geom(p), _ptr(gy), _ptr(x), _i64(xs), _i64(mh), _i64(mw), _ptr(gw), _ptr(gb)))


def conv2d_fwd_im2col(p, x, w, bias, y):
    """y = conv(x, w) + bias by im2col + GEMM; x any strides, w/bias/y contiguous."""
    x, xs = _strided(x)
    mh, mw = p.padding_maps
    check(_fn("conv2d_fwd_im2col", p.dtype)(
        _geom(p), _ptr(x), _i64(xs), _i64(mh), _i64(mw), _ptr(w), _ptr(bias), _ptr(y),
        get_workspace_limit()))


def conv2d_bwd_data_im2col(p, gy, w, gx):
    """gx = grad of input by GEMM + col2im; gy, w, gx contiguous."""
    mh, mw = p.padding_maps
    check(_fn("conv2d_bwd_data_im2col", p.dtype)(
        _geom(p), _ptr(gy), _ptr(w), _i64(mh), _i64(mw), _ptr(gx), get_workspace_limit()))


def conv2d_bwd_filter_im2col(p, gy, x, gw, gb):
    """gw by im2col + GEMM, gb summed directly (either may be None); gy contiguous."""
    x, xs = _strided(x)
    mh, mw = p.padding_maps
    if gb is not None:
        check(_fn("conv2d_bwd_filter_direct", p.dtype)(
            _geom(p), _ptr(gy), _ptr(x), _i64(xs), _i64(mh), _i64(mw), ffi.NULL, _ptr(gb)))
    if gw is not None:
        check(_fn("conv2d_bwd_filter_im2col", p.dtype)(
            _geom(p), _ptr(gy), _ptr(x), _i64(xs), _i64(mh), _i64(mw), _ptr(gw), get_workspace_limit()))


def _winograd_correlate(tile):
    def correlate(corr, x, w, bias, y, rotated=False):
        x, xs = _strided(x)
        ws = np.array(_winograd.weight_strides(w.shape, corr.groups, rotated), dtype=np.int64)
        base = _ptr(w) + 8 if rotated else _ptr(w)  # rotated: a filter's taps read from its last
        check(_fn("conv2d_fwd_winograd", x.dtype)(
            _geom(corr), tile, _ptr(x), _i64(xs), _i64(corr.map_h), _i64(corr.map_w), base, _i64(ws),
            _ptr(bias), _ptr(y), get_workspace_limit()))
    return correlate


def _pool_geom(p):
    g = ffi.new("fc_pool_geom *")
    g.n, g.c, g.h, g.w, g.oh, g.ow = p.n, p.c, p.h, p.w, p.oh, p.ow
    g.step_h, g.step_w = p.step_h, p.step_w
    return g


def _windows(p):
    return _i64(p.row_start), _i64(p.row_count), _i64(p.col_start), _i64(p.col_count)


def maxpool2d_fwd_direct(p, x, y, idx):
    """y (and idx unless None) = window maxima of x; x any strides."""
    x, xs = _strided(x)
    check(_fn("maxpool2d_fwd", p.dtype)(_pool_geom(p), _ptr(x), _i64(xs), *_windows(p), _ptr(y),
                                        ffi.NULL if idx is None else _i64(idx)))


def maxpool2d_bwd_direct(p, gy, idx, gx):
    """gx = gy scattered to idx; all contiguous."""
    check(_fn("maxpool2d_bwd", p.dtype)(_pool_geom(p), _ptr(gy), _i64(idx), _ptr(gx)))


def avgpool2d_fwd_direct(p, x, inv_div, y):
    """y = window sums of x times inv_div (contiguous float64, oh x ow)."""
    x, xs = _strided(x)
    check(_fn("avgpool2d_fwd", p.dtype)(_pool_geom(p), _ptr(x), _i64(xs), *_windows(p),
                                        ffi.cast("double *", inv_div.ctypes.data), _ptr(y)))


def avgpool2d_bwd_direct(p, gy, inv_div, gx):
    """gx = each gy * inv_div spread over its window; all contiguous."""
    check(_fn("avgpool2d_bwd", p.dtype)(_pool_geom(p), _ptr(gy), *_windows(p),
                                        ffi.cast("double *", inv_div.ctypes.data), _ptr(gx)))


def gemm(a, b, out=None, accumulate=False):
    """``out = a @ b`` (``out += a @ b`` when accumulate) by the C packed GEMM.

    a (m x k) and b (k x n) are 2-D float32 or float64 arrays of one dtype with any
    strides whole in elements; out, when given, is m x n of that dtype, must not
    overlap a or b, and is written in place.  Returns out.  Arguments are checked
    here, since this is the one C entry point that takes raw matrices.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"gemm: shapes {a.shape} and {b.shape} do not multiply; need (m, k) and (k, n)")
    if a.dtype != b.dtype or a.dtype not in _CTYPES:
        raise TypeError(f"gemm: dtypes {a.dtype} and {b.dtype}; need both float32 or both float64")
    shape = (a.shape[0], b.shape[1])
    if out is None:
        if accumulate:
            raise ValueError("gemm: accumulate=True needs out")
        out = np.empty(shape, a.dtype)
    elif out.shape != shape or out.dtype != a.dtype:
        raise ValueError(f"gemm: out is {out.dtype} {out.shape}; need {a.dtype} {shape}")
    if not out.flags.writeable:
        raise ValueError("gemm: out is read-only")
    if np.shares_memory(out, a) or np.shares_memory(out, b):
        raise ValueError("gemm: out overlaps a or b")
    a, b = (m if strides_usable(m) else np.ascontiguousarray(m) for m in (a, b))
    if not strides_usable(out):
        raise ValueError("gemm: out's strides are not whole elements")
    (ar, ac), (br, bc), (cr, cc) = (element_strides(m) for m in (a, b, out))
    check(_fn("gemm", a.dtype)(shape[0], shape[1], a.shape[1], _ptr(a), ar, ac, _ptr(b), br, bc,
                               _ptr(out), cr, cc, int(bool(accumulate))))
    return out


def isa_detected():
    return ISA_NAMES[lib.fc_isa_detected()]


def isa_active():
    return ISA_NAMES[lib.fc_isa_active()]


def select_isa(name):
    """Make the C kernels use instruction set ``name`` (for tests and benchmarks)."""
    if lib.fc_isa_select(ISA_NAMES.index(name)) != 0:
        raise ValueError(f"isa={name!r}: this CPU supports up to {isa_detected()!r}")


if lib is not None:
    from ._threads import get_num_threads

    lib.fc_set_num_threads(get_num_threads())
    for _dtype in ("f32", "f64"):
        for _op, _kernel in (
            ("conv2d_fwd", conv2d_fwd_direct),
            ("conv2d_bwd_data", conv2d_bwd_data_direct),
            ("conv2d_bwd_filter", conv2d_bwd_filter_direct),
            ("maxpool2d_fwd", maxpool2d_fwd_direct),
            ("maxpool2d_bwd", maxpool2d_bwd_direct),
            ("avgpool2d_fwd", avgpool2d_fwd_direct),
            ("avgpool2d_bwd", avgpool2d_bwd_direct),
        ):
            _registry.register(_registry.KernelSpec(_op, "direct", "c", _dtype, _kernel, _registry.always))
        for _op, _kernel in (
            ("conv2d_fwd", conv2d_fwd_im2col),
            ("conv2d_bwd_data", conv2d_bwd_data_im2col),
            ("conv2d_bwd_filter", conv2d_bwd_filter_im2col),
        ):
            _registry.register(_registry.KernelSpec(_op, "im2col", "c", _dtype, _kernel, _registry.always))
        for _variant, _tile in _winograd.VARIANT_TILES.items():
            _kernels = _winograd.make_kernels(_winograd_correlate(_tile), conv2d_bwd_filter_im2col)
            for _op, _kernel in zip(_registry.CONV_OPS, _kernels):
                _delegated = _op == "conv2d_bwd_filter"
                _registry.register(_registry.KernelSpec(
                    _op, f"winograd_{_variant}", "c", _dtype, _kernel, _winograd.supports,
                    error_scale=1.0 if _delegated else _winograd.error_factor(_variant),
                    tile=0 if _delegated else _tile))
