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
};

static inline cudaStream_t ctx_stream(const nn_ctx *ctx) {
    return ctx && ctx->cuda ? ctx->cuda->stream : (cudaStream_t)0;
}

static inline unsigned cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

// Element i of an NHWC tensor (n, H, W, C) as its sample b, row h, column w and channel c: the
// index arithmetic of every one-thread-per-element kernel (grid-stride over n*H*W*C).
struct nhwc {
    int b, h, w, c;
};
__device__ __forceinline__ nhwc nhwc_of(size_t i, int H, int W, int C) {
    size_t p = i / C;
    nhwc e;
    e.c = (int)(i % C);
    e.w = (int)(p % W), e.h = (int)((p / W) % H), e.b = (int)(p / ((size_t)W * H));
    return e;
}

#endif
