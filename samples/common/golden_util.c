/* Golden file access for tests and samples: see golden_util.h. */
#include "golden_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct golden_file {
    lsvk_safetensors *st;
    cJSON *config; /* parsed `config` metadata; NULL if the file has none */
    char *path;
};

/* ---------------------------------------------------------------- open / close */

golden_file *golden_open(const char *path) {
    golden_file *g = calloc(1, sizeof *g);
    if (!g) {
        fprintf(stderr, "golden: out of memory\n");
        return NULL;
    }
    g->path = malloc(strlen(path) + 1);
    if (!g->path) {
        fprintf(stderr, "golden: out of memory\n");
        free(g);
        return NULL;
    }
    strcpy(g->path, path);
    lsvk_status s = lsvk_safetensors_open(path, &g->st);
    if (s != LSVK_SUCCESS) {
        fprintf(stderr, "golden: cannot open %s: %s: %s\n", path, lsvk_status_string(s),
                lsvk_last_error());
        golden_close(g);
        return NULL;
    }
    const char *cfg = lsvk_safetensors_metadata(g->st, "config");
    if (cfg) {
        g->config = cJSON_Parse(cfg);
        if (!g->config || !cJSON_IsObject(g->config)) {
            fprintf(stderr, "golden: %s: metadata `config` is not a JSON object\n", path);
            golden_close(g);
            return NULL;
        }
    }
    return g;
}

golden_file *golden_open_case(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + sizeof "/golden/.safetensors";
    char *path = malloc(n);
    if (!path) {
        fprintf(stderr, "golden: out of memory\n");
        return NULL;
    }
    snprintf(path, n, "%s/golden/%s.safetensors", dir, name);
    golden_file *g = golden_open(path);
    free(path);
    return g;
}

void golden_close(golden_file *g) {
    if (!g) return;
    lsvk_safetensors_close(g->st);
    cJSON_Delete(g->config);
    free(g->path);
    free(g);
}

const lsvk_safetensors *golden_safetensors(const golden_file *g) { return g->st; }

const char *golden_path(const golden_file *g) { return g->path; }

const char *golden_meta(const golden_file *g, const char *key) {
    return lsvk_safetensors_metadata(g->st, key);
}

const char *golden_variant(const golden_file *g) {
    const char *v = golden_meta(g, "variant");
    return v ? v : "";
}

const char *golden_case(const golden_file *g) {
    const char *v = golden_meta(g, "case");
    return v ? v : "";
}

double golden_tolerance(const golden_file *g) {
    const char *t = golden_meta(g, "tolerance");
    const char *le = t ? strstr(t, "<=") : NULL;
    if (!le) return 1e-4;
    char *end = NULL;
    double v = strtod(le + 2, &end);
    return end != le + 2 && v > 0 ? v : 1e-4;
}

/* ---------------------------------------------------------------- tensors */

int golden_has(const golden_file *g, const char *name) {
    lsvk_st_tensor t;
    return lsvk_safetensors_find(g->st, name, &t) == LSVK_SUCCESS;
}

int golden_shape(const golden_file *g, const char *name, int64_t *shape, int64_t *numel) {
    lsvk_st_tensor t;
    if (lsvk_safetensors_find(g->st, name, &t) != LSVK_SUCCESS) return -1;
    if (shape)
        for (uint32_t i = 0; i < t.rank; i++) shape[i] = t.shape[i];
    if (numel) *numel = t.numel;
    return (int)t.rank;
}

float *golden_tensor(const golden_file *g, const char *name, int *rank, int64_t *shape,
                     size_t *numel) {
    lsvk_st_tensor t;
    if (lsvk_safetensors_find(g->st, name, &t) != LSVK_SUCCESS) return NULL;
    float *data = malloc(t.numel > 0 ? (size_t)t.numel * sizeof(float) : sizeof(float));
    if (!data) {
        fprintf(stderr, "golden: %s: out of memory for %s\n", g->path, name);
        return NULL;
    }
    lsvk_status s = lsvk_safetensors_read_f32(g->st, name, data, (size_t)t.numel);
    if (s != LSVK_SUCCESS) {
        fprintf(stderr, "golden: %s: cannot read %s: %s: %s\n", g->path, name,
                lsvk_status_string(s), lsvk_last_error());
        free(data);
        return NULL;
    }
    if (rank) *rank = (int)t.rank;
    if (shape)
        for (uint32_t i = 0; i < t.rank; i++) shape[i] = t.shape[i];
    if (numel) *numel = (size_t)t.numel;
    return data;
}

float *golden_tensor_expect(const golden_file *g, const char *name, int rank,
                            const int64_t *shape) {
    int got_rank = 0;
    int64_t got[LSVK_ST_MAX_RANK];
    float *data = golden_tensor(g, name, &got_rank, got, NULL);
    if (!data) {
        if (!golden_has(g, name)) fprintf(stderr, "golden: %s: no tensor %s\n", g->path, name);
        return NULL;
    }
    int ok = got_rank == rank;
    for (int i = 0; ok && i < rank; i++) ok = got[i] == shape[i];
    if (!ok) {
        char want_s[128] = "", got_s[128] = "";
        size_t wl = 0, gl = 0;
        for (int i = 0; i < rank && wl < sizeof want_s; i++)
            wl += (size_t)snprintf(want_s + wl, sizeof want_s - wl, "%s%lld", i ? "," : "",
                                   (long long)shape[i]);
        for (int i = 0; i < got_rank && gl < sizeof got_s; i++)
            gl += (size_t)snprintf(got_s + gl, sizeof got_s - gl, "%s%lld", i ? "," : "",
                                   (long long)got[i]);
        fprintf(stderr, "golden: %s: %s has shape [%s], expected [%s]\n", g->path, name, got_s,
                want_s);
        free(data);
        return NULL;
    }
    return data;
}

