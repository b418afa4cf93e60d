/* Device capabilities and selection. Internal. */
#ifndef LSVK_DEVICE_H
#define LSVK_DEVICE_H

#include "core/internal.h"

#include <volk.h>

typedef struct lsvk_device_features {
    uint32_t api_version;
    bool has_driver_props, has_float16_int8, has_size_control;
    bool ext_float16_int8, ext_size_control; /* must be enabled as extensions (pre-1.2/1.3) */
    bool portability_subset;                 /* MoltenVK: must be enabled when present */
    bool shader_float16, storage_16bit;
} lsvk_device_features;

lsvk_status lsvk__device_features(VkPhysicalDevice pd, lsvk_device_features *f);
/* Reads capabilities; *compute_family gets the queue family lsvk uses (UINT32_MAX if none). */
lsvk_status lsvk__device_info(VkPhysicalDevice pd, uint32_t index, lsvk_device_info *info,
                              uint32_t *compute_family);
/* selector: index or case-insensitive name substring; NULL/empty: discrete > integrated >
 * virtual > cpu > other, first in enumeration order among equals. */
lsvk_status lsvk__select_device(const lsvk_device_info *infos, const bool *usable, uint32_t count,
                                const char *selector, uint32_t *out);

/* Loads the Vulkan loader once (thread-safe); LSVK_ERROR_NO_DEVICE if there is none. */
lsvk_status lsvk__load_vulkan(void *get_instance_proc_addr);
/* Instance with the given layers/extension wishes; validation adds the Khronos layer. */
lsvk_status lsvk__create_instance(bool validation, VkInstance *out, bool *debug_utils);
/* Picks a physical device of inst by selector (see lsvk__select_device). */
lsvk_status lsvk__pick_physical(VkInstance inst, const char *selector, VkPhysicalDevice *pd,
                                lsvk_device_info *info);
/* selector if non-empty, else LSVK_DEVICE if set, else NULL. */
const char *lsvk__device_selector(const char *selector);
#endif
