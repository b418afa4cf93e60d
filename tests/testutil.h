/* Small test harness: seeded RNG, checks with messages, error metrics, validation guard. */
#ifndef LSVK_TESTUTIL_H
#define LSVK_TESTUTIL_H

#include "lsvk/lsvk.h"
#include <stddef.h>
#include <stdint.h>

/* Seed from LSVK_TEST_SEED, else from the clock; printed once. */
uint64_t tu_seed(void);
/* Deterministic generator (splitmix64) owned by the caller. */
typedef struct tu_rng { uint64_t s; } tu_rng;
tu_rng tu_rng_make(uint64_t seed);
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r);              /* [0,1) */
double tu_randn(tu_rng *r);                /* N(0,1) */
int tu_randint(tu_rng *r, int lo, int hi); /* [lo,hi] */
void tu_fill_randn(tu_rng *r, float *x, size_t n, float scale);

/* A context on LSVK_DEVICE with validation on; validation messages are printed and counted. */
lsvk_context *tu_context(void);
/* Fails the test if any validation message was seen; destroys ctx; prints the summary line
 * "N passed, N failed" and returns the exit code. */
int tu_finish(lsvk_context *ctx);

/* Records a check; on failure prints file:line and the message. Returns cond. */
int tu_check_(int cond, const char *file, int line, const char *fmt, ...);
#define TU_CHECK(cond, ...) tu_check_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* Checks status == LSVK_SUCCESS, printing the status and last error otherwise. */
#define TU_OK(expr) tu_check_((expr) == LSVK_SUCCESS, __FILE__, __LINE__, "%s: %s", #expr, lsvk_last_error())
#define TU_STATUS(expr, want)                                                                      \
    tu_check_((expr) == (want), __FILE__, __LINE__, "%s: want %s, got: %s", #expr,                 \
              lsvk_status_string(want), lsvk_last_error())

/* max |got - ref| / max |ref| (max |got-ref| when ref is all zero); NaN or inf in got -> inf. */
double tu_rel_err(const float *got, const double *ref, size_t n);
/* Fills with quiet NaN so unwritten outputs show. */
void tu_poison(float *x, size_t n);

/* Sets environment variable name to value, or removes it (value NULL): tests force kernel
 * shapes and limits that the library reads at each call. */
void tu_setenv(const char *name, const char *value);

/* A device tensor filled with NaN, so that elements an op fails to write show. */
lsvk_tensor *tu_poisoned(lsvk_context *ctx, uint32_t rank, const int64_t *shape);
/* Convenience: device tensor from host data (NULL data: left unwritten). */
lsvk_tensor *tu_tensor(lsvk_context *ctx, uint32_t rank, const int64_t *shape, const float *data);
#endif
