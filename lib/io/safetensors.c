/* safetensors reader.
 *
 * Layout: u64 little-endian header length n, n bytes of JSON header, then the data block. The
 * whole file is held in memory; every offset, shape and size from the header is validated
 * against it before anything is exposed, so callers can read tensor bytes without further
 * checks. Inputs are untrusted (this file is fuzzed): no read may depend on an unchecked value.
 */
#include "core/internal.h"

#include <cjson/cJSON.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* larger headers are taken as corrupt */
#define ST_NAME_FMT "%.200s"                /* keeps names from crowding out the message */

typedef struct st_entry {
    char *name;
    lsvk_st_dtype dtype;
    uint32_t rank;
    int64_t shape[LSVK_ST_MAX_RANK];
    int64_t numel;
    uint64_t begin, end; /* within the data block */
} st_entry;

struct lsvk_safetensors {
    uint8_t *file; /* owned copy of the whole file */
    size_t file_size;
    const uint8_t *data; /* data block inside file */
    size_t data_size;
    st_entry *tensors; /* sorted by data offset */
    size_t count;
    st_entry **by_name; /* sorted by name, for lookup */
    char **meta_keys;   /* header order */
    char **meta_values;
    size_t meta_count;
};

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    [LSVK_ST_BOOL] = {"BOOL", 1}, [LSVK_ST_U8] = {"U8", 1},     [LSVK_ST_I8] = {"I8", 1},
    [LSVK_ST_I16] = {"I16", 2},   [LSVK_ST_U16] = {"U16", 2},   [LSVK_ST_F16] = {"F16", 2},
    [LSVK_ST_BF16] = {"BF16", 2}, [LSVK_ST_I32] = {"I32", 4},   [LSVK_ST_U32] = {"U32", 4},
    [LSVK_ST_F32] = {"F32", 4},   [LSVK_ST_F64] = {"F64", 8},   [LSVK_ST_I64] = {"I64", 8},
    [LSVK_ST_U64] = {"U64", 8},
};
#define ST_DTYPE_COUNT (sizeof st_dtypes / sizeof st_dtypes[0])

const char *lsvk_st_dtype_string(lsvk_st_dtype dtype) {
    if ((unsigned)dtype < ST_DTYPE_COUNT) return st_dtypes[dtype].name;
    return "unknown";
}

/* ------------------------------------------------------------ helpers */

static lsvk_status st_oom(void) {
    return lsvk__fail(NULL, LSVK_ERROR_OUT_OF_HOST_MEMORY, "safetensors: out of host memory");
}

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static uint64_t st_load_u64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A JSON number that is an exact non-negative integer below 2^63. cJSON keeps numbers as
 * doubles, so integers past 2^53 may already be rounded; every such value is rejected later
 * by the size checks anyway (no file is that large). */
static int st_json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0.0 && v < 9223372036854775808.0)) return 0; /* also rejects NaN */
    int64_t i = (int64_t)v;
    if ((double)i != v) return 0;
    *out = (uint64_t)i;
    return 1;
}

/* "[2,3,4]" into buf (truncated if it does not fit). */
static const char *st_shape_string(const int64_t *shape, uint32_t rank, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i <= rank && len < size; i++) {
        int w;
        if (i == rank)
            w = snprintf(buf + len, size - len, "]");
        else
            w = snprintf(buf + len, size - len, "%s%lld", i ? "," : "[", (long long)shape[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}

static int st_cmp_offset(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name); /* a total order once duplicate names are refused */
}

static int st_cmp_name(const void *a, const void *b) {
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int st_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ------------------------------------------------------------ header parsing */

static lsvk_status st_parse_dtype(const char *name, const cJSON *item, lsvk_st_dtype *out) {
    if (!item)
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': missing \"dtype\"", name);
    if (!cJSON_IsString(item))
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': \"dtype\" is not a string", name);
    for (size_t i = 0; i < ST_DTYPE_COUNT; i++) {
        if (strcmp(item->valuestring, st_dtypes[i].name) == 0) {
            *out = (lsvk_st_dtype)i;
            return LSVK_SUCCESS;
        }
    }
    return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                      "': unknown dtype '%.32s'", name, item->valuestring);
}

static lsvk_status st_parse_shape(const char *name, const cJSON *item, st_entry *e) {
    if (!item)
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': missing \"shape\"", name);
    if (!cJSON_IsArray(item))
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': \"shape\" is not an array", name);
    int n = cJSON_GetArraySize(item);
    if (n > LSVK_ST_MAX_RANK)
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': rank %d exceeds the maximum %d", name, n, LSVK_ST_MAX_RANK);
    int64_t numel = 1;
    uint32_t r = 0;
    for (const cJSON *d = item->child; d; d = d->next, r++) {
        uint64_t v;
        if (!st_json_uint(d, &v)) {
            if (cJSON_IsNumber(d))
                return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                                  "': shape[%u] = %g is not a non-negative integer below 2^63",
                                  name, r, d->valuedouble);
            return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                              "': shape[%u] is not a number", name, r);
        }
        e->shape[r] = (int64_t)v;
        if (v != 0 && numel > INT64_MAX / (int64_t)v)
            return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                              "': element count of the shape overflows", name);
        numel *= (int64_t)v;
    }
    e->rank = r;
    e->numel = numel;
    return LSVK_SUCCESS;
}

