// dense_cuda.cu: the hand-written SGEMM (no cuBLAS in the framework's path) and the dense layer
// built on it: forward y = act(x W + b), backward dW = x^T dy, db = colsum(dy), dx = dy W^T.
//
// Thread mapping. A block computes a BM x BN tile of C; each of its 256 threads owns a TM x TN
// register tile made of 4x4 pieces spread BM/(TM/4) rows and BN/(TN/4) columns apart, so that
// a warp's float4 reads of the shared tiles hit distinct banks (or broadcast). K is walked BK
// at a time through two shared buffers: the next tile is loaded from global memory into
// registers while the current one is multiplied, then stored into the other buffer (one
// barrier per K tile). Shared tiles are stored K-major (As[k][m], Bs[k][n]) whatever the
// transposition in memory, so the inner loop is the same four float4 reads for all four cases.
// Two shapes: 128x128 (8x8 per thread) for large M, 32x128 (4x4) for the skinny batch-32
// products. Split-K: when the tiles alone cannot fill the device (32 x 30752 x 128 has ONE
// output tile), grid.z splits K and each slice writes its partial tile to ws; a second kernel
// sums the slices in a fixed order (deterministic) and applies alpha, beta, bias, activation.
#include "cuda_common.h"
#include "kernels.h"

extern "C" {
#include "../nn/elementwise.h"
}

