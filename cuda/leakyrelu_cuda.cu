// leakyrelu_cuda.cu: the leakyrelu layer on the device, through activation_cuda.cu's leaky ReLU
// kernels with the layer's slope. Backward transforms dy in place (the model passes dx = dy).
#include "cuda_common.h"
#include "kernels.h"

static void leakyrelu_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    leaky_relu_cuda(ctx, (size_t)io->n * shape3_size(l->in), l->alpha, io->x, io->y);
}

static void leakyrelu_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    leaky_relu_grad_cuda(ctx, (size_t)io->n * shape3_size(l->in), l->alpha, io->y, io->dy,
                         io->dx ? io->dx : io->dy);
}

extern "C" const layer_impl leakyrelu_cuda = {NULL, leakyrelu_cuda_fwd, leakyrelu_cuda_bwd};
