"""Winograd minimal filtering F(m, r): the transform matrices, derived from their
interpolation points in exact rational arithmetic.

For an output tile of m values and a kernel of r taps (tile input n = m + r - 1),

    y = A^T [ (G g) * (B^T d) ]

gives the correlation y[i] = sum_k d[i + k] g[k], i < m, with n multiplications
instead of m * r; in 2-D, Y = A^T [ (G g G^T) * (B^T d B) ] A.  The matrices come
from n - 1 finite points p_j and the point at infinity:

- A^T[i, j] = p_j ** i (the infinity column is [0, ..., 0, 1]);
- G[j, k] = p_j ** k / prod_{l != j} (p_j - p_l) (the infinity row is [0, ..., 0, 1]);
- B^T is then the unique solution of the bilinear identity
  sum_j A^T[i, j] G[j, k] B^T[j, l] = [l == i + k], a linear system solved
  exactly with fractions.

So nothing is copied from a table: the tests check the identity itself, in
exact arithmetic, against direct correlation.
"""
from __future__ import annotations

import dataclasses
import functools
from fractions import Fraction

import numpy as np

# Interpolation points of the variants (DESIGN.md: 0, +-1, +-2, infinity).
POINTS = {
    "f2x2k3x3": (2, 3, (0, 1, -1)),
    "f4x4k3x3": (4, 3, (0, 1, -1, 2, -2)),
}
VARIANT_TILES = {"f2x2k3x3": 2, "f4x4k3x3": 4}


def _solve(matrix, rhs):
    """Exact solution x of matrix @ x = rhs (lists of Fractions), by Gaussian
    elimination on the full-column-rank, possibly overdetermined system; raises
    ValueError if the system is inconsistent."""
    rows = [list(r) + [b] for r, b in zip(matrix, rhs)]
    cols = len(matrix[0])
    pivot_row = 0
    pivots = []
    for c in range(cols):
        found = next((i for i in range(pivot_row, len(rows)) if rows[i][c] != 0), None)
        if found is None:
            raise ValueError("the points do not determine B^T (rank deficient)")
        rows[pivot_row], rows[found] = rows[found], rows[pivot_row]
        lead = rows[pivot_row][c]
        rows[pivot_row] = [v / lead for v in rows[pivot_row]]
        for i in range(len(rows)):
            if i != pivot_row and rows[i][c] != 0:
                f = rows[i][c]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[pivot_row])]
        pivots.append(pivot_row)
        pivot_row += 1
    if any(r[-1] != 0 for r in rows[pivot_row:]):
        raise ValueError("the points give no exact B^T (inconsistent system)")
    return [rows[p][-1] for p in pivots]


@functools.lru_cache(maxsize=None)
def exact_matrices(variant):
    """(A^T, G, B^T) of a variant as tuples of tuples of Fractions.

    Parameters
    ----------
    variant : str
        A key of ``POINTS``: ``"f2x2k3x3"`` or ``"f4x4k3x3"``.

    Returns
    -------
    tuple
        A^T (m x n), G (n x r), B^T (n x n).
    """
    m, r, finite = POINTS[variant]
    n = m + r - 1
    if len(finite) != n - 1:
        raise ValueError(f"{variant}: {len(finite)} finite points for a tile of {n}; need {n - 1}")
    p = [Fraction(v) for v in finite]
    at = [[p[j] ** i for j in range(n - 1)] + [Fraction(int(i == m - 1))] for i in range(m)]
    g = []
    for j in range(n - 1):
        norm = Fraction(1)
        for l in range(n - 1):
            if l != j:
                norm *= p[j] - p[l]
        g.append([p[j] ** k / norm for k in range(r)])
    g.append([Fraction(int(k == r - 1)) for k in range(r)])
    # sum_j at[i][j] g[j][k] bt[j][l] = [l == i + k], for every (i, k), column l of bt
    system = [[at[i][j] * g[j][k] for j in range(n)] for i in range(m) for k in range(r)]
    columns = [_solve(system, [Fraction(int(l == i + k)) for i in range(m) for k in range(r)])
               for l in range(n)]
    bt = [[columns[l][j] for l in range(n)] for j in range(n)]
    return tuple(map(tuple, at)), tuple(map(tuple, g)), tuple(map(tuple, bt))


