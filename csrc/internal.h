/* Internal declarations shared by the C kernels; not part of the cffi interface. */
#ifndef FASTCONV_INTERNAL_H
#define FASTCONV_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "fastconv.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FC_X86 1
#else
#define FC_X86 0
#endif

/** Register-tile micro-kernel: for t < T and lane v < nb * VL,
 *    c[t][v] (+)= sum_{r < R} a[roff[r] + toff[t]] * b[r][v]
 *  b is 64-byte aligned, rows of nb * VL elements; c likewise, T rows.
 *  accumulate = 0 overwrites c, 1 adds to it.  T <= tmax[nb], nb <= nb_max. */
typedef void (*fc_ukr_f32_fn)(int64_t R, const float *a, const int64_t *roff,
                              const int64_t *toff, int T, const float *b, int nb,
                              float *c, int accumulate);
typedef void (*fc_ukr_f64_fn)(int64_t R, const double *a, const int64_t *roff,
                              const int64_t *toff, int T, const double *b, int nb,
                              double *c, int accumulate);

/** Packed GEMM micro-kernel: for i < mr <= MR, j < nr <= NR,
 *    C[i * rs_c + j * cs_c] (+)= sum_{p < kc} a[p * MR + i] * b[p * NR + j]
 *  a and b are packed panels, 64-byte aligned, zero beyond mr / nr;
 *  accumulate = 0 overwrites C, 1 adds to it. */
typedef void (*fc_gemm_ukr_f32_fn)(int64_t kc, const float *a, const float *b, float *c,
                                   int64_t rs_c, int64_t cs_c, int64_t mr, int64_t nr,
                                   int accumulate);
typedef void (*fc_gemm_ukr_f64_fn)(int64_t kc, const double *a, const double *b, double *c,
                                   int64_t rs_c, int64_t cs_c, int64_t mr, int64_t nr,
                                   int accumulate);

/** Winograd transforms of one panel (csrc/wino_kernels.inc), tile = output tile 2 or 4,
 *  A = tile + 2, NR = gemm_nb * VL lanes for input/output, MR = gemm_mr for filters:
 *  in:     V = B^T d B; d row i * A + j at d + (i * A + j) * NR, V row r at v + r * vs;
 *  out:    Y = A^T M A; M row r at mm + r * ms, Y row i * tile + j at y + (i * tile + j) * NR;
 *  filter: U = G g G^T of n filters side by side; tap (i, j) of filter k at
 *          g[(i * 3 + j) * gs + k], U row r at u + r * us (n elements, any alignment).
 *  Vector-aligned d, v, mm, y with vs, ms multiples of NR.
 *  gather:  patches of n <= NR tiles side by side (A elements of patch row i of tile l at
 *           rows[i] + l * tile) to d + (i * A + j) * NR + l;
 *  scatter: Y of n <= NR whole tiles side by side (element (i, j) of tile l at
 *           y + (i * tile + j) * NR + l), plus *bias unless NULL, to out[i * ow + l * tile + j],
 *           i < rows. */
typedef void (*fc_wino_in_f32_fn)(int tile, const float *d, float *v, int64_t vs);
typedef void (*fc_wino_in_f64_fn)(int tile, const double *d, double *v, int64_t vs);
typedef void (*fc_wino_out_f32_fn)(int tile, const float *mm, int64_t ms, float *y);
typedef void (*fc_wino_out_f64_fn)(int tile, const double *mm, int64_t ms, double *y);
typedef void (*fc_wino_filter_f32_fn)(int tile, const float *g, int64_t gs, int64_t n, float *u, int64_t us);
typedef void (*fc_wino_filter_f64_fn)(int tile, const double *g, int64_t gs, int64_t n, double *u, int64_t us);
typedef void (*fc_wino_gather_f32_fn)(int tile, const float *const *rows, int64_t n, float *d);
typedef void (*fc_wino_gather_f64_fn)(int tile, const double *const *rows, int64_t n, double *d);
typedef void (*fc_wino_scatter_f32_fn)(int tile, const float *y, int64_t n, int rows, const float *bias,
                                       float *out, int64_t ow);
typedef void (*fc_wino_scatter_f64_fn)(int tile, const double *y, int64_t n, int rows, const double *bias,
                                       double *out, int64_t ow);

/** One instruction set's micro-kernels and their register-tile limits. */
typedef struct fc_isa_kernels {
    int vbytes;          /** vector width in bytes: VL = vbytes / sizeof(real) */
    int nb_max;          /** most vectors per tile row */
    int tmax[5];         /** tmax[nb]: most tile rows with nb vectors */
    fc_ukr_f32_fn ukr_f32;
    fc_ukr_f64_fn ukr_f64;
    double (*probe_f32)(int64_t iters); /** 12 x VL x 2 x iters float32 flops */
    int gemm_mr;         /** GEMM tile rows (MR) */
    int gemm_nb;         /** GEMM tile width in vectors: NR = gemm_nb * VL */
    fc_gemm_ukr_f32_fn gemm_f32;
    fc_gemm_ukr_f64_fn gemm_f64;
    fc_wino_in_f32_fn wino_in_f32;
    fc_wino_in_f64_fn wino_in_f64;
    fc_wino_out_f32_fn wino_out_f32;
    fc_wino_out_f64_fn wino_out_f64;
    fc_wino_filter_f32_fn wino_filter_f32;
    fc_wino_filter_f64_fn wino_filter_f64;
    fc_wino_gather_f32_fn wino_gather_f32;
    fc_wino_gather_f64_fn wino_gather_f64;
    fc_wino_scatter_f32_fn wino_scatter_f32;
    fc_wino_scatter_f64_fn wino_scatter_f64;
} fc_isa_kernels;

