"""Argument validation and normalization, in one place.

Every public function turns its arguments into a frozen Params object here,
before any kernel runs; kernels trust what they are given.  Every error names
the parameter, the value given and what is allowed.
"""
from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, field

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS = ("valid", "same", "full")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def int_pair(name, value, minimum):
    """Normalize an int or an (h, w) pair of ints, each ``>= minimum``."""
    if _is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name}={value!r}: expected an int or a pair of ints (h, w)")
    if min(pair) < minimum:
        raise ValueError(f"{name}={value!r}: each value must be >= {minimum}")
    return pair


def padding_4(name, value):
    """Normalize int / (h, w) / (top, bottom, left, right) padding, each >= 0."""
    if _is_int(value):
        pads = (int(value),) * 4
    elif isinstance(value, (tuple, list)) and all(map(_is_int, value)) and len(value) in (2, 4):
        v = [int(p) for p in value]
        pads = (v[0], v[0], v[1], v[1]) if len(v) == 2 else tuple(v)
    else:
        raise TypeError(
            f"{name}={value!r}: expected an int, a pair (h, w), a 4-tuple "
            f"(top, bottom, left, right) or one of {PADDING_STRINGS}"
        )
    if min(pads) < 0:
        raise ValueError(f"{name}={value!r}: padding must be >= 0")
    return pads


