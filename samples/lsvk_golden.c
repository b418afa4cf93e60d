/* lsvk-golden FILE...: runs each golden file's variant on the chosen device (LSVK_DEVICE) and
 * compares every output* tensor with the golden values (../shared/golden/README.md, section 8).
 * One line per file; exit status 0 only if all pass. */
#include "golden/golden_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs one file; prints its line; returns 1 if it passed. */
static int check_file(lsvk_context *ctx, const char *path) {
    golden_file *g = golden_open(path);
    if (!g) {
        printf("%-40s %-12s %-10s FAIL (cannot read the file: %s)\n", path, "?", "-", lsvk_last_error());
        return 0;
    }
    const char *variant = golden_variant(g);
    golden_run r = {0};
    int rc;
    static const struct {
        const char *name;
        int (*fn)(lsvk_context *, golden_file *, golden_run *);
    } variants[] = {{"bidir", golden_run_bidir},   {"full", golden_run_full},
                    {"causal", golden_run_causal}, {"causal_model", golden_run_causal_model},
                    {"charlm", golden_run_charlm}, {"vision2d", golden_run_vision2d}};
    rc = 1;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (strcmp(variant, variants[i].name) == 0) rc = variants[i].fn(ctx, g, &r);
    if (rc == 1) {
        snprintf(r.why, sizeof r.why, "variant '%s' is not supported by lsvk yet", variant[0] ? variant : "(none)");
        rc = -1;
    }
    double tol = golden_tolerance(g), worst = 0;
    int ok = rc == 0;
    char detail[256] = "";
    /* every output* tensor of the file must have been produced and must match */
    const lsvk_safetensors *st = golden_safetensors(g);
    int compared = 0;
    for (size_t i = 0; ok && i < lsvk_safetensors_count(st); i++) {
        lsvk_st_tensor t;
        if (lsvk_safetensors_at(st, i, &t) != LSVK_SUCCESS || strncmp(t.name, "output", 6) != 0) continue;
        if (t.name[6] != 0 && t.name[6] != '.') continue;
        golden_result *mine = NULL;
        for (int j = 0; j < r.count; j++)
            if (strcmp(r.res[j].name, t.name) == 0) mine = &r.res[j];
        if (!mine || (size_t)t.numel != mine->n) {
            snprintf(detail, sizeof detail, "%s not produced", t.name);
            ok = 0;
            break;
        }
        float *want = golden_tensor(g, t.name, NULL, NULL, NULL);
        double err = want ? golden_rel_err_f(mine->data, want, mine->n) : INFINITY;
        free(want);
        if (!(err <= worst)) worst = err;
        if (!(err <= tol)) {
            snprintf(detail, sizeof detail, "%s: %.3g > %.3g", t.name, err, tol);
            ok = 0;
        }
        compared++;
    }
    if (ok && compared == 0) {
        snprintf(detail, sizeof detail, "no output tensor in the file");
        ok = 0;
    }
    if (rc != 0) printf("%-40s %-12s %-10s FAIL (%s)\n", path, variant, "-", r.why);
    else printf("%-40s %-12s %-10.3g %s%s%s%s\n", path, variant, worst, ok ? "PASS" : "FAIL",
                detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
    for (int j = 0; j < r.count; j++) free(r.res[j].data);
    golden_close(g);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: %s FILE.safetensors...\n"
                        "  runs each golden file on the device (LSVK_DEVICE picks it) and compares\n"
                        "  every output tensor; exit status 0 only if all pass\n", argv[0]);
        return 2;
    }
    lsvk_context *ctx = NULL;
    lsvk_status s = lsvk_context_create(NULL, &ctx);
    if (s != LSVK_SUCCESS) {
        fprintf(stderr, "lsvk-golden: %s: %s\n", lsvk_status_string(s), lsvk_last_error());
        return 1;
    }
    printf("device: %s\n", lsvk_context_device(ctx)->name);
    printf("%-40s %-12s %-10s %s\n", "file", "variant", "rel err", "result");
    int passed = 0, total = argc - 1;
    for (int i = 1; i < argc; i++) passed += check_file(ctx, argv[i]);
    uint32_t vmsgs = lsvk_context_validation_messages(ctx);
    lsvk_context_destroy(ctx);
    printf("%d passed, %d failed\n", passed, total - passed);
    if (vmsgs) fprintf(stderr, "lsvk-golden: %u validation message(s)\n", vmsgs);
    return passed == total && vmsgs == 0 ? 0 : 1;
}
