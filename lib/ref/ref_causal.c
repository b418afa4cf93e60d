/* CPU references of ChunkedLSAttention and TransformerLSModel (the official
 * autoregressive/model_lib code), following shared/golden/README.md sections 4 and 5 step by step.
 * Plain loops; every intermediate and every sum is double. Feature f of a D-vector is head f / dh,
 * lane f % dh, so "split" and "merge" are only index arithmetic here.
 *
 * Instead of the reference's tiled/shifted tensors, every score is computed from its definition:
 * window slot m of query t is key position t-W+1+m (a cache row when negative), compressed vector
 * k of query chunk i is visible iff k < (M/cs + i)*r, at relative distance (M/cs + i)*r - 1 - k,
 * whose positional vector is sinus(distance) Wrc^T + brc. This gives the reference's values for
 * L a multiple of cs and extends them to any L (a final partial chunk only ever holds the query's
 * own chunk, which is never visible as a compressed vector). */
#include "ref/ref_causal.h"

#include "ref/ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-5

/* ---------------------------------------------------------------- small helpers */

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "lsvk_ref_causal: out of memory\n");
        abort();
    }
    return p;
}

static double *dalloc(size_t n) { return xcalloc(n, sizeof(double)); }

/* y[rows,out] = x[rows,in] w[out,in]^T + b[out]; b may be NULL. */
static void linear_rows(const double *x, size_t rows, size_t in, const float *w, const float *b,
                        size_t out, double *y) {
    for (size_t i = 0; i < rows; i++) {
        const double *xr = x + i * in;
        for (size_t o = 0; o < out; o++) {
            const float *wr = w + o * in;
            double acc = b ? (double)b[o] : 0.0;
            for (size_t c = 0; c < in; c++) acc += xr[c] * (double)wr[c];
            y[i * out + o] = acc;
        }
    }
}

/* In-place LayerNorm of each row of C values (biased variance, eps 1e-5). */
static void layernorm_rows(double *x, size_t rows, size_t C, const float *weight,
                           const float *bias) {
    for (size_t i = 0; i < rows; i++) {
        double *xr = x + i * C;
        double mean = 0.0, var = 0.0;
        for (size_t c = 0; c < C; c++) mean += xr[c];
        mean /= (double)C;
        for (size_t c = 0; c < C; c++) var += (xr[c] - mean) * (xr[c] - mean);
        var /= (double)C;
        double inv = 1.0 / sqrt(var + LN_EPS);
        for (size_t c = 0; c < C; c++)
            xr[c] = (xr[c] - mean) * inv * (double)weight[c] + (double)bias[c];
    }
}

/* In-place softmax of n values; -inf gets 0. */
static void softmax_row(double *s, size_t n) {
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (s[i] > mx) mx = s[i];
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        s[i] = s[i] == -INFINITY ? 0.0 : exp(s[i] - mx);
        sum += s[i];
    }
    for (size_t i = 0; i < n; i++) s[i] /= sum;
}

/* ---------------------------------------------------------------- positions */

void lsvk_ref_inv_freq(uint32_t D, float *out) {
    /* torch: 1 / (10000 ** (torch.arange(0.0, D, 2.0) / D)), all float32. */
    for (uint32_t i = 0; i < D / 2; i++) {
        float e = (float)(2 * i) / (float)D;
        out[i] = 1.0f / powf(10000.0f, e);
    }
}

void lsvk_ref_sinus(uint32_t D, const float *inv_freq, double p, double *out) {
    uint32_t half = D / 2;
    for (uint32_t i = 0; i < half; i++) {
        float f;
        if (inv_freq) {
            f = inv_freq[i];
        } else {
            float e = (float)(2 * i) / (float)D;
            f = 1.0f / powf(10000.0f, e);
        }
        double a = p * (double)f;
        out[i] = sin(a);
        out[half + i] = cos(a);
    }
}

int lsvk_ref_causal_n_chunk_vecs(const lsvk_causal_config *c, int L) {
    if (!c->chunk_size || L < 0) return 0;
    return (int)((c->mem_len / c->chunk_size + (uint32_t)L / c->chunk_size) * c->chunk_rank);
}

/* ---------------------------------------------------------------- attention (section 4) */

