/* The bidirectional long-short attention layer (official lra/attention_transformer_ls.py
 * AttentionLS): the q/k/v/score projections, DualLN, the dynamic projection as a split reduction
 * over the sequence, the fused window + landmark attention, CLS pooling, the conv on V and W_o.
 * Past one binding (maxStorageBufferRange) it runs a few sequences per pass on views of x and out,
 * or one sequence at a time with every step in bands of tokens or chunks. */
#include "ops/ls_common.h"
#include "ops/views.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(ls_window_attn);
LSVK_DECLARE_SHADER(ls_conv);
LSVK_DECLARE_SHADER(ls_attn_shuffle);
LSVK_DECLARE_SHADER(ls_conv_cpu);

/* Parameters by reference name. */
enum { P_WQ, P_BQ, P_WK, P_BK, P_WV, P_BV, P_WD, P_BD, P_WO, P_BO,
       P_LNL_W, P_LNL_B, P_LNS_W, P_LNS_B, P_CONV, P_COUNT };
static const char *const param_names[P_COUNT] = {
    "W_q.weight", "W_q.bias", "W_k.weight", "W_k.bias", "W_v.weight", "W_v.bias",
    "dconv_fc.weight", "dconv_fc.bias", "W_o.weight", "W_o.bias",
    "dual_ln_l.weight", "dual_ln_l.bias", "dual_ln_s.weight", "dual_ln_s.bias", "conv.weight"};

struct lsvk_ls_layer {
    lsvk_context *ctx;
    lsvk_ls_config cfg;
    uint32_t M; /* landmark entries: cls + r */
    bool set[P_COUNT];
    lsvk_tensor *param[P_COUNT];
    lsvk__ls_ws ws; /* for the last (B, N0) */
};

static bool param_used(const lsvk_ls_layer *l, int p) {
    if (p == P_WD || p == P_BD) return l->cfg.landmarks > 0;
    if (p == P_CONV) return l->cfg.conv_kernel > 0;
    return true;
}

/* Shape of a parameter: rows x cols (cols 0 for a vector). */
static void param_shape(const lsvk_ls_config *c, int p, int64_t *rows, int64_t *cols) {
    int64_t D = c->dim, HR = (int64_t)c->heads * c->landmarks;
    *cols = 0;
    switch (p) {
    case P_WQ: case P_WK: case P_WV: case P_WO: *rows = D; *cols = D; return;
    case P_WD: *rows = HR; *cols = D; return;
    case P_BD: *rows = HR; return;
    case P_CONV: *rows = (int64_t)c->heads * c->conv_kernel; return;
    default: *rows = D; return;
    }
}

static lsvk_status check_config(lsvk_context *ctx, const lsvk_ls_config *c) {
    static const char *op = "lsvk_ls_layer_create";
    LSVK_TRY(lsvk__ls_check_heads(ctx, op, c->dim, c->heads, c->head_dim));
    if (c->window == 0 && c->landmarks == 0 && !c->cls)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT,
                          "%s: window and landmarks are both 0: the layer would attend to nothing", op);
    if (c->conv_kernel > 0 && c->conv_kernel % 2 == 0)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: conv_kernel %d must be odd", op,
                          c->conv_kernel);
    if (c->landmarks > 4096 || c->window > (1u << 20) || c->conv_kernel > 4095)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: landmarks %u / window %u / conv_kernel %d past lsvk's limits (4096, 2^20, 4095)",
                          op, c->landmarks, c->window, c->conv_kernel);
    uint64_t widest = c->dim > (uint64_t)c->heads * c->landmarks ? c->dim : (uint64_t)c->heads * c->landmarks;
    if (widest * c->dim > UINT32_MAX)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: %llu x %u weights past 32-bit indexing", op,
                          (unsigned long long)widest, c->dim);
    return LSVK_SUCCESS;
}

void lsvk_ls_layer_destroy(lsvk_ls_layer *l) {
    if (!l) return;
    for (int p = 0; p < P_COUNT; p++) lsvk_tensor_destroy(l->param[p]);
    lsvk__ls_ws_free(&l->ws);
    free(l);
}

