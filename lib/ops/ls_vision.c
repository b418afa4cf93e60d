/* The 2D long-short attention layer for vision (official imagenet/models/layers/transformer_ls.py
 * AttentionLS, README section 6), on any grid nx x ny: qkv and DualLN's LN_full, the dynamic
 * projection over the image tokens (the 1D layer's split-reduction kernels, with the global token
 * as their "CLS" entry), the fused [landmarks ; 2D window] attention, the global token's attention
 * over [itself ; the image outputs] (the 1D layer's CLS pooling kernels) and proj.
 *
 * The landmark list is [global ; dp_rank projected], M = nglo + r entries: the projection kernels
 * copy the global token's K/V (after LN_full) into entry 0, LN_dp skips it, and the attention
 * kernels treat every entry alike, so the global column needs no code of its own. */
#include "ops/op_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(layernorm);
LSVK_DECLARE_SHADER(ls_project_partial);
LSVK_DECLARE_SHADER(ls_project_shuffle);
LSVK_DECLARE_SHADER(split_combine);
LSVK_DECLARE_SHADER(ls_cls_partial);
LSVK_DECLARE_SHADER(vision_window_attn);
LSVK_DECLARE_SHADER(vision_attn_shuffle);

/* Parameters by reference name; qkv.weight and qkv.bias are kept as three [C,C] / [C] parts. */
enum { P_QKV_W, P_QKV_B, P_PROJ_W, P_PROJ_B, P_DP_W, P_DP_B, P_LNF_W, P_LNF_B, P_LND_W, P_LND_B, P_RPE,
       P_COUNT };
static const char *const param_names[P_COUNT] = {
    "qkv.weight", "qkv.bias", "proj.weight", "proj.bias", "to_dynamic_projection.weight",
    "to_dynamic_projection.bias", "dual_ln_full.weight", "dual_ln_full.bias", "dual_ln_dp.weight",
    "dual_ln_dp.bias", "local_relative_position_bias_table"};

enum { WS_Q, WS_K, WS_V, WS_S, WS_PART, WS_LAND, WS_ATT, WS_CLS, WS_COUNT };

struct lsvk_vision_layer {
    lsvk_context *ctx;
    lsvk_vision_config cfg;
    uint32_t M; /* landmark entries: nglo + r */
    bool set[P_COUNT];
    lsvk_tensor *param[P_COUNT][3];
    int64_t ws_B;
    uint64_t ws_part, ws_cls;
    lsvk_tensor *ws[WS_COUNT];
    lsvk_tensor **retired; /* replaced workspaces: a recorded sequence may still use them */
    size_t retired_count;
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
    if (c->heads == 0 || c->head_dim == 0 || c->dim == 0)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: dim, heads and head_dim must be > 0", op);
    if ((uint64_t)c->heads * c->head_dim != c->dim)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: dim %u != heads %u x head_dim %u", op, c->dim, c->heads,
                          c->head_dim);
    if (c->head_dim > 256)
        return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "%s: head_dim %u > 256", op, c->head_dim);
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
    for (int i = 0; i < WS_COUNT; i++) lsvk_tensor_destroy(l->ws[i]);
    for (size_t i = 0; i < l->retired_count; i++) lsvk_tensor_destroy(l->retired[i]);
    free(l->retired);
    free(l);
}

static lsvk_status make(lsvk_context *ctx, int64_t a, int64_t b, lsvk_tensor **out) {
    int64_t shape[2] = {a, b};
    return lsvk_tensor_create(ctx, LSVK_F32, b ? 2 : 1, shape, out);
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
        for (int i = 0; i < parts && s == LSVK_SUCCESS; i++) s = make(ctx, rows, cols, &l->param[p][i]);
    }
    if (s) {
        lsvk_vision_layer_destroy(l);
        return s;
    }
    *out = l;
    return LSVK_SUCCESS;
}

