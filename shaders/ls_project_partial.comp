#version 450
// Dynamic projection of the long-short layer, first half of a split reduction over the sequence.
// Landmark j of head h is K̄[j] = sum_n P[j,n] K[n], P = softmax over n of the score column
// S[:, h*r + j]. Workgroup (chunk c, b*H + h) reduces its chunk of tokens to, per landmark,
// (max score m, sum of exp(s - m), sum of exp(s - m) K[n], same for V); split_combine.comp merges
// the chunks. Padded tokens get probability 0.
//
// With a CLS token (cls = 1), landmark 0 is the CLS token's raw K/V: chunk 0 writes them as a
// partial with m = 0, l = 1, every other chunk an empty one, so the combine copies them.
//
// Partial layout: [(b*H + h) * M + jj][chunk][2 + 2*DH] with M = cls + R landmarks.
// spec 0: workgroup size, 1: head dim DH, 2: landmarks R (>= 1), 3: tokens per tile TT,
//      4: outputs per invocation NPER = ceil(R*DH / WG).

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DH = 64;
layout(constant_id = 2) const uint R = 8;
layout(constant_id = 3) const uint TT = 16;
layout(constant_id = 4) const uint NPER = 8;

layout(set = 0, binding = 0) readonly buffer Kb { float K[]; };      // [B*N0, D] after LN_l
layout(set = 0, binding = 1) readonly buffer Vb { float V[]; };      // [B*N0, D] after LN_l
layout(set = 0, binding = 2) readonly buffer Sb { float S[]; };      // [B*N0, H*R] scores
layout(set = 0, binding = 3) readonly buffer Mask { float mask[]; }; // [B*N0], 1 = real
layout(set = 0, binding = 4) writeonly buffer Part { float part[]; };

layout(push_constant) uniform Push {
    uint N;          // tokens without CLS
    uint N0;         // tokens per batch row (with CLS)
    uint D;
    uint H;
    uint cls;
    uint has_mask;
    uint chunk;      // tokens per chunk
    uint nchunks;
    uint has_scores; // R real landmarks (0 when only the CLS entry exists)
    uint c0;         // first chunk of this dispatch (bands of a larger tensor)
    uint koff;       // K and V values are read at index + koff, S at index + soff (wrapping)
    uint soff;
    uint nend;       // (ls_project_shuffle.comp's prefetch bound; unused here)
    uint moff;       // mask values at index + moff
} pc;

const uint WG = gl_WorkGroupSize.x;
#define NEG_INF uintBitsToFloat(0xff800000u)
shared float s_max[R];
shared float s_sum[R];
shared float s_w[TT * R];
shared float s_k[TT * DH];
shared float s_v[TT * DH];

bool padded(uint b, uint n) {
    return pc.has_mask != 0u && mask[b * pc.N0 + n + pc.cls + pc.moff] == 0.0;
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint c = pc.c0 + gl_WorkGroupID.x;
    uint bh = gl_WorkGroupID.y;
    uint b = bh / pc.H, h = bh % pc.H;
    uint M = pc.cls + (pc.has_scores != 0u ? R : 0u);
    uint rec = 2u + 2u * DH;
    uint n0 = c * pc.chunk;
    uint n1 = min(n0 + pc.chunk, pc.N);
    uint rowbase = b * pc.N0 + pc.cls; // row of token 0
    uint HR = pc.H * R;
    uint scol = h * R;

    if (pc.cls != 0u) { // the CLS entry: raw K/V of token 0 in chunk 0, nothing elsewhere
        uint o = ((bh * M) * pc.nchunks + c) * rec;
        for (uint i = t; i < rec; i += WG) {
            float v = c == 0u ? 1.0 : 0.0; // m = 0 (i = 0) only matters where l = 1
            if (i == 0u) v = c == 0u ? 0.0 : NEG_INF;
            else if (i >= 2u) {
                uint d = (i - 2u) % DH, kv = (i - 2u) / DH;
                uint at = (b * pc.N0) * pc.D + h * DH + d;
                v = c == 0u ? (kv == 0u ? K[at + pc.koff] : V[at + pc.koff]) : 0.0;
            }
            part[o + i] = v;
        }
    }
    if (pc.has_scores == 0u) return;

    // Per-landmark maximum over the chunk (R values; a short loop over the chunk each).
    for (uint j = t; j < R; j += WG) {
        float m = NEG_INF;
        for (uint n = n0; n < n1; n++)
            if (!padded(b, n)) m = max(m, S[(rowbase + n) * HR + scol + j + pc.soff]);
        s_max[j] = m;
        s_sum[j] = 0.0;
    }
    barrier();

    float acck[NPER], accv[NPER];
    for (uint i = 0; i < NPER; i++) { acck[i] = 0.0; accv[i] = 0.0; }

    for (uint base = n0; base < n1; base += TT) {
        uint cnt = min(TT, n1 - base);
        for (uint i = t; i < TT * R; i += WG) {
            uint tt = i / R, j = i % R;
            float w = 0.0;
            if (tt < cnt && !padded(b, base + tt))
                w = exp(S[(rowbase + base + tt) * HR + scol + j + pc.soff] - s_max[j]);
            s_w[i] = w;
        }
        for (uint i = t; i < TT * DH; i += WG) {
            uint tt = i / DH, d = i % DH;
            float kv = 0.0, vv = 0.0;
            if (tt < cnt) {
                uint row = (rowbase + base + tt) * pc.D + h * DH + d;
                kv = K[row + pc.koff];
                vv = V[row + pc.koff];
            }
            s_k[i] = kv;
            s_v[i] = vv;
        }
        barrier();
        for (uint j = t; j < R; j += WG) {
            float l = 0.0;
            for (uint tt = 0; tt < cnt; tt++) l += s_w[tt * R + j];
            s_sum[j] += l;
        }
        for (uint i = 0; i < NPER; i++) {
            uint o = t + i * WG;
            if (o >= R * DH) break;
            uint j = o / DH, d = o % DH;
            float ak = acck[i], av = accv[i];
            for (uint tt = 0; tt < cnt; tt++) {
                float w = s_w[tt * R + j];
                ak += w * s_k[tt * DH + d];
                av += w * s_v[tt * DH + d];
            }
            acck[i] = ak;
            accv[i] = av;
        }
        barrier();
    }

    for (uint j = t; j < R; j += WG) {
        uint o = ((bh * M + pc.cls + j) * pc.nchunks + c) * rec;
        part[o] = s_max[j];
        part[o + 1u] = s_sum[j];
    }
    for (uint i = 0; i < NPER; i++) {
        uint o = t + i * WG;
        if (o >= R * DH) break;
        uint j = o / DH, d = o % DH;
        uint base = ((bh * M + pc.cls + j) * pc.nchunks + c) * rec + 2u;
        part[base + d] = acck[i];
        part[base + DH + d] = accv[i];
    }
}
