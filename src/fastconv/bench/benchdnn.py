"""Parse oneDNN benchdnn convolution descriptors (the layer lists of real networks).

A descriptor reads like ``mb50ic64ih56oc64oh56kh3ph1n"resnet_50:res2a_branch2b*3"``;
pooling descriptors are the same without ``oc``.
benchdnn's rules, as its README states them: defaults g1, mb2, stride 1, dilation
0 (benchdnn's dilation is PyTorch's minus one); a missing ``w`` value copies the
``h`` value; a missing top/left padding is deduced from the output size as
``((o - 1) * s - i + (k - 1) * (d + 1) + 1) // 2``; a missing output size follows
from symmetric padding; the bottom/right padding is whatever makes the output size
hold, so it may differ from the top/left one or be negative (then the last input
rows or columns are never read).  A trailing ``*N`` in the name counts repeats.
The layer files come from oneDNN (Apache License 2.0).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_ENTRY = re.compile(r"([a-z]+)(\d+)")
_NAME = re.compile(r'n"([^"]*)"')


@dataclass(frozen=True)
class ConvLayer:
    """One convolution problem, in PyTorch's terms."""

    name: str
    mb: int
    groups: int
    ic: int
    ih: int
    iw: int
    oc: int
    oh: int
    ow: int
    kh: int
    kw: int
    sh: int
    sw: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    dh: int  # PyTorch dilation (benchdnn's + 1)
    dw: int
    repeats: int = 1

    @property
    def flops(self):
        """2 * multiply-adds of the direct algorithm for one pass."""
        return 2 * self.mb * self.oc * self.oh * self.ow * (self.ic // self.groups) * self.kh * self.kw

    def arrays(self, rng, dtype):
        """Random input, weight and grad_output of this layer, N(0, 1)."""
        x = rng.standard_normal((self.mb, self.ic, self.ih, self.iw)).astype(dtype)
        w = rng.standard_normal((self.oc, self.ic // self.groups, self.kh, self.kw)).astype(dtype)
        gy = rng.standard_normal((self.mb, self.oc, self.oh, self.ow)).astype(dtype)
        return x, w, gy

    def conv_args(self, x):
        """(input, keyword arguments) for fastconv.conv2d; negative end padding crops x."""
        crop_h = x.shape[2] + min(self.pad_bottom, 0)
        crop_w = x.shape[3] + min(self.pad_right, 0)
        kwargs = dict(stride=(self.sh, self.sw), dilation=(self.dh, self.dw), groups=self.groups,
                      padding=(self.pad_top, max(self.pad_bottom, 0), self.pad_left, max(self.pad_right, 0)))
        return x[:, :, :crop_h, :crop_w], kwargs


def _resolve(i, o, k, s, d, p):
    """(output size, start padding, end padding) of one axis by benchdnn's rules."""
    ext = (k - 1) * (d + 1) + 1
    if p is None:
        p = ((o - 1) * s - i + ext) // 2 if o is not None else 0
    if o is None:
        o = (i + 2 * p - ext) // s + 1
    return o, p, (o - 1) * s + ext - i - p


def _entries(line):
    """(name, {entry: value}) of a 2-D descriptor line; None for comments, 1-D and 3-D."""
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    name_match = _NAME.search(line)
    name = name_match.group(1) if name_match else line
    values = {key: int(val) for key, val in _ENTRY.findall(_NAME.sub("", line).replace("_", ""))}
    if any(k in values for k in ("id", "od", "kd")) or "ih" not in values:
        return None
    return name, values


def _spatial(values):
    """(oh, ow, kh, kw, sh, sw, dh, dw, (top, bottom, left, right)) by benchdnn's rules."""
    get = values.get
    ih, kh, sh, dh = get("ih"), get("kh"), get("sh", 1), get("dh", 0)
    oh, pt, pb = _resolve(ih, get("oh"), kh, sh, dh, get("ph"))
    if not any(k in values for k in ("iw", "ow", "kw", "sw", "pw", "dw")):
        return oh, oh, kh, kh, sh, sh, dh, dh, (pt, pb, pt, pb)  # a square problem
    iw, kw, sw, dw = get("iw", ih), get("kw", kh), get("sw", sh), get("dw", dh)
    pw = get("pw")
    if pw is None and get("ow") is None:
        pw = get("ph")  # nothing to deduce it from: the h value, else 0
    ow, pl, pr = _resolve(iw, get("ow"), kw, sw, dw, pw)
    return oh, ow, kh, kw, sh, sw, dh, dw, (pt, pb, pl, pr)


def _repeats(name):
    star = re.search(r"\*(\d+)$", name)
    return int(star.group(1)) if star else 1


def _parse(line, default_mb):
    """(name, values, mb, ih, iw, spatial, repeats) of a 2-D descriptor, or None."""
    parsed = _entries(line)
    if parsed is None:
        return None
    name, values = parsed
    mb = values.get("mb", 2) if default_mb is None else default_mb
    ih = values["ih"]
    return name, values, mb, ih, values.get("iw", ih), _spatial(values), _repeats(name)


def parse_conv(line, default_mb=None):
    """A ConvLayer from one descriptor line, or None for comments and 1-D/3-D problems."""
    parsed = _parse(line, default_mb)
    if parsed is None:
        return None
    name, values, mb, ih, iw, (oh, ow, kh, kw, sh, sw, dh, dw, (pt, pb, pl, pr)), repeats = parsed
    return ConvLayer(name, mb, values.get("g", 1), values["ic"], ih, iw, values["oc"], oh, ow,
                     kh, kw, sh, sw, pt, pb, pl, pr, dh + 1, dw + 1, repeats)


@dataclass(frozen=True)
class PoolLayer:
    """One pooling problem: padding as (top, bottom, left, right); a negative end
    padding means the last input rows or columns are never read."""

    name: str
    mb: int
    c: int
    ih: int
    iw: int
    oh: int
    ow: int
    kh: int
    kw: int
    sh: int
    sw: int
    padding: tuple
    repeats: int = 1

    def pool_args(self, x):
        """(input, keyword arguments) for fastconv's pooling; negative end padding crops x."""
        pt, pb, pl, pr = self.padding
        xc = x[:, :, :x.shape[2] + min(pb, 0), :x.shape[3] + min(pr, 0)]
        return xc, dict(kernel_size=(self.kh, self.kw), stride=(self.sh, self.sw),
                        padding=(pt, max(pb, 0), pl, max(pr, 0)))


def parse_pool(line, default_mb=None):
    """A PoolLayer from one pooling descriptor line, or None for comments and 1-D/3-D."""
    parsed = _parse(line, default_mb)
    if parsed is None:
        return None
    name, values, mb, ih, iw, (oh, ow, kh, kw, sh, sw, _, _, pads), repeats = parsed
    return PoolLayer(name, mb, values["ic"], ih, iw, oh, ow, kh, kw, sh, sw, pads, repeats)


def read_pool_file(path, mb=None):
    """Every 2-D PoolLayer of a benchdnn pooling batch file (mb, when given, replaces its batch)."""
    return _read(path, parse_pool, mb)


def _read(path, parse, mb):
    with open(path) as fh:
        return [layer for layer in (parse(line, mb) for line in fh) if layer is not None]


def read_conv_file(path, mb=None):
    """Every 2-D ConvLayer of a benchdnn batch file (mb, when given, replaces its batch)."""
    return _read(path, parse_conv, mb)
