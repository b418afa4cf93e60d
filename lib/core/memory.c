/* Device memory: large blocks, each one VkBuffer, suballocated first-fit with coalescing. */
#include "core/context.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BLOCK (64ull << 20)
#define KEEP_EMPTY_BLOCKS 1 /* avoid vkAllocateMemory churn when tensors come and go */

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static int find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits,
                     VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

lsvk_status lsvk__memory_init(lsvk_context *ctx) {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(ctx->physical, &mp);
    /* Which memory types can back a storage buffer: ask with a probe buffer. */
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = 256,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkBuffer probe;
    VkResult r = ctx->vk.vkCreateBuffer(ctx->device, &bi, NULL, &probe);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateBuffer");
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, probe, &req);
    ctx->vk.vkDestroyBuffer(ctx->device, probe, NULL);

    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = -1;
    bool uma = ctx->info.type == LSVK_DEVICE_TYPE_INTEGRATED ||
               ctx->info.type == LSVK_DEVICE_TYPE_CPU;
    /* LSVK_FORCE_STAGING=1 takes the discrete-GPU path on any device, so UMA machines test it. */
    const char *force = getenv("LSVK_FORCE_STAGING");
    bool staging = force && *force && strcmp(force, "0") != 0;
    if (uma && !staging) t = find_type(&mp, req.memoryTypeBits, local | host);
    ctx->direct_map = t >= 0;
    if (t < 0) t = find_type(&mp, req.memoryTypeBits, local);
    if (t < 0 && !staging) {
        t = find_type(&mp, req.memoryTypeBits, host);
        ctx->direct_map = t >= 0;
    }
    if (t < 0) t = find_type(&mp, req.memoryTypeBits, 0);
    if (t < 0) return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "no memory type can hold a storage buffer");
    ctx->memory_type = (uint32_t)t;
    ctx->heap_size = mp.memoryHeaps[mp.memoryTypes[t].heapIndex].size;
    if (!ctx->direct_map) {
        int st = find_type(&mp, req.memoryTypeBits, host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        if (st < 0) st = find_type(&mp, req.memoryTypeBits, host);
        if (st < 0) return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "no host-visible memory for staging");
        ctx->staging_type = (uint32_t)st;
    }
    ctx->alignment = req.alignment;
    if (ctx->info.min_storage_buffer_alignment > ctx->alignment)
        ctx->alignment = ctx->info.min_storage_buffer_alignment;
    if (ctx->alignment < 64) ctx->alignment = 64;

    uint64_t bs = ctx->block_size ? ctx->block_size : DEFAULT_BLOCK;
    if (bs > ctx->info.max_memory_allocation_size) bs = ctx->info.max_memory_allocation_size;
    if (bs > ctx->heap_size / 4) bs = ctx->heap_size / 4;
    ctx->block_size = align_up(bs < (1u << 20) ? (1u << 20) : bs, ctx->alignment);
    return LSVK_SUCCESS;
}

lsvk_status lsvk__memory_dummy(lsvk_context *ctx) {
    int64_t n = 16;
    float zeros[16] = {0};
    LSVK_TRY(lsvk_tensor_create(ctx, LSVK_F32, 1, &n, &ctx->dummy));
    return lsvk_tensor_upload(ctx->dummy, zeros, sizeof zeros);
}

static void block_free(lsvk_context *ctx, lsvk_block *b) {
    for (lsvk_range *r = b->free_list, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    if (b->buffer) ctx->vk.vkDestroyBuffer(ctx->device, b->buffer, NULL);
    if (b->memory) ctx->vk.vkFreeMemory(ctx->device, b->memory, NULL);
    ctx->allocated -= b->size;
    free(b);
}

static void staging_free(lsvk_context *ctx) {
    if (ctx->staging_buffer) ctx->vk.vkDestroyBuffer(ctx->device, ctx->staging_buffer, NULL);
    if (ctx->staging_memory) ctx->vk.vkFreeMemory(ctx->device, ctx->staging_memory, NULL);
    ctx->staging_buffer = VK_NULL_HANDLE;
    ctx->staging_memory = VK_NULL_HANDLE;
    ctx->staging_mapped = NULL;
    ctx->staging_size = 0;
}

void lsvk__memory_destroy(lsvk_context *ctx) {
    lsvk_tensor_destroy(ctx->dummy);
    ctx->dummy = NULL;
    while (ctx->blocks) {
        lsvk_block *b = ctx->blocks;
        ctx->blocks = b->next;
        block_free(ctx, b);
    }
    staging_free(ctx);
}

static lsvk_status make_buffer(lsvk_context *ctx, uint64_t size, uint32_t type, VkBufferUsageFlags usage,
                               VkBuffer *buf, VkDeviceMemory *mem, void **mapped) {
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = usage,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = ctx->vk.vkCreateBuffer(ctx->device, &bi, NULL, buf);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateBuffer");
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, *buf, &req);
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = type};
    r = ctx->vk.vkAllocateMemory(ctx->device, &ai, NULL, mem);
    if (r == VK_SUCCESS) r = ctx->vk.vkBindBufferMemory(ctx->device, *buf, *mem, 0);
    if (r == VK_SUCCESS && mapped) r = ctx->vk.vkMapMemory(ctx->device, *mem, 0, VK_WHOLE_SIZE, 0, mapped);
    if (r != VK_SUCCESS) {
        ctx->vk.vkDestroyBuffer(ctx->device, *buf, NULL);
        if (*mem) ctx->vk.vkFreeMemory(ctx->device, *mem, NULL);
        *buf = VK_NULL_HANDLE;
        *mem = VK_NULL_HANDLE;
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_DEVICE_MEMORY,
                              "vkAllocateMemory of %llu bytes failed: out of device memory",
                              (unsigned long long)size);
        return lsvk__vk_fail(ctx, r, "vkAllocateMemory/vkBindBufferMemory/vkMapMemory");
    }
    return LSVK_SUCCESS;
}

