/* lsvk-info: every Vulkan device with the capabilities lsvk reads, and the one it would pick. */
#include "lsvk/lsvk.h"

#include <stdio.h>
#include <stdlib.h>

static void print_size(const char *label, uint64_t bytes) {
    if (bytes >= (1ull << 30) && bytes % (1ull << 20) == 0)
        printf("  %-28s %.2f GiB (%llu bytes)\n", label, bytes / 1073741824.0, (unsigned long long)bytes);
    else if (bytes >= (1ull << 20))
        printf("  %-28s %.2f MiB (%llu bytes)\n", label, bytes / 1048576.0, (unsigned long long)bytes);
    else
        printf("  %-28s %llu bytes\n", label, (unsigned long long)bytes);
}

static void print_device(const lsvk_device_info *d, int picked) {
    printf("device %u: %s%s\n", d->index, d->name, picked ? "   <- lsvk picks this one" : "");
    printf("  %-28s %s (0x%04x), device 0x%04x\n", "vendor", d->vendor, d->vendor_id, d->device_id);
    printf("  %-28s %s\n", "type", lsvk_device_type_string(d->type));
    printf("  %-28s %s %s\n", "driver", d->driver_name[0] ? d->driver_name : "(unknown)", d->driver_info);
    printf("  %-28s %u.%u.%u\n", "Vulkan API", d->api_version >> 22, (d->api_version >> 12) & 0x3ff,
           d->api_version & 0xfff);
    printf("  %-28s %u (range %u..%u)%s%s\n", "subgroup size", d->subgroup_size, d->min_subgroup_size,
           d->max_subgroup_size, d->subgroup_arithmetic ? ", arithmetic ops" : "",
           d->subgroup_shuffle ? ", shuffles" : "");
    printf("  %-28s %u bytes\n", "shared memory", d->max_shared_memory);
    printf("  %-28s %u invocations, size %u x %u x %u, count %u x %u x %u\n", "workgroups",
           d->max_workgroup_invocations, d->max_workgroup_size[0], d->max_workgroup_size[1],
           d->max_workgroup_size[2], d->max_workgroup_count[0], d->max_workgroup_count[1],
           d->max_workgroup_count[2]);
    print_size("maxStorageBufferRange", d->max_storage_buffer_range);
    print_size("maxMemoryAllocationSize", d->max_memory_allocation_size);
    for (uint32_t h = 0; h < d->heap_count; h++) {
        char label[40];
        snprintf(label, sizeof label, "heap %u%s", h, d->heap_device_local[h] ? " (device-local)" : "");
        print_size(label, d->heap_size[h]);
    }
    printf("  %-28s %s\n", "unified memory", d->unified_memory ? "yes" : "no");
    printf("  %-28s %s\n", "fp16 arithmetic", d->shader_float16 ? "yes" : "no");
    printf("  %-28s %s\n", "16-bit storage", d->storage_16bit ? "yes" : "no");
    if (d->timestamps)
        printf("  %-28s yes (period %g ns)\n", "timestamps", d->timestamp_period_ns);
    else
        printf("  %-28s no\n", "timestamps");
}

int main(int argc, char **argv) {
    if (argc > 1) {
        fprintf(stderr, "usage: %s\n  lists Vulkan devices; LSVK_DEVICE=<index|name> picks one\n", argv[0]);
        return 2;
    }
    uint32_t count = 0, picked = 0;
    lsvk_status s = lsvk_enumerate_devices(NULL, NULL, &count, NULL);
    if (s != LSVK_SUCCESS) {
        fprintf(stderr, "lsvk-info: %s: %s\n", lsvk_status_string(s), lsvk_last_error());
        return 1;
    }
    lsvk_device_info *infos = calloc(count ? count : 1, sizeof *infos);
    if (!infos) return 1;
    s = lsvk_enumerate_devices(NULL, infos, &count, &picked);
    for (uint32_t i = 0; i < count; i++) print_device(&infos[i], s == LSVK_SUCCESS && i == picked);
    free(infos);
    if (s != LSVK_SUCCESS) {
        fprintf(stderr, "lsvk-info: %s: %s\n", lsvk_status_string(s), lsvk_last_error());
        return 1;
    }
    const char *sel = getenv("LSVK_DEVICE");
    printf("%u device%s; lsvk uses device %u (%s)\n", count, count == 1 ? "" : "s", picked,
           sel && *sel ? "chosen by LSVK_DEVICE" : "discrete > integrated > virtual > cpu");
    return 0;
}
