/* lsvk-lm: the byte-level Transformer-LS language model (include/lsvk/causal.h) on the command line.
 *   eval      bits per character over a text, block by block exactly as the reference measured
 *             valid_bpc (../shared/charlm/README.md "How valid_bpc was computed")
 *   generate  feeds a prompt token by token and samples a continuation (samples/common/sampling.h)
 *   bench     generation speed of lsvk_lm_step against recomputing a whole block per token (what
 *             the official code does), greedy both ways, on the same prompt
 * Results go to stdout, progress and timings to stderr. The pieces live in lm/ (lm/lm.h). */
#include "lm/lm.h"

int main(int argc, char **argv) {
    options o;
    if (lm_parse_args(argc, argv, &o) != 0) {
        lm_usage(stderr);
        return 2;
    }
    switch (o.cmd) {
    case CMD_EVAL: return lm_eval(&o);
    case CMD_GENERATE: return lm_generate(&o);
    default: return lm_bench(&o);
    }
}
