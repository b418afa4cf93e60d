/* lsvk-golden: variants `causal` (lsvk_causal_forward), `causal_model` and `charlm` (the language
 * model, lsvk_lm_forward with the cache carried). */
#include "golden_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long long cfg(golden_file *g, const char *key, const char *alt, long long def) {
    long long v;
    if (golden_cfg_int(g, key, &v) == 0) return v;
    if (alt && golden_cfg_int(g, alt, &v) == 0) return v;
    return def;
}

static int cfg_bool(golden_file *g, const char *key, int def) {
    int v;
    return golden_cfg_bool(g, key, &v) == 0 ? v : def;
}

int golden_run_causal(lsvk_context *ctx, golden_file *g, golden_run *r) {
    lsvk_causal_config c = {0};
    c.dim = (uint32_t)cfg(g, "d_model", NULL, 0);
    c.heads = (uint32_t)cfg(g, "n_head", NULL, 0);
    c.head_dim = c.heads ? c.dim / c.heads : 0;
    c.chunk_size = (uint32_t)cfg(g, "chunk_size", NULL, 0);
    c.chunk_rank = (uint32_t)cfg(g, "chunk_rank", NULL, 0);
    c.window = (uint32_t)cfg(g, "window_len", NULL, 0);
    c.mem_len = (uint32_t)cfg(g, "mem", "mem_len", 0);
    c.use_bias = cfg_bool(g, "use_bias", 0);
    int64_t hs[LSVK_ST_MAX_RANK];
    if (golden_shape(g, "input.h", hs, NULL) != 3) {
        snprintf(r->why, sizeof r->why, "input.h must be [B, L, D]");
        return -1;
    }
    int64_t cs[3] = {hs[0], c.mem_len, hs[2]};
    float *h = golden_tensor_expect(g, "input.h", 3, hs), *hc = golden_tensor_expect(g, "input.h_cache", 3, cs);
    size_t n = (size_t)(hs[0] * hs[1] * hs[2]);
    float *out = golden_add_result(r, "output", n);
    lsvk_causal_layer *layer = NULL;
    lsvk_tensor *th = NULL, *tc = NULL, *to = NULL;
    int rc = -1;
    lsvk_status s;
    if (!h || !hc || !out) {
        snprintf(r->why, sizeof r->why, "input tensors missing or misshapen");
        goto done;
    }
    if ((s = lsvk_causal_layer_create(ctx, &c, &layer)) != LSVK_SUCCESS) { golden_fail(r, "layer", s); goto done; }
    if ((s = lsvk_causal_layer_load(layer, golden_safetensors(g), NULL)) != LSVK_SUCCESS) { golden_fail(r, "weights", s); goto done; }
    th = golden_upload(ctx, 3, hs, h);
    tc = golden_upload(ctx, 3, cs, hc);
    to = golden_upload(ctx, 3, hs, out);
    if (!th || !tc || !to) { golden_fail(r, "tensors", LSVK_ERROR_OUT_OF_DEVICE_MEMORY); goto done; }
    if ((s = lsvk_causal_forward(NULL, layer, th, tc, to)) != LSVK_SUCCESS) { golden_fail(r, "forward", s); goto done; }
    if ((s = lsvk_tensor_download(to, out, n * sizeof *out)) != LSVK_SUCCESS) { golden_fail(r, "download", s); goto done; }
    rc = 0;
done:
    lsvk_tensor_destroy(th);
    lsvk_tensor_destroy(tc);
    lsvk_tensor_destroy(to);
    lsvk_causal_layer_destroy(layer);
    free(h);
    free(hc);
    return rc;
}

/* Token ids of a [B, L] tensor as int32. */
static int32_t *tokens(golden_file *g, const char *name, int64_t *B, int64_t *L) {
    int64_t shape[LSVK_ST_MAX_RANK];
    size_t n;
    if (golden_shape(g, name, shape, NULL) != 2) return NULL;
    float *f = golden_tensor(g, name, NULL, NULL, &n);
    int32_t *t = f ? malloc(n * sizeof *t) : NULL;
    for (size_t i = 0; t && i < n; i++) t[i] = (int32_t)f[i];
    free(f);
    *B = shape[0];
    *L = shape[1];
    return t;
}

/* Runs `blocks` blocks of tokens through lm with the cache carried, adding the log-probs as
 * results named lp_fmt % block, then the caches as cache_fmt % layer. The first block starts from
 * the caches in_cache_fmt % layer when given, else from zeros. */