lsvk_status lsvk_ls_layer_create(lsvk_context *ctx, const lsvk_ls_config *config, lsvk_ls_layer **out) {
    if (!out) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_ls_layer_create: out is NULL");
    *out = NULL;
    if (!ctx || !config)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_ls_layer_create: NULL context or config");
    LSVK_TRY(check_config(ctx, config));
    lsvk_ls_layer *l = calloc(1, sizeof *l);
    if (!l) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    l->ctx = ctx;
    l->cfg = *config;
    l->cfg.cls = config->cls ? 1 : 0;
    if (l->cfg.conv_kernel < 0) l->cfg.conv_kernel = 0;
    l->M = (uint32_t)l->cfg.cls + config->landmarks;
    lsvk_status s = LSVK_SUCCESS;
    for (int p = 0; p < P_COUNT && s == LSVK_SUCCESS; p++) {
        if (!param_used(l, p)) continue;
        int64_t rows, cols;
        param_shape(&l->cfg, p, &rows, &cols);
        s = lsvk__make(ctx, rows, cols, &l->param[p]);
    }
    if (s) {
        lsvk_ls_layer_destroy(l);
        return s;
    }
    *out = l;
    return LSVK_SUCCESS;
}

lsvk_status lsvk_ls_layer_set_weight(lsvk_ls_layer *l, const char *name, const float *data, size_t count) {
    static const char *op = "lsvk_ls_layer_set_weight";
    if (!l || !name || !data)
        return lsvk__fail(l ? l->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL argument", op);
    int p = lsvk__ls_find_param(param_names, P_COUNT, name);
    if (p < 0) return lsvk__fail(l->ctx, LSVK_ERROR_NOT_FOUND, "%s: the layer has no parameter '%s'", op, name);
    if (!param_used(l, p))
        return lsvk__fail(l->ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: '%s' is not used with %s", op, name,
                          p == P_CONV ? "conv_kernel <= 0" : "landmarks = 0");
    size_t want = (size_t)lsvk_tensor_numel(l->param[p]);
    if (count != want)
        return lsvk__fail(l->ctx, LSVK_ERROR_SHAPE, "%s: '%s' needs %zu values for this config, got %zu", op,
                          name, want, count);
    LSVK_TRY(lsvk_tensor_upload(l->param[p], data, count * sizeof *data));
    l->set[p] = true;
    return LSVK_SUCCESS;
}

static lsvk_status set_param(void *layer, const char *name, const float *data, size_t count) {
    return lsvk_ls_layer_set_weight((lsvk_ls_layer *)layer, name, data, count);
}

lsvk_status lsvk_ls_layer_load(lsvk_ls_layer *l, const lsvk_safetensors *st, const char *prefix) {
    static const char *op = "lsvk_ls_layer_load";
    if (!l || !st) return lsvk__fail(l ? l->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL argument", op);
    for (int p = 0; p < P_COUNT; p++) {
        if (!param_used(l, p)) continue;
        LSVK_TRY(lsvk__load_param(l->ctx, op, st, prefix, param_names[p], (size_t)lsvk_tensor_numel(l->param[p]),
                                  set_param, l));
    }
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ forward */

/* Two shapes of the projection and attention kernels: ls_project_partial.comp and
 * ls_window_attn.comp (shared-memory tiles) on GPUs; on CPU devices where it can run,
 * ls_project_shuffle.comp and ls_attn_shuffle.comp (one subgroup per workgroup, subgroup
 * shuffles instead of shared memory: lavapipe loads memory lane by lane inside loops).
 * LSVK_LS_SHUFFLE overrides the choice (tests and tuning): "0" takes the tile shaders, "R,RG[,KU]"
 * the shuffle ones (where they can run) with R query rows per lane, RG landmarks per projection
 * group and KU keys per step. */
typedef lsvk__ls_plan plan;

/* Query rows per lane of ls_attn_shuffle.comp. A block of SG*R queries loads each key of
 * [landmarks ; the union of its windows] once for all its rows, but every row scores the whole
 * union, so small windows want small blocks. Picks the R (up to ~128 / dh: the unrolled shader,
 * and lavapipe's compile time, grow with R * dh) of least estimated cost per query,
 * (M + union) * (L + R) / R, a key's loads and shuffles costing L ~ 1.4 times one row's
 * multiply-adds (measured on lavapipe, dim 512 / 8 heads, w 64, r 64). */
static uint32_t attn_rows(uint32_t sg, uint32_t dh, uint32_t w, uint32_t M) {
    uint32_t rmax = (128 + dh / 2) / dh, e = w / 2 ? w / 2 : 1, pick = 1;
    rmax = rmax < 1 ? 1 : rmax > 8 ? 8 : rmax;
    double best = 0;
    for (uint32_t r = 1; r <= rmax; r++) {
        uint64_t rows = (uint64_t)sg * r, u = 0;
        for (uint64_t k = 0; w && k < 64; k++) /* the union's mean size over 64 blocks */
            u += ((k * rows + rows - 1) / w - k * rows / w + 1) * w + 2 * e;
        double cost = (M + u / 64.0) * (1.4 + r) / r;
        if (r == 1 || cost < best) best = cost, pick = r;
    }
    return pick;
}

/* Shuffle-shader shape: rows per lane and keys per step of the attention, landmarks per group of
 * the projection; all grow the unrolled shaders, and lavapipe's compile time with them (kept to
 * about a second each; dh 256 takes longer). */
static bool pick_shuffle(const lsvk_context *ctx, const lsvk_ls_config *c, plan *p) {
    uint32_t rows, rg, ku;
    if (!lsvk__ls_pick_shuffle(ctx, "LSVK_LS_SHUFFLE", p, &rows, &rg, &ku)) return false;
    if (!rows) {
        rows = attn_rows(p->sg, p->DH, c->window, p->M);
        ku = p->DH <= 128 ? 2 : 1;
        rg = 32;
    }
    p->attn_r = rows;
    p->attn_ku = ku;
    lsvk__ls_plan_groups(p, rg);
    return true;
}

/* Tile sizes from the device's shared memory and invocation limits. */
static lsvk_status make_plan(const lsvk_ls_layer *l, uint32_t B, uint32_t N0, plan *p) {
    const lsvk_context *ctx = l->ctx;
    uint32_t shared_floats = ctx->info.max_shared_memory / 4 - 64; /* some room for the compiler */
    memset(p, 0, sizeof *p);
    p->B = B; p->N0 = N0; p->N = N0 - (uint32_t)l->cfg.cls; p->D = l->cfg.dim; p->H = l->cfg.heads;
    p->DH = l->cfg.head_dim; p->R = l->cfg.landmarks; p->M = l->M;
    uint32_t BH = B * p->H;
    p->shuffle = pick_shuffle(ctx, &l->cfg, p);
    if (p->M > 0) LSVK_TRY(lsvk__ls_plan_projection(ctx, "lsvk_ls_forward", "landmarks", p));
    p->attn_wg = lsvk__ls_wg_limit(ctx, 64);
    uint32_t kt = (shared_floats) / (2 * p->DH + 1);
    p->attn_kt = kt > 64 ? 64 : kt;
    {
        uint64_t e = l->cfg.window / 2 ? l->cfg.window / 2 : 1, w = l->cfg.window, loops;
        if (p->shuffle) {
            /* ls_attn_shuffle.comp: one iteration per KU keys of [landmarks ; the block's
             * window union], at most (ceil((SG*R - 1) / w) + 1) segments and 2e more */
            uint64_t rows = (uint64_t)p->sg * p->attn_r;
            uint64_t u = w ? ((rows - 1 + w - 1) / w + 1) * w + 2 * e : 0;
            if (u > p->N) u = p->N;
            loops = lsvk__div_up(p->M, p->attn_ku) + lsvk__div_up(u, p->attn_ku) + 64;
        } else {
            /* ls_window_attn.comp: each query scores its landmarks and window keys (two dh loops
             * per key) and the workgroup loads its key tiles. */
            uint64_t kw = w ? w + 2 * e : 0;
            uint64_t keys = p->M + kw, tiles = lsvk__div_up(p->M, p->attn_kt) + lsvk__div_up(p->attn_wg + kw, p->attn_kt);
            loops = keys * (2ull * p->DH + 3) + tiles * (lsvk__div_up((uint64_t)p->attn_kt * p->DH, p->attn_wg) + 8) +
                    4ull * p->DH + 64;
        }
        if (loops > lsvk__loop_budget(ctx))
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "lsvk_ls_forward: %u landmarks + window %llu x head_dim %u exceed what one "
                              "shader invocation of this driver (%s) may loop over",
                              p->M, (unsigned long long)w, p->DH, ctx->info.driver_name);
    }
    if (l->cfg.cls) lsvk__ls_plan_cls(p);
    uint32_t attn_rows = p->shuffle ? p->sg * p->attn_r : p->attn_wg;
    if (BH > ctx->info.max_workgroup_count[1] || lsvk__div_up(p->N, attn_rows) > ctx->info.max_workgroup_count[0] ||
        p->proj_chunks > ctx->info.max_workgroup_count[0] || p->cls_chunks > ctx->info.max_workgroup_count[0] ||
        p->proj_groups > ctx->info.max_workgroup_count[2])
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "lsvk_ls_forward: batch x heads = %u or sequence %u past the device's "
                          "maxComputeWorkGroupCount (%u x %u)", BH, p->N, ctx->info.max_workgroup_count[0],
                          ctx->info.max_workgroup_count[1]);
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ bands */

/* A forward past one binding, one sequence at a time: tokens per band of the attention and the
 * conv (whole query blocks), chunks per projection and CLS band. All zero: whole tensors. */
typedef struct bands {
    uint32_t tokens, proj, cls;
} bands;

static uint32_t query_block(const plan *p) { return p->shuffle ? p->sg * p->attn_r : p->attn_wg; }

/* Band sizes for plan p (B = 1): each band's views, with up to 256 bytes of alignment slack,
 * within the limit; the projection and CLS chunks shrink where one would not fit. */
static lsvk_status plan_bands(const lsvk_ls_layer *l, plan *p, bands *bd) {
    const lsvk_context *ctx = l->ctx;
    uint64_t room = lsvk__binding_limit(ctx) - 256, HR = (uint64_t)p->H * p->R;
    uint64_t widest = p->D > HR ? p->D : HR, rows = room / ((uint64_t)p->D * 4);
    uint64_t w = l->cfg.window, e = w / 2 ? w / 2 : 1, conv = l->cfg.conv_kernel;
    /* keys around a band of queries: its first segment's start (up to w - 1 before) and the last
     * one's end, each widened by e; the conv's taps, K/2 each side */
    uint64_t margin = (w ? 2 * (w - 1 + e) : 0) + conv, blk = query_block(p);
    uint64_t tokens = rows > margin ? (rows - margin) / blk * blk : 0;
    if (tokens == 0)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "lsvk_ls_forward: a block of %llu queries with its window and conv margins (%llu rows "
                          "of %u values) is past what one binding may cover (maxStorageBufferRange %llu bytes)",
                          (unsigned long long)blk, (unsigned long long)(blk + margin), p->D,
                          (unsigned long long)lsvk__binding_limit(ctx));
    memset(bd, 0, sizeof *bd);
    bd->tokens = (uint32_t)(tokens < p->N ? tokens : (p->N + blk - 1) / blk * blk);
    if (p->M > 0) {
        uint64_t r = room / (widest * 4) - 1; /* less the CLS row */
        if (p->proj_chunk > r) {
            p->proj_chunk = (uint32_t)r;
            p->proj_chunks = lsvk__div_up(p->N, p->proj_chunk);
        }
        bd->proj = (uint32_t)(r / p->proj_chunk);
    }
    if (p->cls_chunks) {
        if (p->cls_ct > rows) {
            p->cls_ct = (uint32_t)rows;
            p->cls_chunks = lsvk__div_up(p->N, p->cls_ct);
        }
        bd->cls = (uint32_t)(rows / p->cls_ct);
    }
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ recording */

/* The landmarks: split softmax over the sequence (in bands of chunks when bd->proj), combine,
 * DualLN's LN_s. */
static lsvk_status record_landmarks(lsvk_cmd *use, lsvk_ls_layer *l, const plan *p, const bands *bd,
                                    const lsvk_tensor *mask, uint32_t moff) {
    lsvk_context *ctx = l->ctx;
    LSVK_TRY(lsvk__ls_record_project_bands(use, ctx, p, &l->ws, mask, (uint32_t)l->cfg.cls, bd->proj, moff,
                                           "ls.project", "ls.project_combine"));
    lsvk_tensor *land = l->ws.t[LSVK__LS_LAND];
    return lsvk_layernorm(use, land, l->param[P_LNS_W], l->param[P_LNS_B], 1e-5f, land);
}

/* The fused attention over [landmarks ; window] for query blocks [blk0, blk1), through the given
 * bindings and offsets. */
static lsvk_status record_attention_blocks(lsvk_cmd *use, lsvk_ls_layer *l, const plan *p, uint32_t blk0,
                                           uint32_t blk1, const lsvk_tensor *q, const lsvk_tensor *k,
                                           const lsvk_tensor *v, lsvk_tensor *att, uint32_t qoff, uint32_t koff,
                                           const lsvk_tensor *mask, uint32_t moff) {
    lsvk_context *ctx = l->ctx;
    const lsvk_tensor *dummy = lsvk__dummy_tensor(ctx), *land = l->ws.t[LSVK__LS_LAND];
    uint32_t e = l->cfg.window / 2 ? l->cfg.window / 2 : 1;
    struct { uint32_t B, N, N0, D, H, w, e, M, cls, has_mask; float scale; uint32_t blk0, qoff, koff, moff; } push = {
        p->B, p->N, p->N0, p->D, p->H, l->cfg.window, e, p->M, (uint32_t)l->cfg.cls, mask != NULL,
        (float)(1.0 / sqrt((double)p->DH)), blk0, qoff, koff, moff};
    lsvk_dispatch d = {.shader = LSVK_SHADER(ls_window_attn), .label = "ls.attention"};
    d.spec[0] = p->attn_wg; d.spec[1] = p->DH; d.spec[2] = p->attn_kt;
    d.spec_count = 3;
    if (p->shuffle) { /* scores in the log2 domain */
        d.shader = LSVK_SHADER(ls_attn_shuffle);
        d.spec[0] = p->sg; d.spec[1] = p->attn_r; d.spec[2] = p->DH; d.spec[3] = p->attn_ku;
        d.spec_count = 4;
        push.scale = (float)(1.4426950408889634 / sqrt((double)p->DH));
    }
    d.buffers[0] = q; d.buffers[1] = k; d.buffers[2] = v; d.buffers[3] = land ? land : dummy;
    d.buffers[4] = mask ? mask : dummy; d.buffers[5] = att;
    d.buffer_count = 6;
    d.write_mask = 1u << 5;
    d.push = &push;
    d.push_size = sizeof push;
    d.groups[0] = blk1 - blk0; d.groups[1] = p->B * p->H; d.groups[2] = 1;
    return lsvk__cmd_record(use, &d);
}

static lsvk_status record_attention(lsvk_cmd *use, lsvk_ls_layer *l, const plan *p, const bands *bd,
                                    const lsvk_tensor *mask, uint32_t moff) {
    lsvk_tensor *const *t = l->ws.t;
    uint32_t blk = query_block(p), blocks = lsvk__div_up(p->N, blk);
    if (!bd->tokens)
        return record_attention_blocks(use, l, p, 0, blocks, t[LSVK__LS_Q], t[LSVK__LS_K], t[LSVK__LS_V],
                                       t[LSVK__LS_ATT], 0, 0, mask, moff);
    uint64_t D = p->D, cls = (uint64_t)l->cfg.cls, w = l->cfg.window, e = w / 2 ? w / 2 : 1;
    for (uint32_t b0 = 0; b0 < blocks; b0 += bd->tokens / blk) {
        uint32_t b1 = b0 + bd->tokens / blk < blocks ? b0 + bd->tokens / blk : blocks;
        uint64_t q0 = (uint64_t)b0 * blk, q1 = (uint64_t)b1 * blk < p->N ? (uint64_t)b1 * blk : p->N;
        uint64_t k0 = 0, k1 = 1; /* no window: one row keeps the binding valid */
        if (w) { /* the union of the band's windows (as the shaders compute it per block) */
            k0 = q0 / w * w > e ? q0 / w * w - e : 0;
            k1 = ((q1 - 1) / w + 1) * w + e < p->N ? ((q1 - 1) / w + 1) * w + e : p->N;
        }
        uint32_t qs, ks;
        lsvk_tensor qv = lsvk__view_span(l->ctx, t[LSVK__LS_Q], (cls + q0) * D, (q1 - q0) * D, &qs);
        lsvk_tensor av = lsvk__view_span(l->ctx, t[LSVK__LS_ATT], (cls + q0) * D, (q1 - q0) * D, &qs);
        lsvk_tensor kv = lsvk__view_span(l->ctx, t[LSVK__LS_K], (cls + k0) * D, (k1 - k0) * D, &ks);
        lsvk_tensor vv = lsvk__view_span(l->ctx, t[LSVK__LS_V], (cls + k0) * D, (k1 - k0) * D, &ks);
        LSVK_TRY(record_attention_blocks(use, l, p, b0, b1, &qv, &kv, &vv, &av, 0u - qs, 0u - ks, mask, moff));
    }
    return LSVK_SUCCESS;
}

/* CLS pooling into row 0 (uses the outputs before the conv), in bands of chunks when bd->cls. */
static lsvk_status record_cls(lsvk_cmd *use, lsvk_ls_layer *l, const plan *p, const bands *bd,
                              const lsvk_tensor *mask, uint32_t moff) {
    return lsvk__ls_record_cls_bands(use, l->ctx, p, &l->ws, mask, bd->cls, moff, "ls.cls", "ls.cls_combine");
}

/* The depthwise conv on V added to the token rows [n0, n1), through the given bindings. */
static lsvk_status record_conv_tokens(lsvk_cmd *use, lsvk_ls_layer *l, const plan *p, uint32_t n0, uint32_t n1,
                                      const lsvk_tensor *v, uint32_t voff, lsvk_tensor *att, uint32_t aoff,
                                      const lsvk_tensor *mask, uint32_t moff) {
    lsvk_context *ctx = l->ctx;
    struct { uint32_t B, N, N0, D, H, K, cls, has_mask, n0, n1, voff, aoff, moff; } push = {
        p->B, p->N, p->N0, p->D, p->H, (uint32_t)l->cfg.conv_kernel, (uint32_t)l->cfg.cls, mask != NULL,
        n0, n1, voff, aoff, moff};
    lsvk_dispatch d = {.shader = LSVK_SHADER(ls_conv), .label = "ls.conv"};
    d.spec[0] = lsvk__ls_wg_limit(ctx, 64);
    d.spec_count = 1;
    uint64_t items = (uint64_t)p->B * (n1 - n0) * p->D; /* invocations' work items */
    if (p->shuffle && p->DH % 4 == 0) { /* a vec4 of features x 16 tokens per item */
        d.shader = LSVK_SHADER(ls_conv_cpu);
        d.spec[1] = 16;
        d.spec_count = 2;
        items = (uint64_t)p->B * lsvk__div_up(n1 - n0, 16) * (p->D / 4);
    }
    d.buffers[0] = v; d.buffers[1] = mask ? mask : lsvk__dummy_tensor(ctx); d.buffers[2] = l->param[P_CONV];
    d.buffers[3] = att;
    d.buffer_count = 4;
    d.write_mask = 1u << 3;
    d.push = &push;
    d.push_size = sizeof push;
    lsvk__grid_2d(ctx, lsvk__div_up(items, d.spec[0]), d.groups);
    return lsvk__cmd_record(use, &d);
}

static lsvk_status record_conv(lsvk_cmd *use, lsvk_ls_layer *l, const plan *p, const bands *bd,
                               const lsvk_tensor *mask, uint32_t moff) {
    lsvk_tensor *const *t = l->ws.t;
    if (!bd->tokens) return record_conv_tokens(use, l, p, 0, p->N, t[LSVK__LS_V], 0, t[LSVK__LS_ATT], 0, mask, moff);
    uint64_t D = p->D, cls = (uint64_t)l->cfg.cls, half = (uint64_t)l->cfg.conv_kernel / 2;
    for (uint64_t n0 = 0; n0 < p->N; n0 += bd->tokens) {
        uint64_t n1 = n0 + bd->tokens < p->N ? n0 + bd->tokens : p->N;
        uint64_t v0 = n0 > half ? n0 - half : 0, v1 = n1 + half < p->N ? n1 + half : p->N;
        uint32_t vs, as;
        lsvk_tensor vv = lsvk__view_span(l->ctx, t[LSVK__LS_V], (cls + v0) * D, (v1 - v0) * D, &vs);
        lsvk_tensor av = lsvk__view_span(l->ctx, t[LSVK__LS_ATT], (cls + n0) * D, (n1 - n0) * D, &as);
        LSVK_TRY(record_conv_tokens(use, l, p, (uint32_t)n0, (uint32_t)n1, &vv, 0u - vs, &av, 0u - as, mask, moff));
    }
    return LSVK_SUCCESS;
}

/* The layer over p->B sequences: rows of x from value xoff of its binding, of out from ooff, the
 * mask's from moff; bd: bands (one sequence) or all zero. */
static lsvk_status record(lsvk_cmd *use, lsvk_ls_layer *l, const plan *p, const bands *bd, const lsvk_tensor *x,
                          uint32_t xoff, const lsvk_tensor *mask, uint32_t moff, lsvk_tensor *out, uint32_t ooff) {
    lsvk_context *ctx = l->ctx;
    lsvk_tensor *const *ws = l->ws.t;
    lsvk_tensor *const *w = l->param;
    uint64_t rows = (uint64_t)p->B * p->N0;

    /* 1. projections (independent: no barriers between them) */
    LSVK_TRY(lsvk__record_linear_rows(use, x, xoff, w[P_WQ], w[P_BQ], NULL, 0, ws[LSVK__LS_Q], 0, rows));
    LSVK_TRY(lsvk__record_linear_rows(use, x, xoff, w[P_WK], w[P_BK], NULL, 0, ws[LSVK__LS_K], 0, rows));
    LSVK_TRY(lsvk__record_linear_rows(use, x, xoff, w[P_WV], w[P_BV], NULL, 0, ws[LSVK__LS_V], 0, rows));
    if (p->R > 0) LSVK_TRY(lsvk__record_linear_rows(use, x, xoff, w[P_WD], w[P_BD], NULL, 0, ws[LSVK__LS_S], 0, rows));

    /* 2. DualLN, window half: LN_l on K and V of every token except a CLS token */
    for (int i = 0; i < 2; i++) {
        const char *label = i ? "ls.dual_ln_l.v" : "ls.dual_ln_l.k";
        lsvk_tensor *t = ws[i ? LSVK__LS_V : LSVK__LS_K];
        if (bd->tokens) /* one sequence: its rows after the CLS row */
            LSVK_TRY(lsvk__record_layernorm_rows(use, label, t, w[P_LNL_W], w[P_LNL_B], t, (uint64_t)l->cfg.cls, p->N,
                                                 p->D, 3u, 1e-5f));
        else
            LSVK_TRY(lsvk__ls_record_layernorm(use, ctx, label, t, w[P_LNL_W], w[P_LNL_B], (uint32_t)rows, p->D,
                                               l->cfg.cls ? p->N0 : 0));
    }

    /* 3. landmarks, 4. fused attention over [landmarks ; window], 5. CLS pooling, 6. conv on V */
    if (p->M > 0) LSVK_TRY(record_landmarks(use, l, p, bd, mask, moff));
    LSVK_TRY(record_attention(use, l, p, bd, mask, moff));
    if (l->cfg.cls) LSVK_TRY(record_cls(use, l, p, bd, mask, moff));
    if (l->cfg.conv_kernel > 0) LSVK_TRY(record_conv(use, l, p, bd, mask, moff));

    /* 7. output projection */
    return lsvk__record_linear_rows(use, ws[LSVK__LS_ATT], 0, w[P_WO], w[P_BO], NULL, 0, out, ooff, rows);
}

/* Sequences per pass: all where every tensor fits one binding; else as many as fit, or one at a
 * time in bands (0 returned). */
static uint32_t sequences_per_pass(const lsvk_ls_layer *l, uint32_t B, uint32_t N0) {
    uint64_t HR = (uint64_t)l->cfg.heads * l->cfg.landmarks, widest = HR > l->cfg.dim ? HR : l->cfg.dim;
    uint64_t fit = lsvk__binding_limit(l->ctx) / ((uint64_t)N0 * widest * sizeof(float) + 256);
    return (uint32_t)(fit < B ? fit : B);
}

lsvk_status lsvk_ls_forward(lsvk_cmd *cmd, lsvk_ls_layer *l, const lsvk_tensor *x, const lsvk_tensor *mask,
                            lsvk_tensor *out) {
    static const char *op = "lsvk_ls_forward";
    if (!l) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: layer is NULL", op);
    const lsvk__op_arg args[] = {{"x", x, false, true}, {"mask", mask, true, false}, {"out", out, false, true}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 3, &ctx));
    if (ctx != l->ctx) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: layer belongs to another context", op);
    const lsvk_ls_config *c = &l->cfg;
    if (x->rank != 3 || x->shape[2] != c->dim)
        return lsvk__shape_fail(ctx, op, "x", x, "out", out, "x must be [B, N0, dim]");
    if (!lsvk__same_shape(x, out)) return lsvk__shape_fail(ctx, op, "x", x, "out", out, "out must have x's shape");
    if (out == x) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: out must not be x", op);
    if (mask && (mask->rank != 2 || mask->shape[0] != x->shape[0] || mask->shape[1] != x->shape[1]))
        return lsvk__shape_fail(ctx, op, "x", x, "mask", mask, "mask must be [B, N0]");
    int64_t N = x->shape[1] - c->cls;
    if (N < 1) return lsvk__shape_fail(ctx, op, "x", x, "out", out, "no tokens besides the CLS token");
    if (c->window > 0 && N % c->window != 0)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: sequence length %lld%s is not a multiple of the window %u",
                          op, (long long)N, c->cls ? " (without CLS)" : "", c->window);
    uint64_t widest = c->dim > (uint64_t)c->heads * c->landmarks ? c->dim : (uint64_t)c->heads * c->landmarks;
    if ((uint64_t)x->shape[0] * (uint64_t)x->shape[1] * widest > UINT32_MAX)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: batch x tokens x %llu past 32-bit indexing", op,
                          (unsigned long long)widest);
    for (int p = 0; p < P_COUNT; p++)
        if (param_used(l, p) && !l->set[p])
            return lsvk__fail(ctx, LSVK_ERROR_NOT_FOUND, "%s: parameter '%s' was never set", op, param_names[p]);
    uint32_t B = (uint32_t)x->shape[0], N0 = (uint32_t)x->shape[1];
    uint32_t per = sequences_per_pass(l, B, N0), step = per ? per : 1;
    plan p, last;
    bands bd = {0, 0, 0};
    LSVK_TRY(make_plan(l, step, N0, &p));
    if (!per) LSVK_TRY(plan_bands(l, &p, &bd));
    LSVK_TRY(lsvk__ls_ws_ensure(ctx, &l->ws, &p)); /* sized for `step` sequences, reused by every pass */
    if (B % step) LSVK_TRY(make_plan(l, B % step, N0, &last));
    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    if (step == B) return lsvk__op_end(use, immediate, record(use, l, &p, &bd, x, 0, mask, 0, out, 0));
    lsvk_status st = LSVK_SUCCESS;
    for (uint32_t b0 = 0; st == LSVK_SUCCESS && b0 < B; b0 += step) {
        const plan *pp = B - b0 < step ? &last : &p;
        uint64_t first = (uint64_t)b0 * N0 * c->dim, n = (uint64_t)pp->B * N0 * c->dim;
        uint32_t xs, os;
        lsvk_tensor xv = lsvk__view_span(ctx, x, first, n, &xs), ov = lsvk__view_span(ctx, out, first, n, &os);
        st = record(use, l, pp, &bd, &xv, (uint32_t)(first - xs), mask, b0 * N0, &ov, (uint32_t)(first - os));
    }
    return lsvk__op_end(use, immediate, st);
}
