/* lsvk_layernorm on shaders/layernorm.comp. */
#include "ops/op_util.h"

LSVK_DECLARE_SHADER(layernorm);

lsvk_status lsvk_layernorm(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *weight,
                           const lsvk_tensor *bias, float eps, lsvk_tensor *y) {
    static const char *op = "lsvk_layernorm";
    const lsvk__op_arg args[] = {
        {"x", x, false}, {"weight", weight, true}, {"bias", bias, true}, {"y", y, false}};
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

    uint64_t rows = (uint64_t)(x->numel / C);
    lsvk__layernorm_push push = {(uint32_t)rows, (uint32_t)C, (weight ? 1u : 0u) | (bias ? 2u : 0u),
                                 eps, (uint32_t)C, 0, 1, 0, 0, 0, 0, 0, 0};

    const lsvk_tensor *dummy = lsvk__dummy_tensor(ctx);
    lsvk_dispatch d = {0};
    d.shader = LSVK_SHADER(layernorm);
    d.label = "layernorm";
    d.spec[0] = lsvk__row_workgroup(ctx, C);
    d.spec_count = 1;
    d.buffers[0] = x;
    d.buffers[1] = weight ? weight : dummy;
    d.buffers[2] = bias ? bias : dummy;
    d.buffers[3] = y;
    d.buffer_count = 4;
    d.write_mask = (1u << 3) | (y == x ? 1u : 0u); /* in place: binding 0 is written too */
    d.push = &push;
    d.push_size = sizeof push;
    lsvk__grid_2d(ctx, rows, d.groups);

    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    return lsvk__op_end(use, immediate, lsvk__cmd_record(use, &d));
}
