/* Context, device selection, tensors and memory limits, command sequences, barriers,
 * timestamps, pipeline cache, error reporting. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */
#include "core/internal.h"
#include "testutil.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_status_strings(void) {
    for (int s = 0; s >= LSVK_ERROR_STATE; s--) {
        const char *name = lsvk_status_string((lsvk_status)s);
        TU_CHECK(name && strncmp(name, "LSVK_", 5) == 0, "status %d has name %s", s, name);
    }
    TU_CHECK(strcmp(lsvk_status_string((lsvk_status)-999), "LSVK_ERROR_UNKNOWN_STATUS") == 0, "unknown");
    /* destroy functions accept NULL */
    lsvk_context_destroy(NULL);
    lsvk_tensor_destroy(NULL);
    lsvk_cmd_destroy(NULL);
    lsvk_safetensors_close(NULL);
}

static void test_device_info(lsvk_context *ctx) {
    const lsvk_device_info *d = lsvk_context_device(ctx);
    TU_CHECK(d->name[0] != 0, "device name");
    TU_CHECK(d->subgroup_size >= 1 && d->min_subgroup_size <= d->subgroup_size &&
                 d->subgroup_size <= d->max_subgroup_size, "subgroup sizes %u %u %u",
             d->min_subgroup_size, d->subgroup_size, d->max_subgroup_size);
    TU_CHECK(d->max_shared_memory >= 16384, "shared memory %u", d->max_shared_memory);
    TU_CHECK(d->max_storage_buffer_range >= (1u << 27), "storage range");
    TU_CHECK(d->max_memory_allocation_size >= (1u << 30), "allocation size");
    TU_CHECK(d->heap_count >= 1 && d->heap_size[0] > 0, "heaps");
    TU_CHECK(d->api_version >= (1u << 22 | 1u << 12), "api version 1.1+");
    TU_CHECK(strcmp(d->vendor, lsvk_vendor_name(d->vendor_id)) == 0, "vendor name");
}

static void test_selection(lsvk_context *ctx) {
    const lsvk_device_info *d = lsvk_context_device(ctx);
    lsvk_context_create_info ci = {0};
    lsvk_context *other = NULL;

    ci.device = "no-such-device-anywhere";
    TU_STATUS(lsvk_context_create(&ci, &other), LSVK_ERROR_NO_DEVICE);
    TU_CHECK(other == NULL && strstr(lsvk_last_error(), "no-such-device-anywhere"), "message: %s",
             lsvk_last_error());
    ci.device = "4096";
    TU_STATUS(lsvk_context_create(&ci, &other), LSVK_ERROR_NO_DEVICE);

    /* case-insensitive substring of the name */
    char sub[8] = {0};
    for (int i = 0; i < 6 && d->name[i]; i++) sub[i] = (char)toupper((unsigned char)d->name[i]);
    ci.device = sub;
    ci.validation = LSVK_VALIDATION_OFF;
    if (TU_OK(lsvk_context_create(&ci, &other)))
        TU_CHECK(strcmp(lsvk_context_device(other)->name, d->name) == 0, "picked by name");
    lsvk_context_destroy(other);

    uint32_t n = 0, picked = 99;
    TU_OK(lsvk_enumerate_devices(NULL, NULL, &n, NULL));
    TU_CHECK(n >= 1, "enumerate count");
    lsvk_device_info infos[8];
    uint32_t cap = 8;
    TU_OK(lsvk_enumerate_devices(NULL, infos, &cap, &picked));
    TU_CHECK(picked < cap, "picked %u", picked);
    TU_STATUS(lsvk_enumerate_devices("no-such-device-anywhere", infos, &cap, &picked), LSVK_ERROR_NO_DEVICE);
    TU_STATUS(lsvk_enumerate_devices(NULL, NULL, NULL, NULL), LSVK_ERROR_INVALID_ARGUMENT);
}