static int check_config(const lsvk_causal_config *c, const lsvk_ref_causal_weights *w, int B,
                        int L) {
    const char *why = NULL;
    if (!c->heads || !c->head_dim || c->dim != c->heads * c->head_dim) why = "D != H*dh";
    else if (c->dim % 2) why = "odd D";
    else if (!c->chunk_size || !c->chunk_rank) why = "chunk_size or chunk_rank 0";
    else if (c->mem_len % c->chunk_size) why = "mem_len not a multiple of chunk_size";
    else if (!c->window) why = "window 0";
    else if (c->mem_len < c->window) why = "mem_len < window";
    else if (B < 1 || L < 1) why = "B or L < 1";
    else if (!w->wq || !w->wk || !w->wv || !w->wo || !w->wd || !w->bd || !w->wr || !w->wrc ||
             !w->brc || !w->rwb || !w->rrb || !w->lnw_w || !w->lnw_b || !w->lnd_w || !w->lnd_b)
        why = "a required weight is NULL";
    else if (c->use_bias && (!w->bq || !w->bk || !w->bv || !w->bo))
        why = "use_bias without projection biases";
    if (why) {
        fprintf(stderr, "lsvk_ref_causal_attn: %s\n", why);
        return -1;
    }
    return 0;
}

/* Compresses chunks [0, n_chunks) of x [n_chunks*cs, D] with the scores S [n_chunks*cs, H*r]
 * (softmax over the cs tokens of each chunk, per head and rank) into y [n_chunks*r, D]. probs,
 * if not NULL, gets [H, n_chunks, r, cs]. */
static void compress(const lsvk_causal_config *c, const double *x, const double *S, int n_chunks,
                     double *y, double *probs) {
    size_t D = c->dim, H = c->heads, dh = c->head_dim, cs = c->chunk_size, r = c->chunk_rank;
    double *p = dalloc(cs);
    for (size_t ch = 0; ch < (size_t)n_chunks; ch++)
        for (size_t h = 0; h < H; h++)
            for (size_t j = 0; j < r; j++) {
                for (size_t t = 0; t < cs; t++) p[t] = S[(ch * cs + t) * H * r + h * r + j];
                softmax_row(p, cs);
                if (probs)
                    memcpy(probs + ((h * (size_t)n_chunks + ch) * r + j) * cs, p,
                           cs * sizeof(double));
                double *yr = y + (ch * r + j) * D + h * dh;
                for (size_t d = 0; d < dh; d++) {
                    double acc = 0.0;
                    for (size_t t = 0; t < cs; t++) acc += p[t] * x[(ch * cs + t) * D + h * dh + d];
                    yr[d] = acc;
                }
            }
    free(p);
}

