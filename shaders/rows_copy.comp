#version 450
// Moves rows between strided layouts: for group g < G (a batch row), row t < T and column c < C,
//   y[g * ygs + t * yrs + yoff + c]  =  x[g * xgs + t * xrs + xoff + c]        (add 0)
//                                   +=  x[...]                                   (add 1)
// The causal layer uses it to keep caches, to place one decoded token's projections in its
// block buffers, and (add 1) for residual sums.
//
// spec 0: workgroup size. Grid: any 2D grid; the invocations stride over G*T*C elements.
layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint G;
    uint T;
    uint C;
    uint xgs;
    uint xrs;
    uint xoff;
    uint ygs;
    uint yrs;
    uint yoff;
    uint add;
} pc;

void main() {
    uint groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint stride = groups * gl_WorkGroupSize.x;
    uint n = pc.G * pc.T * pc.C;
    for (uint i = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x; i < n; i += stride) {
        uint c = i % pc.C, r = i / pc.C;
        uint t = r % pc.T, g = r / pc.T;
        float v = x[g * pc.xgs + t * pc.xrs + pc.xoff + c];
        uint o = g * pc.ygs + t * pc.yrs + pc.yoff + c;
        y[o] = pc.add != 0u ? y[o] + v : v;
    }
}
