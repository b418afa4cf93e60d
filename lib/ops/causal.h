/* Internal interface of the causal long-short layer (lib/ops/causal_layer.c), shared with the
 * language model (lib/ops/causal_lm.c), which keeps its own per-layer buffers so that a block
 * can be fed all at once or token by token. */
#ifndef LSVK_OPS_CAUSAL_H
#define LSVK_OPS_CAUSAL_H

#include "ops/views.h"

/* Parameter storage: T_FUSED rows are [Wk; Wv; Wd; Wq], T_FUSED_B [bk; bv; bd; bq]. */
enum { T_FUSED, T_FUSED_B, T_WO, T_BO, T_WR, T_WRC, T_BRC, T_RB, T_LNW_W, T_LNW_B, T_LND_W, T_LND_B,
       T_COUNT };


/* Where row t of batch row g sits in a tensor of `width` floats per row: at
 * (g * gs + t * rs) * width. Batch-major [B, T, width]: {T, 1}; token-major [T, B, width]:
 * {1, B}. Linears see either as plain rows. */
typedef struct lsvk__rows {
    uint32_t gs, rs;
} lsvk__rows;

/* The buffers of one layer's attention for B streams and blocks of up to Lcap tokens.
 * Column layouts: qkv rows are [k | v | S | q] (F = 3D + H*r), ckv rows [k | v | S] of the
 * cache; kvc, kvw and the compressed temporaries hold [key | value] rows (2D), batch-major:
 *   kvc  [B, Mc + Lc, 2D]  compressed chunks after LN_dproj: the cache's Mc = M/cs*r, then the
 *                          block's, Lc = Lcap/cs*r
 *   kvw  [B, W + Lcap, 2D] window keys/values after LN_win: row 0 is block position -W */
typedef struct lsvk__causal_ws {
    uint32_t B, Lcap, Mc, Lc;
    lsvk_tensor *qkv;   /* [rows of the block, F], layout qkv_rows */
    lsvk__rows qkv_rows;
    lsvk_tensor *kvc, *kvw;
    /* temporaries (may be shared between layers) */
    lsvk_tensor *ckv;   /* [B*M, 2D + H*r] */
    lsvk_tensor *hcc;   /* [B*Mc, D] */
    lsvk_tensor *ckvp;  /* [B*Mc, 2D] */
    lsvk_tensor *bkvc;  /* [B*max(Lc,1), 2D] */
} lsvk__causal_ws;

#define LSVK__CAUSAL_PARAMS 19 /* named parameters (causal_layer.c) */

/* The layer: parameters, position tables, and its own buffers for lsvk_causal_forward. */
struct lsvk_causal_layer {
    lsvk_context *ctx;
    lsvk_causal_config cfg;
    uint32_t D, HR, F;
    bool set[LSVK__CAUSAL_PARAMS];
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

/* Allocates kvc, kvw and, when the pointers are NULL, the temporaries and qkv (qkv batch-major
 * when allocated here). */
lsvk_status lsvk__causal_ws_alloc(lsvk_causal_layer *l, lsvk__causal_ws *ws, uint32_t B, uint32_t Lcap,
                                  bool own_qkv);
void lsvk__causal_ws_free(lsvk__causal_ws *ws, bool temporaries);

/* Makes sure the position tables cover blocks of Lcap tokens (synchronous when they change). */
lsvk_status lsvk__causal_prepare(lsvk_causal_layer *l, uint32_t Lcap);
/* Checks every parameter is set. */
lsvk_status lsvk__causal_ready(const lsvk_causal_layer *l, const char *op);
uint32_t lsvk__causal_qkv_width(const lsvk_causal_layer *l);
const lsvk_causal_config *lsvk__causal_config(const lsvk_causal_layer *l);

/* Records the cache part: hc ([B, M, D] attention inputs of the cache, layout hc_rows) ->
 * the cache's compressed rows of kvc and the window rows 0..W-1 of kvw. */
lsvk_status lsvk__causal_record_cache(lsvk_cmd *use, lsvk_causal_layer *l, lsvk__causal_ws *ws,
                                      const lsvk_tensor *hc, lsvk__rows hc_rows);
/* Records qkv = h [Wk;Wv;Wd;Wq]^T + b for rows already laid out as ws->qkv expects (h has
 * ws->qkv's row count, any layout the caller keeps consistent). */
lsvk_status lsvk__causal_record_qkv(lsvk_cmd *use, lsvk_causal_layer *l, const lsvk_tensor *h,
                                    lsvk_tensor *qkv);
/* Records block positions [row0, row0 + n), whose qkv rows are in place: their window rows, the
 * chunks they complete, and their attention (before proj_out) into att (layout att_rows, query
 * row0 + t at row t). */
lsvk_status lsvk__causal_record_block(lsvk_cmd *use, lsvk_causal_layer *l, lsvk__causal_ws *ws,
                                      uint32_t row0, uint32_t n, lsvk_tensor *att,
                                      lsvk__rows att_rows);
/* out = att Wo^T + bo (+ residual, which may be NULL). */
lsvk_status lsvk__causal_record_out(lsvk_cmd *use, lsvk_causal_layer *l, const lsvk_tensor *att,
                                    const lsvk_tensor *residual, lsvk_tensor *out);

/* Generic strided moves (shaders/rows_copy.comp): y rows (+)= x rows, G groups x T rows x C. */
typedef struct lsvk__rows_copy {
    uint32_t G, T, C;
    uint32_t xgs, xrs, xoff; /* floats */
    uint32_t ygs, yrs, yoff;
    uint32_t add;
} lsvk__rows_copy;
lsvk_status lsvk__record_rows_copy(lsvk_cmd *use, const lsvk_tensor *x, lsvk_tensor *y,
                                   const lsvk__rows_copy *p, const char *label);

/* Positions from these inverse frequencies ([dim/2]) instead of the float32 default. */
lsvk_status lsvk__causal_set_inv_freq(lsvk_causal_layer *l, const float *inv_freq);

#endif
