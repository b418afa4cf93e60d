/* lsvk-lm: the byte-level Transformer-LS language model (include/lsvk/causal.h) on the command line.
 *   eval      bits per character over a text, block by block exactly as the reference measured
 *             valid_bpc (../shared/charlm/README.md "How valid_bpc was computed")
 *   generate  feeds a prompt token by token and samples a continuation (samples/common/sampling.h)
 *   bench     generation speed of lsvk_lm_step against recomputing a whole block per token (what
 *             the official code does), greedy both ways, on the same prompt
 * Results go to stdout, progress and timings to stderr. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* isatty, fileno, clock_gettime */
#endif
#include "lsvk/lsvk.h"
#include "sampling.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#include <io.h>
#define isatty _isatty
#define fileno _fileno
#else
#include <unistd.h>
#endif

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
    int csv;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: lsvk-lm [--device SEL] <command> --model FILE.safetensors [options]\n"
            "commands:\n"
            "  eval      --text FILE [--block N] [--limit BYTES]\n"
            "            bits per character over FILE: blocks of N bytes from an all-zero cache,\n"
            "            each predicting the next N bytes; the tail that does not fill a block is\n"
            "            not scored (the reference's valid_bpc procedure)\n"
            "  generate  --prompt TEXT [--tokens N] [--temperature T] [--top-k K] [--seed S] [--block N]\n"
            "            feeds TEXT (empty: a newline) one byte at a time, then samples N bytes\n"
            "            (default 256) at temperature T (default 0.8; 0 = greedy) from the K most\n"
            "            likely (default 0 = all)\n"
            "  bench     [--tokens N] [--context C] [--text FILE] [--block N] [--csv]\n"
            "            greedy generation of N tokens (default 256) after a C-byte prompt (default\n"
            "            128; the start of FILE, else a built-in one), two ways: lsvk_lm_step per\n"
            "            token, and a whole-window forward per token as the official code does\n"
            "options:\n"
            "  --device SEL  device index or name substring (default: LSVK_DEVICE, then auto)\n"
            "  --block N     tokens per block (default: the model config's \"block\", else mem_len)\n"
            "  -h, --help    this text\n");
}

/* ------------------------------------------------------------ argument parsing */

/* A whole decimal (or 0x hex) number in [lo, hi]; no sign, no trailing text. */
static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > (unsigned long long)hi || (long long)v < lo) return -1;
    *out = (long long)v;
    return 0;
}

static int bad_value(const char *opt, const char *v, const char *want) {
    fprintf(stderr, "lsvk-lm: bad value '%s' for %s (%s)\n", v, opt, want);
    return -1;
}

/* Which commands each option applies to, checked once the command is known. */
typedef struct seen_option {
    const char *name;
    int cmds;
} seen_option;

static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->limit = -1;
    o->tokens = -1;
    o->temperature = 0.8;
    o->context = -1;
    seen_option seen[64];
    int nseen = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (a[0] != '-') {
            int c = strcmp(a, "eval") == 0 ? CMD_EVAL : strcmp(a, "generate") == 0 ? CMD_GENERATE
                  : strcmp(a, "bench") == 0 ? CMD_BENCH : CMD_NONE;
            if (c == CMD_NONE || o->cmd != CMD_NONE) {
                fprintf(stderr, o->cmd != CMD_NONE ? "lsvk-lm: unexpected argument '%s'\n"
                                                   : "lsvk-lm: unknown command '%s'\n", a);
                return -1;
            }
            o->cmd = c;
            continue;
        }
        const int ALL = CMD_EVAL | CMD_GENERATE | CMD_BENCH;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int cmds;
