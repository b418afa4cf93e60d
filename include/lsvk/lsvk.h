/* lsvk: Long-Short Transformer attention on any Vulkan GPU.
 *
 * Conventions
 * - Every call that can fail returns lsvk_status; LSVK_SUCCESS is 0, errors are negative.
 * - On failure a message is kept: lsvk_context_error() for calls on a context, and
 *   lsvk_last_error() (per thread) for every failure, including those without a context.
 * - Create-info structs are zero-initialisable; zero means "default".
 * - Destroy/close functions accept NULL. The library never prints, exits or aborts.
 * - No Vulkan type appears here: imported Vulkan handles are passed as void pointers.
 */
#ifndef LSVK_H
#define LSVK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(LSVK_SHARED)
#  ifdef LSVK_BUILDING
#    define LSVK_API __declspec(dllexport)
#  else
#    define LSVK_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define LSVK_API __attribute__((visibility("default")))
#else
#  define LSVK_API
#endif

#define LSVK_VERSION_MAJOR 0
#define LSVK_VERSION_MINOR 1
#define LSVK_VERSION_PATCH 0

/* ---------------------------------------------------------------- status */

typedef enum lsvk_status {
    LSVK_SUCCESS = 0,
    LSVK_ERROR_INVALID_ARGUMENT = -1,    /* NULL where an object is needed, bad enum, bad flag */
    LSVK_ERROR_OUT_OF_HOST_MEMORY = -2,
    LSVK_ERROR_OUT_OF_DEVICE_MEMORY = -3,
    LSVK_ERROR_NO_DEVICE = -4,           /* no Vulkan loader, no device, or LSVK_DEVICE matched none */
    LSVK_ERROR_VULKAN = -5,              /* a Vulkan call failed (message names it and its VkResult) */
    LSVK_ERROR_DEVICE_LOST = -6,
    LSVK_ERROR_LIMIT_EXCEEDED = -7,      /* request past a device limit (message names the limit) */
    LSVK_ERROR_SHAPE = -8,               /* tensor shapes or dtypes that do not fit together */
    LSVK_ERROR_FORMAT = -9,              /* malformed file or data */
    LSVK_ERROR_IO = -10,                 /* file could not be opened, read or written */
    LSVK_ERROR_NOT_FOUND = -11,          /* named tensor / key absent */
    LSVK_ERROR_UNSUPPORTED = -12,        /* valid request this build or device cannot do */
    LSVK_ERROR_STATE = -13               /* call out of order (e.g. recording into a submitted sequence) */
} lsvk_status;

/* Static name of a status, e.g. "LSVK_ERROR_SHAPE". Never NULL. */
LSVK_API const char *lsvk_status_string(lsvk_status status);

/* Message of the most recent failure on this thread ("" if none). Valid until the next lsvk call
 * on this thread. */
LSVK_API const char *lsvk_last_error(void);

/* ---------------------------------------------------------------- devices */

typedef enum lsvk_device_type {
    LSVK_DEVICE_TYPE_OTHER = 0,
    LSVK_DEVICE_TYPE_INTEGRATED = 1,
    LSVK_DEVICE_TYPE_DISCRETE = 2,
    LSVK_DEVICE_TYPE_VIRTUAL = 3,
    LSVK_DEVICE_TYPE_CPU = 4
} lsvk_device_type;

#define LSVK_MAX_HEAPS 16

/* Capabilities, read once when a device is opened or enumerated. */
typedef struct lsvk_device_info {
    uint32_t index;                     /* position in the Vulkan enumeration */
    char name[256];
    uint32_t vendor_id;
    char vendor[32];                    /* "NVIDIA", "AMD", "Intel", "Apple", "Mesa", ... */
    uint32_t device_id;
    lsvk_device_type type;
    char driver_name[256];              /* from VkPhysicalDeviceDriverProperties */
    char driver_info[256];
    uint32_t driver_id;                 /* VkDriverId (0 if the driver does not say) */
    uint32_t driver_version;            /* raw, vendor-encoded */
    uint32_t api_version;               /* VK_MAKE_API_VERSION encoding */
    uint32_t subgroup_size;             /* default subgroup size */
    uint32_t min_subgroup_size;         /* size control range; equal to subgroup_size if absent */
    uint32_t max_subgroup_size;
    uint32_t max_shared_memory;         /* maxComputeSharedMemorySize, bytes */
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size[3];
    uint32_t max_workgroup_count[3];
    uint32_t max_push_constants;
    uint64_t max_storage_buffer_range;  /* bytes */
    uint64_t max_memory_allocation_size;/* bytes */
    uint64_t min_storage_buffer_alignment;
    uint32_t heap_count;
    uint64_t heap_size[LSVK_MAX_HEAPS];
    uint32_t heap_device_local[LSVK_MAX_HEAPS];
    int unified_memory;                 /* device-local memory is host-visible (UMA, lavapipe) */
    int shader_float16;                 /* fp16 arithmetic in shaders */
    int storage_16bit;                  /* 16-bit types in storage buffers */
    int subgroup_arithmetic;            /* subgroup add/max in compute shaders */
    int subgroup_shuffle;               /* subgroupShuffle in compute shaders */
    int timestamps;                     /* compute queue timestamps usable */
    float timestamp_period_ns;
} lsvk_device_info;