static int find_param(const char *name) {
    for (int p = 0; p < P_COUNT; p++)
        if (strcmp(param_names[p], name) == 0) return p;
    return -1;
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
    int p = find_param(name);
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
    uint32_t B, Nf, N0, D, H, DH, R, M, w, s, ntx, nty;
    bool shuffle;
    uint32_t sg, attn_r, attn_ku, proj_rg, proj_groups;
    uint32_t proj_wg, proj_tt, proj_nper, proj_chunk, proj_chunks;
    uint32_t attn_wg, attn_kt, attn_blocks;
    uint32_t cls_ct, cls_chunks;
} plan;

static uint32_t wg_limit(const lsvk_context *ctx, uint32_t want) {
    uint32_t lim = ctx->info.max_workgroup_invocations;
    if (ctx->info.max_workgroup_size[0] < lim) lim = ctx->info.max_workgroup_size[0];
    return want < lim ? want : lsvk__pow2_floor(lim);
}

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
    uint32_t rmax = (128 + p->DH / 2) / p->DH, pick = 0;
    rmax = rmax < 1 ? 1 : rmax > 8 ? 8 : rmax;
    uint64_t per_row = (uint64_t)p->ntx * p->w * p->w;
    double best = 0;
    for (uint32_t r = 1; r <= rmax; r++) {
        uint64_t rows = (uint64_t)p->sg * r, blocks = (per_row + rows - 1) / rows;
        uint64_t loops = lsvk__div_up(p->M, p->attn_ku) + lsvk__div_up(union_max(p, rows), p->attn_ku) + 64;
        if (loops > lsvk__loop_budget(ctx)) break;
        double cost = 0;
        for (uint64_t b = 0; b < blocks; b++) cost += (double)(p->M + union_keys(p, b * rows, rows)) * (1.4 + r);
        if (!pick || cost < best) best = cost, pick = r;
    }
    return pick;
}

static bool pick_shuffle(const lsvk_context *ctx, plan *p) {
    const char *env = getenv("LSVK_VISION_SHUFFLE");
    uint32_t rows = 0, rg = 0, ku = 0;
    if (env && *env) {
        char *end;
        unsigned long a = strtoul(env, &end, 10), b = 0, k = 2;
        if (*end == ',') b = strtoul(end + 1, &end, 10);
        if (*end == ',') k = strtoul(end + 1, &end, 10);
        if (*end == '\0' && a == 0 && b == 0) return false;
        if (*end == '\0' && a >= 1 && a <= 8 && b >= 1 && b <= 64 && k >= 1 && k <= 4)
            rows = (uint32_t)a, rg = (uint32_t)b, ku = (uint32_t)k;
    }
    bool want = rows || ctx->info.type == LSVK_DEVICE_TYPE_CPU;
    if (!want || !lsvk__subgroup_shuffle_ok(ctx)) return false;
    p->sg = ctx->info.subgroup_size;
    p->attn_ku = ku ? ku : p->DH <= 128 ? 2 : 1;
    p->attn_r = rows ? rows : attn_rows(ctx, p);
    if (!p->attn_r) return false; /* past the loop budget even at one row per lane */
    if (!rg) rg = 32;
    uint32_t rr = p->R ? p->R : 1, groups = (rr + rg - 1) / rg;
    rg = (rr + groups - 1) / groups;
    if (rg % 4 && rr % 4 == 0) rg += 4 - rg % 4;
    p->proj_rg = rg;
    p->proj_groups = (rr + rg - 1) / rg * (((p->DH + 3) / 4 + p->sg - 1) / p->sg);
    return true;
}

static uint32_t proj_hdr(const plan *p) { return p->shuffle ? 4 : 2; }

/* Chunks of the projection's split reduction over the image tokens (ls_bidir.c's rule: enough
 * workgroups, partials within a binding's range, loops within the driver's budget). */
