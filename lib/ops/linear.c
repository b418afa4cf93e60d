/* lsvk_linear: y = x W^T + b on the tiled shader shaders/linear.comp. */
#include "ops/op_util.h"

LSVK_DECLARE_SHADER(linear);

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
 * fastest of those tried on lavapipe (1000^3: 2.3 GFLOP/s; 1 x 4096 x 4096: 0.3 GFLOP/s); the
 * last of each list fits every Vulkan device (128 invocations, 16 KiB). */
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
    uint32_t max_inv = ctx->info.max_workgroup_invocations;
    if (ctx->info.max_workgroup_size[0] < max_inv) max_inv = ctx->info.max_workgroup_size[0];
    for (size_t i = 0; i < n; i++)
        if (tiles_invocations(&list[i]) <= max_inv &&
            tiles_shared_bytes(&list[i]) <= ctx->info.max_shared_memory)
            return list[i];
    return list[n - 1];
}

lsvk_status lsvk_linear(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *w,
                        const lsvk_tensor *b, lsvk_tensor *y) {
    static const char *op = "lsvk_linear";
    const lsvk__op_arg args[] = {{"x", x, false}, {"w", w, false}, {"b", b, true}, {"y", y, false}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 4, &ctx));

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
    if (y == x || y == w || y == b)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: y must not be one of its inputs", op);

    uint64_t M = (uint64_t)(x->numel / K);
    linear_tiles t = pick_tiles(ctx, M);
    uint32_t push[4] = {(uint32_t)M, (uint32_t)N, (uint32_t)K, b ? 1u : 0u};

    lsvk_dispatch d = {0};
    d.shader = LSVK_SHADER(linear);
    d.label = "linear";
    d.spec[0] = tiles_invocations(&t);
    d.spec[1] = t.bm;
    d.spec[2] = t.bn;
    d.spec[3] = t.bk;
    d.spec[4] = t.tm;
    d.spec[5] = t.tn;
    d.spec_count = 6;
    d.buffers[0] = x;
    d.buffers[1] = w;
    d.buffers[2] = b ? b : lsvk__dummy_tensor(ctx);
    d.buffers[3] = y;
    d.buffer_count = 4;
    d.write_mask = 1u << 3;
    d.push = push;
    d.push_size = sizeof push;
    /* x over the N tiles, y (and z past y's limit) over the M tiles; the shader loops past the
     * limits. */
    uint64_t tiles_n = (uint64_t)lsvk__div_up((uint64_t)N, t.bn);
    uint64_t tiles_m = (uint64_t)lsvk__div_up(M, t.bm);
    uint64_t mx = ctx->info.max_workgroup_count[0], my = ctx->info.max_workgroup_count[1],
             mz = ctx->info.max_workgroup_count[2];
    uint64_t gx = tiles_n < mx ? tiles_n : mx;
    uint64_t gy = tiles_m < my ? tiles_m : my;
    uint64_t gz = (tiles_m + gy - 1) / gy;
    if (gz > mz) gz = mz;
    d.groups[0] = (uint32_t)gx;
    d.groups[1] = (uint32_t)gy;
    d.groups[2] = (uint32_t)gz;

    if (!d.buffers[2]) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_DEVICE_MEMORY, "%s: no dummy tensor", op);
    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    return lsvk__op_end(use, immediate, lsvk__cmd_record(use, &d));
}
