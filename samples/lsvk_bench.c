/* lsvk-bench: long-short attention vs full attention over sequence lengths, on one Vulkan device,
 * with numbers comparable across vendors (GPU time from timestamps, tokens/s, GFLOP/s, GB/s,
 * peak device memory) and a check against lib/ref at the smallest length. The 2D presets
 * (--grid) run the vision layer (lsvk_vision_forward) on an image grid instead, beside full
 * attention over the same tokens.
 * Formulae: docs/BENCHMARKS.md. */
#include "bench/bench.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    options o;
    if (bench_parse_args(argc, argv, &o) != 0) {
        bench_usage();
        return 2;
    }
    lsvk_context_create_info ci = {0};
    lsvk_context *ctx = NULL;
    lsvk_status s = lsvk_context_create(&ci, &ctx);
    if (s != LSVK_SUCCESS) {
        fprintf(stderr, "lsvk-bench: %s: %s\n", lsvk_status_string(s), lsvk_last_error());
        return 1;
    }
    const lsvk_device_info *d = lsvk_context_device(ctx);
    if (!d->timestamps) {
        fprintf(stderr, "lsvk-bench: %s has no compute timestamps; GPU times cannot be measured\n", d->name);
        lsvk_context_destroy(ctx);
        return 1;
    }
    lsvk_ls_config cfg = {o.dim, o.heads, o.dim / o.heads, o.window, o.landmarks, 0, 0};
    weights w, vw = {0};
    bench_make_weights(&o, &w);
    if (o.nx) bench_make_vision_weights(&o, &vw);
    row rows[2 * MAX_N];
    int nrows = 0;
    int64_t smallest = o.n[0];
    for (int i = 1; i < o.n_count; i++)
        if (o.n[i] < smallest) smallest = o.n[i];
    if (!o.csv && !o.json) bench_print_header(d, &o, stdout, "");
    else bench_print_header(d, &o, stderr, "");
    for (int i = 0; i < o.n_count; i++)
        for (int m = 0; m < 2; m++) {
            int is_ls = m == 0;
            if ((is_ls && !o.ls) || (!is_ls && !o.full)) continue;
            row *r = &rows[nrows++];
            if (!is_ls && o.full_max_n > 0 && o.n[i] > o.full_max_n) {
                memset(r, 0, sizeof *r);
                r->method = "full";
                r->n = o.n[i];
                r->check = -1;
                snprintf(r->status, sizeof r->status, "skipped (--full-max-n %lld)", (long long)o.full_max_n);
                continue;
            }
            /* full attention's host reference is O(B n^2): checked only where that is quick */
            int check = o.check && o.n[i] == smallest &&
                        (is_ls || !o.nx || (double)o.batch * (double)o.n[i] * (double)o.n[i] <= 1.1e7);
            bench_run_point(ctx, &o, &cfg, &w, &vw, is_ls, o.n[i], check, r);
        }
    if (o.json) bench_print_json(d, &o, rows, nrows);
    else if (o.csv) bench_print_csv(rows, nrows);
    else bench_print_table(rows, nrows);
    int rc = 0;
    if (o.plot && bench_write_svg(o.plot, d, &o, rows, nrows) != 0) {
        fprintf(stderr, "lsvk-bench: cannot write %s\n", o.plot);
        rc = 1;
    }
    for (int i = 0; i < nrows; i++)
        if (rows[i].check > 1e-4) {
            fprintf(stderr, "lsvk-bench: %s at n=%lld differs from lib/ref by %.3g\n", rows[i].method,
                    (long long)rows[i].n, rows[i].check);
            rc = 1;
        }
    bench_free_weights(&w);
    bench_free_weights(&vw);
    lsvk_context_destroy(ctx);
    return rc;
}