#define NEED_VALUE()                                                                               \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "lsvk-lm: %s needs a value\n", a);                                     \
            return -1;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (strcmp(a, "--csv") == 0) { o->csv = 1; cmds = CMD_BENCH; }
        else if (strcmp(a, "--device") == 0) { NEED_VALUE(); o->device = v; cmds = ALL; }
        else if (strcmp(a, "--model") == 0) { NEED_VALUE(); o->model = v; cmds = ALL; }
        else if (strcmp(a, "--text") == 0) { NEED_VALUE(); o->text = v; cmds = CMD_EVAL | CMD_BENCH; }
        else if (strcmp(a, "--prompt") == 0) { NEED_VALUE(); o->prompt = v; cmds = CMD_GENERATE; }
        else if (strcmp(a, "--block") == 0) {
            NEED_VALUE();
            if (parse_int(v, 1, MAX_BLOCK, &o->block)) return bad_value(a, v, "1 to 1048576");
            cmds = ALL;
        } else if (strcmp(a, "--limit") == 0) {
            NEED_VALUE();
            if (parse_int(v, 0, LLONG_MAX, &o->limit)) return bad_value(a, v, "a byte count >= 0");
            cmds = CMD_EVAL;
        } else if (strcmp(a, "--tokens") == 0) {
            NEED_VALUE();
            if (parse_int(v, 0, MAX_TOKENS, &o->tokens)) return bad_value(a, v, "0 to 16777216");
            cmds = CMD_GENERATE | CMD_BENCH;
        } else if (strcmp(a, "--temperature") == 0) {
            NEED_VALUE();
            char *end;
            errno = 0;
            o->temperature = strtod(v, &end);
            if (end == v || *end || errno || !isfinite(o->temperature) || o->temperature < 0)
                return bad_value(a, v, "a number >= 0; 0 is greedy");
            cmds = CMD_GENERATE;
        } else if (strcmp(a, "--top-k") == 0) {
            NEED_VALUE();
            if (parse_int(v, 0, 1 << 30, &o->top_k)) return bad_value(a, v, "a count >= 0; 0 is off");
            cmds = CMD_GENERATE;
        } else if (strcmp(a, "--seed") == 0) {
            NEED_VALUE();
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 0);
            if (!*v || *v == '-' || *v == '+' || *v == ' ' || *end || errno)
                return bad_value(a, v, "an unsigned 64-bit number");
            o->seed_set = 1;
            cmds = CMD_GENERATE;
        } else if (strcmp(a, "--context") == 0) {
            NEED_VALUE();
            if (parse_int(v, 0, MAX_TOKENS, &o->context)) return bad_value(a, v, "0 to 16777216");
            cmds = CMD_BENCH;
        } else {
            fprintf(stderr, "lsvk-lm: unknown option '%s'\n", a);
            return -1;
        }
#undef NEED_VALUE
        if (nseen < (int)(sizeof seen / sizeof seen[0])) seen[nseen++] = (seen_option){a, cmds};
    }
    if (o->cmd == CMD_NONE) {
        fprintf(stderr, "lsvk-lm: no command (eval, generate or bench)\n");
        return -1;
    }
    for (int i = 0; i < nseen; i++)
        if (!(seen[i].cmds & o->cmd)) {
            fprintf(stderr, "lsvk-lm: %s does not apply to this command\n", seen[i].name);
            return -1;
        }
    if (!o->model) {
        fprintf(stderr, "lsvk-lm: --model is required\n");
        return -1;
    }
    if (o->cmd == CMD_EVAL && !o->text) {
        fprintf(stderr, "lsvk-lm: eval needs --text\n");
        return -1;
    }
    if (o->cmd == CMD_BENCH && o->tokens == 0) {
        fprintf(stderr, "lsvk-lm: bench needs --tokens >= 1\n");
        return -1;
    }
    if (o->tokens < 0) o->tokens = 256;
    if (o->context < 0) o->context = 128;
    return 0;
}

/* ------------------------------------------------------------ helpers */

