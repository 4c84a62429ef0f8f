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

import functools
from fractions import Fraction

import numpy as np

# Interpolation points of the variants (DESIGN.md: 0, +-1, +-2, infinity).
POINTS = {
    "f2x2k3x3": (2, 3, (0, 1, -1)),
    "f4x4k3x3": (4, 3, (0, 1, -1, 2, -2)),
}


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
