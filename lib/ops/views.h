/* Views of parts of a tensor, and the bands ops split large tensors into: a binding covers at most
 * maxStorageBufferRange bytes and starts at a multiple of minStorageBufferOffsetAlignment, while a
 * tensor may be larger (up to maxMemoryAllocationSize). Internal to lib/ops; header-only. */
#ifndef LSVK_OPS_VIEWS_H
#define LSVK_OPS_VIEWS_H

#include "ops/op_util.h"

/* A view of the first `rows` rows of t as [rows, cols] (same buffer and offset). */
static inline lsvk_tensor lsvk__view_rows(const lsvk_tensor *t, int64_t rows, int64_t cols) {
    lsvk_tensor v = *t;
    v.rank = 2;
    v.shape[0] = rows;
    v.shape[1] = cols;
    v.shape[2] = v.shape[3] = 1;
    v.numel = rows * cols;
    v.bytes = (uint64_t)v.numel * sizeof(float);
    return v;
}

/* A view of the first n values of t as a vector [n]. */
static inline lsvk_tensor lsvk__view_vec(const lsvk_tensor *t, int64_t n) {
    lsvk_tensor v = lsvk__view_rows(t, n, 1);
    v.rank = 1;
    v.shape[1] = 1;
    return v;
}

/* Values a span starts on: minStorageBufferOffsetAlignment, at least 16 bytes so that vec4
 * shaders find vec4-aligned offsets; LSVK_SPAN_ALIGN (bytes, a power of two up to 256) raises it,
 * so tests on a 16-byte device see the larger offsets of GPUs with 64- or 256-byte alignment. */
static inline uint64_t lsvk__span_align(const lsvk_context *ctx) {
    uint64_t a = ctx->info.min_storage_buffer_alignment > 16 ? ctx->info.min_storage_buffer_alignment : 16;
    const char *env = getenv("LSVK_SPAN_ALIGN");
    if (env) {
        uint64_t v = strtoull(env, NULL, 10);
        if (v > a && v <= 256 && (v & (v - 1)) == 0) a = v;
    }
    return a / sizeof(float);
}

/* A view covering values [first, first + n) of t, starting at the aligned value at or before
 * first, which it returns in *base: a shader reading value i of t reads value i - *base of the
 * view. */
static inline lsvk_tensor lsvk__view_span(const lsvk_context *ctx, const lsvk_tensor *t, uint64_t first,
                                          uint64_t n, uint32_t *base) {
    uint64_t align = lsvk__span_align(ctx), start = first / align * align;
    lsvk_tensor v = lsvk__view_vec(t, (int64_t)(first + n - start));
    v.offset += start * sizeof(float);
    *base = (uint32_t)start;
    return v;
}

/* Rows of `width` values, from row r0 of a tensor whose row 0 is its value off, that one span
 * (lsvk__view_span) within lsvk__binding_limit holds. */
static inline uint64_t lsvk__band_fit(const lsvk_context *ctx, uint64_t off, uint64_t r0, uint64_t width) {
    uint64_t skew = (off + r0 * width) % lsvk__span_align(ctx), room = lsvk__binding_limit(ctx) / sizeof(float);
    return room > skew ? (room - skew) / width : 0;
}

#endif
