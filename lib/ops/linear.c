/* lsvk_linear: y = x W^T + b; lsvk_linear_ex adds the epilogue act(.) + residual.
 *
 * Two shaders compute it:
 *
 * shaders/linear_shuffle.comp, for CPU devices (lavapipe) whose subgroup size is fixed
 *   (min = max = subgroupSize) and that have subgroup shuffles in compute: one subgroup per
 *   workgroup, each lane owning CN columns, each x value loaded by one lane and passed to the
 *   others with shuffles. Tiles of R*SG rows by CN*SG columns, or R rows for M <= 4 (SMALL). On
 *   lavapipe every load is a loop over the lanes, so more accumulators per lane (R*SG*CN) mean
 *   fewer loads per multiply-add; past 512 they spill more than they save and compile slowly.
 *   2 cores, M 4096, N = K = 512, GFLOP/s by CPU time (first-use compile):
 *     width 128 (SG 4):  R 8, CN 8: 34 (0.4 s); R 16, CN 8: 36 (0.8 s); R 16, CN 16: 28 (2.2 s)
 *     width 256 (SG 8):  R 4, CN 4: 46 (0.2 s); R 8, CN 8: 57 (0.7 s); R 8, CN 16: 42 (2.0 s)
 *     width 512 (SG 16): R 4, CN 8: 47 (0.7 s); R 8, CN 4: 40 (0.6 s); R 8, CN 8: 40 (1.9 s)
 *   so R = 64 / SG and CN = 8 (fewer for small M, N). linear.comp gets 4.5 there. M 1 x N 4096
 *   x K 4096: SMALL 5 GFLOP/s, tiles 3, linear.comp 0.5.
 *
 * shaders/linear.comp everywhere else (GPUs): shared-memory tiles with register blocking
 *   (pick_tiles).
 *
 * LSVK_LINEAR_TILES overrides the choice (tests and tuning): "tiled" runs linear.comp; "tile,R,CN"
 * or "small,R,CN" set the shape of linear_shuffle.comp where it can run. */
#include "ops/views.h"

#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(linear);
LSVK_DECLARE_SHADER(linear_shuffle);

static uint32_t max_invocations(const lsvk_context *ctx) {
    uint32_t lim = ctx->info.max_workgroup_invocations;
    if (ctx->info.max_workgroup_size[0] < lim) lim = ctx->info.max_workgroup_size[0];
    return lim;
}

/* ---- linear.comp */

typedef struct linear_tiles {
    uint32_t bm, bn, bk, tm, tn;
} linear_tiles;

static uint32_t tiles_invocations(const linear_tiles *t) { return (t->bm / t->tm) * (t->bn / t->tn); }
static uint32_t tiles_shared_bytes(const linear_tiles *t) {
    return t->bk * ((t->bm + 1) + (t->bn + 1)) * (uint32_t)sizeof(float);
}

/* First tile shape in order of preference that fits the device's workgroup and shared-memory
 * limits, by the number of rows M: one row (decode) and a few rows get flat tiles, so that
 * invocations are not spent on rows that do not exist. The first choice of each list was the
 * fastest of those tried on lavapipe before linear_shuffle.comp (1000^3: 2.3 GFLOP/s;
 * 1 x 4096 x 4096: 0.3 GFLOP/s); the last of each list fits every Vulkan device (128
 * invocations, 16 KiB). */
static linear_tiles pick_tiles(const lsvk_context *ctx, uint64_t M) {
    static const linear_tiles rows1[] = {
        {1, 256, 16, 1, 4}, /* 64 invocations, 16.2 KiB */
        {1, 128, 16, 1, 2}, /* 64, 8.2 KiB */
    };
    static const linear_tiles rows4[] = {
        {4, 256, 16, 2, 4}, /* 128, 16.4 KiB */
        {4, 64, 16, 1, 2},  /* 128, 4.4 KiB */
    };
    static const linear_tiles rows16[] = {
        {16, 128, 16, 4, 4}, /* 128, 9.1 KiB */
    };
    static const linear_tiles big[] = {
        {64, 128, 16, 4, 8}, /* 256, 12.1 KiB */
        {64, 64, 16, 4, 4},  /* 256, 8.1 KiB */
        {32, 32, 16, 4, 4},  /* 64, 4.1 KiB */
    };
    const linear_tiles *list = big;
    size_t n = sizeof big / sizeof big[0];
    if (M == 1) {
        list = rows1;
        n = sizeof rows1 / sizeof rows1[0];
    } else if (M <= 4) {
        list = rows4;
        n = sizeof rows4 / sizeof rows4[0];
    } else if (M <= 16) {
        list = rows16;
        n = sizeof rows16 / sizeof rows16[0];
    }
    for (size_t i = 0; i < n; i++)
        if (tiles_invocations(&list[i]) <= max_invocations(ctx) &&
            tiles_shared_bytes(&list[i]) <= ctx->info.max_shared_memory)
            return list[i];
    return list[n - 1];
}

