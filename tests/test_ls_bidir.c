/* The bidirectional long-short layer against lib/ref on random configurations and inputs nobody
 * tuned for, outputs poisoned first, with both kernel shapes (LSVK_LS_SHUFFLE); and its argument
 * errors. */
#include "ref/ref_attention.h"
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct params {
    float *w[15];
    size_t n[15];
} params;

static const char *const names[15] = {
    "W_q.weight", "W_q.bias", "W_k.weight", "W_k.bias", "W_v.weight", "W_v.bias",
    "W_o.weight", "W_o.bias", "dual_ln_l.weight", "dual_ln_l.bias", "dual_ln_s.weight",
    "dual_ln_s.bias", "dconv_fc.weight", "dconv_fc.bias", "conv.weight"};

static float *rand_array(tu_rng *r, size_t n, float mean, float scale) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = mean + (float)(tu_randn(r) * scale);
    return a;
}

static void make_params(tu_rng *r, const lsvk_ls_config *c, params *p) {
    size_t D = c->dim, HR = (size_t)c->heads * c->landmarks, K = c->conv_kernel > 0 ? (size_t)c->conv_kernel : 0;
    size_t n[15] = {D * D, D, D * D, D, D * D, D, D * D, D, D, D, D, D, HR * D, HR, c->heads * K};
    for (int i = 0; i < 15; i++) {
        p->n[i] = n[i];
        bool ln_w = i == 8 || i == 10, bias = i % 2 == 1 && i < 14;
        float scale = i == 14 ? 1.0f / sqrtf((float)(K ? K : 1)) : bias || ln_w ? 0.1f : 1.0f / sqrtf((float)D);
        p->w[i] = rand_array(r, n[i], ln_w ? 1.0f : 0.0f, scale);
    }
}

static void free_params(params *p) {
    for (int i = 0; i < 15; i++) free(p->w[i]);
}

/* One random case: layer vs reference; mask rows padded to the given valid lengths. */
static void run_case(lsvk_context *ctx, tu_rng *r, lsvk_ls_config c, int B, int N, const int *valid,
                     const char *what) {
    int N0 = N + (c.cls ? 1 : 0);
    params p;
    make_params(r, &c, &p);
    size_t n = (size_t)B * N0 * c.dim;
    float *x = rand_array(r, n, 0, 1), *mask = malloc((size_t)B * N0 * sizeof *mask);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N0; i++) mask[b * N0 + i] = i < valid[b] ? 1.0f : 0.0f;
    double *ref = malloc(n * sizeof *ref);
    lsvk_ref_ls_weights rw = {p.w[0], p.w[1], p.w[2], p.w[3], p.w[4], p.w[5], p.w[6], p.w[7],
                              p.w[8], p.w[9], p.w[10], p.w[11],
                              c.landmarks ? p.w[12] : NULL, c.landmarks ? p.w[13] : NULL,
                              c.conv_kernel > 0 ? p.w[14] : NULL};
    if (!TU_CHECK(lsvk_ref_ls_bidir(&c, &rw, B, N0, x, mask, ref) == 0, "%s: reference rejects", what)) goto done;

    lsvk_ls_layer *layer = NULL;
    if (TU_OK(lsvk_ls_layer_create(ctx, &c, &layer))) {
        for (int i = 0; i < 15; i++)
            if (p.n[i]) TU_OK(lsvk_ls_layer_set_weight(layer, names[i], p.w[i], p.n[i]));
        int64_t xs[3] = {B, N0, c.dim}, ms[2] = {B, N0};
        lsvk_tensor *tx = tu_tensor(ctx, 3, xs, x), *tm = tu_tensor(ctx, 2, ms, mask), *to = tu_tensor(ctx, 3, xs, NULL);
        float *got = malloc(n * sizeof *got);
        tu_poison(got, n);
        lsvk_tensor_upload(to, got, n * sizeof *got);
        if (TU_OK(lsvk_ls_forward(NULL, layer, tx, tm, to))) {
            lsvk_tensor_download(to, got, n * sizeof *got);
            double err = tu_rel_err(got, ref, n);
            printf("%-44s B%d N%d D%u H%u dh%u w%u r%u K%d cls%d: err %.3g\n", what, B, N, c.dim, c.heads,
                   c.head_dim, c.window, c.landmarks, c.conv_kernel, c.cls, err);
            TU_CHECK(err <= 1e-5, "%s: rel err %g", what, err);
        }
        free(got);
        lsvk_tensor_destroy(tx);
        lsvk_tensor_destroy(tm);
        lsvk_tensor_destroy(to);
    }
    lsvk_ls_layer_destroy(layer);
