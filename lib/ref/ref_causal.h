/* CPU references of the causal (autoregressive) long-short attention and of the char-level
 * language model built on it: plain loops, double accumulation. They follow the official
 * autoregressive/model_lib code (NVIDIA/transformer-ls @1527c5c, ChunkedLSAttention and
 * TransformerLSModel) as ../shared/golden/README.md sections 4 and 5 describe it.
 *
 * Layouts are row-major like the device tensors: h [B,L,D], caches [B,M,D], feature f of a
 * D-vector is head f / dh, lane f % dh. Positions are relative: a block of L tokens follows a
 * cache of M earlier ones. Outputs never alias inputs. */
#ifndef LSVK_REF_CAUSAL_H
#define LSVK_REF_CAUSAL_H

#include "lsvk/lsvk.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Parameters of one ChunkedLSAttention by their reference names (shapes with D = dim,
 * H = heads, r = chunk_rank). */
typedef struct lsvk_ref_causal_weights {
    const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo; /* [D,D],[D]; biases NULL when !use_bias */
    const float *wd, *bd;      /* dconv_1 [H*r,D],[H*r] */
    const float *wr;           /* r_net [D,D] (no bias) */
    const float *wrc, *brc;    /* r_net_chunk [D,D],[D] */
    const float *rwb, *rrb;    /* r_w_bias, r_r_bias: [H*dh] */
    const float *lnw_w, *lnw_b;   /* dual_ln_win [D] */
    const float *lnd_w, *lnd_b;   /* dual_ln_dproj [D] */
} lsvk_ref_causal_weights;

/* sinus(p) of the README: [sin(p*inv_freq[i]) for i<D/2, cos(...) for i<D/2] in double, with
 * inv_freq given ([D/2] floats) or, when NULL, inv_freq[i] = 1/10000^(2i/D) computed in float32
 * as the reference does. D even. */
void lsvk_ref_sinus(uint32_t D, const float *inv_freq, double p, double *out /*[D]*/);

/* The float32 default inv_freq of the reference's PositionalEmbedding: [D/2] values. */
void lsvk_ref_inv_freq(uint32_t D, float *out);

/* Number of compressed vectors a block of L tokens attends to at most: (M/cs + floor(L/cs))*r
 * (the cache's chunks and the block's complete chunks). */
int lsvk_ref_causal_n_chunk_vecs(const lsvk_causal_config *c, int L);

/* Intermediates of lsvk_ref_causal_attn, the golden files' debug.* tensors (README section 4).
 * Every pointer may be NULL (not wanted). Nc = lsvk_ref_causal_n_chunk_vecs(c, L),
 * Lc = floor(L/cs) complete block chunks. */
typedef struct lsvk_ref_causal_debug {
    double *cache_chunk_probs; /* [B,H,M/cs,r,cs] */
    double *block_chunk_probs; /* [B,H,Lc,r,cs] */
    double *key_compressed;    /* [B,Nc,D] after LN_dproj (cache chunks first) */
    double *val_compressed;    /* [B,Nc,D] */
    double *key_window;        /* [B,W+L,D] after LN_win; row i is position i-W */
    double *val_window;        /* [B,W+L,D] */
    double *scores;            /* [B,H,L,Nc+W] pre-softmax, compressed then window, -inf masked */
    double *attn_out;          /* [B,L,D] merged heads, input of proj_out */
} lsvk_ref_causal_debug;

/* ChunkedLSAttention: h [B,L,D], hc [B,M,D] -> out [B,L,D]. key_pe / pos_embed_window / mask are
 * built as the README says (inv_freq NULL = float32 default). Any L >= 1: compressed chunks of
 * the block are those complete before the query's chunk; a final partial chunk is never attended
 * as a compressed vector (equal to the reference's padding). Requires M % cs == 0, M >= W. */
void lsvk_ref_causal_attn(const lsvk_causal_config *c, const lsvk_ref_causal_weights *w,
                          const float *inv_freq, const float *h, const float *hc, int B, int L,
                          float *out);

/* The same with double inputs and output, and the intermediates dbg asks for (dbg may be NULL).
 * Returns 0, or -1 (message on stderr) on a config it cannot evaluate (D != H*dh, cs or r = 0,
 * M % cs != 0, M < W, W = 0, L < 1, B < 1, odd D, a required weight NULL). */
int lsvk_ref_causal_attn_d(const lsvk_causal_config *c, const lsvk_ref_causal_weights *w,
                           const float *inv_freq, const double *h, const double *hc, int B, int L,
                           double *out, const lsvk_ref_causal_debug *dbg);

/* One transformer layer and the whole model (README section 5). */
typedef struct lsvk_ref_lm_layer {
    lsvk_ref_causal_weights attn;
    const float *n1w, *n1b, *n2w, *n2b;      /* norm1, norm2 [D] */
    const float *fc1w, *fc1b, *fc2w, *fc2b;  /* ff.fc1 [I,D],[I]; ff.fc2 [D,I],[D] */
} lsvk_ref_lm_layer;

typedef struct lsvk_ref_lm_weights {
    const float *emb;       /* in_emb.weight [V,D] (= out_emb.weight, tied) */
    const float *out_bias;  /* out_emb.bias [V] */
    const float *inv_freq;  /* pos_emb.inv_freq [D/2], or NULL */
    const lsvk_ref_lm_layer *layers; /* n_layer */
} lsvk_ref_lm_weights;

/* The attention config of the model's layers (head_dim = dim / heads). */
lsvk_causal_config lsvk_ref_lm_attn_config(const lsvk_lm_config *c);

/* One block of the model: tokens [B,L]; caches[l] ([B,M,D] each) are the input caches and are
 * replaced by the next caches (last M rows of [cache ; layer input]); logprobs [B,L,V]
 * (may be NULL). Any L >= 1 (as lsvk_ref_causal_attn). Token ids outside [0,V) are an error. */
void lsvk_ref_lm_forward(const lsvk_lm_config *c, const lsvk_ref_lm_weights *w,
                         const int32_t *tokens, int B, int L, float *const *caches, float *logprobs);

/* The same with double log-probabilities and, if layer_out is not NULL, every layer's output
 * (layer_out[l] [B,L,D], a NULL entry is skipped; the golden debug.layer_out.{l}). Returns 0,
 * or -1 with a message on stderr (bad config or token id; caches are then untouched). */
int lsvk_ref_lm_forward_d(const lsvk_lm_config *c, const lsvk_ref_lm_weights *w,
                          const int32_t *tokens, int B, int L, float *const *caches,
                          double *logprobs, double *const *layer_out);

/* Loads the weights of a model / of one attention layer from a safetensors file by the
 * reference's names (prefix e.g. "layers.2.attn." or ""), into malloc'd arrays kept in *store
 * (free with lsvk_ref_store_free). Shapes are checked against the config (r_w_bias / r_r_bias
 * by element count). 0 on success, -1 with a message on stderr (then *store is NULL). */
typedef struct lsvk_ref_store lsvk_ref_store;
int lsvk_ref_causal_weights_load(const lsvk_safetensors *st, const char *prefix,
                                 const lsvk_causal_config *c, lsvk_ref_causal_weights *w,
                                 lsvk_ref_store **store);
int lsvk_ref_lm_weights_load(const lsvk_safetensors *st, const lsvk_lm_config *c,
                             lsvk_ref_lm_weights *w, lsvk_ref_store **store);
void lsvk_ref_store_free(lsvk_ref_store *s);

#ifdef __cplusplus
}
#endif
#endif
