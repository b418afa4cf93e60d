/* Host-side next-token sampling (samples/common/sampling.c, used by lsvk-lm): greedy is the
 * argmax; top-k 1 is greedy; a seed gives the same sequence; draws follow softmax(lp / T) (and
 * its top-k renormalisation); nothing outside the top k, and no -inf or NaN entry, is ever
 * drawn. The sampler's own seeds are fixed so the statistical checks are deterministic; the
 * random inputs follow tu_seed. */
#include "testutil.h"
#include "sampling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAWS 100000
/* Over the ~300 entries checked, a correct sampler exceeds 5.5 sigma with probability ~1e-5;
 * on these inputs a temperature 20% off lands 13-34 sigmas off, and T 2 sampled as T 1 about 70. */
#define MAX_SIGMAS 5.5

/* log_softmax in place, in double, as the model's outputs are. */
static void log_softmax(float *x, int n) {
    double m = -INFINITY, s = 0;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    for (int i = 0; i < n; i++) s += exp((double)x[i] - m);
    for (int i = 0; i < n; i++) x[i] = (float)((double)x[i] - m - log(s));
}

static void random_logprobs(tu_rng *r, float *x, int n, float scale) {
    tu_fill_randn(r, x, (size_t)n, scale);
    log_softmax(x, n);
}

/* Reference: probabilities of softmax(lp / T) over the k largest (k <= 0: all). */
static void reference_probs(const float *lp, int n, double T, int k, double *p) {
    int *rank_above = calloc((size_t)n, sizeof *rank_above);
    double m = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            if (lp[j] > lp[i] || (lp[j] == lp[i] && j < i)) rank_above[i]++;
        if (lp[i] > m) m = lp[i];
    }
    for (int i = 0; i < n; i++) {
        int in = (k <= 0 || rank_above[i] < k) && lp[i] != -INFINITY;
        p[i] = in ? exp(((double)lp[i] - m) / T) : 0;
        s += p[i];
    }
    for (int i = 0; i < n; i++) p[i] /= s;
    free(rank_above);
}

/* The worst deviation of the empirical frequencies from the reference over DRAWS draws, in
 * standard deviations of a binomial count (|c - Np| / sqrt(Np(1-p))), so one bound fits every
 * input the seed makes: an absolute bound on |c/N - p| was about 3 sigma for p near 1/2 and
 * failed one run in a few hundred. An entry of probability 0 that is drawn is infinitely off. */
static double frequency_sigmas(const float *lp, int n, float T, int k, uint64_t seed) {
    double *p = malloc((size_t)n * sizeof *p), worst = 0;
    long *count = calloc((size_t)n, sizeof *count);
    reference_probs(lp, n, T, k, p);
    uint64_t rng = seed;
    int bad = 0;
    for (int d = 0; d < DRAWS; d++) {
        int t = lsvk_sample(lp, n, T, k, &rng);
        if (t < 0 || t >= n) bad++;
        else count[t]++;
    }
    for (int i = 0; i < n; i++) {
        /* Counts of a rare entry are Poisson, not normal: a variance floor of 2 keeps one
         * stray draw of a p = 1e-7 entry from reading as 30 sigmas. */
        double mean = p[i] * DRAWS, var = fmax(mean * (1 - p[i]), 2.0);
        double z = p[i] > 0 ? fabs((double)count[i] - mean) / sqrt(var) : (count[i] ? INFINITY : 0);
        if (z > worst) worst = z;
    }
    free(p);
    free(count);
    return bad ? INFINITY : worst;
}

static void test_greedy(tu_rng *r) {
    float lp[300];
    for (int trial = 0; trial < 200; trial++) {
        int n = tu_randint(r, 1, 300);
        random_logprobs(r, lp, n, 3.0f);
        int want = 0;
        for (int i = 1; i < n; i++)
            if (lp[i] > lp[want]) want = i;
        uint64_t rng = 7, before = rng;
        TU_CHECK(lsvk_argmax(lp, n) == want, "argmax of %d entries", n);
        TU_CHECK(lsvk_sample(lp, n, 0.0f, 0, &rng) == want, "temperature 0 is the argmax (n %d)", n);
        TU_CHECK(lsvk_sample(lp, n, -1.0f, 5, &rng) == want, "negative temperature is greedy");
        TU_CHECK(lsvk_sample(lp, n, NAN, 0, NULL) == want, "NaN temperature is greedy, needs no rng");
        TU_CHECK(rng == before, "greedy does not advance the generator");
        /* top-k 1 at any temperature is the argmax too. */
        TU_CHECK(lsvk_sample(lp, n, 1.0f, 1, &rng) == want, "top-k 1 at T 1 is greedy (n %d)", n);
        TU_CHECK(lsvk_sample(lp, n, 100.0f, 1, &rng) == want, "top-k 1 at T 100 is greedy (n %d)", n);
    }
    /* Ties go to the first. */
    float tie[5] = {-2.0f, -1.0f, -3.0f, -1.0f, -1.0f};
    TU_CHECK(lsvk_argmax(tie, 5) == 1, "argmax on ties is the first");
    uint64_t rng = 1;
    TU_CHECK(lsvk_sample(tie, 5, 0.0f, 0, &rng) == 1, "greedy on ties is the first");
}

