/* safetensors reader: a valid file round-trips; every kind of malformed file is refused with
 * LSVK_ERROR_FORMAT and a message; one real golden file reads as documented. Files are built in
 * memory by a small builder below. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LSVK_TEST_DATA
#define LSVK_TEST_DATA "tests"
#endif

/* ------------------------------------------------------------ builder */

/* A whole file: u64 LE header length, header (space-padded to a multiple of 8), data. */
typedef struct file_buf {
    uint8_t *bytes;
    size_t size;
} file_buf;

static file_buf build_raw(uint64_t header_len_field, const char *header, size_t header_bytes,
                          const void *data, size_t data_size) {
    file_buf f;
    f.size = 8 + header_bytes + data_size;
    f.bytes = malloc(f.size);
    if (!f.bytes) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int i = 0; i < 8; i++) f.bytes[i] = (uint8_t)(header_len_field >> (8 * i));
    memcpy(f.bytes + 8, header, header_bytes);
    if (data_size) memcpy(f.bytes + 8 + header_bytes, data, data_size);
    return f;
}

/* Well-formed framing around header (padded) and data. */
static file_buf build(const char *header, const void *data, size_t data_size) {
    size_t n = strlen(header), padded = (n + 7) / 8 * 8;
    char *h = malloc(padded ? padded : 1);
    if (!h) exit(1);
    memcpy(h, header, n);
    memset(h + n, ' ', padded - n);
    file_buf f = build_raw(padded, h, padded, data, data_size);
    free(h);
    return f;
}

/* Tensors placed back to back in the order given (no alignment: exercises unaligned reads). */
typedef struct spec {
    const char *name, *dtype, *shape; /* shape as JSON, e.g. "[2,3]" */
    const void *bytes;
    size_t nbytes;
} spec;

/* The header lists the tensors in reverse, so that header order and data order differ. */
static file_buf build_tensors(const spec *t, size_t n, const char *metadata_json) {
    char header[4096];
    uint8_t data[4096];
    size_t offsets[32], hl = 0, off = 0;
    if (n > 32) exit(1);
    for (size_t i = 0; i < n; i++) {
        offsets[i] = off;
        if (t[i].nbytes) memcpy(data + off, t[i].bytes, t[i].nbytes);
        off += t[i].nbytes;
    }
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "{");
    if (metadata_json)
        hl += (size_t)snprintf(header + hl, sizeof header - hl, "\"__metadata__\":%s%s",
                               metadata_json, n ? "," : "");
    for (size_t j = 0; j < n; j++) {
        size_t i = n - 1 - j;
        hl += (size_t)snprintf(header + hl, sizeof header - hl,
                               "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                               j ? "," : "", t[i].name, t[i].dtype, t[i].shape, offsets[i],
                               offsets[i] + t[i].nbytes);
    }
    snprintf(header + hl, sizeof header - hl, "}");
    return build(header, data, off);
}

/* ------------------------------------------------------------ helpers */

static void expect_format_file(file_buf f, const char *what) {
    static char sentinel;
    lsvk_safetensors *st = (lsvk_safetensors *)(void *)&sentinel; /* must be reset to NULL */
    lsvk_status s = lsvk_safetensors_open_memory(f.bytes, f.size, &st);
    TU_CHECK(s == LSVK_ERROR_FORMAT, "%s: want LSVK_ERROR_FORMAT, got %s", what,
             lsvk_status_string(s));
    TU_CHECK(st == NULL, "%s: out not NULL after failure", what);
    TU_CHECK(lsvk_last_error()[0] != '\0', "%s: empty error message", what);
    if (s == LSVK_ERROR_FORMAT && getenv("LSVK_TEST_VERBOSE"))
        printf("  %-34s -> %s\n", what, lsvk_last_error());
    if (s == LSVK_SUCCESS) lsvk_safetensors_close(st);
    free(f.bytes);
}

