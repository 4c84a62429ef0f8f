"""The Numba backend's GEMM: a register-blocked micro-kernel of MICRO_ROWS x
MICRO_VECTORS vector accumulators, written in LLVM IR through
``numba.extending.intrinsic``, and a driver over A packed in row panels (as the
C backend packs it, csrc/internal.h) and B, C row-major.

Why IR rather than loops: Numba's loop vectorizer targets 256-bit vectors on
AVX-512 Intel parts (half the FMA width), and neither it nor the SLP vectorizer
keeps a tile of accumulators in registers across the depth loop (a scalar 6 x 32
tile ran at 4-17 GFLOP/s).  Spelled as vector values, one ``fmuladd`` per
accumulator and step, the tile stays in registers, as C's intrinsics keep it.

The vector width follows the CPU Numba compiles for (NUMBA_CPU_NAME with
NUMBA_CPU_FEATURES, else the host): 64 bytes with AVX-512F, 32 with AVX2 and
FMA, else 16 (also for a NUMBA_CPU_NAME given without features: SSE2 is every
x86-64's); ``fmuladd`` is one FMA where the CPU has it, a multiply and an add
elsewhere.
"""
from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

from .config import jit


def _cpu_features():
    if config.CPU_NAME:  # a chosen target: only the features named with it
        return set(f[1:] for f in (config.CPU_FEATURES or "").split(",") if f.startswith("+"))
    return {name for name, on in llvm.get_host_cpu_features().items() if on}


_FEATURES = _cpu_features()
VECTOR_BYTES = 64 if "avx512f" in _FEATURES else 32 if {"avx2", "fma"} <= _FEATURES else 16
# MICRO_ROWS x MICRO_VECTORS accumulators, the B vectors and a broadcast within the
# register file: 16 + 3 of AVX-512's 32, 12 + 3 of AVX2's (or SSE's) 16.  On AVX-512,
# 8 rather than 14 rows (28 accumulators, as C): the layers' channel counts are
# multiples of 8, and 14-row panels computed 9 % padding rows on 64 channels; with 8,
# Winograd on ResNet-50's and VGG-19's 3x3 layers ran 0.93-1.30x as fast per layer
# (geometric mean 1.09 forward).
MICRO_ROWS = 8 if VECTOR_BYTES == 64 else 6
MICRO_VECTORS = 2
DEPTH_BLOCK = 128  # steps per micro-kernel call: the B columns' 16 KiB stay in L1
PREFETCH_STEPS = 8  # how far ahead the micro-kernel prefetches B's rows


def panel_columns(dtype):
    """NR, the columns of a micro-kernel tile for dtype (batched_gemm's column counts
    are multiples of it)."""
    return MICRO_VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize


