/* lsvk_linear against lsvk_ref_linear: edge shapes, shapes off every tile size, leading dims,
 * with and without bias, a 1000^3 product, the shapes of the CPU shader (linear_shuffle.comp:
 * K with and without K % 4, N with and without N % 4, partial tiles, few rows, forced tile shapes,
 * K long enough to split lavapipe's loops, a grid past 65535 row tiles), bad arguments, and a
 * chain of ops recorded into one sequence (linear -> gelu in place -> layernorm -> softmax in
 * place -> linear overwriting the first input) compared with the chained reference; tensors past
 * the bytes of one binding (LSVK_BINDING_LIMIT) in row bands. */
#include "testutil.h"
#include "ref/ref.h"

#include <math.h>
#include <stdbool.h>
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


static float *randn(size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    tu_fill_randn(&g_rng, p, n, scale);
    return p;
}

/* Integers in [-2, 2]: sums of products stay exact in float up to 2^24 / 4 terms. */
static float *randi(size_t n) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)tu_randint(&g_rng, -2, 2);
    return p;
}

/* x has shape xshape (rank >= 1, last dim K); w [N, K]; y has x's leading dims and N. With ints
 * the data are small integers and the result must be exact (long K). */
static void check_linear_data(lsvk_context *ctx, uint32_t rank, const int64_t *xshape, int64_t N,
                              int bias, int ints) {
    int64_t K = xshape[rank - 1];
    int64_t M = numel_of(rank, xshape) / K;
    int64_t wshape[2] = {N, K}, yshape[LSVK_MAX_RANK];
    for (uint32_t i = 0; i < rank; i++) yshape[i] = xshape[i];
    yshape[rank - 1] = N;

    float *x = ints ? randi((size_t)(M * K)) : randn((size_t)(M * K), 1.0f);
    float *w = ints ? randi((size_t)(N * K)) : randn((size_t)(N * K), 1.0f / sqrtf((float)K));
    float *b = !bias ? NULL : ints ? randi((size_t)N) : randn((size_t)N, 1.0f);
    float *y = malloc((size_t)(M * N) * sizeof *y);
    double *ref = malloc((size_t)(M * N) * sizeof *ref);

    lsvk_tensor *tx = tu_tensor(ctx, rank, xshape, x);
    lsvk_tensor *tw = tu_tensor(ctx, 2, wshape, w);
    lsvk_tensor *tb = bias ? tu_tensor(ctx, 1, &N, b) : NULL;
    lsvk_tensor *ty = tu_poisoned(ctx, rank, yshape);
    char what[128];
    snprintf(what, sizeof what, "M=%lld N=%lld K=%lld rank=%u bias=%d", (long long)M,
             (long long)N, (long long)K, rank, bias);
    if (TU_OK(lsvk_linear(NULL, tx, tw, tb, ty)) &&
        TU_OK(lsvk_tensor_download(ty, y, (size_t)(M * N) * sizeof *y))) {
        lsvk_ref_linear(x, w, b, M, N, K, ref);
        double err = tu_rel_err(y, ref, (size_t)(M * N));
        printf("linear %s: rel err %.3g\n", what, err);
        TU_CHECK(err <= (ints ? 0.0 : TOL), "linear %s: rel err %g", what, err);
    }
    lsvk_tensor_destroy(tx);
    lsvk_tensor_destroy(tw);
    lsvk_tensor_destroy(tb);
    lsvk_tensor_destroy(ty);
    free(x);
    free(w);
    free(b);
    free(y);
    free(ref);
}

static void check_linear(lsvk_context *ctx, uint32_t rank, const int64_t *xshape, int64_t N,
                         int bias) {
    check_linear_data(ctx, rank, xshape, N, bias, 0);
}

