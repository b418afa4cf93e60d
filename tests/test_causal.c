/* The causal long-short layer against lib/ref on random weights and inputs, at shapes no kernel is
 * tuned for (odd heads and head sizes, L not a multiple of cs, r > 1, batch 3), outputs poisoned
 * first; and every bad input of its API. */
#include "ref/ref_causal.h"
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct weights {
    float *p[19];
    lsvk_ref_causal_weights w;
} weights;

static const char *const names[19] = {
    "proj_query.weight", "proj_query.bias", "proj_key.weight", "proj_key.bias", "proj_val.weight",
    "proj_val.bias", "proj_out.weight", "proj_out.bias", "dconv_1.weight", "dconv_1.bias",
    "r_net.weight", "r_net_chunk.weight", "r_net_chunk.bias", "r_w_bias", "r_r_bias",
    "dual_ln_win.weight", "dual_ln_win.bias", "dual_ln_dproj.weight", "dual_ln_dproj.bias"};

/* Random parameters as the golden generator draws them; sets them on the layer too. */
static void make_weights(tu_rng *rng, const lsvk_causal_config *c, lsvk_causal_layer *layer, weights *w) {
    size_t D = c->dim, HR = (size_t)c->heads * c->chunk_rank;
    size_t sizes[19] = {D * D, D, D * D, D, D * D, D, D * D, D, HR * D, HR, D * D, D * D, D, D, D, D, D, D, D};
    for (int i = 0; i < 19; i++) {
        bool bias = i == 1 || i == 3 || i == 5 || i == 7;
        w->p[i] = NULL;
        if (bias && !c->use_bias) continue;
        w->p[i] = malloc(sizes[i] * sizeof(float));
        bool ln_w = i == 15 || i == 17;
        float scale = i >= 13 && i <= 14 ? 0.25f : (sizes[i] == D * D || sizes[i] == HR * D) ? 1.0f / sqrtf((float)D) : 0.1f;
        tu_fill_randn(rng, w->p[i], sizes[i], scale);
        if (ln_w)
            for (size_t j = 0; j < sizes[i]; j++) w->p[i][j] += 1.0f;
        TU_OK(lsvk_causal_layer_set_weight(layer, names[i], w->p[i], sizes[i]));
    }
    lsvk_ref_causal_weights r = {w->p[0], w->p[1], w->p[2], w->p[3], w->p[4], w->p[5], w->p[6], w->p[7],
                                 w->p[8], w->p[9], w->p[10], w->p[11], w->p[12], w->p[13], w->p[14],
                                 w->p[15], w->p[16], w->p[17], w->p[18]};
    w->w = r;
    return;
}

static void free_weights(weights *w) {
    for (int i = 0; i < 19; i++) free(w->p[i]);
}

static void check_layer(lsvk_context *ctx, tu_rng *rng, lsvk_causal_config c, int B, int L, const char *what) {
    lsvk_causal_layer *layer = NULL;
    if (!TU_OK(lsvk_causal_layer_create(ctx, &c, &layer))) return;
    weights w;
    make_weights(rng, &c, layer, &w);
    size_t nh = (size_t)B * L * c.dim, nc = (size_t)B * c.mem_len * c.dim;
    float *h = malloc(nh * sizeof *h), *hc = malloc(nc * sizeof *hc), *got = malloc(nh * sizeof *got);
    double *want = malloc(nh * sizeof *want), *hd = malloc(nh * sizeof *hd), *hcd = malloc(nc * sizeof *hcd);
    tu_fill_randn(rng, h, nh, 1.0f);
    tu_fill_randn(rng, hc, nc, 1.0f);
    for (size_t i = 0; i < nh; i++) hd[i] = h[i];
    for (size_t i = 0; i < nc; i++) hcd[i] = hc[i];
    TU_CHECK(lsvk_ref_causal_attn_d(&c, &w.w, NULL, hd, hcd, B, L, want, NULL) == 0, "%s: reference", what);
    int64_t hs[3] = {B, L, c.dim}, cs[3] = {B, c.mem_len, c.dim};
    lsvk_tensor *th = tu_tensor(ctx, 3, hs, h), *tc = tu_tensor(ctx, 3, cs, hc), *to = tu_poisoned(ctx, 3, hs);
    TU_OK(lsvk_causal_forward(NULL, layer, th, tc, to));
    TU_OK(lsvk_tensor_download(to, got, nh * sizeof *got));
    double err = tu_rel_err(got, want, nh);
    printf("  %-44s rel err %.2e\n", what, err);
    TU_CHECK(err <= 1e-4, "%s: rel err %.3g", what, err);
    lsvk_tensor_destroy(th);
    lsvk_tensor_destroy(tc);
    lsvk_tensor_destroy(to);
    lsvk_causal_layer_destroy(layer);
    free_weights(&w);
    free(h); free(hc); free(got); free(want); free(hd); free(hcd);
    return;
}

