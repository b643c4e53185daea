// conv2d_cuda.cu: 2-D convolution on the device, NHWC input, HWIO kernel, any kernel size,
// stride and padding (implicit GEMM), plus the fused conv + ReLU + 2x2 max-pool that the
// article's network spends most of its time in.
//
// Any layer (the ones the fused path does not take): the three passes are matrix products whose
// operands the SGEMM's tile kernel (sgemm_tile.cuh) gathers straight from the NHWC tensors as it
// loads its tiles (igemm.cuh says how): forward y = col . W with the bias and activation in the
// epilogue; dW = col^T . dz with a row of ones appended for the bias; dx = a gather of dz
// through the kernel's taps. No col buffer is ever written, and no pass uses atomics.
// Fused kernels (conv2d_pool_*, first layer, ReLU, 2x2/2 pool, F = 8/16/32/64 filters): a block
// takes one image and a tile of P = 2048/F pooled positions (8 columns wide; 8x8 for the
// article's F = 32) with all F channels; the input patch under the tile and the whole kernel sit
// in shared memory, so each input value is read from global memory once per tile. The article's
// geometry (3x3x3 -> 32, stride 1) is a template instance with every index a compile-time constant.
// Forward (conv_pool_fwd): 256 threads = P positions x F/8 channel groups; a thread owns one
// pooled position x 8 channels, i.e. the 2x2 window's 4 conv outputs x 8 channels = 32
// accumulators; per kernel tap it reads 4 inputs and two float4s of weights from shared memory
// for 32 FMAs. Only the pooled value (after ReLU: relu(max) == max(relu)) and the window
// position of the max (uint8) are written: the conv-sized output never reaches memory.
// Backward (conv_pool_bwd_dw, weights only: the layer is first): the conv-sized gradient exists
// only in shared memory, one tile at a time (each pooled gradient routed to its max's position,
// gated by ReLU: pooled y > 0). A persistent grid (up to 3 blocks per SM) walks the tiles; a
// thread owns 4 taps x 8 channels of dW (the bias is one more tap whose input is 1) over one
// position group's share of the tile's conv positions (article: 28 such blocks, 9 groups). The
// groups are added in fixed order, each block writes its partial dW, and sum_rows adds the
// blocks in fixed order: deterministic, no atomics. Staging loads (patch, routed gradients) are
// issued up to 8 per thread before any store, so a tile costs one memory round trip.
#include <string.h>

#include "cuda_common.h"
#include "kernels.h"
#include "sgemm_tile.cuh"
#include "igemm_3xtf32.cuh"

// Geometry of a conv layer as plain ints for the kernels.
struct conv_geom {
    int H, W, C;        // input
    int OH, OW, F;      // output (F = filters)
    int KH, KW, SH, SW, PT, PL;
};

static conv_geom geom_of(const layer *l) {
    conv_geom g;
    g.H = l->in.h, g.W = l->in.w, g.C = l->in.c;
    g.OH = l->out.h, g.OW = l->out.w, g.F = l->out.c;
    g.KH = l->kh, g.KW = l->kw, g.SH = l->sh, g.SW = l->sw, g.PT = l->pad_top, g.PL = l->pad_left;
    return g;
}

static int sms_of(const nn_ctx *ctx) { return ctx && ctx->cuda ? ctx->cuda->sm_count : 132; }

// --- any conv: implicit GEMM (igemm.cuh) on the SGEMM's tile kernel (sgemm_tile.cuh)

static igemm_geom igeom_of(const layer *l) {
    igemm_geom g;
    g.H = l->in.h, g.W = l->in.w, g.C = l->in.c;
    g.OH = l->out.h, g.OW = l->out.w, g.F = l->out.c;
    g.KW = l->kw, g.SH = l->sh, g.SW = l->sw, g.PT = l->pad_top, g.PL = l->pad_left;
    g.KK = l->kh * l->kw * l->in.c;
    g.dW = fastdiv_of(g.W), g.dH = fastdiv_of(g.H), g.dC = fastdiv_of(g.C), g.dOW = fastdiv_of(g.OW);
    g.dOH = fastdiv_of(g.OH), g.dF = fastdiv_of(g.F), g.dKW = fastdiv_of(g.KW), g.dSH = fastdiv_of(g.SH);
    g.dSW = fastdiv_of(g.SW);
    return g;
}