int lsvk_ref_causal_attn_d(const lsvk_causal_config *c, const lsvk_ref_causal_weights *w,
                           const float *inv_freq, const double *h, const double *hc, int B, int L,
                           double *out, const lsvk_ref_causal_debug *dbg) {
    if (check_config(c, w, B, L)) return -1;
    const size_t D = c->dim, H = c->heads, dh = c->head_dim, cs = c->chunk_size;
    const size_t r = c->chunk_rank, W = c->window, M = c->mem_len, Lz = (size_t)L;
    const size_t Mc = M / cs, Lc = Lz / cs, Lq = (Lz + cs - 1) / cs;
    const size_t Ncache = Mc * r, Nc = (Mc + Lc) * r, nRc = (Mc + Lq) * r;
    const size_t NS = Nc + W; /* score columns */
    const double scale = 1.0 / sqrt((double)dh);
    lsvk_ref_causal_debug none;
    memset(&none, 0, sizeof none);
    if (!dbg) dbg = &none;

    /* Positional terms, shared by the batch: R[m] = sinus(W-1-m) Wr^T (window slot m),
     * Rc[d] = sinus(d) Wrc^T + brc (compressed vector at distance d). */
    double *pe = dalloc(D), *R = dalloc(W * D), *Rc = dalloc(nRc * D);
    for (size_t m = 0; m < W; m++) {
        lsvk_ref_sinus((uint32_t)D, inv_freq, (double)(W - 1 - m), pe);
        linear_rows(pe, 1, D, w->wr, NULL, D, R + m * D);
    }
    for (size_t d = 0; d < nRc; d++) {
        lsvk_ref_sinus((uint32_t)D, inv_freq, (double)d, pe);
        linear_rows(pe, 1, D, w->wrc, w->brc, D, Rc + d * D);
    }

    double *q = dalloc(Lz * D), *kb = dalloc(Lz * D), *vb = dalloc(Lz * D);
    double *kw = dalloc((W + Lz) * D), *vw = dalloc((W + Lz) * D);
    double *Sc = dalloc(M * H * r), *Sb = dalloc(Lz * H * r);
    double *hcc = dalloc(Ncache * D);
    double *kc = dalloc((Nc + 1) * D), *vc = dalloc((Nc + 1) * D);
    double *s = dalloc(NS), *qw = dalloc(dh), *qr = dalloc(dh), *att = dalloc(Lz * D);

    for (size_t b = 0; b < (size_t)B; b++) {
        const double *x = h + b * Lz * D, *xc = hc + b * M * D;

        /* 1. queries, block projections */
        linear_rows(x, Lz, D, w->wq, c->use_bias ? w->bq : NULL, D, q);
        for (size_t i = 0; i < Lz * D; i++) q[i] *= scale;
        linear_rows(x, Lz, D, w->wk, c->use_bias ? w->bk : NULL, D, kb);
        linear_rows(x, Lz, D, w->wv, c->use_bias ? w->bv : NULL, D, vb);

        /* 6. window keys/values: last W cache rows projected, then the block; LN_win */
        linear_rows(xc + (M - W) * D, W, D, w->wk, c->use_bias ? w->bk : NULL, D, kw);
        linear_rows(xc + (M - W) * D, W, D, w->wv, c->use_bias ? w->bv : NULL, D, vw);
        memcpy(kw + W * D, kb, Lz * D * sizeof(double));
        memcpy(vw + W * D, vb, Lz * D * sizeof(double));
        layernorm_rows(kw, W + Lz, D, w->lnw_w, w->lnw_b);
        layernorm_rows(vw, W + Lz, D, w->lnw_w, w->lnw_b);

        /* 3. cache: compressed before the projection, scores from the raw cache */
        linear_rows(xc, M, D, w->wd, w->bd, H * r, Sc);
        compress(c, xc, Sc, (int)Mc, hcc,
                 dbg->cache_chunk_probs ? dbg->cache_chunk_probs + b * H * Mc * r * cs : NULL);
        linear_rows(hcc, Ncache, D, w->wk, c->use_bias ? w->bk : NULL, D, kc);
        linear_rows(hcc, Ncache, D, w->wv, c->use_bias ? w->bv : NULL, D, vc);

        /* 4. block: compressed after the projection, scores from the block's input */
        linear_rows(x, Lz, D, w->wd, w->bd, H * r, Sb);
        double *bprobs = dbg->block_chunk_probs ? dbg->block_chunk_probs + b * H * Lc * r * cs
                                                : NULL;
        compress(c, kb, Sb, (int)Lc, kc + Ncache * D, bprobs);
        compress(c, vb, Sb, (int)Lc, vc + Ncache * D, NULL);
        layernorm_rows(kc, Nc, D, w->lnd_w, w->lnd_b);
        layernorm_rows(vc, Nc, D, w->lnd_w, w->lnd_b);

        if (dbg->key_compressed) memcpy(dbg->key_compressed + b * Nc * D, kc, Nc * D * sizeof(double));
        if (dbg->val_compressed) memcpy(dbg->val_compressed + b * Nc * D, vc, Nc * D * sizeof(double));
        if (dbg->key_window)
            memcpy(dbg->key_window + b * (W + Lz) * D, kw, (W + Lz) * D * sizeof(double));
        if (dbg->val_window)
            memcpy(dbg->val_window + b * (W + Lz) * D, vw, (W + Lz) * D * sizeof(double));

        /* 7-10. scores, one joint softmax, weighted sum */
        for (size_t t = 0; t < Lz; t++) {
            const size_t vis = (Mc + t / cs) * r; /* visible compressed vectors */
            for (size_t hh = 0; hh < H; hh++) {
                const size_t ho = hh * dh;
                const double *qt = q + t * D + ho;
                for (size_t d = 0; d < dh; d++) {
                    qw[d] = qt[d] + (double)w->rwb[ho + d];
                    qr[d] = qt[d] + (double)w->rrb[ho + d];
                }
                for (size_t k = 0; k < Nc; k++) {
                    if (k >= vis) {
                        s[k] = -INFINITY;
                        continue;
                    }
                    const double *kk = kc + k * D + ho, *rc = Rc + (vis - 1 - k) * D + ho;
                    double acc = 0.0;
                    for (size_t d = 0; d < dh; d++) acc += qt[d] * kk[d] + qt[d] * rc[d];
                    s[k] = acc;
                }
                for (size_t m = 0; m < W; m++) {
                    const double *kk = kw + (t + 1 + m) * D + ho, *rr = R + m * D + ho;
                    double acc = 0.0;
                    for (size_t d = 0; d < dh; d++) acc += qw[d] * kk[d] + qr[d] * rr[d];
                    s[Nc + m] = acc;
                }
                if (dbg->scores)
                    memcpy(dbg->scores + ((b * H + hh) * Lz + t) * NS, s, NS * sizeof(double));
                softmax_row(s, NS);
                double *o = att + t * D + ho;
                for (size_t d = 0; d < dh; d++) {
                    double acc = 0.0;
                    for (size_t k = 0; k < vis && k < Nc; k++) acc += s[k] * vc[k * D + ho + d];
                    for (size_t m = 0; m < W; m++) acc += s[Nc + m] * vw[(t + 1 + m) * D + ho + d];
                    o[d] = acc;
                }
            }
        }
        if (dbg->attn_out) memcpy(dbg->attn_out + b * Lz * D, att, Lz * D * sizeof(double));
        linear_rows(att, Lz, D, w->wo, c->use_bias ? w->bo : NULL, D, out + b * Lz * D);
    }

    free(pe); free(R); free(Rc); free(q); free(kb); free(vb); free(kw); free(vw); free(Sc);
    free(Sb); free(hcc); free(kc); free(vc); free(s); free(qw); free(qr); free(att);
    return 0;
}

