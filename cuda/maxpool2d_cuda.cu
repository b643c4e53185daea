// maxpool2d_cuda.cu: max pooling on the device, any window, stride and padding.
// Forward: one thread per output element (oh, ow, c) of a sample (grid y), or per 4 channels of
// one when C allows, c fastest so a warp reads and writes consecutive channels (coalesced);
// 32-bit indices divided by fastdiv. It keeps the input index of the max (first one on ties, as
// the C path) in aux for the backward pass.
// Backward: one thread per INPUT element gathers the gradients of the outputs whose window
// chose it, so overlapping windows need no atomics and the result is deterministic.
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"
#include "pool_geom.cuh"

// V channels a thread (V = 4 when C is a multiple of 4 and the arrays are 16-byte aligned:
// 16-byte loads and stores, a quarter of the index arithmetic). g describes the tensor in units
// of V channels (g.C = C / V); aux holds scalar indices either way, (ih * W + iw) * C + c.
template <int V>
__global__ void maxpool_fwd(pool_geom g, const float *__restrict__ x, float *__restrict__ y,
                            int32_t *__restrict__ aux, int relu) {
    typedef typename vec_t<V>::t vt;
    typedef typename vec_t<V>::i vi;
    const int per = g.OH * g.OW * g.C, b = blockIdx.y;
    const vt *xb = reinterpret_cast<const vt *>(x) + (size_t)b * g.H * g.W * g.C;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        hwc e = hwc_of(i, g.dOW, g.dC);
        const int c = e.c, ow = e.w, oh = e.h;
        const size_t o = (size_t)b * per + i;
        vt m;
        vi arg;
#pragma unroll
        for (int j = 0; j < V; j++) el(m)[j] = -INFINITY, el(arg)[j] = -1;
        for (int kh = 0; kh < g.KH; kh++) {
            int ih = oh * g.SH - g.PT + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                int iw = ow * g.SW - g.PL + kw;
                if (iw < 0 || iw >= g.W) continue;
                const int idx = (ih * g.W + iw) * g.C + c;
                vt v = xb[idx];
#pragma unroll
                for (int j = 0; j < V; j++) {
                    const float f = el(v)[j];   // NaN wins, as the C path; ties keep the first
                    if (el(arg)[j] < 0 || f > el(m)[j] || f != f) el(m)[j] = f, el(arg)[j] = idx * V + j;
                }
            }
        }
        reinterpret_cast<vt *>(y)[o] = m;
        if (!aux) continue;
        // relu: the ReLU's gradient at the max is (m > 0); no position, no gradient
#pragma unroll
        for (int j = 0; j < V; j++)
            if (relu && !(el(m)[j] > 0.0f)) el(arg)[j] = -1;
        reinterpret_cast<vi *>(aux)[o] = arg;
    }
}

template <int V>
__global__ void maxpool_bwd(pool_geom g, const float *__restrict__ dy, float *__restrict__ dx,
                            const int32_t *__restrict__ aux) {
    typedef typename vec_t<V>::t vt;
    typedef typename vec_t<V>::i vi;
    const int per = g.H * g.W * g.C, b = blockIdx.y;
    const vt *dyv = reinterpret_cast<const vt *>(dy);
    const vi *auxv = reinterpret_cast<const vi *>(aux);
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        hwc e = hwc_of(i, g.dW, g.dC);
        const pool_span sp = pool_span_of(g, e.h, e.w);
        vt s;
#pragma unroll
        for (int j = 0; j < V; j++) el(s)[j] = 0.0f;
        for (int oh = sp.oh_lo; oh <= sp.oh_hi; oh++)
            for (int ow = sp.ow_lo; ow <= sp.ow_hi; ow++) {
                const size_t o = (((size_t)b * g.OH + oh) * g.OW + ow) * g.C + e.c;
                vt d = __ldg(&dyv[o]);   // loaded beside aux, not after it
                vi p = __ldg(&auxv[o]);
#pragma unroll
                for (int j = 0; j < V; j++)
                    if (el(p)[j] == i * V + j) el(s)[j] += el(d)[j];
            }
        reinterpret_cast<vt *>(dx)[(size_t)b * per + i] = s;
    }
}

// 4 channels a thread when C allows and every array is 16-byte aligned; g in those units.
// NN_CUDA_POOL_VEC=1 until the 4-channel kernels have run test_cuda_ops on a card (written
// without one); the 1-channel kernels are the ones measured.
static int pool_vec4(const pool_geom &g, const void *a, const void *b, const void *c) {
    static int on = -1;   // read once: a captured graph's kernels must not change under it
    if (on < 0) {
        const char *e = getenv("NN_CUDA_POOL_VEC");
        on = e && e[0] == '1';
    }
    return on && g.C % 4 == 0 && (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 15) == 0;
}

extern "C" void maxpool2d_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                                       float *y, int32_t *aux, int relu) {
    pool_geom g = pgeom(l);
    size_t total = (size_t)n * g.OH * g.OW * g.C;
    if (!total) return;
    if (pool_vec4(g, x, y, aux)) {
        maxpool_fwd<4><<<pool_grid(n, total / n / 4), 256, 0, ctx_stream(ctx)>>>(pgeom_vec4(g), x, y, aux, relu);
    } else {
        maxpool_fwd<1><<<pool_grid(n, total / n), 256, 0, ctx_stream(ctx)>>>(g, x, y, aux, relu);
    }
    CUDA_CHECK_LAUNCH();
}

extern "C" void maxpool2d_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *dy,
                                        float *dx, const int32_t *aux) {
    pool_geom g = pgeom(l);
    size_t total = (size_t)n * g.H * g.W * g.C;
    if (!total) return;
    if (pool_vec4(g, dy, dx, aux)) {
        maxpool_bwd<4><<<pool_grid(n, total / n / 4), 256, 0, ctx_stream(ctx)>>>(pgeom_vec4(g), dy, dx, aux);
    } else {
        maxpool_bwd<1><<<pool_grid(n, total / n), 256, 0, ctx_stream(ctx)>>>(g, dy, dx, aux);
    }
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
