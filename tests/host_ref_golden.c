/* The CPU references of full attention and of the bidirectional long-short layer
 * (lib/ref/ref_attention.c) against the golden files of the official PyTorch implementation, plus
 * self-consistency checks: a hand-computed bidir case (mean and cls), bidir with one window that
 * covers the whole sequence equals full attention on LN'd keys and values, mask NULL equals an
 * all-ones mask, and invalid configs are refused. The references are double precision and the
 * golden files are float64 results rounded to float32, so the bound is 1e-6 (expect ~1e-7). */
#include "golden_util.h"
#include "ref/ref.h"
#include "ref/ref_attention.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LSVK_TEST_DATA
#define LSVK_TEST_DATA "tests"
#endif

#define REF_BOUND 1e-6

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static double *alloc_d(size_t n) { return xmalloc(n * sizeof(double)); }

/* Compares an intermediate with the file's debug tensor of that name, if the file has one. */
static void check_debug(const golden_file *g, const char *name, const double *mine, size_t n) {
    size_t count = 0;
    float *gold = golden_tensor(g, name, NULL, NULL, &count);
    if (!gold) return;
    if (TU_CHECK(count == n, "%s: %s has %zu elements, reference %zu", golden_case(g), name, count,
                 n)) {
        double err = golden_rel_err(mine, gold, n);
        printf("    %-20s %.3e\n", name, err);
        TU_CHECK(err <= REF_BOUND, "%s: %s rel err %.3e > %.0e", golden_case(g), name, err,
                 REF_BOUND);
    }
    free(gold);
}

/* Every row of the mask holds valid_lengths[b] leading ones and zeros after them. */
static void check_mask_matches_lengths(const golden_file *g, const float *mask, int B, int N0) {
    long long len[64];
    int n = golden_cfg_int_list(g, "valid_lengths", len, 64);
    if (n < 0) return; /* null: no mask */
    if (!TU_CHECK(n == B, "%s: %d valid_lengths for B = %d", golden_case(g), n, B)) return;
    for (int b = 0; b < B; b++) {
        int ok = 1;
        for (int i = 0; i < N0; i++)
            ok &= mask[(size_t)b * (size_t)N0 + (size_t)i] == (i < len[b] ? 1.0f : 0.0f);
        TU_CHECK(ok, "%s: mask row %d is not %lld ones then zeros", golden_case(g), b, len[b]);
    }
}

/* ---------------------------------------------------------------- golden: bidir */

typedef struct bidir_params {
    float *x, *mask, *gold;
    float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
    float *ln_l_w, *ln_l_b, *ln_s_w, *ln_s_b, *wd, *bd, *conv;
} bidir_params;

