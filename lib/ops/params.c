/* Loading one layer parameter from a safetensors file, shared by the layers' *_load functions. */
#include "ops/op_util.h"

#include <stdlib.h>

lsvk_status lsvk__load_param(lsvk_context *ctx, const char *op, const lsvk_safetensors *st, const char *prefix,
                             const char *name, size_t want, lsvk__set_param_fn set, void *layer) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
    lsvk_st_tensor info;
    if (lsvk_safetensors_find(st, full, &info) != LSVK_SUCCESS)
        return lsvk__fail(ctx, LSVK_ERROR_NOT_FOUND, "%s: tensor '%s' is not in the file", op, full);
    if ((size_t)info.numel != want)
        return lsvk__fail(ctx, LSVK_ERROR_SHAPE, "%s: '%s' has %lld values, this config needs %zu", op, full,
                          (long long)info.numel, want);
    float *buf = malloc((want ? want : 1) * sizeof *buf);
    if (!buf) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    lsvk_status s = lsvk_safetensors_read_f32(st, full, buf, want);
    if (s == LSVK_SUCCESS) s = set(layer, name, buf, want);
    free(buf);
    if (s != LSVK_SUCCESS) return lsvk__fail(ctx, s, "%s: '%s': %s", op, full, lsvk_last_error());
    return LSVK_SUCCESS;
}
