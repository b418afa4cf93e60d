/* CPU references of full attention and of the bidirectional long-short layer, following
 * shared/golden/README.md sections 3 and 7 step by step. Plain loops; every intermediate and every
 * sum is double. Feature f of a D-vector is head f / dh, lane f % dh, so the per-head vectors are
 * slices of merged rows and "split" / "merge" are only index arithmetic here. */
#include "ref/ref_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-5

/* ---------------------------------------------------------------- small helpers */

/* y[rows,out] = x[rows,in] w[out,in]^T + b[out]; b may be NULL. */
static void linear_rows(const double *x, size_t rows, int in, const float *w, const float *b,
                        int out, double *y) {
    for (size_t i = 0; i < rows; i++) {
        const double *xr = x + i * (size_t)in;
        for (int o = 0; o < out; o++) {
            const float *wr = w + (size_t)o * (size_t)in;
            double acc = b ? (double)b[o] : 0.0;
            for (int c = 0; c < in; c++) acc += xr[c] * (double)wr[c];
            y[i * (size_t)out + (size_t)o] = acc;
        }
    }
}

/* In-place LayerNorm of each row of C values (biased variance, eps 1e-5). */
static void layernorm_rows(double *x, size_t rows, int C, const float *weight, const float *bias) {
    for (size_t i = 0; i < rows; i++) {
        double *xr = x + i * (size_t)C;
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < C; c++) mean += xr[c];
        mean /= (double)C;
        for (int c = 0; c < C; c++) var += (xr[c] - mean) * (xr[c] - mean);
        var /= (double)C;
        double inv = 1.0 / sqrt(var + LN_EPS);
        for (int c = 0; c < C; c++)
            xr[c] = (xr[c] - mean) * inv * (double)weight[c] + (double)bias[c];
    }
}

static double dot_d(const double *a, const double *b, int n) {
    double acc = 0.0;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static double dot_f(const float *a, const float *b, int n) {
    double acc = 0.0;
    for (int i = 0; i < n; i++) acc += (double)a[i] * (double)b[i];
    return acc;
}

/* In-place softmax of n values; -inf gets 0. A row with nothing finite becomes all 0 (where the
 * reference would produce NaN). Returns 0 in that case, 1 otherwise. */
static int softmax_row(double *s, int n) {
    double mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (s[i] > mx) mx = s[i];
    if (mx == -INFINITY) {
        for (int i = 0; i < n; i++) s[i] = 0.0;
        return 0;
    }
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        s[i] = s[i] == -INFINITY ? 0.0 : exp(s[i] - mx);
        sum += s[i];
    }
    for (int i = 0; i < n; i++) s[i] /= sum;
    return 1;
}

/* Offset of row `row`, head h in a merged [rows, D] array: the first of that head's dh values. */
static size_t head_at(int row, int h, int D, int dh) {
    return (size_t)row * (size_t)D + (size_t)h * (size_t)dh;
}

/* ---------------------------------------------------------------- full attention (section 7) */

void lsvk_ref_attention(int B, int H, int N, int dh, const float *q, const float *k, const float *v,
                        const float *mask, int causal, double *out) {
    double *p = malloc((size_t)(N > 0 ? N : 1) * sizeof(double));
    size_t total = (size_t)B * (size_t)H * (size_t)N * (size_t)dh;
    if (!p) { /* no way to report: make the result unmistakably wrong */
        for (size_t i = 0; i < total; i++) out[i] = NAN;
        return;
    }
    double scale = 1.0 / sqrt((double)dh);
    for (int b = 0; b < B; b++) {
        const float *mrow = mask ? mask + (size_t)b * (size_t)N : NULL;
        for (int h = 0; h < H; h++) {
            size_t base = ((size_t)b * (size_t)H + (size_t)h) * (size_t)N * (size_t)dh;
            for (int i = 0; i < N; i++) {
                double *o = out + base + (size_t)i * (size_t)dh;
                memset(o, 0, (size_t)dh * sizeof(double));
                if (mrow && mrow[i] == 0.0f) continue; /* padded query: row of zeros */
                const float *qi = q + base + (size_t)i * (size_t)dh;
                for (int j = 0; j < N; j++) {
                    int masked = (mrow && mrow[j] == 0.0f) || (causal && j > i);
                    const float *kj = k + base + (size_t)j * (size_t)dh;
                    p[j] = masked ? -INFINITY : dot_f(qi, kj, dh) * scale;
                }
                softmax_row(p, N);
                for (int j = 0; j < N; j++) {
                    if (p[j] == 0.0) continue;
                    const float *vj = v + base + (size_t)j * (size_t)dh;
                    for (int d = 0; d < dh; d++) o[d] += p[j] * (double)vj[d];
                }
            }
        }
    }
    free(p);
}

