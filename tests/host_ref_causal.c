/* The CPU references of the causal long-short attention and of the language model
 * (lib/ref/ref_causal.c) against the golden files of the official PyTorch implementation
 * (shared/golden/README.md sections 4 and 5) and against the char-LM's golden blocks
 * (shared/charlm, read in place when present), plus self-consistency checks: the sinusoids and
 * the chunk mask the reference builds, causality of blocks whose length is not a multiple of the
 * chunk size, the float wrappers, the next-cache rule and refused configs. The bound is the
 * README's 1e-4 (expect ~1e-7: double references against float64 results rounded to float32). */
#include "golden_util.h"
#include "ref/ref.h"
#include "ref/ref_causal.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LSVK_TEST_DATA
#define LSVK_TEST_DATA "tests"
#endif

#define MAX_LAYERS 16

static void *xmalloc(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static double *alloc_d(size_t n) { return xmalloc(n * sizeof(double)); }

/* Compares a result with the file's tensor of that name (which must exist if required). */
static void check_tensor(const golden_file *g, const char *label, const char *name,
                         const double *mine, size_t n, int required) {
    size_t count = 0;
    float *gold = golden_tensor(g, name, NULL, NULL, &count);
    if (!gold) {
        TU_CHECK(!required, "%s: tensor %s missing", label, name);
        return;
    }
    if (TU_CHECK(count == n, "%s: %s has %zu elements, reference %zu", label, name, count, n)) {
        double tol = golden_tolerance(g);
        double err = golden_rel_err(mine, gold, n);
        printf("  %-16s %-26s rel err %.3e\n", label, name, err);
        TU_CHECK(err <= tol, "%s: %s rel err %.3e > %.0e", label, name, err, tol);
    }
    free(gold);
}

static double max_abs_diff_f(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

/* Max relative difference of sinus(p) rows against a stored [n, D] table whose row j holds
 * sinus(n-1-j). */
static double sinus_table_err(const float *table, int n, uint32_t D, const float *inv_freq) {
    double *row = alloc_d(D);
    double m = 0.0;
    for (int j = 0; j < n; j++) {
        lsvk_ref_sinus(D, inv_freq, (double)(n - 1 - j), row);
        for (uint32_t d = 0; d < D; d++) m = fmax(m, fabs(row[d] - table[(size_t)j * D + d]));
    }
    free(row);
    return m;
}

/* chunk_attn_mask[i,k] = 1 iff floor(k/r) >= M/cs + i. */
static int mask_matches(const float *mask, int Lq, int Nc, int M, int cs, int r) {
    int ok = 1;
    for (int i = 0; i < Lq; i++)
        for (int k = 0; k < Nc; k++)
            ok &= mask[(size_t)i * (size_t)Nc + (size_t)k] == (k / r >= M / cs + i ? 1.0f : 0.0f);
    return ok;
}

/* ---------------------------------------------------------------- golden: causal */

static void test_causal_attn(void) {
    const char *name = "causal_attn";
    golden_file *g = golden_open_case(LSVK_TEST_DATA, name);
    if (!TU_CHECK(g != NULL, "cannot open golden file %s", name)) return;
    lsvk_ref_store *store = NULL;
    float *h = NULL, *hc = NULL, *key_pe = NULL, *pew = NULL, *mask = NULL, *gold = NULL;
    long long D, H, dh, cs, r, W, M, L, B, Ncf;
    int use_bias = 0;
    int cfg_ok = golden_cfg_int(g, "d_model", &D) == 0 && golden_cfg_int(g, "n_head", &H) == 0 &&
                 golden_cfg_int(g, "head_dim", &dh) == 0 &&
                 golden_cfg_int(g, "chunk_size", &cs) == 0 &&
                 golden_cfg_int(g, "chunk_rank", &r) == 0 &&
                 golden_cfg_int(g, "window_len", &W) == 0 && golden_cfg_int(g, "mem", &M) == 0 &&
                 golden_cfg_int(g, "L", &L) == 0 && golden_cfg_int(g, "B", &B) == 0 &&
                 golden_cfg_int(g, "n_chunk_vecs", &Ncf) == 0 &&
                 golden_cfg_bool(g, "use_bias", &use_bias) == 0;
    if (!TU_CHECK(strcmp(golden_variant(g), "causal") == 0, "%s: variant %s", name,
                  golden_variant(g)) ||
        !TU_CHECK(cfg_ok, "%s: config", name))
        goto done;
    lsvk_causal_config c = {(uint32_t)D, (uint32_t)H, (uint32_t)dh, (uint32_t)cs,
                            (uint32_t)r, (uint32_t)W, (uint32_t)M, use_bias};
    int Nc = lsvk_ref_causal_n_chunk_vecs(&c, (int)L);
    TU_CHECK(Nc == Ncf, "%s: n_chunk_vecs %lld, mine %d", name, Ncf, Nc);
    lsvk_ref_causal_weights w;
    if (!TU_CHECK(lsvk_ref_causal_weights_load(golden_safetensors(g), "", &c, &w, &store) == 0,
                  "%s: weights", name))
        goto done;
    int64_t sh[3] = {B, L, D}, sc[3] = {B, M, D}, sk[2] = {Nc, D}, sw[2] = {W, D},
            sm[2] = {L / cs, Nc};
    h = golden_tensor_expect(g, "input.h", 3, sh);
    hc = golden_tensor_expect(g, "input.h_cache", 3, sc);
    key_pe = golden_tensor_expect(g, "input.key_pe", 2, sk);
    pew = golden_tensor_expect(g, "input.pos_embed_window", 2, sw);
    mask = golden_tensor_expect(g, "input.chunk_attn_mask", 2, sm);
    gold = golden_tensor_expect(g, "output", 3, sh);
    if (!TU_CHECK(h && hc && key_pe && pew && mask && gold, "%s: missing or misshapen tensors",
                  name))
        goto done;

    /* The positional inputs are what lsvk_ref_sinus builds with the float32 default inv_freq. */
    double e1 = sinus_table_err(key_pe, Nc, (uint32_t)D, NULL);
    double e2 = sinus_table_err(pew, (int)W, (uint32_t)D, NULL);
    printf("  %-16s key_pe / pos_embed_window max abs err %.2e / %.2e\n", name, e1, e2);
    TU_CHECK(e1 <= 1e-6 && e2 <= 1e-6, "%s: sinusoids differ: %.3e %.3e", name, e1, e2);
    TU_CHECK(mask_matches(mask, (int)(L / cs), Nc, (int)M, (int)cs, (int)r),
             "%s: chunk_attn_mask is not the documented formula", name);

    size_t n_out = (size_t)(B * L * D), n_in = n_out, n_c = (size_t)(B * M * D);
    double *hd = alloc_d(n_in), *hcd = alloc_d(n_c), *out = alloc_d(n_out);
    for (size_t i = 0; i < n_in; i++) hd[i] = h[i];
    for (size_t i = 0; i < n_c; i++) hcd[i] = hc[i];
    size_t Mc = (size_t)(M / cs), Lc = (size_t)(L / cs);
    size_t n_cp = (size_t)(B * H) * Mc * (size_t)(r * cs), n_bp = (size_t)(B * H) * Lc * (size_t)(r * cs);
    size_t n_kc = (size_t)B * (size_t)Nc * (size_t)D, n_kw = (size_t)(B * (W + L) * D);
    size_t n_sc = (size_t)(B * H * L) * (size_t)(Nc + W);
    lsvk_ref_causal_debug dbg = {alloc_d(n_cp), alloc_d(n_bp), alloc_d(n_kc), alloc_d(n_kc),
                                 alloc_d(n_kw), alloc_d(n_kw), alloc_d(n_sc), alloc_d(n_out)};
    int rc = lsvk_ref_causal_attn_d(&c, &w, NULL, hd, hcd, (int)B, (int)L, out, &dbg);
    if (TU_CHECK(rc == 0, "%s: reference returned %d", name, rc)) {
        printf("%s (f32 torch %s)\n", name, golden_meta(g, "f32_torch_rel_err")
                                                 ? golden_meta(g, "f32_torch_rel_err") : "?");
        check_tensor(g, name, "output", out, n_out, 1);
        check_tensor(g, name, "debug.cache_chunk_probs", dbg.cache_chunk_probs, n_cp, 0);
        check_tensor(g, name, "debug.block_chunk_probs", dbg.block_chunk_probs, n_bp, 0);
        check_tensor(g, name, "debug.key_compressed", dbg.key_compressed, n_kc, 0);
        check_tensor(g, name, "debug.val_compressed", dbg.val_compressed, n_kc, 0);
        check_tensor(g, name, "debug.key_window", dbg.key_window, n_kw, 0);
        check_tensor(g, name, "debug.val_window", dbg.val_window, n_kw, 0);
        check_tensor(g, name, "debug.scores", dbg.scores, n_sc, 0);
        check_tensor(g, name, "debug.attn_out", dbg.attn_out, n_out, 0);

        /* The float wrapper is the double reference rounded. */
        float *of = xmalloc(n_out * sizeof(float)), *od = xmalloc(n_out * sizeof(float));
        lsvk_ref_causal_attn(&c, &w, NULL, h, hc, (int)B, (int)L, of);
        lsvk_ref_to_float(out, (int64_t)n_out, od);
        TU_CHECK(memcmp(of, od, n_out * sizeof(float)) == 0, "%s: float wrapper differs", name);

        /* Causality at any L: the first rows of a shorter block (a partial last chunk, L < cs,
         * L < W) equal the full block's rows. */
        static const int Ls[] = {1, 5, 16, 17, 40, 63};
        double *part = alloc_d(n_out);
        for (size_t k = 0; k < sizeof Ls / sizeof Ls[0]; k++) {
            int Lp = Ls[k];
            double *hp = alloc_d((size_t)(B * Lp * D));
            for (long long b = 0; b < B; b++)
                memcpy(hp + (size_t)(b * Lp * D), hd + (size_t)(b * L * D),
                       (size_t)(Lp * D) * sizeof(double));
            TU_CHECK(lsvk_ref_causal_attn_d(&c, &w, NULL, hp, hcd, (int)B, Lp, part, NULL) == 0,
                     "%s: L = %d refused", name, Lp);
            double m = 0.0;
            for (long long b = 0; b < B; b++)
                for (size_t i = 0; i < (size_t)(Lp * D); i++)
                    m = fmax(m, fabs(part[(size_t)(b * Lp * D) + i] - out[(size_t)(b * L * D) + i]));
            TU_CHECK(m <= 1e-12, "%s: L = %d: first rows differ from L = %lld by %.3e", name, Lp,
                     L, m);
            free(hp);
        }
        free(part);
        free(of);
        free(od);

        /* Refused configs. */
        lsvk_causal_config bad = c;
        bad.mem_len = (uint32_t)(W - cs);
        TU_CHECK(lsvk_ref_causal_attn_d(&bad, &w, NULL, hd, hcd, (int)B, (int)L, out, NULL) == -1,
                 "M < W accepted");
        bad = c;
        bad.mem_len = (uint32_t)(M + 1);
        TU_CHECK(lsvk_ref_causal_attn_d(&bad, &w, NULL, hd, hcd, (int)B, (int)L, out, NULL) == -1,
                 "M %% cs != 0 accepted");
        bad = c;
        bad.head_dim = (uint32_t)(dh + 1);
        TU_CHECK(lsvk_ref_causal_attn_d(&bad, &w, NULL, hd, hcd, (int)B, (int)L, out, NULL) == -1,
                 "D != H*dh accepted");
        lsvk_ref_causal_weights wm = w;
        wm.rwb = NULL;
        TU_CHECK(lsvk_ref_causal_attn_d(&c, &wm, NULL, hd, hcd, (int)B, (int)L, out, NULL) == -1,
                 "missing r_w_bias accepted");
        TU_CHECK(lsvk_ref_causal_attn_d(&c, &w, NULL, hd, hcd, (int)B, 0, out, NULL) == -1,
                 "L = 0 accepted");
    }
    free(hd); free(hcd); free(out);
    free(dbg.cache_chunk_probs); free(dbg.block_chunk_probs); free(dbg.key_compressed);
    free(dbg.val_compressed); free(dbg.key_window); free(dbg.val_window); free(dbg.scores);
    free(dbg.attn_out);
done:
    free(h); free(hc); free(key_pe); free(pew); free(mask); free(gold);
    lsvk_ref_store_free(store);
    golden_close(g);
}

/* ---------------------------------------------------------------- golden: causal_model */

/* Model config from a file's `config` (the reference's keys). 0, or -1. */
static int lm_config(const golden_file *g, lsvk_lm_config *c) {
    long long V, D, H, I, NL, M, cs, r, W;
    int use_bias = 0, pre_ln = 0, use_gelu = 0;
    if (golden_cfg_int(g, "vocab_size", &V) || golden_cfg_int(g, "d_model", &D) ||
        golden_cfg_int(g, "n_head", &H) || golden_cfg_int(g, "d_inner", &I) ||
        golden_cfg_int(g, "n_layer", &NL) || golden_cfg_int(g, "mem_len", &M) ||
        golden_cfg_int(g, "chunk_size", &cs) || golden_cfg_int(g, "chunk_rank", &r) ||
        golden_cfg_int(g, "window_len", &W) || golden_cfg_bool(g, "use_bias", &use_bias) ||
        golden_cfg_bool(g, "pre_ln", &pre_ln) || golden_cfg_bool(g, "use_gelu", &use_gelu))
        return -1;
    if (!pre_ln || !use_gelu || NL < 1 || NL > MAX_LAYERS) return -1;
    if (golden_cfg_int_or(g, "clamp_len", -1) > 0 || golden_cfg_int_or(g, "cpos_clamp_len", -1) > 0)
        return -1;
    c->vocab = (uint32_t)V;
    c->dim = (uint32_t)D;
    c->heads = (uint32_t)H;
    c->inner = (uint32_t)I;
    c->layers = (uint32_t)NL;
    c->mem_len = (uint32_t)M;
    c->chunk_size = (uint32_t)cs;
    c->chunk_rank = (uint32_t)r;
    c->window = (uint32_t)W;
    c->use_bias = use_bias;
    return 0;
}

/* Blocks of the causal_model weights: [hc ; first Lp tokens] for Lp < Lf gives the first Lp rows
 * of the Lf block (causality; Lp not a multiple of cs), and the layer-0 next cache follows the
 * rule "last M rows of [cache ; layer input]" (layer 0's input is the scaled embedding). */
static void test_lm_any_length(const lsvk_lm_config *c, const lsvk_ref_lm_weights *w,
                               float *const *cache0, const int32_t *tok_gold, int B, int Lg,
                               tu_rng *rng) {
    static const int pairs[][2] = {{40, 48}, {1, 16}, {7, 7}, {100, 112}};
    const size_t V = c->vocab, D = c->dim, M = c->mem_len, NL = c->layers;
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        const int Lp = pairs[k][0], Lf = pairs[k][1];
        int32_t *tf = xmalloc((size_t)B * (size_t)Lf * sizeof(int32_t));
        int32_t *tp = xmalloc((size_t)B * (size_t)Lp * sizeof(int32_t));
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Lf; i++)
                tf[b * Lf + i] = i < Lg ? tok_gold[b * Lg + i] : tu_randint(rng, 0, (int)V - 1);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Lp; i++) tp[b * Lp + i] = tf[b * Lf + i];
        float *cf[MAX_LAYERS], *cp[MAX_LAYERS];
        for (size_t l = 0; l < NL; l++) {
            cf[l] = xmalloc((size_t)B * M * D * sizeof(float));
            cp[l] = xmalloc((size_t)B * M * D * sizeof(float));
            memcpy(cf[l], cache0[l], (size_t)B * M * D * sizeof(float));
            memcpy(cp[l], cache0[l], (size_t)B * M * D * sizeof(float));
        }
        double *lf = alloc_d((size_t)B * (size_t)Lf * V), *lp = alloc_d((size_t)B * (size_t)Lp * V);
        int rf = lsvk_ref_lm_forward_d(c, w, tf, B, Lf, cf, lf, NULL);
        int rp = lsvk_ref_lm_forward_d(c, w, tp, B, Lp, cp, lp, NULL);
        if (TU_CHECK(rf == 0 && rp == 0, "lm L = %d / %d refused", Lp, Lf)) {
            double m = 0.0;
            for (int b = 0; b < B; b++)
                for (size_t i = 0; i < (size_t)Lp * V; i++)
                    m = fmax(m, fabs(lp[(size_t)b * Lp * V + i] - lf[(size_t)b * Lf * V + i]));
            printf("  causality        L = %3d vs %3d           max abs diff %.3e\n", Lp, Lf, m);
            TU_CHECK(m <= 1e-10, "lm: L = %d rows differ from L = %d by %.3e", Lp, Lf, m);
            /* layer-0 next cache of the short block */
            const float scale = (float)sqrt((double)D);
            double cm = 0.0;
            for (int b = 0; b < B; b++)
                for (size_t i = 0; i < M; i++) {
                    size_t src = (size_t)Lp + i;
                    for (size_t d = 0; d < D; d++) {
                        double want = src < M ? (double)cache0[0][((size_t)b * M + src) * D + d]
                                              : (double)(float)((double)w->emb[(size_t)tp[(size_t)b * Lp + src - M] * D + d] * scale);
                        cm = fmax(cm, fabs(want - cp[0][((size_t)b * M + i) * D + d]));
                    }
                }
            TU_CHECK(cm <= 1e-6 * scale, "lm L = %d: layer-0 next cache off by %.3e", Lp, cm);
        }
        for (size_t l = 0; l < NL; l++) {
            free(cf[l]);
            free(cp[l]);
        }
        free(tf); free(tp); free(lf); free(lp);
    }
}

