/* Reading the golden test files (shared/golden/README.md): tensors as float arrays, the
 * `config` JSON of the metadata, and the comparison metric of the README. Used by the host and
 * device golden tests and by the lsvk-golden sample. Failures print a message to stderr and
 * return NULL / a negative value; nothing here exits. */
#ifndef LSVK_GOLDEN_UTIL_H
#define LSVK_GOLDEN_UTIL_H

#include "lsvk/lsvk.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct golden_file golden_file;

/* Opens a golden file and parses its `config`. NULL on failure (message printed). */
golden_file *golden_open(const char *path);
/* Opens <dir>/golden/<name>.safetensors, e.g. golden_open_case(LSVK_TEST_DATA, "bidir_basic"). */
golden_file *golden_open_case(const char *dir, const char *name);
void golden_close(golden_file *g);

/* The underlying reader (for lsvk_ls_layer_load and the like); owned by g. */
const lsvk_safetensors *golden_safetensors(const golden_file *g);
/* Path given to golden_open; metadata `variant` and `case` ("" if absent). */
const char *golden_path(const golden_file *g);
const char *golden_variant(const golden_file *g);
const char *golden_case(const golden_file *g);
/* Any __metadata__ value, or NULL. */
const char *golden_meta(const golden_file *g, const char *key);
/* The number after "<=" in the `tolerance` metadata; 1e-4 (README section 8) if absent. */
double golden_tolerance(const golden_file *g);

/* ---------------------------------------------------------------- tensors */

/* 1 if the file has the tensor. */
int golden_has(const golden_file *g, const char *name);
/* Shape of a tensor: returns its rank (shape gets LSVK_ST_MAX_RANK entries at most, may be NULL)
 * and sets *numel (may be NULL); -1 if absent. */
int golden_shape(const golden_file *g, const char *name, int64_t *shape, int64_t *numel);
/* The tensor converted to float (F32, U8, I64, ... as lsvk_safetensors_read_f32 converts), in a
 * malloc'd array the caller frees. rank, shape (LSVK_ST_MAX_RANK entries) and numel may be NULL.
 * NULL if absent (no message: absence is often expected) or on failure (message printed). */
float *golden_tensor(const golden_file *g, const char *name, int *rank, int64_t *shape,
                     size_t *numel);
/* The same, but the tensor must have exactly `rank` dimensions equal to `shape`; otherwise a
 * message is printed and NULL returned. */
float *golden_tensor_expect(const golden_file *g, const char *name, int rank, const int64_t *shape);

/* ---------------------------------------------------------------- config */

/* Integer key of `config`: 0 and *out set; -1 if absent or not an integer. */
int golden_cfg_int(const golden_file *g, const char *key, long long *out);
/* Integer key, or def if absent. */
long long golden_cfg_int_or(const golden_file *g, const char *key, long long def);
/* Boolean key (true/false): 0 and *out set to 1/0; -1 if absent or not boolean. */
int golden_cfg_bool(const golden_file *g, const char *key, int *out);
/* String key, owned by g; NULL if absent or not a string. */
const char *golden_cfg_string(const golden_file *g, const char *key);
/* Integer list key (e.g. `valid_lengths`): writes up to cap values and returns the list length;
 * -1 if absent, null or not a list of integers. */
int golden_cfg_int_list(const golden_file *g, const char *key, long long *out, int cap);

/* Config of a `bidir` file as an lsvk_ls_config, with the batch B and the token count N0
 * (`total_tokens`). Either of B, N0 may be NULL. 0, or -1 with a message. */
int golden_ls_config(const golden_file *g, lsvk_ls_config *cfg, int *B, int *N0);

/* ---------------------------------------------------------------- comparison */

/* README section 8 metric: max |mine - golden| / max |golden| over the finite golden entries
 * (max |mine - golden| if those are all zero). -inf entries (debug.scores) must be -inf in both
 * at the same positions; any mismatch there, and any NaN or inf in mine elsewhere, gives
 * INFINITY. */
double golden_rel_err(const double *mine, const float *golden, size_t n);
/* The same for a float result (device output). */
double golden_rel_err_f(const float *mine, const float *golden, size_t n);

#ifdef __cplusplus
}
#endif
#endif