static void bidir_params_free(bidir_params *p) {
    float **all[] = {&p->x, &p->mask, &p->gold, &p->wq, &p->bq, &p->wk, &p->bk, &p->wv, &p->bv,
                     &p->wo, &p->bo, &p->ln_l_w, &p->ln_l_b, &p->ln_s_w, &p->ln_s_b, &p->wd,
                     &p->bd, &p->conv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

/* Loads inputs and parameters with their documented shapes. 0 if everything required is there. */
static int bidir_load(const golden_file *g, const lsvk_ls_config *c, int B, int N0,
                      bidir_params *p) {
    int64_t D = c->dim, H = c->heads, r = c->landmarks, K = c->conv_kernel;
    int64_t sx[3] = {B, N0, D}, sm[2] = {B, N0}, sw[2] = {D, D}, sb[1] = {D};
    int64_t sdw[2] = {H * r, D}, sdb[1] = {H * r}, sc[4] = {H, 1, K, 1};
    memset(p, 0, sizeof *p);
    p->x = golden_tensor_expect(g, "input.X", 3, sx);
    p->mask = golden_tensor_expect(g, "input.mask", 2, sm);
    p->gold = golden_tensor_expect(g, "output", 3, sx);
    p->wq = golden_tensor_expect(g, "W_q.weight", 2, sw);
    p->bq = golden_tensor_expect(g, "W_q.bias", 1, sb);
    p->wk = golden_tensor_expect(g, "W_k.weight", 2, sw);
    p->bk = golden_tensor_expect(g, "W_k.bias", 1, sb);
    p->wv = golden_tensor_expect(g, "W_v.weight", 2, sw);
    p->bv = golden_tensor_expect(g, "W_v.bias", 1, sb);
    p->wo = golden_tensor_expect(g, "W_o.weight", 2, sw);
    p->bo = golden_tensor_expect(g, "W_o.bias", 1, sb);
    p->ln_l_w = golden_tensor_expect(g, "dual_ln_l.weight", 1, sb);
    p->ln_l_b = golden_tensor_expect(g, "dual_ln_l.bias", 1, sb);
    p->ln_s_w = golden_tensor_expect(g, "dual_ln_s.weight", 1, sb);
    p->ln_s_b = golden_tensor_expect(g, "dual_ln_s.bias", 1, sb);
    int ok = p->x && p->mask && p->gold && p->wq && p->bq && p->wk && p->bk && p->wv && p->bv &&
             p->wo && p->bo && p->ln_l_w && p->ln_l_b && p->ln_s_w && p->ln_s_b;
    if (r > 0) {
        p->wd = golden_tensor_expect(g, "dconv_fc.weight", 2, sdw);
        p->bd = golden_tensor_expect(g, "dconv_fc.bias", 1, sdb);
        ok = ok && p->wd && p->bd;
    } else {
        ok = ok && TU_CHECK(!golden_has(g, "dconv_fc.weight"), "%s: dconv_fc with r = 0",
                            golden_case(g));
    }
    if (K > 0) {
        p->conv = golden_tensor_expect(g, "conv.weight", 4, sc);
        ok = ok && p->conv;
    } else {
        ok = ok && TU_CHECK(!golden_has(g, "conv.weight"), "%s: conv.weight with K <= 0",
                            golden_case(g));
    }
    return ok ? 0 : -1;
}

static void test_bidir_file(const char *name) {
    golden_file *g = golden_open_case(LSVK_TEST_DATA, name);
    if (!TU_CHECK(g != NULL, "cannot open golden file %s", name)) return;
    lsvk_ls_config c;
    int B = 0, N0 = 0, N = 0, m = 0, kw = 0;
    bidir_params p;
    memset(&p, 0, sizeof p);
    if (!TU_CHECK(golden_ls_config(g, &c, &B, &N0) == 0, "%s: config", name)) goto done;
    TU_CHECK(strcmp(golden_variant(g), "bidir") == 0 && strcmp(golden_case(g), name) == 0,
             "%s: metadata variant '%s' case '%s'", name, golden_variant(g), golden_case(g));
    if (!TU_CHECK(lsvk_ref_ls_shape(&c, N0, &N, &m, &kw) == 0, "%s: config refused", name))
        goto done;
    TU_CHECK(golden_cfg_int_or(g, "seq_len", -1) == N, "%s: seq_len != total_tokens - cls", name);
    if (!TU_CHECK(bidir_load(g, &c, B, N0, &p) == 0, "%s: missing or misshapen tensors", name))
        goto done;
    check_mask_matches_lengths(g, p.mask, B, N0);

    size_t D = c.dim, H = c.heads, r = c.landmarks, dh = c.head_dim;
    size_t n_out = (size_t)B * (size_t)N0 * D;
    lsvk_ref_ls_weights w = {p.wq, p.bq, p.wk, p.bk, p.wv, p.bv, p.wo, p.bo,
                             p.ln_l_w, p.ln_l_b, p.ln_s_w, p.ln_s_b, p.wd, p.bd, p.conv};
    lsvk_ref_ls_debug dbg;
    dbg.dconv_probs = alloc_d((size_t)B * H * r * (size_t)N);
    dbg.k_landmarks = alloc_d((size_t)B * (size_t)m * D);
    dbg.v_landmarks = alloc_d((size_t)B * (size_t)m * D);
    dbg.k_full = alloc_d((size_t)B * (size_t)N * D);
    dbg.scores = alloc_d((size_t)B * H * (size_t)N * (size_t)(m + kw));
    dbg.conv_out = alloc_d((size_t)B * H * (size_t)N * dh);
    dbg.attn_out = alloc_d(n_out);
    double *out = alloc_d(n_out);

    int rc = lsvk_ref_ls_bidir_debug(&c, &w, B, N0, p.x, p.mask, out, &dbg);
    if (TU_CHECK(rc == 0, "%s: reference returned %d", name, rc)) {
        double err = golden_rel_err(out, p.gold, n_out);
        printf("%-22s output rel err %.3e (bound %.0e; f32 torch %s)\n", name, err, REF_BOUND,
               golden_meta(g, "f32_torch_rel_err") ? golden_meta(g, "f32_torch_rel_err") : "?");
        TU_CHECK(err <= REF_BOUND, "%s: output rel err %.3e > %.0e", name, err, REF_BOUND);
        check_debug(g, "debug.dconv_probs", dbg.dconv_probs, (size_t)B * H * r * (size_t)N);
        check_debug(g, "debug.K_landmarks", dbg.k_landmarks, (size_t)B * (size_t)m * D);
        check_debug(g, "debug.V_landmarks", dbg.v_landmarks, (size_t)B * (size_t)m * D);
        check_debug(g, "debug.K_full", dbg.k_full, (size_t)B * (size_t)N * D);
        check_debug(g, "debug.scores", dbg.scores, (size_t)B * H * (size_t)N * (size_t)(m + kw));
        check_debug(g, "debug.conv_out", dbg.conv_out, (size_t)B * H * (size_t)N * dh);
        check_debug(g, "debug.attn_out", dbg.attn_out, n_out);

        /* Without the mask argument's padding (NULL = all real) the result must change only if
         * the file has padding. */
        double *out_nomask = alloc_d(n_out);
        TU_CHECK(lsvk_ref_ls_bidir(&c, &w, B, N0, p.x, NULL, out_nomask) == 0, "%s: mask NULL",
                 name);
        int any_pad = 0;
        for (size_t i = 0; i < (size_t)B * (size_t)N0; i++)
            any_pad |= p.mask[i] == 0.0f && !(c.cls && i % (size_t)N0 == 0);
        int same = memcmp(out, out_nomask, n_out * sizeof(double)) == 0;
        TU_CHECK(same == !any_pad, "%s: mask NULL %s the all-real result", name,
                 same ? "equals (with padding)" : "differs from");
        free(out_nomask);
    }
    free(dbg.dconv_probs); free(dbg.k_landmarks); free(dbg.v_landmarks); free(dbg.k_full);
    free(dbg.scores); free(dbg.conv_out); free(dbg.attn_out); free(out);
done:
    bidir_params_free(&p);
    golden_close(g);
}

/* ---------------------------------------------------------------- golden: full */

static void test_full_file(const char *name) {
    golden_file *g = golden_open_case(LSVK_TEST_DATA, name);
    if (!TU_CHECK(g != NULL, "cannot open golden file %s", name)) return;
    long long B, H, N, dh;
    int causal = 0;
    float *q = NULL, *k = NULL, *v = NULL, *mask = NULL, *gold = NULL;
    int cfg_ok = golden_cfg_int(g, "B", &B) == 0 && golden_cfg_int(g, "num_heads", &H) == 0 &&
                 golden_cfg_int(g, "seq_len", &N) == 0 && golden_cfg_int(g, "head_dim", &dh) == 0 &&
                 golden_cfg_bool(g, "causal", &causal) == 0;
    if (!TU_CHECK(strcmp(golden_variant(g), "full") == 0, "%s: variant %s", name,
                  golden_variant(g)) ||
        !TU_CHECK(cfg_ok, "%s: config", name))
        goto done;
    int64_t s4[4] = {B, H, N, dh}, s2[2] = {B, N};
    q = golden_tensor_expect(g, "input.Q", 4, s4);
    k = golden_tensor_expect(g, "input.K", 4, s4);
    v = golden_tensor_expect(g, "input.V", 4, s4);
    gold = golden_tensor_expect(g, "output", 4, s4);
    if (golden_has(g, "input.mask")) {
        mask = golden_tensor_expect(g, "input.mask", 2, s2);
        if (!TU_CHECK(mask != NULL, "%s: input.mask", name)) goto done;
        check_mask_matches_lengths(g, mask, (int)B, (int)N);
    } else {
        TU_CHECK(golden_cfg_int_list(g, "valid_lengths", NULL, 0) < 0, "%s: lengths without mask",
                 name);
    }
    if (!TU_CHECK(q && k && v && gold, "%s: missing or misshapen tensors", name)) goto done;
    size_t n = (size_t)(B * H * N * dh);
    double *out = alloc_d(n);
    lsvk_ref_attention((int)B, (int)H, (int)N, (int)dh, q, k, v, mask, causal, out);
    double err = golden_rel_err(out, gold, n);
    printf("%-22s output rel err %.3e (bound %.0e; f32 torch %s)\n", name, err, REF_BOUND,
           golden_meta(g, "f32_torch_rel_err") ? golden_meta(g, "f32_torch_rel_err") : "?");
    TU_CHECK(err <= REF_BOUND, "%s: output rel err %.3e > %.0e", name, err, REF_BOUND);
    free(out);
done:
    free(q); free(k); free(v); free(mask); free(gold);
    golden_close(g);
}

/* ---------------------------------------------------------------- self-consistency */

/* Full attention: mask NULL is exactly an all-ones mask, causal or not; padded query rows are 0. */
static void test_full_mask_null(tu_rng *rng) {
    enum { B = 2, H = 3, N = 17, DH = 8 };
    size_t n = (size_t)B * H * N * DH;
    float *q = xmalloc(n * sizeof(float)), *k = xmalloc(n * sizeof(float));
    float *v = xmalloc(n * sizeof(float));
    float ones[B * N], part[B * N];
    double *a = alloc_d(n), *b = alloc_d(n);
    tu_fill_randn(rng, q, n, 1.0f);
    tu_fill_randn(rng, k, n, 1.0f);
    tu_fill_randn(rng, v, n, 1.0f);
    for (int i = 0; i < B * N; i++) {
        ones[i] = 1.0f;
        part[i] = (i / N == 1 && i % N >= 11) ? 0.0f : 1.0f;
    }
    for (int causal = 0; causal < 2; causal++) {
        lsvk_ref_attention(B, H, N, DH, q, k, v, NULL, causal, a);
        lsvk_ref_attention(B, H, N, DH, q, k, v, ones, causal, b);
        TU_CHECK(memcmp(a, b, n * sizeof(double)) == 0, "full causal=%d: mask NULL != all-ones",
                 causal);
        lsvk_ref_attention(B, H, N, DH, q, k, v, part, causal, b);
        int zero_rows = 1, finite = 1;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < N; i++)
                for (int d = 0; d < DH; d++) {
                    double x = b[(((size_t)1 * H + (size_t)h) * N + (size_t)i) * DH + (size_t)d];
                    finite &= isfinite(x);
                    if (i >= 11) zero_rows &= x == 0.0;
                }
        TU_CHECK(zero_rows && finite, "full causal=%d: padded query rows not zero", causal);
    }
    /* Causal row 0 sees only key 0: its output is V[0]. */
    TU_CHECK(a[0] == (double)v[0] && a[DH - 1] == (double)v[DH - 1], "full causal: row 0 != V[0]");
    free(q); free(k); free(v); free(a); free(b);
}

/* y = W x + b for the 2x2 hand case. */
static void lin2(const float *W, const float *b, const double *x, double *y) {
    y[0] = W[0] * x[0] + W[1] * x[1] + b[0];
    y[1] = W[2] * x[0] + W[3] * x[1] + b[1];
}

/* D = 2, H = 2 (dh = 1), N = 4 tokens, w = 2, r = 1, K = 3, 3 real tokens. dual_ln_l and dual_ln_s
 * have weight 0, so every key/value (window and landmark) is the LN bias (1, 2): every softmax
 * averages the same values and C[n] = (1, 2) for real tokens, 0 for the padded one, whatever the
 * scores. The conv (head 0 taps 0.5 -1 2, head 1 taps 1.5 0.25 -0.75 on values 1 and 2, token 3
 * padded) adds, per token: (1, -1), (1.5, 2), (-0.5, 3.5), (0.5, 3). So the W_o inputs are
 * (2, 1), (2.5, 4), (0.5, 5.5), (0.5, 3). With cls (W_q = 0, so uniform over [cls ; 3 real
 * tokens]; W_v = 0, b_v = (3, -1)): out_cls = ((3, -1) + 3 (1, 2)) / 4 = (1.5, 1.25); its mask
 * entry 0 is ignored. */
static void test_bidir_hand(tu_rng *rng, int cls) {
    enum { D = 2, N = 4 };
    const int N0 = N + cls;
    float x[(N + 1) * D], mask[N + 1];
    float wq[4], bq[2], wk[4], bk[2], wv[4] = {0, 0, 0, 0}, bv[2] = {3, -1};
    float wd[4], bd[2], zero[2] = {0, 0}, lnb[2] = {1, 2};
    float wo[4] = {2, 0.5f, -1, 1}, bo[2] = {0.5f, -0.25f};
    float conv[6] = {0.5f, -1, 2, 1.5f, 0.25f, -0.75f};
    tu_fill_randn(rng, x, (size_t)N0 * D, 1.0f);
    tu_fill_randn(rng, wq, 4, 1.0f);
    tu_fill_randn(rng, bq, 2, 0.1f);
    tu_fill_randn(rng, wk, 4, 1.0f);
    tu_fill_randn(rng, bk, 2, 0.1f);
    tu_fill_randn(rng, wd, 4, 1.0f);
    tu_fill_randn(rng, bd, 2, 0.1f);
    if (cls) memset(wq, 0, sizeof wq), memset(bq, 0, sizeof bq);
    for (int i = 0; i < N0; i++) mask[i] = i < N0 - 1 ? 1.0f : 0.0f;
    if (cls) mask[0] = 0.0f; /* must be ignored */
    lsvk_ls_config c = {D, 2, 1, 2, 1, 3, cls};
    lsvk_ref_ls_weights w = {wq, bq, wk, bk, wv, bv, wo, bo, zero, lnb, zero, lnb, wd, bd, conv};
    double attn[(N + 1) * D], out[(N + 1) * D];
    lsvk_ref_ls_debug dbg = {0};
    dbg.attn_out = attn;
    int rc = lsvk_ref_ls_bidir_debug(&c, &w, 1, N0, x, mask, out, &dbg);
    if (!TU_CHECK(rc == 0, "hand cls=%d: reference returned %d", cls, rc)) return;

    double want_attn[(N + 1) * D] = {0};
    const double tokens[N * D] = {2, 1, 2.5, 4, 0.5, 5.5, 0.5, 3};
    if (cls) want_attn[0] = 1.5, want_attn[1] = 1.25;
    memcpy(want_attn + cls * D, tokens, sizeof tokens);
    double max_err = 0.0;
    for (int i = 0; i < N0; i++) {
        double y[2];
        lin2(wo, bo, want_attn + i * D, y);
        for (int f = 0; f < D; f++) {
            max_err = fmax(max_err, fabs(attn[i * D + f] - want_attn[i * D + f]));
            max_err = fmax(max_err, fabs(out[i * D + f] - y[f]));
        }
    }
    printf("hand case (%s)%*s max abs err %.3e\n", cls ? "cls" : "mean", cls ? 6 : 5, "", max_err);
    TU_CHECK(max_err <= 1e-12, "hand cls=%d: max abs err %.3e", cls, max_err);
}

/* Splits merged [B,N,D] doubles into [B,H,N,dh] floats. */
static void split_heads(const double *src, int B, int N, int H, int dh, float *dst) {
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++)
                for (int d = 0; d < dh; d++)
                    dst[(((size_t)b * H + (size_t)h) * N + (size_t)n) * dh + (size_t)d] = (float)
                        src[((size_t)b * N + (size_t)n) * (size_t)(H * dh) + (size_t)(h * dh + d)];
}

