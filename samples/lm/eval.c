/* lsvk-lm eval: bits per character over a text, block by block as the reference measured valid_bpc. */
#include "lm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* eval scores whole blocks only: one block and its targets is the least it can use. */
static int too_short(const options *o, size_t n, uint32_t block) {
    if (n >= (size_t)block + 1) return 0;
    fprintf(stderr, "lsvk-lm: %s: %zu byte%s%s; eval needs at least one block and its targets (%zu bytes)\n",
            o->text, n, n == 1 ? "" : "s", o->limit >= 0 ? " (with --limit)" : "", (size_t)block + 1);
    return 1;
}

int lm_eval(const options *o) {
    bytes text;
    size_t max = o->limit < 0 || (unsigned long long)o->limit > SIZE_MAX ? SIZE_MAX : (size_t)o->limit;
    if (lm_read_bytes(o->text, max, &text) != 0) return 1;
    if (text.size == 0) {
        fprintf(stderr, "lsvk-lm: %s: no text to evaluate (%s)\n", o->text,
                o->limit == 0 ? "--limit 0" : "the file is empty");
        free(text.data);
        return 1;
    }
    model m;
    int rc = lm_model_open_file(o, &m);
    if (!rc && m.block && too_short(o, text.size, m.block)) {
        lm_model_close(&m);
        rc = 1;
    }
    if (!rc) rc = lm_model_load(o, &m);
    if (rc) {
        free(text.data);
        return rc;
    }
    lsvk_lm_state *state = NULL;
    float *lp = NULL;
    int32_t *tok = NULL;
    const size_t B = m.block, V = m.cfg.vocab, n = text.size;
    if (too_short(o, n, m.block)) {
        rc = 1;
        goto done;
    }
    if (lm_check_bytes(text.data, n, m.cfg.vocab, o->text)) {
        rc = 1;
        goto done;
    }
    /* Blocks at s = 0, B, 2B, ... while s + B < n (range(0, n - 1 - B + 1, B)). */
    const size_t nblocks = (n - 1) / B, count = nblocks * B;
    lsvk_status s = lsvk_lm_state_create(m.lm, 1, (uint32_t)B, &state);
    if (s != LSVK_SUCCESS) {
        rc = lm_fail(s);
        goto done;
    }
    lp = malloc(B * V * sizeof *lp);
    tok = malloc(B * sizeof *tok);
    if (!lp || !tok) {
        fprintf(stderr, "lsvk-lm: out of host memory\n");
        rc = 1;
        goto done;
    }
    double nll = 0; /* in double: 10^5 terms of float log-probs */
    size_t bad = 0;
    progress pr;
    lm_progress_start(&pr);
    for (size_t k = 0; k < nblocks; k++) {
        const unsigned char *blk = text.data + k * B;
        for (size_t i = 0; i < B; i++) tok[i] = blk[i];
        s = lsvk_lm_forward(state, tok, (uint32_t)B, lp);
        if (s != LSVK_SUCCESS) {
            if (pr.tty && k) fputc('\n', stderr);
            rc = lm_fail(s);
            goto done;
        }
        for (size_t i = 0; i < B; i++) {
            float v = lp[i * V + blk[i + 1]];
            if (!isfinite(v)) bad++;
            nll -= v;
        }
        lm_progress_update(&pr, k + 1, nblocks, (k + 1) * B);
    }
    double el = lm_now_s() - pr.start;
    double bpc = nll / (double)count / log(2.0);
    printf("bpc %.5f over %zu characters (%zu blocks of %zu)\n", bpc, count, nblocks, B);
    /* The reference figure is for the whole valid.txt with the config's block. */
    if (m.has_valid_bpc && strcmp(lm_base_name(o->text), "valid.txt") == 0) {
        int comparable = o->limit < 0 && strcmp(m.block_from, "--block") != 0;
        printf("reference valid_bpc %.6f, difference %+.6f%s\n", m.valid_bpc, bpc - m.valid_bpc,
               comparable ? "" : " (not comparable: --limit or --block changes what is scored)");
    }
    printf("time %.2f s, %.0f chars/s\n", el, el > 0 ? (double)count / el : 0);
    if (bad) {
        fprintf(stderr, "lsvk-lm: %zu target log-probabilities were -inf or NaN\n", bad);
        rc = 1;
    }
done:
    free(lp);
    free(tok);
    lsvk_lm_state_destroy(state);
    lm_model_close(&m);
    free(text.data);
    return rc;
}
