/* The causal long-short attention layer (official autoregressive/model_lib/layer.py
 * ChunkedLSAttention; ../shared/golden/README.md section 4): parameters, position tables and the
 * layer API; the recorded steps, which the language model shares, are in causal_record.c.
 *
 * One forward: a fused projection h [Wk;Wv;Wd;Wq]^T gives keys, values, chunk scores and queries
 * of the block in one linear; the cache's scores, keys and values come from one more. The cache
 * is compressed before the projection (shaders/causal_compress.comp on hc, then a linear), the
 * block after it; both through LN_dproj into kvc. LN_win moves the window rows into kvw. Then one
 * fused kernel (shaders/causal_attn.comp) and proj_out. */
#include "ops/causal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct param {
    const char *name;
    int tensor;
    int part;     /* offset in the tensor, in units given by param_span */
    bool bias;    /* absent without use_bias */
} param;

enum { P_WQ, P_BQ, P_WK, P_BK, P_WV, P_BV, P_WO, P_BO, P_WD, P_BD, P_WR, P_WRC, P_BRC, P_RWB, P_RRB,
       P_LNW_W, P_LNW_B, P_LND_W, P_LND_B, P_COUNT };

_Static_assert(P_COUNT == LSVK__CAUSAL_PARAMS, "causal.h sizes the layer's set[] by it");

static const param params[P_COUNT] = {
    {"proj_query.weight", T_FUSED, 3, false}, {"proj_query.bias", T_FUSED_B, 3, true},
    {"proj_key.weight", T_FUSED, 0, false},   {"proj_key.bias", T_FUSED_B, 0, true},
    {"proj_val.weight", T_FUSED, 1, false},   {"proj_val.bias", T_FUSED_B, 1, true},
    {"proj_out.weight", T_WO, 0, false},      {"proj_out.bias", T_BO, 0, true},
    {"dconv_1.weight", T_FUSED, 2, false},    {"dconv_1.bias", T_FUSED_B, 2, false},
    {"r_net.weight", T_WR, 0, false},         {"r_net_chunk.weight", T_WRC, 0, false},
    {"r_net_chunk.bias", T_BRC, 0, false},    {"r_w_bias", T_RB, 0, false},
    {"r_r_bias", T_RB, 1, false},             {"dual_ln_win.weight", T_LNW_W, 0, false},
    {"dual_ln_win.bias", T_LNW_B, 0, false},  {"dual_ln_dproj.weight", T_LND_W, 0, false},
    {"dual_ln_dproj.bias", T_LND_B, 0, false}};

const lsvk_causal_config *lsvk__causal_config(const lsvk_causal_layer *l) { return &l->cfg; }
uint32_t lsvk__causal_qkv_width(const lsvk_causal_layer *l) { return l->F; }

/* Offset (elements) and count of a parameter inside its tensor. */
static void param_span(const lsvk_causal_layer *l, int p, size_t *off, size_t *count) {
    size_t D = l->D, HR = l->HR;
    const param *q = &params[p];
    if (q->tensor == T_FUSED || q->tensor == T_FUSED_B) {
        size_t row0 = q->part == 3 ? 2 * D + HR : (size_t)q->part * D, rows = q->part == 2 ? HR : D;
        size_t w = q->tensor == T_FUSED ? D : 1;
        *off = row0 * w;
        *count = rows * w;
        return;
    }
    bool square = q->tensor == T_WO || q->tensor == T_WR || q->tensor == T_WRC;
    *count = square ? D * D : D;
    *off = (size_t)q->part * D;
}