/* A header with data_size bytes of zero data. */
static void expect_format(const char *header, size_t data_size, const char *what) {
    uint8_t *zeros = calloc(data_size ? data_size : 1, 1);
    if (!zeros) exit(1);
    expect_format_file(build(header, zeros, data_size), what);
    free(zeros);
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int same_float(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

/* ------------------------------------------------------------ valid file */

static void test_round_trip(void) {
    float f32[6] = {1.5f, -2.25f, 0.0f, 3.0e-40f /* subnormal */, 1e30f, -7.0f};
    uint8_t f32b[24];
    for (int i = 0; i < 6; i++) {
        uint32_t b;
        memcpy(&b, &f32[i], 4);
        put_le(f32b + 4 * i, b, 4);
    }
    const uint16_t f16[9] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x8000};
    const float f16_want[9] = {1.0f, -2.0f, 5.9604644775390625e-08f, 6.0975551605224609e-05f,
                               65504.0f, INFINITY, -INFINITY, NAN, -0.0f};
    uint8_t f16b[18];
    for (int i = 0; i < 9; i++) put_le(f16b + 2 * i, f16[i], 2);
    const int64_t i64[4] = {0, -3, 1 << 20, (int64_t)1 << 40};
    uint8_t i64b[32];
    for (int i = 0; i < 4; i++) put_le(i64b + 8 * i, (uint64_t)i64[i], 8);
    const uint8_t u8[3] = {0, 7, 255};
    const uint8_t boolb[2] = {1, 0};
    uint8_t bf16b[4];
    put_le(bf16b, 0x3fc0, 2); /* 1.5 */
    put_le(bf16b + 2, 0xc080, 2); /* -4 */
    uint8_t f64b[16];
    double f64[2] = {0.1, 1e300};
    for (int i = 0; i < 2; i++) {
        uint64_t b;
        memcpy(&b, &f64[i], 8);
        put_le(f64b + 8 * i, b, 8);
    }
    uint8_t i32b[8];
    put_le(i32b, (uint32_t)-5, 4);
    put_le(i32b + 4, 123456, 4);
    uint8_t u16b[2] = {1, 0};
    uint8_t scalar[4];
    {
        float one = 1.0f;
        uint32_t b;
        memcpy(&b, &one, 4);
        put_le(scalar, b, 4);
    }

    /* Data in this order (the header lists it reversed): u8 first (3 bytes), so everything after
     * it is unaligned. */
    const spec t[] = {
        {"d.u8", "U8", "[3]", u8, 3},
        {"a.f32", "F32", "[2,3]", f32b, 24},
        {"b.f16", "F16", "[9]", f16b, 18},
        {"empty", "F32", "[0,3]", NULL, 0},
        {"c.i64", "I64", "[2,2]", i64b, 32},
        {"e.bf16", "BF16", "[2]", bf16b, 4},
        {"f.bool", "BOOL", "[2]", boolb, 2},
        {"g.f64", "F64", "[2]", f64b, 16},
        {"h.i32", "I32", "[1,2]", i32b, 8},
        {"u16", "U16", "[1]", u16b, 2},
        {"scalar", "F32", "[]", scalar, 4},
    };
    const size_t nt = sizeof t / sizeof t[0];
    file_buf f = build_tensors(t, nt, "{\"variant\":\"test\",\"note\":\"a \\\"quoted\\\" value\"}");

    lsvk_safetensors *st = NULL;
    if (!TU_OK(lsvk_safetensors_open_memory(f.bytes, f.size, &st))) {
        free(f.bytes);
        return;
    }
    /* The object holds a copy: clobber the caller's buffer. */
    memset(f.bytes, 0xAB, f.size);
    free(f.bytes);

    TU_CHECK(lsvk_safetensors_count(st) == nt, "count %zu", lsvk_safetensors_count(st));
    /* By offset: "empty" (offset 3+24+18=45, zero bytes) sorts before c.i64 at the same offset. */
    const char *order[] = {"d.u8", "a.f32", "b.f16", "empty", "c.i64", "e.bf16", "f.bool",
                           "g.f64", "h.i32", "u16", "scalar"};
    const uint8_t *prev_end = NULL;
    for (size_t i = 0; i < nt; i++) {
        lsvk_st_tensor x;
        if (!TU_OK(lsvk_safetensors_at(st, i, &x))) continue;
        TU_CHECK(strcmp(x.name, order[i]) == 0, "at(%zu) = %s, want %s", i, x.name, order[i]);
        if (prev_end) TU_CHECK((const uint8_t *)x.data == prev_end, "%s not contiguous", x.name);
        prev_end = (const uint8_t *)x.data + x.nbytes;
    }
    lsvk_st_tensor x;
    TU_STATUS(lsvk_safetensors_at(st, nt, &x), LSVK_ERROR_INVALID_ARGUMENT);

    for (size_t i = 0; i < nt; i++) {
        if (!TU_OK(lsvk_safetensors_find(st, t[i].name, &x))) continue;
        TU_CHECK(strcmp(lsvk_st_dtype_string(x.dtype), t[i].dtype) == 0, "%s dtype %s",
                 t[i].name, lsvk_st_dtype_string(x.dtype));
        TU_CHECK(x.nbytes == t[i].nbytes, "%s nbytes %zu", t[i].name, x.nbytes);
        TU_CHECK(t[i].nbytes == 0 || memcmp(x.data, t[i].bytes, t[i].nbytes) == 0,
                 "%s bytes differ", t[i].name);
    }
    TU_OK(lsvk_safetensors_find(st, "a.f32", &x));
    TU_CHECK(x.dtype == LSVK_ST_F32 && x.rank == 2 && x.shape[0] == 2 && x.shape[1] == 3 &&
                 x.numel == 6, "a.f32 shape");
    TU_OK(lsvk_safetensors_find(st, "empty", &x));
    TU_CHECK(x.rank == 2 && x.shape[0] == 0 && x.shape[1] == 3 && x.numel == 0, "empty shape");
    TU_OK(lsvk_safetensors_find(st, "scalar", &x));
    TU_CHECK(x.rank == 0 && x.numel == 1, "scalar shape");
    TU_STATUS(lsvk_safetensors_find(st, "nope", &x), LSVK_ERROR_NOT_FOUND);
    TU_STATUS(lsvk_safetensors_find(st, "a.f3", &x), LSVK_ERROR_NOT_FOUND);

    /* read_f32 conversions */
    float out[16];
    if (TU_OK(lsvk_safetensors_read_f32(st, "a.f32", out, 6)))
        for (int i = 0; i < 6; i++) TU_CHECK(same_float(out[i], f32[i]), "f32[%d] = %g", i, out[i]);
    if (TU_OK(lsvk_safetensors_read_f32(st, "b.f16", out, 9)))
        for (int i = 0; i < 9; i++)
            TU_CHECK(same_float(out[i], f16_want[i]), "f16[%d] 0x%04x = %.9g, want %.9g", i,
                     f16[i], out[i], f16_want[i]);
    if (TU_OK(lsvk_safetensors_read_f32(st, "c.i64", out, 4)))
        for (int i = 0; i < 4; i++) TU_CHECK(out[i] == (float)i64[i], "i64[%d] = %g", i, out[i]);
    if (TU_OK(lsvk_safetensors_read_f32(st, "d.u8", out, 3)))
        for (int i = 0; i < 3; i++) TU_CHECK(out[i] == (float)u8[i], "u8[%d] = %g", i, out[i]);
    if (TU_OK(lsvk_safetensors_read_f32(st, "e.bf16", out, 2)))
        TU_CHECK(out[0] == 1.5f && out[1] == -4.0f, "bf16 = %g %g", out[0], out[1]);
    if (TU_OK(lsvk_safetensors_read_f32(st, "f.bool", out, 2)))
        TU_CHECK(out[0] == 1.0f && out[1] == 0.0f, "bool = %g %g", out[0], out[1]);
    if (TU_OK(lsvk_safetensors_read_f32(st, "g.f64", out, 2)))
        TU_CHECK(out[0] == 0.1f && isinf(out[1]) && out[1] > 0, "f64 = %g %g", out[0], out[1]);
    if (TU_OK(lsvk_safetensors_read_f32(st, "h.i32", out, 2)))
        TU_CHECK(out[0] == -5.0f && out[1] == 123456.0f, "i32 = %g %g", out[0], out[1]);
    TU_OK(lsvk_safetensors_read_f32(st, "empty", NULL, 0));
    TU_STATUS(lsvk_safetensors_read_f32(st, "a.f32", out, 5), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_safetensors_read_f32(st, "a.f32", out, 7), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_safetensors_read_f32(st, "u16", out, 1), LSVK_ERROR_UNSUPPORTED);
    TU_STATUS(lsvk_safetensors_read_f32(st, "missing", out, 1), LSVK_ERROR_NOT_FOUND);
    TU_STATUS(lsvk_safetensors_read_f32(st, "a.f32", NULL, 6), LSVK_ERROR_INVALID_ARGUMENT);

    /* metadata */
    TU_CHECK(lsvk_safetensors_metadata_count(st) == 2, "metadata count %zu",
             lsvk_safetensors_metadata_count(st));
    const char *v = lsvk_safetensors_metadata(st, "variant");
    TU_CHECK(v && strcmp(v, "test") == 0, "metadata variant");
    v = lsvk_safetensors_metadata(st, "note");
    TU_CHECK(v && strcmp(v, "a \"quoted\" value") == 0, "metadata note: %s", v ? v : "(null)");
    TU_CHECK(lsvk_safetensors_metadata(st, "absent") == NULL, "absent metadata key");
    const char *k = NULL;
    v = NULL;
    TU_OK(lsvk_safetensors_metadata_at(st, 1, &k, &v));
    TU_CHECK(k && v && strcmp(k, "note") == 0, "metadata_at(1) key %s", k ? k : "(null)");
    TU_STATUS(lsvk_safetensors_metadata_at(st, 2, &k, &v), LSVK_ERROR_INVALID_ARGUMENT);

    lsvk_safetensors_close(st);
}

static void test_small_valid(void) {
    /* No tensors, no metadata. */
    file_buf f = build("{}", NULL, 0);
    lsvk_safetensors *st = NULL;
    if (TU_OK(lsvk_safetensors_open_memory(f.bytes, f.size, &st))) {
        TU_CHECK(lsvk_safetensors_count(st) == 0, "empty count");
        TU_CHECK(lsvk_safetensors_metadata_count(st) == 0, "empty metadata");
        lsvk_safetensors_close(st);
    }
    free(f.bytes);
    /* Only metadata (empty object), tab/newline padding, data block with unused trailing bytes. */
    uint8_t data[8] = {0};
    f = build("{\"__metadata__\":{},\n\t\"x\":{\"shape\":[1],\"data_offsets\":[4,5],"
              "\"dtype\":\"I8\"}}\n",
              data, sizeof data);
    st = NULL;
    if (TU_OK(lsvk_safetensors_open_memory(f.bytes, f.size, &st))) {
        TU_CHECK(lsvk_safetensors_count(st) == 1, "count");
        lsvk_safetensors_close(st);
    }
    free(f.bytes);
    /* Two empty tensors at the same offset do not overlap. */
    f = build("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[0,0]},"
              "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
              data, 4);
    st = NULL;
    if (TU_OK(lsvk_safetensors_open_memory(f.bytes, f.size, &st))) lsvk_safetensors_close(st);
    free(f.bytes);
}

static void test_arguments(void) {
    lsvk_safetensors *st = NULL;
    uint8_t b[16] = {0};
    TU_STATUS(lsvk_safetensors_open_memory(b, sizeof b, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_safetensors_open_memory(NULL, 16, &st), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_safetensors_open(NULL, &st), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_safetensors_open("x", NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_safetensors_open(LSVK_TEST_DATA "/golden/does-not-exist.safetensors", &st),
              LSVK_ERROR_IO);
    TU_CHECK(st == NULL && lsvk_last_error()[0], "nonexistent file");
    lsvk_st_tensor x;
    TU_STATUS(lsvk_safetensors_at(NULL, 0, &x), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_safetensors_find(NULL, "a", &x), LSVK_ERROR_INVALID_ARGUMENT);
    TU_CHECK(lsvk_safetensors_count(NULL) == 0, "count(NULL)");
    TU_CHECK(lsvk_safetensors_metadata(NULL, "a") == NULL, "metadata(NULL)");
    TU_CHECK(lsvk_safetensors_metadata_count(NULL) == 0, "metadata_count(NULL)");
    lsvk_safetensors_close(NULL);
    TU_CHECK(strcmp(lsvk_st_dtype_string(LSVK_ST_BF16), "BF16") == 0, "dtype string");
    TU_CHECK(lsvk_st_dtype_string((lsvk_st_dtype)99) != NULL, "dtype string of a bad value");
}

/* ------------------------------------------------------------ malformed files */

#define T1(dtype, shape, offsets)                                                                  \
    "{\"t\":{\"dtype\":" dtype ",\"shape\":" shape ",\"data_offsets\":" offsets "}}"

static void test_truncated(void) {
    static const uint8_t five[5] = {8, 0, 0, 0, 0};
    expect_format_file(build_raw(0, "", 0, NULL, 0), "8-byte file, header length 0");
    file_buf f = {malloc(5), 5};
    memcpy(f.bytes, five, 5);
    expect_format_file(f, "5-byte file");
    /* Header length 100, but only 20 bytes follow. */
    const char *h = "{}                  ";
    expect_format_file(build_raw(100, h, strlen(h), NULL, 0), "header length past end");
    /* Header length one past the end. */
    expect_format_file(build_raw(strlen(h) + 1, h, strlen(h), NULL, 0), "header length end+1");
    /* Data shorter than the offsets say. */
    expect_format(T1("\"F32\"", "[4]", "[0,16]"), 12, "data shorter than offsets");
    /* A valid file cut at every length fails cleanly. */
    uint8_t d[16] = {0};
    file_buf whole = build(T1("\"F32\"", "[4]", "[0,16]"), d, 16);
    for (size_t cut = 0; cut < whole.size; cut++) {
        file_buf part = {malloc(cut ? cut : 1), cut};
        memcpy(part.bytes, whole.bytes, cut);
        char what[64];
        snprintf(what, sizeof what, "file cut to %zu of %zu bytes", cut, whole.size);
        expect_format_file(part, what);
    }
    free(whole.bytes);
}

static void test_header_length(void) {
    const char *h = "{}      ";
    expect_format_file(build_raw((uint64_t)1 << 63, h, 8, NULL, 0), "header length 2^63");
    expect_format_file(build_raw(UINT64_MAX, h, 8, NULL, 0), "header length 2^64-1");
    expect_format_file(build_raw(0, h, 8, NULL, 0), "header length 0");
    /* Over the 100 MiB cap although the file is long enough. */
    size_t big = ((size_t)100 << 20) + 16;
    uint8_t *zeros = calloc(big, 1);
    if (zeros) {
        expect_format_file(build_raw(big - 8, "{", 1, zeros, big - 1 - 8), "header over 100 MiB");
        free(zeros);
    }
}

static void test_bad_json(void) {
    expect_format("{\"t\":{", 0, "unterminated JSON");
    expect_format("{\"t\":{\"dtype\":\"F32\",}}", 0, "trailing comma");
    expect_format("not json", 0, "not JSON at all");
    expect_format("{} garbage", 0, "garbage after the JSON value");
    expect_format("{}{}", 0, "two JSON values");
    expect_format("[1,2]", 0, "header is an array");
    expect_format("\"str\"", 0, "header is a string");
    expect_format("42", 0, "header is a number");
    expect_format("null", 0, "header is null");
    static const char nul_header[] = "{\"a\0b\":1}";
    expect_format_file(build_raw(sizeof nul_header - 1, nul_header, sizeof nul_header - 1, NULL, 0),
                       "NUL byte in header");
    expect_format("{\"t\":5}", 0, "tensor entry not an object");
}

static void test_bad_fields(void) {
    expect_format("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing dtype");
    expect_format("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing shape");
    expect_format("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing data_offsets");
    expect_format(T1("\"F8\"", "[1]", "[0,1]"), 4, "unknown dtype");
    expect_format(T1("\"f32\"", "[1]", "[0,4]"), 4, "lower-case dtype");
    expect_format(T1("4", "[1]", "[0,4]"), 4, "dtype not a string");
    expect_format(T1("\"F32\"", "[-1]", "[0,4]"), 4, "negative shape entry");
    expect_format(T1("\"F32\"", "[1.5]", "[0,4]"), 4, "non-integer shape entry");
    expect_format(T1("\"F32\"", "[\"1\"]", "[0,4]"), 4, "string shape entry");
    expect_format(T1("\"F32\"", "[null]", "[0,4]"), 4, "null shape entry");
    expect_format(T1("\"F32\"", "[1e30]", "[0,4]"), 4, "shape entry past int64");
    expect_format(T1("\"F32\"", "4", "[0,4]"), 4, "shape not an array");
    expect_format(T1("\"F32\"", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4, "rank 9");
    expect_format(T1("\"F32\"", "[4294967296,4294967296]", "[0,4]"), 4, "shape product overflow");
    expect_format(T1("\"F32\"", "[4611686018427387904,4]", "[0,4]"), 4, "shape product 2^64");
    expect_format(T1("\"F64\"", "[4611686018427387904]", "[0,8]"), 8, "byte count overflow");
    expect_format(T1("\"F32\"", "[4,4]", "[0,60]"), 64, "shape/byte-range mismatch");
    expect_format(T1("\"F32\"", "[4,4]", "[0,68]"), 68, "byte range too long");
    expect_format(T1("\"F32\"", "[1]", "[0,64]"), 32, "offsets past the data block");
    expect_format(T1("\"F32\"", "[1]", "[8,4]"), 32, "begin > end");
    expect_format(T1("\"F32\"", "[1]", "[-4,0]"), 32, "negative offset");
    expect_format(T1("\"F32\"", "[1]", "[0.5,4.5]"), 32, "fractional offsets");
    expect_format(T1("\"F32\"", "[1]", "[0]"), 32, "one offset");
    expect_format(T1("\"F32\"", "[1]", "[0,4,8]"), 32, "three offsets");
    expect_format(T1("\"F32\"", "[1]", "{\"a\":0,\"b\":4}"), 32, "offsets not an array");
    expect_format(T1("\"F32\"", "[1]", "[0,18446744073709551616]"), 32, "offset 2^64");
}

static void test_bad_layout(void) {
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                  24, "overlapping tensors");
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                  16, "identical ranges");
    /* An empty tensor between two overlapping ones must not hide the overlap. */
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                  "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                  16, "overlap around an empty tensor");
    expect_format("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  8, "duplicate names");
}

static void test_bad_metadata(void) {
    expect_format("{\"__metadata__\":[\"a\"]}", 0, "metadata is an array");
    expect_format("{\"__metadata__\":\"a\"}", 0, "metadata is a string");
    expect_format("{\"__metadata__\":{\"a\":1}}", 0, "metadata value a number");
    expect_format("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0, "metadata value an object");
    expect_format("{\"__metadata__\":{\"a\":null}}", 0, "metadata value null");
    expect_format("{\"__metadata__\":{\"a\":\"x\",\"a\":\"y\"}}", 0, "duplicate metadata key");
    expect_format("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "metadata twice");
}

/* ------------------------------------------------------------ golden file */

static void test_golden(void) {
    const char *path = LSVK_TEST_DATA "/golden/bidir_basic.safetensors";
    lsvk_safetensors *st = NULL;
    if (!TU_OK(lsvk_safetensors_open(path, &st))) return;
    const char *variant = lsvk_safetensors_metadata(st, "variant");
    TU_CHECK(variant && strcmp(variant, "bidir") == 0, "variant %s", variant ? variant : "(null)");
    lsvk_st_tensor x;
    if (TU_OK(lsvk_safetensors_find(st, "input.X", &x))) {
        TU_CHECK(x.dtype == LSVK_ST_F32 && x.rank == 3, "input.X: %s rank %u",
                 lsvk_st_dtype_string(x.dtype), x.rank);
        TU_CHECK(x.numel == x.shape[0] * x.shape[1] * x.shape[2], "input.X numel");
        float *buf = malloc((size_t)x.numel * sizeof *buf);
        if (buf && TU_OK(lsvk_safetensors_read_f32(st, "input.X", buf, (size_t)x.numel))) {
            int finite = 1;
            for (int64_t i = 0; i < x.numel; i++) finite &= isfinite(buf[i]) != 0;
            TU_CHECK(finite, "input.X has non-finite values");
            TU_CHECK(memcmp(buf, x.data, x.nbytes) == 0, "input.X read_f32 differs from raw");
        }
        free(buf);
    }
    if (TU_OK(lsvk_safetensors_find(st, "input.mask", &x)))
        TU_CHECK(x.dtype == LSVK_ST_U8 && x.rank == 2, "input.mask: %s rank %u",
                 lsvk_st_dtype_string(x.dtype), x.rank);
    /* The golden files are packed with no gaps, in offset order. */
    size_t next = 0;
    for (size_t i = 0; i < lsvk_safetensors_count(st); i++) {
        lsvk_st_tensor t, first;
        TU_OK(lsvk_safetensors_at(st, i, &t));
        TU_OK(lsvk_safetensors_at(st, 0, &first));
        size_t off = (size_t)((const uint8_t *)t.data - (const uint8_t *)first.data);
        TU_CHECK(off == next, "%s at %zu, want %zu", t.name, off, next);
        next = off + t.nbytes;
    }
    lsvk_safetensors_close(st);
}

int main(void) {
    test_arguments();
    test_round_trip();
    test_small_valid();
    test_truncated();
    test_header_length();
    test_bad_json();
    test_bad_fields();
    test_bad_layout();
    test_bad_metadata();
    test_golden();
    return tu_finish(NULL);
}
