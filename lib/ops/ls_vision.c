/* The 2D long-short attention layer for vision (official imagenet/models/layers/transformer_ls.py
 * AttentionLS, README section 6), on any grid nx x ny: qkv and DualLN's LN_full, the dynamic
 * projection over the image tokens (the 1D layer's split-reduction kernels, with the global token
 * as their "CLS" entry), the fused [landmarks ; 2D window] attention, the global token's attention
 * over [itself ; the image outputs] (the 1D layer's CLS pooling kernels) and proj.
 *
 * The landmark list is [global ; dp_rank projected], M = nglo + r entries: the projection kernels
 * copy the global token's K/V (after LN_full) into entry 0, LN_dp skips it, and the attention
 * kernels treat every entry alike, so the global column needs no code of its own. */
#include "ops/ls_common.h"
#include "ops/views.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(vision_window_attn);
LSVK_DECLARE_SHADER(vision_attn_shuffle);

/* Parameters by reference name; qkv.weight and qkv.bias are kept as three [C,C] / [C] parts. */
enum { P_QKV_W, P_QKV_B, P_PROJ_W, P_PROJ_B, P_DP_W, P_DP_B, P_LNF_W, P_LNF_B, P_LND_W, P_LND_B, P_RPE,
       P_COUNT };
static const char *const param_names[P_COUNT] = {
    "qkv.weight", "qkv.bias", "proj.weight", "proj.bias", "to_dynamic_projection.weight",
    "to_dynamic_projection.bias", "dual_ln_full.weight", "dual_ln_full.bias", "dual_ln_dp.weight",
    "dual_ln_dp.bias", "local_relative_position_bias_table"};

struct lsvk_vision_layer {
    lsvk_context *ctx;
    lsvk_vision_config cfg;
    uint32_t M; /* landmark entries: nglo + r */
    bool set[P_COUNT];
    lsvk_tensor *param[P_COUNT][3];
    lsvk__ls_ws ws;
};

static uint32_t rpe_rows(uint32_t w) {
    uint32_t wp = w / 2;
    return 2 * (w + wp - 1) * (2 * wp + w + 1) + 1;
}

/* Present in the reference module's state_dict for this config. */
static bool param_exists(const lsvk_vision_config *c, int p) {
    if (p == P_QKV_B) return c->qkv_bias != 0;
    if (p == P_DP_W || p == P_DP_B) return c->dp_rank > 0;
    if (p == P_RPE) return c->rpe != 0;
    return true;
}

/* Read by the forward pass (dual_ln_dp exists but is unused without dp_rank). */
static bool param_used(const lsvk_vision_config *c, int p) {
    if (p == P_LND_W || p == P_LND_B) return c->dp_rank > 0;
    return param_exists(c, p);
}

/* Shape of one part (rows x cols, cols 0 for a vector) and the number of parts. */
static int param_shape(const lsvk_vision_config *c, int p, int64_t *rows, int64_t *cols) {
    int64_t C = c->dim, HR = (int64_t)c->heads * c->dp_rank;
    *cols = 0;
    switch (p) {
    case P_QKV_W: *rows = C; *cols = C; return 3;
    case P_QKV_B: *rows = C; return 3;
    case P_PROJ_W: *rows = C; *cols = C; return 1;
    case P_DP_W: *rows = HR; *cols = C; return 1;
    case P_DP_B: *rows = HR; return 1;
    case P_RPE: *rows = rpe_rows(c->window); *cols = c->heads; return 1;
    default: *rows = C; return 1;
    }
}