def check_array(name, value, ndims):
    """Check that ``value`` is a float32/float64 ndarray with one of ``ndims`` ranks."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(value).__name__}")
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: dtype {value.dtype} is not supported; use float32 or float64")
    if value.ndim not in ndims:
        allowed = " or ".join(str(d) for d in ndims)
        raise ValueError(f"{name}: expected {allowed} dimensions, got shape {value.shape}")
    return value


def common_dtype(**arrays):
    """The one dtype shared by all non-None arrays, else TypeError naming them."""
    given = {name: a.dtype for name, a in arrays.items() if a is not None}
    dtypes = set(given.values())
    if len(dtypes) > 1:
        listed = ", ".join(f"{n}={d}" for n, d in given.items())
        raise TypeError(f"all arrays of one call must share one dtype; got {listed}")
    return dtypes.pop()


def check_out(out, shape, dtype, inputs):
    """Check a caller-provided output array (C-contiguous, exact shape and dtype)."""
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out: expected a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"out: has shape {out.shape} and dtype {out.dtype}; expected shape "
            f"{tuple(shape)} and dtype {dtype}"
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out: must be a writeable C-contiguous array")
    for name, arr in inputs.items():
        if arr is not None and np.may_share_memory(out, arr):
            raise ValueError(f"out: overlaps the memory of {name}; pass a separate array")
    return out


def padding_index_map(size, before, after, mode):
    """Source index of each padded position along one axis, -1 for a zero.

    ``mode`` is one of PADDING_MODES; ``reflect`` mirrors without repeating the
    edge (PyTorch's and NumPy's 'reflect'), ``replicate`` repeats the edge,
    ``circular`` wraps around.
    """
    pos = np.arange(-before, size + after, dtype=np.int64)
    if mode == "zeros":
        return np.where((pos >= 0) & (pos < size), pos, -1)
    if mode == "replicate":
        return np.clip(pos, 0, size - 1)
    if mode == "circular":
        return np.mod(pos, size)
    # reflect: fold into [0, 2*size - 2) then mirror the upper half
    if size == 1:
        return np.zeros_like(pos)
    period = 2 * size - 2
    m = np.mod(pos, period)
    return np.where(m < size, m, period - m)


class _Batched:
    """Shape helper shared by the Params classes (which define ``batched``)."""

    def user_shape(self, shape):
        """``shape`` without its batch axis when the call was unbatched."""
        return tuple(shape) if self.batched else tuple(shape[1:])


def _nchw(input):
    """(batched, n, c, h, w) of a checked 3-D or 4-D input; h and w must be >= 1."""
    batched = input.ndim == 4
    n, c, h, w = input.shape if batched else (1,) + input.shape
    if min(h, w) < 1:
        raise ValueError(f"input: height and width must be >= 1, got shape {input.shape}")
    return batched, n, c, h, w


@dataclass(frozen=True)
class ConvParams(_Batched):
    """A validated 2-D convolution: shapes, geometry and output-size arithmetic."""

    batched: bool
    n: int
    c_in: int
    h: int
    w: int
    c_out: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    groups: int
    padding_mode: str
    dtype: np.dtype
    oh: int
    ow: int

    @property
    def hp(self):
        """Padded input height."""
        return self.h + self.pad_top + self.pad_bottom

    @property
    def wp(self):
        """Padded input width."""
        return self.w + self.pad_left + self.pad_right

    @property
    def input_shape(self):
        return (self.n, self.c_in, self.h, self.w)

    @property
    def output_shape(self):
        return (self.n, self.c_out, self.oh, self.ow)

    @property
    def weight_shape(self):
        return (self.c_out, self.c_in // self.groups, self.kh, self.kw)


    @property
    def flops(self):
        """Multiply-adds times two of the direct algorithm (the usual GFLOP/s basis)."""
        return 2 * self.n * self.c_out * self.oh * self.ow * (self.c_in // self.groups) * self.kh * self.kw

    @functools.cached_property
    def padding_maps(self):
        """(map_h, map_w): source row/column of each padded row/column, -1 for zero."""
        mh = padding_index_map(self.h, self.pad_top, self.pad_bottom, self.padding_mode)
        mw = padding_index_map(self.w, self.pad_left, self.pad_right, self.padding_mode)
        return mh, mw


def _resolve_padding(padding, size, kernel, stride, dilation):
    """(top, bottom, left, right) for a padding argument, strings included."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "full":
            ph, pw = ((k - 1) * d for k, d in zip(kernel, dilation))
            return (ph, ph, pw, pw)
        if padding == "same":
            pads = []
            for n, k, s, d in zip(size, kernel, stride, dilation):
                out = -(-n // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise ValueError(f"padding={padding!r}: expected one of {PADDING_STRINGS}, an int, a pair or a 4-tuple")
    return padding_4("padding", padding)


def conv_params(input, weight, bias, stride, padding, dilation, groups, padding_mode):
    """Validate the arguments of a convolution and return its ConvParams."""
    check_array("input", input, (3, 4))
    check_array("weight", weight, (4,))
    if bias is not None:
        check_array("bias", bias, (1,))
    dtype = common_dtype(input=input, weight=weight, bias=bias)
    if not _is_int(groups):
        raise TypeError(f"groups={groups!r}: expected an int >= 1")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups={groups}: must be >= 1")
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode={padding_mode!r}: expected one of {PADDING_MODES}")
    batched, n, c_in, h, w = _nchw(input)
    c_out, c_per_group, kh, kw = weight.shape
    if min(kh, kw) < 1:
        raise ValueError(f"weight: kernel size must be >= 1, got shape {weight.shape}")
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups}: must divide both input channels ({c_in}) and output channels ({c_out})"
        )
    if c_per_group != c_in // groups:
        raise ValueError(
            f"weight: shape {weight.shape} needs {c_in // groups} input channels per group "
            f"(input has {c_in} channels, groups={groups}), got {c_per_group}"
        )
    if c_out < 1 or c_in < 1:
        raise ValueError(f"input {input.shape} and weight {weight.shape} need >= 1 channel")
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias: expected shape ({c_out},), got {bias.shape}")
    sh, sw = int_pair("stride", stride, 1)
    dh, dw = int_pair("dilation", dilation, 1)
    pt, pb, pl, pr = _resolve_padding(padding, (h, w), (kh, kw), (sh, sw), (dh, dw))
    _check_padding_mode(padding_mode, (pt, pb, pl, pr), h, w)
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if eff_h > h + pt + pb or eff_w > w + pl + pr:
        raise ValueError(
            f"weight: kernel {kh}x{kw} with dilation ({dh}, {dw}) spans {eff_h}x{eff_w}, larger "
            f"than the padded input {h + pt + pb}x{w + pl + pr}; it must fit"
        )
    oh = (h + pt + pb - eff_h) // sh + 1
    ow = (w + pl + pr - eff_w) // sw + 1
    return ConvParams(
        batched, int(n), int(c_in), int(h), int(w), int(c_out), int(kh), int(kw), sh, sw, dh, dw,
        pt, pb, pl, pr, groups, padding_mode, dtype, oh, ow,
    )