static void test_tensors(lsvk_context *ctx, tu_rng *rng) {
    const lsvk_device_info *d = lsvk_context_device(ctx);
    lsvk_tensor *t = NULL;
    int64_t shape[5] = {3, 5, 7, 11, 2};
    TU_STATUS(lsvk_tensor_create(ctx, LSVK_F32, 0, shape, &t), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_tensor_create(ctx, LSVK_F32, 5, shape, &t), LSVK_ERROR_SHAPE);
    int64_t zero[2] = {3, 0};
    TU_STATUS(lsvk_tensor_create(ctx, LSVK_F32, 2, zero, &t), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_tensor_create(ctx, LSVK_F16, 1, shape, &t), LSVK_ERROR_UNSUPPORTED);
    TU_STATUS(lsvk_tensor_create(NULL, LSVK_F32, 1, shape, &t), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_tensor_create(ctx, LSVK_F32, 1, shape, NULL), LSVK_ERROR_INVALID_ARGUMENT);

    /* past maxStorageBufferRange: allowed (ops that split their work bind it in parts; the others
     * refuse it, test_binding_limit); past maxMemoryAllocationSize or int64: refused */
    int64_t big = (int64_t)(d->max_storage_buffer_range / 4) + 1;
    if ((uint64_t)big * 4 + (1u << 20) <= d->max_memory_allocation_size) {
        t = NULL;
        TU_OK(lsvk_tensor_create(ctx, LSVK_F32, 1, &big, &t));
        TU_CHECK(t && lsvk_tensor_numel(t) == big, "tensor past maxStorageBufferRange");
        lsvk_tensor_destroy(t);
    }
    int64_t huge[2] = {INT64_MAX / 2, 4};
    TU_STATUS(lsvk_tensor_create(ctx, LSVK_F32, 2, huge, &t), LSVK_ERROR_LIMIT_EXCEEDED);

    /* many small tensors share blocks: no allocation per tensor */
    uint64_t before, after;
    lsvk_context_memory_usage(ctx, NULL, NULL, &before);
    lsvk_tensor *many[200];
    for (int i = 0; i < 200; i++) {
        int64_t n = 1 + tu_randint(rng, 0, 3000);
        many[i] = tu_tensor(ctx, 1, &n, NULL);
    }
    lsvk_context_memory_usage(ctx, NULL, NULL, &after);
    TU_CHECK(after - before <= (64ull << 20), "200 small tensors took %llu bytes of blocks",
             (unsigned long long)(after - before));

    /* round trip at shapes of every rank, through whatever path (mapped, or staging with
     * LSVK_FORCE_STAGING=1) */
    for (uint32_t rank = 1; rank <= 4; rank++) {
        int64_t s[4];
        size_t n = 1;
        for (uint32_t i = 0; i < rank; i++) {
            s[i] = tu_randint(rng, 1, 17);
            n *= (size_t)s[i];
        }
        float *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
        tu_fill_randn(rng, in, n, 1.0f);
        tu_poison(out, n);
        t = tu_tensor(ctx, rank, s, in);
        TU_CHECK(t && lsvk_tensor_rank(t) == rank && lsvk_tensor_numel(t) == (int64_t)n, "rank/numel");
        TU_CHECK(lsvk_tensor_dim(t, rank - 1) == s[rank - 1] && lsvk_tensor_dim(t, 7) == 0, "dims");
        TU_OK(lsvk_tensor_download(t, out, n * sizeof *out));
        TU_CHECK(memcmp(in, out, n * sizeof *in) == 0, "round trip rank %u", rank);
        TU_STATUS(lsvk_tensor_upload(t, in, n * sizeof *in + 4), LSVK_ERROR_SHAPE);
        int64_t flat = (int64_t)n, wrong = (int64_t)n + 1, two[2] = {1, (int64_t)n};
        TU_OK(lsvk_tensor_reshape(t, 1, &flat));
        TU_CHECK(lsvk_tensor_rank(t) == 1 && lsvk_tensor_dim(t, 0) == (int64_t)n, "reshape to flat");
        TU_STATUS(lsvk_tensor_reshape(t, 1, &wrong), LSVK_ERROR_SHAPE);
        TU_OK(lsvk_tensor_reshape(t, 2, two));
        TU_CHECK(lsvk_tensor_dim(t, 1) == (int64_t)n, "reshape to 2D");
        TU_STATUS(lsvk_tensor_download(t, NULL, n * sizeof *in), LSVK_ERROR_INVALID_ARGUMENT);
        lsvk_tensor_destroy(t);
        free(in);
        free(out);
    }
    /* larger than one staging chunk (64 MiB): the copy goes in pieces */
    int64_t nbig = (70 << 20) / 4;
    if ((uint64_t)nbig * 4 <= d->max_storage_buffer_range) {
        float *in = malloc((size_t)nbig * 4), *out = malloc((size_t)nbig * 4);
        for (int64_t i = 0; i < nbig; i++) in[i] = (float)(i % 100003);
        t = tu_tensor(ctx, 1, &nbig, in);
        TU_OK(lsvk_tensor_download(t, out, (size_t)nbig * 4));
        TU_CHECK(memcmp(in, out, (size_t)nbig * 4) == 0, "70 MiB round trip");
        lsvk_tensor_destroy(t);
        free(in);
        free(out);
    }
    for (int i = 0; i < 200; i += 2) lsvk_tensor_destroy(many[i]);
    for (int i = 1; i < 200; i += 2) lsvk_tensor_destroy(many[i]);

    /* filling the heap stops with a clear status, and everything is returned afterwards */
    int64_t chunk = (int64_t)((d->max_storage_buffer_range < (256ull << 20) ? d->max_storage_buffer_range
                                                                            : (256ull << 20)) / 4);
    lsvk_tensor *fill[64];
    int k = 0;
    lsvk_status s = LSVK_SUCCESS;
    lsvk_context_memory_usage(ctx, NULL, NULL, &before);
    while (k < 64 && (s = lsvk_tensor_create(ctx, LSVK_F32, 1, &chunk, &fill[k])) == LSVK_SUCCESS) k++;
    if (k < 64) {
        TU_CHECK(s == LSVK_ERROR_LIMIT_EXCEEDED || s == LSVK_ERROR_OUT_OF_DEVICE_MEMORY,
                 "heap exhaustion status %s", lsvk_status_string(s));
        TU_CHECK(strstr(lsvk_context_error(ctx), "heap") || strstr(lsvk_context_error(ctx), "memory"),
                 "heap msg: %s", lsvk_context_error(ctx));
    }
    while (k > 0) lsvk_tensor_destroy(fill[--k]);
    lsvk_context_memory_usage(ctx, NULL, NULL, &after);
    TU_CHECK(after <= before, "memory returned: %llu -> %llu", (unsigned long long)before,
             (unsigned long long)after);
}

