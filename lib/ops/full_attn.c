/* lsvk_attention: full softmax attention, fused flash-style (no N x N matrix in memory).
 *
 * Two shaders compute the same thing:
 *
 * shaders/attention_shuffle.comp, for CPU devices (lavapipe) whose subgroup size is fixed
 *   (min = max = subgroupSize) and that have subgroup shuffles in compute: one subgroup per
 *   workgroup, each lane R ~ 128 / dh query rows (1..8), K/V rows loaded once per
 *   subgroup and passed between lanes with shuffles. lavapipe loads memory lane by lane inside
 *   loops, so this is several times faster there than shared-memory tiles (B*H 8, N 4096, dh 64,
 *   2 cores at width 256: 29 GFLOP/s against 4.5 for attention.comp with T = 1).
 *
 * shaders/attention.comp everywhere else: BQ query rows per workgroup, T invocations per row, BK
 *   keys per shared-memory tile.
 *     GPUs: T = the power of two that leaves each invocation at most 16 of the dh values
 *       (dh 64: T = 4, dh 256: T = 16), BQ = 128 / T, BK = 32.
 *     CPUs without the shuffle path: T = 1 (one row per invocation), BQ = 32, BK = 32.
 *   BK then shrinks (to a multiple of 4, at least 1) until the K and V tiles (and the partial-score
 *   buffer for T > 1) fit in min(maxComputeSharedMemorySize, 32 KiB); dh 256 fits in 16 KiB.
 *
 * LSVK_ATTENTION_TILES overrides the choice (tests and tuning): "BQ,T,BK" runs attention.comp with
 * that shape, "shuffle,R" runs attention_shuffle.comp with R rows per lane (where it can run).
 * An override that breaks a device limit is ignored. */
#include "ops/op_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(attention);
LSVK_DECLARE_SHADER(attention_shuffle);

typedef struct attn_tiles {
    bool shuffle;          /* attention_shuffle.comp (uses r) or attention.comp (bq, t, bk) */
    uint32_t r;            /* shuffle: query rows per lane */
    uint32_t bq, t, bk;    /* tiles: rows per workgroup, invocations per row, keys per tile */
} attn_tiles;

static uint32_t dh_stride_vec4(uint32_t dh, uint32_t t) {
    uint32_t dh4 = (dh + 3) / 4;
    return (dh4 + t - 1) / t * t;
}

/* Shared memory of attention.comp. */
static uint32_t shared_bytes(uint32_t dh, const attn_tiles *s) {
    if (s->shuffle) return 0;
    uint32_t per_key = 2 * 16 * dh_stride_vec4(dh, s->t) + 4 + (s->t > 1 ? 4 * s->bq * s->t : 0);
    return s->bk * per_key + (s->t > 1 ? 0 : 4);
}

static uint32_t max_invocations(const lsvk_context *ctx) {
    uint32_t lim = ctx->info.max_workgroup_invocations;
    if (ctx->info.max_workgroup_size[0] < lim) lim = ctx->info.max_workgroup_size[0];
    return lim ? lim : 128;
}

static uint32_t shared_budget(const lsvk_context *ctx) {
    uint32_t b = ctx->info.max_shared_memory;
    if (b == 0) b = 16384;
    return b < 32768 ? b : 32768;
}


/* Shrinks BK to fit the shared budget; false if the shape breaks a limit. */
static bool fit_tiles(const lsvk_context *ctx, uint32_t dh, attn_tiles *s) {
    if (s->bq == 0 || s->t == 0 || (s->t & (s->t - 1)) != 0 || s->bk == 0) return false;
    if ((uint64_t)s->bq * s->t > max_invocations(ctx)) return false;
    uint32_t budget = shared_budget(ctx);
    while (s->bk > 1 && shared_bytes(dh, s) > budget)
        s->bk = s->bk > 4 ? (s->bk - 1) / 4 * 4 : s->bk - 1;
    return shared_bytes(dh, s) <= ctx->info.max_shared_memory;
}

