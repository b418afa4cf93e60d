/* The language model: lsvk_lm_forward against lib/ref over several blocks with the cache carried
 * (random tokens, a last block shorter than block_len), lsvk_lm_step against lsvk_lm_forward
 * (token-by-token decoding equals the block evaluation, for contexts shorter and longer than
 * mem_len), and the API's bad inputs. Weights: tests/golden/causal_model.safetensors, and the
 * trained char-LM of models/charlm (LSVK_CHARLM_DIR overrides). */
#include "ref/ref_causal.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN sticks */
    }
    return m;
}

/* Blocks of the given lengths through the device model and the reference, caches carried. */
static void blocks_vs_ref(lsvk_context *ctx, const lsvk_safetensors *st, const char *what, uint32_t B,
                          uint32_t block_len, const uint32_t *lens, int nblocks, tu_rng *rng) {
    lsvk_lm *lm = NULL;
    lsvk_lm_state *state = NULL;
    lsvk_ref_store *store = NULL;
    lsvk_ref_lm_weights rw;
    if (!TU_OK(lsvk_lm_load(ctx, st, &lm))) return;
    const lsvk_lm_config *c = lsvk_lm_get_config(lm);
    if (!TU_CHECK(lsvk_ref_lm_weights_load(st, c, &rw, &store) == 0, "%s: reference weights", what)) goto done;
    if (!TU_OK(lsvk_lm_state_create(lm, B, block_len, &state))) goto done;
    size_t cn = (size_t)B * c->mem_len * c->dim;
    float **caches = calloc(c->layers, sizeof *caches);
    for (uint32_t l = 0; l < c->layers; l++) caches[l] = calloc(cn, sizeof **caches);
    double worst = 0;
    for (int k = 0; k < nblocks; k++) {
        uint32_t L = lens[k];
        size_t n = (size_t)B * L * c->vocab;
        int32_t *tok = malloc((size_t)B * L * sizeof *tok);
        float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
        for (size_t i = 0; i < (size_t)B * L; i++) tok[i] = tu_randint(rng, 0, (int)c->vocab - 1);
        tu_poison(got, n);
        TU_OK(lsvk_lm_forward(state, tok, L, got));
        lsvk_ref_lm_forward(c, &rw, tok, (int)B, (int)L, caches, want);
        double e = max_abs_diff(got, want, n);
        if (!(e <= worst)) worst = e;
        free(tok);
        free(got);
        free(want);
    }
    float *mine = malloc(cn * sizeof *mine);
    double cache_err = 0;
    for (uint32_t l = 0; l < c->layers; l++) {
        TU_OK(lsvk_lm_state_get_cache(state, l, mine, cn));
        double e = max_abs_diff(mine, caches[l], cn);
        if (!(e <= cache_err)) cache_err = e;
    }
    printf("  %-46s log-prob max diff %.2e, caches %.2e\n", what, worst, cache_err);
    TU_CHECK(worst <= 1e-4, "%s: log-probabilities differ by %.3g", what, worst);
    TU_CHECK(cache_err <= 1e-4, "%s: caches differ by %.3g", what, cache_err);
    free(mine);
    for (uint32_t l = 0; l < c->layers; l++) free(caches[l]);
    free(caches);
done:
    lsvk_lm_state_destroy(state);
    lsvk_ref_store_free(store);
    lsvk_lm_destroy(lm);
}

