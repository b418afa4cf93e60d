/* Uses an installed lsvk: prints the library's view of the Vulkan devices, then runs one small
 * op on the default device and checks it. Exit 0 on success, 77 when there is no Vulkan device
 * (CTest's skip code), 1 on any failure. */
#include <lsvk/lsvk.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, lsvk_status s, const lsvk_context *ctx) {
    fprintf(stderr, "consumer: %s: %s: %s\n", what, lsvk_status_string(s),
            ctx ? lsvk_context_error(ctx) : lsvk_last_error());
    return 1;
}

int main(void) {
    printf("lsvk %d.%d.%d\n", LSVK_VERSION_MAJOR, LSVK_VERSION_MINOR, LSVK_VERSION_PATCH);
    if (strcmp(lsvk_status_string(LSVK_ERROR_SHAPE), "LSVK_ERROR_SHAPE") != 0) {
        fprintf(stderr, "consumer: lsvk_status_string gave \"%s\"\n",
                lsvk_status_string(LSVK_ERROR_SHAPE));
        return 1;
    }

    uint32_t count = 0, selected = 0;
    lsvk_status s = lsvk_enumerate_devices(NULL, NULL, &count, &selected);
    if (s == LSVK_ERROR_NO_DEVICE || (s == LSVK_SUCCESS && count == 0)) {
        printf("no Vulkan device (%s): %s\n", lsvk_status_string(s), lsvk_last_error());
        return 77;
    }
    if (s != LSVK_SUCCESS)
        return fail("lsvk_enumerate_devices", s, NULL);
    printf("%u device(s), lsvk picks %u\n", count, selected);

    lsvk_context_create_info info = {0};
    info.validation = LSVK_VALIDATION_OFF;
    lsvk_context *ctx = NULL;
    s = lsvk_context_create(&info, &ctx);
    if (s != LSVK_SUCCESS)
        return fail("lsvk_context_create", s, NULL);
    const lsvk_device_info *dev = lsvk_context_device(ctx);
    printf("device %u: %s (%s, %s)\n", dev->index, dev->name, dev->vendor,
           lsvk_device_type_string(dev->type));

    /* y[2,2] = x[2,3] W[2,3]^T + b[2] */
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const float w[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f};
    const float b[2] = {0.25f, -1};
    const float want[4] = {-1.75f, 2, -1.75f, 6.5f};
    float y[4] = {0};
    lsvk_tensor *tx = NULL, *tw = NULL, *tb = NULL, *ty = NULL;
    lsvk_cmd *cmd = NULL;
    int rc = 1;
    const char *step = "lsvk_tensor_create";
    if ((s = lsvk_tensor_create(ctx, LSVK_F32, 2, (const int64_t[]){2, 3}, &tx)) ||
        (s = lsvk_tensor_create(ctx, LSVK_F32, 2, (const int64_t[]){2, 3}, &tw)) ||
        (s = lsvk_tensor_create(ctx, LSVK_F32, 1, (const int64_t[]){2}, &tb)) ||
        (s = lsvk_tensor_create(ctx, LSVK_F32, 2, (const int64_t[]){2, 2}, &ty)))
        goto done;
    step = "lsvk_tensor_upload";
    if ((s = lsvk_tensor_upload(tx, x, sizeof x)) || (s = lsvk_tensor_upload(tw, w, sizeof w)) ||
        (s = lsvk_tensor_upload(tb, b, sizeof b)))
        goto done;
    step = "lsvk_cmd_create";
    if ((s = lsvk_cmd_create(ctx, 0, &cmd)))
        goto done;
    step = "lsvk_linear";
    if ((s = lsvk_linear(cmd, tx, tw, tb, ty)))
        goto done;
    step = "lsvk_cmd_submit";
    if ((s = lsvk_cmd_submit(cmd)))
        goto done;
    step = "lsvk_tensor_download";
    if ((s = lsvk_tensor_download(ty, y, sizeof y)))
        goto done;
    rc = 0;
    for (int i = 0; i < 4; i++) {
        float d = y[i] - want[i];
        if (d > 1e-5f || d < -1e-5f) {
            fprintf(stderr, "consumer: lsvk_linear: y[%d] = %g, want %g\n", i, y[i], want[i]);
            rc = 1;
        }
    }
    if (rc == 0)
        printf("lsvk_linear: ok\n");
done:
    if (rc && s != LSVK_SUCCESS)
        fail(step, s, ctx);
    lsvk_cmd_destroy(cmd);
    lsvk_tensor_destroy(tx);
    lsvk_tensor_destroy(tw);
    lsvk_tensor_destroy(tb);
    lsvk_tensor_destroy(ty);
    lsvk_context_destroy(ctx);
    return rc;
}
