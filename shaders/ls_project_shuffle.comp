#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
// The first half of the dynamic projection's split reduction (ls_project_partial.comp's math),
// shaped for CPU Vulkan drivers (lavapipe), where a workgroup runs on one thread with an
// invocation per SIMD lane and every memory load in a loop goes lane by lane. The workgroup is one
// subgroup; workgroup (chunk c, b*H + h, z) with z = g*DG + dg reduces its chunk of tokens for
// landmarks g*RG .. g*RG + RG-1 and head-dim chunk dg*SG + lane (a vec4) in each lane, which it
// loads itself from every token's K and V rows. The token's RG weights exp(s - m) are loaded and
// computed four per lane (landmarks 4q .. 4q+3 in lane q % SG) and handed to every lane with
// subgroupShuffle by a constant lane: one float per landmark instead of a row per token.
// m is a running maximum per landmark, raised a block of PB tokens at a time (an online softmax
// over blocks). Partial records are [m, l, 0, 0, K[DH], V[DH]] (split_combine.comp with HDR = 4),
// so that the vectors go out as vec4 stores.
// spec 0: SG (= subgroup size), 1: head dim DH, 2: landmarks R (>= 1), 3: RG landmarks per group,
//      4: TU tokens per step, 5: PB tokens per block.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DH = 64;
layout(constant_id = 2) const uint R = 8;
layout(constant_id = 3) const uint RG = 8;
layout(constant_id = 4) const uint TU = 2;
layout(constant_id = 5) const uint PB = 32;

#include "ls_shuffle.glsl"

const uint DG = (DH4 + SG - 1u) / SG;               // head-dim groups: z = g * DG + dg
const uint WL = (RG + 4u * SG - 1u) / (4u * SG);    // weight vec4s per lane
const bool ALIGNED = R % 4u == 0u && RG % 4u == 0u; // score quads are vec4-aligned
const uint LPR = (SG + 3u) / 4u;                    // 64-byte lines of a K/V slice (SG vec4s)
const uint LPS = (RG + 15u) / 16u;                  // and of a score slice (RG floats)

layout(set = 0, binding = 0) readonly buffer Kb { vec4 K4[]; };      // [B*N0, D] after LN_l
layout(set = 0, binding = 1) readonly buffer Vb { vec4 V4[]; };      // [B*N0, D] after LN_l
layout(set = 0, binding = 2) readonly buffer Sb { vec4 S4[]; };      // [B*N0, H*R] scores
layout(set = 0, binding = 3) readonly buffer Mask { float mask[]; }; // [B*N0], 1 = real
layout(set = 0, binding = 4) writeonly buffer Part { vec4 part4[]; };

layout(push_constant) uniform Push {
    uint N;
    uint N0;
    uint D;
    uint H;
    uint cls;
    uint has_mask;
    uint chunk;
    uint nchunks;
    uint has_scores;
    uint c0;   // first chunk of this dispatch (bands of a larger tensor)
    uint koff; // K and V values are read at index + koff, S at index + soff (wrapping)
    uint soff;
    uint nend; // tokens past this one are outside the band's bindings (the prefetch stops there)
    uint moff; // mask values at index + moff
} pc;

vec4 ak[RG], av[RG];

bool padded(uint b, uint n) {
    return pc.has_mask != 0u && mask[b * pc.N0 + pc.cls + n + pc.moff] == 0.0;
}

// Scores x .. x+3 (element index) where own, -inf elsewhere.
vec4 scores(uint x, bvec4 own) {
    vec4 s = vec4(NEG_INF);
    if (ALIGNED) {
        if (own.x) s = S4[x >> 2];
    } else {
        [[unroll]] for (uint e = 0u; e < 4u; e++)
            if (own[e]) s[e] = S4[(x + e) >> 2][(x + e) & 3u];
    }
    return s;
}

// The next step's inputs, tokens n .. n+TU-1: this lane's scores, K and V chunks, and whether
// each token is real (tokens past n1 are not, and repeat token n).
bvec4 own[WL]; // landmark j0 + 4q + e of this lane (q = lane + k*SG) exists
vec4 ns[TU * WL], nk[TU], nv[TU];
bool nreal[TU];
void fetch(uint n, uint n1, uint b, uint rowbase, uint HR, uint col, uint hoff, uint ci) {
    [[unroll]] for (uint t = 0u; t < TU; t++) {
        uint m = n + t < n1 ? n + t : n;
        nreal[t] = n + t < n1 && !padded(b, m);
        [[unroll]] for (uint k = 0u; k < WL; k++)
            ns[t * WL + k] = scores((rowbase + m) * HR + col + 4u * k * SG + pc.soff, own[k]);
        uint at = (rowbase + m) * pc.D + hoff + pc.koff;
        LS_CHUNK(K4, at, ci, nk[t]);
        LS_CHUNK(V4, at, ci, nv[t]);
    }
}