static void ref_gelu(const float *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
}

static void test_commands(lsvk_context *ctx, tu_rng *rng) {
    enum { N = 1234 };
    int64_t n = N;
    float a[N], out[N];
    double ref[N], ref2[N];
    tu_fill_randn(rng, a, N, 2.0f);
    lsvk_tensor *x = tu_tensor(ctx, 1, &n, a), *y1 = tu_tensor(ctx, 1, &n, NULL),
                *y2 = tu_tensor(ctx, 1, &n, NULL), *z = tu_tensor(ctx, 1, &n, NULL);
    tu_poison(out, N);
    lsvk_tensor_upload(z, out, sizeof out);

    lsvk_cmd *cmd = NULL;
    TU_OK(lsvk_cmd_create(ctx, 0, &cmd));
    lsvk_cmd *bad = NULL;
    TU_STATUS(lsvk_cmd_create(ctx, 0x80, &bad), LSVK_ERROR_INVALID_ARGUMENT);
    /* two reads of x into different outputs: independent, no barrier */
    TU_OK(lsvk_gelu(cmd, x, y1));
    TU_OK(lsvk_gelu(cmd, x, y2));
    TU_CHECK(lsvk__cmd_barrier_count(cmd) == 0, "independent dispatches got %u barriers",
             lsvk__cmd_barrier_count(cmd));
    /* reads y1 written above: one barrier */
    TU_OK(lsvk_gelu(cmd, y1, z));
    TU_CHECK(lsvk__cmd_barrier_count(cmd) == 1, "dependent dispatch: %u barriers", lsvk__cmd_barrier_count(cmd));
    /* overwrites x, read before that barrier, which already orders it: no new barrier */
    TU_OK(lsvk_gelu(cmd, y2, x));
    TU_CHECK(lsvk__cmd_barrier_count(cmd) == 1, "covered WAR: %u barriers", lsvk__cmd_barrier_count(cmd));
    TU_CHECK(lsvk_cmd_dispatch_count(cmd) == 4, "dispatch count");
    TU_OK(lsvk_cmd_submit(cmd));
    ref_gelu(a, ref, N);
    float r1[N];
    for (int i = 0; i < N; i++) r1[i] = (float)ref[i];
    ref_gelu(r1, ref2, N);
    TU_OK(lsvk_tensor_download(z, out, sizeof out));
    TU_CHECK(tu_rel_err(out, ref2, N) <= 1e-5, "chain gelu(gelu(x)) err %g", tu_rel_err(out, ref2, N));
    TU_OK(lsvk_tensor_download(x, out, sizeof out));
    TU_CHECK(tu_rel_err(out, ref2, N) <= 1e-5, "x overwritten err %g", tu_rel_err(out, ref2, N));

    /* a submitted sequence runs again as recorded, but takes no new dispatches before a reset */
    TU_OK(lsvk_cmd_submit(cmd));
    TU_STATUS(lsvk_gelu(cmd, x, y1), LSVK_ERROR_STATE);
    TU_OK(lsvk_cmd_reset(cmd));
    TU_OK(lsvk_gelu(cmd, x, y1));
    TU_OK(lsvk_cmd_submit(cmd));
    TU_STATUS(lsvk_cmd_timing(cmd, 0, NULL, NULL), LSVK_ERROR_STATE);
    /* write-after-read with nothing in between: a barrier */
    TU_OK(lsvk_cmd_reset(cmd));
    TU_OK(lsvk_gelu(cmd, x, y1));
    TU_OK(lsvk_gelu(cmd, y2, x));
    TU_CHECK(lsvk__cmd_barrier_count(cmd) == 1, "WAR: %u barriers", lsvk__cmd_barrier_count(cmd));
    TU_OK(lsvk_cmd_submit(cmd));
    lsvk_cmd_destroy(cmd);

    /* many dispatches in one sequence: descriptor pools and query pools roll over */
    if (lsvk_context_device(ctx)->timestamps) {
        TU_OK(lsvk_cmd_create(ctx, LSVK_CMD_TIMESTAMPS, &cmd));
        TU_OK(lsvk_cmd_submit(cmd)); /* empty: fine */
        for (int i = 0; i < 300; i++) TU_OK(lsvk_gelu(cmd, (i & 1) ? y1 : y2, (i & 1) ? y2 : y1));
        TU_OK(lsvk_cmd_submit(cmd));
        const char *name = NULL;
        double ns = -1;
        TU_OK(lsvk_cmd_timing(cmd, 299, &name, &ns));
        TU_CHECK(name && strcmp(name, "gelu") == 0 && ns >= 0, "timing %s %g", name, ns);
        TU_STATUS(lsvk_cmd_timing(cmd, 300, &name, &ns), LSVK_ERROR_INVALID_ARGUMENT);
        double total = -1, sum = 0;
        for (uint32_t i = 0; i < 300; i++) {
            lsvk_cmd_timing(cmd, i, NULL, &ns);
            sum += ns;
        }
        TU_OK(lsvk_cmd_elapsed(cmd, &total));
        TU_CHECK(total >= sum * 0.99, "elapsed %g >= sum of dispatches %g", total, sum);
        lsvk_cmd_destroy(cmd);
    }
    lsvk_tensor_destroy(x);
    lsvk_tensor_destroy(y1);
    lsvk_tensor_destroy(y2);
    lsvk_tensor_destroy(z);
}

