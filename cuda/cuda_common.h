// cuda_common.h: what every .cu file of the CUDA path shares: the checked-call macro, the
// device context struct behind nn_ctx.cuda, and small launch helpers.
//
// Every CUDA runtime call goes through CUDA_CHECK and every launch is followed by
// CUDA_CHECK_LAUNCH(), so an error names the file, the line and the CUDA error string and the
// program stops with a non-zero status (DESIGN.md: fail loudly). Device allocations go through
// cuda_malloc_checked, which on out-of-memory names what was being allocated, the batch size,
// the bytes asked for and the bytes free.
#ifndef NN_CUDA_COMMON_H
#define NN_CUDA_COMMON_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "../nn/common.h"
#include "../nn/ctx.h"
}

#define CUDA_CHECK(call)                                                                      \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess)                                                                \
            nn_die(__FILE__, __LINE__, "CUDA: %s failed: %s (%s)", #call,                     \
                   cudaGetErrorString(e_), cudaGetErrorName(e_));                             \
    } while (0)

// After a kernel launch: catches bad launch configurations at once (asynchronous faults show
// up at the next synchronising call, which is checked too).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

// cudaMalloc that dies with a message saying what, for which batch size, how many bytes were
// asked for and how many are free. batch < 0 leaves the batch out of the message.
// The largest batch the device path takes: the conv and augmentation kernels put the samples of
// a batch on one grid dimension (y or z), which CUDA caps at 65535.
#define CUDA_MAX_BATCH 65535

void *cuda_malloc_checked(size_t bytes, const char *what, int batch, const char *file, int line);
#define CUDA_MALLOC(bytes, what, batch) cuda_malloc_checked((bytes), (what), (batch), __FILE__, __LINE__)
void cuda_free(void *p);

// The device state behind nn_ctx.cuda: one stream for everything, the device's size figures
// kernels use to pick their grids.
struct nn_cuda {
    int device;
    cudaStream_t stream;
    int sm_count;
    size_t l2_bytes;
    char name[256];
    int tf32;   // NN_TF32=1 at init: the large SGEMMs use TF32 tensor cores (dense_tf32_cuda.cu)
    struct cuda_nccl *nccl;   // the ranks' NCCL communicator, made on first use (nccl_cuda.cu)
};

// nccl_cuda.cu: gives back the context's communicator (cuda_ctx_free calls it).
void cuda_nccl_free(struct nn_cuda *c);

static inline cudaStream_t ctx_stream(const nn_ctx *ctx) {
    return ctx && ctx->cuda ? ctx->cuda->stream : (cudaStream_t)0;
}

static inline unsigned cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

// Division by a run-time constant as a multiply-high and a shift (n < 2^31): the gathers divide
// every index they load by the tensor's sizes, and a hardware-less integer division (some twenty
// instructions) per 16-byte load would cost as much as the tile's arithmetic.
struct fastdiv {
    unsigned d, mul, shift;
};

static inline fastdiv fastdiv_of(int d) {
    fastdiv f;
    f.d = (unsigned)d;
    f.shift = 0;
    while ((1u << f.shift) < f.d) f.shift++;
    f.mul = (unsigned)((((1ull << 32) * ((1ull << f.shift) - f.d)) / f.d) + 1);
    return f;
}

__device__ __forceinline__ int fastdiv_q(int n, const fastdiv &f) {
    return (int)((__umulhi((unsigned)n, f.mul) + (unsigned)n) >> f.shift);
}

// Quotient and remainder of n by f.
__device__ __forceinline__ int fastdivmod(int n, const fastdiv &f, int &rem) {
    const int q = fastdiv_q(n, f);
    rem = n - q * (int)f.d;
    return q;
}

// Element i < H*W*C of one sample of an NHWC tensor as its row h, column w and channel c: the
// index arithmetic of the one-thread-per-element kernels (the grid's y is the sample).
struct hwc {
    int h, w, c;
};
__device__ __forceinline__ hwc hwc_of(int i, const fastdiv &W, const fastdiv &C) {
    hwc e;
    const int p = fastdivmod(i, C, e.c);
    e.h = fastdivmod(p, W, e.w);
    return e;
}

// V consecutive channels as one value (V = 1 or 4: a 16-byte load or store when 4), for the
// elementwise kernels templated on V; el(v)[j] is channel j of it.
template <int V> struct vec_t;
template <> struct vec_t<1> { typedef float t; typedef int32_t i; };
template <> struct vec_t<4> { typedef float4 t; typedef int4 i; };
__device__ __forceinline__ float *el(float &v) { return &v; }
__device__ __forceinline__ float *el(float4 &v) { return &v.x; }
__device__ __forceinline__ int32_t *el(int32_t &v) { return &v; }
__device__ __forceinline__ int32_t *el(int4 &v) { return &v.x; }

#endif
