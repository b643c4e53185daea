// bench.h: timing a model's steps on random data (`nn bench`), on whichever backend ctx names.
// On the GPU the steps are timed on the device (cuda/train_cuda.cu: inputs already there, CUDA
// events around each step) as one replayed CUDA graph and as eager launches; on the C path each
// step is timed by the host clock.
#ifndef NN_BENCH_H
#define NN_BENCH_H

#include "model.h"

typedef struct bench_result {
    double median_ms, p10_ms, p90_ms;   // per step (or call)
    double mean_ms, best_ms;            // C path: over the timed steps
    double eager_ms;                    // GPU training: the same step launched kernel by kernel
    float last_loss;                    // C path training
    int device_timed;                   // 1: CUDA events (median is the reference), 0: host clock (mean)
} bench_result;

// warmup untimed then steps timed training steps (train = 1) or predictions of `batch` random
// samples (seeded by seed); the model is trained by them. 0, or -1 with err.
int model_bench(model *m, const nn_ctx *ctx, int batch, int warmup, int steps, int train,
                uint64_t seed, bench_result *res, char *err);

#endif
