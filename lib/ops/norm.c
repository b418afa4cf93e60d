/* lsvk_layernorm, and the LayerNorm recording every layer uses: shaders/layernorm.comp (a
 * workgroup per row, tree reductions in shared memory) on GPUs, shaders/layernorm_rows.comp (an
 * invocation per row) on CPU drivers, where each level of a tree reduction costs lavapipe a pass
 * over the workgroup: there 4096 rows of 128 take about a fifth of the time. LSVK_LAYERNORM
 * overrides the choice (tests and tuning): "tree" or "rows". */
#include "ops/views.h"

#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(layernorm);
LSVK_DECLARE_SHADER(layernorm_rows);

lsvk_status lsvk__record_layernorm(lsvk_cmd *use, const lsvk_tensor *x, const lsvk_tensor *w,
                                   const lsvk_tensor *b, lsvk_tensor *y, const lsvk__layernorm_push *p,
                                   const char *label) {
    lsvk_context *ctx = lsvk__cmd_context(use);
    const lsvk_tensor *dummy = lsvk__dummy_tensor(ctx);
    if (!dummy) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_DEVICE_MEMORY, "%s: no dummy tensor", label);
    lsvk_dispatch d = {.shader = LSVK_SHADER(layernorm), .label = label};
    d.buffers[0] = x;
    d.buffers[1] = w ? w : dummy;
    d.buffers[2] = b ? b : dummy;
    d.buffers[3] = y;
    d.buffer_count = 4;
    d.write_mask = (1u << 3) | (y == x ? 1u : 0u); /* in place: binding 0 is written too */
    d.push = p;
    d.push_size = sizeof *p;
    const char *env = getenv("LSVK_LAYERNORM");
    bool rows = ctx->info.type == LSVK_DEVICE_TYPE_CPU;
    if (env && strcmp(env, "tree") == 0) rows = false;
    if (env && strcmp(env, "rows") == 0) rows = true;
    if (rows) {
        /* one row per invocation (the grid holds them all up to 2^32 rows): 3C iterations, under
         * llvmpipe's loop cap for rows up to about 21,000 wide */
        const uint32_t wg = 32;
        uint64_t groups = lsvk__div_up(p->rows, wg), per = lsvk__div_up(groups, 65535ull * 65535ull);
        rows = per * (3ull * p->C + 4) < lsvk__loop_budget(ctx);
        if (rows) {
            d.shader = LSVK_SHADER(layernorm_rows);
            d.spec[0] = wg;
            lsvk__grid_2d(ctx, groups, d.groups);
        }
    }
    if (!rows) {
        d.spec[0] = lsvk__row_workgroup(ctx, p->C);
        lsvk__grid_2d(ctx, p->rows, d.groups);
    }
    d.spec_count = 1;
    return lsvk__cmd_record(use, &d);
}

lsvk_status lsvk_layernorm(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *weight,
                           const lsvk_tensor *bias, float eps, lsvk_tensor *y) {
    static const char *op = "lsvk_layernorm";
    const lsvk__op_arg args[] = {
        {"x", x, false, true}, {"weight", weight, true, false}, {"bias", bias, true, false}, {"y", y, false, true}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 4, &ctx));

    int64_t C = x->shape[x->rank - 1];
    if (!lsvk__same_shape(x, y))
        return lsvk__shape_fail(ctx, op, "x", x, "y", y, "y must have the shape of x");
    if (weight && (weight->rank != 1 || weight->shape[0] != C))
        return lsvk__shape_fail(ctx, op, "x", x, "weight", weight, "weight must be [C], C = x's last dim");
    if (bias && (bias->rank != 1 || bias->shape[0] != C))
        return lsvk__shape_fail(ctx, op, "x", x, "bias", bias, "bias must be [C], C = x's last dim");
    if (y == weight || y == bias)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: y must not be weight or bias", op);
    if (!(eps > 0.0f)) eps = 1e-5f; /* also NaN */

    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    uint32_t flags = (weight ? 1u : 0u) | (bias ? 2u : 0u);
    return lsvk__op_end(use, immediate,
                        lsvk__record_layernorm_rows(use, "layernorm", x, weight, bias, y, 0, (uint64_t)(x->numel / C),
                                                    (uint32_t)C, flags, eps));
}

lsvk_status lsvk__record_layernorm_rows(lsvk_cmd *use, const char *label, const lsvk_tensor *x,
                                        const lsvk_tensor *w, const lsvk_tensor *b, lsvk_tensor *y, uint64_t first,
                                        uint64_t rows, uint32_t C, uint32_t flags, float eps) {
    lsvk_context *ctx = lsvk__cmd_context(use);
    lsvk__layernorm_push push = {.rows = (uint32_t)rows, .C = C, .flags = flags, .eps = eps, .stride = C, .sub = 1};
    uint64_t limit = lsvk__binding_limit(ctx);
    if (first == 0 && x->bytes <= limit && y->bytes <= limit)
        return lsvk__record_layernorm(use, x, w, b, y, &push, label);
    /* rows in bands, each binding within the device's range */
    for (uint64_t r0 = first, n; r0 < first + rows; r0 += n) {
        uint64_t fit = lsvk__band_fit(ctx, 0, r0, C); /* x and y alike: same layout, aligned starts */
        n = first + rows - r0 < fit ? first + rows - r0 : fit;
        if (n == 0)
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: a row of %u values is past what one binding may "
                              "cover (maxStorageBufferRange %llu bytes)", label, C,
                              (unsigned long long)lsvk__binding_limit(ctx));
        uint32_t xs, ys;
        lsvk_tensor xv = lsvk__view_span(ctx, x, r0 * C, n * C, &xs), yv = lsvk__view_span(ctx, y, r0 * C, n * C, &ys);
        push.rows = (uint32_t)n;
        push.offset = (uint32_t)(r0 * C - xs);
        if (x != y) { /* y's layout of its own (flags bit 2), one group of all rows */
            push.flags = flags | 4u;
            push.per = (uint32_t)n;
            push.ystride = C;
            push.yoffset = (uint32_t)(r0 * C - ys);
        }
        LSVK_TRY(lsvk__record_layernorm(use, &xv, w, b, x == y ? &xv : &yv, &push, label));
    }
    return LSVK_SUCCESS;
}
