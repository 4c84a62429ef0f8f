/* Packed GEMM (BLIS's five loops around the micro-kernel), float32 and float64. */
#include <string.h>
#include "../internal.h"

#define GM_REAL float
#define GM_SFX f32
#include "gemm_impl.inc"
#undef GM_REAL
#undef GM_SFX

#define GM_REAL double
#define GM_SFX f64
#include "gemm_impl.inc"
