/* Instruction-set choice, thread count and aligned allocation. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static int g_isa_active = -1;
static int g_threads = 1;

int fc_isa_detected(void)
{
#if FC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return FC_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return FC_ISA_AVX2;
#endif
    return FC_ISA_GENERIC;
}

int fc_isa_active(void)
{
    int isa = __atomic_load_n(&g_isa_active, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = fc_isa_detected();
        __atomic_store_n(&g_isa_active, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

int fc_isa_select(int isa)
{
    if (isa < FC_ISA_GENERIC || isa > fc_isa_detected()) return -1;
    __atomic_store_n(&g_isa_active, isa, __ATOMIC_RELAXED);
    return 0;
}

const fc_isa_kernels *fc_active_kernels(void)
{
    switch (fc_isa_active()) {
#if FC_X86
    case FC_ISA_AVX512: return &fc_kernels_avx512;
    case FC_ISA_AVX2: return &fc_kernels_avx2;
#endif
    default: return &fc_kernels_generic;
    }
}

void fc_set_num_threads(int n)
{
    __atomic_store_n(&g_threads, n < 1 ? 1 : n, __ATOMIC_RELAXED);
}

int fc_get_num_threads(void) { return __atomic_load_n(&g_threads, __ATOMIC_RELAXED); }

int fc_threads(void) { return fc_get_num_threads(); }

/* GEMM blocking; read at every call, so a benchmark can compare settings in one
 * process.  Defaults measured on a 2-core AVX-512 VM (see fc_gemm_blocking). */
static int64_t g_gemm_kc[2] = {256, 256}; /* float32, float64 */
static int64_t g_gemm_nc_bytes = 1024 * 1024;

int64_t fc_gemm_kc(size_t elem_size) { return g_gemm_kc[elem_size == 8]; }
int64_t fc_gemm_nc_bytes(void) { return g_gemm_nc_bytes; }

void fc_gemm_blocking(int64_t kc_f32, int64_t kc_f64, int64_t nc_bytes)
{
    if (kc_f32 > 0) g_gemm_kc[0] = kc_f32;
    if (kc_f64 > 0) g_gemm_kc[1] = kc_f64;
    if (nc_bytes > 0) g_gemm_nc_bytes = nc_bytes;
}

int fc_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Fault injection and leak accounting for the tests (fc_fail_allocations_after,
 * fc_live_allocations): atomics, as kernels allocate from several threads. */
static int64_t g_fail_after = -1; /* allocations left before failures start; -1: never */
static int64_t g_allocations;     /* since the last fc_fail_allocations_after */
static int64_t g_live;

void fc_fail_allocations_after(int64_t k)
{
    __atomic_store_n(&g_allocations, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_fail_after, k < 0 ? -1 : k, __ATOMIC_SEQ_CST);
}

int64_t fc_live_allocations(void) { return __atomic_load_n(&g_live, __ATOMIC_SEQ_CST); }

void *fc_alloc(int64_t n, size_t sz)
{
    if (n < 0 || (n > 0 && (uint64_t)n > (SIZE_MAX - FC_ALIGN) / sz)) return NULL;
    const int64_t fail_after = __atomic_load_n(&g_fail_after, __ATOMIC_RELAXED);
    if (fail_after >= 0 && __atomic_fetch_add(&g_allocations, 1, __ATOMIC_RELAXED) >= fail_after) return NULL;
    size_t bytes = (size_t)n * sz;
    bytes = (bytes + FC_ALIGN - 1) / FC_ALIGN * FC_ALIGN;
    if (bytes == 0) bytes = FC_ALIGN;
    void *p = NULL;
    if (posix_memalign(&p, FC_ALIGN, bytes) != 0) return NULL;
    __atomic_fetch_add(&g_live, 1, __ATOMIC_RELAXED);
    return p;
}

void *fc_calloc(int64_t n, size_t sz)
{
    void *p = fc_alloc(n, sz);
    if (p) memset(p, 0, (size_t)n * sz);
    return p;
}

void fc_free(void *p)
{
    if (p) __atomic_fetch_sub(&g_live, 1, __ATOMIC_RELAXED);
    free(p);
}

double fc_fma_probe(int64_t iters)
{
    const fc_isa_kernels *k = fc_active_kernels();
    int used = 1;
    volatile double sink = 0;
#pragma omp parallel num_threads(fc_threads()) reduction(+ : sink)
    {
#pragma omp single
        used = FC_THREAD_COUNT();
        sink += k->probe_f32(iters);
    }
    (void)sink;
    return 2.0 * 12 * (k->vbytes / 4) * (double)iters * used;
}
