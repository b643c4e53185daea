// dense.c: fully connected layer y = act(x W + b), W (in, out) as Keras stores it. The C path
// and the reference for cuda/dense_cuda.cu. All three products run on sgemm:
//     forward   y  (N, out) = x (N, in) . W (in, out) + b
//     backward  dW (in, out) = x^T . dz,   db = column sums of dz,   dx (N, in) = dz . W^T
// where dz = dy * act'(y). For the cat/dog model these are 32 x 128 x 30752 products that
// stream the 15.7 MB kernel; sgemm splits them over threads so each reads it once.
#include <stddef.h>
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
    layer_add_param(l, "kernel", 2, (int[]){in.c, l->units});
    if (l->use_bias) layer_add_param(l, "bias", 1, (int[]){l->units});
    return 0;
}

static void dense_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int n = io->n;
    const float *x = io->x, *w = io->w;
    float *y = io->y;
    const act_kind act = io->act;
    const int in = l->in.c, out = l->units;
    sgemm(0, 0, n, out, in, 1.0f, x, in, w, out, 0.0f, y, out);
    if (l->use_bias) {
        const float *b = w + (l->boff - l->woff);
        for (int s = 0; s < n; s++)
            for (int j = 0; j < out; j++) y[(size_t)s * out + j] += b[j];
    }
    act_forward(act, (size_t)n * out, out, y);
}

static void dense_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int n = io->n;
    const float *x = io->x, *w = io->w, *y = io->y;
    float *dy = io->dy, *dx = io->dx, *dw = io->dw;
    const act_kind act = io->act;
    const int in = l->in.c, out = l->units;
    act_backward(act, (size_t)n * out, out, y, dy);
    if (l->use_bias) {
        float *db = dw + (l->boff - l->woff);
        memset(db, 0, out * sizeof(float));
        for (int s = 0; s < n; s++)
            for (int j = 0; j < out; j++) db[j] += dy[(size_t)s * out + j];
    }
    sgemm(1, 0, in, out, n, 1.0f, x, in, dy, out, 0.0f, dw, out);
    if (dx) sgemm(0, 1, n, in, out, 1.0f, dy, out, w, out, 0.0f, dx, in);
}

// --- the table entry

static void dense_init(const layer *l, float *w, rng *r) {
    layer_glorot(w, l->wsize, (double)l->in.c, (double)l->units, r);
    if (l->bsize) memset(w + (l->boff - l->woff), 0, l->bsize * sizeof(float));
}

// The same three products as conv2d with one pixel: 2 n in out each.
static double dense_flops(const layer *l, prof_pass p, int n, act_kind act) {
    (void)p, (void)act;
    return 2.0 * n * (double)l->in.c * l->units;
}

static const layer_opt dense_opts[] = {
    {.cfg = "units", .keras = "units", .type = OPT_INT, .off = offsetof(layer, units), .lo = 1, .hi = 1 << 20, .required = 1},
    {.cfg = "activation", .keras = "activation", .type = OPT_ACT, .off = offsetof(layer, act)},
    {.cfg = "bias", .keras = "use_bias", .type = OPT_BOOL, .off = offsetof(layer, use_bias), .def = 1},
    {.keras = "kernel_initializer", .type = OPT_FIXED, .json = KERAS_GLOROT},
    {.keras = "bias_initializer", .type = OPT_FIXED, .json = KERAS_ZEROS},
    {.keras = "kernel_regularizer", .type = OPT_FIXED, .json = "null"},
    {.keras = "bias_regularizer", .type = OPT_FIXED, .json = "null"},
    {.keras = "kernel_constraint", .type = OPT_FIXED, .json = "null"},
    {.keras = "bias_constraint", .type = OPT_FIXED, .json = "null"},
    {0},
};

extern const layer_impl dense_cuda;
const layer_ops dense_ops = {
    .type = "dense", .keras_class = "Dense", .keras_prefix = "dense",
    .opts = dense_opts, .setup = dense_setup, .init = dense_init,
    .flops = dense_flops, .bytes = layer_bytes_product,
    .c = {NULL, dense_fwd, dense_bwd}, .cuda = &dense_cuda,
};
