/* Compute pipelines: built on first use, cached by (shader, specialization constants), backed by
 * a VkPipelineCache that can be loaded from and saved to a file. */
#include "core/context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cache file is used only if its header names this device (the driver must check too, but a
 * stale file from another GPU should not even reach it). */
static bool cache_header_matches(const lsvk_context *ctx, const unsigned char *data, size_t size) {
    if (size < 32) return false;
    uint32_t hlen, version, vendor, device;
    memcpy(&hlen, data, 4);
    memcpy(&version, data + 4, 4);
    memcpy(&vendor, data + 8, 4);
    memcpy(&device, data + 12, 4);
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(ctx->physical, &p);
    return hlen >= 32 && version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && vendor == p.vendorID &&
           device == p.deviceID && memcmp(data + 16, p.pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *size = buf ? (size_t)n : 0;
    return buf;
}

lsvk_status lsvk__pipelines_init(lsvk_context *ctx, const char *cache_path) {
    size_t size = 0;
    unsigned char *data = cache_path ? read_file(cache_path, &size) : NULL;
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    if (data && cache_header_matches(ctx, data, size)) {
        ci.initialDataSize = size;
        ci.pInitialData = data;
    }
    VkResult r = ctx->vk.vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    free(data);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreatePipelineCache");
    return LSVK_SUCCESS;
}

void lsvk__pipelines_destroy(lsvk_context *ctx) {
    for (lsvk_pipeline *p = ctx->pipelines, *n; p; p = n) {
        n = p->next;
        ctx->vk.vkDestroyPipeline(ctx->device, p->pipeline, NULL);
        free(p);
    }
    ctx->pipelines = NULL;
    for (uint32_t i = 0; i <= LSVK_MAX_BINDINGS; i++) {
        if (ctx->layouts[i]) ctx->vk.vkDestroyPipelineLayout(ctx->device, ctx->layouts[i], NULL);
        if (ctx->set_layouts[i])
            ctx->vk.vkDestroyDescriptorSetLayout(ctx->device, ctx->set_layouts[i], NULL);
        ctx->layouts[i] = VK_NULL_HANDLE;
        ctx->set_layouts[i] = VK_NULL_HANDLE;
    }
    if (ctx->pipeline_cache) ctx->vk.vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
    ctx->pipeline_cache = VK_NULL_HANDLE;
}

lsvk_status lsvk_context_save_pipeline_cache(lsvk_context *ctx, const char *path) {
    if (!ctx || !path)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "save_pipeline_cache: NULL argument");
    size_t size = 0;
    VkResult r = ctx->vk.vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, NULL);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkGetPipelineCacheData");
    void *data = malloc(size ? size : 1);
    if (!data) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    r = ctx->vk.vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, data);
    if (r != VK_SUCCESS) {
        free(data);
        return lsvk__vk_fail(ctx, r, "vkGetPipelineCacheData");
    }
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f) != 0) ok = false;
    free(data);
    if (!ok) return lsvk__fail(ctx, LSVK_ERROR_IO, "cannot write pipeline cache '%s'", path);
    return LSVK_SUCCESS;
}

/* Set layout with n storage buffers at bindings 0..n-1, and a pipeline layout with a 128-byte
 * push-constant range (the guaranteed minimum). Shared by every pipeline with n bindings. */
static lsvk_status layout_for(lsvk_context *ctx, uint32_t n) {
    if (ctx->layouts[n]) return LSVK_SUCCESS;
    VkDescriptorSetLayoutBinding b[LSVK_MAX_BINDINGS];
    for (uint32_t i = 0; i < n; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = n,
                                           .pBindings = b};
    VkResult r = ctx->vk.vkCreateDescriptorSetLayout(ctx->device, &sci, NULL, &ctx->set_layouts[n]);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateDescriptorSetLayout");
    VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = LSVK_PUSH_BYTES};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &ctx->set_layouts[n],
                                      .pushConstantRangeCount = 1,
                                      .pPushConstantRanges = &pc};
    r = ctx->vk.vkCreatePipelineLayout(ctx->device, &lci, NULL, &ctx->layouts[n]);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreatePipelineLayout");
    return LSVK_SUCCESS;
}

lsvk_status lsvk__pipeline_get(lsvk_context *ctx, const lsvk_shader *shader, const uint32_t *spec,
                               uint32_t spec_count, uint32_t binding_count,
                               const lsvk_pipeline **out) {
    if (spec_count > LSVK_MAX_SPEC || binding_count > LSVK_MAX_BINDINGS)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "pipeline %s: too many constants or bindings",
                          shader->name);
    for (lsvk_pipeline *p = ctx->pipelines; p; p = p->next)
        if (p->shader == shader && p->spec_count == spec_count && p->binding_count == binding_count &&
            memcmp(p->spec, spec, spec_count * sizeof *spec) == 0) {
            *out = p;
            return LSVK_SUCCESS;
        }
    LSVK_TRY(layout_for(ctx, binding_count));

    lsvk_pipeline *p = calloc(1, sizeof *p);
    if (!p) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    p->shader = shader;
    p->spec_count = spec_count;
    p->binding_count = binding_count;
    if (spec_count) memcpy(p->spec, spec, spec_count * sizeof *spec);
    p->layout = ctx->layouts[binding_count];
    p->set_layout = ctx->set_layouts[binding_count];

    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = shader->size,
                                   .pCode = shader->code};
    VkShaderModule module;
    VkResult r = ctx->vk.vkCreateShaderModule(ctx->device, &mi, NULL, &module);
    if (r != VK_SUCCESS) {
        free(p);
        return lsvk__vk_fail(ctx, r, "vkCreateShaderModule");
    }
    VkSpecializationMapEntry entries[LSVK_MAX_SPEC];
    for (uint32_t i = 0; i < spec_count; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = spec_count,
                               .pMapEntries = entries,
                               .dataSize = 4 * spec_count,
                               .pData = p->spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = spec_count ? &si : NULL},
        .layout = p->layout};
    r = ctx->vk.vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &ci, NULL, &p->pipeline);
    ctx->vk.vkDestroyShaderModule(ctx->device, module, NULL);
    if (r != VK_SUCCESS) {
        free(p);
        char what[96];
        snprintf(what, sizeof what, "vkCreateComputePipelines(%s)", shader->name);
        return lsvk__vk_fail(ctx, r, what);
    }
    p->next = ctx->pipelines;
    ctx->pipelines = p;
    *out = p;
    return LSVK_SUCCESS;
}
