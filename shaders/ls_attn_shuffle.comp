#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
// The fused long-short attention of ls_window_attn.comp (same math, same bindings), shaped for CPU
// Vulkan drivers (lavapipe), where a workgroup runs on one thread with an invocation per SIMD
// lane and every memory load in a loop goes lane by lane. The workgroup is one subgroup; lane l
// owns query rows q0 + r*SG + l (r < R) with q and the accumulator in registers. Each key row is
// loaded once per subgroup (lane l takes chunks l, l+SG, ...) and every lane reads the other
// chunks with subgroupShuffle by a constant lane, a register extract there. Keys fold KU at a
// time into an online softmax (log2 domain): the M landmarks, then the union of the block's
// windows, where each row hides keys outside its own window. Loop bounds are uniform, as the
// shuffles need every lane.
// spec 0: SG (= subgroup size), 1: R rows per lane, 2: head dim DH, 3: KU keys per step.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 1;
layout(constant_id = 2) const uint DH = 64;
layout(constant_id = 3) const uint KU = 2;

#include "ls_shuffle.glsl"

layout(set = 0, binding = 0) readonly buffer Qb { vec4 Q4[]; };      // [B*N0, D]
layout(set = 0, binding = 1) readonly buffer Kb { vec4 K4[]; };      // [B*N0, D] after LN_l
layout(set = 0, binding = 2) readonly buffer Vb { vec4 V4[]; };      // [B*N0, D] after LN_l
layout(set = 0, binding = 3) readonly buffer Land { vec4 LM4[]; };   // [2, B, M, D] after LN_s
layout(set = 0, binding = 4) readonly buffer Mask { float mask[]; }; // [B*N0]
layout(set = 0, binding = 5) writeonly buffer Att { vec4 att4[]; };  // [B*N0, D]

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
    float scale;   // log2(e) / sqrt(dh)
    uint blk0;     // first block of queries of this dispatch (bands of a larger tensor)
    uint qoff;     // Q and att values are at index + qoff, K and V at + koff, mask at + moff
    uint koff;     // (wrapping)
    uint moff;
} pc;

vec4 qv[R * DH4];
vec4 acc[R * DH4];
float m[R], l[R];
vec4 kr[KU * DL], vr[KU * DL]; // this lane's chunks of the keys of a step: [k * DL + c]
bool vis[KU * R];              // key k visible to row r: [k * R + r]

bool padded(uint b, uint n) {
    return pc.has_mask != 0u && mask[b * pc.N0 + pc.cls + n + pc.moff] == 0.0;
}

// Folds the KU keys in kr, vr into every row that sees them. The keys of a step share each load
// of q, one rescale, and one load, masked write and store of each accumulator (lavapipe keeps
// them in memory, and masks every write of a value carried around a loop).
void fold() {
    // vec4 partial sums: four independent chains per score
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
    [[unroll]] for (uint i = 0u; i < KU * R; i++) s[i] = (sv[i].x + sv[i].y) + (sv[i].z + sv[i].w);
    // Branch-free: a hidden key has x = -inf and p = 0; while a row has seen nothing, m stays
    // -inf, alpha 0, and its sum and accumulator 0.
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
    uint bh = gl_WorkGroupID.y;
    uint b = bh / pc.H, h = bh % pc.H;
    uint q0 = (pc.blk0 + gl_WorkGroupID.x) * SG * R;
    uint rowbase = b * pc.N0 + pc.cls;
    uint hoff = h * DH;

    int lo[R], hi[R]; // each row's window [lo, hi); empty for rows past N
    [[unroll]] for (uint r = 0u; r < R; r++) {
        uint i = q0 + r * SG + lane;
        [[unroll]] for (uint c = 0u; c < DH4; c++) {
            vec4 x = vec4(0.0);
            if (i < pc.N) LS_CHUNK(Q4, (rowbase + i) * pc.D + hoff + pc.qoff, c, x);
            qv[r * DH4 + c] = x * pc.scale;
            acc[r * DH4 + c] = vec4(0.0);
        }
        m[r] = NEG_INF;
        l[r] = 0.0;
        lo[r] = hi[r] = 0;
        if (i < pc.N && pc.w > 0u) {
            lo[r] = int((i / pc.w) * pc.w) - int(pc.e);
            hi[r] = int((i / pc.w) * pc.w + pc.w + pc.e);
        }
    }

    // Landmarks, KU per step: every row sees all of them. A step past the end repeats its first
    // key, hidden.
    uint lmk = b * pc.M * pc.D + hoff, lmv = pc.B * pc.M * pc.D + lmk;
    for (uint j0 = 0u; j0 < pc.M; j0 += KU) {
        [[unroll]] for (uint k = 0u; k < KU; k++) {
            uint j = j0 + k < pc.M ? j0 + k : j0;
            [[unroll]] for (uint c = 0u; c < DL; c++) {
                LS_CHUNK(LM4, lmk + j * pc.D, c * SG + lane, kr[k * DL + c]);
                LS_CHUNK(LM4, lmv + j * pc.D, c * SG + lane, vr[k * DL + c]);
            }
            [[unroll]] for (uint r = 0u; r < R; r++) vis[k * R + r] = j0 + k < pc.M;
        }
        fold(); // (after the unrolled loop: a call inside it, under `if (k == KU - 1)`, miscompiles)
    }

    // Window: the union of the block's windows within [0, N), KU keys per step.
    if (pc.w > 0u) {
        uint qlast = min(q0 + SG * R, pc.N) - 1u;
        int ulo = max(int((q0 / pc.w) * pc.w) - int(pc.e), 0);
        int uhi = min(int((qlast / pc.w + 1u) * pc.w + pc.e), int(pc.N));
        for (int p0 = ulo; p0 < uhi; p0 += int(KU)) {
            [[unroll]] for (uint k = 0u; k < KU; k++) {
                int p = p0 + int(k) < uhi ? p0 + int(k) : p0;
                uint at = (rowbase + uint(p)) * pc.D + hoff + pc.koff;
                [[unroll]] for (uint c = 0u; c < DL; c++) {
                    LS_CHUNK(K4, at, c * SG + lane, kr[k * DL + c]);
                    LS_CHUNK(V4, at, c * SG + lane, vr[k * DL + c]);
                }
                bool real = p0 + int(k) < uhi && !padded(b, uint(p));
                [[unroll]] for (uint r = 0u; r < R; r++) vis[k * R + r] = real && p >= lo[r] && p < hi[r];
            }
            fold();
        }
    }

    [[unroll]] for (uint r = 0u; r < R; r++) {
        uint i = q0 + r * SG + lane;
        if (i >= pc.N) continue;
        float inv = (l[r] > 0.0 && !padded(b, i)) ? 1.0 / l[r] : 0.0;
        uint o = (rowbase + i) * pc.D + hoff + pc.qoff;
        [[unroll]] for (uint c = 0u; c < DH4; c++) {
            vec4 y = acc[r * DH4 + c] * inv;
            if (DH % 4u == 0u) {
                att4[(o >> 2) + c] = y;
            } else {
                [[unroll]] for (uint e = 0u; e < 4u; e++) {
                    uint x = o + 4u * c + e;
                    if (4u * c + e < DH) att4[x >> 2][x & 3u] = y[e];
                }
            }
        }
    }
}
