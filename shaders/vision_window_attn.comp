#version 450
// 2D long-short attention, fused (lib/ops/ls_vision.c): for a block of WG image queries of one
// (batch, head), one online softmax (fp32 running max and sum) over [M landmarks ; the query's
// kw x kw window], with no score matrix in memory. The landmarks are [global token ; dp_rank
// dynamically projected keys]. Queries are numbered in tile order within a row of tiles (tile
// gx = i / w^2, then row-major inside the tile), so that a block covers few tiles; every query of
// tile (gy, gx) sees key pixels [gy*w - s, gy*w + w + s) x [gx*w - s, gx*w + w + s) inside the
// image. Keys are staged in shared memory KT at a time: the landmarks, then the union of the
// block's windows (rows shared by all, columns from its first tile to its last), of which each
// query scores only its own columns, plus the relative-position bias table[idx, h] when rpe.
// Invocation t keeps query t's q and accumulator in registers (see ls_window_attn.comp).
// spec 0: WG, 1: head dim DH, 2: keys per tile KT.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DH = 64;
layout(constant_id = 2) const uint KT = 32;

layout(set = 0, binding = 0) readonly buffer Qb { float Q[]; };      // [B*N0, D]
layout(set = 0, binding = 1) readonly buffer Kb { float K[]; };      // [B*N0, D] after LN_full
layout(set = 0, binding = 2) readonly buffer Vb { float V[]; };      // [B*N0, D] after LN_full
layout(set = 0, binding = 3) readonly buffer Land { float LM[]; };   // [2, B, M, D]
layout(set = 0, binding = 4) readonly buffer Tab { float table[]; }; // [T, H] (rpe)
layout(set = 0, binding = 5) writeonly buffer Att { float att[]; };  // [B*N0, D]

layout(push_constant) uniform Push {
    uint B;
    uint N0;
    uint D;
    uint H;
    uint nx;
    uint ny;
    uint w;
    uint s;        // window margin max(w/2, 1)
    uint wp;       // w/2, for the RPE index
    uint M;        // landmarks: nglo + dp_rank
    uint nglo;     // image tokens start at row nglo
    uint rpe;
    uint blocks;   // blocks per row of tiles
    float scale;   // 1/sqrt(dh)
    uint gy0;      // first row of tiles of this dispatch (bands of a larger tensor)
    uint qoff;     // Q and att values are at index + qoff, K and V at index + koff (wrapping)
    uint koff;
} pc;

const uint WG = gl_WorkGroupSize.x;
#define NEG_INF uintBitsToFloat(0xff800000u)

shared float s_k[KT * DH];
shared float s_v[KT * DH];
shared int s_ky[KT]; // staged key's pixel, or -1 for a landmark
shared int s_kx[KT];

float q[DH];
float acc[DH];
float run_max, run_sum;
int my_y, my_x, y0, x0; // the query's pixel; its window's top-left key pixel