/* n tokens per stream one at a time vs the same tokens in blocks of block_len. */
static void steps_vs_blocks(lsvk_context *ctx, const lsvk_safetensors *st, const char *what, uint32_t B,
                            uint32_t block_len, const int32_t *text, uint32_t n) {
    lsvk_lm *lm = NULL;
    lsvk_lm_state *blocks = NULL, *steps = NULL;
    if (!TU_OK(lsvk_lm_load(ctx, st, &lm))) return;
    const lsvk_lm_config *c = lsvk_lm_get_config(lm);
    uint32_t V = c->vocab;
    float *want = malloc((size_t)B * n * V * sizeof *want), *got = malloc((size_t)B * V * sizeof *got);
    int32_t *tok = malloc((size_t)B * n * sizeof *tok);
    /* stream b reads the text from offset 7b, so that streams differ */
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t t = 0; t < n; t++) tok[(size_t)b * n + t] = text[t + 7 * b];
    if (!TU_OK(lsvk_lm_state_create(lm, B, block_len, &blocks)) || !TU_OK(lsvk_lm_state_create(lm, B, block_len, &steps)))
        goto done;
    /* block evaluation: [B, L] slices per block, log-probs scattered back to [B, n, V] */
    float *lp = malloc((size_t)B * block_len * V * sizeof *lp);
    int32_t *bt = malloc((size_t)B * block_len * sizeof *bt);
    for (uint32_t t0 = 0; t0 < n; t0 += block_len) {
        uint32_t L = n - t0 < block_len ? n - t0 : block_len;
        for (uint32_t b = 0; b < B; b++) memcpy(bt + (size_t)b * L, tok + (size_t)b * n + t0, L * sizeof *bt);
        TU_OK(lsvk_lm_forward(blocks, bt, L, lp));
        for (uint32_t b = 0; b < B; b++)
            memcpy(want + ((size_t)b * n + t0) * V, lp + (size_t)b * L * V, (size_t)L * V * sizeof *lp);
    }
    free(lp);
    free(bt);
    double worst = 0, worst_short = 0;
    int32_t cur[64];
    for (uint32_t t = 0; t < n; t++) {
        for (uint32_t b = 0; b < B; b++) cur[b] = tok[(size_t)b * n + t];
        tu_poison(got, (size_t)B * V);
        if (!TU_OK(lsvk_lm_step(steps, cur, got))) break;
        for (uint32_t b = 0; b < B; b++) {
            double e = max_abs_diff(got + (size_t)b * V, want + ((size_t)b * n + t) * V, V);
            if (!(e <= worst)) worst = e;
            if (t < c->mem_len && !(e <= worst_short)) worst_short = e;
        }
    }
    TU_CHECK(lsvk_lm_state_position(steps) == n, "%s: position %llu", what,
             (unsigned long long)lsvk_lm_state_position(steps));
    printf("  %-46s step vs block max diff %.2e (first mem_len: %.2e)\n", what, worst, worst_short);
    TU_CHECK(worst <= 1e-4, "%s: steps differ from blocks by %.3g", what, worst);
done:
    free(want);
    free(got);
    free(tok);
    lsvk_lm_state_destroy(blocks);
    lsvk_lm_state_destroy(steps);
    lsvk_lm_destroy(lm);
}

