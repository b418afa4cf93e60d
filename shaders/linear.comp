#version 450
// y[M,N] = x[M,K] w[N,K]^T + b[N], then the epilogue: GELU (exact erf form) and/or + r[M,N].
//
// Tiled: a workgroup computes a BM x BN tile of y, stepping over K in BK-wide slabs staged in
// shared memory (x slab as xs[k][m], w slab as ws[k][n], rows padded by one against bank
// conflicts); each invocation accumulates a TM x TN block in registers, at rows ty + i*(BM/TM)
// and columns tx + j*(BN/TN) of the tile (so neighbouring invocations write neighbouring
// columns). Loads are bounds-checked (zero outside M, N, K), stores are bounds-checked.
// The grid is any 3D grid: x strides over the N tiles, y and z together over the M tiles, so
// shapes past the workgroup-count limits loop instead of failing.
//
// spec 0: workgroup size = (BM/TM) * (BN/TN); spec 1..5: BM, BN, BK, TM, TN
//         (TM divides BM, TN divides BN).
// push: M, N, K, has_bias, epilogue (bit 0: GELU, bit 1: add the residual r; on the last K piece
// only), k0, k1 (the part of K this dispatch sums: llvmpipe ends a shader's loops after 65535
// iterations, so the host splits long K there), accumulate (add y's value instead of the bias).
#include "gelu.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer W { float w[]; };
layout(set = 0, binding = 2) readonly buffer B { float b[]; };
layout(set = 0, binding = 3) buffer Y { float y[]; };
layout(set = 0, binding = 4) readonly buffer Res { float r[]; };

layout(push_constant) uniform Push {
    uint M;
    uint N;
    uint K;
    uint has_bias;
    uint epilogue;
    uint k0;
    uint k1;
    uint accumulate;
    uint xoff; // x's row 0 is x[xoff] (a band of a larger tensor), likewise y's and r's
    uint yoff;
} pc;

const uint WG = gl_WorkGroupSize.x;
const uint SM = BM + 1; // padded row strides of the slabs
const uint SN = BN + 1;
const uint TX = BN / TN; // invocations along n
const uint TY = BM / TM; // invocations along m

shared float xs[BK * SM];
shared float ws[BK * SN];

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % TX;
    uint ty = tid / TX;
    uint M = pc.M, N = pc.N, K = pc.K;
    uint tiles_m = (M + BM - 1) / BM;
    uint tiles_n = (N + BN - 1) / BN;
    uint groups_m = gl_NumWorkGroups.y * gl_NumWorkGroups.z;
    uint first_m = gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y;

    for (uint tm = first_m; tm < tiles_m; tm += groups_m) {
        for (uint tn = gl_WorkGroupID.x; tn < tiles_n; tn += gl_NumWorkGroups.x) {
            uint m0 = tm * BM, n0 = tn * BN;
            float acc[TM * TN];
            for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

            uint kend = pc.k1;
            for (uint k0 = pc.k0; k0 < kend; k0 += BK) {
                // Stage the slabs: consecutive invocations read consecutive k of a row.
                for (uint e = tid; e < BM * BK; e += WG) {
                    uint r = e / BK, c = e % BK;
                    uint gm = m0 + r, gk = k0 + c;
                    xs[c * SM + r] = (gm < M && gk < kend) ? x[pc.xoff + gm * K + gk] : 0.0;
                }
                for (uint e = tid; e < BN * BK; e += WG) {
                    uint r = e / BK, c = e % BK;
                    uint gn = n0 + r, gk = k0 + c;
                    ws[c * SN + r] = (gn < N && gk < kend) ? w[gn * K + gk] : 0.0;
                }
                barrier();
                for (uint kk = 0; kk < BK; kk++) {
                    float a[TM];
                    float bb[TN];
                    for (uint i = 0; i < TM; i++) a[i] = xs[kk * SM + ty + i * TY];
                    for (uint j = 0; j < TN; j++) bb[j] = ws[kk * SN + tx + j * TX];
                    for (uint i = 0; i < TM; i++)
                        for (uint j = 0; j < TN; j++) acc[i * TN + j] += a[i] * bb[j];
                }
                barrier();
            }

            for (uint i = 0; i < TM; i++) {
                uint gm = m0 + ty + i * TY;
                if (gm >= M) continue;
                for (uint j = 0; j < TN; j++) {
                    uint gn = n0 + tx + j * TX;
                    if (gn >= N) continue;
                    float v = acc[i * TN + j];
                    if (pc.accumulate != 0u) v += y[pc.yoff + gm * N + gn];
                    else if (pc.has_bias != 0u) v += b[gn];
                    if ((pc.epilogue & 1u) != 0u) v = lsvk_gelu(v);
                    if ((pc.epilogue & 2u) != 0u) v += r[pc.yoff + gm * N + gn];
                    y[pc.yoff + gm * N + gn] = v;
                }
            }
        }
    }
}