/* LSVK_BINDING_LIMIT lowers the bytes one binding may cover: an op that does not split its
 * tensors (gelu) refuses one past it, in a sequence too, naming the limit; one at the limit runs. */
static void test_binding_limit(lsvk_context *ctx) {
    int64_t n = 20000, at = 16384; /* 80000 bytes; 65536 bytes */
    float *zeros = calloc((size_t)n, sizeof *zeros);
    lsvk_tensor *x = tu_tensor(ctx, 1, &n, zeros), *y = tu_tensor(ctx, 1, &n, NULL);
    lsvk_tensor *xa = tu_tensor(ctx, 1, &at, zeros), *ya = tu_tensor(ctx, 1, &at, NULL);
    lsvk_cmd *cmd = NULL;
    tu_setenv("LSVK_BINDING_LIMIT", "65536");
    TU_STATUS(lsvk_gelu(NULL, x, y), LSVK_ERROR_LIMIT_EXCEEDED);
    TU_CHECK(strstr(lsvk_context_error(ctx), "maxStorageBufferRange") != NULL, "msg: %s", lsvk_context_error(ctx));
    TU_STATUS(lsvk_gelu(NULL, xa, y), LSVK_ERROR_LIMIT_EXCEEDED); /* y alone past it */
    TU_CHECK(strstr(lsvk_context_error(ctx), "maxStorageBufferRange") != NULL, "msg: %s", lsvk_context_error(ctx));
    if (TU_OK(lsvk_cmd_create(ctx, 0, &cmd))) {
        TU_STATUS(lsvk_gelu(cmd, x, y), LSVK_ERROR_LIMIT_EXCEEDED);
        TU_CHECK(strstr(lsvk_context_error(ctx), "maxStorageBufferRange") != NULL, "cmd msg: %s",
                 lsvk_context_error(ctx));
    }
    lsvk_cmd_destroy(cmd);
    TU_OK(lsvk_gelu(NULL, xa, ya));
    tu_setenv("LSVK_BINDING_LIMIT", NULL);
    TU_OK(lsvk_gelu(NULL, x, y)); /* read at every call */
    zeros[at - 1] = 1;
    TU_OK(lsvk_tensor_download(ya, zeros, (size_t)at * sizeof *zeros));
    TU_CHECK(zeros[0] == 0 && zeros[at - 1] == 0, "gelu(0) at the limit: %g %g", zeros[0], zeros[at - 1]);
    lsvk_tensor_destroy(x);
    lsvk_tensor_destroy(y);
    lsvk_tensor_destroy(xa);
    lsvk_tensor_destroy(ya);
    free(zeros);
}

