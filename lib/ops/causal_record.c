/* Recording the causal layer's steps (lib/ops/causal.h): the cache part, the block's rows, the
 * fused attention (causal_attn.comp on GPUs, causal_attn_shuffle.comp on CPU drivers) and
 * proj_out, shared by lsvk_causal_forward and the language model. */
#include "ops/causal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(causal_compress);
LSVK_DECLARE_SHADER(causal_attn);
LSVK_DECLARE_SHADER(causal_attn_shuffle);
LSVK_DECLARE_SHADER(rows_copy);

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
    LSVK_TRY(lsvk__make(ctx, (int64_t)B * (kvc_rows ? kvc_rows : 1), 2 * D, &ws->kvc));
    LSVK_TRY(lsvk__make(ctx, (int64_t)B * (c->window + Lcap), 2 * D, &ws->kvw));
    if (own_qkv) {
        LSVK_TRY(lsvk__make(ctx, (int64_t)B * Lcap, l->F, &ws->qkv));
        ws->qkv_rows = (lsvk__rows){Lcap, 1};
    }
    if (!ws->ckv) LSVK_TRY(lsvk__make(ctx, (int64_t)B * M, 2 * D + l->HR, &ws->ckv));
    if (!ws->hcc) LSVK_TRY(lsvk__make(ctx, (int64_t)B * (ws->Mc ? ws->Mc : 1), D, &ws->hcc));
    if (!ws->ckvp) LSVK_TRY(lsvk__make(ctx, (int64_t)B * (ws->Mc ? ws->Mc : 1), 2 * D, &ws->ckvp));
    if (!ws->bkvc) LSVK_TRY(lsvk__make(ctx, (int64_t)B * (ws->Lc ? ws->Lc : 1), 2 * D, &ws->bkvc));
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
