/* CPU reference of the 2D long-short layer (shared/golden/README.md section 6), step by step.
 * Plain loops; every intermediate and every sum is double. Image token (y, x) is row y*nx + x
 * of the image part; nx may differ from ny. */
#include "ref/ref_vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-5

int lsvk_ref_vision_rpe_rows(int w) {
    int wp = w / 2;
    return 2 * (w + wp - 1) * (2 * wp + w + 1) + 1;
}

/* In-place LayerNorm of n values (biased variance). */
static void layernorm(double *x, int C, const float *weight, const float *bias) {
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < C; c++) mean += x[c];
    mean /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
    var /= C;
    double inv = 1.0 / sqrt(var + LN_EPS);
    for (int c = 0; c < C; c++) x[c] = (x[c] - mean) * inv * weight[c] + bias[c];
}

/* In-place softmax; -inf gets 0 (a row always has a finite entry here). */
static void softmax(double *s, int n) {
    double mx = -INFINITY, sum = 0.0;
    for (int i = 0; i < n; i++) mx = s[i] > mx ? s[i] : mx;
    for (int i = 0; i < n; i++) {
        s[i] = s[i] == -INFINITY ? 0.0 : exp(s[i] - mx);
        sum += s[i];
    }
    for (int i = 0; i < n; i++) s[i] /= sum;
}

