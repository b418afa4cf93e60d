/* lsvk-lm bench: greedy generation speed of lsvk_lm_step against a whole-window forward per token. */
#include "lm.h"
#include "sampling.h"

#include <stdio.h>
#include <stdlib.h>

/* The opening of Sonnet 18 and of Antony's speech in Julius Caesar (public domain). */
static const char BENCH_PROMPT[] =
    "Shall I compare thee to a summer's day?\n"
    "Thou art more lovely and more temperate:\n"
    "Rough winds do shake the darling buds of May,\n"
    "And summer's lease hath all too short a date;\n"
    "Sometime too hot the eye of heaven shines,\n"
    "And often is his gold complexion dimm'd;\n"
    "And every fair from fair sometime declines,\n"
    "By chance or nature's changing course untrimm'd;\n"
    "But thy eternal summer shall not fade,\n"
    "Nor lose possession of that fair thou owest;\n"
    "Nor shall Death brag thou wander'st in his shade,\n"
    "When in eternal lines to time thou growest:\n"
    "So long as men can breathe or eyes can see,\n"
    "So long lives this and this gives life to thee.\n"
    "\n"
    "ANTONY:\n"
    "Friends, Romans, countrymen, lend me your ears;\n"
    "I come to bury Caesar, not to praise him.\n"
    "The evil that men do lives after them;\n"
    "The good is oft interred with their bones;\n"
    "So let it be with Caesar. The noble Brutus\n"
    "Hath told you Caesar was ambitious:\n"
    "If it were so, it was a grievous fault,\n"
    "And grievously hath Caesar answer'd it.\n";

/* S streams, each fed the prompt and then its own greedy tokens, one lsvk_lm_step for all per
 * position: the generation time of the S * N tokens, or a negative value (message printed). */
static double batched(const model *m, const unsigned char *src, size_t C, size_t N, size_t S) {
    const size_t V = m->cfg.vocab;
    lsvk_lm_state *st = NULL;
    float *lp = malloc(S * V * sizeof *lp);
    int32_t *tok = malloc(S * sizeof *tok);
    double t = -1;
    lsvk_status s = LSVK_ERROR_OUT_OF_HOST_MEMORY;
    if (!lp || !tok) goto done;
    if ((s = lsvk_lm_state_create(m->lm, (uint32_t)S, m->block, &st)) != LSVK_SUCCESS) goto done;
    for (size_t b = 0; b < S; b++) tok[b] = src[0];
    if ((s = lsvk_lm_step(st, tok, lp)) != LSVK_SUCCESS || (s = lsvk_lm_state_reset(st)) != LSVK_SUCCESS)
        goto done; /* untimed warm-up */
    for (size_t i = 0; i < C; i++) {
        for (size_t b = 0; b < S; b++) tok[b] = src[i];
        if ((s = lsvk_lm_step(st, tok, i + 1 == C ? lp : NULL)) != LSVK_SUCCESS) goto done;
    }
    double t0 = lm_now_s();
    for (size_t g = 0; g < N; g++) {
        for (size_t b = 0; b < S; b++) {
            int next = lsvk_argmax(lp + b * V, (int)V);
            tok[b] = next < 0 ? 0 : next;
        }
        if (g + 1 < N && (s = lsvk_lm_step(st, tok, lp)) != LSVK_SUCCESS) goto done;
    }
    t = lm_now_s() - t0;
    s = LSVK_SUCCESS;
done:
    if (s != LSVK_SUCCESS) lm_fail(s);
    free(lp);
    free(tok);
    lsvk_lm_state_destroy(st);
    return t;
}