static void check_shapes(lsvk_context *ctx) {
    int64_t s1[1] = {1};
    check_linear(ctx, 1, s1, 1, 0);
    int64_t s11[2] = {1, 1};
    check_linear(ctx, 2, s11, 1, 1);
    int64_t s37[2] = {37, 65};
    check_linear(ctx, 2, s37, 129, 0);
    check_linear(ctx, 2, s37, 129, 1);
    int64_t big[2] = {1000, 1000};
    check_linear(ctx, 2, big, 1000, 1);
    /* one row (decode), tall-and-thin, K not a multiple of the slab, leading dims */
    int64_t row[1] = {300};
    check_linear(ctx, 1, row, 77, 1);
    int64_t few[2] = {3, 100};
    check_linear(ctx, 2, few, 300, 1);
    int64_t some[3] = {3, 4, 70};
    check_linear(ctx, 3, some, 33, 1);
    int64_t thin[2] = {513, 3};
    check_linear(ctx, 2, thin, 5, 1);
    int64_t lead3[3] = {2, 17, 33};
    check_linear(ctx, 3, lead3, 65, 1);
    int64_t lead4[4] = {2, 3, 5, 40};
    check_linear(ctx, 4, lead4, 24, 0);
    for (int i = 0; i < 6; i++) {
        uint32_t rank = (uint32_t)tu_randint(&g_rng, 1, 4);
        int64_t shape[4];
        for (uint32_t d = 0; d + 1 < rank; d++) shape[d] = tu_randint(&g_rng, 1, rank == 2 ? 200 : 9);
        shape[rank - 1] = tu_randint(&g_rng, 1, 260);
        check_linear(ctx, rank, shape, tu_randint(&g_rng, 1, 260), tu_randint(&g_rng, 0, 1));
    }
}

static void set_tiles(const char *tiles) { tu_setenv("LSVK_LINEAR_TILES", tiles); }

/* Shapes around linear_shuffle.comp's tiles (R*SG or R rows by CN*SG columns, SG 4..16, chunks
 * of 4 floats where K % 4 == 0), with each mode and some odd tile shapes forced. On other devices
 * (GPUs) these are more off-tile shapes for linear.comp. */
static void check_shuffle_shapes(lsvk_context *ctx) {
    static const char *forced[] = {NULL,        "tile,1,1",  "tile,3,3",
                                   "tile,2,4",  "small,3,5", "small,1,1"};
    for (size_t f = 0; f < sizeof forced / sizeof forced[0]; f++) {
        set_tiles(forced[f]);
        if (forced[f]) printf("LSVK_LINEAR_TILES=%s\n", forced[f]);
        int64_t a[2] = {70, 132}; /* partial row and column tiles; vec4 loads, scalar stores */
        check_linear(ctx, 2, a, 77, 1);
        int64_t c[2] = {70, 129}; /* scalar loads, vec4 stores */
        check_linear(ctx, 2, c, 68, 0);
        int64_t d[3] = {2, 67, 64}; /* leading dims, both vec4 */
        check_linear(ctx, 3, d, 200, 1);
        for (int64_t m = 1; m <= 5; m++) { /* few rows; K past whole steps of SG chunks */
            int64_t e[2] = {m, 100};
            check_linear(ctx, 2, e, 130, (int)(m & 1));
            int64_t g[2] = {m, 37};
            check_linear(ctx, 2, g, 9, (int)(~m & 1));
        }
        int64_t h[1] = {3}; /* K below one step */
        check_linear(ctx, 1, h, 40, 1);
        set_tiles(NULL);
    }
    /* K past lavapipe's 65535 loop iterations: chunks (K % 4 != 0) in the tile mode, steps of SG
     * chunks in the few-rows mode */
    int64_t k1[2] = {5, 70001};
    check_linear_data(ctx, 2, k1, 3, 1, 1);
    int64_t k2[2] = {1, 600001};
    check_linear_data(ctx, 2, k2, 2, 1, 1);
    /* more than 65535 tiles of 64 rows: the grid goes on in z */
    int64_t tall[2] = {65535 * 64 + 70, 1};
    check_linear(ctx, 2, tall, 1, 1);
}

