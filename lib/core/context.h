/* The context and the Vulkan-side objects behind the public handles. Internal. */
#ifndef LSVK_CONTEXT_H
#define LSVK_CONTEXT_H

#include "core/internal.h"

#include <volk.h>

typedef struct lsvk_block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    uint64_t size;
    void *mapped;                 /* non-NULL when host-visible */
    struct lsvk_range *free_list; /* sorted by offset, coalesced */
    uint64_t used;
    bool dedicated;               /* holds one large tensor; freed when it is */
    struct lsvk_block *next;
} lsvk_block;

typedef struct lsvk_range {
    uint64_t offset, size;
    struct lsvk_range *next;
} lsvk_range;

typedef struct lsvk_pipeline {
    const lsvk_shader *shader;
    uint32_t spec[LSVK_MAX_SPEC];
    uint32_t spec_count;
    uint32_t binding_count;
    VkPipeline pipeline;
    VkPipelineLayout layout;      /* borrowed from the context, per binding count */
    VkDescriptorSetLayout set_layout;
    struct lsvk_pipeline *next;
} lsvk_pipeline;

struct lsvk_context {
    char error[1024];
    lsvk_device_info info;

    /* Vulkan objects; the imported ones are never destroyed. */
    bool owns_instance, owns_device;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    struct VolkDeviceTable vk;

    /* validation */
    bool validation;
    uint32_t validation_messages;
    lsvk_message_fn message_fn;
    void *message_user;

    /* memory */
    uint32_t memory_type;         /* for tensors */
    bool direct_map;              /* tensors' memory is host-visible: no staging */
    uint32_t staging_type;        /* host-visible coherent type for staging */
    uint64_t block_size;
    uint64_t alignment;
    uint64_t heap_size;           /* of the tensors' heap */
    uint64_t allocated;           /* bytes in blocks */
    uint64_t tensor_bytes, tensor_peak; /* bytes reserved by live tensors, and their peak */
    lsvk_block *blocks;
    lsvk_tensor *dummy;
    /* staging buffer (discrete devices), grown on demand */
    VkBuffer staging_buffer;
    VkDeviceMemory staging_memory;
    void *staging_mapped;
    uint64_t staging_size;

    /* pipelines */
    VkPipelineCache pipeline_cache;
    VkDescriptorSetLayout set_layouts[LSVK_MAX_BINDINGS + 1];
    VkPipelineLayout layouts[LSVK_MAX_BINDINGS + 1];
    lsvk_pipeline *pipelines;

    /* commands */
    VkCommandPool command_pool;
    VkFence fence;
    lsvk_cmd *immediate;
};

/* Vulkan call failure -> status + message naming the call. */
lsvk_status lsvk__vk_fail(const lsvk_context *ctx, VkResult r, const char *what);
const char *lsvk__vk_result_string(VkResult r);

/* memory.c */
lsvk_status lsvk__memory_init(lsvk_context *ctx);
void lsvk__memory_destroy(lsvk_context *ctx);
/* Creates the zero-filled dummy tensor (needs commands for the staging path). */
lsvk_status lsvk__memory_dummy(lsvk_context *ctx);
/* Host-side access to a tensor's bytes for direct-mapped memory, else through staging. */
lsvk_status lsvk__copy_to_device(lsvk_context *ctx, const lsvk_tensor *t, const void *src,
                                 uint64_t bytes);
lsvk_status lsvk__copy_from_device(lsvk_context *ctx, const lsvk_tensor *t, void *dst,
                                   uint64_t bytes);

/* pipeline.c */
lsvk_status lsvk__pipelines_init(lsvk_context *ctx, const char *cache_path);
void lsvk__pipelines_destroy(lsvk_context *ctx);
lsvk_status lsvk__pipeline_get(lsvk_context *ctx, const lsvk_shader *shader, const uint32_t *spec,
                               uint32_t spec_count, uint32_t binding_count,
                               const lsvk_pipeline **out);

/* cmd.c */
lsvk_status lsvk__commands_init(lsvk_context *ctx);
void lsvk__commands_destroy(lsvk_context *ctx);
/* Runs fn to record into a one-off command buffer, submits it and waits (staging copies). */
lsvk_status lsvk__one_shot(lsvk_context *ctx, void (*fn)(lsvk_context *, VkCommandBuffer, void *),
                           void *user);

#endif
