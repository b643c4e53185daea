// avgpool2d.c: average pooling (Keras's AveragePooling2D), any window and stride, 'valid'
// (floor) or 'same'. The C path and the reference for cuda/avgpool2d_cuda.cu.
//
// With 'same' padding the padded cells are left out of the average: each output is the mean of
// the real pixels under its window, as TensorFlow's avg_pool (and so Keras) computes it (checked
// with tests/oracles/pool_act_keras.py: a 2x2 'same' pool of a 3x3 image gives the corner pixel
// itself, not a quarter of it). Backward spreads each output's gradient evenly over the same
// cells: dx[i] = sum over the windows holding i of dy[o] / count(o).
#include <stddef.h>
#include <string.h>

#include "../nn/common.h"
#include "layer.h"

static int avgpool2d_setup(layer *l, shape3 in, char *err) {
    return layer_pool_setup(l, in, "avgpool2d", err);
}

// Output (oy, ox)'s window inside the image: rows y0+ky0 .. y0+ky1-1, columns x0+kx0 .. x0+kx1-1.
typedef struct { int y0, x0, ky0, ky1, kx0, kx1; } pool_win;

static pool_win window_of(const layer *l, int oy, int ox) {
    pool_win w;
    w.y0 = oy * l->sh - l->pad_top;
    w.x0 = ox * l->sw - l->pad_left;
    w.ky0 = NN_MAX(0, -w.y0), w.ky1 = NN_MIN(l->kh, l->in.h - w.y0);
    w.kx0 = NN_MAX(0, -w.x0), w.kx1 = NN_MIN(l->kw, l->in.w - w.x0);
    return w;
}

static void avgpool2d_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int n = io->n, W = l->in.w, C = l->in.c, OH = l->out.h, OW = l->out.w;
    const size_t in_sz = shape3_size(l->in), out_sz = shape3_size(l->out);
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)n * out_sz > 16384)
    for (int s = 0; s < n; s++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                pool_win w = window_of(l, oy, ox);
                const float *xs = io->x + s * in_sz;
                float *y = io->y + s * out_sz + ((size_t)oy * OW + ox) * C;
                for (int c = 0; c < C; c++) y[c] = 0.0f;
                for (int ky = w.ky0; ky < w.ky1; ky++)   // rows, then columns: the CUDA twin's order
                    for (int kx = w.kx0; kx < w.kx1; kx++) {
                        const float *v = xs + ((size_t)(w.y0 + ky) * W + (w.x0 + kx)) * C;
                        for (int c = 0; c < C; c++) y[c] += v[c];
                    }
                const float inv = 1.0f / (float)((w.ky1 - w.ky0) * (w.kx1 - w.kx0));
                for (int c = 0; c < C; c++) y[c] *= inv;
            }
}

// Each thread takes whole samples, so the scatter into dx needs no atomics.
static void avgpool2d_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    if (!io->dx) return;
    const int n = io->n, W = l->in.w, C = l->in.c, OH = l->out.h, OW = l->out.w;
    const size_t in_sz = shape3_size(l->in), out_sz = shape3_size(l->out);
#pragma omp parallel for schedule(static) if ((size_t)n * in_sz > 16384)
    for (int s = 0; s < n; s++) {
        float *dxs = io->dx + s * in_sz;
        memset(dxs, 0, in_sz * sizeof(float));
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                pool_win w = window_of(l, oy, ox);
                const float *dy = io->dy + s * out_sz + ((size_t)oy * OW + ox) * C;
                const float inv = 1.0f / (float)((w.ky1 - w.ky0) * (w.kx1 - w.kx0));
                for (int ky = w.ky0; ky < w.ky1; ky++)
                    for (int kx = w.kx0; kx < w.kx1; kx++) {
                        float *d = dxs + ((size_t)(w.y0 + ky) * W + (w.x0 + kx)) * C;
                        for (int c = 0; c < C; c++) d[c] += dy[c] * inv;
                    }
            }
    }
}

// --- the table entry

// Forward adds kh*kw values and scales once per output; the input pass scales each output's
// gradient and adds it to every cell of its window. No weights.
static double avgpool2d_flops(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    double y = (double)n * shape3_size(l->out);
    return p == PROF_FORWARD ? y * l->kh * l->kw : y * (1 + l->kh * l->kw);
}

static double avgpool2d_bytes(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    return 4.0 * n * ((double)shape3_size(l->in) + shape3_size(l->out));   // x in, y out / dy in, dx out
}

static const layer_opt avgpool2d_opts[] = {
    {.cfg = "pool", .keras = "pool_size", .type = OPT_DIMS, .off = offsetof(layer, kh), .def = 2},
    {.cfg = "padding", .keras = "padding", .type = OPT_PAD, .off = offsetof(layer, padding)},
    {.cfg = "stride", .keras = "strides", .type = OPT_DIMS, .off = offsetof(layer, sh)},
    {.keras = "data_format", .type = OPT_FIXED, .json = "\"channels_last\"", .check = 1},
    {0},
};

extern const layer_impl avgpool2d_cuda;
const layer_ops avgpool2d_ops = {
    .type = "avgpool2d", .keras_class = "AveragePooling2D", .keras_alias = "AvgPool2D",
    .keras_prefix = "average_pooling2d", .opts = avgpool2d_opts, .setup = avgpool2d_setup,
    .flops = avgpool2d_flops, .bytes = avgpool2d_bytes,
    .c = {NULL, avgpool2d_fwd, avgpool2d_bwd}, .cuda = &avgpool2d_cuda,
};