// The tile follows N (filters or input channels): 128 x 32 (128 threads of 8x4), 128 x 64 (256
// threads of 8x4) or the dense layer's 128 x 128 (256 threads of 8x8), so a 32-filter layer does
// not fill three quarters of a 128-wide tile with nothing. Split-K when the tiles alone cannot
// fill the device (dW: a few hundred rows of taps, K = every output pixel of the batch): about
// 1024 threads per SM, at least 4 K tiles a slice, and no more slices than the scratch holds.
// NN_IGEMM_TILES=b (an experiment, measured beside the default by bench/gpu_models.sh's
// IGEMM_AB): 8x8 register tiles for forward and dx (256 x 32 and 128 x 64 tiles of 128 threads:
// 16 shared-memory floats read per 64 FMAs instead of 12 per 32), and 64-row tiles for dW,
// whose KK + 1 rows (289 for 32 channels) leave a 128-row tile's third copy three quarters empty,
// and 32-row dW tiles for at most 32 rows (a first conv on RGB: 27 taps + the bias row, which
// the 128-row tile computes four times over).
// NN_IGEMM_TILES=c: b's tiles 16 deep (half the barriers per FMA, twice the shared memory);
// NN_IGEMM_TILES=d: only b's dW tiles.
// NN_IGEMM_TILES=t: the tensor cores with FP32's accuracy (3xTF32 split, igemm_3xtf32.cuh).
struct igemm_plan {
    int bm, bn, bk, tm, tn, threads, splits, kchunk;
    int tc, wm, wn;   // NN_IGEMM_TILES=t: the 3xTF32 tensor-core kernel, warp tile wm x wn
};

static int igemm_tiles(void) {
    static int v = -1;   // read once: the plan of a captured graph must not change under it
    if (v < 0) {
        const char *e = getenv("NN_IGEMM_TILES");
        v = e && (e[0] == 'b' || e[0] == 'c' || e[0] == 'd' || e[0] == 't') ? e[0] : 'a';
    }
    return v;
}

static igemm_plan igemm_plan_of(const nn_ctx *ctx, int mode, int M, int N, int K, size_t ws_floats) {
    igemm_plan p;
    p.bn = N <= 32 ? 32 : N <= 64 ? 64 : 128;
    p.bm = 128, p.bk = 8, p.tm = 8, p.tn = p.bn == 128 ? 8 : 4;
    p.tc = 0, p.wm = p.wn = 0;
    if (igemm_tiles() == 't') {   // warps of 64 x 32 (forward, dx) or 32 x 32 (dW) and narrower
        p.tc = 1, p.bk = 16;
        if (mode == IGEMM_DW) p.bm = M <= 32 ? 32 : 64, p.wm = 32, p.wn = p.bn / 2;
        else p.bm = 128, p.wm = 64, p.wn = p.bn == 128 ? 32 : p.bn / 2;
        p.threads = (p.bm / p.wm) * (p.bn / p.wn) * 32;
    } else if (igemm_tiles() != 'a' && p.bn < 128 && (igemm_tiles() != 'd' || mode == IGEMM_DW)) {
        if (mode == IGEMM_DW) p.bm = M <= 32 ? 32 : 64, p.tm = 4, p.tn = p.bn == 32 ? 4 : 8;
        else p.bm = p.bn == 32 ? 256 : 128, p.tm = 8, p.tn = 8;
        p.bk = igemm_tiles() == 'c' ? 16 : 8;
    }
    if (!p.tc) p.threads = (p.bm / p.tm) * (p.bn / p.tn);
    long tiles = (long)((M + p.bm - 1) / p.bm) * ((N + p.bn - 1) / p.bn);
    // Enough blocks to hide the gathers' latency: 1024 threads' worth per SM (the measured dW of
    // catdog2.cfg at two 128-thread blocks per SM ran at half the forward's rate).
    long splits = 1, sms = sms_of(ctx), want = sms * (1024 / p.threads);
    if (tiles < want) splits = NN_MAX(1L, NN_MIN((want + tiles - 1) / tiles, (long)K / (4 * p.bk)));
    if (splits > 1) splits = NN_MIN(splits, (long)(ws_floats / ((size_t)M * N)));
    splits = NN_MAX(splits, 1L);
    long chunk = (K + splits - 1) / splits;
    chunk = NN_MAX((chunk + p.bk - 1) / p.bk * p.bk, (long)p.bk);
    p.kchunk = (int)chunk;
    p.splits = (int)((K + chunk - 1) / chunk);
    return p;
}

