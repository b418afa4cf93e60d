/* lsvk-bench: long-short attention vs full attention over sequence lengths, on one Vulkan device,
 * with numbers comparable across vendors (GPU time from timestamps, tokens/s, GFLOP/s, GB/s,
 * peak device memory) and a check against lib/ref at the smallest length. The 2D presets
 * (--grid) run the vision layer (lsvk_vision_forward) on an image grid instead, beside full
 * attention over the same tokens.
 * Formulae: docs/BENCHMARKS.md. */
#include "lsvk/lsvk.h"
#include "ref/ref.h"
#include "ref/ref_attention.h"
#include "ref/ref_vision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void usage(void) {
    fprintf(stderr,
            "usage: lsvk-bench [--preset lra|base|surya-1d|vil-stage1|vil-384|surya] [options]\n"
            "  --n LIST            sequence lengths, e.g. 2048,16384,65536\n"
            "  --method LIST       ls,full (default both)\n"
            "  --dim D --heads H --window W --landmarks R --batch B\n"
            "  --grid NXxNY        2D: the vision layer on an NX x NY image (landmarks = dp_rank)\n"
            "  --nglo G --rpe 0|1  2D: global tokens (0 or 1), relative-position bias\n"
            "  --repeat R          timed runs per point (default 5); --warmup W (default 1)\n"
            "  --full-max-n N      skip full attention above N tokens (default: no limit)\n"
            "  --csv | --json      machine-readable output instead of the table\n"
            "  --plot FILE.svg     time vs n per method, log-log\n"
            "  --timings           per-dispatch GPU times of the last run of each point\n"
            "  --no-check          skip the lib/ref check at the smallest n\n"
            "presets: lra   dim 64, 2 x 32, w 8, r 32, n 4096, batch 32\n"
            "         base  dim 512, 8 x 64, w 64, r 64, batch 1, n 2048,4096,8192,16384\n"
            "         surya-1d   dim 1280, 16 x 80, w 2, r 4, batch 1, n 4096,16384,65536\n"
            "  2D:    vil-stage1 56x56, dim 96, 3 x 32, w 7, r 8, 1 global, rpe, batch 1\n"
            "         vil-384    96x96, dim 96, 3 x 32, w 8, r 8, 1 global, rpe, batch 1\n"
            "         surya      256x256, dim 1280, 16 x 80, w 2, r 4, 1 global, rpe, batch 1\n"
            "LSVK_DEVICE picks the device.\n");
}

static int parse_list(const char *s, int64_t *out, int cap) {
    int n = 0;
    while (*s && n < cap) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 1) return -1;
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

/* 2D presets: one point of nglo + nx*ny tokens. */
static void set_grid(options *o, uint32_t nx, uint32_t ny) {
    o->nx = nx;
    o->ny = ny;
    o->n[0] = (int64_t)o->nglo + (int64_t)nx * ny;
    o->n_count = 1;
}

