#version 450
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
// y[M,N] = x[M,K] w[N,K]^T + b[N] (lsvk_linear) for CPU Vulkan devices (lavapipe); linear.comp
// computes the same on GPUs.
//
// On lavapipe a workgroup runs on one CPU thread and each invocation is a SIMD lane. Every buffer
// or shared-memory access is a loop over the lanes with a bounds-checked scalar access per lane
// and component (even at a uniform address): one vec4 load costs about as much as 100 vector
// multiply-adds. So this shader minimizes loads and stores per multiply-add: the workgroup is one
// subgroup of SG lanes (the host uses it only where the subgroup size is fixed), every value is
// loaded by one lane only, and lanes share x values through subgroupShuffle with a constant lane
// index (a register permute). No shared memory, no barriers. Loads are vec4s where K % 4 == 0
// (VEC 4), else floats (VEC 1); a "chunk" is one such load. The accumulators (R*SG*CN per lane,
// up to 512) live mostly on the stack, which costs plain vector loads and stores.
//
// Lane l owns the CN consecutive y columns n0 + l*CN + c and loads their w rows. Two modes:
//  tile (SMALL false): a tile is R*SG rows x CN*SG columns. For each chunk k, lane l loads chunk k
//    of x rows m0 + r*SG + l (r < R) and of its w rows; shuffles hand each x row to every lane.
//    R + CN loads per R*SG*CN dot products.
//  small (SMALL true, for a few rows): a tile is R rows x CN*SG columns. Lane l loads chunk kb + l
//    of the R x rows; then for u < SG every lane loads chunk kb + u of its w rows and takes the x
//    chunks of lane u.
// Rows past M and columns past N are clamped for loads (computed, never stored), so the hot loops
// have no branches.
//
// lavapipe stops a shader's loops after 65535 iterations in all (one budget per workgroup), so
// the host splits long K into dispatches over chunks [kc0, kc1), the later ones adding to y.
//
// spec 0: workgroup size SG (= the subgroup size); 1: R; 2: CN; 3: VEC (4 or 1); 4: SMALL.
// push: M, N, K, has_bias, epilogue (bit 0: GELU, bit 1: add the residual r; the host sets it on
// the last K piece only), kc0, kc1, accumulate (add y's value instead of the bias), xoff, yoff
// (where a band of a larger tensor starts in the bindings). The grid is
// any 3D grid: x strides over the column tiles, y and z together over the row tiles.

#include "gelu.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 4;
layout(constant_id = 2) const uint CN = 4;
layout(constant_id = 3) const uint VEC = 4;
layout(constant_id = 4) const bool SMALL = false;

