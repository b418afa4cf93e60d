/* The long-short layers' shared planning, workspace and recording (see ls_common.h). */
#include "ops/ls_common.h"
#include "ops/views.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(ls_project_partial);
LSVK_DECLARE_SHADER(ls_project_shuffle);
LSVK_DECLARE_SHADER(split_combine);
LSVK_DECLARE_SHADER(ls_cls_partial);

lsvk_status lsvk__ls_check_heads(lsvk_context *ctx, const char *op, uint32_t dim, uint32_t heads,
                                 uint32_t head_dim) {
    if (heads == 0 || head_dim == 0 || dim == 0)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: dim, heads and head_dim must be > 0", op);
    if ((uint64_t)heads * head_dim != dim)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: dim %u != heads %u x head_dim %u", op, dim, heads,
                          head_dim);
    if (head_dim > 256)
        return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "%s: head_dim %u > 256", op, head_dim);
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ plan */

bool lsvk__ls_pick_shuffle(const lsvk_context *ctx, const char *env, lsvk__ls_plan *p, uint32_t *rows,
                           uint32_t *rg, uint32_t *ku) {
    const char *val = getenv(env);
    *rows = *rg = *ku = 0;
    if (val && *val) {
        char *end;
        unsigned long a = strtoul(val, &end, 10), b = 0, k = 2;
        if (*end == ',') b = strtoul(end + 1, &end, 10);
        if (*end == ',') k = strtoul(end + 1, &end, 10);
        if (*end == '\0' && a == 0 && b == 0) return false;
        if (*end == '\0' && a >= 1 && a <= 8 && b >= 1 && b <= 64 && k >= 1 && k <= 4)
            *rows = (uint32_t)a, *rg = (uint32_t)b, *ku = (uint32_t)k;
    }
    bool want = *rows || ctx->info.type == LSVK_DEVICE_TYPE_CPU;
    if (!want || !lsvk__subgroup_shuffle_ok(ctx)) return false;
    p->sg = ctx->info.subgroup_size;
    return true;
}

void lsvk__ls_plan_groups(lsvk__ls_plan *p, uint32_t rg) {
    /* landmarks split evenly over the groups, a multiple of 4 (aligned score loads) */
    uint32_t rr = p->R ? p->R : 1, groups = (rr + rg - 1) / rg;
    rg = (rr + groups - 1) / groups;
    if (rg % 4 && rr % 4 == 0) rg += 4 - rg % 4;
    p->proj_rg = rg;
    p->proj_groups = (rr + rg - 1) / rg * (((p->DH + 3) / 4 + p->sg - 1) / p->sg);
}