static double now_s(void) {
    struct timespec ts;
#ifdef _WIN32
    timespec_get(&ts, TIME_UTC);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Prints the failed call's status and message; returns the exit code for library failures. */
static int fail(lsvk_status s) {
    fprintf(stderr, "lsvk-lm: %s: %s\n", lsvk_status_string(s), lsvk_last_error());
    return 1;
}

typedef struct bytes {
    unsigned char *data;
    size_t size;
} bytes;

/* Up to max bytes of a file (a read loop, so pipes work too). -1 with a message on failure. */
static int read_bytes(const char *path, size_t max, bytes *out) {
    out->data = NULL;
    out->size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "lsvk-lm: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    int rc = 0;
    while (out->size < max) {
        if (out->size == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            unsigned char *p = realloc(out->data, ncap);
            if (!p) {
                fprintf(stderr, "lsvk-lm: out of memory reading %s\n", path);
                rc = -1;
                break;
            }
            out->data = p;
            cap = ncap;
        }
        size_t want = cap - out->size < max - out->size ? cap - out->size : max - out->size;
        size_t got = fread(out->data + out->size, 1, want, f);
        out->size += got;
        if (got < want) {
            if (ferror(f)) {
                fprintf(stderr, "lsvk-lm: cannot read %s: %s\n", path, strerror(errno));
                rc = -1;
            }
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(out->data);
        out->data = NULL;
        out->size = 0;
    }
    return rc;
}

static const char *base_name(const char *path) {
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '/' || *p == '\\') b = p + 1;
    return b;
}

/* The loaded model and what the commands need from its file. */
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

static void model_close(model *m) {
    lsvk_lm_destroy(m->lm);
    lsvk_context_destroy(m->ctx);
    lsvk_safetensors_close(m->st);
    memset(m, 0, sizeof *m);
}

/* The training block length from the metadata config ("block" is not a model parameter, so the
 * library does not read it); 0 when absent or unusable. */
static uint32_t config_block(const lsvk_safetensors *st) {
    const char *json = lsvk_safetensors_metadata(st, "config");
    if (!json) return 0;
    cJSON *root = cJSON_Parse(json);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "block");
    uint32_t v = 0;
    if (cJSON_IsNumber(b) && b->valuedouble >= 1 && b->valuedouble <= MAX_BLOCK &&
        b->valuedouble == floor(b->valuedouble))
        v = (uint32_t)b->valuedouble;
    cJSON_Delete(root);
    return v;
}

/* The file alone, so that a bad path or a text that is too short fails before any device is
 * touched: metadata, and the block length when --block or the config gives it (else 0). Returns
 * the exit code (0 on success); m is closed on failure. */
static int model_open_file(const options *o, model *m) {
    memset(m, 0, sizeof *m);
    lsvk_status s = lsvk_safetensors_open(o->model, &m->st);
    if (s != LSVK_SUCCESS) return fail(s);
    const char *vb = lsvk_safetensors_metadata(m->st, "valid_bpc");
    if (vb) {
        char *end;
        m->valid_bpc = strtod(vb, &end);
        m->has_valid_bpc = end != vb && isfinite(m->valid_bpc);
    }
    if (o->block) {
        m->block = (uint32_t)o->block;
        m->block_from = "--block";
    } else if ((m->block = config_block(m->st)) != 0) {
        m->block_from = "config";
    }
    return 0;
}

/* The device and the model on it; the block falls back to mem_len. */
static int model_load(const options *o, model *m) {
    lsvk_context_create_info ci = {0};
    ci.device = o->device;
    lsvk_status s = lsvk_context_create(&ci, &m->ctx);
    if (s == LSVK_SUCCESS) s = lsvk_lm_load(m->ctx, m->st, &m->lm);
    if (s != LSVK_SUCCESS) {
        int rc = fail(s);
        model_close(m);
        return rc;
    }
    const lsvk_lm_config *c = lsvk_lm_get_config(m->lm);
    if (!c) {
        fprintf(stderr, "lsvk-lm: %s: the library gave no model config\n", o->model);
        model_close(m);
        return 1;
    }
    m->cfg = *c;
    /* Tokens are bytes: ids must fit in a byte both ways (input text, printed output). */
    if (m->cfg.vocab < 1 || m->cfg.vocab > 256) {
        fprintf(stderr, "lsvk-lm: %s: vocab %u; lsvk-lm needs a byte-level model (vocab <= 256)\n",
                o->model, m->cfg.vocab);
        model_close(m);
        return 1;
    }
    if (!m->block) {
        m->block = m->cfg.mem_len;
        m->block_from = "mem_len";
    }
    if (m->block < 1 || m->block > MAX_BLOCK) {
        fprintf(stderr, "lsvk-lm: %s: no usable block length (mem_len %u, no config \"block\"); give --block\n",
                o->model, m->cfg.mem_len);
        model_close(m);
        return 1;
    }
    const lsvk_device_info *d = lsvk_context_device(m->ctx);
    fprintf(stderr,
            "lsvk-lm: %s: vocab %u, d_model %u, %u layers, %u heads, d_inner %u, mem_len %u, window %u, "
            "chunks %u x %u; block %u (%s); device %s\n",
            base_name(o->model), m->cfg.vocab, m->cfg.dim, m->cfg.layers, m->cfg.heads, m->cfg.inner,
            m->cfg.mem_len, m->cfg.window, m->cfg.chunk_size, m->cfg.chunk_rank, m->block, m->block_from,
            d ? d->name : "?");
    return 0;
}

