/* The long-short layer on long sequences against lib/ref: per-workgroup work grows with the
 * sequence in the split reductions, and some drivers cap a shader's loop iterations (llvmpipe:
 * 65535 per invocation), so long inputs must either be right or refused, never silently wrong. */
#include "ref/ref_attention.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const names[14] = {
    "W_q.weight", "W_q.bias", "W_k.weight", "W_k.bias", "W_v.weight", "W_v.bias", "W_o.weight",
    "W_o.bias", "dual_ln_l.weight", "dual_ln_l.bias", "dual_ln_s.weight", "dual_ln_s.bias",
    "dconv_fc.weight", "dconv_fc.bias"};

static void run(lsvk_context *ctx, tu_rng *r, uint32_t H, uint32_t dh, uint32_t w, uint32_t rk, int N) {
    lsvk_ls_config c = {H * dh, H, dh, w, rk, 0, 0};
    size_t D = c.dim, HR = (size_t)H * rk, cnt[14];
    float *p[14];
    for (int i = 0; i < 14; i++) {
        cnt[i] = i < 8 ? (i % 2 ? D : D * D) : i < 12 ? D : i == 12 ? HR * D : HR;
        p[i] = malloc(cnt[i] * sizeof(float));
        int ln_w = i == 8 || i == 10;
        for (size_t k = 0; k < cnt[i]; k++)
            p[i][k] = (ln_w ? 1.0f : 0.0f) + (float)tu_randn(r) * ((i % 2 || ln_w) ? 0.1f : 1.0f / sqrtf((float)D));
    }
    size_t n = (size_t)N * D;
    float *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *got), *mask = malloc((size_t)N * sizeof *mask);
    double *ref = malloc(n * sizeof *ref);
    tu_fill_randn(r, x, n, 1.0f);
    for (int i = 0; i < N; i++) mask[i] = i < N - 3 * (int)(w ? w : 1) ? 1.0f : 0.0f; /* a padded tail */
    lsvk_ref_ls_weights rw = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11],
                              p[12], p[13], NULL};
    TU_CHECK(lsvk_ref_ls_bidir(&c, &rw, 1, N, x, mask, ref) == 0, "reference");
    lsvk_ls_layer *layer = NULL;
    if (TU_OK(lsvk_ls_layer_create(ctx, &c, &layer))) {
        for (int i = 0; i < 14; i++) TU_OK(lsvk_ls_layer_set_weight(layer, names[i], p[i], cnt[i]));
        int64_t xs[3] = {1, N, (int64_t)D}, ms[2] = {1, N};
        lsvk_tensor *tx = tu_tensor(ctx, 3, xs, x), *tm = tu_tensor(ctx, 2, ms, mask), *to = tu_tensor(ctx, 3, xs, NULL);
        tu_poison(got, n);
        lsvk_tensor_upload(to, got, n * sizeof *got);
        lsvk_status s = lsvk_ls_forward(NULL, layer, tx, tm, to);
        if (s == LSVK_ERROR_LIMIT_EXCEEDED) {
            printf("N=%d H%u dh%u w%u r%u: refused: %s\n", N, H, dh, w, rk, lsvk_last_error());
        } else if (TU_OK(s)) {
            lsvk_tensor_download(to, got, n * sizeof *got);
            double err = tu_rel_err(got, ref, n);
            printf("N=%d H%u dh%u w%u r%u: err %.3g\n", N, H, dh, w, rk, err);
            TU_CHECK(err <= 1e-5, "N=%d: rel err %g", N, err);
        }
        lsvk_tensor_destroy(tx);
        lsvk_tensor_destroy(tm);
        lsvk_tensor_destroy(to);
    }
    lsvk_ls_layer_destroy(layer);
    for (int i = 0; i < 14; i++) free(p[i]);
    free(x);
    free(got);
    free(mask);
    free(ref);
}

int main(void) {
    tu_rng r = tu_rng_make(tu_seed());
    lsvk_context *ctx = tu_context();
    run(ctx, &r, 2, 64, 64, 64, 16384); /* the base preset's head size, window and landmarks */
    run(ctx, &r, 2, 8, 4, 5, 65536 + 4 * 7);
    return tu_finish(ctx);
}