// Scratch the split-K slices of one product want (with unlimited scratch).
static size_t igemm_ws_floats(const nn_ctx *ctx, int mode, int M, int N, int K) {
    igemm_plan p = igemm_plan_of(ctx, mode, M, N, K, (size_t)-1);
    return p.splits > 1 ? (size_t)p.splits * M * N : 0;
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

// C (M, N) = the MODE product (igemm.cuh), + bias and act when given; A, B: the tensors the
// loads gather from (B of FWD and DW is a plain (K, N) matrix with row length N).
template <int MODE>
static void igemm_run(const nn_ctx *ctx, const igemm_geom &g, int M, int N, int K, const float *A,
                      const float *B, float *C, const float *bias, act_kind act, float *ws,
                      size_t ws_floats) {
    if (M <= 0 || N <= 0) return;
    if ((long)M * NN_MAX(N, K) > INT32_MAX) NN_DIE("conv2d: a product of %d x %d x %d is beyond the kernels' int indices", M, N, K);
    igemm_plan p = igemm_plan_of(ctx, MODE, M, N, K, ws_floats);
    const int transa = MODE == IGEMM_DW, transb = MODE == IGEMM_DX;
    // 16-byte loads: A's 4-groups are 4 channels (col) or 4 filters (dz); B's are 4 columns of a
    // plain matrix, or 4 filters of W' for DX.
    int va = (MODE == IGEMM_DX ? g.F % 4 == 0 : g.C % 4 == 0) && aligned16(A);
    int vb = (MODE == IGEMM_DX ? g.F % 4 == 0 : N % 4 == 0) && aligned16(B);
    int vc = N % 4 == 0 && aligned16(C);
    int vec = (va ? 1 : 0) | (vb ? 2 : 0) | (vc ? 4 : 0);
    adam_epi none;
    memset(&none, 0, sizeof none);
    dim3 grid((N + p.bn - 1) / p.bn, (M + p.bm - 1) / p.bm, p.splits);
    cudaStream_t s = ctx_stream(ctx);
#define IG_ARGS transa, transb, M, N, K, p.kchunk, 1.0f, A, 0, B, N, 0.0f, C, N, bias, act, ws, vec, none, g
#define IG_TILE(BM, BN, BK, TM, TN) sgemm_tile<BM, BN, BK, TM, TN, false, MODE><<<grid, p.threads, 0, s>>>(IG_ARGS)
#define IG_TILE_B(BK)                                  \
    do {                                               \
        if constexpr (MODE == IGEMM_DW) {              \
            if (p.bm == 32 && p.bn == 32) IG_TILE(32, 32, BK, 4, 4); \
            else if (p.bm == 32) IG_TILE(32, 64, BK, 4, 8); \
            else if (p.bn == 32) IG_TILE(64, 32, BK, 4, 4); \
            else IG_TILE(64, 64, BK, 4, 8);            \
        } else {                                       \
            if (p.bn == 32) IG_TILE(256, 32, BK, 8, 8); \
            else IG_TILE(128, 64, BK, 8, 8);           \
        }                                              \
    } while (0)
#define IG_TC(BM, BN, WM, WN)                                                                  \
    igemm_3xtf32_tile<BM, BN, 16, WM, WN, MODE><<<grid, p.threads, 0, s>>>(M, N, K, p.kchunk, A, B, C, bias, \
                                                                          act, ws, vec | pairs, g)
    const int pairs = N % 2 == 0 && ((uintptr_t)C & 7) == 0 && ((uintptr_t)ws & 7) == 0 ? 8 : 0;
    if (p.tc) {
        if constexpr (MODE == IGEMM_DW) {
            if (p.bm == 32 && p.bn == 32) IG_TC(32, 32, 32, 16);
            else if (p.bm == 32 && p.bn == 64) IG_TC(32, 64, 32, 32);
            else if (p.bm == 32) IG_TC(32, 128, 32, 64);
            else if (p.bn == 32) IG_TC(64, 32, 32, 16);
            else if (p.bn == 64) IG_TC(64, 64, 32, 32);
            else IG_TC(64, 128, 32, 64);
        } else {
            if (p.bn == 32) IG_TC(128, 32, 64, 16);
            else if (p.bn == 64) IG_TC(128, 64, 64, 32);
            else IG_TC(128, 128, 64, 32);
        }
    } else if (p.bm == 128 && p.tn == 4) {
        if (p.bn == 32) IG_TILE(128, 32, 8, 8, 4);
        else IG_TILE(128, 64, 8, 8, 4);
    } else if (p.bn == 128) {
        IG_TILE(128, 128, 8, 8, 8);
    } else if (p.bk == 8) {   // NN_IGEMM_TILES=b
        IG_TILE_B(8);
    } else {   // NN_IGEMM_TILES=c
        IG_TILE_B(16);
    }
#undef IG_TC
#undef IG_TILE_B
#undef IG_TILE
#undef IG_ARGS
    CUDA_CHECK_LAUNCH();
    if (p.splits > 1) sgemm_splitk_reduce_launch(s, M, N, p.splits, 1.0f, ws, 0.0f, C, N, bias, act);
}

// The three products of a layer over n samples: forward, dW (+ the bias row), dx.
struct conv_products {
    int P, Q, KK, KKb, KX;   // output pixels, input pixels, taps, taps + bias row, KH*KW*F
};

static conv_products products_of(const layer *l, int n) {
    conv_products c;
    c.P = n * l->out.h * l->out.w;
    c.Q = n * l->in.h * l->in.w;
    c.KK = l->kh * l->kw * l->in.c;
    c.KKb = c.KK + (l->bsize ? 1 : 0);
    c.KX = l->kh * l->kw * l->out.c;
    return c;
}

extern "C" size_t conv2d_cuda_ws_floats(const layer *l, const nn_ctx *ctx, int n) {
    conv_products c = products_of(l, n);
    int F = l->out.c, C = l->in.c;
    return NN_MAX(igemm_ws_floats(ctx, IGEMM_FWD, c.P, F, c.KK),
                  NN_MAX(igemm_ws_floats(ctx, IGEMM_DW, c.KKb, F, c.P), igemm_ws_floats(ctx, IGEMM_DX, c.Q, C, c.KX)));
}

extern "C" void conv2d_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                                    const float *w, float *y, act_kind act, float *ws,
                                    size_t ws_floats) {
    conv_products c = products_of(l, n);
    const float *bias = l->bsize ? w + (l->boff - l->woff) : NULL;
    // The elementwise activations run in the product's epilogue (act_apply, sgemm_tile.cuh);
    // softmax over each pixel's filters is a row kernel after it.
    igemm_run<IGEMM_FWD>(ctx, igeom_of(l), c.P, l->out.c, c.KK, x, w, y, bias,
                         act == ACT_SOFTMAX ? ACT_LINEAR : act, ws, ws_floats);
    if (act == ACT_SOFTMAX) softmax_rows_cuda(ctx, c.P, l->out.c, l->out.c, y, y);
}