@functools.lru_cache(maxsize=None)
def matrices(variant, dtype=np.float64):
    """(A^T, G, B^T) of a variant as read-only float arrays of ``dtype``."""
    out = []
    for mat in exact_matrices(variant):
        a = np.array([[float(v) for v in row] for row in mat], dtype=dtype)
        a.setflags(write=False)
        out.append(a)
    return tuple(out)


def error_factor(variant):
    """kappa^2: the largest 2-D coefficient sum_j |A^T||G||B^T| linking one input
    value and one weight to one output of a tile.  Rounding errors of the transforms
    reach an output through these coefficients from every input of its tile's patch,
    so error bounds scale with it (fastconv.bench.accuracy)."""
    at, g, bt = (np.abs(m) for m in matrices(variant))
    return float(np.einsum("ij,jk,jl->ikl", at, g, bt).max()) ** 2


def _c_number(value):
    """A Fraction as a C double constant expression, evaluated exactly by the compiler
    up to one rounding."""
    if value.denominator == 1:
        return f"{value.numerator}.0"
    return f"({value.numerator}.0 / {value.denominator})"


def c_header():
    """Text of csrc/conv/winograd_matrices.h: every variant's A^T, G and B^T as C
    constants (tests/test_winograd_transforms.py checks the file is current)."""
    lines = [
        "/* Generated by `python -m fastconv._winograd > csrc/conv/winograd_matrices.h`",
        " * from the interpolation points in src/fastconv/_winograd.py; do not edit. */",
        "#ifndef FC_WINOGRAD_MATRICES_H",
        "#define FC_WINOGRAD_MATRICES_H",
    ]
    for variant in sorted(POINTS):
        m, r, _ = POINTS[variant]
        n = m + r - 1
        tag = f"fc_wino_f{m}"
        lines.append(f"/* {variant}: output tile {m}, kernel {r}, input tile {n} */")
        for name, mat in zip(("at", "g", "bt"), exact_matrices(variant)):
            rows = ", ".join("{" + ", ".join(_c_number(v) for v in row) + "}" for row in mat)
            lines.append(f"static const double {tag}_{name}[{len(mat)}][{len(mat[0])}] = {{{rows}}};")
    lines.append("#endif")
    return "\n".join(lines) + "\n"


def supports(p):
    """None if a Winograd kernel can serve ConvParams p, else the reason."""
    if (p.kh, p.kw) != (3, 3):
        return f"needs a 3x3 kernel, got {p.kh}x{p.kw}"
    if (p.sh, p.sw) != (1, 1):
        return f"needs stride 1, got {(p.sh, p.sw)}"
    if (p.dh, p.dw) != (1, 1):
        return f"needs dilation 1, got {(p.dh, p.dw)}"
    return None


@dataclasses.dataclass(frozen=True)
class Correlation:
    """A stride-1 3x3 correlation as the Winograd kernels take it: output
    (n, c_out, oh, ow) from input (n, c_in, h, w) read through the maps, which send
    each of the oh + 2 (ow + 2) virtual rows (columns) to an input row (column) or
    to -1 for a zero.  Has the attribute names of ConvParams the C geometry reads."""

    n: int
    c_in: int
    h: int
    w: int
    c_out: int
    oh: int
    ow: int
    groups: int
    map_h: np.ndarray
    map_w: np.ndarray
    kh = kw = 3
    sh = sw = dh = dw = 1

    @property
    def hp(self):
        return self.oh + 2

    @property
    def wp(self):
        return self.ow + 2


def forward_correlation(p):
    """The forward convolution of ConvParams p (3x3, stride 1, dilation 1)."""
    mh, mw = p.padding_maps
    return Correlation(p.n, p.c_in, p.h, p.w, p.c_out, p.oh, p.ow, p.groups, mh, mw)