static int set_preset(options *o, const char *name) {
    o->preset = name;
    o->nx = o->ny = 0;
    o->nglo = 1;
    o->rpe = 1;
    if (strcmp(name, "lra") == 0) {
        o->dim = 64; o->heads = 2; o->window = 8; o->landmarks = 32; o->batch = 32;
        o->n_count = parse_list("4096", o->n, MAX_N);
    } else if (strcmp(name, "base") == 0) {
        o->dim = 512; o->heads = 8; o->window = 64; o->landmarks = 64; o->batch = 1;
        o->n_count = parse_list("2048,4096,8192,16384", o->n, MAX_N);
    } else if (strcmp(name, "surya-1d") == 0) {
        o->dim = 1280; o->heads = 16; o->window = 2; o->landmarks = 4; o->batch = 1;
        o->n_count = parse_list("4096,16384,65536", o->n, MAX_N);
    } else if (strcmp(name, "vil-stage1") == 0) {
        o->dim = 96; o->heads = 3; o->window = 7; o->landmarks = 8; o->batch = 1;
        set_grid(o, 56, 56);
    } else if (strcmp(name, "vil-384") == 0) {
        o->dim = 96; o->heads = 3; o->window = 8; o->landmarks = 8; o->batch = 1;
        set_grid(o, 96, 96);
    } else if (strcmp(name, "surya") == 0) {
        o->dim = 1280; o->heads = 16; o->window = 2; o->landmarks = 4; o->batch = 1;
        set_grid(o, 256, 256);
    } else {
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    set_preset(o, "base");
    o->ls = o->full = 1;
    o->repeat = 5;
    o->warmup = 1;
    o->check = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() do { if (!v) { fprintf(stderr, "lsvk-bench: %s needs a value\n", a); return -1; } i++; } while (0)
        if (strcmp(a, "--preset") == 0) {
            NEED_VALUE();
            if (set_preset(o, v) != 0) { fprintf(stderr, "lsvk-bench: unknown preset '%s'\n", v); return -1; }
        } else if (strcmp(a, "--n") == 0) {
            NEED_VALUE();
            if ((o->n_count = parse_list(v, o->n, MAX_N)) < 1) { fprintf(stderr, "lsvk-bench: bad --n '%s'\n", v); return -1; }
        } else if (strcmp(a, "--method") == 0) {
            NEED_VALUE();
            o->ls = strstr(v, "ls") != NULL;
            o->full = strstr(v, "full") != NULL;
            if (!o->ls && !o->full) { fprintf(stderr, "lsvk-bench: --method takes ls, full or ls,full\n"); return -1; }
        } else if (strcmp(a, "--dim") == 0) { NEED_VALUE(); o->dim = (uint32_t)atoi(v); o->preset = "custom"; }
        else if (strcmp(a, "--heads") == 0) { NEED_VALUE(); o->heads = (uint32_t)atoi(v); o->preset = "custom"; }
        else if (strcmp(a, "--window") == 0) { NEED_VALUE(); o->window = (uint32_t)atoi(v); o->preset = "custom"; }
        else if (strcmp(a, "--landmarks") == 0) { NEED_VALUE(); o->landmarks = (uint32_t)atoi(v); o->preset = "custom"; }
        else if (strcmp(a, "--batch") == 0) { NEED_VALUE(); o->batch = (uint32_t)atoi(v); o->preset = "custom"; }
        else if (strcmp(a, "--grid") == 0) {
            NEED_VALUE();
            unsigned gx = 0, gy = 0;
            if (sscanf(v, "%ux%u", &gx, &gy) != 2 || gx < 1 || gy < 1) { fprintf(stderr, "lsvk-bench: bad --grid '%s'\n", v); return -1; }
            set_grid(o, gx, gy);
            o->preset = "custom";
        }
        else if (strcmp(a, "--nglo") == 0) { NEED_VALUE(); o->nglo = (uint32_t)atoi(v); if (o->nx) set_grid(o, o->nx, o->ny); }
        else if (strcmp(a, "--rpe") == 0) { NEED_VALUE(); o->rpe = (uint32_t)atoi(v) != 0; }
        else if (strcmp(a, "--repeat") == 0) { NEED_VALUE(); o->repeat = atoi(v); }
        else if (strcmp(a, "--warmup") == 0) { NEED_VALUE(); o->warmup = atoi(v); }
        else if (strcmp(a, "--full-max-n") == 0) { NEED_VALUE(); o->full_max_n = atoll(v); }
        else if (strcmp(a, "--plot") == 0) { NEED_VALUE(); o->plot = v; }
        else if (strcmp(a, "--csv") == 0) o->csv = 1;
        else if (strcmp(a, "--json") == 0) o->json = 1;
        else if (strcmp(a, "--no-check") == 0) o->check = 0;
        else if (strcmp(a, "--timings") == 0) o->timings = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(); exit(0); }
        else { fprintf(stderr, "lsvk-bench: unknown option '%s'\n", a); return -1; }
#undef NEED_VALUE
    }
    if (o->dim == 0 || o->heads == 0 || o->dim % o->heads != 0 || o->batch == 0 || o->repeat < 1 || o->warmup < 0) {
        fprintf(stderr, "lsvk-bench: need dim > 0 divisible by heads, batch >= 1, repeat >= 1\n");
        return -1;
    }
    if (o->nx && (o->n_count != 1 || o->n[0] != (int64_t)o->nglo + (int64_t)o->nx * o->ny)) {
        fprintf(stderr, "lsvk-bench: 2D runs take their one token count from --grid and --nglo, not --n\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ work counts (docs/BENCHMARKS.md) */

static double ls_flops(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim, H = o->heads, dh = D / H, r = o->landmarks;
    double e = o->window ? (o->window / 2 ? o->window / 2 : 1) : 0, kw = o->window ? o->window + 2 * e : 0;
    double proj = 2 * B * N * D * (3 * D + H * r) + 2 * B * N * D * D;  /* q, k, v, scores; W_o */
    double compress = 2 * 2 * B * H * r * N * dh;                        /* K̄ = PᵀK, V̄ = PᵀV */
    double attn = 2 * 2 * B * H * N * (r + kw) * dh;                      /* scores + weighted sum */
    return proj + compress + attn;
}

/* 2D layer: qkv, scores, proj; the projection over the image; every query's r + kw^2 + nglo
 * columns (masked ones included) and the global token's pass over the image. */
static double vision_flops(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, Nf = (double)o->nx * o->ny, D = o->dim, H = o->heads, dh = D / H;
    double r = o->landmarks, s = o->window / 2 ? o->window / 2 : 1, kw = o->window + 2 * s;
    double proj = 2 * B * N * D * (3 * D + H * r) + 2 * B * N * D * D;
    double compress = 2 * 2 * B * H * r * Nf * dh;
    double attn = 2 * 2 * B * H * Nf * (r + kw * kw + o->nglo) * dh + (o->nglo ? 2 * 2 * B * H * Nf * dh : 0);
    return proj + compress + attn;
}

static double full_flops(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim;
    return 2 * B * N * D * 4 * D + 4 * B * N * N * D;
}

/* Compulsory traffic: inputs, parameters and outputs once, every intermediate written and read
 * once (what a perfectly fused implementation could not avoid). */
static double ls_bytes(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim, HR = (double)o->heads * o->landmarks;
    double params = 4 * D * D + HR * D + 8 * D + HR;
    return 4 * (2 * B * N * D + params + 2 * (4 * B * N * D + B * N * HR));
}

static double vision_bytes(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim, HR = (double)o->heads * o->landmarks;
    double params = 4 * D * D + HR * D + 10 * D + HR;
    return 4 * (2 * B * N * D + params + 2 * (4 * B * N * D + B * N * HR));
}

static double full_bytes(const options *o, int64_t n) {
    double B = o->batch, N = (double)n, D = o->dim;
    return 4 * (2 * B * N * D + 4 * D * D + 4 * D + 2 * (4 * B * N * D));
}

/* ------------------------------------------------------------ random data */

static uint64_t g_rng = 0x243f6a8885a308d3ull;
static double randn(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    double u1 = ((g_rng >> 11) + 1.0) / 9007199254740993.0;
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    double u2 = (g_rng >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static float *rand_floats(size_t n, float mean, float scale) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    if (a)
        for (size_t i = 0; i < n; i++) a[i] = mean + scale * (float)randn();
    return a;
}

static lsvk_tensor *tensor(lsvk_context *ctx, uint32_t rank, const int64_t *shape, const float *data,
                           lsvk_status *s) {
    lsvk_tensor *t = NULL;
    *s = lsvk_tensor_create(ctx, LSVK_F32, rank, shape, &t);
    if (*s == LSVK_SUCCESS && data) {
        *s = lsvk_tensor_upload(t, data, (size_t)lsvk_tensor_numel(t) * sizeof(float));
        if (*s != LSVK_SUCCESS) {
            lsvk_tensor_destroy(t);
            t = NULL;
        }
    }
    return t;
}

/* Parameters of one layer, host side, by the LS layer's names; full attention uses W_q..W_o. */
typedef struct weights {
    const char *name[15];
    float *data[15];
    size_t count[15];
    int n;
} weights;

static void make_weights(const options *o, weights *w) {
    size_t D = o->dim, HR = (size_t)o->heads * o->landmarks;
    static const char *names[] = {"W_q.weight", "W_q.bias", "W_k.weight", "W_k.bias", "W_v.weight", "W_v.bias",
                                  "W_o.weight", "W_o.bias", "dual_ln_l.weight", "dual_ln_l.bias",
                                  "dual_ln_s.weight", "dual_ln_s.bias", "dconv_fc.weight", "dconv_fc.bias"};
    memset(w, 0, sizeof *w);
    for (int i = 0; i < 14; i++) {
        if (i >= 12 && HR == 0) break;
        size_t n = i < 8 ? (i % 2 ? D : D * D) : i < 12 ? D : i == 12 ? HR * D : HR;
        int ln_w = i == 8 || i == 10;
        float scale = (i % 2 == 1 || ln_w) ? 0.1f : 1.0f / sqrtf((float)D);
        w->name[w->n] = names[i];
        w->count[w->n] = n;
        w->data[w->n] = rand_floats(n, ln_w ? 1.0f : 0.0f, scale);
        w->n++;
    }
}

/* The vision layer's parameters by its reference names. */
static void make_vision_weights(const options *o, weights *w) {
    size_t D = o->dim, HR = (size_t)o->heads * o->landmarks;
    size_t T = o->rpe ? (size_t)lsvk_ref_vision_rpe_rows((int)o->window) * o->heads : 0;
    static const char *names[] = {"qkv.weight", "qkv.bias", "proj.weight", "proj.bias", "dual_ln_full.weight",
                                  "dual_ln_full.bias", "dual_ln_dp.weight", "dual_ln_dp.bias",
                                  "to_dynamic_projection.weight", "to_dynamic_projection.bias",
                                  "local_relative_position_bias_table"};
    size_t counts[] = {3 * D * D, 3 * D, D * D, D, D, D, D, D, HR * D, HR, T};
    memset(w, 0, sizeof *w);
    for (int i = 0; i < 11; i++) {
        if (counts[i] == 0) continue;
        int ln_w = i == 4 || i == 6, mat = i == 0 || i == 2 || i == 8;
        w->name[w->n] = names[i];
        w->count[w->n] = counts[i];
        w->data[w->n] = rand_floats(counts[i], ln_w ? 1.0f : 0.0f, mat ? 1.0f / sqrtf((float)D) : i == 10 ? 0.5f : 0.1f);
        w->n++;
    }
}

static lsvk_vision_config vision_config(const options *o) {
    lsvk_vision_config c = {o->dim, o->heads, o->dim / o->heads, o->nx, o->ny, o->window, o->landmarks, o->nglo,
                            (int32_t)o->rpe, 1};
    return c;
}

static void free_weights(weights *w) {
    for (int i = 0; i < w->n; i++) free(w->data[i]);
}

static const float *wget(const weights *w, const char *name) {
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->name[i], name) == 0) return w->data[i];
    return NULL;
}

/* ------------------------------------------------------------ references for the check */

static double rel_err(const float *got, const double *ref, size_t n) {
    double me = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        double e = fabs(got[i] - ref[i]);
        if (e > me) me = e;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return mr > 0 ? me / mr : me;
}

static void to_float(const double *a, float *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (float)a[i];
}

/* Full method on the host: projections, attention per head, W_o. */
static int ref_full(const options *o, const weights *w, int64_t n, const float *x, double *out) {
    size_t B = o->batch, N = (size_t)n, D = o->dim, H = o->heads, dh = D / H, T = B * N;
    double *tmp = malloc(T * D * sizeof *tmp);
    float *qkv[3], *bhnd[3], *att = malloc(T * D * sizeof *att);
    double *o4 = malloc(T * D * sizeof *o4);
    const char *wn[3] = {"W_q.weight", "W_k.weight", "W_v.weight"}, *bn[3] = {"W_q.bias", "W_k.bias", "W_v.bias"};
    int ok = tmp && att && o4;
    for (int i = 0; i < 3; i++) {
        qkv[i] = malloc(T * D * sizeof(float));
        bhnd[i] = malloc(T * D * sizeof(float));
        ok = ok && qkv[i] && bhnd[i];
    }
    if (ok) {
        for (int i = 0; i < 3; i++) {
            lsvk_ref_linear(x, wget(w, wn[i]), wget(w, bn[i]), T, D, D, tmp);
            to_float(tmp, qkv[i], T * D);
            for (size_t b = 0; b < B; b++) /* [B,N,H,dh] -> [B,H,N,dh] */
                for (size_t t = 0; t < N; t++)
                    for (size_t h = 0; h < H; h++)
                        memcpy(&bhnd[i][((b * H + h) * N + t) * dh], &qkv[i][(b * N + t) * D + h * dh], dh * sizeof(float));
        }
        lsvk_ref_attention((int)B, (int)H, (int)N, (int)dh, bhnd[0], bhnd[1], bhnd[2], NULL, 0, o4);
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < N; t++)
                for (size_t h = 0; h < H; h++)
                    for (size_t d = 0; d < dh; d++)
                        att[(b * N + t) * D + h * dh + d] = (float)o4[((b * H + h) * N + t) * dh + d];
        lsvk_ref_linear(att, wget(w, "W_o.weight"), wget(w, "W_o.bias"), T, D, D, out);
    }
    free(tmp);
    free(att);
    free(o4);
    for (int i = 0; i < 3; i++) {
        free(qkv[i]);
        free(bhnd[i]);
    }
    return ok ? 0 : -1;
}

