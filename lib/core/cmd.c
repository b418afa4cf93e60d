/* Command sequences: dispatches recorded into one command buffer with only the barriers that
 * their data dependencies need, one submit, one wait, optional per-dispatch timestamps. */
#include "core/context.h"

#include <stdlib.h>
#include <string.h>

#define SETS_PER_POOL 128
#define QUERIES_PER_POOL 256 /* two per dispatch */

typedef struct range {
    VkBuffer buffer;
    uint64_t offset, size;
} range;

typedef struct range_set {
    range *items;
    uint32_t count, cap;
} range_set;

typedef enum { CMD_EMPTY, CMD_RECORDING, CMD_READY } cmd_state;

struct lsvk_cmd {
    lsvk_context *ctx;
    uint32_t flags;
    cmd_state state;
    VkCommandBuffer cb;
    VkDescriptorPool *pools;  /* kept across resets; reset with the sequence */
    uint32_t pool_count, pool_used;
    VkQueryPool *qpools;
    uint32_t qpool_count, qpool_used;
    uint32_t dispatches;
    uint32_t barriers;
    range_set reads, writes;  /* accessed since the last barrier */
    const char **labels;      /* per dispatch */
    double *times_ns;         /* per dispatch, after submit */
    double elapsed_ns;        /* first dispatch's start to last dispatch's end */
    uint32_t label_cap;
    bool timed;               /* times_ns valid */
    lsvk_tensor **temps;      /* ops' temporaries, freed with the recording (reset, destroy) */
    uint32_t temp_count;
};

static void free_temps(lsvk_cmd *c) {
    for (uint32_t i = 0; i < c->temp_count; i++) lsvk_tensor_destroy(c->temps[i]);
    c->temp_count = 0;
}

lsvk_status lsvk__cmd_temp(lsvk_cmd *c, uint32_t rank, const int64_t *shape, lsvk_tensor **out) {
    lsvk_tensor **t = realloc(c->temps, (c->temp_count + 1) * sizeof *t);
    if (!t) return lsvk__fail(c->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    c->temps = t;
    LSVK_TRY(lsvk_tensor_create(c->ctx, LSVK_F32, rank, shape, out));
    c->temps[c->temp_count++] = *out;
    return LSVK_SUCCESS;
}

lsvk_context *lsvk__cmd_context(const lsvk_cmd *cmd) { return cmd ? cmd->ctx : NULL; }

lsvk_status lsvk__commands_init(lsvk_context *ctx) {
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = ctx->queue_family};
    VkResult r = ctx->vk.vkCreateCommandPool(ctx->device, &pi, NULL, &ctx->command_pool);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateCommandPool");
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = ctx->vk.vkCreateFence(ctx->device, &fi, NULL, &ctx->fence);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateFence");
    return lsvk_cmd_create(ctx, 0, &ctx->immediate);
}

void lsvk__commands_destroy(lsvk_context *ctx) {
    lsvk_cmd_destroy(ctx->immediate);
    ctx->immediate = NULL;
    if (ctx->fence) ctx->vk.vkDestroyFence(ctx->device, ctx->fence, NULL);
    if (ctx->command_pool) ctx->vk.vkDestroyCommandPool(ctx->device, ctx->command_pool, NULL);
    ctx->fence = VK_NULL_HANDLE;
    ctx->command_pool = VK_NULL_HANDLE;
}

static lsvk_status submit_wait(lsvk_context *ctx, VkCommandBuffer cb) {
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &cb};
    VkResult r = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, ctx->fence);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkQueueSubmit");
    r = ctx->vk.vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, UINT64_MAX);
    VkResult r2 = ctx->vk.vkResetFences(ctx->device, 1, &ctx->fence);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkWaitForFences");
    if (r2 != VK_SUCCESS) return lsvk__vk_fail(ctx, r2, "vkResetFences");
    return LSVK_SUCCESS;
}

