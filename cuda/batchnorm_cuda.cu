// batchnorm_cuda.cu: batch normalisation on the device, the formulas of layers/batchnorm.c.
// The batch (n, H, W, C) is M = n*H*W rows of C channels (a dense layer's output: n rows).
//
// Training forward, three kernels:
//  - bn_partials: G blocks, each over a contiguous chunk of rows, add per channel the values and
//    their squares in double. Within a block thread t always meets channel t % C (the block
//    reads (256 / C) rows at a time, one coalesced run of floats), keeps its own sums, and the
//    block adds its threads' sums per channel in a fixed order into its partial (G, 2, C).
//    G = rows * C / 4096 up to 1024 blocks: the 256 x 64 x 64 x 32 batch of the first conv is
//    spread over the whole GPU, and G depends on the shape only.
//  - bn_stats_final: a warp per channel adds the G partials (lanes stride them, a fixed xor
//    tree), and lane 0 derives mean, variance, 1/sqrt(var + epsilon) (kept in aux for backward),
//    the affine factors (into ws) and the moving statistics' update (in the weight arena).
//  - bn_apply: y = x * inv + shift, each thread on fixed channels (4 at a time with float4 when
//    C % 4 == 0), so no index is ever divided by C inside the loop.
// Inference is bn_apply alone: each thread derives its channels' factors from the moving
// statistics itself. Backward: bn_partials on (dy, x) gives sum dy and sum dy * xhat, a warp
// per channel finishes them (bn_grad_final: the gamma and beta gradients, zeros for the moving
// statistics, backward's per-channel factors), and bn_dx writes dx.
//
// Deterministic: no atomics, every sum in a fixed order for a given shape. The float arithmetic
// after the sums uses _rn intrinsics in the C path's order (no contraction into FMA), so with the
// same statistics both paths give the same bits; the statistics differ only by the order of the
// double sums.
#include <math.h>

#include "cuda_common.h"
#include "kernels.h"
#include "pool_geom.cuh"

extern "C" {
#include "../nn/adam.h"
}

#define BN_THREADS 256
#define BN_ELEMS_PER_BLOCK 4096
#define BN_MAX_BLOCKS 1024

static size_t bn_rows(const layer *l, int n) { return (size_t)n * l->in.h * l->in.w; }

// Blocks of the partial sums and the rows each covers.
static void bn_grid(const layer *l, int n, int *G, size_t *chunk) {
    const size_t rows = bn_rows(l, n), C = (size_t)l->in.c;
    size_t g = (rows * C + BN_ELEMS_PER_BLOCK - 1) / BN_ELEMS_PER_BLOCK;
    g = NN_MAX((size_t)1, NN_MIN(g, NN_MIN((size_t)BN_MAX_BLOCKS, rows)));
    *chunk = (rows + g - 1) / g;
    *G = (int)((rows + *chunk - 1) / *chunk);
}

// ws: the partials (G, 2, C) doubles, then 3C floats of per-channel factors.
static size_t bn_ws_floats(const layer *l, const nn_ctx *ctx, int n) {
    (void)ctx;
    int G;
    size_t chunk;
    bn_grid(l, n, &G, &chunk);
    return (size_t)G * 2 * l->in.c * 2 + 3 * (size_t)l->in.c;
}

// --- kernels