// out[i] = sum over rows r of part[r * stride + i] for i < count; entries from `split` on go to
// out2 (the bias). A block takes 32 consecutive i (coalesced); its 16 rows of threads each add
// every 16th row, then the 16 partial sums are added in shared memory in fixed order.
__global__ void __launch_bounds__(512)
sum_rows(int rows, int stride, int count, const float *__restrict__ part, float *out, int split,
         float *out2) {
    __shared__ float acc[16][33];
    const int i = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (i < count)
        for (int r = threadIdx.y; r < rows; r += 16) s += part[(size_t)r * stride + i];
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y || i >= count) return;
    float t = 0.0f;
    for (int k = 0; k < 16; k++) t += acc[k][threadIdx.x];
    if (i < split) out[i] = t;
    else out2[i - split] = t;
}

static void sum_rows_launch(cudaStream_t s, int rows, int stride, int count, const float *part,
                            float *out, int split, float *out2) {
    sum_rows<<<(count + 31) / 32, dim3(32, 16), 0, s>>>(rows, stride, count, part, out, split, out2);
    CUDA_CHECK_LAUNCH();
}

extern "C" void conv2d_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                                     const float *w, const float *y, float *dy, float *dx,
                                     float *dw, act_kind act, float *ws, size_t ws_floats) {
    conv_products c = products_of(l, n);
    const igemm_geom g = igeom_of(l);
    act_backward_cuda(ctx, act, (size_t)c.P * l->out.c, l->out.c, y, dy);
    // dW's product has one more row for the bias (its input is 1), so the bias gradient lands
    // right after the kernel's: where the model placed it.
    if (l->bsize && l->boff != l->woff + l->wsize)
        NN_DIE("conv2d_backward_cuda: layer %s's bias does not follow its kernel in the arena", l->name);
    igemm_run<IGEMM_DW>(ctx, g, c.KKb, l->out.c, c.P, x, dy, dw, NULL, ACT_LINEAR, ws, ws_floats);
    if (dx) igemm_run<IGEMM_DX>(ctx, g, c.Q, l->in.c, c.KX, dy, w, dx, NULL, ACT_LINEAR, ws, ws_floats);
}

// --- fused conv + ReLU + 2x2/2 max-pool
//
// Tile: P = 2048 / F pooled positions (8 columns wide) of one image, with all F channels:
// 256 threads = P positions x F/8 channel groups. The kernels are templates on the geometry so
// that the article's case (3x3 kernel, 3 channels, stride 1, 32 filters) runs with every index
// a compile-time constant (0 = read it from the layer at run time, for any other fused case).

#define FUSE_TPW 8   // pooled columns per tile
#define FUSE_CT 8    // channels per thread
#define FUSE_KT 4    // backward: kernel taps per thread (the bias is tap kkc)

struct fuse_tile {
    int tph, tpw;     // pooled rows, cols per tile
    int pr, pc;       // input patch rows, cols under the tile
    int tiles_y, tiles_x;
    int kkc;          // KH * KW * C taps
};

static fuse_tile tile_of(const layer *conv, const layer *pool) {
    fuse_tile t;
    int P = 2048 / conv->out.c;
    t.tpw = FUSE_TPW;
    t.tph = P / FUSE_TPW;
    t.pr = (2 * t.tph - 1) * conv->sh + conv->kh;
    t.pc = (2 * t.tpw - 1) * conv->sw + conv->kw;
    t.tiles_y = (pool->out.h + t.tph - 1) / t.tph;
    t.tiles_x = (pool->out.w + t.tpw - 1) / t.tpw;
    t.kkc = conv->kh * conv->kw * conv->in.c;
    return t;
}

static int is_article(const layer *conv) {
    return conv->kh == 3 && conv->kw == 3 && conv->in.c == 3 && conv->sh == 1 && conv->sw == 1 &&
           conv->out.c == 32;
}

static int bwd_pairs(const fuse_tile &t, int F) { return ((t.kkc + 1 + FUSE_KT - 1) / FUSE_KT) * (F / FUSE_CT); }

