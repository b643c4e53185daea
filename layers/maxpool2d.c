// maxpool2d.c: max pooling, any window and stride, Keras's 'valid' rounding (floor) or 'same'.
// The C path and the reference for cuda/maxpool2d_cuda.cu.
//
// Forward keeps, for every output, the index within its sample of the input that won (aux), so
// backward is a scatter: dx = 0, then dx[aux] += dy (overlapping windows add). Ties go to the
// first maximum in scan order (rows, then columns), as PyTorch does; with 'same' padding the
// padded cells are skipped, never taken as zeros, as TensorFlow does (every window holds at
// least one real pixel because the padding is smaller than the window).
#include <stddef.h>
#include <string.h>

#include "../nn/common.h"
#include "layer.h"

static int maxpool2d_setup(layer *l, shape3 in, char *err) {
    if (layer_pool_setup(l, in, "maxpool2d", err)) return -1;
    l->aux_per_sample = shape3_size(l->out);   // the argmax of each output
    return 0;
}

// The window's scan is a select per channel, written without branches so it vectorises over
// channels; cloned for AVX-512 and AVX2 (chosen at load time) since the build has no -march.
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define POOL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef POOL_CLONES
#define POOL_CLONES
#endif

// One window: rows y0+ky0 .. y0+ky1-1 and columns x0+kx0 .. x0+kx1-1 of sample xs (H, W, C)
// (the part inside the image); best (C) and arg (C) get the max and its index in the sample.
POOL_CLONES static void pool_window(const float *xs, int W, int C, int y0, int x0, int ky0,
                                    int ky1, int kx0, int kx1, float *best, int32_t *arg) {
    int32_t first = ((y0 + ky0) * W + (x0 + kx0)) * C;
    for (int c = 0; c < C; c++) {
        best[c] = xs[first + c];
        arg[c] = first + c;
    }
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = (ky == ky0 ? kx0 + 1 : kx0); kx < kx1; kx++) {
            int32_t base = ((y0 + ky) * W + (x0 + kx)) * C;
            const float *v = xs + base;
            for (int c = 0; c < C; c++) {
                float vc = v[c], bc = best[c];
                int take = vc > bc || vc != vc;   // a later NaN wins, as in PyTorch
                best[c] = take ? vc : bc;
                arg[c] = take ? base + c : arg[c];
            }
        }
}

static void maxpool2d_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int n = io->n;
    const float *x = io->x;
    float *y = io->y;
    int32_t *aux = io->aux;
    const int H = l->in.h, W = l->in.w, C = l->in.c, OH = l->out.h, OW = l->out.w;
    const size_t in_sz = shape3_size(l->in), out_sz = shape3_size(l->out);
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)n * out_sz > 16384)
    for (int s = 0; s < n; s++)
        for (int oy = 0; oy < OH; oy++) {
            int y0 = oy * l->sh - l->pad_top;
            int ky0 = NN_MAX(0, -y0), ky1 = NN_MIN(l->kh, H - y0);
            for (int ox = 0; ox < OW; ox++) {
                size_t o = s * out_sz + ((size_t)oy * OW + ox) * C;
                int x0 = ox * l->sw - l->pad_left;
                int kx0 = NN_MAX(0, -x0), kx1 = NN_MIN(l->kw, W - x0);
                pool_window(x + s * in_sz, W, C, y0, x0, ky0, ky1, kx0, kx1, y + o, aux + o);
            }
        }
}

// Non-overlapping windows (stride == window, the usual 2x2): each input cell lies in at most
// one window, so a window's cells are written once, dy where the cell won and 0 elsewhere,
// instead of zeroing the whole of dx and scattering into it (one pass over dx, not two).
POOL_CLONES static void unpool_window(float *dxs, int W, int C, int y0, int x0, int ky0, int ky1,
                                      int kx0, int kx1, const float *dy, const int32_t *arg) {
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++) {
            int32_t base = ((y0 + ky) * W + (x0 + kx)) * C;
            float *d = dxs + base;
            for (int c = 0; c < C; c++) d[c] = arg[c] == base + c ? dy[c] : 0.0f;
        }
}