def backward_data_correlation(p):
    """(correlation, folded): backward-data of p as a correlation of grad_output with
    the weights rotated (weight_strides).  It yields the gradient of the padded input's cells that are
    inputs (zeros padding: shape of the input, folded False) or of every padded cell
    (other modes: hp x wp, to be folded by fold_padding)."""
    zeros = p.padding_mode == "zeros"
    rows, cols = (p.h, p.w) if zeros else (p.hp, p.wp)
    r0, c0 = (p.pad_top, p.pad_left) if zeros else (0, 0)

    def gy_map(first, count, size):
        # virtual position v reads grad_output at first + v - 2
        src = np.arange(count + 2, dtype=np.int64) + first - 2
        return np.where((src >= 0) & (src < size), src, -1)

    corr = Correlation(p.n, p.c_out, p.oh, p.ow, p.c_in, rows, cols, p.groups,
                       gy_map(r0, rows, p.oh), gy_map(c0, cols, p.ow))
    return corr, not zeros


def weight_strides(shape, groups, rotated):
    """Element strides (group, output channel, input channel, tap) of a correlation's
    filters in contiguous weights of ``shape`` (C_out, C_in / groups, 3, 3): the
    weights themselves, or (rotated) backward-data's, each group's kernels turned 180
    degrees with its channels swapped, read in place (tap t is tap 8 - t: the
    caller starts at the first filter's last tap)."""
    c_out, cig = shape[0], shape[1]
    group = c_out // groups * cig * 9
    return (group, 9, cig * 9, -1) if rotated else (group, cig * 9, 9, 1)


def fold_padding(gxp, p):
    """Gradient of the input from that of the padded input (n, c, hp, wp): each padded
    cell's gradient added to the cell it copies (p.padding_maps)."""
    mh, mw = p.padding_maps
    out = gxp[:, :, p.pad_top:p.pad_top + p.h].copy()
    for r in np.flatnonzero(mh >= 0):
        if not p.pad_top <= r < p.pad_top + p.h:
            out[:, :, mh[r]] += gxp[:, :, r]
    gx = out[..., p.pad_left:p.pad_left + p.w].copy()
    for c in np.flatnonzero(mw >= 0):
        if not p.pad_left <= c < p.pad_left + p.w:
            gx[..., mw[c]] += out[..., c]
    return gx


def make_kernels(correlate, bwd_filter):
    """(forward, backward-data, backward-filter) kernels of the registry's signatures
    from a backend's ``correlate(corr, x, w, bias, y, rotated=False)`` (a Correlation
    computed into the contiguous y, with w the forward's weights, read rotated for
    backward-data: weight_strides) and its backward-filter kernel (Winograd delegates it, see
    docs)."""

    def forward(p, x, w, bias, y):
        correlate(forward_correlation(p), x, w, bias, y)

    def backward_data(p, gy, w, gx):
        corr, folded = backward_data_correlation(p)
        if not folded:
            correlate(corr, gy, w, None, gx, rotated=True)
            return
        gxp = np.empty((p.n, p.c_in, p.hp, p.wp), dtype=gx.dtype)
        correlate(corr, gy, w, None, gxp, rotated=True)
        gx[...] = fold_padding(gxp, p)

    return forward, backward_data, bwd_filter


NUMBA_BLOCK = 64  # tiles per call of the generated Numba block transforms


