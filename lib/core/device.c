/* Physical-device capabilities, the default device order and LSVK_DEVICE selection. */
#include "core/device.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lsvk_vendor_name(uint32_t id) {
    switch (id) {
    case 0x1002: return "AMD";
    case 0x1010: return "ImgTec";
    case 0x106B: return "Apple";
    case 0x10DE: return "NVIDIA";
    case 0x13B5: return "ARM";
    case 0x14E4: return "Broadcom";
    case 0x5143: return "Qualcomm";
    case 0x8086: return "Intel";
    case 0x10005: return "Mesa";
    case 0x1AE0: return "Google";
    case 0x19E5: return "Huawei";
    case 0x1CB7: return "Moore Threads";
    }
    return "Unknown";
}

const char *lsvk_device_type_string(lsvk_device_type t) {
    switch (t) {
    case LSVK_DEVICE_TYPE_INTEGRATED: return "integrated";
    case LSVK_DEVICE_TYPE_DISCRETE: return "discrete";
    case LSVK_DEVICE_TYPE_VIRTUAL: return "virtual";
    case LSVK_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

static lsvk_device_type map_type(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return LSVK_DEVICE_TYPE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return LSVK_DEVICE_TYPE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return LSVK_DEVICE_TYPE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return LSVK_DEVICE_TYPE_CPU;
    default: return LSVK_DEVICE_TYPE_OTHER;
    }
}

static bool has_extension(const VkExtensionProperties *ext, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(ext[i].extensionName, name) == 0) return true;
    return false;
}

lsvk_status lsvk__device_features(VkPhysicalDevice pd, lsvk_device_features *f) {
    memset(f, 0, sizeof *f);
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    f->api_version = p.apiVersion;
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS) n = 0;
    VkExtensionProperties *ext = n ? calloc(n, sizeof *ext) : NULL;
    if (n && !ext) return LSVK_ERROR_OUT_OF_HOST_MEMORY;
    if (n && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, ext) != VK_SUCCESS) n = 0;
    bool v12 = p.apiVersion >= VK_API_VERSION_1_2, v13 = p.apiVersion >= VK_API_VERSION_1_3;
    f->has_driver_props = v12 || has_extension(ext, n, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    f->has_float16_int8 = v12 || has_extension(ext, n, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    f->has_size_control = v13 || has_extension(ext, n, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    f->ext_float16_int8 = !v12 && has_extension(ext, n, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    f->ext_size_control = !v13 && has_extension(ext, n, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    f->portability_subset = has_extension(ext, n, "VK_KHR_portability_subset");
    free(ext);

    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                       .pNext = &s16};
    if (f->has_float16_int8) s16.pNext = &f16;
    vkGetPhysicalDeviceFeatures2(pd, &feats);
    f->shader_float16 = f->has_float16_int8 && f16.shaderFloat16;
    f->storage_16bit = s16.storageBuffer16BitAccess;
    return LSVK_SUCCESS;
}

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = 0;
    while (n + 1 < cap && src[n]) n++;
    memcpy(dst, src, n);
    dst[n] = 0;
}

lsvk_status lsvk__device_info(VkPhysicalDevice pd, uint32_t index, lsvk_device_info *info,
                              uint32_t *compute_family) {
    memset(info, 0, sizeof *info);
    lsvk_device_features f;
    LSVK_TRY(lsvk__device_features(pd, &f));

    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &sg};
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties sc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                         .pNext = &m3};
    void **tail = &sg.pNext;
    if (f.has_driver_props) { *tail = &drv; tail = &drv.pNext; }
    if (f.has_size_control) { *tail = &sc; tail = &sc.pNext; }
    vkGetPhysicalDeviceProperties2(pd, &props);
    const VkPhysicalDeviceProperties *p = &props.properties;
    const VkPhysicalDeviceLimits *l = &p->limits;

    info->index = index;
    copy_str(info->name, sizeof info->name, p->deviceName);
    info->vendor_id = p->vendorID;
    copy_str(info->vendor, sizeof info->vendor, lsvk_vendor_name(p->vendorID));
    info->device_id = p->deviceID;
    info->type = map_type(p->deviceType);
    if (f.has_driver_props) {
        copy_str(info->driver_name, sizeof info->driver_name, drv.driverName);
        copy_str(info->driver_info, sizeof info->driver_info, drv.driverInfo);
        info->driver_id = (uint32_t)drv.driverID;
    }
    info->driver_version = p->driverVersion;
    info->api_version = p->apiVersion;
    info->subgroup_size = sg.subgroupSize;
    info->min_subgroup_size = f.has_size_control ? sc.minSubgroupSize : sg.subgroupSize;
    info->max_subgroup_size = f.has_size_control ? sc.maxSubgroupSize : sg.subgroupSize;
    info->subgroup_arithmetic = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                                (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info->subgroup_shuffle = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                             (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    info->max_shared_memory = l->maxComputeSharedMemorySize;
    info->max_workgroup_invocations = l->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        info->max_workgroup_size[i] = l->maxComputeWorkGroupSize[i];
        info->max_workgroup_count[i] = l->maxComputeWorkGroupCount[i];
    }
    info->max_push_constants = l->maxPushConstantsSize;
    info->max_storage_buffer_range = l->maxStorageBufferRange;
    info->max_memory_allocation_size = m3.maxMemoryAllocationSize;
    info->min_storage_buffer_alignment = l->minStorageBufferOffsetAlignment;

    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    info->heap_count = mem.memoryHeapCount < LSVK_MAX_HEAPS ? mem.memoryHeapCount : LSVK_MAX_HEAPS;
    for (uint32_t i = 0; i < info->heap_count; i++) {
        info->heap_size[i] = mem.memoryHeaps[i].size;
        info->heap_device_local[i] = !!(mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT);
    }
    VkMemoryPropertyFlags uma = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < mem.memoryTypeCount; i++)
        if ((mem.memoryTypes[i].propertyFlags & uma) == uma &&
            (info->type == LSVK_DEVICE_TYPE_INTEGRATED || info->type == LSVK_DEVICE_TYPE_CPU))
            info->unified_memory = 1;
    info->shader_float16 = f.shader_float16;
    info->storage_16bit = f.storage_16bit;

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties *q = nq ? calloc(nq, sizeof *q) : NULL;
    if (nq && !q) return LSVK_ERROR_OUT_OF_HOST_MEMORY;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
    /* Prefer a compute-only family (async compute on discrete GPUs), else any with compute. */
    uint32_t family = UINT32_MAX;
    for (uint32_t i = 0; i < nq && family == UINT32_MAX; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) &&
            q[i].queueCount > 0)
            family = i;
    for (uint32_t i = 0; i < nq && family == UINT32_MAX; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && q[i].queueCount > 0) family = i;
    if (family != UINT32_MAX) {
        info->timestamps = q[family].timestampValidBits > 0 && l->timestampPeriod > 0;
        info->timestamp_period_ns = l->timestampPeriod;
    }
    free(q);
    if (compute_family) *compute_family = family;
    return LSVK_SUCCESS;
}

