// avgpool2d_cuda.cu: average pooling on the device, any window, stride and padding; the padded
// cells of 'same' are left out of each mean, as on the C path (layers/avgpool2d.c).
// Forward: one thread per output element (oh, ow, c) of a sample (grid y), c fastest so a warp
// reads and writes consecutive channels; the window is summed rows then columns, as the C path.
// Backward: one thread per INPUT element gathers dy / count of the outputs whose window holds
// it, so overlapping windows need no atomics and the result is deterministic.
#include "cuda_common.h"
#include "kernels.h"
#include "pool_geom.cuh"

// The real pixels under output (oh, ow)'s window: rows [h0, h1), columns [w0, w1).
__device__ __forceinline__ void avg_window(const pool_geom &g, int oh, int ow, int &h0, int &h1,
                                           int &w0, int &w1) {
    const int y0 = oh * g.SH - g.PT, x0 = ow * g.SW - g.PL;
    h0 = max(y0, 0), h1 = min(y0 + g.KH, g.H);
    w0 = max(x0, 0), w1 = min(x0 + g.KW, g.W);
}

__global__ void avgpool_fwd(pool_geom g, const float *__restrict__ x, float *__restrict__ y) {
    const int per = g.OH * g.OW * g.C, b = blockIdx.y;
    const float *xb = x + (size_t)b * g.H * g.W * g.C;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        hwc e = hwc_of(i, g.dOW, g.dC);
        int h0, h1, w0, w1;
        avg_window(g, e.h, e.w, h0, h1, w0, w1);
        float s = 0.0f;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) s += __ldg(&xb[(ih * g.W + iw) * g.C + e.c]);
        y[(size_t)b * per + i] = s * (1.0f / (float)((h1 - h0) * (w1 - w0)));
    }
}

__global__ void avgpool_bwd(pool_geom g, const float *__restrict__ dy, float *__restrict__ dx) {
    const int per = g.H * g.W * g.C, b = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        hwc e = hwc_of(i, g.dW, g.dC);
        const pool_span sp = pool_span_of(g, e.h, e.w);   // the outputs whose window holds it
        float s = 0.0f;
        for (int oh = sp.oh_lo; oh <= sp.oh_hi; oh++)
            for (int ow = sp.ow_lo; ow <= sp.ow_hi; ow++) {
                int h0, h1, w0, w1;
                avg_window(g, oh, ow, h0, h1, w0, w1);
                const float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
                s += __ldg(&dy[(((size_t)b * g.OH + oh) * g.OW + ow) * g.C + e.c]) * inv;
            }
        dx[(size_t)b * per + i] = s;
    }
}

extern "C" void avgpool2d_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x, float *y) {
    pool_geom g = pgeom(l);
    size_t per = (size_t)g.OH * g.OW * g.C;
    if (!n || !per) return;
    avgpool_fwd<<<pool_grid(n, per), 256, 0, ctx_stream(ctx)>>>(g, x, y);
    CUDA_CHECK_LAUNCH();
}

extern "C" void avgpool2d_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *dy, float *dx) {
    pool_geom g = pgeom(l);
    size_t per = (size_t)g.H * g.W * g.C;
    if (!n || !per) return;
    avgpool_bwd<<<pool_grid(n, per), 256, 0, ctx_stream(ctx)>>>(g, dy, dx);
    CUDA_CHECK_LAUNCH();
}

// --- the layer's CUDA slots (layers/avgpool2d.c's table entry points here)

static void avgpool2d_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    avgpool2d_forward_cuda(l, ctx, io->n, io->x, io->y);
}
static void avgpool2d_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    if (io->dx) avgpool2d_backward_cuda(l, ctx, io->n, io->dy, io->dx);
}
extern "C" const layer_impl avgpool2d_cuda = {NULL, avgpool2d_cuda_fwd, avgpool2d_cuda_bwd};