static lsvk_status check_config(lsvk_context *ctx, const lsvk_vision_config *c) {
    static const char *op = "lsvk_vision_layer_create";
    LSVK_TRY(lsvk__ls_check_heads(ctx, op, c->dim, c->heads, c->head_dim));
    if (c->window == 0)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: window must be >= 1", op);
    if (c->nx == 0 || c->ny == 0)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: empty image grid %u x %u", op, c->nx, c->ny);
    if (c->nx % c->window || c->ny % c->window)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE,
                          "%s: image grid nx %u x ny %u: both sides must be multiples of the window %u", op,
                          c->nx, c->ny, c->window);
    if (c->nglo > 1)
        return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED,
                          "%s: nglo %u: only 0 or 1 global token (the reference combines global values "
                          "element-wise, which is wrong for more)", op, c->nglo);
    if (c->rpe && c->window < 2)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: rpe needs window >= 2 (window is %u)", op,
                          c->window);
    if (c->dp_rank > 4096 || c->window > 4096 || (uint64_t)c->nx * c->ny > (1u << 28))
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: dp_rank %u / window %u / grid %u x %u past lsvk's limits (4096, 4096, 2^28 tokens)",
                          op, c->dp_rank, c->window, c->nx, c->ny);
    uint64_t widest = (uint64_t)c->heads * c->dp_rank > c->dim ? (uint64_t)c->heads * c->dp_rank : c->dim;
    if (widest * c->dim > UINT32_MAX || (uint64_t)rpe_rows(c->window) * c->heads > UINT32_MAX)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: weights past 32-bit indexing", op);
    return LSVK_SUCCESS;
}

void lsvk_vision_layer_destroy(lsvk_vision_layer *l) {
    if (!l) return;
    for (int p = 0; p < P_COUNT; p++)
        for (int i = 0; i < 3; i++) lsvk_tensor_destroy(l->param[p][i]);
    lsvk__ls_ws_free(&l->ws);
    free(l);
}

lsvk_status lsvk_vision_layer_create(lsvk_context *ctx, const lsvk_vision_config *config,
                                     lsvk_vision_layer **out) {
    if (!out) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_vision_layer_create: out is NULL");
    *out = NULL;
    if (!ctx || !config)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_vision_layer_create: NULL context or config");
    LSVK_TRY(check_config(ctx, config));
    lsvk_vision_layer *l = calloc(1, sizeof *l);
    if (!l) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    l->ctx = ctx;
    l->cfg = *config;
    l->cfg.rpe = config->rpe ? 1 : 0;
    l->cfg.qkv_bias = config->qkv_bias ? 1 : 0;
    l->M = config->nglo + config->dp_rank;
    lsvk_status s = LSVK_SUCCESS;
    for (int p = 0; p < P_COUNT && s == LSVK_SUCCESS; p++) {
        if (!param_used(&l->cfg, p)) continue;
        int64_t rows, cols;
        int parts = param_shape(&l->cfg, p, &rows, &cols);
        for (int i = 0; i < parts && s == LSVK_SUCCESS; i++) s = lsvk__make(ctx, rows, cols, &l->param[p][i]);
    }
    if (s) {
        lsvk_vision_layer_destroy(l);
        return s;
    }
    *out = l;
    return LSVK_SUCCESS;
}

static size_t param_count(const lsvk_vision_config *c, int p) {
    int64_t rows, cols;
    int parts = param_shape(c, p, &rows, &cols);
    return (size_t)parts * (size_t)rows * (size_t)(cols ? cols : 1);
}