/* ---- linear_shuffle.comp */

typedef struct shuffle_shape {
    bool small;
    uint32_t r, cn, vec;
} shuffle_shape;


static uint32_t pow2_ceil(uint64_t v) {
    uint32_t p = 1;
    while (p < v && p < (1u << 30)) p *= 2;
    return p;
}

/* The shape for linear_shuffle.comp (see the top comment). */
static shuffle_shape pick_shuffle(const char *env, uint32_t sg, uint64_t M, uint64_t N,
                                  uint64_t K) {
    shuffle_shape s = {false, 1, 1, K % 4 == 0 ? 4 : 1};
    if (env && (strncmp(env, "tile,", 5) == 0 || strncmp(env, "small,", 6) == 0)) {
        char *end;
        s.small = env[0] == 's';
        s.r = (uint32_t)strtoul(strchr(env, ',') + 1, &end, 10);
        if (*end == ',') s.cn = (uint32_t)strtoul(end + 1, &end, 10);
        if (*end == '\0' && s.r >= 1 && s.r <= 16 && s.cn >= 1 && s.cn <= 16) return s;
        s.r = s.cn = 1;
        s.small = false;
    }
    uint32_t cn_max = 8;
    if (M <= 4) {
        /* few rows (decode): R rows per tile, not R*SG; there w is loaded once either way */
        s.small = true;
        s.r = pow2_ceil(M);
        cn_max = 2;
    } else {
        /* 512 accumulators per lane; R*SG <= M */
        uint32_t r_max = 64 / sg > 1 ? 64 / sg : 1;
        while (s.r < r_max && (uint64_t)s.r * 2 * sg <= M) s.r *= 2;
    }
    s.cn = pow2_ceil((N + sg - 1) / sg);
    if (s.cn > cn_max) s.cn = cn_max;
    return s;
}

/* Records y = epilogue(x W^T + b) for M rows, row 0 of x at value xoff of its binding, of y and r
 * at yoff; each tensor within one binding. */
