"""Max and average pooling in Numba, forward and backward.

The same table-driven windows as csrc/pool/pool_impl.inc (see PoolParams).
Values-only max and every average take one of four paths: a window over the
whole plane as one flat reduction (_pool_global); uniform windows 1 or 2 rows
and columns apart on contiguous planes up to L2 as flat passes straight from x
(into y when the output is the input's size), the cells of clipped windows then
recomputed (_pool_same); other such windows through frames bordered by the
identity, one flat pass per tap over a group's frames (_pool_padded); the rest in blocks of
output rows (the window's input rows combined into a row buffer, then flat
passes over the block's columns: _pool_rows).  Max with indices scans each
window in order, as ties and NaNs require.  The average's gradient is a fill
for global pooling; for uniform windows, a stride-1 sum pooling of the scaled
gradient (_pool_same, or _pool_padded with the gradient spread to its windows'
starts); by input rows on wide planes (_avg_bwd_by_rows), else spread output row
by output row (_avg_bwd).  Each plane stays on one thread, so overlapping
windows' gradients never race.
"""
from __future__ import annotations

import numpy as np

import numba

from .config import jit, prange, use_threads
from .split import split_pairs

PAD_LIMIT = 8192  # elements of a group's frames, column passes and outputs (as in C: about L1)
PAD_MAX = 3 * 2 ** 15  # the most for one plane, which then goes alone (L2)
_NO_SCALE = np.ones((0, 0))  # _pool_padded's pre or post scale: none


@jit(parallel=True)
def _max_fwd(x, rs, rn, cs, cn, step_h, step_w, y, idx):
    """Max with indices: each window scanned in order, a later cell winning when
    greater or NaN (ties keep the first)."""
    n_batch, c, _, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        plane = x[n, k]
        for i in range(oh):
            for j in range(ow):
                best = -np.inf
                where = rs[i] * w + cs[j]
                for a in range(rn[i]):
                    r = rs[i] + a * step_h
                    for b in range(cn[j]):
                        col = cs[j] + b * step_w
                        v = plane[r, col]
                        if v > best or v != v:  # ties keep the first; NaN wins
                            best = v
                            where = r * w + col
                y[n, k, i, j] = best
                idx[n, k, i, j] = where


@jit(parallel=True)
def _max_bwd(gy, idx, gx):
    """gx[n, c, idx[n, c, q]] += gy[n, c, q] over flattened planes."""
    n_batch, c = gy.shape[0], gy.shape[1]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        plane, grads, where = gx[n, k], gy[n, k], idx[n, k]
        plane[:] = 0
        for q in range(grads.size):
            plane[where[q]] += grads[q]


@jit(parallel=True)
def _avg_bwd(gy, rs, rn, cs, cn, step_h, step_w, inv_div, gx):
    n_batch, c, _, w = gx.shape
    oh, ow = gy.shape[2], gy.shape[3]
    for p in prange(n_batch * c):
        n, k = p // c, p % c
        spread = np.empty(w, dtype=gx.dtype)
        gx[n, k] = 0
        for i in range(oh):
            spread[:] = 0
            for j in range(ow):
                v = gy[n, k, i, j] * inv_div[i, j]
                for b in range(cn[j]):
                    spread[cs[j] + b * step_w] += v
            for a in range(rn[i]):
                row = gx[n, k, rs[i] + a * step_h]
                for col in range(w):
                    row[col] += spread[col]


U = np.uint64  # offsets into arrays as unsigned integers, see _taps_at


@jit()
def _add_into(dst, src):
    """dst += src element-wise."""
    for q in range(dst.shape[0]):
        dst[q] += src[q]


@jit()
def _max_to(a, b, out):
    """out = a combined by max with b element-wise, taking NaN and keeping a on
    ties.  out overlaps neither a nor b: a max stored in place is a store of a
    select of the loaded value, which LLVM turns into a masked store of the new
    values only, on AMD Zen several times slower than a blend and a full store."""
    for q in range(out.shape[0]):
        v, m = b[q], a[q]
        out[q] = v if (v > m) | (v != v) else m


@jit()
def _taps_pass(src, dst, n, taps, step, is_max, spare):
    """dst[q] = reduce over b < taps of src[q + b * step], q < n (_taps_at)."""
    _taps_at(src, U(step) * np.arange(taps).astype(U), dst, n, is_max, spare)


@jit()
def _taps_at(src, offsets, dst, n, is_max, spare):
    """dst[q] = reduce over taps b of src[q + offsets[b]], q < n, in the order of the
    taps (a max takes NaN and keeps the first of ties).  Up to three taps in one
    pass; further taps fold in one pass each, a max alternating between dst and
    spare (n elements) so that no pass is in place (_max_to).  Offsets are
    unsigned: Numba wraps a negative signed index around, and that check, on any
    index but a bare loop counter, stops LLVM vectorizing the loop (measured: a
    three-tap sum over 100 000 floats 83 us signed, 14 us unsigned)."""
    m, taps = U(n), offsets.shape[0]
    s0 = offsets[0]
    s1 = offsets[min(1, taps - 1)]
    s2 = offsets[min(2, taps - 1)]
    first = min(taps, 3)
    cur, other = (dst, spare) if not is_max or (taps - first) % 2 == 0 else (spare, dst)
    if first == 1:
        for q in range(m):
            cur[q] = src[q + s0]
    elif first == 2 and is_max:
        for q in range(m):
            a, v = src[q + s0], src[q + s1]
            cur[q] = v if (v > a) | (v != v) else a
    elif first == 2:
        for q in range(m):
            cur[q] = src[q + s0] + src[q + s1]
    elif is_max:
        for q in range(m):
            a, v = src[q + s0], src[q + s1]
            a = v if (v > a) | (v != v) else a
            v = src[q + s2]
            cur[q] = v if (v > a) | (v != v) else a
    else:
        for q in range(m):
            cur[q] = src[q + s0] + src[q + s1] + src[q + s2]
    for b in range(3, taps):
        at = offsets[b]
        if is_max:
            for q in range(m):
                a, v = cur[q], src[q + at]
                other[q] = v if (v > a) | (v != v) else a
            cur, other = other, cur
        else:
            for q in range(m):
                cur[q] += src[q + at]


