/* lsvk_attention against a double-precision CPU reference: odd shapes (N = 1, 2, 37, 129, 1000;
 * dh = 1, 24, 80, 128, 256), B = H = 3, masks padded down to one real token and with no real token,
 * interior padding, causal with and without a mask, large logits, the tile shapes of both device
 * types (and odd ones) forced with LSVK_ATTENTION_TILES, a long causal sequence checked on sampled
 * rows, several dispatches in one command sequence, the golden files of the official set, and bad
 * arguments. */
#include "testutil.h"
#include "core/internal.h" /* lsvk__cmd_barrier_count */
#include "ref/ref_attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5
#define GOLDEN_TOL 1e-4

static tu_rng g_rng;

/* One output row (b, h, i) of the reference, in double (lsvk_ref_attention computes every row;
 * the long case needs a few): README section 7, the mask applied to keys and to the query row,
 * causal masking of keys j > i. */
static void ref_row(int H, int N, int dh, const float *q, const float *k, const float *v,
                    const float *mask, int causal, int b, int h, int i, double *y) {
    size_t base = ((size_t)b * H + h) * (size_t)N * dh;
    const float *qi = q + base + (size_t)i * dh;
    for (int d = 0; d < dh; d++) y[d] = 0;
    if (mask && mask[(size_t)b * N + i] == 0.0f) return;
    double *s = malloc((size_t)N * sizeof *s);
    double mx = -INFINITY, scale = 1.0 / sqrt((double)dh);
    for (int j = 0; j < N; j++) {
        s[j] = -INFINITY;
        if ((mask && mask[(size_t)b * N + j] == 0.0f) || (causal && j > i)) continue;
        double acc = 0;
        for (int d = 0; d < dh; d++) acc += (double)qi[d] * k[base + (size_t)j * dh + d];
        s[j] = acc * scale;
        if (s[j] > mx) mx = s[j];
    }
    if (mx > -INFINITY) {
        double sum = 0;
        for (int j = 0; j < N; j++) {
            s[j] = s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
            sum += s[j];
        }
        for (int j = 0; j < N; j++) {
            if (s[j] == 0.0) continue;
            double p = s[j] / sum;
            for (int d = 0; d < dh; d++) y[d] += p * v[base + (size_t)j * dh + d];
        }
    }
    free(s);
}


/* Forces the shape: "BQ,T,BK" (attention.comp) or "shuffle,R" (attention_shuffle.comp); NULL:
 * the library's choice for the device. */
static void set_tiles(const char *tiles) {
    tu_setenv("LSVK_ATTENTION_TILES", tiles);
}

enum {
    M_NONE = 0,
    M_TAIL = 1,     /* padding at the end of rows: batch 1 keeps one token, batch 2 none */
    M_RANDOM = 2,   /* 30% of positions padded anywhere (batch 0 keeps its first token) */
};

typedef struct attn_case {
    int B, H, N, dh;
    int mask;       /* M_* */
    int causal;
    float scale;    /* of the random inputs (large: large logits) */
    const char *tiles; /* LSVK_ATTENTION_TILES, NULL: the device's own choice */
} attn_case;

static void fill_mask(float *mask, int B, int N, int kind) {
    for (int b = 0; b < B; b++) {
        int valid = N;
        if (kind == M_TAIL) valid = b == 0 ? N : b == 1 ? 1 : b == 2 ? 0 : tu_randint(&g_rng, 0, N);
        for (int j = 0; j < N; j++) {
            float m = j < valid ? 1.0f : 0.0f;
            if (kind == M_RANDOM) m = (j == 0 && b == 0) || tu_uniform(&g_rng) >= 0.3 ? 1.0f : 0.0f;
            mask[(size_t)b * N + j] = m;
        }
    }
}