/* Vendor name for a PCI vendor id ("Unknown" when not known). */
LSVK_API const char *lsvk_vendor_name(uint32_t vendor_id);
/* "discrete", "integrated", "virtual", "cpu" or "other". */
LSVK_API const char *lsvk_device_type_string(lsvk_device_type type);

/* Lists the devices lsvk can use. Fills up to *count entries of infos (infos may be NULL to query
 * the number) and sets *count to the number written (or available). *selected (may be NULL) gets
 * the index lsvk would pick with the given selector (NULL: LSVK_DEVICE, else the default order);
 * a selector that matches nothing gives LSVK_ERROR_NO_DEVICE. */
LSVK_API lsvk_status lsvk_enumerate_devices(const char *selector, lsvk_device_info *infos,
                                            uint32_t *count, uint32_t *selected);

/* ---------------------------------------------------------------- context */

typedef struct lsvk_context lsvk_context;

typedef enum lsvk_message_severity {
    LSVK_MESSAGE_INFO = 0,
    LSVK_MESSAGE_WARNING = 1,
    LSVK_MESSAGE_ERROR = 2
} lsvk_message_severity;

/* Receives validation-layer messages. Called from the thread that made the Vulkan call. */
typedef void (*lsvk_message_fn)(void *user, lsvk_message_severity severity, const char *message);

/* An application's own Vulkan objects (VkInstance, VkPhysicalDevice, VkDevice, VkQueue, and
 * PFN_vkGetInstanceProcAddr, as void pointers). lsvk uses them and never destroys them. The queue
 * must support compute; the device must outlive the context. */
typedef struct lsvk_vulkan_import {
    void *instance;
    void *physical_device;
    void *device;
    void *queue;
    uint32_t queue_family;
    void *get_instance_proc_addr;       /* NULL: taken from the system loader */
} lsvk_vulkan_import;

typedef enum lsvk_validation_mode {
    LSVK_VALIDATION_DEFAULT = 0,        /* follow the LSVK_VALIDATION environment variable */
    LSVK_VALIDATION_ON = 1,
    LSVK_VALIDATION_OFF = 2
} lsvk_validation_mode;

typedef struct lsvk_context_create_info {
    const char *device;                 /* index or name substring; NULL: LSVK_DEVICE, then auto */
    lsvk_validation_mode validation;
    lsvk_message_fn message_callback;   /* NULL: messages are only counted */
    void *message_user;
    const char *pipeline_cache_path;    /* loaded at create if present; NULL: LSVK_PIPELINE_CACHE */
    const lsvk_vulkan_import *import;   /* NULL: lsvk creates its own instance and device */
    uint64_t memory_block_size;         /* suballocation block size; 0: 64 MiB */
} lsvk_context_create_info;

/* info may be NULL (all defaults). */
LSVK_API lsvk_status lsvk_context_create(const lsvk_context_create_info *info, lsvk_context **out);
LSVK_API void lsvk_context_destroy(lsvk_context *ctx);

