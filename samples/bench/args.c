/* lsvk-bench's command line: the usage text, the presets it lists, and option parsing. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_usage(void) {
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

int bench_parse_args(int argc, char **argv, options *o) {
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
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { bench_usage(); exit(0); }
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
