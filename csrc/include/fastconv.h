/* fastconv C interface: the one header.  build_ffi.py feeds everything between
 * the CDEF markers to cffi, so keep that part free of preprocessor lines.
 *
 * Conventions: arrays are NCHW, float32 ("f32") or float64 ("f64"); every size,
 * offset and stride is int64_t and counts elements, not bytes; kernels never
 * print, abort or allocate on the caller's behalf: they return an fc_status. */
#ifndef FASTCONV_H
#define FASTCONV_H
#include <stdint.h>

/* CDEF-BEGIN */
/** Result of every kernel call. */
typedef enum fc_status {
    FC_OK = 0,            /** success */
    FC_ERR_NOMEM = 1,     /** a workspace allocation failed; outputs are unspecified */
    FC_ERR_ARGS = 2       /** inconsistent geometry (a bug in the caller: Python validates first) */
} fc_status;

/** Instruction sets a micro-kernel can be built for, best last. */
typedef enum fc_isa {
    FC_ISA_GENERIC = 0,   /** portable C vector code (SSE2 on x86-64) */
    FC_ISA_AVX2 = 1,      /** AVX2 + FMA, 8 x f32 lanes */
    FC_ISA_AVX512 = 2     /** AVX-512F, 16 x f32 lanes */
} fc_isa;

/** Geometry of one 2-D convolution, normalized by fastconv/_params.py.
 *  The padded input is hp x wp; map_h/map_w (lengths hp, wp) send each padded
 *  row/column to its source row/column, or -1 for a zero. */
typedef struct fc_conv_geom {
    int64_t n, c_in, h, w;      /** input batch, channels, height, width */
    int64_t c_out, kh, kw;      /** output channels, kernel height and width */
    int64_t oh, ow;             /** output height and width */
    int64_t sh, sw, dh, dw;     /** stride and dilation (>= 1) */
    int64_t hp, wp;             /** padded input height and width */
    int64_t groups;             /** c_in and c_out are multiples of groups */
} fc_conv_geom;

/** Best instruction set this CPU and build support. */
int fc_isa_detected(void);
/** Instruction set the kernels use now. */
int fc_isa_active(void);
/** Use instruction set isa (<= fc_isa_detected()); returns 0, or -1 if unavailable. */
int fc_isa_select(int isa);
/** Threads every parallel kernel uses from now on (n >= 1). */
void fc_set_num_threads(int n);
/** Threads set by fc_set_num_threads. */
int fc_get_num_threads(void);
/** 1 if the build has OpenMP, else 0 (then every kernel runs on one thread). */
int fc_openmp_enabled(void);
/** Run iters rounds of 12 independent float32 FMA chains of the active ISA on every
 *  thread; returns the flops done (the caller times the call). */
double fc_fma_probe(int64_t iters);
/** Testing hook: after k more workspace allocations succeed, every later one fails
 *  (as if memory ran out) until the next call; k < 0 turns failures off. */
void fc_fail_allocations_after(int64_t k);
/** Workspace blocks allocated and not yet freed (0 between kernel calls). */
int64_t fc_live_allocations(void);

/** y = conv(x, w) + bias: x is n x c_in x h x w with element strides xs[4] (any sign),
 *  w is contiguous c_out x c_in/groups x kh x kw, bias is c_out or NULL,
 *  y is contiguous n x c_out x oh x ow and is overwritten. */
fc_status fc_f32_conv2d_fwd_direct(const fc_conv_geom *g, const float *x, const int64_t *xs,
                                   const int64_t *map_h, const int64_t *map_w,
                                   const float *w, const float *bias, float *y);
/** float64 twin of fc_f32_conv2d_fwd_direct. */
fc_status fc_f64_conv2d_fwd_direct(const fc_conv_geom *g, const double *x, const int64_t *xs,
                                   const int64_t *map_h, const int64_t *map_w,
                                   const double *w, const double *bias, double *y);
/** gx = d(loss)/dx from gy (contiguous n x c_out x oh x ow) and w; gx is contiguous
 *  n x c_in x h x w and is overwritten; padding gradients fold back through the maps. */
fc_status fc_f32_conv2d_bwd_data_direct(const fc_conv_geom *g, const float *gy,
                                        const float *w, const int64_t *map_h,
                                        const int64_t *map_w, float *gx);
/** float64 twin of fc_f32_conv2d_bwd_data_direct. */
fc_status fc_f64_conv2d_bwd_data_direct(const fc_conv_geom *g, const double *gy,
                                        const double *w, const int64_t *map_h,
                                        const int64_t *map_w, double *gx);
