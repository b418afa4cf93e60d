#version 450
// LayerNorm over rows of C values: y = (x - mean) / sqrt(var + eps) * w + b, biased variance.
// One workgroup per row (looping over rows when there are more rows than workgroups). Two passes
// over the row in fp32 (mean, then the sums of deviations and squared deviations from it, which
// correct the mean and give the variance) for accuracy on long rows and rows far from zero, each
// reduced with a shared-memory tree that does not depend on the subgroup size.
// y may be x: every element is read in the reduction passes, which end with a barrier, before
// the invocation that read it writes it.
//
// Rows need not be contiguous: logical row i is part i % sub of token i / sub, starting at
// token * stride + offset + part * C (plain LayerNorm: sub 1, stride C, offset 0). Tokens with
// token % skip == 0 are left alone when skip > 0. The long-short layers use this for DualLN on
// K and V, leaving a CLS token's raw K/V untouched.
//
// Flag bit 2 gives y its own layout, so a LayerNorm can also move rows (the causal layer
// normalises projections straight into its window and chunk buffers): tokens come in groups of
// `per` (a batch row); token i of group g reads x at g * xgs + i * stride + offset and writes y at
// g * ygs + i * ystride + yoffset (part p adds p * C to both). Without bit 2, y is laid out as x.
//
// spec 0: workgroup size, a power of two.
// push: rows, C, flags (bit 0: weight present, bit 1: bias present, bit 2: y layout given), eps,
// stride, offset, sub, skip, per, xgs, ystride, yoffset, ygs.
#include "rows.glsl"

layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer W { float w[]; };
layout(set = 0, binding = 2) readonly buffer B { float b[]; };
layout(set = 0, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint C;
    uint flags;
    float eps;
    uint stride;
    uint offset;
    uint sub;
    uint skip;
    uint per;
    uint xgs;
    uint ystride;
    uint yoffset;
    uint ygs;
} pc;

const uint WG = gl_WorkGroupSize.x;
// Two float arrays rather than one vec2 array: 3x faster on lavapipe (4096 x 1024 rows).
shared float red0[WG];
shared float red1[WG];

// Sums of v over the workgroup (two at once); every invocation gets the result.
vec2 wg_sum(vec2 v) {
    uint t = gl_LocalInvocationID.x;
    red0[t] = v.x;
    red1[t] = v.y;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (t < s) {
            red0[t] += red0[t + s];
            red1[t] += red1[t + s];
        }
        barrier();
    }
    vec2 r = vec2(red0[0], red1[0]);
    barrier();
    return r;
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint C = pc.C;
    float fc = float(C);
    bool has_w = (pc.flags & 1u) != 0u;
    bool has_b = (pc.flags & 2u) != 0u;
    for (uint row = lsvk_group_index(); row < pc.rows; row += lsvk_group_count()) {
        uint token = row / pc.sub;
        if (pc.skip > 0u && token % pc.skip == 0u) continue; // uniform: the row is the workgroup's
        uint part = (row % pc.sub) * C;
        uint base = token * pc.stride + pc.offset + part, ybase = base;
        if ((pc.flags & 4u) != 0u) {
            uint g = token / pc.per, i = token % pc.per;
            base = g * pc.xgs + i * pc.stride + pc.offset + part;
            ybase = g * pc.ygs + i * pc.ystride + pc.yoffset + part;
        }
        float s = 0.0;
        for (uint c = t; c < C; c += WG) s += x[base + c];
        float mean0 = wg_sum(vec2(s, 0.0)).x / fc;
        // Deviations from the first estimate: their sum corrects the mean's rounding error, their
        // squares give the variance without the cancellation of E[x^2] - E[x]^2.
        vec2 q = vec2(0.0);
        for (uint c = t; c < C; c += WG) {
            float d = x[base + c] - mean0;
            q += vec2(d, d * d);
        }
        q = wg_sum(q) / fc;
        float dm = q.x; // mean = mean0 + dm, kept apart: x - mean0 is exact for x near mean0
        float var = max(q.y - dm * dm, 0.0);
        float inv = 1.0 / sqrt(var + pc.eps);
        for (uint c = t; c < C; c += WG) {
            float v = ((x[base + c] - mean0) - dm) * inv;
            if (has_w) v *= w[c];
            if (has_b) v += b[c];
            y[ybase + c] = v;
        }
    }
}