static void test_causal_model(tu_rng *rng) {
    const char *name = "causal_model";
    golden_file *g = golden_open_case(LSVK_TEST_DATA, name);
    if (!TU_CHECK(g != NULL, "cannot open golden file %s", name)) return;
    lsvk_ref_store *store = NULL;
    lsvk_lm_config c;
    long long L = 0, B = 0;
    float *tokf = NULL, *gold = NULL, *caches[MAX_LAYERS] = {0}, *cache_in[MAX_LAYERS] = {0};
    int32_t *tok = NULL;
    double *layer_out[MAX_LAYERS] = {0}, *lp = NULL;
    if (!TU_CHECK(strcmp(golden_variant(g), "causal_model") == 0, "%s: variant %s", name,
                  golden_variant(g)) ||
        !TU_CHECK(lm_config(g, &c) == 0 && golden_cfg_int(g, "L", &L) == 0 &&
                      golden_cfg_int(g, "B", &B) == 0,
                  "%s: config", name))
        goto done;
    lsvk_ref_lm_weights w;
    if (!TU_CHECK(lsvk_ref_lm_weights_load(golden_safetensors(g), &c, &w, &store) == 0,
                  "%s: weights", name))
        goto done;
    TU_CHECK(w.inv_freq != NULL, "%s: pos_emb.inv_freq not loaded", name);
    const size_t D = c.dim, V = c.vocab, M = c.mem_len, NL = c.layers;
    const int cs = (int)c.chunk_size, r = (int)c.chunk_rank;

    /* The float32 default inv_freq is the stored buffer. */
    float *inv = xmalloc(D / 2 * sizeof(float));
    lsvk_ref_inv_freq((uint32_t)D, inv);
    double inv_err = max_abs_diff_f(inv, w.inv_freq, D / 2);
    printf("  %-16s inv_freq default vs stored max abs diff %.2e\n", name, inv_err);
    TU_CHECK(inv_err <= 1e-7, "%s: default inv_freq differs by %.3e", name, inv_err);
    free(inv);

    int Nc = (int)((M + (size_t)L) / (size_t)cs) * r;
    int64_t sk[2] = {Nc, (int64_t)D}, sw[2] = {c.window, (int64_t)D}, sm[2] = {L / cs, Nc};
    float *kpe = golden_tensor_expect(g, "debug.key_pe", 2, sk);
    float *pew = golden_tensor_expect(g, "debug.pos_embed_window", 2, sw);
    float *cmask = golden_tensor_expect(g, "debug.chunk_attn_mask", 2, sm);
    if (kpe && pew && cmask) {
        double e1 = sinus_table_err(kpe, Nc, (uint32_t)D, w.inv_freq);
        double e2 = sinus_table_err(pew, (int)c.window, (uint32_t)D, w.inv_freq);
        printf("  %-16s key_pe / pos_embed_window max abs err %.2e / %.2e\n", name, e1, e2);
        TU_CHECK(e1 <= 1e-6 && e2 <= 1e-6, "%s: sinusoids differ: %.3e %.3e", name, e1, e2);
        TU_CHECK(mask_matches(cmask, (int)(L / cs), Nc, (int)M, cs, r),
                 "%s: chunk_attn_mask is not the documented formula", name);
    }
    free(kpe); free(pew); free(cmask);

    int64_t st[2] = {B, L}, sc[3] = {B, (int64_t)M, (int64_t)D}, so[3] = {B, L, (int64_t)V};
    tokf = golden_tensor_expect(g, "input.tokens", 2, st);
    gold = golden_tensor_expect(g, "output", 3, so);
    int ok = tokf && gold;
    for (size_t l = 0; l < NL; l++) {
        char nm[64];
        snprintf(nm, sizeof nm, "input.h_cache.%zu", l);
        cache_in[l] = golden_tensor_expect(g, nm, 3, sc);
        ok = ok && cache_in[l];
        if (cache_in[l]) {
            caches[l] = xmalloc((size_t)B * M * D * sizeof(float));
            memcpy(caches[l], cache_in[l], (size_t)B * M * D * sizeof(float));
        }
        layer_out[l] = alloc_d((size_t)(B * L) * D);
    }
    if (!TU_CHECK(ok, "%s: missing or misshapen tensors", name)) goto done;
    tok = xmalloc((size_t)(B * L) * sizeof(int32_t));
    for (size_t i = 0; i < (size_t)(B * L); i++) tok[i] = (int32_t)tokf[i];

    size_t n_lp = (size_t)(B * L) * V;
    lp = alloc_d(n_lp);
    int rc = lsvk_ref_lm_forward_d(&c, &w, tok, (int)B, (int)L, caches, lp, layer_out);
    if (TU_CHECK(rc == 0, "%s: reference returned %d", name, rc)) {
        printf("%s (f32 torch %s)\n", name, golden_meta(g, "f32_torch_rel_err")
                                                 ? golden_meta(g, "f32_torch_rel_err") : "?");
        check_tensor(g, name, "output", lp, n_lp, 1);
        double *cd = alloc_d((size_t)B * M * D);
        for (size_t l = 0; l < NL; l++) {
            char nm[64];
            snprintf(nm, sizeof nm, "output.h_cache_next.%zu", l);
            for (size_t i = 0; i < (size_t)B * M * D; i++) cd[i] = caches[l][i];
            check_tensor(g, name, nm, cd, (size_t)B * M * D, 1);
            snprintf(nm, sizeof nm, "debug.layer_out.%zu", l);
            check_tensor(g, name, nm, layer_out[l], (size_t)(B * L) * D, 0);
        }
        free(cd);

        /* The float wrapper: the same log-probabilities rounded, the same caches. */
        float *lpf = xmalloc(n_lp * sizeof(float)), *lpd = xmalloc(n_lp * sizeof(float));
        float *c2[MAX_LAYERS];
        for (size_t l = 0; l < NL; l++) {
            c2[l] = xmalloc((size_t)B * M * D * sizeof(float));
            memcpy(c2[l], cache_in[l], (size_t)B * M * D * sizeof(float));
        }
        lsvk_ref_lm_forward(&c, &w, tok, (int)B, (int)L, c2, lpf);
        lsvk_ref_to_float(lp, (int64_t)n_lp, lpd);
        int same = memcmp(lpf, lpd, n_lp * sizeof(float)) == 0;
        for (size_t l = 0; l < NL; l++) {
            same &= memcmp(c2[l], caches[l], (size_t)B * M * D * sizeof(float)) == 0;
            free(c2[l]);
        }
        TU_CHECK(same, "%s: float wrapper differs", name);
        free(lpf);
        free(lpd);

        /* A bad token is refused and leaves the caches alone. */
        int32_t bad_tok = (int32_t)V;
        TU_CHECK(lsvk_ref_lm_forward_d(&c, &w, &bad_tok, 1, 1, caches, NULL, NULL) == -1,
                 "%s: token id V accepted", name);

        test_lm_any_length(&c, &w, cache_in, tok, (int)B, (int)L, rng);
    }
done:
    for (size_t l = 0; l < MAX_LAYERS; l++) {
        free(caches[l]);
        free(cache_in[l]);
        free(layer_out[l]);
    }
    free(tokf); free(tok); free(gold); free(lp);
    lsvk_ref_store_free(store);
    golden_close(g);
}

