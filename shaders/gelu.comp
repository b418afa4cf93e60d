#version 450
// y = gelu(x), exact erf form, elementwise over n values. y may be x (each invocation reads its
// element before writing it).
//
// spec 0: workgroup size. Grid: any 2D grid; the invocations stride over the n elements.
#include "gelu.glsl"

layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push { uint n; } pc;

void main() {
    uint groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint stride = groups * gl_WorkGroupSize.x;
    for (uint i = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x; i < pc.n; i += stride)
        y[i] = lsvk_gelu(x[i]);
}