static int run_lm(lsvk_context *ctx, golden_file *g, const lsvk_safetensors *weights, golden_run *r, int blocks,
                  const char *tok_fmt, const char *lp_fmt, const char *in_cache_fmt, const char *cache_fmt) {
    lsvk_lm *lm = NULL;
    lsvk_lm_state *st = NULL;
    int32_t *tok = NULL;
    float *cache = NULL;
    int rc = -1;
    lsvk_status s;
    if ((s = lsvk_lm_load(ctx, weights, &lm)) != LSVK_SUCCESS) return golden_fail(r, "model", s);
    const lsvk_lm_config *c = lsvk_lm_get_config(lm);
    for (int b = 0; b < blocks; b++) {
        char name[64];
        snprintf(name, sizeof name, tok_fmt, b);
        int64_t B, L;
        free(tok);
        tok = tokens(g, name, &B, &L);
        if (!tok) {
            snprintf(r->why, sizeof r->why, "%s missing or not [B, L]", name);
            goto done;
        }
        if (!st) {
            if ((s = lsvk_lm_state_create(lm, (uint32_t)B, (uint32_t)L, &st)) != LSVK_SUCCESS) {
                golden_fail(r, "state", s);
                goto done;
            }
            size_t cn = (size_t)B * c->mem_len * c->dim;
            cache = malloc(cn * sizeof *cache);
            for (uint32_t l = 0; in_cache_fmt && cache && l < c->layers; l++) {
                int64_t shape[3] = {B, c->mem_len, c->dim};
                snprintf(name, sizeof name, in_cache_fmt, (int)l);
                float *in = golden_tensor_expect(g, name, 3, shape);
                s = in ? lsvk_lm_state_set_cache(st, l, in, cn) : LSVK_ERROR_NOT_FOUND;
                free(in);
                if (s != LSVK_SUCCESS) {
                    golden_fail(r, name, s);
                    goto done;
                }
            }
        }
        snprintf(name, sizeof name, lp_fmt, b);
        float *lp = golden_add_result(r, name, (size_t)(B * L) * c->vocab);
        if (!lp || !cache) {
            snprintf(r->why, sizeof r->why, "out of host memory");
            goto done;
        }
        if ((s = lsvk_lm_forward(st, tok, (uint32_t)L, lp)) != LSVK_SUCCESS) {
            golden_fail(r, "forward", s);
            goto done;
        }
    }
    for (uint32_t l = 0; l < c->layers; l++) {
        char name[64];
        snprintf(name, sizeof name, cache_fmt, (int)l);
        size_t cn = (size_t)lsvk_lm_state_batch(st) * c->mem_len * c->dim;
        float *out = golden_add_result(r, name, cn);
        if (!out) {
            snprintf(r->why, sizeof r->why, "too many results");
            goto done;
        }
        if ((s = lsvk_lm_state_get_cache(st, l, out, cn)) != LSVK_SUCCESS) {
            golden_fail(r, "cache", s);
            goto done;
        }
    }
    rc = 0;
done:
    free(tok);
    free(cache);
    lsvk_lm_state_destroy(st);
    lsvk_lm_destroy(lm);
    return rc;
}

int golden_run_causal_model(lsvk_context *ctx, golden_file *g, golden_run *r) {
    return run_lm(ctx, g, golden_safetensors(g), r, 1, "input.tokens", "output", "input.h_cache.%d",
                  "output.h_cache_next.%d");
}

/* A layer-0 cache (the scaled embeddings) that is ours with a share of entries zeroed and the rest
 * scaled by one constant is the mark of dropout left on when the file was made: its log-probs
 * then come from random masks no evaluation can repeat. Sets r->why and returns 1 then. */
static int made_with_dropout(golden_file *g, golden_run *r) {
    golden_result *mine = NULL;
    for (int i = 0; i < r->count; i++)
        if (strcmp(r->res[i].name, "output.cache.0") == 0) mine = &r->res[i];
    size_t n = 0;
    float *file = mine ? golden_tensor(g, "output.cache.0", NULL, NULL, &n) : NULL;
    if (!file || n != mine->n) {
        free(file);
        return 0;
    }
    size_t zeros = 0, scaled = 0;
    double k = 0;
    for (size_t i = 0; i < n; i++) {
        if (mine->data[i] == 0) continue;
        if (file[i] == 0) {
            zeros++;
        } else {
            double q = (double)file[i] / mine->data[i];
            if (k == 0) k = q;
            if (fabs(q - k) <= 1e-5 * k) scaled++;
        }
    }
    free(file);
    if (zeros < n / 50 || zeros + scaled != n || k <= 1.0) return 0;
    snprintf(r->why, sizeof r->why,
             "the file was made with dropout on: its layer-0 cache is ours with %.1f%% of the entries zeroed "
             "and the rest x %.4f, so its log-probs come from random masks", 100.0 * zeros / n, k);
    return 1;
}

int golden_run_charlm(lsvk_context *ctx, golden_file *g, golden_run *r) {
    const char *wname = golden_meta(g, "weights");
    if (!wname) {
        snprintf(r->why, sizeof r->why, "metadata 'weights' (the model file) missing");
        return -1;
    }
    /* the weights file sits beside the golden file */
    const char *path = golden_path(g), *slash = strrchr(path, '/');
    char wpath[4096];
    snprintf(wpath, sizeof wpath, "%.*s%s", slash ? (int)(slash - path + 1) : 0, path, wname);
    lsvk_safetensors *w = NULL;
    lsvk_status s = lsvk_safetensors_open(wpath, &w);
    if (s != LSVK_SUCCESS) return golden_fail(r, wpath, s);
    long long blocks = 0;
    const char *bm = golden_meta(g, "blocks");
    if (bm) blocks = strtoll(bm, NULL, 10);
    int rc = -1;
    if (blocks < 1 || blocks > 16) snprintf(r->why, sizeof r->why, "metadata 'blocks' missing or out of range");
    else rc = run_lm(ctx, g, w, r, (int)blocks, "input.tokens.%d", "output.logprobs.%d", NULL, "output.cache.%d");
    if (rc == 0 && made_with_dropout(g, r)) rc = -1;
    lsvk_safetensors_close(w);
    return rc;
}
