/* The 2D long-short layer (lsvk_vision_*): the official implementation's golden file through the
 * layer, then lib/ref on random configurations nobody tuned for (w 5 and 7, 3 heads x 24, batch 3,
 * non-square grids, nglo 0 / 1, rpe on / off, dp_rank 0 / > 0), outputs poisoned first, with both
 * kernel shapes (LSVK_VISION_SHUFFLE); inputs past one binding (LSVK_BINDING_LIMIT: sub-batches,
 * token bands); and its argument errors. */
#include "golden_util.h"
#include "ref/ref_vision.h"
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NP = 11 };
static const char *const names[NP] = {
    "qkv.weight", "qkv.bias", "proj.weight", "proj.bias", "to_dynamic_projection.weight",
    "to_dynamic_projection.bias", "dual_ln_full.weight", "dual_ln_full.bias", "dual_ln_dp.weight",
    "dual_ln_dp.bias", "local_relative_position_bias_table"};

typedef struct params {
    float *w[NP];
    size_t n[NP];
} params;

static float *rand_array(tu_rng *r, size_t n, float mean, float scale) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = mean + (float)(tu_randn(r) * scale);
    return a;
}

/* Parameters as the golden generator draws them; n 0 where the config has none. */
static void make_params(tu_rng *r, const lsvk_vision_config *c, params *p) {
    size_t C = c->dim, HR = (size_t)c->heads * c->dp_rank;
    size_t T = c->rpe ? (size_t)lsvk_ref_vision_rpe_rows((int)c->window) * c->heads : 0;
    size_t n[NP] = {3 * C * C, c->qkv_bias ? 3 * C : 0, C * C, C, HR * C, HR, C, C, C, C, T};
    for (int i = 0; i < NP; i++) {
        bool ln_w = i == 6 || i == 8, mat = i == 0 || i == 2 || i == 4;
        p->n[i] = n[i];
        p->w[i] = rand_array(r, n[i], ln_w ? 1.0f : 0.0f, mat ? 1.0f / sqrtf((float)C) : i == 10 ? 0.5f : 0.1f);
    }
}

static void free_params(params *p) {
    for (int i = 0; i < NP; i++) free(p->w[i]);
}

static lsvk_vision_config cfg(uint32_t H, uint32_t dh, uint32_t nx, uint32_t ny, uint32_t w, uint32_t r,
                              uint32_t nglo, int rpe) {
    lsvk_vision_config c = {H * dh, H, dh, nx, ny, w, r, nglo, rpe, 1};
    return c;
}

/* want: LSVK_SUCCESS, the output compared with lib/ref; else the status lsvk_vision_forward must return. */
static void run_case_want(lsvk_context *ctx, tu_rng *r, lsvk_vision_config c, int B, const char *what,
                          lsvk_status want) {
    params p;
    make_params(r, &c, &p);
    int N0 = (int)(c.nglo + c.nx * c.ny);
    size_t n = (size_t)B * N0 * c.dim;
    float *x = rand_array(r, n, 0, 1), *got = malloc(n * sizeof *got);
    double *ref = malloc(n * sizeof *ref);
    lsvk_ref_vision_weights rw = {p.w[0], p.n[1] ? p.w[1] : NULL, p.w[2], p.w[3], p.n[4] ? p.w[4] : NULL,
                                  p.n[5] ? p.w[5] : NULL, p.w[6], p.w[7], p.w[8], p.w[9], p.n[10] ? p.w[10] : NULL};
    lsvk_vision_layer *layer = NULL;
    if (!TU_CHECK(lsvk_ref_vision(&c, &rw, B, x, ref, NULL) == 0, "%s: reference rejects", what)) goto done;
    if (TU_OK(lsvk_vision_layer_create(ctx, &c, &layer))) {
        for (int i = 0; i < NP; i++)
            if (p.n[i]) TU_OK(lsvk_vision_layer_set_weight(layer, names[i], p.w[i], p.n[i]));
        int64_t xs[3] = {B, N0, c.dim};
        lsvk_tensor *tx = tu_tensor(ctx, 3, xs, x), *to = tu_poisoned(ctx, 3, xs);
        if (want != LSVK_SUCCESS)
            TU_STATUS(lsvk_vision_forward(NULL, layer, tx, to), want);
        else if (TU_OK(lsvk_vision_forward(NULL, layer, tx, to))) {
            lsvk_tensor_download(to, got, n * sizeof *got);
            double err = tu_rel_err(got, ref, n);
            printf("%-34s B%d %ux%u C%u H%u dh%u w%u r%u g%u rpe%d: err %.3g\n", what, B, c.nx, c.ny, c.dim, c.heads,
                   c.head_dim, c.window, c.dp_rank, c.nglo, c.rpe, err);
            TU_CHECK(err <= 1e-4, "%s: rel err %g", what, err);
        }
        lsvk_tensor_destroy(tx);
        lsvk_tensor_destroy(to);
    }
done:
    lsvk_vision_layer_destroy(layer);
    free_params(&p);
    free(x);
    free(got);
    free(ref);
}

