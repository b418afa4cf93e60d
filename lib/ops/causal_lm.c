/* The char-level language model (official autoregressive/model_lib/model.py TransformerLSModel,
 * ../shared/golden/README.md section 5): config from the file's metadata, parameters by the
 * reference's names. Its state, fed a block or a token at a time, is lib/ops/causal_lm_state.c. */
#include "ops/causal_lm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Names after "layers.{l}.", and the model's own. */
static const char *const layer_names[L_COUNT] = {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
                                                 "ff.fc1.weight", "ff.fc1.bias", "ff.fc2.weight", "ff.fc2.bias"};
static const char *const model_names[G_COUNT] = {"in_emb.weight", "out_emb.weight", "out_emb.bias"};

/* ------------------------------------------------------------ model */

const lsvk_lm_config *lsvk_lm_get_config(const lsvk_lm *lm) { return lm ? &lm->cfg : NULL; }

void lsvk_lm_destroy(lsvk_lm *lm) {
    if (!lm) return;
    for (uint32_t l = 0; lm->layers && l < lm->cfg.layers; l++) {
        lsvk_causal_layer_destroy(lm->layers[l].attn);
        for (int i = 0; i < L_COUNT; i++) lsvk_tensor_destroy(lm->layers[l].t[i]);
    }
    for (int i = 0; i < G_COUNT; i++) lsvk_tensor_destroy(lm->g[i]);
    free(lm->layers);
    free(lm);
}

static lsvk_causal_config attn_config(const lsvk_lm_config *c) {
    lsvk_causal_config a = {c->dim, c->heads, c->heads ? c->dim / c->heads : 0, c->chunk_size, c->chunk_rank,
                            c->window, c->mem_len, c->use_bias};
    return a;
}

lsvk_status lsvk_lm_create(lsvk_context *ctx, const lsvk_lm_config *config, lsvk_lm **out) {
    static const char *op = "lsvk_lm_create";
    if (!out) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    if (!ctx || !config) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL context or config", op);
    const lsvk_lm_config *c = config;
    if (!c->vocab || !c->dim || !c->heads || !c->inner || !c->layers)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: vocab, dim, heads, inner and layers must be > 0", op);
    if (c->dim % c->heads)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: dim %u is not a multiple of heads %u", op, c->dim, c->heads);
    if (c->layers > 1024 || (uint64_t)c->vocab * c->dim > UINT32_MAX || (uint64_t)c->inner * c->dim > UINT32_MAX)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: model past lsvk's limits", op);
    lsvk_lm *lm = calloc(1, sizeof *lm);
    if (!lm) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    lm->ctx = ctx;
    lm->cfg = *c;
    lm->layers = calloc(c->layers, sizeof *lm->layers);
    lsvk_status s = lm->layers ? LSVK_SUCCESS : lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    lsvk_causal_config ac = attn_config(c);
    int64_t D = c->dim, I = c->inner;
    const int64_t shapes[L_COUNT][2] = {{D, 0}, {D, 0}, {D, 0}, {D, 0}, {I, D}, {I, 0}, {D, I}, {D, 0}};
    for (uint32_t l = 0; l < c->layers && s == LSVK_SUCCESS; l++) {
        s = lsvk_causal_layer_create(ctx, &ac, &lm->layers[l].attn);
        for (int i = 0; i < L_COUNT && s == LSVK_SUCCESS; i++)
            s = lsvk__make(ctx, shapes[i][0], shapes[i][1], &lm->layers[l].t[i]);
    }
    if (s == LSVK_SUCCESS) s = lsvk__make(ctx, c->vocab, D, &lm->g[G_IN_EMB]);
    if (s == LSVK_SUCCESS) s = lsvk__make(ctx, c->vocab, D, &lm->g[G_OUT_EMB]);
    if (s == LSVK_SUCCESS) s = lsvk__make(ctx, c->vocab, 0, &lm->g[G_OUT_B]);
    if (s) {
        lsvk_lm_destroy(lm);
        return s;
    }
    *out = lm;
    return LSVK_SUCCESS;
}