/* Tile sizes from the device's shared memory and invocation limits. */
lsvk_status lsvk__ls_plan_projection(const lsvk_context *ctx, const char *op, const char *rank_name,
                                     lsvk__ls_plan *p) {
    bool cpu = ctx->info.type == LSVK_DEVICE_TYPE_CPU;
    uint32_t shared_floats = ctx->info.max_shared_memory / 4 - 64; /* some room for the compiler */
    uint32_t R = p->R ? p->R : 1;
    uint32_t per_chunk = p->B * p->H; /* workgroups per chunk */
    if (p->shuffle) {
        per_chunk *= p->proj_groups;
    } else {
        p->proj_wg = lsvk__ls_wg_limit(ctx, cpu ? 64 : 128);
        if (shared_floats <= 3 * R + 2 * p->DH)
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: %s %u x head_dim %u need more shared memory than the device's %u bytes", op,
                              rank_name, R, p->DH, ctx->info.max_shared_memory);
        p->proj_tt = (shared_floats - 2 * R) / (R + 2 * p->DH);
        if (p->proj_tt > 32) p->proj_tt = 32;
        p->proj_nper = lsvk__div_up((uint64_t)R * p->DH, p->proj_wg);
    }
    /* Enough workgroups to keep the device busy; on CPUs also at least two chunks, and chunks of
     * at most 4096 tokens (the partials grow with the chunk count, and so does the combine).
     * Chunks of at least 64 tokens, and partials within a binding's range. */
    uint32_t target = cpu ? 32 : 1024;
    uint32_t chunks = per_chunk >= target ? 1 : target / per_chunk;
    if (cpu && chunks < 2) chunks = 2;
    if (cpu && chunks < lsvk__div_up(p->N, 4096)) chunks = lsvk__div_up(p->N, 4096);
    uint32_t max_chunks = lsvk__div_up(p->N, 64);
    if (chunks > max_chunks) chunks = max_chunks;
    uint64_t rec_bytes = 4ull * p->B * p->H * p->M * (lsvk__ls_proj_hdr(p) + 2ull * p->DH);
    uint64_t range = ctx->info.max_storage_buffer_range;
    if (range && chunks > range / rec_bytes) chunks = (uint32_t)(range / rec_bytes);
    if (chunks < 1) chunks = 1;
    p->proj_chunk = lsvk__div_up(p->N, chunks);
    uint64_t budget = lsvk__loop_budget(ctx) - 1024, max_chunk;
    if (p->shuffle) {
        /* ls_project_shuffle.comp's loop iterations: per token one of the max pass and 1/TU of
         * the accumulation, per block of PB tokens one more (TU 2, PB 32) */
        max_chunk = budget * 32 / 49 / 32 * 32;
    } else {
        /* Loop iterations of one invocation of ls_project_partial.comp per token of its chunk
         * (the tile loops, plus the max pass); bounded where the driver caps them (llvmpipe). */
        uint64_t wg = p->proj_wg, tt = p->proj_tt;
        uint64_t per_tile = lsvk__div_up(tt * R, wg) + lsvk__div_up(tt * p->DH, wg) + lsvk__div_up(R, wg) * tt +
                            (uint64_t)p->proj_nper * (tt + 1) + 8;
        max_chunk = budget * tt / (per_tile + tt * (1 + lsvk__div_up(R, wg))) / tt * tt;
    }
    if (max_chunk < 1)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: %s %u x head_dim %u exceed what one shader invocation of this driver (%s) "
                          "may loop over", op, rank_name, R, p->DH, ctx->info.driver_name);
    if (p->proj_chunk > max_chunk) p->proj_chunk = (uint32_t)max_chunk;
    p->proj_chunks = lsvk__div_up(p->N, p->proj_chunk);
    uint64_t part_bytes = rec_bytes * p->proj_chunks;
    if (range && part_bytes > range)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: the projection partial sums (%llu bytes) exceed the device's "
                          "maxStorageBufferRange (%llu bytes)", op, (unsigned long long)part_bytes,
                          (unsigned long long)range);
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ workspace */

static uint64_t part_floats(const lsvk__ls_plan *p) {
    return (uint64_t)p->B * p->H * p->M * p->proj_chunks * (lsvk__ls_proj_hdr(p) + 2ull * p->DH);
}

static uint64_t cls_floats(const lsvk__ls_plan *p) {
    return (uint64_t)p->B * p->H * p->cls_chunks * (2 + p->DH);
}

static lsvk_status retire(lsvk_context *ctx, lsvk__ls_ws *ws) {
    lsvk_tensor **r = realloc(ws->retired, (ws->retired_count + LSVK__LS_WS_COUNT) * sizeof *r);
    if (!r) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    ws->retired = r;
    for (int i = 0; i < LSVK__LS_WS_COUNT; i++)
        if (ws->t[i]) ws->retired[ws->retired_count++] = ws->t[i];
    memset(ws->t, 0, sizeof ws->t);
    return LSVK_SUCCESS;
}

lsvk_status lsvk__ls_ws_ensure(lsvk_context *ctx, lsvk__ls_ws *ws, const lsvk__ls_plan *p) {
    if (ws->t[LSVK__LS_Q] && ws->B == p->B && ws->N0 == p->N0 && ws->part == part_floats(p) &&
        ws->cls == cls_floats(p))
        return LSVK_SUCCESS;
    LSVK_TRY(retire(ctx, ws));
    lsvk_tensor **t = ws->t;
    int64_t seq[3] = {p->B, p->N0, p->D}, scores[3] = {p->B, p->N0, (int64_t)p->H * p->R};
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, seq, &t[LSVK__LS_Q]));
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, seq, &t[LSVK__LS_K]));
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, seq, &t[LSVK__LS_V]));
    if (p->R > 0) LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, scores, &t[LSVK__LS_S]));
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 3, seq, &t[LSVK__LS_ATT]));
    if (p->M > 0) {
        LSVK_TRY(lsvk__make(ctx, (int64_t)part_floats(p), 0, &t[LSVK__LS_PART]));
        LSVK_TRY(lsvk__make(ctx, 2ll * p->B * p->M, p->D, &t[LSVK__LS_LAND]));
    }
    if (p->cls_chunks) LSVK_TRY(lsvk__make(ctx, (int64_t)cls_floats(p), 0, &t[LSVK__LS_CLS]));
    ws->B = p->B;
    ws->N0 = p->N0;
    ws->part = part_floats(p);
    ws->cls = cls_floats(p);
    return LSVK_SUCCESS;
}

