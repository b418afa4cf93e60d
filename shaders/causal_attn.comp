#version 450
#extension GL_EXT_control_flow_attributes : require
// Fused causal long-short attention (README section 4, steps 7-10): one invocation per (batch
// row g, head h, query t); one online softmax (log2 domain) over the compressed chunks the query
// may see, then its window; no score matrix in memory.
//
// Query t sits at block position p = q0 + t, in chunk p / cs. Compressed vectors: rows of KVc
// (the cache's chunks first, then the block's, r per chunk); the query sees the first
// nvis = (cache_chunks + p / cs) * r, vector k at distance nvis - 1 - k, scored
// q . (Kc[k] + Rc[distance]) (no content or position bias there). Window slot m < W is block
// position p - W + 1 + m, row p + 1 + m of KVw (row 0 = position -W), scored
// (q + r_w_bias) . Kw + (q + r_r_bias) . R[m]. q is scaled by 1/sqrt(dh) before the biases.
// KVc and KVw rows hold [key | value], 2D floats. Step decoding runs it with nq = 1.
//
// spec 0: workgroup size; 1: DH head dim; 2: VEC4 (every offset and stride a multiple of 4: rows
// are read as vec4s). Grid: x over query tiles of the workgroup size, y over G*H.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DH = 32;
layout(constant_id = 2) const bool VEC4 = true;
const uint DH4 = (DH + 3u) / 4u;

layout(set = 0, binding = 0) readonly buffer Q1 { float q1[]; };
layout(set = 0, binding = 0) readonly buffer Q4 { vec4 q4[]; };
layout(set = 0, binding = 1) readonly buffer C1 { float c1[]; };
layout(set = 0, binding = 1) readonly buffer C4 { vec4 c4[]; };
layout(set = 0, binding = 2) readonly buffer W1 { float w1[]; };
layout(set = 0, binding = 2) readonly buffer W4 { vec4 w4[]; };
layout(set = 0, binding = 3) readonly buffer R1 { float r1[]; };   // [W, D]
layout(set = 0, binding = 3) readonly buffer R4 { vec4 r4[]; };
layout(set = 0, binding = 4) readonly buffer P1 { float p1[]; };   // [distances, D]
layout(set = 0, binding = 4) readonly buffer P4 { vec4 p4[]; };
layout(set = 0, binding = 5) readonly buffer RB { float rb[]; };   // r_w_bias [D], r_r_bias [D]
layout(set = 0, binding = 6) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push {
    uint G;
    uint H;
    uint nq;
    uint q0;
    uint qgs, qrs, qrow0, qcol;
    uint cs;
    uint r;
    uint cache_chunks;
    uint W;
    uint kvc_gs;
    uint kvw_gs;
    uint ogs, ors, orow0;
    float scale;
} pc;

// dst = elements 4c .. 4c+3 of the head row starting at element `at` (zero past DH).
#define LOAD(b1, b4, at, c, dst)                                                      \
    {                                                                                 \
        if (VEC4) {                                                                   \
            dst = b4[((at) >> 2) + (c)];                                              \
        } else {                                                                      \
            dst = vec4(0.0);                                                          \
            [[unroll]] for (uint e_ = 0u; e_ < 4u; e_++)                              \
                if (4u * (c) + e_ < DH) dst[e_] = b1[(at) + 4u * (c) + e_];           \
        }                                                                             \
    }

const float LOG2E = 1.4426950408889634;

vec4 acc[DH4];
float m = -3.0e38, l = 0.0; // finite start: the first key's alpha is exp2(-huge) = 0

void fold(float s, uint va) {
    float mn = max(m, s);
    float alpha = exp2(m - mn), p = exp2(s - mn);
    l = l * alpha + p;
    [[unroll]] for (uint c = 0u; c < DH4; c++) {
        vec4 v;
        LOAD(c1, c4, va, c, v);
        acc[c] = acc[c] * alpha + p * v;
    }
    m = mn;
}

void fold_w(float s, uint va) {
    float mn = max(m, s);
    float alpha = exp2(m - mn), p = exp2(s - mn);
    l = l * alpha + p;
    [[unroll]] for (uint c = 0u; c < DH4; c++) {
        vec4 v;
        LOAD(w1, w4, va, c, v);
        acc[c] = acc[c] * alpha + p * v;
    }
    m = mn;
}

void main() {
    uint t = gl_GlobalInvocationID.x;
    uint g = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    if (t >= pc.nq) return;
    uint D = pc.H * DH, hoff = h * DH, p = pc.q0 + t;

    vec4 qs[DH4], qw[DH4], qr[DH4];
    uint qa = g * pc.qgs + (pc.qrow0 + t) * pc.qrs + pc.qcol + hoff;
    [[unroll]] for (uint c = 0u; c < DH4; c++) {
        vec4 x, bw = vec4(0.0), br = vec4(0.0);
        LOAD(q1, q4, qa, c, x);
        [[unroll]] for (uint e = 0u; e < 4u; e++)
            if (4u * c + e < DH) {
                bw[e] = rb[hoff + 4u * c + e];
                br[e] = rb[D + hoff + 4u * c + e];
            }
        qs[c] = x * pc.scale;
        qw[c] = qs[c] + bw;
        qr[c] = qs[c] + br;
        acc[c] = vec4(0.0);
    }

    uint nvis = (pc.cache_chunks + p / pc.cs) * pc.r;
    uint cb = g * pc.kvc_gs + hoff;
    for (uint k = 0u; k < nvis; k++) {
        uint ka = cb + k * 2u * D, ra = (nvis - 1u - k) * D + hoff;
        vec4 sv = vec4(0.0);
        [[unroll]] for (uint c = 0u; c < DH4; c++) {
            vec4 kk, rr;
            LOAD(c1, c4, ka, c, kk);
            LOAD(p1, p4, ra, c, rr);
            sv += qs[c] * (kk + rr);
        }
        fold(((sv.x + sv.y) + (sv.z + sv.w)) * LOG2E, ka + D);
    }

    uint wb = g * pc.kvw_gs + hoff;
    for (uint s = 0u; s < pc.W; s++) {
        uint ka = wb + (p + 1u + s) * 2u * D, ra = s * D + hoff;
        vec4 sv = vec4(0.0);
        [[unroll]] for (uint c = 0u; c < DH4; c++) {
            vec4 kk, rr;
            LOAD(w1, w4, ka, c, kk);
            LOAD(r1, r4, ra, c, rr);
            sv += qw[c] * kk + qr[c] * rr;
        }
        fold_w(((sv.x + sv.y) + (sv.z + sv.w)) * LOG2E, ka + D);
    }

    float inv = 1.0 / l;
    uint oa = g * pc.ogs + (pc.orow0 + t) * pc.ors + hoff;
    [[unroll]] for (uint c = 0u; c < DH4; c++)
        [[unroll]] for (uint e = 0u; e < 4u; e++)
            if (4u * c + e < DH) o[oa + 4u * c + e] = acc[c][e] * inv;
}
