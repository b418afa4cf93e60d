/* Context: instance and device (own or imported), validation messages, teardown. */
#include "core/context.h"
#include "core/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lsvk__vk_result_string(VkResult r) {
    switch (r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
    C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST) C(VK_ERROR_MEMORY_MAP_FAILED)
    C(VK_ERROR_LAYER_NOT_PRESENT) C(VK_ERROR_EXTENSION_NOT_PRESENT) C(VK_ERROR_FEATURE_NOT_PRESENT)
    C(VK_ERROR_INCOMPATIBLE_DRIVER) C(VK_ERROR_TOO_MANY_OBJECTS) C(VK_ERROR_FORMAT_NOT_SUPPORTED)
    C(VK_ERROR_FRAGMENTED_POOL) C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_INVALID_SHADER_NV)
    C(VK_ERROR_FRAGMENTATION) C(VK_ERROR_UNKNOWN)
#undef C
    default: return "VkResult(other)";
    }
}

lsvk_status lsvk__vk_fail(const lsvk_context *ctx, VkResult r, const char *what) {
    lsvk_status s = LSVK_ERROR_VULKAN;
    if (r == VK_ERROR_OUT_OF_HOST_MEMORY) s = LSVK_ERROR_OUT_OF_HOST_MEMORY;
    else if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) s = LSVK_ERROR_OUT_OF_DEVICE_MEMORY;
    else if (r == VK_ERROR_DEVICE_LOST) s = LSVK_ERROR_DEVICE_LOST;
    return lsvk__fail(ctx, s, "%s failed: %s (%d)", what, lsvk__vk_result_string(r), (int)r);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                               VkDebugUtilsMessageTypeFlagsEXT type,
                                               const VkDebugUtilsMessengerCallbackDataEXT *data,
                                               void *user) {
    (void)type;
    lsvk_context *ctx = user;
    ctx->validation_messages++;
    if (ctx->message_fn) {
        lsvk_message_severity s = sev >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT
                                      ? LSVK_MESSAGE_ERROR
                                      : LSVK_MESSAGE_WARNING;
        ctx->message_fn(ctx->message_user, s, data && data->pMessage ? data->pMessage : "");
    }
    return VK_FALSE;
}

static bool want_validation(lsvk_validation_mode m) {
    if (m == LSVK_VALIDATION_ON) return true;
    if (m == LSVK_VALIDATION_OFF) return false;
    const char *e = getenv("LSVK_VALIDATION");
    return e && *e && strcmp(e, "0") != 0;
}

static lsvk_status create_device(lsvk_context *ctx) {
    lsvk_device_features f;
    LSVK_TRY(lsvk__device_features(ctx->physical, &f));
    float prio = 1.0f;
    VkDeviceQueueCreateInfo q = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = ctx->queue_family,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
        .shaderFloat16 = f.shader_float16};
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .storageBuffer16BitAccess = f.storage_16bit};
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                       .pNext = &s16};
    if (f.has_float16_int8) s16.pNext = &f16;
    const char *exts[4];
    uint32_t n = 0;
    if (f.ext_float16_int8) exts[n++] = VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME;
    if (f.portability_subset) exts[n++] = "VK_KHR_portability_subset";
    if (f.storage_16bit && f.api_version < VK_API_VERSION_1_1) exts[n++] = "VK_KHR_16bit_storage";
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = &feats,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &q,
                             .enabledExtensionCount = n,
                             .ppEnabledExtensionNames = exts};
    VkResult r = vkCreateDevice(ctx->physical, &ci, NULL, &ctx->device);
    if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateDevice");
    ctx->owns_device = true;
    return LSVK_SUCCESS;
}

static lsvk_status open_own(lsvk_context *ctx, const lsvk_context_create_info *ci) {
    bool debug_utils = false;
    LSVK_TRY(lsvk__load_vulkan(NULL));
    LSVK_TRY(lsvk__create_instance(ctx->validation, &ctx->instance, &debug_utils));
    ctx->owns_instance = true;
    if (ctx->validation && debug_utils) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_debug,
            .pUserData = ctx};
        VkResult r = vkCreateDebugUtilsMessengerEXT(ctx->instance, &mi, NULL, &ctx->messenger);
        if (r != VK_SUCCESS) return lsvk__vk_fail(ctx, r, "vkCreateDebugUtilsMessengerEXT");
    }
    LSVK_TRY(lsvk__pick_physical(ctx->instance, lsvk__device_selector(ci->device), &ctx->physical,
                                 &ctx->info));
    LSVK_TRY(lsvk__device_info(ctx->physical, ctx->info.index, &ctx->info, &ctx->queue_family));
    LSVK_TRY(create_device(ctx));
    return LSVK_SUCCESS;
}

