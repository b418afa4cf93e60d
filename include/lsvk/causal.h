/* lsvk: causal (autoregressive) long-short attention and the char-level language model built on
 * it. Included by lsvk/lsvk.h; see the conventions there.
 *
 * Semantics are the official autoregressive/model_lib code (NVIDIA/transformer-ls @1527c5c):
 * ChunkedLSAttention and TransformerLSModel, as ../shared/golden/README.md sections 4 and 5 state
 * them. Positions are relative: a block of L tokens follows a cache of M earlier tokens. */
#ifndef LSVK_CAUSAL_H
#define LSVK_CAUSAL_H

#include "lsvk/lsvk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- causal layer */

typedef struct lsvk_causal_config {
    uint32_t dim;          /* D = heads * head_dim */
    uint32_t heads;        /* H */
    uint32_t head_dim;     /* dh, 1..256 */
    uint32_t chunk_size;   /* cs: tokens per compressed chunk */
    uint32_t chunk_rank;   /* r: vectors per chunk */
    uint32_t window;       /* W: window_len, keys up to and including the query itself */
    uint32_t mem_len;      /* M: cache rows; a multiple of cs, >= W */
    int32_t use_bias;      /* 1: proj_query/key/val/out have biases */
} lsvk_causal_config;

typedef struct lsvk_causal_layer lsvk_causal_layer;

LSVK_API lsvk_status lsvk_causal_layer_create(lsvk_context *ctx, const lsvk_causal_config *config,
                                              lsvk_causal_layer **out);
LSVK_API void lsvk_causal_layer_destroy(lsvk_causal_layer *layer);
/* One parameter by the reference's state_dict name ("proj_query.weight", "dconv_1.bias",
 * "r_net.weight", "r_net_chunk.bias", "r_w_bias", "r_r_bias", "dual_ln_win.weight", ...);
 * count must match its element count. */
LSVK_API lsvk_status lsvk_causal_layer_set_weight(lsvk_causal_layer *layer, const char *name,
                                                  const float *data, size_t count);
/* Every parameter from a safetensors file (names after prefix, which may be NULL). */
LSVK_API lsvk_status lsvk_causal_layer_load(lsvk_causal_layer *layer, const lsvk_safetensors *st,
                                            const char *prefix);
/* out[B,L,D] = ChunkedLSAttention(h[B,L,D], h_cache[B,M,D]) with the sinusoidal positions the
 * model builds. Any L >= 1: a last chunk shorter than cs is never attended to as a compressed
 * chunk (as the reference's padding leaves it). Every parameter must have been set. The layer's
 * position tables (sinusoids through r_net and r_net_chunk) are computed at once, outside cmd,
 * on the first forward, after those weights change and when a longer block needs more. */
LSVK_API lsvk_status lsvk_causal_forward(lsvk_cmd *cmd, lsvk_causal_layer *layer,
                                         const lsvk_tensor *h, const lsvk_tensor *h_cache,
                                         lsvk_tensor *out);

/* ---------------------------------------------------------------- language model */

typedef struct lsvk_lm_config {
    uint32_t vocab;        /* V */
    uint32_t dim;          /* d_model */
    uint32_t heads;
    uint32_t inner;        /* d_inner of the feed-forward */
    uint32_t layers;
    uint32_t mem_len;
    uint32_t chunk_size;
    uint32_t chunk_rank;
    uint32_t window;
    int32_t use_bias;
} lsvk_lm_config;

typedef struct lsvk_lm lsvk_lm;

/* A model whose config is the `config` JSON of the file's metadata (the keys of the reference:
 * vocab_size, d_model, n_head, d_inner, n_layer, mem_len, chunk_size, chunk_rank, window_len,
 * use_bias; pre_ln and use_gelu must be true) and whose weights are the file's tensors by the
 * reference's names (in_emb.weight, out_emb.bias, layers.{l}.attn.*, layers.{l}.norm1.*, ...). */