static lsvk_status check_config(lsvk_context *ctx, const lsvk_causal_config *c) {
    static const char *op = "lsvk_causal_layer_create";
    if (!c->heads || !c->head_dim || !c->dim || !c->chunk_size || !c->chunk_rank || !c->window)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT,
                          "%s: dim, heads, head_dim, chunk_size, chunk_rank and window must be > 0", op);
    if ((uint64_t)c->heads * c->head_dim != c->dim)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: dim %u != heads %u x head_dim %u", op, c->dim, c->heads,
                          c->head_dim);
    if (c->dim % 2)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: dim %u must be even (sinusoidal positions)", op, c->dim);
    if (c->head_dim > 256)
        return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "%s: head_dim %u > 256", op, c->head_dim);
    if (c->mem_len % c->chunk_size || c->mem_len < c->window)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT,
                          "%s: mem_len %u must be a multiple of chunk_size %u and >= window %u (the window "
                          "reaches that far back into the cache)", op, c->mem_len, c->chunk_size, c->window);
    if (c->mem_len > (1u << 20) || c->chunk_rank > 1024 || c->chunk_size > 4096)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: mem_len %u / chunk_rank %u / chunk_size %u past lsvk's limits (2^20, 1024, 4096)",
                          op, c->mem_len, c->chunk_rank, c->chunk_size);
    uint64_t F = 3ull * c->dim + (uint64_t)c->heads * c->chunk_rank;
    if (F * c->dim > UINT32_MAX)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: weights past 32-bit indexing", op);
    return LSVK_SUCCESS;
}

static void retire(lsvk_causal_layer *l, lsvk_tensor *t) {
    if (!t) return;
    lsvk_tensor **r = realloc(l->retired, (l->retired_count + 1) * sizeof *r);
    if (!r) {
        lsvk_tensor_destroy(t); /* out of host memory: better a dangling use than a leak */
        return;
    }
    l->retired = r;
    l->retired[l->retired_count++] = t;
}

void lsvk_causal_layer_destroy(lsvk_causal_layer *l) {
    if (!l) return;
    for (int i = 0; i < T_COUNT; i++) lsvk_tensor_destroy(l->t[i]);
    lsvk_tensor_destroy(l->R);
    lsvk_tensor_destroy(l->RD);
    lsvk_tensor_destroy(l->att);
    lsvk__causal_ws_free(&l->ws, true);
    for (size_t i = 0; i < l->retired_count; i++) lsvk_tensor_destroy(l->retired[i]);
    free(l->retired);
    free(l->inv_freq);
    free(l);
}

lsvk_status lsvk_causal_layer_create(lsvk_context *ctx, const lsvk_causal_config *config,
                                     lsvk_causal_layer **out) {
    static const char *op = "lsvk_causal_layer_create";
    if (!out) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    if (!ctx || !config) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL context or config", op);
    LSVK_TRY(check_config(ctx, config));
    lsvk_causal_layer *l = calloc(1, sizeof *l);
    if (!l) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    l->ctx = ctx;
    l->cfg = *config;
    l->cfg.use_bias = config->use_bias ? 1 : 0;
    l->D = config->dim;
    l->HR = config->heads * config->chunk_rank;
    l->F = 3 * l->D + l->HR;
    l->pos_stale = true;
    int64_t D = l->D;
    const int64_t shapes[T_COUNT][2] = {{l->F, D}, {l->F, 0}, {D, D}, {D, 0}, {D, D}, {D, D}, {D, 0},
                                        {2 * D, 0}, {D, 0},  {D, 0},    {D, 0}, {D, 0}};
    lsvk_status s = LSVK_SUCCESS;
    for (int i = 0; i < T_COUNT && s == LSVK_SUCCESS; i++) s = lsvk__make(ctx, shapes[i][0], shapes[i][1], &l->t[i]);
    l->inv_freq = malloc((size_t)(D / 2) * sizeof *l->inv_freq);
    if (s == LSVK_SUCCESS && !l->inv_freq) s = lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (s == LSVK_SUCCESS) {
        /* as the reference computes it, in float32: 1 / 10000^(2i / D) */
        for (int64_t i = 0; i < D / 2; i++)
            l->inv_freq[i] = 1.0f / powf(10000.0f, (float)(2 * i) / (float)D);
        if (!l->cfg.use_bias) {
            /* biases absent: zeros where the fused bias holds q, k, v, and for proj_out */
            float *z = calloc((size_t)l->F, sizeof *z);
            if (!z) s = lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            if (s == LSVK_SUCCESS) s = lsvk_tensor_upload(l->t[T_FUSED_B], z, (size_t)l->F * sizeof *z);
            if (s == LSVK_SUCCESS) s = lsvk_tensor_upload(l->t[T_BO], z, (size_t)D * sizeof *z);
            free(z);
        }
    }
    if (s) {
        lsvk_causal_layer_destroy(l);
        return s;
    }
    *out = l;
    return LSVK_SUCCESS;
}