static int ref_ls(const options *o, const lsvk_ls_config *cfg, const weights *w, int64_t n, const float *x,
                  double *out) {
    lsvk_ref_ls_weights rw = {wget(w, "W_q.weight"), wget(w, "W_q.bias"), wget(w, "W_k.weight"), wget(w, "W_k.bias"),
                              wget(w, "W_v.weight"), wget(w, "W_v.bias"), wget(w, "W_o.weight"), wget(w, "W_o.bias"),
                              wget(w, "dual_ln_l.weight"), wget(w, "dual_ln_l.bias"), wget(w, "dual_ln_s.weight"),
                              wget(w, "dual_ln_s.bias"), wget(w, "dconv_fc.weight"), wget(w, "dconv_fc.bias"), NULL};
    return lsvk_ref_ls_bidir(cfg, &rw, (int)o->batch, (int)n, x, NULL, out);
}

static int ref_vision(const options *o, const weights *w, const float *x, double *out) {
    lsvk_vision_config c = vision_config(o);
    lsvk_ref_vision_weights rw = {wget(w, "qkv.weight"), wget(w, "qkv.bias"), wget(w, "proj.weight"),
                                  wget(w, "proj.bias"), wget(w, "to_dynamic_projection.weight"),
                                  wget(w, "to_dynamic_projection.bias"), wget(w, "dual_ln_full.weight"),
                                  wget(w, "dual_ln_full.bias"), wget(w, "dual_ln_dp.weight"), wget(w, "dual_ln_dp.bias"),
                                  wget(w, "local_relative_position_bias_table")};
    return lsvk_ref_vision(&c, &rw, (int)o->batch, x, out, NULL);
}

