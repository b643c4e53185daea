// maxpool2d_cuda.cu: max pooling on the device, any window, stride and padding.
// Forward: one thread per output element (oh, ow, c) of a sample (grid y), c fastest so a warp
// reads and writes consecutive channels (coalesced); 32-bit indices divided by fastdiv. It keeps the input index of the max (first one on ties, as
// the C path) in aux for the backward pass.
// Backward: one thread per INPUT element gathers the gradients of the outputs whose window
// chose it, so overlapping windows need no atomics and the result is deterministic.
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"
#include "pool_geom.cuh"

__global__ void maxpool_fwd(pool_geom g, int n, const float *__restrict__ x, float *__restrict__ y,
                            int32_t *__restrict__ aux, int relu) {
    const int per = g.OH * g.OW * g.C, b = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        hwc e = hwc_of(i, g.dOW, g.dC);
        int c = e.c, ow = e.w, oh = e.h;
        const float *xb = x + (size_t)b * g.H * g.W * g.C;
        const size_t o = (size_t)b * per + i;
        float m = -INFINITY;
        int arg = -1;
        for (int kh = 0; kh < g.KH; kh++) {
            int ih = oh * g.SH - g.PT + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                int iw = ow * g.SW - g.PL + kw;
                if (iw < 0 || iw >= g.W) continue;
                int idx = (ih * g.W + iw) * g.C + c;
                float v = xb[idx];
                if (arg < 0 || v > m || v != v) m = v, arg = idx;   // NaN wins, as the C path
            }
        }
        y[o] = m;
        // relu: the ReLU's gradient at the max is (m > 0); no position, no gradient
        if (aux) aux[o] = relu && !(m > 0.0f) ? -1 : arg;
    }
}

__global__ void maxpool_bwd(pool_geom g, int n, const float *__restrict__ dy,
                            float *__restrict__ dx, const int32_t *__restrict__ aux) {
    const int per = g.H * g.W * g.C, b = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        hwc e = hwc_of(i, g.dW, g.dC);
        int c = e.c, iw = e.w, ih = e.h;
        int me = i;
        const pool_span sp = pool_span_of(g, ih, iw);
        float s = 0.0f;
        for (int oh = sp.oh_lo; oh <= sp.oh_hi; oh++)
            for (int ow = sp.ow_lo; ow <= sp.ow_hi; ow++) {
                size_t o = (((size_t)b * g.OH + oh) * g.OW + ow) * g.C + c;
                const float d = __ldg(&dy[o]);   // loaded beside aux, not after it
                if (__ldg(&aux[o]) == me) s += d;
            }
        dx[(size_t)b * per + i] = s;
    }
}

extern "C" void maxpool2d_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                                       float *y, int32_t *aux, int relu) {
    pool_geom g = pgeom(l);
    size_t total = (size_t)n * g.OH * g.OW * g.C;
    if (!total) return;
    maxpool_fwd<<<pool_grid(n, total / n), 256, 0, ctx_stream(ctx)>>>(g, n, x, y, aux, relu);
    CUDA_CHECK_LAUNCH();
}

extern "C" void maxpool2d_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *dy,
                                        float *dx, const int32_t *aux) {
    pool_geom g = pgeom(l);
    size_t total = (size_t)n * g.H * g.W * g.C;
    if (!total) return;
    maxpool_bwd<<<pool_grid(n, total / n), 256, 0, ctx_stream(ctx)>>>(g, n, dy, dx, aux);
    CUDA_CHECK_LAUNCH();
}

// --- the layer's CUDA slots (layers/maxpool2d.c's table entry points here)

static void maxpool2d_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    maxpool2d_forward_cuda(l, ctx, io->n, io->x, io->y, io->aux, 0);
}
static void maxpool2d_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    if (io->dx) maxpool2d_backward_cuda(l, ctx, io->n, io->dy, io->dx, io->aux);
}
extern "C" const layer_impl maxpool2d_cuda = {NULL, maxpool2d_cuda_fwd, maxpool2d_cuda_bwd};
