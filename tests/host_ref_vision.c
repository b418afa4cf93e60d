/* The CPU reference of the 2D long-short layer (lib/ref/ref_vision.c) against the official
 * implementation's golden file (README section 8 metric; the reference is double precision, so
 * expect ~1e-7), plus self-consistency: an ny x nx grid equals the transposed problem's output
 * on its transposed grid when the layer is symmetric (no RPE, no dp), and invalid configs are
 * refused. */
#include "golden_util.h"
#include "ref/ref_vision.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef LSVK_TEST_DATA
#define LSVK_TEST_DATA "tests"
#endif

#define REF_BOUND 1e-6

static void compare(const golden_file *g, const char *name, const double *mine, size_t n) {
    size_t count = 0;
    float *gold = golden_tensor(g, name, NULL, NULL, &count);
    if (!TU_CHECK(gold && count == n, "%s: %s missing or %zu values, want %zu", golden_case(g), name, count, n)) {
        free(gold);
        return;
    }
    double err = golden_rel_err(mine, gold, n);
    printf("%-22s %-16s rel err %.3e\n", golden_case(g), name, err);
    TU_CHECK(err <= REF_BOUND, "%s: %s rel err %.3e > %.0e", golden_case(g), name, err, REF_BOUND);
    free(gold);
}

static void golden_case_check(void) {
    golden_file *g = golden_open_case(LSVK_TEST_DATA, "vision2d");
    if (!TU_CHECK(g != NULL, "cannot open vision2d")) return;
    long long dim = 0, heads = 0, nx = 0, w = 0, r = 0, nglo = 0;
    int rpe = 0, qb = 0;
    int64_t xs[LSVK_ST_MAX_RANK];
    TU_CHECK(golden_cfg_int(g, "dim", &dim) == 0 && golden_cfg_int(g, "num_heads", &heads) == 0 &&
                 golden_cfg_int(g, "nx", &nx) == 0 && golden_cfg_int(g, "w", &w) == 0 &&
                 golden_cfg_int(g, "dp_rank", &r) == 0 && golden_cfg_int(g, "nglo", &nglo) == 0 &&
                 golden_cfg_bool(g, "rpe", &rpe) == 0 && golden_cfg_bool(g, "qkv_bias", &qb) == 0 &&
                 golden_shape(g, "input.x", xs, NULL) == 3,
             "vision2d config");
    lsvk_vision_config c = {(uint32_t)dim, (uint32_t)heads, (uint32_t)(dim / heads), (uint32_t)nx,
                            (uint32_t)golden_cfg_int_or(g, "ny", nx), (uint32_t)w, (uint32_t)r, (uint32_t)nglo,
                            rpe, qb};
    float *x = golden_tensor(g, "input.x", NULL, NULL, NULL);
    lsvk_ref_vision_weights wt = {
        golden_tensor(g, "qkv.weight", NULL, NULL, NULL), golden_tensor(g, "qkv.bias", NULL, NULL, NULL),
        golden_tensor(g, "proj.weight", NULL, NULL, NULL), golden_tensor(g, "proj.bias", NULL, NULL, NULL),
        golden_tensor(g, "to_dynamic_projection.weight", NULL, NULL, NULL),
        golden_tensor(g, "to_dynamic_projection.bias", NULL, NULL, NULL),
        golden_tensor(g, "dual_ln_full.weight", NULL, NULL, NULL), golden_tensor(g, "dual_ln_full.bias", NULL, NULL, NULL),
        golden_tensor(g, "dual_ln_dp.weight", NULL, NULL, NULL), golden_tensor(g, "dual_ln_dp.bias", NULL, NULL, NULL),
        golden_tensor(g, "local_relative_position_bias_table", NULL, NULL, NULL)};
    size_t n = (size_t)(xs[0] * xs[1] * xs[2]);
    double *out = malloc(n * sizeof *out), *att = malloc(n * sizeof *att);
    if (TU_CHECK(x && out && att && lsvk_ref_vision(&c, &wt, (int)xs[0], x, out, att) == 0, "ref runs")) {
        compare(g, "output", out, n);
        compare(g, "debug.attn_out", att, n);
    }
    /* the RPE table's row count follows the README formula */
    int64_t ts[LSVK_ST_MAX_RANK];
    if (rpe && golden_shape(g, "local_relative_position_bias_table", ts, NULL) == 2)
        TU_CHECK(ts[0] == lsvk_ref_vision_rpe_rows((int)w), "table rows %lld, formula %d", (long long)ts[0],
                 lsvk_ref_vision_rpe_rows((int)w));
    /* invalid configs */
    lsvk_vision_config bad = c;
    bad.nx = c.nx + 1;
    TU_CHECK(lsvk_ref_vision(&bad, &wt, 1, x, out, NULL) == -1, "nx not a multiple of w refused");
    bad = c;
    bad.nglo = 2;
    TU_CHECK(lsvk_ref_vision(&bad, &wt, 1, x, out, NULL) == -1, "nglo 2 refused");
    bad = c;
    bad.window = 1;
    bad.rpe = 1;
    TU_CHECK(lsvk_ref_vision(&bad, &wt, 1, x, out, NULL) == -1, "rpe with w 1 refused");
    const float *all[] = {x, wt.wqkv, wt.bqkv, wt.wp, wt.bp, wt.wdp, wt.bdp, wt.ln_full_w, wt.ln_full_b,
                          wt.ln_dp_w, wt.ln_dp_b, wt.rpe};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free((void *)all[i]);
    free(out);
    free(att);
    golden_close(g);
}