LSVK_API const lsvk_device_info *lsvk_context_device(const lsvk_context *ctx);
/* Detailed message of the last failure on this context ("" if none). */
LSVK_API const char *lsvk_context_error(const lsvk_context *ctx);
/* Number of validation messages (warnings and errors) received so far. */
LSVK_API uint32_t lsvk_context_validation_messages(const lsvk_context *ctx);
LSVK_API int lsvk_context_validation_enabled(const lsvk_context *ctx);
/* Writes the VkPipelineCache to a file (it is loaded at create from pipeline_cache_path). */
LSVK_API lsvk_status lsvk_context_save_pipeline_cache(lsvk_context *ctx, const char *path);
/* Device memory: bytes reserved by live tensors (including lsvk's workspace) now and at their
 * peak since create or the last reset, and bytes allocated from the device in blocks (the
 * tensors are suballocated from these). Any pointer may be NULL. */
LSVK_API void lsvk_context_memory_usage(const lsvk_context *ctx, uint64_t *current, uint64_t *peak,
                                        uint64_t *blocks);
LSVK_API void lsvk_context_reset_peak_memory(lsvk_context *ctx);

/* ---------------------------------------------------------------- tensors */

typedef enum lsvk_dtype {
    LSVK_F32 = 0,
    LSVK_F16 = 1                        /* planned: tensor_create returns LSVK_ERROR_UNSUPPORTED */
} lsvk_dtype;

#define LSVK_MAX_RANK 4

typedef struct lsvk_tensor lsvk_tensor;

/* A device tensor, row-major, rank 1..4, every dimension >= 1. Contents are undefined until
 * written. A tensor whose bytes exceed maxMemoryAllocationSize or the heap gives
 * LSVK_ERROR_LIMIT_EXCEEDED. One larger than maxStorageBufferRange (what one shader binding may
 * cover) is allowed: lsvk_linear(_ex), lsvk_layernorm, lsvk_ls_forward and lsvk_vision_forward
 * split their work into bands that each bind within it; every other op refuses it with
 * LSVK_ERROR_LIMIT_EXCEEDED. */
LSVK_API lsvk_status lsvk_tensor_create(lsvk_context *ctx, lsvk_dtype dtype, uint32_t rank,
                                        const int64_t *shape, lsvk_tensor **out);
LSVK_API void lsvk_tensor_destroy(lsvk_tensor *t);
/* Gives the tensor another shape with the same element count (row-major data unchanged). */
LSVK_API lsvk_status lsvk_tensor_reshape(lsvk_tensor *t, uint32_t rank, const int64_t *shape);
LSVK_API uint32_t lsvk_tensor_rank(const lsvk_tensor *t);
LSVK_API int64_t lsvk_tensor_dim(const lsvk_tensor *t, uint32_t axis); /* 0 when axis >= rank */
LSVK_API int64_t lsvk_tensor_numel(const lsvk_tensor *t);
LSVK_API lsvk_dtype lsvk_tensor_dtype(const lsvk_tensor *t);
/* bytes must equal the tensor's size. Waits for the device; safe between submits only. */
LSVK_API lsvk_status lsvk_tensor_upload(lsvk_tensor *t, const void *data, size_t bytes);
LSVK_API lsvk_status lsvk_tensor_download(const lsvk_tensor *t, void *data, size_t bytes);

/* ---------------------------------------------------------------- command sequences */

/* A sequence of dispatches recorded into one command buffer, with a barrier only where one
 * dispatch reads or overwrites what an earlier one wrote (or overwrites what it read), submitted
 * once and waited once. Every op takes a sequence; passing NULL runs the op at once (record,
 * submit, wait). A sequence can be reset and re-recorded. */
typedef struct lsvk_cmd lsvk_cmd;

enum { LSVK_CMD_TIMESTAMPS = 1u << 0 };

LSVK_API lsvk_status lsvk_cmd_create(lsvk_context *ctx, uint32_t flags, lsvk_cmd **out);
LSVK_API void lsvk_cmd_destroy(lsvk_cmd *cmd);
/* Submits what was recorded and waits for it. */
LSVK_API lsvk_status lsvk_cmd_submit(lsvk_cmd *cmd);
/* Forgets what was recorded (and its timings) so the sequence can be recorded again. */
LSVK_API lsvk_status lsvk_cmd_reset(lsvk_cmd *cmd);
LSVK_API uint32_t lsvk_cmd_dispatch_count(const lsvk_cmd *cmd);
/* GPU time of dispatch i of the last submit (needs LSVK_CMD_TIMESTAMPS and device timestamps). */
LSVK_API lsvk_status lsvk_cmd_timing(const lsvk_cmd *cmd, uint32_t i, const char **name,
                                     double *nanoseconds);