static void bad_inputs(lsvk_context *ctx) {
    lsvk_causal_layer *layer = NULL;
    lsvk_causal_config ok = {24, 2, 12, 4, 1, 6, 8, 1}, c;
    c = ok; c.mem_len = 10;
    TU_STATUS(lsvk_causal_layer_create(ctx, &c, &layer), LSVK_ERROR_INVALID_ARGUMENT);
    c = ok; c.window = 12;
    TU_STATUS(lsvk_causal_layer_create(ctx, &c, &layer), LSVK_ERROR_INVALID_ARGUMENT);
    c = ok; c.head_dim = 11;
    TU_STATUS(lsvk_causal_layer_create(ctx, &c, &layer), LSVK_ERROR_SHAPE);
    c = ok; c.chunk_rank = 0;
    TU_STATUS(lsvk_causal_layer_create(ctx, &c, &layer), LSVK_ERROR_INVALID_ARGUMENT);
    c = (lsvk_causal_config){15, 3, 5, 4, 1, 4, 8, 1};
    TU_STATUS(lsvk_causal_layer_create(ctx, &c, &layer), LSVK_ERROR_SHAPE); /* odd dim */
    TU_STATUS(lsvk_causal_layer_create(ctx, NULL, &layer), LSVK_ERROR_INVALID_ARGUMENT);
    if (!TU_OK(lsvk_causal_layer_create(ctx, &ok, &layer))) return;
    float v[24 * 24] = {0};
    TU_STATUS(lsvk_causal_layer_set_weight(layer, "proj_key.weight", v, 10), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_causal_layer_set_weight(layer, "W_q.weight", v, 10), LSVK_ERROR_NOT_FOUND);
    int64_t hs[3] = {2, 8, 24}, cs[3] = {2, 8, 24}, bad[3] = {2, 4, 24};
    lsvk_tensor *h = tu_tensor(ctx, 3, hs, NULL), *hc = tu_tensor(ctx, 3, cs, NULL), *o = tu_tensor(ctx, 3, hs, NULL);
    lsvk_tensor *hb = tu_tensor(ctx, 3, bad, NULL);
    /* weights not set yet */
    TU_STATUS(lsvk_causal_forward(NULL, layer, h, hc, o), LSVK_ERROR_STATE);
    for (int i = 0; i < 19; i++) {
        size_t n = i == 8 ? 2 * 24 : i == 9 ? 2 : (i == 0 || i == 2 || i == 4 || i == 6 || i == 10 || i == 11) ? 24 * 24 : 24;
        TU_OK(lsvk_causal_layer_set_weight(layer, names[i], v, n));
    }
    TU_STATUS(lsvk_causal_forward(NULL, layer, h, hb, o), LSVK_ERROR_SHAPE); /* cache rows != mem_len */
    TU_STATUS(lsvk_causal_forward(NULL, layer, h, hc, hb), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_causal_forward(NULL, layer, h, hc, h), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_causal_forward(NULL, layer, NULL, hc, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_causal_forward(NULL, NULL, h, hc, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_OK(lsvk_causal_forward(NULL, layer, h, hc, o));
    lsvk_tensor_destroy(h);
    lsvk_tensor_destroy(hc);
    lsvk_tensor_destroy(o);
    lsvk_tensor_destroy(hb);
    lsvk_causal_layer_destroy(layer);
    return;
}

int main(void) {
    lsvk_context *ctx = tu_context();
    if (!ctx) return 1;
    tu_rng rng = tu_rng_make(tu_seed());
    /* {dim, heads, head_dim, cs, r, W, M, use_bias} */
    check_layer(ctx, &rng, (lsvk_causal_config){64, 4, 16, 16, 1, 32, 64, 1}, 2, 64, "golden shape B2 L64");
    check_layer(ctx, &rng, (lsvk_causal_config){72, 3, 24, 5, 2, 7, 15, 1}, 3, 23, "3x24 cs5 r2 W7 M15 L23 B3");
    check_layer(ctx, &rng, (lsvk_causal_config){26, 2, 13, 4, 3, 5, 8, 0}, 2, 37, "2x13 cs4 r3 W5 M8 L37 no bias");
    check_layer(ctx, &rng, (lsvk_causal_config){40, 5, 8, 3, 1, 9, 9, 1}, 1, 1, "L1 (one token)");
    check_layer(ctx, &rng, (lsvk_causal_config){32, 1, 32, 8, 2, 8, 40, 1}, 2, 100, "1 head W8 M40 L100");
    check_layer(ctx, &rng, (lsvk_causal_config){160, 2, 80, 16, 1, 64, 128, 1}, 1, 200, "dh80 W64 M128 L200");
    bad_inputs(ctx);
    return tu_finish(ctx);
}
