// loss_cuda.cu: binary cross-entropy from logits, its gradient and the accuracy count, fused in
// one kernel (nn/loss.c is the C twin). n is a batch (at most a few thousand), so one block of
// 256 threads walks it: each thread takes samples i, i+256, ..., writes dz for them and keeps
// its loss sum (double, as the C path) and right count; a fixed-order tree in shared memory adds
// the threads' shares, so the result does not depend on scheduling.
#include "cuda_common.h"
#include "kernels.h"

__device__ __forceinline__ float sigmoid_stable(float z) {
    if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

__global__ void __launch_bounds__(256)
bce_kernel(int n, const float *__restrict__ z, const float *__restrict__ y, float *dz,
           float *loss, int *correct, const int *step) {
    __shared__ double ls[256];
    __shared__ int cs[256];
    double sum = 0.0;
    int right = 0;
    const float fn = (float)n;   // the C path divides by (float)n
    for (int i = threadIdx.x; i < n; i += 256) {
        const double zi = z[i], yi = y[i];
        sum += fmax(zi, 0.0) - zi * yi + log1p(exp(-fabs(zi)));
        right += (z[i] > 0.0f) == (y[i] > 0.5f);
        if (dz) dz[i] = __fdiv_rn(sigmoid_stable(z[i]) - y[i], fn);
    }
    ls[threadIdx.x] = sum;
    cs[threadIdx.x] = right;
    __syncthreads();
    for (int s = 128; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            ls[threadIdx.x] += ls[threadIdx.x + s];
            cs[threadIdx.x] += cs[threadIdx.x + s];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        const int k = step ? *step : 0;
        if (loss) loss[k] = n ? (float)(ls[0] / n) : 0.0f;
        if (correct) correct[k] = cs[0];
    }
}

extern "C" void bce_logits_cuda(const nn_ctx *ctx, int n, const float *z, const float *y,
                                float *dz, float *loss, int *correct, const int *step) {
    bce_kernel<<<1, 256, 0, ctx_stream(ctx)>>>(n, z, y, dz, loss, correct, step);
    CUDA_CHECK_LAUNCH();
}

__global__ void sigmoid_kernel(int n, const float *__restrict__ z, float *__restrict__ out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = sigmoid_stable(z[i]);
}

extern "C" void sigmoid_cuda(const nn_ctx *ctx, int n, const float *z, float *out) {
    if (n <= 0) return;
    sigmoid_kernel<<<(n + 255) / 256, 256, 0, ctx_stream(ctx)>>>(n, z, out);
    CUDA_CHECK_LAUNCH();
}