static attn_tiles pick_tiles(const lsvk_context *ctx, uint32_t dh) {
    const char *env = getenv("LSVK_ATTENTION_TILES");
    if (env && *env) {
        attn_tiles s = {false, 0, 0, 0, 0};
        char *end;
        if (strncmp(env, "shuffle,", 8) == 0) {
            s.shuffle = true;
            s.r = (uint32_t)strtoul(env + 8, &end, 10);
            if (*end == '\0' && s.r >= 1 && s.r <= 8 && lsvk__subgroup_shuffle_ok(ctx)) return s;
        } else {
            s.bq = (uint32_t)strtoul(env, &end, 10);
            if (*end == ',') s.t = (uint32_t)strtoul(end + 1, &end, 10);
            if (*end == ',') s.bk = (uint32_t)strtoul(end + 1, &end, 10);
            if (*end == '\0' && fit_tiles(ctx, dh, &s)) return s;
        }
    }
    bool cpu = ctx->info.type == LSVK_DEVICE_TYPE_CPU;
    if (cpu && lsvk__subgroup_shuffle_ok(ctx)) {
        /* More rows per lane spread each load and shuffle over more multiply-adds (width 256,
         * N 2048, dh 64: R = 1, 2, 4, 8 give 18, 30, 41, 52 GFLOP/s), but the shader grows as
         * R * dh and lavapipe's compile time with it (dh 64: 0.4, 0.7, 2.2, 8 s): R * dh ~ 128,
         * under a second to compile at any vector width. */
        uint32_t r = (128 + dh / 2) / dh;
        attn_tiles s = {true, r < 1 ? 1 : r > 8 ? 8 : r, 0, 0, 0};
        return s;
    }
    attn_tiles s = {false, 0, 32, 1, 32};
    if (!cpu) {
        uint32_t dh4 = (dh + 3) / 4;
        while (s.t < 16 && (dh4 + s.t - 1) / s.t > 4) s.t *= 2;
        uint32_t wg = 128 <= max_invocations(ctx) ? 128 : lsvk__pow2_floor(max_invocations(ctx));
        while (s.t > wg) s.t /= 2;
        s.bq = wg / s.t;
    }
    while (s.bq * s.t > max_invocations(ctx) && s.bq > 1) s.bq /= 2;
    fit_tiles(ctx, dh, &s);
    return s;
}