// part[blk] = per channel: sum a, and sum a*a (b NULL) or sum a * ((b - centre) * scl).
__global__ void bn_partials(size_t rows, int C, size_t chunk, const float *__restrict__ a,
                            const float *__restrict__ b, const float *__restrict__ centre,
                            const float *__restrict__ scl, double *__restrict__ part) {
    __shared__ double sh0[BN_THREADS], sh1[BN_THREADS];
    const int t = threadIdx.x;
    const size_t r_begin = (size_t)blockIdx.x * chunk, r_end = min(rows, r_begin + chunk);
    double *p = part + (size_t)blockIdx.x * 2 * C;
    if (C > BN_THREADS) {   // wide rows: thread t takes channels t, t + 256, ...
        for (int c = t; c < C; c += BN_THREADS) {
            double s0 = 0, s1 = 0;
            const float cen = b ? centre[c] : 0.0f, sc = b ? scl[c] : 0.0f;
            for (size_t r = r_begin; r < r_end; r++) {
                float v = a[r * C + c];
                s0 += v;
                s1 += b ? (double)v * (double)__fmul_rn(__fsub_rn(b[r * C + c], cen), sc) : (double)v * v;
            }
            p[c] = s0, p[C + c] = s1;
        }
        return;
    }
    const int R = BN_THREADS / C, T = R * C;
    double s0 = 0, s1 = 0;
    if (t < T) {
        const int c = t % C;
        const float cen = b ? centre[c] : 0.0f, sc = b ? scl[c] : 0.0f;
        size_t r = r_begin + t / C;
        const size_t step = (size_t)R * C;
        const float *ap = a + r * C + c, *bp = b ? b + r * C + c : NULL;
        // four rows R apart in flight, added in row order
        for (; r + 3 * (size_t)R < r_end; r += 4 * (size_t)R, ap += 4 * step, bp = bp ? bp + 4 * step : NULL) {
            float v0 = ap[0], v1 = ap[step], v2 = ap[2 * step], v3 = ap[3 * step];
            if (bp) {
                float w0 = bp[0], w1 = bp[step], w2 = bp[2 * step], w3 = bp[3 * step];
                s1 += (double)v0 * (double)__fmul_rn(__fsub_rn(w0, cen), sc);
                s1 += (double)v1 * (double)__fmul_rn(__fsub_rn(w1, cen), sc);
                s1 += (double)v2 * (double)__fmul_rn(__fsub_rn(w2, cen), sc);
                s1 += (double)v3 * (double)__fmul_rn(__fsub_rn(w3, cen), sc);
            } else {
                s1 += (double)v0 * v0;
                s1 += (double)v1 * v1;
                s1 += (double)v2 * v2;
                s1 += (double)v3 * v3;
            }
            s0 += v0;
            s0 += v1;
            s0 += v2;
            s0 += v3;
        }
        for (; r < r_end; r += R, ap += step, bp = bp ? bp + step : NULL) {
            float v = ap[0];
            s0 += v;
            s1 += bp ? (double)v * (double)__fmul_rn(__fsub_rn(bp[0], cen), sc) : (double)v * v;
        }
    }
    sh0[t] = s0, sh1[t] = s1;
    __syncthreads();
    if (t < C) {
        double q0 = 0, q1 = 0;
        for (int j = 0; j < R; j++) q0 += sh0[j * C + t], q1 += sh1[j * C + t];
        p[t] = q0, p[C + t] = q1;
    }
}

// A warp's sums of the G partials of channel c (valid in lane 0).
__device__ __forceinline__ void warp_total(const double *part, int G, int C, int c, double &s0, double &s1) {
    const int lane = threadIdx.x & 31;
    s0 = 0, s1 = 0;
    for (int j = lane; j < G; j += 32) s0 += part[(size_t)j * 2 * C + c], s1 += part[(size_t)j * 2 * C + C + c];
    for (int o = 16; o > 0; o >>= 1) {
        s0 += __shfl_xor_sync(0xffffffffu, s0, o);
        s1 += __shfl_xor_sync(0xffffffffu, s1, o);
    }
}

// Training forward: statistics, kept values, factors, moving statistics (w: gamma, beta,
// moving_mean, moving_variance, C each).
__global__ void bn_stats_final(int G, int C, size_t rows, const double *__restrict__ part, float *w,
                               float eps, float mom, float om, float *__restrict__ keep,
                               float *__restrict__ inv, float *__restrict__ shift) {
    const int c = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (c >= C) return;
    double s0, s1;
    warp_total(part, G, C, c, s0, s1);
    if ((threadIdx.x & 31) != 0) return;
    const double mean = s0 / (double)rows, var = s1 / (double)rows - mean * mean;
    const float m = (float)mean, v = (float)(var > 0 ? var : 0);
    const float is = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(v, eps)));
    const float k = __fmul_rn(is, w[c]);
    inv[c] = k;
    shift[c] = __fsub_rn(w[C + c], __fmul_rn(m, k));
    keep[c] = m, keep[C + c] = is;
    w[2 * C + c] = __fadd_rn(__fmul_rn(w[2 * C + c], mom), __fmul_rn(m, om));
    w[3 * C + c] = __fadd_rn(__fmul_rn(w[3 * C + c], mom), __fmul_rn(v, om));
}