/** gw = d(loss)/dw (contiguous, overwritten) from gy (contiguous) and x (strides xs);
 *  gb = gy summed over n, oh, ow (c_out entries, overwritten) unless gb is NULL;
 *  gw may be NULL when only gb is wanted. */
fc_status fc_f32_conv2d_bwd_filter_direct(const fc_conv_geom *g, const float *gy,
                                          const float *x, const int64_t *xs,
                                          const int64_t *map_h, const int64_t *map_w,
                                          float *gw, float *gb);
/** float64 twin of fc_f32_conv2d_bwd_filter_direct. */
fc_status fc_f64_conv2d_bwd_filter_direct(const fc_conv_geom *g, const double *gy,
                                          const double *x, const int64_t *xs,
                                          const int64_t *map_h, const int64_t *map_w,
                                          double *gw, double *gb);
/** y = conv(x, w) + bias by im2col + GEMM, arguments as fc_f32_conv2d_fwd_direct;
 *  the weights are packed whole, and the column chunks fit in what `workspace`
 *  bytes leave of that (at least one register-tile panel of columns per thread). */
fc_status fc_f32_conv2d_fwd_im2col(const fc_conv_geom *g, const float *x, const int64_t *xs,
                                   const int64_t *map_h, const int64_t *map_w,
                                   const float *w, const float *bias, float *y, int64_t workspace);
/** float64 twin of fc_f32_conv2d_fwd_im2col. */
fc_status fc_f64_conv2d_fwd_im2col(const fc_conv_geom *g, const double *x, const int64_t *xs,
                                   const int64_t *map_h, const int64_t *map_w,
                                   const double *w, const double *bias, double *y, int64_t workspace);
/** gx by GEMM + col2im, arguments as fc_f32_conv2d_bwd_data_direct, workspace as
 *  fc_f32_conv2d_fwd_im2col. */
fc_status fc_f32_conv2d_bwd_data_im2col(const fc_conv_geom *g, const float *gy, const float *w,
                                        const int64_t *map_h, const int64_t *map_w, float *gx,
                                        int64_t workspace);
/** float64 twin of fc_f32_conv2d_bwd_data_im2col. */
fc_status fc_f64_conv2d_bwd_data_im2col(const fc_conv_geom *g, const double *gy, const double *w,
                                        const int64_t *map_h, const int64_t *map_w, double *gx,
                                        int64_t workspace);
/** gw (contiguous, overwritten) by im2col + GEMM over the batch, arguments as
 *  fc_f32_conv2d_bwd_filter_direct (no bias: that one computes gb), workspace as
 *  fc_f32_conv2d_fwd_im2col (it also holds each extra thread's copy of gw). */
fc_status fc_f32_conv2d_bwd_filter_im2col(const fc_conv_geom *g, const float *gy, const float *x,
                                          const int64_t *xs, const int64_t *map_h,
                                          const int64_t *map_w, float *gw, int64_t workspace);
/** float64 twin of fc_f32_conv2d_bwd_filter_im2col. */
fc_status fc_f64_conv2d_bwd_filter_im2col(const fc_conv_geom *g, const double *gy, const double *x,
                                          const int64_t *xs, const int64_t *map_h,
                                          const int64_t *map_w, double *gw, int64_t workspace);
/** y = conv(x, w) + bias by Winograd F(tile x tile, 3x3), tile 2 or 4, arguments as
 *  fc_f32_conv2d_fwd_im2col but for w: tap t (row-major) of the filter of output channel
 *  k, input channel c of group grp (channels counted within the group) at
 *  w[grp * ws[0] + k * ws[1] + c * ws[2] + t * ws[3]], any signs (backward-data reads the
 *  forward's weights turned 180 degrees, channels swapped).  3x3 kernel, stride 1,
 *  dilation 1 only (else FC_ERR_ARGS).  Output channels go in blocks whose transformed
 *  filters take at most half of `workspace` (at least one register-tile panel). */
fc_status fc_f32_conv2d_fwd_winograd(const fc_conv_geom *g, int tile, const float *x, const int64_t *xs,
                                     const int64_t *map_h, const int64_t *map_w, const float *w,
                                     const int64_t *ws, const float *bias, float *y, int64_t workspace);
/** float64 twin of fc_f32_conv2d_fwd_winograd. */
fc_status fc_f64_conv2d_fwd_winograd(const fc_conv_geom *g, int tile, const double *x, const int64_t *xs,
                                     const int64_t *map_h, const int64_t *map_w, const double *w,
                                     const int64_t *ws, const double *bias, double *y, int64_t workspace);