static int model_open(const options *o, model *m) {
    int rc = model_open_file(o, m);
    return rc ? rc : model_load(o, m);
}

/* 0 if every byte is a token id of the model; otherwise a message naming the first offender. */
static int check_bytes(const unsigned char *p, size_t n, uint32_t vocab, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (p[i] >= vocab) {
            fprintf(stderr, "lsvk-lm: %s: byte %u at offset %zu is not below the model's vocab %u\n", what,
                    p[i], i, vocab);
            return -1;
        }
    return 0;
}

/* Progress on stderr: one line redrawn in place on a terminal (at most ~10 times a second),
 * otherwise a line every ~10% so logs stay short. */
typedef struct progress {
    int tty;
    int last_decile;
    double start, last_draw;
} progress;

static void progress_start(progress *p) {
    p->tty = isatty(fileno(stderr));
    p->last_decile = 0;
    p->start = p->last_draw = now_s();
}

static void progress_update(progress *p, size_t done, size_t total, size_t chars) {
    double t = now_s(), el = t - p->start, rate = el > 0 ? (double)chars / el : 0;
    if (p->tty) {
        if (done < total && t - p->last_draw < 0.1) return;
        p->last_draw = t;
        fprintf(stderr, "\r  block %zu/%zu (%3.0f%%), %.0f chars/s   ", done, total, 100.0 * done / total, rate);
        if (done == total) fputc('\n', stderr);
        fflush(stderr);
    } else {
        int decile = (int)(done * 10 / total);
        if (decile <= p->last_decile) return;
        p->last_decile = decile;
        fprintf(stderr, "  block %zu/%zu (%.0f%%), %.0f chars/s\n", done, total, 100.0 * done / total, rate);
    }
}

/* ------------------------------------------------------------ eval */

/* eval scores whole blocks only: one block and its targets is the least it can use. */
static int too_short(const options *o, size_t n, uint32_t block) {
    if (n >= (size_t)block + 1) return 0;
    fprintf(stderr, "lsvk-lm: %s: %zu byte%s%s; eval needs at least one block and its targets (%zu bytes)\n",
            o->text, n, n == 1 ? "" : "s", o->limit >= 0 ? " (with --limit)" : "", (size_t)block + 1);
    return 1;
}

static int cmd_eval(const options *o) {
    bytes text;
    size_t max = o->limit < 0 || (unsigned long long)o->limit > SIZE_MAX ? SIZE_MAX : (size_t)o->limit;
    if (read_bytes(o->text, max, &text) != 0) return 1;
    if (text.size == 0) {
        fprintf(stderr, "lsvk-lm: %s: no text to evaluate (%s)\n", o->text,
                o->limit == 0 ? "--limit 0" : "the file is empty");
        free(text.data);
        return 1;
    }
    model m;
    int rc = model_open_file(o, &m);
    if (!rc && m.block && too_short(o, text.size, m.block)) {
        model_close(&m);
        rc = 1;
    }
    if (!rc) rc = model_load(o, &m);
    if (rc) {
        free(text.data);
        return rc;
    }
    lsvk_lm_state *state = NULL;
    float *lp = NULL;
    int32_t *tok = NULL;
    const size_t B = m.block, V = m.cfg.vocab, n = text.size;
    if (too_short(o, n, m.block)) {
        rc = 1;
        goto done;
    }
    if (check_bytes(text.data, n, m.cfg.vocab, o->text)) {
        rc = 1;
        goto done;
    }
    /* Blocks at s = 0, B, 2B, ... while s + B < n (range(0, n - 1 - B + 1, B)). */
    const size_t nblocks = (n - 1) / B, count = nblocks * B;
    lsvk_status s = lsvk_lm_state_create(m.lm, 1, (uint32_t)B, &state);
    if (s != LSVK_SUCCESS) {
        rc = fail(s);
        goto done;
    }
    lp = malloc(B * V * sizeof *lp);
    tok = malloc(B * sizeof *tok);
    if (!lp || !tok) {
        fprintf(stderr, "lsvk-lm: out of host memory\n");
        rc = 1;
        goto done;
    }
    double nll = 0; /* in double: 10^5 terms of float log-probs */
    size_t bad = 0;
    progress pr;
    progress_start(&pr);
    for (size_t k = 0; k < nblocks; k++) {
        const unsigned char *blk = text.data + k * B;
        for (size_t i = 0; i < B; i++) tok[i] = blk[i];
        s = lsvk_lm_forward(state, tok, (uint32_t)B, lp);
        if (s != LSVK_SUCCESS) {
            if (pr.tty && k) fputc('\n', stderr);
            rc = fail(s);
            goto done;
        }
        for (size_t i = 0; i < B; i++) {
            float v = lp[i * V + blk[i + 1]];
            if (!isfinite(v)) bad++;
            nll -= v;
        }
        progress_update(&pr, k + 1, nblocks, (k + 1) * B);
    }
    double el = now_s() - pr.start;
    double bpc = nll / (double)count / log(2.0);
    printf("bpc %.5f over %zu characters (%zu blocks of %zu)\n", bpc, count, nblocks, B);
    /* The reference figure is for the whole valid.txt with the config's block. */
    if (m.has_valid_bpc && strcmp(base_name(o->text), "valid.txt") == 0) {
        int comparable = o->limit < 0 && strcmp(m.block_from, "--block") != 0;
        printf("reference valid_bpc %.6f, difference %+.6f%s\n", m.valid_bpc, bpc - m.valid_bpc,
               comparable ? "" : " (not comparable: --limit or --block changes what is scored)");
    }
    printf("time %.2f s, %.0f chars/s\n", el, el > 0 ? (double)count / el : 0);
    if (bad) {
        fprintf(stderr, "lsvk-lm: %zu target log-probabilities were -inf or NaN\n", bad);
        rc = 1;
    }
done:
    free(lp);
    free(tok);
    lsvk_lm_state_destroy(state);
    model_close(&m);
    free(text.data);
    return rc;
}

