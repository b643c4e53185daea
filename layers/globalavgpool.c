// globalavgpool.c: global average pooling (Keras's GlobalAveragePooling2D with keepdims=False):
// (N, H, W, C) -> (N, C), each channel's mean over the image. The output is flat, as flatten's,
// so a dense layer can follow directly. The C path and the reference for
// cuda/globalavgpool_cuda.cu. Backward: dx[s, h, w, c] = dy[s, c] / (H W).
#include <stddef.h>
#include <string.h>

#include "../nn/common.h"
#include "layer.h"

static int globalavgpool_setup(layer *l, shape3 in, char *err) {
    if (in.flat)
        return nn_fail(err, "globalavgpool needs an image input (H, W, C), got a flat vector of %d", in.c);
    l->in = in;
    l->out = (shape3){1, 1, in.c, 1};
    return 0;
}

// Sums in pixel order (the CUDA twin adds in another order: their results agree to rounding).
static void globalavgpool_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int n = io->n, C = l->in.c, P = l->in.h * l->in.w;
    const float inv = 1.0f / (float)P;
#pragma omp parallel for schedule(static) if ((size_t)n * P * C > 65536)
    for (int s = 0; s < n; s++) {
        const float *xs = io->x + (size_t)s * P * C;
        float *y = io->y + (size_t)s * C;
        for (int c = 0; c < C; c++) y[c] = 0.0f;
        for (int p = 0; p < P; p++)
            for (int c = 0; c < C; c++) y[c] += xs[(size_t)p * C + c];
        for (int c = 0; c < C; c++) y[c] *= inv;
    }
}

static void globalavgpool_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    if (!io->dx) return;
    const int n = io->n, C = l->in.c, P = l->in.h * l->in.w;
    const float inv = 1.0f / (float)P;
#pragma omp parallel for schedule(static) if ((size_t)n * P * C > 65536)
    for (int s = 0; s < n; s++) {
        const float *dy = io->dy + (size_t)s * C;
        float *dxs = io->dx + (size_t)s * P * C;
        for (int p = 0; p < P; p++)
            for (int c = 0; c < C; c++) dxs[(size_t)p * C + c] = dy[c] * inv;
    }
}

// --- the table entry

// Forward: one add per input value and one scale per output; backward one scale per input.
static double globalavgpool_flops(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    double x = (double)n * shape3_size(l->in), y = (double)n * l->in.c;
    return p == PROF_FORWARD ? x + y : x;
}

static double globalavgpool_bytes(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    return 4.0 * n * ((double)shape3_size(l->in) + l->in.c);
}

static const layer_opt globalavgpool_opts[] = {
    {.keras = "data_format", .type = OPT_FIXED, .json = "\"channels_last\"", .check = 1},
    {.keras = "keepdims", .type = OPT_FIXED, .json = "false", .check = 1},
    {0},
};

extern const layer_impl globalavgpool_cuda;
const layer_ops globalavgpool_ops = {
    .type = "globalavgpool", .keras_class = "GlobalAveragePooling2D",
    .keras_alias = "GlobalAvgPool2D", .keras_prefix = "global_average_pooling2d",
    .opts = globalavgpool_opts, .setup = globalavgpool_setup,
    .flops = globalavgpool_flops, .bytes = globalavgpool_bytes,
    .c = {NULL, globalavgpool_fwd, globalavgpool_bwd}, .cuda = &globalavgpool_cuda,
};