static lsvk_status plan_projection(const lsvk_context *ctx, plan *p) {
    static const char *op = "lsvk_vision_forward";
    bool cpu = ctx->info.type == LSVK_DEVICE_TYPE_CPU;
    uint32_t shared_floats = ctx->info.max_shared_memory / 4 - 64;
    uint32_t R = p->R ? p->R : 1, per_chunk = p->B * p->H;
    if (p->shuffle) {
        per_chunk *= p->proj_groups;
    } else {
        p->proj_wg = wg_limit(ctx, cpu ? 64 : 128);
        if (shared_floats <= 3 * R + 2 * p->DH)
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: dp_rank %u x head_dim %u need more shared memory than the device's %u bytes",
                              op, R, p->DH, ctx->info.max_shared_memory);
        p->proj_tt = (shared_floats - 2 * R) / (R + 2 * p->DH);
        if (p->proj_tt > 32) p->proj_tt = 32;
        p->proj_nper = lsvk__div_up((uint64_t)R * p->DH, p->proj_wg);
    }
    uint32_t target = cpu ? 32 : 1024;
    uint32_t chunks = per_chunk >= target ? 1 : target / per_chunk;
    if (cpu && chunks < 2) chunks = 2;
    if (cpu && chunks < lsvk__div_up(p->Nf, 4096)) chunks = lsvk__div_up(p->Nf, 4096);
    uint32_t max_chunks = lsvk__div_up(p->Nf, 64);
    if (chunks > max_chunks) chunks = max_chunks;
    uint64_t rec_bytes = 4ull * p->B * p->H * p->M * (proj_hdr(p) + 2ull * p->DH);
    uint64_t range = ctx->info.max_storage_buffer_range;
    if (range && chunks > range / rec_bytes) chunks = (uint32_t)(range / rec_bytes);
    if (chunks < 1) chunks = 1;
    p->proj_chunk = lsvk__div_up(p->Nf, chunks);
    uint64_t budget = lsvk__loop_budget(ctx) - 1024, max_chunk;
    if (p->shuffle) {
        max_chunk = budget * 32 / 49 / 32 * 32; /* see ls_bidir.c */
    } else {
        uint64_t wg = p->proj_wg, tt = p->proj_tt;
        uint64_t per_tile = lsvk__div_up(tt * R, wg) + lsvk__div_up(tt * p->DH, wg) + lsvk__div_up(R, wg) * tt +
                            (uint64_t)p->proj_nper * (tt + 1) + 8;
        max_chunk = budget * tt / (per_tile + tt * (1 + lsvk__div_up(R, wg))) / tt * tt;
    }
    if (max_chunk < 1)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: dp_rank %u x head_dim %u exceed what one shader invocation of this driver (%s) "
                          "may loop over", op, R, p->DH, ctx->info.driver_name);
    if (p->proj_chunk > max_chunk) p->proj_chunk = (uint32_t)max_chunk;
    p->proj_chunks = lsvk__div_up(p->Nf, p->proj_chunk);
    if (range && rec_bytes * p->proj_chunks > range)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: the projection partial sums (%llu bytes) exceed the device's "
                          "maxStorageBufferRange (%llu bytes)", op,
                          (unsigned long long)(rec_bytes * p->proj_chunks), (unsigned long long)range);
    return LSVK_SUCCESS;
}

/* Loop iterations of one vision_window_attn.comp invocation with WG queries per workgroup. */
static uint64_t tile_loops(const plan *p, uint32_t wg) {
    uint64_t keys = p->M + union_max(p, wg);
    uint64_t tiles = lsvk__div_up(p->M, p->attn_kt) + lsvk__div_up(union_max(p, wg), p->attn_kt);
    return keys * (2ull * p->DH + 3) + tiles * (lsvk__div_up((uint64_t)p->attn_kt * p->DH, wg) + 8) +
           4ull * p->DH + 64;
}

