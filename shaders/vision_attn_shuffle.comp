#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
// The fused 2D long-short attention of vision_window_attn.comp (same math, same bindings), shaped
// for CPU Vulkan drivers like ls_attn_shuffle.comp: the workgroup is one subgroup, lane l owns
// query rows i = q0 + r*SG + l (r < R; tile order within a row of tiles) with q and the
// accumulator in registers; each key row is loaded once per subgroup and handed to every lane
// with subgroupShuffle by a constant lane. Keys fold KU at a time into an online softmax (log2
// domain): the M landmarks [global ; dp], then the union of the block's windows (the rows of its
// row of tiles, the columns from its first tile to its last), where each row hides the columns
// outside its own window and adds its relative-position bias. Loop bounds are uniform.
// spec 0: SG (= subgroup size), 1: R rows per lane, 2: head dim DH, 3: KU keys per step.

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 1;
layout(constant_id = 2) const uint DH = 64;
layout(constant_id = 3) const uint KU = 2;

#include "ls_shuffle.glsl"

layout(set = 0, binding = 0) readonly buffer Qb { vec4 Q4[]; };      // [B*N0, D]
layout(set = 0, binding = 1) readonly buffer Kb { vec4 K4[]; };      // [B*N0, D] after LN_full
layout(set = 0, binding = 2) readonly buffer Vb { vec4 V4[]; };      // [B*N0, D] after LN_full
layout(set = 0, binding = 3) readonly buffer Land { vec4 LM4[]; };   // [2, B, M, D]
layout(set = 0, binding = 4) readonly buffer Tab { float table[]; }; // [T, H] (rpe)
layout(set = 0, binding = 5) writeonly buffer Att { vec4 att4[]; };  // [B*N0, D]

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
    uint nglo;
    uint rpe;
    uint blocks;   // blocks per row of tiles
    float scale;   // log2(e) / sqrt(dh)
    uint gy0;      // first row of tiles of this dispatch (bands of a larger tensor)
    uint qoff;     // Q and att values are at index + qoff, K and V at index + koff (wrapping)
    uint koff;
} pc;

const float LOG2E = 1.4426950408889634;

vec4 qv[R * DH4];
vec4 acc[R * DH4];
float m[R], l[R];
vec4 kr[KU * DL], vr[KU * DL]; // this lane's chunks of the keys of a step: [k * DL + c]
bool vis[KU * R];              // key k visible to row r: [k * R + r]
float bias[KU * R];            // its relative-position bias (log2 domain)

// Folds the KU keys in kr, vr into every row that sees them (ls_attn_shuffle.comp's fold, plus
// the bias).
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
    [[unroll]] for (uint i = 0u; i < KU * R; i++) s[i] = (sv[i].x + sv[i].y) + (sv[i].z + sv[i].w) + bias[i];
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
    uint gy = pc.gy0 + gl_WorkGroupID.x / pc.blocks, blk = gl_WorkGroupID.x % pc.blocks;
    uint w2 = pc.w * pc.w, per_row = pc.nx * pc.w;
    uint q0 = blk * SG * R, qlast = min(q0 + SG * R, per_row) - 1u;
    uint rowbase = b * pc.N0 + pc.nglo;
    uint hoff = h * DH;
    int span = int(2u * pc.wp + pc.w), kw = int(pc.w + 2u * pc.s);

    uint row[R];   // image row of each query (or of the block's last query, for rows past the end)
    int x0[R];     // first key column of its window
    int qy[R], qx[R];
    bool live[R];
    [[unroll]] for (uint r = 0u; r < R; r++) {
        uint i = q0 + r * SG + lane;
        live[r] = i < per_row;
        uint ii = live[r] ? i : qlast, gx = ii / w2, pp = ii % w2;
        qy[r] = int(pp / pc.w);
        qx[r] = int(pp % pc.w);
        row[r] = rowbase + (gy * pc.w + uint(qy[r])) * pc.nx + gx * pc.w + uint(qx[r]);
        x0[r] = int(gx * pc.w) - int(pc.s);
        [[unroll]] for (uint c = 0u; c < DH4; c++) {
            vec4 x = vec4(0.0);
            if (live[r]) LS_CHUNK(Q4, row[r] * pc.D + hoff + pc.qoff, c, x);
            qv[r * DH4 + c] = x * pc.scale;
            acc[r * DH4 + c] = vec4(0.0);
        }
        m[r] = NEG_INF;
        l[r] = 0.0;
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
            [[unroll]] for (uint r = 0u; r < R; r++) {
                vis[k * R + r] = j0 + k < pc.M;
                bias[k * R + r] = 0.0;
            }
        }
        fold(); // (outside the unrolled loop, as in ls_attn_shuffle.comp)
    }

    // Window union, KU keys per step, key u at pixel (uy0 + u / cols, ux0 + u % cols).
    int y0 = int(gy * pc.w) - int(pc.s);
    int uy0 = max(y0, 0), uy1 = min(int(gy * pc.w + pc.w + pc.s), int(pc.ny));
    int ux0 = max(int((q0 / w2) * pc.w) - int(pc.s), 0);
    int ux1 = min(int((qlast / w2) * pc.w + pc.w + pc.s), int(pc.nx));
    uint cols = uint(ux1 - ux0), total = uint(uy1 - uy0) * cols;
    for (uint u0 = 0u; u0 < total; u0 += KU) {
        [[unroll]] for (uint k = 0u; k < KU; k++) {
            uint u = u0 + k < total ? u0 + k : u0;
            int ky = uy0 + int(u / cols), kx = ux0 + int(u % cols);
            uint at = (rowbase + uint(ky) * pc.nx + uint(kx)) * pc.D + hoff + pc.koff;
            [[unroll]] for (uint c = 0u; c < DL; c++) {
                LS_CHUNK(K4, at, c * SG + lane, kr[k * DL + c]);
                LS_CHUNK(V4, at, c * SG + lane, vr[k * DL + c]);
            }
            [[unroll]] for (uint r = 0u; r < R; r++) {
                int a = ky - y0, bb = kx - x0[r];
                bool v = u0 + k < total && live[r] && bb >= 0 && bb < kw;
                vis[k * R + r] = v;
                float t = 0.0;
                if (v && pc.rpe != 0u)
                    t = table[uint((qy[r] - a + span - 1) * span + (qx[r] - bb + span - 1)) * pc.H + h] * LOG2E;
                bias[k * R + r] = t;
            }
        }
        fold();
    }

    [[unroll]] for (uint r = 0u; r < R; r++) {
        if (!live[r]) continue;
        float inv = l[r] > 0.0 ? 1.0 / l[r] : 0.0;
        uint o = row[r] * pc.D + hoff + pc.qoff;
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