static int bwd_blocks(const layer *conv, const layer *pool, const nn_ctx *ctx, int n) {
    fuse_tile t = tile_of(conv, pool);
    long ntiles = (long)t.tiles_y * t.tiles_x * n;
    return (int)NN_MAX(1L, NN_MIN(ntiles, 3L * sms_of(ctx)));
}

static size_t fwd_smem(const layer *conv, const fuse_tile &t) {
    return ((size_t)t.kkc * conv->out.c + (size_t)t.pr * t.pc * conv->in.c + t.kkc) * 4;
}

static size_t bwd_smem(const layer *conv, const fuse_tile &t) {
    int F = conv->out.c, pairs = bwd_pairs(t, F), pg_n = 256 / NN_MAX(pairs, 1);
    size_t main_ = (size_t)4 * t.tph * t.tpw * F + (size_t)t.pr * t.pc * conv->in.c;
    size_t red = (size_t)pg_n * pairs * FUSE_KT * FUSE_CT;
    return NN_MAX(main_, red) * 4;
}

extern "C" int conv2d_pool_fusable(const layer *conv, const layer *pool, int first_layer) {
    if (!first_layer || conv->kind != LAYER_CONV2D || pool->kind != LAYER_MAXPOOL2D) return 0;
    if (conv->act != ACT_RELU) return 0;
    if (pool->kh != 2 || pool->kw != 2 || pool->sh != 2 || pool->sw != 2 || pool->padding != PAD_VALID)
        return 0;
    int F = conv->out.c;
    if (F != 8 && F != 16 && F != 32 && F != 64) return 0;
    fuse_tile t = tile_of(conv, pool);
    if (bwd_pairs(t, F) > 256) return 0;
    return fwd_smem(conv, t) <= 48 * 1024 && bwd_smem(conv, t) <= 48 * 1024;
}

// Loads the input patch under a tile (zeros outside the image: 'same' padding, edge tiles).
// Up to 8 loads per thread are issued before any is stored, so a tile costs one memory round
// trip rather than one per element a thread handles.
#define FUSE_LB 8
template <int C_, int PC_, int PR_>
__device__ __forceinline__ void load_patch(const conv_geom &g, const fuse_tile &t, const float *x,
                                           int b, int ih0, int iw0, float *patch) {
    const int C = C_ ? C_ : g.C, PC = PC_ ? PC_ : t.pc, PR = PR_ ? PR_ : t.pr;
    const int np = PR * PC * C;
    for (int i0 = threadIdx.x; i0 < np; i0 += FUSE_LB * blockDim.x) {
        float v[FUSE_LB];
#pragma unroll
        for (int u = 0; u < FUSE_LB; u++) {
            const int i = i0 + u * blockDim.x;
            const int ci = i % C, c = (i / C) % PC, r = i / (C * PC);
            const int ih = ih0 + r, iw = iw0 + c;
            v[u] = (i < np && ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)
                       ? __ldg(&x[(((size_t)b * g.H + ih) * g.W + iw) * g.C + ci])
                       : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < FUSE_LB; u++) {
            const int i = i0 + u * blockDim.x;
            if (i < np) patch[i] = v[u];
        }
    }
}

