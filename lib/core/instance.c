/* Vulkan loader and instance: volk initialisation, layers, extensions. */
#include "core/context.h"
#include "core/device.h"

#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <windows.h>
static PFN_vkGetInstanceProcAddr open_loader(void) {
    HMODULE m = LoadLibraryA("vulkan-1.dll");
    return m ? (PFN_vkGetInstanceProcAddr)(void (*)(void))GetProcAddress(m, "vkGetInstanceProcAddr") : NULL;
}
static SRWLOCK g_lock = SRWLOCK_INIT;
#define LOCK() AcquireSRWLockExclusive(&g_lock)
#define UNLOCK() ReleaseSRWLockExclusive(&g_lock)
#else
#include <dlfcn.h>
#include <pthread.h>
static PFN_vkGetInstanceProcAddr open_loader(void) {
#if defined(__APPLE__)
    static const char *names[] = {"libvulkan.dylib", "libvulkan.1.dylib", "libMoltenVK.dylib"};
#else
    static const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
#endif
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *m = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!m) continue;
        /* The handle stays open for the life of the process, as volk's globals point into it. */
        void *f = dlsym(m, "vkGetInstanceProcAddr");
        if (f) {
            PFN_vkGetInstanceProcAddr gipa;
            memcpy(&gipa, &f, sizeof gipa); /* object pointer to function pointer, without a cast warning */
            return gipa;
        }
        dlclose(m);
    }
    return NULL;
}
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
#define LOCK() pthread_mutex_lock(&g_lock)
#define UNLOCK() pthread_mutex_unlock(&g_lock)
#endif

static bool g_loaded;

/* volk keeps its entry points in globals, so loading happens once per process; instance-level
 * entry points go through the loader's trampolines and so serve every instance. The loader is
 * opened here rather than by volkInitialize, which calls through a NULL vkGetInstanceProcAddr
 * when a library of the right name exports none. */
lsvk_status lsvk__load_vulkan(void *gipa) {
    LOCK();
    lsvk_status s = LSVK_SUCCESS;
    if (!g_loaded) {
        PFN_vkGetInstanceProcAddr f = NULL;
        if (gipa) memcpy(&f, &gipa, sizeof f);
        else f = open_loader();
        if (f) {
            volkInitializeCustom(f);
        } else {
            s = lsvk__fail(NULL, LSVK_ERROR_NO_DEVICE,
                           "no Vulkan loader found (libvulkan.so.1 / vulkan-1.dll / "
                           "libvulkan.dylib): install one, e.g. Debian's libvulkan1 with "
                           "mesa-vulkan-drivers for the lavapipe CPU device");
        }
        g_loaded = s == LSVK_SUCCESS;
    }
    UNLOCK();
    return s;
}

static bool has_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *l = calloc(n, sizeof *l);
    bool found = false;
    if (l && vkEnumerateInstanceLayerProperties(&n, l) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(l[i].layerName, name) == 0;
    free(l);
    return found;
}

static bool has_instance_ext(const VkExtensionProperties *e, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(e[i].extensionName, name) == 0) return true;
    return false;
}

