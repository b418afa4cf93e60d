/* CPU references of the attention variants: plain loops, double accumulation, double outputs.
 * They follow the official implementation as ../shared/golden/README.md describes it. */
#ifndef LSVK_REF_ATTENTION_H
#define LSVK_REF_ATTENTION_H

#include "lsvk/lsvk.h"

/* Full attention, q/k/v [B,H,N,dh]; mask [B,N] (1 real, 0 pad) or NULL; causal 0/1. */
void lsvk_ref_attention(int B, int H, int N, int dh, const float *q, const float *k, const float *v,
                        const float *mask, int causal, double *out);

/* Parameters of the bidirectional layer by their reference names; absent ones are NULL
 * (dconv_fc when r = 0, conv when K <= 0). */
typedef struct lsvk_ref_ls_weights {
    const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;   /* W_q.weight ... W_o.bias */
    const float *ln_l_w, *ln_l_b, *ln_s_w, *ln_s_b;       /* dual_ln_l, dual_ln_s */
    const float *wd, *bd;                                 /* dconv_fc: [H*r, D], [H*r] */
    const float *conv;                                    /* conv.weight [H,1,K,1] */
} lsvk_ref_ls_weights;

/* x [B,N0,D], mask [B,N0] (1 real, 0 pad) or NULL, out [B,N0,D]. Returns 0, or -1 on a config
 * the reference rejects (D != H*dh, N not a multiple of w, ...). */
int lsvk_ref_ls_bidir(const lsvk_ls_config *cfg, const lsvk_ref_ls_weights *w, int B, int N0,
                      const float *x, const float *mask, double *out);

/* Shape of the bidirectional layer for N0 input tokens: *N tokens without CLS, *m landmark
 * columns (r, or r + 1 with cls), *kw window columns (0 without window). Any pointer may be NULL.
 * Returns 0, or -1 on a config lsvk_ref_ls_bidir rejects. */
int lsvk_ref_ls_shape(const lsvk_ls_config *cfg, int N0, int *N, int *m, int *kw);

/* Intermediates of lsvk_ref_ls_bidir, the golden files' debug.* tensors. Every pointer may be
 * NULL (not wanted); m, kw and N as lsvk_ref_ls_shape gives them. */
typedef struct lsvk_ref_ls_debug {
    double *dconv_probs;  /* [B,H,r,N]   landmark weights P (softmax over the sequence) */
    double *k_landmarks;  /* [B,m,D]     landmark keys after dual_ln_s (cls first) */
    double *v_landmarks;  /* [B,m,D]     landmark values after dual_ln_s */
    double *k_full;       /* [B,N,D]     LN_l(X Wk^T + bk) */
    double *scores;       /* [B,H,N,m+kw] pre-softmax scores, -inf where masked */
    double *conv_out;     /* [B,H,N,dh]  depthwise conv of V (K > 0) */
    double *attn_out;     /* [B,N0,D]    merged heads, input of W_o */
} lsvk_ref_ls_debug;

/* lsvk_ref_ls_bidir that also fills the intermediates dbg asks for (dbg may be NULL). */
int lsvk_ref_ls_bidir_debug(const lsvk_ls_config *cfg, const lsvk_ref_ls_weights *w, int B,
                            int N0, const float *x, const float *mask, double *out,
                            const lsvk_ref_ls_debug *dbg);
#endif