void lsvk__ls_ws_free(lsvk__ls_ws *ws) {
    for (int i = 0; i < LSVK__LS_WS_COUNT; i++) lsvk_tensor_destroy(ws->t[i]);
    for (size_t i = 0; i < ws->retired_count; i++) lsvk_tensor_destroy(ws->retired[i]);
    free(ws->retired);
}

/* ------------------------------------------------------------ recording */

lsvk_status lsvk__ls_record_layernorm(lsvk_cmd *use, lsvk_context *ctx, const char *label, lsvk_tensor *t,
                                      const lsvk_tensor *w, const lsvk_tensor *b, uint32_t rows, uint32_t C,
                                      uint32_t skip) {
    (void)ctx;
    if (!skip) return lsvk__record_layernorm_rows(use, label, t, w, b, t, 0, rows, C, 3u, 1e-5f);
    lsvk__layernorm_push push = {.rows = rows, .C = C, .flags = 3u, .eps = 1e-5f, .stride = C, .sub = 1,
                                 .skip = skip};
    return lsvk__record_layernorm(use, t, w, b, t, &push, label);
}

/* Push constants of split_combine.comp: group g = (b*H + h)*J + j goes to
 * out[base + b*sb + j*sj + v*sv + h*dh + d]. */
typedef struct combine_args {
    uint32_t groups, nchunks, H, J, base, sb, sj, sv;
} combine_args;

/* Workgroups of a split_combine.comp dispatch (c: its spec constants), which loops over its
 * groups: on CPUs a few dozen, as lavapipe pays for every workgroup it starts (lra's 2048 groups:
 * 20 ms at 512 bits), yet enough that no invocation loops past the driver's budget. */
static void combine_grid(const lsvk_context *ctx, uint64_t groups, uint32_t nchunks, lsvk_dispatch *c) {
    uint32_t wg = c->spec[0], dh = c->spec[1], vecs = c->spec[2], hdr = c->spec[3];
    uint64_t v = hdr == 4 && dh % 4 == 0 ? 4 : 1, elems = lsvk__div_up((uint64_t)vecs * dh, v * wg);
    uint64_t per_group = 2ull * nchunks + elems * (nchunks + 1ull) + 1, budget = lsvk__loop_budget(ctx) - 1024;
    uint64_t n = ctx->info.type == LSVK_DEVICE_TYPE_CPU && groups > 64 ? 64 : groups;
    while (n < groups && lsvk__div_up(groups, n) * per_group > budget) n *= 2;
    lsvk__grid_2d(ctx, n < groups ? n : groups, c->groups);
}

/* Merges the per-chunk partials (header of hdr floats, then vecs vectors of dh) of each group. */
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
    combine_grid(ctx, a->groups, a->nchunks, &c);
    return lsvk__cmd_record(use, &c);
}

/* The projection's split reduction over one band's chunks. */
static lsvk_status project_part(lsvk_cmd *use, lsvk_context *ctx, const lsvk__ls_plan *p, const lsvk__ls_ws *ws,
                                const lsvk_tensor *mask, uint32_t cls, const lsvk__ls_band *band,
                                const char *label) {
    const lsvk_tensor *dummy = lsvk__dummy_tensor(ctx);
    struct { uint32_t N, N0, D, H, cls, has_mask, chunk, nchunks, has_scores, c0, koff, soff, nend, moff; } push = {
        p->N, p->N0, p->D, p->H, cls, mask != NULL, p->proj_chunk, p->proj_chunks, p->R > 0,
        band->c0, band->koff, band->soff, band->nend, band->moff};
    lsvk_dispatch d = {.shader = LSVK_SHADER(ls_project_partial), .label = label};
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
    d.buffers[0] = band->k; d.buffers[1] = band->v; d.buffers[2] = band->s ? band->s : dummy;
    d.buffers[3] = mask ? mask : dummy; d.buffers[4] = ws->t[LSVK__LS_PART];
    d.buffer_count = 5;
    d.write_mask = 1u << 4;
    d.push = &push;
    d.push_size = sizeof push;
    d.groups[0] = band->chunks; d.groups[1] = p->B * p->H; d.groups[2] = p->shuffle ? p->proj_groups : 1;
    return lsvk__cmd_record(use, &d);
}

