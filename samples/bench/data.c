/* The host data of a run: seeded random inputs and each layer's parameters, so that every run and
 * every build sees the same numbers. */
#include "bench.h"
#include "ref/ref_vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_rng = 0x243f6a8885a308d3ull;
static double randn(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    double u1 = ((g_rng >> 11) + 1.0) / 9007199254740993.0;
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    double u2 = (g_rng >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

float *bench_rand_floats(size_t n, float mean, float scale) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    if (a)
        for (size_t i = 0; i < n; i++) a[i] = mean + scale * (float)randn();
    return a;
}

void bench_make_weights(const options *o, weights *w) {
    size_t D = o->dim, HR = (size_t)o->heads * o->landmarks;
    static const char *names[] = {"W_q.weight", "W_q.bias", "W_k.weight", "W_k.bias", "W_v.weight", "W_v.bias",
                                  "W_o.weight", "W_o.bias", "dual_ln_l.weight", "dual_ln_l.bias",
                                  "dual_ln_s.weight", "dual_ln_s.bias", "dconv_fc.weight", "dconv_fc.bias"};
    memset(w, 0, sizeof *w);
    for (int i = 0; i < 14; i++) {
        if (i >= 12 && HR == 0) break;
        size_t n = i < 8 ? (i % 2 ? D : D * D) : i < 12 ? D : i == 12 ? HR * D : HR;
        int ln_w = i == 8 || i == 10;
        float scale = (i % 2 == 1 || ln_w) ? 0.1f : 1.0f / sqrtf((float)D);
        w->name[w->n] = names[i];
        w->count[w->n] = n;
        w->data[w->n] = bench_rand_floats(n, ln_w ? 1.0f : 0.0f, scale);
        w->n++;
    }
}

/* The vision layer's parameters by its reference names. */
void bench_make_vision_weights(const options *o, weights *w) {
    size_t D = o->dim, HR = (size_t)o->heads * o->landmarks;
    size_t T = o->rpe ? (size_t)lsvk_ref_vision_rpe_rows((int)o->window) * o->heads : 0;
    static const char *names[] = {"qkv.weight", "qkv.bias", "proj.weight", "proj.bias", "dual_ln_full.weight",
                                  "dual_ln_full.bias", "dual_ln_dp.weight", "dual_ln_dp.bias",
                                  "to_dynamic_projection.weight", "to_dynamic_projection.bias",
                                  "local_relative_position_bias_table"};
    size_t counts[] = {3 * D * D, 3 * D, D * D, D, D, D, D, D, HR * D, HR, T};
    memset(w, 0, sizeof *w);
    for (int i = 0; i < 11; i++) {
        if (counts[i] == 0) continue;
        int ln_w = i == 4 || i == 6, mat = i == 0 || i == 2 || i == 8;
        w->name[w->n] = names[i];
        w->count[w->n] = counts[i];
        float scale = mat ? 1.0f / sqrtf((float)D) : i == 10 ? 0.5f : 0.1f;
        w->data[w->n] = bench_rand_floats(counts[i], ln_w ? 1.0f : 0.0f, scale);
        w->n++;
    }
}

void bench_free_weights(weights *w) {
    for (int i = 0; i < w->n; i++) free(w->data[i]);
}

const float *bench_wget(const weights *w, const char *name) {
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->name[i], name) == 0) return w->data[i];
    return NULL;
}