lsvk_status lsvk_vision_layer_set_weight(lsvk_vision_layer *l, const char *name, const float *data,
                                         size_t count) {
    static const char *op = "lsvk_vision_layer_set_weight";
    if (!l || !name || !data)
        return lsvk__fail(l ? l->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL argument", op);
    int p = lsvk__ls_find_param(param_names, P_COUNT, name);
    if (p < 0) return lsvk__fail(l->ctx, LSVK_ERROR_NOT_FOUND, "%s: the layer has no parameter '%s'", op, name);
    if (!param_exists(&l->cfg, p))
        return lsvk__fail(l->ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: '%s' is not used with %s", op, name,
                          p == P_QKV_B ? "qkv_bias = 0" : p == P_RPE ? "rpe = 0" : "dp_rank = 0");
    size_t want = param_count(&l->cfg, p);
    if (count != want)
        return lsvk__fail(l->ctx, LSVK_ERROR_SHAPE, "%s: '%s' needs %zu values for this config, got %zu", op,
                          name, want, count);
    if (!param_used(&l->cfg, p)) return LSVK_SUCCESS; /* dual_ln_dp without dp_rank: accepted, unused */
    size_t part = want / (p == P_QKV_W || p == P_QKV_B ? 3 : 1);
    for (int i = 0; i < 3 && l->param[p][i]; i++)
        LSVK_TRY(lsvk_tensor_upload(l->param[p][i], data + (size_t)i * part, part * sizeof *data));
    l->set[p] = true;
    return LSVK_SUCCESS;
}

static lsvk_status set_param(void *layer, const char *name, const float *data, size_t count) {
    return lsvk_vision_layer_set_weight((lsvk_vision_layer *)layer, name, data, count);
}

lsvk_status lsvk_vision_layer_load(lsvk_vision_layer *l, const lsvk_safetensors *st, const char *prefix) {
    static const char *op = "lsvk_vision_layer_load";
    if (!l || !st) return lsvk__fail(l ? l->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL argument", op);
    for (int p = 0; p < P_COUNT; p++) {
        if (!param_used(&l->cfg, p)) continue;
        LSVK_TRY(lsvk__load_param(l->ctx, op, st, prefix, param_names[p], param_count(&l->cfg, p), set_param, l));
    }
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ plan */

/* Kernel shapes, as in ls_bidir.c: the tile kernels (shared memory) on GPUs; on CPU devices where
 * they can run, the shuffle kernels (one subgroup per workgroup). LSVK_VISION_SHUFFLE overrides
 * (tests and tuning): "0" takes the tile kernels, "R,RG[,KU]" the shuffle ones with R query rows
 * per lane, RG landmarks per projection group and KU keys per step. */
typedef struct plan {
    lsvk__ls_plan ls; /* N: the image tokens, nx * ny */
    uint32_t w, s, ntx, nty; /* window, its overhang, tiles per row / column */
    uint32_t attn_blocks;
    /* past one binding, one image at a time in bands (0: whole tensors): rows of tiles per
     * attention band, chunks per projection band and per global-token band */
    uint32_t band_tiles, band_proj, band_cls;
} plan;

/* Keys of the window union of a block of `rows` queries starting at query `first` of a row of
 * tiles (kw rows of the image, columns from its first tile to its last), clipped to the image. */
static uint64_t union_keys(const plan *p, uint64_t first, uint64_t rows) {
    uint64_t w2 = (uint64_t)p->w * p->w, per_row = (uint64_t)p->ntx * w2;
    uint64_t last = first + rows < per_row ? first + rows - 1 : per_row - 1;
    int64_t x0 = (int64_t)(first / w2 * p->w) - p->s, x1 = (int64_t)(last / w2 * p->w + p->w + p->s);
    int64_t nx = (int64_t)p->ntx * p->w, ny = (int64_t)p->nty * p->w;
    uint64_t cols = (uint64_t)((x1 < nx ? x1 : nx) - (x0 > 0 ? x0 : 0));
    uint64_t krows = p->w + 2ull * p->s;
    return (krows < (uint64_t)ny ? krows : (uint64_t)ny) * cols;
}

/* The most keys any block of `rows` queries scores. */
static uint64_t union_max(const plan *p, uint64_t rows) {
    uint64_t w2 = (uint64_t)p->w * p->w, tiles = (rows + w2 - 2) / w2 + 1;
    if (tiles > p->ntx) tiles = p->ntx;
    uint64_t krows = p->w + 2ull * p->s, ny = (uint64_t)p->nty * p->w, nx = (uint64_t)p->ntx * p->w;
    uint64_t cols = tiles * p->w + 2ull * p->s;
    return (krows < ny ? krows : ny) * (cols < nx ? cols : nx);
}

/* Query rows per lane of vision_attn_shuffle.comp: the R (up to ~128 / dh, as in ls_bidir.c) of
 * least estimated cost over one row of tiles, sum over blocks of (M + union) * (L + R), a key's
 * loads and shuffles costing L ~ 1.4 row multiply-adds, within the loop budget. */
static uint32_t attn_rows(const lsvk_context *ctx, const plan *p) {
    uint32_t rmax = (128 + p->ls.DH / 2) / p->ls.DH, pick = 0;
    rmax = rmax < 1 ? 1 : rmax > 8 ? 8 : rmax;
    uint64_t per_row = (uint64_t)p->ntx * p->w * p->w;
    double best = 0;
    for (uint32_t r = 1; r <= rmax; r++) {
        uint64_t rows = (uint64_t)p->ls.sg * r, blocks = (per_row + rows - 1) / rows;
        uint64_t loops = lsvk__div_up(p->ls.M, p->ls.attn_ku) + lsvk__div_up(union_max(p, rows), p->ls.attn_ku) + 64;
        if (loops > lsvk__loop_budget(ctx)) break;
        double cost = 0;
        for (uint64_t b = 0; b < blocks; b++) cost += (double)(p->ls.M + union_keys(p, b * rows, rows)) * (1.4 + r);
        if (!pick || cost < best) best = cost, pick = r;
    }
    return pick;
}

static bool pick_shuffle(const lsvk_context *ctx, plan *p) {
    uint32_t rows, rg, ku;
    if (!lsvk__ls_pick_shuffle(ctx, "LSVK_VISION_SHUFFLE", &p->ls, &rows, &rg, &ku)) return false;
    p->ls.attn_ku = ku ? ku : p->ls.DH <= 128 ? 2 : 1;
    p->ls.attn_r = rows ? rows : attn_rows(ctx, p);
    if (!p->ls.attn_r) return false; /* past the loop budget even at one row per lane */
    lsvk__ls_plan_groups(&p->ls, rg ? rg : 32);
    return true;
}

/* Loop iterations of one vision_window_attn.comp invocation with WG queries per workgroup. */
static uint64_t tile_loops(const plan *p, uint32_t wg) {
    uint64_t keys = p->ls.M + union_max(p, wg);
    uint64_t tiles = lsvk__div_up(p->ls.M, p->ls.attn_kt) + lsvk__div_up(union_max(p, wg), p->ls.attn_kt);
    return keys * (2ull * p->ls.DH + 3) + tiles * (lsvk__div_up((uint64_t)p->ls.attn_kt * p->ls.DH, wg) + 8) +
           4ull * p->ls.DH + 64;
}

/* Band sizes of a forward whose tensors exceed one binding (B = 1): each band's views, with up
 * to 256 bytes of alignment slack, within the limit. */
static lsvk_status plan_bands(const lsvk_context *ctx, plan *p) {
    static const char *op = "lsvk_vision_forward";
    uint64_t room = lsvk__binding_limit(ctx) - 256, D = p->ls.D, HR = (uint64_t)p->ls.H * p->ls.R;
    uint64_t widest = D > HR ? D : HR, nx = p->ntx * p->w;
    /* attention: g rows of tiles read (g w + 2 s) image rows of keys */
    uint64_t g = (room / (nx * D * 4) > 2ull * p->s ? room / (nx * D * 4) - 2ull * p->s : 0) / p->w;
    if (g == 0)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: one row of %u x %u tiles with its window margin (%llu bytes of keys) is past what "
                          "one binding may cover (maxStorageBufferRange %llu bytes)", op, p->ntx, p->w,
                          (unsigned long long)((p->w + 2ull * p->s) * nx * D * 4),
                          (unsigned long long)lsvk__binding_limit(ctx));
    p->band_tiles = (uint32_t)(g < p->nty ? g : p->nty);
    if (p->ls.M > 0) { /* whole chunks per band; chunks shrink to fit one */
        uint64_t rows = room / (widest * 4) - 1; /* less the global token's row */
        if (p->ls.proj_chunk > rows) {
            p->ls.proj_chunk = (uint32_t)rows;
            p->ls.proj_chunks = lsvk__div_up(p->ls.N, p->ls.proj_chunk);
        }
        p->band_proj = (uint32_t)(rows / p->ls.proj_chunk);
    }
    if (p->ls.cls_chunks) {
        uint64_t rows = room / (D * 4);
        if (p->ls.cls_ct > rows) {
            p->ls.cls_ct = (uint32_t)rows;
            p->ls.cls_chunks = lsvk__div_up(p->ls.N, p->ls.cls_ct);
        }
        p->band_cls = (uint32_t)(rows / p->ls.cls_ct);
    }
    return LSVK_SUCCESS;
}

static lsvk_status make_plan(const lsvk_vision_layer *l, uint32_t B, bool banded, plan *p) {
    static const char *op = "lsvk_vision_forward";
    const lsvk_context *ctx = l->ctx;
    const lsvk_vision_config *c = &l->cfg;
    memset(p, 0, sizeof *p);
    p->ls.B = B; p->ls.N = c->nx * c->ny; p->ls.N0 = c->nglo + p->ls.N; p->ls.D = c->dim; p->ls.H = c->heads;
    p->ls.DH = c->head_dim; p->ls.R = c->dp_rank; p->ls.M = l->M; p->w = c->window;
    p->s = c->window / 2 ? c->window / 2 : 1;
    p->ntx = c->nx / c->window; p->nty = c->ny / c->window;
    p->ls.shuffle = pick_shuffle(ctx, p);
    if (p->ls.M > 0) LSVK_TRY(lsvk__ls_plan_projection(ctx, op, "dp_rank", &p->ls));

    uint32_t shared_floats = ctx->info.max_shared_memory / 4 - 64, rows;
    if (p->ls.shuffle) {
        rows = p->ls.sg * p->ls.attn_r;
        uint64_t loops = lsvk__div_up(p->ls.M, p->ls.attn_ku) + lsvk__div_up(union_max(p, rows), p->ls.attn_ku) + 64;
        if (loops > lsvk__loop_budget(ctx))
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: LSVK_VISION_SHUFFLE rows %u: %llu loop iterations per invocation exceed "
                              "this driver's (%s) budget", op, p->ls.attn_r, (unsigned long long)loops,
                              ctx->info.driver_name);
    } else {
        uint32_t kt = shared_floats / (2 * p->ls.DH + 2);
        p->ls.attn_kt = kt > 64 ? 64 : kt;
        if (p->ls.attn_kt < 1)
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: head_dim %u needs more shared memory than the "
                              "device's %u bytes", op, p->ls.DH, ctx->info.max_shared_memory);
        /* fewer queries per workgroup, so fewer union keys, until one invocation's loops fit */
        p->ls.attn_wg = lsvk__ls_wg_limit(ctx, 64);
        while (p->ls.attn_wg > 1 && tile_loops(p, p->ls.attn_wg) > lsvk__loop_budget(ctx)) p->ls.attn_wg /= 2;
        if (tile_loops(p, p->ls.attn_wg) > lsvk__loop_budget(ctx))
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: %u landmarks + a %u x %u window x head_dim %u exceed what one shader "
                              "invocation of this driver (%s) may loop over", op, p->ls.M, p->w + 2 * p->s,
                              p->w + 2 * p->s, p->ls.DH, ctx->info.driver_name);
        rows = p->ls.attn_wg;
    }
    p->attn_blocks = lsvk__div_up((uint64_t)p->ntx * p->w * p->w, rows);
    if (c->nglo) lsvk__ls_plan_cls(&p->ls);
    if (banded) LSVK_TRY(plan_bands(ctx, p));
    uint32_t BH = B * p->ls.H;
    if (BH > ctx->info.max_workgroup_count[1] ||
        (uint64_t)p->attn_blocks * p->nty > ctx->info.max_workgroup_count[0] ||
        p->ls.proj_chunks > ctx->info.max_workgroup_count[0] || p->ls.cls_chunks > ctx->info.max_workgroup_count[0] ||
        p->ls.proj_groups > ctx->info.max_workgroup_count[2])
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: batch x heads = %u or a %u x %u grid past the device's maxComputeWorkGroupCount "
                          "(%u x %u)", op, BH, c->nx, c->ny, ctx->info.max_workgroup_count[0],
                          ctx->info.max_workgroup_count[1]);
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ recording */

