/* lsvk: 2D long-short attention for vision (ViL-LS). Included by lsvk/lsvk.h; see the
 * conventions there.
 *
 * Semantics are the official imagenet/models/layers/transformer_ls.py AttentionLS
 * (NVIDIA/transformer-ls @1527c5c), as ../shared/golden/README.md section 6 states it: image
 * tokens on an nx x ny grid; each w x w tile of queries attends its (w + 2 max(w/2, 1))^2
 * neighbourhood (keys outside the image masked), dp_rank dynamically projected keys/values
 * (softmax over all image tokens) and nglo global tokens, in one softmax; DualLN; an optional
 * relative-position bias on the window scores; the global token attends [itself ; every image
 * token's attention output]. Unlike the reference, nx != ny is allowed. */
#ifndef LSVK_VISION_H
#define LSVK_VISION_H

#include "lsvk/lsvk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lsvk_vision_config {
    uint32_t dim;       /* C = heads * head_dim */
    uint32_t heads;     /* H */
    uint32_t head_dim;  /* dh, 1..256 */
    uint32_t nx, ny;    /* image grid: ny rows of nx tokens, both multiples of window */
    uint32_t window;    /* w: query tile side, >= 1 */
    uint32_t dp_rank;   /* r: dynamically projected keys/values; 0 = none */
    uint32_t nglo;      /* global tokens before the image tokens: 0 or 1 */
    int32_t rpe;        /* 1: local_relative_position_bias_table on the window scores (w >= 2) */
    int32_t qkv_bias;   /* 1: qkv has a bias */
} lsvk_vision_config;

typedef struct lsvk_vision_layer lsvk_vision_layer;

LSVK_API lsvk_status lsvk_vision_layer_create(lsvk_context *ctx, const lsvk_vision_config *config,
                                              lsvk_vision_layer **out);
LSVK_API void lsvk_vision_layer_destroy(lsvk_vision_layer *layer);
/* One parameter by the reference's state_dict name: "qkv.weight" [3C,C], "qkv.bias" [3C],
 * "proj.weight" [C,C], "proj.bias", "to_dynamic_projection.weight" [H*r,C] / ".bias",
 * "dual_ln_full.weight" / ".bias", "dual_ln_dp.weight" / ".bias",
 * "local_relative_position_bias_table" [T,H], T = 2(w+wp-1)(2wp+w+1)+1, wp = w/2.
 * count must match its element count. */
LSVK_API lsvk_status lsvk_vision_layer_set_weight(lsvk_vision_layer *layer, const char *name,
                                                  const float *data, size_t count);
/* Every parameter the config uses from a safetensors file (names after prefix, may be NULL). */
LSVK_API lsvk_status lsvk_vision_layer_load(lsvk_vision_layer *layer, const lsvk_safetensors *st,
                                            const char *prefix);
/* out[B, nglo + ny*nx, C] = layer(x[B, nglo + ny*nx, C]); image tokens row-major (y*nx + x) after
 * the global token. Every parameter must have been set. */
LSVK_API lsvk_status lsvk_vision_forward(lsvk_cmd *cmd, lsvk_vision_layer *layer, const lsvk_tensor *x,
                                         lsvk_tensor *out);

#ifdef __cplusplus
}
#endif
#endif /* LSVK_VISION_H */