static int type_rank(lsvk_device_type t) {
    switch (t) {
    case LSVK_DEVICE_TYPE_DISCRETE: return 4;
    case LSVK_DEVICE_TYPE_INTEGRATED: return 3;
    case LSVK_DEVICE_TYPE_VIRTUAL: return 2;
    case LSVK_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

static bool contains_nocase(const char *hay, const char *needle) {
    size_t nl = strlen(needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < nl && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == nl) return true;
    }
    return nl == 0;
}

lsvk_status lsvk__select_device(const lsvk_device_info *infos, const bool *usable, uint32_t count,
                                const char *selector, uint32_t *out) {
    if (selector && *selector) {
        char *end = NULL;
        unsigned long idx = strtoul(selector, &end, 10);
        if (end && *end == 0 && isdigit((unsigned char)selector[0])) {
            if (idx >= count)
                return lsvk__fail(NULL, LSVK_ERROR_NO_DEVICE,
                                  "device selector '%s': no device with that index (%u device%s)",
                                  selector, count, count == 1 ? "" : "s");
            if (!usable[idx])
                return lsvk__fail(NULL, LSVK_ERROR_NO_DEVICE,
                                  "device %lu (%s) has no compute queue or is below Vulkan 1.1",
                                  idx, infos[idx].name);
            *out = (uint32_t)idx;
            return LSVK_SUCCESS;
        }
        for (uint32_t i = 0; i < count; i++)
            if (usable[i] && contains_nocase(infos[i].name, selector)) {
                *out = i;
                return LSVK_SUCCESS;
            }
        char names[512] = "";
        for (uint32_t i = 0; i < count; i++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%u: %s", i ? ", " : "", i, infos[i].name);
        }
        return lsvk__fail(NULL, LSVK_ERROR_NO_DEVICE,
                          "device selector '%s' matches no device (available: %s)", selector,
                          count ? names : "none");
    }
    int best = -1;
    for (uint32_t i = 0; i < count; i++)
        if (usable[i] && (best < 0 || type_rank(infos[i].type) > type_rank(infos[best].type)))
            best = (int)i;
    if (best < 0)
        return lsvk__fail(NULL, LSVK_ERROR_NO_DEVICE,
                          "no Vulkan device with a compute queue and Vulkan 1.1 (%u found)", count);
    *out = (uint32_t)best;
    return LSVK_SUCCESS;
}