static lsvk_status st_parse_offsets(const char *name, const cJSON *item, size_t data_size,
                                    st_entry *e) {
    if (!item)
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': missing \"data_offsets\"", name);
    uint64_t v[2];
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2 ||
        !st_json_uint(item->child, &v[0]) || !st_json_uint(item->child->next, &v[1]))
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': \"data_offsets\" is not [begin, end] of non-negative integers",
                          name);
    if (v[0] > v[1])
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': data_offsets begin %llu is past end %llu", name,
                          (unsigned long long)v[0], (unsigned long long)v[1]);
    if (v[1] > data_size)
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': data_offsets end %llu is past the data block (%zu bytes; file "
                          "truncated?)", name, (unsigned long long)v[1], data_size);
    e->begin = v[0];
    e->end = v[1];

    /* The byte range must hold exactly the shape's elements (numel < 2^63, size <= 8: check
     * the product against overflow before forming it). */
    uint64_t span = v[1] - v[0], esize = st_dtypes[e->dtype].size;
    if ((uint64_t)e->numel > UINT64_MAX / esize || (uint64_t)e->numel * esize != span) {
        char shape[160], need[48];
        if ((uint64_t)e->numel > UINT64_MAX / esize)
            snprintf(need, sizeof need, "more than 2^64");
        else
            snprintf(need, sizeof need, "%llu", (unsigned long long)((uint64_t)e->numel * esize));
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                          "': %s shape %s needs %s bytes but data_offsets span %llu", name,
                          st_dtypes[e->dtype].name,
                          st_shape_string(e->shape, e->rank, shape, sizeof shape), need,
                          (unsigned long long)span);
    }
    return LSVK_SUCCESS;
}

static lsvk_status st_parse_metadata(lsvk_safetensors *st, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT,
                          "safetensors: \"__metadata__\" is not an object");
    size_t n = (size_t)cJSON_GetArraySize(meta);
    if (n == 0) return LSVK_SUCCESS;
    st->meta_keys = calloc(n, sizeof *st->meta_keys);
    st->meta_values = calloc(n, sizeof *st->meta_values);
    if (!st->meta_keys || !st->meta_values) return st_oom();
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        if (!kv->string)
            return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: metadata entry without a key");
        if (!cJSON_IsString(kv))
            return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: metadata '" ST_NAME_FMT
                              "': value is not a string", kv->string);
        size_t i = st->meta_count;
        st->meta_keys[i] = st_strdup(kv->string);
        st->meta_values[i] = st_strdup(kv->valuestring);
        st->meta_count++; /* counted now so close() frees whatever was allocated */
        if (!st->meta_keys[i] || !st->meta_values[i]) return st_oom();
    }

    /* Duplicate keys: cJSON keeps both, so compare a sorted copy. */
    char **sorted = malloc(st->meta_count * sizeof *sorted);
    if (!sorted) return st_oom();
    memcpy(sorted, st->meta_keys, st->meta_count * sizeof *sorted);
    qsort(sorted, st->meta_count, sizeof *sorted, st_cmp_str);
    for (size_t i = 1; i < st->meta_count; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            lsvk_status s = lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: metadata key '"
                                       ST_NAME_FMT "' appears twice", sorted[i]);
            free(sorted);
            return s;
        }
    }
    free(sorted);
    return LSVK_SUCCESS;
}