/* Merges the projection's chunks into the landmarks (ws LAND). */
static lsvk_status project_combine(lsvk_cmd *use, lsvk_context *ctx, const lsvk__ls_plan *p, const lsvk__ls_ws *ws,
                                   const char *label) {
    combine_args ca = {p->B * p->H * p->M, p->proj_chunks, p->H, p->M, 0, p->M * p->D, p->D, p->B * p->M * p->D};
    return record_combine(use, ctx, label, ws->t[LSVK__LS_PART], ws->t[LSVK__LS_LAND], &ca,
                          p->shuffle ? p->sg : lsvk__ls_wg_limit(ctx, 64), p->DH, 2, lsvk__ls_proj_hdr(p));
}

/* The CLS / global token's split pooling over one band's chunks. */
static lsvk_status cls_part(lsvk_cmd *use, lsvk_context *ctx, const lsvk__ls_plan *p, const lsvk__ls_ws *ws,
                            const lsvk_tensor *mask, const lsvk__ls_band *band, const char *label) {
    struct { uint32_t N, N0, D, H, has_mask, nchunks; float scale; uint32_t c0, qoff, aoff, moff; } push = {
        p->N, p->N0, p->D, p->H, mask != NULL, p->cls_chunks, (float)(1.0 / sqrt((double)p->DH)),
        band->c0, band->qoff, band->aoff, band->moff};
    lsvk_dispatch d = {.shader = LSVK_SHADER(ls_cls_partial), .label = label};
    d.spec[0] = lsvk__ls_wg_limit(ctx, 64); d.spec[1] = p->DH; d.spec[2] = p->cls_ct;
    d.spec_count = 3;
    d.buffers[0] = band->q; d.buffers[1] = band->k; d.buffers[2] = band->v;
    d.buffers[3] = band->att; d.buffers[4] = mask ? mask : lsvk__dummy_tensor(ctx); d.buffers[5] = ws->t[LSVK__LS_CLS];
    d.buffer_count = 6;
    d.write_mask = 1u << 5;
    d.push = &push;
    d.push_size = sizeof push;
    d.groups[0] = band->chunks; d.groups[1] = p->B * p->H; d.groups[2] = 1;
    return lsvk__cmd_record(use, &d);
}

/* Merges the pooling's chunks into row 0 of att (NULL: ws ATT), written at aoff. */
static lsvk_status cls_combine(lsvk_cmd *use, lsvk_context *ctx, const lsvk__ls_plan *p, const lsvk__ls_ws *ws,
                               lsvk_tensor *att, uint32_t aoff, const char *label) {
    combine_args ca = {p->B * p->H, p->cls_chunks, p->H, 1, aoff, p->N0 * p->D, 0, 0};
    return record_combine(use, ctx, label, ws->t[LSVK__LS_CLS], att ? att : ws->t[LSVK__LS_ATT], &ca,
                          lsvk__ls_wg_limit(ctx, 64), p->DH, 1, 2);
}

/* Views of rows [r0, r1) of the workspace's K, V (and S) for one band, with the offsets that make
 * the shaders' absolute indices land in them. */
static void band_kvs(const lsvk_context *ctx, const lsvk__ls_ws *ws, const lsvk__ls_plan *p, uint64_t r0,
                     uint64_t r1, lsvk_tensor v[3], lsvk__ls_band *band) {
    uint64_t D = p->D, HR = (uint64_t)p->H * p->R;
    uint32_t start;
    v[0] = lsvk__view_span(ctx, ws->t[LSVK__LS_K], r0 * D, (r1 - r0) * D, &start);
    v[1] = lsvk__view_span(ctx, ws->t[LSVK__LS_V], r0 * D, (r1 - r0) * D, &start);
    band->k = &v[0];
    band->v = &v[1];
    band->koff = 0u - start;
    if (ws->t[LSVK__LS_S]) {
        v[2] = lsvk__view_span(ctx, ws->t[LSVK__LS_S], r0 * HR, (r1 - r0) * HR, &start);
        band->s = &v[2];
        band->soff = 0u - start;
    }
}

