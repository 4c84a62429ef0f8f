/* Max and average pooling, forward and backward, float32 and float64. */
#include <math.h>
#include "../internal.h"

#define PL_REAL float
#define PL_SFX f32
#include "pool_impl.inc"
#undef PL_REAL
#undef PL_SFX

#define PL_REAL double
#define PL_SFX f64
#include "pool_impl.inc"