def _check_padding_mode(mode, pads, h, w):
    pt, pb, pl, pr = pads
    if mode == "reflect" and (max(pt, pb) >= h or max(pl, pr) >= w):
        raise ValueError(
            f"padding={pads} with padding_mode='reflect': each padding must be smaller than "
            f"the input size it pads ({h}x{w})"
        )
    if mode == "circular" and (max(pt, pb) > h or max(pl, pr) > w):
        raise ValueError(
            f"padding={pads} with padding_mode='circular': each padding must be at most "
            f"the input size it pads ({h}x{w})"
        )


def as_batched(params, array):
    """``array`` with a batch axis added when the call was unbatched."""
    return array if params.batched else array[np.newaxis]


def output_mask3(output_mask):
    """Normalize output_mask to a tuple of three bools."""
    if isinstance(output_mask, (tuple, list)) and len(output_mask) == 3:
        if all(isinstance(m, (bool, np.bool_)) for m in output_mask):
            return tuple(bool(m) for m in output_mask)
    raise TypeError(f"output_mask={output_mask!r}: expected three bools (input, weight, bias)")


def check_grad_output(grad_output, params):
    """Check grad_output against the forward geometry."""
    check_array("grad_output", grad_output, (3, 4))
    if grad_output.dtype != params.dtype:
        raise TypeError(f"all arrays of one call must share one dtype; got grad_output="
                        f"{grad_output.dtype}, input={params.dtype}")
    expected = params.user_shape(params.output_shape)
    if grad_output.shape != expected:
        operands = f"input of shape {params.user_shape(params.input_shape)}"
        if isinstance(params, ConvParams):
            operands += f" and weight of shape {params.weight_shape}"
        raise ValueError(
            f"grad_output: shape {grad_output.shape} does not match the output shape {expected} "
            f"that the forward op gives for {operands}"
        )
    return grad_output