static void bad_inputs(lsvk_context *ctx, const lsvk_safetensors *st) {
    lsvk_lm *lm = NULL, *empty = NULL;
    lsvk_lm_state *s = NULL;
    if (!TU_OK(lsvk_lm_load(ctx, st, &lm))) return;
    const lsvk_lm_config *c = lsvk_lm_get_config(lm);
    TU_STATUS(lsvk_lm_create(ctx, c, &empty), LSVK_SUCCESS);
    TU_STATUS(lsvk_lm_state_create(empty, 1, 0, &s), LSVK_ERROR_STATE); /* weights never loaded */
    lsvk_lm_destroy(empty);
    lsvk_lm_config bad = *c;
    bad.heads = 3;
    TU_STATUS(lsvk_lm_create(ctx, &bad, &empty), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_lm_state_create(lm, 0, 0, &s), LSVK_ERROR_INVALID_ARGUMENT);
    if (!TU_OK(lsvk_lm_state_create(lm, 2, 20, &s))) goto done;
    TU_CHECK(lsvk_lm_state_block_len(s) % c->chunk_size == 0 && lsvk_lm_state_block_len(s) >= 20,
             "block_len rounded up to a chunk multiple: %u", lsvk_lm_state_block_len(s));
    int32_t tok[2 * 64] = {0};
    float lp[2 * 256];
    tok[1] = (int32_t)c->vocab;
    TU_STATUS(lsvk_lm_step(s, tok, lp), LSVK_ERROR_INVALID_ARGUMENT);
    tok[1] = -1;
    TU_STATUS(lsvk_lm_forward(s, tok, 4, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    tok[1] = 0;
    TU_STATUS(lsvk_lm_forward(s, tok, 0, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_lm_forward(s, tok, lsvk_lm_state_block_len(s) + 1, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_OK(lsvk_lm_step(s, tok, NULL));
    TU_STATUS(lsvk_lm_forward(s, tok, 4, NULL), LSVK_ERROR_STATE); /* mid-block */
    size_t cn = (size_t)2 * c->mem_len * c->dim;
    float *cache = calloc(cn, sizeof *cache);
    TU_STATUS(lsvk_lm_state_get_cache(s, 0, cache, cn), LSVK_ERROR_STATE);
    TU_OK(lsvk_lm_state_reset(s));
    TU_STATUS(lsvk_lm_state_get_cache(s, c->layers, cache, cn), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_lm_state_set_cache(s, 0, cache, cn - 1), LSVK_ERROR_SHAPE);
    cache[5] = NAN;
    TU_STATUS(lsvk_lm_state_set_cache(s, 0, cache, cn), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_lm_step(NULL, tok, lp), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_lm_load(ctx, NULL, &empty), LSVK_ERROR_INVALID_ARGUMENT);
    free(cache);
done:
    lsvk_lm_state_destroy(s);
    lsvk_lm_destroy(lm);
}

/* The bytes of the char-LM's held-out text, as token ids. */
static int32_t *read_text(const char *path, uint32_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    int32_t *t = malloc(n * sizeof *t);
    uint32_t i = 0;
    int ch;
    while (t && i < n && (ch = fgetc(f)) != EOF) t[i++] = ch;
    fclose(f);
    if (i < n) {
        free(t);
        return NULL;
    }
    return t;
}

int main(void) {
    lsvk_context *ctx = tu_context();
    if (!ctx) return 1;
    tu_rng rng = tu_rng_make(tu_seed());
    lsvk_safetensors *st = NULL;
    if (TU_OK(lsvk_safetensors_open(LSVK_TEST_DATA "/golden/causal_model.safetensors", &st))) {
        /* model: D 64, 4 heads, 2 layers, mem_len 48, cs 16, r 1, W 16 */
        const uint32_t lens[] = {32, 32, 32, 20};
        blocks_vs_ref(ctx, st, "causal_model weights B2, blocks 32,32,32,20", 2, 32, lens, 4, &rng);
        const uint32_t lens1[] = {16, 64, 3};
        blocks_vs_ref(ctx, st, "B3, block_len 64: 16,64,3", 3, 64, lens1, 3, &rng);
        int32_t text[160];
        for (int i = 0; i < 160; i++) text[i] = tu_randint(&rng, 0, 255);
        steps_vs_blocks(ctx, st, "B2 block_len 32, 130 tokens (mem_len 48)", 2, 32, text, 130);
        steps_vs_blocks(ctx, st, "B1 block_len 48, 40 tokens (< mem_len)", 1, 48, text, 40);
        bad_inputs(ctx, st);
        lsvk_safetensors_close(st);
    }
    /* the trained char-LM */
    const char *dir = getenv("LSVK_CHARLM_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/charlm.safetensors", dir ? dir : LSVK_TEST_DATA "/../models/charlm");
    st = NULL;
    if (lsvk_safetensors_open(path, &st) == LSVK_SUCCESS) {
        snprintf(path, sizeof path, "%s/valid.txt", dir ? dir : LSVK_TEST_DATA "/../models/charlm");
        int32_t *text = read_text(path, 700);
        if (TU_CHECK(text != NULL, "cannot read %s", path)) {
            const uint32_t lens[] = {256, 100};
            blocks_vs_ref(ctx, st, "charlm, blocks 256, 100", 1, 256, lens, 2, &rng);
            steps_vs_blocks(ctx, st, "charlm 600 tokens of valid.txt (mem_len 256)", 1, 256, text, 600);
        }
        free(text);
        lsvk_safetensors_close(st);
    } else {
        printf("  charlm: skipped (%s not found; set LSVK_CHARLM_DIR)\n", path);
    }
    return tu_finish(ctx);
}