/* ------------------------------------------------------------ one point */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void progress(const char *method, int64_t n, int i, int total) {
    fprintf(stderr, "\r  %-4s n=%-8lld run %d/%d   ", method, (long long)n, i, total);
    fflush(stderr);
}

/* Records one forward of the method into cmd. The tensors live in *t (freed by the caller). */
typedef struct point {
    lsvk_tensor *x, *out, *q, *k, *v, *att;
    lsvk_ls_layer *layer;
    lsvk_vision_layer *vlayer;
    lsvk_tensor *w[8];
} point;

static void point_free(point *p) {
    lsvk_tensor *all[] = {p->x, p->out, p->q, p->k, p->v, p->att};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lsvk_tensor_destroy(all[i]);
    for (int i = 0; i < 8; i++) lsvk_tensor_destroy(p->w[i]);
    lsvk_ls_layer_destroy(p->layer);
    lsvk_vision_layer_destroy(p->vlayer);
    memset(p, 0, sizeof *p);
}

static lsvk_status setup_full(lsvk_context *ctx, const options *o, const weights *w, int64_t n, const float *x,
                              point *p) {
    lsvk_status s;
    int64_t D = o->dim, xs[3] = {o->batch, n, D}, ws[2] = {D, D}, bs[1] = {D};
    static const char *names[8] = {"W_q.weight", "W_q.bias", "W_k.weight", "W_k.bias",
                                   "W_v.weight", "W_v.bias", "W_o.weight", "W_o.bias"};
    if (!(p->x = tensor(ctx, 3, xs, x, &s))) return s;
    lsvk_tensor **seq[5] = {&p->out, &p->q, &p->k, &p->v, &p->att};
    for (int i = 0; i < 5; i++)
        if (!(*seq[i] = tensor(ctx, 3, xs, NULL, &s))) return s;
    for (int i = 0; i < 8; i++)
        if (!(p->w[i] = tensor(ctx, i % 2 ? 1 : 2, i % 2 ? bs : ws, wget(w, names[i]), &s))) return s;
    return LSVK_SUCCESS;
}