/* [global ; dp_rank projected] K/V entries: split softmax over the image tokens (in bands of
 * chunks past one binding), combine, LN_dp on the projected ones. */
static lsvk_status record_landmarks(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p) {
    lsvk_context *ctx = l->ctx;
    LSVK_TRY(lsvk__ls_record_project_bands(use, ctx, &p->ls, &l->ws, NULL, l->cfg.nglo, p->band_proj, 0,
                                           "vision.project", "vision.project_combine"));
    if (p->ls.R == 0) return LSVK_SUCCESS; /* the global entry alone */
    /* rows (kv, b, j); j = 0 is the global entry when nglo = 1, left as it is */
    return lsvk__ls_record_layernorm(use, ctx, "vision.dual_ln_dp", l->ws.t[LSVK__LS_LAND], l->param[P_LND_W][0],
                                     l->param[P_LND_B][0], 2 * p->ls.B * p->ls.M, p->ls.D, l->cfg.nglo ? p->ls.M : 0);
}

/* The image tokens' attention for rows of tiles [gy0, gy1), reading Q, K, V and writing ATT
 * through the given bindings at the given offsets. */
static lsvk_status record_attention_rows(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p, uint32_t gy0,
                                         uint32_t gy1, const lsvk_tensor *q, const lsvk_tensor *k,
                                         const lsvk_tensor *v, lsvk_tensor *att, uint32_t qoff, uint32_t koff) {
    lsvk_context *ctx = l->ctx;
    const lsvk_tensor *dummy = lsvk__dummy_tensor(ctx);
    const lsvk_vision_config *c = &l->cfg;
    struct { uint32_t B, N0, D, H, nx, ny, w, s, wp, M, nglo, rpe, blocks; float scale; uint32_t gy0, qoff, koff; }
    push = {p->ls.B, p->ls.N0, p->ls.D, p->ls.H, c->nx, c->ny, p->w, p->s, p->w / 2, p->ls.M, c->nglo,
            (uint32_t)c->rpe, p->attn_blocks, (float)(1.0 / sqrt((double)p->ls.DH)), gy0, qoff, koff};
    lsvk_dispatch d = {.shader = LSVK_SHADER(vision_window_attn), .label = "vision.attention"};
    d.spec[0] = p->ls.attn_wg; d.spec[1] = p->ls.DH; d.spec[2] = p->ls.attn_kt;
    d.spec_count = 3;
    if (p->ls.shuffle) { /* scores in the log2 domain */
        d.shader = LSVK_SHADER(vision_attn_shuffle);
        d.spec[0] = p->ls.sg; d.spec[1] = p->ls.attn_r; d.spec[2] = p->ls.DH; d.spec[3] = p->ls.attn_ku;
        d.spec_count = 4;
        push.scale = (float)(1.4426950408889634 / sqrt((double)p->ls.DH));
    }
    d.buffers[0] = q; d.buffers[1] = k; d.buffers[2] = v;
    d.buffers[3] = l->ws.t[LSVK__LS_LAND] ? l->ws.t[LSVK__LS_LAND] : dummy;
    d.buffers[4] = c->rpe ? l->param[P_RPE][0] : dummy;
    d.buffers[5] = att;
    d.buffer_count = 6;
    d.write_mask = 1u << 5;
    d.push = &push;
    d.push_size = sizeof push;
    d.groups[0] = p->attn_blocks * (gy1 - gy0); d.groups[1] = p->ls.B * p->ls.H; d.groups[2] = 1;
    return lsvk__cmd_record(use, &d);
}

