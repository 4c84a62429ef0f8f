/* Winograd convolution F(2x2,3x3) and F(4x4,3x3), float32 and float64. */
#include <string.h>
#include "../internal.h"

#define WN_REAL float
#define WN_SFX f32
#include "winograd_impl.inc"
#undef WN_REAL
#undef WN_SFX

#define WN_REAL double
#define WN_SFX f64
#include "winograd_impl.inc"