static lsvk_status make_plan(const lsvk_vision_layer *l, uint32_t B, plan *p) {
    static const char *op = "lsvk_vision_forward";
    const lsvk_context *ctx = l->ctx;
    const lsvk_vision_config *c = &l->cfg;
    memset(p, 0, sizeof *p);
    p->B = B; p->Nf = c->nx * c->ny; p->N0 = c->nglo + p->Nf; p->D = c->dim; p->H = c->heads;
    p->DH = c->head_dim; p->R = c->dp_rank; p->M = l->M; p->w = c->window;
    p->s = c->window / 2 ? c->window / 2 : 1;
    p->ntx = c->nx / c->window; p->nty = c->ny / c->window;
    p->shuffle = pick_shuffle(ctx, p);
    if (p->M > 0) LSVK_TRY(plan_projection(ctx, p));

    uint32_t shared_floats = ctx->info.max_shared_memory / 4 - 64, rows;
    if (p->shuffle) {
        rows = p->sg * p->attn_r;
        uint64_t loops = lsvk__div_up(p->M, p->attn_ku) + lsvk__div_up(union_max(p, rows), p->attn_ku) + 64;
        if (loops > lsvk__loop_budget(ctx))
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: LSVK_VISION_SHUFFLE rows %u: %llu loop iterations per invocation exceed "
                              "this driver's (%s) budget", op, p->attn_r, (unsigned long long)loops,
                              ctx->info.driver_name);
    } else {
        uint32_t kt = shared_floats / (2 * p->DH + 2);
        p->attn_kt = kt > 64 ? 64 : kt;
        if (p->attn_kt < 1)
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: head_dim %u needs more shared memory than the "
                              "device's %u bytes", op, p->DH, ctx->info.max_shared_memory);
        /* fewer queries per workgroup, so fewer union keys, until one invocation's loops fit */
        p->attn_wg = wg_limit(ctx, 64);
        while (p->attn_wg > 1 && tile_loops(p, p->attn_wg) > lsvk__loop_budget(ctx)) p->attn_wg /= 2;
        if (tile_loops(p, p->attn_wg) > lsvk__loop_budget(ctx))
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: %u landmarks + a %u x %u window x head_dim %u exceed what one shader "
                              "invocation of this driver (%s) may loop over", op, p->M, p->w + 2 * p->s,
                              p->w + 2 * p->s, p->DH, ctx->info.driver_name);
        rows = p->attn_wg;
    }
    p->attn_blocks = lsvk__div_up((uint64_t)p->ntx * p->w * p->w, rows);
    if (c->nglo) {
        p->cls_ct = 256;
        p->cls_chunks = lsvk__div_up(p->Nf, p->cls_ct);
    }
    uint32_t BH = B * p->H;
    if (BH > ctx->info.max_workgroup_count[1] ||
        (uint64_t)p->attn_blocks * p->nty > ctx->info.max_workgroup_count[0] ||
        p->proj_chunks > ctx->info.max_workgroup_count[0] || p->cls_chunks > ctx->info.max_workgroup_count[0] ||
        p->proj_groups > ctx->info.max_workgroup_count[2])
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: batch x heads = %u or a %u x %u grid past the device's maxComputeWorkGroupCount "
                          "(%u x %u)", op, BH, c->nx, c->ny, ctx->info.max_workgroup_count[0],
                          ctx->info.max_workgroup_count[1]);
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ workspace */

static uint64_t part_floats(const plan *p) {
    return (uint64_t)p->B * p->H * p->M * p->proj_chunks * (proj_hdr(p) + 2ull * p->DH);
}

static uint64_t cls_floats(const plan *p) { return (uint64_t)p->B * p->H * p->cls_chunks * (2 + p->DH); }

static lsvk_status ensure_workspace(lsvk_vision_layer *l, const plan *p) {
    if (l->ws[WS_Q] && l->ws_B == p->B && l->ws_part == part_floats(p) && l->ws_cls == cls_floats(p))
        return LSVK_SUCCESS;
    lsvk_tensor **r = realloc(l->retired, (l->retired_count + WS_COUNT) * sizeof *r);
    if (!r) return lsvk__fail(l->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    l->retired = r;
    for (int i = 0; i < WS_COUNT; i++)
        if (l->ws[i]) l->retired[l->retired_count++] = l->ws[i];
    memset(l->ws, 0, sizeof l->ws);
    lsvk_context *ctx = l->ctx;
    int64_t seq[3] = {p->B, p->N0, p->D}, scores[3] = {p->B, p->N0, (int64_t)p->H * p->R};
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, seq, &l->ws[WS_Q]));
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, seq, &l->ws[WS_K]));
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, seq, &l->ws[WS_V]));
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, seq, &l->ws[WS_ATT]));
    if (p->R > 0) LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, scores, &l->ws[WS_S]));
    if (p->M > 0) {
        LSVK_TRY(make(ctx, (int64_t)part_floats(p), 0, &l->ws[WS_PART]));
        LSVK_TRY(make(ctx, 2ll * p->B * p->M, p->D, &l->ws[WS_LAND]));
    }
    if (p->cls_chunks) LSVK_TRY(make(ctx, (int64_t)cls_floats(p), 0, &l->ws[WS_CLS]));
    l->ws_B = p->B;
    l->ws_part = part_floats(p);
    l->ws_cls = cls_floats(p);
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ recording */