// Backward's sums: the gradients of gamma and beta (zeros for the moving statistics), and the
// factors of dx: k = gamma * is, db = sum dy / M, dg = sum dy xhat / M.
__global__ void bn_grad_final(int G, int C, size_t rows, const double *__restrict__ part,
                              const float *__restrict__ w, const float *__restrict__ keep,
                              float *__restrict__ dw, float *__restrict__ f) {
    const int c = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (c >= C) return;
    double s0, s1;
    warp_total(part, G, C, c, s0, s1);
    if ((threadIdx.x & 31) != 0) return;
    dw[c] = (float)s1, dw[C + c] = (float)s0, dw[2 * C + c] = 0.0f, dw[3 * C + c] = 0.0f;
    f[c] = __fmul_rn(w[c], keep[C + c]);
    f[C + c] = (float)(s0 / (double)rows);
    f[2 * C + c] = (float)(s1 / (double)rows);
}

// Channel factors of lane l (V channels from l*V): the affine map y = x * k + s.
template <int V>
__device__ __forceinline__ void bn_factors(int l, int C, const float *inv, const float *shift,
                                           const float *w, float eps, float *k, float *s) {
#pragma unroll
    for (int j = 0; j < V; j++) {
        const int c = l * V + j;
        if (inv) {
            k[j] = inv[c], s[j] = shift[c];
        } else {   // inference: the moving statistics
            const float is = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(w[3 * C + c], eps)));
            k[j] = __fmul_rn(is, w[c]);
            s[j] = __fsub_rn(w[C + c], __fmul_rn(w[2 * C + c], k[j]));
        }
    }
}

// y = x * k + s per channel; lanes = C / V vectors a row. inv NULL: factors from w (inference).
template <int V>
__global__ void bn_apply(size_t rows, int C, const float *__restrict__ x, float *__restrict__ y,
                         const float *__restrict__ inv, const float *__restrict__ shift,
                         const float *__restrict__ w, float eps) {
    typedef typename vec_t<V>::t vt;
    const int lanes = C / V, t = threadIdx.x;
    const vt *xv = reinterpret_cast<const vt *>(x);
    vt *yv = reinterpret_cast<vt *>(y);
    if (lanes > (int)blockDim.x) {   // wide rows: a block a row
        for (size_t r = blockIdx.x; r < rows; r += gridDim.x)
            for (int l = t; l < lanes; l += blockDim.x) {
                float k[V], s[V];
                bn_factors<V>(l, C, inv, shift, w, eps, k, s);
                vt v = xv[r * lanes + l];
#pragma unroll
                for (int j = 0; j < V; j++) el(v)[j] = __fadd_rn(__fmul_rn(el(v)[j], k[j]), s[j]);
                yv[r * lanes + l] = v;
            }
        return;
    }
    const int R = blockDim.x / lanes;
    if (t >= R * lanes) return;
    const int l = t % lanes;
    float k[V], s[V];
    bn_factors<V>(l, C, inv, shift, w, eps, k, s);
    for (size_t r = (size_t)blockIdx.x * R + t / lanes; r < rows; r += (size_t)gridDim.x * R) {
        vt v = xv[r * lanes + l];
#pragma unroll
        for (int j = 0; j < V; j++) el(v)[j] = __fadd_rn(__fmul_rn(el(v)[j], k[j]), s[j]);
        yv[r * lanes + l] = v;
    }
}

// dx = k * (dy - db - xhat * dg), xhat = (x - mean) * is; f = (k, db, dg), keep = (mean, is).
template <int V>
__global__ void bn_dx(size_t rows, int C, const float *__restrict__ x, const float *__restrict__ dy,
                      float *__restrict__ dx, const float *__restrict__ keep, const float *__restrict__ f) {
    typedef typename vec_t<V>::t vt;
    const int lanes = C / V, t = threadIdx.x;
    const vt *xv = reinterpret_cast<const vt *>(x), *dyv = reinterpret_cast<const vt *>(dy);
    vt *dxv = reinterpret_cast<vt *>(dx);
    const int R = lanes > (int)blockDim.x ? 1 : blockDim.x / lanes;
    const int l0 = lanes > (int)blockDim.x ? t : t % lanes, lstep = lanes > (int)blockDim.x ? blockDim.x : lanes;
    if (lanes <= (int)blockDim.x && t >= R * lanes) return;
    for (int l = l0; l < lanes; l += lstep) {
        float mean[V], is[V], k[V], db[V], dg[V];
#pragma unroll
        for (int j = 0; j < V; j++) {
            const int c = l * V + j;
            mean[j] = keep[c], is[j] = keep[C + c], k[j] = f[c], db[j] = f[C + c], dg[j] = f[2 * C + c];
        }
        for (size_t r = (size_t)blockIdx.x * R + (lanes > (int)blockDim.x ? 0 : t / lanes); r < rows;
             r += (size_t)gridDim.x * R) {
            vt xa = xv[r * lanes + l], ga = dyv[r * lanes + l], o;
#pragma unroll
            for (int j = 0; j < V; j++) {
                const float xh = __fmul_rn(__fsub_rn(el(xa)[j], mean[j]), is[j]);
                el(o)[j] = __fmul_rn(k[j], __fsub_rn(__fsub_rn(el(ga)[j], db[j]), __fmul_rn(xh, dg[j])));
            }
            dxv[r * lanes + l] = o;
        }
    }
}