static lsvk_status record_linear(lsvk_cmd *use, const char *op, const lsvk_tensor *x, uint32_t xoff,
                                 const lsvk_tensor *w, const lsvk_tensor *b, const lsvk_tensor *r, uint32_t flags,
                                 lsvk_tensor *y, uint32_t yoff, uint64_t M, int64_t N, int64_t K) {
    lsvk_context *ctx = lsvk__cmd_context(use);
    lsvk_dispatch d = {0};
    d.label = "linear";
    d.buffers[0] = x;
    d.buffers[1] = w;
    d.buffers[2] = b ? b : lsvk__dummy_tensor(ctx);
    d.buffers[3] = y;
    d.buffers[4] = r ? r : lsvk__dummy_tensor(ctx);
    d.buffer_count = 5;
    d.write_mask = 1u << 3;
    if (!d.buffers[2]) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_DEVICE_MEMORY, "%s: no dummy tensor", op);

    const char *env = getenv("LSVK_LINEAR_TILES");
    bool shuffle = ctx->info.type == LSVK_DEVICE_TYPE_CPU && lsvk__subgroup_shuffle_ok(ctx) &&
                   !(env && strcmp(env, "tiled") == 0);
    shuffle_shape s = {false, 1, 1, 1};
    uint32_t sg = ctx->info.subgroup_size, rows, cols;
    if (shuffle) {
        s = pick_shuffle(env, sg, M, (uint64_t)N, (uint64_t)K);
        if (xoff % 4) s.vec = 1; /* vec4 loads need x's rows on vec4 boundaries */
        d.shader = LSVK_SHADER(linear_shuffle);
        d.spec[0] = sg;
        d.spec[1] = s.r;
        d.spec[2] = s.cn;
        d.spec[3] = s.vec;
        d.spec[4] = s.small ? 1u : 0u;
        d.spec_count = 5;
        rows = s.small ? s.r : s.r * sg;
        cols = s.cn * sg;
    } else {
        linear_tiles t = pick_tiles(ctx, M);
        d.shader = LSVK_SHADER(linear);
        d.spec[0] = tiles_invocations(&t);
        d.spec[1] = t.bm;
        d.spec[2] = t.bn;
        d.spec[3] = t.bk;
        d.spec[4] = t.tm;
        d.spec[5] = t.tn;
        d.spec_count = 6;
        rows = t.bm;
        cols = t.bn;
    }
    /* x over the N tiles, y (and z past y's limit) over the M tiles; the shaders loop past the
     * limits. */
    uint64_t tiles_n = lsvk__div_up((uint64_t)N, cols), tiles_m = lsvk__div_up(M, rows);
    uint64_t mx = ctx->info.max_workgroup_count[0], my = ctx->info.max_workgroup_count[1],
             mz = ctx->info.max_workgroup_count[2];
    uint64_t gx = tiles_n < mx ? tiles_n : mx;
    uint64_t gy = tiles_m < my ? tiles_m : my;
    uint64_t gz = (tiles_m + gy - 1) / gy;
    if (gz > mz) gz = mz;
    d.groups[0] = (uint32_t)gx;
    d.groups[1] = (uint32_t)gy;
    d.groups[2] = (uint32_t)gz;

    /* lavapipe stops a workgroup's loops after 65535 iterations in all, so K is split into
     * dispatches of at most `piece` chunks (s.vec floats each; the later ones add to y), leaving
     * room for the store loop and the loops over tiles. linear.comp's per-slab count is an upper
     * bound (its loops may be unrolled); GPUs have no such cap and take K whole. */
    uint64_t chunks = (uint64_t)K / s.vec, piece = chunks, budget = lsvk__loop_budget(ctx);
    uint64_t per_group = ((tiles_n + gx - 1) / gx) * ((tiles_m + gy * gz - 1) / (gy * gz));
    if (budget != UINT64_MAX) {
        uint64_t iters = 60000 / per_group;
        if (shuffle) {
            if (iters < rows + 64)
                return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                                  "%s: %llu tiles per workgroup is past the device's loop limit", op,
                                  (unsigned long long)per_group);
            piece = (iters - rows - 8) * (s.small ? sg : 1);
        } else {
            uint32_t wg = d.spec[0], bk = d.spec[3], tm = d.spec[4], tn = d.spec[5];
            uint64_t slab = ((uint64_t)rows + cols) * bk / wg + 2 + (uint64_t)bk * (1 + tm + tn + tm * tn);
            piece = iters / slab * bk;
            if (piece == 0)
                return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                                  "%s: %llu tiles per workgroup is past the device's loop limit", op,
                                  (unsigned long long)per_group);
        }
        if (piece > chunks) piece = chunks;
    }
    lsvk_status st = LSVK_SUCCESS;
    uint64_t k0 = 0;
    do {
        uint64_t k1 = chunks - k0 > piece ? k0 + piece : chunks;
        /* the epilogue on the last piece, which sees the whole sum */
        uint32_t epilogue = k1 == chunks ? ((flags & LSVK_LINEAR_GELU) ? 1u : 0u) | (r ? 2u : 0u) : 0u;
        uint32_t push[10] = {(uint32_t)M, (uint32_t)N, (uint32_t)K, b ? 1u : 0u, epilogue,
                             (uint32_t)k0, (uint32_t)k1, k0 > 0, xoff, yoff};
        d.push = push;
        d.push_size = sizeof push;
        st = lsvk__cmd_record(use, &d);
        k0 = k1;
    } while (st == LSVK_SUCCESS && k0 < chunks);
    return st;
}


