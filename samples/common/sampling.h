/* Host-side sampling of the next token from log-probabilities (the lsvk_lm_* outputs), with a
 * small seeded generator so that a given seed always gives the same text. No allocation on the
 * common paths; nothing here prints or exits. */
#ifndef LSVK_SAMPLING_H
#define LSVK_SAMPLING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* splitmix64: the whole state is one uint64_t the caller owns; any seed (0 included) is fine. */
uint64_t lsvk_rng_next(uint64_t *state);
/* Uniform double in [0, 1), 53 bits. */
double lsvk_rng_uniform(uint64_t *state);

/* Index of the largest finite-or-+inf entry (the first one on ties); NaN and -inf entries are
 * skipped. -1 when there is none (V <= 0, logprobs NULL, or every entry -inf/NaN). */
int lsvk_argmax(const float *logprobs, int V);

/* One token drawn from softmax(logprobs / temperature) restricted to the top_k largest entries
 * (ties broken towards the lower index; top_k <= 0 or >= V: no restriction).
 * temperature <= 0 (or NaN) is greedy: lsvk_argmax, and rng_state is not advanced.
 * -inf and NaN entries are never picked; a +inf entry wins outright. The inputs need not be
 * normalised (logits work as well). Returns -1 when no entry can be picked (see lsvk_argmax) or
 * rng_state is NULL while sampling. Uses one lsvk_rng_uniform draw per call when sampling. */
int lsvk_sample(const float *logprobs, int V, float temperature, int top_k, uint64_t *rng_state);

#ifdef __cplusplus
}
#endif
#endif /* LSVK_SAMPLING_H */