/* ---------------------------------------------------------------- bidirectional LS (section 3) */

typedef struct ls_dims {
    int H, dh, D;
    int N0, N, cls;  /* tokens with / without the CLS token; cls 0 or 1 */
    int r, m;        /* landmarks; landmark columns (r + cls) */
    int w, e, kw;    /* segment length, window half-width, window columns */
    int K;           /* conv kernel, 0 = none */
} ls_dims;

static int ls_dims_make(const lsvk_ls_config *cfg, int N0, ls_dims *s) {
    if (!cfg || cfg->heads < 1 || cfg->head_dim < 1 || cfg->heads > 65536 || cfg->head_dim > 65536)
        return -1;
    if ((uint64_t)cfg->dim != (uint64_t)cfg->heads * cfg->head_dim || cfg->dim > (1u << 24))
        return -1;
    if (cfg->window > (1u << 24) || cfg->landmarks > (1u << 24) || cfg->conv_kernel > (1 << 24))
        return -1;
    memset(s, 0, sizeof *s);
    s->H = (int)cfg->heads;
    s->dh = (int)cfg->head_dim;
    s->D = (int)cfg->dim;
    s->cls = cfg->cls ? 1 : 0;
    s->N0 = N0;
    s->N = N0 - s->cls;
    if (s->N < 1) return -1;
    s->r = (int)cfg->landmarks;
    s->m = s->r + s->cls;
    s->w = (int)cfg->window;
    if (s->w == 0 && s->m == 0) return -1; /* no column at all */
    if (s->w > 0) {
        if (s->N % s->w != 0) return -1;
        s->e = s->w / 2 > 1 ? s->w / 2 : 1;
        s->kw = s->w + 2 * s->e;
    }
    if (cfg->conv_kernel > 0) {
        if (cfg->conv_kernel % 2 == 0) return -1;
        s->K = cfg->conv_kernel;
    }
    return 0;
}

int lsvk_ref_ls_shape(const lsvk_ls_config *cfg, int N0, int *N, int *m, int *kw) {
    ls_dims s;
    if (ls_dims_make(cfg, N0, &s) != 0) return -1;
    if (N) *N = s.N;
    if (m) *m = s.m;
    if (kw) *kw = s.kw;
    return 0;
}

/* Work arrays for one batch row. */
typedef struct ls_work {
    double *x;          /* [N0,D] input rows (CLS first with cls) */
    double *q, *k, *v;  /* [N,D] tokens: Q (scaled), LN_l(K), LN_l(V) */
    double *sc;         /* [N,H*r] landmark scores */
    double *p;          /* [H,r,N] landmark weights */
    double *kl, *vl;    /* [m,D] landmark keys / values (cls first) */
    double *c;          /* [N0,D] merged attention outputs (out_cls first with cls) */
    double *conv;       /* [H,N,dh] */
    double *row;        /* scores of one query: max(m + kw, N + 1) */
    double *qc, *kc, *vc; /* [D] CLS query / raw key / raw value */
    int *pad;           /* [N] 1 = padded token */
} ls_work;

static void ls_work_free(ls_work *t) {
    free(t->x); free(t->q); free(t->k); free(t->v); free(t->sc); free(t->p);
    free(t->kl); free(t->vl); free(t->c); free(t->conv); free(t->row);
    free(t->qc); free(t->kc); free(t->vc); free(t->pad);
    memset(t, 0, sizeof *t);
}

