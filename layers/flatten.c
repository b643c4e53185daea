// flatten.c: (N, H, W, C) -> (N, H*W*C) in NHWC order, as Keras flattens; the data does not move.
#include <string.h>

#include "../nn/common.h"
#include "layer.h"

static int flatten_setup(layer *l, shape3 in, char *err) {
    (void)err;
    l->in = in;
    l->out = (shape3){1, 1, (int)shape3_size(in), 1};
    l->wsize = l->bsize = 0;
    l->aux_per_sample = 0;
    return 0;
}

static void flatten_fwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                        float *y, int32_t *aux, act_kind act, float *scratch) {
    (void)ctx, (void)w, (void)aux, (void)act, (void)scratch;
    memcpy(y, x, (size_t)n * shape3_size(l->in) * sizeof(float));
}

static void flatten_bwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                        const float *y, float *dy, float *dx, float *dw, const int32_t *aux,
                        act_kind act, float *scratch) {
    (void)ctx, (void)x, (void)w, (void)y, (void)dw, (void)aux, (void)act, (void)scratch;
    if (dx) memcpy(dx, dy, (size_t)n * shape3_size(l->in) * sizeof(float));
}

const layer_ops flatten_ops = {"flatten", "Flatten", "flatten", flatten_setup, NULL, flatten_fwd,
                               flatten_bwd};
