/* Helpers shared by the op front ends in lib/ops: argument checks with messages, workgroup grids
 * within the device's limits. Internal; header-only (static functions). */
#ifndef LSVK_OP_UTIL_H
#define LSVK_OP_UTIL_H

#include "core/context.h"

#include <stdio.h>
#include <stdlib.h>

/* "[2,3,4]" (or "NULL"). */
static inline const char *lsvk__shape_str(const lsvk_tensor *t, char *buf, size_t n) {
    if (!t) {
        snprintf(buf, n, "NULL");
        return buf;
    }
    size_t len = 0;
    len += (size_t)snprintf(buf, n, "[");
    for (uint32_t i = 0; i < t->rank && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
    return buf;
}

/* Bytes one binding may cover: maxStorageBufferRange, or less where LSVK_BINDING_LIMIT (bytes, at
 * least 4096) says so, for tests that reach the splitting paths at small sizes. */
static inline uint64_t lsvk__binding_limit(const lsvk_context *ctx) {
    uint64_t b = ctx->info.max_storage_buffer_range;
    const char *env = getenv("LSVK_BINDING_LIMIT");
    if (env) {
        uint64_t v = strtoull(env, NULL, 10);
        if (v >= 4096 && v < b) b = v;
    }
    return b;
}

typedef struct lsvk__op_arg {
    const char *name;        /* as the API names it: "x", "weight" ... */
    const lsvk_tensor *t;
    bool optional;           /* NULL allowed */
    bool splits;             /* the op binds it in parts, so it may exceed one binding */
} lsvk__op_arg;

/* Checks an op's tensors: required ones non-NULL, all from one context (the sequence's when cmd is
 * given), all F32, all addressable with 32-bit indices, each within one binding unless the op
 * splits it. Sets *ctx_out. */
static inline lsvk_status lsvk__op_check(const char *op, lsvk_cmd *cmd, const lsvk__op_arg *args,
                                         uint32_t n, lsvk_context **ctx_out) {
    lsvk_context *ctx = cmd ? lsvk__cmd_context(cmd) : NULL;
    for (uint32_t i = 0; i < n && !ctx; i++)
        if (args[i].t) ctx = args[i].t->ctx;
    for (uint32_t i = 0; i < n; i++)
        if (!args[i].t && !args[i].optional)
            return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, args[i].name);
    for (uint32_t i = 0; i < n; i++) {
        const lsvk_tensor *t = args[i].t;
        if (!t) continue;
        if (t->ctx != ctx)
            return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: %s belongs to another context%s",
                              op, args[i].name, cmd ? " than the command sequence" : "");
        if (t->dtype != LSVK_F32)
            return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "%s: %s has dtype %d; only F32 is supported",
                              op, args[i].name, (int)t->dtype);
        if (!args[i].splits && t->bytes > lsvk__binding_limit(ctx))
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: %s is %llu bytes, past what one binding may cover on this device "
                              "(maxStorageBufferRange %llu bytes), and this op does not split it",
                              op, args[i].name, (unsigned long long)t->bytes,
                              (unsigned long long)lsvk__binding_limit(ctx));
        if (t->numel > (int64_t)UINT32_MAX)
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "%s: %s has %lld elements, past the 32-bit indexing of the shaders", op,
                              args[i].name, (long long)t->numel);
    }
    if (!ctx) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: no tensor given", op);
    *ctx_out = ctx;
    return LSVK_SUCCESS;
}

/* An F32 tensor [rows, cols], or [rows] when cols is 0. */
static inline lsvk_status lsvk__make(lsvk_context *ctx, int64_t rows, int64_t cols, lsvk_tensor **out) {
    int64_t shape[2] = {rows, cols};
    return lsvk_tensor_create(ctx, LSVK_F32, cols ? 2 : 1, shape, out);
}