lsvk_status lsvk_causal_layer_set_weight(lsvk_causal_layer *l, const char *name, const float *data,
                                         size_t count) {
    static const char *op = "lsvk_causal_layer_set_weight";
    if (!l || !name || !data)
        return lsvk__fail(l ? l->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL argument", op);
    int p = -1;
    for (int i = 0; i < P_COUNT; i++)
        if (strcmp(params[i].name, name) == 0) p = i;
    if (p < 0) return lsvk__fail(l->ctx, LSVK_ERROR_NOT_FOUND, "%s: the layer has no parameter '%s'", op, name);
    if (params[p].bias && !l->cfg.use_bias)
        return lsvk__fail(l->ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: '%s' is not used with use_bias = 0", op, name);
    size_t off, want;
    param_span(l, p, &off, &want);
    if (count != want)
        return lsvk__fail(l->ctx, LSVK_ERROR_SHAPE, "%s: '%s' needs %zu values for this config, got %zu", op, name,
                          want, count);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(data[i]))
            return lsvk__fail(l->ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: '%s' has a non-finite value at %zu", op,
                              name, i);
    LSVK_TRY(lsvk__tensor_upload_range(l->t[params[p].tensor], off * sizeof(float), data, count * sizeof(float)));
    l->set[p] = true;
    if (p == P_WR || p == P_WRC || p == P_BRC) l->pos_stale = true;
    return LSVK_SUCCESS;
}

lsvk_status lsvk__causal_set_inv_freq(lsvk_causal_layer *l, const float *inv_freq) {
    memcpy(l->inv_freq, inv_freq, (size_t)(l->D / 2) * sizeof *inv_freq);
    l->pos_stale = true;
    return LSVK_SUCCESS;
}

static lsvk_status set_param(void *layer, const char *name, const float *data, size_t count) {
    return lsvk_causal_layer_set_weight((lsvk_causal_layer *)layer, name, data, count);
}

lsvk_status lsvk_causal_layer_load(lsvk_causal_layer *l, const lsvk_safetensors *st, const char *prefix) {
    static const char *op = "lsvk_causal_layer_load";
    if (!l || !st) return lsvk__fail(l ? l->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL argument", op);
    for (int p = 0; p < P_COUNT; p++) {
        if (params[p].bias && !l->cfg.use_bias) continue;
        size_t off, want;
        param_span(l, p, &off, &want);
        LSVK_TRY(lsvk__load_param(l->ctx, op, st, prefix, params[p].name, want, set_param, l));
    }
    return LSVK_SUCCESS;
}

lsvk_status lsvk__causal_ready(const lsvk_causal_layer *l, const char *op) {
    for (int p = 0; p < P_COUNT; p++)
        if (!l->set[p] && !(params[p].bias && !l->cfg.use_bias))
            return lsvk__fail(l->ctx, LSVK_ERROR_STATE, "%s: parameter '%s' was never set", op, params[p].name);
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ positions */

/* sinus(p): D/2 sines then D/2 cosines of p * inv_freq (angles in double). */
static void sinus(const lsvk_causal_layer *l, double p, float *out) {
    uint32_t h = l->D / 2;
    for (uint32_t i = 0; i < h; i++) {
        double a = p * (double)l->inv_freq[i];
        out[i] = (float)sin(a);
        out[h + i] = (float)cos(a);
    }
}

static lsvk_status pos_table(lsvk_causal_layer *l, uint32_t rows, bool window, const lsvk_tensor *w,
                             const lsvk_tensor *b, lsvk_tensor **out) {
    lsvk_tensor *pe = NULL;
    float *host = malloc((size_t)rows * l->D * sizeof *host);
    if (!host) return lsvk__fail(l->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t m = 0; m < rows; m++) sinus(l, window ? (double)(rows - 1 - m) : (double)m, host + (size_t)m * l->D);
    lsvk_status s = lsvk__make(l->ctx, rows, l->D, &pe);
    if (s == LSVK_SUCCESS) s = lsvk_tensor_upload(pe, host, (size_t)rows * l->D * sizeof *host);
    free(host);
    if (s == LSVK_SUCCESS && !*out) s = lsvk__make(l->ctx, rows, l->D, out);
    if (s == LSVK_SUCCESS) s = lsvk_linear(NULL, pe, w, b, *out);
    lsvk_tensor_destroy(pe);
    return s;
}

lsvk_status lsvk__causal_prepare(lsvk_causal_layer *l, uint32_t Lcap) {
    const lsvk_causal_config *c = &l->cfg;
    uint32_t nd = (c->mem_len / c->chunk_size + Lcap / c->chunk_size) * c->chunk_rank;
    if (nd == 0) nd = 1;
    if (!l->pos_stale && l->RD && nd <= l->nd) return LSVK_SUCCESS;
    if (l->RD && nd > l->nd) {
        retire(l, l->RD);
        l->RD = NULL;
    }
    if (nd < l->nd) nd = l->nd;
    LSVK_TRY(pos_table(l, c->window, true, l->t[T_WR], NULL, &l->R));
    LSVK_TRY(pos_table(l, nd, false, l->t[T_WRC], l->t[T_BRC], &l->RD));
    l->nd = nd;
    l->pos_stale = false;
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ the layer API */

lsvk_status lsvk_causal_forward(lsvk_cmd *cmd, lsvk_causal_layer *l, const lsvk_tensor *h,
                                const lsvk_tensor *h_cache, lsvk_tensor *out) {
    static const char *op = "lsvk_causal_forward";
    if (!l) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: layer is NULL", op);
    const lsvk__op_arg args[] = {{"h", h, false, false}, {"h_cache", h_cache, false, false}, {"out", out, false, false}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 3, &ctx));
    if (ctx != l->ctx) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: tensors of another context", op);
    const lsvk_causal_config *c = &l->cfg;
    if (h->rank != 3 || h->shape[2] != l->D)
        return lsvk__shape_fail(ctx, op, "h", h, "out", out, "h must be [B, L, dim]");
    if (!lsvk__same_shape(h, out)) return lsvk__shape_fail(ctx, op, "h", h, "out", out, "out must have h's shape");
    if (h_cache->rank != 3 || h_cache->shape[0] != h->shape[0] || h_cache->shape[1] != c->mem_len ||
        h_cache->shape[2] != l->D)
        return lsvk__shape_fail(ctx, op, "h", h, "h_cache", h_cache, "h_cache must be [B, mem_len, dim]");
    if (out == h || out == h_cache) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: out must not be an input", op);
    if (h->shape[0] > 65535 || h->shape[1] > (1 << 22))
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: batch %lld or length %lld past lsvk's limits", op,
                          (long long)h->shape[0], (long long)h->shape[1]);
    LSVK_TRY(lsvk__causal_ready(l, op));
    uint32_t B = (uint32_t)h->shape[0], L = (uint32_t)h->shape[1];
    LSVK_TRY(lsvk__causal_prepare(l, L));
    if (l->ws_B != B || l->ws_L != L) {
        /* a recorded but unsubmitted sequence may still use the old buffers */
        retire(l, l->ws.kvc); retire(l, l->ws.kvw); retire(l, l->ws.qkv); retire(l, l->ws.ckv);
        retire(l, l->ws.hcc); retire(l, l->ws.ckvp); retire(l, l->ws.bkvc); retire(l, l->att);
        memset(&l->ws, 0, sizeof l->ws);
        l->att = NULL;
        l->ws_B = l->ws_L = 0;
        LSVK_TRY(lsvk__causal_ws_alloc(l, &l->ws, B, L, true));
        LSVK_TRY(lsvk__make(ctx, (int64_t)B * L, l->D, &l->att));
        l->ws_B = B;
        l->ws_L = L;
    }
    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    lsvk_status s = lsvk__causal_record_cache(use, l, &l->ws, h_cache, (lsvk__rows){c->mem_len, 1});
    if (s == LSVK_SUCCESS) s = lsvk__causal_record_qkv(use, l, h, l->ws.qkv);
    if (s == LSVK_SUCCESS) s = lsvk__causal_record_block(use, l, &l->ws, 0, L, l->att, (lsvk__rows){L, 1});
    if (s == LSVK_SUCCESS) s = lsvk__causal_record_out(use, l, l->att, NULL, out);
    return lsvk__op_end(use, immediate, s);
}