static double *alloc_d(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

static int ls_work_alloc(const ls_dims *s, ls_work *t) {
    size_t D = (size_t)s->D, N = (size_t)s->N;
    size_t row = (size_t)(s->m + s->kw) > N + 1 ? (size_t)(s->m + s->kw) : N + 1;
    memset(t, 0, sizeof *t);
    t->x = alloc_d((size_t)s->N0 * D);
    t->q = alloc_d(N * D);
    t->k = alloc_d(N * D);
    t->v = alloc_d(N * D);
    t->sc = alloc_d(N * (size_t)s->H * (size_t)s->r);
    t->p = alloc_d((size_t)s->H * (size_t)s->r * N);
    t->kl = alloc_d((size_t)s->m * D);
    t->vl = alloc_d((size_t)s->m * D);
    t->c = alloc_d((size_t)s->N0 * D);
    t->conv = alloc_d((size_t)s->H * N * (size_t)s->dh);
    t->row = alloc_d(row);
    t->qc = alloc_d(D);
    t->kc = alloc_d(D);
    t->vc = alloc_d(D);
    t->pad = calloc(N, sizeof(int));
    if (!t->x || !t->q || !t->k || !t->v || !t->sc || !t->p || !t->kl || !t->vl || !t->c ||
        !t->conv || !t->row || !t->qc || !t->kc || !t->vc || !t->pad) {
        ls_work_free(t);
        return -1;
    }
    return 0;
}

/* Step 1: Q = split(X Wq^T + bq) / sqrt(dh), K = LN_l(X Wk^T + bk), V = LN_l(X Wv^T + bv). */
static void ls_project(const ls_dims *s, const lsvk_ref_ls_weights *w, ls_work *t) {
    const double *xt = t->x + (size_t)s->cls * (size_t)s->D; /* tokens without CLS */
    size_t n = (size_t)s->N * (size_t)s->D;
    double scale = 1.0 / sqrt((double)s->dh);
    linear_rows(xt, (size_t)s->N, s->D, w->wq, w->bq, s->D, t->q);
    for (size_t i = 0; i < n; i++) t->q[i] *= scale;
    linear_rows(xt, (size_t)s->N, s->D, w->wk, w->bk, s->D, t->k);
    layernorm_rows(t->k, (size_t)s->N, s->D, w->ln_l_w, w->ln_l_b);
    linear_rows(xt, (size_t)s->N, s->D, w->wv, w->bv, s->D, t->v);
    layernorm_rows(t->v, (size_t)s->N, s->D, w->ln_l_w, w->ln_l_b);
}

/* Steps 2-4: landmark list [cls ; r landmarks], then dual_ln_s on each merged landmark. */
static void ls_landmarks(const ls_dims *s, const lsvk_ref_ls_weights *w, ls_work *t) {
    int H = s->H, dh = s->dh, D = s->D, N = s->N, r = s->r;
    if (r > 0) {
        const double *xt = t->x + (size_t)s->cls * (size_t)D;
        linear_rows(xt, (size_t)N, D, w->wd, w->bd, H * r, t->sc);
        for (int h = 0; h < H; h++) {
            for (int j = 0; j < r; j++) {
                double *p = t->p + ((size_t)h * (size_t)r + (size_t)j) * (size_t)N;
                for (int n = 0; n < N; n++) {
                    size_t col = (size_t)n * (size_t)(H * r) + (size_t)(h * r + j);
                    p[n] = t->pad[n] ? -INFINITY : t->sc[col];
                }
                softmax_row(p, N);
                double *kj = t->kl + head_at(s->cls + j, h, D, dh);
                double *vj = t->vl + head_at(s->cls + j, h, D, dh);
                for (int d = 0; d < dh; d++) kj[d] = vj[d] = 0.0;
                for (int n = 0; n < N; n++) {
                    const double *kn = t->k + head_at(n, h, D, dh);
                    const double *vn = t->v + head_at(n, h, D, dh);
                    for (int d = 0; d < dh; d++) {
                        kj[d] += p[n] * kn[d];
                        vj[d] += p[n] * vn[d];
                    }
                }
            }
        }
    }
    if (s->cls) {
        /* CLS query, raw key and raw value (no LN_l); the key/value are landmark 0. */
        linear_rows(t->x, 1, D, w->wq, w->bq, D, t->qc);
        double scale = 1.0 / sqrt((double)dh);
        for (int f = 0; f < D; f++) t->qc[f] *= scale;
        linear_rows(t->x, 1, D, w->wk, w->bk, D, t->kc);
        linear_rows(t->x, 1, D, w->wv, w->bv, D, t->vc);
        memcpy(t->kl, t->kc, (size_t)D * sizeof(double));
        memcpy(t->vl, t->vc, (size_t)D * sizeof(double));
    }
    if (s->m > 0) {
        layernorm_rows(t->kl, (size_t)s->m, D, w->ln_s_w, w->ln_s_b);
        layernorm_rows(t->vl, (size_t)s->m, D, w->ln_s_w, w->ln_s_b);
    }
}

/* Key position of window column c for token n (step 5), or -1 when masked. */
static int ls_window_key(const ls_dims *s, const int *pad, int n, int c) {
    int p = (n / s->w) * s->w - s->e + c;
    if (p < 0 || p >= s->N || pad[p]) return -1;
    return p;
}

/* Steps 5-7: joint softmax over [landmarks ; window]; C rows of padded tokens are 0.
 * scores_out (may be NULL): [H,N,m+kw] pre-softmax scores of this batch row. */
static void ls_token_attention(const ls_dims *s, ls_work *t, double *scores_out) {
    int H = s->H, dh = s->dh, D = s->D, N = s->N, m = s->m, cols = s->m + s->kw;
    double *ct = t->c + (size_t)s->cls * (size_t)D;
    double *a = t->row;
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < H; h++) {
            const double *qn = t->q + head_at(n, h, D, dh);
            for (int j = 0; j < m; j++) a[j] = dot_d(qn, t->kl + head_at(j, h, D, dh), dh);
            for (int c = 0; c < s->kw; c++) {
                int p = ls_window_key(s, t->pad, n, c);
                a[m + c] = p < 0 ? -INFINITY : dot_d(qn, t->k + head_at(p, h, D, dh), dh);
            }
            if (scores_out)
                memcpy(scores_out + ((size_t)h * (size_t)N + (size_t)n) * (size_t)cols, a,
                       (size_t)cols * sizeof(double));
            double *o = ct + head_at(n, h, D, dh);
            for (int d = 0; d < dh; d++) o[d] = 0.0;
            if (t->pad[n]) continue; /* padded query: zeros, NaN-free even with no key */
            softmax_row(a, cols);
            for (int j = 0; j < m; j++) {
                const double *vj = t->vl + head_at(j, h, D, dh);
                for (int d = 0; d < dh; d++) o[d] += a[j] * vj[d];
            }
            for (int c = 0; c < s->kw; c++) {
                int p = ls_window_key(s, t->pad, n, c);
                if (p < 0) continue;
                const double *vp = t->v + head_at(p, h, D, dh);
                for (int d = 0; d < dh; d++) o[d] += a[m + c] * vp[d];
            }
        }
    }
}