/* Push constants of split_combine.comp (see ls_bidir.c). */
typedef struct combine_args {
    uint32_t groups, nchunks, H, J, base, sb, sj, sv;
} combine_args;

static lsvk_status record_combine(lsvk_cmd *use, const lsvk_context *ctx, const char *label,
                                  const lsvk_tensor *part, lsvk_tensor *out, const combine_args *a, uint32_t wg,
                                  uint32_t dh, uint32_t vecs, uint32_t hdr) {
    lsvk_dispatch c = {.shader = LSVK_SHADER(split_combine), .label = label};
    c.spec[0] = wg; c.spec[1] = dh; c.spec[2] = vecs; c.spec[3] = hdr;
    c.spec_count = 4;
    c.buffers[0] = part; c.buffers[1] = out;
    c.buffer_count = 2;
    c.write_mask = 1u << 1;
    c.push = a;
    c.push_size = sizeof *a;
    /* few workgroups on CPUs (each costs lavapipe a start), enough for the loop budget */
    uint64_t v = hdr == 4 && dh % 4 == 0 ? 4 : 1, elems = lsvk__div_up((uint64_t)vecs * dh, v * wg);
    uint64_t per_group = 2ull * a->nchunks + elems * (a->nchunks + 1ull) + 1, budget = lsvk__loop_budget(ctx) - 1024;
    uint64_t n = ctx->info.type == LSVK_DEVICE_TYPE_CPU && a->groups > 64 ? 64 : a->groups;
    while (n < a->groups && lsvk__div_up(a->groups, n) * per_group > budget) n *= 2;
    lsvk__grid_2d(ctx, n < a->groups ? n : a->groups, c.groups);
    return lsvk__cmd_record(use, &c);
}

static lsvk_status record_layernorm(lsvk_cmd *use, lsvk_context *ctx, const char *label, lsvk_tensor *t,
                                    const lsvk_tensor *w, const lsvk_tensor *b, uint32_t rows, uint32_t C,
                                    uint32_t skip) {
    lsvk__layernorm_push push = {.rows = rows, .C = C, .flags = 3u, .eps = 1e-5f, .stride = C, .sub = 1,
                                 .skip = skip};
    lsvk_dispatch d = {.shader = LSVK_SHADER(layernorm), .label = label};
    d.spec[0] = lsvk__row_workgroup(ctx, C);
    d.spec_count = 1;
    d.buffers[0] = t; d.buffers[1] = w; d.buffers[2] = b; d.buffers[3] = t;
    d.buffer_count = 4;
    d.write_mask = 1u | (1u << 3);
    d.push = &push;
    d.push_size = sizeof push;
    lsvk__grid_2d(ctx, rows, d.groups);
    return lsvk__cmd_record(use, &d);
}

/* [global ; dp_rank projected] K/V entries: split softmax over the image tokens, combine, LN_dp
 * on the projected ones. */