/* ---------------------------------------------------------------- config */

static const cJSON *cfg_item(const golden_file *g, const char *key) {
    return g->config ? cJSON_GetObjectItemCaseSensitive(g->config, key) : NULL;
}

/* An exact integer that fits a long long. */
static int json_int(const cJSON *item, long long *out) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (v != floor(v) || fabs(v) > 9.0e15) return -1;
    *out = (long long)v;
    return 0;
}

int golden_cfg_int(const golden_file *g, const char *key, long long *out) {
    return json_int(cfg_item(g, key), out);
}

long long golden_cfg_int_or(const golden_file *g, const char *key, long long def) {
    long long v;
    return golden_cfg_int(g, key, &v) == 0 ? v : def;
}

int golden_cfg_bool(const golden_file *g, const char *key, int *out) {
    const cJSON *item = cfg_item(g, key);
    if (!cJSON_IsBool(item)) return -1;
    *out = cJSON_IsTrue(item) ? 1 : 0;
    return 0;
}

const char *golden_cfg_string(const golden_file *g, const char *key) {
    const cJSON *item = cfg_item(g, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

int golden_cfg_int_list(const golden_file *g, const char *key, long long *out, int cap) {
    const cJSON *item = cfg_item(g, key);
    if (!cJSON_IsArray(item)) return -1;
    int n = 0;
    for (const cJSON *e = item->child; e; e = e->next, n++) {
        long long v;
        if (json_int(e, &v) != 0) return -1;
        if (n < cap) out[n] = v;
    }
    return n;
}

int golden_ls_config(const golden_file *g, lsvk_ls_config *cfg, int *B, int *N0) {
    long long H, dh, D, r, w, K, b, n0;
    const char *pool = golden_cfg_string(g, "pooling_mode");
    if (strcmp(golden_variant(g), "bidir") != 0) {
        fprintf(stderr, "golden: %s: variant '%s', not bidir\n", g->path, golden_variant(g));
        return -1;
    }
    if (golden_cfg_int(g, "num_head", &H) || golden_cfg_int(g, "head_dim", &dh) ||
        golden_cfg_int(g, "transformer_dim", &D) || golden_cfg_int(g, "num_landmarks", &r) ||
        golden_cfg_int(g, "window_size", &w) || golden_cfg_int(g, "conv_kernel_size", &K) ||
        golden_cfg_int(g, "B", &b) || golden_cfg_int(g, "total_tokens", &n0) || !pool) {
        fprintf(stderr, "golden: %s: config lacks a bidir key or has a wrong type\n", g->path);
        return -1;
    }
    if (H < 1 || dh < 1 || D < 1 || r < 0 || w < 0 || b < 1 || n0 < 1 || H > 65536 ||
        dh > 65536 || D > (1 << 24) || r > (1 << 24) || w > (1 << 24) || K > (1 << 24) ||
        b > (1 << 24) || n0 > (1 << 24) || (strcmp(pool, "mean") && strcmp(pool, "cls"))) {
        fprintf(stderr, "golden: %s: config values out of range\n", g->path);
        return -1;
    }
    memset(cfg, 0, sizeof *cfg);
    cfg->dim = (uint32_t)D;
    cfg->heads = (uint32_t)H;
    cfg->head_dim = (uint32_t)dh;
    cfg->window = (uint32_t)w;
    cfg->landmarks = (uint32_t)r;
    cfg->conv_kernel = K > 0 ? (int32_t)K : 0;
    cfg->cls = strcmp(pool, "cls") == 0;
    if (B) *B = (int)b;
    if (N0) *N0 = (int)n0;
    return 0;
}

/* ---------------------------------------------------------------- comparison */

/* One of mine_d / mine_f is given. */
static double rel_err(const double *mine_d, const float *mine_f, const float *golden, size_t n) {
    double max_ref = 0.0, max_diff = 0.0;
    for (size_t i = 0; i < n; i++) {
        double gi = (double)golden[i], mi = mine_d ? mine_d[i] : (double)mine_f[i];
        if (gi == -INFINITY || mi == -INFINITY) { /* masked entries: same positions */
            if (gi != mi) return INFINITY;
            continue;
        }
        if (!isfinite(mi) || !isfinite(gi)) return INFINITY;
        if (fabs(gi) > max_ref) max_ref = fabs(gi);
        if (fabs(mi - gi) > max_diff) max_diff = fabs(mi - gi);
    }
    return max_ref > 0.0 ? max_diff / max_ref : max_diff;
}

double golden_rel_err(const double *mine, const float *golden, size_t n) {
    return rel_err(mine, NULL, golden, n);
}

double golden_rel_err_f(const float *mine, const float *golden, size_t n) {
    return rel_err(NULL, mine, golden, n);
}