def element_strides(array):
    """Element strides of a 4-D array, with size-1 axes given their contiguous stride."""
    itemsize = array.itemsize
    strides = []
    contiguous = 1
    for size, stride in reversed(list(zip(array.shape, array.strides))):
        strides.append(contiguous if size == 1 else stride // itemsize)
        contiguous *= size
    return tuple(reversed(strides))


def strides_usable(array):
    """True when every byte stride is a whole number of elements (else copy first)."""
    return all(s % array.itemsize == 0 for s in array.strides) and array.ctypes.data % array.itemsize == 0



@dataclass(frozen=True)
class PoolParams(_Batched):
    """A validated 2-D pooling: shapes and, per output row and column, its window.

    Window tables (int64, one entry per output row or column): the first input
    index the window reads (``row_start``), how many of its taps fall inside the
    input (``row_count``; taps are ``step`` apart) and its extent clipped to the
    padded input (``row_padded``, for ``count_include_pad``)."""

    batched: bool
    n: int
    c: int
    h: int
    w: int
    oh: int
    ow: int
    step_h: int
    step_w: int
    dtype: np.dtype
    row_start: np.ndarray = field(repr=False, compare=False)
    row_count: np.ndarray = field(repr=False, compare=False)
    row_padded: np.ndarray = field(repr=False, compare=False)
    col_start: np.ndarray = field(repr=False, compare=False)
    col_count: np.ndarray = field(repr=False, compare=False)
    col_padded: np.ndarray = field(repr=False, compare=False)

    @property
    def input_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def output_shape(self):
        return (self.n, self.c, self.oh, self.ow)


    def inverse_divisors(self, count_include_pad=True, divisor_override=None):
        """1 / the divisor of every output cell of an average pool, (oh, ow) float64."""
        if divisor_override is not None:
            return np.full((self.oh, self.ow), 1.0 / divisor_override)
        rows, cols = (self.row_padded, self.col_padded) if count_include_pad else (self.row_count, self.col_count)
        return 1.0 / (rows[:, None] * cols[None, :]).astype(np.float64)


@functools.lru_cache(maxsize=256)
def _pool_axis(name, size, k, s, d, before, after, ceil_mode):
    """Window tables of one axis of a regular pool, and the output size.

    Cached per geometry (the tables are most of a small pooling call's fixed cost);
    the arrays are read-only, so no caller can change a shared table."""
    eff = (k - 1) * d + 1
    span = size + before + after - eff
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1  # floor division, as PyTorch's div_rtn
    if ceil_mode and (out - 1) * s >= size + before:
        out -= 1  # PyTorch: the last window must start inside the input or left padding
    if out < 1:
        raise ValueError(
            f"kernel_size: the window spans {eff} cells with dilation {d}, more than the "
            f"padded {name} {size + before + after} (input {name} {size}, padding {before} + {after}); "
            f"it must fit"
        )
    start = np.arange(out, dtype=np.int64) * s - before
    first_tap = np.where(start < 0, (-start + d - 1) // d, 0)
    last_tap = np.minimum(k, (size - start + d - 1) // d)  # one past the last tap inside
    count = last_tap - first_tap
    if (count <= 0).any():
        bad = int(np.argmax(count <= 0))
        raise ValueError(
            f"padding: output {name} index {bad} has a window entirely in the padding "
            f"(padding {before}/{after}, kernel {k}, stride {s}, dilation {d}); every window "
            f"must overlap the input"
        )
    padded = np.minimum(start + eff, size + after) - start
    tables = (start + first_tap * d, count, padded)
    for table in tables:
        table.flags.writeable = False
    return (out,) + tables


def pool_params(input, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate the arguments of max/avg/lp pooling and return its PoolParams."""
    check_array("input", input, (3, 4))
    kh, kw = int_pair("kernel_size", kernel_size, 1)
    sh, sw = (kh, kw) if stride is None else int_pair("stride", stride, 1)
    dh, dw = int_pair("dilation", dilation, 1)
    if isinstance(padding, str):
        raise TypeError(f"padding={padding!r}: pooling takes an int, a pair or a 4-tuple")
    pt, pb, pl, pr = padding_4("padding", padding)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode={ceil_mode!r}: expected a bool")
    batched, n, c, h, w = _nchw(input)
    oh, r0, rn, rp = _pool_axis("height", h, kh, sh, dh, pt, pb, ceil_mode)
    ow, c0, cn, cp = _pool_axis("width", w, kw, sw, dw, pl, pr, ceil_mode)
    return PoolParams(batched, int(n), int(c), int(h), int(w), oh, ow, dh, dw, input.dtype,
                      r0, rn, rp, c0, cn, cp)


def adaptive_pool_params(input, output_size):
    """Validate adaptive pooling arguments: window i spans floor(i*in/out) to ceil((i+1)*in/out)."""
    check_array("input", input, (3, 4))
    batched, n, c, h, w = _nchw(input)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        sizes = [h if output_size[0] is None else output_size[0], w if output_size[1] is None else output_size[1]]
    else:
        sizes = output_size
    oh, ow = int_pair("output_size", sizes, 1)
    tables = []
    for size, out in ((h, oh), (w, ow)):
        i = np.arange(out, dtype=np.int64)
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        tables += [start, end - start, end - start]
    return PoolParams(batched, int(n), int(c), int(h), int(w), oh, ow, 1, 1, input.dtype, *tables)


def check_bool(name, value):
    """A bool argument (NumPy bools too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r}: expected True or False")
    return bool(value)


def check_divisor_override(value):
    """None or an int >= 1."""
    if value is not None and (not _is_int(value) or value < 1):
        raise ValueError(f"divisor_override={value!r}: expected None or an int >= 1")
    return value


def check_norm_type(value):
    """lp_pool2d's p: a finite number > 0."""
    if not isinstance(value, (numbers.Real, np.floating)) or isinstance(value, (bool, np.bool_)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"norm_type={value!r}: expected a finite number > 0")
    return float(value)


def check_indices(indices, grad_output, plane_size):
    """Indices given to a max-pool backward: int64, grad_output's shape, within the plane."""
    if not isinstance(indices, np.ndarray) or indices.dtype != np.int64:
        raise TypeError(f"indices: expected an int64 numpy.ndarray, got "
                        f"{getattr(indices, 'dtype', type(indices).__name__)}")
    if indices.shape != grad_output.shape:
        raise ValueError(f"indices: shape {indices.shape} differs from grad_output's {grad_output.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= plane_size):
        raise ValueError(f"indices: values must lie in [0, {plane_size}) (flat h * W + w within "
                         f"an input plane), got [{indices.min()}, {indices.max()}]")
    return indices