/* Without RPE and dp, transposing the image (x <-> y) transposes the output: checks the nx != ny
 * indexing against the square-grid semantics. */
static void transpose_check(void) {
    tu_rng rng = tu_rng_make(7);
    int C = 12, H = 2, nx = 6, ny = 9, w = 3, B = 1, N = 1 + nx * ny;
    float *wqkv = malloc(sizeof(float) * 3 * C * C), *bqkv = malloc(sizeof(float) * 3 * C);
    float *wp = malloc(sizeof(float) * C * C), *bp = malloc(sizeof(float) * C), *lnw = malloc(sizeof(float) * C);
    float *lnb = malloc(sizeof(float) * C), *x = malloc(sizeof(float) * N * C), *xt = malloc(sizeof(float) * N * C);
    double *o = malloc(sizeof(double) * N * C), *ot = malloc(sizeof(double) * N * C);
    tu_fill_randn(&rng, wqkv, 3 * C * C, 0.3f);
    tu_fill_randn(&rng, bqkv, 3 * C, 0.1f);
    tu_fill_randn(&rng, wp, C * C, 0.3f);
    tu_fill_randn(&rng, bp, C, 0.1f);
    tu_fill_randn(&rng, lnw, C, 0.1f);
    tu_fill_randn(&rng, lnb, C, 0.1f);
    for (int i = 0; i < C; i++) lnw[i] += 1.0f;
    tu_fill_randn(&rng, x, (size_t)N * C, 1.0f);
    for (int c = 0; c < C; c++) xt[c] = x[c];
    for (int y = 0; y < ny; y++)
        for (int xx = 0; xx < nx; xx++)
            for (int c = 0; c < C; c++) xt[(1 + xx * ny + y) * C + c] = x[(1 + y * nx + xx) * C + c];
    lsvk_ref_vision_weights wt = {wqkv, bqkv, wp, bp, NULL, NULL, lnw, lnb, lnw, lnb, NULL};
    lsvk_vision_config c = {(uint32_t)C, (uint32_t)H, (uint32_t)(C / H), (uint32_t)nx, (uint32_t)ny, (uint32_t)w, 0, 1, 0, 1};
    lsvk_vision_config ct = c;
    ct.nx = (uint32_t)ny;
    ct.ny = (uint32_t)nx;
    if (TU_CHECK(lsvk_ref_vision(&c, &wt, B, x, o, NULL) == 0 && lsvk_ref_vision(&ct, &wt, B, xt, ot, NULL) == 0,
                 "transpose: ref runs")) {
        double err = 0;
        for (int c2 = 0; c2 < C; c2++) err = fmax(err, fabs(o[c2] - ot[c2]));
        for (int y = 0; y < ny; y++)
            for (int xx = 0; xx < nx; xx++)
                for (int c2 = 0; c2 < C; c2++)
                    err = fmax(err, fabs(o[(1 + y * nx + xx) * C + c2] - ot[(1 + xx * ny + y) * C + c2]));
        printf("transpose 6x9 vs 9x6: max diff %.3e\n", err);
        TU_CHECK(err < 1e-12, "transposed grid differs by %.3e", err);
    }
    free(wqkv); free(bqkv); free(wp); free(bp); free(lnw); free(lnb); free(x); free(xt); free(o); free(ot);
}

int main(void) {
    golden_case_check();
    transpose_check();
    return tu_finish(NULL);
}