/* ------------------------------------------------------------ generate */

static int cmd_generate(const options *o) {
    const char *prompt = o->prompt ? o->prompt : "";
    /* An empty prompt starts from a newline, as a text after a line break would. */
    const unsigned char *feed = (const unsigned char *)(*prompt ? prompt : "\n");
    const size_t plen = strlen((const char *)feed);
    model m;
    int rc = model_open(o, &m);
    if (rc) return rc;
    lsvk_lm_state *state = NULL;
    float *lp = NULL;
    if (check_bytes(feed, plen, m.cfg.vocab, "--prompt")) {
        rc = 1;
        goto done;
    }
    lsvk_status s = lsvk_lm_state_create(m.lm, 1, m.block, &state);
    if (s != LSVK_SUCCESS) {
        rc = fail(s);
        goto done;
    }
    lp = malloc(m.cfg.vocab * sizeof *lp);
    if (!lp) {
        fprintf(stderr, "lsvk-lm: out of host memory\n");
        rc = 1;
        goto done;
    }
    uint64_t rng = o->seed_set ? (uint64_t)o->seed : (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)&rng << 16);
    const uint64_t seed = rng;
    /* One untimed step and a reset, so first-use setup (pipelines, buffers) is not in the rates. */
    int32_t t = feed[0];
    s = lsvk_lm_step(state, &t, NULL);
    if (s == LSVK_SUCCESS) s = lsvk_lm_state_reset(state);
    if (s != LSVK_SUCCESS) {
        rc = fail(s);
        goto done;
    }
    fputs(prompt, stdout);
    fflush(stdout);
    double t0 = now_s();
    for (size_t i = 0; i < plen; i++) {
        t = feed[i];
        /* Only the last prompt position's distribution is needed. */
        s = lsvk_lm_step(state, &t, i + 1 == plen ? lp : NULL);
        if (s != LSVK_SUCCESS) {
            rc = fail(s);
            goto done;
        }
    }
    double t1 = now_s();
    int last = *prompt ? (unsigned char)prompt[strlen(prompt) - 1] : '\n';
    long long g;
    for (g = 0; g < o->tokens; g++) {
        int next = lsvk_sample(lp, (int)m.cfg.vocab, (float)o->temperature, (int)o->top_k, &rng);
        if (next < 0) {
            fprintf(stderr, "\nlsvk-lm: no token can be sampled: every log-probability is -inf or NaN\n");
            rc = 1;
            goto done;
        }
        putchar(next);
        fflush(stdout);
        last = next;
        if (g + 1 == o->tokens) break; /* the last token's successor is not needed */
        t = next;
        s = lsvk_lm_step(state, &t, lp);
        if (s != LSVK_SUCCESS) {
            putchar('\n');
            rc = fail(s);
            goto done;
        }
    }
    double t2 = now_s();
    if (last != '\n') putchar('\n'); /* so the timing line starts a line of its own */
    fflush(stdout);
    fprintf(stderr, "prompt %zu tokens in %.3f s (%.1f tokens/s); generated %lld tokens in %.3f s (%.1f tokens/s); "
            "temperature %g, top-k %lld, seed %llu\n",
            plen, t1 - t0, t1 > t0 ? plen / (t1 - t0) : 0.0, o->tokens, t2 - t1,
            t2 > t1 ? o->tokens / (t2 - t1) : 0.0, o->temperature, o->top_k, (unsigned long long)seed);
