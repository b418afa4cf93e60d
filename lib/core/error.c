/* Status names and failure messages (thread-local, and per context). */
#include "core/context.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_last_error[1024];

const char *lsvk_status_string(lsvk_status s) {
    switch (s) {
    case LSVK_SUCCESS: return "LSVK_SUCCESS";
    case LSVK_ERROR_INVALID_ARGUMENT: return "LSVK_ERROR_INVALID_ARGUMENT";
    case LSVK_ERROR_OUT_OF_HOST_MEMORY: return "LSVK_ERROR_OUT_OF_HOST_MEMORY";
    case LSVK_ERROR_OUT_OF_DEVICE_MEMORY: return "LSVK_ERROR_OUT_OF_DEVICE_MEMORY";
    case LSVK_ERROR_NO_DEVICE: return "LSVK_ERROR_NO_DEVICE";
    case LSVK_ERROR_VULKAN: return "LSVK_ERROR_VULKAN";
    case LSVK_ERROR_DEVICE_LOST: return "LSVK_ERROR_DEVICE_LOST";
    case LSVK_ERROR_LIMIT_EXCEEDED: return "LSVK_ERROR_LIMIT_EXCEEDED";
    case LSVK_ERROR_SHAPE: return "LSVK_ERROR_SHAPE";
    case LSVK_ERROR_FORMAT: return "LSVK_ERROR_FORMAT";
    case LSVK_ERROR_IO: return "LSVK_ERROR_IO";
    case LSVK_ERROR_NOT_FOUND: return "LSVK_ERROR_NOT_FOUND";
    case LSVK_ERROR_UNSUPPORTED: return "LSVK_ERROR_UNSUPPORTED";
    case LSVK_ERROR_STATE: return "LSVK_ERROR_STATE";
    }
    return "LSVK_ERROR_UNKNOWN_STATUS";
}

const char *lsvk_last_error(void) { return g_last_error; }

lsvk_status lsvk__fail(const lsvk_context *ctx, lsvk_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    if (ctx) {
        /* The message buffer is diagnostic state, not part of the context's logical value. */
        lsvk_context *mut = (lsvk_context *)ctx;
        memcpy(mut->error, g_last_error, sizeof mut->error);
    }
    return status;
}

const char *lsvk_context_error(const lsvk_context *ctx) { return ctx ? ctx->error : ""; }
