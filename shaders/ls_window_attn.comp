#version 450
// Long-short attention, fused: for a block of WG consecutive queries of one (batch, head), one
// online softmax (fp32 running max and sum) over [M landmarks ; the query's window], with no score
// matrix in memory. Token n lies in segment g = n / w and sees keys [g*w - e, g*w + w + e) minus
// padding and the sequence ends. Keys are staged in shared memory KT at a time: first the
// landmarks (seen by every query), then the union of the block's windows, of which each query
// scores only its own part. Rows of padded queries are 0.
//
// Invocation t handles query n = block*WG + t, keeping q and its accumulator in registers: on a
// CPU driver an invocation is one SIMD lane and a workgroup one thread, so this shape needs no
// reductions and only two barriers per key tile.
// spec 0: WG, 1: head dim DH, 2: keys per tile KT.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DH = 64;
layout(constant_id = 2) const uint KT = 32;

layout(set = 0, binding = 0) readonly buffer Qb { float Q[]; };      // [B*N0, D]
layout(set = 0, binding = 1) readonly buffer Kb { float K[]; };      // [B*N0, D] after LN_l
layout(set = 0, binding = 2) readonly buffer Vb { float V[]; };      // [B*N0, D] after LN_l
layout(set = 0, binding = 3) readonly buffer Land { float LM[]; };   // [2, B, M, D] after LN_s
layout(set = 0, binding = 4) readonly buffer Mask { float mask[]; }; // [B*N0]
layout(set = 0, binding = 5) writeonly buffer Att { float att[]; };  // [B*N0, D]

layout(push_constant) uniform Push {
    uint B;
    uint N;
    uint N0;
    uint D;
    uint H;
    uint w;        // 0: no window
    uint e;        // window half-width max(w/2, 1)
    uint M;        // landmark count (cls + r)
    uint cls;
    uint has_mask;
    float scale;   // 1/sqrt(dh)
    uint blk0;     // first block of queries of this dispatch (bands of a larger tensor)
    uint qoff;     // Q and att values are at index + qoff, K and V at + koff, mask at + moff
    uint koff;     // (wrapping)
    uint moff;
} pc;

const uint WG = gl_WorkGroupSize.x;
#define NEG_INF uintBitsToFloat(0xff800000u)

shared float s_k[KT * DH];
shared float s_v[KT * DH];
shared float s_ok[KT];

float q[DH];
float acc[DH];
float run_max, run_sum;

bool padded(uint b, uint n) {
    return pc.has_mask != 0u && mask[b * pc.N0 + n + pc.cls + pc.moff] == 0.0;
}

// Scores of keys [lo, hi) of the staged tile, then one rescale and accumulation.
void attend(uint lo, uint hi) {
    if (lo >= hi) return;
    float sc[KT];
    float m = run_max;
    for (uint k = lo; k < hi; k++) {
        float s = NEG_INF;
        if (s_ok[k] != 0.0) {
            s = 0.0;
            for (uint d = 0; d < DH; d++) s += q[d] * s_k[k * DH + d];
        }
        sc[k - lo] = s;
        m = max(m, s);
    }
    if (m == NEG_INF) return; // nothing visible yet
    float f = exp(run_max - m); // run_max = -inf gives 0, and acc is 0 then anyway
    run_sum *= f;
    for (uint d = 0; d < DH; d++) acc[d] *= f;
    run_max = m;
    for (uint k = lo; k < hi; k++) {
        float p = exp(sc[k - lo] - m);
        run_sum += p;
        for (uint d = 0; d < DH; d++) acc[d] += p * s_v[k * DH + d];
    }
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint bh = gl_WorkGroupID.y;
    uint b = bh / pc.H, h = bh % pc.H;
    uint first = (pc.blk0 + gl_WorkGroupID.x) * WG;
    uint n = first + t;
    bool live = n < pc.N;
    uint last = min(first + WG, pc.N) - 1u;
    uint rowbase = b * pc.N0 + pc.cls;

    run_max = NEG_INF;
    run_sum = 0.0;
    for (uint d = 0; d < DH; d++) {
        q[d] = live ? Q[(rowbase + n) * pc.D + h * DH + d + pc.qoff] * pc.scale : 0.0;
        acc[d] = 0.0;
    }

    // Landmarks: every query sees all of them.
    uint lmk = b * pc.M * pc.D + h * DH;        // key j at lmk + j*D
    uint lmv = pc.B * pc.M * pc.D + lmk;
    for (uint k0 = 0; k0 < pc.M; k0 += KT) {
        uint cnt = min(KT, pc.M - k0);
        for (uint i = t; i < cnt * DH; i += WG) {
            uint k = i / DH, d = i % DH;
            s_k[i] = LM[lmk + (k0 + k) * pc.D + d];
            s_v[i] = LM[lmv + (k0 + k) * pc.D + d];
        }
        for (uint k = t; k < cnt; k += WG) s_ok[k] = 1.0;
        barrier();
        if (live) attend(0u, cnt);
        barrier();
    }

    // Window: the union of the block's windows, [g(first)*w - e, (g(last)+1)*w + e) within [0,N).
    if (pc.w > 0u) {
        int ulo = max(int((first / pc.w) * pc.w) - int(pc.e), 0);
        int uhi = min(int((last / pc.w + 1u) * pc.w + pc.e), int(pc.N));
        int wlo = 0, whi = 0;
        if (live) {
            uint g = n / pc.w;
            wlo = int(g * pc.w) - int(pc.e);
            whi = int(g * pc.w + pc.w + pc.e);
        }
        for (int k0 = ulo; k0 < uhi; k0 += int(KT)) {
            uint cnt = uint(min(int(KT), uhi - k0));
            for (uint i = t; i < cnt * DH; i += WG) {
                uint k = i / DH, d = i % DH;
                uint row = (rowbase + uint(k0) + k) * pc.D + h * DH + d + pc.koff;
                s_k[i] = K[row];
                s_v[i] = V[row];
            }
            for (uint k = t; k < cnt; k += WG) s_ok[k] = padded(b, uint(k0) + k) ? 0.0 : 1.0;
            barrier();
            if (live) attend(uint(clamp(wlo - k0, 0, int(cnt))), uint(clamp(whi - k0, 0, int(cnt))));
            barrier();
        }
    }

    if (live) {
        float inv = (run_sum > 0.0 && !padded(b, n)) ? 1.0 / run_sum : 0.0;
        uint o = (rowbase + n) * pc.D + h * DH + pc.qoff;
        for (uint d = 0; d < DH; d++) att[o + d] = acc[d] * inv;
    }
}
