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

// y[j] = x[j] * scale where element off + j is kept (hr_keep), else +0, for j < n: hr_bits
// taken apart (hr_mix32, hr_k2) for a span whose indices share their high 32 bits, so the loop
// is 32-bit integer arithmetic and a mask that the compiler vectorizes (8 elements an AVX2 instruction; as a call
// of hr_keep per element with a select it stayed scalar, 4 ns an element). The same bits as
// hr_keep: the GPU's masks match (tests/test_layers_bn.c). Cloned for AVX-512 and AVX2 (the
// build has no -march; SSE2 has no 32-bit vector multiply).
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define DROP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef DROP_CLONES
#define DROP_CLONES
#endif

DROP_CLONES static void drop_span(uint64_t key, uint64_t off, size_t n, uint32_t thr, float scale,
                                  const float *x, float *y) {
    const uint32_t klo = (uint32_t)key, lo0 = (uint32_t)off, k2 = hr_k2(key, off);
    for (size_t j = 0; j < n; j++) {
        const uint32_t h = hr_mix32((lo0 + (uint32_t)j) ^ klo, k2);
        // y = v where kept, +0 where dropped, as bits (a select the compiler would branch on)
        const float v = x[j] * scale;
        uint32_t vb;
        memcpy(&vb, &v, sizeof vb);
        vb &= 0u - (uint32_t)((h >> 8) >= thr);
        memcpy(&y[j], &vb, sizeof vb);
    }
}

// drop_span over count elements from index off, in blocks shared by the threads; a block is
// cut where the index's high 32 bits change (past 2^32 elements into the pass).
static void drop_all(uint64_t key, uint64_t off, size_t count, uint32_t thr, float scale,
                     const float *x, float *y) {
    const size_t B = 16384, nb = (count + B - 1) / B;
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t b = 0; b < nb; b++) {
        size_t j = b * B;
        const size_t end = j + B < count ? j + B : count;
        while (j < end) {
            const uint64_t i = off + j, room = ((i >> 32) + 1) * 0x100000000ull - i;
            const size_t n = end - j < room ? end - j : (size_t)room;
            drop_span(key, i, n, thr, scale, x + j, y + j);
            j += n;
        }
    }
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
    drop_all(key, (size_t)io->sample0 * shape3_size(l->in), count, thr, scale, io->x, io->y);
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
    drop_all(key, (size_t)io->sample0 * shape3_size(l->in), count, thr, scale, io->dy, io->dx);
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
