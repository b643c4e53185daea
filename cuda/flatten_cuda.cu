// flatten_cuda.cu: flatten on the device. The model aliases flatten's output to its input, so
// no pass runs in a model; these copies serve callers that run the layer on its own.
#include "cuda_common.h"
#include "kernels.h"

static void flatten_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    if (io->y != io->x)
        CUDA_CHECK(cudaMemcpyAsync(io->y, io->x, (size_t)io->n * shape3_size(l->in) * sizeof(float),
                                   cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
}
static void flatten_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    if (io->dx && io->dx != io->dy)
        CUDA_CHECK(cudaMemcpyAsync(io->dx, io->dy, (size_t)io->n * shape3_size(l->in) * sizeof(float),
                                   cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
}
extern "C" const layer_impl flatten_cuda = {NULL, flatten_cuda_fwd, flatten_cuda_bwd};
