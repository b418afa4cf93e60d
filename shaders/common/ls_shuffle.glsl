// Shared by the CPU-shaped long-short shaders (ls_attn_shuffle.comp, ls_project_shuffle.comp):
// a workgroup is exactly one subgroup of SG lanes (the host picks them only where the subgroup
// size is fixed and equals the workgroup size). Head rows are read as vec4 chunks from buffers
// declared vec4[]: one vec4 load costs lavapipe one pass over the lanes, four floats four.
// The includer declares local_size_x_id = 0 and the spec constant DH first.
#ifndef LSVK_LS_SHUFFLE_GLSL
#define LSVK_LS_SHUFFLE_GLSL

const uint SG = gl_WorkGroupSize.x;
const uint DH4 = (DH + 3u) / 4u;          // head dim in vec4 chunks
const uint DL = (DH4 + SG - 1u) / SG;     // chunks per lane when a row is spread over the lanes
#define NEG_INF uintBitsToFloat(0xff800000u)

// dst = chunk c (vec4 index within the head, < DH4 or zero) of the head row whose first element is
// `at` in buf (vec4[]); zero past DH. Rows are vec4-aligned when DH % 4 == 0 (D = H * DH then too).
#define LS_CHUNK(buf, at, c, dst)                                                   \
    {                                                                               \
        dst = vec4(0.0);                                                            \
        if (DH % 4u == 0u) {                                                        \
            if ((c) < DH4) dst = buf[((at) >> 2) + (c)];                            \
        } else {                                                                    \
            [[unroll]] for (uint e_ = 0u; e_ < 4u; e_++) {                          \
                uint x_ = (at) + 4u * (c) + e_;                                     \
                if (4u * (c) + e_ < DH) dst[e_] = buf[x_ >> 2][x_ & 3u];            \
            }                                                                       \
        }                                                                           \
    }

#endif