/* ---------------------------------------------------------------- charlm */

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* With LSVK_CHARLM_BPC=1: the README's validation figure, bits per character over valid.txt in
 * blocks with the cache carried from zeros (float log-probabilities), which must land within
 * +-0.001 of the weights' metadata `valid_bpc`. About a minute. */
static void charlm_bpc(const char *dir, const golden_file *gw, const lsvk_lm_config *c,
                       const lsvk_ref_lm_weights *w) {
    const char *on = getenv("LSVK_CHARLM_BPC");
    if (!on || strcmp(on, "1") != 0) {
        printf("  charlm           valid bpc: skipped (set LSVK_CHARLM_BPC=1, about a minute)\n");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/valid.txt", dir);
    FILE *f = fopen(path, "rb");
    const char *want_s = golden_meta(gw, "valid_bpc");
    if (!TU_CHECK(f != NULL && want_s != NULL, "charlm: %s or valid_bpc missing", path)) {
        if (f) fclose(f);
        return;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *text = xmalloc(cap);
    for (size_t got; (got = fread(text + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            unsigned char *t2 = xmalloc(2 * cap);
            memcpy(t2, text, n);
            free(text);
            text = t2;
            cap *= 2;
        }
    }
    fclose(f);
    const size_t D = c->dim, V = c->vocab, M = c->mem_len, NL = c->layers;
    const size_t L = (size_t)golden_cfg_int_or(gw, "block", 256);
    float *caches[MAX_LAYERS] = {0};
    for (size_t l = 0; l < NL; l++) caches[l] = xmalloc(M * D * sizeof(float));
    float *lpf = xmalloc(L * V * sizeof(float));
    int32_t *tok = xmalloc(L * sizeof(int32_t));
    double nll = 0.0;
    size_t count = 0;
    for (size_t s0 = 0; s0 + L + 1 <= n; s0 += L) {
        for (size_t i = 0; i < L; i++) tok[i] = text[s0 + i];
        lsvk_ref_lm_forward(c, w, tok, 1, (int)L, caches, lpf);
        for (size_t i = 0; i < L; i++) nll -= (double)lpf[i * V + text[s0 + i + 1]];
        count += L;
    }
    double bpc = nll / (double)count / log(2.0), want = strtod(want_s, NULL);
    printf("  charlm           valid bpc %.6f over %zu targets (reference %.6f)\n", bpc, count,
           want);
    TU_CHECK(fabs(bpc - want) <= 1e-3, "charlm: valid bpc %.6f, reference %.6f", bpc, want);
    for (size_t l = 0; l < NL; l++) free(caches[l]);
    free(lpf);
    free(tok);
    free(text);
}

static void test_charlm(void) {
    const char *dir = getenv("LSVK_CHARLM_DIR");
    if (!dir || !*dir) dir = LSVK_TEST_DATA "/../../shared/charlm";
    char gpath[1024], wpath[1024];
    snprintf(gpath, sizeof gpath, "%s/charlm-golden.safetensors", dir);
    if (!file_exists(gpath)) {
        printf("charlm: skipped: %s not found (set LSVK_CHARLM_DIR)\n", gpath);
        return;
    }
    golden_file *g = golden_open(gpath), *gw = NULL;
    lsvk_ref_store *store = NULL;
    float *caches[MAX_LAYERS] = {0};
    double *lp[16] = {0};
    size_t n_lp[16] = {0};
    if (!TU_CHECK(g != NULL, "cannot open %s", gpath)) return;
    const char *wname = golden_meta(g, "weights");
    if (!TU_CHECK(wname != NULL && strchr(wname, '/') == NULL, "charlm: metadata `weights`"))
        goto done;
    snprintf(wpath, sizeof wpath, "%s/%s", dir, wname);
    if (!file_exists(wpath)) {
        printf("charlm: skipped: %s not found\n", wpath);
        goto done;
    }
    gw = golden_open(wpath);
    if (!TU_CHECK(gw != NULL, "cannot open %s", wpath)) goto done;
    lsvk_lm_config c;
    if (!TU_CHECK(lm_config(gw, &c) == 0, "charlm: config")) goto done;
    lsvk_ref_lm_weights w;
    if (!TU_CHECK(lsvk_ref_lm_weights_load(golden_safetensors(gw), &c, &w, &store) == 0,
                  "charlm: weights"))
        goto done;
    const char *blocks_s = golden_meta(g, "blocks");
    int n_blocks = blocks_s ? atoi(blocks_s) : 0;
    if (!TU_CHECK(n_blocks >= 1 && n_blocks <= 16, "charlm: metadata blocks")) goto done;
    const size_t D = c.dim, V = c.vocab, M = c.mem_len, NL = c.layers;
    for (size_t l = 0; l < NL; l++) caches[l] = xmalloc(M * D * sizeof(float)); /* zeros */
    printf("charlm (%s, %d blocks)\n", wpath, n_blocks);
    for (int k = 0; k < n_blocks; k++) {
        char nm[64];
        int64_t shape[LSVK_ST_MAX_RANK];
        snprintf(nm, sizeof nm, "input.tokens.%d", k);
        int rank = golden_shape(g, nm, shape, NULL);
        if (!TU_CHECK(rank == 2 && shape[0] == 1, "charlm: %s shape", nm)) goto done;
        int L = (int)shape[1];
        float *tf = golden_tensor(g, nm, NULL, NULL, NULL);
        int32_t *tok = xmalloc((size_t)L * sizeof(int32_t));
        for (int i = 0; tf && i < L; i++) tok[i] = (int32_t)tf[i];
        lp[k] = alloc_d((size_t)L * V);
        n_lp[k] = (size_t)L * V;
        int rc = tf ? lsvk_ref_lm_forward_d(&c, &w, tok, 1, L, caches, lp[k], NULL) : -1;
        if (TU_CHECK(rc == 0, "charlm: block %d refused", k)) {
            /* bits per character of this block's L-1 in-block targets, for information */
            double nll = 0.0;
            for (int i = 0; i + 1 < L; i++) nll -= lp[k][(size_t)i * V + (size_t)tok[i + 1]];
            printf("  %-16s block %d in-block bpc %.4f\n", "charlm", k, nll / (L - 1) / log(2.0));
        }
        free(tf); free(tok);
    }

    /* The layer-0 cache is the scaled embedding of the last block's tokens, whatever the
     * attention does. A golden file made with the model in training mode (emb_dropout active)
     * shows it: a fraction p of its entries are 0 and the others are 1/(1-p) times ours. Its
     * other tensors then depend on random dropout masks and cannot be matched; only that
     * relation is checked (and reported). */
    float *gc0 = golden_tensor(g, "output.cache.0", NULL, NULL, NULL);
    int dropout_file = 0;
    if (TU_CHECK(gc0 != NULL, "charlm: output.cache.0 missing")) {
        size_t zeros = 0, n = M * D;
        double mx = 0.0;
        for (size_t i = 0; i < n; i++) {
            zeros += gc0[i] == 0.0f && caches[0][i] != 0.0f;
            mx = fmax(mx, fabs((double)caches[0][i]));
        }
        if (zeros > n / 100) {
            const char *cfg = golden_meta(gw, "config");
            const char *pe = cfg ? strstr(cfg, "\"emb_dropout\":") : NULL;
            double p = pe ? strtod(pe + strlen("\"emb_dropout\":"), NULL) : 0.0;
            double err = 0.0;
            for (size_t i = 0; i < n; i++)
                if (gc0[i] != 0.0f)
                    err = fmax(err, fabs((double)gc0[i] - (double)caches[0][i] / (1.0 - p)));
            err /= mx / (1.0 - p);
            dropout_file = 1;
            printf("  charlm           KNOWN DEFECT of %s: output.cache.0 has %.1f%% zeros and\n"
                   "                   the rest is ours / (1 - %.2f) (rel err %.2e): the file was made\n"
                   "                   with dropout active (training mode), so its log-probabilities\n"
                   "                   and caches are not the model's. skipped: strict comparison;\n"
                   "                   the whole-valid.txt bpc check (LSVK_CHARLM_BPC=1) is the test.\n",
                   gpath, 100.0 * (double)zeros / (double)n, p, err);
            TU_CHECK(p > 0.0 && p < 1.0 && err <= 1e-4,
                     "charlm: cache.0 is not a dropout of ours (p %.3f, rel err %.3e)", p, err);
        }
    }
    free(gc0);
    if (!dropout_file) {
        for (int k = 0; k < n_blocks; k++) {
            char nm[64];
            snprintf(nm, sizeof nm, "output.logprobs.%d", k);
            check_tensor(g, "charlm", nm, lp[k], n_lp[k], 1);
        }
        double *cd = alloc_d(M * D);
        for (size_t l = 0; l < NL; l++) {
            char nm[64];
            snprintf(nm, sizeof nm, "output.cache.%zu", l);
            for (size_t i = 0; i < M * D; i++) cd[i] = caches[l][i];
            check_tensor(g, "charlm", nm, cd, M * D, 1);
        }
        free(cd);
    }
    charlm_bpc(dir, gw, &c, &w);
done:
    for (size_t l = 0; l < MAX_LAYERS; l++) free(caches[l]);
    for (int k = 0; k < 16; k++) free(lp[k]);
    lsvk_ref_store_free(store);
    golden_close(gw);
    golden_close(g);
}

/* ---------------------------------------------------------------- loading errors */

static void test_load_errors(void) {
    golden_file *g = golden_open_case(LSVK_TEST_DATA, "causal_attn");
    if (!g) return;
    lsvk_ref_store *store = (lsvk_ref_store *)&store; /* must be reset to NULL */
    lsvk_ref_causal_weights w;
    lsvk_causal_config c = {64, 4, 16, 16, 1, 32, 64, 1};
    fprintf(stderr, "(expected messages follow)\n");
    TU_CHECK(lsvk_ref_causal_weights_load(golden_safetensors(g), "layers.0.attn.", &c, &w,
                                          &store) == -1 && store == NULL,
             "load with a wrong prefix accepted");
    c.dim = 32, c.head_dim = 8;
    TU_CHECK(lsvk_ref_causal_weights_load(golden_safetensors(g), "", &c, &w, &store) == -1 &&
                 store == NULL,
             "load with a wrong dim accepted");
    lsvk_lm_config lc = {256, 64, 4, 128, 2, 48, 16, 1, 16, 1};
    lsvk_ref_lm_weights lw;
    TU_CHECK(lsvk_ref_lm_weights_load(golden_safetensors(g), &lc, &lw, &store) == -1 &&
                 store == NULL,
             "lm load from an attention file accepted");
    golden_close(g);
}

int main(void) {
    tu_rng rng = tu_rng_make(tu_seed());
    test_causal_attn();
    test_causal_model(&rng);
    test_charlm();
    test_load_errors();
    return tu_finish(NULL);
}
