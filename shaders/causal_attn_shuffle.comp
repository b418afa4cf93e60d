#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
// The fused causal long-short attention of causal_attn.comp (same math, same bindings and push
// constants), shaped for CPU Vulkan drivers (lavapipe) like ls_attn_shuffle.comp: the workgroup
// is one subgroup; lane l owns the block positions pbase + r*SG + l (r < R) with q and the
// accumulator in registers; each key row is loaded once per subgroup (lane l takes chunks l,
// l+SG, ...) and read by every lane with subgroupShuffle by a constant lane. Keys fold KU at a
// time into an online softmax (log2 domain).
//
// A workgroup's positions never straddle a chunk boundary (tiles of SG*R positions within each
// chunk, ceil(cs / (SG*R)) tiles per chunk; workgroup x is tile T(q0) + x, T(p) = (p / cs) *
// tiles + (p % cs) / (SG*R)), so all its queries see the same nvis compressed vectors and the
// distance term of vector k, Rc[nvis - 1 - k], is one row for all of them: it is added to the key
// chunk by chunk as it is loaded. The window position term (q + r_r_bias) . R[m] depends on the
// row's slot m of each key: per window tile of WT slots, every row first scores R[m0 .. m0+WT)
// (rows of R shared like keys) into shared memory, ps[slot][row] (each lane touches only its own
// rows, no barrier), then folds the union of the rows' keys for those slots, KVw rows
// [first + 1 + m0, last + m0 + WT], adding ps of its own slot and hiding keys outside it.
// Loop bounds are uniform, as the shuffles need every lane.
// spec 0: SG (= subgroup size), 1: R rows per lane, 2: head dim DH, 3: KU keys per step,
// 4: QVEC4 (q columns and rows vec4-aligned), 5: WT window slots per tile.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 1;
layout(constant_id = 2) const uint DH = 32;
layout(constant_id = 3) const uint KU = 2;
layout(constant_id = 4) const bool QVEC4 = true;
layout(constant_id = 5) const uint WT = 64;

#include "ls_shuffle.glsl"

// Rows of KVc, KVw, R and RD start at multiples of DH (D = H * DH): LS_CHUNK's vec4 path holds
// when DH % 4 == 0. q's columns start at 2D + H*r and need QVEC4.
layout(set = 0, binding = 0) readonly buffer Qb { vec4 Q4[]; };   // qkv rows
layout(set = 0, binding = 1) readonly buffer Cb { vec4 C4[]; };   // KVc [.., 2D]
layout(set = 0, binding = 2) readonly buffer Wb { vec4 W4[]; };   // KVw [.., 2D]
layout(set = 0, binding = 3) readonly buffer Rb { vec4 R4[]; };   // R [W, D]
layout(set = 0, binding = 4) readonly buffer Pb { vec4 P4[]; };   // RD [distances, D]
layout(set = 0, binding = 5) readonly buffer Bb { vec4 RB4[]; };  // r_w_bias [D], r_r_bias [D]
layout(set = 0, binding = 6) writeonly buffer Ob { vec4 O4[]; };

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

const uint SGR = SG * R;
const float LOG2E = 1.4426950408889634;

vec4 qv[R * DH4];              // the q of the current phase: q*scale (chunks), + r_w_bias (window); x log2(e)
vec4 qw[R * DH4];              // (q*scale + r_w_bias) log2(e)
vec4 qr[R * DH4];              // (q*scale + r_r_bias) log2(e)
vec4 acc[R * DH4];
float m[R], l[R];
vec4 kr[KU * DL], vr[KU * DL]; // this lane's chunks of the keys of a step: [k * DL + c]
bool vis[KU * R];              // key k visible to row r: [k * R + r]
float sadd[KU * R];            // score terms added per row (the window's position term)
shared float ps[WT * SGR];     // [slot - m0][r * SG + lane]

