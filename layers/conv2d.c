// conv2d.c: 2-D convolution, NHWC input, HWIO kernel, valid or same padding, any stride, bias,
// fused activation. (Forward and backward: to be written.)
#include "../nn/common.h"
#include "layer.h"

// Output size as Keras computes it: valid: ceil((in - k + 1) / s); same: ceil(in / s).
static int conv2d_setup(layer *l, shape3 in, char *err) {
    if (in.flat) return nn_fail(err, "conv2d needs an image input (H, W, C), got a flat vector of %d", in.c);
    if (!l->sh) l->sh = l->sw = 1;
    int oh, ow;
    if (l->padding == PAD_SAME) {
        oh = (in.h + l->sh - 1) / l->sh;
        ow = (in.w + l->sw - 1) / l->sw;
        int ph = NN_MAX((oh - 1) * l->sh + l->kh - in.h, 0);
        int pw = NN_MAX((ow - 1) * l->sw + l->kw - in.w, 0);
        l->pad_top = ph / 2;
        l->pad_left = pw / 2;
    } else {
        if (l->kh > in.h || l->kw > in.w)
            return nn_fail(err, "kernel %dx%d is larger than the input %dx%d", l->kh, l->kw, in.h, in.w);
        oh = (in.h - l->kh) / l->sh + 1;
        ow = (in.w - l->kw) / l->sw + 1;
        l->pad_top = l->pad_left = 0;
    }
    l->in = in;
    l->out = (shape3){oh, ow, l->filters, 0};
    l->wsize = (size_t)l->kh * l->kw * in.c * l->filters;
    l->bsize = l->use_bias ? (size_t)l->filters : 0;
    l->aux_per_sample = 0;
    return 0;
}

static void conv2d_fwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                       float *y, int32_t *aux, act_kind act, float *scratch) {
    (void)l, (void)ctx, (void)n, (void)x, (void)w, (void)y, (void)aux, (void)act, (void)scratch;
    NN_DIE("conv2d forward: not written yet");
}

static void conv2d_bwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                       const float *y, float *dy, float *dx, float *dw, const int32_t *aux,
                       act_kind act, float *scratch) {
    (void)l, (void)ctx, (void)n, (void)x, (void)w, (void)y, (void)dy, (void)dx, (void)dw,
        (void)aux, (void)act, (void)scratch;
    NN_DIE("conv2d backward: not written yet");
}

const layer_ops conv2d_ops = {"conv2d", "Conv2D", "conv2d", conv2d_setup, NULL, conv2d_fwd, conv2d_bwd};
