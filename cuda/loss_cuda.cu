// loss_cuda.cu: binary cross-entropy from logits, its gradient and the accuracy count, fused in
// one kernel (nn/loss.c is the C twin); categorical cross-entropy the same way (cce_kernel). n is a batch (at most a few thousand), so one block of
// 256 threads walks it: each thread takes samples i, i+256, ..., writes dz for them and keeps
// its loss sum (double, as the C path) and right count; a fixed-order tree in shared memory adds
// the threads' shares, so the result does not depend on scheduling.
// Also here: the fused head (head_kernel, one block of up to 1024 threads): the last dense layer
// (in -> 1 unit), the loss and that layer's backward and Adam for small batches; warps take
// samples for the dot products, then threads take input features for dW and dh (see below).
#include <math_constants.h>

#include "cuda_common.h"
#include "kernels.h"
#include "adam_update.cuh"

__device__ __forceinline__ float sigmoid_stable(float z) {
    if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

__global__ void __launch_bounds__(256)
bce_kernel(int n, int grad_n, const float *__restrict__ z, const float *__restrict__ y, float *dz,
           float *loss, int *correct, const int *step) {
    __shared__ double ls[256];
    __shared__ int cs[256];
    double sum = 0.0;
    int right = 0;
    const float fn = (float)grad_n;   // the C path divides by (float)grad_n
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

extern "C" void bce_logits_cuda(const nn_ctx *ctx, int n, int grad_n, const float *z, const float *y,
                                float *dz, float *loss, int *correct, const int *step) {
    bce_kernel<<<1, 256, 0, ctx_stream(ctx)>>>(n, grad_n, z, y, dz, loss, correct, step);
    CUDA_CHECK_LAUNCH();
}

// --- categorical cross-entropy from logits (nn/loss.c's cce_logits_n and categorical_correct
// are the twins: the same arithmetic in the same order). Thread mapping: as bce_kernel, one
// block of 256 threads for the batch, a thread per sample (i, i + 256, ...) walking that
// sample's c logits three times (max; the sum of exp(z - max) in double; dz); a batch has a few
// thousand samples at most and c is a class count (16 at most for a model nn trains from a
// folder), so the rows are short and a thread each keeps the per-sample arithmetic the C path's.
// The fixed-order tree then adds the threads' loss sums and right counts.
__device__ __forceinline__ int label_of(float y, int c) {
    if (!(y >= 0.0f && y < (float)c)) return -1;
    const int k = (int)y;
    return (float)k == y ? k : -1;
}

__global__ void __launch_bounds__(256)
cce_kernel(int n, int c, int grad_n, const float *__restrict__ z, const float *__restrict__ y,
           float *dz, float *loss, int *correct, const int *step) {
    __shared__ double ls[256];
    __shared__ int cs[256];
    double sum = 0.0;
    int right = 0;
    const float fn = (float)grad_n;
    for (int i = threadIdx.x; i < n; i += 256) {
        const float *zi = z + (size_t)i * c;
        const int k = label_of(y[i], c);
        float mx = zi[0];
        int best = 0;
        for (int j = 1; j < c; j++) {
            mx = zi[j] > mx ? zi[j] : mx;
            if (zi[j] > zi[best] || zi[best] != zi[best]) best = j;   // argmax_row's rule
        }
        double se = 0.0;
        for (int j = 0; j < c; j++) se += exp((double)zi[j] - mx);
        sum += k >= 0 ? log(se) + (double)mx - zi[k] : CUDART_NAN;
        right += best == k;
        if (!dz) continue;
        float *di = dz + (size_t)i * c;
        for (int j = 0; j < c; j++) {
            const double p = exp((double)zi[j] - mx) / se;
            di[j] = k >= 0 ? __fdiv_rn((float)(p - (j == k)), fn) : CUDART_NAN_F;
        }
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

extern "C" void cce_logits_cuda(const nn_ctx *ctx, int n, int c, int grad_n, const float *z,
                                const float *y, float *dz, float *loss, int *correct, const int *step) {
    cce_kernel<<<1, 256, 0, ctx_stream(ctx)>>>(n, c, grad_n, z, y, dz, loss, correct, step);
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

// --- the binary classifier's head in one block: the last dense layer (in -> 1 unit) from its
// input h, the loss, and that layer's whole backward, for small batches where five separate
// tiny kernels would each cost more in launch and drain than in work. Thread mapping: warps take
// samples for the dot products (lanes stride the inputs, fixed shuffle tree); then threads take
// input features for dW (a column of h, coalesced across threads) and for dh. Same arithmetic
// as the layer-by-layer kernels (sgemm_small, bce_kernel, Adam), so the results agree with them.
__global__ void __launch_bounds__(1024)
head_kernel(int n, int in, const float *__restrict__ h, const float *__restrict__ lab, float *w,
            const float *bias, float *m, float *v, float *z, float *dh, float *db, float *loss,
            int *correct, const float *alpha_arr, const int *step, float a1, float a2, float eps) {
    extern __shared__ __align__(16) float hs[];   // dz (n) then the loss terms' partial sums
    float *dz = hs;
    __shared__ double ls[32];
    __shared__ int cs[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const float fn = (float)n;
    double lsum = 0.0;
    int right = 0;
    for (int i = wid; i < n; i += nw) {
        float s = 0.0f;
        for (int k = lane; k < in; k += 32) s = fmaf(h[(size_t)i * in + k], w[k], s);
#pragma unroll
        for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        const float zi = s + (bias ? bias[0] : 0.0f);
        if (lane == 0) {
            const double zd = zi, yd = lab[i];
            lsum += fmax(zd, 0.0) - zd * yd + log1p(exp(-fabs(zd)));
            right += (zi > 0.0f) == (lab[i] > 0.5f);
            const float sg = zi >= 0.0f ? 1.0f / (1.0f + expf(-zi)) : expf(zi) / (1.0f + expf(zi));
            dz[i] = __fdiv_rn(sg - lab[i], fn);
            if (z) z[i] = zi;
        }
    }
    if (lane == 0) ls[wid] = lsum, cs[wid] = right;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0;
        int c = 0;
        for (int k = 0; k < nw; k++) t += ls[k], c += cs[k];
        const int st = step ? *step : 0;
        if (loss) loss[st] = n ? (float)(t / n) : 0.0f;
        if (correct) correct[st] = c;
        if (db) {
            float sdz = 0.0f;
            for (int i = 0; i < n; i++) sdz += dz[i];
            *db = sdz;
        }
    }
    // dh (n, in) = dz w^T from the weights before the update ...
    for (size_t e = threadIdx.x; e < (size_t)n * in; e += blockDim.x)
        dh[e] = dz[e / in] * w[e % in];
    __syncthreads();
    // ... then dW (in) = h^T dz straight into Adam.
    const float alpha = alpha_arr[step ? *step : 0];
    for (int k = threadIdx.x; k < in; k += blockDim.x) {
        float g = 0.0f;
        for (int i = 0; i < n; i++) g = fmaf(h[(size_t)i * in + k], dz[i], g);
        adam_update(g, w[k], m[k], v[k], alpha, a1, a2, eps);
    }
}

extern "C" void head_train_cuda(const nn_ctx *ctx, int n, int in, const float *h, const float *labels,
                                float *w, const float *bias, float *m, float *v, float *z, float *dh,
                                float *db, float *loss, int *correct, const adam_cfg *opt,
                                const float *alpha, const int *step) {
    if (n <= 0) return;
    // n + 4: the unrolled dz loops may load (and not use) up to 3 floats past the end
    head_kernel<<<1, 1024, (size_t)(n + 4) * sizeof(float), ctx_stream(ctx)>>>(
        n, in, h, labels, w, bias, m, v, z, dh, db, loss, correct, alpha, step,
        adam_one_minus(opt->beta1), adam_one_minus(opt->beta2), opt->epsilon);
    CUDA_CHECK_LAUNCH();
}