static lsvk_status record_full(lsvk_cmd *cmd, const options *o, point *p, int64_t n) {
    int64_t D = o->dim, H = o->heads, flat[3] = {o->batch, n, D}, heads[4] = {o->batch, n, H, D / H};
    lsvk_tensor *qkv[3] = {p->q, p->k, p->v};
    lsvk_status s;
    for (int i = 0; i < 3; i++) {
        lsvk_tensor_reshape(qkv[i], 3, flat);
        if ((s = lsvk_linear(cmd, p->x, p->w[2 * i], p->w[2 * i + 1], qkv[i])) != LSVK_SUCCESS) return s;
        lsvk_tensor_reshape(qkv[i], 4, heads);
    }
    lsvk_tensor_reshape(p->att, 4, heads);
    s = lsvk_attention(cmd, p->q, p->k, p->v, NULL, LSVK_ATTENTION_BNHD, p->att);
    lsvk_tensor_reshape(p->att, 3, flat);
    if (s != LSVK_SUCCESS) return s;
    return lsvk_linear(cmd, p->att, p->w[6], p->w[7], p->out);
}

static lsvk_status setup_ls(lsvk_context *ctx, const options *o, const lsvk_ls_config *cfg, const weights *w,
                            int64_t n, const float *x, point *p) {
    lsvk_status s;
    int64_t xs[3] = {o->batch, n, o->dim};
    if ((s = lsvk_ls_layer_create(ctx, cfg, &p->layer)) != LSVK_SUCCESS) return s;
    for (int i = 0; i < w->n; i++)
        if ((s = lsvk_ls_layer_set_weight(p->layer, w->name[i], w->data[i], w->count[i])) != LSVK_SUCCESS) return s;
    if (!(p->x = tensor(ctx, 3, xs, x, &s))) return s;
    if (!(p->out = tensor(ctx, 3, xs, NULL, &s))) return s;
    return LSVK_SUCCESS;
}

static lsvk_status setup_vision(lsvk_context *ctx, const options *o, const weights *w, int64_t n, const float *x,
                                point *p) {
    lsvk_status s;
    int64_t xs[3] = {o->batch, n, o->dim};
    lsvk_vision_config c = vision_config(o);
    if ((s = lsvk_vision_layer_create(ctx, &c, &p->vlayer)) != LSVK_SUCCESS) return s;
    for (int i = 0; i < w->n; i++)
        if ((s = lsvk_vision_layer_set_weight(p->vlayer, w->name[i], w->data[i], w->count[i])) != LSVK_SUCCESS)
            return s;
    if (!(p->x = tensor(ctx, 3, xs, x, &s))) return s;
    if (!(p->out = tensor(ctx, 3, xs, NULL, &s))) return s;
    return LSVK_SUCCESS;
}