// Loads one float of every 64-byte line of this workgroup's slices of tokens n .. n+PB-1 (K, V:
// SG vec4s from kslice; scores: RG floats from sslice) a block before they are used: rows are
// D floats apart, too far for the hardware prefetcher, and lavapipe's lane-by-lane loads would
// take each miss in turn, while these few overlap theirs.
float pf = 0.0; // kept alive by a store that never happens (nchunks >= 1)
void touch(uint n, uint kslice, uint sslice, uint HR) {
    uint lane = gl_LocalInvocationID.x;
    [[unroll]] for (uint i = 0u; i < (PB * LPR + SG - 1u) / SG; i++) {
        uint x = i * SG + lane, row = min(n + x / LPR, pc.nend - 1u);
        uint at = (kslice + row * pc.D) / 4u + 4u * (x % LPR);
        pf += K4[at].x + V4[at].y;
    }
    [[unroll]] for (uint i = 0u; i < (PB * LPS + SG - 1u) / SG; i++) {
        uint x = i * SG + lane, row = min(n + x / LPS, pc.nend - 1u);
        pf += S4[(sslice + row * HR) / 4u + 4u * (x % LPS)].z;
    }
}

void store1(uint x, float v) { part4[x >> 2][x & 3u] = v; }

void main() {
    uint lane = gl_LocalInvocationID.x;
    uint c = pc.c0 + gl_WorkGroupID.x, bh = gl_WorkGroupID.y;
    uint g = gl_WorkGroupID.z / DG, dg = gl_WorkGroupID.z % DG;
    uint b = bh / pc.H, h = bh % pc.H;
    uint M = pc.cls + (pc.has_scores != 0u ? R : 0u);
    uint rec = 4u + 2u * DH;
    uint n0 = c * pc.chunk, n1 = min(n0 + pc.chunk, pc.N);
    uint rowbase = b * pc.N0 + pc.cls;
    uint HR = pc.H * R, hoff = h * DH;
    uint j0 = g * RG;          // first landmark of the group
    uint ci = dg * SG + lane;  // this lane's vec4 chunk of the head dim

    if (pc.cls != 0u && gl_WorkGroupID.z == 0u) { // the CLS entry, as in ls_project_partial.comp
        uint o = ((bh * M) * pc.nchunks + c) * rec;
        for (uint i = lane; i < rec; i += SG) {
            float v = 0.0;
            if (i == 0u) v = c == 0u ? 0.0 : NEG_INF;
            else if (i == 1u) v = c == 0u ? 1.0 : 0.0;
            else if (i >= 4u && c == 0u) {
                uint d = (i - 4u) % DH, at = (b * pc.N0) * pc.D + hoff + d + pc.koff;
                v = (i - 4u) < DH ? K4[at >> 2][at & 3u] : V4[at >> 2][at & 3u];
            }
            store1(o + i, v);
        }
    }
    if (pc.has_scores == 0u) return;

    vec4 mx[WL], sum[WL]; // running maximum and sum of this lane's landmarks
    [[unroll]] for (uint k = 0u; k < WL; k++) {
        uint q = lane + k * SG;
        [[unroll]] for (uint e = 0u; e < 4u; e++) own[k][e] = 4u * q + e < RG && j0 + 4u * q + e < R;
        mx[k] = vec4(NEG_INF);
        sum[k] = vec4(0.0);
    }
    [[unroll]] for (uint jj = 0u; jj < RG; jj++) {
        ak[jj] = vec4(0.0);
        av[jj] = vec4(0.0);
    }
    uint col = h * R + j0 + 4u * lane;
    uint kslice = rowbase * pc.D + hoff + 4u * dg * SG + pc.koff, sslice = rowbase * HR + h * R + j0 + pc.soff;
    touch(n0, kslice, sslice, HR);

    // Blocks of PB tokens: the next block's lines are touched (see touch()), a first pass takes
    // the block's score maximum, the accumulators are rescaled to the new running maximum, and a
    // second pass accumulates.
    for (uint nb = n0; nb < n1; nb += PB) {
        uint ne = min(nb + PB, n1);
        touch(nb + PB, kslice, sslice, HR);
        vec4 bm[WL];
        [[unroll]] for (uint k = 0u; k < WL; k++) bm[k] = mx[k];
        for (uint n = nb; n < ne; n++) {
            bool real = !padded(b, n);
            [[unroll]] for (uint k = 0u; k < WL; k++)
                if (real) bm[k] = max(bm[k], scores((rowbase + n) * HR + col + 4u * k * SG + pc.soff, own[k]));
        }
        vec4 alpha[WL];
        [[unroll]] for (uint k = 0u; k < WL; k++) {
            // mx = -inf: nothing accumulated yet (0); bm is finite wherever mx is
            alpha[k] = mix(exp(mx[k] - bm[k]), vec4(0.0), equal(mx[k], vec4(NEG_INF)));
            sum[k] *= alpha[k];
            mx[k] = bm[k];
        }
        [[unroll]] for (uint jj = 0u; jj < RG; jj++) {
            float f = subgroupShuffle(alpha[jj / (4u * SG)][jj % 4u], (jj / 4u) % SG);
            ak[jj] *= f;
            av[jj] *= f;
        }

        // TU tokens per step: each accumulator is loaded, blended (lavapipe masks every update of
        // a loop-carried value) and stored once per step. Software-pipelined: the next step's
        // loads are issued before this step's multiply-adds, so their latency overlaps the math.
        fetch(nb, ne, b, rowbase, HR, col, hoff, ci);
        for (uint n = nb; n < ne; n += TU) {
            vec4 s[TU * WL], kc[TU], vc[TU];
            bool real[TU];
            [[unroll]] for (uint t = 0u; t < TU; t++) {
                kc[t] = nk[t];
                vc[t] = nv[t];
                real[t] = nreal[t];
                [[unroll]] for (uint k = 0u; k < WL; k++) s[t * WL + k] = ns[t * WL + k];
            }
            fetch(n + TU < ne ? n + TU : n, ne, b, rowbase, HR, col, hoff, ci);
            vec4 wt[TU * WL];
            [[unroll]] for (uint t = 0u; t < TU; t++)
                [[unroll]] for (uint k = 0u; k < WL; k++) {
                    vec4 x = mix(vec4(0.0), exp(s[t * WL + k] - mx[k]), own[k]);
                    wt[t * WL + k] = real[t] ? x : vec4(0.0);
                    sum[k] += wt[t * WL + k];
                }
            [[unroll]] for (uint jj = 0u; jj < RG; jj++) {
                vec4 a = ak[jj], v = av[jj];
                [[unroll]] for (uint t = 0u; t < TU; t++) {
                    float wv = subgroupShuffle(wt[t * WL + jj / (4u * SG)][jj % 4u], (jj / 4u) % SG);
                    a += wv * kc[t];
                    v += wv * vc[t];
                }
                ak[jj] = a;
                av[jj] = v;
            }
        }
    }

    uint first = (bh * M + pc.cls + j0) * pc.nchunks + c; // record of landmark j0
    if (dg == 0u)
        [[unroll]] for (uint k = 0u; k < WL; k++)
            [[unroll]] for (uint e = 0u; e < 4u; e++)
                if (own[k][e]) {
                    uint o = (first + (4u * (lane + k * SG) + e) * pc.nchunks) * rec;
                    store1(o, mx[k][e]);
                    store1(o + 1u, sum[k][e]);
                }
    if (pc.nchunks == 0u) store1(0u, pf);
    if (ci >= DH4) return;
    [[unroll]] for (uint jj = 0u; jj < RG; jj++) {
        if (j0 + jj >= R) break;
        uint o = (first + jj * pc.nchunks) * rec + 4u + 4u * ci;
        if (DH % 4u == 0u) { // rec and o are multiples of 4
            part4[o >> 2] = ak[jj];
            part4[(o + DH) >> 2] = av[jj];
        } else {
            [[unroll]] for (uint e = 0u; e < 4u; e++)
                if (4u * ci + e < DH) {
                    store1(o + e, ak[jj][e]);
                    store1(o + DH + e, av[jj][e]);
                }
        }
    }
}