static lsvk_status st_parse_header(lsvk_safetensors *st, const cJSON *root) {
    if (!cJSON_IsObject(root))
        return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: header is not a JSON object");

    size_t n = (size_t)cJSON_GetArraySize(root);
    if (n) {
        st->tensors = calloc(n, sizeof *st->tensors);
        if (!st->tensors) return st_oom();
    }
    const cJSON *meta = NULL;
    for (const cJSON *item = root->child; item; item = item->next) {
        const char *name = item->string;
        if (!name) return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: entry without a name");
        if (strcmp(name, "__metadata__") == 0) {
            if (meta)
                return lsvk__fail(NULL, LSVK_ERROR_FORMAT,
                                  "safetensors: \"__metadata__\" appears twice");
            meta = item;
            continue;
        }
        if (!cJSON_IsObject(item))
            return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                              "': entry is not an object", name);
        st_entry *e = &st->tensors[st->count];
        e->name = st_strdup(name);
        if (!e->name) return st_oom();
        st->count++;
        LSVK_TRY(st_parse_dtype(name, cJSON_GetObjectItemCaseSensitive(item, "dtype"), &e->dtype));
        LSVK_TRY(st_parse_shape(name, cJSON_GetObjectItemCaseSensitive(item, "shape"), e));
        LSVK_TRY(st_parse_offsets(name, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"),
                                  st->data_size, e));
    }
    if (meta) LSVK_TRY(st_parse_metadata(st, meta));
    if (!st->count) return LSVK_SUCCESS;

    /* File order: by data offset (ties by name, so the order is total once names are unique). */
    qsort(st->tensors, st->count, sizeof *st->tensors, st_cmp_offset);

    /* Unique names (cJSON keeps duplicate keys): sort an index by name and compare neighbours;
     * the same index then serves lookups. */
    st->by_name = malloc(st->count * sizeof *st->by_name);
    if (!st->by_name) return st_oom();
    for (size_t i = 0; i < st->count; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, st->count, sizeof *st->by_name, st_cmp_name);
    for (size_t i = 1; i < st->count; i++) {
        if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0)
            return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensor '" ST_NAME_FMT
                              "' appears twice", st->by_name[i]->name);
    }

    /* Overlaps. Empty tensors own no bytes and may sit anywhere; for the rest, compare each
     * begin with the furthest end seen so far (an empty tensor in between must not hide an
     * overlap of its neighbours). */
    const st_entry *reach = NULL;
    for (size_t i = 0; i < st->count; i++) {
        const st_entry *e = &st->tensors[i];
        if (e->begin == e->end) continue;
        if (reach && e->begin < reach->end)
            return lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: tensors '" ST_NAME_FMT
                              "' [%llu,%llu) and '" ST_NAME_FMT "' [%llu,%llu) overlap",
                              reach->name, (unsigned long long)reach->begin,
                              (unsigned long long)reach->end, e->name,
                              (unsigned long long)e->begin, (unsigned long long)e->end);
        if (!reach || e->end > reach->end) reach = e;
    }
    return LSVK_SUCCESS;
}

/* Takes ownership of file (malloc'd, size bytes) whatever the outcome. */
static lsvk_status st_parse(uint8_t *file, size_t size, lsvk_safetensors **out) {
    lsvk_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        free(file);
        return st_oom();
    }
    st->file = file;
    st->file_size = size;

    lsvk_status s = LSVK_SUCCESS;
    char *header = NULL;
    cJSON *root = NULL;
    if (size < 8) {
        s = lsvk__fail(NULL, LSVK_ERROR_FORMAT,
                       "safetensors: file is only %zu bytes, too short for the 8-byte header "
                       "length", size);
        goto done;
    }
    uint64_t n = st_load_u64le(file);
    if (n == 0) {
        s = lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: header length is 0");
        goto done;
    }
    if (n > size - 8) {
        s = lsvk__fail(NULL, LSVK_ERROR_FORMAT,
                       "safetensors: header length %llu runs past the end of the %zu-byte file "
                       "(truncated, or not a safetensors file?)", (unsigned long long)n, size);
        goto done;
    }
    if (n > ST_MAX_HEADER) {
        s = lsvk__fail(NULL, LSVK_ERROR_FORMAT,
                       "safetensors: header length %llu exceeds the %llu-byte limit",
                       (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
        goto done;
    }
    st->data = file + 8 + n;
    st->data_size = size - 8 - (size_t)n;

    /* cJSON gets a NUL-terminated private copy so that no parser path can read past the header;
     * an embedded NUL would silently cut names short, so it is refused outright. */
    if (memchr(file + 8, 0, (size_t)n)) {
        s = lsvk__fail(NULL, LSVK_ERROR_FORMAT, "safetensors: header contains a NUL byte");
        goto done;
    }
    header = malloc((size_t)n + 1);
    if (!header) {
        s = st_oom();
        goto done;
    }
    memcpy(header, file + 8, (size_t)n);
    header[n] = '\0';
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(header, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end && end >= header && end <= header + n ? (size_t)(end - header) : 0;
        s = lsvk__fail(NULL, LSVK_ERROR_FORMAT,
                       "safetensors: header is not valid JSON (near byte %zu of %llu)", at,
                       (unsigned long long)n);
        goto done;
    }
    /* Only padding may follow the JSON value. */
    for (const char *p = end; p < header + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = lsvk__fail(NULL, LSVK_ERROR_FORMAT,
                           "safetensors: unexpected data after the JSON header at byte %zu",
                           (size_t)(p - header));
            goto done;
        }
    }
    s = st_parse_header(st, root);

done:
    cJSON_Delete(root);
    free(header);
    if (s != LSVK_SUCCESS) {
        lsvk_safetensors_close(st);
        return s;
    }
    *out = st;
    return LSVK_SUCCESS;
}

