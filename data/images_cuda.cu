// images_cuda.cu: the image set on the GPU and the batch source over it (images_cuda.h). The
// set is uploaded once as uint8; each call of cuda_images_source uploads an order and
// augmentation (a device epoch's, or a part of it) beside it, and the source's fill, which the
// engine may capture into a CUDA graph, reads them at the step its device counter says.
#include "../cuda/cuda_common.h"
#include "images_cuda.h"

struct cuda_images {
    int n, h, w;
    uint8_t *pixels;     // (n, h, w, 3)
    int32_t *labels;     // (n)
    int32_t *order;      // (cap) the source's image indices
    aug_params *aug;     // (cap) the source's augmentation of each of them
    int cap;
    uint64_t key;        // names order and aug's buffers (a graph that read them)
};

// A key no source gave before: a graph captured for an earlier one is never taken for it.
static uint64_t new_key(void) {
    static uint64_t last;
    return __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
}

extern "C" cuda_images *cuda_images_upload(const nn_ctx *ctx, const uint8_t *pixels,
                                           const int32_t *labels, int n, int h, int w, char *err) {
    if (!ctx || ctx->backend != NN_CUDA) {
        nn_fail(err, "cuda_images_upload: not a CUDA context");
        return NULL;
    }
    size_t bytes = (size_t)n * h * w * 3, freeb = 0, total = 0;
    CUDA_CHECK(cudaMemGetInfo(&freeb, &total));
    if (bytes + n * sizeof(int32_t) + (64u << 20) > freeb) {
        nn_fail(err, "the %d images (%zu bytes) do not fit in the GPU's %zu free bytes", n, bytes, freeb);
        return NULL;
    }
    cuda_images *im = (cuda_images *)nn_calloc(sizeof *im, "CUDA images");
    im->n = n, im->h = h, im->w = w;
    im->pixels = (uint8_t *)CUDA_MALLOC(bytes, "image set", -1);
    im->labels = (int32_t *)CUDA_MALLOC(n * sizeof(int32_t), "image labels", -1);
    im->key = new_key();
    cudaStream_t s = ctx_stream(ctx);
    CUDA_CHECK(cudaMemcpyAsync(im->pixels, pixels, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(im->labels, labels, n * sizeof(int32_t), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return im;
}

extern "C" void cuda_images_free(cuda_images *im) {
    if (!im) return;
    CUDA_CHECK(cudaDeviceSynchronize());
    cuda_free(im->pixels);
    cuda_free(im->labels);
    cuda_free(im->order);
    cuda_free(im->aug);
    nn_free(im);
}

extern "C" void cuda_images_shape(const cuda_images *im, int *n, int *h, int *w) {
    if (n) *n = im->n;
    if (h) *h = im->h;
    if (w) *w = im->w;
}

// The source's two fills (augmented or not: a graph captured for one is not the other's).
static void fill_augmented(void *user, const nn_ctx *ctx, const int *step, int batch, int n,
                           float *x, float *y) {
    const cuda_images *im = (const cuda_images *)user;
    augment_batch_cuda(ctx, im->pixels, im->labels, im->h, im->w, im->order, im->aug, step, batch,
                       n, x, y);
}

static void fill_plain(void *user, const nn_ctx *ctx, const int *step, int batch, int n, float *x,
                       float *y) {
    const cuda_images *im = (const cuda_images *)user;
    augment_batch_cuda(ctx, im->pixels, im->labels, im->h, im->w, im->order, NULL, step, batch, n,
                       x, y);
}

extern "C" int cuda_images_source(cuda_images *im, const nn_ctx *ctx, const int32_t *order,
                                  const aug_params *aug, int count, cuda_batch_source *src,
                                  char *err) {
    for (int i = 0; i < count; i++)
        if (order[i] < 0 || order[i] >= im->n)
            return nn_fail(err, "order[%d] = %d is not an image index (0..%d)", i, order[i], im->n - 1);
    if (count > im->cap) {   // new buffers: a graph that read the old ones must not be replayed
        cuda_free(im->order);
        cuda_free(im->aug);
        im->order = (int32_t *)CUDA_MALLOC(count * sizeof(int32_t), "epoch order", -1);
        im->aug = (aug_params *)CUDA_MALLOC(count * sizeof(aug_params), "augmentation", -1);
        im->cap = count;
        im->key = new_key();
    }
    cudaStream_t s = ctx_stream(ctx);
    if (count) CUDA_CHECK(cudaMemcpyAsync(im->order, order, count * sizeof(int32_t), cudaMemcpyHostToDevice, s));
    if (aug && count)
        CUDA_CHECK(cudaMemcpyAsync(im->aug, aug, count * sizeof(aug_params), cudaMemcpyHostToDevice, s));
    src->fill = aug ? fill_augmented : fill_plain;
    src->user = im;
    src->key = im->key;
    return 0;
}
