#version 450
// layernorm.comp's LayerNorm (same push constants, row mapping and two-pass statistics) shaped
// for CPU drivers: one invocation per row, so no shared memory and no barriers. lavapipe runs a
// workgroup's invocations as SIMD lanes on one thread, where layernorm.comp's tree reductions
// cost a pass over the workgroup per level; here each lane walks its own row.
//
// spec 0: workgroup size. Grid: any 2D grid; invocations stride over the rows.
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

void main() {
    uint groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint step = groups * gl_WorkGroupSize.x;
    uint C = pc.C;
    float fc = float(C);
    bool has_w = (pc.flags & 1u) != 0u;
    bool has_b = (pc.flags & 2u) != 0u;
    for (uint row = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x; row < pc.rows; row += step) {
        uint token = row / pc.sub;
        if (pc.skip > 0u && token % pc.skip == 0u) continue;
        uint part = (row % pc.sub) * C;
        uint base = token * pc.stride + pc.offset + part, ybase = base;
        if ((pc.flags & 4u) != 0u) {
            uint g = token / pc.per, i = token % pc.per;
            base = g * pc.xgs + i * pc.stride + pc.offset + part;
            ybase = g * pc.ygs + i * pc.ystride + pc.yoffset + part;
        }
        float s = 0.0;
        for (uint c = 0u; c < C; c++) s += x[base + c];
        float mean0 = s / fc;
        // deviations from the first estimate: see layernorm.comp
        vec2 q = vec2(0.0);
        for (uint c = 0u; c < C; c++) {
            float d = x[base + c] - mean0;
            q += vec2(d, d * d);
        }
        q /= fc;
        float dm = q.x;
        float inv = 1.0 / sqrt(max(q.y - dm * dm, 0.0) + pc.eps);
        for (uint c = 0u; c < C; c++) {
            float v = ((x[base + c] - mean0) - dm) * inv;
            if (has_w) v *= w[c];
            if (has_b) v += b[c];
            y[ybase + c] = v;
        }
    }
}
