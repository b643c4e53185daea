// dropout.c: Keras's Dropout, inverted: in a training step each value is kept with probability
// 1 - rate and scaled by 1 / (1 - rate), the others are zeroed; at prediction and evaluation
// (io->training 0) the layer is the identity. The C path and the reference for
// cuda/dropout_cuda.cu.
//
// The mask is never stored: element i of the batch (n, in) is kept when
// hr_keep(hr_key(io->seed, io->t), i, ...) says so (nn/hash_rng.h), a pure function of the run's
// seed mixed with the layer's index, the training step and the index, counted in the step's
// global batch (a data-parallel rank's elements start at io->sample0 samples: its mask is the
// part one process would have drawn for those samples). Backward runs in the same
// step (same t) and regenerates it; the GPU draws the same bits; a resumed run draws what the
// unbroken run would have.
//
// Not training, the output is a copy of the input. The layer cannot alias its input as flatten
// does (alias is a property of the kind, and in training the output differs), and the copy is
// cheap beside the layers around it.
#include <stddef.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/hash_rng.h"
#include "layer.h"

static int dropout_setup(layer *l, shape3 in, char *err) {
    (void)err;
    l->in = in;
    l->out = in;
    return 0;
}

// A training pass that changes anything (rate 0 keeps every value unscaled: a copy).
static int dropping(const layer *l, const layer_io *io) { return io->training && l->rate > 0; }

static void dropout_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const size_t count = (size_t)io->n * shape3_size(l->in);
    if (!dropping(l, io)) {
        if (io->y != io->x) memcpy(io->y, io->x, count * sizeof(float));
        return;
    }
    const uint64_t key = hr_key(io->seed, io->t);
    const uint32_t thr = hr_threshold(l->rate);
    const float scale = hr_scale(l->rate);
    const float *x = io->x;
    float *y = io->y;
    const size_t off = (size_t)io->sample0 * shape3_size(l->in);
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) y[i] = hr_keep(key, off + i, thr) ? x[i] * scale : 0.0f;
}

// dx = dy where kept, times the scale; 0 where dropped (dx may be dy: grad_in_place).
static void dropout_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    if (!io->dx) return;
    const size_t count = (size_t)io->n * shape3_size(l->in);
    if (!dropping(l, io)) {
        if (io->dx != io->dy) memcpy(io->dx, io->dy, count * sizeof(float));
        return;
    }
    const uint64_t key = hr_key(io->seed, io->t);
    const uint32_t thr = hr_threshold(l->rate);
    const float scale = hr_scale(l->rate);
    const float *dy = io->dy;
    float *dx = io->dx;
    const size_t off = (size_t)io->sample0 * shape3_size(l->in);
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) dx[i] = hr_keep(key, off + i, thr) ? dy[i] * scale : 0.0f;
}

// --- the table entry

// A hash and a multiply per value; x in, y out (dy in, dx out). No weights.
static double dropout_flops(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    return p == PROF_BWD_WEIGHTS ? 0 : (double)n * shape3_size(l->in);
}

static double dropout_bytes(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    return p == PROF_BWD_WEIGHTS ? 0 : 8.0 * n * shape3_size(l->in);
}

static const layer_opt dropout_opts[] = {
    {.cfg = "rate", .keras = "rate", .type = OPT_FLOAT, .off = offsetof(layer, rate), .required = 1,
     .fdef = 0.5, .flo = 0, .fhi = 1},
    // Keras's seed only picks TensorFlow's random stream, which nn cannot draw anyway: ignored.
    {.keras = "seed", .type = OPT_FIXED, .json = "null"},
    // One mask for every value; a shared mask over some axes is not supported.
    {.keras = "noise_shape", .type = OPT_FIXED, .json = "null", .check = 1},
    {0},
};

extern const layer_impl dropout_cuda;
const layer_ops dropout_ops = {
    .type = "dropout", .keras_class = "Dropout", .keras_prefix = "dropout", .opts = dropout_opts,
    .grad_in_place = 1, .setup = dropout_setup, .flops = dropout_flops, .bytes = dropout_bytes,
    .c = {NULL, dropout_fwd, dropout_bwd}, .cuda = &dropout_cuda,
};
