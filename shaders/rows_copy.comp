#version 450
// Moves rows between strided layouts: for group g < G (a batch row), row t < T and column c < C,
//   y[g * ygs + t * yrs + yoff + c]  =  x[g * xgs + t * xrs + xoff + c]        (add 0)
//                                   +=  x[...]                                   (add 1)
// The causal layer uses it to keep caches, to place one decoded token's projections in its
// block buffers, and (add 1) for residual sums.
//
// spec 0: workgroup size. Grid: x over the columns (in workgroup-size blocks), y over the G*T
// rows; both stride past the grid, so any grid works. Rows, not elements, are split into (g, t):
// an integer division per element cost lavapipe more than the copy.
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
    uint rows = pc.G * pc.T, cstep = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint r = gl_WorkGroupID.y; r < rows; r += gl_NumWorkGroups.y) {
        uint g = r / pc.T, t = r - g * pc.T;
        uint xb = g * pc.xgs + t * pc.xrs + pc.xoff, yb = g * pc.ygs + t * pc.yrs + pc.yoff;
        for (uint c = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x; c < pc.C; c += cstep)
            y[yb + c] = pc.add != 0u ? y[yb + c] + x[xb + c] : x[xb + c];
    }
}
