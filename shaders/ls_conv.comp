#version 450
// Depthwise convolution along the sequence on the layer's values, added to the attention output:
// att[n, h*DH + d] += sum_t wconv[h, t] * V'[n + t - K/2, h*DH + d], V' = V after DualLN with
// padded rows zeroed and zero outside [0, N) (cross-correlation, as the reference's conv).
// One invocation per output element, over a strided 2D grid.
// spec 0: WG.

layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) readonly buffer Vb { float V[]; };       // [B*N0, D] after LN_l
layout(set = 0, binding = 1) readonly buffer Mask { float mask[]; };
layout(set = 0, binding = 2) readonly buffer Conv { float wconv[]; }; // [H, K]
layout(set = 0, binding = 3) buffer Att { float att[]; };            // [B*N0, D]

layout(push_constant) uniform Push {
    uint B;
    uint N;
    uint N0;
    uint D;
    uint H;
    uint K;
    uint cls;
    uint has_mask;
    uint n0;   // tokens [n0, n1) of this dispatch (bands of a larger tensor)
    uint n1;
    uint voff; // V values are at index + voff, att at + aoff, mask at + moff (wrapping)
    uint aoff;
    uint moff;
} pc;

void main() {
    uint T = pc.n1 - pc.n0, total = pc.B * T * pc.D;
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * gl_WorkGroupSize.x;
    uint start = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x +
                 gl_LocalInvocationID.x;
    int half_k = int(pc.K / 2u);
    for (uint i = start; i < total; i += stride) {
        uint f = i % pc.D, n = pc.n0 + (i / pc.D) % T, b = i / (pc.D * T);
        uint h = f / (pc.D / pc.H);
        uint rowbase = b * pc.N0 + pc.cls;
        float s = 0.0;
        for (uint t = 0; t < pc.K; t++) {
            int p = int(n) + int(t) - half_k;
            if (p < 0 || p >= int(pc.N)) continue;
            if (pc.has_mask != 0u && mask[rowbase + uint(p) + pc.moff] == 0.0) continue;
            s += wconv[h * pc.K + t] * V[(rowbase + uint(p)) * pc.D + f + pc.voff];
        }
        att[(rowbase + n) * pc.D + f + pc.aoff] += s;
    }
}