@jit()
def _split_pairs_any(src, even, odd, m):
    """even[q], odd[q] = src[2 * q], src[2 * q + 1], q < m (split_pairs for float32)."""
    if src.itemsize == 4:
        split_pairs(src, even, odd, m)
        return
    for q in range(U(m)):
        even[q] = src[U(2) * q]
        odd[q] = src[U(2) * q + U(1)]


ROW_BLOCK = 64  # output rows per vertical pass


@jit(parallel=True)
def _pool_rows(x, rs, rn, cs, cn, step_h, step_w, is_max, inv_div, threads, y):
    """Values-only max, or sums times inv_div, in blocks of output rows, as C's row
    path: each output row's window rows combined into a row of a buffer (long
    contiguous loops), then each output combines its columns.  A block holds
    ROW_BLOCK output rows, of several planes when planes are small.  Where the
    outputs with full windows (the interior) are 1 or 2 columns apart, the second
    stage runs flat over the whole block: for every buffer position v (every other
    one for stride 2) the window starting there, as one unit-stride pass per tap,
    then each row's interior copied out.  Stride 2 splits the buffer into its even
    and odd elements first (float32; float64 combines every position and keeps
    every other one), so that each tap reads one of them at unit stride; buffer
    rows are padded to an even length so both keep the rows' parity.  The other
    outputs, one window at a time (plain max with a NaN flag: a select would
    branch).  The passes index with loop counters and per-pass slices only:
    Numba's negative-index wraparound on any other index stops vectorization.
    Each of the threads takes a run of planes."""
    n_batch, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    j0, j1, stride, taps = _interior(cs, cn)
    if stride < 1 or stride > 2:  # (0: windows that do not advance, as clipped ones can)
        j1, stride = j0, 1
    nj, first = j1 - j0, cs[j0]
    pitch = w + w % 2
    span = pitch // stride  # flat outputs per buffer row
    slack = pitch + 2  # a flat pass reads up to a window's extent past the block
    list_border = np.array([j for j in range(ow) if not j0 <= j < j1], dtype=np.int64)
    planes = n_batch * c
    y_rows = y.reshape(planes * oh, ow)
    for t in prange(threads):
        buf = np.zeros(ROW_BLOCK * pitch + slack, dtype=x.dtype)
        rows = buf[:ROW_BLOCK * pitch].reshape(ROW_BLOCK, pitch)
        wide = np.zeros(ROW_BLOCK * pitch + slack, dtype=x.dtype)
        spare = np.zeros(ROW_BLOCK * pitch + slack, dtype=x.dtype)
        spare_row = spare[:pitch]
        halves = np.zeros((2, (ROW_BLOCK * pitch + slack) // 2), dtype=x.dtype)
        end = planes * (t + 1) // threads * oh
        for g0 in range(planes * t // threads * oh, end, ROW_BLOCK):
            nr = min(ROW_BLOCK, end - g0)
            for g in range(nr):
                p, i = (g0 + g) // oh, (g0 + g) % oh
                n, k, r = p // c, p % c, rs[i]
                if is_max and rn[i] > 1:  # alternating with spare_row, as _taps_pass
                    cur, other = (rows[g], spare_row) if rn[i] % 2 == 0 else (spare_row, rows[g])
                    _max_to(x[n, k, r], x[n, k, r + step_h], cur[:w])
                    for a in range(2, rn[i]):
                        _max_to(cur[:w], x[n, k, r + a * step_h], other[:w])
                        cur, other = other, cur
                    continue
                for col in range(w):
                    rows[g, col] = x[n, k, r, col]
                for a in range(1, rn[i]):
                    ra = r + a * step_h
                    for col in range(w):
                        rows[g, col] += x[n, k, ra, col]
            out = y_rows[g0:g0 + nr]
            if nj > 0:
                count = nr * span
                if stride == 1:
                    _taps_pass(buf[first:], wide, count, taps, step_w, is_max, spare)
                elif x.itemsize == 4:
                    split_pairs(buf, halves[0], halves[1], count + slack // 2 - 1)
                    # tap b reads the half of parity first + b * step_w from its offset;
                    # a max folds as _taps_pass does, the last pass writing wide
                    at, at1 = first, first + step_w
                    fold = is_max and taps > 1
                    cur, other = (spare, wide) if fold and taps % 2 == 1 else (wide, spare)
                    if fold:
                        _max_to(halves[at % 2, at // 2:at // 2 + count],
                                halves[at1 % 2, at1 // 2:at1 // 2 + count], cur[:count])
                    else:
                        cur[:count] = halves[at % 2, at // 2:at // 2 + count]
                    for b in range(2 if fold else 1, taps):
                        at = first + b * step_w
                        half = halves[at % 2, at // 2:at // 2 + count]
                        if is_max:
                            _max_to(cur[:count], half, other[:count])
                            cur, other = other, cur
                        else:
                            _add_into(cur[:count], half)
                else:
                    _taps_pass(buf[first:], wide, 2 * count, taps, step_w, is_max, spare)
                    for q in range(count):
                        wide[q] = wide[2 * q]
                flat, inner = wide[:count].reshape(nr, span), out[:, j0:j1]
                for g in range(nr):
                    for q in range(nj):
                        inner[g, q] = flat[g, q]
            for g in range(nr):
                for j in list_border:
                    best = rows[g, cs[j]]
                    nan = best != best
                    for b in range(1, cn[j]):
                        v = rows[g, cs[j] + b * step_w]
                        if is_max:
                            nan |= v != v
                            best = max(best, v)
                        else:
                            best += v
                    out[g, j] = np.nan if nan and is_max else best
            if not is_max:  # per run of one plane's rows, as one flat loop
                flat_out, scale = out.ravel(), inv_div.ravel()
                g = 0
                while g < nr:
                    i0 = (g0 + g) % oh
                    count = min(oh - i0, nr - g)
                    run, by = flat_out[g * ow:(g + count) * ow], scale[i0 * ow:(i0 + count) * ow]
                    for q in range(count * ow):
                        run[q] = run[q] * by[q]
                    g += count


@jit(parallel=True)
def _pool_padded(x, at_r, at_c, up_h, up_w, taps_h, taps_w, stride_h, stride_w, group, step_h, step_w, is_max,
                 pre, post, threads, y):
    """Uniform windows (output i's taps at lo + i * stride + a * step, clipped),
    strides 1 or 2, as C's padded path: groups of planes copied into frames
    bordered by the identity (-inf, or 0 for sums; written once per thread, as it
    is the same for every plane), then the window's rows combined as flat passes
    over all the group's frames, then its columns, so the loops are long and
    vectorize however small the planes; outputs are cut from the result.  For
    stride 2 the frames' rows go by parity into two stacks (row r at r // 2 of
    stack r % 2), so that output row i's taps are rows of a stack one apart, and
    the combined rows are split into their even and odd columns (split_pairs;
    frame rows have an even length), so that its column taps are too: every pass
    is at unit stride, each frame giving fr rows of outputs of which oh are kept.
    Sums are scaled per input cell by pre on the way in and per output by post on
    the way out, each unless empty.  x's cell (i, j) goes to the frame's cell
    (at_r + i * up_h, at_c + j * up_w), the rest staying the identity: output
    (i, j)'s taps are frame cells (i * stride_h + a * step_h, j * stride_w + b *
    step_w), so at = -lo and up = 1 pool x; up = the stride spreads the scaled
    gradient of a strided average pooling (see avgpool2d_bwd_direct).  Each of
    the threads takes a run of groups.
    The copies index whole planes and frames with unsigned offsets (see
    _taps_at), not slices: a slice per row costs more than its row on 7-28 wide
    planes."""
    n_batch, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    ph = (oh - 1) * stride_h + (taps_h - 1) * step_h + 1  # frame rows and columns read
    pw = (ow - 1) * stride_w + (taps_w - 1) * step_w + 1
    pw += pw % stride_w
    fr = (ph + stride_h - 1) // stride_h  # rows of each frame in a stack; output rows computed
    opitch = pw // stride_w  # outputs computed per output row
    i0, i1 = _placed(at_r, up_h, h, ph)  # x's rows and columns that land in the frame
    j0, j1 = _placed(at_c, up_w, w, pw)
    planes = n_batch * c
    y_planes = y.reshape(planes, oh * ow)
    scale_out = post.ravel()
    group = max(1, min(group, (planes + threads - 1) // threads))  # a share for every thread
    groups = (planes + group - 1) // group
    # taps as offsets into the stacks, and into the column halves (past the reach
    # of the last frame's computed outputs, the buffers hold a margin)
    reach_w = (taps_w - 1) * step_w
    half_len = group * fr * opitch + reach_w // 2 + 1
    cols_len = group * fr * pw + reach_w + 2
    stack = group * fr * pw + ((taps_h - 1) * step_h // stride_h) * pw + reach_w + 2
    row_taps = np.empty(taps_h, dtype=U)
    for a in range(taps_h):
        at = a * step_h
        row_taps[a] = U((at % stride_h) * stack + (at // stride_h) * pw)
    col_taps = np.empty(taps_w, dtype=U)
    for b in range(taps_w):
        at = b * step_w
        col_taps[b] = U(at if stride_w == 1 else (at % 2) * half_len + at // 2)
    for t in prange(threads):
        pad = np.full(stride_h * stack, -np.inf if is_max else 0.0, dtype=x.dtype)
        cols = np.empty(cols_len, dtype=x.dtype)
        halves = np.empty(2 * half_len if stride_w == 2 else 0, dtype=x.dtype)
        frames = np.empty(group * fr * opitch, dtype=x.dtype)
        spare = np.empty(cols_len, dtype=x.dtype)
        for gi in range(groups * t // threads, groups * (t + 1) // threads):
            p0 = gi * group
            count = min(group, planes - p0)
            for kk in range(count):
                plane = x[(p0 + kk) // c, (p0 + kk) % c]
                for i in range(i0, i1):
                    f = at_r + i * up_h
                    to = U((f % stride_h) * stack + (kk * fr + f // stride_h) * pw + at_c + j0 * up_w)
                    row, col0 = U(i), U(j0)
                    if up_w > 1 and pre.shape[0] > 0:
                        for q in range(U(j1 - j0)):
                            pad[to + q * U(up_w)] = plane[row, col0 + q] * pre[row, col0 + q]
                    elif up_w > 1:
                        for q in range(U(j1 - j0)):
                            pad[to + q * U(up_w)] = plane[row, col0 + q]
                    elif pre.shape[0] > 0:
                        for q in range(U(j1 - j0)):
                            pad[to + q] = plane[row, col0 + q] * pre[row, col0 + q]
                    else:
                        for q in range(U(j1 - j0)):
                            pad[to + q] = plane[row, col0 + q]
            computed = count * fr * opitch
            if stride_w == 1:
                _taps_at(pad, row_taps, cols, computed + reach_w, is_max, spare)
                _taps_at(cols, col_taps, frames, computed, is_max, spare)
            else:
                split = computed + reach_w // 2 + 1
                _taps_at(pad, row_taps, cols, 2 * split, is_max, spare)
                _split_pairs_any(cols, halves[:half_len], halves[half_len:], split)
                _taps_at(halves, col_taps, frames, computed, is_max, spare)
            for kk in range(count):
                dst = y_planes[p0 + kk]
                for i in range(U(oh)):
                    at, to = (U(kk * fr) + i) * U(opitch), i * U(ow)
                    if post.shape[0] > 0:
                        for j in range(U(ow)):
                            dst[to + j] = frames[at + j] * scale_out[to + j]
                    else:
                        for j in range(U(ow)):
                            dst[to + j] = frames[at + j]


@jit()
def _combine(m, v, is_max):
    """m combined with the next tap v: a max taking NaN and keeping m on ties, or a sum."""
    if is_max:
        return v if (v > m) | (v != v) else m
    return m + v


@jit()
def _valid_taps(start, step, taps, size):
    """(a0, a1): the taps a0 <= a < a1 of a window start + a * step that fall in [0, size)."""
    a0, a1 = 0, taps
    while a0 < a1 and start + a0 * step < 0:
        a0 += 1
    while a1 > a0 and start + (a1 - 1) * step >= size:
        a1 -= 1
    return a0, a1


@jit()
def _clipped(lo, reach, size, stride, outputs):
    """The cells k = i * stride, i < outputs, whose window lo + k .. lo + k + reach
    leaves [0, size)."""
    first = min(max(-lo, 0), size)
    last = max(min(size - reach - lo, size), first)
    cells = np.concatenate((np.arange(first), np.arange(last, size)))
    return cells[(cells % stride == 0) & (cells // stride < outputs)]


@jit(parallel=True)
def _pool_same(x, h, w, oh, ow, lo_r, lo_c, taps_h, taps_w, stride_h, stride_w, step_h, step_w, is_max, pre, post,
               threads, y):
    """Uniform windows with starts lo + i * stride inside the input's h x w
    (stride 1 or 2), x and y flat over contiguous planes: no frames.  The window
    starting at every cell (lo_r + r, lo_c + c) is computed, r < h, c < w: a
    group's planes are combined over the window's rows as one flat pass straight
    from x, then over its columns as one flat pass (straight into y for stride 1,
    whose output is then the input's size, as 'same' padding); the cells whose
    window is clipped by the padding (the first and last rows and columns of each
    plane, where a flat pass reads a neighbouring plane or row) are then
    recomputed from their clipped taps.  For stride 2 the outputs are every other
    cell of that, copied out.  Sums are scaled per input cell by pre (into a
    buffer first) and per output by post, each unless empty.  Each of the threads
    takes a run of groups."""
    hw, ohw = h * w, oh * ow
    strided = stride_h > 1 or stride_w > 1
    planes = x.shape[0] // hw
    group = max(1, min(PAD_LIMIT // hw, (planes + threads - 1) // threads))
    groups = (planes + group - 1) // group
    reach_h, reach_w = (taps_h - 1) * step_h, (taps_w - 1) * step_w
    row_taps = U(w * step_h) * np.arange(taps_h).astype(U)
    col_taps = U(step_w) * np.arange(taps_w).astype(U)
    pre_flat, post_flat = pre.ravel(), post.ravel()
    clipped_rows, clipped_cols = _clipped(lo_r, reach_h, h, stride_h, oh), _clipped(lo_c, reach_w, w, stride_w, ow)
    for t in prange(threads):
        cols = np.empty(group * hw, dtype=x.dtype)
        spare = np.empty(group * hw, dtype=x.dtype)
        scaled = np.empty(group * hw if pre.shape[0] > 0 else 0, dtype=x.dtype)
        full = np.empty(group * hw if strided else 0, dtype=x.dtype)
        for gi in range(groups * t // threads, groups * (t + 1) // threads):
            p0 = gi * group
            count = min(group, planes - p0)
            n = count * hw
            src = x[p0 * hw:p0 * hw + n]
            if pre.shape[0] > 0:
                for kk in range(count):
                    at = U(kk * hw)
                    for q in range(U(hw)):
                        scaled[at + q] = src[at + q] * pre_flat[q]
                src = scaled[:n]
            out = full[:n] if strided else y[p0 * hw:p0 * hw + n]
            if n > reach_h * w:
                _taps_at(src, row_taps, cols[-lo_r * w:], n - reach_h * w, is_max, spare)
            for i in clipped_rows:  # rows whose window the padding clips: its valid taps, a0 <= a < a1
                r = lo_r + i
                a0, a1 = _valid_taps(r, step_h, taps_h, h)
                if a0 == a1:  # (no window lies wholly in the padding: the parameters' check)
                    continue
                for kk in range(count):
                    at, tap = U(kk * hw + i * w), U(kk * hw + (r + a0 * step_h) * w)
                    for col in range(U(w)):
                        cols[at + col] = src[tap + col]
                    for a in range(a0 + 1, a1):
                        tap = U(kk * hw + (r + a * step_h) * w)
                        for col in range(U(w)):
                            cols[at + col] = _combine(cols[at + col], src[tap + col], is_max)
            if n > reach_w:
                _taps_at(cols, col_taps, out[-lo_c:], n - reach_w, is_max, spare)
            for j in clipped_cols:  # columns whose window the padding clips, down the output rows
                cj = lo_c + j
                b0, b1 = _valid_taps(cj, step_w, taps_w, w)
                if b0 == b1:
                    continue
                for kk in range(count):
                    for i in range(oh):
                        at = U((kk * h + i * stride_h) * w)
                        m = cols[at + U(cj + b0 * step_w)]
                        for b in range(b0 + 1, b1):
                            m = _combine(m, cols[at + U(cj + b * step_w)], is_max)
                        out[at + U(j)] = m
            if strided:  # every stride_h-th row's every stride_w-th cell
                for kk in range(count):
                    dst = y[(p0 + kk) * ohw:(p0 + kk + 1) * ohw]
                    for i in range(oh):
                        at, to = U(kk * hw + i * stride_h * w), U(i * ow)
                        for j in range(U(ow)):
                            v = out[at + j * U(stride_w)]
                            dst[to + j] = v * post_flat[to + j] if post.shape[0] > 0 else v
            elif post.shape[0] > 0:
                for kk in range(count):
                    at = U(kk * hw)
                    for q in range(U(hw)):
                        out[at + q] = out[at + q] * post_flat[q]


def _same_plan(p, x):
    """(oh, ow, lo_r, lo_c, taps_h, taps_w, stride_h, stride_w) for _pool_same, or
    None if it does not apply."""
    if not x.flags.c_contiguous or 3 * p.h * p.w > PAD_MAX:
        return None
    ok, lo_r, lo_c, taps_h, taps_w, stride_h, stride_w = _uniform_windows(*_windows(p), p.h, p.w)
    # strides 1 or 2, the windows among those computed, which start at (lo_r + r,
    # lo_c + c), r < h, c < w; stride 1 only for the input's size
    if not (ok and stride_h <= 2 and stride_w <= 2 and lo_r <= 0 and lo_c <= 0 and (p.oh - 1) * stride_h < p.h
            and (p.ow - 1) * stride_w < p.w):
        return None
    if (stride_h, stride_w) == (1, 1) and (p.oh, p.ow) != (p.h, p.w):
        return None
    return p.oh, p.ow, lo_r, lo_c, taps_h, taps_w, stride_h, stride_w


BY_ROWS_MIN_WIDTH = 24  # narrower planes take _avg_bwd: per-plane setup outweighs the gain (28 wide gains, 14 loses)


@jit(parallel=True)
def _avg_bwd_by_rows(gy, trs, trn, lo, stride, taps, step_w, inv_div, threads, gx):
    """The average-pool gradient by input rows, as C's avg_bwd_plane_by_rows, for
    column windows lo + j * stride + b * step_w (b < taps, clipped; stride 1 or 2)
    and row windows covering input row r from output row trs[r], trn[r] of them.
    Input rows go in runs whose covering output rows number at most ROW_BLOCK;
    those output rows' scaled gradients are spread along the columns all at once,
    as flat unit-stride passes, one per tap, over rows with margins that take the
    clipped taps (for stride 2 into the rows' even and odd cells, interleaved
    afterwards: float32 as 64-bit pairs, which vectorizes where stride-2 stores do
    not); then each row of gx is written once, as the sum of the spread rows of the
    output rows covering it: no zeroing pass, no read-modify-write.  Each of the
    threads takes a run of planes."""
    n_batch, c, h, w = gx.shape
    oh, ow = gy.shape[2], gy.shape[3]
    reach = lo + (ow - 1) * stride + (taps - 1) * step_w + 1
    margin = max(-lo, 0)
    margin += margin % 2
    pitch = margin + max(reach, w) + 2
    pitch += pitch % 2
    grid = pitch // stride  # scaled gradients per spread row (zeros past ow)
    cells = ROW_BLOCK * grid + grid + 1  # of each half: the taps reach a row past the block
    planes = n_batch * c
    for t in prange(threads):
        scaled = np.zeros((ROW_BLOCK, grid), dtype=gx.dtype)
        flat_scaled = scaled.ravel()
        halves = np.empty((stride, cells), dtype=gx.dtype)
        spread = np.empty(ROW_BLOCK * pitch + 2 * pitch, dtype=gx.dtype)
        for p in range(planes * t // threads, planes * (t + 1) // threads):
            src, dst = gy[p // c, p % c], gx[p // c, p % c]
            r0 = 0
            while r0 < h:
                if trn[r0] == 0:  # no window covers the row
                    for col in range(w):
                        dst[r0, col] = 0
                    r0 += 1
                    continue
                i0, r1 = trs[r0], r0 + 1
                while r1 < h and (trn[r1] == 0 or trs[r1] + trn[r1] - i0 <= ROW_BLOCK):
                    r1 += 1
                i1 = i0
                for r in range(r0, r1):
                    if trn[r] > 0:
                        i1 = max(i1, trs[r] + trn[r])
                nr = i1 - i0
                for i in range(nr):
                    for j in range(ow):
                        scaled[i, j] = src[i0 + i, j] * inv_div[i0 + i, j]
                n = nr * grid
                for half in range(stride):
                    row = halves[half]
                    for q in range(n + grid + 1):
                        row[q] = 0
                for b in range(taps):
                    at = margin + lo + b * step_w
                    into = halves[at % stride, at // stride:]
                    for q in range(n):
                        into[q] += flat_scaled[q]
                if stride == 1:
                    full = halves[0]
                elif gx.itemsize == 4:
                    full = spread
                    low, high = halves[0].view(np.uint32), halves[1].view(np.uint32)
                    pairs = spread[:2 * n].view(np.uint64)
                    for q in range(n):
                        pairs[q] = np.uint64(low[q]) | (np.uint64(high[q]) << np.uint64(32))
                else:
                    full = spread
                    for q in range(n):
                        spread[2 * q] = halves[0, q]
                        spread[2 * q + 1] = halves[1, q]
                rows = full[:nr * pitch].reshape(nr, pitch)[:, margin:margin + w]
                for r in range(r0, r1):
                    first, count = trs[r] - i0, trn[r]
                    if count == 0:
                        for col in range(w):
                            dst[r, col] = 0
                        continue
                    for col in range(w):
                        dst[r, col] = rows[first, col]
                    for a in range(1, count):
                        for col in range(w):
                            dst[r, col] += rows[first + a, col]
                r0 = r1


@jit(parallel=True)
def _pool_global(x, is_max, inv, threads, y):
    """One window covering each whole plane (global pooling): x and y are (planes,
    plane size) and (planes,); one flat reduction per plane, sixteen lanes at a
    time (a loop over a fixed-size block, which LLVM vectorizes whatever the plane
    size, where it does not vectorize a NaN-taking max reduction at all, nor a sum
    shorter than its 64-element unrolled vector loop), then the lanes reduced (a
    max halving them pairwise down to one, also vector operations: 1.1-1.3x faster
    than a scalar pass with a NaN flag on 7x7 planes, where a sum gained nothing),
    then the tail.  A max takes NaN at every step, so a NaN anywhere reaches the
    result.  Each of the threads takes a run of planes."""
    planes, size = x.shape
    nb = size // 16
    for t in prange(threads):
        lanes = np.empty(16, dtype=x.dtype)
        spare = np.empty(16, dtype=x.dtype)
        for p in range(planes * t // threads, planes * (t + 1) // threads):
            row = x[p]
            if nb > 0:
                for lane in range(16):
                    lanes[lane] = row[lane]
            else:
                lanes[:] = -np.inf if is_max else 0
            for bi in range(1, nb):
                at = U(bi * 16)
                if is_max:  # alternating with spare: not in place (_max_to)
                    for lane in range(U(16)):
                        v, m = row[at + lane], lanes[lane]
                        spare[lane] = v if (v > m) | (v != v) else m
                    lanes, spare = spare, lanes
                else:
                    for lane in range(U(16)):
                        lanes[lane] += row[at + lane]
            if is_max:
                for width in (U(8), U(4), U(2), U(1)):
                    for lane in range(width):
                        v, m = lanes[lane + width], lanes[lane]
                        spare[lane] = v if (v > m) | (v != v) else m
                    lanes, spare = spare, lanes
                best = lanes[0]
            else:
                best = lanes.sum()
            for q in range(U(nb * 16), U(size)):
                v = row[q]
                if is_max:
                    best = v if (v > best) | (v != v) else best
                else:
                    best += v
            y[p] = best if is_max else best * inv


@jit(parallel=True)
def _fill_planes(values, scale, threads, out):
    """out[p, :] = values[p] * scale for each plane p (the global average's
    gradient); each of the threads takes a run of planes."""
    planes, size = out.shape
    for t in prange(threads):
        for p in range(planes * t // threads, planes * (t + 1) // threads):
            share = out.dtype.type(values[p] * scale)
            for q in range(size):
                out[p, q] = share


def _is_global(p, x):
    """A single window over each whole, contiguous plane."""
    return (p.oh, p.ow, p.step_h, p.step_w) == (1, 1, 1, 1) and p.row_count[0] == p.h and \
        p.col_count[0] == p.w and x[0, 0].flags.c_contiguous


@jit()
def _interior(start, count):
    """(j0, j1, stride, taps): the outputs j0 <= j < j1 have full windows (taps
    cells, the most of any output) starting stride apart, as C's pl_find_interior;
    j0 == j1 when there is no such run."""
    n = start.shape[0]
    taps = 0
    for j in range(n):
        taps = max(taps, count[j])
    j0 = 0
    while j0 < n and count[j0] != taps:
        j0 += 1
    j1 = j0
    while j1 < n and count[j1] == taps:
        j1 += 1
    stride = start[j0 + 1] - start[j0] if j1 - j0 >= 2 else 1
    for j in range(j0, j1):
        if start[j] != start[j0] + (j - j0) * stride:
            return j0, j0, stride, taps
    return j0, j1, stride, taps


@jit()
def _uniform(start, count, step, size, stride=1):
    """(True, lo, taps) when output k's window is the clipping to [0, size) of the
    taps lo + k * stride + a * step, a < taps (uniform windows stride apart; 1 as
    in plain stride-1 pooling); (False, 0, 0) otherwise (adaptive windows, other
    strides)."""
    j0, j1, _, taps = _interior(start, count)
    if j1 == j0:
        return False, 0, 0
    lo = start[j0] - j0 * stride
    for k in range(start.shape[0]):
        a0, a1 = 0, taps
        while a0 < a1 and lo + k * stride + a0 * step < 0:
            a0 += 1
        while a1 > a0 and lo + k * stride + (a1 - 1) * step >= size:
            a1 -= 1
        if a1 == a0 or start[k] != lo + k * stride + a0 * step or count[k] != a1 - a0:
            return False, 0, 0
    return True, lo, taps


@jit()
def _uniform_windows(row_start, row_count, col_start, col_count, step_h, step_w, h, w):
    """(ok, lo_r, lo_c, taps_h, taps_w, stride_h, stride_w): the windows as uniform
    ones (_uniform) at their interior's strides; ok is False when they are not."""
    stride_h, stride_w = _interior(row_start, row_count)[2], _interior(col_start, col_count)[2]
    if stride_h < 1 or stride_w < 1:
        return False, 0, 0, 0, 0, 0, 0
    rows_ok, lo_r, taps_h = _uniform(row_start, row_count, step_h, h, stride_h)
    cols_ok, lo_c, taps_w = _uniform(col_start, col_count, step_w, w, stride_w)
    return rows_ok and cols_ok, lo_r, lo_c, taps_h, taps_w, stride_h, stride_w


@jit()
def _placed(at, up, size, frame):
    """(k0, k1): the cells k0 <= k < k1 of [0, size) whose place at + k * up lies in [0, frame)."""
    k0 = 0 if at >= 0 else (-at + up - 1) // up
    k1 = 0 if at >= frame else (frame - 1 - at) // up + 1
    k0, k1 = min(k0, size), min(k1, size)
    return k0, max(k1, k0)


def _padded_plan(p):
    """(at_r, at_c, up_h, up_w, taps_h, taps_w, stride_h, stride_w, planes per group)
    for _pool_padded, or None if it does not apply."""
    plan = _padded_plan_of(p.row_start, p.row_count, p.col_start, p.col_count, p.step_h, p.step_w, p.h, p.w)
    return plan if plan[-1] > 0 else None


@jit()
def _padded_plan_of(row_start, row_count, col_start, col_count, step_h, step_w, h, w):
    """_padded_plan for windows given by their tables over an h x w plane, with 0
    planes per group when it does not apply (compiled: in Python these checks
    cost more than the kernel on small arrays)."""
    oh, ow = row_start.shape[0], col_start.shape[0]
    ok, lo_r, lo_c, taps_h, taps_w, stride_h, stride_w = _uniform_windows(
        row_start, row_count, col_start, col_count, step_h, step_w, h, w)
    if not (ok and stride_h <= 2 and stride_w <= 2):
        return 0, 0, 0, 0, 0, 0, 0, 0, 0
    ph, pw = (oh - 1) * stride_h + (taps_h - 1) * step_h + 1, (ow - 1) * stride_w + (taps_w - 1) * step_w + 1
    # too big for L2, or too few outputs for flat passes to pay (global pooling)
    if 3 * ph * pw > PAD_MAX or (oh - 1) * pw + ow < 32:
        return 0, 0, 0, 0, 0, 0, 0, 0, 0
    return -lo_r, -lo_c, 1, 1, taps_h, taps_w, stride_h, stride_w, max(1, PAD_LIMIT // (3 * ph * pw))


@jit()
def _spread_plan_of(row_start, row_count, col_start, col_count, step_h, step_w, h, w):
    """_pool_padded's plan for the gradient of an average pooling whose windows are
    uniform, of any stride (0 planes per group when it does not apply): cell r
    gets the scaled gradients of the outputs i with r = lo + i * stride + a *
    step for some tap a, which is a stride-1 sum pooling, taps a * step, of the
    gradients spread to the windows' starts (output i at frame row lo + i *
    stride + (taps - 1) * step, the frame's row 0 being the first window's reach
    back from input row 0)."""
    ok, lo_r, lo_c, taps_h, taps_w, stride_h, stride_w = _uniform_windows(
        row_start, row_count, col_start, col_count, step_h, step_w, h, w)
    ph, pw = h + (taps_h - 1) * step_h, w + (taps_w - 1) * step_w
    if not ok or 3 * ph * pw > PAD_MAX or (h - 1) * pw + w < 32:
        return 0, 0, 0, 0, 0, 0, 0, 0, 0
    return (lo_r + (taps_h - 1) * step_h, lo_c + (taps_w - 1) * step_w, stride_h, stride_w, taps_h, taps_w, 1, 1,
            max(1, PAD_LIMIT // (3 * ph * pw)))


@jit()
def _covering(start, count, size):
    """(True, start, count): the tables of the outputs whose unit-step windows cover
    each of the size input cells (as C's pl_covering); (False, ...) unless the
    windows only move forward."""
    n = start.shape[0]
    first_of = np.zeros(size, dtype=np.int64)
    count_of = np.zeros(size, dtype=np.int64)
    for i in range(1, n):
        if start[i] < start[i - 1] or start[i] + count[i] < start[i - 1] + count[i - 1]:
            return False, first_of, count_of
    first, end = 0, 0  # first output ending after cell r; first starting after it
    for r in range(size):
        while first < n and start[first] + count[first] <= r:
            first += 1
        while end < n and start[end] <= r:
            end += 1
        first_of[r] = first
        count_of[r] = max(end - first, 0)
    return True, first_of, count_of


def _windows(p):
    return p.row_start, p.row_count, p.col_start, p.col_count, p.step_h, p.step_w


def maxpool2d_fwd_direct(p, x, y, idx):
    """y (and idx unless None) = window maxima of x."""
    use_threads()
    if idx is None and _is_global(p, x):
        _pool_global(x.reshape(p.n * p.c, -1), True, 1.0, numba.get_num_threads(), y.reshape(-1))
    elif idx is None and (same := _same_plan(p, x)) is not None:
        _pool_same(x.reshape(-1), p.h, p.w, *same, p.step_h, p.step_w, True, _NO_SCALE, _NO_SCALE,
                   numba.get_num_threads(), y.reshape(-1))
    elif idx is None and (plan := _padded_plan(p)) is not None:
        _pool_padded(x, *plan, p.step_h, p.step_w, True, _NO_SCALE, _NO_SCALE, numba.get_num_threads(), y)
    elif idx is None:
        _pool_rows(x, *_windows(p), True, _NO_SCALE, numba.get_num_threads(), y)
    else:
        _max_fwd(x, *_windows(p), y, idx)


def maxpool2d_bwd_direct(p, gy, idx, gx):
    """gx = gy scattered to idx."""
    use_threads()
    flat = (p.n, p.c, -1)
    _max_bwd(gy.reshape(flat), idx.reshape(flat), gx.reshape(flat))


def avgpool2d_fwd_direct(p, x, inv_div, y):
    """y = window sums of x times inv_div."""
    use_threads()
    if _is_global(p, x):
        _pool_global(x.reshape(p.n * p.c, -1), False, float(inv_div[0, 0]), numba.get_num_threads(), y.reshape(-1))
    elif (same := _same_plan(p, x)) is not None:
        _pool_same(x.reshape(-1), p.h, p.w, *same, p.step_h, p.step_w, False, _NO_SCALE, inv_div,
                   numba.get_num_threads(), y.reshape(-1))
    elif (plan := _padded_plan(p)) is not None:
        _pool_padded(x, *plan, p.step_h, p.step_w, False, _NO_SCALE, inv_div, numba.get_num_threads(), y)
    else:
        _pool_rows(x, *_windows(p), False, inv_div, numba.get_num_threads(), y)


def avgpool2d_bwd_direct(p, gy, inv_div, gx):
    """gx = each gy * inv_div spread over its window: for uniform windows a sum
    pooling of gy * inv_div over the windows of outputs that cover each cell
    (_pool_same or, spread by the stride, _pool_padded)."""
    use_threads()
    if (p.oh, p.ow, p.step_h, p.step_w) == (1, 1, 1, 1) and (p.row_count[0], p.col_count[0]) == (p.h, p.w):
        planes = p.n * p.c  # global: each plane's share, broadcast
        _fill_planes(gy.reshape(planes), float(inv_div[0, 0]), numba.get_num_threads(), gx.reshape(planes, -1))
        return
    rows, cols = _covering(p.row_start, p.row_count, p.h), _covering(p.col_start, p.col_count, p.w)
    if rows[0] and cols[0] and (p.step_h, p.step_w, p.oh, p.ow) == (1, 1, p.h, p.w):
        rows_ok, lo_r, taps_h = _uniform(*rows[1:], 1, p.oh)
        cols_ok, lo_c, taps_w = _uniform(*cols[1:], 1, p.ow)
        if rows_ok and cols_ok and 3 * p.h * p.w <= PAD_MAX:
            _pool_same(gy.reshape(-1), p.oh, p.ow, p.h, p.w, lo_r, lo_c, taps_h, taps_w, 1, 1, 1, 1, False, inv_div,
                       _NO_SCALE, numba.get_num_threads(), gx.reshape(-1))
            return
    plan = _spread_plan_of(p.row_start, p.row_count, p.col_start, p.col_count, p.step_h, p.step_w, p.h, p.w)
    if plan[-1] > 0:
        _pool_padded(gy, *plan, p.step_h, p.step_w, False, inv_div, _NO_SCALE, numba.get_num_threads(), gx)
        return
    if rows[0] and p.step_h == 1 and p.w >= BY_ROWS_MIN_WIDTH and rows[2].max() <= ROW_BLOCK:
        stride = _interior(p.col_start, p.col_count)[2]
        ok, lo, taps = _uniform(p.col_start, p.col_count, p.step_w, p.w, stride)
        if ok and stride in (1, 2):
            _avg_bwd_by_rows(gy, *rows[1:], lo, stride, taps, p.step_w, inv_div, numba.get_num_threads(), gx)
            return
    _avg_bwd(gy, *_windows(p), inv_div, gx)
