/* lsvk-lm's command line: the usage text, and parsing that checks every value and that each option
 * applies to the chosen command before any file is read. */
#include "lm.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lm_usage(FILE *f) {
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
            "  bench     [--tokens N] [--context C] [--text FILE] [--block N] [--streams S] [--csv]\n"
            "            greedy generation of N tokens (default 256) after a C-byte prompt (default\n"
            "            128; the start of FILE, else a built-in one), two ways: lsvk_lm_step per\n"
            "            token, and a whole-window forward per token as the official code does;\n"
            "            with S > 1 also S streams stepped together (one lsvk_lm_step for all)\n"
            "options:\n"
            "  --device SEL  device index or name substring (default: LSVK_DEVICE, then auto)\n"
            "  --block N     tokens per block (default: the model config's \"block\", else mem_len)\n"
            "  -h, --help    this text\n");
}

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

int lm_parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->limit = -1;
    o->tokens = -1;
    o->temperature = 0.8;
    o->context = -1;
    o->streams = 1;
    seen_option seen[64];
    int nseen = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            lm_usage(stdout);
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
        } else if (strcmp(a, "--streams") == 0) {
            NEED_VALUE();
            if (parse_int(v, 1, 4096, &o->streams)) return bad_value(a, v, "1 to 4096");
            cmds = CMD_BENCH;
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
