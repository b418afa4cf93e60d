/* lsvk_softmax against lsvk_ref_softmax: edge and odd shapes, long rows, large logits, -inf
 * inputs, masks of both shapes, fully masked and all -inf rows, in place, more rows than one grid
 * dimension holds, and bad arguments. */
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


enum {
    MASK_FULL = 1,   /* mask with x's shape */
    MASK_ROW = 2,    /* mask [C] */
    NEG_INF = 4,     /* some inputs -inf */
    DEAD_ROWS = 8,   /* row 0 fully masked (or all -inf without a mask), last row all -inf */
    IN_PLACE = 16
};

static void check_sm(lsvk_context *ctx, uint32_t rank, const int64_t *shape, int flags, float scale) {
    int64_t n = numel_of(rank, shape), C = shape[rank - 1], rows = n / C;
    int64_t mn = flags & MASK_FULL ? n : flags & MASK_ROW ? C : 0;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    float *mask = mn ? malloc((size_t)mn * sizeof *mask) : NULL;
    double *ref = malloc((size_t)n * sizeof *ref);
    tu_fill_randn(&g_rng, x, (size_t)n, scale);
    if (flags & NEG_INF)
        for (int64_t i = 0; i < n; i++)
            if (tu_uniform(&g_rng) < 0.2) x[i] = -INFINITY;
    for (int64_t i = 0; i < mn; i++) /* 0 masks; any other value (not only 1) keeps */
        mask[i] = tu_uniform(&g_rng) < 0.3 ? 0.0f : (float)tu_randint(&g_rng, 1, 3);
    if (flags & DEAD_ROWS) {
        if (flags & MASK_FULL)
            for (int64_t c = 0; c < C; c++) mask[c] = 0.0f;
        else
            for (int64_t c = 0; c < C; c++) x[c] = -INFINITY;
        for (int64_t c = 0; c < C; c++) x[(rows - 1) * C + c] = -INFINITY;
    }

    lsvk_tensor *tx = tu_tensor(ctx, rank, shape, x);
    lsvk_tensor *tm = NULL;
    if (flags & MASK_FULL) tm = tu_tensor(ctx, rank, shape, mask);
    if (flags & MASK_ROW) tm = tu_tensor(ctx, 1, &C, mask);
    lsvk_tensor *ty = flags & IN_PLACE ? tx : tu_poisoned(ctx, rank, shape);
    char what[160];
    snprintf(what, sizeof what, "rows=%lld C=%lld rank=%u flags=%d scale=%g", (long long)rows,
             (long long)C, rank, flags, scale);
    if (TU_OK(lsvk_softmax(NULL, tx, tm, ty)) &&
        TU_OK(lsvk_tensor_download(ty, y, (size_t)n * sizeof *y))) {
        lsvk_ref_softmax(x, mask, flags & MASK_ROW ? 1 : rows, rows, C, ref);
        double err = tu_rel_err(y, ref, (size_t)n);
        printf("softmax %s: rel err %.3g\n", what, err);
        TU_CHECK(err <= TOL, "softmax %s: rel err %g", what, err);
        /* exact zeros where the reference has them (masked, -inf, dead rows) */
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) bad += ref[i] == 0.0 && y[i] != 0.0f;
        TU_CHECK(bad == 0, "softmax %s: %lld entries should be 0", what, (long long)bad);
    }
    if (ty != tx) lsvk_tensor_destroy(ty);
    lsvk_tensor_destroy(tx);
    lsvk_tensor_destroy(tm);
    free(x), free(y), free(mask), free(ref);
}

static void check_shapes(lsvk_context *ctx) {
    check_sm(ctx, 1, (int64_t[]){1}, 0, 1);
    check_sm(ctx, 2, (int64_t[]){1, 1}, MASK_ROW, 1);
    check_sm(ctx, 2, (int64_t[]){3, 7}, 0, 1);
    check_sm(ctx, 2, (int64_t[]){5, 33}, NEG_INF, 1);
    check_sm(ctx, 2, (int64_t[]){6, 1000}, 0, 1);
    check_sm(ctx, 3, (int64_t[]){2, 3, 5000}, 0, 3);
    check_sm(ctx, 2, (int64_t[]){4, 4097}, MASK_FULL, 1);
    check_sm(ctx, 2, (int64_t[]){9, 130}, 0, 30);   /* large logits */
    check_sm(ctx, 2, (int64_t[]){7, 65}, MASK_FULL | DEAD_ROWS, 1);
    check_sm(ctx, 2, (int64_t[]){7, 65}, MASK_ROW | NEG_INF, 1);
    check_sm(ctx, 2, (int64_t[]){5, 2000}, NEG_INF | DEAD_ROWS, 1);
    check_sm(ctx, 4, (int64_t[]){2, 2, 3, 301}, MASK_ROW | IN_PLACE, 1);
    check_sm(ctx, 2, (int64_t[]){3, 777}, MASK_FULL | NEG_INF | DEAD_ROWS | IN_PLACE, 2);
    check_sm(ctx, 2, (int64_t[]){70001, 3}, NEG_INF, 1); /* rows past 65535 */
    for (int i = 0; i < 5; i++) {
        uint32_t rank = (uint32_t)tu_randint(&g_rng, 1, 3);
        int64_t shape[3];
        for (uint32_t d = 0; d + 1 < rank; d++) shape[d] = tu_randint(&g_rng, 1, 12);
        shape[rank - 1] = tu_randint(&g_rng, 1, 3000);
        int flags = tu_randint(&g_rng, 0, 31);
        if ((flags & MASK_FULL) && (flags & MASK_ROW)) flags &= ~MASK_ROW;
        check_sm(ctx, rank, shape, flags, (float)tu_randint(&g_rng, 1, 10));
    }
}

static void check_bad(lsvk_context *ctx) {
    int64_t xs[2] = {4, 8}, bad[2] = {4, 7}, c = 8, c_bad = 7;
    lsvk_tensor *x = tu_tensor(ctx, 2, xs, NULL), *y = tu_tensor(ctx, 2, xs, NULL);
    lsvk_tensor *y_bad = tu_tensor(ctx, 2, bad, NULL), *m = tu_tensor(ctx, 1, &c, NULL);
    lsvk_tensor *m_bad = tu_tensor(ctx, 1, &c_bad, NULL), *m2_bad = tu_tensor(ctx, 2, bad, NULL);
    lsvk_tensor *m_rows = tu_tensor(ctx, 2, (int64_t[]){1, 8}, NULL);
    TU_STATUS(lsvk_softmax(NULL, NULL, NULL, y), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_softmax(NULL, x, m, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_softmax(NULL, x, NULL, y_bad), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_softmax(NULL, x, m_bad, y), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_softmax(NULL, x, m2_bad, y), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_softmax(NULL, x, m_rows, y), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_softmax(NULL, x, y, y), LSVK_ERROR_INVALID_ARGUMENT); /* mask is the output */
    lsvk_softmax(NULL, x, m_bad, y);
    TU_CHECK(strstr(lsvk_last_error(), "[4,8]") && strstr(lsvk_last_error(), "[7]"),
             "shape message: %s", lsvk_last_error());
    lsvk_tensor *ts[] = {x, y, y_bad, m, m_bad, m2_bad, m_rows};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lsvk_tensor_destroy(ts[i]);
}

int main(void) {
    g_rng = tu_rng_make(tu_seed() ^ 0x534d4158ull);
    lsvk_context *ctx = tu_context();
    check_shapes(ctx);
    check_bad(ctx);
    return tu_finish(ctx);
}