static lsvk_status record_attention(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p) {
    lsvk_tensor *const *t = l->ws.t;
    if (!p->band_tiles)
        return record_attention_rows(use, l, p, 0, p->nty, t[LSVK__LS_Q], t[LSVK__LS_K], t[LSVK__LS_V],
                                     t[LSVK__LS_ATT], 0, 0);
    uint64_t D = p->ls.D, nx = l->cfg.nx, nglo = l->cfg.nglo;
    for (uint32_t gy0 = 0; gy0 < p->nty; gy0 += p->band_tiles) {
        uint32_t gy1 = gy0 + p->band_tiles < p->nty ? gy0 + p->band_tiles : p->nty;
        /* queries: the band's image rows; keys: those plus the window margin, inside the image */
        uint64_t q0 = nglo + (uint64_t)gy0 * p->w * nx, q1 = nglo + (uint64_t)gy1 * p->w * nx;
        uint64_t y0 = (uint64_t)gy0 * p->w > p->s ? (uint64_t)gy0 * p->w - p->s : 0;
        uint64_t y1 = (uint64_t)gy1 * p->w + p->s < l->cfg.ny ? (uint64_t)gy1 * p->w + p->s : l->cfg.ny;
        uint32_t qs, ks;
        lsvk_tensor qv = lsvk__view_span(l->ctx, t[LSVK__LS_Q], q0 * D, (q1 - q0) * D, &qs);
        lsvk_tensor av = lsvk__view_span(l->ctx, t[LSVK__LS_ATT], q0 * D, (q1 - q0) * D, &qs);
        lsvk_tensor kv = lsvk__view_span(l->ctx, t[LSVK__LS_K], (nglo + y0 * nx) * D, (y1 - y0) * nx * D, &ks);
        lsvk_tensor vv = lsvk__view_span(l->ctx, t[LSVK__LS_V], (nglo + y0 * nx) * D, (y1 - y0) * nx * D, &ks);
        LSVK_TRY(record_attention_rows(use, l, p, gy0, gy1, &qv, &kv, &vv, &av, 0u - qs, 0u - ks));
    }
    return LSVK_SUCCESS;
}

