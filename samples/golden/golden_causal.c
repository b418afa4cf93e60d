/* lsvk-golden: variants `causal`, `causal_model` and `charlm` (not implemented yet). */
#include "golden_run.h"

#include <stdio.h>

static int unsupported(golden_file *g, golden_run *r) {
    snprintf(r->why, sizeof r->why, "variant '%s' is not supported by lsvk yet", golden_variant(g));
    return -1;
}

int golden_run_causal(lsvk_context *ctx, golden_file *g, golden_run *r) { (void)ctx; return unsupported(g, r); }
int golden_run_causal_model(lsvk_context *ctx, golden_file *g, golden_run *r) { (void)ctx; return unsupported(g, r); }
int golden_run_charlm(lsvk_context *ctx, golden_file *g, golden_run *r) { (void)ctx; return unsupported(g, r); }
