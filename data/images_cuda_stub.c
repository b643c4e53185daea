// images_cuda_stub.c: linked instead of images_cuda.cu and augment_cuda.cu when the build has no
// CUDA (as nn/cuda_stub.c is for the engine): no image set can be made, and nothing else here is
// reached without one.
#include "../nn/common.h"
#include "images_cuda.h"

cuda_images *cuda_images_upload(const nn_ctx *ctx, const uint8_t *pixels, const int32_t *labels,
                                int n, int h, int w, char *err) {
    (void)ctx, (void)pixels, (void)labels, (void)n, (void)h, (void)w;
    nn_fail(err, "this nn was built without CUDA (nvcc was not found, or NO_CUDA=1)");
    return NULL;
}

void cuda_images_free(cuda_images *im) { (void)im; }

void cuda_images_shape(const cuda_images *im, int *n, int *h, int *w) {
    (void)im;
    if (n) *n = 0;
    if (h) *h = 0;
    if (w) *w = 0;
}

int cuda_images_source(cuda_images *im, const nn_ctx *ctx, const int32_t *order,
                       const aug_params *aug, int count, cuda_batch_source *src, char *err) {
    (void)im, (void)ctx, (void)order, (void)aug, (void)count, (void)src;
    return nn_fail(err, "this nn was built without CUDA (nvcc was not found, or NO_CUDA=1)");
}

void augment_batch_cuda(const nn_ctx *ctx, const uint8_t *images, const int32_t *lab, int h,
                        int w, const int32_t *order, const aug_params *aug, const int *step,
                        int batch, int n, float *x, float *y) {
    (void)ctx, (void)images, (void)lab, (void)h, (void)w, (void)order, (void)aug, (void)step,
        (void)batch, (void)n, (void)x, (void)y;
}