static void run_case(lsvk_context *ctx, tu_rng *r, lsvk_vision_config c, int B, const char *what) {
    run_case_want(ctx, r, c, B, what, LSVK_SUCCESS);
}

/* "0": the tile kernels (the GPU path); "R,RG,KU": the shuffle ones; NULL: the device's choice. */
static void set_shape(const char *shape) {
    tu_setenv("LSVK_VISION_SHUFFLE", shape);
}

static void set_limit(const char *bytes) {
    tu_setenv("LSVK_BINDING_LIMIT", bytes);
}

/* Inputs past the bytes one binding covers (LSVK_BINDING_LIMIT lowers it): sub-batches where one
 * image's [N0, C] fits; bands of rows of tiles where one image is several times past it (tall
 * grids: a row of tiles with its window margin must fit); nglo 0 / 1, rpe on / off, dp_rank 0 / > 0,
 * both kernel families. Weights ([C, C] parts of qkv) stay within the limit. A grid whose row of
 * tiles with its margin is past the limit is refused. */
static void run_bands(lsvk_context *ctx, tu_rng *r) {
    const struct { lsvk_vision_config c; int B; const char *limit, *what; } cases[2][5] = {
        {{cfg(3, 24, 15, 10, 5, 3, 1, 1), 3, "98304", "sub-batches 2+1"}, /* 43,488 bytes an image */
         {cfg(3, 24, 10, 15, 5, 4, 0, 1), 3, "49152", "sub-batches 1+1+1"},
         {cfg(3, 24, 7, 63, 7, 0, 0, 0), 2, "32768", "w7 7x63 window only"}, /* 3.9x the limit */
         {cfg(3, 24, 10, 60, 5, 4, 1, 1), 2, "32768", "w5 10x60 rpe r4 global"}, /* 5.3x */
         {cfg(2, 16, 10, 60, 5, 2, 0, 1), 1, "16384", "w5 10x60 dh16 rpe r2"}}, /* 4.7x */
        {{cfg(3, 24, 15, 10, 5, 3, 1, 1), 3, "98304", "sub-batches 2+1"},
         {cfg(3, 24, 10, 15, 5, 4, 0, 1), 3, "49152", "sub-batches 1+1+1"},
         {cfg(3, 24, 7, 63, 7, 2, 1, 0), 2, "32768", "w7 7x63 r2 global"},
         {cfg(3, 24, 5, 60, 5, 4, 0, 1), 2, "24576", "w5 5x60 rpe r4"}, /* two rows of tiles a band */
         {cfg(2, 16, 10, 60, 5, 0, 1, 1), 1, "16384", "w5 10x60 dh16 rpe global"}},
    };
    for (int tiles = 0; tiles < 2; tiles++) {
        set_shape(tiles ? "0" : NULL);
        for (int i = 0; i < 5; i++) {
            lsvk_vision_config c = cases[tiles][i].c;
            uint64_t limit = strtoull(cases[tiles][i].limit, NULL, 10);
            uint64_t bytes = (uint64_t)cases[tiles][i].B * (c.nglo + c.nx * c.ny) * c.dim * 4;
            char what[80];
            snprintf(what, sizeof what, "bands%s: %s (limit %s)", tiles ? ", tiles" : "", cases[tiles][i].what,
                     cases[tiles][i].limit);
            TU_CHECK(bytes > limit && (uint64_t)c.dim * c.dim * 4 <= limit, "%s: input of %llu bytes not past the "
                     "limit, or weights past it", what, (unsigned long long)bytes);
            set_limit(cases[tiles][i].limit);
            run_case_want(ctx, r, c, cases[tiles][i].B, what, LSVK_SUCCESS);
            set_limit(NULL);
        }
    }
    /* head dim 13: rows and bands off every vec4 boundary */
    set_limit("16384");
    for (int tiles = 0; tiles < 2; tiles++) {
        set_shape(tiles ? "0" : NULL);
        run_case(ctx, r, cfg(3, 13, 7, 35, 7, 2, 1, 1), 2, tiles ? "bands, tiles: dh13 w7 7x35" : "bands: dh13 w7 7x35");
    }
    set_limit(NULL);
    set_shape(NULL);
    /* 21 x 14 at w 7: a row of tiles with its margin is 13 x 21 tokens, 78,624 bytes */
    set_limit("24576");
    run_case_want(ctx, r, cfg(3, 24, 21, 14, 7, 2, 1, 1), 1, "bands: row of tiles past the limit",
                  LSVK_ERROR_LIMIT_EXCEEDED);
    set_limit(NULL);
}

