/* The language model's state (lib/ops/causal_lm.c has the model), fed a block at a time
 * (lsvk_lm_forward) or a token at a time (lsvk_lm_step) with the same results.
 *
 * The state keeps every per-token buffer token-major ([position, stream, features]), so that the
 * first n positions of all streams are the first n*B rows: blocks shorter than block_len and
 * single steps run on plain row views, and a linear over a block needs no strides. Per layer it
 * holds the cache (two buffers, the next one written while the current one is read), the block's
 * projections, window and chunk buffers (lsvk__causal_ws), and the block's layer inputs, from
 * which the next cache is taken. A failed call leaves the state as it was. */
#include "ops/causal_lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

LSVK_DECLARE_SHADER(embed);

/* Block-sized buffers of the state, [Lcap * B rows, width]. */
enum { S_X0, S_X1, S_A, S_ATT, S_O, S_BN, S_F1, S_LOGITS, S_QT, S_AC, S_TOK, S_COUNT };

typedef struct state_layer {
    lsvk__causal_ws ws;
    lsvk_tensor *hc[2]; /* [M * B, D] token-major; hc[cur] is the cache of the current block */
    lsvk_tensor *xb;    /* [Lcap * B, D] the block's layer inputs (steps) */
} state_layer;

struct lsvk_lm_state {
    lsvk_lm *lm;
    uint32_t B, Lcap, in_block, cur;
    uint64_t position;
    state_layer *layers;
    lsvk_tensor *s[S_COUNT];
    lsvk_cmd *cmd;
    float *host;        /* logits staging, [Lcap * B * V] */
    uint32_t *tok;      /* [Lcap * B] */
};

/* ------------------------------------------------------------ state */

void lsvk_lm_state_destroy(lsvk_lm_state *st) {
    if (!st) return;
    if (st->layers) {
        /* the temporaries are layer 0's, shared by the others */
        lsvk__causal_ws t0 = st->layers[0].ws;
        for (uint32_t l = 0; l < st->lm->cfg.layers; l++) {
            state_layer *sl = &st->layers[l];
            lsvk_tensor_destroy(sl->ws.qkv);
            lsvk__causal_ws_free(&sl->ws, false);
            lsvk_tensor_destroy(sl->hc[0]);
            lsvk_tensor_destroy(sl->hc[1]);
            lsvk_tensor_destroy(sl->xb);
        }
        lsvk_tensor_destroy(t0.ckv);
        lsvk_tensor_destroy(t0.hcc);
        lsvk_tensor_destroy(t0.ckvp);
        lsvk_tensor_destroy(t0.bkvc);
    }
    for (int i = 0; i < S_COUNT; i++) lsvk_tensor_destroy(st->s[i]);
    lsvk_cmd_destroy(st->cmd);
    free(st->layers);
    free(st->host);
    free(st->tok);
    free(st);
}

uint32_t lsvk_lm_state_batch(const lsvk_lm_state *st) { return st ? st->B : 0; }
uint32_t lsvk_lm_state_block_len(const lsvk_lm_state *st) { return st ? st->Lcap : 0; }
uint64_t lsvk_lm_state_position(const lsvk_lm_state *st) { return st ? st->position : 0; }