static void unpool_sample(const layer *l, float *dxs, const float *dys, const int32_t *as) {
    const int H = l->in.h, W = l->in.w, C = l->in.c, OH = l->out.h, OW = l->out.w;
    // Cells no window covers (Keras's 'valid' floors: the last rows/columns) get 0.
    int cover_h = NN_MIN(H, (OH - 1) * l->sh - l->pad_top + l->kh);
    int cover_w = NN_MIN(W, (OW - 1) * l->sw - l->pad_left + l->kw);
    for (int iy = 0; iy < H; iy++) {
        if (iy >= cover_h) memset(dxs + (size_t)iy * W * C, 0, (size_t)W * C * sizeof(float));
        else if (cover_w < W)
            memset(dxs + ((size_t)iy * W + cover_w) * C, 0, (size_t)(W - cover_w) * C * sizeof(float));
    }
    for (int oy = 0; oy < OH; oy++) {
        int y0 = oy * l->sh - l->pad_top;
        int ky0 = NN_MAX(0, -y0), ky1 = NN_MIN(l->kh, H - y0);
        for (int ox = 0; ox < OW; ox++) {
            size_t o = ((size_t)oy * OW + ox) * C;
            int x0 = ox * l->sw - l->pad_left;
            int kx0 = NN_MAX(0, -x0), kx1 = NN_MIN(l->kw, W - x0);
            unpool_window(dxs, W, C, y0, x0, ky0, ky1, kx0, kx1, dys + o, as + o);
        }
    }
}

static void maxpool2d_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int n = io->n;
    const float *dy = io->dy;
    float *dx = io->dx;
    const int32_t *aux = io->aux;
    if (!dx) return;
    const size_t in_sz = shape3_size(l->in), out_sz = shape3_size(l->out);
    const int disjoint = l->sh == l->kh && l->sw == l->kw;
    // Samples are independent, so each thread writes into its own samples only.
#pragma omp parallel for schedule(static) if ((size_t)n * in_sz > 16384)
    for (int s = 0; s < n; s++) {
        float *dxs = dx + s * in_sz;
        const float *dys = dy + s * out_sz;
        const int32_t *as = aux + s * out_sz;
        if (disjoint) {
            unpool_sample(l, dxs, dys, as);
        } else {   // overlapping windows: one input may win several, its gradients add up
            memset(dxs, 0, in_sz * sizeof(float));
            for (size_t o = 0; o < out_sz; o++) dxs[as[o]] += dys[o];
        }
    }
}

// --- the table entry

// Forward compares kh*kw - 1 times per output and writes the output and the int32 index of its
// max; the input pass adds each output's gradient into dx at that index. No weights.
static double maxpool2d_flops(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    double y = (double)n * shape3_size(l->out);
    return p == PROF_FORWARD ? y * (l->kh * l->kw - 1) : y;
}

static double maxpool2d_bytes(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    double x = (double)n * shape3_size(l->in), y = (double)n * shape3_size(l->out);
    return 4 * (x + 2 * y);   // forward: x in, y and index out; backward: dy and index in, dx out
}

static const layer_opt maxpool2d_opts[] = {
    {.cfg = "pool", .keras = "pool_size", .type = OPT_DIMS, .off = offsetof(layer, kh), .def = 2},
    {.cfg = "padding", .keras = "padding", .type = OPT_PAD, .off = offsetof(layer, padding)},
    {.cfg = "stride", .keras = "strides", .type = OPT_DIMS, .off = offsetof(layer, sh)},
    {.keras = "data_format", .type = OPT_FIXED, .json = "\"channels_last\"", .check = 1},
    {0},
};

extern const layer_impl maxpool2d_cuda;
const layer_ops maxpool2d_ops = {
    .type = "maxpool2d", .keras_class = "MaxPooling2D", .keras_alias = "MaxPool2D",
    .keras_prefix = "max_pooling2d", .opts = maxpool2d_opts, .setup = maxpool2d_setup,
    .flops = maxpool2d_flops, .bytes = maxpool2d_bytes,
    .c = {NULL, maxpool2d_fwd, maxpool2d_bwd}, .cuda = &maxpool2d_cuda,
};