void lsvk_ref_causal_attn(const lsvk_causal_config *c, const lsvk_ref_causal_weights *w,
                          const float *inv_freq, const float *h, const float *hc, int B, int L,
                          float *out) {
    if (check_config(c, w, B, L)) {
        if (B > 0 && L > 0)
            for (size_t i = 0; i < (size_t)B * (size_t)L * c->dim; i++) out[i] = NAN;
        return;
    }
    size_t nh = (size_t)B * (size_t)L * c->dim, nc = (size_t)B * c->mem_len * c->dim;
    double *hd = dalloc(nh), *hcd = dalloc(nc), *od = dalloc(nh);
    for (size_t i = 0; i < nh; i++) hd[i] = (double)h[i];
    for (size_t i = 0; i < nc; i++) hcd[i] = (double)hc[i];
    lsvk_ref_causal_attn_d(c, w, inv_freq, hd, hcd, B, L, od, NULL);
    for (size_t i = 0; i < nh; i++) out[i] = (float)od[i];
    free(hd); free(hcd); free(od);
}

/* ---------------------------------------------------------------- model (section 5) */

lsvk_causal_config lsvk_ref_lm_attn_config(const lsvk_lm_config *c) {
    lsvk_causal_config a;
    memset(&a, 0, sizeof a);
    a.dim = c->dim;
    a.heads = c->heads;
    a.head_dim = c->heads ? c->dim / c->heads : 0;
    a.chunk_size = c->chunk_size;
    a.chunk_rank = c->chunk_rank;
    a.window = c->window;
    a.mem_len = c->mem_len;
    a.use_bias = c->use_bias;
    return a;
}

