/* Shared helpers of the lsvk-golden variant runners. */
#include "golden_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

float *golden_add_result(golden_run *r, const char *name, size_t n) {
    if (r->count == GOLDEN_MAX_RESULTS) return NULL;
    golden_result *o = &r->res[r->count++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->n = n;
    o->data = malloc(n * sizeof *o->data);
    if (o->data)
        for (size_t i = 0; i < n; i++) o->data[i] = NAN; /* poisoned: unwritten values show */
    return o->data;
}

int golden_fail(golden_run *r, const char *what, lsvk_status s) {
    snprintf(r->why, sizeof r->why, "%s: %s: %s", what, lsvk_status_string(s), lsvk_last_error());
    return -1;
}

lsvk_tensor *golden_upload(lsvk_context *ctx, uint32_t rank, const int64_t *shape, const float *data) {
    lsvk_tensor *t = NULL;
    if (lsvk_tensor_create(ctx, LSVK_F32, rank, shape, &t) != LSVK_SUCCESS) return NULL;
    if (data && lsvk_tensor_upload(t, data, (size_t)lsvk_tensor_numel(t) * sizeof(float)) != LSVK_SUCCESS) {
        lsvk_tensor_destroy(t);
        return NULL;
    }
    return t;
}
