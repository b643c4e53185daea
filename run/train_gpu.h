// train_gpu.h: training and inference from an image set on the GPU (data/images_cuda.h): the
// engine's device epoch (nn/cuda_api.h: cuda_model_train_source) fed by the image set's batch
// source, which gathers, augments (data/augment.c's transform) and rescales every batch on the
// device. run/train.c's device epoch and the CUDA tests use it.
#ifndef NN_TRAIN_GPU_H
#define NN_TRAIN_GPU_H

#include "../data/data.h"
#include "../data/images_cuda.h"
#include "../nn/adam.h"
#include "../nn/ctx.h"
#include "../nn/model.h"

// Trains on images order[0..count) of im in steps of `batch` (the last may be partial): step s
// takes order[s*batch ...], augmented with aug[s*batch ...] (aug NULL: rescale only), and runs
// gather+augment, forward, loss, backward and Adam on one stream, the full-batch steps replayed
// from one captured CUDA graph, with no host synchronisation until the last step. Draw the order
// and aug (augment_draw) on the host exactly as the C loader does, and both paths see the same
// batches. step_loss / step_correct (host, ceil(count/batch) entries each, may be NULL) get each
// step's mean loss and number right: Keras's running means follow from them. m->t advances by
// the number of steps. Returns the number of steps, or -1 with err.
int cuda_model_train_images(model *m, const nn_ctx *ctx, cuda_images *im, const int32_t *order,
                            const aug_params *aug, int count, int batch, const adam_cfg *opt,
                            float *step_loss, int *step_correct, char *err);

// The same for a data-parallel rank: every step's gradient is divided by grad_n (the global
// batch the step is part of) and summed over the ranks (cuda_model_train_source says how); with
// grad_n > 0 and count 0 this rank has no image in the step and still takes part in it.
int cuda_model_train_images_dp(model *m, const nn_ctx *ctx, cuda_images *im,
                               const int32_t *order, const aug_params *aug, int count, int batch,
                               int grad_n, const adam_cfg *opt, float *step_loss,
                               int *step_correct, char *err);

// Logits (count, model outputs; host) of images order[0..count) of im (order NULL: 0, 1, ...),
// not augmented, `batch` at a time. Returns 0, or -1 with err.
int cuda_model_logits_images(model *m, const nn_ctx *ctx, cuda_images *im, const int32_t *order,
                             int count, int batch, float *logits, char *err);

#endif