int lsvk_ref_lm_forward_d(const lsvk_lm_config *c, const lsvk_ref_lm_weights *w,
                          const int32_t *tokens, int B, int L, float *const *caches,
                          double *logprobs, double *const *layer_out) {
    lsvk_causal_config ac = lsvk_ref_lm_attn_config(c);
    if (!c->vocab || !c->inner || !c->layers || !w->emb || !w->out_bias || !w->layers) {
        fprintf(stderr, "lsvk_ref_lm_forward: bad config or missing weights\n");
        return -1;
    }
    for (uint32_t l = 0; l < c->layers; l++) {
        const lsvk_ref_lm_layer *ly = &w->layers[l];
        if (check_config(&ac, &ly->attn, B, L)) return -1;
        if (!ly->n1w || !ly->n1b || !ly->n2w || !ly->n2b || !ly->fc1w || !ly->fc1b || !ly->fc2w ||
            !ly->fc2b || !caches[l]) {
            fprintf(stderr, "lsvk_ref_lm_forward: layer %u: missing weights or cache\n", l);
            return -1;
        }
    }
    for (size_t i = 0; i < (size_t)B * (size_t)L; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->vocab) {
            fprintf(stderr, "lsvk_ref_lm_forward: token %d out of range\n", (int)tokens[i]);
            return -1;
        }

    const size_t D = c->dim, V = c->vocab, I = c->inner, M = c->mem_len, Lz = (size_t)L;
    const size_t rows = (size_t)B * Lz;
    double *x = dalloc(rows * D), *a = dalloc(rows * D), *att = dalloc(rows * D);
    double *hcd = dalloc((size_t)B * M * D), *f = dalloc(rows * I), *y = dalloc(rows * D);

    const double emb_scale = sqrt((double)D);
    for (size_t i = 0; i < rows; i++)
        for (size_t d = 0; d < D; d++)
            x[i * D + d] = (double)w->emb[(size_t)tokens[i] * D + d] * emb_scale;

    for (uint32_t l = 0; l < c->layers; l++) {
        const lsvk_ref_lm_layer *ly = &w->layers[l];
        float *cache = caches[l];
        for (size_t i = 0; i < (size_t)B * M * D; i++) hcd[i] = (double)cache[i];
        /* next cache: last M rows of [cache ; layer input] */
        for (size_t b = 0; b < (size_t)B; b++)
            for (size_t i = 0; i < M; i++) {
                size_t src = Lz + i; /* row in [cache (M rows) ; block (L rows)] */
                const double *row = src < M ? hcd + (b * M + src) * D : x + (b * Lz + src - M) * D;
                for (size_t d = 0; d < D; d++) cache[(b * M + i) * D + d] = (float)row[d];
            }
        /* pre-LN: the attention sees LN1 of the block and of the cache */
        memcpy(a, x, rows * D * sizeof(double));
        layernorm_rows(a, rows, D, ly->n1w, ly->n1b);
        layernorm_rows(hcd, (size_t)B * M, D, ly->n1w, ly->n1b);
        lsvk_ref_causal_attn_d(&ac, &ly->attn, w->inv_freq, a, hcd, B, L, att, NULL);
        for (size_t i = 0; i < rows * D; i++) a[i] += att[i]; /* residual on the normalised input */
        layernorm_rows(a, rows, D, ly->n2w, ly->n2b);
        linear_rows(a, rows, D, ly->fc1w, ly->fc1b, I, f);
        for (size_t i = 0; i < rows * I; i++) f[i] = lsvk_ref_gelu1(f[i]);
        linear_rows(f, rows, I, ly->fc2w, ly->fc2b, D, y);
        for (size_t i = 0; i < rows * D; i++) x[i] = a[i] + y[i];
        if (layer_out && layer_out[l]) memcpy(layer_out[l], x, rows * D * sizeof(double));
    }

    if (logprobs) {
        for (size_t i = 0; i < rows; i++) {
            double *lp = logprobs + i * V;
            linear_rows(x + i * D, 1, D, w->emb, w->out_bias, V, lp);
            double mx = -INFINITY, sum = 0.0;
            for (size_t v = 0; v < V; v++)
                if (lp[v] > mx) mx = lp[v];
            for (size_t v = 0; v < V; v++) sum += exp(lp[v] - mx);
            double lse = mx + log(sum);
            for (size_t v = 0; v < V; v++) lp[v] -= lse;
        }
    }
    free(x); free(a); free(att); free(hcd); free(f); free(y);
    return 0;
}

void lsvk_ref_lm_forward(const lsvk_lm_config *c, const lsvk_ref_lm_weights *w,
                         const int32_t *tokens, int B, int L, float *const *caches,
                         float *logprobs) {
    size_t n = B > 0 && L > 0 ? (size_t)B * (size_t)L * c->vocab : 0;
    double *lp = logprobs ? dalloc(n) : NULL;
    int rc = lsvk_ref_lm_forward_d(c, w, tokens, B, L, caches, lp, NULL);
    if (logprobs)
        for (size_t i = 0; i < n; i++) logprobs[i] = rc == 0 ? (float)lp[i] : NAN;
    free(lp);
}

