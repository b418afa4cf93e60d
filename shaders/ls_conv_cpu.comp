#version 450
#extension GL_EXT_control_flow_attributes : require
// ls_conv.comp's depthwise conv on V, added to the attention output, shaped for CPU Vulkan
// drivers (lavapipe), where loads in loops go lane by lane: an invocation takes a vec4 of features
// (D % 4 == 0) for TB consecutive tokens of one batch row, so a tap is one vec4 load for four
// features instead of four, and each weight is loaded once per TB tokens. Taps outside [0, N) or
// on padded tokens contribute nothing.
// spec 0: WG, 1: TB tokens per invocation.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TB = 16;

layout(set = 0, binding = 0) readonly buffer Vb { vec4 V4[]; };       // [B*N0, D] after LN_l
layout(set = 0, binding = 1) readonly buffer Mask { float mask[]; };
layout(set = 0, binding = 2) readonly buffer Conv { float wconv[]; }; // [H, K]
layout(set = 0, binding = 3) buffer Att { vec4 att4[]; };            // [B*N0, D]

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
    uint voff; // V and att values are at index + voff, + aoff (multiples of 4), mask at + moff (wrapping)
    uint aoff;
    uint moff;
} pc;

void main() {
    uint D4 = pc.D / 4u, blocks = (pc.n1 - pc.n0 + TB - 1u) / TB;
    uint total = pc.B * blocks * D4;
    uint stride = gl_NumWorkGroups.x * gl_NumWorkGroups.y * gl_WorkGroupSize.x;
    uint start = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x +
                 gl_LocalInvocationID.x;
    int half_k = int(pc.K / 2u);
    for (uint i = start; i < total; i += stride) {
        uint f4 = i % D4, blk = (i / D4) % blocks, b = i / (D4 * blocks);
        uint h = 4u * f4 / (pc.D / pc.H);
        uint rowbase = b * pc.N0 + pc.cls;
        int n0 = int(pc.n0 + blk * TB);
        vec4 acc[TB];
        [[unroll]] for (uint j = 0u; j < TB; j++) acc[j] = vec4(0.0);
        for (uint t = 0u; t < pc.K; t++) {
            float w = wconv[h * pc.K + t];
            [[unroll]] for (uint j = 0u; j < TB; j++) {
                int p = n0 + int(j) + int(t) - half_k;
                bool ok = p >= 0 && p < int(pc.N);
                if (ok && pc.has_mask != 0u) ok = mask[rowbase + uint(p) + pc.moff] != 0.0;
                if (ok) acc[j] += w * V4[(rowbase + uint(p)) * D4 + f4 + pc.voff / 4u];
            }
        }
        [[unroll]] for (uint j = 0u; j < TB; j++) {
            uint n = uint(n0) + j;
            if (n < pc.n1) att4[(rowbase + n) * D4 + f4 + pc.aoff / 4u] += acc[j];
        }
    }
}
