// ctx_cuda.cu: finding a usable GPU and setting up the device context (stream, device figures).
// cuda_probe must work on a machine with no GPU or no driver at all: it only asks the runtime
// and turns its error into a sentence, so `--device auto` can fall back to the C path and say why.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.h"

extern "C" {
#include "../nn/cuda_api.h"
}

void *cuda_malloc_checked(size_t bytes, const char *what, int batch, const char *file, int line) {
    void *p = NULL;
    if (bytes == 0) bytes = 256;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();   // clear the sticky-free error so cudaMemGetInfo answers
        size_t freeb = 0, total = 0;
        cudaMemGetInfo(&freeb, &total);
        char bs[64] = "";
        if (batch >= 0) snprintf(bs, sizeof bs, " at batch size %d", batch);
        nn_die(file, line,
               "out of GPU memory allocating %s%s: asked for %zu bytes (%.1f MiB), %zu bytes "
               "(%.1f MiB) free of %.1f MiB; try a smaller --batch",
               what, bs, bytes, bytes / 1048576.0, freeb, freeb / 1048576.0, total / 1048576.0);
    }
    if (e != cudaSuccess)
        nn_die(file, line, "CUDA: cudaMalloc of %zu bytes for %s failed: %s", bytes, what,
               cudaGetErrorString(e));
    return p;
}

void cuda_free(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}

// Why cudaGetDeviceCount failed, in plain words. With no NVIDIA driver installed at all (a
// machine without a GPU) the runtime answers cudaErrorInsufficientDriver, "CUDA driver version
// is insufficient for CUDA runtime version", which reads as "update your driver"; the driver
// version (0 when there is none) tells that case from a driver that really is too old.
static void no_device_reason(cudaError_t e, char *why) {
    int driver = 0, runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
    cudaGetLastError();
    if (e == cudaErrorInsufficientDriver && driver == 0)
        nn_fail(why, "no NVIDIA GPU driver found on this machine");
    else if (e == cudaErrorNoDevice)
        nn_fail(why, "no NVIDIA GPU found on this machine (the driver sees none)");
    else if (e == cudaErrorInsufficientDriver)
        nn_fail(why, "the NVIDIA driver supports CUDA %d.%d, older than this build's CUDA runtime %d.%d: "
                "update the driver", driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
    else
        nn_fail(why, "no usable CUDA device: %s", cudaGetErrorString(e));
}

extern "C" int cuda_probe(int device, char *name, size_t namelen, char *why) {
    if (name && namelen) name[0] = 0;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        no_device_reason(e, why);
        return 0;
    }
    if (count == 0) {
        nn_fail(why, "no NVIDIA GPU found on this machine (the driver sees none)");
        return 0;
    }
    if (device < 0 || device >= count) {
        nn_fail(why, "CUDA device %d does not exist (%d device%s found)", device, count,
                count == 1 ? "" : "s");
        return 0;
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        nn_fail(why, "cannot read CUDA device %d: %s", device, cudaGetErrorString(e));
        return 0;
    }
    if (p.major < 7) {
        nn_fail(why, "CUDA device %d (%s) has compute capability %d.%d; this build needs 7.0 or newer",
                device, p.name, p.major, p.minor);
        return 0;
    }
    // A context that cannot be created (driver too old for this runtime, device busy in
    // exclusive mode) shows up at the first real call: make one here rather than later.
    e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaFree(0);
    if (e != cudaSuccess) {
        cudaGetLastError();
        nn_fail(why, "CUDA device %d (%s) cannot be used: %s", device, p.name, cudaGetErrorString(e));
        return 0;
    }
    if (name && namelen) snprintf(name, namelen, "%s", p.name);
    return 1;
}

extern "C" int cuda_ctx_init(nn_ctx *ctx, int device, char *err) {
    char name[256], why[NN_ERRLEN];
    if (!cuda_probe(device, name, sizeof name, why)) return nn_fail(err, "%s", why);
    nn_cuda *c = (nn_cuda *)nn_calloc(sizeof *c, "CUDA context");
    c->device = device;
    snprintf(c->name, sizeof c->name, "%s", name);
    CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, device));
    c->sm_count = p.multiProcessorCount;
    c->l2_bytes = (size_t)p.l2CacheSize;
    const char *tf = getenv("NN_TF32");   // read once: off unless exactly "1" (exact FP32 default)
    c->tf32 = tf && strcmp(tf, "1") == 0 && p.major >= 8;
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    ctx->cuda = c;
    ctx->stream = (void *)c->stream;
    ctx->device = device;
    ctx->backend = NN_CUDA;
    return 0;
}

extern "C" void cuda_ctx_free(nn_ctx *ctx) {
    if (!ctx || !ctx->cuda) return;
    CUDA_CHECK(cudaStreamSynchronize(ctx->cuda->stream));
    cuda_nccl_free(ctx->cuda);
    CUDA_CHECK(cudaStreamDestroy(ctx->cuda->stream));
    nn_free(ctx->cuda);
    ctx->cuda = NULL;
    ctx->stream = NULL;
    ctx->backend = NN_CPU;
}
