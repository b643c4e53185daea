// profile_run.h: `nn bench --profile` and `nn train --profile`: the engine's profile of a step
// (nn/profile.h) with the data pipeline's rows added (augmentation, waiting for the loader),
// which is why they live above the engine: it does not know the data pipeline.
#ifndef NN_PROFILE_RUN_H
#define NN_PROFILE_RUN_H

#include <stdio.h>

#include "../data/data.h"
#include "../nn/profile.h"

// Keras's augmentation of n images of h x w x 3 (data/augment.c): uint8 in, float out.
double flops_augment(int n, int h, int w);
double bytes_augment(int n, int h, int w);

// `nn bench --profile`: profile_cpu or profile_cuda by ctx's backend (on the GPU, with a row
// for augmenting `batch` random images on the device when the model takes RGB images), then
// profile_print.
int profile_bench(model *m, const nn_ctx *ctx, int batch, int warmup, int reps, FILE *f,
                  char *err);

// `nn train --profile`: what the training loop measured, summed over its epochs.
typedef struct prof_train_totals {
    long steps;
    double seconds;         // wall time of the steps (loader wait, copy, train step, progress)
    double wait_s;          // of which waiting for the loader
} prof_train_totals;

// After training: the per-layer rows from a profiling pass at the training batch size, the
// reference step being the training loop's own mean step; plus "waiting for data" from the
// loader's wait_s, and augmentation timed on `batch` images of the training cache (on the C path
// it runs on `workers` loader threads beside the step, so it is shown outside the sum).
int profile_train_report(model *m, const nn_ctx *ctx, int batch, const image_cache *train,
                         int augment, int workers, const prof_train_totals *t, FILE *f,
                         char *err);

#endif
