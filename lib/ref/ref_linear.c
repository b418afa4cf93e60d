/* Reference linear layer. */
#include "ref/ref.h"

#include <stddef.h>

void lsvk_ref_linear(const float *x, const float *w, const float *b, int64_t M, int64_t N,
                     int64_t K, double *y) {
    for (int64_t m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * (size_t)K;
        for (int64_t n = 0; n < N; n++) {
            const float *wr = w + (size_t)n * (size_t)K;
            double acc = b ? (double)b[n] : 0.0;
            for (int64_t k = 0; k < K; k++) acc += (double)xr[k] * (double)wr[k];
            y[(size_t)m * (size_t)N + (size_t)n] = acc;
        }
    }
}

void lsvk_ref_to_float(const double *src, int64_t n, float *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
}
