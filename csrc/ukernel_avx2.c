/* AVX2 + FMA micro-kernels: 16 ymm registers, so up to 12 accumulators. */
#include "internal.h"
#if FC_X86
#include "ukernel_cases.h"
#define UK_ISA __avx2
#define UK_VBYTES 32
#define UK_TARGET __attribute__((target("avx2,fma")))
#define UK_TMAX 12
#define UK_NBMAX 2
#define UK_GEMM_MR 6
#define UK_GEMM_NB 2
#define UK_CASES UK_T12(1) UK_T6(2)

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

const fc_isa_kernels fc_kernels_avx2 = {32, 2, {0, 12, 6, 0, 0}, fc_ukr_f32__avx2,
                                        fc_ukr_f64__avx2, fc_probe_f32__avx2,
    UK_GEMM_MR, UK_GEMM_NB, fc_gemm_ukr_f32__avx2, fc_gemm_ukr_f64__avx2,
    fc_wino_in_f32__avx2, fc_wino_in_f64__avx2, fc_wino_out_f32__avx2, fc_wino_out_f64__avx2,
    fc_wino_filter_f32__avx2, fc_wino_filter_f64__avx2,
    fc_wino_gather_f32__avx2, fc_wino_gather_f64__avx2, fc_wino_scatter_f32__avx2, fc_wino_scatter_f64__avx2};
#endif