/* w: the 1D layer's parameters (also full attention's), vw: the vision layer's (2D runs). */
static void run_point(lsvk_context *ctx, const options *o, const lsvk_ls_config *cfg, const weights *w,
                      const weights *vw, int is_ls, int64_t n, int check, row *r) {
    memset(r, 0, sizeof *r);
    r->method = is_ls ? "ls" : "full";
    r->n = n;
    r->check = -1;
    size_t total = (size_t)o->batch * (size_t)n * o->dim;
    float *x = rand_floats(total, 0, 1);
    point p = {0};
    lsvk_cmd *cmd = NULL;
    double *times = calloc((size_t)o->repeat, sizeof *times);
    uint64_t before;
    lsvk_context_memory_usage(ctx, &before, NULL, NULL);
    lsvk_context_reset_peak_memory(ctx);
    lsvk_status s = x && times ? LSVK_SUCCESS : LSVK_ERROR_OUT_OF_HOST_MEMORY;
    int vision = is_ls && o->nx > 0;
    if (!s) s = vision ? setup_vision(ctx, o, vw, n, x, &p) : is_ls ? setup_ls(ctx, o, cfg, w, n, x, &p)
                                                                : setup_full(ctx, o, w, n, x, &p);
    if (!s) s = lsvk_cmd_create(ctx, LSVK_CMD_TIMESTAMPS, &cmd);
    if (!s) s = vision ? lsvk_vision_forward(cmd, p.vlayer, p.x, p.out)
                : is_ls ? lsvk_ls_forward(cmd, p.layer, p.x, NULL, p.out) : record_full(cmd, o, &p, n);
    for (int i = 0; !s && i < o->warmup + o->repeat; i++) {
        progress(r->method, n, i + 1, o->warmup + o->repeat);
        s = lsvk_cmd_submit(cmd);
        double ns = 0;
        if (!s && i >= o->warmup) s = lsvk_cmd_elapsed(cmd, &ns);
        if (!s && i >= o->warmup) times[i - o->warmup] = ns * 1e-6;
    }
    fprintf(stderr, "\r%60s\r", "");
    if (s) {
        if (s == LSVK_ERROR_LIMIT_EXCEEDED || s == LSVK_ERROR_OUT_OF_DEVICE_MEMORY)
            snprintf(r->status, sizeof r->status, "does not fit: %s", lsvk_last_error());
        else
            snprintf(r->status, sizeof r->status, "%s: %s", lsvk_status_string(s), lsvk_last_error());
    } else {
        uint64_t peak;
        lsvk_context_memory_usage(ctx, NULL, &peak, NULL);
        r->peak_mib = (double)(peak - before) / 1048576.0;
        qsort(times, (size_t)o->repeat, sizeof *times, cmp_double);
        r->min_ms = times[0];
        r->max_ms = times[o->repeat - 1];
        r->med_ms = o->repeat % 2 ? times[o->repeat / 2] : 0.5 * (times[o->repeat / 2 - 1] + times[o->repeat / 2]);
        double sec = r->med_ms * 1e-3;
        r->tokens_s = (double)o->batch * n / sec;
        r->gflops = (vision ? vision_flops(o, n) : is_ls ? ls_flops(o, n) : full_flops(o, n)) / sec * 1e-9;
        r->gbs = (vision ? vision_bytes(o, n) : is_ls ? ls_bytes(o, n) : full_bytes(o, n)) / sec * 1e-9;
        if (o->timings) {
            fprintf(stderr, "  %s n=%lld per dispatch:\n", r->method, (long long)n);
            for (uint32_t i = 0; i < lsvk_cmd_dispatch_count(cmd); i++) {
                const char *name;
                double ns;
                if (lsvk_cmd_timing(cmd, i, &name, &ns) == LSVK_SUCCESS)
                    fprintf(stderr, "    %-22s %10.3f ms\n", name, ns * 1e-6);
            }
        }
        if (check) {
            float *got = malloc(total * sizeof *got);
            double *ref = malloc(total * sizeof *ref);
            if (got && ref && lsvk_tensor_download(p.out, got, total * sizeof *got) == LSVK_SUCCESS &&
                (vision ? ref_vision(o, vw, x, ref) : is_ls ? ref_ls(o, cfg, w, n, x, ref) : ref_full(o, w, n, x, ref)) == 0)
                r->check = rel_err(got, ref, total);
            free(got);
            free(ref);
        }
    }
    lsvk_cmd_destroy(cmd);
    point_free(&p);
    free(times);
    free(x);
}

/* ------------------------------------------------------------ output */

static void print_header(const lsvk_device_info *d, const options *o, FILE *f, const char *prefix) {
    fprintf(f, "%sdevice: %s | vendor %s (0x%04x) | driver %s %s | Vulkan %u.%u.%u | %s\n", prefix, d->name,
            d->vendor, d->vendor_id, d->driver_name, d->driver_info, d->api_version >> 22,
            (d->api_version >> 12) & 0x3ff, d->api_version & 0xfff, lsvk_device_type_string(d->type));
    fprintf(f, "%sconfig: preset %s | dim %u, heads %u x %u, window %u, landmarks %u, batch %u | repeat %d, warmup %d\n",
            prefix, o->preset, o->dim, o->heads, o->dim / o->heads, o->window, o->landmarks, o->batch, o->repeat,
            o->warmup);
    if (o->nx)
        fprintf(f, "%s2D: grid %u x %u, %u global, rpe %u: ls = lsvk_vision_forward (landmarks = dp_rank), full = "
                   "full attention over the same %lld tokens\n", prefix, o->nx, o->ny, o->nglo, o->rpe,
                (long long)o->n[0]);
}

