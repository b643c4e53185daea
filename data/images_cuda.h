// images_cuda.h: the image set on the GPU, the data pipeline's side of a device epoch. A decoded
// image cache is uploaded once as uint8 (images_cuda.cu); a batch source over it (the engine's
// interface, nn/cuda_api.h) gathers each step's images, augments them with augment.c's transform
// (augment_cuda.cu) and rescales them on the device, from an order and augmentation drawn on the
// host exactly as the C loader draws them, so both paths see the same batches. Built without
// CUDA, images_cuda_stub.c says why no set can be made.
#ifndef NN_DATA_IMAGES_CUDA_H
#define NN_DATA_IMAGES_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../nn/ctx.h"
#include "../nn/cuda_api.h"
#include "data.h"

typedef struct cuda_images cuda_images;

// Uploads pixels (n, h, w, 3) and labels (n). Returns NULL with err when it does not fit (the
// message names the bytes asked for and free).
cuda_images *cuda_images_upload(const nn_ctx *ctx, const uint8_t *pixels, const int32_t *labels,
                                int n, int h, int w, char *err);
void cuda_images_free(cuda_images *im);
// The number of images and their height and width.
void cuda_images_shape(const cuda_images *im, int *n, int *h, int *w);

// A batch source over im: sample i of step s is image order[s * batch + i], augmented with
// aug[s * batch + i] (aug NULL: rescale only); its label is the image's. order and aug (count
// entries each, host) are checked and copied to the device on ctx's stream; they stay there
// until the next call for im, which replaces them, so *src serves until then. 0, or -1 with err
// naming the first index that is not an image's.
int cuda_images_source(cuda_images *im, const nn_ctx *ctx, const int32_t *order,
                       const aug_params *aug, int count, cuda_batch_source *src, char *err);

// The kernel behind the source (augment_cuda.cu), on device pointers: builds a batch from a uint8
// image set (count, h, w, 3): sample i is image order[step * batch + i], augmented with
// aug[step * batch + i] (aug NULL: rescale only); x (n, h, w, 3) float, labels y (n) float from
// lab (int32). n <= batch. step (device) may be NULL: 0.
void augment_batch_cuda(const nn_ctx *ctx, const uint8_t *images, const int32_t *lab, int h,
                        int w, const int32_t *order, const aug_params *aug, const int *step,
                        int batch, int n, float *x, float *y);

// The loader's image cache on the GPU (loader.c): uploaded with ctx on first use, kept until
// loader_free. NULL with err when it cannot be (no room on the GPU, no CUDA in this build).
cuda_images *loader_images_cuda(loader *L, const nn_ctx *ctx, char *err);

#ifdef __cplusplus
}
#endif

#endif
