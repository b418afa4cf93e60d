/* Work per forward for the GFLOP/s and GB/s columns; the formulae are in docs/BENCHMARKS.md. */
#include "bench.h"

static double ls_flops(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim, H = o->heads, dh = D / H, r = o->landmarks;
    double e = o->window ? (o->window / 2 ? o->window / 2 : 1) : 0, kw = o->window ? o->window + 2 * e : 0;
    double proj = 2 * B * N * D * (3 * D + H * r) + 2 * B * N * D * D;  /* q, k, v, scores; W_o */
    double compress = 2 * 2 * B * H * r * N * dh;                        /* K̄ = PᵀK, V̄ = PᵀV */
    double attn = 2 * 2 * B * H * N * (r + kw) * dh;                      /* scores + weighted sum */
    return proj + compress + attn;
}

/* 2D layer: qkv, scores, proj; the projection over the image; every query's r + kw^2 + nglo
 * columns (masked ones included) and the global token's pass over the image. */
static double vision_flops(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, Nf = (double)o->nx * o->ny, D = o->dim, H = o->heads, dh = D / H;
    double r = o->landmarks, s = o->window / 2 ? o->window / 2 : 1, kw = o->window + 2 * s;
    double proj = 2 * B * N * D * (3 * D + H * r) + 2 * B * N * D * D;
    double compress = 2 * 2 * B * H * r * Nf * dh;
    double attn = 2 * 2 * B * H * Nf * (r + kw * kw + o->nglo) * dh + (o->nglo ? 2 * 2 * B * H * Nf * dh : 0);
    return proj + compress + attn;
}

static double full_flops(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim;
    return 2 * B * N * D * 4 * D + 4 * B * N * N * D;
}

/* Compulsory traffic: inputs, parameters and outputs once, every intermediate written and read
 * once (what a perfectly fused implementation could not avoid). */
static double ls_bytes(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim, HR = (double)o->heads * o->landmarks;
    double params = 4 * D * D + HR * D + 8 * D + HR;
    return 4 * (2 * B * N * D + params + 2 * (4 * B * N * D + B * N * HR));
}

static double vision_bytes(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim, HR = (double)o->heads * o->landmarks;
    double params = 4 * D * D + HR * D + 10 * D + HR;
    return 4 * (2 * B * N * D + params + 2 * (4 * B * N * D + B * N * HR));
}

static double full_bytes(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim;
    return 4 * (2 * B * N * D + 4 * D * D + 4 * D + 2 * (4 * B * N * D));
}

double bench_flops(const options *o, bench_kind k, int64_t n) {
    return k == BENCH_VISION ? vision_flops(o, n) : k == BENCH_LS ? ls_flops(o, n) : full_flops(o, n);
}

double bench_bytes(const options *o, bench_kind k, int64_t n) {
    return k == BENCH_VISION ? vision_bytes(o, n) : k == BENCH_LS ? ls_bytes(o, n) : full_bytes(o, n);
}
