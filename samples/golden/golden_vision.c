/* lsvk-golden: variant `vision2d` (not implemented yet). */
#include "golden_run.h"

#include <stdio.h>

int golden_run_vision2d(lsvk_context *ctx, golden_file *g, golden_run *r) {
    (void)ctx;
    snprintf(r->why, sizeof r->why, "variant '%s' is not supported by lsvk yet", golden_variant(g));
    return -1;
}
