/* Opening the model file and loading it on a device, in two steps so that file and text errors
 * come before any device work. */
#include "lm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lm_model_close(model *m) {
    lsvk_lm_destroy(m->lm);
    lsvk_context_destroy(m->ctx);
    lsvk_safetensors_close(m->st);
    memset(m, 0, sizeof *m);
}

/* The training block length from the metadata config ("block" is not a model parameter, so the
 * library does not read it); 0 when absent or unusable. */
static uint32_t config_block(const lsvk_safetensors *st) {
    const char *json = lsvk_safetensors_metadata(st, "config");
    if (!json) return 0;
    cJSON *root = cJSON_Parse(json);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "block");
    uint32_t v = 0;
    if (cJSON_IsNumber(b) && b->valuedouble >= 1 && b->valuedouble <= MAX_BLOCK &&
        b->valuedouble == floor(b->valuedouble))
        v = (uint32_t)b->valuedouble;
    cJSON_Delete(root);
    return v;
}

/* The file alone, so that a bad path or a text that is too short fails before any device is
 * touched: metadata, and the block length when --block or the config gives it (else 0). Returns
 * the exit code (0 on success); m is closed on failure. */
int lm_model_open_file(const options *o, model *m) {
    memset(m, 0, sizeof *m);
    lsvk_status s = lsvk_safetensors_open(o->model, &m->st);
    if (s != LSVK_SUCCESS) return lm_fail(s);
    const char *vb = lsvk_safetensors_metadata(m->st, "valid_bpc");
    if (vb) {
        char *end;
        m->valid_bpc = strtod(vb, &end);
        m->has_valid_bpc = end != vb && isfinite(m->valid_bpc);
    }
    if (o->block) {
        m->block = (uint32_t)o->block;
        m->block_from = "--block";
    } else if ((m->block = config_block(m->st)) != 0) {
        m->block_from = "config";
    }
    return 0;
}

/* The device and the model on it; the block falls back to mem_len. */
int lm_model_load(const options *o, model *m) {
    lsvk_context_create_info ci = {0};
    ci.device = o->device;
    lsvk_status s = lsvk_context_create(&ci, &m->ctx);
    if (s == LSVK_SUCCESS) s = lsvk_lm_load(m->ctx, m->st, &m->lm);
    if (s != LSVK_SUCCESS) {
        int rc = lm_fail(s);
        lm_model_close(m);
        return rc;
    }
    const lsvk_lm_config *c = lsvk_lm_get_config(m->lm);
    if (!c) {
        fprintf(stderr, "lsvk-lm: %s: the library gave no model config\n", o->model);
        lm_model_close(m);
        return 1;
    }
    m->cfg = *c;
    /* Tokens are bytes: ids must fit in a byte both ways (input text, printed output). */
    if (m->cfg.vocab < 1 || m->cfg.vocab > 256) {
        fprintf(stderr, "lsvk-lm: %s: vocab %u; lsvk-lm needs a byte-level model (vocab <= 256)\n",
                o->model, m->cfg.vocab);
        lm_model_close(m);
        return 1;
    }
    if (!m->block) {
        m->block = m->cfg.mem_len;
        m->block_from = "mem_len";
    }
    if (m->block < 1 || m->block > MAX_BLOCK) {
        fprintf(stderr, "lsvk-lm: %s: no usable block length (mem_len %u, no config \"block\"); give --block\n",
                o->model, m->cfg.mem_len);
        lm_model_close(m);
        return 1;
    }
    const lsvk_device_info *d = lsvk_context_device(m->ctx);
    fprintf(stderr,
            "lsvk-lm: %s: vocab %u, d_model %u, %u layers, %u heads, d_inner %u, mem_len %u, window %u, "
            "chunks %u x %u; block %u (%s); device %s\n",
            lm_base_name(o->model), m->cfg.vocab, m->cfg.dim, m->cfg.layers, m->cfg.heads, m->cfg.inner,
            m->cfg.mem_len, m->cfg.window, m->cfg.chunk_size, m->cfg.chunk_rank, m->block, m->block_from,
            d ? d->name : "?");
    return 0;
}

int lm_model_open(const options *o, model *m) {
    int rc = lm_model_open_file(o, m);
    return rc ? rc : lm_model_load(o, m);
}