static void print_table(const row *rows, int n) {
    printf("%-6s %8s %11s %21s %12s %9s %8s %10s %9s\n", "method", "n", "median ms", "min-max ms", "tokens/s",
           "GFLOP/s", "GB/s", "peak MiB", "check");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        if (r->status[0]) {
            printf("%-6s %8lld  %s\n", r->method, (long long)r->n, r->status);
            continue;
        }
        char range[32], chk[16] = "-";
        snprintf(range, sizeof range, "%.3f-%.3f", r->min_ms, r->max_ms);
        if (r->check >= 0) snprintf(chk, sizeof chk, "%.2g", r->check);
        printf("%-6s %8lld %11.3f %21s %12.0f %9.2f %8.2f %10.1f %9s\n", r->method, (long long)r->n, r->med_ms, range,
               r->tokens_s, r->gflops, r->gbs, r->peak_mib, chk);
    }
}

static void print_csv(const row *rows, int n) {
    printf("method,n,median_ms,min_ms,max_ms,tokens_per_s,gflops,gbs,peak_mib,check_rel_err,status\n");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        printf("%s,%lld,%.4f,%.4f,%.4f,%.1f,%.3f,%.3f,%.2f,%.3g,\"%s\"\n", r->method, (long long)r->n, r->med_ms,
               r->min_ms, r->max_ms, r->tokens_s, r->gflops, r->gbs, r->peak_mib, r->check, r->status);
    }
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static void print_json(const lsvk_device_info *d, const options *o, const row *rows, int n) {
    printf("{\n  \"device\": {\"name\": ");
    json_string(d->name);
    printf(", \"vendor\": ");
    json_string(d->vendor);
    printf(", \"vendor_id\": %u, \"driver\": ", d->vendor_id);
    json_string(d->driver_name);
    printf(", \"driver_info\": ");
    json_string(d->driver_info);
    printf(", \"api_version\": \"%u.%u.%u\", \"type\": \"%s\"},\n", d->api_version >> 22,
           (d->api_version >> 12) & 0x3ff, d->api_version & 0xfff, lsvk_device_type_string(d->type));
    printf("  \"config\": {\"preset\": \"%s\", \"dim\": %u, \"heads\": %u, \"window\": %u, \"landmarks\": %u, "
           "\"batch\": %u, \"repeat\": %d, \"warmup\": %d},\n  \"rows\": [\n",
           o->preset, o->dim, o->heads, o->window, o->landmarks, o->batch, o->repeat, o->warmup);
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        printf("    {\"method\": \"%s\", \"n\": %lld, ", r->method, (long long)r->n);
        if (r->status[0]) {
            printf("\"status\": ");
            json_string(r->status);
        } else {
            printf("\"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, \"tokens_per_s\": %.1f, "
                   "\"gflops\": %.3f, \"gbs\": %.3f, \"peak_mib\": %.2f",
                   r->med_ms, r->min_ms, r->max_ms, r->tokens_s, r->gflops, r->gbs, r->peak_mib);
            if (r->check >= 0) printf(", \"check_rel_err\": %.3g", r->check);
        }
        printf("}%s\n", i + 1 < n ? "," : "");
    }
    printf("  ]\n}\n");
}

/* Time vs n per method on log-log axes, written by hand (no plotting library needed). */
static int write_svg(const char *path, const lsvk_device_info *d, const options *o, const row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].status[0]) continue;
        xmin = fmin(xmin, (double)rows[i].n);
        xmax = fmax(xmax, (double)rows[i].n);
        ymin = fmin(ymin, rows[i].med_ms);
        ymax = fmax(ymax, rows[i].med_ms);
    }
    if (!(xmax > 0)) { xmin = 1; xmax = 10; ymin = 1; ymax = 10; }
    double lx0 = floor(log10(xmin)), lx1 = ceil(log10(xmax)), ly0 = floor(log10(ymin)), ly1 = ceil(log10(ymax));
    if (lx1 <= lx0) lx1 = lx0 + 1;
    if (ly1 <= ly0) ly1 = ly0 + 1;
    const double W = 720, Hh = 480, L = 80, R = 160, T = 50, Bm = 60;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, Hh);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"20\" font-size=\"14\">lsvk-bench: %s (preset %s, dim %u, %u heads, w %u, r %u, batch %u)</text>\n",
            L, d->name, o->preset, o->dim, o->heads, o->window, o->landmarks, o->batch);
