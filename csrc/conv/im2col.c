/* Convolution by im2col + the packed GEMM, forward and backward, float32 and float64. */
#include "../internal.h"

#define IM_REAL float
#define IM_SFX f32
#include "im2col_impl.inc"
#undef IM_REAL
#undef IM_SFX

#define IM_REAL double
#define IM_SFX f64
#include "im2col_impl.inc"