static inline bool lsvk__same_shape(const lsvk_tensor *a, const lsvk_tensor *b) {
    if (a->rank != b->rank) return false;
    for (uint32_t i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* LSVK_ERROR_SHAPE naming two tensors and their shapes, plus a reason. */
static inline lsvk_status lsvk__shape_fail(const lsvk_context *ctx, const char *op, const char *an,
                                           const lsvk_tensor *a, const char *bn,
                                           const lsvk_tensor *b, const char *why) {
    char sa[96], sb[96];
    return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: %s %s and %s %s: %s", op, an,
                      lsvk__shape_str(a, sa, sizeof sa), bn, lsvk__shape_str(b, sb, sizeof sb), why);
}

/* Reads tensor prefix + name of st (which must hold `want` values) as floats and hands them to
 * set(layer, name, ...), the layer's set_weight. Messages name the op and the tensor. */
typedef lsvk_status (*lsvk__set_param_fn)(void *layer, const char *name, const float *data, size_t count);
lsvk_status lsvk__load_param(lsvk_context *ctx, const char *op, const lsvk_safetensors *st, const char *prefix,
                             const char *name, size_t want, lsvk__set_param_fn set, void *layer);

/* Spreads count workgroups over a 2D grid within the device's limits; shaders that stride by the
 * grid size (rows.glsl) take the rest in later iterations. */
static inline void lsvk__grid_2d(const lsvk_context *ctx, uint64_t count, uint32_t groups[3]) {
    uint64_t mx = ctx->info.max_workgroup_count[0], my = ctx->info.max_workgroup_count[1];
    if (mx == 0) mx = 65535;
    if (my == 0) my = 65535;
    if (count == 0) count = 1;
    uint64_t gy = (count + mx - 1) / mx;
    if (gy > my) gy = my;
    uint64_t gx = (count + gy - 1) / gy;
    if (gx > mx) gx = mx;
    groups[0] = (uint32_t)gx;
    groups[1] = (uint32_t)gy;
    groups[2] = 1;
}

/* Push constants of shaders/layernorm.comp (strided rows, optionally moved; see the shader). */
typedef struct lsvk__layernorm_push {
    uint32_t rows, C, flags;
    float eps;
    uint32_t stride, offset, sub, skip;
    uint32_t per, xgs, ystride, yoffset, ygs; /* with flags bit 2 */
} lsvk__layernorm_push;

/* Records a LayerNorm with push p (lib/ops/norm.c picks the kernel for the device). w and b may
 * be NULL; y may be x. */
lsvk_status lsvk__record_layernorm(lsvk_cmd *use, const lsvk_tensor *x, const lsvk_tensor *w,
                                   const lsvk_tensor *b, lsvk_tensor *y, const lsvk__layernorm_push *p,
                                   const char *label);

/* y = epilogue(x W^T + b) (flags: LSVK_LINEAR_GELU; r: residual or NULL) over M rows, row 0 of x
 * at value xoff of its binding, of y and r at yoff: in bands where they exceed one binding. */
lsvk_status lsvk__record_linear_rows(lsvk_cmd *use, const lsvk_tensor *x, uint32_t xoff, const lsvk_tensor *w,
                                    const lsvk_tensor *b, const lsvk_tensor *r, uint32_t flags, lsvk_tensor *y,
                                    uint32_t yoff, uint64_t M);

/* LayerNorm (flags: bit 0 weight, bit 1 bias) over `rows` contiguous rows of C values of x into y
 * (y may be x), from row `first` of both, in bands where they exceed one binding. */
lsvk_status lsvk__record_layernorm_rows(lsvk_cmd *use, const char *label, const lsvk_tensor *x,
                                        const lsvk_tensor *w, const lsvk_tensor *b, lsvk_tensor *y, uint64_t first,
                                        uint64_t rows, uint32_t C, uint32_t flags, float eps);

/* llvmpipe (lavapipe) ends the loops of a shader invocation after 65535 iterations in total, its
 * guard against endless shaders, silently. Ops whose loops would run longer there must split the
 * work or refuse it. */
static inline uint64_t lsvk__loop_budget(const lsvk_context *ctx) {
    uint64_t b = ctx->info.driver_id == VK_DRIVER_ID_MESA_LLVMPIPE ? 65535u : UINT64_MAX;
    /* tests lower it to reach the splitting paths at small sizes */
    const char *env = getenv("LSVK_LOOP_BUDGET");
    if (env) {
        uint64_t v = strtoull(env, NULL, 10);
        if (v >= 1024 && v < b) b = v;
    }
    return b;
}

/* The shuffle-shaped kernels (one workgroup = one subgroup, values passed between lanes with
 * subgroupShuffle) need a fixed power-of-two subgroup size (no size-control range) that is a
 * legal workgroup size, and shuffles in compute shaders. */
static inline bool lsvk__subgroup_shuffle_ok(const lsvk_context *ctx) {
    const lsvk_device_info *in = &ctx->info;
    uint32_t sg = in->subgroup_size, lim = in->max_workgroup_invocations;
    if (in->max_workgroup_size[0] < lim) lim = in->max_workgroup_size[0];
    return in->subgroup_shuffle && sg >= 1 && sg <= 64 && (sg & (sg - 1)) == 0 &&
           in->min_subgroup_size == sg && in->max_subgroup_size == sg && sg <= lim;
}

/* Largest power of two <= v (v >= 1). */
static inline uint32_t lsvk__pow2_floor(uint32_t v) {
    uint32_t p = 1;
    while (p <= v / 2) p *= 2;
    return p;
}

/* Workgroup size for a one-row-per-workgroup kernel over rows of C values, a power of two within
 * the device's limits. GPUs: about C/8 invocations (each loops over a few elements) in [32, 256].
 * CPUs (lavapipe runs a workgroup on one thread, and every barrier of the reduction costs a pass
 * over the invocations): about C/64 in [16, 256]; measured on lavapipe, 4096 x 1024 layernorm
 * takes 54 ms at 16 invocations, 130 ms at 128. */
static inline uint32_t lsvk__row_workgroup(const lsvk_context *ctx, int64_t C) {
    bool cpu = ctx->info.type == LSVK_DEVICE_TYPE_CPU;
    uint32_t want = cpu ? 16 : 32;
    int64_t per = cpu ? 64 : 8;
    while (want < 256 && (int64_t)want * per < C) want *= 2;
    uint32_t lim = ctx->info.max_workgroup_invocations;
    if (ctx->info.max_workgroup_size[0] < lim) lim = ctx->info.max_workgroup_size[0];
    if (lim == 0) lim = 128;
    if (want > lim) want = lsvk__pow2_floor(lim);
    return want;
}

#endif