// --- launches

static unsigned row_blocks(const nn_ctx *ctx, size_t rows, int lanes) {
    const size_t per = lanes > BN_THREADS ? 1 : (size_t)(BN_THREADS / lanes);
    const size_t sms = ctx && ctx->cuda ? ctx->cuda->sm_count : 132;
    return (unsigned)NN_MAX((size_t)1, NN_MIN((rows + per - 1) / per, sms * 8));
}

static int vec4_ok(int C, const void *a, const void *b, const void *c) {
    return C % 4 == 0 && !(((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 15);
}

static void launch_apply(const nn_ctx *ctx, size_t rows, int C, const float *x, float *y,
                         const float *inv, const float *shift, const float *w, float eps) {
    cudaStream_t s = ctx_stream(ctx);
    if (vec4_ok(C, x, y, x))
        bn_apply<4><<<row_blocks(ctx, rows, C / 4), BN_THREADS, 0, s>>>(rows, C, x, y, inv, shift, w, eps);
    else
        bn_apply<1><<<row_blocks(ctx, rows, C), BN_THREADS, 0, s>>>(rows, C, x, y, inv, shift, w, eps);
    CUDA_CHECK_LAUNCH();
}

static void bn_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    const int C = l->in.c;
    const size_t rows = bn_rows(l, io->n);
    if (!rows || !C) return;
    cudaStream_t s = ctx_stream(ctx);
    if (!io->training) {
        launch_apply(ctx, rows, C, io->x, io->y, NULL, NULL, io->w, l->epsilon);
        return;
    }
    if (io->ws_floats < bn_ws_floats(l, ctx, io->n) || !io->aux)
        NN_DIE("batchnorm (CUDA): %zu floats of scratch and aux %p, needs %zu and aux", io->ws_floats,
               (void *)io->aux, bn_ws_floats(l, ctx, io->n));
    int G;
    size_t chunk;
    bn_grid(l, io->n, &G, &chunk);
    double *part = (double *)io->ws;
    float *inv = io->ws + (size_t)G * 2 * C * 2, *shift = inv + C;
    bn_partials<<<G, BN_THREADS, 0, s>>>(rows, C, chunk, io->x, NULL, NULL, NULL, part);
    CUDA_CHECK_LAUNCH();
    // The moving statistics are this layer's own fixed tensors (layers/batchnorm.c).
    bn_stats_final<<<cdiv(C, BN_THREADS / 32), BN_THREADS, 0, s>>>(
        G, C, rows, part, (float *)io->w, l->epsilon, l->momentum, adam_one_minus(l->momentum),
        (float *)io->aux, inv, shift);
    CUDA_CHECK_LAUNCH();
    launch_apply(ctx, rows, C, io->x, io->y, inv, shift, NULL, 0.0f);
}

static void bn_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    const int C = l->in.c;
    const size_t rows = bn_rows(l, io->n);
    if (!rows || !C) return;
    cudaStream_t s = ctx_stream(ctx);
    if (io->ws_floats < bn_ws_floats(l, ctx, io->n) || !io->aux)
        NN_DIE("batchnorm (CUDA): %zu floats of scratch and aux %p, needs %zu and aux", io->ws_floats,
               (void *)io->aux, bn_ws_floats(l, ctx, io->n));
    int G;
    size_t chunk;
    bn_grid(l, io->n, &G, &chunk);
    double *part = (double *)io->ws;
    float *f = io->ws + (size_t)G * 2 * C * 2;
    const float *keep = (const float *)io->aux;
    bn_partials<<<G, BN_THREADS, 0, s>>>(rows, C, chunk, io->dy, io->x, keep, keep + C, part);
    CUDA_CHECK_LAUNCH();
    bn_grad_final<<<cdiv(C, BN_THREADS / 32), BN_THREADS, 0, s>>>(G, C, rows, part, io->w, keep, io->dw, f);
    CUDA_CHECK_LAUNCH();
    if (!io->dx) return;
    if (vec4_ok(C, io->x, io->dy, io->dx))
        bn_dx<4><<<row_blocks(ctx, rows, C / 4), BN_THREADS, 0, s>>>(rows, C, io->x, io->dy, io->dx, keep, f);
    else
        bn_dx<1><<<row_blocks(ctx, rows, C), BN_THREADS, 0, s>>>(rows, C, io->x, io->dy, io->dx, keep, f);
    CUDA_CHECK_LAUNCH();
}

