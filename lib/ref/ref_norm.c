/* Reference LayerNorm and softmax. */
#include "ref/ref.h"

#include <math.h>
#include <stddef.h>

void lsvk_ref_layernorm(const float *x, const float *weight, const float *bias, int64_t rows,
                        int64_t C, double eps, double *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * (size_t)C;
        double *yr = y + (size_t)r * (size_t)C;
        double mean = 0;
        for (int64_t c = 0; c < C; c++) mean += xr[c];
        mean /= (double)C;
        double var = 0;
        for (int64_t c = 0; c < C; c++) {
            double d = xr[c] - mean;
            var += d * d;
        }
        var /= (double)C;
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t c = 0; c < C; c++) {
            double v = (xr[c] - mean) * inv;
            if (weight) v *= weight[c];
            if (bias) v += bias[c];
            yr[c] = v;
        }
    }
}

void lsvk_ref_softmax(const float *x, const float *mask, int64_t mask_rows, int64_t rows,
                      int64_t C, double *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * (size_t)C;
        const float *mr = NULL;
        if (mask) mr = mask + (mask_rows == 1 ? 0 : (size_t)r * (size_t)C);
        double *yr = y + (size_t)r * (size_t)C;
        double mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) {
            if (mr && mr[c] == 0.0f) continue;
            if ((double)xr[c] > mx) mx = xr[c];
        }
        if (mx == -INFINITY) {
            for (int64_t c = 0; c < C; c++) yr[c] = 0.0;
            continue;
        }
        double sum = 0;
        for (int64_t c = 0; c < C; c++) {
            double e = (mr && mr[c] == 0.0f) || xr[c] == -INFINITY ? 0.0 : exp((double)xr[c] - mx);
            yr[c] = e;
            sum += e;
        }
        for (int64_t c = 0; c < C; c++) yr[c] /= sum;
    }
}