done:
    free(lp);
    lsvk_lm_state_destroy(state);
    model_close(&m);
    return rc;
}

/* ------------------------------------------------------------ bench */

/* The opening of Sonnet 18 and of Antony's speech in Julius Caesar (public domain). */
static const char BENCH_PROMPT[] =
    "Shall I compare thee to a summer's day?\n"
    "Thou art more lovely and more temperate:\n"
    "Rough winds do shake the darling buds of May,\n"
    "And summer's lease hath all too short a date;\n"
    "Sometime too hot the eye of heaven shines,\n"
    "And often is his gold complexion dimm'd;\n"
    "And every fair from fair sometime declines,\n"
    "By chance or nature's changing course untrimm'd;\n"
    "But thy eternal summer shall not fade,\n"
    "Nor lose possession of that fair thou owest;\n"
    "Nor shall Death brag thou wander'st in his shade,\n"
    "When in eternal lines to time thou growest:\n"
    "So long as men can breathe or eyes can see,\n"
    "So long lives this and this gives life to thee.\n"
    "\n"
    "ANTONY:\n"
    "Friends, Romans, countrymen, lend me your ears;\n"
    "I come to bury Caesar, not to praise him.\n"
    "The evil that men do lives after them;\n"
    "The good is oft interred with their bones;\n"
    "So let it be with Caesar. The noble Brutus\n"
    "Hath told you Caesar was ambitious:\n"
    "If it were so, it was a grievous fault,\n"
    "And grievously hath Caesar answer'd it.\n";

