/* The causal long-short attention layer (official autoregressive/model_lib/layer.py
 * ChunkedLSAttention; ../shared/golden/README.md section 4): parameters, position tables, and the
 * recorded steps the layer API and the language model share (lib/ops/causal.h).
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

LSVK_DECLARE_SHADER(causal_compress);
LSVK_DECLARE_SHADER(causal_attn);
LSVK_DECLARE_SHADER(causal_attn_shuffle);
LSVK_DECLARE_SHADER(rows_copy);

/* Parameter storage: T_FUSED rows are [Wk; Wv; Wd; Wq], T_FUSED_B [bk; bv; bd; bq]. */
enum { T_FUSED, T_FUSED_B, T_WO, T_BO, T_WR, T_WRC, T_BRC, T_RB, T_LNW_W, T_LNW_B, T_LND_W, T_LND_B,
       T_COUNT };

typedef struct param {
    const char *name;
    int tensor;
    int part;     /* offset in the tensor, in units given by param_span */
    bool bias;    /* absent without use_bias */
} param;

enum { P_WQ, P_BQ, P_WK, P_BK, P_WV, P_BV, P_WO, P_BO, P_WD, P_BD, P_WR, P_WRC, P_BRC, P_RWB, P_RRB,
       P_LNW_W, P_LNW_B, P_LND_W, P_LND_B, P_COUNT };

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

struct lsvk_causal_layer {
    lsvk_context *ctx;
    lsvk_causal_config cfg;
    uint32_t D, HR, F;
    bool set[P_COUNT];
    lsvk_tensor *t[T_COUNT];
    float *inv_freq;           /* [D/2] */
    /* position tables: R = sinus(W-1-m) Wr^T [W, D]; RD = sinus(d) Wrc^T + brc [nd, D] */
    lsvk_tensor *R, *RD;
    uint32_t nd;
    bool pos_stale;
    lsvk__causal_ws ws;        /* the layer API's own buffers */
    int64_t ws_B, ws_L;
    lsvk_tensor *att;
    lsvk_tensor **retired;     /* replaced buffers a recorded sequence may still use */
    size_t retired_count;
};

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

