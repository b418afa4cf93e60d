/* lsvk_gelu against lsvk_ref_gelu: random inputs of several sizes (one past what a single grid
 * dimension holds), a dense sweep of [-14, 14] checked element by element (the erf
 * approximation's accuracy, tails included), special values, in place, and bad arguments. */
#include "testutil.h"
#include "ref/ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5

static tu_rng g_rng;

static lsvk_tensor *poisoned(lsvk_context *ctx, int64_t n) {
    float *nan = malloc((size_t)n * sizeof *nan);
    tu_poison(nan, (size_t)n);
    lsvk_tensor *t = tu_tensor(ctx, 1, &n, nan);
    free(nan);
    return t;
}

/* Runs gelu on x[n] (as shape [n] or [rows, n/rows]); returns the output (caller frees). */
static float *run(lsvk_context *ctx, const float *x, int64_t n, int in_place) {
    float *y = malloc((size_t)n * sizeof *y);
    lsvk_tensor *tx = tu_tensor(ctx, 1, &n, x);
    lsvk_tensor *ty = in_place ? tx : poisoned(ctx, n);
    if (!TU_OK(lsvk_gelu(NULL, tx, ty)) || !TU_OK(lsvk_tensor_download(ty, y, (size_t)n * sizeof *y)))
        tu_poison(y, (size_t)n);
    if (ty != tx) lsvk_tensor_destroy(ty);
    lsvk_tensor_destroy(tx);
    return y;
}

static void check_random(lsvk_context *ctx, int64_t n, float scale, int in_place) {
    float *x = malloc((size_t)n * sizeof *x);
    double *ref = malloc((size_t)n * sizeof *ref);
    tu_fill_randn(&g_rng, x, (size_t)n, scale);
    float *y = run(ctx, x, n, in_place);
    lsvk_ref_gelu(x, n, ref);
    double err = tu_rel_err(y, ref, (size_t)n);
    printf("gelu n=%lld scale=%g in_place=%d: rel err %.3g\n", (long long)n, scale, in_place, err);
    TU_CHECK(err <= TOL, "gelu n=%lld: rel err %g", (long long)n, err);
    free(x), free(y), free(ref);
}

/* Every element within 2e-6 of the reference, relative to itself (absolute 1e-30 where the
 * reference is that small, where fp32 runs into denormals): the erf approximation (and the
 * device's exp) hold up across the whole range, tails included. */
static void check_sweep(lsvk_context *ctx) {
    const int64_t n = 280001;
    float *x = malloc((size_t)n * sizeof *x);
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(-14.0 + 28.0 * (double)i / (double)(n - 1));
    float *y = run(ctx, x, n, 0);
    lsvk_ref_gelu(x, n, ref);
    double worst = 0;
    float at = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)y[i] - ref[i]);
        e /= fabs(ref[i]) > 1e-30 ? fabs(ref[i]) : 1e-30 / 2e-6;
        if (!(e <= worst)) { /* NaN counts as worst */
            worst = isnan(e) ? INFINITY : e;
            at = x[i];
        }
    }
    printf("gelu sweep [-14, 14]: worst element rel err %.3g at x=%.7g\n", worst, at);
    TU_CHECK(worst <= 2e-6, "gelu sweep: worst element rel err %g at x=%.9g", worst, at);
    free(x), free(y), free(ref);
}

static void check_special(lsvk_context *ctx) {
    float x[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.99999994f, -0.99999994f, 1.0000001f, -1.0000001f,
                 1e-30f, -1e-30f, 1e-8f, 20.0f, -20.0f, 1e30f, -1e30f, INFINITY, 3.4e38f, -3.4e38f};
    int64_t n = (int64_t)(sizeof x / sizeof x[0]);
    float *y = run(ctx, x, n, 0);
    for (int64_t i = 0; i < n; i++) {
        double r = lsvk_ref_gelu1((double)x[i]);
        double e = fabs((double)y[i] - r);
        int ok = fabs(r) < 1e-30 ? e <= 1e-30 : (e <= 2e-6 * fabs(r) || (isinf(r) && y[i] == (float)r));
        TU_CHECK(ok, "gelu(%.9g) = %.9g, want %.9g", x[i], y[i], r);
    }
    float nan = NAN;
    float *yn = run(ctx, &nan, 1, 0);
    TU_CHECK(isnan(yn[0]), "gelu(NaN) = %g, want NaN", yn[0]);
    free(y), free(yn);
}

static void check_bad(lsvk_context *ctx) {
    int64_t s[2] = {4, 8}, s2[2] = {8, 4};
    lsvk_tensor *x = tu_tensor(ctx, 2, s, NULL), *y = tu_tensor(ctx, 2, s2, NULL);
    TU_STATUS(lsvk_gelu(NULL, NULL, x), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_gelu(NULL, x, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_gelu(NULL, x, y), LSVK_ERROR_SHAPE);
    TU_CHECK(strstr(lsvk_last_error(), "[4,8]") && strstr(lsvk_last_error(), "[8,4]"),
             "shape message: %s", lsvk_last_error());
    lsvk_tensor_destroy(x);
    lsvk_tensor_destroy(y);
}

int main(void) {
    g_rng = tu_rng_make(tu_seed() ^ 0x47454c55ull);
    lsvk_context *ctx = tu_context();
    check_random(ctx, 1, 1, 0);
    check_random(ctx, 7, 3, 0);
    check_random(ctx, 1000, 3, 0);
    check_random(ctx, 100003, 4, 0);
    check_random(ctx, 4097, 3, 1);
    check_random(ctx, tu_randint(&g_rng, 1, 50000), 3, tu_randint(&g_rng, 0, 1));
    /* more workgroups of 128 than one grid dimension holds (65535) */
    check_random(ctx, 65535LL * 128 + 1001, 3, 1);
    check_sweep(ctx);
    check_special(ctx);
    check_bad(ctx);
    return tu_finish(ctx);
}
