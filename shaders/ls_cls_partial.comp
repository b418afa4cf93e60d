#version 450
// CLS pooling of the bidirectional layer, first half of a split reduction over the sequence:
// the CLS query attends [its own raw key ; the tokens' attention outputs C[n]] (padded n get
// probability 0), with values [its raw value ; C[n]]. Workgroup (chunk c, b*H + h) reduces its
// chunk to (max, sum of exp, sum of exp * value); chunk 0 also holds the CLS key/value term.
// split_combine.comp (VECS = 1) merges the chunks into row 0 of the attention output.
// spec 0: WG, 1: DH, 2: CT (tokens per chunk, the shared score buffer).

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DH = 64;
layout(constant_id = 2) const uint CT = 256;

layout(set = 0, binding = 0) readonly buffer Qb { float Q[]; };     // [B*N0, D]
layout(set = 0, binding = 1) readonly buffer Kb { float K[]; };     // [B*N0, D]; CLS rows raw
layout(set = 0, binding = 2) readonly buffer Vb { float V[]; };     // [B*N0, D]; CLS rows raw
layout(set = 0, binding = 3) readonly buffer Att { float att[]; };  // [B*N0, D]: C, row 0 = CLS
layout(set = 0, binding = 4) readonly buffer Mask { float mask[]; };
layout(set = 0, binding = 5) writeonly buffer Part { float part[]; };

layout(push_constant) uniform Push {
    uint N;
    uint N0;
    uint D;
    uint H;
    uint has_mask;
    uint nchunks;
    float scale;
    uint c0;   // first chunk of this dispatch (bands of a larger tensor)
    uint qoff; // Q, K and V values are read at index + qoff, att at index + aoff (wrapping)
    uint aoff;
    uint moff; // mask values at index + moff
} pc;

const uint WG = gl_WorkGroupSize.x;
#define NEG_INF uintBitsToFloat(0xff800000u)

shared float s_q[DH];
shared float s_p[CT + 1u]; // scores, then weights; slot CT is the CLS term
shared float s_red[WG];

void main() {
    uint t = gl_LocalInvocationID.x;
    uint c = pc.c0 + gl_WorkGroupID.x;
    uint bh = gl_WorkGroupID.y;
    uint b = bh / pc.H, h = bh % pc.H;
    uint n0 = c * CT, n1 = min(n0 + CT, pc.N);
    uint cls_row = b * pc.N0;

    for (uint d = t; d < DH; d += WG) s_q[d] = Q[cls_row * pc.D + h * DH + d + pc.qoff] * pc.scale;
    barrier();
    for (uint i = t; i < n1 - n0; i += WG) {
        uint n = n0 + i;
        float s = NEG_INF;
        if (pc.has_mask == 0u || mask[cls_row + 1u + n + pc.moff] != 0.0) {
            s = 0.0;
            for (uint d = 0; d < DH; d++) s += s_q[d] * att[(cls_row + 1u + n) * pc.D + h * DH + d + pc.aoff];
        }
        s_p[i] = s;
    }
    if (t == 0u) {
        float s = NEG_INF;
        if (c == 0u) {
            s = 0.0;
            for (uint d = 0; d < DH; d++) s += s_q[d] * K[cls_row * pc.D + h * DH + d + pc.qoff];
        }
        s_p[CT] = s;
    }
    barrier();
    // chunk maximum
    float m = NEG_INF;
    for (uint i = t; i < n1 - n0; i += WG) m = max(m, s_p[i]);
    if (t == 0u) m = max(m, s_p[CT]);
    s_red[t] = m;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s) s_red[t] = max(s_red[t], s_red[t + s]);
        barrier();
    }
    m = s_red[0];
    barrier();
    // weights in place, and their sum
    float l = 0.0;
    for (uint i = t; i < n1 - n0; i += WG) {
        float p = m == NEG_INF ? 0.0 : exp(s_p[i] - m);
        s_p[i] = p;
        l += p;
    }
    barrier(); // s_p[CT] is read below by everyone; its update must not race with the reads
    float pc0 = m == NEG_INF ? 0.0 : exp(s_p[CT] - m);
    if (t == 0u) l += pc0;
    s_red[t] = l;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s) s_red[t] += s_red[t + s];
        barrier();
    }
    uint o = (bh * pc.nchunks + c) * (2u + DH);
    if (t == 0u) {
        part[o] = m;
        part[o + 1u] = s_red[0];
    }
    for (uint d = t; d < DH; d += WG) {
        float a = pc0 * V[cls_row * pc.D + h * DH + d + pc.qoff];
        for (uint i = 0; i < n1 - n0; i++) a += s_p[i] * att[(cls_row + 1u + n0 + i) * pc.D + h * DH + d + pc.aoff];
        part[o + 2u + d] = a;
    }
}
