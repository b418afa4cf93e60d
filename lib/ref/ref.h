/* CPU reference of every lsvk op: plain loops, double accumulation, double outputs. The oracle the
 * tests (and lsvk-bench) compare the device against. Not installed; not part of the public API.
 *
 * Inputs are float arrays in the same row-major layouts as the device tensors; outputs are double
 * arrays the caller owns. Shapes are int64_t counts >= 1. Outputs never alias inputs. */
#ifndef LSVK_REF_H
#define LSVK_REF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- linear (ref_linear.c) */

/* y[M,N] = x[M,K] w[N,K]^T + b[N]; b may be NULL. */
void lsvk_ref_linear(const float *x, const float *w, const float *b, int64_t M, int64_t N,
                     int64_t K, double *y);

/* ---------------------------------------------------------------- norm (ref_norm.c) */

/* LayerNorm of each of `rows` rows of C values: (x - mean) / sqrt(var + eps) * weight + bias with
 * the biased variance. weight NULL means 1, bias NULL means 0. eps is used as given. */
void lsvk_ref_layernorm(const float *x, const float *weight, const float *bias, int64_t rows,
                        int64_t C, double eps, double *y);

/* Softmax of each of `rows` rows of C values. -inf inputs get probability 0. mask may be NULL;
 * otherwise it has mask_rows rows of C values, mask_rows being 1 (one mask for every row) or rows
 * (a mask per row); entries equal to 0 are masked (treated as -inf). A row with no entry left
 * (all masked or -inf) gives zeros. */
void lsvk_ref_softmax(const float *x, const float *mask, int64_t mask_rows, int64_t rows,
                      int64_t C, double *y);

/* ---------------------------------------------------------------- activations (ref_activation.c) */

/* Exact GELU, y = x/2 (1 + erf(x / sqrt 2)), over n values. */
void lsvk_ref_gelu(const float *x, int64_t n, double *y);
/* The same for one double (for chaining references in double). */
double lsvk_ref_gelu1(double x);

/* ---------------------------------------------------------------- helpers */

/* Rounds n doubles to float (to feed one reference's output to the next, as the device would). */
void lsvk_ref_to_float(const double *src, int64_t n, float *dst);

#ifdef __cplusplus
}
#endif
#endif
