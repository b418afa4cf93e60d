#version 450
// Chunk compression of the causal long-short layer (README section 4, step 2): for chunk c of cs
// tokens, head h and rank j,
//   P[t] = softmax over t < cs of S[c*cs + t, h*r + j]
//   out[c*r + j, p*D + h*dh + d] = sum_t P[t] * x[c*cs + t, part p, h*dh + d]
// for each of `parts` D-wide parts of x (key and value share the scores). One invocation per
// output element; cs is small (tens), so each recomputes its column's softmax.
//
// Layouts (floats): x[g*xgs + (xrow0 + tok)*xrs + xcol + p*xps + f];
// S[g*sgs + (srow0 + tok)*srs + scol + h*r + j]; out[g*ogs + (orow0 + c*r + j)*ors + p*D + f].
// spec 0: workgroup size. Grid: any 2D grid; invocations stride over G*chunks*r*parts*D.
layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer S { float s[]; };
layout(set = 0, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push {
    uint G;
    uint chunks;
    uint cs;
    uint r;
    uint D;
    uint dh;
    uint parts;
    uint xgs, xrs, xrow0, xcol, xps;
    uint sgs, srs, srow0, scol;
    uint ogs, ors, orow0;
} pc;

void main() {
    uint groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint stride = groups * gl_WorkGroupSize.x;
    uint n = pc.G * pc.chunks * pc.r * pc.parts * pc.D;
    for (uint i = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x; i < n; i += stride) {
        uint f = i % pc.D, rest = i / pc.D;
        uint p = rest % pc.parts;
        rest /= pc.parts;
        uint j = rest % pc.r;
        rest /= pc.r;
        uint c = rest % pc.chunks, g = rest / pc.chunks;
        uint h = f / pc.dh;
        uint sb = g * pc.sgs + (pc.srow0 + c * pc.cs) * pc.srs + pc.scol + h * pc.r + j;
        uint xb = g * pc.xgs + (pc.xrow0 + c * pc.cs) * pc.xrs + pc.xcol + p * pc.xps + f;
        float mx = s[sb];
        for (uint t = 1u; t < pc.cs; t++) mx = max(mx, s[sb + t * pc.srs]);
        float sum = 0.0, acc = 0.0;
        for (uint t = 0u; t < pc.cs; t++) {
            float e = exp(s[sb + t * pc.srs] - mx);
            sum += e;
            acc += e * x[xb + t * pc.xrs];
        }
        o[g * pc.ogs + (pc.orow0 + c * pc.r + j) * pc.ors + p * pc.D + f] = acc / sum;
    }
}
