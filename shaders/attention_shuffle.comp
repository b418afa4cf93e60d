#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
// Full softmax attention (lsvk_attention) for CPU Vulkan devices (lavapipe): same result as
// attention.comp, shaped for a SIMD CPU where a workgroup is one subgroup of SIMD lanes.
//
// On lavapipe every memory load inside a loop is done lane by lane (a scalar load per lane), even
// when all lanes read the same address, so the shared-memory tiles of attention.comp cost a
// scalar load per lane per multiply-add. Here the workgroup is exactly one subgroup (SG lanes;
// the host uses this shader only where the subgroup size is fixed and equals the workgroup size),
// and each K/V element is loaded once per subgroup: for key j, lane l loads the vec4 chunks
// l, l+SG, ... of k[j] and v[j], and every lane reads the others' chunks with subgroupShuffle by
// a constant lane index (a register extract on lavapipe). No shared memory, no barriers.
//
// Each lane owns R query rows (rows q0 + r*SG + l, r < R; a workgroup covers SG*R rows), with q
// and the accumulator in registers, and folds the keys one at a time into an online softmax (fp32
// running max m and sum l in the log2 domain). Keys past the query tile are skipped when causal.
// All lanes run every key (the loop bound is uniform), as the shuffles need.
//
// Keys [k0, k1) only: llvmpipe ends a shader's loops after 65535 iterations, so the host splits
// longer rows into passes; between passes o holds the unnormalised accumulator and `state` the
// running max and sum of each query, and the last pass normalises.
//
// spec 0: workgroup size = the subgroup size SG; 1: R; 2: DH (head dim, 1..256).
// push: see full_attn.glsl.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 1;
layout(constant_id = 2) const uint DH = 64;

#include "full_attn.glsl"

layout(set = 0, binding = 5) buffer State { vec2 state[]; }; // [B, H, N] (m, l) between passes

const uint SG = gl_WorkGroupSize.x;
const uint DL = (DH4 + SG - 1u) / SG; // vec4 chunks of a K/V row per lane
const uint DP = DL * SG;              // q / accumulator vec4s per row (zero-padded)

void main() {
    uint lane = gl_LocalInvocationID.x;
    uint N = pc.N;
    uint b = gl_WorkGroupID.z;
    uint base = b * pc.sb + gl_WorkGroupID.y * pc.sh;
    uint q0 = gl_WorkGroupID.x * SG * R;
    bool causal = pc.causal != 0u;
    bool resume = (pc.pass & 1u) != 0u, last = (pc.pass & 2u) != 0u;
    uint srow = (b * pc.H + gl_WorkGroupID.y) * N;

    vec4 qv[R * DP];
    vec4 acc[R * DP];
    float m[R], l[R];
    [[unroll]] for (uint r = 0u; r < R; r++) {
        uint i = q0 + r * SG + lane;
        [[unroll]] for (uint c = 0u; c < DP; c++) {
            qv[r * DP + c] = i < N ? attn_load_q(base + i * pc.sn, 4u * c) * pc.scale : vec4(0.0);
            acc[r * DP + c] = resume && i < N ? attn_load_o(base + i * pc.sn, 4u * c) : vec4(0.0);
        }
        vec2 ml = resume && i < N ? state[srow + i] : vec2(NEG_INF, 0.0);
        m[r] = ml.x;
        l[r] = ml.y;
    }

    uint kend = min(pc.k1, causal ? min(N, q0 + SG * R) : N); // uniform over the subgroup
    for (uint j = pc.k0; j < kend; j++) {
        vec4 kr[DL], vr[DL];
        [[unroll]] for (uint c = 0u; c < DL; c++)
            attn_load_kv(base + j * pc.sn, 4u * (lane + c * SG), kr[c], vr[c]);

        float s[R];
        [[unroll]] for (uint r = 0u; r < R; r++) s[r] = 0.0;
        [[unroll]] for (uint c = 0u; c < DL; c++)
            [[unroll]] for (uint u = 0u; u < SG; u++) {
                vec4 kk = subgroupShuffle(kr[c], u);
                [[unroll]] for (uint r = 0u; r < R; r++) s[r] += dot(qv[r * DP + c * SG + u], kk);
            }

        // Online softmax, branch-free: a masked key has x = -inf and p = 0; while every key so far
        // is masked, m stays -inf, alpha is 0 and the accumulator and sum stay 0.
        bool key_real = attn_key_real(b, j);
        float alpha[R], p[R];
        [[unroll]] for (uint r = 0u; r < R; r++) {
            uint i = q0 + r * SG + lane;
            float x = key_real && !(causal && j > i) ? s[r] : NEG_INF;
            float mn = max(m[r], x);
            alpha[r] = attn_exp2(m[r], mn);
            p[r] = attn_exp2(x, mn);
            l[r] = l[r] * alpha[r] + p[r];
            m[r] = mn;
        }
        [[unroll]] for (uint c = 0u; c < DL; c++)
            [[unroll]] for (uint u = 0u; u < SG; u++) {
                vec4 vv = subgroupShuffle(vr[c], u);
                [[unroll]] for (uint r = 0u; r < R; r++)
                    acc[r * DP + c * SG + u] = acc[r * DP + c * SG + u] * alpha[r] + p[r] * vv;
            }
    }

    [[unroll]] for (uint r = 0u; r < R; r++) {
        uint i = q0 + r * SG + lane;
        if (i >= N) continue;
        if (!last) {
            state[srow + i] = vec2(m[r], l[r]);
            [[unroll]] for (uint c = 0u; c < DP; c++) attn_store(base + i * pc.sn, 4u * c, acc[r * DP + c]);
            continue;
        }
        bool real = attn_key_real(b, i);
        float inv = real && l[r] > 0.0 ? 1.0 / l[r] : 0.0;
        [[unroll]] for (uint c = 0u; c < DP; c++)
            attn_store(base + i * pc.sn, 4u * c, real ? acc[r * DP + c] * inv : vec4(0.0));
    }
}