template <int F, int KH_, int KW_, int C_, int S_>
__global__ void __launch_bounds__(256)
conv_pool_fwd(conv_geom g, int PH, int PW, fuse_tile t, const float *__restrict__ x,
              const float *__restrict__ w, const float *__restrict__ bias, float *__restrict__ y,
              uint8_t *__restrict__ arg) {
    constexpr bool SPEC = KH_ != 0;
    constexpr int CG = F / FUSE_CT, P = 256 / CG, TPW = FUSE_TPW, TPH = P / TPW;
    constexpr int PC_ = SPEC ? (2 * TPW - 1) * S_ + KW_ : 0, PR_ = SPEC ? (2 * TPH - 1) * S_ + KH_ : 0;
    const int KW = SPEC ? KW_ : g.KW, C = SPEC ? C_ : g.C;
    const int SH = SPEC ? S_ : g.SH, SW = SPEC ? S_ : g.SW, PC = SPEC ? PC_ : t.pc;
    const int kkc = SPEC ? KH_ * KW_ * C_ : t.kkc;
    extern __shared__ __align__(16) float sm[];
    float *ws = sm;                                 // (kkc, F)
    float *patch = ws + kkc * F;                    // (pr, pc, C)
    int *tab = (int *)(patch + t.pr * t.pc * C);    // tap -> patch offset (generic case)
    const int b = blockIdx.z, ph0 = blockIdx.y * TPH, pw0 = blockIdx.x * TPW;
    for (int i = threadIdx.x; i < kkc * F / 4; i += blockDim.x)
        reinterpret_cast<float4 *>(ws)[i] = __ldg(reinterpret_cast<const float4 *>(w) + i);
    if (!SPEC)
        for (int i = threadIdx.x; i < kkc; i += blockDim.x)
            tab[i] = ((i / (C * KW)) * PC + (i / C) % KW) * C + i % C;
    load_patch<C_, PC_, PR_>(g, t, x, b, 2 * ph0 * SH - g.PT, 2 * pw0 * SW - g.PL, patch);
    __syncthreads();

    const int p = threadIdx.x / CG, cg = threadIdx.x % CG;
    const int pr = p / TPW, pc = p % TPW;
    const int ph = ph0 + pr, pw = pw0 + pc;
    if (ph >= PH || pw >= PW) return;
    int base[4];
#pragma unroll
    for (int q = 0; q < 4; q++) base[q] = ((2 * pr + q / 2) * SH * PC + (2 * pc + q % 2) * SW) * C;
    float acc[4][FUSE_CT];
#pragma unroll
    for (int q = 0; q < 4; q++)
#pragma unroll
        for (int j = 0; j < FUSE_CT; j++) acc[q][j] = 0.0f;
#pragma unroll
    for (int k = 0; k < kkc; k++) {
        const int off = SPEC ? ((k / (C * KW)) * PC + (k / C) % KW) * C + k % C : tab[k];
        const float4 w0 = *reinterpret_cast<const float4 *>(&ws[k * F + cg * FUSE_CT]);
        const float4 w1 = *reinterpret_cast<const float4 *>(&ws[k * F + cg * FUSE_CT + 4]);
        const float wv[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const float xv = patch[base[q] + off];
#pragma unroll
            for (int j = 0; j < FUSE_CT; j++) acc[q][j] = fmaf(xv, wv[j], acc[q][j]);
        }
    }
    float out[FUSE_CT];
    uint8_t am[FUSE_CT];
#pragma unroll
    for (int j = 0; j < FUSE_CT; j++) {
        const float bj = bias ? __ldg(&bias[cg * FUSE_CT + j]) : 0.0f;
        float m = acc[0][j] + bj;
        int a = 0;
#pragma unroll
        for (int q = 1; q < 4; q++) {
            float v = acc[q][j] + bj;
            if (v > m) m = v, a = q;
        }
        out[j] = m > 0.0f ? m : 0.0f;   // relu(max) == max(relu)
        am[j] = (uint8_t)a;
    }
    const size_t o = (((size_t)b * PH + ph) * PW + pw) * F + cg * FUSE_CT;
    *reinterpret_cast<float4 *>(&y[o]) = make_float4(out[0], out[1], out[2], out[3]);
    *reinterpret_cast<float4 *>(&y[o + 4]) = make_float4(out[4], out[5], out[6], out[7]);
    uint2 packed;
    packed.x = am[0] | am[1] << 8 | am[2] << 16 | (uint32_t)am[3] << 24;
    packed.y = am[4] | am[5] << 8 | am[6] << 16 | (uint32_t)am[7] << 24;
    *reinterpret_cast<uint2 *>(&arg[o]) = packed;
}

extern "C" void conv2d_pool_forward_cuda(const layer *conv, const layer *pool, const nn_ctx *ctx,
                                         int n, const float *x, const float *w, float *y,
                                         uint8_t *arg) {
    if (n <= 0) return;
    conv_geom g = geom_of(conv);
    fuse_tile t = tile_of(conv, pool);
    const float *bias = conv->bsize ? w + (conv->boff - conv->woff) : NULL;
    dim3 grid(t.tiles_x, t.tiles_y, n);
    size_t smem = fwd_smem(conv, t);
    cudaStream_t s = ctx_stream(ctx);
    int PH = pool->out.h, PW = pool->out.w;
    if (is_article(conv)) {
        conv_pool_fwd<32, 3, 3, 3, 1><<<grid, 256, smem, s>>>(g, PH, PW, t, x, w, bias, y, arg);
    } else {
        switch (conv->out.c) {
        case 8: conv_pool_fwd<8, 0, 0, 0, 0><<<grid, 256, smem, s>>>(g, PH, PW, t, x, w, bias, y, arg); break;
        case 16: conv_pool_fwd<16, 0, 0, 0, 0><<<grid, 256, smem, s>>>(g, PH, PW, t, x, w, bias, y, arg); break;
        case 32: conv_pool_fwd<32, 0, 0, 0, 0><<<grid, 256, smem, s>>>(g, PH, PW, t, x, w, bias, y, arg); break;
        case 64: conv_pool_fwd<64, 0, 0, 0, 0><<<grid, 256, smem, s>>>(g, PH, PW, t, x, w, bias, y, arg); break;
        default: NN_DIE("conv2d_pool_forward_cuda: %d filters is not a fused case", conv->out.c);
        }
    }
    CUDA_CHECK_LAUNCH();
}