/** C = A B, or C += A B when accumulate is 1: A is m x k, B is k x n, C is m x n,
 *  each addressed by element strides (row, column) of any sign; C must not overlap
 *  A or B.  The packed GEMM of csrc/gemm, on fc_get_num_threads() threads. */
fc_status fc_f32_gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs,
                      int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float *c,
                      int64_t c_rs, int64_t c_cs, int accumulate);
/** float64 twin of fc_f32_gemm. */
fc_status fc_f64_gemm(int64_t m, int64_t n, int64_t k, const double *a, int64_t a_rs,
                      int64_t a_cs, const double *b, int64_t b_rs, int64_t b_cs, double *c,
                      int64_t c_rs, int64_t c_cs, int accumulate);
/** Set the GEMM's blocking (a value <= 0 keeps the current one): reduction steps
 *  per packed block for float32 and float64, and bytes of each thread's packed B
 *  block.  For benchmarks that compare settings; the defaults are measured. */
void fc_gemm_blocking(int64_t kc_f32, int64_t kc_f64, int64_t nc_bytes);
/** Geometry of one 2-D pooling.  Output row i reads input rows
 *  row_start[i] + a * step_h for a < row_count[i] (all inside the input); columns
 *  likewise.  The tables are built by fastconv/_params.py for regular, dilated,
 *  padded, ceil-mode and adaptive windows alike. */
typedef struct fc_pool_geom {
    int64_t n, c, h, w;         /** input batch, channels, height, width */
    int64_t oh, ow;             /** output height and width */
    int64_t step_h, step_w;     /** distance between taps (the dilation) */
} fc_pool_geom;

/** y = max over each window of x (strides xs[4], any sign); a later tap wins when
 *  greater or NaN (so ties keep the first, and NaN propagates); idx (or NULL)
 *  receives the winner's h * w_in + w.  y, idx contiguous n x c x oh x ow. */
fc_status fc_f32_maxpool2d_fwd(const fc_pool_geom *g, const float *x, const int64_t *xs,
                               const int64_t *row_start, const int64_t *row_count,
                               const int64_t *col_start, const int64_t *col_count,
                               float *y, int64_t *idx);
/** float64 twin of fc_f32_maxpool2d_fwd. */
fc_status fc_f64_maxpool2d_fwd(const fc_pool_geom *g, const double *x, const int64_t *xs,
                               const int64_t *row_start, const int64_t *row_count,
                               const int64_t *col_start, const int64_t *col_count,
                               double *y, int64_t *idx);
/** gx (contiguous, overwritten) = gy scattered to the flat plane positions idx
 *  (each in [0, h * w), checked by the caller); one thread per plane, so no races. */
fc_status fc_f32_maxpool2d_bwd(const fc_pool_geom *g, const float *gy, const int64_t *idx, float *gx);
/** float64 twin of fc_f32_maxpool2d_bwd. */
fc_status fc_f64_maxpool2d_bwd(const fc_pool_geom *g, const double *gy, const int64_t *idx, double *gx);
/** y = sum over each window of x, times inv_div[i * ow + j] (float64). */
fc_status fc_f32_avgpool2d_fwd(const fc_pool_geom *g, const float *x, const int64_t *xs,
                               const int64_t *row_start, const int64_t *row_count,
                               const int64_t *col_start, const int64_t *col_count,
                               const double *inv_div, float *y);
/** float64 twin of fc_f32_avgpool2d_fwd. */
fc_status fc_f64_avgpool2d_fwd(const fc_pool_geom *g, const double *x, const int64_t *xs,
                               const int64_t *row_start, const int64_t *row_count,
                               const int64_t *col_start, const int64_t *col_count,
                               const double *inv_div, double *y);
/** gx (contiguous, overwritten) = each gy[i][j] * inv_div[i * ow + j] added to its window. */
fc_status fc_f32_avgpool2d_bwd(const fc_pool_geom *g, const float *gy,
                               const int64_t *row_start, const int64_t *row_count,
                               const int64_t *col_start, const int64_t *col_count,
                               const double *inv_div, float *gx);
/** float64 twin of fc_f32_avgpool2d_bwd. */
fc_status fc_f64_avgpool2d_bwd(const fc_pool_geom *g, const double *gy,
                               const int64_t *row_start, const int64_t *row_count,
                               const int64_t *col_start, const int64_t *col_count,
                               const double *inv_div, double *gx);
/* CDEF-END */

#endif