/* ------------------------------------------------------------ public */

lsvk_status lsvk_safetensors_open_memory(const void *data, size_t size, lsvk_safetensors **out) {
    if (!out) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "safetensors: out is NULL");
    *out = NULL;
    if (!data && size)
        return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "safetensors: data is NULL");
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return st_oom();
    if (size) memcpy(copy, data, size);
    return st_parse(copy, size, out);
}

lsvk_status lsvk_safetensors_open(const char *path, lsvk_safetensors **out) {
    if (!out) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "safetensors: out is NULL");
    *out = NULL;
    if (!path) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "safetensors: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return lsvk__fail(NULL, LSVK_ERROR_IO, "safetensors: cannot open '%.400s'", path);

    /* Size from seeking is only a hint (pipes, files that change): read until EOF. */
    size_t cap = 1 << 16;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        if (end >= 0 && (unsigned long)end < (unsigned long)(SIZE_MAX - 1)) cap = (size_t)end + 1;
    }
    rewind(f);
    uint8_t *buf = malloc(cap);
    size_t len = 0;
    lsvk_status s = LSVK_SUCCESS;
    while (buf) {
        if (len == cap) {
            size_t ncap = cap <= SIZE_MAX / 2 ? cap * 2 : SIZE_MAX;
            uint8_t *nbuf = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nbuf) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (!buf)
        s = st_oom();
    else if (ferror(f))
        s = lsvk__fail(NULL, LSVK_ERROR_IO, "safetensors: error reading '%.400s'", path);
    fclose(f);
    if (s != LSVK_SUCCESS) {
        free(buf);
        return s;
    }
    s = st_parse(buf, len, out);
    if (s == LSVK_ERROR_FORMAT) {
        /* Name the file: prepend the path to the parser's message. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lsvk_last_error());
        lsvk__fail(NULL, s, "%.300s: %s", path, msg);
    }
    return s;
}

void lsvk_safetensors_close(lsvk_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->count; i++) free(st->tensors[i].name);
    for (size_t i = 0; i < st->meta_count; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->tensors);
    free(st->by_name);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->file);
    free(st);
}

size_t lsvk_safetensors_count(const lsvk_safetensors *st) { return st ? st->count : 0; }

static void st_fill(const lsvk_safetensors *st, const st_entry *e, lsvk_st_tensor *out) {
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->dtype = e->dtype;
    out->rank = e->rank;
    memcpy(out->shape, e->shape, e->rank * sizeof e->shape[0]);
    out->numel = e->numel;
    out->data = st->data + e->begin;
    out->nbytes = (size_t)(e->end - e->begin);
}

static const st_entry *st_lookup(const lsvk_safetensors *st, const char *name) {
    size_t lo = 0, hi = st->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->by_name[mid]->name);
        if (c == 0) return st->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

lsvk_status lsvk_safetensors_at(const lsvk_safetensors *st, size_t index, lsvk_st_tensor *out) {
    if (!st || !out)
        return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "safetensors_at: NULL argument");
    if (index >= st->count)
        return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT,
                          "safetensors_at: index %zu out of range (%zu tensors)", index, st->count);
    st_fill(st, &st->tensors[index], out);
    return LSVK_SUCCESS;
}

lsvk_status lsvk_safetensors_find(const lsvk_safetensors *st, const char *name,
                                  lsvk_st_tensor *out) {
    if (!st || !name || !out)
        return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "safetensors_find: NULL argument");
    const st_entry *e = st_lookup(st, name);
    if (!e)
        return lsvk__fail(NULL, LSVK_ERROR_NOT_FOUND, "safetensors: no tensor named '"
                          ST_NAME_FMT "'", name);
    st_fill(st, e, out);
    return LSVK_SUCCESS;
}

/* IEEE binary16 to float, exact for every input (subnormals, inf, NaN payload kept). */
static float st_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13); /* rebias 15 -> 127 */
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* Subnormal: shift the leading 1 up to the implicit bit, lowering the exponent. */
        uint32_t e = 113u; /* exponent of 2^-14 in float bias, the subnormal scale */
        while (!(mant & 0x400u)) {
            mant <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Unaligned little-endian loads (the data block has no alignment guarantee). */
static uint64_t st_load_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static float st_double_to_float(double d) {
    /* Out-of-range narrowing is undefined in C: saturate to infinity explicitly. */
    if (d > FLT_MAX) return INFINITY;
    if (d < -FLT_MAX) return -INFINITY;
    return (float)d;
}

lsvk_status lsvk_safetensors_read_f32(const lsvk_safetensors *st, const char *name, float *dst,
                                      size_t count) {
    if (!st || !name || (!dst && count))
        return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT,
                          "safetensors_read_f32: NULL argument");
    const st_entry *e = st_lookup(st, name);
    if (!e)
        return lsvk__fail(NULL, LSVK_ERROR_NOT_FOUND, "safetensors: no tensor named '"
                          ST_NAME_FMT "'", name);
    switch (e->dtype) {
    case LSVK_ST_F32: case LSVK_ST_F16: case LSVK_ST_BF16: case LSVK_ST_F64:
    case LSVK_ST_I64: case LSVK_ST_I32: case LSVK_ST_U8: case LSVK_ST_BOOL: break;
    default:
        return lsvk__fail(NULL, LSVK_ERROR_UNSUPPORTED, "safetensors: tensor '" ST_NAME_FMT
                          "': cannot convert %s to float", name, st_dtypes[e->dtype].name);
    }
    if ((uint64_t)e->numel != (uint64_t)count)
        return lsvk__fail(NULL, LSVK_ERROR_SHAPE, "safetensors: tensor '" ST_NAME_FMT
                          "' has %lld elements, caller expects %zu", name, (long long)e->numel,
                          count);
    const uint8_t *p = st->data + e->begin;
    size_t es = st_dtypes[e->dtype].size;
    for (size_t i = 0; i < count; i++, p += es) {
        uint64_t u = st_load_le(p, es);
        float f;
        switch (e->dtype) {
        case LSVK_ST_F32: {
            uint32_t b = (uint32_t)u;
            memcpy(&f, &b, sizeof f);
            break;
        }
        case LSVK_ST_F16: f = st_half_to_float((uint16_t)u); break;
        case LSVK_ST_BF16: {
            uint32_t b = (uint32_t)u << 16;
            memcpy(&f, &b, sizeof f);
            break;
        }
        case LSVK_ST_F64: {
            double d;
            memcpy(&d, &u, sizeof d);
            f = st_double_to_float(d);
            break;
        }
        case LSVK_ST_I64: f = (float)(int64_t)u; break;
        case LSVK_ST_I32: f = (float)(int32_t)(uint32_t)u; break;
        case LSVK_ST_U8: f = (float)u; break;
        case LSVK_ST_BOOL: f = u ? 1.0f : 0.0f; break;
        default: f = 0.0f; break; /* excluded above */
        }
        dst[i] = f;
    }
    return LSVK_SUCCESS;
}

const char *lsvk_safetensors_metadata(const lsvk_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->meta_count; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

size_t lsvk_safetensors_metadata_count(const lsvk_safetensors *st) {
    return st ? st->meta_count : 0;
}

lsvk_status lsvk_safetensors_metadata_at(const lsvk_safetensors *st, size_t index,
                                         const char **key, const char **value) {
    if (!st)
        return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "safetensors_metadata_at: NULL st");
    if (index >= st->meta_count)
        return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT,
                          "safetensors_metadata_at: index %zu out of range (%zu entries)", index,
                          st->meta_count);
    if (key) *key = st->meta_keys[index];
    if (value) *value = st->meta_values[index];
    return LSVK_SUCCESS;
}
