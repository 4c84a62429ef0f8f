/* Portable micro-kernels: 16-byte vectors (SSE2 on x86-64, NEON elsewhere, or
 * scalar code where the target has no vectors). */
#include "internal.h"
#include "ukernel_cases.h"
#define UK_ISA __generic
#define UK_VBYTES 16
#define UK_TARGET
#define UK_TMAX 10
#define UK_NBMAX 2
#define UK_GEMM_MR 6
#define UK_GEMM_NB 2
#define UK_CASES UK_T10(1) UK_T5(2)

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

const fc_isa_kernels fc_kernels_generic = {16, 2, {0, 10, 5, 0, 0}, fc_ukr_f32__generic,
                                           fc_ukr_f64__generic, fc_probe_f32__generic,
    UK_GEMM_MR, UK_GEMM_NB, fc_gemm_ukr_f32__generic, fc_gemm_ukr_f64__generic,
    fc_wino_in_f32__generic, fc_wino_in_f64__generic, fc_wino_out_f32__generic, fc_wino_out_f64__generic,
    fc_wino_filter_f32__generic, fc_wino_filter_f64__generic,
    fc_wino_gather_f32__generic, fc_wino_gather_f64__generic,
    fc_wino_scatter_f32__generic, fc_wino_scatter_f64__generic};