static lsvk_status block_new(lsvk_context *ctx, uint64_t size, bool dedicated, lsvk_block **out) {
    lsvk_block *b = calloc(1, sizeof *b);
    lsvk_range *fr = calloc(1, sizeof *fr);
    if (!b || !fr) {
        free(b);
        free(fr);
        return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    lsvk_status s = make_buffer(ctx, size, ctx->memory_type,
                                VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                    VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                &b->buffer, &b->memory, ctx->direct_map ? &b->mapped : NULL);
    if (s != LSVK_SUCCESS) {
        free(b);
        free(fr);
        return s;
    }
    fr->size = size;
    b->free_list = fr;
    b->size = size;
    b->dedicated = dedicated;
    b->next = ctx->blocks;
    ctx->blocks = b;
    ctx->allocated += size;
    *out = b;
    return LSVK_SUCCESS;
}

/* First fit; splits the range. */
static bool block_take(lsvk_block *b, uint64_t size, uint64_t *offset) {
    for (lsvk_range **pr = &b->free_list; *pr; pr = &(*pr)->next) {
        lsvk_range *r = *pr;
        if (r->size < size) continue;
        *offset = r->offset;
        r->offset += size;
        r->size -= size;
        if (r->size == 0) {
            *pr = r->next;
            free(r);
        }
        b->used += size;
        return true;
    }
    return false;
}

/* Returns a range, merging with its neighbours. false only when out of host memory. */
static bool block_give(lsvk_block *b, uint64_t offset, uint64_t size) {
    lsvk_range *prev = NULL, *cur = b->free_list;
    while (cur && cur->offset < offset) {
        prev = cur;
        cur = cur->next;
    }
    b->used -= size;
    if (prev && prev->offset + prev->size == offset) {
        prev->size += size;
        if (cur && prev->offset + prev->size == cur->offset) {
            prev->size += cur->size;
            prev->next = cur->next;
            free(cur);
        }
        return true;
    }
    if (cur && offset + size == cur->offset) {
        cur->offset = offset;
        cur->size += size;
        return true;
    }
    lsvk_range *n = malloc(sizeof *n);
    if (!n) return false; /* the range is lost to this block, nothing else breaks */
    n->offset = offset;
    n->size = size;
    n->next = cur;
    if (prev) prev->next = n;
    else b->free_list = n;
    return true;
}

static size_t dtype_size(lsvk_dtype d) { return d == LSVK_F16 ? 2 : 4; }

lsvk_status lsvk_tensor_create(lsvk_context *ctx, lsvk_dtype dtype, uint32_t rank,
                               const int64_t *shape, lsvk_tensor **out) {
    if (!out) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "tensor_create: out is NULL");
    *out = NULL;
    if (!ctx) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "tensor_create: context is NULL");
    if (dtype == LSVK_F16)
        return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED, "tensor_create: F16 tensors are not implemented yet");
    if (dtype != LSVK_F32)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "tensor_create: unknown dtype %d", (int)dtype);
    if (rank < 1 || rank > LSVK_MAX_RANK || !shape)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "tensor_create: rank %u not in 1..%d", rank, LSVK_MAX_RANK);
    int64_t numel = 1;
    for (uint32_t i = 0; i < rank; i++) {
        if (shape[i] < 1)
            return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "tensor_create: dimension %u is %lld (must be >= 1)",
                              i, (long long)shape[i]);
        if (numel > INT64_MAX / 8 / shape[i])
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "tensor_create: element count overflows");
        numel *= shape[i];
    }
    uint64_t bytes = (uint64_t)numel * dtype_size(dtype);
    const lsvk_device_info *di = &ctx->info;
    /* Larger than maxStorageBufferRange is allowed: ops that split their work bind it in parts,
     * the others refuse it (lsvk__op_check). */
    uint64_t size = align_up(bytes, ctx->alignment);
    if (size > di->max_memory_allocation_size)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                          "tensor of %llu bytes exceeds the device's maxMemoryAllocationSize (%llu bytes)",
                          (unsigned long long)bytes, (unsigned long long)di->max_memory_allocation_size);

    lsvk_tensor *t = calloc(1, sizeof *t);
    if (!t) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    t->ctx = ctx;
    t->dtype = dtype;
    t->rank = rank;
    for (uint32_t i = 0; i < LSVK_MAX_RANK; i++) t->shape[i] = i < rank ? shape[i] : 1;
    t->numel = numel;
    t->bytes = bytes;
    t->alloc_size = size;

    bool dedicated = size > ctx->block_size / 2;
    if (!dedicated)
        for (lsvk_block *b = ctx->blocks; b; b = b->next)
            if (!b->dedicated && block_take(b, size, &t->offset)) {
                t->block = b;
                break;
            }
    if (!t->block) {
        uint64_t bsize = dedicated ? size : ctx->block_size;
        if (ctx->allocated + bsize > ctx->heap_size) {
            free(t);
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "tensor of %llu bytes does not fit in the device heap (%llu bytes, "
                              "%llu in use)",
                              (unsigned long long)bytes, (unsigned long long)ctx->heap_size,
                              (unsigned long long)ctx->allocated);
        }
        lsvk_block *b = NULL;
        lsvk_status s = block_new(ctx, bsize, dedicated, &b);
        if (s != LSVK_SUCCESS) {
            free(t);
            return s;
        }
        block_take(b, size, &t->offset);
        t->block = b;
    }
    ctx->tensor_bytes += size;
    if (ctx->tensor_bytes > ctx->tensor_peak) ctx->tensor_peak = ctx->tensor_bytes;
    *out = t;
    return LSVK_SUCCESS;
}

