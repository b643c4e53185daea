// cuda_test_util.h: what the CPU-vs-GPU tests share: the GPU context (or the reason there is
// none, so each test SKIPs saying why), device buffers filled from host arrays, seeded random
// fills, and the comparison used everywhere: |gpu - ref| <= atol + rtol |ref|, with rtol 1e-4
// and atol scaled to the reference's largest magnitude (a sum of K float products carries
// rounding of order sqrt(K) eps times its terms, whatever its own size).
#ifndef NN_CUDA_TEST_UTIL_H
#define NN_CUDA_TEST_UTIL_H

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cuda/kernels.h"
#include "../../data/images_cuda.h"
#include "../../nn/common.h"
#include "../../nn/cuda_api.h"
#include "../../nn/model.h"
#include "../../nn/rng.h"
#include "../../run/train_gpu.h"
#include "../layer_call.h"
#include "../test.h"

#define RTOL 1e-4

static nn_ctx gpu;
static int have_gpu = -1;
static char no_gpu[NN_ERRLEN];

#define CU(call)                                                                    \
    do {                                                                            \
        cudaError_t e_ = (call);                                                    \
        if (e_ != cudaSuccess) NN_DIE("%s: %s", #call, cudaGetErrorString(e_));     \
    } while (0)

static inline int gpu_init(void) {
    if (have_gpu < 0) {
        memset(&gpu, 0, sizeof gpu);
        have_gpu = cuda_ctx_init(&gpu, 0, no_gpu) == 0;
    }
    return have_gpu;
}

#define NEED_GPU()                                        \
    do {                                                  \
        if (!gpu_init()) SKIP("no GPU: %s", no_gpu);      \
    } while (0)

static inline nn_ctx cpu_ctx(void) { return (nn_ctx){.backend = NN_CPU, .threads = 0, .seed = 1}; }

// Quick mode (NN_TEST_QUICK=1, used under compute-sanitizer): smaller batches.
static inline int quick(void) {
    const char *q = getenv("NN_TEST_QUICK");
    return q && *q && *q != '0';
}

static inline void fill(rng *r, float *p, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_uniform_range(r, lo, hi);
}

static inline float *hbuf(size_t n) { return nn_alloc((n ? n : 1) * sizeof(float), "test buffer"); }

// Device copy of a host array (n floats); NULL host gives an uninitialised buffer poisoned with
// NaN bytes so that an element the kernel forgets to write shows up.
static inline float *dput(const float *h, size_t n) {
    void *d = NULL;
    CU(cudaMalloc(&d, (n ? n : 1) * sizeof(float)));
    if (h) CU(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
    else CU(cudaMemset(d, 0xff, (n ? n : 1) * sizeof(float)));
    return d;
}

static inline void dget(float *h, const void *d, size_t n) {
    CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
    CU(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
}

static inline void dfree(void *d) { CU(cudaFree(d)); }

static inline double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

// atol = scale * max|ref|: the rounding floor for outputs that are sums of many products.
static inline int close_arrays(const char *what, const float *got, const float *ref, size_t n, double scale) {
    return check_arrays(what, got, ref, n, scale * max_abs(ref, n) + 1e-30, RTOL);
}

// Copies a device array back and compares it with ref.
static inline int check_dev(const char *what, const void *d, const float *ref, size_t n, double scale) {
    float *h = hbuf(n);
    dget(h, d, n);
    int ok = close_arrays(what, h, ref, n, scale);
    nn_free(h);
    return ok;
}

// A layer set up on an input shape, as the model would (woff 0, bias right after the kernel).
static inline layer make_layer(layer l, shape3 in) {
    char err[NN_ERRLEN];
    if (layer_setup(&l, in, err) != 0) NN_DIE("test layer setup: %s", err);
    l.woff = 0;
    l.boff = l.wsize;
    return l;
}

static inline float *cpu_scratch(const layer *l, int n) {
    size_t s = layer_scratch(l, NULL, n);
    return s ? hbuf(s) : NULL;
}

// Random images (n, H, W, C) in [0, 1) with a learnable label: is the top half brighter than the
// bottom? (A per-image bias pushes the halves apart.)
static inline void learnable_batch(rng *r, int n, int H, int W, int C, float *x, float *y) {
    for (int i = 0; i < n; i++) {
        double top = 0, bot = 0;
        float *xi = x + (size_t)i * H * W * C;
        double bias = rng_uniform(r) * 0.2 - 0.1;
        for (int p = 0; p < H * W * C; p++) {
            int row = p / (W * C);
            xi[p] = (float)NN_MIN(0.999, NN_MAX(0.0, rng_uniform(r) + (row < H / 2 ? bias : -bias)));
            if (row < H / 2) top += xi[p];
            else bot += xi[p];
        }
        y[i] = top > bot ? 1.0f : 0.0f;
    }
}

// A model from cfg text with Keras's initial weights drawn from seed (the model tests).
static inline void build_model(model *m, const char *cfg, uint64_t seed) {
    char err[NN_ERRLEN];
    if (model_parse_cfg(m, cfg, "test.cfg", err) != 0) NN_DIE("test model: %s", err);
    model_init_weights(m, seed);
}

// ||a - b|| / ||b|| over n values: how far a whole GPU run is from the C path's.
static inline double rel_diff(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

#endif
