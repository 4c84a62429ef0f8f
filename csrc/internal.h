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

/** One instruction set's micro-kernels and their register-tile limits. */
typedef struct fc_isa_kernels {
    int vbytes;          /** vector width in bytes: VL = vbytes / sizeof(real) */
    int nb_max;          /** most vectors per tile row */
    int tmax[5];         /** tmax[nb]: most tile rows with nb vectors */
    fc_ukr_f32_fn ukr_f32;
    fc_ukr_f64_fn ukr_f64;
    double (*probe_f32)(int64_t iters); /** 12 x VL x 2 x iters float32 flops */
} fc_isa_kernels;

extern const fc_isa_kernels fc_kernels_generic;
#if FC_X86
extern const fc_isa_kernels fc_kernels_avx2;
extern const fc_isa_kernels fc_kernels_avx512;
#endif

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
