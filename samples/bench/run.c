/* One point (method, n): build it, run it warmup + repeat times, and fill its row. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void progress(const char *method, int64_t n, int i, int total) {
    fprintf(stderr, "\r  %-4s n=%-8lld run %d/%d   ", method, (long long)n, i, total);
    fflush(stderr);
}

void bench_run_point(lsvk_context *ctx, const options *o, const lsvk_ls_config *cfg, const weights *w,
                     const weights *vw, int is_ls, int64_t n, int check, row *r) {
    memset(r, 0, sizeof *r);
    r->method = is_ls ? "ls" : "full";
    r->n = n;
    r->check = -1;
    size_t total = (size_t)o->batch * (size_t)n * o->dim;
    float *x = bench_rand_floats(total, 0, 1);
    point p = {0};
    lsvk_cmd *cmd = NULL;
    double *times = calloc((size_t)o->repeat, sizeof *times);
    uint64_t before;
    lsvk_context_memory_usage(ctx, &before, NULL, NULL);
    lsvk_context_reset_peak_memory(ctx);
    lsvk_status s = x && times ? LSVK_SUCCESS : LSVK_ERROR_OUT_OF_HOST_MEMORY;
    bench_kind k = !is_ls ? BENCH_FULL : o->nx > 0 ? BENCH_VISION : BENCH_LS;
    const weights *kw = k == BENCH_VISION ? vw : w;
    if (!s) s = bench_setup(ctx, o, cfg, k, kw, n, x, &p);
    if (!s) s = lsvk_cmd_create(ctx, LSVK_CMD_TIMESTAMPS, &cmd);
    if (!s) s = bench_record(cmd, o, k, &p, n);
    for (int i = 0; !s && i < o->warmup + o->repeat; i++) {
        progress(r->method, n, i + 1, o->warmup + o->repeat);
        s = lsvk_cmd_submit(cmd);
        double ns = 0;
        if (!s && i >= o->warmup) s = lsvk_cmd_elapsed(cmd, &ns);
        if (!s && i >= o->warmup) times[i - o->warmup] = ns * 1e-6;
    }
    fprintf(stderr, "\r%60s\r", "");
    if (s) {
        if (s == LSVK_ERROR_LIMIT_EXCEEDED || s == LSVK_ERROR_OUT_OF_DEVICE_MEMORY)
            snprintf(r->status, sizeof r->status, "does not fit: %s", lsvk_last_error());
        else
            snprintf(r->status, sizeof r->status, "%s: %s", lsvk_status_string(s), lsvk_last_error());
    } else {
        uint64_t peak;
        lsvk_context_memory_usage(ctx, NULL, &peak, NULL);
        r->peak_mib = (double)(peak - before) / 1048576.0;
        qsort(times, (size_t)o->repeat, sizeof *times, cmp_double);
        r->min_ms = times[0];
        r->max_ms = times[o->repeat - 1];
        r->med_ms = o->repeat % 2 ? times[o->repeat / 2] : 0.5 * (times[o->repeat / 2 - 1] + times[o->repeat / 2]);
        double sec = r->med_ms * 1e-3;
        r->tokens_s = (double)o->batch * n / sec;
        r->gflops = bench_flops(o, k, n) / sec * 1e-9;
        r->gbs = bench_bytes(o, k, n) / sec * 1e-9;
        if (o->timings) {
            fprintf(stderr, "  %s n=%lld per dispatch:\n", r->method, (long long)n);
            for (uint32_t i = 0; i < lsvk_cmd_dispatch_count(cmd); i++) {
                const char *name;
                double ns;
                if (lsvk_cmd_timing(cmd, i, &name, &ns) == LSVK_SUCCESS)
                    fprintf(stderr, "    %-22s %10.3f ms\n", name, ns * 1e-6);
            }
        }
        if (check) r->check = bench_check(o, cfg, k, kw, n, x, p.out);
    }
    lsvk_cmd_destroy(cmd);
    bench_point_free(&p);
    free(times);
    free(x);
}
