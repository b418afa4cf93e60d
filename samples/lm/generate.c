/* lsvk-lm generate: feeds a prompt token by token, then samples a continuation. */
#include "lm.h"
#include "sampling.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lm_generate(const options *o) {
    const char *prompt = o->prompt ? o->prompt : "";
    /* An empty prompt starts from a newline, as a text after a line break would. */
    const unsigned char *feed = (const unsigned char *)(*prompt ? prompt : "\n");
    const size_t plen = strlen((const char *)feed);
    model m;
    int rc = lm_model_open(o, &m);
    if (rc) return rc;
    lsvk_lm_state *state = NULL;
    float *lp = NULL;
    if (lm_check_bytes(feed, plen, m.cfg.vocab, "--prompt")) {
        rc = 1;
        goto done;
    }
    lsvk_status s = lsvk_lm_state_create(m.lm, 1, m.block, &state);
    if (s != LSVK_SUCCESS) {
        rc = lm_fail(s);
        goto done;
    }
    lp = malloc(m.cfg.vocab * sizeof *lp);
    if (!lp) {
        fprintf(stderr, "lsvk-lm: out of host memory\n");
        rc = 1;
        goto done;
    }
    uint64_t rng = o->seed_set ? (uint64_t)o->seed : (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)&rng << 16);
    const uint64_t seed = rng;
    /* One untimed step and a reset, so first-use setup (pipelines, buffers) is not in the rates. */
    int32_t t = feed[0];
    s = lsvk_lm_step(state, &t, NULL);
    if (s == LSVK_SUCCESS) s = lsvk_lm_state_reset(state);
    if (s != LSVK_SUCCESS) {
        rc = lm_fail(s);
        goto done;
    }
    fputs(prompt, stdout);
    fflush(stdout);
    double t0 = lm_now_s();
    for (size_t i = 0; i < plen; i++) {
        t = feed[i];
        /* Only the last prompt position's distribution is needed. */
        s = lsvk_lm_step(state, &t, i + 1 == plen ? lp : NULL);
        if (s != LSVK_SUCCESS) {
            rc = lm_fail(s);
            goto done;
        }
    }
    double t1 = lm_now_s();
    int last = *prompt ? (unsigned char)prompt[strlen(prompt) - 1] : '\n';
    long long g;
    for (g = 0; g < o->tokens; g++) {
        int next = lsvk_sample(lp, (int)m.cfg.vocab, (float)o->temperature, (int)o->top_k, &rng);
        if (next < 0) {
            fprintf(stderr, "\nlsvk-lm: no token can be sampled: every log-probability is -inf or NaN\n");
            rc = 1;
            goto done;
        }
        putchar(next);
        fflush(stdout);
        last = next;
        if (g + 1 == o->tokens) break; /* the last token's successor is not needed */
        t = next;
        s = lsvk_lm_step(state, &t, lp);
        if (s != LSVK_SUCCESS) {
            putchar('\n');
            rc = lm_fail(s);
            goto done;
        }
    }
    double t2 = lm_now_s();
    if (last != '\n') putchar('\n'); /* so the timing line starts a line of its own */
    fflush(stdout);
    fprintf(stderr, "prompt %zu tokens in %.3f s (%.1f tokens/s); generated %lld tokens in %.3f s (%.1f tokens/s); "
            "temperature %g, top-k %lld, seed %llu\n",
            plen, t1 - t0, t1 > t0 ? plen / (t1 - t0) : 0.0, o->tokens, t2 - t1,
            t2 > t1 ? o->tokens / (t2 - t1) : 0.0, o->temperature, o->top_k, (unsigned long long)seed);
done:
    free(lp);
    lsvk_lm_state_destroy(state);
    lm_model_close(&m);
    return rc;
}