static void run_golden(lsvk_context *ctx, const char *shape) {
    golden_file *g = golden_open_case(LSVK_TEST_DATA, "vision2d");
    if (!TU_CHECK(g != NULL, "cannot open vision2d")) return;
    long long dim = 0, heads = 0, nx = 0, w = 0, r = 0, nglo = 0;
    int rpe = 0, qb = 0;
    TU_CHECK(golden_cfg_int(g, "dim", &dim) == 0 && golden_cfg_int(g, "num_heads", &heads) == 0 &&
                 golden_cfg_int(g, "nx", &nx) == 0 && golden_cfg_int(g, "w", &w) == 0 &&
                 golden_cfg_int(g, "dp_rank", &r) == 0 && golden_cfg_int(g, "nglo", &nglo) == 0 &&
                 golden_cfg_bool(g, "rpe", &rpe) == 0 && golden_cfg_bool(g, "qkv_bias", &qb) == 0,
             "vision2d config");
    lsvk_vision_config c = {(uint32_t)dim, (uint32_t)heads, (uint32_t)(heads ? dim / heads : 0), (uint32_t)nx,
                            (uint32_t)golden_cfg_int_or(g, "ny", nx), (uint32_t)w, (uint32_t)r, (uint32_t)nglo, rpe, qb};
    int64_t xs[LSVK_ST_MAX_RANK];
    size_t n = 0;
    float *x = golden_tensor(g, "input.x", NULL, xs, &n), *want = golden_tensor(g, "output", NULL, NULL, NULL);
    float *got = malloc((n ? n : 1) * sizeof *got);
    lsvk_vision_layer *layer = NULL;
    set_shape(shape);
    if (TU_CHECK(x && want, "vision2d tensors") && TU_OK(lsvk_vision_layer_create(ctx, &c, &layer)) &&
        TU_OK(lsvk_vision_layer_load(layer, golden_safetensors(g), NULL))) {
        lsvk_tensor *tx = tu_tensor(ctx, 3, xs, x), *to = tu_poisoned(ctx, 3, xs);
        if (TU_OK(lsvk_vision_forward(NULL, layer, tx, to))) {
            lsvk_tensor_download(to, got, n * sizeof *got);
            double err = golden_rel_err_f(got, want, n);
            printf("golden vision2d (%s kernels)        rel err %.3g\n", shape ? "tile" : "default", err);
            TU_CHECK(err <= 1e-4, "golden vision2d: rel err %g > 1e-4", err);
        }
        lsvk_tensor_destroy(tx);
        lsvk_tensor_destroy(to);
    }
    set_shape(NULL);
    lsvk_vision_layer_destroy(layer);
    free(x);
    free(want);
    free(got);
    golden_close(g);
}

