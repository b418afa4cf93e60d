#version 450
#extension GL_EXT_control_flow_attributes : require
// Full softmax attention, fused (flash-style), for any device: out = softmax(Q K^T / sqrt(dh)) V
// per (b, h), with an optional key/query padding mask [B,N] (0 = padding) and an optional causal
// mask. Scores never reach memory. (CPU devices with a fixed subgroup size use
// attention_shuffle.comp instead; see lib/ops/full_attn.c.)
//
// A workgroup takes BQ query rows of one (b, h) (grid x = query tiles, y = h, z = b) and walks
// the keys in tiles of BK: the K and V tiles (and the tile's key mask, as a 0 / -inf bias) are
// staged in shared memory as vec4 rows, then every query row updates its own online softmax
// (fp32 running max m and sum l in the log2 domain, the accumulator rescaled by exp2(m_old - m_new)
// once per tile). Causal: the tiles past the query tile's last row are never visited.
//
// T invocations serve one query row (invocation r*T + t: row r, lane t); lane t owns the vec4
// chunks t, t+T, t+2T, ... of the head dim, for q and for the accumulator, in registers.
//   T == 1: each invocation computes its row's BK scores alone: two barriers per tile.
//   T > 1 (GPUs; keeps registers low for large dh): the lanes write partial dot products to shared
//   memory and each lane sums the T partials of every key (one more barrier per tile).
// Each lane then computes the same softmax statistics of its row redundantly, so no reduction of
// the max or the sum is needed. Nothing depends on the subgroup size.
//
// A row whose keys are all masked never leaves m = -inf: its accumulator and sum stay 0 and it is
// written as 0 (the exp2 of -inf differences is never taken). Rows of padded queries are 0.
//
// The per-key loops are kept rolled ([[dont_unroll]]): unrolled BK x dh bodies made lavapipe's
// compile time explode (minutes for some dh).
//
// spec 0: workgroup size = BQ * T; 1: BQ; 2: T (power of two); 3: BK; 4: DH (head dim, 1..256).
// push: see full_attn.glsl.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BQ = 32;
layout(constant_id = 2) const uint T = 1;
layout(constant_id = 3) const uint BK = 32;
layout(constant_id = 4) const uint DH = 64;

#include "full_attn.glsl"

const uint WG = gl_WorkGroupSize.x;
const uint DC = (DH4 + T - 1u) / T;  // vec4 chunks per lane
const uint DS = DC * T;              // row stride of the K/V tiles, vec4s (zero-padded)
const uint SPN = T > 1u ? BK * WG : 1u;

shared vec4 ks[BK * DS];
shared vec4 vs[BK * DS];
shared float kbias[BK];
shared float sp[SPN];                // partial dot products [key][invocation] (T > 1)

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint r = lid / T, t = lid % T;
    uint N = pc.N;
    uint b = gl_WorkGroupID.z;
    uint base = b * pc.sb + gl_WorkGroupID.y * pc.sh;
    uint q0 = gl_WorkGroupID.x * BQ;
    uint i = q0 + r;
    bool live = i < N;
    bool causal = pc.causal != 0u;

    vec4 qv[DC];
    vec4 acc[DC];
    [[unroll]] for (uint c = 0u; c < DC; c++) {
        qv[c] = live ? attn_load_q(base + i * pc.sn, 4u * (t + c * T)) * pc.scale : vec4(0.0);
        acc[c] = vec4(0.0);
    }
    float m = NEG_INF, l = 0.0;

    uint kend = causal ? min(N, q0 + BQ) : N; // uniform over the workgroup
    for (uint k0 = 0u; k0 < kend; k0 += BK) {
        for (uint e = lid; e < BK * DS; e += WG) {
            uint j = e / DS, c = e % DS;
            vec4 kk = vec4(0.0), vv = vec4(0.0);
            if (k0 + j < N) attn_load_kv(base + (k0 + j) * pc.sn, 4u * c, kk, vv);
            ks[e] = kk;
            vs[e] = vv;
        }
        for (uint j = lid; j < BK; j += WG)
            kbias[j] = k0 + j < N && attn_key_real(b, k0 + j) ? 0.0 : NEG_INF;
        barrier();

        float s[BK];
        if (T == 1u) {
            [[dont_unroll]] for (uint j = 0u; j < BK; j++) {
                float x = 0.0;
                [[unroll]] for (uint c = 0u; c < DC; c++) x += dot(qv[c], ks[j * DS + c]);
                s[j] = x;
            }
        } else {
            [[dont_unroll]] for (uint j = 0u; j < BK; j++) {
                float x = 0.0;
                [[unroll]] for (uint c = 0u; c < DC; c++) x += dot(qv[c], ks[j * DS + t + c * T]);
                sp[j * WG + lid] = x;
            }
            barrier();
            [[dont_unroll]] for (uint j = 0u; j < BK; j++) {
                float x = 0.0;
                for (uint u = 0u; u < T; u++) x += sp[j * WG + r * T + u];
                s[j] = x;
            }
        }

        float mt = NEG_INF;
        [[dont_unroll]] for (uint j = 0u; j < BK; j++) {
            float x = s[j] + kbias[j];
            if (causal && k0 + j > i) x = NEG_INF;
            s[j] = x;
            mt = max(mt, x);
        }
        float mn = max(m, mt);
        if (mn != NEG_INF) { // else every key so far is masked: nothing to add
            float alpha = attn_exp2(m, mn);
            l *= alpha;
            [[unroll]] for (uint c = 0u; c < DC; c++) acc[c] *= alpha;
            [[dont_unroll]] for (uint j = 0u; j < BK; j++) {
                float p = attn_exp2(s[j], mn);
                l += p;
                [[unroll]] for (uint c = 0u; c < DC; c++) acc[c] += p * vs[j * DS + t + c * T];
            }
            m = mn;
        }
        barrier();
    }

    if (!live) return;
    bool real = attn_key_real(b, i);
    float inv = real && l > 0.0 ? 1.0 / l : 0.0;
    [[unroll]] for (uint c = 0u; c < DC; c++)
        attn_store(base + i * pc.sn, 4u * (t + c * T), real ? acc[c] * inv : vec4(0.0));
}