lsvk_status lsvk__one_shot(lsvk_context *ctx, void (*fn)(lsvk_context *, VkCommandBuffer, void *),
                           void *user) {
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->command_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkCommandBuffer cb;
    VkResult r = ctx->vk.vkAllocateCommandBuffers(ctx->device, &ai, &cb);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    r = ctx->vk.vkBeginCommandBuffer(cb, &bi);
    lsvk_status s = LSVK_SUCCESS;
    if (r == VK_SUCCESS) {
        /* Earlier submissions' shader writes must be visible to the copy. */
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
        ctx->vk.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                     0, 1, &mb, 0, NULL, 0, NULL);
        fn(ctx, cb, user);
        r = ctx->vk.vkEndCommandBuffer(cb);
    }
    if (r != VK_SUCCESS) s = lsvk__vk_fail(ctx, r, "vkBegin/EndCommandBuffer");
    else s = submit_wait(ctx, cb);
    ctx->vk.vkFreeCommandBuffers(ctx->device, ctx->command_pool, 1, &cb);
    return s;
}

lsvk_status lsvk_cmd_create(lsvk_context *ctx, uint32_t flags, lsvk_cmd **out) {
    if (!out) return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "cmd_create: out is NULL");
    *out = NULL;
    if (!ctx) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "cmd_create: context is NULL");
    if (flags & ~(uint32_t)LSVK_CMD_TIMESTAMPS)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "cmd_create: unknown flags 0x%x", flags);
    if ((flags & LSVK_CMD_TIMESTAMPS) && !ctx->info.timestamps)
        return lsvk__fail(ctx, LSVK_ERROR_UNSUPPORTED,
                          "cmd_create: %s has no timestamps on its compute queue", ctx->info.name);
    lsvk_cmd *c = calloc(1, sizeof *c);
    if (!c) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    c->ctx = ctx;
    c->flags = flags;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->command_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkResult r = ctx->vk.vkAllocateCommandBuffers(ctx->device, &ai, &c->cb);
    if (r != VK_SUCCESS) {
        free(c);
        return lsvk__vk_fail(ctx, r, "vkAllocateCommandBuffers");
    }
    *out = c;
    return LSVK_SUCCESS;
}

void lsvk_cmd_destroy(lsvk_cmd *c) {
    if (!c) return;
    lsvk_context *ctx = c->ctx;
    for (uint32_t i = 0; i < c->pool_count; i++)
        ctx->vk.vkDestroyDescriptorPool(ctx->device, c->pools[i], NULL);
    for (uint32_t i = 0; i < c->qpool_count; i++)
        ctx->vk.vkDestroyQueryPool(ctx->device, c->qpools[i], NULL);
    ctx->vk.vkFreeCommandBuffers(ctx->device, ctx->command_pool, 1, &c->cb);
    free_temps(c);
    free(c->temps);
    free(c->pools);
    free(c->qpools);
    free(c->reads.items);
    free(c->writes.items);
    free(c->labels);
    free(c->times_ns);
    free(c);
}

lsvk_status lsvk_cmd_reset(lsvk_cmd *c) {
    if (!c) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "cmd_reset: NULL");
    lsvk_context *ctx = c->ctx;
    VkResult r = ctx->vk.vkResetCommandBuffer(c->cb, 0);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkResetCommandBuffer");
    for (uint32_t i = 0; i < c->pool_used; i++) ctx->vk.vkResetDescriptorPool(ctx->device, c->pools[i], 0);
    c->pool_used = 0;
    c->qpool_used = 0;
    c->dispatches = 0;
    c->barriers = 0;
    c->reads.count = c->writes.count = 0;
    c->timed = false;
    c->state = CMD_EMPTY;
    free_temps(c);
    return LSVK_SUCCESS;
}

uint32_t lsvk_cmd_dispatch_count(const lsvk_cmd *c) { return c ? c->dispatches : 0; }
uint32_t lsvk__cmd_barrier_count(const lsvk_cmd *c) { return c ? c->barriers : 0; }

static bool grow(void **p, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return true;
    uint32_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return false;
    *p = q;
    *cap = n;
    return true;
}

static bool overlaps(const range_set *s, const range *r) {
    for (uint32_t i = 0; i < s->count; i++) {
        const range *o = &s->items[i];
        if (o->buffer == r->buffer && o->offset < r->offset + r->size && r->offset < o->offset + o->size)
            return true;
    }
    return false;
}

static bool add_range(range_set *s, const range *r) {
    if (!grow((void **)&s->items, &s->cap, s->count + 1, sizeof *r)) return false;
    s->items[s->count++] = *r;
    return true;
}

