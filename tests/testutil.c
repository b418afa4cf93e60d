#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200112L /* setenv */
#endif
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int g_passed, g_failed;
static uint32_t g_validation_printed;

uint64_t tu_seed(void) {
    static int printed;
    static uint64_t seed;
    if (!printed) {
        const char *e = getenv("LSVK_TEST_SEED");
        seed = e && *e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
        printf("seed %llu (set LSVK_TEST_SEED to repeat)\n", (unsigned long long)seed);
        printed = 1;
    }
    return seed;
}

tu_rng tu_rng_make(uint64_t seed) { tu_rng r = {seed}; return r; }

uint64_t tu_next(tu_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r) { return (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0); }

double tu_randn(tu_rng *r) {
    double u1 = tu_uniform(r), u2 = tu_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int tu_randint(tu_rng *r, int lo, int hi) {
    return lo + (int)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

void tu_fill_randn(tu_rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(tu_randn(r) * scale);
}

static void on_message(void *user, lsvk_message_severity sev, const char *msg) {
    (void)user;
    g_validation_printed++;
    fprintf(stderr, "VALIDATION [%d]: %s\n", (int)sev, msg);
}

lsvk_context *tu_context(void) {
    lsvk_context_create_info ci = {0};
    ci.validation = LSVK_VALIDATION_ON;
    const char *v = getenv("LSVK_VALIDATION");
    if (v && v[0] == '0') ci.validation = LSVK_VALIDATION_OFF;
    ci.message_callback = on_message;
    lsvk_context *ctx = NULL;
    lsvk_status s = lsvk_context_create(&ci, &ctx);
    if (s != LSVK_SUCCESS) {
        fprintf(stderr, "cannot create context: %s: %s\n", lsvk_status_string(s), lsvk_last_error());
        exit(1);
    }
    const lsvk_device_info *d = lsvk_context_device(ctx);
    printf("device: %s (subgroup %u, validation %s)\n", d->name, d->subgroup_size,
           lsvk_context_validation_enabled(ctx) ? "on" : "off");
    return ctx;
}

int tu_finish(lsvk_context *ctx) {
    if (ctx) {
        uint32_t n = lsvk_context_validation_messages(ctx);
        tu_check_(n == 0, __FILE__, __LINE__, "%u validation message(s)", n);
        lsvk_context_destroy(ctx);
    }
    tu_check_(g_validation_printed == 0, __FILE__, __LINE__, "validation messages printed");
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}

int tu_check_(int cond, const char *file, int line, const char *fmt, ...) {
    if (cond) {
        g_passed++;
        return 1;
    }
    g_failed++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}

double tu_rel_err(const float *got, const double *ref, size_t n) {
    double maxerr = 0, maxref = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) && isfinite(ref[i])) return INFINITY;
        double e = fabs((double)got[i] - ref[i]);
        if (e > maxerr) maxerr = e;
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
    }
    return maxref > 0 ? maxerr / maxref : maxerr;
}

void tu_poison(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}

lsvk_tensor *tu_tensor(lsvk_context *ctx, uint32_t rank, const int64_t *shape, const float *data) {
    lsvk_tensor *t = NULL;
    if (lsvk_tensor_create(ctx, LSVK_F32, rank, shape, &t) != LSVK_SUCCESS) {
        tu_check_(0, __FILE__, __LINE__, "tensor_create: %s", lsvk_last_error());
        return NULL;
    }
    if (data) {
        size_t n = (size_t)lsvk_tensor_numel(t);
        if (lsvk_tensor_upload(t, data, n * sizeof(float)) != LSVK_SUCCESS)
            tu_check_(0, __FILE__, __LINE__, "upload: %s", lsvk_last_error());
    }
    return t;
}

lsvk_tensor *tu_poisoned(lsvk_context *ctx, uint32_t rank, const int64_t *shape) {
    size_t n = 1;
    for (uint32_t i = 0; i < rank; i++) n *= (size_t)shape[i];
    float *nan = malloc(n * sizeof *nan);
    if (!nan) return NULL;
    tu_poison(nan, n);
    lsvk_tensor *t = tu_tensor(ctx, rank, shape, nan);
    free(nan);
    return t;
}

void tu_setenv(const char *name, const char *value) {
#ifdef _WIN32
    _putenv_s(name, value ? value : "");
#else
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
#endif
}
