/* lsvk-golden: variants `bidir` (lsvk_ls_forward) and `full` (lsvk_attention). */
#include "golden_run.h"

#include <stdio.h>
#include <stdlib.h>

int golden_run_bidir(lsvk_context *ctx, golden_file *g, golden_run *r) {
    lsvk_ls_config cfg;
    int B, N0;
    if (golden_ls_config(g, &cfg, &B, &N0) != 0) {
        snprintf(r->why, sizeof r->why, "cannot read the bidir config");
        return -1;
    }
    int64_t xs[3] = {B, N0, cfg.dim}, ms[2] = {B, N0};
    float *x = golden_tensor_expect(g, "input.X", 3, xs);
    float *mask = golden_has(g, "input.mask") ? golden_tensor_expect(g, "input.mask", 2, ms) : NULL;
    lsvk_ls_layer *layer = NULL;
    lsvk_tensor *tx = NULL, *tm = NULL, *to = NULL;
    int rc = -1;
    lsvk_status s;
    float *out = golden_add_result(r, "output", (size_t)B * N0 * cfg.dim);
    if (!x || (golden_has(g, "input.mask") && !mask) || !out) {
        snprintf(r->why, sizeof r->why, "input tensors missing or misshapen");
        goto done;
    }
    if ((s = lsvk_ls_layer_create(ctx, &cfg, &layer)) != LSVK_SUCCESS) { golden_fail(r, "layer", s); goto done; }
    if ((s = lsvk_ls_layer_load(layer, golden_safetensors(g), NULL)) != LSVK_SUCCESS) { golden_fail(r, "weights", s); goto done; }
    tx = golden_upload(ctx, 3, xs, x);
    tm = mask ? golden_upload(ctx, 2, ms, mask) : NULL;
    to = golden_upload(ctx, 3, xs, out);
    if (!tx || !to || (mask && !tm)) { golden_fail(r, "tensors", LSVK_ERROR_OUT_OF_DEVICE_MEMORY); goto done; }
    if ((s = lsvk_ls_forward(NULL, layer, tx, tm, to)) != LSVK_SUCCESS) { golden_fail(r, "forward", s); goto done; }
    if ((s = lsvk_tensor_download(to, out, (size_t)B * N0 * cfg.dim * sizeof *out)) != LSVK_SUCCESS) {
        golden_fail(r, "download", s);
        goto done;
    }
    rc = 0;
done:
    lsvk_tensor_destroy(tx);
    lsvk_tensor_destroy(tm);
    lsvk_tensor_destroy(to);
    lsvk_ls_layer_destroy(layer);
    free(x);
    free(mask);
    return rc;
}

int golden_run_full(lsvk_context *ctx, golden_file *g, golden_run *r) {
    int64_t shape[LSVK_ST_MAX_RANK];
    if (golden_shape(g, "input.Q", shape, NULL) != 4) {
        snprintf(r->why, sizeof r->why, "input.Q must be [B,H,N,dh]");
        return -1;
    }
    int causal = 0;
    golden_cfg_bool(g, "causal", &causal);
    size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
    int64_t ms[2] = {shape[0], shape[2]};
    float *q = golden_tensor_expect(g, "input.Q", 4, shape), *k = golden_tensor_expect(g, "input.K", 4, shape);
    float *v = golden_tensor_expect(g, "input.V", 4, shape);
    float *mask = golden_has(g, "input.mask") ? golden_tensor_expect(g, "input.mask", 2, ms) : NULL;
    float *out = golden_add_result(r, "output", n);
    lsvk_tensor *tq = NULL, *tk = NULL, *tv = NULL, *tm = NULL, *to = NULL;
    int rc = -1;
    lsvk_status s;
    if (!q || !k || !v || !out || (golden_has(g, "input.mask") && !mask)) {
        snprintf(r->why, sizeof r->why, "input tensors missing or misshapen");
        goto done;
    }
    tq = golden_upload(ctx, 4, shape, q);
    tk = golden_upload(ctx, 4, shape, k);
    tv = golden_upload(ctx, 4, shape, v);
    tm = mask ? golden_upload(ctx, 2, ms, mask) : NULL;
    to = golden_upload(ctx, 4, shape, out);
    if (!tq || !tk || !tv || !to || (mask && !tm)) { golden_fail(r, "tensors", LSVK_ERROR_OUT_OF_DEVICE_MEMORY); goto done; }
    s = lsvk_attention(NULL, tq, tk, tv, tm, causal ? LSVK_ATTENTION_CAUSAL : 0, to);
    if (s != LSVK_SUCCESS) { golden_fail(r, "attention", s); goto done; }
    if ((s = lsvk_tensor_download(to, out, n * sizeof *out)) != LSVK_SUCCESS) { golden_fail(r, "download", s); goto done; }
    rc = 0;
done:
    lsvk_tensor_destroy(tq);
    lsvk_tensor_destroy(tk);
    lsvk_tensor_destroy(tv);
    lsvk_tensor_destroy(tm);
    lsvk_tensor_destroy(to);
    free(q);
    free(k);
    free(v);
    free(mask);
    return rc;
}