void lsvk_tensor_destroy(lsvk_tensor *t) {
    if (!t) return;
    lsvk_context *ctx = t->ctx;
    lsvk_block *b = t->block;
    ctx->tensor_bytes -= t->alloc_size;
    block_give(b, t->offset, t->alloc_size);
    if (b->used == 0) {
        unsigned empty = 0;
        for (lsvk_block *o = ctx->blocks; o; o = o->next)
            if (o != b && o->used == 0 && !o->dedicated) empty++;
        if (b->dedicated || empty >= KEEP_EMPTY_BLOCKS) {
            for (lsvk_block **p = &ctx->blocks; *p; p = &(*p)->next)
                if (*p == b) {
                    *p = b->next;
                    break;
                }
            block_free(ctx, b);
        }
    }
    free(t);
}

lsvk_status lsvk_tensor_reshape(lsvk_tensor *t, uint32_t rank, const int64_t *shape) {
    if (!t || !shape) return lsvk__fail(t ? t->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "tensor_reshape: NULL argument");
    if (rank < 1 || rank > LSVK_MAX_RANK)
        return lsvk__fail(t->ctx, LSVK_ERROR_SHAPE, "tensor_reshape: rank %u not in 1..%d", rank, LSVK_MAX_RANK);
    int64_t numel = 1;
    for (uint32_t i = 0; i < rank; i++) {
        if (shape[i] < 1 || numel > t->numel / shape[i])
            return lsvk__fail(t->ctx, LSVK_ERROR_SHAPE, "tensor_reshape: dimension %u = %lld does not fit %lld elements",
                              i, (long long)shape[i], (long long)t->numel);
        numel *= shape[i];
    }
    if (numel != t->numel)
        return lsvk__fail(t->ctx, LSVK_ERROR_SHAPE, "tensor_reshape: %lld elements into a shape of %lld",
                          (long long)t->numel, (long long)numel);
    t->rank = rank;
    for (uint32_t i = 0; i < LSVK_MAX_RANK; i++) t->shape[i] = i < rank ? shape[i] : 1;
    return LSVK_SUCCESS;
}

uint32_t lsvk_tensor_rank(const lsvk_tensor *t) { return t ? t->rank : 0; }
int64_t lsvk_tensor_dim(const lsvk_tensor *t, uint32_t axis) {
    return t && axis < t->rank ? t->shape[axis] : 0;
}
int64_t lsvk_tensor_numel(const lsvk_tensor *t) { return t ? t->numel : 0; }
lsvk_dtype lsvk_tensor_dtype(const lsvk_tensor *t) { return t ? t->dtype : LSVK_F32; }