extern const fc_isa_kernels fc_kernels_generic;
#if FC_X86
extern const fc_isa_kernels fc_kernels_avx2;
extern const fc_isa_kernels fc_kernels_avx512;
#endif

/** fc_f32_gemm / fc_f64_gemm on the given number of threads (1: no parallel region,
 *  for callers already inside one). */
fc_status fc_f32_gemm_threads(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs,
                              int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float *c,
                              int64_t c_rs, int64_t c_cs, int accumulate, int threads);
fc_status fc_f64_gemm_threads(int64_t m, int64_t n, int64_t k, const double *a, int64_t a_rs,
                              int64_t a_cs, const double *b, int64_t b_rs, int64_t b_cs, double *c,
                              int64_t c_rs, int64_t c_cs, int accumulate, int threads);

/* The GEMM's building blocks, for the convolutions (csrc/gemm/gemm_impl.inc).
 * A "packed" operand is cut into KC-step blocks of MR-row (A) or NR-column (B)
 * panels: the panel of rows/columns i.. in the block of steps pc.. starts at
 * pc * size_pad + i * kc, size_pad being m or n rounded up to MR or NR. */
/** Reduction steps per packed block for elements of elem_size bytes. */
int64_t fc_gemm_kc(size_t elem_size);
/** Bytes of the packed KC x NC block of B each thread keeps (in L2). */
int64_t fc_gemm_nc_bytes(void);

/** Elements of an operand of `size` rows (A) or columns (B) and k steps, packed. */
static inline int64_t fc_packed_len(int64_t panel, int64_t size, int64_t k)
{
    return (size + panel - 1) / panel * panel * k;
}
/** ap = A (m x k, strides a_rs, a_cs) packed; inside a parallel region the panels are
 *  shared out among its threads and the call ends in a barrier. */
void fc_f32_pack_a_all(const fc_isa_kernels *K, int64_t m, int64_t k, const float *a, int64_t a_rs,
                       int64_t a_cs, float *ap);
void fc_f64_pack_a_all(const fc_isa_kernels *K, int64_t m, int64_t k, const double *a, int64_t a_rs,
                       int64_t a_cs, double *ap);
/** C (m x n, row stride c_rs, unit column stride) (+)= A B, both packed, on the
 *  calling thread alone. */
void fc_f32_gemm_packed_ab(const fc_isa_kernels *K, int64_t m, int64_t n, int64_t k, const float *ap,
                           const float *bp, float *c, int64_t c_rs, int accumulate);
void fc_f64_gemm_packed_ab(const fc_isa_kernels *K, int64_t m, int64_t n, int64_t k, const double *ap,
                           const double *bp, double *c, int64_t c_rs, int accumulate);
/** Rows i0 <= i < i1 (i0 a multiple of MR) of the same, A packed with m_pad rows;
 *  c points at row i0. */
void fc_f32_gemm_packed_ab_rows(const fc_isa_kernels *K, int64_t m_pad, int64_t i0, int64_t i1, int64_t n,
                                int64_t k, const float *ap, const float *bp, float *c, int64_t c_rs,
                                int accumulate);
void fc_f64_gemm_packed_ab_rows(const fc_isa_kernels *K, int64_t m_pad, int64_t i0, int64_t i1, int64_t n,
                                int64_t k, const double *ap, const double *bp, double *c, int64_t c_rs,
                                int accumulate);
/** C (+)= A B with A packed and B strided; inside a parallel region each thread
 *  computes its own block of C (no barrier).  Returns 1 if a buffer could not be
 *  allocated, else 0. */
int fc_f32_gemm_packed_a(const fc_isa_kernels *K, int64_t m, int64_t n, int64_t k, const float *ap,
                         const float *b, int64_t b_rs, int64_t b_cs, float *c, int64_t c_rs,
                         int64_t c_cs, int accumulate);
int fc_f64_gemm_packed_a(const fc_isa_kernels *K, int64_t m, int64_t n, int64_t k, const double *ap,
                         const double *b, int64_t b_rs, int64_t b_cs, double *c, int64_t c_rs,
                         int64_t c_cs, int accumulate);

/** Kernels of the active instruction set. */
const fc_isa_kernels *fc_active_kernels(void);
/** Threads to use in parallel regions. */
int fc_threads(void);

/** 64-byte aligned allocation of n elements of size sz; NULL on failure or overflow. */
void *fc_alloc(int64_t n, size_t sz);
/** Same, zero-filled. */
void *fc_calloc(int64_t n, size_t sz);
void fc_free(void *p);

/* Plain loops (pooling) compiled for AVX2 and the baseline, chosen when the
 * library loads (GCC's ifunc-based target_clones; elsewhere just the baseline). */
#if FC_X86 && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define FC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FC_CLONES
#endif

#define FC_ALIGN 64
#define FC_MAX_TILE_BYTES 2048   /* >= tmax[nb] * nb * vbytes for every ISA (largest: 1536) */
#define FC_MAX_TILE_ROWS 16      /* >= tmax[nb] for every ISA */
#define FC_GROUP_TILES 16        /* pixel tiles one task computes together */
#define FC_KC_BYTES (128 * 1024) /* packed-weight rows per reduction chunk: stays in L2 */
#define FC_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))
#define FC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FC_MAX(a, b) ((a) > (b) ? (a) : (b))

#ifdef _OPENMP
#include <omp.h>
#define FC_THREAD_ID() omp_get_thread_num()
#define FC_THREAD_COUNT() omp_get_num_threads()
#else
#define FC_THREAD_ID() 0
#define FC_THREAD_COUNT() 1
#endif
#endif