// --- batchnorm then max pooling, fused (the GPU plan's node; kernels.h says what it computes)
//
// Forward: the statistics as bn_cuda_fwd (bn_partials, bn_stats_final), then one pass over the
// windows: each window's values go through the affine map as bn_apply would (the same _rn
// arithmetic) and the max is taken on the mapped values with maxpool_fwd's rule (first on ties,
// NaN wins): the normalised tensor is never stored. Kept for backward (aux): the batch's mean
// and 1/std, and for each pooled output the position of its max (int32, the sample's element
// index as maxpool_fwd keeps it) and the batchnorm input there (xsel).
// Backward: the normalised tensor's gradient is the pooled one scattered to the positions, so
// its two per-channel sums (sum dy, sum dy * xhat) are sums over the pooled outputs: bn_partials
// over (dy_pooled, xsel), then bn_grad_final (dividing by the full count of rows); then one pass
// over the input gathers each element's pooled gradient (maxpool_bwd's gather) and writes dx as
// bn_dx does. The full-size gradient of the normalised tensor is never stored either.

static size_t bnpool_rows(const layer *pool, int n) { return (size_t)n * pool->out.h * pool->out.w; }

extern "C" int batchnorm_pool_fusable(const layer *bn, const layer *pool) {
    return bn->kind == LAYER_BATCHNORM && pool->kind == LAYER_MAXPOOL2D && !bn->in.flat &&
           bn->in.c == pool->in.c && bn->in.h == pool->in.h && bn->in.w == pool->in.w;
}

// aux: mean and 1/std (2C floats), then xsel (rows x C floats), then the positions (int32).
extern "C" size_t batchnorm_pool_aux_bytes(const layer *bn, const layer *pool, int n) {
    return (2 * (size_t)bn->in.c + 2 * bnpool_rows(pool, n) * pool->out.c) * 4;
}

// The statistics' partials over the input (forward) or over the pooled outputs (backward).
extern "C" size_t batchnorm_pool_ws_floats(const layer *bn, const layer *pool, const nn_ctx *ctx, int n) {
    layer flat = *bn;   // the pooled outputs as a batchnorm input, for bn_grid's sizes
    flat.in.h = pool->out.h, flat.in.w = pool->out.w;
    return NN_MAX(bn_ws_floats(bn, ctx, n), bn_ws_floats(&flat, ctx, n));
}

// V channels a thread (4 when C and the arrays allow, as maxpool2d_cuda.cu's kernels): g in
// units of V channels (g.C = C / V), positions kept as scalar indices (ih * W + iw) * C + c.
template <int V>
__global__ void bnpool_fwd(pool_geom g, int C, const float *__restrict__ x, float *__restrict__ y,
                           const float *__restrict__ inv, const float *__restrict__ shift,
                           const float *__restrict__ w, float eps, float *__restrict__ xsel,
                           int32_t *__restrict__ pos) {
    typedef typename vec_t<V>::t vt;
    typedef typename vec_t<V>::i vi;
    const int per = g.OH * g.OW * g.C, b = blockIdx.y;
    const vt *xb = reinterpret_cast<const vt *>(x) + (size_t)b * g.H * g.W * g.C;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        const hwc e = hwc_of(i, g.dOW, g.dC);
        float k[V], s[V];
        bn_factors<V>(e.c, C, inv, shift, w, eps, k, s);
        vt m, at;
        vi arg;
#pragma unroll
        for (int j = 0; j < V; j++) el(m)[j] = -INFINITY, el(at)[j] = 0.0f, el(arg)[j] = -1;
        for (int kh = 0; kh < g.KH; kh++) {
            const int ih = e.h * g.SH - g.PT + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                const int iw = e.w * g.SW - g.PL + kw;
                if (iw < 0 || iw >= g.W) continue;
                const int idx = (ih * g.W + iw) * g.C + e.c;
                vt xv = __ldg(xb + idx);
#pragma unroll
                for (int j = 0; j < V; j++) {
                    const float v = __fadd_rn(__fmul_rn(el(xv)[j], k[j]), s[j]);
                    if (el(arg)[j] < 0 || v > el(m)[j] || v != v)
                        el(m)[j] = v, el(arg)[j] = idx * V + j, el(at)[j] = el(xv)[j];
                }
            }
        }
        const size_t o = (size_t)b * per + i;
        reinterpret_cast<vt *>(y)[o] = m;
        if (pos) reinterpret_cast<vi *>(pos)[o] = arg, reinterpret_cast<vt *>(xsel)[o] = at;
    }
}

