// train_gpu.c: an image set on the GPU as the engine's batch source (train_gpu.h). The checks
// are made here, before anything is queued; the source uploads the order and augmentation, and
// the engine's device epoch replays its captured step over them.
#include "train_gpu.h"

#include "../nn/common.h"
#include "../nn/cuda_api.h"

// The model must take the set's images as they are (h x w x 3).
static int check_images(const model *m, const cuda_images *im, char *err) {
    int h, w;
    cuda_images_shape(im, NULL, &h, &w);
    if (shape3_size(m->input) != (size_t)h * w * 3)
        return nn_fail(err, "the model takes %dx%dx%d inputs, the images are %dx%dx3", m->input.h,
                       m->input.w, m->input.c, h, w);
    return 0;
}

int cuda_model_train_images_dp(model *m, const nn_ctx *ctx, cuda_images *im,
                               const int32_t *order, const aug_params *aug, int count, int batch,
                               int grad_n, const adam_cfg *opt, float *step_loss,
                               int *step_correct, char *err) {
    // the engine checks the model, batch and divisor; the source needs a count it can upload
    if (count < 0) return nn_fail(err, "count %d is negative", count);
    if (check_images(m, im, err)) return -1;
    cuda_batch_source src;
    if (cuda_images_source(im, ctx, order, aug, count, &src, err)) return -1;
    return cuda_model_train_source(m, ctx, &src, count, batch, grad_n, opt, step_loss,
                                   step_correct, err);
}

int cuda_model_train_images(model *m, const nn_ctx *ctx, cuda_images *im, const int32_t *order,
                            const aug_params *aug, int count, int batch, const adam_cfg *opt,
                            float *step_loss, int *step_correct, char *err) {
    return cuda_model_train_images_dp(m, ctx, im, order, aug, count, batch, 0, opt, step_loss,
                                      step_correct, err);
}

int cuda_model_logits_images(model *m, const nn_ctx *ctx, cuda_images *im, const int32_t *order,
                             int count, int batch, float *logits, char *err) {
    if (batch < 1) return nn_fail(err, "batch %d is not positive", batch);
    if (check_images(m, im, err)) return -1;
    if (count <= 0) return 0;
    int32_t *ord = nn_alloc((size_t)count * sizeof *ord, "image order");
    for (int i = 0; i < count; i++) ord[i] = order ? order[i] : i;
    cuda_batch_source src;
    int rc = cuda_images_source(im, ctx, ord, NULL, count, &src, err);
    if (rc == 0) rc = cuda_model_logits_source(m, ctx, &src, count, batch, logits, err);
    nn_free(ord);
    return rc;
}