static void check_case(lsvk_context *ctx, const attn_case *c) {
    int64_t shape[4] = {c->B, c->H, c->N, c->dh}, mshape[2] = {c->B, c->N};
    size_t n = (size_t)c->B * c->H * c->N * c->dh;
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *y = malloc(n * sizeof *y);
    float *mask = c->mask ? malloc((size_t)c->B * c->N * sizeof *mask) : NULL;
    double *ref = malloc(n * sizeof *ref);
    tu_fill_randn(&g_rng, q, n, c->scale);
    tu_fill_randn(&g_rng, k, n, c->scale);
    tu_fill_randn(&g_rng, v, n, 1.0f);
    if (mask) fill_mask(mask, c->B, c->N, c->mask);

    lsvk_tensor *tq = tu_tensor(ctx, 4, shape, q), *tk = tu_tensor(ctx, 4, shape, k);
    lsvk_tensor *tv = tu_tensor(ctx, 4, shape, v), *to = tu_poisoned(ctx, 4, shape);
    lsvk_tensor *tm = mask ? tu_tensor(ctx, 2, mshape, mask) : NULL;
    char what[160];
    snprintf(what, sizeof what, "B=%d H=%d N=%d dh=%d mask=%d causal=%d scale=%g tiles=%s", c->B,
             c->H, c->N, c->dh, c->mask, c->causal, c->scale, c->tiles ? c->tiles : "auto");
    set_tiles(c->tiles);
    /* LSVK_LOOP_BUDGET (a test variant) lowers the cap: the tile kernel then refuses long rows */
    const char *budget = getenv("LSVK_LOOP_BUDGET");
    bool tile_kernel = c->tiles && strncmp(c->tiles, "shuffle", 7) != 0;
    if (budget && tile_kernel && c->N + 512 > atoi(budget) &&
        lsvk_context_device(ctx)->driver_id == 13 /* llvmpipe */) {
        TU_STATUS(lsvk_attention(NULL, tq, tk, tv, tm, c->causal ? LSVK_ATTENTION_CAUSAL : 0, to),
                  LSVK_ERROR_LIMIT_EXCEEDED);
    } else if (TU_OK(lsvk_attention(NULL, tq, tk, tv, tm, c->causal ? LSVK_ATTENTION_CAUSAL : 0, to)) &&
        TU_OK(lsvk_tensor_download(to, y, n * sizeof *y))) {
        lsvk_ref_attention(c->B, c->H, c->N, c->dh, q, k, v, mask, c->causal, ref);
        double err = tu_rel_err(y, ref, n);
        printf("attention %s: rel err %.3g\n", what, err);
        TU_CHECK(err <= TOL, "attention %s: rel err %g", what, err);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += ref[i] == 0.0 && y[i] != 0.0f;
        TU_CHECK(bad == 0, "attention %s: %zu entries should be exactly 0", what, bad);
    }
    set_tiles(NULL);
    lsvk_tensor_destroy(tq), lsvk_tensor_destroy(tk), lsvk_tensor_destroy(tv);
    lsvk_tensor_destroy(to), lsvk_tensor_destroy(tm);
    free(q), free(k), free(v), free(y), free(mask), free(ref);
}