/* ---------------------------------------------------------------- loading */

struct lsvk_ref_store {
    float **arrays;
    size_t n, cap;
    lsvk_ref_lm_layer *layers;
};

static lsvk_ref_store *store_new(void) { return xcalloc(1, sizeof(lsvk_ref_store)); }

void lsvk_ref_store_free(lsvk_ref_store *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->arrays[i]);
    free(s->arrays);
    free(s->layers);
    free(s);
}

/* Reads prefix+name as floats; d0/d1 give the expected shape ([d0] if d1 == 0, [d0,d1]
 * otherwise); numel_only compares the element count only. NULL with a message on failure. */
static const float *load(lsvk_ref_store *s, const lsvk_safetensors *st, const char *prefix,
                         const char *name, size_t d0, size_t d1, int numel_only) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
    lsvk_st_tensor t;
    if (lsvk_safetensors_find(st, full, &t) != LSVK_SUCCESS) {
        fprintf(stderr, "lsvk_ref: tensor %s not found\n", full);
        return NULL;
    }
    size_t want = d1 ? d0 * d1 : d0;
    int ok = (size_t)t.numel == want;
    if (ok && !numel_only)
        ok = d1 ? (t.rank == 2 && (size_t)t.shape[0] == d0 && (size_t)t.shape[1] == d1)
                : (t.rank == 1 && (size_t)t.shape[0] == d0);
    if (!ok) {
        fprintf(stderr, "lsvk_ref: tensor %s has the wrong shape (want [%zu%s%.0zu])\n", full, d0,
                d1 ? "," : "", d1);
        return NULL;
    }
    float *data = xcalloc(want, sizeof(float));
    lsvk_status rc = lsvk_safetensors_read_f32(st, full, data, want);
    if (rc != LSVK_SUCCESS) {
        fprintf(stderr, "lsvk_ref: cannot read %s: %s\n", full, lsvk_last_error());
        free(data);
        return NULL;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        float **a = realloc(s->arrays, cap * sizeof *a);
        if (!a) {
            fprintf(stderr, "lsvk_ref: out of memory\n");
            abort();
        }
        s->arrays = a;
        s->cap = cap;
    }
    s->arrays[s->n++] = data;
    return data;
}

static int load_attn(lsvk_ref_store *s, const lsvk_safetensors *st, const char *prefix,
                     const lsvk_causal_config *c, lsvk_ref_causal_weights *w) {
    size_t D = c->dim, Hr = (size_t)c->heads * c->chunk_rank;
    memset(w, 0, sizeof *w);
    w->wq = load(s, st, prefix, "proj_query.weight", D, D, 0);
    w->wk = load(s, st, prefix, "proj_key.weight", D, D, 0);
    w->wv = load(s, st, prefix, "proj_val.weight", D, D, 0);
    w->wo = load(s, st, prefix, "proj_out.weight", D, D, 0);
    int ok = w->wq && w->wk && w->wv && w->wo;
    if (c->use_bias) {
        w->bq = load(s, st, prefix, "proj_query.bias", D, 0, 0);
        w->bk = load(s, st, prefix, "proj_key.bias", D, 0, 0);
        w->bv = load(s, st, prefix, "proj_val.bias", D, 0, 0);
        w->bo = load(s, st, prefix, "proj_out.bias", D, 0, 0);
        ok = ok && w->bq && w->bk && w->bv && w->bo;
    }
    w->wd = load(s, st, prefix, "dconv_1.weight", Hr, D, 0);
    w->bd = load(s, st, prefix, "dconv_1.bias", Hr, 0, 0);
    w->wr = load(s, st, prefix, "r_net.weight", D, D, 0);
    w->wrc = load(s, st, prefix, "r_net_chunk.weight", D, D, 0);
    w->brc = load(s, st, prefix, "r_net_chunk.bias", D, 0, 0);
    w->rwb = load(s, st, prefix, "r_w_bias", D, 0, 1);
    w->rrb = load(s, st, prefix, "r_r_bias", D, 0, 1);
    w->lnw_w = load(s, st, prefix, "dual_ln_win.weight", D, 0, 0);
    w->lnw_b = load(s, st, prefix, "dual_ln_win.bias", D, 0, 0);
    w->lnd_w = load(s, st, prefix, "dual_ln_dproj.weight", D, 0, 0);
    w->lnd_b = load(s, st, prefix, "dual_ln_dproj.bias", D, 0, 0);
    ok = ok && w->wd && w->bd && w->wr && w->wrc && w->brc && w->rwb && w->rrb && w->lnw_w &&
         w->lnw_b && w->lnd_w && w->lnd_b;
    return ok ? 0 : -1;
}

