/* lsvk-bench's shared pieces: the parsed options, one result row, the host parameters and device
 * objects of a point, and the functions the files share (one concern per file). */
#ifndef LSVK_SAMPLES_BENCH_H
#define LSVK_SAMPLES_BENCH_H

#include "lsvk/lsvk.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MAX_N 32

typedef struct options {
    const char *preset;
    uint32_t dim, heads, window, landmarks, batch;
    uint32_t nx, ny, nglo, rpe; /* 2D (vision) when nx > 0: one point of nglo + nx*ny tokens */
    int64_t n[MAX_N];
    int n_count;
    int ls, full;
    int repeat, warmup;
    int64_t full_max_n;
    int csv, json, check, timings;
    const char *plot;
} options;

typedef struct row {
    const char *method;
    int64_t n;
    double med_ms, min_ms, max_ms;
    double tokens_s, gflops, gbs;
    double peak_mib;
    double check; /* relative error vs lib/ref; < 0 when not checked */
    char status[200]; /* empty when it ran */
} row;

/* What a point runs: "ls" is the vision layer in 2D runs (--grid). */
typedef enum bench_kind { BENCH_LS, BENCH_FULL, BENCH_VISION } bench_kind;

/* Parameters of one layer, host side, by the layer's names; full attention uses the LS layer's
 * W_q..W_o. */
typedef struct weights {
    const char *name[15];
    float *data[15];
    size_t count[15];
    int n;
} weights;

/* The device objects of one point; the members its kind does not use stay NULL. */
typedef struct point {
    lsvk_tensor *x, *out, *q, *k, *v, *att;
    lsvk_ls_layer *layer;
    lsvk_vision_layer *vlayer;
    lsvk_tensor *w[8];
} point;

/* args.c. bench_parse_args prints --help and exits 0 itself; -1 means a message was printed. */
void bench_usage(void);
int bench_parse_args(int argc, char **argv, options *o);

/* data.c: every random number comes from one seeded generator, so the call order fixes the data. */
float *bench_rand_floats(size_t n, float mean, float scale);
void bench_make_weights(const options *o, weights *w);
void bench_make_vision_weights(const options *o, weights *w);
void bench_free_weights(weights *w);
const float *bench_wget(const weights *w, const char *name);

/* counts.c: work per forward (docs/BENCHMARKS.md). */
double bench_flops(const options *o, bench_kind k, int64_t n);
double bench_bytes(const options *o, bench_kind k, int64_t n);

/* methods.c. w: the parameters of k's layer. bench_point_free also frees a half-built point. */
lsvk_vision_config bench_vision_config(const options *o);
lsvk_status bench_setup(lsvk_context *ctx, const options *o, const lsvk_ls_config *cfg, bench_kind k, const weights *w,
                        int64_t n, const float *x, point *p);
lsvk_status bench_record(lsvk_cmd *cmd, const options *o, bench_kind k, point *p, int64_t n);
void bench_point_free(point *p);

/* check.c: relative error of out against lib/ref, or -1 when the check could not run. */
double bench_check(const options *o, const lsvk_ls_config *cfg, bench_kind k, const weights *w, int64_t n,
                   const float *x, const lsvk_tensor *out);

/* run.c. w: the 1D layer's parameters (also full attention's), vw: the vision layer's (2D runs). */
void bench_run_point(lsvk_context *ctx, const options *o, const lsvk_ls_config *cfg, const weights *w,
                     const weights *vw, int is_ls, int64_t n, int check, row *r);

/* output.c, plot.c */
void bench_print_header(const lsvk_device_info *d, const options *o, FILE *f, const char *prefix);
void bench_print_table(const row *rows, int n);
void bench_print_csv(const row *rows, int n);
void bench_print_json(const lsvk_device_info *d, const options *o, const row *rows, int n);
int bench_write_svg(const char *path, const lsvk_device_info *d, const options *o, const row *rows, int n);

#endif
