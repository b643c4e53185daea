// maxpool2d.c: max pooling, any window and stride, Keras's 'valid' rounding (floor) or 'same'.
// (Forward and backward: to be written.)
#include "../nn/common.h"
#include "layer.h"

static int maxpool2d_setup(layer *l, shape3 in, char *err) {
    if (in.flat) return nn_fail(err, "maxpool2d needs an image input (H, W, C), got a flat vector of %d", in.c);
    if (!l->sh) {   // Keras: strides default to pool_size
        l->sh = l->kh;
        l->sw = l->kw;
    }
    int oh, ow;
    if (l->padding == PAD_SAME) {
        oh = (in.h + l->sh - 1) / l->sh;
        ow = (in.w + l->sw - 1) / l->sw;
        l->pad_top = NN_MAX((oh - 1) * l->sh + l->kh - in.h, 0) / 2;
        l->pad_left = NN_MAX((ow - 1) * l->sw + l->kw - in.w, 0) / 2;
    } else {
        if (l->kh > in.h || l->kw > in.w)
            return nn_fail(err, "pool %dx%d is larger than the input %dx%d", l->kh, l->kw, in.h, in.w);
        oh = (in.h - l->kh) / l->sh + 1;
        ow = (in.w - l->kw) / l->sw + 1;
        l->pad_top = l->pad_left = 0;
    }
    l->in = in;
    l->out = (shape3){oh, ow, in.c, 0};
    l->wsize = l->bsize = 0;
    l->aux_per_sample = (size_t)oh * ow * in.c;
    return 0;
}

static void maxpool2d_fwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                          float *y, int32_t *aux, act_kind act, float *scratch) {
    (void)l, (void)ctx, (void)n, (void)x, (void)w, (void)y, (void)aux, (void)act, (void)scratch;
    NN_DIE("maxpool2d forward: not written yet");
}

static void maxpool2d_bwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                          const float *y, float *dy, float *dx, float *dw, const int32_t *aux,
                          act_kind act, float *scratch) {
    (void)l, (void)ctx, (void)n, (void)x, (void)w, (void)y, (void)dy, (void)dx, (void)dw,
        (void)aux, (void)act, (void)scratch;
    NN_DIE("maxpool2d backward: not written yet");
}

const layer_ops maxpool2d_ops = {"maxpool2d", "MaxPooling2D", "max_pooling2d", maxpool2d_setup,
                                 NULL, maxpool2d_fwd, maxpool2d_bwd};
