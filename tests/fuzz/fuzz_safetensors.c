/* libFuzzer target for the safetensors reader: any input must either be refused with a status
 * and message, or give an object whose every tensor and metadata entry can be walked and read
 * without touching memory outside it (ASan/UBSan catch the rest). */
#include "lsvk/lsvk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Element reads are bounded so that a tiny input claiming a huge empty-free tensor cannot
 * trigger a large allocation (the reader already proved nbytes fits in the input). */
#define FUZZ_MAX_READ 4096

static void check(int cond) {
    if (!cond) abort();
}

static void walk(const lsvk_safetensors *st) {
    size_t n = lsvk_safetensors_count(st);
    static float buf[FUZZ_MAX_READ];
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i++) {
        lsvk_st_tensor t, u;
        check(lsvk_safetensors_at(st, i, &t) == LSVK_SUCCESS);
        check(t.rank <= LSVK_ST_MAX_RANK && t.numel >= 0);
        /* Touch every byte the reader exposes. */
        for (size_t b = 0; b < t.nbytes; b++) sink ^= ((const uint8_t *)t.data)[b];
        check(lsvk_safetensors_find(st, t.name, &u) == LSVK_SUCCESS);
        check(u.data == t.data && u.nbytes == t.nbytes && strcmp(u.name, t.name) == 0);
        if (t.numel <= FUZZ_MAX_READ) {
            lsvk_status s = lsvk_safetensors_read_f32(st, t.name, buf, (size_t)t.numel);
            check(s == LSVK_SUCCESS || s == LSVK_ERROR_UNSUPPORTED);
            if (t.numel > 0) {
                s = lsvk_safetensors_read_f32(st, t.name, buf, (size_t)t.numel - 1);
                check(s == LSVK_ERROR_SHAPE || s == LSVK_ERROR_UNSUPPORTED);
            }
        }
        (void)lsvk_st_dtype_string(t.dtype);
    }
    lsvk_st_tensor t;
    check(lsvk_safetensors_at(st, n, &t) == LSVK_ERROR_INVALID_ARGUMENT);
    size_t m = lsvk_safetensors_metadata_count(st);
    for (size_t i = 0; i < m; i++) {
        const char *k = NULL, *v = NULL;
        check(lsvk_safetensors_metadata_at(st, i, &k, &v) == LSVK_SUCCESS && k && v);
        const char *w = lsvk_safetensors_metadata(st, k);
        check(w && strcmp(w, v) == 0);
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lsvk_safetensors *st = NULL;
    lsvk_status s = lsvk_safetensors_open_memory(data, size, &st);
    if (s == LSVK_SUCCESS) {
        walk(st);
        lsvk_safetensors_close(st);
    } else {
        check(st == NULL && lsvk_last_error()[0] != '\0');
    }
    return 0;
}