void lsvk_context_memory_usage(const lsvk_context *ctx, uint64_t *current, uint64_t *peak, uint64_t *blocks) {
    if (current) *current = ctx ? ctx->tensor_bytes : 0;
    if (peak) *peak = ctx ? ctx->tensor_peak : 0;
    if (blocks) *blocks = ctx ? ctx->allocated : 0;
}

void lsvk_context_reset_peak_memory(lsvk_context *ctx) {
    if (ctx) ctx->tensor_peak = ctx->tensor_bytes;
}

/* ------------------------------------------------------------ host transfers */

#define STAGING_MAX (64ull << 20) /* larger transfers go in pieces */

static lsvk_status staging_reserve(lsvk_context *ctx, uint64_t bytes) {
    if (ctx->staging_size >= bytes) return LSVK_SUCCESS;
    staging_free(ctx);
    uint64_t size = bytes < (1u << 20) ? (1u << 20) : bytes;
    LSVK_TRY(make_buffer(ctx, size, ctx->staging_type,
                         VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                         &ctx->staging_buffer, &ctx->staging_memory, &ctx->staging_mapped));
    ctx->staging_size = size;
    return LSVK_SUCCESS;
}

typedef struct copy_job {
    VkBuffer src, dst;
    VkBufferCopy region;
    bool to_device;
} copy_job;

static void record_copy(lsvk_context *ctx, VkCommandBuffer cb, void *user) {
    copy_job *j = user;
    ctx->vk.vkCmdCopyBuffer(cb, j->src, j->dst, 1, &j->region);
    /* Make the copy visible to later shaders (upload) or to the host (download). */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = j->to_device ? VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT
                                                        : VK_ACCESS_HOST_READ_BIT};
    ctx->vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                 j->to_device ? VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT
                                              : VK_PIPELINE_STAGE_HOST_BIT,
                                 0, 1, &mb, 0, NULL, 0, NULL);
}

static lsvk_status transfer(lsvk_context *ctx, const lsvk_tensor *t, uint64_t at, void *host,
                            uint64_t bytes, bool to_device) {
    if (ctx->direct_map) {
        char *dev = (char *)t->block->mapped + t->offset + at;
        if (to_device) memcpy(dev, host, bytes);
        else memcpy(host, dev, bytes);
        return LSVK_SUCCESS;
    }
    for (uint64_t done = 0; done < bytes;) {
        uint64_t n = bytes - done < STAGING_MAX ? bytes - done : STAGING_MAX;
        LSVK_TRY(staging_reserve(ctx, n));
        copy_job j = {.to_device = to_device};
        if (to_device) {
            memcpy(ctx->staging_mapped, (char *)host + done, n);
            j.src = ctx->staging_buffer;
            j.dst = t->block->buffer;
            j.region = (VkBufferCopy){0, t->offset + at + done, n};
        } else {
            j.src = t->block->buffer;
            j.dst = ctx->staging_buffer;
            j.region = (VkBufferCopy){t->offset + at + done, 0, n};
        }
        LSVK_TRY(lsvk__one_shot(ctx, record_copy, &j));
        if (!to_device) memcpy((char *)host + done, ctx->staging_mapped, n);
        done += n;
    }
    return LSVK_SUCCESS;
}

static lsvk_status check_transfer(const lsvk_tensor *t, const void *data, size_t bytes, const char *what) {
    if (!t) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: tensor is NULL", what);
    if (!data) return lsvk__fail(t->ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: data is NULL", what);
    if (bytes != t->bytes)
        return lsvk__fail(t->ctx, LSVK_ERROR_SHAPE, "%s: %zu bytes given, the tensor holds %llu", what,
                          bytes, (unsigned long long)t->bytes);
    return LSVK_SUCCESS;
}

lsvk_status lsvk_tensor_upload(lsvk_tensor *t, const void *data, size_t bytes) {
    LSVK_TRY(check_transfer(t, data, bytes, "tensor_upload"));
    return transfer(t->ctx, t, 0, (void *)data, bytes, true);
}

lsvk_status lsvk__tensor_upload_range(lsvk_tensor *t, uint64_t offset, const void *data, uint64_t bytes) {
    if (offset > t->bytes || bytes > t->bytes - offset)
        return lsvk__fail(t->ctx, LSVK_ERROR_INVALID_ARGUMENT, "upload of %llu bytes at %llu past a %llu-byte tensor",
                          (unsigned long long)bytes, (unsigned long long)offset, (unsigned long long)t->bytes);
    return transfer(t->ctx, t, offset, (void *)data, bytes, true);
}

lsvk_status lsvk_tensor_download(const lsvk_tensor *t, void *data, size_t bytes) {
    LSVK_TRY(check_transfer(t, data, bytes, "tensor_download"));
    return transfer(t->ctx, t, 0, data, bytes, false);
}

const lsvk_tensor *lsvk__dummy_tensor(lsvk_context *ctx) { return ctx->dummy; }
