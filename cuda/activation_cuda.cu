// activation_cuda.cu: the activation layer on the device, through the engine's elementwise op
// (elementwise_cuda.cu). Backward transforms dy in place (the model passes dx = dy).
#include "cuda_common.h"
#include "kernels.h"

extern "C" {
#include "../nn/elementwise.h"
}

static void activation_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    size_t sz = (size_t)io->n * shape3_size(l->in);
    if (io->act == ACT_RELU) ew_apply_cuda(ctx, EW_RELU, DT_F32, sz, io->x, NULL, io->y);
    else if (io->act == ACT_SIGMOID) ew_apply_cuda(ctx, EW_SIGMOID, DT_F32, sz, io->x, NULL, io->y);
    else if (io->y != io->x)
        CUDA_CHECK(cudaMemcpyAsync(io->y, io->x, sz * sizeof(float), cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
}

static void activation_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    size_t sz = (size_t)io->n * shape3_size(l->in);
    if (io->act == ACT_RELU) ew_apply_cuda(ctx, EW_RELU_GRAD, DT_F32, sz, io->y, io->dy, io->dy);
    else if (io->act == ACT_SIGMOID) ew_apply_cuda(ctx, EW_SIGMOID_GRAD, DT_F32, sz, io->y, io->dy, io->dy);
    if (io->dx && io->dx != io->dy)
        CUDA_CHECK(cudaMemcpyAsync(io->dx, io->dy, sz * sizeof(float), cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
}

extern "C" const layer_impl activation_cuda = {NULL, activation_cuda_fwd, activation_cuda_bwd};