done:
    free_params(&p);
    free(x);
    free(mask);
    free(ref);
}

static lsvk_ls_config cfg(uint32_t H, uint32_t dh, uint32_t w, uint32_t r, int K, int cls) {
    lsvk_ls_config c = {H * dh, H, dh, w, r, K, cls};
    return c;
}

/* Forces the kernel shape: "0" the tile shaders (the GPU path), "R,RG,KU" the shuffle ones (CPU
 * devices with fixed subgroups); NULL: the library's choice for the device. */
static void set_shape(const char *shape) {
    tu_setenv("LSVK_LS_SHUFFLE", shape);
}

/* Inputs past the bytes one binding covers (LSVK_BINDING_LIMIT lowers it): sub-batches where one
 * sequence fits, else one sequence at a time in bands of tokens and chunks; with masks, CLS, conv,
 * odd windows, landmarks or not, head dim 13; both kernel families. Weights stay within the limit.
 * A query block with its margins past the limit is refused. */
static void run_bands(lsvk_context *ctx, tu_rng *r) {
    const struct { lsvk_ls_config c; int B, N; int valid[3]; const char *limit, *what; } cases[] = {
        {cfg(3, 24, 5, 3, 3, 0), 3, 100, {100, 37, 1}, "65536", "sub-batches 2+1, conv 3"},
        {cfg(3, 24, 6, 4, 7, 1), 3, 96, {97, 50, 2}, "32768", "sub-batches 1+1+1, cls + conv 7"},
        {cfg(3, 24, 5, 3, 3, 0), 2, 600, {600, 411}, "32768", "bands: w5 r3 conv 3"},
        {cfg(3, 24, 6, 4, 5, 1), 2, 600, {601, 77}, "32768", "bands: cls, w6 r4 conv 5"},
        {cfg(3, 24, 9, 0, 0, 0), 1, 603, {500}, "32768", "bands: window only, w9"},
        {cfg(3, 24, 0, 5, 0, 1), 1, 640, {641}, "32768", "bands: landmarks only, cls"},
        {cfg(3, 13, 4, 3, 3, 1), 2, 400, {401, 200}, "16384", "bands: dh13 w4 r3 cls conv 3"},
    };
    for (int tiles = 0; tiles < 2; tiles++) {
        set_shape(tiles ? "0" : NULL);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            lsvk_ls_config c = cases[i].c;
            uint64_t limit = strtoull(cases[i].limit, NULL, 10);
            uint64_t bytes = (uint64_t)cases[i].B * (cases[i].N + c.cls) * c.dim * 4;
            char what[96];
            snprintf(what, sizeof what, "%s%s (limit %s)", tiles ? "tiles, " : "", cases[i].what, cases[i].limit);
            TU_CHECK(bytes > limit && (uint64_t)c.dim * c.dim * 4 <= limit,
                     "%s: input of %llu bytes not past the limit, or weights past it", what, (unsigned long long)bytes);
            tu_setenv("LSVK_BINDING_LIMIT", cases[i].limit);
            run_case(ctx, r, c, cases[i].B, cases[i].N, cases[i].valid, what);
            tu_setenv("LSVK_BINDING_LIMIT", NULL);
        }
    }
    set_shape(NULL);
    /* w 100 at dim 72: a block of queries with its window margin is ~300 rows, 86,400 bytes */
    lsvk_ls_config c = cfg(3, 24, 100, 2, 0, 0);
    params p;
    make_params(r, &c, &p);
    lsvk_ls_layer *layer = NULL;
    if (TU_OK(lsvk_ls_layer_create(ctx, &c, &layer))) {
        for (int i = 0; i < 15; i++)
            if (p.n[i]) TU_OK(lsvk_ls_layer_set_weight(layer, names[i], p.w[i], p.n[i]));
        int64_t xs[3] = {1, 1000, c.dim};
        lsvk_tensor *tx = tu_tensor(ctx, 3, xs, NULL), *to = tu_tensor(ctx, 3, xs, NULL);
        tu_setenv("LSVK_BINDING_LIMIT", "32768");
        TU_STATUS(lsvk_ls_forward(NULL, layer, tx, NULL, to), LSVK_ERROR_LIMIT_EXCEEDED);
        TU_CHECK(strstr(lsvk_context_error(ctx), "maxStorageBufferRange") != NULL, "message: %s",
                 lsvk_context_error(ctx));
        tu_setenv("LSVK_BINDING_LIMIT", NULL);
        lsvk_tensor_destroy(tx);
        lsvk_tensor_destroy(to);
    }
    lsvk_ls_layer_destroy(layer);
    free_params(&p);
}

