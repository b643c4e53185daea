// dropout_cuda.cu: dropout on the device, the same mask as layers/dropout.c bit for bit: each
// element's keep bit is hr_keep(hr_key(seed, t), index, threshold) (nn/hash_rng.h), computed
// by the same integer code on both sides, so nothing is stored between forward and backward.
//
// Which step t is: the training step is captured once as a CUDA graph and replayed for a whole
// epoch (cuda/train_cuda.cu), so launch arguments are frozen at capture. The kernels read t from
// device memory, t_dev[*step_dev]: step_dev is the model's step counter (cuda_model.step, reset
// to 0 by each call that queues steps and incremented by step_advance_cuda, the graph's last
// node) and t_dev the call's per-step t array (cuda_model.tsteps, m->t + 1 + k for step k,
// uploaded beside Adam's step sizes). Called outside a model (tests), t_dev is NULL and the
// launch argument io->t is used.
//
// One thread per four values (16-byte loads and stores when both buffers are aligned), a
// grid-stride loop; backward is the same kernel on dy (dx may be dy: the walk runs it in place).
#include "cuda_common.h"
#include "kernels.h"
#include "../nn/hash_rng.h"

// off: the index of element 0 in the step's global batch (a data-parallel rank's offset).
__global__ void dropout_kernel(size_t count, size_t off, int vec, const float *x, float *y, uint64_t seed,
                               long long t_arg, const int *step, const int64_t *tarr,
                               uint32_t thr, float scale) {
    const long long t = tarr ? tarr[step ? *step : 0] : t_arg;
    const uint64_t key = hr_key(seed, t);
    const size_t stride = (size_t)gridDim.x * blockDim.x, tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t n4 = vec ? count / 4 : 0;
    for (size_t i = tid; i < n4; i += stride) {
        float4 v = reinterpret_cast<const float4 *>(x)[i];
        const size_t e = off + 4 * i;
        v.x = hr_keep(key, e, thr) ? v.x * scale : 0.0f;
        v.y = hr_keep(key, e + 1, thr) ? v.y * scale : 0.0f;
        v.z = hr_keep(key, e + 2, thr) ? v.z * scale : 0.0f;
        v.w = hr_keep(key, e + 3, thr) ? v.w * scale : 0.0f;
        reinterpret_cast<float4 *>(y)[i] = v;
    }
    for (size_t i = n4 * 4 + tid; i < count; i += stride) y[i] = hr_keep(key, off + i, thr) ? x[i] * scale : 0.0f;
}

static void dropout_apply(const layer *l, const nn_ctx *ctx, const layer_io *io, const float *in, float *out) {
    const size_t count = (size_t)io->n * shape3_size(l->in);
    if (!count) return;
    if (!io->training || l->rate <= 0) {   // the identity (prediction, evaluation)
        if (out != in)
            CUDA_CHECK(cudaMemcpyAsync(out, in, count * sizeof(float), cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
        return;
    }
    const int vec = !(((uintptr_t)in | (uintptr_t)out) & 15);
    size_t sms = ctx && ctx->cuda ? ctx->cuda->sm_count : 132;
    unsigned blocks = (unsigned)NN_MAX((size_t)1, NN_MIN((count / 4 + 255) / 256, sms * 8));
    const size_t off = (size_t)io->sample0 * shape3_size(l->in);
    dropout_kernel<<<blocks, 256, 0, ctx_stream(ctx)>>>(count, off, vec, in, out, io->seed, (long long)io->t,
                                                        io->step_dev, io->t_dev, hr_threshold(l->rate),
                                                        hr_scale(l->rate));
    CUDA_CHECK_LAUNCH();
}

// --- the layer's CUDA slots (layers/dropout.c's table entry points here)

static void dropout_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    dropout_apply(l, ctx, io, io->x, io->y);
}
static void dropout_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    if (io->dx) dropout_apply(l, ctx, io, io->dy, io->dx);
}
extern "C" const layer_impl dropout_cuda = {NULL, dropout_cuda_fwd, dropout_cuda_bwd};
