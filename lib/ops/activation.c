/* Elementwise activations: lsvk_gelu on shaders/gelu.comp. */
#include "ops/op_util.h"

LSVK_DECLARE_SHADER(gelu);

#define GELU_WORKGROUP 128u

lsvk_status lsvk_gelu(lsvk_cmd *cmd, const lsvk_tensor *x, lsvk_tensor *y) {
    static const char *op = "lsvk_gelu";
    const lsvk__op_arg args[] = {{"x", x, false, false}, {"y", y, false, false}};
    lsvk_context *ctx = NULL;
    LSVK_TRY(lsvk__op_check(op, cmd, args, 2, &ctx));
    if (!lsvk__same_shape(x, y))
        return lsvk__shape_fail(ctx, op, "x", x, "y", y, "y must have the shape of x");

    uint32_t n = (uint32_t)x->numel;
    uint32_t wg = GELU_WORKGROUP; /* 128 is within every device's limits */
    lsvk_dispatch d = {0};
    d.shader = LSVK_SHADER(gelu);
    d.label = "gelu";
    d.spec[0] = wg;
    d.spec_count = 1;
    d.buffers[0] = x;
    d.buffers[1] = y;
    d.buffer_count = 2;
    d.write_mask = (1u << 1) | (y == x ? 1u : 0u);
    d.push = &n;
    d.push_size = sizeof n;
    lsvk__grid_2d(ctx, lsvk__div_up(n, wg), d.groups);

    lsvk_cmd *use;
    bool immediate;
    LSVK_TRY(lsvk__op_begin(ctx, cmd, &use, &immediate));
    return lsvk__op_end(use, immediate, lsvk__cmd_record(use, &d));
}