static double dot(const double *a, const double *b, int n) {
    double acc = 0.0;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static int config_ok(const lsvk_vision_config *c, const lsvk_ref_vision_weights *w) {
    if (!c || !w || c->heads < 1 || c->head_dim < 1 || c->window < 1 || c->nx < 1 || c->ny < 1) return 0;
    if ((uint64_t)c->heads * c->head_dim != c->dim || c->dim > (1u << 20)) return 0;
    if (c->nx % c->window || c->ny % c->window || c->nglo > 1 || (c->rpe && c->window < 2)) return 0;
    if ((uint64_t)c->nx * c->ny > (1u << 26) || c->dp_rank > 4096) return 0;
    if (!w->wqkv || !w->wp || !w->bp || !w->ln_full_w || !w->ln_full_b || !w->ln_dp_w || !w->ln_dp_b) return 0;
    if ((c->qkv_bias && !w->bqkv) || (c->dp_rank && (!w->wdp || !w->bdp)) || (c->rpe && !w->rpe)) return 0;
    return 1;
}

/* One batch row: xb [N,C] -> att [N,C] (merged heads, before proj). Scratch as allocated below. */
typedef struct vdims {
    int C, H, dh, nx, ny, Nf, N, g, r, w, wp, s, kw, rpe;
} vdims;

static void attend_row(const vdims *v, const lsvk_ref_vision_weights *wt, const double *q, const double *k,
                       const double *vv, const double *kd, const double *vd, double *att, double *sc) {
    int C = v->C, dh = v->dh, g = v->g, ncol = v->r + v->kw * v->kw + g;
    for (int h = 0; h < v->H; h++)
        for (int y = 0; y < v->ny; y++)
            for (int x = 0; x < v->nx; x++) {
                int n = g + y * v->nx + x, gy = y / v->w, gx = x / v->w, qy = y - gy * v->w, qx = x - gx * v->w;
                const double *qn = q + (size_t)n * C + h * dh;
                for (int j = 0; j < v->r; j++) sc[j] = dot(qn, kd + (size_t)j * C + h * dh, dh);
                for (int a = 0; a < v->kw; a++)
                    for (int b = 0; b < v->kw; b++) {
                        int ky = gy * v->w - v->s + a, kx = gx * v->w - v->s + b;
                        double s = -INFINITY;
                        if (ky >= 0 && ky < v->ny && kx >= 0 && kx < v->nx) {
                            s = dot(qn, k + (size_t)(g + ky * v->nx + kx) * C + h * dh, dh);
                            if (v->rpe) {
                                int idx = (qy - a + 2 * v->wp + v->w - 1) * (2 * v->wp + v->w) +
                                          (qx - b + 2 * v->wp + v->w - 1);
                                s += wt->rpe[(size_t)idx * v->H + h];
                            }
                        }
                        sc[v->r + a * v->kw + b] = s;
                    }
                if (g) sc[ncol - 1] = dot(qn, k + h * dh, dh);
                softmax(sc, ncol);
                double *o = att + (size_t)n * C + h * dh;
                for (int d = 0; d < dh; d++) o[d] = 0.0;
                for (int j = 0; j < v->r; j++)
                    for (int d = 0; d < dh; d++) o[d] += sc[j] * vd[(size_t)j * C + h * dh + d];
                for (int a = 0; a < v->kw; a++)
                    for (int b = 0; b < v->kw; b++) {
                        double p = sc[v->r + a * v->kw + b];
                        if (p == 0.0) continue;
                        int ky = gy * v->w - v->s + a, kx = gx * v->w - v->s + b;
                        const double *vk = vv + (size_t)(g + ky * v->nx + kx) * C + h * dh;
                        for (int d = 0; d < dh; d++) o[d] += p * vk[d];
                    }
                if (g)
                    for (int d = 0; d < dh; d++) o[d] += sc[ncol - 1] * vv[h * dh + d];
            }
}

int lsvk_ref_vision(const lsvk_vision_config *cfg, const lsvk_ref_vision_weights *wt, int B,
                    const float *x, double *out, double *attn_out) {
    if (!config_ok(cfg, wt) || B < 1) return -1;
    vdims v = {(int)cfg->dim, (int)cfg->heads, (int)cfg->head_dim, (int)cfg->nx, (int)cfg->ny, 0, 0,
               (int)cfg->nglo, (int)cfg->dp_rank, (int)cfg->window, 0, 0, 0, cfg->rpe ? 1 : 0};
    v.Nf = v.nx * v.ny;
    v.N = v.g + v.Nf;
    v.wp = v.w / 2;
    v.s = v.wp ? v.wp : 1;
    v.kw = v.w + 2 * v.s;
    int C = v.C, N = v.N, r = v.r, H = v.H, dh = v.dh;
    size_t NC = (size_t)N * C;
    double *q = malloc(NC * sizeof *q), *k = malloc(NC * sizeof *k), *vv = malloc(NC * sizeof *vv);
    double *att = malloc(NC * sizeof *att), *xd = malloc(C * sizeof *xd);
    double *kd = calloc((size_t)(r ? r : 1) * C, sizeof *kd), *vd = calloc((size_t)(r ? r : 1) * C, sizeof *vd);
    double *P = malloc((size_t)(r ? r : 1) * H * v.Nf * sizeof *P);
    int ncol = r + v.kw * v.kw + v.g;
    double *sc = malloc((size_t)(ncol > v.Nf + 1 ? ncol : v.Nf + 1) * sizeof *sc);
    int rc = -1;
    if (!q || !k || !vv || !att || !xd || !kd || !vd || !P || !sc) goto done;
    double scale = 1.0 / sqrt((double)dh);
    for (int bi = 0; bi < B; bi++) {
        const float *xb = x + (size_t)bi * NC;
        /* 1. qkv, scaling, LN_full on k and v of every token */
        for (int n = 0; n < N; n++) {
            for (int o = 0; o < 3 * C; o++) {
                double acc = wt->bqkv && cfg->qkv_bias ? wt->bqkv[o] : 0.0;
                const float *wr = wt->wqkv + (size_t)o * C;
                for (int c = 0; c < C; c++) acc += (double)xb[(size_t)n * C + c] * wr[c];
                double *dst = o < C ? q : o < 2 * C ? k : vv;
                dst[(size_t)n * C + o % C] = o < C ? acc * scale : acc;
            }
            layernorm(k + (size_t)n * C, C, wt->ln_full_w, wt->ln_full_b);
            layernorm(vv + (size_t)n * C, C, wt->ln_full_w, wt->ln_full_b);
        }
        /* 2. dynamic projection: P[h,j,:] = softmax over image tokens; Kd, Vd, then LN_dp */
        if (r) {
            for (int n = 0; n < v.Nf; n++)
                for (int o = 0; o < H * r; o++) {
                    double acc = wt->bdp[o];
                    const float *wr = wt->wdp + (size_t)o * C, *xr = xb + (size_t)(v.g + n) * C;
                    for (int c = 0; c < C; c++) acc += (double)xr[c] * wr[c];
                    P[((size_t)(o / r) * r + o % r) * v.Nf + n] = acc;
                }
            for (int hj = 0; hj < H * r; hj++) softmax(P + (size_t)hj * v.Nf, v.Nf);
            for (int j = 0; j < r; j++) {
                for (int h = 0; h < H; h++)
                    for (int d = 0; d < dh; d++) {
                        double ak = 0.0, av = 0.0;
                        const double *p = P + ((size_t)h * r + j) * v.Nf;
                        for (int n = 0; n < v.Nf; n++) {
                            ak += p[n] * k[(size_t)(v.g + n) * C + h * dh + d];
                            av += p[n] * vv[(size_t)(v.g + n) * C + h * dh + d];
                        }
                        kd[(size_t)j * C + h * dh + d] = ak;
                        vd[(size_t)j * C + h * dh + d] = av;
                    }
                layernorm(kd + (size_t)j * C, C, wt->ln_dp_w, wt->ln_dp_b);
                layernorm(vd + (size_t)j * C, C, wt->ln_dp_w, wt->ln_dp_b);
            }
        }
        /* 3-6. image tokens: [r dp ; kw*kw window ; global] in one softmax */
        attend_row(&v, wt, q, k, vv, kd, vd, att, sc);
        /* 7. global token: [itself ; every image output] as keys and values */
        if (v.g)
            for (int h = 0; h < H; h++) {
                const double *qg = q + h * dh;
                sc[0] = dot(qg, k + h * dh, dh);
                for (int n = 0; n < v.Nf; n++) sc[1 + n] = dot(qg, att + (size_t)(1 + n) * C + h * dh, dh);
                softmax(sc, v.Nf + 1);
                for (int d = 0; d < dh; d++) {
                    double acc = sc[0] * vv[h * dh + d];
                    for (int n = 0; n < v.Nf; n++) acc += sc[1 + n] * att[(size_t)(1 + n) * C + h * dh + d];
                    att[h * dh + d] = acc;
                }
            }
        /* 8. proj */
        double *ob = out + (size_t)bi * NC;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < C; o++) {
                double acc = wt->bp[o];
                const float *wr = wt->wp + (size_t)o * C;
                for (int c = 0; c < C; c++) acc += att[(size_t)n * C + c] * wr[c];
                ob[(size_t)n * C + o] = acc;
            }
        if (attn_out) memcpy(attn_out + (size_t)bi * NC, att, NC * sizeof *att);
    }
    rc = 0;
done:
    free(q); free(k); free(vv); free(att); free(xd); free(kd); free(vd); free(P); free(sc);
    return rc;
}