@intrinsic
def _micro_kernel(typingctx, a, a_at, b, b_at, ldb, c, c_at, depth, ldc, accumulate):
    """c[c_at + i * ldc + j] = (or, accumulate, +=) sum over p < depth of
    a[a_at + p * MR + i] * b[b_at + p * ldb + j], i < MR = MICRO_ROWS, j < NR: a, b, c
    contiguous 1-D arrays of one float dtype; the caller keeps every index in bounds."""
    if not all(isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C" and t.dtype == a.dtype
               for t in (a, b, c)) or a.dtype not in (types.float32, types.float64):
        return None  # a typing error
    sig = types.void(a, a_at, b, b_at, ldb, c, c_at, depth, ldc, accumulate)

    def codegen(context, builder, signature, args):
        dtype = signature.args[0].dtype
        lanes = VECTOR_BYTES // np.dtype(dtype.name).itemsize
        i64 = ir.IntType(64)
        vec = ir.VectorType(context.get_value_type(dtype), lanes)
        if VECTOR_BYTES == 64:
            # else LLVM splits 512-bit values in two on the CPUs where it prefers 256-bit
            # vectors; set.add because llvmlite's add() knows no string attributes
            set.add(builder.function.attributes, '"min-legal-vector-width"="512"')
        name = f"llvm.fmuladd.v{lanes}{'f32' if dtype == types.float32 else 'f64'}"
        fmuladd = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), name)
        bytes_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [bytes_ptr, i32, i32, i32]), "llvm.prefetch.p0")

        def pointer(k):
            data = context.make_array(signature.args[k])(context, builder, args[k]).data
            return builder.gep(data, [context.cast(builder, args[k + 1], signature.args[k + 1], types.int64)])

        a_ptr, b_ptr, c_ptr = pointer(0), pointer(2), pointer(5)
        ldb, depth, ldc = (context.cast(builder, args[k], signature.args[k], types.int64) for k in (4, 7, 8))
        accumulate = context.cast(builder, args[9], signature.args[9], types.boolean)
        tile = MICRO_ROWS * MICRO_VECTORS
        zero = ir.Constant(vec, [0.0] * lanes)
        undef = ir.Constant(vec, ir.Undefined)
        splat = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)

        def const(n):
            return ir.Constant(i64, n)

        def load_vector(ptr, at):
            return builder.load(builder.bitcast(builder.gep(ptr, [at]), vec.as_pointer()), align=1)

        entry = builder.block
        loop = builder.append_basic_block("micro.loop")
        sums = builder.append_basic_block("micro.sums")
        add_c = builder.append_basic_block("micro.add_c")
        store = builder.append_basic_block("micro.store")
        builder.cbranch(builder.icmp_signed(">", depth, const(0)), loop, sums)

        builder.position_at_end(loop)
        p = builder.phi(i64)
        acc = [builder.phi(vec) for _ in range(tile)]
        b_step = builder.gep(b_ptr, [builder.mul(p, ldb)])
        b_vectors = [load_vector(b_step, const(v * lanes)) for v in range(MICRO_VECTORS)]
        # B's rows are ldb apart, too far for the hardware's prefetchers to run ahead (a
        # prefetch never faults, so the ones past B's end are harmless)
        ahead = builder.gep(b_step, [builder.mul(ldb, const(PREFETCH_STEPS))])
        for line in range(0, VECTOR_BYTES * MICRO_VECTORS, 64):
            builder.call(prefetch, [builder.gep(builder.bitcast(ahead, bytes_ptr), [const(line)]),
                                    ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        a_step = builder.gep(a_ptr, [builder.mul(p, const(MICRO_ROWS))])
        stepped = []
        for i in range(MICRO_ROWS):
            scalar = builder.load(builder.gep(a_step, [const(i)]))
            broadcast = builder.shuffle_vector(
                builder.insert_element(undef, scalar, ir.Constant(ir.IntType(32), 0)), undef, splat)
            stepped += [builder.call(fmuladd, [broadcast, b_vectors[v], acc[i * MICRO_VECTORS + v]])
                        for v in range(MICRO_VECTORS)]
        p_next = builder.add(p, const(1))
        p.add_incoming(const(0), entry)
        p.add_incoming(p_next, loop)
        for phi, value in zip(acc, stepped):
            phi.add_incoming(zero, entry)
            phi.add_incoming(value, loop)
        builder.cbranch(builder.icmp_signed("<", p_next, depth), loop, sums)

        builder.position_at_end(sums)
        total = []
        for j in range(tile):
            phi = builder.phi(vec)
            phi.add_incoming(zero, entry)
            phi.add_incoming(stepped[j], loop)
            total.append(phi)

        def c_at(j):
            i, v = divmod(j, MICRO_VECTORS)
            return builder.add(builder.mul(ldc, const(i)), const(v * lanes))

        builder.cbranch(accumulate, add_c, store)
        builder.position_at_end(add_c)
        added = [builder.fadd(total[j], load_vector(c_ptr, c_at(j))) for j in range(tile)]
        builder.branch(store)

        builder.position_at_end(store)
        results = []
        for j in range(tile):
            phi = builder.phi(vec)
            phi.add_incoming(total[j], sums)
            phi.add_incoming(added[j], add_c)
            results.append(phi)
        for j in range(tile):
            builder.store(results[j], builder.bitcast(builder.gep(c_ptr, [c_at(j)]), vec.as_pointer()), align=1)
        return context.get_dummy_value()

    return sig, codegen


@jit()
def batched_gemm(a, b, c, row_panels, columns, depth):
    """C_s = A_s B_s for every s of a batch (1-D operands of one dtype): A_s
    (row_panels * MR x depth) packed at a[s * row_panels * depth * MR:], panel r's
    element (i, p) at [(r * depth + p) * MR + i]; B_s (depth x columns) and C_s
    (row_panels * MR x columns) row-major at b[s * depth * columns:] and
    c[s * row_panels * MR * columns:].  MR = MICRO_ROWS; columns a multiple of NR =
    panel_columns(dtype).  Blocks of DEPTH_BLOCK steps, and in each, NR columns of B
    at a time, the micro-kernels of every row panel in turn, so that those columns
    are read from L1."""
    mr, nr = MICRO_ROWS, MICRO_VECTORS * VECTOR_BYTES // a.itemsize  # panel_columns(a.dtype)
    a_size, b_size, c_size = row_panels * depth * mr, depth * columns, row_panels * mr * columns
    batch = a.shape[0] // a_size if a_size > 0 else 0
    if (columns % nr or columns < 0 or row_panels < 0 or depth < 0 or a.shape[0] != batch * a_size
            or b.shape[0] < batch * b_size or c.shape[0] < batch * c_size):
        raise ValueError("batched_gemm: columns must be a multiple of panel_columns and the operands hold "
                         "the same number of whole matrices")
    if depth == 0:
        c[:] = 0
    for s in range(batch):
        for p0 in range(0, depth, DEPTH_BLOCK):
            steps = min(DEPTH_BLOCK, depth - p0)
            for j in range(0, columns, nr):
                for r in range(row_panels):
                    _micro_kernel(a, s * a_size + (r * depth + p0) * mr, b, s * b_size + p0 * columns + j, columns,
                                  c, s * c_size + r * mr * columns + j, steps, columns, p0 > 0)