// Folds the KU keys in kr, vr into every row that sees them (ls_attn_shuffle.comp's fold, plus
// sadd).
void fold() {
    vec4 sv[KU * R];
    [[unroll]] for (uint i = 0u; i < KU * R; i++) sv[i] = vec4(0.0);
    [[unroll]] for (uint c = 0u; c < DL; c++)
        [[unroll]] for (uint u = 0u; u < SG; u++) {
            if (c * SG + u >= DH4) break;
            [[unroll]] for (uint k = 0u; k < KU; k++) {
                vec4 kk = subgroupShuffle(kr[k * DL + c], u);
                [[unroll]] for (uint r = 0u; r < R; r++)
                    sv[k * R + r] = fma(qv[r * DH4 + c * SG + u], kk, sv[k * R + r]);
            }
        }
    float s[KU * R];
    [[unroll]] for (uint i = 0u; i < KU * R; i++)
        s[i] = ((sv[i].x + sv[i].y) + (sv[i].z + sv[i].w)) + sadd[i];
    float alpha[R], p[KU * R];
    [[unroll]] for (uint r = 0u; r < R; r++) {
        float mn = m[r];
        [[unroll]] for (uint k = 0u; k < KU; k++) {
            if (!vis[k * R + r]) s[k * R + r] = NEG_INF;
            mn = max(mn, s[k * R + r]);
        }
        alpha[r] = m[r] == NEG_INF ? 0.0 : exp2(m[r] - mn);
        l[r] *= alpha[r];
        [[unroll]] for (uint k = 0u; k < KU; k++) {
            p[k * R + r] = s[k * R + r] == NEG_INF ? 0.0 : exp2(s[k * R + r] - mn);
            l[r] += p[k * R + r];
        }
        m[r] = mn;
    }
    [[unroll]] for (uint c = 0u; c < DL; c++)
        [[unroll]] for (uint u = 0u; u < SG; u++) {
            if (c * SG + u >= DH4) break;
            vec4 vv[KU];
            [[unroll]] for (uint k = 0u; k < KU; k++) vv[k] = subgroupShuffle(vr[k * DL + c], u);
            [[unroll]] for (uint r = 0u; r < R; r++) {
                vec4 a = acc[r * DH4 + c * SG + u] * alpha[r];
                [[unroll]] for (uint k = 0u; k < KU; k++) a = fma(vec4(p[k * R + r]), vv[k], a);
                acc[r * DH4 + c * SG + u] = a;
            }
        }
}