// One persistent block per slot walks tiles blockIdx.x, + gridDim.x, ...; partial (kkc+1, F)
// sums per block into part[blockIdx.x]. Thread = (pair of 4 taps x 8 channels, position group).
template <int F, int KH_, int KW_, int C_, int S_>
__global__ void __launch_bounds__(256)
conv_pool_bwd_dw(conv_geom g, int n, int PH, int PW, fuse_tile t, const float *__restrict__ x,
                 const float *__restrict__ y, const uint8_t *__restrict__ arg,
                 const float *__restrict__ dy, float *__restrict__ part) {
    constexpr bool SPEC = KH_ != 0;
    constexpr int NCG = F / FUSE_CT, P = 2048 / F, TPW = FUSE_TPW, TPH = P / TPW;
    constexpr int CW = 2 * TPW, CP = 4 * P;   // conv positions: columns per tile, per tile
    constexpr int PC_ = SPEC ? (2 * TPW - 1) * S_ + KW_ : 0, PR_ = SPEC ? (2 * TPH - 1) * S_ + KH_ : 0;
    constexpr int KKC_ = SPEC ? KH_ * KW_ * C_ : 0;
    constexpr int PAIRS_ = SPEC ? ((KKC_ + 1 + FUSE_KT - 1) / FUSE_KT) * NCG : 0;
    const int KW = SPEC ? KW_ : g.KW, C = SPEC ? C_ : g.C;
    const int SH = SPEC ? S_ : g.SH, SW = SPEC ? S_ : g.SW, PC = SPEC ? PC_ : t.pc;
    const int kkc = SPEC ? KKC_ : t.kkc;
    const int pairs = SPEC ? PAIRS_ : ((kkc + 1 + FUSE_KT - 1) / FUSE_KT) * NCG;
    const int pg_n = 256 / pairs;
    extern __shared__ __align__(16) float sm[];
    float *gconv = sm;                         // (CP, F)
    float *patch = gconv + CP * F;             // (pr, pc, C)
    float *red = sm;   // (pg_n, pairs, KT * CT): reuses the tile buffers once they are done

    const int tid = threadIdx.x;
    const int pair = tid % pairs, pg = tid / pairs;
    const bool active = pg < pg_n;
    const int cgi = pair % NCG, kg = pair / NCG;
    int off[FUSE_KT];
    float cval[FUSE_KT];
#pragma unroll
    for (int kk = 0; kk < FUSE_KT; kk++) {
        int k = kg * FUSE_KT + kk;
        if (k < kkc) off[kk] = ((k / (C * KW)) * PC + (k / C) % KW) * C + k % C, cval[kk] = 0.0f;
        else off[kk] = -1, cval[kk] = (k == kkc) ? 1.0f : 0.0f;   // bias tap, then padding
    }
    float acc[FUSE_KT][FUSE_CT];
#pragma unroll
    for (int kk = 0; kk < FUSE_KT; kk++)
#pragma unroll
        for (int j = 0; j < FUSE_CT; j++) acc[kk][j] = 0.0f;

    const long tiles_per_img = (long)t.tiles_y * t.tiles_x, ntiles = tiles_per_img * n;
    for (long tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
        const int b = (int)(tile / tiles_per_img), rem = (int)(tile % tiles_per_img);
        const int ph0 = (rem / t.tiles_x) * TPH, pw0 = (rem % t.tiles_x) * TPW;
        __syncthreads();   // the previous tile's reads are done
        load_patch<C_, PC_, PR_>(g, t, x, b, 2 * ph0 * SH - g.PT, 2 * pw0 * SW - g.PL, patch);
        // Route each pooled gradient to its window's max (ReLU-gated), zeros elsewhere: the
        // thread's P * F / 256 elements are loaded first, then written.
        constexpr int PER = P * F / 256;   // 8
        float yv[PER], dv[PER];
        int av[PER];
#pragma unroll
        for (int u = 0; u < PER; u++) {
            const int i = tid + u * 256;
            const int co = i % F, pp = i / F, ph = ph0 + pp / TPW, pw = pw0 + pp % TPW;
            yv[u] = 0.0f, dv[u] = 0.0f, av[u] = 0;
            if (ph < PH && pw < PW) {
                const size_t o = (((size_t)b * PH + ph) * PW + pw) * F + co;
                yv[u] = __ldg(&y[o]), dv[u] = __ldg(&dy[o]), av[u] = __ldg(&arg[o]);
            }
        }
#pragma unroll
        for (int u = 0; u < PER; u++) {
            const int i = tid + u * 256;
            const int co = i % F, pp = i / F, pr = pp / TPW, pc = pp % TPW;
            const float gv = yv[u] > 0.0f ? dv[u] : 0.0f;
#pragma unroll
            for (int q = 0; q < 4; q++)
                gconv[((2 * pr + q / 2) * CW + 2 * pc + q % 2) * F + co] = (q == av[u]) ? gv : 0.0f;
        }
        __syncthreads();
        if (active) {
            for (int cp = pg; cp < CP; cp += pg_n) {
                const int r = cp / CW, c = cp % CW;
                const int base = (r * SH * PC + c * SW) * C;
                const float4 g0 = *reinterpret_cast<const float4 *>(&gconv[cp * F + cgi * FUSE_CT]);
                const float4 g1 = *reinterpret_cast<const float4 *>(&gconv[cp * F + cgi * FUSE_CT + 4]);
                const float gv[8] = {g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w};
#pragma unroll
                for (int kk = 0; kk < FUSE_KT; kk++) {
                    const float xv = off[kk] >= 0 ? patch[base + off[kk]] : cval[kk];
#pragma unroll
                    for (int j = 0; j < FUSE_CT; j++) acc[kk][j] = fmaf(xv, gv[j], acc[kk][j]);
                }
            }
        }
    }
    // Add the position groups in fixed order, then write this block's partial sums.
    __syncthreads();
    constexpr int per = FUSE_KT * FUSE_CT;
    if (active)
#pragma unroll
        for (int kk = 0; kk < FUSE_KT; kk++)
#pragma unroll
            for (int j = 0; j < FUSE_CT; j++) red[(pg * pairs + pair) * per + kk * FUSE_CT + j] = acc[kk][j];
    __syncthreads();
    const int rows = kkc + 1;
    for (int i = tid; i < rows * F; i += 256) {
        const int co = i % F, k = i / F;
        const int pr_i = (k / FUSE_KT) * NCG + co / FUSE_CT, e = (k % FUSE_KT) * FUSE_CT + co % FUSE_CT;
        float s = 0.0f;
        for (int q = 0; q < pg_n; q++) s += red[(q * pairs + pr_i) * per + e];
        part[(size_t)blockIdx.x * rows * F + i] = s;
    }
}