lsvk_status lsvk__ls_record_project_bands(lsvk_cmd *use, lsvk_context *ctx, const lsvk__ls_plan *p,
                                          const lsvk__ls_ws *ws, const lsvk_tensor *mask, uint32_t cls,
                                          uint32_t per_band, uint32_t moff, const char *label,
                                          const char *combine_label) {
    if (!per_band) {
        lsvk__ls_band whole = {ws->t[LSVK__LS_K], ws->t[LSVK__LS_V], ws->t[LSVK__LS_S], NULL, NULL, 0, 0, 0, 0, 0,
                               p->proj_chunks, p->N, moff};
        LSVK_TRY(project_part(use, ctx, p, ws, mask, cls, &whole, label));
    }
    for (uint32_t c0 = 0; per_band && c0 < p->proj_chunks; c0 += per_band) {
        uint32_t c1 = c0 + per_band < p->proj_chunks ? c0 + per_band : p->proj_chunks;
        uint32_t t1 = c1 * p->proj_chunk < p->N ? c1 * p->proj_chunk : p->N;
        lsvk_tensor v[3];
        lsvk__ls_band band = {.c0 = c0, .chunks = c1 - c0, .nend = t1, .moff = moff};
        /* the first band also holds the CLS / global row, which chunk 0 copies */
        band_kvs(ctx, ws, p, c0 ? cls + (uint64_t)c0 * p->proj_chunk : 0, cls + (uint64_t)t1, v, &band);
        LSVK_TRY(project_part(use, ctx, p, ws, mask, cls, &band, label));
    }
    return project_combine(use, ctx, p, ws, combine_label);
}

lsvk_status lsvk__ls_record_cls_bands(lsvk_cmd *use, lsvk_context *ctx, const lsvk__ls_plan *p,
                                      const lsvk__ls_ws *ws, const lsvk_tensor *mask, uint32_t per_band,
                                      uint32_t moff, const char *label, const char *combine_label) {
    lsvk_tensor *const *t = ws->t;
    if (!per_band) {
        lsvk__ls_band whole = {t[LSVK__LS_K], t[LSVK__LS_V], NULL, t[LSVK__LS_Q], t[LSVK__LS_ATT], 0, 0, 0, 0,
                               0, p->cls_chunks, p->N, moff};
        LSVK_TRY(cls_part(use, ctx, p, ws, mask, &whole, label));
        return cls_combine(use, ctx, p, ws, NULL, 0, combine_label);
    }
    uint64_t D = p->D, ct = p->cls_ct;
    uint32_t s0;
    lsvk_tensor q = lsvk__view_span(ctx, t[LSVK__LS_Q], 0, D, &s0), k = lsvk__view_span(ctx, t[LSVK__LS_K], 0, D, &s0);
    lsvk_tensor v = lsvk__view_span(ctx, t[LSVK__LS_V], 0, D, &s0);
    for (uint32_t c0 = 0; c0 < p->cls_chunks; c0 += per_band) {
        uint32_t c1 = c0 + per_band < p->cls_chunks ? c0 + per_band : p->cls_chunks;
        uint64_t n1 = c1 * ct < p->N ? c1 * ct : p->N;
        uint32_t as;
        lsvk_tensor att = lsvk__view_span(ctx, t[LSVK__LS_ATT], (1 + c0 * ct) * D, (n1 - c0 * ct) * D, &as);
        lsvk__ls_band band = {.k = &k, .v = &v, .q = &q, .att = &att, .aoff = 0u - as, .c0 = c0,
                              .chunks = c1 - c0, .nend = (uint32_t)n1, .moff = moff};
        LSVK_TRY(cls_part(use, ctx, p, ws, mask, &band, label));
    }
    lsvk_tensor row0 = lsvk__view_span(ctx, t[LSVK__LS_ATT], 0, D, &s0);
    return cls_combine(use, ctx, p, ws, &row0, 0, combine_label);
}
