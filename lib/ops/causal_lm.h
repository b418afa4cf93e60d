/* Internal: the language model's parameters (lib/ops/causal_lm.c), read by its state and
 * recording (lib/ops/causal_lm_state.c). */
#ifndef LSVK_OPS_CAUSAL_LM_H
#define LSVK_OPS_CAUSAL_LM_H

#include "ops/causal.h"

/* Per-layer parameters besides the attention's, and the model's own. */
enum { L_N1W, L_N1B, L_N2W, L_N2B, L_FC1W, L_FC1B, L_FC2W, L_FC2B, L_COUNT };
enum { G_IN_EMB, G_OUT_EMB, G_OUT_B, G_COUNT };

typedef struct lm_layer {
    lsvk_causal_layer *attn;
    lsvk_tensor *t[L_COUNT];
    bool set[L_COUNT];
} lm_layer;

struct lsvk_lm {
    lsvk_context *ctx;
    lsvk_lm_config cfg;
    lm_layer *layers;
    lsvk_tensor *g[G_COUNT];
    bool gset[G_COUNT];
};

/* Checks every parameter was loaded. */
lsvk_status lsvk__lm_ready(const lsvk_lm *lm, const char *op);

#endif