/* The global token: [q_g.k_g ; q_g.out[n]] softmax, over [v_g ; out[n]], into attention row 0 (in
 * bands of chunks past one binding). */
static lsvk_status record_global(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p) {
    return lsvk__ls_record_cls_bands(use, l->ctx, &p->ls, &l->ws, NULL, p->band_cls, 0, "vision.global",
                                     "vision.global_combine");
}

/* The layer over p->ls.B images: rows of x from value xoff of its binding, of out from ooff. */
static lsvk_status record(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p, const lsvk_tensor *x, uint32_t xoff,
                          lsvk_tensor *out, uint32_t ooff) {
    lsvk_context *ctx = l->ctx;
    lsvk_tensor *(*w)[3] = l->param;
    bool qb = l->cfg.qkv_bias != 0;
    uint64_t rows = (uint64_t)p->ls.B * p->ls.N0;
    /* 1. q, k, v (three [C,C] parts of qkv) and the projection scores; LN_full on k and v */
    for (int i = 0; i < 3; i++)
        LSVK_TRY(lsvk__record_linear_rows(use, x, xoff, w[P_QKV_W][i], qb ? w[P_QKV_B][i] : NULL, NULL, 0,
                                          l->ws.t[LSVK__LS_Q + i], 0, rows));
    if (p->ls.R > 0)
        LSVK_TRY(lsvk__record_linear_rows(use, x, xoff, w[P_DP_W][0], w[P_DP_B][0], NULL, 0, l->ws.t[LSVK__LS_S], 0,
                                          rows));
    for (int i = 0; i < 2; i++)
        LSVK_TRY(lsvk__ls_record_layernorm(use, ctx, i ? "vision.dual_ln_full.v" : "vision.dual_ln_full.k",
                                           l->ws.t[i ? LSVK__LS_V : LSVK__LS_K], w[P_LNF_W][0], w[P_LNF_B][0],
                                           (uint32_t)rows, p->ls.D, 0));
    /* 2. [global ; projected] entries, 3. image tokens, 4. global token, 5. proj */
    if (p->ls.M > 0) LSVK_TRY(record_landmarks(use, l, p));
    LSVK_TRY(record_attention(use, l, p));
    if (l->cfg.nglo) LSVK_TRY(record_global(use, l, p));
    return lsvk__record_linear_rows(use, l->ws.t[LSVK__LS_ATT], 0, w[P_PROJ_W][0], w[P_PROJ_B][0], NULL, 0, out, ooff,
                                    rows);
}

