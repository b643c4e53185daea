// globalavgpool_cuda.cu: global average pooling on the device, (n, H, W, C) -> (n, C).
// Forward: a block takes one sample and 32 consecutive channels (threadIdx.x: a warp reads 32
// consecutive floats of a pixel); its 8 rows of threads each add every 8th pixel, then the 8
// partial sums are added in shared memory in fixed order (deterministic, no atomics).
// Backward: one thread per input element, dx = dy[c] / (H W).
#include "cuda_common.h"
#include "kernels.h"

#define GAP_ROWS 8

__global__ void gap_fwd(int P, int C, float inv, const float *__restrict__ x, float *__restrict__ y) {
    __shared__ float acc[GAP_ROWS][33];
    const int c = blockIdx.x * 32 + threadIdx.x, b = blockIdx.y;
    const float *xb = x + (size_t)b * P * C;
    float s = 0.0f;
    if (c < C)
        for (int p = threadIdx.y; p < P; p += GAP_ROWS) s += __ldg(&xb[(size_t)p * C + c]);
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y || c >= C) return;
    float t = 0.0f;
    for (int k = 0; k < GAP_ROWS; k++) t += acc[k][threadIdx.x];
    y[(size_t)b * C + c] = t * inv;
}

__global__ void gap_bwd(int P, fastdiv dC, float inv, const float *__restrict__ dy, float *__restrict__ dx) {
    const int per = P * (int)dC.d, b = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        int c;
        fastdivmod(i, dC, c);
        dx[(size_t)b * per + i] = __ldg(&dy[(size_t)b * dC.d + c]) * inv;
    }
}

extern "C" void globalavgpool_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x, float *y) {
    const int P = l->in.h * l->in.w, C = l->in.c;
    if (!n || !C) return;
    gap_fwd<<<dim3(cdiv(C, 32), n), dim3(32, GAP_ROWS), 0, ctx_stream(ctx)>>>(P, C, 1.0f / (float)P, x, y);
    CUDA_CHECK_LAUNCH();
}

extern "C" void globalavgpool_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *dy, float *dx) {
    const int P = l->in.h * l->in.w, C = l->in.c;
    size_t per = (size_t)P * C;
    if (!n || !per) return;
    gap_bwd<<<dim3(cdiv(per, 256), n), 256, 0, ctx_stream(ctx)>>>(P, fastdiv_of(C), 1.0f / (float)P, dy, dx);
    CUDA_CHECK_LAUNCH();
}

// --- the layer's CUDA slots (layers/globalavgpool.c's table entry points here)

static void globalavgpool_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    globalavgpool_forward_cuda(l, ctx, io->n, io->x, io->y);
}
static void globalavgpool_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    if (io->dx) globalavgpool_backward_cuda(l, ctx, io->n, io->dy, io->dx);
}
extern "C" const layer_impl globalavgpool_cuda = {NULL, globalavgpool_cuda_fwd, globalavgpool_cuda_bwd};
