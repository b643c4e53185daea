// elementwise_cuda.cu: the CUDA twin of nn/elementwise.c (ew_apply). One thread per element in a
// grid-stride loop: the op is memory-bound, so all that matters is coalesced access and enough
// blocks in flight; the switch on op is uniform across the grid and costs nothing.
// (Minimal version written by the cuda helper so the CUDA build links; the demos helper owns this
// file and may replace it.)
#include "cuda_common.h"

extern "C" {
#include "../nn/elementwise.h"
}

__global__ void ew_f32_kernel(int op, size_t n, const float *a, const float *b, float *o) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float x = a[i], r;
        switch (op) {
        case EW_ADD: r = x + b[i]; break;
        case EW_SUB: r = x - b[i]; break;
        case EW_MUL: r = x * b[i]; break;
        case EW_RELU: r = x > 0.0f ? x : 0.0f; break;
        case EW_SIGMOID: r = 1.0f / (1.0f + expf(-x)); break;
        case EW_RELU_GRAD: r = x > 0.0f ? b[i] : 0.0f; break;
        default: r = b[i] * x * (1.0f - x); break;   // EW_SIGMOID_GRAD
        }
        o[i] = r;
    }
}

__global__ void ew_i32_kernel(int op, size_t n, const int32_t *a, const int32_t *b, int32_t *o) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t x = (uint32_t)a[i], y = (uint32_t)b[i];   // wrap-around, as the C path
        o[i] = (int32_t)(op == EW_ADD ? x + y : op == EW_SUB ? x - y : x * y);
    }
}

extern "C" int ew_apply_cuda(const nn_ctx *ctx, ew_op op, nn_dtype dt, size_t n, const void *a,
                             const void *b, void *out) {
    if (op < 0 || op >= EW_OP_COUNT) return -1;
    if (dt == DT_I32 && op > EW_MUL) return -1;
    if (n == 0) return 0;
    unsigned grid = cdiv(n, 256);
    if (grid > 65535u * 8) grid = 65535u * 8;
    cudaStream_t s = ctx_stream(ctx);
    if (dt == DT_F32)
        ew_f32_kernel<<<grid, 256, 0, s>>>(op, n, (const float *)a, (const float *)b, (float *)out);
    else
        ew_i32_kernel<<<grid, 256, 0, s>>>(op, n, (const int32_t *)a, (const int32_t *)b,
                                           (int32_t *)out);
    CUDA_CHECK_LAUNCH();
    return 0;
}