static lsvk_status record_landmarks(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p) {
    lsvk_context *ctx = l->ctx;
    const lsvk_tensor *dummy = lsvk__dummy_tensor(ctx);
    lsvk_tensor *land = l->ws[WS_LAND], *sc = l->ws[WS_S];
    struct { uint32_t N, N0, D, H, cls, has_mask, chunk, nchunks, has_scores; } push = {
        p->Nf, p->N0, p->D, p->H, l->cfg.nglo, 0, p->proj_chunk, p->proj_chunks, p->R > 0};
    lsvk_dispatch d = {.shader = LSVK_SHADER(ls_project_partial), .label = "vision.project"};
    if (p->shuffle) {
        d.shader = LSVK_SHADER(ls_project_shuffle);
        d.spec[0] = p->sg; d.spec[1] = p->DH; d.spec[2] = p->R ? p->R : 1; d.spec[3] = p->proj_rg;
        d.spec[4] = 2; d.spec[5] = 32; /* tokens per step, per block (see the shader) */
        d.spec_count = 6;
    } else {
        d.spec[0] = p->proj_wg; d.spec[1] = p->DH; d.spec[2] = p->R ? p->R : 1;
        d.spec[3] = p->proj_tt; d.spec[4] = p->proj_nper;
        d.spec_count = 5;
    }
    d.buffers[0] = l->ws[WS_K]; d.buffers[1] = l->ws[WS_V]; d.buffers[2] = sc ? sc : dummy;
    d.buffers[3] = dummy; d.buffers[4] = l->ws[WS_PART];
    d.buffer_count = 5;
    d.write_mask = 1u << 4;
    d.push = &push;
    d.push_size = sizeof push;
    d.groups[0] = p->proj_chunks; d.groups[1] = p->B * p->H; d.groups[2] = p->shuffle ? p->proj_groups : 1;
    LSVK_TRY(lsvk__cmd_record(use, &d));

    combine_args ca = {p->B * p->H * p->M, p->proj_chunks, p->H, p->M, 0, p->M * p->D, p->D, p->B * p->M * p->D};
    LSVK_TRY(record_combine(use, ctx, "vision.project_combine", l->ws[WS_PART], land, &ca,
                            p->shuffle ? p->sg : wg_limit(ctx, 64), p->DH, 2, proj_hdr(p)));
    if (p->R == 0) return LSVK_SUCCESS; /* the global entry alone */
    /* rows (kv, b, j); j = 0 is the global entry when nglo = 1, left as it is */
    return record_layernorm(use, ctx, "vision.dual_ln_dp", land, l->param[P_LND_W][0], l->param[P_LND_B][0],
                            2 * p->B * p->M, p->D, l->cfg.nglo ? p->M : 0);
}

static lsvk_status record_attention(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p) {
    lsvk_context *ctx = l->ctx;
    const lsvk_tensor *dummy = lsvk__dummy_tensor(ctx);
    const lsvk_vision_config *c = &l->cfg;
    struct { uint32_t B, N0, D, H, nx, ny, w, s, wp, M, nglo, rpe, blocks; float scale; } push = {
        p->B, p->N0, p->D, p->H, c->nx, c->ny, p->w, p->s, p->w / 2, p->M, c->nglo, (uint32_t)c->rpe,
        p->attn_blocks, (float)(1.0 / sqrt((double)p->DH))};
    lsvk_dispatch d = {.shader = LSVK_SHADER(vision_window_attn), .label = "vision.attention"};
    d.spec[0] = p->attn_wg; d.spec[1] = p->DH; d.spec[2] = p->attn_kt;
    d.spec_count = 3;
    if (p->shuffle) { /* scores in the log2 domain */
        d.shader = LSVK_SHADER(vision_attn_shuffle);
        d.spec[0] = p->sg; d.spec[1] = p->attn_r; d.spec[2] = p->DH; d.spec[3] = p->attn_ku;
        d.spec_count = 4;
        push.scale = (float)(1.4426950408889634 / sqrt((double)p->DH));
    }
    d.buffers[0] = l->ws[WS_Q]; d.buffers[1] = l->ws[WS_K]; d.buffers[2] = l->ws[WS_V];
    d.buffers[3] = l->ws[WS_LAND] ? l->ws[WS_LAND] : dummy;
    d.buffers[4] = c->rpe ? l->param[P_RPE][0] : dummy;
    d.buffers[5] = l->ws[WS_ATT];
    d.buffer_count = 6;
    d.write_mask = 1u << 5;
    d.push = &push;
    d.push_size = sizeof push;
    d.groups[0] = p->attn_blocks * p->nty; d.groups[1] = p->B * p->H; d.groups[2] = 1;
    return lsvk__cmd_record(use, &d);
}