static void test_reproducible(tu_rng *r) {
    float lp[256];
    random_logprobs(r, lp, 256, 2.0f);
    int a[500], b[500], c[500];
    uint64_t s1 = 12345, s2 = 12345, s3 = 12346;
    for (int i = 0; i < 500; i++) {
        a[i] = lsvk_sample(lp, 256, 0.8f, 40, &s1);
        b[i] = lsvk_sample(lp, 256, 0.8f, 40, &s2);
        c[i] = lsvk_sample(lp, 256, 0.8f, 40, &s3);
    }
    TU_CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same sequence");
    TU_CHECK(memcmp(a, c, sizeof a) != 0, "another seed, another sequence");
    /* The generator itself: fixed first outputs for seed 0 (splitmix64's published values). */
    uint64_t g = 0;
    TU_CHECK(lsvk_rng_next(&g) == 0xe220a8397b1dcdafull, "splitmix64 first output");
    TU_CHECK(lsvk_rng_next(&g) == 0x6e789e6aa1b965f4ull, "splitmix64 second output");
    double sum = 0, lo = 1, hi = 0;
    g = 99;
    for (int i = 0; i < DRAWS; i++) {
        double u = lsvk_rng_uniform(&g);
        sum += u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    TU_CHECK(lo >= 0 && hi < 1 && fabs(sum / DRAWS - 0.5) < 0.005, "uniform in [0,1): min %g max %g mean %g", lo,
             hi, sum / DRAWS);
}

static void test_frequencies(tu_rng *r) {
    float lp[16];
    random_logprobs(r, lp, 16, 1.5f);
    double e = frequency_sigmas(lp, 16, 1.0f, 0, 2024);
    TU_CHECK(e < MAX_SIGMAS, "T 1: frequencies match softmax, %.2f sigmas off", e);
    e = frequency_sigmas(lp, 16, 0.5f, 0, 2025);
    TU_CHECK(e < MAX_SIGMAS, "T 0.5: frequencies match softmax(lp / 0.5), %.2f sigmas off", e);
    e = frequency_sigmas(lp, 16, 2.0f, 0, 2026);
    TU_CHECK(e < MAX_SIGMAS, "T 2: frequencies match softmax(lp / 2), %.2f sigmas off", e);
    e = frequency_sigmas(lp, 16, 1.0f, 4, 2027);
    TU_CHECK(e < MAX_SIGMAS, "top-k 4: frequencies match the renormalised top 4, %.2f sigmas off", e);
    /* Unnormalised logits give the same distribution. */
    float logits[16];
    for (int i = 0; i < 16; i++) logits[i] = lp[i] + 37.0f;
    e = frequency_sigmas(logits, 16, 1.0f, 0, 2028);
    TU_CHECK(e < MAX_SIGMAS, "logits (not normalised): %.2f sigmas off", e);
    /* A byte-level model's 256 entries. */
    float big[256];
    random_logprobs(r, big, 256, 1.0f);
    e = frequency_sigmas(big, 256, 1.0f, 0, 2029);
    TU_CHECK(e < MAX_SIGMAS, "256 entries at T 1: %.2f sigmas off", e);
}

/* Whether index t is among the k largest (ties towards the lower index). */
static int in_top_k(const float *lp, int n, int k, int t) {
    int above = 0;
    for (int j = 0; j < n; j++)
        if (lp[j] > lp[t] || (lp[j] == lp[t] && j < t)) above++;
    return above < k;
}

static void test_top_k(tu_rng *r) {
    static float lp[1000];
    int outside = 0, draws = 0;
    for (int trial = 0; trial < 40; trial++) {
        int n = tu_randint(r, 2, 1000), k = tu_randint(r, 1, n);
        if (trial % 4 == 0) k = tu_randint(r, 257, 1000) % n + 1; /* the allocating path too */
        random_logprobs(r, lp, n, 0.5f);
        /* A few exact ties, so the boundary of the top k is sometimes a tie. */
        for (int i = 0; i + 1 < n; i += 7) lp[i + 1] = lp[i];
        uint64_t rng = (uint64_t)trial;
        for (int d = 0; d < 500; d++, draws++) {
            int t = lsvk_sample(lp, n, 3.0f, k, &rng); /* hot: spreads draws to the edge */
            if (t < 0 || t >= n || !in_top_k(lp, n, k, t)) outside++;
        }
    }
    TU_CHECK(outside == 0, "top-k: %d of %d draws outside the top k", outside, draws);
    /* Every one of the top k is reachable: k 3 of 10 at a high temperature hits all three. */
    float ten[10] = {-5, -1, -4, -2, -6, -3, -7, -8, -9, -10};
    int hit[10] = {0};
    uint64_t rng = 5;
    for (int d = 0; d < 3000; d++) {
        int t = lsvk_sample(ten, 10, 10.0f, 3, &rng);
        if (TU_CHECK(t >= 0 && t < 10, "draw %d in range", t)) hit[t]++;
    }
    TU_CHECK(hit[1] && hit[3] && hit[5], "top 3 all drawn: %d %d %d", hit[1], hit[3], hit[5]);
    int rest = 0;
    for (int i = 0; i < 10; i++)
        if (i != 1 && i != 3 && i != 5) rest += hit[i];
    TU_CHECK(rest == 0, "top 3: %d draws elsewhere", rest);
}

static void test_non_finite(tu_rng *r) {
    float lp[64];
    random_logprobs(r, lp, 64, 1.0f);
    for (int i = 0; i < 64; i += 2) lp[i] = -INFINITY;
    lp[1] = NAN;
    int bad = 0;
    uint64_t rng = 77;
    const float temps[3] = {0.5f, 1.0f, 50.0f};
    const int ks[3] = {0, 10, 60};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int d = 0; d < 5000; d++) {
                int t = lsvk_sample(lp, 64, temps[a], ks[b], &rng);
                if (t < 0 || t % 2 == 0 || t == 1) bad++;
            }
    TU_CHECK(bad == 0, "-inf / NaN entries drawn %d times", bad);
    /* -inf first: greedy must not return index 0. */
    float first[4] = {-INFINITY, -3.0f, -0.5f, -INFINITY};
    TU_CHECK(lsvk_argmax(first, 4) == 2, "argmax skips -inf");
    /* Only one usable entry: always it, whatever T and k. */
    float one[5] = {-INFINITY, -INFINITY, -INFINITY, -2.0f, NAN};
    rng = 3;
    int only = 1;
    for (int d = 0; d < 1000; d++) only &= lsvk_sample(one, 5, 1.0f, d % 4, &rng) == 3;
    TU_CHECK(only, "a single usable entry is always drawn");
    /* A +inf entry wins. */
    float pinf[4] = {-1.0f, INFINITY, -0.5f, -2.0f};
    TU_CHECK(lsvk_sample(pinf, 4, 1.0f, 0, &rng) == 1, "+inf wins");
    /* Nothing usable, nothing to sample from, no generator: -1, no crash. */
    float none[3] = {-INFINITY, NAN, -INFINITY};
    TU_CHECK(lsvk_sample(none, 3, 1.0f, 0, &rng) == -1, "all -inf/NaN: -1");
    TU_CHECK(lsvk_sample(none, 3, 0.0f, 0, &rng) == -1, "all -inf/NaN greedy: -1");
    TU_CHECK(lsvk_argmax(none, 3) == -1, "argmax of all -inf/NaN: -1");
    TU_CHECK(lsvk_sample(lp, 0, 1.0f, 0, &rng) == -1, "V 0: -1");
    TU_CHECK(lsvk_sample(NULL, 64, 1.0f, 0, &rng) == -1, "NULL: -1");
    TU_CHECK(lsvk_sample(lp, 64, 1.0f, 0, NULL) == -1, "sampling without a generator: -1");
    /* Extreme temperatures stay inside the usable entries. */
    float tiny[3] = {-1.0f, -1e-3f, -50.0f};
    TU_CHECK(lsvk_sample(tiny, 3, 1e-30f, 0, &rng) == 1, "T 1e-30 is effectively greedy");
    int seen[3] = {0};
    for (int d = 0; d < 3000; d++) {
        int t = lsvk_sample(tiny, 3, INFINITY, 0, &rng);
        if (TU_CHECK(t >= 0 && t < 3, "draw %d in range", t)) seen[t]++;
    }
    TU_CHECK(seen[0] && seen[1] && seen[2], "T inf is uniform over the usable entries");
}

int main(void) {
    tu_rng r = tu_rng_make(tu_seed());
    test_greedy(&r);
    test_reproducible(&r);
    test_frequencies(&r);
    test_top_k(&r);
    test_non_finite(&r);
    return tu_finish(NULL);
}
