/* lsvk-golden FILE...: runs each golden file's variant on the chosen device (LSVK_DEVICE) and
 * compares every output* tensor with the golden values (../shared/golden/README.md, section 8).
 * One line per file; exit status 0 only if all pass. */
#include "golden_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One produced result, compared with the file's tensor of the same name. */
typedef struct result {
    char name[96];
    float *data;
    size_t n;
} result;

typedef struct run {
    result res[16];
    int count;
    char why[256]; /* set when the variant could not run */
} run;

static float *add_result(run *r, const char *name, size_t n) {
    if (r->count == 16) return NULL;
    result *o = &r->res[r->count++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->n = n;
    o->data = malloc(n * sizeof *o->data);
    if (o->data)
        for (size_t i = 0; i < n; i++) o->data[i] = NAN; /* poisoned: unwritten values show */
    return o->data;
}

static int fail(run *r, const char *what, lsvk_status s) {
    snprintf(r->why, sizeof r->why, "%s: %s: %s", what, lsvk_status_string(s), lsvk_last_error());
    return -1;
}

static lsvk_tensor *upload(lsvk_context *ctx, uint32_t rank, const int64_t *shape, const float *data) {
    lsvk_tensor *t = NULL;
    if (lsvk_tensor_create(ctx, LSVK_F32, rank, shape, &t) != LSVK_SUCCESS) return NULL;
    if (data && lsvk_tensor_upload(t, data, (size_t)lsvk_tensor_numel(t) * sizeof(float)) != LSVK_SUCCESS) {
        lsvk_tensor_destroy(t);
        return NULL;
    }
    return t;
}

static int run_bidir(lsvk_context *ctx, golden_file *g, run *r) {
    lsvk_ls_config cfg;
    int B, N0;
    if (golden_ls_config(g, &cfg, &B, &N0) != 0) {
        snprintf(r->why, sizeof r->why, "cannot read the bidir config");
        return -1;
    }
    int64_t xs[3] = {B, N0, cfg.dim}, ms[2] = {B, N0};
    float *x = golden_tensor_expect(g, "input.X", 3, xs);
    float *mask = golden_has(g, "input.mask") ? golden_tensor_expect(g, "input.mask", 2, ms) : NULL;
    lsvk_ls_layer *layer = NULL;
    lsvk_tensor *tx = NULL, *tm = NULL, *to = NULL;
    int rc = -1;
    lsvk_status s;
    float *out = add_result(r, "output", (size_t)B * N0 * cfg.dim);
    if (!x || (golden_has(g, "input.mask") && !mask) || !out) {
        snprintf(r->why, sizeof r->why, "input tensors missing or misshapen");
        goto done;
    }
    if ((s = lsvk_ls_layer_create(ctx, &cfg, &layer)) != LSVK_SUCCESS) { fail(r, "layer", s); goto done; }
    if ((s = lsvk_ls_layer_load(layer, golden_safetensors(g), NULL)) != LSVK_SUCCESS) { fail(r, "weights", s); goto done; }
    tx = upload(ctx, 3, xs, x);
    tm = mask ? upload(ctx, 2, ms, mask) : NULL;
    to = upload(ctx, 3, xs, out);
    if (!tx || !to || (mask && !tm)) { fail(r, "tensors", LSVK_ERROR_OUT_OF_DEVICE_MEMORY); goto done; }
    if ((s = lsvk_ls_forward(NULL, layer, tx, tm, to)) != LSVK_SUCCESS) { fail(r, "forward", s); goto done; }
    if ((s = lsvk_tensor_download(to, out, (size_t)B * N0 * cfg.dim * sizeof *out)) != LSVK_SUCCESS) {
        fail(r, "download", s);
        goto done;
    }
    rc = 0;
done:
    lsvk_tensor_destroy(tx);
    lsvk_tensor_destroy(tm);
    lsvk_tensor_destroy(to);
    lsvk_ls_layer_destroy(layer);
    free(x);
    free(mask);
    return rc;
}

static int run_full(lsvk_context *ctx, golden_file *g, run *r) {
    int64_t shape[LSVK_ST_MAX_RANK];
    if (golden_shape(g, "input.Q", shape, NULL) != 4) {
        snprintf(r->why, sizeof r->why, "input.Q must be [B,H,N,dh]");
        return -1;
    }
    int causal = 0;
    golden_cfg_bool(g, "causal", &causal);
    size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
    int64_t ms[2] = {shape[0], shape[2]};
    float *q = golden_tensor_expect(g, "input.Q", 4, shape), *k = golden_tensor_expect(g, "input.K", 4, shape);
    float *v = golden_tensor_expect(g, "input.V", 4, shape);
    float *mask = golden_has(g, "input.mask") ? golden_tensor_expect(g, "input.mask", 2, ms) : NULL;
    float *out = add_result(r, "output", n);
    lsvk_tensor *tq = NULL, *tk = NULL, *tv = NULL, *tm = NULL, *to = NULL;
    int rc = -1;
    lsvk_status s;
    if (!q || !k || !v || !out || (golden_has(g, "input.mask") && !mask)) {
        snprintf(r->why, sizeof r->why, "input tensors missing or misshapen");
        goto done;
    }
    tq = upload(ctx, 4, shape, q);
    tk = upload(ctx, 4, shape, k);
    tv = upload(ctx, 4, shape, v);
    tm = mask ? upload(ctx, 2, ms, mask) : NULL;
    to = upload(ctx, 4, shape, out);
    if (!tq || !tk || !tv || !to || (mask && !tm)) { fail(r, "tensors", LSVK_ERROR_OUT_OF_DEVICE_MEMORY); goto done; }
    s = lsvk_attention(NULL, tq, tk, tv, tm, causal ? LSVK_ATTENTION_CAUSAL : 0, to);
    if (s != LSVK_SUCCESS) { fail(r, "attention", s); goto done; }
    if ((s = lsvk_tensor_download(to, out, n * sizeof *out)) != LSVK_SUCCESS) { fail(r, "download", s); goto done; }
    rc = 0;
done:
    lsvk_tensor_destroy(tq);
    lsvk_tensor_destroy(tk);
    lsvk_tensor_destroy(tv);
    lsvk_tensor_destroy(tm);
    lsvk_tensor_destroy(to);
    free(q);
    free(k);
    free(v);
    free(mask);
    return rc;
}

/* Runs one file; prints its line; returns 1 if it passed. */
static int check_file(lsvk_context *ctx, const char *path) {
    golden_file *g = golden_open(path);
    if (!g) {
        printf("%-40s %-12s %-10s FAIL (cannot read the file: %s)\n", path, "?", "-", lsvk_last_error());
        return 0;
    }
    const char *variant = golden_variant(g);
    run r = {0};
    int rc;
    if (strcmp(variant, "bidir") == 0) rc = run_bidir(ctx, g, &r);
    else if (strcmp(variant, "full") == 0) rc = run_full(ctx, g, &r);
    else {
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
        result *mine = NULL;
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