lsvk_status lsvk_lm_state_reset(lsvk_lm_state *st) {
    if (!st) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_lm_state_reset: NULL state");
    const lsvk_lm_config *c = &st->lm->cfg;
    size_t n = (size_t)c->mem_len * st->B * c->dim;
    float *z = calloc(n ? n : 1, sizeof *z);
    if (!z) return lsvk__fail(st->lm->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    lsvk_status s = LSVK_SUCCESS;
    for (uint32_t l = 0; l < c->layers && s == LSVK_SUCCESS; l++) s = lsvk_tensor_upload(st->layers[l].hc[0], z, n * sizeof *z);
    free(z);
    if (s == LSVK_SUCCESS) {
        st->cur = 0;
        st->in_block = 0;
        st->position = 0;
    }
    return s;
}

lsvk_status lsvk_lm_state_create(lsvk_lm *lm, uint32_t batch, uint32_t block_len, lsvk_lm_state **out) {
    static const char *op = "lsvk_lm_state_create";
    if (!out) return lsvk__fail(lm ? lm->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    if (!lm) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: model is NULL", op);
    lsvk_context *ctx = lm->ctx;
    const lsvk_lm_config *c = &lm->cfg;
    if (batch == 0 || batch > 4096)
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: batch %u not in 1..4096", op, batch);
    if (block_len == 0) block_len = c->mem_len;
    if (block_len == 0 || block_len > (1u << 20))
        return lsvk__fail(ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: block_len %u not in 1..2^20", op, block_len);
    block_len = (block_len + c->chunk_size - 1) / c->chunk_size * c->chunk_size;
    LSVK_TRY(lsvk__lm_ready(lm, op));
    uint64_t rows = (uint64_t)block_len * batch, widest = c->vocab > c->inner ? c->vocab : c->inner;
    if (rows * widest > UINT32_MAX || (uint64_t)c->mem_len * batch * c->dim > UINT32_MAX)
        return lsvk__fail(ctx, LSVK_ERROR_LIMIT_EXCEEDED, "%s: batch x block_len too large for 32-bit indexing", op);
    lsvk_lm_state *st = calloc(1, sizeof *st);
    if (!st) return lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    st->lm = lm;
    st->B = batch;
    st->Lcap = block_len;
    st->layers = calloc(c->layers, sizeof *st->layers);
    st->host = malloc(rows * c->vocab * sizeof *st->host);
    st->tok = malloc(rows * sizeof *st->tok);
    lsvk_status s = st->layers && st->host && st->tok ? LSVK_SUCCESS
                                                      : lsvk__fail(ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    int64_t D = c->dim, R = (int64_t)rows;
    uint32_t F = lsvk__causal_qkv_width(lm->layers[0].attn);
    const int64_t widths[S_COUNT][2] = {{R, D}, {R, D}, {R, D}, {R, D}, {R, D}, {R, D}, {R, c->inner},
                                        {R, c->vocab}, {batch, F}, {(int64_t)c->mem_len * batch, D}, {R, 0}};
    for (int i = 0; i < S_COUNT && s == LSVK_SUCCESS; i++) s = lsvk__make(ctx, widths[i][0], widths[i][1], &st->s[i]);
    lsvk__causal_ws shared = {0};
    for (uint32_t l = 0; l < c->layers && s == LSVK_SUCCESS; l++) {
        state_layer *sl = &st->layers[l];
        sl->ws = shared; /* the temporaries of layer 0, once allocated */
        s = lsvk__make(ctx, R, F, &sl->ws.qkv);
        sl->ws.qkv_rows = (lsvk__rows){1, batch};
        if (s == LSVK_SUCCESS) s = lsvk__causal_ws_alloc(lm->layers[l].attn, &sl->ws, batch, block_len, false);
        if (l == 0) {
            shared = sl->ws;
            shared.qkv = shared.kvc = shared.kvw = NULL;
        }
        for (int i = 0; i < 2 && s == LSVK_SUCCESS; i++) s = lsvk__make(ctx, (int64_t)c->mem_len * batch, D, &sl->hc[i]);
        if (s == LSVK_SUCCESS) s = lsvk__make(ctx, R, D, &sl->xb);
        if (s == LSVK_SUCCESS) s = lsvk__causal_prepare(lm->layers[l].attn, block_len);
    }
    if (s == LSVK_SUCCESS) s = lsvk_cmd_create(ctx, 0, &st->cmd);
    if (s == LSVK_SUCCESS) s = lsvk_lm_state_reset(st);
    if (s) {
        lsvk_lm_state_destroy(st);
        return s;
    }
    *out = st;
    return LSVK_SUCCESS;
}

static lsvk_status cache_access(lsvk_lm_state *st, uint32_t layer, size_t count, const char *op) {
    if (!st) return lsvk__fail(NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL state", op);
    const lsvk_lm_config *c = &st->lm->cfg;
    if (layer >= c->layers)
        return lsvk__fail(st->lm->ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: layer %u of %u", op, layer, c->layers);
    if (count != (size_t)st->B * c->mem_len * c->dim)
        return lsvk__fail(st->lm->ctx, LSVK_ERROR_SHAPE, "%s: %zu values for a [%u, %u, %u] cache", op, count, st->B,
                          c->mem_len, c->dim);
    if (st->in_block)
        return lsvk__fail(st->lm->ctx, LSVK_ERROR_STATE, "%s: %u tokens into a block; caches change at block ends", op,
                          st->in_block);
    return LSVK_SUCCESS;
}

/* [B, M, D] <-> token-major [M, B, D] */
static void transpose_bm(const float *src, float *dst, uint32_t B, uint32_t M, uint32_t D, bool to_token_major) {
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t m = 0; m < M; m++) {
            size_t bm = ((size_t)b * M + m) * D, tm = ((size_t)m * B + b) * D;
            memcpy(dst + (to_token_major ? tm : bm), src + (to_token_major ? bm : tm), D * sizeof *src);
        }
}

lsvk_status lsvk_lm_state_get_cache(lsvk_lm_state *st, uint32_t layer, float *data, size_t count) {
    LSVK_TRY(cache_access(st, layer, count, "lsvk_lm_state_get_cache"));
    if (!data) return lsvk__fail(st->lm->ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_lm_state_get_cache: data is NULL");
    float *tmp = malloc(count * sizeof *tmp);
    if (!tmp) return lsvk__fail(st->lm->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    lsvk_status s = lsvk_tensor_download(st->layers[layer].hc[st->cur], tmp, count * sizeof *tmp);
    if (s == LSVK_SUCCESS) transpose_bm(tmp, data, st->B, st->lm->cfg.mem_len, st->lm->cfg.dim, false);
    free(tmp);
    return s;
}

lsvk_status lsvk_lm_state_set_cache(lsvk_lm_state *st, uint32_t layer, const float *data, size_t count) {
    LSVK_TRY(cache_access(st, layer, count, "lsvk_lm_state_set_cache"));
    if (!data) return lsvk__fail(st->lm->ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_lm_state_set_cache: data is NULL");
    for (size_t i = 0; i < count; i++)
        if (!isfinite(data[i]))
            return lsvk__fail(st->lm->ctx, LSVK_ERROR_INVALID_ARGUMENT, "lsvk_lm_state_set_cache: non-finite value at %zu", i);
    float *tmp = malloc(count * sizeof *tmp);
    if (!tmp) return lsvk__fail(st->lm->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    transpose_bm(data, tmp, st->B, st->lm->cfg.mem_len, st->lm->cfg.dim, true);
    lsvk_status s = lsvk_tensor_upload(st->layers[layer].hc[st->cur], tmp, count * sizeof *tmp);
    free(tmp);
    return s;
}

/* ------------------------------------------------------------ recording */

static lsvk_tensor rows_of(lsvk_lm_state *st, int i, uint32_t rows) {
    return lsvk__view_rows(st->s[i], rows, st->s[i]->numel / st->s[i]->shape[0]);
}

/* Rows [row0, row0 + rows) of t (cols floats each) as a tensor of their own, where the device lets
 * a binding start there (minStorageBufferOffsetAlignment); false otherwise. Steps write their row
 * of the block buffers through these instead of copying it there. */
static bool rows_at(const lsvk_tensor *t, uint64_t row0, uint64_t rows, uint64_t cols, lsvk_tensor *out) {
    uint64_t off = row0 * cols * sizeof(float), align = t->ctx->info.min_storage_buffer_alignment;
    if (align > 1 && off % align) return false;
    const char *env = getenv("LSVK_LM_ROW_VIEWS"); /* "0": always copy (tests the other path) */
    if (env && strcmp(env, "0") == 0) return false;
    *out = lsvk__view_rows(t, (int64_t)rows, (int64_t)cols);
    out->offset += off;
    return true;
}

static lsvk_status copy_rows(lsvk_cmd *cmd, const lsvk_tensor *x, uint32_t x_row, lsvk_tensor *y, uint32_t y_row,
                             uint32_t rows, uint32_t width, bool add, const char *label) {
    lsvk__rows_copy p = {1, rows, width, 0, width, x_row * width, 0, width, y_row * width, add};
    return lsvk__record_rows_copy(cmd, x, y, &p, label);
}

/* The next cache of layer l: the last M rows of [cache ; the n block rows of x]. */
static lsvk_status record_next_cache(lsvk_lm_state *st, uint32_t l, const lsvk_tensor *x, uint32_t n) {
    const lsvk_lm_config *c = &st->lm->cfg;
    uint32_t M = c->mem_len, B = st->B, D = c->dim;
    state_layer *sl = &st->layers[l];
    lsvk_tensor *next = sl->hc[st->cur ^ 1];
    if (M == 0) return LSVK_SUCCESS;
    if (n >= M) return copy_rows(st->cmd, x, (n - M) * B, next, 0, M * B, D, false, "lm.cache");
    LSVK_TRY(copy_rows(st->cmd, sl->hc[st->cur], n * B, next, 0, (M - n) * B, D, false, "lm.cache"));
    return copy_rows(st->cmd, x, 0, next, (M - n) * B, n * B, D, false, "lm.cache");
}

/* Layer l over n positions (block rows row0..row0+n-1) of all streams: x ([n*B, D] rows) ->
 * y. Steps (n = 1) place their projections in the block buffers first. */
static lsvk_status record_layer(lsvk_lm_state *st, uint32_t l, uint32_t row0, uint32_t n, const lsvk_tensor *x,
                                lsvk_tensor *y) {
    lsvk_lm *lm = st->lm;
    lsvk_cmd *cmd = st->cmd;
    const lsvk_lm_config *c = &lm->cfg;
    lm_layer *ml = &lm->layers[l];
    state_layer *sl = &st->layers[l];
    uint32_t rows = n * st->B, F = lsvk__causal_qkv_width(ml->attn);
    if (row0 == 0) {
        lsvk_tensor ac = rows_of(st, S_AC, c->mem_len * st->B);
        LSVK_TRY(lsvk_layernorm(cmd, sl->hc[st->cur], ml->t[L_N1W], ml->t[L_N1B], 1e-5f, &ac));
        LSVK_TRY(lsvk__causal_record_cache(cmd, ml->attn, &sl->ws, &ac, (lsvk__rows){1, st->B}));
    }
    lsvk_tensor a = rows_of(st, S_A, rows), att = rows_of(st, S_ATT, rows), o = rows_of(st, S_O, rows);
    lsvk_tensor bn = rows_of(st, S_BN, rows), f1 = rows_of(st, S_F1, rows);
    LSVK_TRY(lsvk_layernorm(cmd, x, ml->t[L_N1W], ml->t[L_N1B], 1e-5f, &a));
    if (row0 == 0 && n > 1 ) {
        LSVK_TRY(lsvk__causal_record_qkv(cmd, ml->attn, &a, sl->ws.qkv));
    } else {
        lsvk_tensor qt;
        if (rows_at(sl->ws.qkv, (uint64_t)row0 * st->B, rows, F, &qt)) {
            LSVK_TRY(lsvk__causal_record_qkv(cmd, ml->attn, &a, &qt));
        } else {
            qt = rows_of(st, S_QT, rows);
            LSVK_TRY(lsvk__causal_record_qkv(cmd, ml->attn, &a, &qt));
            LSVK_TRY(copy_rows(cmd, &qt, 0, sl->ws.qkv, row0 * st->B, rows, F, false, "lm.qkv_row"));
        }
    }
    LSVK_TRY(lsvk__causal_record_block(cmd, ml->attn, &sl->ws, row0, n, &att, (lsvk__rows){1, st->B}));
    /* h1 = a + attn; b = LN2(h1); h = b + fc2(gelu(fc1(b))): the residuals add the normalised
     * input, in the linears' epilogues */
    LSVK_TRY(lsvk__causal_record_out(cmd, ml->attn, &att, &a, &o));
    LSVK_TRY(lsvk_layernorm(cmd, &o, ml->t[L_N2W], ml->t[L_N2B], 1e-5f, &bn));
    LSVK_TRY(lsvk_linear_ex(cmd, &bn, ml->t[L_FC1W], ml->t[L_FC1B], NULL, LSVK_LINEAR_GELU, &f1));
    return lsvk_linear_ex(cmd, &f1, ml->t[L_FC2W], ml->t[L_FC2B], &bn, 0, y);
}

static lsvk_status check_tokens(lsvk_lm_state *st, const int32_t *tokens, size_t n, const char *op) {
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= st->lm->cfg.vocab)
            return lsvk__fail(st->lm->ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: token %d at %zu is not in 0..%u", op,
                              tokens[i], i, st->lm->cfg.vocab - 1);
    return LSVK_SUCCESS;
}

/* Embeds st->tok's first n*B ids, runs every layer over block rows row0.., and the output
 * log-softmax; the block's layer inputs go to xb (steps) or straight to the next caches
 * (whole blocks). */
static lsvk_status record_run(lsvk_lm_state *st, uint32_t row0, uint32_t n, bool whole_block, lsvk_tensor *x,
                              lsvk_tensor *xin);

static lsvk_status run(lsvk_lm_state *st, uint32_t row0, uint32_t n, float *logprobs, bool whole_block) {
    lsvk_lm *lm = st->lm;
    const lsvk_lm_config *c = &lm->cfg;
    uint32_t rows = n * st->B;
    LSVK_TRY(lsvk__tensor_upload_range(st->s[S_TOK], 0, st->tok, rows * sizeof *st->tok));
    LSVK_TRY(lsvk_cmd_reset(st->cmd));
    lsvk_tensor x[2] = {rows_of(st, S_X0, rows), rows_of(st, S_X1, rows)};
    /* steps: each layer's input lives straight in its row of the block inputs xb (kept for the
     * next cache) where the device allows; else it is copied there */
    lsvk_tensor *xin = calloc(c->layers, sizeof *xin);
    if (!xin) return lsvk__fail(lm->ctx, LSVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    bool direct = !whole_block;
    for (uint32_t l = 0; l < c->layers && direct; l++)
        direct = rows_at(st->layers[l].xb, (uint64_t)row0 * st->B, rows, c->dim, &xin[l]);
    lsvk_status s = record_run(st, row0, n, whole_block, x, direct ? xin : NULL);
    free(xin);
    LSVK_TRY(s);
    LSVK_TRY(lsvk_cmd_submit(st->cmd));
    if (logprobs) {
        size_t V = c->vocab;
        lsvk_tensor logits = rows_of(st, S_LOGITS, rows);
        LSVK_TRY(lsvk_tensor_download(&logits, st->host, (size_t)rows * V * sizeof *st->host));
        /* token-major [n, B, V] -> [B, n, V] */
        for (uint32_t t = 0; t < n; t++)
            for (uint32_t b = 0; b < st->B; b++)
                memcpy(logprobs + ((size_t)b * n + t) * V, st->host + ((size_t)t * st->B + b) * V, V * sizeof *logprobs);
    }
    /* only now, with everything done, does the state move */
    bool ends = whole_block || row0 + n == st->Lcap;
    st->position += n;
    st->in_block = ends ? 0 : row0 + n;
    if (ends) st->cur ^= 1;
    return LSVK_SUCCESS;
}

/* Records run()'s sequence; xin (steps, may be NULL) are the layers' input rows inside xb. */
static lsvk_status record_run(lsvk_lm_state *st, uint32_t row0, uint32_t n, bool whole_block, lsvk_tensor *x,
                              lsvk_tensor *xin) {
    lsvk_lm *lm = st->lm;
    const lsvk_lm_config *c = &lm->cfg;
    uint32_t rows = n * st->B;
    float scale = sqrtf((float)c->dim);
    struct { uint32_t rows, C; float scale; } ep = {rows, c->dim, scale};
    lsvk_dispatch d = {.shader = LSVK_SHADER(embed), .label = "lm.embed"};
    d.spec[0] = 64;
    d.spec_count = 1;
    d.buffers[0] = st->s[S_TOK];
    d.buffers[1] = lm->g[G_IN_EMB];
    d.buffers[2] = xin ? &xin[0] : &x[0];
    d.buffer_count = 3;
    d.write_mask = 4u;
    d.push = &ep;
    d.push_size = sizeof ep;
    lsvk__grid_2d(lm->ctx, lsvk__div_up((uint64_t)rows * c->dim, 64), d.groups);
    LSVK_TRY(lsvk__cmd_record(st->cmd, &d));
    bool ends = whole_block || row0 + n == st->Lcap;
    for (uint32_t l = 0; l < c->layers; l++) {
        const lsvk_tensor *in = xin ? &xin[l] : &x[l & 1];
        lsvk_tensor *out = xin && l + 1 < c->layers ? &xin[l + 1] : &x[(l + 1) & 1];
        if (whole_block) LSVK_TRY(record_next_cache(st, l, in, n));
        else if (!xin) LSVK_TRY(copy_rows(st->cmd, in, 0, st->layers[l].xb, row0 * st->B, rows, c->dim, false, "lm.block_input"));
        LSVK_TRY(record_layer(st, l, row0, n, in, out));
        if (ends && !whole_block) LSVK_TRY(record_next_cache(st, l, st->layers[l].xb, st->Lcap));
    }
    lsvk_tensor logits = rows_of(st, S_LOGITS, rows);
    LSVK_TRY(lsvk_linear(st->cmd, &x[c->layers & 1], lm->g[G_OUT_EMB], lm->g[G_OUT_B], &logits));
    return lsvk_log_softmax(st->cmd, &logits, NULL, &logits);
}

lsvk_status lsvk_lm_forward(lsvk_lm_state *st, const int32_t *tokens, uint32_t L, float *logprobs) {
    static const char *op = "lsvk_lm_forward";
    if (!st || !tokens) return lsvk__fail(st ? st->lm->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL argument", op);
    if (L == 0 || L > st->Lcap)
        return lsvk__fail(st->lm->ctx, LSVK_ERROR_INVALID_ARGUMENT, "%s: L = %u not in 1..block_len (%u)", op, L, st->Lcap);
    if (st->in_block)
        return lsvk__fail(st->lm->ctx, LSVK_ERROR_STATE, "%s: %u steps into a block; finish it with lsvk_lm_step", op,
                          st->in_block);
    LSVK_TRY(check_tokens(st, tokens, (size_t)st->B * L, op));
    for (uint32_t b = 0; b < st->B; b++)
        for (uint32_t t = 0; t < L; t++) st->tok[(size_t)t * st->B + b] = (uint32_t)tokens[(size_t)b * L + t];
    return run(st, 0, L, logprobs, true);
}

lsvk_status lsvk_lm_step(lsvk_lm_state *st, const int32_t *tokens, float *logprobs) {
    static const char *op = "lsvk_lm_step";
    if (!st || !tokens) return lsvk__fail(st ? st->lm->ctx : NULL, LSVK_ERROR_INVALID_ARGUMENT, "%s: NULL argument", op);
    LSVK_TRY(check_tokens(st, tokens, st->B, op));
    for (uint32_t b = 0; b < st->B; b++) st->tok[b] = (uint32_t)tokens[b];
    return run(st, st->in_block, 1, logprobs, false);
}
