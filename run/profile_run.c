// profile_run.c: `nn bench --profile` and `nn train --profile` (profile_run.h): the engine's
// profile of a step with the data pipeline's rows added; for `nn train`, the training loop's own
// step is the reference.
#include "profile_run.h"

#include <string.h>

#include "../data/images_cuda.h"
#include "../nn/common.h"
#include "../nn/rng.h"

// --- counts ---------------------------------------------------------------------------------

// Per output pixel (data/augment.c): the sample position, 6 ops (two affine rows of 2 multiplies
// and 2 adds, less the zero terms) + 2 clamps + 2 fractions = 10; per channel the bilinear blend
// (3 lerps of 3 ops) and the rescale, 10. Reads the uint8 image (1 byte a value), writes floats.
double flops_augment(int n, int h, int w) { return (double)n * h * w * (10 + 3 * 10); }
double bytes_augment(int n, int h, int w) { return (double)n * h * w * 3 * (1 + 4); }

// --- the GPU's augmentation row -------------------------------------------------------------

// profile_cuda with a row for building the batch as a device epoch does: `batch` random images
// (seeded) uploaded as a uint8 set, each with an augmentation drawn as the loader draws them,
// gathered and augmented into the model's batch before each round's step. Without RGB input
// (nothing to augment) the row is left out.
static int profile_gpu(model *m, const nn_ctx *ctx, int batch, int warmup, int reps, profile *p,
                       char *err) {
    if (profile_begin(m, batch, warmup, reps, p, err)) return -1;   // before any allocation
    if (m->input.c != 3) return profile_cuda(m, ctx, batch, warmup, reps, NULL, p, err);
    const int h = m->input.h, w = m->input.w;
    size_t npix = (size_t)batch * h * w * 3;
    uint8_t *px = nn_alloc(npix, "profile: images");
    int32_t *lab = nn_alloc((size_t)batch * sizeof *lab, "profile: image labels");
    int32_t *ord = nn_alloc((size_t)batch * sizeof *ord, "profile: order");
    aug_params *aug = nn_alloc((size_t)batch * sizeof *aug, "profile: augmentation");
    rng r;
    rng_seed(&r, 12345);
    for (size_t i = 0; i < npix; i++) px[i] = (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < batch; i++) lab[i] = (int32_t)rng_below(&r, 2), ord[i] = i, augment_draw(&r, &aug[i]);
    prof_input in = {"augmentation (GPU)", "kernel", flops_augment(batch, h, w),
                     bytes_augment(batch, h, w), {0}};
    cuda_images *im = cuda_images_upload(ctx, px, lab, batch, h, w, err);
    int rc = im ? cuda_images_source(im, ctx, ord, aug, batch, &in.src, err) : -1;
    if (rc == 0) rc = profile_cuda(m, ctx, batch, warmup, reps, &in, p, err);
    cuda_images_free(im);
    nn_free(px), nn_free(lab), nn_free(ord), nn_free(aug);
    return rc;
}

// --- the commands' entry points ----------------------------------------------------------------

int profile_bench(model *m, const nn_ctx *ctx, int batch, int warmup, int reps, FILE *f,
                  char *err) {
    profile *p = nn_calloc(sizeof *p, "profile");
    int rc = ctx->backend == NN_CUDA ? profile_gpu(m, ctx, batch, warmup, reps, p, err)
                                     : profile_cpu(m, ctx, batch, warmup, reps, p, err);
    if (rc == 0) profile_print(p, f);
    nn_free(p);
    return rc;
}

// Milliseconds the loader's work on one batch takes on one thread: augmentation (or the plain
// rescale) of `batch` images of the cache, median of 3.
static double loader_batch_ms(const image_cache *c, int batch, int augment) {
    int k = NN_MIN(batch, c->n);
    size_t img = (size_t)c->h * c->w * 3;
    float *out = nn_alloc((size_t)k * img * sizeof(float), "profile augmentation");
    double t[3];
    rng r;
    rng_seed(&r, 7);
    for (int rep = 0; rep < 3; rep++) {
        double t0 = nn_now();
        for (int i = 0; i < k; i++) {
            const uint8_t *src = c->pixels + (size_t)i * img;
            if (augment) {
                aug_params ap;
                augment_draw(&r, &ap);
                augment_apply(src, c->h, c->w, &ap, out + (size_t)i * img);
            } else {
                image_to_float(src, img, out + (size_t)i * img);
            }
        }
        t[rep] = (nn_now() - t0) * 1e3 * batch / k;
    }
    nn_free(out);
    return profile_median(t, 3);
}

int profile_train_report(model *m, const nn_ctx *ctx, int batch, const image_cache *train,
                         int augment, int workers, const prof_train_totals *t, FILE *f,
                         char *err) {
    if (!t->steps) return nn_fail(err, "--profile: no training step was run");
    profile *p = nn_calloc(sizeof *p, "profile");
    int gpu = ctx->backend == NN_CUDA;
    int rc = gpu ? profile_gpu(m, ctx, batch, 5, 50, p, err)
                 : profile_cpu(m, ctx, batch, 1, 5, p, err);
    if (rc) {
        nn_free(p);
        return rc;
    }
    // The reference becomes the training loop's own step; the pass's step is shown below it.
    p->step2_ms = p->step_ms;
    snprintf(p->step2_what, sizeof p->step2_what, "%s", p->step_what);
    p->step_ms = t->seconds / t->steps * 1e3;
    snprintf(p->step_what, sizeof p->step_what,
             "nn train's step in this run (loader, step, progress), mean of %ld", t->steps);
    int w = profile_row(p, "waiting for data", "loader", 0, 0, 1);
    p->rows[w].ms = t->wait_s / t->steps * 1e3;
    workers = NN_MAX(workers, 1);
    char pass[32];
    snprintf(pass, sizeof pass, "loader, %d thread%s", workers, workers > 1 ? "s" : "");
    int h = train->h, wd = train->w;
    int a = profile_row(p, augment ? "augmentation (C)" : "rescale 1/255 (C)", pass,
                        augment ? flops_augment(batch, h, wd) : (double)batch * h * wd * 3,
                        augment ? bytes_augment(batch, h, wd) : (double)batch * h * wd * 3 * 5, 0);
    p->rows[a].ms = loader_batch_ms(train, batch, augment) / workers;
    double rest = p->step_ms - profile_sum_ms(p);
    size_t len = strlen(p->note);
    snprintf(p->note + len, sizeof p->note - len,
             "\nThe layer rows come from a profiling pass after training; waiting for data is "
             "what the loop waited in training.\nThe loader's rows run on its threads while the "
             "model trains (one batch's work over the threads).\nRest of the loop's step (batch "
             "copy, progress bar, differences between training and the pass): %.3f ms.", rest);
    profile_print(p, f);
    nn_free(p);
    return 0;
}