static lsvk_status open_imported(lsvk_context *ctx, const lsvk_vulkan_import *im) {
    if (!im->instance || !im->physical_device || !im->device || !im->queue)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT,
                          "import: instance, physical_device, device and queue are all required");
    LSVK_TRY(lsvk__load_vulkan(im->get_instance_proc_addr));
    ctx->instance = (VkInstance)im->instance;
    volkLoadInstanceOnly(ctx->instance);
    ctx->physical = (VkPhysicalDevice)im->physical_device;
    uint32_t fam;
    LSVK_TRY(lsvk__device_info(ctx->physical, 0, &ctx->info, &fam));
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->physical, &nq, NULL);
    if (im->queue_family >= nq)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT,
                          "import: queue_family %u out of range (%u families)", im->queue_family, nq);
    VkQueueFamilyProperties qp[64];
    nq = nq < 64 ? nq : 64;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->physical, &nq, qp);
    if (im->queue_family < nq && !(qp[im->queue_family].queueFlags & VK_QUEUE_COMPUTE_BIT))
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT,
                          "import: queue family %u has no compute support", im->queue_family);
    if (im->queue_family < nq)
        ctx->info.timestamps = qp[im->queue_family].timestampValidBits > 0 &&
                               ctx->info.timestamp_period_ns > 0;
    ctx->queue_family = im->queue_family;
    ctx->device = (VkDevice)im->device;
    /* The application may not have enabled these; lsvk uses only what it enabled itself. */
    ctx->info.shader_float16 = 0;
    ctx->info.storage_16bit = 0;
    return LSVK_SUCCESS;
}

lsvk_status lsvk_context_create(const lsvk_context_create_info *info, lsvk_context **out) {
    if (!out) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    static const lsvk_context_create_info defaults = {0};
    const lsvk_context_create_info *ci = info ? info : &defaults;
    lsvk_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return lsvk__fail(NULL, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    ctx->message_fn = ci->message_callback;
    ctx->message_user = ci->message_user;
    ctx->validation = want_validation(ci->validation);
    ctx->block_size = ci->memory_block_size;

    lsvk_status s;
    if (ci->import) {
        ctx->validation = false; /* the application owns the instance and its layers */
        s = open_imported(ctx, ci->import);
    } else {
        s = open_own(ctx, ci);
    }
    if (s == LSVK_SUCCESS) {
        volkLoadDeviceTable(&ctx->vk, ctx->device);
        if (ci->import) ctx->queue = (VkQueue)ci->import->queue;
        else ctx->vk.vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
        s = lsvk__memory_init(ctx);
    }
    if (s == LSVK_SUCCESS) {
        const char *cache = ci->pipeline_cache_path;
        if (!cache) cache = getenv("LSVK_PIPELINE_CACHE");
        s = lsvk__pipelines_init(ctx, cache && *cache ? cache : NULL);
    }
    if (s == LSVK_SUCCESS) s = lsvk__commands_init(ctx);
    if (s == LSVK_SUCCESS) s = lsvk__memory_dummy(ctx);
    if (s != LSVK_SUCCESS) {
        char msg[sizeof ctx->error];
        memcpy(msg, lsvk_last_error(), sizeof msg);
        msg[sizeof msg - 1] = 0;
        lsvk_context_destroy(ctx);
        lsvk__fail(NULL, s, "%s", msg); /* the message outlives the context */
        return s;
    }
    *out = ctx;
    return LSVK_SUCCESS;
}

void lsvk_context_destroy(lsvk_context *ctx) {
    if (!ctx) return;
    /* The device table is loaded only once the device exists. */
    if (ctx->device && ctx->vk.vkDestroyDevice) {
        ctx->vk.vkDeviceWaitIdle(ctx->device);
        lsvk__commands_destroy(ctx);
        lsvk__pipelines_destroy(ctx);
        lsvk__memory_destroy(ctx);
        if (ctx->owns_device) ctx->vk.vkDestroyDevice(ctx->device, NULL);
    } else if (ctx->owns_device && ctx->device) {
        struct VolkDeviceTable t;
        volkLoadDeviceTable(&t, ctx->device);
        t.vkDestroyDevice(ctx->device, NULL);
    }
    if (ctx->messenger) vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
    if (ctx->owns_instance && ctx->instance) vkDestroyInstance(ctx->instance, NULL);
    free(ctx);
}

const lsvk_device_info *lsvk_context_device(const lsvk_context *ctx) {
    return ctx ? &ctx->info : NULL;
}

uint32_t lsvk_context_validation_messages(const lsvk_context *ctx) {
    return ctx ? ctx->validation_messages : 0;
}

int lsvk_context_validation_enabled(const lsvk_context *ctx) { return ctx && ctx->validation; }
