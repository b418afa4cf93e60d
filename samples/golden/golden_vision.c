/* lsvk-golden: variant `vision2d` (lsvk_vision_forward). */
#include "golden_run.h"

#include <stdio.h>
#include <stdlib.h>

/* The file's config as an lsvk_vision_config; B and the grid also from input.x. Missing keys take
 * the reference module's defaults (nglo 1, w 2, dp_rank 2, no rpe, no qkv bias; ny = nx). */
static int vision_config(golden_file *g, lsvk_vision_config *c, int *B) {
    long long dim = 0, heads = 0, nx = 0;
    int64_t xs[LSVK_ST_MAX_RANK];
    if (golden_cfg_int(g, "dim", &dim) || golden_cfg_int(g, "num_heads", &heads) || golden_cfg_int(g, "nx", &nx) ||
        dim < 1 || heads < 1 || nx < 1 || golden_shape(g, "input.x", xs, NULL) != 3)
        return -1;
    int rpe = 0, qkv_bias = 0;
    golden_cfg_bool(g, "rpe", &rpe);
    golden_cfg_bool(g, "qkv_bias", &qkv_bias);
    c->dim = (uint32_t)dim;
    c->heads = (uint32_t)heads;
    c->head_dim = (uint32_t)golden_cfg_int_or(g, "head_dim", dim / heads);
    c->nx = (uint32_t)nx;
    c->ny = (uint32_t)golden_cfg_int_or(g, "ny", nx);
    c->window = (uint32_t)golden_cfg_int_or(g, "w", 2);
    c->dp_rank = (uint32_t)golden_cfg_int_or(g, "dp_rank", 2);
    c->nglo = (uint32_t)golden_cfg_int_or(g, "nglo", 1);
    c->rpe = rpe;
    c->qkv_bias = qkv_bias || golden_has(g, "qkv.bias");
    *B = (int)xs[0];
    return 0;
}

int golden_run_vision2d(lsvk_context *ctx, golden_file *g, golden_run *r) {
    lsvk_vision_config cfg;
    int B;
    if (vision_config(g, &cfg, &B) != 0) {
        snprintf(r->why, sizeof r->why, "cannot read the vision2d config (dim, num_heads, nx, input.x)");
        return -1;
    }
    int64_t xs[3] = {B, (int64_t)cfg.nglo + (int64_t)cfg.nx * cfg.ny, cfg.dim};
    size_t n = (size_t)(xs[0] * xs[1] * xs[2]);
    float *x = golden_tensor_expect(g, "input.x", 3, xs);
    float *out = golden_add_result(r, "output", n);
    lsvk_vision_layer *layer = NULL;
    lsvk_tensor *tx = NULL, *to = NULL;
    int rc = -1;
    lsvk_status s;
    if (!x || !out) {
        snprintf(r->why, sizeof r->why, "input.x missing or not [B, nglo + nx*ny, dim]");
        goto done;
    }
    if ((s = lsvk_vision_layer_create(ctx, &cfg, &layer)) != LSVK_SUCCESS) { golden_fail(r, "layer", s); goto done; }
    if ((s = lsvk_vision_layer_load(layer, golden_safetensors(g), NULL)) != LSVK_SUCCESS) { golden_fail(r, "weights", s); goto done; }
    tx = golden_upload(ctx, 3, xs, x);
    to = golden_upload(ctx, 3, xs, out);
    if (!tx || !to) { golden_fail(r, "tensors", LSVK_ERROR_OUT_OF_DEVICE_MEMORY); goto done; }
    if ((s = lsvk_vision_forward(NULL, layer, tx, to)) != LSVK_SUCCESS) { golden_fail(r, "forward", s); goto done; }
    if ((s = lsvk_tensor_download(to, out, n * sizeof *out)) != LSVK_SUCCESS) { golden_fail(r, "download", s); goto done; }
    rc = 0;
done:
    lsvk_tensor_destroy(tx);
    lsvk_tensor_destroy(to);
    lsvk_vision_layer_destroy(layer);
    free(x);
    return rc;
}
