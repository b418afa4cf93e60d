/* The bidirectional long-short layer on the device against the official implementation's
 * golden files (every bidir_* case), outputs poisoned first. */
#include "golden_util.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cases[] = {"bidir_basic", "bidir_pad_conv", "bidir_cls", "bidir_window_only",
                                    "bidir_landmarks_only"};

static void run_case(lsvk_context *ctx, const char *name) {
    golden_file *g = golden_open_case(LSVK_TEST_DATA, name);
    if (!TU_CHECK(g != NULL, "%s: cannot open", name)) return;
    lsvk_ls_config cfg;
    int B = 0, N0 = 0;
    if (!TU_CHECK(golden_ls_config(g, &cfg, &B, &N0) == 0, "%s: config", name)) {
        golden_close(g);
        return;
    }
    size_t n = (size_t)B * N0 * cfg.dim;
    float *x = golden_tensor(g, "input.X", NULL, NULL, NULL);
    float *mask = golden_tensor(g, "input.mask", NULL, NULL, NULL);
    float *want = golden_tensor(g, "output", NULL, NULL, NULL);
    float *got = malloc(n * sizeof *got);
    lsvk_ls_layer *layer = NULL;
    if (TU_OK(lsvk_ls_layer_create(ctx, &cfg, &layer)) &&
        TU_OK(lsvk_ls_layer_load(layer, golden_safetensors(g), NULL))) {
        int64_t xs[3] = {B, N0, cfg.dim}, ms[2] = {B, N0};
        lsvk_tensor *tx = tu_tensor(ctx, 3, xs, x), *tm = tu_tensor(ctx, 2, ms, mask);
        lsvk_tensor *to = tu_tensor(ctx, 3, xs, NULL);
        tu_poison(got, n);
        lsvk_tensor_upload(to, got, n * sizeof *got);
        if (TU_OK(lsvk_ls_forward(NULL, layer, tx, tm, to))) {
            lsvk_tensor_download(to, got, n * sizeof *got);
            double err = golden_rel_err_f(got, want, n);
            printf("%-22s rel err %.3g\n", name, err);
            TU_CHECK(err <= 1e-4, "%s: rel err %g > 1e-4", name, err);
        }
        lsvk_tensor_destroy(tx);
        lsvk_tensor_destroy(tm);
        lsvk_tensor_destroy(to);
    }
    lsvk_ls_layer_destroy(layer);
    free(x);
    free(mask);
    free(want);
    free(got);
    golden_close(g);
}

int main(void) {
    lsvk_context *ctx = tu_context();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(ctx, cases[i]);
    return tu_finish(ctx);
}
