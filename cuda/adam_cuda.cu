// adam_cuda.cu: Adam on the device, Keras's formula as in nn/adam.c (weights, gradients and both
// moments are four arenas of the same layout, nn/model.h), written with _rn intrinsics in the C
// path's order so both paths take the same step. The step size comes from device memory
// (alpha[*step]) so a captured graph can replay it. Two kernels:
//  - adam_kernel, the whole arena: pure streaming (7 floats moved per 6 flops); each thread
//    handles float4s of the four arenas in a grid-stride loop so that every access is a 16-byte
//    coalesced one, with enough blocks to keep the memory system busy.
//  - adam_ranges_kernel, a few ranges of it (grid.y = range, grid-stride within it, scalar
//    accesses): what is left when the dense layers' Adam is fused into their dW product
//    (dense_cuda.cu): the conv kernel and the biases, 1,025 parameters for the article's model.
#include <string.h>

#include "cuda_common.h"
#include "kernels.h"
#include "adam_update.cuh"

__global__ void adam_kernel(size_t n, float *__restrict__ w, const float *__restrict__ g,
                            float *__restrict__ m, float *__restrict__ v, const float *alpha_arr,
                            const int *step, float a1, float a2, float eps) {
    const float alpha = alpha_arr[step ? *step : 0];
    const size_t n4 = n / 4, stride = (size_t)gridDim.x * blockDim.x;
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    float4 *w4 = reinterpret_cast<float4 *>(w), *m4 = reinterpret_cast<float4 *>(m);
    float4 *v4 = reinterpret_cast<float4 *>(v);
    const float4 *g4 = reinterpret_cast<const float4 *>(g);
    for (size_t i = tid; i < n4; i += stride) {
        float4 gw = g4[i], ww = w4[i], mw = m4[i], vw = v4[i];
        adam_update(gw.x, ww.x, mw.x, vw.x, alpha, a1, a2, eps);
        adam_update(gw.y, ww.y, mw.y, vw.y, alpha, a1, a2, eps);
        adam_update(gw.z, ww.z, mw.z, vw.z, alpha, a1, a2, eps);
        adam_update(gw.w, ww.w, mw.w, vw.w, alpha, a1, a2, eps);
        w4[i] = ww, m4[i] = mw, v4[i] = vw;
    }
    for (size_t i = n4 * 4 + tid; i < n; i += stride) adam_update(g[i], w[i], m[i], v[i], alpha, a1, a2, eps);
}

extern "C" void adam_step_cuda(const nn_ctx *ctx, const adam_cfg *c, const float *alpha,
                               const int *step, size_t n, float *w, const float *g, float *m,
                               float *v) {
    if (!n) return;
    // The arenas come from cudaMalloc (256-byte aligned); float4 access needs 16.
    if (((uintptr_t)w | (uintptr_t)g | (uintptr_t)m | (uintptr_t)v) & 15)
        NN_DIE("adam_step_cuda: arenas must be 16-byte aligned");
    size_t sms = ctx && ctx->cuda ? ctx->cuda->sm_count : 132;
    unsigned blocks = (unsigned)NN_MAX((size_t)1, NN_MIN((n / 4 + 255) / 256, sms * 8));
    adam_kernel<<<blocks, 256, 0, ctx_stream(ctx)>>>(n, w, g, m, v, alpha, step,
                                                     adam_one_minus(c->beta1), adam_one_minus(c->beta2),
                                                     c->epsilon);
    CUDA_CHECK_LAUNCH();
}

// --- Adam over a few ranges of the arena (grid.y = range); scalar accesses: the ranges left
// after the dense kernels' fused updates are biases and small kernels.
struct adam_range_list {
    int n;
    size_t off[ADAM_MAX_RANGES], len[ADAM_MAX_RANGES];
};

__global__ void adam_ranges_kernel(adam_range_list R, float *__restrict__ w, const float *__restrict__ g,
                                   float *__restrict__ m, float *__restrict__ v, const float *alpha_arr,
                                   const int *step, float a1, float a2, float eps) {
    const float alpha = alpha_arr[step ? *step : 0];
    const size_t off = R.off[blockIdx.y], len = R.len[blockIdx.y];
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < len;
         i += (size_t)gridDim.x * blockDim.x)
        adam_update(g[off + i], w[off + i], m[off + i], v[off + i], alpha, a1, a2, eps);
}

extern "C" void adam_ranges_cuda(const nn_ctx *ctx, const adam_cfg *c, const float *alpha,
                                 const int *step, int nr, const size_t *off, const size_t *len,
                                 float *w, const float *g, float *m, float *v) {
    if (nr <= 0) return;
    if (nr > ADAM_MAX_RANGES) NN_DIE("adam_ranges_cuda: %d ranges, at most %d", nr, ADAM_MAX_RANGES);
    adam_range_list R;
    memset(&R, 0, sizeof R);
    size_t most = 0;
    for (int i = 0; i < nr; i++) R.off[i] = off[i], R.len[i] = len[i], most = NN_MAX(most, len[i]);
    R.n = nr;
    if (!most) return;
    size_t sms = ctx && ctx->cuda ? ctx->cuda->sm_count : 132;
    unsigned bx = (unsigned)NN_MAX((size_t)1, NN_MIN((most + 255) / 256, sms * 4));
    adam_ranges_kernel<<<dim3(bx, nr), 256, 0, ctx_stream(ctx)>>>(
        R, w, g, m, v, alpha, step, adam_one_minus(c->beta1), adam_one_minus(c->beta2), c->epsilon);
    CUDA_CHECK_LAUNCH();
}
