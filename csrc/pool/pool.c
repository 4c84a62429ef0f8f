/* Max and average pooling, forward and backward, float32 and float64. */
#include <math.h>
#include "../internal.h"

#define PL_REAL float
#define PL_INT int32_t /* an integer of PL_REAL's width, for comparison masks */
#define PL_SFX f32
#define PL_NL 8 /* lanes of a 32-byte vector */
#include "pool_impl.inc"
#undef PL_REAL
#undef PL_INT
#undef PL_SFX
#undef PL_NL

#define PL_REAL double
#define PL_INT int64_t
#define PL_SFX f64
#define PL_NL 4
#include "pool_impl.inc"
