// flatten.c: (N, H, W, C) -> (N, H*W*C) in NHWC order, as Keras flattens. The data does not
// move: the model aliases flatten's output to its input (alias = 1) and runs no pass for it on
// either backend; the copies below serve callers that run the layer on its own.
#include <stddef.h>
#include <string.h>

#include "../nn/common.h"
#include "layer.h"

static int flatten_setup(layer *l, shape3 in, char *err) {
    (void)err;
    l->in = in;
    l->out = (shape3){1, 1, (int)shape3_size(in), 1};
    return 0;
}

static void flatten_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    if (io->y != io->x) memcpy(io->y, io->x, (size_t)io->n * shape3_size(l->in) * sizeof(float));
}

static void flatten_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    if (io->dx && io->dx != io->dy) memcpy(io->dx, io->dy, (size_t)io->n * shape3_size(l->in) * sizeof(float));
}

// No arithmetic, and no traffic when aliased (the model always aliases it).
static double flatten_zero(const layer *l, prof_pass p, int n, act_kind act) {
    (void)l, (void)p, (void)n, (void)act;
    return 0;
}

static const layer_opt flatten_opts[] = {
    {.keras = "data_format", .type = OPT_FIXED, .json = "\"channels_last\"", .check = 1},
    {0},
};

extern const layer_impl flatten_cuda;
const layer_ops flatten_ops = {
    .type = "flatten", .keras_class = "Flatten", .keras_prefix = "flatten", .opts = flatten_opts,
    .alias = 1, .setup = flatten_setup, .flops = flatten_zero, .bytes = flatten_zero,
    .c = {NULL, flatten_fwd, flatten_bwd}, .cuda = &flatten_cuda,
};
