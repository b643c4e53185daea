// activation.c: the activations (linear, relu, sigmoid, tanh, softmax, leaky_relu) as functions
// (used inside conv2d and dense) and as a layer of their own (Keras's Activation). The
// elementwise ones go through the engine's elementwise op; softmax works row by row over the
// channels; leaky ReLU's loops serve the leakyrelu layer too.
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "../nn/elementwise.h"
#include "layer.h"

// Softmax over each row of c: the row's max is subtracted first (exp never overflows).
static void softmax_rows(size_t n, int c, float *z) {
    for (size_t r = 0; r + (size_t)c <= n; r += (size_t)c) {
        float *row = z + r, mx = row[0];
        for (int j = 1; j < c; j++) mx = row[j] > mx ? row[j] : mx;
        double sum = 0;
        for (int j = 0; j < c; j++) sum += row[j] = expf(row[j] - mx);
        const float inv = (float)(1.0 / sum);
        for (int j = 0; j < c; j++) row[j] *= inv;
    }
}

void act_forward(act_kind a, size_t n, int c, float *z) {
    if (a == ACT_RELU) ew_apply(NULL, EW_RELU, DT_F32, n, z, NULL, z);
    else if (a == ACT_SIGMOID) ew_apply(NULL, EW_SIGMOID, DT_F32, n, z, NULL, z);
    else if (a == ACT_TANH) ew_apply(NULL, EW_TANH, DT_F32, n, z, NULL, z);
    else if (a == ACT_SOFTMAX) softmax_rows(n, c, z);
    else if (a == ACT_LEAKY_RELU) leaky_relu_forward(n, ACT_LEAKY_RELU_SLOPE, z, z);
}

// softmax: dz_j = y_j (dy_j - sum_k dy_k y_k), row by row; tanh: dy (1 - y^2).
void act_backward(act_kind a, size_t n, int c, const float *y, float *dy) {
    if (a == ACT_RELU) ew_apply(NULL, EW_RELU_GRAD, DT_F32, n, y, dy, dy);
    else if (a == ACT_SIGMOID) ew_apply(NULL, EW_SIGMOID_GRAD, DT_F32, n, y, dy, dy);
    else if (a == ACT_TANH) ew_apply(NULL, EW_TANH_GRAD, DT_F32, n, y, dy, dy);
    else if (a == ACT_LEAKY_RELU) leaky_relu_backward(n, ACT_LEAKY_RELU_SLOPE, y, dy, dy);
    else if (a == ACT_SOFTMAX)
        for (size_t r = 0; r + (size_t)c <= n; r += (size_t)c) {
            double dot = 0;
            for (int j = 0; j < c; j++) dot += (double)dy[r + j] * y[r + j];
            for (int j = 0; j < c; j++) dy[r + j] = y[r + j] * (dy[r + j] - (float)dot);
        }
}

// The sign of y is the sign of x (alpha >= 0), so backward needs only y and runs in place.
void leaky_relu_forward(size_t n, float alpha, const float *x, float *y) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : alpha * v;
    }
}

void leaky_relu_backward(size_t n, float alpha, const float *y, const float *dy, float *dx) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = dy[i];
        dx[i] = y[i] > 0.0f ? d : alpha * d;
    }
}

static int activation_setup(layer *l, shape3 in, char *err) {
    (void)err;
    l->in = l->out = in;
    return 0;
}

static void activation_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    size_t sz = (size_t)io->n * shape3_size(l->in);
    if (io->y != io->x) memcpy(io->y, io->x, sz * sizeof(float));
    act_forward(io->act, sz, l->in.c, io->y);
}

// dx may be dy itself (the model passes it so: the gradient is transformed in place).
static void activation_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    size_t sz = (size_t)io->n * shape3_size(l->in);
    act_backward(io->act, sz, l->in.c, io->y, io->dy);
    if (io->dx && io->dx != io->dy) memcpy(io->dx, io->dy, sz * sizeof(float));
}

// act_flops (layers/registry.c) counts each function. Forward reads x and writes y; backward
// reads y and dy and writes dx.
static double activation_flops(const layer *l, prof_pass p, int n, act_kind act) {
    return act_flops(act, p, (double)n * shape3_size(l->in));
}

static double activation_bytes(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    return 4.0 * n * shape3_size(l->in) * (p == PROF_FORWARD ? 2 : 3);
}

static const layer_opt activation_opts[] = {
    {.cfg = "fn", .keras = "activation", .type = OPT_ACT, .off = offsetof(layer, act), .required = 1},
    {0},
};

extern const layer_impl activation_cuda;
const layer_ops activation_ops = {
    .type = "activation", .keras_class = "Activation", .keras_prefix = "activation",
    .opts = activation_opts, .setup = activation_setup, .grad_in_place = 1,
    .flops = activation_flops, .bytes = activation_bytes,
    .c = {NULL, activation_fwd, activation_bwd}, .cuda = &activation_cuda,
};
