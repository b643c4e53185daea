// dense.c: fully connected layer y = act(x W + b), W (in, out) as Keras stores it.
// (Forward and backward: to be written.)
#include "../nn/common.h"
#include "layer.h"

static int dense_setup(layer *l, shape3 in, char *err) {
    if (!in.flat)
        return nn_fail(err, "dense needs a flat input, got (%d, %d, %d): add 'flatten' before it", in.h, in.w, in.c);
    l->in = in;
    l->out = (shape3){1, 1, l->units, 1};
    l->wsize = (size_t)in.c * l->units;
    l->bsize = l->use_bias ? (size_t)l->units : 0;
    l->aux_per_sample = 0;
    return 0;
}

static void dense_fwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                      float *y, int32_t *aux, act_kind act, float *scratch) {
    (void)l, (void)ctx, (void)n, (void)x, (void)w, (void)y, (void)aux, (void)act, (void)scratch;
    NN_DIE("dense forward: not written yet");
}

static void dense_bwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                      const float *y, float *dy, float *dx, float *dw, const int32_t *aux,
                      act_kind act, float *scratch) {
    (void)l, (void)ctx, (void)n, (void)x, (void)w, (void)y, (void)dy, (void)dx, (void)dw,
        (void)aux, (void)act, (void)scratch;
    NN_DIE("dense backward: not written yet");
}

const layer_ops dense_ops = {"dense", "Dense", "dense", dense_setup, NULL, dense_fwd, dense_bwd};