int lsvk_ref_causal_weights_load(const lsvk_safetensors *st, const char *prefix,
                                 const lsvk_causal_config *c, lsvk_ref_causal_weights *w,
                                 lsvk_ref_store **store) {
    lsvk_ref_store *s = store_new();
    *store = NULL;
    if (load_attn(s, st, prefix, c, w)) {
        lsvk_ref_store_free(s);
        memset(w, 0, sizeof *w);
        return -1;
    }
    *store = s;
    return 0;
}

int lsvk_ref_lm_weights_load(const lsvk_safetensors *st, const lsvk_lm_config *c,
                             lsvk_ref_lm_weights *w, lsvk_ref_store **store) {
    *store = NULL;
    memset(w, 0, sizeof *w);
    if (!c->layers || !c->heads || !c->dim || c->dim % c->heads) {
        fprintf(stderr, "lsvk_ref_lm_weights_load: bad config\n");
        return -1;
    }
    lsvk_ref_store *s = store_new();
    const size_t D = c->dim, V = c->vocab, I = c->inner;
    lsvk_causal_config ac = lsvk_ref_lm_attn_config(c);
    int ok;
    w->emb = load(s, st, "", "in_emb.weight", V, D, 0);
    w->out_bias = load(s, st, "", "out_emb.bias", V, 0, 0);
    ok = w->emb && w->out_bias;
    lsvk_st_tensor t;
    if (ok && lsvk_safetensors_find(st, "out_emb.weight", &t) == LSVK_SUCCESS) {
        /* tied in the reference: a file with a different output matrix is not this model */
        const float *ow = load(s, st, "", "out_emb.weight", V, D, 0);
        ok = ow && memcmp(ow, w->emb, V * D * sizeof(float)) == 0;
        if (ow && !ok) fprintf(stderr, "lsvk_ref: out_emb.weight differs from in_emb.weight\n");
    }
    if (ok && lsvk_safetensors_find(st, "pos_emb.inv_freq", &t) == LSVK_SUCCESS) {
        w->inv_freq = load(s, st, "", "pos_emb.inv_freq", D / 2, 0, 0);
        ok = w->inv_freq != NULL;
    }
    s->layers = xcalloc(c->layers, sizeof *s->layers);
    for (uint32_t l = 0; ok && l < c->layers; l++) {
        lsvk_ref_lm_layer *ly = &s->layers[l];
        char p[64];
        snprintf(p, sizeof p, "layers.%u.attn.", l);
        ok = load_attn(s, st, p, &ac, &ly->attn) == 0;
        snprintf(p, sizeof p, "layers.%u.", l);
        ly->n1w = load(s, st, p, "norm1.weight", D, 0, 0);
        ly->n1b = load(s, st, p, "norm1.bias", D, 0, 0);
        ly->n2w = load(s, st, p, "norm2.weight", D, 0, 0);
        ly->n2b = load(s, st, p, "norm2.bias", D, 0, 0);
        ly->fc1w = load(s, st, p, "ff.fc1.weight", I, D, 0);
        ly->fc1b = load(s, st, p, "ff.fc1.bias", I, 0, 0);
        ly->fc2w = load(s, st, p, "ff.fc2.weight", D, I, 0);
        ly->fc2b = load(s, st, p, "ff.fc2.bias", D, 0, 0);
        ok = ok && ly->n1w && ly->n1b && ly->n2w && ly->n2b && ly->fc1w && ly->fc1b && ly->fc2w &&
             ly->fc2b;
    }
    if (!ok) {
        lsvk_ref_store_free(s);
        memset(w, 0, sizeof *w);
        return -1;
    }
    w->layers = s->layers;
    *store = s;
    return 0;
}