static lsvk_status make(lsvk_context *ctx, int64_t a, int64_t b, lsvk_tensor **out) {
    int64_t shape[2] = {a, b};
    return lsvk_tensor_create(ctx, LSVK_F32, b ? 2 : 1, shape, out);
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

void lsvk__causal_ws_free(lsvk__causal_ws *ws, bool temporaries) {
    lsvk_tensor_destroy(ws->kvc);
    lsvk_tensor_destroy(ws->kvw);
    if (temporaries) {
        lsvk_tensor_destroy(ws->qkv);
        lsvk_tensor_destroy(ws->ckv);
        lsvk_tensor_destroy(ws->hcc);
        lsvk_tensor_destroy(ws->ckvp);
        lsvk_tensor_destroy(ws->bkvc);
    }
    memset(ws, 0, sizeof *ws);
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
    for (int i = 0; i < T_COUNT && s == LSVK_SUCCESS; i++) s = make(ctx, shapes[i][0], shapes[i][1], &l->t[i]);
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
    lsvk_status s = make(l->ctx, rows, l->D, &pe);
    if (s == LSVK_SUCCESS) s = lsvk_tensor_upload(pe, host, (size_t)rows * l->D * sizeof *host);
    free(host);
    if (s == LSVK_SUCCESS && !*out) s = make(l->ctx, rows, l->D, out);
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

/* ------------------------------------------------------------ recording */

lsvk_status lsvk__record_rows_copy(lsvk_cmd *use, const lsvk_tensor *x, lsvk_tensor *y,
                                   const lsvk__rows_copy *p, const char *label) {
    lsvk_context *ctx = lsvk__cmd_context(use);
    const uint32_t wg = 64;
    lsvk_dispatch d = {.shader = LSVK_SHADER(rows_copy), .label = label};
    d.spec[0] = wg;
    d.spec_count = 1;
    d.buffers[0] = x;
    d.buffers[1] = y;
    d.buffer_count = 2;
    d.write_mask = 2u;
    d.push = p;
    d.push_size = sizeof *p;
    uint64_t gx = lsvk__div_up(p->C, wg), gy = (uint64_t)p->G * p->T;
    uint32_t mx = ctx->info.max_workgroup_count[0], my = ctx->info.max_workgroup_count[1];
    d.groups[0] = (uint32_t)(gx < mx ? gx : mx);
    d.groups[1] = (uint32_t)(gy < my ? (gy ? gy : 1) : my);
    d.groups[2] = 1;
    return lsvk__cmd_record(use, &d);
}

/* LayerNorm of `parts` D-wide parts of G x T rows of x into y (layernorm.comp, flag bit 2). */
typedef struct ln_move {
    uint32_t G, T, parts;
    uint32_t xgs, xrs, xoff, ygs, yrs, yoff; /* floats */
} ln_move;

static lsvk_status record_ln_move(lsvk_cmd *use, lsvk_causal_layer *l, const lsvk_tensor *x, lsvk_tensor *y,
                                  const ln_move *m, const lsvk_tensor *w, const lsvk_tensor *b, const char *label) {
    lsvk__layernorm_push push = {m->G * m->T * m->parts, l->D, 1u | 2u | 4u, 1e-5f, m->xrs, m->xoff,
                                 m->parts, 0, m->T, m->xgs, m->yrs, m->yoff, m->ygs};
    return lsvk__record_layernorm(use, x, w, b, y, &push, label);
}

typedef struct compress_push {
    uint32_t G, chunks, cs, r, D, dh, parts;
    uint32_t xgs, xrs, xrow0, xcol, xps;
    uint32_t sgs, srs, srow0, scol;
    uint32_t ogs, ors, orow0;
} compress_push;

static lsvk_status record_compress(lsvk_cmd *use, lsvk_causal_layer *l, const lsvk_tensor *x,
                                   const lsvk_tensor *s, lsvk_tensor *o, const compress_push *p,
                                   const char *label) {
    lsvk_dispatch d = {.shader = LSVK_SHADER(causal_compress), .label = label};
    d.spec[0] = 64;
    d.spec_count = 1;
    d.buffers[0] = x;
    d.buffers[1] = s;
    d.buffers[2] = o;
    d.buffer_count = 3;
    d.write_mask = 4u;
    d.push = p;
    d.push_size = sizeof *p;
    lsvk__grid_2d(l->ctx, lsvk__div_up((uint64_t)p->G * p->chunks * p->r * p->parts * p->D, 64), d.groups);
    return lsvk__cmd_record(use, &d);
}

lsvk_status lsvk__causal_ws_alloc(lsvk_causal_layer *l, lsvk__causal_ws *ws, uint32_t B, uint32_t Lcap,
                                  bool own_qkv) {
    const lsvk_causal_config *c = &l->cfg;
    lsvk_context *ctx = l->ctx;
    uint32_t D = l->D, M = c->mem_len;
    ws->B = B;
    ws->Lcap = Lcap;
    ws->Mc = M / c->chunk_size * c->chunk_rank;
    ws->Lc = Lcap / c->chunk_size * c->chunk_rank;
    uint64_t kvc_rows = (uint64_t)ws->Mc + ws->Lc;
    LSVK_TRY(make(ctx, (int64_t)B * (kvc_rows ? kvc_rows : 1), 2 * D, &ws->kvc));
    LSVK_TRY(make(ctx, (int64_t)B * (c->window + Lcap), 2 * D, &ws->kvw));
    if (own_qkv) {
        LSVK_TRY(make(ctx, (int64_t)B * Lcap, l->F, &ws->qkv));
        ws->qkv_rows = (lsvk__rows){Lcap, 1};
    }
    if (!ws->ckv) LSVK_TRY(make(ctx, (int64_t)B * M, 2 * D + l->HR, &ws->ckv));
    if (!ws->hcc) LSVK_TRY(make(ctx, (int64_t)B * (ws->Mc ? ws->Mc : 1), D, &ws->hcc));
    if (!ws->ckvp) LSVK_TRY(make(ctx, (int64_t)B * (ws->Mc ? ws->Mc : 1), 2 * D, &ws->ckvp));
    if (!ws->bkvc) LSVK_TRY(make(ctx, (int64_t)B * (ws->Lc ? ws->Lc : 1), 2 * D, &ws->bkvc));
    return LSVK_SUCCESS;
}

lsvk_status lsvk__causal_record_cache(lsvk_cmd *use, lsvk_causal_layer *l, lsvk__causal_ws *ws,
                                      const lsvk_tensor *hc, lsvk__rows hr) {
    const lsvk_causal_config *c = &l->cfg;
    uint32_t D = l->D, M = c->mem_len, B = ws->B, Fc = 2 * D + l->HR, W = c->window;
    uint32_t kvc_rows = ws->Mc + ws->Lc, kvw_rows = W + ws->Lcap;
    /* keys, values and scores of every cache row (first 2D + H*r rows of the fused weights) */
    lsvk_tensor ckv = lsvk__view_rows(ws->ckv, (int64_t)B * M, Fc);
    lsvk_tensor hcv = lsvk__view_rows(hc, (int64_t)B * M, D);
    lsvk_tensor wkvd = lsvk__view_rows(l->t[T_FUSED], Fc, D), bkvd = lsvk__view_vec(l->t[T_FUSED_B], Fc);
    LSVK_TRY(lsvk_linear(use, &hcv, &wkvd, &bkvd, &ckv));
    /* compressed before the projection: hcc = compress(hc), then [k|v] = hcc [Wk;Wv]^T + b */
    compress_push cp = {B, M / c->chunk_size, c->chunk_size, c->chunk_rank, D, c->head_dim, 1,
                        hr.gs * D, hr.rs * D, 0, 0, 0,
                        hr.gs * Fc, hr.rs * Fc, 0, 2 * D,
                        ws->Mc * D, D, 0};
    LSVK_TRY(record_compress(use, l, hc, ws->ckv, ws->hcc, &cp, "causal.compress_cache"));
    lsvk_tensor hcc = lsvk__view_rows(ws->hcc, (int64_t)B * ws->Mc, D);
    lsvk_tensor ckvp = lsvk__view_rows(ws->ckvp, (int64_t)B * ws->Mc, 2 * D);
    lsvk_tensor wkv = lsvk__view_rows(l->t[T_FUSED], 2 * D, D), bkv = lsvk__view_vec(l->t[T_FUSED_B], 2 * D);
    LSVK_TRY(lsvk_linear(use, &hcc, &wkv, &bkv, &ckvp));
    ln_move dp = {B, ws->Mc, 2, ws->Mc * 2 * D, 2 * D, 0, kvc_rows * 2 * D, 2 * D, 0};
    LSVK_TRY(record_ln_move(use, l, ws->ckvp, ws->kvc, &dp, l->t[T_LND_W], l->t[T_LND_B], "causal.ln_dproj_cache"));
    /* window rows 0..W-1: the last W cache rows */
    ln_move wm = {B, W, 2, hr.gs * Fc, hr.rs * Fc, (M - W) * hr.rs * Fc, kvw_rows * 2 * D, 2 * D, 0};
    return record_ln_move(use, l, ws->ckv, ws->kvw, &wm, l->t[T_LNW_W], l->t[T_LNW_B], "causal.ln_win_cache");
}

lsvk_status lsvk__causal_record_qkv(lsvk_cmd *use, lsvk_causal_layer *l, const lsvk_tensor *h,
                                    lsvk_tensor *qkv) {
    int64_t rows = h->numel / l->D;
    lsvk_tensor hv = lsvk__view_rows(h, rows, l->D), qv = lsvk__view_rows(qkv, rows, l->F);
    return lsvk_linear(use, &hv, l->t[T_FUSED], l->t[T_FUSED_B], &qv);
}

typedef struct attn_push {
    uint32_t G, H, nq, q0;
    uint32_t qgs, qrs, qrow0, qcol;
    uint32_t cs, r, cache_chunks, W;
    uint32_t kvc_gs, kvw_gs;
    uint32_t ogs, ors, orow0;
    float scale;
} attn_push;

/* Shape of causal_attn_shuffle.comp (lsvk__causal_record_block). */
typedef struct attn_shuffle {
    uint32_t sg, rows, ku, wt, groups;
} attn_shuffle;

/* Tiles of SG*R positions over the chunks of positions p0 .. p0+n-1 (tiles never straddle a
 * chunk): the shader's T(p) = (p / cs) * tiles + (p % cs) / (SG*R). */
static uint64_t shuffle_tile(uint32_t p, uint32_t cs, uint32_t sgr) {
    uint64_t tiles = (cs + sgr - 1) / sgr;
    return (uint64_t)(p / cs) * tiles + (p % cs) / sgr;
}

/* Picks causal_attn_shuffle.comp on CPU devices that can run it (lavapipe loads memory lane by
 * lane inside loops; one key row per subgroup instead of one per query). LSVK_CAUSAL_SHUFFLE
 * overrides (tests and tuning): "0" takes causal_attn.comp, "R[,KU]" the shuffle shader with R
 * rows per lane and KU keys per step. False also where its loops would pass the device's loop
 * budget or the grid its limit (causal_attn.comp then, which checks its own). */
static bool pick_attn_shuffle(const lsvk_context *ctx, const lsvk_causal_config *c, uint32_t Mc, uint32_t row0,
                              uint32_t n, attn_shuffle *a) {
    const char *env = getenv("LSVK_CAUSAL_SHUFFLE");
    uint32_t rows = 0, ku = 0, dh = c->head_dim, cs = c->chunk_size, W = c->window;
    if (env && *env) {
        char *end;
        unsigned long r = strtoul(env, &end, 10), k = 2;
        if (*end == ',') k = strtoul(end + 1, &end, 10);
        if (*end == '\0' && r == 0) return false;
        if (*end == '\0' && r >= 1 && r <= 8 && k >= 1 && k <= 4) rows = (uint32_t)r, ku = (uint32_t)k;
    }
    if (!(rows || ctx->info.type == LSVK_DEVICE_TYPE_CPU) || !lsvk__subgroup_shuffle_ok(ctx) || n == 0) return false;
    uint32_t sg = ctx->info.subgroup_size;
    if (!rows) {
        /* Each workgroup (tile of <= SG*R positions within a chunk) loads its compressed vectors,
         * W slots of R and W + SG*R - 1 window keys; a key's loads and shuffles cost ~1.4 row dot
         * products (ls_bidir.c attn_rows), a row R of them. R up to ~128 / dh (unrolled code
         * size); steps (n = 1) take R = 1. */
        uint32_t rmax = (128 + dh / 2) / dh;
        rmax = rmax < 1 ? 1 : rmax > 8 ? 8 : rmax;
        double best = 0;
        for (uint32_t r = 1; r <= rmax; r++) {
            uint32_t sgr = sg * r;
            uint64_t tiles = shuffle_tile(row0 + n - 1, cs, sgr) - shuffle_tile(row0, cs, sgr) + 1;
            uint64_t keys = Mc + 2ull * W + (sgr < cs ? sgr : cs);
            double cost = (double)tiles * (double)keys * (1.4 + r);
            if (r == 1 || cost < best) best = cost, rows = r;
        }
        ku = dh <= 128 ? 2 : 1;
    }
    uint32_t sgr = sg * rows;
    /* window slots per tile: their position scores live in shared memory, WT * SG*R floats */
    uint64_t cap = ctx->info.max_shared_memory / 4 > 256 ? ctx->info.max_shared_memory / 4 - 256 : 0;
    if (cap > 4096) cap = 4096;
    uint64_t wt = cap / sgr;
    if (wt > W) wt = W;
    if (wt == 0) return false;
    /* loop iterations of one invocation: compressed steps, then per tile WT slots and the key steps */
    uint64_t last = row0 + n - 1, nvis = ((uint64_t)c->mem_len / cs + last / cs) * c->chunk_rank;
    uint64_t wtiles = (W + wt - 1) / wt;
    uint64_t loops = (nvis + ku - 1) / ku + wtiles * (wt + (wt + sgr + ku - 1) / ku) + 64;
    if (lsvk__loop_budget(ctx) != UINT64_MAX && loops + 1024 > lsvk__loop_budget(ctx)) return false;
    uint64_t groups = shuffle_tile(row0 + n - 1, cs, sgr) - shuffle_tile(row0, cs, sgr) + 1;
    if (groups > ctx->info.max_workgroup_count[0]) return false;
    *a = (attn_shuffle){sg, rows, ku, (uint32_t)wt, (uint32_t)groups};
    return true;
}

lsvk_status lsvk__causal_record_block(lsvk_cmd *use, lsvk_causal_layer *l, lsvk__causal_ws *ws,
                                      uint32_t row0, uint32_t n, lsvk_tensor *att, lsvk__rows ar) {
    const lsvk_causal_config *c = &l->cfg;
    lsvk_context *ctx = l->ctx;
    uint32_t D = l->D, B = ws->B, F = l->F, W = c->window, cs = c->chunk_size, r = c->chunk_rank;
    uint32_t kvc_rows = ws->Mc + ws->Lc, kvw_rows = W + ws->Lcap;
    lsvk__rows qr = ws->qkv_rows;
    if (row0 + n > ws->Lcap)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "causal: rows %u..%u past the block of %u", row0,
                          row0 + n, ws->Lcap);
    attn_shuffle sh = {0};
    bool shuffle = pick_attn_shuffle(ctx, c, ws->Mc, row0, n, &sh);
    /* the loops of one query: its visible chunks and its window (lavapipe's loop cap) */
    uint64_t iters = ((uint64_t)ws->Mc + ws->Lc + W) * (3 * ((c->head_dim + 3) / 4) + 4);
    if (!shuffle && iters > lsvk__loop_budget(ctx))
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "causal: %u compressed vectors + window %u per query is past this device's loop "
                          "limit (llvmpipe: 65535 iterations per invocation)", ws->Mc + ws->Lc, W);

    ln_move wm = {B, n, 2, qr.gs * F, qr.rs * F, row0 * qr.rs * F, kvw_rows * 2 * D, 2 * D, (W + row0) * 2 * D};
    LSVK_TRY(record_ln_move(use, l, ws->qkv, ws->kvw, &wm, l->t[T_LNW_W], l->t[T_LNW_B], "causal.ln_win"));

    /* chunks completed by these rows: compressed after the projection, then LN_dproj */
    uint32_t c0 = row0 / cs, c1 = (row0 + n) / cs;
    if (c1 > c0) {
        compress_push cp = {B, c1 - c0, cs, r, D, c->head_dim, 2,
                            qr.gs * F, qr.rs * F, c0 * cs, 0, D,
                            qr.gs * F, qr.rs * F, c0 * cs, 2 * D,
                            ws->Lc * 2 * D, 2 * D, 0};
        LSVK_TRY(record_compress(use, l, ws->qkv, ws->qkv, ws->bkvc, &cp, "causal.compress_block"));
        ln_move dp = {B, (c1 - c0) * r, 2, ws->Lc * 2 * D, 2 * D, 0,
                      kvc_rows * 2 * D, 2 * D, (ws->Mc + c0 * r) * 2 * D};
        LSVK_TRY(record_ln_move(use, l, ws->bkvc, ws->kvc, &dp, l->t[T_LND_W], l->t[T_LND_B], "causal.ln_dproj"));
    }

    attn_push ap = {B, c->heads, n, row0,
                    qr.gs * F, qr.rs * F, row0, 2 * D + l->HR,
                    cs, r, c->mem_len / cs, W,
                    kvc_rows * 2 * D, kvw_rows * 2 * D,
                    ar.gs * D, ar.rs * D, 0, 1.0f / sqrtf((float)c->head_dim)};
    bool vec4 = D % 4 == 0 && c->head_dim % 4 == 0 && F % 4 == 0 && l->HR % 4 == 0;
    uint32_t wg = 64;
    if (ctx->info.max_workgroup_invocations < wg) wg = ctx->info.max_workgroup_invocations;
    lsvk_dispatch d = {.shader = LSVK_SHADER(causal_attn), .label = "causal.attention"};
    d.spec[0] = wg;
    d.spec[1] = c->head_dim;
    d.spec[2] = vec4;
    d.spec_count = 3;
    d.buffers[0] = ws->qkv;
    d.buffers[1] = ws->kvc;
    d.buffers[2] = ws->kvw;
    d.buffers[3] = l->R;
    d.buffers[4] = l->RD;
    d.buffers[5] = l->t[T_RB];
    d.buffers[6] = att;
    d.buffer_count = 7;
    d.write_mask = 1u << 6;
    d.push = &ap;
    d.push_size = sizeof ap;
    d.groups[0] = lsvk__div_up(n, wg);
    d.groups[1] = B * c->heads;
    if (shuffle) {
        d.shader = LSVK_SHADER(causal_attn_shuffle);
        d.spec[0] = sh.sg;
        d.spec[1] = sh.rows;
        d.spec[2] = c->head_dim;
        d.spec[3] = sh.ku;
        d.spec[4] = vec4;
        d.spec[5] = sh.wt;
        d.spec_count = 6;
        d.groups[0] = sh.groups;
    }
    if (d.groups[1] > ctx->info.max_workgroup_count[1])
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "causal: batch x heads = %u past maxComputeWorkGroupCount[1]",
                          d.groups[1]);
    return lsvk__cmd_record(use, &d);
}

lsvk_status lsvk__causal_record_out(lsvk_cmd *use, lsvk_causal_layer *l, const lsvk_tensor *att,
                                    const lsvk_tensor *residual, lsvk_tensor *out) {
    int64_t rows = out->numel / l->D;
    lsvk_tensor av = lsvk__view_rows(att, rows, l->D), ov = lsvk__view_rows(out, rows, l->D);
    lsvk_tensor rv = residual ? lsvk__view_rows(residual, rows, l->D) : av;
    return lsvk_linear_ex(use, &av, l->t[T_WO], l->t[T_BO], residual ? &rv : NULL, 0, &ov);
}

/* ------------------------------------------------------------ the layer API */

lsvk_status lsvk_causal_forward(lsvk_cmd *cmd, lsvk_causal_layer *l, const lsvk_tensor *h,
                                const lsvk_tensor *h_cache, lsvk_tensor *out) {
    static const char *op = "lsvk_causal_forward";
    if (!l) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: layer is NULL", op);
    const lsvk__op_arg args[] = {{"h", h, false}, {"h_cache", h_cache, false}, {"out", out, false}};
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
        LSVK_TRY(make(ctx, (int64_t)B * L, l->D, &l->att));
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
