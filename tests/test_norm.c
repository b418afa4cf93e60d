/* lsvk_layernorm against lsvk_ref_layernorm: edge and odd shapes, long rows, rows far from zero,
 * every weight/bias combination, eps, in place, more rows than one grid dimension holds, tensors
 * past the bytes of one binding (LSVK_BINDING_LIMIT) in row bands, and bad arguments. */
#include "testutil.h"
#include "ref/ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5

static tu_rng g_rng;

static int64_t numel_of(uint32_t rank, const int64_t *shape) {
    int64_t n = 1;
    for (uint32_t i = 0; i < rank; i++) n *= shape[i];
    return n;
}


enum { HAS_W = 1, HAS_B = 2, IN_PLACE = 4 };

/* offset shifts x away from zero (the mean the kernel has to remove accurately). */
static void check_ln(lsvk_context *ctx, uint32_t rank, const int64_t *shape, int flags, float eps,
                     float offset) {
    int64_t n = numel_of(rank, shape), C = shape[rank - 1], rows = n / C;
    float *x = malloc((size_t)n * sizeof *x), *w = malloc((size_t)C * sizeof *w);
    float *b = malloc((size_t)C * sizeof *b), *y = malloc((size_t)n * sizeof *y);
    double *ref = malloc((size_t)n * sizeof *ref);
    tu_fill_randn(&g_rng, x, (size_t)n, 2.0f);
    for (int64_t i = 0; i < n; i++) x[i] += offset;
    tu_fill_randn(&g_rng, w, (size_t)C, 1.0f);
    tu_fill_randn(&g_rng, b, (size_t)C, 1.0f);

    lsvk_tensor *tx = tu_tensor(ctx, rank, shape, x);
    lsvk_tensor *tw = flags & HAS_W ? tu_tensor(ctx, 1, &C, w) : NULL;
    lsvk_tensor *tb = flags & HAS_B ? tu_tensor(ctx, 1, &C, b) : NULL;
    lsvk_tensor *ty = flags & IN_PLACE ? tx : tu_poisoned(ctx, rank, shape);
    char what[160];
    snprintf(what, sizeof what, "rows=%lld C=%lld rank=%u weight=%d bias=%d in_place=%d eps=%g offset=%g",
             (long long)rows, (long long)C, rank, !!(flags & HAS_W), !!(flags & HAS_B),
             !!(flags & IN_PLACE), eps, offset);
    if (TU_OK(lsvk_layernorm(NULL, tx, tw, tb, eps, ty)) &&
        TU_OK(lsvk_tensor_download(ty, y, (size_t)n * sizeof *y))) {
        lsvk_ref_layernorm(x, flags & HAS_W ? w : NULL, flags & HAS_B ? b : NULL, rows, C,
                           eps > 0 ? (double)eps : 1e-5, ref);
        double err = tu_rel_err(y, ref, (size_t)n);
        printf("layernorm %s: rel err %.3g\n", what, err);
        TU_CHECK(err <= TOL, "layernorm %s: rel err %g", what, err);
    }
    if (ty != tx) lsvk_tensor_destroy(ty);
    lsvk_tensor_destroy(tx);
    lsvk_tensor_destroy(tw);
    lsvk_tensor_destroy(tb);
    free(x), free(w), free(b), free(y), free(ref);
}

static void check_shapes(lsvk_context *ctx) {
    const int all = HAS_W | HAS_B;
    check_ln(ctx, 1, (int64_t[]){1}, all, 0, 0);
    check_ln(ctx, 2, (int64_t[]){1, 1}, 0, 0, 0);
    check_ln(ctx, 2, (int64_t[]){3, 7}, all, 0, 0);
    for (int f = 0; f < 4; f++) check_ln(ctx, 2, (int64_t[]){5, 33}, f, 0, 0);
    check_ln(ctx, 3, (int64_t[]){2, 9, 1000}, all, 0, 0);
    check_ln(ctx, 2, (int64_t[]){4, 5000}, all, 0, 0);
    check_ln(ctx, 2, (int64_t[]){3, 4097}, HAS_W, 0, 0);
    check_ln(ctx, 2, (int64_t[]){6, 2999}, all, 0, 100.0f);
    check_ln(ctx, 2, (int64_t[]){7, 257}, all, 1e-2f, 0);
    check_ln(ctx, 4, (int64_t[]){2, 3, 4, 129}, all | IN_PLACE, 0, 0);
    check_ln(ctx, 2, (int64_t[]){3, 1500}, IN_PLACE, 0, 3.0f);
    /* more rows than one grid dimension holds (65535) */
    check_ln(ctx, 2, (int64_t[]){70001, 3}, all, 0, 0);
    for (int i = 0; i < 5; i++) {
        uint32_t rank = (uint32_t)tu_randint(&g_rng, 1, 3);
        int64_t shape[3];
        for (uint32_t d = 0; d + 1 < rank; d++) shape[d] = tu_randint(&g_rng, 1, 12);
        shape[rank - 1] = tu_randint(&g_rng, 1, 3000);
        check_ln(ctx, rank, shape, tu_randint(&g_rng, 0, 7), 0, 0);
    }
}

