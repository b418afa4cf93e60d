/* What the long-short layers share: ls_bidir.c (1D) and ls_vision.c (2D) run the same dynamic
 * projection (ls_project_partial / ls_project_shuffle + split_combine), the same CLS / global token
 * pooling (ls_cls_partial + split_combine) and the same workspace; only their attention differs.
 * Internal to lib/ops. */
#ifndef LSVK_LS_COMMON_H
#define LSVK_LS_COMMON_H

#include "ops/op_util.h"

#include <string.h>

/* want invocations, or the largest power of two the device allows in one dimension. */
static inline uint32_t lsvk__ls_wg_limit(const lsvk_context *ctx, uint32_t want) {
    uint32_t lim = ctx->info.max_workgroup_invocations;
    if (ctx->info.max_workgroup_size[0] < lim) lim = ctx->info.max_workgroup_size[0];
    return want < lim ? want : lsvk__pow2_floor(lim);
}

/* Index of name in names[count], or -1. */
static inline int lsvk__ls_find_param(const char *const *names, int count, const char *name) {
    for (int p = 0; p < count; p++)
        if (strcmp(names[p], name) == 0) return p;
    return -1;
}

/* The config checks both layers start with: dim = heads x head_dim, head_dim <= 256. */
lsvk_status lsvk__ls_check_heads(lsvk_context *ctx, const char *op, uint32_t dim, uint32_t heads,
                                 uint32_t head_dim);

/* ------------------------------------------------------------ plan */

/* Sizes and kernel shapes of one forward. N tokens are reduced over (the sequence, or the image),
 * after N0 - N leading CLS / global tokens; M = (N0 - N) + R landmark entries. */
typedef struct lsvk__ls_plan {
    uint32_t B, N, N0, D, H, DH, R, M;
    bool shuffle; /* the subgroup-shuffle kernels rather than the shared-memory tile ones */
    uint32_t sg, attn_r, attn_ku, proj_rg, proj_groups;
    uint32_t proj_wg, proj_tt, proj_nper, proj_chunk, proj_chunks;
    uint32_t attn_wg, attn_kt;
    uint32_t cls_ct, cls_chunks;
} lsvk__ls_plan;

/* Whether to take the shuffle kernels (then sets p->sg), from the device and the variable env:
 * "0" takes the tile kernels, "R,RG[,KU]" the shuffle ones (where they can run) and sets *rows,
 * *rg, *ku, which stay 0 otherwise. */
bool lsvk__ls_pick_shuffle(const lsvk_context *ctx, const char *env, lsvk__ls_plan *p, uint32_t *rows,
                           uint32_t *rg, uint32_t *ku);

/* Landmarks per group of ls_project_shuffle.comp (about rg) and its groups per (b, h, chunk). */
void lsvk__ls_plan_groups(lsvk__ls_plan *p, uint32_t rg);

/* Chunks of the projection's split reduction over the N tokens; messages name op and the rank
 * (rank_name: "landmarks", "dp_rank"). */
lsvk_status lsvk__ls_plan_projection(const lsvk_context *ctx, const char *op, const char *rank_name,
                                     lsvk__ls_plan *p);

/* Chunks of the CLS / global token's split pooling over the N tokens. */
static inline void lsvk__ls_plan_cls(lsvk__ls_plan *p) {
    p->cls_ct = 256;
    p->cls_chunks = lsvk__div_up(p->N, p->cls_ct);
}

/* Floats before K and V in a partial record: 4 keeps the shuffle shader's vec4 stores aligned. */
static inline uint32_t lsvk__ls_proj_hdr(const lsvk__ls_plan *p) { return p->shuffle ? 4 : 2; }

/* ------------------------------------------------------------ workspace */

enum { LSVK__LS_Q, LSVK__LS_K, LSVK__LS_V, LSVK__LS_S, LSVK__LS_PART, LSVK__LS_LAND, LSVK__LS_ATT, LSVK__LS_CLS,
       LSVK__LS_WS_COUNT };

typedef struct lsvk__ls_ws {
    lsvk_tensor *t[LSVK__LS_WS_COUNT];
    int64_t B, N0;
    uint64_t part, cls; /* floats of the partials it was sized for */
    /* replaced tensors stay alive until free: a recorded, unsubmitted sequence may still use them */
    lsvk_tensor **retired;
    size_t retired_count;
} lsvk__ls_ws;

/* Sizes the workspace for p, unless it already is. */
lsvk_status lsvk__ls_ws_ensure(lsvk_context *ctx, lsvk__ls_ws *ws, const lsvk__ls_plan *p);
void lsvk__ls_ws_free(lsvk__ls_ws *ws);

/* ------------------------------------------------------------ recording */

/* LayerNorm over rows of C values of t, in place; rows r with r % skip == 0 are left out (skip > 0). */
lsvk_status lsvk__ls_record_layernorm(lsvk_cmd *use, lsvk_context *ctx, const char *label, lsvk_tensor *t,
                                      const lsvk_tensor *w, const lsvk_tensor *b, uint32_t rows, uint32_t C,
                                      uint32_t skip);

/* One band of a forward whose tensors exceed one binding (ls_vision.c): views of K, V, S, Q and
 * ATT covering the band, the offsets at which the shaders find their values (index + off,
 * wrapping), and the band's chunks [c0, c0 + chunks) and token end. NULL: whole tensors. ls_bidir.c
 * also runs passes of a few sequences on views of its input, the mask offset by moff. */
typedef struct lsvk__ls_band {
    const lsvk_tensor *k, *v, *s, *q, *att;
    uint32_t koff, soff, qoff, aoff;
    uint32_t c0, chunks, nend;
    uint32_t moff; /* the mask's values at index + moff (it stays bound whole) */
} lsvk__ls_band;

/* The projection (split reduction + combine) and the CLS / global token's pooling, in bands of
 * per_band chunks (0: whole tensors), the mask read at an offset of moff values. */
lsvk_status lsvk__ls_record_project_bands(lsvk_cmd *use, lsvk_context *ctx, const lsvk__ls_plan *p,
                                          const lsvk__ls_ws *ws, const lsvk_tensor *mask, uint32_t cls,
                                          uint32_t per_band, uint32_t moff, const char *label,
                                          const char *combine_label);
lsvk_status lsvk__ls_record_cls_bands(lsvk_cmd *use, lsvk_context *ctx, const lsvk__ls_plan *p,
                                      const lsvk__ls_ws *ws, const lsvk_tensor *mask, uint32_t per_band,
                                      uint32_t moff, const char *label, const char *combine_label);

#endif