// dx of the batchnorm input from the pooled gradient dy: f = (k, db, dg), keep = (mean, is);
// relu: times (x > 0), the gradient of the ReLU below, whose own pass over dx then goes.
template <int V>
__global__ void bnpool_dx(pool_geom g, int C, const float *__restrict__ x, const float *__restrict__ dy,
                          const int32_t *__restrict__ pos, float *__restrict__ dx,
                          const float *__restrict__ keep, const float *__restrict__ f, int relu) {
    typedef typename vec_t<V>::t vt;
    typedef typename vec_t<V>::i vi;
    const int per = g.H * g.W * g.C, b = blockIdx.y;
    const vt *dyv = reinterpret_cast<const vt *>(dy);
    const vi *posv = reinterpret_cast<const vi *>(pos);
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < per; i += gridDim.x * blockDim.x) {
        const hwc e = hwc_of(i, g.dW, g.dC);
        const pool_span sp = pool_span_of(g, e.h, e.w);
        vt gsum;
#pragma unroll
        for (int j = 0; j < V; j++) el(gsum)[j] = 0.0f;
        for (int oh = sp.oh_lo; oh <= sp.oh_hi; oh++)
            for (int ow = sp.ow_lo; ow <= sp.ow_hi; ow++) {
                const size_t o = (((size_t)b * g.OH + oh) * g.OW + ow) * g.C + e.c;
                vt d = __ldg(&dyv[o]);
                vi p = __ldg(&posv[o]);
#pragma unroll
                for (int j = 0; j < V; j++)
                    if (el(p)[j] == i * V + j) el(gsum)[j] += el(d)[j];
            }
        const size_t at = (size_t)b * per + i;
        vt xv = __ldg(reinterpret_cast<const vt *>(x) + at), out;
#pragma unroll
        for (int j = 0; j < V; j++) {
            const int c = e.c * V + j;
            const float xh = __fmul_rn(__fsub_rn(el(xv)[j], keep[c]), keep[C + c]);
            const float d = __fmul_rn(f[c], __fsub_rn(__fsub_rn(el(gsum)[j], f[C + c]), __fmul_rn(xh, f[2 * C + c])));
            el(out)[j] = relu && !(el(xv)[j] > 0.0f) ? 0.0f : d;
        }
        reinterpret_cast<vt *>(dx)[at] = out;
    }
}

// 4 channels a thread when C allows and every array is 16-byte aligned; g in those units.
static int bnpool_vec4(int C, const void *a, const void *b, const void *c, const void *d) {
    return C % 4 == 0 && (((uintptr_t)a | (uintptr_t)b | (uintptr_t)c | (uintptr_t)d) & 15) == 0;
}

