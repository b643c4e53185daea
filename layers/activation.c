// activation.c: relu / sigmoid / linear as functions (used inside conv2d and dense) and as a
// layer of their own (Keras's Activation). Both go through the engine's elementwise op.
#include <string.h>

#include "../nn/elementwise.h"
#include "layer.h"

void act_forward(act_kind a, size_t n, float *z) {
    if (a == ACT_RELU) ew_apply(NULL, EW_RELU, DT_F32, n, z, NULL, z);
    else if (a == ACT_SIGMOID) ew_apply(NULL, EW_SIGMOID, DT_F32, n, z, NULL, z);
}

void act_backward(act_kind a, size_t n, const float *y, float *dy) {
    if (a == ACT_RELU) ew_apply(NULL, EW_RELU_GRAD, DT_F32, n, y, dy, dy);
    else if (a == ACT_SIGMOID) ew_apply(NULL, EW_SIGMOID_GRAD, DT_F32, n, y, dy, dy);
}

static int activation_setup(layer *l, shape3 in, char *err) {
    (void)err;
    l->in = l->out = in;
    l->wsize = l->bsize = 0;
    l->aux_per_sample = 0;
    return 0;
}

static void activation_fwd(const layer *l, const nn_ctx *ctx, int n, const float *x,
                           const float *w, float *y, int32_t *aux, act_kind act, float *scratch) {
    (void)ctx, (void)w, (void)aux, (void)scratch;
    size_t sz = (size_t)n * shape3_size(l->in);
    if (y != x) memcpy(y, x, sz * sizeof(float));
    act_forward(act, sz, y);
}

static void activation_bwd(const layer *l, const nn_ctx *ctx, int n, const float *x,
                           const float *w, const float *y, float *dy, float *dx, float *dw,
                           const int32_t *aux, act_kind act, float *scratch) {
    (void)ctx, (void)x, (void)w, (void)dw, (void)aux, (void)scratch;
    size_t sz = (size_t)n * shape3_size(l->in);
    act_backward(act, sz, y, dy);
    if (dx) memcpy(dx, dy, sz * sizeof(float));
}

const layer_ops activation_ops = {"activation", "Activation", "activation", activation_setup, NULL,
                                  activation_fwd, activation_bwd};