// Scores of the staged keys [0, cnt) that this query sees, then one rescale and accumulation.
void attend(uint cnt, uint h) {
    float sc[KT];
    float m = run_max;
    for (uint k = 0; k < cnt; k++) {
        float s = NEG_INF;
        int a = s_ky[k] - y0, b = s_kx[k] - x0;
        bool vis = s_ky[k] < 0 || (b >= 0 && b < int(pc.w + 2u * pc.s));
        if (vis) {
            s = 0.0;
            for (uint d = 0; d < DH; d++) s += q[d] * s_k[k * DH + d];
            if (pc.rpe != 0u && s_ky[k] >= 0) {
                int span = int(2u * pc.wp + pc.w);
                int qy = my_y - y0 - int(pc.s), qx = my_x - x0 - int(pc.s); // within the tile
                int idx = (qy - a + span - 1) * span + (qx - b + span - 1);
                s += table[uint(idx) * pc.H + h];
            }
        }
        sc[k] = s;
        m = max(m, s);
    }
    if (m == NEG_INF) return;
    float f = exp(run_max - m);
    run_sum *= f;
    for (uint d = 0; d < DH; d++) acc[d] *= f;
    run_max = m;
    for (uint k = 0; k < cnt; k++) {
        float p = exp(sc[k] - m);
        run_sum += p;
        for (uint d = 0; d < DH; d++) acc[d] += p * s_v[k * DH + d];
    }
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint bh = gl_WorkGroupID.y;
    uint b = bh / pc.H, h = bh % pc.H;
    uint gy = pc.gy0 + gl_WorkGroupID.x / pc.blocks, blk = gl_WorkGroupID.x % pc.blocks;
    uint w2 = pc.w * pc.w, per_row = pc.nx * pc.w; // queries in a row of tiles
    uint first = blk * WG, i = first + t;
    bool live = i < per_row;
    uint last = min(first + WG, per_row) - 1u;
    uint rowbase = b * pc.N0 + pc.nglo;

    uint gx = (live ? i : last) / w2, p = (live ? i : last) % w2;
    my_y = int(gy * pc.w + p / pc.w);
    my_x = int(gx * pc.w + p % pc.w);
    y0 = int(gy * pc.w) - int(pc.s);
    x0 = int(gx * pc.w) - int(pc.s);
    run_max = NEG_INF;
    run_sum = 0.0;
    uint qrow = (rowbase + uint(my_y) * pc.nx + uint(my_x)) * pc.D + h * DH + pc.qoff;
    for (uint d = 0; d < DH; d++) {
        q[d] = live ? Q[qrow + d] * pc.scale : 0.0;
        acc[d] = 0.0;
    }

    // Landmarks: every query sees all of them.
    uint lmk = b * pc.M * pc.D + h * DH, lmv = pc.B * pc.M * pc.D + lmk;
    for (uint k0 = 0; k0 < pc.M; k0 += KT) {
        uint cnt = min(KT, pc.M - k0);
        for (uint j = t; j < cnt * DH; j += WG) {
            uint k = j / DH, d = j % DH;
            s_k[j] = LM[lmk + (k0 + k) * pc.D + d];
            s_v[j] = LM[lmv + (k0 + k) * pc.D + d];
        }
        for (uint k = t; k < cnt; k += WG) s_ky[k] = -1;
        barrier();
        if (live) attend(cnt, h);
        barrier();
    }

    // Window: rows [gy*w - s, gy*w + w + s), columns from the first query's tile to the last's.
    int uy0 = max(int(gy * pc.w) - int(pc.s), 0), uy1 = min(int(gy * pc.w + pc.w + pc.s), int(pc.ny));
    int ux0 = max(int((first / w2) * pc.w) - int(pc.s), 0);
    int ux1 = min(int((last / w2) * pc.w + pc.w + pc.s), int(pc.nx));
    uint cols = uint(ux1 - ux0), total = uint(uy1 - uy0) * cols;
    for (uint k0 = 0; k0 < total; k0 += KT) {
        uint cnt = min(KT, total - k0);
        for (uint j = t; j < cnt * DH; j += WG) {
            uint k = j / DH, d = j % DH, u = k0 + k;
            uint row = (rowbase + uint(uy0 + int(u / cols)) * pc.nx + uint(ux0 + int(u % cols))) * pc.D + h * DH + d + pc.koff;
            s_k[j] = K[row];
            s_v[j] = V[row];
        }
        for (uint k = t; k < cnt; k += WG) {
            s_ky[k] = uy0 + int((k0 + k) / cols);
            s_kx[k] = ux0 + int((k0 + k) % cols);
        }
        barrier();
        if (live) attend(cnt, h);
        barrier();
    }

    if (live) {
        float inv = run_sum > 0.0 ? 1.0 / run_sum : 0.0;
        for (uint d = 0; d < DH; d++) att[qrow + d] = acc[d] * inv;
    }
}