static lsvk_status load_tensor(lsvk_lm *lm, const lsvk_safetensors *st, const char *name, lsvk_tensor *t) {
    lsvk_st_tensor info;
    if (lsvk_safetensors_find(st, name, &info) != LSVK_SUCCESS)
        return lsvk__fail(lm->ctx, LSVK_ERROR_NOT_FOUND, "lsvk_lm_load_weights: tensor '%s' is not in the file", name);
    size_t n = (size_t)t->numel;
    if ((size_t)info.numel != n)
        return lsvk__fail(lm->ctx, LSVK_ERROR_SHAPE, "lsvk_lm_load_weights: '%s' has %lld values, the config needs %zu",
                          name, (long long)info.numel, n);
    float *buf = malloc(n * sizeof *buf);
    if (!buf) return lsvk__fail(lm->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    lsvk_status s = lsvk_safetensors_read_f32(st, name, buf, n);
    for (size_t i = 0; s == LSVK_SUCCESS && i < n; i++)
        if (!isfinite(buf[i]))
            s = lsvk__fail(lm->ctx, LSVK_ERROR_FORMAT, "lsvk_lm_load_weights: '%s' has a non-finite value", name);
    if (s == LSVK_SUCCESS) s = lsvk_tensor_upload(t, buf, n * sizeof *buf);
    free(buf);
    return s;
}

lsvk_status lsvk_lm_load_weights(lsvk_lm *lm, const lsvk_safetensors *st, const char *prefix) {
    if (!lm || !st) return lsvk__fail(lm ? lm->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_lm_load_weights: NULL argument");
    if (!prefix) prefix = "";
    char name[256];
    for (int i = 0; i < G_COUNT; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, model_names[i]);
        lsvk_st_tensor info;
        /* out_emb.weight is tied to in_emb.weight; a file without it uses in_emb's */
        if (i == G_OUT_EMB && lsvk_safetensors_find(st, name, &info) != LSVK_SUCCESS)
            snprintf(name, sizeof name, "%s%s", prefix, model_names[G_IN_EMB]);
        LSVK_TRY(load_tensor(lm, st, name, lm->g[i]));
        lm->gset[i] = true;
    }
    uint32_t D = lm->cfg.dim;
    snprintf(name, sizeof name, "%spos_emb.inv_freq", prefix);
    float *inv = NULL;
    lsvk_st_tensor info;
    if (lsvk_safetensors_find(st, name, &info) == LSVK_SUCCESS) {
        if ((size_t)info.numel != D / 2)
            return lsvk__fail(lm->ctx, LSVK_ERROR_SHAPE, "lsvk_lm_load_weights: '%s' must have %u values", name, D / 2);
        inv = malloc((D / 2) * sizeof *inv);
        if (!inv) return lsvk__fail(lm->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        lsvk_status s = lsvk_safetensors_read_f32(st, name, inv, D / 2);
        if (s != LSVK_SUCCESS) {
            free(inv);
            return s;
        }
    }
    lsvk_status s = LSVK_SUCCESS;
    for (uint32_t l = 0; l < lm->cfg.layers && s == LSVK_SUCCESS; l++) {
        snprintf(name, sizeof name, "%slayers.%u.attn.", prefix, l);
        s = lsvk_causal_layer_load(lm->layers[l].attn, st, name);
        if (s == LSVK_SUCCESS && inv) s = lsvk__causal_set_inv_freq(lm->layers[l].attn, inv);
        for (int i = 0; i < L_COUNT && s == LSVK_SUCCESS; i++) {
            snprintf(name, sizeof name, "%slayers.%u.%s", prefix, l, layer_names[i]);
            s = load_tensor(lm, st, name, lm->layers[l].t[i]);
            lm->layers[l].set[i] = s == LSVK_SUCCESS;
        }
    }
    free(inv);
    return s;
}

/* Integer of the config JSON; -1 and a message when absent. */
static lsvk_status json_uint(lsvk_context *ctx, const cJSON *cfg, const char *key, uint32_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > UINT32_MAX || v->valuedouble != floor(v->valuedouble))
        return lsvk__fail(ctx, LSVK_ERROR_FORMAT, "lsvk_lm_load: config key '%s' missing or not a non-negative integer", key);
    *out = (uint32_t)v->valuedouble;
    return LSVK_SUCCESS;
}

static lsvk_status parse_config(lsvk_context *ctx, const char *json, lsvk_lm_config *c) {
    cJSON *cfg = json ? cJSON_Parse(json) : NULL;
    if (!cfg) return lsvk__fail(ctx, LSVK_ERROR_FORMAT, "lsvk_lm_load: metadata 'config' missing or not JSON");
    static const char *keys[] = {"vocab_size", "d_model", "n_head", "d_inner", "n_layer", "mem_len",
                                 "chunk_size", "chunk_rank", "window_len"};
    uint32_t *dst[] = {&c->vocab, &c->dim, &c->heads, &c->inner, &c->layers, &c->mem_len,
                       &c->chunk_size, &c->chunk_rank, &c->window};
    lsvk_status s = LSVK_SUCCESS;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && s == LSVK_SUCCESS; i++) s = json_uint(ctx, cfg, keys[i], dst[i]);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(cfg, "use_bias");
    c->use_bias = cJSON_IsTrue(b);
    /* what lsvk implements: pre-LN, exact GELU, no position clamping */
    const char *must_true[] = {"pre_ln", "use_gelu"};
    for (int i = 0; i < 2 && s == LSVK_SUCCESS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, must_true[i]);
        if (v && !cJSON_IsTrue(v))
            s = lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "lsvk_lm_load: %s = false is not supported", must_true[i]);
    }
    const char *clamps[] = {"clamp_len", "cpos_clamp_len"};
    for (int i = 0; i < 2 && s == LSVK_SUCCESS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, clamps[i]);
        if (cJSON_IsNumber(v) && v->valuedouble > 0)
            s = lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "lsvk_lm_load: %s > 0 is not supported", clamps[i]);
    }
    cJSON_Delete(cfg);
    return s;
}

