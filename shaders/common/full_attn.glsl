// Shared by attention.comp and attention_shuffle.comp (lsvk_attention): bindings, push constants
// and the row loads and stores. The includer defines DH (head dim) as a specialization constant
// before including this file.
#ifndef LSVK_FULL_ATTN_GLSL
#define LSVK_FULL_ATTN_GLSL

layout(set = 0, binding = 0) readonly buffer Qb { float q[]; };
layout(set = 0, binding = 1) readonly buffer Kb { float k[]; };
layout(set = 0, binding = 2) readonly buffer Vb { float v[]; };
layout(set = 0, binding = 3) readonly buffer Mb { float mask[]; };  // [B,N], 0 = padding
layout(set = 0, binding = 4) buffer Ob { float o[]; };

layout(push_constant) uniform Push {
    uint N;
    uint H;
    uint has_mask;
    uint causal;
    float scale; // log2(e) / sqrt(dh): scores are kept in the log2 domain
    uint sb;     // element strides of batch, head and token: [B,H,N,dh] or [B,N,H,dh]
    uint sh;
    uint sn;
    uint k0;     // keys [k0, k1) (attention_shuffle.comp: llvmpipe's loop cap splits long rows)
    uint k1;
    uint pass;   // bit 0: resume from the state of the keys before k0; bit 1: the last pass
} pc;

const uint DH4 = (DH + 3u) / 4u; // head dim in vec4s
const float NEG_INF = -1.0 / 0.0;

// Element d (a multiple of 4) on of the row starting at `row`, four values, zero past dh.
vec4 attn_load_o(uint row, uint d) {
    vec4 r = vec4(0.0);
    for (uint e = 0u; e < 4u; e++)
        if (d + e < DH) r[e] = o[row + d + e];
    return r;
}
vec4 attn_load_q(uint row, uint d) {
    vec4 r = vec4(0.0);
    if (DH % 4u == 0u) {
        if (d < DH) r = vec4(q[row + d], q[row + d + 1u], q[row + d + 2u], q[row + d + 3u]);
    } else {
        for (uint e = 0u; e < 4u; e++)
            if (d + e < DH) r[e] = q[row + d + e];
    }
    return r;
}
void attn_load_kv(uint row, uint d, out vec4 kk, out vec4 vv) {
    kk = vec4(0.0);
    vv = vec4(0.0);
    if (DH % 4u == 0u) {
        if (d < DH) {
            kk = vec4(k[row + d], k[row + d + 1u], k[row + d + 2u], k[row + d + 3u]);
            vv = vec4(v[row + d], v[row + d + 1u], v[row + d + 2u], v[row + d + 3u]);
        }
    } else {
        for (uint e = 0u; e < 4u; e++)
            if (d + e < DH) {
                kk[e] = k[row + d + e];
                vv[e] = v[row + d + e];
            }
    }
}
void attn_store(uint row, uint d, vec4 y) {
    for (uint e = 0u; e < 4u; e++)
        if (d + e < DH) o[row + d + e] = y[e];
}

bool attn_key_real(uint b, uint j) { return pc.has_mask == 0u || mask[b * pc.N + j] != 0.0; }

// exp2(x - mref), 0 for a masked x (-inf). mref is finite whenever x is, so no -inf - -inf.
float attn_exp2(float x, float mref) { return x == NEG_INF ? 0.0 : exp2(x - mref); }

#endif