/* With w = N (one segment whose window [-e, N+e) covers every token), r = 0 and no conv, the layer
 * is W_o(full attention(Q, LN_l(K), LN_l(V))) + b_o, built here from the other references
 * (linear, layernorm, full attention) with float intermediates. */
static void test_bidir_single_window(tu_rng *rng) {
    enum { B = 2, N = 12, H = 3, DH = 4, D = H * DH };
    float x[B * N * D], mask[B * N], wq[D * D], bq[D], wk[D * D], bk[D], wv[D * D], bv[D],
        wo[D * D], bo[D], lnw[D], lnb[D];
    tu_fill_randn(rng, x, B * N * D, 1.0f);
    float *ws[] = {wq, wk, wv, wo}, *bs[] = {bq, bk, bv, bo};
    for (int i = 0; i < 4; i++) {
        tu_fill_randn(rng, ws[i], D * D, (float)(1.0 / sqrt((double)D)));
        tu_fill_randn(rng, bs[i], D, 0.1f);
    }
    tu_fill_randn(rng, lnb, D, 0.1f);
    for (int i = 0; i < D; i++) lnw[i] = 1.0f + 0.1f * (float)tu_randn(rng);
    for (int i = 0; i < B * N; i++) mask[i] = (i / N == 1 && i % N >= 7) ? 0.0f : 1.0f;

    lsvk_ls_config c = {D, H, DH, N, 0, 0, 0};
    lsvk_ref_ls_weights w = {wq, bq, wk, bk, wv, bv, wo, bo, lnw, lnb,
                             NULL, NULL, NULL, NULL, NULL};
    double out[B * N * D], tmp[B * N * D], heads_out[B * N * D], want[B * N * D];
    float f[B * N * D], q[B * N * D], k[B * N * D], v[B * N * D], merged[B * N * D];
    TU_CHECK(lsvk_ref_ls_bidir(&c, &w, B, N, x, mask, out) == 0, "single window: refused");

    lsvk_ref_linear(x, wq, bq, B * N, D, D, tmp);
    split_heads(tmp, B, N, H, DH, q); /* unscaled: lsvk_ref_attention applies 1/sqrt(dh) */
    lsvk_ref_linear(x, wk, bk, B * N, D, D, tmp);
    lsvk_ref_to_float(tmp, B * N * D, f);
    lsvk_ref_layernorm(f, lnw, lnb, B * N, D, 1e-5, tmp);
    split_heads(tmp, B, N, H, DH, k);
    lsvk_ref_linear(x, wv, bv, B * N, D, D, tmp);
    lsvk_ref_to_float(tmp, B * N * D, f);
    lsvk_ref_layernorm(f, lnw, lnb, B * N, D, 1e-5, tmp);
    split_heads(tmp, B, N, H, DH, v);
    lsvk_ref_attention(B, H, N, DH, q, k, v, mask, 0, heads_out);
    for (int b = 0; b < B; b++) /* merge heads */
        for (int h = 0; h < H; h++)
            for (int n = 0; n < N; n++)
                for (int d = 0; d < DH; d++)
                    merged[((size_t)b * N + (size_t)n) * D + (size_t)(h * DH + d)] = (float)
                        heads_out[(((size_t)b * H + (size_t)h) * N + (size_t)n) * DH + (size_t)d];
    lsvk_ref_linear(merged, wo, bo, B * N, D, D, want);
    for (int i = 0; i < B * N * D; i++) f[i] = (float)want[i];
    double err = golden_rel_err(out, f, B * N * D);
    printf("single window = full   rel err %.3e\n", err);
    TU_CHECK(err <= 1e-5, "single window: bidir vs full attention rel err %.3e", err);
}

