/* AVX-512F micro-kernels: 32 zmm registers, so up to 28 accumulators. */
#include "internal.h"
#if FC_X86
#include "ukernel_cases.h"
#define UK_ISA __avx512
#define UK_VBYTES 64
#define UK_TARGET __attribute__((target("avx512f,avx2,fma")))
#define UK_TMAX 12
#define UK_NBMAX 4
#define UK_GEMM_MR 14
#define UK_GEMM_NB 2
#define UK_CASES UK_T12(1) UK_T12(2) UK_T8(3) UK_T6(4)

#define UK_REAL float
#define UK_SFX f32
#define UK_WITH_PROBE
#include "ukernel.inc"
#include "wino_kernels.inc"
#undef UK_WITH_PROBE
#undef UK_REAL
#undef UK_SFX

#define UK_REAL double
#define UK_SFX f64
#include "ukernel.inc"
#include "wino_kernels.inc"

const fc_isa_kernels fc_kernels_avx512 = {64, 4, {0, 12, 12, 8, 6}, fc_ukr_f32__avx512,
                                          fc_ukr_f64__avx512, fc_probe_f32__avx512,
    UK_GEMM_MR, UK_GEMM_NB, fc_gemm_ukr_f32__avx512, fc_gemm_ukr_f64__avx512,
    fc_wino_in_f32__avx512, fc_wino_in_f64__avx512, fc_wino_out_f32__avx512, fc_wino_out_f64__avx512,
    fc_wino_filter_f32__avx512, fc_wino_filter_f64__avx512,
    fc_wino_gather_f32__avx512, fc_wino_gather_f64__avx512,
    fc_wino_scatter_f32__avx512, fc_wino_scatter_f64__avx512};
#endif