static void test_pipeline_cache(lsvk_context *ctx) {
    char path[] = "/tmp/lsvk-test-cache-XXXXXX";
    FILE *f = NULL;
#if defined(__unix__) || defined(__APPLE__)
    int fd = mkstemp(path);
    if (fd >= 0) f = fdopen(fd, "wb");
#endif
    if (!f) return;
    fclose(f);
    TU_OK(lsvk_context_save_pipeline_cache(ctx, path));
    TU_STATUS(lsvk_context_save_pipeline_cache(ctx, "/nonexistent-dir/x/cache"), LSVK_ERROR_IO);
    lsvk_context_create_info ci = {0};
    ci.pipeline_cache_path = path;
    ci.validation = LSVK_VALIDATION_ON;
    lsvk_context *c2 = NULL;
    if (TU_OK(lsvk_context_create(&ci, &c2))) {
        int64_t n = 5;
        float v[5] = {-2, -1, 0, 1, 2}, o[5];
        lsvk_tensor *t = tu_tensor(c2, 1, &n, v);
        TU_OK(lsvk_gelu(NULL, t, t));
        TU_OK(lsvk_tensor_download(t, o, sizeof o));
        TU_CHECK(fabsf(o[4] - 1.9544997f) < 1e-5f, "gelu(2) = %g", o[4]);
        lsvk_tensor_destroy(t);
        TU_CHECK(lsvk_context_validation_messages(c2) == 0, "validation messages");
        lsvk_context_destroy(c2);
    }
    /* a garbage cache file is ignored, not fatal */
    f = fopen(path, "wb");
    if (f) {
        fputs("not a pipeline cache at all, just some bytes of text....", f);
        fclose(f);
        if (TU_OK(lsvk_context_create(&ci, &c2))) lsvk_context_destroy(c2);
    }
    remove(path);
}

static void test_cross_context(lsvk_context *ctx) {
    lsvk_context_create_info ci = {0};
    ci.validation = LSVK_VALIDATION_ON;
    lsvk_context *c2 = NULL;
    if (!TU_OK(lsvk_context_create(&ci, &c2))) return;
    int64_t n = 4;
    lsvk_tensor *a = tu_tensor(ctx, 1, &n, NULL), *b = tu_tensor(c2, 1, &n, NULL);
    TU_STATUS(lsvk_gelu(NULL, a, b), LSVK_ERROR_INVALID_ARGUMENT);
    lsvk_cmd *cmd = NULL;
    TU_OK(lsvk_cmd_create(c2, 0, &cmd));
    TU_STATUS(lsvk_gelu(cmd, a, a), LSVK_ERROR_INVALID_ARGUMENT);
    lsvk_cmd_destroy(cmd);
    lsvk_tensor_destroy(a);
    lsvk_tensor_destroy(b);
    lsvk_context_destroy(c2);
}

int main(void) {
    tu_rng rng = tu_rng_make(tu_seed());
    test_status_strings();
    lsvk_context *ctx = tu_context();
    test_device_info(ctx);
    test_selection(ctx);
    test_tensors(ctx, &rng);
    test_commands(ctx, &rng);
    test_binding_limit(ctx);
    test_pipeline_cache(ctx);
    test_cross_context(ctx);
    return tu_finish(ctx);
}