lsvk_status lsvk_attention(lsvk_cmd *cmd, const lsvk_tensor *q, const lsvk_tensor *k,
                           const lsvk_tensor *v, const lsvk_tensor *mask, uint32_t flags,
                           lsvk_tensor *out) {
    static const char *op = "lsvk_attention";
    const lsvk__op_arg args[] = {{"q", q, false, false},
                                 {"k", k, false, false},
                                 {"v", v, false, false},
                                 {"mask", mask, true, false},
                                 {"out", out, false, false}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 5, &ctx));

    const uint32_t known = LSVK_ATTENTION_CAUSAL | LSVK_ATTENTION_BNHD;
    if (flags & ~known)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", op, flags & ~known);
    bool bnhd = (flags & LSVK_ATTENTION_BNHD) != 0;
    if (q->rank != 4)
        return lsvk__shape_fail(ctx, op, "q", q, "k", k,
                                bnhd ? "q must be [B,N,H,dh]" : "q must be [B,H,N,dh]");
    if (!lsvk__same_shape(q, k))
        return lsvk__shape_fail(ctx, op, "q", q, "k", k,
                                "k must have the shape of q [B,H,N,dh]");
    if (!lsvk__same_shape(q, v))
        return lsvk__shape_fail(ctx, op, "q", q, "v", v,
                                "v must have the shape of q [B,H,N,dh]");
    if (!lsvk__same_shape(q, out))
        return lsvk__shape_fail(ctx, op, "q", q, "out", out,
                                "out must have the shape of q [B,H,N,dh]");
    int64_t B = q->shape[0], H = q->shape[bnhd ? 2 : 1], N = q->shape[bnhd ? 1 : 2], dh = q->shape[3];
    if (mask && (mask->rank != 2 || mask->shape[0] != B || mask->shape[1] != N))
        return lsvk__shape_fail(ctx, op, "q", q, "mask", mask,
                                "mask must be [B,N] for q [B,H,N,dh] (or [B,N,H,dh])");
    if (dh > 256) {
        char sq[96];
        return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED,
                          "%s: q %s has head dim %lld; at most 256 is supported", op,
                          lsvk__shape_str(q, sq, sizeof sq), (long long)dh);
    }
    if (out == q || out == k || out == v || (mask && out == mask))
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT,
                          "%s: out must not be one of its inputs (q, k, v, mask)", op);

    attn_tiles s = pick_tiles(ctx, (uint32_t)dh);
    /* Each workgroup walks every key (one loop iteration per key, plus a few hundred more). Where
     * the driver caps that (llvmpipe), attention_shuffle.comp takes the keys in passes; the tile
     * kernel (GPUs; forced only in tests) cannot. */
    uint64_t budget = lsvk__loop_budget(ctx), piece = (uint64_t)N;
    if (budget != UINT64_MAX && (uint64_t)N + 512 > budget) {
        if (!s.shuffle)
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: %lld keys: this driver (%s) stops a shader's loops after %llu iterations; "
                              "the tile kernel cannot split its keys (the CPU-driver kernel can)",
                              op, (long long)N, ctx->info.driver_name, (unsigned long long)budget);
        piece = budget - 768;
    }
    if (shared_bytes((uint32_t)dh, &s) > ctx->info.max_shared_memory)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: head dim %lld needs %u bytes of shared memory; the device has %u",
                          op, (long long)dh, shared_bytes((uint32_t)dh, &s),
                          ctx->info.max_shared_memory);
    /* Grid: x = query tiles, y = heads, z = batch. */
    uint32_t rows = s.shuffle ? ctx->info.subgroup_size * s.r : s.bq;
    uint64_t tiles_q = lsvk__div_up((uint64_t)N, rows);
    const uint32_t *mc = ctx->info.max_workgroup_count;
    if (tiles_q > mc[0] || (uint64_t)H > mc[1] || (uint64_t)B > mc[2])
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "%s: grid of %llu query tiles (N %lld / %u rows) x H %lld x B %lld "
                          "is past the device's maxComputeWorkGroupCount [%u,%u,%u]",
                          op, (unsigned long long)tiles_q, (long long)N, rows, (long long)H,
                          (long long)B, mc[0], mc[1], mc[2]);

    struct {
        uint32_t N, H, has_mask, causal;
        float scale;
        uint32_t sb, sh, sn; /* element strides of batch, head, token */
        uint32_t k0, k1, pass;
    } push = {(uint32_t)N, (uint32_t)H, mask ? 1u : 0u,
              (flags & LSVK_ATTENTION_CAUSAL) ? 1u : 0u,
              (float)(1.4426950408889634 / sqrt((double)dh)), /* log2(e) / sqrt(dh) */
              (uint32_t)(H * N * dh), (uint32_t)(bnhd ? dh : N * dh), (uint32_t)(bnhd ? H * dh : dh),
              0, (uint32_t)N, 2u};

    lsvk_dispatch d = {0};
    d.label = "attention";
    if (s.shuffle) {
        d.shader = LSVK_SHADER(attention_shuffle);
        d.spec[0] = ctx->info.subgroup_size;
        d.spec[1] = s.r;
        d.spec[2] = (uint32_t)dh;
        d.spec_count = 3;
    } else {
        d.shader = LSVK_SHADER(attention);
        d.spec[0] = s.bq * s.t;
        d.spec[1] = s.bq;
        d.spec[2] = s.t;
        d.spec[3] = s.bk;
        d.spec[4] = (uint32_t)dh;
        d.spec_count = 5;
    }
    d.buffers[0] = q;
    d.buffers[1] = k;
    d.buffers[2] = v;
    d.buffers[3] = mask ? mask : lsvk__dummy_tensor(ctx);
    d.buffers[4] = out;
    d.buffer_count = 5;
    d.write_mask = 1u << 4;
    d.push = &push;
    d.push_size = sizeof push;
    d.groups[0] = (uint32_t)tiles_q;
    d.groups[1] = (uint32_t)H;
    d.groups[2] = (uint32_t)B;
    if (!d.buffers[3])
        return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_DEVICE_MEMORY, "%s: no dummy tensor", op);

    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    lsvk_status st = LSVK_SUCCESS;
    if (s.shuffle) {
        /* passes over the keys carry each query's running max and sum in a temporary */
        d.buffers[5] = d.buffers[3];
        if (piece < (uint64_t)N) {
            lsvk_tensor *state = NULL;
            int64_t shape[1] = {B * H * N * 2};
            st = lsvk__cmd_temp(use, 1, shape, &state);
            d.buffers[5] = state;
            d.write_mask |= 1u << 5;
        }
        d.buffer_count = 6;
    }
    for (uint64_t k0 = 0; st == LSVK_SUCCESS && k0 < (uint64_t)N; k0 += piece) {
        uint64_t k1 = k0 + piece < (uint64_t)N ? k0 + piece : (uint64_t)N;
        push.k0 = (uint32_t)k0;
        push.k1 = (uint32_t)k1;
        push.pass = (k0 > 0 ? 1u : 0u) | (k1 == (uint64_t)N ? 2u : 0u);
        st = lsvk__cmd_record(use, &d);
    }
    return lsvk__op_end(use, immediate, st);
}