#define PX(v) (L + (log10(v) - lx0) / (lx1 - lx0) * (W - L - R))
#define PY(v) (Hh - Bm - (log10(v) - ly0) / (ly1 - ly0) * (Hh - T - Bm))
    for (double e = lx0; e <= lx1; e++) {
        double x = PX(pow(10, e));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", x, T, x, Hh - Bm);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">1e%.0f</text>\n", x, Hh - Bm + 18, e);
    }
    for (double e = ly0; e <= ly1; e++) {
        double y = PY(pow(10, e));
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, W - R, y);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">1e%.0f</text>\n", L - 6, y + 4, e);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n", L, T,
            W - L - R, Hh - T - Bm);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">sequence length n (tokens)</text>\n", (L + W - R) / 2,
            Hh - 15);
    fprintf(f, "<text transform=\"translate(20 %.0f) rotate(-90)\" text-anchor=\"middle\">GPU time per forward (ms)</text>\n",
            (T + Hh - Bm) / 2);
    const char *methods[2] = {"ls", "full"}, *colors[2] = {"#1f77b4", "#d62728"};
    for (int m = 0; m < 2; m++) {
        int any = 0;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[m]);
        for (int i = 0; i < n; i++)
            if (!rows[i].status[0] && strcmp(rows[i].method, methods[m]) == 0) {
                fprintf(f, "%.1f,%.1f ", PX((double)rows[i].n), PY(rows[i].med_ms));
                any = 1;
            }
        fprintf(f, "\"/>\n");
        for (int i = 0; i < n; i++)
            if (!rows[i].status[0] && strcmp(rows[i].method, methods[m]) == 0)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX((double)rows[i].n),
                        PY(rows[i].med_ms), colors[m]);
        if (any) {
            double y = T + 20 + 20 * m;
            fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                    W - R + 15, y, W - R + 40, y, colors[m]);
            fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n", W - R + 46, y + 4,
                    m == 0 ? "long-short" : "full attention");
        }
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    options o;
    if (parse_args(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    lsvk_context_create_info ci = {0};
    lsvk_context *ctx = NULL;
    lsvk_status s = lsvk_context_create(&ci, &ctx);
    if (s != LSVK_SUCCESS) {
        fprintf(stderr, "lsvk-bench: %s: %s\n", lsvk_status_string(s), lsvk_last_error());
        return 1;
    }
    const lsvk_device_info *d = lsvk_context_device(ctx);
    if (!d->timestamps) {
        fprintf(stderr, "lsvk-bench: %s has no compute timestamps; GPU times cannot be measured\n", d->name);
        lsvk_context_destroy(ctx);
        return 1;
    }
    lsvk_ls_config cfg = {o.dim, o.heads, o.dim / o.heads, o.window, o.landmarks, 0, 0};
    weights w, vw = {0};
    make_weights(&o, &w);
    if (o.nx) make_vision_weights(&o, &vw);
    row rows[2 * MAX_N];
    int nrows = 0;
    int64_t smallest = o.n[0];
    for (int i = 1; i < o.n_count; i++)
        if (o.n[i] < smallest) smallest = o.n[i];
    if (!o.csv && !o.json) print_header(d, &o, stdout, "");
    else print_header(d, &o, stderr, "");
    for (int i = 0; i < o.n_count; i++)
        for (int m = 0; m < 2; m++) {
            int is_ls = m == 0;
            if ((is_ls && !o.ls) || (!is_ls && !o.full)) continue;
            row *r = &rows[nrows++];
            if (!is_ls && o.full_max_n > 0 && o.n[i] > o.full_max_n) {
                memset(r, 0, sizeof *r);
                r->method = "full";
                r->n = o.n[i];
                r->check = -1;
                snprintf(r->status, sizeof r->status, "skipped (--full-max-n %lld)", (long long)o.full_max_n);
                continue;
            }
            /* full attention's host reference is O(B n^2): checked only where that is quick */
            int check = o.check && o.n[i] == smallest &&
                        (is_ls || !o.nx || (double)o.batch * (double)o.n[i] * (double)o.n[i] <= 1.1e7);
            run_point(ctx, &o, &cfg, &w, &vw, is_ls, o.n[i], check, r);
        }
    if (o.json) print_json(d, &o, rows, nrows);
    else if (o.csv) print_csv(rows, nrows);
    else print_table(rows, nrows);
    int rc = 0;
    if (o.plot && write_svg(o.plot, d, &o, rows, nrows) != 0) {
        fprintf(stderr, "lsvk-bench: cannot write %s\n", o.plot);
        rc = 1;
    }
    for (int i = 0; i < nrows; i++)
        if (rows[i].check > 1e-4) {
            fprintf(stderr, "lsvk-bench: %s at n=%lld differs from lib/ref by %.3g\n", rows[i].method,
                    (long long)rows[i].n, rows[i].check);
            rc = 1;
        }
    free_weights(&w);
    free_weights(&vw);
    lsvk_context_destroy(ctx);
    return rc;
}