static lsvk_status begin_if_needed(lsvk_cmd *c) {
    if (c->state == CMD_READY)
        return lsvk__fail(c->ctx, LSVK_ERROR_STATE,
                          "command sequence was submitted: call lsvk_cmd_reset before recording again");
    if (c->state == CMD_RECORDING) return LSVK_SUCCESS;
    lsvk_context *ctx = c->ctx;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VkResult r = ctx->vk.vkBeginCommandBuffer(c->cb, &bi);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkBeginCommandBuffer");
    /* Writes of earlier submissions (shaders, copies) become visible to this one. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    ctx->vk.vkCmdPipelineBarrier(c->cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    c->state = CMD_RECORDING;
    return LSVK_SUCCESS;
}

static lsvk_status descriptor_set(lsvk_cmd *c, VkDescriptorSetLayout layout, VkDescriptorSet *out) {
    lsvk_context *ctx = c->ctx;
    while (true) {
        if (c->pool_used > 0) {
            VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                              .descriptorPool = c->pools[c->pool_used - 1],
                                              .descriptorSetCount = 1,
                                              .pSetLayouts = &layout};
            VkResult r = ctx->vk.vkAllocateDescriptorSets(ctx->device, &ai, out);
            if (r == VK_SUCCESS) return LSVK_SUCCESS;
            if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
                return lsvk__vk_fail(ctx, r, "vkAllocateDescriptorSets");
        }
        if (c->pool_used == c->pool_count) {
            uint32_t cap = c->pool_count;
            VkDescriptorPool *np = realloc(c->pools, (cap + 1) * sizeof *np);
            if (!np) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            c->pools = np;
            VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * LSVK_MAX_BINDINGS};
            VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                             .maxSets = SETS_PER_POOL,
                                             .poolSizeCount = 1,
                                             .pPoolSizes = &size};
            VkResult r = ctx->vk.vkCreateDescriptorPool(ctx->device, &pi, NULL, &c->pools[cap]);
            if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateDescriptorPool");
            c->pool_count++;
        }
        c->pool_used++;
    }
}

static lsvk_status query_slot(lsvk_cmd *c, VkQueryPool *pool, uint32_t *first) {
    lsvk_context *ctx = c->ctx;
    uint32_t q = 2 * c->dispatches;
    uint32_t k = q / QUERIES_PER_POOL;
    if (k >= c->qpool_count) {
        VkQueryPool *np = realloc(c->qpools, (k + 1) * sizeof *np);
        if (!np) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        c->qpools = np;
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = QUERIES_PER_POOL};
        VkResult r = ctx->vk.vkCreateQueryPool(ctx->device, &qi, NULL, &c->qpools[k]);
        if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateQueryPool");
        c->qpool_count = k + 1;
    }
    if (k >= c->qpool_used) {
        ctx->vk.vkCmdResetQueryPool(c->cb, c->qpools[k], 0, QUERIES_PER_POOL);
        c->qpool_used = k + 1;
    }
    *pool = c->qpools[k];
    *first = q % QUERIES_PER_POOL;
    return LSVK_SUCCESS;
}

lsvk_status lsvk__cmd_record(lsvk_cmd *c, const lsvk_dispatch *d) {
    lsvk_context *ctx = c->ctx;
    if (d->buffer_count > LSVK_MAX_BINDINGS || d->push_size > LSVK_PUSH_BYTES)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "dispatch %s: too many bindings or push bytes",
                          d->shader->name);
    uint32_t groups[3];
    for (int i = 0; i < 3; i++) {
        groups[i] = d->groups[i] ? d->groups[i] : 1;
        if (groups[i] > ctx->info.max_workgroup_count[i])
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "dispatch %s: %u workgroups in dimension %d exceed the device's "
                              "maxComputeWorkGroupCount[%d] (%u)",
                              d->shader->name, groups[i], i, i, ctx->info.max_workgroup_count[i]);
    }
    for (uint32_t i = 0; i < d->buffer_count; i++) {
        const lsvk_tensor *t = d->buffers[i];
        if (!t || t->ctx != ctx)
            return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT,
                              "dispatch %s: binding %u is NULL or from another context", d->shader->name, i);
        /* ops split larger tensors before they get here; this guards against one that did not */
        if (t->bytes > ctx->info.max_storage_buffer_range ||
            (ctx->info.min_storage_buffer_alignment && t->offset % ctx->info.min_storage_buffer_alignment))
            return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED,
                              "dispatch %s: binding %u (%llu bytes at offset %llu) is past the device's "
                              "maxStorageBufferRange (%llu) or minStorageBufferOffsetAlignment (%llu)",
                              d->shader->name, i, (unsigned long long)t->bytes, (unsigned long long)t->offset,
                              (unsigned long long)ctx->info.max_storage_buffer_range,
                              (unsigned long long)ctx->info.min_storage_buffer_alignment);
    }
    const lsvk_pipeline *p;
    LSVK_TRY(lsvk__pipeline_get(ctx, d->shader, d->spec, d->spec_count, d->buffer_count, &p));
    LSVK_TRY(begin_if_needed(c));
    if (!grow((void **)&c->labels, &c->label_cap, c->dispatches + 1, sizeof *c->labels))
        return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");

    VkDescriptorSet set;
    LSVK_TRY(descriptor_set(c, p->set_layout, &set));
    VkDescriptorBufferInfo bi[LSVK_MAX_BINDINGS];
    VkWriteDescriptorSet w[LSVK_MAX_BINDINGS];
    range rs[LSVK_MAX_BINDINGS];
    bool hazard = false;
    for (uint32_t i = 0; i < d->buffer_count; i++) {
        const lsvk_tensor *t = d->buffers[i];
        bi[i] = (VkDescriptorBufferInfo){t->block->buffer, t->offset, t->bytes};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = set,
                                      .dstBinding = i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
        rs[i] = (range){t->block->buffer, t->offset, t->bytes};
        bool writes = (d->write_mask >> i) & 1;
        /* read-after-write, write-after-write, write-after-read */
        if (overlaps(&c->writes, &rs[i]) || (writes && overlaps(&c->reads, &rs[i]))) hazard = true;
    }
    if (d->buffer_count) ctx->vk.vkUpdateDescriptorSets(ctx->device, d->buffer_count, w, 0, NULL);

    if (hazard) {
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
        ctx->vk.vkCmdPipelineBarrier(c->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
        c->reads.count = c->writes.count = 0;
        c->barriers++;
    }
    for (uint32_t i = 0; i < d->buffer_count; i++)
        if (!add_range(((d->write_mask >> i) & 1) ? &c->writes : &c->reads, &rs[i]))
            return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");

    VkQueryPool qp = VK_NULL_HANDLE;
    uint32_t q0 = 0;
    if (c->flags & LSVK_CMD_TIMESTAMPS) {
        LSVK_TRY(query_slot(c, &qp, &q0));
        ctx->vk.vkCmdWriteTimestamp(c->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, qp, q0);
    }
    ctx->vk.vkCmdBindPipeline(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    ctx->vk.vkCmdBindDescriptorSets(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    if (d->push_size)
        ctx->vk.vkCmdPushConstants(c->cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, d->push_size, d->push);
    ctx->vk.vkCmdDispatch(c->cb, groups[0], groups[1], groups[2]);
    if (qp) ctx->vk.vkCmdWriteTimestamp(c->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, qp, q0 + 1);
    c->labels[c->dispatches++] = d->label ? d->label : d->shader->name;
    return LSVK_SUCCESS;
}

static lsvk_status read_timings(lsvk_cmd *c) {
    lsvk_context *ctx = c->ctx;
    double *t = realloc(c->times_ns, (c->dispatches ? c->dispatches : 1) * sizeof *t);
    if (!t) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    c->times_ns = t;
    uint64_t q[QUERIES_PER_POOL], first_ts = 0, last_ts = 0;
    for (uint32_t k = 0; k < c->qpool_used; k++) {
        uint32_t first = k * QUERIES_PER_POOL;
        uint32_t n = 2 * c->dispatches - first;
        if (n > QUERIES_PER_POOL) n = QUERIES_PER_POOL;
        VkResult r = ctx->vk.vkGetQueryPoolResults(ctx->device, c->qpools[k], 0, n, sizeof q, q,
                                                   sizeof q[0],
                                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkGetQueryPoolResults");
        for (uint32_t i = 0; i + 1 < n; i += 2)
            t[(first + i) / 2] = (double)(q[i + 1] - q[i]) * ctx->info.timestamp_period_ns;
        if (k == 0) first_ts = q[0];
        if (n >= 2) last_ts = q[n - 1];
    }
    c->elapsed_ns = (double)(last_ts - first_ts) * ctx->info.timestamp_period_ns;
    c->timed = true;
    return LSVK_SUCCESS;
}

lsvk_status lsvk_cmd_submit(lsvk_cmd *c) {
    if (!c) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "cmd_submit: NULL");
    lsvk_context *ctx = c->ctx;
    if (c->state == CMD_EMPTY) return LSVK_SUCCESS;
    if (c->state == CMD_RECORDING) {
        /* Results become visible to the host (downloads read mapped memory directly). */
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
        ctx->vk.vkCmdPipelineBarrier(c->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                                     0, 1, &mb, 0, NULL, 0, NULL);
        VkResult r = ctx->vk.vkEndCommandBuffer(c->cb);
        if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkEndCommandBuffer");
        c->state = CMD_READY;
    }
    LSVK_TRY(submit_wait(ctx, c->cb));
    if (c->flags & LSVK_CMD_TIMESTAMPS) LSVK_TRY(read_timings(c));
    return LSVK_SUCCESS;
}

lsvk_status lsvk_cmd_timing(const lsvk_cmd *c, uint32_t i, const char **name, double *ns) {
    if (!c) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "cmd_timing: NULL");
    if (!(c->flags & LSVK_CMD_TIMESTAMPS))
        return lsvk__fail(c->ctx, LSVK_ERROR_STATE, "cmd_timing: sequence created without LSVK_CMD_TIMESTAMPS");
    if (!c->timed) return lsvk__fail(c->ctx, LSVK_ERROR_STATE, "cmd_timing: sequence not submitted yet");
    if (i >= c->dispatches)
        return lsvk__fail(c->ctx, LSVK_ERROR_INVALID_ARGUMENT, "cmd_timing: dispatch %u of %u", i, c->dispatches);
    if (name) *name = c->labels[i];
    if (ns) *ns = c->times_ns[i];
    return LSVK_SUCCESS;
}

lsvk_status lsvk_cmd_elapsed(const lsvk_cmd *c, double *nanoseconds) {
    if (!c || !nanoseconds) return lsvk__fail(c ? c->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "cmd_elapsed: NULL");
    if (!(c->flags & LSVK_CMD_TIMESTAMPS))
        return lsvk__fail(c->ctx, LSVK_ERROR_STATE, "cmd_elapsed: sequence created without LSVK_CMD_TIMESTAMPS");
    if (!c->timed) return lsvk__fail(c->ctx, LSVK_ERROR_STATE, "cmd_elapsed: sequence not submitted yet");
    *nanoseconds = c->dispatches ? c->elapsed_ns : 0.0;
    return LSVK_SUCCESS;
}

lsvk_status lsvk__op_begin(lsvk_context *ctx, lsvk_cmd *cmd, lsvk_cmd **use, bool *immediate) {
    *use = NULL;
    *immediate = false;
    if (!ctx) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "tensor is NULL");
    if (cmd) {
        if (cmd->ctx != ctx)
            return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "command sequence belongs to another context");
        if (cmd->state == CMD_READY)
            return lsvk__fail(ctx, LSVK_ERROR_STATE,
                              "command sequence was submitted: call lsvk_cmd_reset before recording again");
        *use = cmd;
        return LSVK_SUCCESS;
    }
    LSVK_TRY(lsvk_cmd_reset(ctx->immediate));
    *use = ctx->immediate;
    *immediate = true;
    return LSVK_SUCCESS;
}

lsvk_status lsvk__op_end(lsvk_cmd *use, bool immediate, lsvk_status status) {
    if (!immediate) return status;
    if (status == LSVK_SUCCESS) status = lsvk_cmd_submit(use);
    lsvk_status r = lsvk_cmd_reset(use);
    return status != LSVK_SUCCESS ? status : r;
}
