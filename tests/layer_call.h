// layer_call.h: one pass of one layer in a single call, for tests that drive a layer on its own
// (the engine's walk, nn/step.c, fills a layer_io itself). The impl is the layer's on ctx's
// backend (NULL ctx: the C path), as the walk would pick it.
#ifndef NN_TEST_LAYER_CALL_H
#define NN_TEST_LAYER_CALL_H

#include "../layers/layer.h"
#include "../nn/common.h"

// Floats of scratch one pass over n samples needs on ctx's backend.
static inline size_t layer_scratch(const layer *l, const nn_ctx *ctx, int n) {
    const layer_impl *im = layer_impl_for(l, ctx);
    return im && im->scratch ? im->scratch(l, ctx, n) : 0;
}

static inline const layer_impl *layer_impl_or_die(const layer *l, const nn_ctx *ctx) {
    const layer_impl *im = layer_impl_for(l, ctx);
    if (!im) NN_DIE("layer %s has no impl on this backend", layer_ops_of(l->kind)->type);
    return im;
}

// x (n, in) -> y (n, out) with activation act; ws: layer_scratch(l, ctx, n) floats (or NULL).
static inline void layer_fwd(const layer *l, const nn_ctx *ctx, int n, const float *x,
                             const float *w, float *y, int32_t *aux, act_kind act, float *ws) {
    layer_io io = {.n = n, .x = x, .y = y, .w = w, .aux = aux, .act = act, .ws = ws,
                   .ws_floats = ws ? layer_scratch(l, ctx, n) : 0};
    layer_impl_or_die(l, ctx)->forward(l, ctx, &io);
}

// dy (n, out) -> dx (n, in, when not NULL) and dw (the layer's parameters); dy is overwritten.
static inline void layer_bwd(const layer *l, const nn_ctx *ctx, int n, const float *x,
                             const float *w, const float *y, float *dy, float *dx, float *dw,
                             int32_t *aux, act_kind act, float *ws) {
    layer_io io = {.n = n, .x = x, .y = (float *)y, .w = w, .aux = aux, .act = act, .dy = dy,
                   .dx = dx, .dw = dw, .ws = ws, .ws_floats = ws ? layer_scratch(l, ctx, n) : 0};
    layer_impl_or_die(l, ctx)->backward(l, ctx, &io);
}

#endif
