/* The check against lib/ref: each method's forward on the host, in double precision. */
#include "bench.h"
#include "ref/ref.h"
#include "ref/ref_attention.h"
#include "ref/ref_vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double rel_err(const float *got, const double *ref, size_t n) {
    double me = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        double e = fabs(got[i] - ref[i]);
        if (e > me) me = e;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return mr > 0 ? me / mr : me;
}

static void to_float(const double *a, float *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (float)a[i];
}

/* Full method on the host: projections, attention per head, W_o. */
static int ref_full(const options *o, const weights *w, int64_t n, const float *x, double *out) {
    size_t B = o->batch, N = (size_t)n, D = o->dim, H = o->heads, dh = D / H, T = B * N;
    double *tmp = malloc(T * D * sizeof *tmp);
    float *qkv[3], *bhnd[3], *att = malloc(T * D * sizeof *att);
    double *o4 = malloc(T * D * sizeof *o4);
    const char *wn[3] = {"W_q.weight", "W_k.weight", "W_v.weight"}, *bn[3] = {"W_q.bias", "W_k.bias", "W_v.bias"};
    int ok = tmp && att && o4;
    for (int i = 0; i < 3; i++) {
        qkv[i] = malloc(T * D * sizeof(float));
        bhnd[i] = malloc(T * D * sizeof(float));
        ok = ok && qkv[i] && bhnd[i];
    }
    if (ok) {
        for (int i = 0; i < 3; i++) {
            lsvk_ref_linear(x, bench_wget(w, wn[i]), bench_wget(w, bn[i]), T, D, D, tmp);
            to_float(tmp, qkv[i], T * D);
            for (size_t b = 0; b < B; b++) /* [B,N,H,dh] -> [B,H,N,dh] */
                for (size_t t = 0; t < N; t++)
                    for (size_t h = 0; h < H; h++)
                        memcpy(&bhnd[i][((b * H + h) * N + t) * dh], &qkv[i][(b * N + t) * D + h * dh], dh * sizeof(float));
        }
        lsvk_ref_attention((int)B, (int)H, (int)N, (int)dh, bhnd[0], bhnd[1], bhnd[2], NULL, 0, o4);
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < N; t++)
                for (size_t h = 0; h < H; h++)
                    for (size_t d = 0; d < dh; d++)
                        att[(b * N + t) * D + h * dh + d] = (float)o4[((b * H + h) * N + t) * dh + d];
        lsvk_ref_linear(att, bench_wget(w, "W_o.weight"), bench_wget(w, "W_o.bias"), T, D, D, out);
    }
    free(tmp);
    free(att);
    free(o4);
    for (int i = 0; i < 3; i++) {
        free(qkv[i]);
        free(bhnd[i]);
    }
    return ok ? 0 : -1;
}

static int ref_ls(const options *o, const lsvk_ls_config *cfg, const weights *w, int64_t n, const float *x,
                  double *out) {
    lsvk_ref_ls_weights rw = {bench_wget(w, "W_q.weight"), bench_wget(w, "W_q.bias"), bench_wget(w, "W_k.weight"),
                              bench_wget(w, "W_k.bias"), bench_wget(w, "W_v.weight"), bench_wget(w, "W_v.bias"),
                              bench_wget(w, "W_o.weight"), bench_wget(w, "W_o.bias"),
                              bench_wget(w, "dual_ln_l.weight"), bench_wget(w, "dual_ln_l.bias"),
                              bench_wget(w, "dual_ln_s.weight"), bench_wget(w, "dual_ln_s.bias"),
                              bench_wget(w, "dconv_fc.weight"), bench_wget(w, "dconv_fc.bias"), NULL};
    return lsvk_ref_ls_bidir(cfg, &rw, (int)o->batch, (int)n, x, NULL, out);
}

static int ref_vision(const options *o, const weights *w, const float *x, double *out) {
    lsvk_vision_config c = bench_vision_config(o);
    lsvk_ref_vision_weights rw = {bench_wget(w, "qkv.weight"), bench_wget(w, "qkv.bias"),
                                  bench_wget(w, "proj.weight"), bench_wget(w, "proj.bias"),
                                  bench_wget(w, "to_dynamic_projection.weight"),
                                  bench_wget(w, "to_dynamic_projection.bias"),
                                  bench_wget(w, "dual_ln_full.weight"), bench_wget(w, "dual_ln_full.bias"),
                                  bench_wget(w, "dual_ln_dp.weight"), bench_wget(w, "dual_ln_dp.bias"),
                                  bench_wget(w, "local_relative_position_bias_table")};
    return lsvk_ref_vision(&c, &rw, (int)o->batch, x, out, NULL);
}

double bench_check(const options *o, const lsvk_ls_config *cfg, bench_kind k, const weights *w, int64_t n,
                   const float *x, const lsvk_tensor *out) {
    size_t total = (size_t)o->batch * (size_t)n * o->dim;
    float *got = malloc(total * sizeof *got);
    double *ref = malloc(total * sizeof *ref), err = -1;
    if (got && ref && lsvk_tensor_download(out, got, total * sizeof *got) == LSVK_SUCCESS &&
        (k == BENCH_VISION ? ref_vision(o, w, x, ref) : k == BENCH_LS ? ref_ls(o, cfg, w, n, x, ref)
                                                       : ref_full(o, w, n, x, ref)) == 0)
        err = rel_err(got, ref, total);
    free(got);
    free(ref);
    return err;
}
