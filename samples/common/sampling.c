/* Sampling from log-probabilities; see sampling.h. */
#include "sampling.h"

#include <math.h>
#include <stdlib.h>

uint64_t lsvk_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double lsvk_rng_uniform(uint64_t *state) {
    return (double)(lsvk_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* NaN and -inf can never be drawn; +inf can (and then wins). */
static int usable(float v) {
    return !isnan(v) && v != -INFINITY;
}

int lsvk_argmax(const float *logprobs, int V) {
    if (!logprobs || V <= 0) return -1;
    int best = -1;
    for (int i = 0; i < V; i++)
        if (usable(logprobs[i]) && (best < 0 || logprobs[i] > logprobs[best])) best = i;
    return best;
}

/* Order of the top-k: a larger value first, the lower index first on ties (so the set is always
 * exactly k entries and does not depend on the scan). */
static int worse(const float *v, int a, int b) {
    return v[a] < v[b] || (v[a] == v[b] && a > b);
}

static void sift_down(const float *v, int *heap, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(v, heap[l], heap[m])) m = l;
        if (r < n && worse(v, heap[r], heap[m])) m = r;
        if (m == i) return;
        int t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

static void sift_up(const float *v, int *heap, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!worse(v, heap[i], heap[p])) return;
        int t = heap[i];
        heap[i] = heap[p];
        heap[p] = t;
        i = p;
    }
}

/* The k best usable indices into heap (a min-heap by `worse`, root = the k-th best); returns how
 * many there are (fewer than k when fewer entries are usable). O(V log k). */
static int top_k_indices(const float *v, int V, int k, int *heap) {
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (!usable(v[i])) continue;
        if (n < k) {
            heap[n] = i;
            sift_up(v, heap, n++);
        } else if (worse(v, heap[0], i)) {
            heap[0] = i;
            sift_down(v, heap, n, 0);
        }
    }
    return n;
}

/* Draws from exp((v[i] - max) / T) over the candidates (idx, or all usable entries when idx is
 * NULL), in double so that long tails still add up. idx is not const only because gcc's
 * -Wmaybe-uninitialized takes a const pointer to the top-k buffer for a read of unset data. */
static int draw(const float *v, int *idx, int n, double max, double T, uint64_t *rng) {
    double sum = 0;
    for (int j = 0; j < n; j++) {
        int i = idx ? idx[j] : j;
        if (usable(v[i])) sum += exp(((double)v[i] - max) / T);
    }
    double u = lsvk_rng_uniform(rng) * sum, acc = 0;
    int last = -1;
    for (int j = 0; j < n; j++) {
        int i = idx ? idx[j] : j;
        if (!usable(v[i])) continue;
        double w = exp(((double)v[i] - max) / T);
        if (w <= 0) continue;
        acc += w;
        last = i;
        if (u < acc) return i;
    }
    return last; /* u landed past the rounded total: the last entry with weight */
}

int lsvk_sample(const float *logprobs, int V, float temperature, int top_k, uint64_t *rng_state) {
    int best = lsvk_argmax(logprobs, V);
    /* Greedy, nothing usable, or a +inf entry (every other weight would be 0). */
    if (best < 0 || !(temperature > 0) || logprobs[best] == INFINITY) return best;
    if (!rng_state) return -1;
    double max = logprobs[best], T = temperature;
    if (top_k <= 0 || top_k >= V) return draw(logprobs, NULL, V, max, T, rng_state);
    if (top_k == 1) {
        lsvk_rng_uniform(rng_state); /* one draw per call, whatever k is */
        return best;
    }
    int stack[256], *heap = stack;
    if (top_k > (int)(sizeof stack / sizeof stack[0])) {
        heap = malloc((size_t)top_k * sizeof *heap);
        if (!heap) { /* the best entry is in any top-k: a valid, if greedy, answer */
            lsvk_rng_uniform(rng_state);
            return best;
        }
    }
    int n = top_k_indices(logprobs, V, top_k, heap);
    int tok = draw(logprobs, heap, n, max, T, rng_state);
    if (heap != stack) free(heap);
    return tok;
}
