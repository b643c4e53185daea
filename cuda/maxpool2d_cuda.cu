// maxpool2d_cuda.cu: max pooling on the device, any window, stride and padding.
// Forward: one thread per output element (n, oh, ow, c), c fastest so a warp reads and writes
// consecutive channels (coalesced). It keeps the input index of the max (first one on ties, as
// the C path) in aux for the backward pass.
// Backward: one thread per INPUT element gathers the gradients of the outputs whose window
// chose it, so overlapping windows need no atomics and the result is deterministic.
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"

struct pool_geom { int H, W, C, OH, OW, KH, KW, SH, SW, PT, PL; };

static pool_geom pgeom(const layer *l) {
    pool_geom g = {l->in.h, l->in.w, l->in.c, l->out.h, l->out.w,
                   l->kh, l->kw, l->sh, l->sw, l->pad_top, l->pad_left};
    return g;
}

__global__ void maxpool_fwd(pool_geom g, int n, const float *__restrict__ x, float *__restrict__ y,
                            int32_t *__restrict__ aux) {
    const size_t total = (size_t)n * g.OH * g.OW * g.C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        nhwc e = nhwc_of(i, g.OH, g.OW, g.C);
        int c = e.c, ow = e.w, oh = e.h, b = e.b;
        const float *xb = x + (size_t)b * g.H * g.W * g.C;
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
        y[i] = m;
        if (aux) aux[i] = arg;
    }
}

__global__ void maxpool_bwd(pool_geom g, int n, const float *__restrict__ dy,
                            float *__restrict__ dx, const int32_t *__restrict__ aux) {
    const size_t total = (size_t)n * g.H * g.W * g.C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        nhwc e = nhwc_of(i, g.H, g.W, g.C);
        int c = e.c, iw = e.w, ih = e.h, b = e.b;
        int me = (ih * g.W + iw) * g.C + c;
        // Outputs whose window covers ih: oh*SH - PT <= ih <= oh*SH - PT + KH - 1.
        int t = ih + g.PT, u = iw + g.PL;
        int oh_lo = t - g.KH + 1 > 0 ? (t - g.KH + 1 + g.SH - 1) / g.SH : 0;
        int oh_hi = min(t / g.SH, g.OH - 1);
        int ow_lo = u - g.KW + 1 > 0 ? (u - g.KW + 1 + g.SW - 1) / g.SW : 0;
        int ow_hi = min(u / g.SW, g.OW - 1);
        float s = 0.0f;
        for (int oh = oh_lo; oh <= oh_hi; oh++)
            for (int ow = ow_lo; ow <= ow_hi; ow++) {
                size_t o = (((size_t)b * g.OH + oh) * g.OW + ow) * g.C + c;
                if (aux[o] == me) s += dy[o];
            }
        dx[i] = s;
    }
}

static unsigned grid_for(const nn_ctx *ctx, size_t total) {
    size_t sms = ctx && ctx->cuda ? ctx->cuda->sm_count : 132;
    return (unsigned)NN_MAX((size_t)1, NN_MIN((total + 255) / 256, sms * 32));
}

extern "C" void maxpool2d_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                                       float *y, int32_t *aux) {
    pool_geom g = pgeom(l);
    size_t total = (size_t)n * g.OH * g.OW * g.C;
    if (!total) return;
    maxpool_fwd<<<grid_for(ctx, total), 256, 0, ctx_stream(ctx)>>>(g, n, x, y, aux);
    CUDA_CHECK_LAUNCH();
}

extern "C" void maxpool2d_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *dy,
                                        float *dx, const int32_t *aux) {
    pool_geom g = pgeom(l);
    size_t total = (size_t)n * g.H * g.W * g.C;
    if (!total) return;
    maxpool_bwd<<<grid_for(ctx, total), 256, 0, ctx_stream(ctx)>>>(g, n, dy, dx, aux);
    CUDA_CHECK_LAUNCH();
}

// --- the layer's CUDA slots (layers/maxpool2d.c's table entry points here)

static void maxpool2d_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    maxpool2d_forward_cuda(l, ctx, io->n, io->x, io->y, io->aux);
}
static void maxpool2d_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    if (io->dx) maxpool2d_backward_cuda(l, ctx, io->n, io->dy, io->dx, io->aux);
}
extern "C" const layer_impl maxpool2d_cuda = {NULL, maxpool2d_cuda_fwd, maxpool2d_cuda_bwd};