/* Step 8: the CLS token attends to [raw Kc ; C[n]] with values [raw Vc ; C[n]] (C before conv). */
static void ls_cls_attention(const ls_dims *s, ls_work *t) {
    int H = s->H, dh = s->dh, D = s->D, N = s->N;
    const double *ct = t->c + (size_t)D;
    double *a = t->row;
    for (int h = 0; h < H; h++) {
        const double *qc = t->qc + (size_t)h * (size_t)dh;
        a[0] = dot_d(qc, t->kc + (size_t)h * (size_t)dh, dh);
        for (int n = 0; n < N; n++)
            a[1 + n] = t->pad[n] ? -INFINITY : dot_d(qc, ct + head_at(n, h, D, dh), dh);
        softmax_row(a, N + 1);
        double *o = t->c + (size_t)h * (size_t)dh; /* row 0 */
        const double *vc = t->vc + (size_t)h * (size_t)dh;
        for (int d = 0; d < dh; d++) o[d] = a[0] * vc[d];
        for (int n = 0; n < N; n++) {
            if (a[1 + n] == 0.0) continue;
            const double *cn = ct + (size_t)n * (size_t)D + (size_t)h * (size_t)dh;
            for (int d = 0; d < dh; d++) o[d] += a[1 + n] * cn[d];
        }
    }
}

/* Step 9: depthwise cross-correlation along the sequence on V with padded rows zeroed, zero
 * outside [0,N); result [H,N,dh] in t->conv, added to the token rows of C. */
static void ls_conv(const ls_dims *s, const float *kernel, ls_work *t) {
    int H = s->H, dh = s->dh, D = s->D, N = s->N, K = s->K, half = s->K / 2;
    double *ct = t->c + (size_t)s->cls * (size_t)D;
    for (int h = 0; h < H; h++) {
        for (int n = 0; n < N; n++) {
            double *o = t->conv + ((size_t)h * (size_t)N + (size_t)n) * (size_t)dh;
            for (int d = 0; d < dh; d++) o[d] = 0.0;
            for (int tap = 0; tap < K; tap++) {
                int p = n + tap - half;
                if (p < 0 || p >= N || t->pad[p]) continue;
                double wt = (double)kernel[(size_t)h * (size_t)K + (size_t)tap];
                const double *vp = t->v + head_at(p, h, D, dh);
                for (int d = 0; d < dh; d++) o[d] += wt * vp[d];
            }
            double *cn = ct + head_at(n, h, D, dh);
            for (int d = 0; d < dh; d++) cn[d] += o[d];
        }
    }
}