/* x (and y) past the bytes one binding covers: rows in bands of counts off every workgroup size,
 * in place and not, both kernels; a row past the limit refused. */
static void check_bands(lsvk_context *ctx) {
    const int all = HAS_W | HAS_B;
    static const char *kernels[] = {"rows", "tree"};
    for (int k = 0; k < 2; k++) {
        tu_setenv("LSVK_LAYERNORM", kernels[k]);
        tu_setenv("LSVK_BINDING_LIMIT", "4096");
        check_ln(ctx, 2, (int64_t[]){1000, 37}, all, 0, 0);
        check_ln(ctx, 3, (int64_t[]){3, 333, 53}, all | IN_PLACE, 0, 0);
        check_ln(ctx, 2, (int64_t[]){2001, 5}, HAS_W, 0, 0);
        check_ln(ctx, 2, (int64_t[]){37, 960}, all | IN_PLACE, 0, 0); /* one row per band */
        tu_setenv("LSVK_BINDING_LIMIT", "20000");
        check_ln(ctx, 2, (int64_t[]){3000, 96}, all | IN_PLACE, 0, 0);
        check_ln(ctx, 2, (int64_t[]){1500, 130}, 0, 0, 100.0f);
        check_ln(ctx, 2, (int64_t[]){5, 4930}, HAS_B, 0, 0); /* one row per band */
        tu_setenv("LSVK_BINDING_LIMIT", "65536");
        check_ln(ctx, 2, (int64_t[]){70001, 3}, all, 0, 0);
        check_ln(ctx, 3, (int64_t[]){2, 1000, 37}, all | IN_PLACE, 1e-2f, 0);
    }
    tu_setenv("LSVK_LAYERNORM", NULL);
    /* a row past the limit: refused, with or without weight (which is as wide), in place too */
    tu_setenv("LSVK_BINDING_LIMIT", "4096");
    int64_t xs[2] = {3, 1100}, c = 1100;
    lsvk_tensor *x = tu_tensor(ctx, 2, xs, NULL), *y = tu_tensor(ctx, 2, xs, NULL), *w = tu_tensor(ctx, 1, &c, NULL);
    TU_STATUS(lsvk_layernorm(NULL, x, NULL, NULL, 0, y), LSVK_ERROR_LIMIT_EXCEEDED);
    TU_STATUS(lsvk_layernorm(NULL, x, NULL, NULL, 0, x), LSVK_ERROR_LIMIT_EXCEEDED);
    TU_STATUS(lsvk_layernorm(NULL, x, w, w, 0, y), LSVK_ERROR_LIMIT_EXCEEDED);
    tu_setenv("LSVK_BINDING_LIMIT", NULL);
    lsvk_tensor_destroy(x), lsvk_tensor_destroy(y), lsvk_tensor_destroy(w);
}

static void check_bad(lsvk_context *ctx) {
    int64_t xs[2] = {4, 8}, ys_bad[2] = {4, 7}, ys_rank[3] = {1, 4, 8}, c = 8, c_bad = 7;
    lsvk_tensor *x = tu_tensor(ctx, 2, xs, NULL), *y = tu_tensor(ctx, 2, xs, NULL);
    lsvk_tensor *w = tu_tensor(ctx, 1, &c, NULL), *w_bad = tu_tensor(ctx, 1, &c_bad, NULL);
    lsvk_tensor *y_bad = tu_tensor(ctx, 2, ys_bad, NULL), *y_rank = tu_tensor(ctx, 3, ys_rank, NULL);
    TU_STATUS(lsvk_layernorm(NULL, NULL, w, w, 0, y), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_layernorm(NULL, x, w, w, 0, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_layernorm(NULL, x, w, w, 0, y_bad), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_layernorm(NULL, x, w, w, 0, y_rank), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_layernorm(NULL, x, w_bad, NULL, 0, y), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_layernorm(NULL, x, NULL, w_bad, 0, y), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_layernorm(NULL, x, x, NULL, 0, y), LSVK_ERROR_SHAPE);
    lsvk_layernorm(NULL, x, w, w, 0, y_bad);
    TU_CHECK(strstr(lsvk_last_error(), "[4,8]") && strstr(lsvk_last_error(), "[4,7]"),
             "shape message: %s", lsvk_last_error());
    lsvk_tensor *ts[] = {x, y, w, w_bad, y_bad, y_rank};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lsvk_tensor_destroy(ts[i]);
}

int main(void) {
    g_rng = tu_rng_make(tu_seed() ^ 0x4e4f524dull);
    lsvk_context *ctx = tu_context();
    check_shapes(ctx);
    check_bands(ctx);
    check_bad(ctx);
    return tu_finish(ctx);
}