void main() {
    uint lane = gl_LocalInvocationID.x;
    uint g = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint D = pc.H * DH, hoff = h * DH;

    uint tiles = (pc.cs + SGR - 1u) / SGR; // per chunk
    uint tile = (pc.q0 / pc.cs) * tiles + (pc.q0 % pc.cs) / SGR + gl_WorkGroupID.x;
    uint chunk = tile / tiles;
    uint pbase = chunk * pc.cs + (tile % tiles) * SGR;
    uint pfirst = max(pbase, pc.q0);
    uint pend = min(min(pbase + SGR, (chunk + 1u) * pc.cs), pc.q0 + pc.nq); // exclusive
    if (pfirst >= pend) return; // whole workgroup
    uint plast = pend - 1u;

    bool valid[R];
    [[unroll]] for (uint r = 0u; r < R; r++) {
        uint p = pbase + r * SG + lane;
        valid[r] = p >= pfirst && p <= plast;
        uint qa = g * pc.qgs + (pc.qrow0 + (p - pc.q0)) * pc.qrs + pc.qcol + hoff;
        [[unroll]] for (uint c = 0u; c < DH4; c++) {
            vec4 x = vec4(0.0), bw = vec4(0.0), br = vec4(0.0);
            if (valid[r]) {
                if (QVEC4) {
                    x = Q4[(qa >> 2) + c];
                } else {
                    [[unroll]] for (uint e = 0u; e < 4u; e++) {
                        uint a = qa + 4u * c + e;
                        if (4u * c + e < DH) x[e] = Q4[a >> 2][a & 3u];
                    }
                }
            }
            [[unroll]] for (uint e = 0u; e < 4u; e++)
                if (4u * c + e < DH) {
                    uint a = hoff + 4u * c + e;
                    bw[e] = RB4[a >> 2][a & 3u];
                    br[e] = RB4[(D + a) >> 2][(D + a) & 3u];
                }
            vec4 qs = x * pc.scale;
            qv[r * DH4 + c] = qs * LOG2E;
            qw[r * DH4 + c] = (qs + bw) * LOG2E;
            qr[r * DH4 + c] = (qs + br) * LOG2E;
            acc[r * DH4 + c] = vec4(0.0);
        }
        m[r] = NEG_INF;
        l[r] = 0.0;
    }
    [[unroll]] for (uint i = 0u; i < KU * R; i++) sadd[i] = 0.0;

    // Compressed vectors 0 .. nvis-1, the same for every row: key k + its distance row
    // Rc[nvis - 1 - k]. A step past the end repeats its first key, hidden.
    uint nvis = (pc.cache_chunks + chunk) * pc.r;
    uint cb = g * pc.kvc_gs + hoff;
    for (uint k0 = 0u; k0 < nvis; k0 += KU) {
        [[unroll]] for (uint k = 0u; k < KU; k++) {
            uint kk = k0 + k < nvis ? k0 + k : k0;
            uint ka = cb + kk * 2u * D, ra = (nvis - 1u - kk) * D + hoff;
            [[unroll]] for (uint c = 0u; c < DL; c++) {
                vec4 a, b;
                LS_CHUNK(C4, ka, c * SG + lane, a);
                LS_CHUNK(P4, ra, c * SG + lane, b);
                kr[k * DL + c] = a + b;
                LS_CHUNK(C4, ka + D, c * SG + lane, vr[k * DL + c]);
            }
            [[unroll]] for (uint r = 0u; r < R; r++) vis[k * R + r] = valid[r] && k0 + k < nvis;
        }
        fold();
    }

    // Window: row p's slot s is KVw row p + 1 + s; tiles of WT slots.
    [[unroll]] for (uint i = 0u; i < R * DH4; i++) qv[i] = qw[i];
    uint wb = g * pc.kvw_gs + hoff;
    for (uint m0 = 0u; m0 < pc.W; m0 += WT) {
        uint mt = min(WT, pc.W - m0);
        for (uint s = 0u; s < mt; s++) {
            vec4 rr[DL];
            [[unroll]] for (uint c = 0u; c < DL; c++) LS_CHUNK(R4, (m0 + s) * D + hoff, c * SG + lane, rr[c]);
            vec4 sv[R];
            [[unroll]] for (uint r = 0u; r < R; r++) sv[r] = vec4(0.0);
            [[unroll]] for (uint c = 0u; c < DL; c++)
                [[unroll]] for (uint u = 0u; u < SG; u++) {
                    if (c * SG + u >= DH4) break;
                    vec4 x = subgroupShuffle(rr[c], u);
                    [[unroll]] for (uint r = 0u; r < R; r++) sv[r] = fma(qr[r * DH4 + c * SG + u], x, sv[r]);
                }
            [[unroll]] for (uint r = 0u; r < R; r++)
                ps[s * SGR + r * SG + lane] = (sv[r].x + sv[r].y) + (sv[r].z + sv[r].w);
        }
        uint jlo = pfirst + 1u + m0, jhi = plast + m0 + mt; // KVw rows, inclusive
        for (uint j0 = jlo; j0 <= jhi; j0 += KU) {
            [[unroll]] for (uint k = 0u; k < KU; k++) {
                uint j = j0 + k <= jhi ? j0 + k : j0;
                uint ka = wb + j * 2u * D;
                [[unroll]] for (uint c = 0u; c < DL; c++) {
                    LS_CHUNK(W4, ka, c * SG + lane, kr[k * DL + c]);
                    LS_CHUNK(W4, ka + D, c * SG + lane, vr[k * DL + c]);
                }
                [[unroll]] for (uint r = 0u; r < R; r++) {
                    int sl = int(j) - int(pbase + r * SG + lane) - 1 - int(m0); // slot - m0
                    vis[k * R + r] = valid[r] && j0 + k <= jhi && sl >= 0 && sl < int(mt);
                    sadd[k * R + r] = ps[uint(clamp(sl, 0, int(WT) - 1)) * SGR + r * SG + lane];
                }
            }
            fold();
        }
    }

    [[unroll]] for (uint r = 0u; r < R; r++) {
        if (!valid[r]) continue;
        uint p = pbase + r * SG + lane;
        float inv = 1.0 / l[r];
        uint o = g * pc.ogs + (pc.orow0 + (p - pc.q0)) * pc.ors + hoff;
        [[unroll]] for (uint c = 0u; c < DH4; c++) {
            vec4 y = acc[r * DH4 + c] * inv;
            if (DH % 4u == 0u) {
                O4[(o >> 2) + c] = y;
            } else {
                [[unroll]] for (uint e = 0u; e < 4u; e++) {
                    uint x = o + 4u * c + e;
                    if (4u * c + e < DH) O4[x >> 2][x & 3u] = y[e];
                }
            }
        }
    }
}