def _numba_sum(coefs, names, scalar):
    """A sum of coefs[k] * names[k] as Python source: zero terms left out, +-1 as a
    plain add or subtract, other coefficients through the local scalar(k)."""
    terms = []
    for k, (coef, name) in enumerate(zip(coefs, names)):
        if coef == 0:
            continue
        terms.append(f"+ {name}" if coef == 1 else f"- {name}" if coef == -1 else f"+ {scalar(k)} * {name}")
    text = " ".join(terms)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def _numba_block(name, doc, mat, alpha, rows_out, src_off, dst_off):
    """One block transform: Y = L X L^T of every lane q < NUMBA_BLOCK, X (alpha x alpha)
    read from w[src_off(i, j) + q], Y (rows_out x rows_out, L = mat) written to
    w[dst_off(a, b) + q]: one loop over the lanes whose body holds a lane's whole tile
    in scalars, so LLVM vectorizes it across lanes with no pass through memory (the
    offsets are literals into one array: no run-time aliasing checks)."""
    B = NUMBA_BLOCK
    lines = ["@jit()", f"def {name}(w, mat):", f'    """{doc}"""']
    scalars = {}
    for a in range(rows_out):
        for i in range(alpha):
            if mat[a][i] not in (0, 1, -1):
                scalars[a, i] = f"c{a}_{i}"
                lines.append(f"    c{a}_{i} = mat[{a}, {i}]")
    lines.append(f"    for q in range({B}):")
    for i in range(alpha):
        for j in range(alpha):
            lines.append(f"        x{i}_{j} = w[{src_off(i, j) * B} + q]")
    for a in range(rows_out):  # S = L X
        for j in range(alpha):
            names = [f"x{i}_{j}" for i in range(alpha)]
            lines.append(f"        s{a}_{j} = " + _numba_sum(mat[a], names, lambda k, a=a: scalars[a, k]))
    for a in range(rows_out):  # Y = S L^T
        for b in range(rows_out):
            names = [f"s{a}_{j}" for j in range(alpha)]
            lines.append(f"        w[{dst_off(a, b) * B} + q] = "
                         + _numba_sum(mat[b], names, lambda k, b=b: scalars[b, k]))
    return lines


def numba_module():
    """Text of src/fastconv/_numba/winograd_blocks.py: each variant's input and output
    transforms of a block of NUMBA_BLOCK tiles and its filter transform of a block of
    NUMBA_BLOCK filters, written out from B^T, A^T and G
    (tests/test_winograd_transforms.py checks the file is current)."""
    B = NUMBA_BLOCK
    lines = [
        '"""Generated by `python -m fastconv._winograd --numba > src/fastconv/_numba/winograd_blocks.py`',
        'from the interpolation points in src/fastconv/_winograd.py; do not edit.',
        "",
        "The Winograd transforms of a block of tiles (or filters) for fastconv._numba.winograd, in one",
        f"work array w of NUMBA_BLOCK = {B} lanes per row: each function's loop keeps a",
        "lane's tile in scalars, so LLVM vectorizes it across the lanes.",
        '"""',
        "from .config import jit",
        "",
        f"NUMBA_BLOCK = {B}",
    ]
    for variant in sorted(POINTS):
        m, r, _ = POINTS[variant]
        n = m + r - 1
        at, g, bt = exact_matrices(variant)
        lines += ["", ""]
        lines += _numba_block(
            f"input_f{m}",
            f"w[({n * n} + a * {n} + b) * NUMBA_BLOCK + q] = (B^T d B)[a, b] of\n"
            f"    d[i, j] = w[(i * {n} + j) * NUMBA_BLOCK + q], q < NUMBA_BLOCK; mat = B^T.",
            bt, n, n, lambda i, j, n=n: i * n + j, lambda a, b, n=n: n * n + a * n + b)
        lines += ["", ""]
        lines += _numba_block(
            f"output_f{m}",
            f"w[({n * n} + i * {m} + j) * NUMBA_BLOCK + q] = (A^T M A)[i, j] of\n"
            f"    M[a, b] = w[(a * {n} + b) * NUMBA_BLOCK + q], q < NUMBA_BLOCK; mat = A^T.",
            at, n, m, lambda a, b, n=n: a * n + b, lambda i, j, n=n, m=m: n * n + i * m + j)
        lines += ["", ""]
        lines += _numba_block(
            f"filter_f{m}",
            f"w[(9 + a * {n} + b) * NUMBA_BLOCK + q] = (G g G^T)[a, b] of\n"
            f"    g[i, j] = w[(i * 3 + j) * NUMBA_BLOCK + q], q < NUMBA_BLOCK; mat = G.",
            g, r, n, lambda i, j: i * 3 + j, lambda a, b, n=n: 9 + a * n + b)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(numba_module() if sys.argv[1:] == ["--numba"] else c_header(), end="")
