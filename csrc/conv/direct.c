/* Direct convolution, forward and backward, float32 and float64. */
#include "../internal.h"

#define DR_REAL float
#define DR_SFX f32
#include "direct_impl.inc"
#undef DR_REAL
#undef DR_SFX

#define DR_REAL double
#define DR_SFX f64
#include "direct_impl.inc"