LSVK_API lsvk_status lsvk_lm_load(lsvk_context *ctx, const lsvk_safetensors *st, lsvk_lm **out);
LSVK_API lsvk_status lsvk_lm_create(lsvk_context *ctx, const lsvk_lm_config *config, lsvk_lm **out);
/* Weights only (names after prefix, which may be NULL), for a model made with lsvk_lm_create. */
LSVK_API lsvk_status lsvk_lm_load_weights(lsvk_lm *lm, const lsvk_safetensors *st, const char *prefix);
LSVK_API const lsvk_lm_config *lsvk_lm_get_config(const lsvk_lm *lm);
LSVK_API void lsvk_lm_destroy(lsvk_lm *lm);

/* The recurrent state of `batch` independent streams: per layer the cache of the last mem_len
 * layer inputs (all zeros at first, as the reference's training and evaluation start), and the
 * per-layer buffers of token-by-token decoding.
 *
 * Both ways of feeding tokens give the reference's block-recurrent evaluation with blocks of
 * block_len tokens: lsvk_lm_forward takes whole blocks (the cache moves after each call);
 * lsvk_lm_step takes one token per stream and moves the cache every block_len tokens. A step
 * costs O(window + compressed chunks) attention, not a block: the state keeps the window's
 * keys/values, the compressed chunks of the cache and of the block so far, and the current
 * block's projections. block_len = 0 takes mem_len. It is rounded up to a multiple of
 * chunk_size.
 *
 * What is remembered is what the reference's evaluation remembers: per layer the last mem_len
 * layer inputs as of the last block end (compressed to mem_len/chunk_size*chunk_rank vectors, the
 * last `window` of them also as window keys), plus the current block. Once the context is longer
 * than mem_len + the current block, older tokens no longer influence the next one. */
typedef struct lsvk_lm_state lsvk_lm_state;

LSVK_API lsvk_status lsvk_lm_state_create(lsvk_lm *lm, uint32_t batch, uint32_t block_len,
                                          lsvk_lm_state **out);
LSVK_API void lsvk_lm_state_destroy(lsvk_lm_state *state);
/* Back to the all-zero cache at position 0. */
LSVK_API lsvk_status lsvk_lm_state_reset(lsvk_lm_state *state);
LSVK_API uint32_t lsvk_lm_state_batch(const lsvk_lm_state *state);
LSVK_API uint32_t lsvk_lm_state_block_len(const lsvk_lm_state *state);
/* Tokens fed so far (per stream). */
LSVK_API uint64_t lsvk_lm_state_position(const lsvk_lm_state *state);
/* Cache of one layer as [batch, mem_len, dim] floats (the layer inputs of the last mem_len
 * positions before the current block). Set only at a block boundary (see lsvk_lm_forward). */
LSVK_API lsvk_status lsvk_lm_state_get_cache(lsvk_lm_state *state, uint32_t layer, float *data,
                                             size_t count);
LSVK_API lsvk_status lsvk_lm_state_set_cache(lsvk_lm_state *state, uint32_t layer,
                                             const float *data, size_t count);

/* One block: tokens [batch, L] (ids < vocab), 1 <= L <= block_len, at a block boundary (no
 * steps since the last block ended; LSVK_ERROR_STATE otherwise).
 * logprobs (may be NULL) gets [batch, L, vocab] log-probabilities (log_softmax of the tied
 * output embedding) of the next token at each position. The cache then holds the last mem_len
 * layer inputs; a block shorter than block_len ends the block all the same. */
LSVK_API lsvk_status lsvk_lm_forward(lsvk_lm_state *state, const int32_t *tokens, uint32_t L,
                                     float *logprobs);
/* One token per stream: tokens [batch]; logprobs (may be NULL) gets [batch, vocab]. Equal to
 * lsvk_lm_forward over the same blocks. */
LSVK_API lsvk_status lsvk_lm_step(lsvk_lm_state *state, const int32_t *tokens, float *logprobs);

#ifdef __cplusplus
}
#endif
#endif /* LSVK_CAUSAL_H */