extern "C" void batchnorm_pool_forward_cuda(const layer *bn, const layer *pool, const nn_ctx *ctx,
                                            int n, const float *x, float *w, float *y, void *aux,
                                            int training, float *ws, size_t ws_floats) {
    const int C = bn->in.c;
    const size_t rows = bn_rows(bn, n), prow = bnpool_rows(pool, n);
    if (!rows || !C || !prow) return;
    cudaStream_t s = ctx_stream(ctx);
    const pool_geom g = pgeom(pool);
    float *keep = (float *)aux, *xsel = keep + 2 * C;
    int32_t *pos = (int32_t *)(xsel + prow * C);
    const int v4 = bnpool_vec4(C, x, y, xsel, pos);
    const dim3 grid = pool_grid(n, prow / n * C / (v4 ? 4 : 1));
    if (!training) {   // the moving statistics; nothing kept
        if (v4) bnpool_fwd<4><<<grid, 256, 0, s>>>(pgeom_vec4(g), C, x, y, NULL, NULL, w, bn->epsilon, NULL, NULL);
        else bnpool_fwd<1><<<grid, 256, 0, s>>>(g, C, x, y, NULL, NULL, w, bn->epsilon, NULL, NULL);
        CUDA_CHECK_LAUNCH();
        return;
    }
    if (ws_floats < batchnorm_pool_ws_floats(bn, pool, ctx, n) || !aux)
        NN_DIE("batchnorm + max-pool (CUDA): %zu floats of scratch and aux %p, needs %zu and aux", ws_floats,
               aux, batchnorm_pool_ws_floats(bn, pool, ctx, n));
    int G;
    size_t chunk;
    bn_grid(bn, n, &G, &chunk);
    double *part = (double *)ws;
    float *inv = ws + (size_t)G * 2 * C * 2, *shift = inv + C;
    bn_partials<<<G, BN_THREADS, 0, s>>>(rows, C, chunk, x, NULL, NULL, NULL, part);
    CUDA_CHECK_LAUNCH();
    bn_stats_final<<<cdiv(C, BN_THREADS / 32), BN_THREADS, 0, s>>>(
        G, C, rows, part, w, bn->epsilon, bn->momentum, adam_one_minus(bn->momentum), keep, inv, shift);
    CUDA_CHECK_LAUNCH();
    if (v4) bnpool_fwd<4><<<grid, 256, 0, s>>>(pgeom_vec4(g), C, x, y, inv, shift, NULL, 0.0f, xsel, pos);
    else bnpool_fwd<1><<<grid, 256, 0, s>>>(g, C, x, y, inv, shift, NULL, 0.0f, xsel, pos);
    CUDA_CHECK_LAUNCH();
}

extern "C" void batchnorm_pool_backward_cuda(const layer *bn, const layer *pool, const nn_ctx *ctx,
                                             int n, const float *x, const float *w, const float *dy,
                                             float *dx, float *dw, const void *aux, int relu,
                                             float *ws, size_t ws_floats) {
    const int C = bn->in.c;
    const size_t rows = bn_rows(bn, n), prow = bnpool_rows(pool, n);
    if (!rows || !C || !prow) return;
    if (ws_floats < batchnorm_pool_ws_floats(bn, pool, ctx, n) || !aux)
        NN_DIE("batchnorm + max-pool (CUDA): %zu floats of scratch and aux %p, needs %zu and aux", ws_floats,
               aux, batchnorm_pool_ws_floats(bn, pool, ctx, n));
    cudaStream_t s = ctx_stream(ctx);
    const float *keep = (const float *)aux, *xsel = keep + 2 * C;
    const int32_t *pos = (const int32_t *)(xsel + prow * C);
    layer flat = *bn;   // the pooled outputs as the rows of the sums
    flat.in.h = pool->out.h, flat.in.w = pool->out.w;
    int G;
    size_t chunk;
    bn_grid(&flat, n, &G, &chunk);
    double *part = (double *)ws;
    float *f = ws + (size_t)G * 2 * C * 2;
    bn_partials<<<G, BN_THREADS, 0, s>>>(prow, C, chunk, dy, xsel, keep, keep + C, part);
    CUDA_CHECK_LAUNCH();
    bn_grad_final<<<cdiv(C, BN_THREADS / 32), BN_THREADS, 0, s>>>(G, C, rows, part, w, keep, dw, f);
    CUDA_CHECK_LAUNCH();
    if (!dx) return;
    const pool_geom g = pgeom(pool);
    if (bnpool_vec4(C, x, dy, pos, dx))
        bnpool_dx<4><<<pool_grid(n, rows / n * C / 4), 256, 0, s>>>(pgeom_vec4(g), C, x, dy, pos, dx, keep, f, relu);
    else
        bnpool_dx<1><<<pool_grid(n, rows / n * C), 256, 0, s>>>(g, C, x, dy, pos, dx, keep, f, relu);
    CUDA_CHECK_LAUNCH();
}

// --- the layer's CUDA slots (layers/batchnorm.c's table entry points here)
extern "C" const layer_impl batchnorm_cuda = {bn_ws_floats, bn_cuda_fwd, bn_cuda_bwd};