int lm_bench(const options *o) {
    bytes text = {NULL, 0};
    if (o->text && lm_read_bytes(o->text, (size_t)o->context, &text) != 0) return 1;
    const unsigned char *src = o->text ? text.data : (const unsigned char *)BENCH_PROMPT;
    size_t avail = o->text ? text.size : sizeof BENCH_PROMPT - 1;
    size_t C = (size_t)o->context < avail ? (size_t)o->context : avail;
    if ((size_t)o->context > avail)
        fprintf(stderr, "lsvk-lm: the prompt has %zu bytes only (--context %lld)\n", avail, o->context);
    const size_t N = (size_t)o->tokens;
    if (C == 0) { /* as generate: an empty prompt starts from a newline */
        src = (const unsigned char *)"\n";
        C = 1;
    }
    model m;
    int rc = lm_model_open(o, &m);
    if (rc) {
        free(text.data);
        return rc;
    }
    const size_t B = m.block, V = m.cfg.vocab;
    lsvk_lm_state *inc = NULL, *rec = NULL;
    float *lp = NULL;
    int32_t *seq_inc = NULL, *seq_rec = NULL;
    lsvk_status s = LSVK_SUCCESS;
    if (lm_check_bytes(src, C, m.cfg.vocab, o->text ? o->text : "prompt")) {
        rc = 1;
        goto done;
    }
    lp = malloc(B * V * sizeof *lp);
    seq_inc = malloc((C + N) * sizeof *seq_inc);
    seq_rec = malloc((C + N) * sizeof *seq_rec);
    if (!lp || !seq_inc || !seq_rec) {
        fprintf(stderr, "lsvk-lm: out of host memory\n");
        rc = 1;
        goto done;
    }
    for (size_t i = 0; i < C; i++) seq_inc[i] = seq_rec[i] = src[i];
    if ((s = lsvk_lm_state_create(m.lm, 1, (uint32_t)B, &inc)) != LSVK_SUCCESS ||
        (s = lsvk_lm_state_create(m.lm, 1, (uint32_t)B, &rec)) != LSVK_SUCCESS)
        goto lib_fail;
    /* Untimed warm-up of both paths (pipeline creation, first allocations). */
    if ((s = lsvk_lm_step(inc, seq_inc, lp)) != LSVK_SUCCESS || (s = lsvk_lm_state_reset(inc)) != LSVK_SUCCESS ||
        (s = lsvk_lm_forward(rec, seq_rec, (uint32_t)(C < B ? C : B), lp)) != LSVK_SUCCESS)
        goto lib_fail;

    /* (a) incremental: the prompt once, then one step per token. */
    double t0 = lm_now_s();
    for (size_t i = 0; i < C; i++)
        if ((s = lsvk_lm_step(inc, &seq_inc[i], i + 1 == C ? lp : NULL)) != LSVK_SUCCESS) goto lib_fail;
    double t1 = lm_now_s();
    for (size_t g = 0; g < N; g++) {
        int next = lsvk_argmax(lp, (int)V);
        if (next < 0) goto no_token;
        seq_inc[C + g] = next;
        if (g + 1 < N && (s = lsvk_lm_step(inc, &seq_inc[C + g], lp)) != LSVK_SUCCESS) goto lib_fail;
    }
    double t2 = lm_now_s();

    /* (b) recompute: per token, a fresh zero cache and one forward over the last min(len, B) tokens;
     * only the last position's distribution is used. */
    double t3 = lm_now_s();
    for (size_t g = 0; g < N; g++) {
        size_t len = C + g, w = len < B ? len : B;
        if ((s = lsvk_lm_state_reset(rec)) != LSVK_SUCCESS ||
            (s = lsvk_lm_forward(rec, seq_rec + len - w, (uint32_t)w, lp)) != LSVK_SUCCESS)
            goto lib_fail;
        int next = lsvk_argmax(lp + (w - 1) * V, (int)V);
        if (next < 0) goto no_token;
        seq_rec[len] = next;
    }
    double t4 = lm_now_s();

    /* (c) with --streams S: S streams at once */
    const size_t S = (size_t)o->streams;
    double batch_s = 0;
    if (S > 1 && (batch_s = batched(&m, src, C, N, S)) < 0) {
        rc = 1;
        goto done;
    }
    double batch_rate = batch_s > 0 ? (double)(S * N) / batch_s : 0;

    size_t agree = 0;
    while (agree < N && seq_inc[C + agree] == seq_rec[C + agree]) agree++;
    double inc_s = t2 - t1, rec_s = t4 - t3, prompt_s = t1 - t0;
    double inc_rate = inc_s > 0 ? N / inc_s : 0, rec_rate = rec_s > 0 ? N / rec_s : 0;
    double ratio = rec_rate > 0 ? inc_rate / rec_rate : 0;
    if (o->csv) {
        printf("method,context,tokens,block,seconds,tokens_per_s,speedup,agree_tokens\n");
        printf("incremental,%zu,%zu,%zu,%.6f,%.2f,%.3f,%zu\n", C, N, B, inc_s, inc_rate, ratio, agree);
        printf("recompute,%zu,%zu,%zu,%.6f,%.2f,%.3f,%zu\n", C, N, B, rec_s, rec_rate, 1.0, agree);
        if (S > 1)
            printf("incremental_x%zu,%zu,%zu,%zu,%.6f,%.2f,%.3f,\n", S, C, N, B, batch_s, batch_rate,
                   rec_rate > 0 ? batch_rate / rec_rate : 0);
    } else {
        printf("prompt %zu bytes, %zu tokens greedy, block %zu\n", C, N, B);
        printf("incremental (lsvk_lm_step per token)     %8.3f s  %10.1f tokens/s   (prompt: %.1f tokens/s)\n",
               inc_s, inc_rate, prompt_s > 0 ? C / prompt_s : 0.0);
        printf("recompute   (window forward per token)   %8.3f s  %10.1f tokens/s\n", rec_s, rec_rate);
        if (S > 1)
            printf("incremental x %zu streams (one step for all)  %8.3f s  %10.1f tokens/s\n", S, batch_s, batch_rate);
        printf("speed-up %.2fx\n", ratio);
        if (agree == N) {
            printf("sequences agree (%zu tokens)\n", N);
        } else {
            /* Token g comes from position C+g-1: below B both ways see the same tokens from a zero
             * cache; past it the recompute window slides while the incremental cache moves once per
             * block, so the two are different (both legitimate) conditionings. */
            size_t pos = C + agree - 1;
            printf("sequences differ from generated token %zu (position %zu)%s\n", agree, pos,
                   pos < B ? ": inside the first block, where step and forward should agree"
                           : ": past the first block, where the recompute window and the block cache differ");
        }
    }
    goto done;
lib_fail:
    rc = lm_fail(s);
    goto done;
no_token:
    fprintf(stderr, "lsvk-lm: no token can be picked: every log-probability is -inf or NaN\n");
    rc = 1;
done:
    free(lp);
    free(seq_inc);
    free(seq_rec);
    lsvk_lm_state_destroy(inc);
    lsvk_lm_state_destroy(rec);
    lm_model_close(&m);
    free(text.data);
    return rc;
}