/* Images per sub-batch: all of them where every tensor fits one binding; else as many as fit
 * (each forward on views of x and out), or one at a time in bands (0 returned). */
static uint32_t images_per_pass(const lsvk_vision_layer *l, uint32_t B) {
    const lsvk_vision_config *c = &l->cfg;
    uint64_t HR = (uint64_t)c->heads * c->dp_rank, widest = HR > c->dim ? HR : c->dim;
    uint64_t per = ((uint64_t)c->nglo + (uint64_t)c->nx * c->ny) * widest * sizeof(float) + 256;
    uint64_t fit = lsvk__binding_limit(l->ctx) / per;
    return (uint32_t)(fit < B ? fit : B);
}

lsvk_status lsvk_vision_forward(lsvk_cmd *cmd, lsvk_vision_layer *l, const lsvk_tensor *x, lsvk_tensor *out) {
    static const char *op = "lsvk_vision_forward";
    if (!l) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: layer is NULL", op);
    const lsvk__op_arg args[] = {{"x", x, false, true}, {"out", out, false, true}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 2, &ctx));
    if (ctx != l->ctx) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: layer belongs to another context", op);
    const lsvk_vision_config *c = &l->cfg;
    int64_t N0 = (int64_t)c->nglo + (int64_t)c->nx * c->ny;
    if (x->rank != 3 || x->shape[2] != c->dim || x->shape[1] != N0) {
        char why[160];
        snprintf(why, sizeof why, "x must be [B, nglo + ny*nx, dim] = [B, %lld, %u] (nglo %u, grid %u x %u)",
                 (long long)N0, c->dim, c->nglo, c->nx, c->ny);
        return lsvk__shape_fail(ctx, op, "x", x, "out", out, why);
    }
    if (!lsvk__same_shape(x, out)) return lsvk__shape_fail(ctx, op, "x", x, "out", out, "out must have x's shape");
    if (out == x) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: out must not be x", op);
    uint64_t widest = (uint64_t)c->heads * c->dp_rank > c->dim ? (uint64_t)c->heads * c->dp_rank : c->dim;
    if ((uint64_t)x->shape[0] * (uint64_t)N0 * widest > UINT32_MAX)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: batch x tokens x %llu past 32-bit indexing", op,
                          (unsigned long long)widest);
    for (int p = 0; p < P_COUNT; p++)
        if (param_used(c, p) && !l->set[p])
            return lsvk__fail(ctx, LSVK_ERROR_NOT_FOUND, "%s: parameter '%s' was never set", op, param_names[p]);
    uint32_t B = (uint32_t)x->shape[0], per = images_per_pass(l, B), step = per ? per : 1;
    plan p, last;
    LSVK_TRY(make_plan(l, step, per == 0, &p));
    LSVK_TRY(lsvk__ls_ws_ensure(ctx, &l->ws, &p.ls)); /* sized for `step` images, reused by every pass */
    if (B % step) LSVK_TRY(make_plan(l, B % step, per == 0, &last));
    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    if (step == B) return lsvk__op_end(use, immediate, record(use, l, &p, x, 0, out, 0));
    lsvk_status st = LSVK_SUCCESS;
    for (uint32_t b0 = 0; st == LSVK_SUCCESS && b0 < B; b0 += step) {
        const plan *pp = B - b0 < step ? &last : &p;
        uint64_t first = (uint64_t)b0 * N0 * c->dim, n = (uint64_t)pp->ls.B * N0 * c->dim;
        uint32_t xs, os;
        lsvk_tensor xv = lsvk__view_span(ctx, x, first, n, &xs), ov = lsvk__view_span(ctx, out, first, n, &os);
        st = record(use, l, pp, &xv, (uint32_t)(first - xs), &ov, (uint32_t)(first - os));
    }
    return lsvk__op_end(use, immediate, st);
}