/* The global token: [q_g.k_g ; q_g.out[n]] softmax, over [v_g ; out[n]], into attention row 0. */
static lsvk_status record_global(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p) {
    lsvk_context *ctx = l->ctx;
    lsvk_tensor *att = l->ws[WS_ATT];
    struct { uint32_t N, N0, D, H, has_mask, nchunks; float scale; } push = {
        p->Nf, p->N0, p->D, p->H, 0, p->cls_chunks, (float)(1.0 / sqrt((double)p->DH))};
    lsvk_dispatch d = {.shader = LSVK_SHADER(ls_cls_partial), .label = "vision.global"};
    d.spec[0] = wg_limit(ctx, 64); d.spec[1] = p->DH; d.spec[2] = p->cls_ct;
    d.spec_count = 3;
    d.buffers[0] = l->ws[WS_Q]; d.buffers[1] = l->ws[WS_K]; d.buffers[2] = l->ws[WS_V]; d.buffers[3] = att;
    d.buffers[4] = lsvk__dummy_tensor(ctx); d.buffers[5] = l->ws[WS_CLS];
    d.buffer_count = 6;
    d.write_mask = 1u << 5;
    d.push = &push;
    d.push_size = sizeof push;
    d.groups[0] = p->cls_chunks; d.groups[1] = p->B * p->H; d.groups[2] = 1;
    LSVK_TRY(lsvk__cmd_record(use, &d));
    combine_args ca = {p->B * p->H, p->cls_chunks, p->H, 1, 0, p->N0 * p->D, 0, 0};
    return record_combine(use, ctx, "vision.global_combine", l->ws[WS_CLS], att, &ca, wg_limit(ctx, 64), p->DH, 1, 2);
}

static lsvk_status record(lsvk_cmd *use, lsvk_vision_layer *l, const plan *p, const lsvk_tensor *x,
                          lsvk_tensor *out) {
    lsvk_context *ctx = l->ctx;
    lsvk_tensor *(*w)[3] = l->param;
    bool qb = l->cfg.qkv_bias != 0;
    /* 1. q, k, v (three [C,C] parts of qkv) and the projection scores; LN_full on k and v */
    for (int i = 0; i < 3; i++)
        LSVK_TRY(lsvk_linear(use, x, w[P_QKV_W][i], qb ? w[P_QKV_B][i] : NULL, l->ws[WS_Q + i]));
    if (p->R > 0) LSVK_TRY(lsvk_linear(use, x, w[P_DP_W][0], w[P_DP_B][0], l->ws[WS_S]));
    for (int i = 0; i < 2; i++)
        LSVK_TRY(record_layernorm(use, ctx, i ? "vision.dual_ln_full.v" : "vision.dual_ln_full.k",
                                  l->ws[i ? WS_V : WS_K], w[P_LNF_W][0], w[P_LNF_B][0], p->B * p->N0, p->D, 0));
    /* 2. [global ; projected] entries, 3. image tokens, 4. global token, 5. proj */
    if (p->M > 0) LSVK_TRY(record_landmarks(use, l, p));
    LSVK_TRY(record_attention(use, l, p));
    if (l->cfg.nglo) LSVK_TRY(record_global(use, l, p));
    return lsvk_linear(use, l->ws[WS_ATT], w[P_PROJ_W][0], w[P_PROJ_B][0], out);
}

lsvk_status lsvk_vision_forward(lsvk_cmd *cmd, lsvk_vision_layer *l, const lsvk_tensor *x, lsvk_tensor *out) {
    static const char *op = "lsvk_vision_forward";
    if (!l) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: layer is NULL", op);
    const lsvk__op_arg args[] = {{"x", x, false}, {"out", out, false}};
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
    plan p;
    LSVK_TRY(make_plan(l, (uint32_t)x->shape[0], &p));
    LSVK_TRY(ensure_workspace(l, &p));
    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    return lsvk__op_end(use, immediate, record(use, l, &p, x, out));
}