__device__ __forceinline__ float act_apply(int act, float v) {
    if (act == ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (act == ACT_SIGMOID) return 1.0f / (1.0f + expf(-v));
    return v;
}

template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
sgemm_tile(int transa, int transb, int M, int N, int K, int kchunk, float alpha,
           const float *__restrict__ A, int lda, const float *__restrict__ B, int ldb, float beta,
           float *C, int ldc, const float *__restrict__ bias, int act, float *__restrict__ ws) {
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int LA = BM * BK / NT, LB = BK * BN / NT;
    constexpr int PAD = 4;
    constexpr int RG = BM / (TM / 4), CG = BN / (TN / 4);   // distance between 4-row/col pieces
    static_assert((BM * BK) % NT == 0 && (BK * BN) % NT == 0, "tile loads must divide evenly");
    static_assert(TM % 4 == 0 && TN % 4 == 0, "register tiles are made of float4 pieces");
    __shared__ __align__(16) float As[2][BK][BM + PAD];
    __shared__ __align__(16) float Bs[2][BK][BN + PAD];

    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kbeg = blockIdx.z * kchunk;
    const int kend = min(K, kbeg + kchunk);
    const int ntiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;

    float ra[LA], rb[LB];
    // Element e of a tile: which (m, k) / (k, n) it is depends on the memory layout, chosen so
    // that consecutive threads read consecutive addresses.
    auto load = [&](int k0) {
#pragma unroll
        for (int i = 0; i < LA; i++) {
            int e = tid + i * NT;
            int m = transa ? e % BM : e / BK, k = transa ? e / BM : e % BK;
            int gm = m0 + m, gk = k0 + k;
            ra[i] = (gm < M && gk < kend)
                        ? (transa ? A[(size_t)gk * lda + gm] : A[(size_t)gm * lda + gk])
                        : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < LB; i++) {
            int e = tid + i * NT;
            int n = transb ? e / BK : e % BN, k = transb ? e % BK : e / BN;
            int gn = n0 + n, gk = k0 + k;
            rb[i] = (gn < N && gk < kend)
                        ? (transb ? B[(size_t)gn * ldb + gk] : B[(size_t)gk * ldb + gn])
                        : 0.0f;
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < LA; i++) {
            int e = tid + i * NT;
            int m = transa ? e % BM : e / BK, k = transa ? e / BM : e % BK;
            As[buf][k][m] = ra[i];
        }
#pragma unroll
        for (int i = 0; i < LB; i++) {
            int e = tid + i * NT;
            int n = transb ? e / BK : e % BN, k = transb ? e % BK : e / BN;
            Bs[buf][k][n] = rb[i];
        }
    };

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;

    if (ntiles > 0) {
        load(kbeg);
        store(0);
    }
    __syncthreads();
    for (int t = 0; t < ntiles; t++) {
        const int buf = t & 1;
        if (t + 1 < ntiles) load(kbeg + (t + 1) * BK);
#pragma unroll
        for (int k = 0; k < BK; k++) {
            float a[TM], b[TN];
#pragma unroll
            for (int g = 0; g < TM / 4; g++) {
                float4 v = *reinterpret_cast<const float4 *>(&As[buf][k][g * RG + ty * 4]);
                a[g * 4 + 0] = v.x, a[g * 4 + 1] = v.y, a[g * 4 + 2] = v.z, a[g * 4 + 3] = v.w;
            }
#pragma unroll
            for (int g = 0; g < TN / 4; g++) {
                float4 v = *reinterpret_cast<const float4 *>(&Bs[buf][k][g * CG + tx * 4]);
                b[g * 4 + 0] = v.x, b[g * 4 + 1] = v.y, b[g * 4 + 2] = v.z, b[g * 4 + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (t + 1 < ntiles) store(buf ^ 1);
        __syncthreads();
    }

    const bool split = gridDim.z > 1;
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int row = m0 + (i / 4) * RG + ty * 4 + (i % 4);
        if (row >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            const int col = n0 + (j / 4) * CG + tx * 4 + (j % 4);
            if (col >= N) continue;
            if (split) {
                ws[((size_t)blockIdx.z * M + row) * N + col] = acc[i][j];
            } else {
                float v = alpha * acc[i][j];
                if (beta != 0.0f) v += beta * C[(size_t)row * ldc + col];
                if (bias) v += bias[col];
                C[(size_t)row * ldc + col] = act_apply(act, v);
            }
        }
    }
}

// Sums the split-K slices in order z = 0, 1, ... and applies the epilogue.
__global__ void sgemm_splitk_reduce(int M, int N, int splits, float alpha, const float *ws,
                                    float beta, float *C, int ldc, const float *bias, int act) {
    const size_t mn = (size_t)M * N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < mn;
         i += (size_t)gridDim.x * blockDim.x) {
        float s = 0.0f;
        for (int z = 0; z < splits; z++) s += ws[z * mn + i];
        const int row = (int)(i / N), col = (int)(i % N);
        float v = alpha * s;
        if (beta != 0.0f) v += beta * C[(size_t)row * ldc + col];
        if (bias) v += bias[col];
        C[(size_t)row * ldc + col] = act_apply(act, v);
    }
}

// --- shape choice

struct gemm_plan {
    int skinny;   // 32x128 tiles instead of 128x128
    int bm, bn, bk;
    int splits, kchunk;
};

static int sm_count(const nn_ctx *ctx) { return ctx && ctx->cuda ? ctx->cuda->sm_count : 132; }

static gemm_plan plan_gemm(const nn_ctx *ctx, int M, int N, int K, int force_splits) {
    gemm_plan p;
    p.skinny = M <= 64;
    p.bm = p.skinny ? 32 : 128;
    p.bn = 128;
    p.bk = p.skinny ? 16 : 8;
    long tiles = (long)((M + p.bm - 1) / p.bm) * ((N + p.bn - 1) / p.bn);
    int sms = sm_count(ctx);
    int splits = 1;
    if (force_splits > 0) splits = force_splits;
    else if (tiles < sms) {
        // Aim at two blocks per multiprocessor, keeping at least 4 K tiles per slice.
        long want = (2L * sms + tiles - 1) / tiles;
        long most = K / (4 * p.bk);
        splits = (int)NN_MAX(1L, NN_MIN(want, most));
    }
    int kchunk = (K + splits - 1) / splits;
    kchunk = (kchunk + p.bk - 1) / p.bk * p.bk;
    if (kchunk < p.bk) kchunk = p.bk;
    p.kchunk = kchunk;
    p.splits = (K + kchunk - 1) / kchunk;
    if (p.splits < 1) p.splits = 1;
    return p;
}

extern "C" size_t sgemm_cuda_ws_floats(const nn_ctx *ctx, int M, int N, int K) {
    gemm_plan p = plan_gemm(ctx, M, N, K, 0);
    return p.splits > 1 ? (size_t)p.splits * M * N : 0;
}

extern "C" void sgemm_cuda(const nn_ctx *ctx, int transa, int transb, int M, int N, int K,
                           float alpha, const float *A, int lda, const float *B, int ldb,
                           float beta, float *C, int ldc, const float *bias, act_kind act,
                           int splits, float *ws, size_t ws_floats) {
    if (M <= 0 || N <= 0) return;
    cudaStream_t s = ctx_stream(ctx);
    gemm_plan p = plan_gemm(ctx, M, N, K, splits);
    if (p.splits > 1 && (size_t)p.splits * M * N > ws_floats) {
        // Not enough scratch for that many slices: use as many as fit (maybe none).
        int fit = ws ? (int)NN_MIN(ws_floats / ((size_t)M * N), (size_t)p.splits) : 1;
        p = plan_gemm(ctx, M, N, K, NN_MAX(fit, 1));
        if ((size_t)p.splits * M * N > ws_floats) p = plan_gemm(ctx, M, N, K, 1);
    }
    dim3 grid((N + p.bn - 1) / p.bn, (M + p.bm - 1) / p.bm, p.splits);
    if (K <= 0) p.kchunk = p.bk;   // C = beta C + bias: the tile kernel sees no K tile at all
    if (p.skinny)
        sgemm_tile<32, 128, 16, 4, 4><<<grid, 256, 0, s>>>(transa, transb, M, N, K, p.kchunk,
                                                           alpha, A, lda, B, ldb, beta, C, ldc,
                                                           bias, act, ws);
    else
        sgemm_tile<128, 128, 8, 8, 8><<<grid, 256, 0, s>>>(transa, transb, M, N, K, p.kchunk,
                                                           alpha, A, lda, B, ldb, beta, C, ldc,
                                                           bias, act, ws);
    CUDA_CHECK_LAUNCH();
    if (p.splits > 1) {
        size_t mn = (size_t)M * N;
        unsigned blocks = (unsigned)NN_MIN((mn + 255) / 256, (size_t)sm_count(ctx) * 8);
        sgemm_splitk_reduce<<<blocks, 256, 0, s>>>(M, N, p.splits, alpha, ws, beta, C, ldc, bias,
                                                   act);
        CUDA_CHECK_LAUNCH();
    }
}

// Column sums: a block takes 32 columns; its 8 warps-worth of rows (threadIdx.y) each sum a
// strided subset of the rows, then the 8 partial sums are added in shared memory in fixed order.
__global__ void colsum_kernel(int rows, int cols, const float *__restrict__ x, float *out) {
    __shared__ float part[8][33];
    const int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < cols)
        for (int r = threadIdx.y; r < rows; r += 8) s += x[(size_t)r * cols + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = 0.0f;
        for (int k = 0; k < 8; k++) t += part[k][threadIdx.x];
        out[c] = t;
    }
}

extern "C" void colsum_cuda(const nn_ctx *ctx, int rows, int cols, const float *x, float *out) {
    if (cols <= 0) return;
    colsum_kernel<<<(cols + 31) / 32, dim3(32, 8), 0, ctx_stream(ctx)>>>(rows, cols, x, out);
    CUDA_CHECK_LAUNCH();
}

// --- the dense layer

extern "C" size_t dense_cuda_ws_floats(const layer *l, const nn_ctx *ctx, int n) {
    int in = l->in.c, out = l->units;
    size_t a = sgemm_cuda_ws_floats(ctx, n, out, in);    // forward
    size_t b = sgemm_cuda_ws_floats(ctx, in, out, n);    // dW
    size_t c = sgemm_cuda_ws_floats(ctx, n, in, out);    // dx
    return NN_MAX(a, NN_MAX(b, c));
}

extern "C" void dense_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                                   const float *w, float *y, act_kind act, float *ws,
                                   size_t ws_floats) {
    int in = l->in.c, out = l->units;
    const float *bias = l->bsize ? w + (l->boff - l->woff) : NULL;
    sgemm_cuda(ctx, 0, 0, n, out, in, 1.0f, x, in, w, out, 0.0f, y, out, bias, act, 0, ws,
               ws_floats);
}

extern "C" void dense_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                                    const float *w, const float *y, float *dy, float *dx,
                                    float *dw, act_kind act, float *ws, size_t ws_floats) {
    int in = l->in.c, out = l->units;
    size_t no = (size_t)n * out;
    if (act == ACT_RELU) ew_apply_cuda(ctx, EW_RELU_GRAD, DT_F32, no, y, dy, dy);
    else if (act == ACT_SIGMOID) ew_apply_cuda(ctx, EW_SIGMOID_GRAD, DT_F32, no, y, dy, dy);
    if (l->bsize) colsum_cuda(ctx, n, out, dy, dw + (l->boff - l->woff));
    // dW (in, out) = x^T (in, n) . dy (n, out)
    sgemm_cuda(ctx, 1, 0, in, out, n, 1.0f, x, in, dy, out, 0.0f, dw, out, NULL, ACT_LINEAR, 0,
               ws, ws_floats);
    // dx (n, in) = dy (n, out) . W^T (out, in)
    if (dx)
        sgemm_cuda(ctx, 0, 1, n, in, out, 1.0f, dy, out, w, out, 0.0f, dx, in, NULL, ACT_LINEAR,
                   0, ws, ws_floats);
}
