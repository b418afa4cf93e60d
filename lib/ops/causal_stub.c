/* Placeholder for the language-model API while it is being written: every call reports
 * LSVK_ERROR_UNSUPPORTED. Replaced by lib/ops/causal_lm.c. */
#include "core/internal.h"

#define NOT_YET(fn) lsvk__fail(NULL, LSVK_ERROR_UNSUPPORTED, "%s: not implemented yet", fn)

lsvk_status lsvk_lm_load(lsvk_context *ctx, const lsvk_safetensors *st, lsvk_lm **o) { (void)ctx; (void)st; if (o) *o = NULL; return NOT_YET(__func__); }
lsvk_status lsvk_lm_create(lsvk_context *ctx, const lsvk_lm_config *c, lsvk_lm **o) { (void)ctx; (void)c; if (o) *o = NULL; return NOT_YET(__func__); }
lsvk_status lsvk_lm_load_weights(lsvk_lm *lm, const lsvk_safetensors *st, const char *p) { (void)lm; (void)st; (void)p; return NOT_YET(__func__); }
const lsvk_lm_config *lsvk_lm_get_config(const lsvk_lm *lm) { (void)lm; return NULL; }
void lsvk_lm_destroy(lsvk_lm *lm) { (void)lm; }
lsvk_status lsvk_lm_state_create(lsvk_lm *lm, uint32_t b, uint32_t bl, lsvk_lm_state **o) { (void)lm; (void)b; (void)bl; if (o) *o = NULL; return NOT_YET(__func__); }
void lsvk_lm_state_destroy(lsvk_lm_state *s) { (void)s; }
lsvk_status lsvk_lm_state_reset(lsvk_lm_state *s) { (void)s; return NOT_YET(__func__); }
uint64_t lsvk_lm_state_position(const lsvk_lm_state *s) { (void)s; return 0; }
lsvk_status lsvk_lm_state_get_cache(lsvk_lm_state *s, uint32_t l, float *d, size_t c) { (void)s; (void)l; (void)d; (void)c; return NOT_YET(__func__); }
lsvk_status lsvk_lm_state_set_cache(lsvk_lm_state *s, uint32_t l, const float *d, size_t c) { (void)s; (void)l; (void)d; (void)c; return NOT_YET(__func__); }
lsvk_status lsvk_lm_forward(lsvk_lm_state *s, const int32_t *t, uint32_t L, float *lp) { (void)s; (void)t; (void)L; (void)lp; return NOT_YET(__func__); }
lsvk_status lsvk_lm_step(lsvk_lm_state *s, const int32_t *t, float *lp) { (void)s; (void)t; (void)lp; return NOT_YET(__func__); }
uint32_t lsvk_lm_state_batch(const lsvk_lm_state *s) { (void)s; return 0; }
uint32_t lsvk_lm_state_block_len(const lsvk_lm_state *s) { (void)s; return 0; }