/* GPU time of the last submit, from the first dispatch's start to the last one's end (needs
 * LSVK_CMD_TIMESTAMPS). */
LSVK_API lsvk_status lsvk_cmd_elapsed(const lsvk_cmd *cmd, double *nanoseconds);

/* ---------------------------------------------------------------- ops */

/* y[M,N] = x[M,K] W[N,K]^T + b[N]. x and y may have leading dims (flattened into M);
 * b may be NULL. */
LSVK_API lsvk_status lsvk_linear(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *w,
                                 const lsvk_tensor *b, lsvk_tensor *y);
enum { LSVK_LINEAR_GELU = 1u << 0 }; /* lsvk_linear_ex: apply GELU (exact erf form) */
/* y = act(x W^T + b) + residual: act is GELU with LSVK_LINEAR_GELU, else none; residual (may be
 * NULL) has y's shape and must not be y. One pass: a transformer block's feed-forward is
 * lsvk_linear_ex(fc1, GELU) then lsvk_linear_ex(fc2, residual). */
LSVK_API lsvk_status lsvk_linear_ex(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *w,
                                    const lsvk_tensor *b, const lsvk_tensor *residual, uint32_t flags,
                                    lsvk_tensor *y);
/* LayerNorm over the last dimension with weight and bias ([C] each; either may be NULL for 1 / 0),
 * biased variance. eps <= 0 means 1e-5. y may be x. */
LSVK_API lsvk_status lsvk_layernorm(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *weight,
                                    const lsvk_tensor *bias, float eps, lsvk_tensor *y);
/* Softmax over the last dimension. -inf entries get probability 0. mask (may be NULL) has the
 * shape of x or of its last dimension alone; entries equal to 0 are masked (treated as -inf).
 * A row with every entry masked gives zeros. y may be x. */
LSVK_API lsvk_status lsvk_softmax(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *mask,
                                  lsvk_tensor *y);
/* Log-softmax over the last dimension, x - max - log(sum exp(x - max)), with softmax's mask
 * rules; masked and -inf entries give -inf. y may be x. */
LSVK_API lsvk_status lsvk_log_softmax(lsvk_cmd *cmd, const lsvk_tensor *x, const lsvk_tensor *mask,
                                      lsvk_tensor *y);
/* GELU, exact erf form: y = x/2 (1 + erf(x/sqrt 2)). y may be x. */
LSVK_API lsvk_status lsvk_gelu(lsvk_cmd *cmd, const lsvk_tensor *x, lsvk_tensor *y);

/* ---------------------------------------------------------------- attention */

enum {
    LSVK_ATTENTION_CAUSAL = 1u << 0, /* key j > query i masked */
    LSVK_ATTENTION_BNHD = 1u << 1    /* tensors are [B,N,H,dh] (a linear's [B,N,D] output, reshaped) */
};

/* Full softmax attention, fused (flash-style tiles over keys; no N x N matrix in memory):
 * out = softmax(Q K^T / sqrt(dh)) V for q, k, v, out of shape [B,H,N,dh] (dh <= 256), or
 * [B,N,H,dh] with LSVK_ATTENTION_BNHD. mask [B,N] (may be NULL): 1 = real token, 0 = padding;
 * padded keys get probability 0 and rows of padded queries are 0. */
LSVK_API lsvk_status lsvk_attention(lsvk_cmd *cmd, const lsvk_tensor *q, const lsvk_tensor *k,
                                    const lsvk_tensor *v, const lsvk_tensor *mask, uint32_t flags,
                                    lsvk_tensor *out);

/* Bidirectional long-short attention layer (Transformer-LS, the official
 * lra/attention_transformer_ls.py AttentionLS). */
typedef struct lsvk_ls_config {
    uint32_t dim;          /* D = heads * head_dim */
    uint32_t heads;        /* H */
    uint32_t head_dim;     /* dh, 1..256 */
    uint32_t window;       /* w: segment length of the sliding window; 0 = no window */
    uint32_t landmarks;    /* r: dynamically projected keys/values; 0 = none */
    int32_t conv_kernel;   /* K: depthwise conv on V along the sequence, odd; <= 0 = none */
    int32_t cls;           /* 1: pooling_mode "cls" (token 0 is the CLS token) */
} lsvk_ls_config;

typedef struct lsvk_ls_layer lsvk_ls_layer;
typedef struct lsvk_safetensors lsvk_safetensors; /* see the safetensors section below */