extern "C" size_t conv2d_pool_ws_floats(const layer *conv, const layer *pool, const nn_ctx *ctx,
                                       int n) {
    int blocks = bwd_blocks(conv, pool, ctx, n);
    return (size_t)blocks * (conv->kh * conv->kw * conv->in.c + 1) * conv->out.c;
}

extern "C" void conv2d_pool_backward_cuda(const layer *conv, const layer *pool, const nn_ctx *ctx,
                                          int n, const float *x, const float *y,
                                          const uint8_t *arg, const float *dy, float *dw,
                                          float *ws, size_t ws_floats) {
    if (n <= 0) return;
    conv_geom g = geom_of(conv);
    fuse_tile t = tile_of(conv, pool);
    int F = conv->out.c, rows = t.kkc + 1;
    int blocks = bwd_blocks(conv, pool, ctx, n);
    if ((size_t)blocks * rows * F > ws_floats)
        NN_DIE("conv2d_pool_backward_cuda: scratch of %zu floats, %zu needed", ws_floats,
               (size_t)blocks * rows * F);
    size_t smem = bwd_smem(conv, t);
    cudaStream_t s = ctx_stream(ctx);
    int PH = pool->out.h, PW = pool->out.w;
    if (is_article(conv)) {
        conv_pool_bwd_dw<32, 3, 3, 3, 1><<<blocks, 256, smem, s>>>(g, n, PH, PW, t, x, y, arg, dy, ws);
    } else {
        switch (F) {
        case 8: conv_pool_bwd_dw<8, 0, 0, 0, 0><<<blocks, 256, smem, s>>>(g, n, PH, PW, t, x, y, arg, dy, ws); break;
        case 16: conv_pool_bwd_dw<16, 0, 0, 0, 0><<<blocks, 256, smem, s>>>(g, n, PH, PW, t, x, y, arg, dy, ws); break;
        case 32: conv_pool_bwd_dw<32, 0, 0, 0, 0><<<blocks, 256, smem, s>>>(g, n, PH, PW, t, x, y, arg, dy, ws); break;
        case 64: conv_pool_bwd_dw<64, 0, 0, 0, 0><<<blocks, 256, smem, s>>>(g, n, PH, PW, t, x, y, arg, dy, ws); break;
        default: NN_DIE("conv2d_pool_backward_cuda: %d filters is not a fused case", F);
        }
    }
    CUDA_CHECK_LAUNCH();
    // Rows 0..kkc-1 are the kernel (HWIO, co fastest: the arena's layout), row kkc the bias.
    int kf = t.kkc * F;
    float *db = conv->bsize ? dw + (conv->boff - conv->woff) : NULL;
    sum_rows_launch(s, blocks, rows * F, db ? rows * F : kf, ws, dw, kf, db);
}

// --- the layer's CUDA slots (layers/conv2d.c's table entry points here)

static size_t conv2d_cuda_scratch(const layer *l, const nn_ctx *ctx, int n) {
    return conv2d_cuda_ws_floats(l, ctx, n);
}
static void conv2d_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    conv2d_forward_cuda(l, ctx, io->n, io->x, io->w, io->y, io->act, io->ws, io->ws_floats);
}
static void conv2d_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    conv2d_backward_cuda(l, ctx, io->n, io->x, io->w, io->y, io->dy, io->dx, io->dw, io->act,
                         io->ws, io->ws_floats);
}
extern "C" const layer_impl conv2d_cuda = {conv2d_cuda_scratch, conv2d_cuda_fwd, conv2d_cuda_bwd};