static lsvk_status linear(const char *op, lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *w,
                          const lsvk_tensor *b, const lsvk_tensor *r, uint32_t flags, lsvk_tensor *y) {
    const lsvk__op_arg args[] = {{"x", x, false, true}, {"w", w, false, false}, {"b", b, true, false},
                                 {"y", y, false, true}, {"residual", r, true, true}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 5, &ctx));
    if (flags & ~(uint32_t)LSVK_LINEAR_GELU)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", op, flags);

    if (w->rank != 2)
        return lsvk__shape_fail(ctx, op, "x", x, "w", w, "w must be [N, K]");
    int64_t N = w->shape[0], K = w->shape[1];
    if (x->shape[x->rank - 1] != K)
        return lsvk__shape_fail(ctx, op, "x", x, "w", w, "the last dim of x must equal w's K");
    if (y->rank != x->rank)
        return lsvk__shape_fail(ctx, op, "x", x, "y", y, "y must have x's leading dims and N last");
    for (uint32_t i = 0; i + 1 < x->rank; i++)
        if (y->shape[i] != x->shape[i])
            return lsvk__shape_fail(ctx, op, "x", x, "y", y, "y must have x's leading dims");
    if (y->shape[y->rank - 1] != N)
        return lsvk__shape_fail(ctx, op, "w", w, "y", y, "the last dim of y must equal w's N");
    if (b && (b->rank != 1 || b->shape[0] != N))
        return lsvk__shape_fail(ctx, op, "w", w, "b", b, "b must be [N]");
    if (r && !lsvk__same_shape(r, y))
        return lsvk__shape_fail(ctx, op, "residual", r, "y", y, "the residual must have y's shape");
    if (y == x || y == w || y == b || y == r)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: y must not be one of its inputs", op);

    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    return lsvk__op_end(use, immediate, lsvk__record_linear_rows(use, x, 0, w, b, r, flags, y, 0,
                                                                 (uint64_t)(x->numel / K)));
}

lsvk_status lsvk__record_linear_rows(lsvk_cmd *use, const lsvk_tensor *x, uint32_t xoff, const lsvk_tensor *w,
                                    const lsvk_tensor *b, const lsvk_tensor *r, uint32_t flags, lsvk_tensor *y,
                                    uint32_t yoff, uint64_t M) {
    static const char *op = "linear";
    lsvk_context *ctx = lsvk__cmd_context(use);
    int64_t N = w->shape[0], K = w->shape[1];
    uint64_t limit = lsvk__binding_limit(ctx);
    if (x->bytes <= limit && y->bytes <= limit && (!r || r->bytes <= limit))
        return record_linear(use, op, x, xoff, w, b, r, flags, y, yoff, M, N, K);
    /* rows in bands, each binding within the device's range */
    for (uint64_t r0 = 0, n; r0 < M; r0 += n) {
        n = M - r0;
        uint64_t fx = lsvk__band_fit(ctx, xoff, r0, (uint64_t)K), fy = lsvk__band_fit(ctx, yoff, r0, (uint64_t)N);
        if (fx < n) n = fx;
        if (fy < n) n = fy;
        if (n == 0)
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: a row of x (%lld values) or y (%lld) is past what one binding may cover "
                              "(maxStorageBufferRange %llu bytes)", op, (long long)K, (long long)N,
                              (unsigned long long)lsvk__binding_limit(ctx));
        uint32_t xs, ys, rs;
        lsvk_tensor xv = lsvk__view_span(ctx, x, xoff + r0 * (uint64_t)K, n * (uint64_t)K, &xs);
        lsvk_tensor yv = lsvk__view_span(ctx, y, yoff + r0 * (uint64_t)N, n * (uint64_t)N, &ys), rv;
        if (r) rv = lsvk__view_span(ctx, r, yoff + r0 * (uint64_t)N, n * (uint64_t)N, &rs);
        LSVK_TRY(record_linear(use, op, &xv, (uint32_t)(xoff + r0 * K - xs), w, b, r ? &rv : NULL, flags, &yv,
                               (uint32_t)(yoff + r0 * N - ys), n, N, K));
    }
    return LSVK_SUCCESS;
}

lsvk_status lsvk_linear(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *w, const lsvk_tensor *b,
                        lsvk_tensor *y) {
    return linear("lsvk_linear", cmd, x, w, b, NULL, 0, y);
}

lsvk_status lsvk_linear_ex(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *w, const lsvk_tensor *b,
                           const lsvk_tensor *residual, uint32_t flags, lsvk_tensor *y) {
    return linear("lsvk_linear_ex", cmd, x, w, b, residual, flags, y);
}