static void test_errors(lsvk_context *ctx) {
    lsvk_vision_layer *l = NULL;
    lsvk_vision_config c = cfg(2, 8, 8, 8, 4, 2, 1, 1);
    c.dim = 15;
    TU_STATUS(lsvk_vision_layer_create(ctx, &c, &l), LSVK_ERROR_SHAPE);
    c = cfg(2, 300, 8, 8, 4, 2, 1, 0);
    TU_STATUS(lsvk_vision_layer_create(ctx, &c, &l), LSVK_ERROR_UNSUPPORTED);
    c = cfg(2, 8, 10, 8, 4, 2, 1, 0);
    TU_STATUS(lsvk_vision_layer_create(ctx, &c, &l), LSVK_ERROR_SHAPE);
    TU_CHECK(strstr(lsvk_last_error(), "multiples of the window") != NULL, "msg: %s", lsvk_last_error());
    c = cfg(2, 8, 8, 8, 4, 2, 2, 0);
    TU_STATUS(lsvk_vision_layer_create(ctx, &c, &l), LSVK_ERROR_UNSUPPORTED);
    TU_CHECK(strstr(lsvk_last_error(), "nglo") != NULL, "msg: %s", lsvk_last_error());
    c = cfg(2, 8, 8, 8, 1, 2, 1, 1);
    TU_STATUS(lsvk_vision_layer_create(ctx, &c, &l), LSVK_ERROR_INVALID_ARGUMENT);
    c = cfg(2, 8, 8, 8, 0, 2, 1, 0);
    TU_STATUS(lsvk_vision_layer_create(ctx, &c, &l), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_vision_layer_create(ctx, NULL, &l), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_vision_layer_create(ctx, &c, NULL), LSVK_ERROR_INVALID_ARGUMENT);

    c = cfg(2, 8, 8, 4, 4, 2, 1, 1);
    c.qkv_bias = 0;
    if (!TU_OK(lsvk_vision_layer_create(ctx, &c, &l))) return;
    float buf[3 * 16 * 16] = {0};
    TU_STATUS(lsvk_vision_layer_set_weight(l, "qkv.bias", buf, 48), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_vision_layer_set_weight(l, "W_q.weight", buf, 256), LSVK_ERROR_NOT_FOUND);
    TU_STATUS(lsvk_vision_layer_set_weight(l, "qkv.weight", buf, 256), LSVK_ERROR_SHAPE);
    TU_CHECK(strstr(lsvk_last_error(), "qkv.weight") != NULL, "message names the weight: %s", lsvk_last_error());
    TU_STATUS(lsvk_vision_layer_set_weight(l, "proj.weight", NULL, 256), LSVK_ERROR_INVALID_ARGUMENT);
    int64_t xs[3] = {2, 33, 16}, bad[3] = {2, 32, 16};
    lsvk_tensor *x = tu_tensor(ctx, 3, xs, NULL), *o = tu_tensor(ctx, 3, xs, NULL);
    lsvk_tensor *xb = tu_tensor(ctx, 3, bad, NULL), *ob = tu_tensor(ctx, 3, bad, NULL);
    TU_STATUS(lsvk_vision_forward(NULL, l, x, o), LSVK_ERROR_NOT_FOUND); /* weights missing */
    TU_CHECK(strstr(lsvk_last_error(), "never set") != NULL, "missing weight message: %s", lsvk_last_error());
    int rows = lsvk_ref_vision_rpe_rows(4);
    size_t counts[NP] = {768, 0, 256, 16, 64, 4, 16, 16, 16, 16, (size_t)rows * 2};
    float *big = calloc((size_t)rows * 2 + 768, sizeof *big);
    for (int i = 0; i < NP; i++)
        if (counts[i]) TU_OK(lsvk_vision_layer_set_weight(l, names[i], big, counts[i]));
    TU_STATUS(lsvk_vision_forward(NULL, l, xb, ob), LSVK_ERROR_SHAPE); /* no global token row */
    TU_CHECK(strstr(lsvk_last_error(), "nglo + ny*nx") != NULL, "msg: %s", lsvk_last_error());
    TU_STATUS(lsvk_vision_forward(NULL, l, x, ob), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_vision_forward(NULL, l, x, x), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_vision_forward(NULL, NULL, x, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_vision_forward(NULL, l, NULL, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_OK(lsvk_vision_forward(NULL, l, x, o));

    /* recorded into one sequence: the layer twice (its workspace reused), equal to separate runs */
    {
        tu_rng rr = tu_rng_make(11);
        float in[2 * 33 * 16], a[2 * 33 * 16], b2[2 * 33 * 16];
        tu_fill_randn(&rr, in, 2 * 33 * 16, 1.0f);
        tu_fill_randn(&rr, big, (size_t)rows * 2 + 768, 0.3f);
        for (int i = 0; i < NP; i++)
            if (counts[i]) TU_OK(lsvk_vision_layer_set_weight(l, names[i], big, counts[i]));
        lsvk_tensor *o2 = tu_tensor(ctx, 3, xs, NULL);
        lsvk_tensor_upload(x, in, sizeof in);
        TU_OK(lsvk_vision_forward(NULL, l, x, o));
        TU_OK(lsvk_vision_forward(NULL, l, o, o2));
        lsvk_tensor_download(o2, a, sizeof a);
        lsvk_cmd *cmd = NULL;
        TU_OK(lsvk_cmd_create(ctx, 0, &cmd));
        TU_OK(lsvk_vision_forward(cmd, l, x, o));
        TU_OK(lsvk_vision_forward(cmd, l, o, o2));
        TU_OK(lsvk_cmd_submit(cmd));
        lsvk_cmd_destroy(cmd);
        lsvk_tensor_download(o2, b2, sizeof b2);
        TU_CHECK(memcmp(a, b2, sizeof a) == 0, "one sequence == separate runs");
        lsvk_tensor_destroy(o2);
    }
    free(big);
    lsvk_tensor_destroy(x); lsvk_tensor_destroy(o); lsvk_tensor_destroy(xb); lsvk_tensor_destroy(ob);
    lsvk_vision_layer_destroy(l);
    lsvk_vision_layer_destroy(NULL);
}

int main(void) {
    tu_rng r = tu_rng_make(tu_seed());
    lsvk_context *ctx = tu_context();
    run_golden(ctx, NULL);
    run_golden(ctx, "0");

    /* the shapes, the device's kernel choice */
    run_case(ctx, &r, cfg(3, 24, 15, 10, 5, 3, 1, 1), 3, "w5 15x10, rpe, r3, global");
    run_case(ctx, &r, cfg(3, 24, 14, 21, 7, 0, 0, 0), 2, "w7 14x21, window only");
    run_case(ctx, &r, cfg(3, 24, 10, 15, 5, 4, 0, 1), 3, "w5 10x15, rpe, r4, no global");
    run_case(ctx, &r, cfg(3, 24, 7, 14, 7, 0, 1, 1), 2, "w7 7x14, rpe, global, no dp");
    run_case(ctx, &r, cfg(2, 12, 6, 4, 1, 2, 1, 0), 2, "w1 6x4 (margin 1)");
    run_case(ctx, &r, cfg(1, 80, 8, 6, 2, 4, 1, 1), 1, "w2 dh80 (surya's), rpe");
    run_case(ctx, &r, cfg(2, 8, 72, 40, 4, 5, 1, 1), 1, "72x40: several chunks");
    /* the shuffle kernels' edges, whatever the subgroup size: blocks past the end of a row of tiles,
     * key steps with a tail, head dims not a multiple of 4, r % 4 != 0 */
    set_shape("3,12,4");
    run_case(ctx, &r, cfg(2, 20, 12, 6, 3, 37, 1, 1), 2, "shuffle 3,12,4: dh20 r37 w3");
    set_shape("1,4,3");
    run_case(ctx, &r, cfg(3, 13, 10, 15, 5, 3, 1, 1), 3, "shuffle 1,4,3: dh13 w5");
    set_shape("2,8,2");
    run_case(ctx, &r, cfg(3, 24, 14, 7, 7, 2, 0, 1), 3, "shuffle 2,8,2: w7 14x7");
    /* the tile kernels (what GPUs run) */
    set_shape("0");
    run_case(ctx, &r, cfg(3, 24, 15, 10, 5, 3, 1, 1), 3, "tiles: w5 15x10, rpe, r3, global");
    run_case(ctx, &r, cfg(3, 24, 14, 21, 7, 0, 0, 0), 2, "tiles: w7 14x21, window only");
    run_case(ctx, &r, cfg(3, 13, 7, 14, 7, 2, 1, 1), 2, "tiles: dh13 w7 7x14, rpe");
    run_case(ctx, &r, cfg(2, 12, 6, 4, 1, 2, 1, 0), 2, "tiles: w1 6x4");
    set_shape(NULL);
    run_bands(ctx, &r);
    test_errors(ctx);
    return tu_finish(ctx);
}
