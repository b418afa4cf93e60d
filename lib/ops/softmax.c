/* lsvk_softmax and lsvk_log_softmax on shaders/softmax.comp. */
#include "ops/op_util.h"

LSVK_DECLARE_SHADER(softmax);

static lsvk_status softmax(const char *op, lsvk_cmd *cmd, const lsvk_tensor *x,
                           const lsvk_tensor *mask, uint32_t log_out, lsvk_tensor *y) {
    const lsvk__op_arg args[] = {{"x", x, false, false}, {"mask", mask, true, false}, {"y", y, false, false}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 3, &ctx));

    int64_t C = x->shape[x->rank - 1];
    if (!lsvk__same_shape(x, y))
        return lsvk__shape_fail(ctx, op, "x", x, "y", y, "y must have the shape of x");
    uint32_t mask_mode = 0;
    if (mask) {
        if (lsvk__same_shape(mask, x))
            mask_mode = 1;
        else if (mask->rank == 1 && mask->shape[0] == C)
            mask_mode = 2;
        else
            return lsvk__shape_fail(ctx, op, "x", x, "mask", mask,
                                    "mask must have the shape of x or be [C], C = x's last dim");
        if (mask == y && y != x)
            return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: y must not be the mask", op);
    }

    uint64_t rows = (uint64_t)(x->numel / C);
    uint32_t push[4] = {(uint32_t)rows, (uint32_t)C, mask_mode, log_out};

    lsvk_dispatch d = {0};
    d.shader = LSVK_SHADER(softmax);
    d.label = log_out ? "log_softmax" : "softmax";
    d.spec[0] = lsvk__row_workgroup(ctx, C);
    d.spec_count = 1;
    d.buffers[0] = x;
    d.buffers[1] = mask ? mask : lsvk__dummy_tensor(ctx);
    d.buffers[2] = y;
    d.buffer_count = 3;
    d.write_mask = (1u << 2) | (y == x ? 1u : 0u) | (mask == y ? 2u : 0u);
    d.push = push;
    d.push_size = sizeof push;
    lsvk__grid_2d(ctx, rows, d.groups);

    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    return lsvk__op_end(use, immediate, lsvk__cmd_record(use, &d));
}

lsvk_status lsvk_softmax(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *mask,
                         lsvk_tensor *y) {
    return softmax("lsvk_softmax", cmd, x, mask, 0, y);
}

lsvk_status lsvk_log_softmax(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *mask,
                             lsvk_tensor *y) {
    return softmax("lsvk_log_softmax", cmd, x, mask, 1, y);
}