static int ls_weights_ok(const ls_dims *s, const lsvk_ref_ls_weights *w) {
    if (!w || !w->wq || !w->bq || !w->wk || !w->bk || !w->wv || !w->bv || !w->wo || !w->bo)
        return 0;
    if (!w->ln_l_w || !w->ln_l_b) return 0;
    if (s->m > 0 && (!w->ln_s_w || !w->ln_s_b)) return 0;
    if (s->r > 0 && (!w->wd || !w->bd)) return 0;
    if (s->K > 0 && !w->conv) return 0;
    return 1;
}

/* Copies this batch row's results into the requested debug arrays. */
static void ls_store_debug(const ls_dims *s, const ls_work *t, int b,
                           const lsvk_ref_ls_debug *dbg) {
    size_t D = (size_t)s->D, N = (size_t)s->N, H = (size_t)s->H, m = (size_t)s->m;
    if (dbg->dconv_probs && s->r > 0)
        memcpy(dbg->dconv_probs + (size_t)b * H * (size_t)s->r * N, t->p,
               H * (size_t)s->r * N * sizeof(double));
    if (dbg->k_landmarks && s->m > 0)
        memcpy(dbg->k_landmarks + (size_t)b * m * D, t->kl, m * D * sizeof(double));
    if (dbg->v_landmarks && s->m > 0)
        memcpy(dbg->v_landmarks + (size_t)b * m * D, t->vl, m * D * sizeof(double));
    if (dbg->k_full) memcpy(dbg->k_full + (size_t)b * N * D, t->k, N * D * sizeof(double));
    if (dbg->conv_out && s->K > 0)
        memcpy(dbg->conv_out + (size_t)b * H * N * (size_t)s->dh, t->conv,
               H * N * (size_t)s->dh * sizeof(double));
    if (dbg->attn_out)
        memcpy(dbg->attn_out + (size_t)b * (size_t)s->N0 * D, t->c,
               (size_t)s->N0 * D * sizeof(double));
}

int lsvk_ref_ls_bidir_debug(const lsvk_ls_config *cfg, const lsvk_ref_ls_weights *w, int B,
                            int N0, const float *x, const float *mask, double *out,
                            const lsvk_ref_ls_debug *dbg) {
    ls_dims s;
    ls_work t;
    if (B < 1 || !x || !out || ls_dims_make(cfg, N0, &s) != 0 || !ls_weights_ok(&s, w)) return -1;
    if (ls_work_alloc(&s, &t) != 0) return -1;
    size_t D = (size_t)s.D, rows = (size_t)N0;
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * rows * D;
        for (size_t i = 0; i < rows * D; i++) t.x[i] = (double)xb[i];
        for (int n = 0; n < s.N; n++) /* with cls, mask[0] (the CLS token's) is ignored */
            t.pad[n] = mask ? mask[(size_t)b * rows + (size_t)(s.cls + n)] == 0.0f : 0;

        ls_project(&s, w, &t);
        ls_landmarks(&s, w, &t);
        double *scores = NULL;
        if (dbg && dbg->scores)
            scores = dbg->scores + (size_t)b * (size_t)s.H * (size_t)s.N * (size_t)(s.m + s.kw);
        ls_token_attention(&s, &t, scores);
        if (s.cls) ls_cls_attention(&s, &t);
        if (s.K > 0) ls_conv(&s, w->conv, &t);
        linear_rows(t.c, rows, s.D, w->wo, w->bo, s.D, out + (size_t)b * rows * D);
        if (dbg) ls_store_debug(&s, &t, b, dbg);
    }
    ls_work_free(&t);
    return 0;
}

int lsvk_ref_ls_bidir(const lsvk_ls_config *cfg, const lsvk_ref_ls_weights *w, int B, int N0,
                      const float *x, const float *mask, double *out) {
    return lsvk_ref_ls_bidir_debug(cfg, w, B, N0, x, mask, out, NULL);
}
