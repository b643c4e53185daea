// profile_run.h: `nn train --profile`, the training loop's figures beside a profile of the
// engine's step (nn/profile.h). It lives above the engine because it times the data pipeline's
// work too (augmentation, waiting for the loader), which the engine does not know.
#ifndef NN_PROFILE_RUN_H
#define NN_PROFILE_RUN_H

#include <stdio.h>

#include "../data/data.h"
#include "../nn/profile.h"

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
