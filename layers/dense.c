// dense.c: fully connected layer y = act(x W + b), W (in, out) as Keras stores it. The C path
// and the reference for cuda/dense_cuda.cu. All three products run on sgemm:
//     forward   y  (N, out) = x (N, in) . W (in, out) + b
//     backward  dW (in, out) = x^T . dz,   db = column sums of dz,   dx (N, in) = dz . W^T
// where dz = dy * act'(y). For the cat/dog model these are 32 x 128 x 30752 products that
// stream the 15.7 MB kernel; sgemm splits them over threads so each reads it once.
#include <string.h>

#include "../nn/common.h"
#include "../nn/gemm.h"
#include "layer.h"

static int dense_setup(layer *l, shape3 in, char *err) {
    if (!in.flat)
        return nn_fail(err, "dense needs a flat input, got (%d, %d, %d): add 'flatten' before it", in.h, in.w, in.c);
    if ((double)in.c * l->units > LAYER_MAX_PARAMS)
        return nn_fail(err, "%d inputs times %d units is %.3g weights, beyond nn's limit of %u",
                       in.c, l->units, (double)in.c * l->units, LAYER_MAX_PARAMS);
    l->in = in;
    l->out = (shape3){1, 1, l->units, 1};
    l->wsize = (size_t)in.c * l->units;
    l->bsize = l->use_bias ? (size_t)l->units : 0;
    l->aux_per_sample = 0;
    return 0;
}

static void dense_fwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                      float *y, int32_t *aux, act_kind act, float *scratch) {
    (void)ctx, (void)aux, (void)scratch;
    const int in = l->in.c, out = l->units;
    sgemm(0, 0, n, out, in, 1.0f, x, in, w, out, 0.0f, y, out);
    if (l->use_bias) {
        const float *b = w + (l->boff - l->woff);
        for (int s = 0; s < n; s++)
            for (int j = 0; j < out; j++) y[(size_t)s * out + j] += b[j];
    }
    act_forward(act, (size_t)n * out, y);
}

static void dense_bwd(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                      const float *y, float *dy, float *dx, float *dw, const int32_t *aux,
                      act_kind act, float *scratch) {
    (void)ctx, (void)aux, (void)scratch;
    const int in = l->in.c, out = l->units;
    act_backward(act, (size_t)n * out, y, dy);
    if (l->use_bias) {
        float *db = dw + (l->boff - l->woff);
        memset(db, 0, out * sizeof(float));
        for (int s = 0; s < n; s++)
            for (int j = 0; j < out; j++) db[j] += dy[(size_t)s * out + j];
    }
    sgemm(1, 0, in, out, n, 1.0f, x, in, dy, out, 0.0f, dw, out);
    if (dx) sgemm(0, 1, n, in, out, 1.0f, dy, out, w, out, 0.0f, dx, in);
}

const layer_ops dense_ops = {"dense", "Dense", "dense", dense_setup, NULL, dense_fwd, dense_bwd};
