/* Each method's device objects for one point, and the forward that is timed: the LS layer, the
 * vision layer, and full attention built from lsvk_linear + lsvk_attention. */
#include "bench.h"

#include <string.h>

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

lsvk_vision_config bench_vision_config(const options *o) {
    lsvk_vision_config c = {o->dim, o->heads, o->dim / o->heads, o->nx, o->ny, o->window, o->landmarks, o->nglo,
                            (int32_t)o->rpe, 1};
    return c;
}

void bench_point_free(point *p) {
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
        if (!(p->w[i] = tensor(ctx, i % 2 ? 1 : 2, i % 2 ? bs : ws, bench_wget(w, names[i]), &s))) return s;
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
    lsvk_vision_config c = bench_vision_config(o);
    if ((s = lsvk_vision_layer_create(ctx, &c, &p->vlayer)) != LSVK_SUCCESS) return s;
    for (int i = 0; i < w->n; i++)
        if ((s = lsvk_vision_layer_set_weight(p->vlayer, w->name[i], w->data[i], w->count[i])) != LSVK_SUCCESS)
            return s;
    if (!(p->x = tensor(ctx, 3, xs, x, &s))) return s;
    if (!(p->out = tensor(ctx, 3, xs, NULL, &s))) return s;
    return LSVK_SUCCESS;
}

lsvk_status bench_setup(lsvk_context *ctx, const options *o, const lsvk_ls_config *cfg, bench_kind k, const weights *w,
                        int64_t n, const float *x, point *p) {
    return k == BENCH_VISION ? setup_vision(ctx, o, w, n, x, p)
           : k == BENCH_LS   ? setup_ls(ctx, o, cfg, w, n, x, p)
                             : setup_full(ctx, o, w, n, x, p);
}

lsvk_status bench_record(lsvk_cmd *cmd, const options *o, bench_kind k, point *p, int64_t n) {
    return k == BENCH_VISION ? lsvk_vision_forward(cmd, p->vlayer, p->x, p->out)
           : k == BENCH_LS   ? lsvk_ls_forward(cmd, p->layer, p->x, NULL, p->out)
                             : record_full(cmd, o, p, n);
}
