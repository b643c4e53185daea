// activation_cuda.cu: the activations on the device, as functions (act_forward_cuda /
// act_backward_cuda: the conv2d and dense layers call them after their products) and as the
// activation layer. The elementwise ones go through the engine's elementwise op
// (elementwise_cuda.cu); leaky ReLU has its own kernel (the slope is a parameter); softmax is a
// row kernel over the channels.
// defines: softmax_rows_cuda, softmax_grad_rows_cuda, leaky_relu_cuda, leaky_relu_grad_cuda,
//          act_forward_cuda, act_backward_cuda, activation_cuda
//
// Softmax: one warp per row of c values (a row is a sample's channels at one pixel, or a dense
// layer's units): the max, then the sum of exp(v - max), each a warp shuffle reduction, then the
// scaled values. A row is read three times (from L1/L2 after the first); c is small (classes,
// filters), so a warp per row keeps every lane busy without shared memory.
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"

extern "C" {
#include "../nn/elementwise.h"
}

#define ROWS_PER_BLOCK 8   // warps (rows) per block of 256 threads

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// y (rows, ld) = softmax of x (rows, ld) over the first c columns of each row; y may be x.
__global__ void softmax_rows_kernel(long rows, int c, int ld, const float *x, float *y) {
    const long r = (long)blockIdx.x * ROWS_PER_BLOCK + threadIdx.y;
    if (r >= rows) return;   // whole warps leave together: the shuffles below see full warps
    const float *xr = x + r * ld;
    float *yr = y + r * ld;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < c; j += 32) mx = fmaxf(mx, xr[j]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < c; j += 32) sum += expf(xr[j] - mx);
    const float inv = 1.0f / warp_sum(sum);
    for (int j = threadIdx.x; j < c; j += 32) yr[j] = expf(xr[j] - mx) * inv;
}

// dy <- y (dy - sum_k dy_k y_k), row by row (rows, ld), first c columns.
__global__ void softmax_grad_rows_kernel(long rows, int c, int ld, const float *y, float *dy) {
    const long r = (long)blockIdx.x * ROWS_PER_BLOCK + threadIdx.y;
    if (r >= rows) return;
    const float *yr = y + r * ld;
    float *dr = dy + r * ld;
    float dot = 0.0f;
    for (int j = threadIdx.x; j < c; j += 32) dot += dr[j] * yr[j];
    dot = warp_sum(dot);
    for (int j = threadIdx.x; j < c; j += 32) dr[j] = yr[j] * (dr[j] - dot);
}

__global__ void leaky_relu_kernel(size_t n, float alpha, const float *x, float *y) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float v = x[i];
        y[i] = v > 0.0f ? v : alpha * v;
    }
}

__global__ void leaky_relu_grad_kernel(size_t n, float alpha, const float *y, const float *dy, float *dx) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float d = dy[i];
        dx[i] = y[i] > 0.0f ? d : alpha * d;
    }
}

static unsigned ew_grid(size_t n) { return (unsigned)NN_MIN((size_t)65535, NN_MAX((size_t)1, (n + 255) / 256)); }

extern "C" void softmax_rows_cuda(const nn_ctx *ctx, long rows, int c, int ld, const float *x, float *y) {
    if (rows <= 0 || c <= 0) return;
    softmax_rows_kernel<<<cdiv((size_t)rows, ROWS_PER_BLOCK), dim3(32, ROWS_PER_BLOCK), 0, ctx_stream(ctx)>>>(rows, c, ld, x, y);
    CUDA_CHECK_LAUNCH();
}

extern "C" void softmax_grad_rows_cuda(const nn_ctx *ctx, long rows, int c, int ld, const float *y, float *dy) {
    if (rows <= 0 || c <= 0) return;
    softmax_grad_rows_kernel<<<cdiv((size_t)rows, ROWS_PER_BLOCK), dim3(32, ROWS_PER_BLOCK), 0, ctx_stream(ctx)>>>(rows, c, ld, y, dy);
    CUDA_CHECK_LAUNCH();
}

extern "C" void leaky_relu_cuda(const nn_ctx *ctx, size_t n, float alpha, const float *x, float *y) {
    if (!n) return;
    leaky_relu_kernel<<<ew_grid(n), 256, 0, ctx_stream(ctx)>>>(n, alpha, x, y);
    CUDA_CHECK_LAUNCH();
}

extern "C" void leaky_relu_grad_cuda(const nn_ctx *ctx, size_t n, float alpha, const float *y,
                                     const float *dy, float *dx) {
    if (!n) return;
    leaky_relu_grad_kernel<<<ew_grid(n), 256, 0, ctx_stream(ctx)>>>(n, alpha, y, dy, dx);
    CUDA_CHECK_LAUNCH();
}

// --- the activations as functions (layers/activation.c's act_forward / act_backward)

extern "C" void act_forward_cuda(const nn_ctx *ctx, act_kind a, size_t n, int c, const float *x, float *y) {
    switch (a) {
    case ACT_RELU: ew_apply_cuda(ctx, EW_RELU, DT_F32, n, x, NULL, y); break;
    case ACT_SIGMOID: ew_apply_cuda(ctx, EW_SIGMOID, DT_F32, n, x, NULL, y); break;
    case ACT_TANH: ew_apply_cuda(ctx, EW_TANH, DT_F32, n, x, NULL, y); break;
    case ACT_LEAKY_RELU: leaky_relu_cuda(ctx, n, ACT_LEAKY_RELU_SLOPE, x, y); break;
    case ACT_SOFTMAX: softmax_rows_cuda(ctx, (long)(n / (size_t)c), c, c, x, y); break;
    case ACT_LINEAR:
        if (y != x && n)
            CUDA_CHECK(cudaMemcpyAsync(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
        break;
    }
}

extern "C" void act_backward_cuda(const nn_ctx *ctx, act_kind a, size_t n, int c, const float *y, float *dy) {
    switch (a) {
    case ACT_RELU: ew_apply_cuda(ctx, EW_RELU_GRAD, DT_F32, n, y, dy, dy); break;
    case ACT_SIGMOID: ew_apply_cuda(ctx, EW_SIGMOID_GRAD, DT_F32, n, y, dy, dy); break;
    case ACT_TANH: ew_apply_cuda(ctx, EW_TANH_GRAD, DT_F32, n, y, dy, dy); break;
    case ACT_LEAKY_RELU: leaky_relu_grad_cuda(ctx, n, ACT_LEAKY_RELU_SLOPE, y, dy, dy); break;
    case ACT_SOFTMAX: softmax_grad_rows_cuda(ctx, (long)(n / (size_t)c), c, c, y, dy); break;
    case ACT_LINEAR: break;
    }
}

// --- the layer's CUDA slots (layers/activation.c's table entry points here)

static void activation_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    act_forward_cuda(ctx, io->act, (size_t)io->n * shape3_size(l->in), l->in.c, io->x, io->y);
}

// Backward transforms dy in place (the model passes dx = dy), then copies when dx differs.
static void activation_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    size_t sz = (size_t)io->n * shape3_size(l->in);
    act_backward_cuda(ctx, io->act, sz, l->in.c, io->y, io->dy);
    if (io->dx && io->dx != io->dy)
        CUDA_CHECK(cudaMemcpyAsync(io->dx, io->dy, sz * sizeof(float), cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
}

extern "C" const layer_impl activation_cuda = {NULL, activation_cuda_fwd, activation_cuda_bwd};