lsvk_status lsvk_lm_load(lsvk_context *ctx, const lsvk_safetensors *st, lsvk_lm **out) {
    if (!out) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_lm_load: out is NULL");
    *out = NULL;
    if (!ctx || !st) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_lm_load: NULL context or file");
    lsvk_lm_config c = {0};
    LSVK_TRY(parse_config(ctx, lsvk_safetensors_metadata(st, "config"), &c));
    lsvk_lm *lm = NULL;
    LSVK_TRY(lsvk_lm_create(ctx, &c, &lm));
    lsvk_status s = lsvk_lm_load_weights(lm, st, NULL);
    if (s != LSVK_SUCCESS) {
        lsvk_lm_destroy(lm);
        return s;
    }
    *out = lm;
    return LSVK_SUCCESS;
}

lsvk_status lsvk__lm_ready(const lsvk_lm *lm, const char *op) {
    for (int i = 0; i < G_COUNT; i++)
        if (!lm->gset[i]) return lsvk__fail(lm->ctx, LSVK_ERROR_STATE, "%s: '%s' was never loaded", op, model_names[i]);
    for (uint32_t l = 0; l < lm->cfg.layers; l++) {
        for (int i = 0; i < L_COUNT; i++)
            if (!lm->layers[l].set[i])
                return lsvk__fail(lm->ctx, LSVK_ERROR_STATE, "%s: 'layers.%u.%s' was never loaded", op, l, layer_names[i]);
        LSVK_TRY(lsvk__causal_ready(lm->layers[l].attn, op));
    }
    return LSVK_SUCCESS;
}
