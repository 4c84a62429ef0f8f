"""Parse oneDNN benchdnn convolution descriptors (the layer lists of real networks).

A descriptor reads like ``mb50ic64ih56oc64oh56kh3ph1n"resnet_50:res2a_branch2b*3"``.
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

    def with_mb(self, mb):
        return ConvLayer(**{**self.__dict__, "mb": mb})

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


def parse_conv(line, default_mb=None):
    """A ConvLayer from one descriptor line, or None for comments and 1-D/3-D problems."""
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    name_match = _NAME.search(line)
    name = name_match.group(1) if name_match else line
    body = _NAME.sub("", line).replace("_", "")
    values = {key: int(val) for key, val in _ENTRY.findall(body)}
    if any(k in values for k in ("id", "od", "kd")) or "ih" not in values and "iw" in values:
        return None
    get = values.get
    g, mb = get("g", 1), get("mb", 2) if default_mb is None else default_mb
    ih, kh, sh, dh = get("ih"), get("kh"), get("sh", 1), get("dh", 0)
    oh, pt, pb = _resolve(ih, get("oh"), kh, sh, dh, get("ph"))
    if not any(k in values for k in ("iw", "ow", "kw", "sw", "pw", "dw")):
        iw, ow, kw, sw, dw, pl, pr = ih, oh, kh, sh, dh, pt, pb  # a square problem
    else:
        iw, kw, sw, dw = get("iw", ih), get("kw", kh), get("sw", sh), get("dw", dh)
        pw = get("pw")
        if pw is None and get("ow") is None:
            pw = get("ph")  # nothing to deduce it from: the h value, else 0
        ow, pl, pr = _resolve(iw, get("ow"), kw, sw, dw, pw)
    star = re.search(r"\*(\d+)$", name)
    repeats = int(star.group(1)) if star else 1
    return ConvLayer(name, mb, g, get("ic"), ih, iw, get("oc"), oh, ow, kh, kw, sh, sw,
                     pt, pb, pl, pr, dh + 1, dw + 1, repeats)


def read_conv_file(path, mb=None):
    """Every 2-D ConvLayer of a benchdnn batch file."""
    with open(path) as fh:
        return [layer for layer in (parse_conv(line, mb) for line in fh) if layer is not None]