/* Configs the reference refuses, and the smallest ones it accepts. */
static void test_invalid_configs(void) {
    enum { D = 4 };
    float x[8 * D] = {0}, wdd[D * D] = {0}, bd_[D] = {0}, conv[2 * 3] = {0};
    double out[8 * D];
    lsvk_ref_ls_weights w = {wdd, bd_, wdd, bd_, wdd, bd_, wdd, bd_,
                             bd_, bd_, bd_, bd_, wdd, bd_, conv};
    struct { lsvk_ls_config c; int N0; int want; const char *what; } cases[] = {
        {{D, 2, 3, 2, 1, 0, 0}, 8, -1, "D != H*dh"},
        {{D, 0, 2, 2, 1, 0, 0}, 8, -1, "H = 0"},
        {{D, 2, 2, 0, 0, 0, 0}, 8, -1, "w = 0 and r = 0"},
        {{D, 2, 2, 3, 0, 0, 0}, 8, -1, "N % w != 0"},
        {{D, 2, 2, 2, 0, 4, 0}, 8, -1, "even K"},
        {{D, 2, 2, 2, 2, 3, 0}, 8, 0, "w 2, r 2, K 3"},
        {{D, 2, 2, 8, 0, 0, 0}, 8, 0, "w = N"},
        {{D, 2, 2, 1, 0, -1, 0}, 8, 0, "w = 1"},
        {{D, 2, 2, 0, 0, 0, 1}, 8, 0, "cls only (w = 0, r = 0)"},
        {{D, 2, 2, 0, 1, 0, 1}, 1, -1, "cls with no token"},
        {{D, 2, 2, 7, 0, 0, 1}, 8, 0, "cls, w = N0 - 1"},
        {{D, 2, 2, 4, 0, 0, 1}, 8, -1, "cls, N0 - 1 not a multiple of w"},
        {{D, 2, 2, 2, 0, 0, 0}, 0, -1, "N0 = 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = lsvk_ref_ls_bidir(&cases[i].c, &w, 1, cases[i].N0, x, NULL, out);
        TU_CHECK(got == cases[i].want, "config '%s': returned %d, want %d", cases[i].what, got,
                 cases[i].want);
        TU_CHECK(lsvk_ref_ls_shape(&cases[i].c, cases[i].N0, NULL, NULL, NULL) == cases[i].want,
                 "shape '%s' disagrees", cases[i].what);
    }
    lsvk_ls_config ok = {D, 2, 2, 2, 2, 3, 0};
    lsvk_ref_ls_weights missing = w;
    missing.wd = NULL;
    TU_CHECK(lsvk_ref_ls_bidir(&ok, &missing, 1, 8, x, NULL, out) == -1,
             "r > 0 without dconv_fc accepted");
    missing = w;
    missing.conv = NULL;
    TU_CHECK(lsvk_ref_ls_bidir(&ok, &missing, 1, 8, x, NULL, out) == -1,
             "K > 0 without conv accepted");
    TU_CHECK(lsvk_ref_ls_bidir(&ok, &w, 0, 8, x, NULL, out) == -1, "B = 0 accepted");
}

int main(void) {
    static const char *bidir_files[] = {"bidir_basic", "bidir_pad_conv", "bidir_cls",
                                        "bidir_window_only", "bidir_landmarks_only"};
    static const char *full_files[] = {"full_bidir", "full_causal"};
    for (size_t i = 0; i < sizeof bidir_files / sizeof bidir_files[0]; i++)
        test_bidir_file(bidir_files[i]);
    for (size_t i = 0; i < sizeof full_files / sizeof full_files[0]; i++)
        test_full_file(full_files[i]);

    tu_rng rng = tu_rng_make(tu_seed());
    test_full_mask_null(&rng);
    test_bidir_hand(&rng, 0);
    test_bidir_hand(&rng, 1);
    test_bidir_single_window(&rng);
    test_invalid_configs();
    return tu_finish(NULL);
}
