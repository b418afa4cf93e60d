/* lsvk-golden's variant runners: each reads one golden file's inputs and parameters, runs the
 * variant on the device and adds its results (named as the file's output tensors) to a
 * golden_run, which lsvk_golden.c compares. */
#ifndef LSVK_GOLDEN_RUN_H
#define LSVK_GOLDEN_RUN_H

#include "golden_util.h"

#include <stddef.h>

/* One produced result, compared with the file's tensor of the same name. */
typedef struct golden_result {
    char name[96];
    float *data;
    size_t n;
} golden_result;

#define GOLDEN_MAX_RESULTS 32

typedef struct golden_run {
    golden_result res[GOLDEN_MAX_RESULTS];
    int count;
    char why[256]; /* set when the variant could not run */
} golden_run;

/* A NaN-poisoned array of n floats registered as result `name` (owned by r); NULL if full. */
float *golden_add_result(golden_run *r, const char *name, size_t n);
/* Sets r->why from a status and lsvk_last_error(); returns -1. */
int golden_fail(golden_run *r, const char *what, lsvk_status s);
/* A device tensor holding data (NULL data: contents undefined); NULL on failure. */
lsvk_tensor *golden_upload(lsvk_context *ctx, uint32_t rank, const int64_t *shape, const float *data);

/* Each returns 0 when it produced its results, -1 with r->why set otherwise. */
int golden_run_bidir(lsvk_context *ctx, golden_file *g, golden_run *r);
int golden_run_full(lsvk_context *ctx, golden_file *g, golden_run *r);
int golden_run_causal(lsvk_context *ctx, golden_file *g, golden_run *r);
int golden_run_causal_model(lsvk_context *ctx, golden_file *g, golden_run *r);
int golden_run_charlm(lsvk_context *ctx, golden_file *g, golden_run *r);
int golden_run_vision2d(lsvk_context *ctx, golden_file *g, golden_run *r);

#endif
