#version 450
// Softmax over rows of C values. One workgroup per row (looping over rows when there are more rows
// than workgroups). Pass 1: every invocation keeps a running (max, sum of exp) over its strided
// elements (online softmax), combined across the workgroup in shared memory. Pass 2: writes
// exp(x - max) / sum. Masked entries (mask value 0) and -inf inputs get 0; a row with no entry left
// gives zeros. y may be x: each element is read in pass 1 (which ends with a barrier) and again in
// pass 2 by the invocation that then writes it.
//
// spec 0: workgroup size, a power of two.
// push: rows, C, mask_mode (0: no mask, 1: mask[rows, C], 2: mask[C] for every row), log_out
// (1: writes log-softmax, x - max - log(sum), -inf where masked).
#include "rows.glsl"

layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer M { float mask[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint C;
    uint mask_mode;
    uint log_out;
} pc;

const uint WG = gl_WorkGroupSize.x;
const float NEG_INF = -1.0 / 0.0;
shared float red_m[WG];
shared float red_s[WG];

// Merges running (max, sum) pairs; a pair with max -inf holds nothing.
void merge(inout float m, inout float s, float m2, float s2) {
    if (m2 == NEG_INF) return;
    if (m == NEG_INF) {
        m = m2;
        s = s2;
        return;
    }
    float mx = max(m, m2);
    s = s * exp(m - mx) + s2 * exp(m2 - mx);
    m = mx;
}

// The value at (base + c) as softmax sees it: -inf where masked.
float load(uint base, uint c) {
    float v = x[base + c];
    if (pc.mask_mode == 1u) {
        if (mask[base + c] == 0.0) v = NEG_INF;
    } else if (pc.mask_mode == 2u) {
        if (mask[c] == 0.0) v = NEG_INF;
    }
    return v;
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint C = pc.C;
    for (uint row = lsvk_group_index(); row < pc.rows; row += lsvk_group_count()) {
        uint base = row * C;
        float m = NEG_INF;
        float s = 0.0;
        for (uint c = t; c < C; c += WG) {
            float v = load(base, c);
            if (v == NEG_INF) continue;
            if (v > m) {
                s = (m == NEG_INF ? 0.0 : s * exp(m - v)) + 1.0;
                m = v;
            } else {
                s += exp(v - m);
            }
        }
        red_m[t] = m;
        red_s[t] = s;
        barrier();
        for (uint k = WG / 2; k > 0; k >>= 1) {
            if (t < k) {
                float mm = red_m[t], ss = red_s[t];
                merge(mm, ss, red_m[t + k], red_s[t + k]);
                red_m[t] = mm;
                red_s[t] = ss;
            }
            barrier();
        }
        m = red_m[0];
        float inv = m == NEG_INF ? 0.0 : 1.0 / red_s[0];
        float lse = m + log(red_s[0]);
        barrier();
        for (uint c = t; c < C; c += WG) {
            float v = load(base, c);
            if (pc.log_out != 0u) y[base + c] = v == NEG_INF ? NEG_INF : v - lse;
            else y[base + c] = v == NEG_INF ? 0.0 : exp(v - m) * inv;
        }
    }
}
