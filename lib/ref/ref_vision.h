/* CPU reference of the 2D long-short attention layer for vision (ViL-LS): plain loops, double
 * accumulation, double outputs. It follows the official imagenet/models/layers/transformer_ls.py
 * AttentionLS as ../shared/golden/README.md section 6 describes it, generalised to nx != ny. */
#ifndef LSVK_REF_VISION_H
#define LSVK_REF_VISION_H

#include "lsvk/lsvk.h"

/* Parameters by their reference names; absent ones are NULL (qkv.bias without qkv_bias,
 * to_dynamic_projection when dp_rank = 0, the RPE table without rpe). */
typedef struct lsvk_ref_vision_weights {
    const float *wqkv, *bqkv;       /* qkv.weight [3C,C], qkv.bias [3C] */
    const float *wp, *bp;           /* proj.weight [C,C], proj.bias [C] */
    const float *wdp, *bdp;         /* to_dynamic_projection [H*r,C], [H*r] */
    const float *ln_full_w, *ln_full_b, *ln_dp_w, *ln_dp_b;
    const float *rpe;               /* local_relative_position_bias_table [T,H] */
} lsvk_ref_vision_weights;

/* Rows of the RPE table for window w: 2(w+wp-1)(2wp+w+1)+1, wp = w/2. */
int lsvk_ref_vision_rpe_rows(int w);

/* x [B, nglo + ny*nx, C] -> out (same shape). attn_out (may be NULL) gets the merged per-head
 * attention outputs (input of proj). Returns 0, or -1 on a config the layer rejects. */
int lsvk_ref_vision(const lsvk_vision_config *cfg, const lsvk_ref_vision_weights *w, int B,
                    const float *x, double *out, double *attn_out);

#endif