static void test_errors(lsvk_context *ctx) {
    lsvk_ls_layer *l = NULL;
    lsvk_ls_config c = cfg(2, 8, 4, 2, 3, 0);
    c.dim = 15;
    TU_STATUS(lsvk_ls_layer_create(ctx, &c, &l), LSVK_ERROR_SHAPE);
    c = cfg(2, 300, 4, 2, 0, 0);
    TU_STATUS(lsvk_ls_layer_create(ctx, &c, &l), LSVK_ERROR_UNSUPPORTED);
    c = cfg(2, 8, 0, 0, 0, 0);
    TU_STATUS(lsvk_ls_layer_create(ctx, &c, &l), LSVK_ERROR_INVALID_ARGUMENT);
    c = cfg(2, 8, 4, 2, 4, 0);
    TU_STATUS(lsvk_ls_layer_create(ctx, &c, &l), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_ls_layer_create(ctx, NULL, &l), LSVK_ERROR_INVALID_ARGUMENT);

    c = cfg(2, 8, 4, 2, 3, 0);
    if (!TU_OK(lsvk_ls_layer_create(ctx, &c, &l))) return;
    float buf[256] = {0};
    TU_STATUS(lsvk_ls_layer_set_weight(l, "W_z.weight", buf, 256), LSVK_ERROR_NOT_FOUND);
    TU_STATUS(lsvk_ls_layer_set_weight(l, "W_q.weight", buf, 255), LSVK_ERROR_SHAPE);
    TU_CHECK(strstr(lsvk_last_error(), "W_q.weight") != NULL, "message names the weight: %s", lsvk_last_error());
    int64_t xs[3] = {2, 12, 16}, bad[3] = {2, 10, 16}, ms[2] = {2, 11};
    lsvk_tensor *x = tu_tensor(ctx, 3, xs, NULL), *o = tu_tensor(ctx, 3, xs, NULL);
    lsvk_tensor *xb = tu_tensor(ctx, 3, bad, NULL), *ob = tu_tensor(ctx, 3, bad, NULL), *m = tu_tensor(ctx, 2, ms, NULL);
    TU_STATUS(lsvk_ls_forward(NULL, l, x, NULL, o), LSVK_ERROR_NOT_FOUND); /* weights missing */
    TU_CHECK(strstr(lsvk_last_error(), "never set") != NULL, "missing weight message: %s", lsvk_last_error());
    for (int i = 0; i < 15; i++) {
        size_t n = i == 12 ? 4 * 16 : i == 13 ? 4 : i == 14 ? 6 : (i % 2 == 0 && i < 8) ? 256 : 16;
        TU_OK(lsvk_ls_layer_set_weight(l, names[i], buf, n));
    }
    TU_STATUS(lsvk_ls_forward(NULL, l, xb, NULL, ob), LSVK_ERROR_SHAPE); /* 10 % 4 */
    TU_CHECK(strstr(lsvk_last_error(), "multiple of the window") != NULL, "msg: %s", lsvk_last_error());
    TU_STATUS(lsvk_ls_forward(NULL, l, x, m, o), LSVK_ERROR_SHAPE);      /* mask [2,11] */
    TU_STATUS(lsvk_ls_forward(NULL, l, x, NULL, ob), LSVK_ERROR_SHAPE);  /* out shape */
    TU_STATUS(lsvk_ls_forward(NULL, l, x, NULL, x), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_ls_forward(NULL, NULL, x, NULL, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_OK(lsvk_ls_forward(NULL, l, x, NULL, o));

    /* recorded into one sequence with other ops: gelu, the layer twice (its workspace reused, so
     * the sequence needs barriers between the two), equal to running each at once */
    {
        tu_rng rr = tu_rng_make(7);
        float in[2 * 12 * 16], a[2 * 12 * 16], bres[2 * 12 * 16];
        tu_fill_randn(&rr, in, 2 * 12 * 16, 1.0f);
        for (int i = 0; i < 15; i++) {
            size_t n = i == 12 ? 4 * 16 : i == 13 ? 4 : i == 14 ? 6 : (i % 2 == 0 && i < 8) ? 256 : 16;
            float *w = rand_array(&rr, n, i == 8 || i == 10 ? 1.0f : 0.0f, 0.3f);
            TU_OK(lsvk_ls_layer_set_weight(l, names[i], w, n));
            free(w);
        }
        lsvk_tensor *o2 = tu_tensor(ctx, 3, xs, NULL);
        lsvk_tensor_upload(x, in, sizeof in);
        TU_OK(lsvk_gelu(NULL, x, x));
        TU_OK(lsvk_ls_forward(NULL, l, x, NULL, o));
        TU_OK(lsvk_ls_forward(NULL, l, o, NULL, o2));
        lsvk_tensor_download(o2, a, sizeof a);
        lsvk_tensor_upload(x, in, sizeof in);
        lsvk_cmd *cmd = NULL;
        TU_OK(lsvk_cmd_create(ctx, 0, &cmd));
        TU_OK(lsvk_gelu(cmd, x, x));
        TU_OK(lsvk_ls_forward(cmd, l, x, NULL, o));
        TU_OK(lsvk_ls_forward(cmd, l, o, NULL, o2));
        TU_OK(lsvk_cmd_submit(cmd));
        lsvk_cmd_destroy(cmd);
        lsvk_tensor_download(o2, bres, sizeof bres);
        TU_CHECK(memcmp(a, bres, sizeof a) == 0, "one sequence == separate runs");
        lsvk_tensor_destroy(o2);
    }
    lsvk_tensor_destroy(x); lsvk_tensor_destroy(o); lsvk_tensor_destroy(xb); lsvk_tensor_destroy(ob);
    lsvk_tensor_destroy(m);
    lsvk_ls_layer_destroy(l);
    lsvk_ls_layer_destroy(NULL);
}

int main(void) {
    tu_rng r = tu_rng_make(tu_seed());
    lsvk_context *ctx = tu_context();
    int v3[3] = {0, 0, 0};

    /* the shapes: batch 3, 3 heads x 24, N = 7w, w = 1, r = 1, a row padded down to one
     * real token, odd w */
    v3[0] = 7; v3[1] = 1; v3[2] = 5;
    run_case(ctx, &r, cfg(3, 24, 1, 1, 0, 0), 3, 7, v3, "w1 r1, a row with one token");
    v3[0] = 35; v3[1] = 1; v3[2] = 20;
    run_case(ctx, &r, cfg(3, 24, 5, 3, 3, 0), 3, 35, v3, "odd w 5, conv 3");
    v3[0] = 63; v3[1] = 40; v3[2] = 1;
    run_case(ctx, &r, cfg(3, 24, 9, 0, 0, 0), 3, 63, v3, "window only, odd w 9");
    v3[0] = 50; v3[1] = 13; v3[2] = 1;
    run_case(ctx, &r, cfg(3, 24, 0, 5, 5, 0), 3, 50, v3, "landmarks only, conv 5");
    v3[0] = 43; v3[1] = 2; v3[2] = 30;
    run_case(ctx, &r, cfg(3, 24, 6, 4, 7, 1), 3, 42, v3, "cls + conv, a row with one token");
    v3[0] = 25; v3[1] = 17;
    run_case(ctx, &r, cfg(1, 80, 3, 2, 0, 1), 2, 24, v3, "cls, head_dim 80");
    v3[0] = 96; v3[1] = 33;
    run_case(ctx, &r, cfg(2, 256, 32, 7, 0, 0), 2, 96, v3, "head_dim 256, w 32");
    v3[0] = 300; v3[1] = 257;
    run_case(ctx, &r, cfg(2, 40, 100, 37, 0, 0), 2, 300, v3, "w 100 (window past a tile), r 37");
    /* the shuffle shaders' edges, whatever the subgroup size (4, 8, 16 here): query blocks of
     * R*SG rows that N does not fill, landmark and window steps of KU keys with a tail, landmark
     * groups of RG with a short last one, score quads that are not vec4-aligned (r % 4 != 0),
     * head dims that are not a multiple of 4 or of 4*SG, several projection chunks whose length
     * is no multiple of the token steps and blocks */
    set_shape("3,12,4");
    v3[0] = 30; v3[1] = 31;
    run_case(ctx, &r, cfg(2, 20, 6, 37, 3, 1), 2, 30, v3, "shuffle 3,12,4: dh 20, r 37, cls");
    set_shape("1,4,3");
    v3[0] = 44; v3[1] = 9; v3[2] = 2;
    run_case(ctx, &r, cfg(2, 37, 11, 10, 0, 0), 3, 44, v3, "shuffle 1,4,3: dh 37, r 10, w 11");
    set_shape("2,8,2");
    v3[0] = 64; v3[1] = 64;
    run_case(ctx, &r, cfg(1, 80, 2, 4, 0, 0), 2, 64, v3, "shuffle 2,8,2: dh 80 (surya's), w 2, r 4");
    set_shape(NULL);
    v3[0] = 41; v3[1] = 3;
    run_case(ctx, &r, cfg(2, 16, 4, 0, 5, 1), 2, 40, v3, "cls without landmarks, conv 5");
    v3[0] = 2107; v3[1] = 1500;
    run_case(ctx, &r, cfg(2, 8, 7, 5, 0, 0), 2, 2107, v3, "N 2107: several projection chunks");
    /* the tile shaders (what GPUs run) */
    set_shape("0");
    v3[0] = 35; v3[1] = 1; v3[2] = 20;
    run_case(ctx, &r, cfg(3, 24, 5, 3, 3, 0), 3, 35, v3, "tiles: odd w 5, conv 3");
    v3[0] = 43; v3[1] = 2; v3[2] = 30;
    run_case(ctx, &r, cfg(3, 24, 6, 4, 7, 1), 3, 42, v3, "tiles: cls + conv");
    v3[0] = 300; v3[1] = 257;
    run_case(ctx, &r, cfg(2, 40, 100, 37, 0, 0), 2, 300, v3, "tiles: w 100, r 37");
    set_shape(NULL);
    /* a few random configurations */
    for (int i = 0; i < 4; i++) {
        uint32_t H = (uint32_t)tu_randint(&r, 1, 4), dh = (uint32_t)tu_randint(&r, 1, 48);
        uint32_t w = (uint32_t)tu_randint(&r, 0, 12), rk = (uint32_t)tu_randint(&r, 0, 9);
        int cls = tu_randint(&r, 0, 1);
        if (w == 0 && rk == 0) rk = 1;
        int K = tu_randint(&r, 0, 1) ? 2 * tu_randint(&r, 0, 4) + 1 : 0;
        int B = tu_randint(&r, 1, 3), N = (w ? (int)w : 1) * tu_randint(&r, 1, 90 / (w ? (int)w : 1) + 1);
        for (int b = 0; b < B; b++) v3[b] = tu_randint(&r, 1, N + cls);
        char what[32];
        snprintf(what, sizeof what, "random %d", i);
        run_case(ctx, &r, cfg(H, dh, w, rk, K, cls), B, N, v3, what);
    }
    run_bands(ctx, &r);
    test_errors(ctx);
    return tu_finish(ctx);
}