layout(set = 0, binding = 0) readonly buffer X1 { float x1[]; };
layout(set = 0, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(set = 0, binding = 1) readonly buffer W1 { float w1[]; };
layout(set = 0, binding = 1) readonly buffer W4 { vec4 w4[]; };
layout(set = 0, binding = 2) readonly buffer B { float b[]; };
layout(set = 0, binding = 3) buffer Y1 { float y1[]; };
layout(set = 0, binding = 3) buffer Y4 { vec4 y4[]; };
layout(set = 0, binding = 4) readonly buffer R1 { float r1[]; };
layout(set = 0, binding = 4) readonly buffer R4 { vec4 r4[]; };

layout(push_constant) uniform Push {
    uint M;
    uint N;
    uint K;
    uint has_bias;
    uint epilogue;
    uint kc0; // chunks of K this dispatch sums
    uint kc1;
    uint accumulate;
    uint xoff; // x's row 0 is x1[xoff] (a band of a larger tensor; a multiple of VEC), y's and r's y1[yoff]
    uint yoff;
} pc;

const uint SG = gl_WorkGroupSize.x;
const uint ROWS = SMALL ? R : R * SG; // rows of a tile
const uint COLS = CN * SG;            // columns of a tile

float acc[ROWS * CN]; // acc[i * CN + c]: tile row i, column n0 + lane*CN + c

vec4 load_x(uint e) {
    if (VEC == 4u) return x4[e];
    return vec4(x1[e], 0.0, 0.0, 0.0);
}
vec4 load_w(uint e) {
    if (VEC == 4u) return w4[e];
    return vec4(w1[e], 0.0, 0.0, 0.0);
}
float dot_chunk(vec4 a, vec4 c) { return VEC == 4u ? dot(a, c) : a.x * c.x; }

// Small mode, chunks kb .. kb+SG-1 of each row; `full`: all below kend (no checks).
void small_step(uint kb, uint kend, bool full, uint lane, uint xrow[R], uint wrow[CN]) {
    vec4 xv[R];
    bool in_k = full || kb + lane < kend;
    uint kl = full ? kb + lane : min(kb + lane, kend - 1u);
    [[unroll]] for (uint i = 0u; i < R; i++) {
        xv[i] = load_x(xrow[i] + kl);
        if (!in_k) xv[i] = vec4(0.0);
    }
    [[unroll]] for (uint u = 0u; u < SG; u++) {
        bool u_in = full || kb + u < kend; // uniform
        uint ku = full ? kb + u : min(kb + u, kend - 1u);
        vec4 wv[CN];
        [[unroll]] for (uint c = 0u; c < CN; c++) wv[c] = u_in ? load_w(wrow[c] + ku) : vec4(0.0);
        [[unroll]] for (uint i = 0u; i < R; i++) {
            vec4 xb = subgroupShuffle(xv[i], u);
            [[unroll]] for (uint c = 0u; c < CN; c++) acc[i * CN + c] += dot_chunk(xb, wv[c]);
        }
    }
}

void tile_step(uint k, uint xrow[R], uint wrow[CN]) {
    vec4 xv[R], wv[CN];
    [[unroll]] for (uint r = 0u; r < R; r++) xv[r] = load_x(xrow[r] + k);
    [[unroll]] for (uint c = 0u; c < CN; c++) wv[c] = load_w(wrow[c] + k);
    [[unroll]] for (uint r = 0u; r < R; r++)
        [[unroll]] for (uint u = 0u; u < SG; u++) {
            vec4 xb = subgroupShuffle(xv[r], u);
            [[unroll]] for (uint c = 0u; c < CN; c++)
                acc[(r * SG + u) * CN + c] += dot_chunk(xb, wv[c]);
        }
}

// Writes the tile row by row in a loop: unrolled stores (one per value) compile slowly on lavapipe
// (2.5x the compile time at 512 accumulators) and indexing acc by the loop counter would move it
// to memory, so each iteration picks its row with a chain of selects.
void store_tile(uint m0, uint n0, uint lane) {
    uint M = pc.M, N = pc.N;
    uint n = n0 + lane * CN;
    bool v4 = CN % 4u == 0u && N % 4u == 0u && pc.yoff % 4u == 0u; // aligned vec4 stores
    bool add_y = pc.accumulate != 0u;
    float bias[CN];
    [[unroll]] for (uint c = 0u; c < CN; c++)
        bias[c] = pc.has_bias != 0u && !add_y ? b[min(n + c, N - 1u)] : 0.0;
    uint rows = min(ROWS, M - m0);
    [[dont_unroll]] for (uint i = 0u; i < rows; i++) {
        float v[(CN + 3u) / 4u * 4u]; // the vec4 loop below must keep the form c < CN to unroll
        [[unroll]] for (uint c = 0u; c < CN; c++) {
            v[c] = acc[c];
            [[unroll]] for (uint t = 1u; t < ROWS; t++) v[c] = i == t ? acc[t * CN + c] : v[c];
            v[c] += bias[c];
        }
        uint o = pc.yoff + (m0 + i) * N + n; // vec4 stores need yoff % 4 == 0
        if (v4) {
            [[unroll]] for (uint c = 0u; c < CN; c += 4u)
                if (n + c < N) {
                    vec4 t = vec4(v[c], v[c + 1u], v[c + 2u], v[c + 3u]);
                    if (add_y) t += y4[(o + c) / 4u];
                    if ((pc.epilogue & 1u) != 0u)
                        t = vec4(lsvk_gelu(t.x), lsvk_gelu(t.y), lsvk_gelu(t.z), lsvk_gelu(t.w));
                    if ((pc.epilogue & 2u) != 0u) t += r4[(o + c) / 4u];
                    y4[(o + c) / 4u] = t;
                }
        } else {
            [[unroll]] for (uint c = 0u; c < CN; c++)
                if (n + c < N) {
                    float t = add_y ? v[c] + y1[o + c] : v[c];
                    if ((pc.epilogue & 1u) != 0u) t = lsvk_gelu(t);
                    if ((pc.epilogue & 2u) != 0u) t += r1[o + c];
                    y1[o + c] = t;
                }
        }
    }
}

void main() {
    uint lane = gl_LocalInvocationID.x;
    uint M = pc.M, N = pc.N, KC = pc.K / VEC;
    uint tiles_m = (M + ROWS - 1u) / ROWS, tiles_n = (N + COLS - 1u) / COLS;
    uint groups_m = gl_NumWorkGroups.y * gl_NumWorkGroups.z;
    uint first_m = gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y;

    for (uint tm = first_m; tm < tiles_m; tm += groups_m) {
        for (uint tn = gl_WorkGroupID.x; tn < tiles_n; tn += gl_NumWorkGroups.x) {
            uint m0 = tm * ROWS, n0 = tn * COLS;
            uint xrow[R], wrow[CN]; // first chunk of each row this lane loads
            [[unroll]] for (uint r = 0u; r < R; r++)
                xrow[r] = min(m0 + (SMALL ? r : r * SG + lane), M - 1u) * KC + pc.xoff / VEC;
            [[unroll]] for (uint c = 0u; c < CN; c++)
                wrow[c] = min(n0 + lane * CN + c, N - 1u) * KC;
            [[unroll]] for (uint i = 0u; i < ROWS * CN; i++) acc[i] = 0.0;

            uint kc0 = pc.kc0, kc1 = pc.kc1;
            if (SMALL) {
                uint kfull = kc0 + (kc1 - kc0) / SG * SG;
                for (uint kb = kc0; kb < kfull; kb += SG)
                    small_step(kb, kc1, true, lane, xrow, wrow);
                if (kfull < kc1) small_step(kfull, kc1, false, lane, xrow, wrow);
            } else {
                for (uint k = kc0; k < kc1; k++) tile_step(k, xrow, wrow);
            }
            store_tile(m0, n0, lane);
        }
    }
}
