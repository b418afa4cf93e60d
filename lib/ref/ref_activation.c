/* Reference activations. */
#include "ref/ref.h"

#include <math.h>

/* erfc form: no cancellation for large negative x, where 1 + erf(x/sqrt 2) would lose digits. */
double lsvk_ref_gelu1(double x) { return 0.5 * x * erfc(-x * 0.70710678118654752440); }

void lsvk_ref_gelu(const float *x, int64_t n, double *y) {
    for (int64_t i = 0; i < n; i++) y[i] = lsvk_ref_gelu1((double)x[i]);
}
