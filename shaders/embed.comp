#version 450
// Token embedding: y[m, c] = table[token[m], c] * scale for m < rows, c < C. Token ids are
// uint32 (checked against the vocabulary on the host).
//
// spec 0: workgroup size. Grid: any 2D grid; the invocations stride over rows*C elements.
layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) readonly buffer Tok { uint tok[]; };
layout(set = 0, binding = 1) readonly buffer Table { float table[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint C;
    float scale;
} pc;

void main() {
    uint groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint stride = groups * gl_WorkGroupSize.x;
    uint n = pc.rows * pc.C;
    for (uint i = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x; i < n; i += stride) {
        uint m = i / pc.C, c = i % pc.C;
        y[i] = table[tok[m] * pc.C + c] * pc.scale;
    }
}