static void check_shapes(lsvk_context *ctx) {
    static const attn_case cases[] = {
        {1, 1, 1, 1, M_NONE, 0, 1, NULL},
        {1, 1, 1, 1, M_NONE, 1, 1, NULL},
        {3, 3, 2, 24, M_TAIL, 0, 1, NULL},
        {3, 3, 37, 80, M_TAIL, 0, 1, NULL},
        {3, 3, 37, 80, M_TAIL, 1, 1, NULL},
        {3, 3, 37, 1, M_RANDOM, 0, 2, NULL},
        {2, 3, 129, 128, M_NONE, 1, 1, NULL},
        {3, 1, 129, 256, M_TAIL, 1, 1, NULL},
        {1, 2, 129, 256, M_RANDOM, 0, 1, NULL},
        {1, 3, 1000, 24, M_TAIL, 0, 1, NULL},
        {2, 1, 1000, 24, M_NONE, 1, 3, NULL},  /* large logits */
        {3, 2, 129, 24, M_RANDOM, 1, 1, NULL},
        /* the GPU shapes (T > 1) and shapes nobody would pick, on whatever device runs this */
        {3, 3, 37, 80, M_TAIL, 0, 1, "32,4,32"},
        {3, 1, 129, 256, M_TAIL, 1, 1, "8,16,8"},
        {2, 3, 129, 128, M_RANDOM, 1, 2, "16,8,32"},
        {1, 3, 1000, 24, M_TAIL, 1, 1, "5,2,7"},
        {3, 3, 37, 1, M_RANDOM, 0, 1, "3,1,5"},
        {3, 2, 2, 24, M_TAIL, 1, 1, "1,1,1"},
        {1, 2, 129, 80, M_NONE, 0, 1, "64,1,64"},
        {3, 3, 37, 24, M_TAIL, 1, 1, "32,1,32"},  /* the CPU fallback shape */
        /* the CPU shuffle shader with other rows per lane (ignored where it cannot run) */
        {3, 3, 37, 24, M_TAIL, 0, 1, "shuffle,2"},
        {2, 1, 129, 128, M_RANDOM, 1, 2, "shuffle,1"},
        {3, 2, 129, 1, M_TAIL, 1, 1, "shuffle,3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(ctx, &cases[i]);
    for (int i = 0; i < 3; i++) { /* random shapes; dh <= 160 bounds lavapipe's compile time */
        attn_case c = {tu_randint(&g_rng, 1, 3),   tu_randint(&g_rng, 1, 3),
                       tu_randint(&g_rng, 1, 300), tu_randint(&g_rng, 1, 160),
                       tu_randint(&g_rng, 0, 2),   tu_randint(&g_rng, 0, 1),
                       (float)tu_randint(&g_rng, 1, 3), NULL};
        check_case(ctx, &c);
    }
}

/* N = 8192, causal: every row is computed, a sample of rows is checked. */
static void check_long(lsvk_context *ctx, int N, int dh) {
    int64_t shape[4] = {1, 1, N, dh};
    size_t n = (size_t)N * dh;
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *y = malloc(n * sizeof *y);
    tu_fill_randn(&g_rng, q, n, 1.0f);
    tu_fill_randn(&g_rng, k, n, 1.0f);
    tu_fill_randn(&g_rng, v, n, 1.0f);
    lsvk_tensor *tq = tu_tensor(ctx, 4, shape, q), *tk = tu_tensor(ctx, 4, shape, k);
    lsvk_tensor *tv = tu_tensor(ctx, 4, shape, v), *to = tu_poisoned(ctx, 4, shape);
    if (TU_OK(lsvk_attention(NULL, tq, tk, tv, NULL, LSVK_ATTENTION_CAUSAL, to)) &&
        TU_OK(lsvk_tensor_download(to, y, n * sizeof *y))) {
        enum { S = 24 };
        int rows[S] = {0, 1, 2, 31, 32, 33, 63, 64, N / 2 - 1, N / 2, N - 2, N - 1};
        for (int i = 12; i < S; i++) rows[i] = tu_randint(&g_rng, 0, N - 1);
        double ref[S * 32];
        float got[S * 32];
        for (int i = 0; i < S; i++) {
            ref_row(1, N, dh, q, k, v, NULL, 1, 0, 0, rows[i], ref + i * dh);
            memcpy(got + i * dh, y + (size_t)rows[i] * dh, dh * sizeof *got);
        }
        double err = tu_rel_err(got, ref, S * (size_t)dh);
        printf("attention long N=%d dh=%d causal, %d sampled rows: rel err %.3g\n", N, dh, S, err);
        TU_CHECK(err <= TOL, "attention long: rel err %g", err);
        size_t nan = 0;
        for (size_t i = 0; i < n; i++) nan += !isfinite(y[i]);
        TU_CHECK(nan == 0, "attention long: %zu non-finite outputs", nan);
    }
    lsvk_tensor_destroy(tq), lsvk_tensor_destroy(tk), lsvk_tensor_destroy(tv);
    lsvk_tensor_destroy(to);
    free(q), free(k), free(v), free(y);
}

/* Three dispatches in one sequence: two independent ones, and one reading the first's output. */
static void check_sequence(lsvk_context *ctx) {
    const int B = 2, H = 2, N = 50, dh = 16;
    int64_t shape[4] = {B, H, N, dh}, mshape[2] = {B, N};
    size_t n = (size_t)B * H * N * dh;
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *y = malloc(n * sizeof *y), *y1f = malloc(n * sizeof *y1f), mask[2 * 50];
    double *ref = malloc(n * sizeof *ref);
    tu_fill_randn(&g_rng, q, n, 1.0f);
    tu_fill_randn(&g_rng, k, n, 1.0f);
    tu_fill_randn(&g_rng, v, n, 1.0f);
    fill_mask(mask, B, N, M_RANDOM);
    lsvk_tensor *tq = tu_tensor(ctx, 4, shape, q), *tk = tu_tensor(ctx, 4, shape, k);
    lsvk_tensor *tv = tu_tensor(ctx, 4, shape, v), *tm = tu_tensor(ctx, 2, mshape, mask);
    lsvk_tensor *o1 = tu_poisoned(ctx, 4, shape), *o2 = tu_poisoned(ctx, 4, shape);
    lsvk_tensor *o3 = tu_poisoned(ctx, 4, shape);
    lsvk_cmd *cmd = NULL;
    if (TU_OK(lsvk_cmd_create(ctx, 0, &cmd))) {
        TU_OK(lsvk_attention(cmd, tq, tk, tv, NULL, 0, o1));
        TU_OK(lsvk_attention(cmd, tq, tk, tv, tm, LSVK_ATTENTION_CAUSAL, o2));
        TU_CHECK(lsvk__cmd_barrier_count(cmd) == 0, "independent attentions got %u barriers",
                 lsvk__cmd_barrier_count(cmd));
        TU_OK(lsvk_attention(cmd, o1, tk, tv, tm, 0, o3)); /* q = o1: needs a barrier */
        TU_CHECK(lsvk__cmd_barrier_count(cmd) == 1, "dependent attention: %u barriers",
                 lsvk__cmd_barrier_count(cmd));
        TU_CHECK(lsvk_cmd_dispatch_count(cmd) == 3, "dispatch count %u",
                 lsvk_cmd_dispatch_count(cmd));
        if (TU_OK(lsvk_cmd_submit(cmd))) {
            lsvk_ref_attention(B, H, N, dh, q, k, v, NULL, 0, ref);
            TU_OK(lsvk_tensor_download(o1, y1f, n * sizeof *y1f));
            double err = tu_rel_err(y1f, ref, n);
            TU_CHECK(err <= TOL, "sequence dispatch 1: rel err %g", err);
            lsvk_ref_attention(B, H, N, dh, q, k, v, mask, 1, ref);
            TU_OK(lsvk_tensor_download(o2, y, n * sizeof *y));
            err = tu_rel_err(y, ref, n);
            TU_CHECK(err <= TOL, "sequence dispatch 2: rel err %g", err);
            lsvk_ref_attention(B, H, N, dh, y1f, k, v, mask, 0, ref);
            TU_OK(lsvk_tensor_download(o3, y, n * sizeof *y));
            err = tu_rel_err(y, ref, n);
            TU_CHECK(err <= TOL, "sequence dispatch 3: rel err %g", err);
            printf("attention: 3 dispatches in one sequence checked\n");
        }
        /* re-record after a reset and submit again */
        TU_OK(lsvk_cmd_reset(cmd));
        tu_poison(y, n);
        TU_OK(lsvk_tensor_upload(o2, y, n * sizeof *y));
        TU_OK(lsvk_attention(cmd, tq, tk, tv, tm, LSVK_ATTENTION_CAUSAL, o2));
        if (TU_OK(lsvk_cmd_submit(cmd)) && TU_OK(lsvk_tensor_download(o2, y, n * sizeof *y))) {
            lsvk_ref_attention(B, H, N, dh, q, k, v, mask, 1, ref);
            double err = tu_rel_err(y, ref, n);
            TU_CHECK(err <= TOL, "sequence after reset: rel err %g", err);
        }
        lsvk_cmd_destroy(cmd);
    }
    lsvk_tensor *ts[] = {tq, tk, tv, tm, o1, o2, o3};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lsvk_tensor_destroy(ts[i]);
    free(q), free(k), free(v), free(y), free(y1f), free(ref);
}

static float *read_st(const lsvk_safetensors *st, const char *name, size_t *count) {
    lsvk_st_tensor info;
    if (!TU_OK(lsvk_safetensors_find(st, name, &info))) return NULL;
    float *data = malloc((size_t)info.numel * sizeof *data);
    if (!TU_OK(lsvk_safetensors_read_f32(st, name, data, (size_t)info.numel))) {
        free(data);
        return NULL;
    }
    *count = (size_t)info.numel;
    return data;
}

static void check_golden(lsvk_context *ctx, const char *file, int causal) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden/%s", LSVK_TEST_DATA, file);
    lsvk_safetensors *st = NULL;
    if (!TU_OK(lsvk_safetensors_open(path, &st))) return;
    lsvk_st_tensor info;
    if (TU_OK(lsvk_safetensors_find(st, "input.Q", &info)) && TU_CHECK(info.rank == 4, "rank")) {
        size_t n = 0, nm = 0, tmp = 0;
        float *q = read_st(st, "input.Q", &n), *k = read_st(st, "input.K", &tmp);
        float *v = read_st(st, "input.V", &tmp), *want = read_st(st, "output", &tmp);
        lsvk_st_tensor mi;
        float *mask = lsvk_safetensors_find(st, "input.mask", &mi) == LSVK_SUCCESS
                          ? read_st(st, "input.mask", &nm) : NULL;
        float *y = malloc(n * sizeof *y);
        double *ref = malloc(n * sizeof *ref);
        lsvk_tensor *tq = tu_tensor(ctx, 4, info.shape, q), *tk = tu_tensor(ctx, 4, info.shape, k);
        lsvk_tensor *tv = tu_tensor(ctx, 4, info.shape, v), *to = tu_poisoned(ctx, 4, info.shape);
        int64_t ms[2] = {info.shape[0], info.shape[2]};
        lsvk_tensor *tm = mask ? tu_tensor(ctx, 2, ms, mask) : NULL;
        if (q && k && v && want &&
            TU_OK(lsvk_attention(NULL, tq, tk, tv, tm, causal ? LSVK_ATTENTION_CAUSAL : 0, to)) &&
            TU_OK(lsvk_tensor_download(to, y, n * sizeof *y))) {
            for (size_t i = 0; i < n; i++) ref[i] = want[i];
            double err = tu_rel_err(y, ref, n);
            printf("attention golden %s: rel err %.3g\n", file, err);
            TU_CHECK(err <= GOLDEN_TOL, "golden %s: rel err %g", file, err);
        }
        lsvk_tensor_destroy(tq), lsvk_tensor_destroy(tk), lsvk_tensor_destroy(tv);
        lsvk_tensor_destroy(to), lsvk_tensor_destroy(tm);
        free(q), free(k), free(v), free(want), free(mask), free(y), free(ref);
    }
    lsvk_safetensors_close(st);
}

static void check_bad(lsvk_context *ctx) {
    int64_t s[4] = {2, 3, 5, 8}, s_n[4] = {2, 3, 6, 8}, s_d[4] = {2, 3, 5, 7}, s3[3] = {2, 5, 8};
    int64_t sbig[4] = {1, 1, 2, 257}, ms[2] = {2, 5}, ms_bad[2] = {2, 6}, ms1[1] = {5};
    lsvk_tensor *q = tu_tensor(ctx, 4, s, NULL), *k = tu_tensor(ctx, 4, s, NULL);
    lsvk_tensor *v = tu_tensor(ctx, 4, s, NULL), *o = tu_tensor(ctx, 4, s, NULL);
    lsvk_tensor *kn = tu_tensor(ctx, 4, s_n, NULL), *vd = tu_tensor(ctx, 4, s_d, NULL);
    lsvk_tensor *o3 = tu_tensor(ctx, 3, s3, NULL), *big = tu_tensor(ctx, 4, sbig, NULL);
    lsvk_tensor *big_o = tu_tensor(ctx, 4, sbig, NULL), *m = tu_tensor(ctx, 2, ms, NULL);
    lsvk_tensor *m_bad = tu_tensor(ctx, 2, ms_bad, NULL), *m1 = tu_tensor(ctx, 1, ms1, NULL);
    const int C = LSVK_ATTENTION_CAUSAL;
    TU_STATUS(lsvk_attention(NULL, NULL, k, v, NULL, 0, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_attention(NULL, q, NULL, v, NULL, 0, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_attention(NULL, q, k, NULL, NULL, 0, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_attention(NULL, q, k, v, m, C, NULL), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_attention(NULL, q, k, v, NULL, 0x10, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_attention(NULL, q, k, v, NULL, C | 0x100, o), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_attention(NULL, q, kn, v, NULL, 0, o), LSVK_ERROR_SHAPE);
    TU_CHECK(strstr(lsvk_last_error(), "[2,3,5,8]") && strstr(lsvk_last_error(), "[2,3,6,8]"),
             "shape message: %s", lsvk_last_error());
    TU_STATUS(lsvk_attention(NULL, q, k, vd, NULL, 0, o), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_attention(NULL, q, k, v, NULL, 0, vd), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_attention(NULL, q, k, v, NULL, 0, o3), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_attention(NULL, o3, o3, o3, NULL, 0, o), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_attention(NULL, q, k, v, m_bad, 0, o), LSVK_ERROR_SHAPE);
    TU_CHECK(strstr(lsvk_last_error(), "[2,6]") && strstr(lsvk_last_error(), "[2,3,5,8]"),
             "mask shape message: %s", lsvk_last_error());
    TU_STATUS(lsvk_attention(NULL, q, k, v, m1, 0, o), LSVK_ERROR_SHAPE);
    TU_STATUS(lsvk_attention(NULL, q, k, v, q, 0, o), LSVK_ERROR_SHAPE); /* mask [B,H,N,dh] */
    TU_STATUS(lsvk_attention(NULL, big, big, big, NULL, 0, big_o), LSVK_ERROR_UNSUPPORTED);
    TU_STATUS(lsvk_attention(NULL, q, k, v, NULL, 0, q), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_attention(NULL, q, k, v, m, C, k), LSVK_ERROR_INVALID_ARGUMENT);
    TU_STATUS(lsvk_attention(NULL, q, k, v, NULL, 0, v), LSVK_ERROR_INVALID_ARGUMENT);
    /* q, k and v may be one tensor (self-attention on one projection) */
    TU_OK(lsvk_attention(NULL, q, q, q, m, 0, o));
    /* more heads than a grid dimension holds */
    const lsvk_device_info *info = lsvk_context_device(ctx);
    if (info->max_workgroup_count[1] < 1000000u) {
        int64_t sh[4] = {1, (int64_t)info->max_workgroup_count[1] + 1, 1, 1};
        lsvk_tensor *h = tu_tensor(ctx, 4, sh, NULL), *ho = tu_tensor(ctx, 4, sh, NULL);
        TU_STATUS(lsvk_attention(NULL, h, h, h, NULL, 0, ho), LSVK_ERROR_LIMIT_EXCEEDED);
        lsvk_tensor_destroy(h), lsvk_tensor_destroy(ho);
    }
    lsvk_tensor *ts[] = {q, k, v, o, kn, vd, o3, big, big_o, m, m_bad, m1};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lsvk_tensor_destroy(ts[i]);
}

/* [B,N,H,dh] tensors with LSVK_ATTENTION_BNHD give the [B,H,N,dh] result, permuted. */
static void check_bnhd(lsvk_context *ctx) {
    const int B = 2, H = 3, N = 45, dh = 20;
    size_t n = (size_t)B * H * N * dh;
    float *in[3], *perm[3], *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), mask[2 * 45];
    fill_mask(mask, B, N, M_TAIL);
    int64_t bhnd[4] = {B, H, N, dh}, bnhd[4] = {B, N, H, dh}, ms[2] = {B, N};
    lsvk_tensor *t[3], *tp[3], *m = tu_tensor(ctx, 2, ms, mask);
    for (int i = 0; i < 3; i++) {
        in[i] = malloc(n * sizeof(float));
        perm[i] = malloc(n * sizeof(float));
        tu_fill_randn(&g_rng, in[i], n, 1.0f);
        for (int bb = 0; bb < B; bb++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < N; j++)
                    memcpy(&perm[i][(((size_t)bb * N + j) * H + h) * dh], &in[i][(((size_t)bb * H + h) * N + j) * dh],
                           dh * sizeof(float));
        t[i] = tu_tensor(ctx, 4, bhnd, in[i]);
        tp[i] = tu_tensor(ctx, 4, bnhd, perm[i]);
    }
    lsvk_tensor *o = tu_poisoned(ctx, 4, bhnd), *op = tu_poisoned(ctx, 4, bnhd);
    for (int causal = 0; causal < 2; causal++) {
        uint32_t f = causal ? LSVK_ATTENTION_CAUSAL : 0;
        TU_OK(lsvk_attention(NULL, t[0], t[1], t[2], m, f, o));
        TU_OK(lsvk_attention(NULL, tp[0], tp[1], tp[2], m, f | LSVK_ATTENTION_BNHD, op));
        lsvk_tensor_download(o, a, n * sizeof *a);
        lsvk_tensor_download(op, b, n * sizeof *b);
        int same = 1;
        for (int bb = 0; bb < B; bb++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < N; j++)
                    same &= memcmp(&b[(((size_t)bb * N + j) * H + h) * dh], &a[(((size_t)bb * H + h) * N + j) * dh],
                                   dh * sizeof(float)) == 0;
        TU_CHECK(same, "BNHD layout equals BHND permuted (causal %d)", causal);
    }
    TU_STATUS(lsvk_attention(NULL, tp[0], tp[1], tp[2], m, 0x80, op), LSVK_ERROR_INVALID_ARGUMENT);
    for (int i = 0; i < 3; i++) {
        lsvk_tensor_destroy(t[i]);
        lsvk_tensor_destroy(tp[i]);
        free(in[i]);
        free(perm[i]);
    }
    lsvk_tensor_destroy(o);
    lsvk_tensor_destroy(op);
    lsvk_tensor_destroy(m);
    free(a);
    free(b);
}

/* Drivers that cap a shader's loop iterations (llvmpipe: 65535 in total) take long rows in
 * passes over the keys (the CPU-driver kernel); the result must be the whole row's, not silently
 * truncated sums. The GPU tile kernel, forced there, must refuse instead. */
static void check_loop_budget(lsvk_context *ctx) {
    if (lsvk_context_device(ctx)->driver_id != 13 /* VK_DRIVER_ID_MESA_LLVMPIPE */) return;
    check_long(ctx, 66000, 4);
    int64_t s[4] = {1, 1, 66000, 1};
    lsvk_tensor *q = tu_poisoned(ctx, 4, s), *o = tu_poisoned(ctx, 4, s);
    set_tiles("32,4,32");
    TU_STATUS(lsvk_attention(NULL, q, q, q, NULL, 0, o), LSVK_ERROR_LIMIT_EXCEEDED);
    TU_CHECK(strstr(lsvk_last_error(), "stops a shader's loops") != NULL, "message names the cap: %s", lsvk_last_error());
    set_tiles(NULL);
    lsvk_tensor_destroy(q);
    lsvk_tensor_destroy(o);
}

int main(void) {
    g_rng = tu_rng_make(tu_seed() ^ 0x41545431ull);
    lsvk_context *ctx = tu_context();
    check_bad(ctx);
    check_golden(ctx, "full_bidir.safetensors", 0);
    check_golden(ctx, "full_causal.safetensors", 1);
    check_shapes(ctx);
    check_sequence(ctx);
    check_long(ctx, 8192, 32);
    check_bnhd(ctx);
    check_loop_budget(ctx);
    return tu_finish(ctx);
}
