/* lsvk-lm's shared pieces: the parsed options, the loaded model, and the helpers that the eval,
 * generate and bench commands (one file each) have in common. */
#ifndef LSVK_SAMPLES_LM_H
#define LSVK_SAMPLES_LM_H

#include "lsvk/lsvk.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Upper bounds that keep every buffer size (block * vocab floats, prompt + tokens ids) sane. */
#define MAX_BLOCK (1u << 20)
#define MAX_TOKENS (1ll << 24)

enum { CMD_NONE = 0, CMD_EVAL = 1, CMD_GENERATE = 2, CMD_BENCH = 4 };

typedef struct options {
    int cmd;
    const char *device, *model, *text, *prompt;
    long long block;       /* 0: the config's "block", else mem_len */
    long long limit;       /* eval: bytes of the text to use; -1: all */
    long long tokens;      /* -1: 256 */
    double temperature;
    long long top_k;
    unsigned long long seed;
    int seed_set;
    long long context;     /* bench: prompt bytes; -1: 128 */
    long long streams;     /* bench: streams stepped together (1: none) */
    int csv;
} options;

/* args.c. lm_parse_args prints --help and exits 0 itself; -1 means a message was printed. */
void lm_usage(FILE *f);
int lm_parse_args(int argc, char **argv, options *o);

/* common.c */
double lm_now_s(void);
/* Prints the failed call's status and message; returns the exit code for library failures. */
int lm_fail(lsvk_status s);

typedef struct bytes {
    unsigned char *data;
    size_t size;
} bytes;

/* Up to max bytes of a file (a read loop, so pipes work too). -1 with a message on failure. */
int lm_read_bytes(const char *path, size_t max, bytes *out);
const char *lm_base_name(const char *path);
/* 0 if every byte is a token id of the model; otherwise a message naming the first offender. */
int lm_check_bytes(const unsigned char *p, size_t n, uint32_t vocab, const char *what);

/* model.c: the loaded model and what the commands need from its file. */
typedef struct model {
    lsvk_safetensors *st;
    lsvk_context *ctx;
    lsvk_lm *lm;
    lsvk_lm_config cfg;
    uint32_t block;
    const char *block_from;
    int has_valid_bpc;
    double valid_bpc;
} model;

/* Exit codes (0 on success), m closed on failure. open_file touches no device, so that file and
 * text errors come first; lm_model_open does both steps. */
int lm_model_open_file(const options *o, model *m);
int lm_model_load(const options *o, model *m);
int lm_model_open(const options *o, model *m);
void lm_model_close(model *m);

/* progress.c */
typedef struct progress {
    int tty;
    int last_decile;
    double start, last_draw;
} progress;

void lm_progress_start(progress *p);
void lm_progress_update(progress *p, size_t done, size_t total, size_t chars);

/* eval.c, generate.c, bench.c: each returns the process exit code. */
int lm_eval(const options *o);
int lm_generate(const options *o);
int lm_bench(const options *o);

#endif
