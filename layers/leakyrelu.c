// leakyrelu.c: Keras's LeakyReLU layer, y = x for x > 0 and alpha x below (alpha >= 0, Keras's
// default 0.3). The C path and the reference for cuda/leakyrelu_cuda.cu; the loops are
// activation.c's (leaky_relu_forward / _backward), shared with activation='leaky_relu'.
//
// Keras 3 calls the slope negative_slope, tf.keras 2 called it alpha: both are read, and nn
// writes alpha, the key both read (tf.keras 2.15 refuses a LeakyReLU config holding
// negative_slope; Keras 3 takes alpha as its old name, with a deprecation warning).
#include <stddef.h>
#include <string.h>

#include "../nn/common.h"
#include "layer.h"

static int leakyrelu_setup(layer *l, shape3 in, char *err) {
    (void)err;
    l->in = l->out = in;
    return 0;
}

static void leakyrelu_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    leaky_relu_forward((size_t)io->n * shape3_size(l->in), l->alpha, io->x, io->y);
}

// dx may be dy itself (grad_in_place: the model passes it so).
static void leakyrelu_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    size_t sz = (size_t)io->n * shape3_size(l->in);
    leaky_relu_backward(sz, l->alpha, io->y, io->dy, io->dx ? io->dx : io->dy);
}

// --- the table entry

static double leakyrelu_flops(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    return act_flops(ACT_LEAKY_RELU, p, (double)n * shape3_size(l->in));
}

// Forward reads x and writes y; backward reads y and dy and writes dx.
static double leakyrelu_bytes(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    return 4.0 * n * shape3_size(l->in) * (p == PROF_FORWARD ? 2 : 3);
}

static const layer_opt leakyrelu_opts[] = {
    {.cfg = "alpha", .keras = "alpha", .keras_old = "negative_slope", .type = OPT_FLOAT,
     .off = offsetof(layer, alpha), .fdef = 0.3, .flo = 0, .fhi = 1000},
    {0},
};

extern const layer_impl leakyrelu_cuda;
const layer_ops leakyrelu_ops = {
    .type = "leakyrelu", .keras_class = "LeakyReLU", .keras_prefix = "leaky_re_lu",
    .opts = leakyrelu_opts, .setup = leakyrelu_setup, .grad_in_place = 1,
    .flops = leakyrelu_flops, .bytes = leakyrelu_bytes,
    .c = {NULL, leakyrelu_fwd, leakyrelu_bwd}, .cuda = &leakyrelu_cuda,
};