static void check_bad(lsvk_context *ctx) {
    int64_t xs[2] = {4, 8}, ws[2] = {6, 8}, ys[2] = {4, 6}, bs = 6;
    int64_t ws_bad[2] = {6, 7}, ys_bad[2] = {4, 5}, ys_lead[2] = {3, 6}, bs_bad = 5;
    int64_t y3[3] = {1, 4, 6}, w3[3] = {1, 6, 8};
    lsvk_tensor *x = tu_tensor(ctx, 2, xs, NULL), *w = tu_tensor(ctx, 2, ws, NULL);
    lsvk_tensor *y = tu_tensor(ctx, 2, ys, NULL), *b = tu_tensor(ctx, 1, &bs, NULL);
    lsvk_tensor *w_bad = tu_tensor(ctx, 2, ws_bad, NULL), *y_bad = tu_tensor(ctx, 2, ys_bad, NULL);
    lsvk_tensor *y_lead = tu_tensor(ctx, 2, ys_lead, NULL), *b_bad = tu_tensor(ctx, 1, &bs_bad, NULL);
    lsvk_tensor *y_rank = tu_tensor(ctx, 3, y3, NULL), *w_rank = tu_tensor(ctx, 3, w3, NULL);
    lsvk_tensor *sq = tu_tensor(ctx, 2, (int64_t[]){8, 8}, NULL);

    TU_STATUS(lsvk_linear(NULL, NULL, w, b, y), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_linear(NULL, x, NULL, b, y), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_linear(NULL, x, w, b, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_linear(NULL, NULL, NULL, NULL, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_linear(NULL, x, w_bad, b, y), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_linear(NULL, x, w, b, y_bad), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_linear(NULL, x, w, b, y_lead), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_linear(NULL, x, w, b_bad, y), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_linear(NULL, x, w, b, y_rank), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_linear(NULL, x, w_rank, b, y), LSVK_ERROR_SHAPE);
    /* the message names both shapes */
    lsvk_linear(NULL, x, w_bad, b, y);
    const char *msg = lsvk_last_error();
    TU_CHECK(strstr(msg, "[4,8]") && strstr(msg, "[6,7]"), "shape message: %s", msg);
    TU_CHECK(strstr(lsvk_context_error(ctx), "[6,7]"), "context message: %s", lsvk_context_error(ctx));
    /* y aliasing an input */
    TU_STATUS(lsvk_linear(NULL, sq, sq, NULL, sq), LSVK_ERROR_INVALID_ARGUMENT);

    /* a tensor of another context */
    lsvk_context *other = tu_context();
    lsvk_tensor *ow = tu_tensor(other, 2, ws, NULL);
    TU_STATUS(lsvk_linear(NULL, x, ow, b, y), LSVK_ERROR_INVALID_ARGUMENT);
    lsvk_cmd *ocmd = NULL;
    if (TU_OK(lsvk_cmd_create(other, 0, &ocmd)))
        TU_STATUS(lsvk_linear(ocmd, x, w, b, y), LSVK_ERROR_INVALID_ARGUMENT);
    lsvk_cmd_destroy(ocmd);
    lsvk_tensor_destroy(ow);
    TU_CHECK(lsvk_context_validation_messages(other) == 0, "validation messages on 2nd context");
    lsvk_context_destroy(other);

    lsvk_tensor *ts[] = {x, w, y, b, w_bad, y_bad, y_lead, b_bad, y_rank, w_rank, sq};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lsvk_tensor_destroy(ts[i]);
}

/* x0 [R, D] -> h = linear(x0, w1, b1) [R, H] -> gelu(h) in place -> n = layernorm(h) ->
 * softmax(n) in place -> x0 = linear(n, w2) (overwrites what the first linear read). Recorded
 * into one sequence, submitted once; then re-recorded and submitted again on the new x0. */
static void check_chain(lsvk_context *ctx) {
    const int64_t R = 45, D = 70, H = 131;
    int64_t xs[3] = {3, 15, D}, hs[3] = {3, 15, H}, w1s[2] = {H, D}, w2s[2] = {D, H};
    float *x0 = randn((size_t)(R * D), 1.0f);
    float *w1 = randn((size_t)(H * D), 1.0f / sqrtf((float)D));
    float *b1 = randn((size_t)H, 0.5f);
    float *lw = randn((size_t)H, 1.0f);
    float *lb = randn((size_t)H, 1.0f);
    float *w2 = randn((size_t)(D * H), 1.0f);
    lsvk_tensor *tx = tu_tensor(ctx, 3, xs, x0), *tw1 = tu_tensor(ctx, 2, w1s, w1);
    lsvk_tensor *tb1 = tu_tensor(ctx, 1, &H, b1), *tlw = tu_tensor(ctx, 1, &H, lw);
    lsvk_tensor *tlb = tu_tensor(ctx, 1, &H, lb), *tw2 = tu_tensor(ctx, 2, w2s, w2);
    lsvk_tensor *th = tu_poisoned(ctx, 3, hs), *tn = tu_poisoned(ctx, 3, hs);

    double *dh = malloc((size_t)(R * H) * sizeof *dh), *dx = malloc((size_t)(R * D) * sizeof *dx);
    float *fh = malloc((size_t)(R * H) * sizeof *fh), *fx = malloc((size_t)(R * D) * sizeof *fx);
    float *got = malloc((size_t)(R * H) * sizeof *got);

    lsvk_cmd *cmd = NULL;
    if (!TU_OK(lsvk_cmd_create(ctx, 0, &cmd))) goto done;
    for (int round = 0; round < 2; round++) {
        if (round) TU_OK(lsvk_cmd_reset(cmd));
        TU_OK(lsvk_linear(cmd, tx, tw1, tb1, th));
        TU_OK(lsvk_gelu(cmd, th, th));
        TU_OK(lsvk_layernorm(cmd, th, tlw, tlb, 0.0f, tn));
        TU_OK(lsvk_softmax(cmd, tn, NULL, tn));
        TU_OK(lsvk_linear(cmd, tn, tw2, NULL, tx));
        TU_CHECK(lsvk_cmd_dispatch_count(cmd) == 5, "dispatch count %u", lsvk_cmd_dispatch_count(cmd));
        if (!TU_OK(lsvk_cmd_submit(cmd))) break;

        /* the reference, rounding to float between ops as the device stores */
        lsvk_ref_linear(x0, w1, b1, R, H, D, dh);
        for (int64_t i = 0; i < R * H; i++) fh[i] = (float)lsvk_ref_gelu1((double)(float)dh[i]);
        lsvk_ref_layernorm(fh, lw, lb, R, H, 1e-5, dh);
        lsvk_ref_to_float(dh, R * H, fh);
        lsvk_ref_softmax(fh, NULL, 0, R, H, dh);
        lsvk_ref_to_float(dh, R * H, fh);
        lsvk_ref_linear(fh, w2, NULL, R, D, H, dx);

        TU_OK(lsvk_tensor_download(tn, got, (size_t)(R * H) * sizeof *got));
        double e1 = tu_rel_err(got, dh, (size_t)(R * H));
        TU_OK(lsvk_tensor_download(tx, fx, (size_t)(R * D) * sizeof *fx));
        double e2 = tu_rel_err(fx, dx, (size_t)(R * D));
        printf("chain round %d: softmax rel err %.3g, final rel err %.3g\n", round, e1, e2);
        TU_CHECK(e1 <= TOL && e2 <= TOL, "chain round %d: rel err %g, %g", round, e1, e2);
        /* the next round starts from this round's output */
        for (int64_t i = 0; i < R * D; i++) x0[i] = fx[i];
    }
done:
    lsvk_cmd_destroy(cmd);
    lsvk_tensor *ts[] = {tx, tw1, tb1, tlw, tlb, tw2, th, tn};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lsvk_tensor_destroy(ts[i]);
    free(x0), free(w1), free(b1), free(lw), free(lb), free(w2);
    free(dh), free(dx), free(fh), free(fx), free(got);
}

/* lsvk_linear_ex: GELU and/or a residual after the bias, at shapes that take each kernel path
 * (few rows, tiles, K split in pieces on llvmpipe), against the reference; bad arguments. */
static void check_epilogue(lsvk_context *ctx) {
    /* the last shape splits K on llvmpipe (the epilogue must wait for the last piece); its small
     * integers keep the long sums exact */
    static const int64_t shapes[][3] = {{1, 37, 65}, {3, 130, 70}, {77, 129, 65}, {300, 33, 9000}, {5, 7, 250000}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int mode = 1; mode < 4; mode++) {
            int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
            int64_t xs[2] = {M, K}, ws[2] = {N, K}, ys[2] = {M, N};
            bool ints = K > 100000;
            float *x = ints ? randi((size_t)(M * K)) : randn((size_t)(M * K), 1.0f);
            float *w = ints ? randi((size_t)(N * K)) : randn((size_t)(N * K), 1.0f / sqrtf((float)K));
            float *b = randn((size_t)N, 1.0f), *r = randn((size_t)(M * N), 1.0f);
            float *y = malloc((size_t)(M * N) * sizeof *y);
            double *ref = malloc((size_t)(M * N) * sizeof *ref);
            lsvk_tensor *tx = tu_tensor(ctx, 2, xs, x), *tw = tu_tensor(ctx, 2, ws, w), *tb = tu_tensor(ctx, 1, &N, b);
            lsvk_tensor *tr = tu_tensor(ctx, 2, ys, r), *ty = tu_poisoned(ctx, 2, ys);
            uint32_t flags = mode & 1 ? LSVK_LINEAR_GELU : 0;
            bool res = mode & 2;
            if (TU_OK(lsvk_linear_ex(NULL, tx, tw, tb, res ? tr : NULL, flags, ty)) &&
                TU_OK(lsvk_tensor_download(ty, y, (size_t)(M * N) * sizeof *y))) {
                lsvk_ref_linear(x, w, b, M, N, K, ref);
                for (int64_t i = 0; i < M * N; i++) {
                    if (flags) ref[i] = lsvk_ref_gelu1(ref[i]);
                    if (res) ref[i] += r[i];
                }
                double err = tu_rel_err(y, ref, (size_t)(M * N));
                printf("linear_ex M=%lld N=%lld K=%lld gelu=%d residual=%d: rel err %.3g\n", (long long)M,
                       (long long)N, (long long)K, !!flags, res, err);
                TU_CHECK(err <= TOL, "linear_ex M=%lld N=%lld K=%lld mode %d: rel err %g", (long long)M,
                         (long long)N, (long long)K, mode, err);
            }
            if (si == 0 && mode == 3) {
                TU_STATUS(lsvk_linear_ex(NULL, tx, tw, tb, tr, 8u, ty), LSVK_ERROR_INVALID_ARGUMENT);
                TU_STATUS(lsvk_linear_ex(NULL, tx, tw, tb, ty, 0, ty), LSVK_ERROR_INVALID_ARGUMENT);
                TU_STATUS(lsvk_linear_ex(NULL, tx, tw, tb, tx, 0, ty), LSVK_ERROR_SHAPE);
            }
            lsvk_tensor_destroy(tx);
            lsvk_tensor_destroy(tw);
            lsvk_tensor_destroy(tb);
            lsvk_tensor_destroy(tr);
            lsvk_tensor_destroy(ty);
            free(x); free(w); free(b); free(r); free(y); free(ref);
        }
}

/* x [..., K] -> y [..., N] under the LSVK_BINDING_LIMIT in force, with x and/or y past it (rows in
 * bands), w under it. mode 0: lsvk_linear, no bias; 1: lsvk_linear; 2: GELU; 3: residual; 4: both. */
static void check_band(lsvk_context *ctx, uint32_t rank, const int64_t *xs, int64_t N, int mode) {
    int64_t K = xs[rank - 1], M = numel_of(rank, xs) / K, ws[2] = {N, K}, ys[3];
    for (uint32_t i = 0; i < rank; i++) ys[i] = xs[i];
    ys[rank - 1] = N;
    float *x = randn((size_t)(M * K), 1.0f), *w = randn((size_t)(N * K), 1.0f / sqrtf((float)K));
    float *b = randn((size_t)N, 1.0f), *r = randn((size_t)(M * N), 1.0f), *y = malloc((size_t)(M * N) * sizeof *y);
    double *ref = malloc((size_t)(M * N) * sizeof *ref);
    lsvk_tensor *tx = tu_tensor(ctx, rank, xs, x), *tw = tu_tensor(ctx, 2, ws, w), *tb = tu_tensor(ctx, 1, &N, b);
    lsvk_tensor *tr = tu_tensor(ctx, rank, ys, r), *ty = tu_poisoned(ctx, rank, ys);
    uint32_t flags = mode == 2 || mode == 4 ? LSVK_LINEAR_GELU : 0;
    bool res = mode >= 3;
    char what[160];
    snprintf(what, sizeof what, "bands limit=%s M=%lld N=%lld K=%lld rank=%u mode=%d (x %lld, y %lld bytes)",
             getenv("LSVK_BINDING_LIMIT"), (long long)M, (long long)N, (long long)K, rank, mode,
             (long long)(M * K * 4), (long long)(M * N * 4));
    lsvk_status s = mode < 2 ? lsvk_linear(NULL, tx, tw, mode ? tb : NULL, ty)
                             : lsvk_linear_ex(NULL, tx, tw, tb, res ? tr : NULL, flags, ty);
    if (TU_CHECK(s == LSVK_SUCCESS, "%s: %s", what, lsvk_last_error()) &&
        TU_OK(lsvk_tensor_download(ty, y, (size_t)(M * N) * sizeof *y))) {
        lsvk_ref_linear(x, w, mode ? b : NULL, M, N, K, ref);
        for (int64_t i = 0; i < M * N; i++) {
            if (flags) ref[i] = lsvk_ref_gelu1(ref[i]);
            if (res) ref[i] += r[i];
        }
        double err = tu_rel_err(y, ref, (size_t)(M * N));
        printf("%s: rel err %.3g\n", what, err);
        TU_CHECK(err <= TOL, "%s: rel err %g", what, err);
    }
    lsvk_tensor *ts[] = {tx, tw, tb, tr, ty};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lsvk_tensor_destroy(ts[i]);
    free(x), free(w), free(b), free(r), free(y), free(ref);
}

/* Tensors past the bytes one binding covers (LSVK_BINDING_LIMIT lowers it): rows in bands of
 * counts off every tile, x and y past it together or alone, leading dims, each epilogue, both
 * kernels; one sequence of banded ops reading each other's bands; a row past the limit refused. */
static void check_bands(lsvk_context *ctx) {
    static const struct { const char *limit, *tiles; int64_t shapes[4][4]; } sets[] = {
        /* {B, T, K, N}: w [N, K] stays within the limit */
        {"4096", NULL, {{1, 1000, 37, 23}, {3, 350, 53, 17}, {1, 1201, 5, 40}, {1, 1300, 60, 3}}},
        {"20000", "tiled", {{1, 2000, 53, 71}, {2, 1001, 37, 130}, {1, 3000, 96, 50}, {1, 1000, 5, 40}}},
        {"20000", NULL, {{1, 2000, 53, 71}, {2, 1001, 37, 130}, {1, 3000, 96, 50}, {1, 1000, 5, 40}}},
        {"65536", NULL, {{1, 3000, 96, 130}, {3, 777, 37, 29}, {1, 2500, 64, 8}, {1, 1000, 5, 40}}},
    };
    int mode = 0;
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++) {
        tu_setenv("LSVK_BINDING_LIMIT", sets[si].limit);
        set_tiles(sets[si].tiles);
        for (int i = 0; i < 4; i++) {
            const int64_t *sh = sets[si].shapes[i];
            if (sh[0] > 1)
                check_band(ctx, 3, sh, sh[3], mode++ % 5);
            else
                check_band(ctx, 2, sh + 1, sh[3], mode++ % 5);
        }
    }
    set_tiles(NULL);

    /* one sequence at 20000 bytes: h = linear(x) [1500, 50] in bands, y = gelu(h W2^T + b2) + r
     * reading h's bands, layernorm(y) in place: each band must wait for the bands it reads */
    tu_setenv("LSVK_BINDING_LIMIT", "20000");
    {
        const int64_t R = 1500, D = 37, H = 50, O = 29;
        int64_t xs[2] = {R, D}, hs[2] = {R, H}, os[2] = {R, O}, w1s[2] = {H, D}, w2s[2] = {O, H};
        float *x = randn((size_t)(R * D), 1.0f), *w1 = randn((size_t)(H * D), 1.0f / sqrtf((float)D));
        float *b1 = randn((size_t)H, 0.5f), *w2 = randn((size_t)(O * H), 1.0f / sqrtf((float)H));
        float *b2 = randn((size_t)O, 0.5f), *r = randn((size_t)(R * O), 1.0f), *lw = randn((size_t)O, 1.0f);
        float *fh = malloc((size_t)(R * H) * sizeof *fh), *fo = malloc((size_t)(R * O) * sizeof *fo);
        double *dh = malloc((size_t)(R * H) * sizeof *dh), *dout = malloc((size_t)(R * O) * sizeof *dout);
        lsvk_tensor *tx = tu_tensor(ctx, 2, xs, x), *tw1 = tu_tensor(ctx, 2, w1s, w1), *tb1 = tu_tensor(ctx, 1, &H, b1);
        lsvk_tensor *tw2 = tu_tensor(ctx, 2, w2s, w2), *tb2 = tu_tensor(ctx, 1, &O, b2), *tr = tu_tensor(ctx, 2, os, r);
        lsvk_tensor *tlw = tu_tensor(ctx, 1, &O, lw), *th = tu_poisoned(ctx, 2, hs), *to = tu_poisoned(ctx, 2, os);
        lsvk_cmd *cmd = NULL;
        if (TU_OK(lsvk_cmd_create(ctx, 0, &cmd)) && TU_OK(lsvk_linear(cmd, tx, tw1, tb1, th)) &&
            TU_OK(lsvk_linear_ex(cmd, th, tw2, tb2, tr, LSVK_LINEAR_GELU, to)) &&
            TU_OK(lsvk_layernorm(cmd, to, tlw, NULL, 0.0f, to)) &&
            TU_CHECK(lsvk_cmd_dispatch_count(cmd) >= 15 + 15 + 9, "bands: %u dispatches for 39 bands at least",
                     lsvk_cmd_dispatch_count(cmd)) &&
            TU_OK(lsvk_cmd_submit(cmd)) &&
            TU_OK(lsvk_tensor_download(to, fo, (size_t)(R * O) * sizeof *fo))) {
            lsvk_ref_linear(x, w1, b1, R, H, D, dh);
            lsvk_ref_to_float(dh, R * H, fh);
            lsvk_ref_linear(fh, w2, b2, R, O, H, dout);
            for (int64_t i = 0; i < R * O; i++) dout[i] = lsvk_ref_gelu1(dout[i]) + r[i];
            float *fy = malloc((size_t)(R * O) * sizeof *fy);
            lsvk_ref_to_float(dout, R * O, fy);
            lsvk_ref_layernorm(fy, lw, NULL, R, O, 1e-5, dout);
            free(fy);
            double err = tu_rel_err(fo, dout, (size_t)(R * O));
            printf("bands: one sequence linear -> linear_ex -> layernorm: rel err %.3g\n", err);
            TU_CHECK(err <= TOL, "bands: one sequence: rel err %g", err);
        }
        lsvk_cmd_destroy(cmd);
        lsvk_tensor *ts[] = {tx, tw1, tb1, tw2, tb2, tr, tlw, th, to};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lsvk_tensor_destroy(ts[i]);
        free(x), free(w1), free(b1), free(w2), free(b2), free(r), free(lw), free(fh), free(fo), free(dh), free(dout);
    }

    /* a row of x (and so w) past the limit: refused, not split */
    tu_setenv("LSVK_BINDING_LIMIT", "4096");
    {
        int64_t xs[2] = {4, 1100}, ws[2] = {2, 1100}, ys[2] = {4, 2};
        lsvk_tensor *x = tu_tensor(ctx, 2, xs, NULL), *w = tu_tensor(ctx, 2, ws, NULL), *y = tu_tensor(ctx, 2, ys, NULL);
        TU_STATUS(lsvk_linear(NULL, x, w, NULL, y), LSVK_ERROR_LIMIT_EXCEEDED);
        TU_STATUS(lsvk_linear_ex(NULL, x, w, NULL, NULL, LSVK_LINEAR_GELU, y), LSVK_ERROR_LIMIT_EXCEEDED);
        lsvk_tensor_destroy(x), lsvk_tensor_destroy(w), lsvk_tensor_destroy(y);
    }
    tu_setenv("LSVK_BINDING_LIMIT", NULL);
}

int main(void) {
    g_rng = tu_rng_make(tu_seed());
    lsvk_context *ctx = tu_context();
    check_shapes(ctx);
    /* linear.comp (GPUs) on any device */
    set_tiles("tiled");
    check_shapes(ctx);
    check_epilogue(ctx);
    set_tiles(NULL);
    check_epilogue(ctx);
    check_shuffle_shapes(ctx);
    check_bad(ctx);
    check_chain(ctx);
    check_bands(ctx);
    return tu_finish(ctx);
}