static int cmd_bench(const options *o) {
    bytes text = {NULL, 0};
    if (o->text && read_bytes(o->text, (size_t)o->context, &text) != 0) return 1;
    const unsigned char *src = o->text ? text.data : (const unsigned char *)BENCH_PROMPT;
    size_t avail = o->text ? text.size : sizeof BENCH_PROMPT - 1;
    size_t C = (size_t)o->context < avail ? (size_t)o->context : avail;
    if ((size_t)o->context > avail)
        fprintf(stderr, "lsvk-lm: the prompt has %zu bytes only (--context %lld)\n", avail, o->context);
    const size_t N = (size_t)o->tokens;
    if (C == 0) { /* as generate: an empty prompt starts from a newline */
        src = (const unsigned char *)"\n";
        C = 1;
    }
    model m;
    int rc = model_open(o, &m);
    if (rc) {
        free(text.data);
        return rc;
    }
    const size_t B = m.block, V = m.cfg.vocab;
    lsvk_lm_state *inc = NULL, *rec = NULL;
    float *lp = NULL;
    int32_t *seq_inc = NULL, *seq_rec = NULL;
    lsvk_status s = LSVK_SUCCESS;
    if (check_bytes(src, C, m.cfg.vocab, o->text ? o->text : "prompt")) {
        rc = 1;
        goto done;
    }
    lp = malloc(B * V * sizeof *lp);
    seq_inc = malloc((C + N) * sizeof *seq_inc);
    seq_rec = malloc((C + N) * sizeof *seq_rec);
    if (!lp || !seq_inc || !seq_rec) {
        fprintf(stderr, "lsvk-lm: out of host memory\n");
        rc = 1;
        goto done;
    }
    for (size_t i = 0; i < C; i++) seq_inc[i] = seq_rec[i] = src[i];
    if ((s = lsvk_lm_state_create(m.lm, 1, (uint32_t)B, &inc)) != LSVK_SUCCESS ||
        (s = lsvk_lm_state_create(m.lm, 1, (uint32_t)B, &rec)) != LSVK_SUCCESS)
        goto lib_fail;
    /* Untimed warm-up of both paths (pipeline creation, first allocations). */
    if ((s = lsvk_lm_step(inc, seq_inc, lp)) != LSVK_SUCCESS || (s = lsvk_lm_state_reset(inc)) != LSVK_SUCCESS ||
        (s = lsvk_lm_forward(rec, seq_rec, (uint32_t)(C < B ? C : B), lp)) != LSVK_SUCCESS)
        goto lib_fail;

    /* (a) incremental: the prompt once, then one step per token. */
    double t0 = now_s();
    for (size_t i = 0; i < C; i++)
        if ((s = lsvk_lm_step(inc, &seq_inc[i], i + 1 == C ? lp : NULL)) != LSVK_SUCCESS) goto lib_fail;
    double t1 = now_s();
    for (size_t g = 0; g < N; g++) {
        int next = lsvk_argmax(lp, (int)V);
        if (next < 0) goto no_token;
        seq_inc[C + g] = next;
        if (g + 1 < N && (s = lsvk_lm_step(inc, &seq_inc[C + g], lp)) != LSVK_SUCCESS) goto lib_fail;
    }
    double t2 = now_s();

    /* (b) recompute: per token, a fresh zero cache and one forward over the last min(len, B) tokens;
     * only the last position's distribution is used. */
    double t3 = now_s();
    for (size_t g = 0; g < N; g++) {
        size_t len = C + g, w = len < B ? len : B;
        if ((s = lsvk_lm_state_reset(rec)) != LSVK_SUCCESS ||
            (s = lsvk_lm_forward(rec, seq_rec + len - w, (uint32_t)w, lp)) != LSVK_SUCCESS)
            goto lib_fail;
        int next = lsvk_argmax(lp + (w - 1) * V, (int)V);
        if (next < 0) goto no_token;
        seq_rec[len] = next;
    }
    double t4 = now_s();

    size_t agree = 0;
    while (agree < N && seq_inc[C + agree] == seq_rec[C + agree]) agree++;
    double inc_s = t2 - t1, rec_s = t4 - t3, prompt_s = t1 - t0;
    double inc_rate = inc_s > 0 ? N / inc_s : 0, rec_rate = rec_s > 0 ? N / rec_s : 0;
    double ratio = rec_rate > 0 ? inc_rate / rec_rate : 0;
    if (o->csv) {
        printf("method,context,tokens,block,seconds,tokens_per_s,speedup,agree_tokens\n");
        printf("incremental,%zu,%zu,%zu,%.6f,%.2f,%.3f,%zu\n", C, N, B, inc_s, inc_rate, ratio, agree);
        printf("recompute,%zu,%zu,%zu,%.6f,%.2f,%.3f,%zu\n", C, N, B, rec_s, rec_rate, 1.0, agree);
    } else {
        printf("prompt %zu bytes, %zu tokens greedy, block %zu\n", C, N, B);
        printf("incremental (lsvk_lm_step per token)     %8.3f s  %10.1f tokens/s   (prompt: %.1f tokens/s)\n",
               inc_s, inc_rate, prompt_s > 0 ? C / prompt_s : 0.0);
        printf("recompute   (window forward per token)   %8.3f s  %10.1f tokens/s\n", rec_s, rec_rate);
        printf("speed-up %.2fx\n", ratio);
        if (agree == N) {
            printf("sequences agree (%zu tokens)\n", N);
        } else {
            /* Token g comes from position C+g-1: below B both ways see the same tokens from a zero
             * cache; past it the recompute window slides while the incremental cache moves once per
             * block, so the two are different (both legitimate) conditionings. */
            size_t pos = C + agree - 1;
            printf("sequences differ from generated token %zu (position %zu)%s\n", agree, pos,
                   pos < B ? ": inside the first block, where step and forward should agree"
                           : ": past the first block, where the recompute window and the block cache differ");
        }
    }
    goto done;
lib_fail:
    rc = fail(s);
    goto done;
no_token:
    fprintf(stderr, "lsvk-lm: no token can be picked: every log-probability is -inf or NaN\n");
    rc = 1;
done:
    free(lp);
    free(seq_inc);
    free(seq_rec);
    lsvk_lm_state_destroy(inc);
    lsvk_lm_state_destroy(rec);
    model_close(&m);
    free(text.data);
    return rc;
}

int main(int argc, char **argv) {
    options o;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    switch (o.cmd) {
    case CMD_EVAL: return cmd_eval(&o);
    case CMD_GENERATE: return cmd_generate(&o);
    default: return cmd_bench(&o);
    }
}
