/* Small host helpers the lsvk-lm commands share: timing, error reporting, reading a file. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include "lm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double lm_now_s(void) {
    struct timespec ts;
#ifdef _WIN32
    timespec_get(&ts, TIME_UTC);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int lm_fail(lsvk_status s) {
    fprintf(stderr, "lsvk-lm: %s: %s\n", lsvk_status_string(s), lsvk_last_error());
    return 1;
}

int lm_read_bytes(const char *path, size_t max, bytes *out) {
    out->data = NULL;
    out->size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "lsvk-lm: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    int rc = 0;
    while (out->size < max) {
        if (out->size == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            unsigned char *p = realloc(out->data, ncap);
            if (!p) {
                fprintf(stderr, "lsvk-lm: out of memory reading %s\n", path);
                rc = -1;
                break;
            }
            out->data = p;
            cap = ncap;
        }
        size_t want = cap - out->size < max - out->size ? cap - out->size : max - out->size;
        size_t got = fread(out->data + out->size, 1, want, f);
        out->size += got;
        if (got < want) {
            if (ferror(f)) {
                fprintf(stderr, "lsvk-lm: cannot read %s: %s\n", path, strerror(errno));
                rc = -1;
            }
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(out->data);
        out->data = NULL;
        out->size = 0;
    }
    return rc;
}

const char *lm_base_name(const char *path) {
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '/' || *p == '\\') b = p + 1;
    return b;
}

int lm_check_bytes(const unsigned char *p, size_t n, uint32_t vocab, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (p[i] >= vocab) {
            fprintf(stderr, "lsvk-lm: %s: byte %u at offset %zu is not below the model's vocab %u\n", what,
                    p[i], i, vocab);
            return -1;
        }
    return 0;
}