lsvk_status lsvk__create_instance(bool validation, VkInstance *out, bool *debug_utils) {
    static const char *layer = "VK_LAYER_KHRONOS_validation";
    *debug_utils = false;
    uint32_t api = VK_API_VERSION_1_1;
    if (vkEnumerateInstanceVersion) {
        uint32_t v = 0;
        if (vkEnumerateInstanceVersion(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_3)
            api = VK_API_VERSION_1_3;
        else if (v >= VK_API_VERSION_1_2)
            api = VK_API_VERSION_1_2;
    }
    if (validation && !has_layer(layer))
        return lsvk__fail(NULL, LSVK_ERROR_UNSUPPORTED,
                          "validation requested but %s is not installed (Debian: "
                          "vulkan-validationlayers)", layer);

    uint32_t n = 0;
    vkEnumerateInstanceExtensionProperties(NULL, &n, NULL);
    VkExtensionProperties *ext = n ? calloc(n, sizeof *ext) : NULL;
    if (n && !ext) return lsvk__fail(NULL, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (n) vkEnumerateInstanceExtensionProperties(NULL, &n, ext);
    const char *exts[2];
    uint32_t next = 0;
    VkInstanceCreateFlags flags = 0;
    /* MoltenVK devices only enumerate with portability enumeration. */
    if (has_instance_ext(ext, n, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[next++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    if (validation && has_instance_ext(ext, n, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
        exts[next++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        *debug_utils = true;
    }
    free(ext);

    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "lsvk",
                             .pEngineName = "lsvk",
                             .engineVersion = VK_MAKE_API_VERSION(0, LSVK_VERSION_MAJOR,
                                                                  LSVK_VERSION_MINOR,
                                                                  LSVK_VERSION_PATCH),
                             .apiVersion = api};
    /* Synchronization validation checks the barriers lsvk records between dispatches. */
    VkValidationFeatureEnableEXT enables[] = {
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT vf = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                  .enabledValidationFeatureCount = 1,
                                  .pEnabledValidationFeatures = enables};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pNext = validation ? &vf : NULL,
                               .flags = flags,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = validation ? 1 : 0,
                               .ppEnabledLayerNames = validation ? &layer : NULL,
                               .enabledExtensionCount = next,
                               .ppEnabledExtensionNames = exts};
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return lsvk__fail(NULL, LSVK_ERROR_NO_DEVICE,
                          "vkCreateInstance: no Vulkan driver installed (VK_ERROR_INCOMPATIBLE_DRIVER)");
    if (r != VK_SUCCESS) return lsvk__vk_fail(NULL, r, "vkCreateInstance");
    volkLoadInstanceOnly(*out);
    return LSVK_SUCCESS;
}

/* Enumerates the instance's devices with their capabilities; usable = compute queue + 1.1. */
static lsvk_status list_devices(VkInstance inst, VkPhysicalDevice **pds, lsvk_device_info **infos,
                                bool **usable, uint32_t *count) {
    *pds = NULL; *infos = NULL; *usable = NULL; *count = 0;
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, NULL);
    if (r != VK_SUCCESS) return lsvk__vk_fail(NULL, r, "vkEnumeratePhysicalDevices");
    if (n == 0)
        return lsvk__fail(NULL, LSVK_ERROR_NO_DEVICE,
                          "the Vulkan loader reports no device (for a CPU device install "
                          "mesa-vulkan-drivers: lavapipe)");
    *pds = calloc(n, sizeof **pds);
    *infos = calloc(n, sizeof **infos);
    *usable = calloc(n, sizeof **usable);
    if (!*pds || !*infos || !*usable) goto oom;
    r = vkEnumeratePhysicalDevices(inst, &n, *pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*pds); free(*infos); free(*usable);
        return lsvk__vk_fail(NULL, r, "vkEnumeratePhysicalDevices");
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t fam;
        if (lsvk__device_info((*pds)[i], i, &(*infos)[i], &fam) != LSVK_SUCCESS) goto oom;
        (*usable)[i] = fam != UINT32_MAX && (*infos)[i].api_version >= VK_API_VERSION_1_1;
    }
    *count = n;
    return LSVK_SUCCESS;
oom:
    free(*pds); free(*infos); free(*usable);
    *pds = NULL; *infos = NULL; *usable = NULL;
    return lsvk__fail(NULL, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
}

lsvk_status lsvk__pick_physical(VkInstance inst, const char *selector, VkPhysicalDevice *pd,
                                lsvk_device_info *info) {
    VkPhysicalDevice *pds; lsvk_device_info *infos; bool *usable; uint32_t n, pick = 0;
    LSVK_TRY(list_devices(inst, &pds, &infos, &usable, &n));
    lsvk_status s = lsvk__select_device(infos, usable, n, selector, &pick);
    if (s == LSVK_SUCCESS) {
        *pd = pds[pick];
        *info = infos[pick];
    }
    free(pds); free(infos); free(usable);
    return s;
}

static const char *env_selector(const char *selector) {
    if (selector && *selector) return selector;
    const char *e = getenv("LSVK_DEVICE");
    return e && *e ? e : NULL;
}

const char *lsvk__device_selector(const char *selector) { return env_selector(selector); }

lsvk_status lsvk_enumerate_devices(const char *selector, lsvk_device_info *out, uint32_t *count,
                                   uint32_t *selected) {
    if (!count) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "count is NULL");
    LSVK_TRY(lsvk__load_vulkan(NULL));
    VkInstance inst; bool du;
    LSVK_TRY(lsvk__create_instance(false, &inst, &du));
    VkPhysicalDevice *pds; lsvk_device_info *infos; bool *usable; uint32_t n;
    lsvk_status s = list_devices(inst, &pds, &infos, &usable, &n);
    if (s == LSVK_SUCCESS) {
        if (out) {
            uint32_t w = n < *count ? n : *count;
            memcpy(out, infos, w * sizeof *infos);
            *count = w;
        } else {
            *count = n;
        }
        uint32_t pick = 0;
        if (selected) {
            s = lsvk__select_device(infos, usable, n, env_selector(selector), &pick);
            *selected = pick;
        }
        free(pds); free(infos); free(usable);
    } else {
        *count = 0;
    }
    vkDestroyInstance(inst, NULL);
    return s;
}
