#version 450
// Second half of a split softmax reduction: merges per-chunk partials (m, l, [pad,] acc[VECS*DH])
// of one group into acc / l with every chunk rescaled to the common maximum,
//   out = sum_c exp(m_c - M) acc_c / sum_c exp(m_c - M) l_c,   M = max_c m_c,
// and writes it to out[base + b*sb + j*sj + v*sv + h*DH + d]. A group whose chunks are all
// empty (every token padded) gives 0.
// Group g = (b*H + h) * J + j, one workgroup each (2D grid, strided).
// spec 0: workgroup size, 1: DH, 2: VECS (vectors per partial: 2 for K and V, 1 otherwise),
//      3: HDR, floats before the vectors (2: m, l; 4 keeps them vec4-aligned, and with DH % 4 == 0
//      the merge goes a vec4 at a time; the output offsets must then be multiples of 4 too).

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DH = 64;
layout(constant_id = 2) const uint VECS = 2;
layout(constant_id = 3) const uint HDR = 2;

layout(set = 0, binding = 0) readonly buffer Part { float part[]; };
layout(set = 0, binding = 1) buffer Out { float outv[]; };
// vec4 views of the same buffers, for HDR = 4 with DH % 4 == 0 (aligned records and rows)
layout(set = 0, binding = 0) readonly buffer Part4 { vec4 part4[]; };
layout(set = 0, binding = 1) buffer Out4 { vec4 outv4[]; };

layout(push_constant) uniform Push {
    uint groups;
    uint nchunks;
    uint H;
    uint J;
    uint base;
    uint sb;
    uint sj;
    uint sv;
} pc;

const uint WG = gl_WorkGroupSize.x;
#define NEG_INF uintBitsToFloat(0xff800000u)

void main() {
    uint t = gl_LocalInvocationID.x;
    uint rec = HDR + VECS * DH;
    for (uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; g < pc.groups;
         g += gl_NumWorkGroups.x * gl_NumWorkGroups.y) {
        uint j = g % pc.J, bh = g / pc.J;
        uint b = bh / pc.H, h = bh % pc.H;
        uint first = g * pc.nchunks * rec;
        float M = NEG_INF;
        for (uint c = 0; c < pc.nchunks; c++) M = max(M, part[first + c * rec]);
        float L = 0.0;
        if (M != NEG_INF)
            for (uint c = 0; c < pc.nchunks; c++) {
                float m = part[first + c * rec];
                if (m != NEG_INF) L += exp(m - M) * part[first + c * rec + 1u];
            }
        float inv = L > 0.0 ? 1.0 / L : 0.0;
        if (HDR == 4u && DH % 4u == 0u) { // a vec4 at a time: a quarter of the loads
            uint rec4 = rec / 4u, first4 = first / 4u;
            for (uint i = t; i < VECS * DH / 4u; i += WG) {
                vec4 acc = vec4(0.0);
                if (L > 0.0)
                    for (uint c = 0; c < pc.nchunks; c++) {
                        float m = part[first + c * rec];
                        if (m != NEG_INF) acc += exp(m - M) * part4[first4 + c * rec4 + 1u + i];
                    }
                uint v = (4u * i) / DH, d = (4u * i) % DH;
                outv4[(pc.base + b * pc.sb + j * pc.sj + v * pc.sv + h * DH + d) / 4u] = acc * inv;
            }
            continue;
        }
        for (uint i = t; i < VECS * DH; i += WG) {
            float acc = 0.0;
            if (L > 0.0)
                for (uint c = 0; c < pc.nchunks; c++) {
                    float m = part[first + c * rec];
                    if (m != NEG_INF) acc += exp(m - M) * part[first + c * rec + HDR + i];
                }
            uint v = i / DH, d = i % DH;
            outv[pc.base + b * pc.sb + j * pc.sj + v * pc.sv + h * DH + d] = acc * inv;
        }
    }
}