LSVK_API lsvk_status lsvk_ls_layer_create(lsvk_context *ctx, const lsvk_ls_config *config,
                                          lsvk_ls_layer **out);
LSVK_API void lsvk_ls_layer_destroy(lsvk_ls_layer *layer);
/* Sets one parameter by the reference's state_dict name ("W_q.weight", "dual_ln_s.bias",
 * "dconv_fc.weight", "conv.weight", ...); count must match its shape. */
LSVK_API lsvk_status lsvk_ls_layer_set_weight(lsvk_ls_layer *layer, const char *name,
                                              const float *data, size_t count);
/* Sets every parameter from a safetensors file (names after prefix, which may be NULL). */
LSVK_API lsvk_status lsvk_ls_layer_load(lsvk_ls_layer *layer, const lsvk_safetensors *st,
                                        const char *prefix);
/* out[B,N0,D] = layer(x[B,N0,D]) with mask [B,N0] (1 = real, 0 = padding at the end of a row;
 * NULL = all real). N = N0 (N0 - 1 with cls) must be a multiple of the window. Every parameter
 * must have been set. */
LSVK_API lsvk_status lsvk_ls_forward(lsvk_cmd *cmd, lsvk_ls_layer *layer, const lsvk_tensor *x,
                                     const lsvk_tensor *mask, lsvk_tensor *out);

/* ---------------------------------------------------------------- safetensors */

typedef struct lsvk_safetensors lsvk_safetensors;

typedef enum lsvk_st_dtype {
    LSVK_ST_BOOL, LSVK_ST_U8, LSVK_ST_I8, LSVK_ST_I16, LSVK_ST_U16, LSVK_ST_F16, LSVK_ST_BF16,
    LSVK_ST_I32, LSVK_ST_U32, LSVK_ST_F32, LSVK_ST_F64, LSVK_ST_I64, LSVK_ST_U64
} lsvk_st_dtype;

#define LSVK_ST_MAX_RANK 8

typedef struct lsvk_st_tensor {
    const char *name;                   /* owned by the file object */
    lsvk_st_dtype dtype;
    uint32_t rank;
    int64_t shape[LSVK_ST_MAX_RANK];
    int64_t numel;
    const void *data;                   /* little-endian bytes inside the file object */
    size_t nbytes;
} lsvk_st_tensor;

/* Every offset, shape and size is checked against the file: anything malformed gives
 * LSVK_ERROR_FORMAT with a message (lsvk_last_error()). */
LSVK_API lsvk_status lsvk_safetensors_open(const char *path, lsvk_safetensors **out);
/* Parses a copy of an in-memory file. */
LSVK_API lsvk_status lsvk_safetensors_open_memory(const void *data, size_t size,
                                                  lsvk_safetensors **out);
LSVK_API void lsvk_safetensors_close(lsvk_safetensors *st);
LSVK_API const char *lsvk_st_dtype_string(lsvk_st_dtype dtype);
/* Tensors in file order of their data offsets. */
LSVK_API size_t lsvk_safetensors_count(const lsvk_safetensors *st);
LSVK_API lsvk_status lsvk_safetensors_at(const lsvk_safetensors *st, size_t index,
                                         lsvk_st_tensor *out);
/* LSVK_ERROR_NOT_FOUND if absent. */
LSVK_API lsvk_status lsvk_safetensors_find(const lsvk_safetensors *st, const char *name,
                                           lsvk_st_tensor *out);
/* Converts a tensor of dtype F32, F16, BF16, F64, I64, I32, U8 or BOOL to float; count must equal
 * its element count. */
LSVK_API lsvk_status lsvk_safetensors_read_f32(const lsvk_safetensors *st, const char *name,
                                               float *dst, size_t count);
/* Value of a __metadata__ key, or NULL. */
LSVK_API const char *lsvk_safetensors_metadata(const lsvk_safetensors *st, const char *key);
LSVK_API size_t lsvk_safetensors_metadata_count(const lsvk_safetensors *st);
LSVK_API lsvk_status lsvk_safetensors_metadata_at(const lsvk_safetensors *st, size_t index,
                                                  const char **key, const char **value);

#ifdef __cplusplus
}
#endif

/* The variants with their own headers. */
#include "lsvk/causal.h"
#include "lsvk/vision.h"

#endif /* LSVK_H */
