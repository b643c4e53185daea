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
// Two shapes: 128x128 (8x8 per thread, K tile 8) for large M, 32x128 (4x4, K tile 32) for the
// skinny batch <= 64 products. Split-K: when the tiles alone cannot fill the device (32 x 30752
// x 128 has ONE output tile), grid.z splits K (about two blocks per SM) and each slice writes its
// partial tile to ws; sgemm_splitk_reduce (sgemm_tile.cuh) sums them in a fixed order
// (deterministic) and applies alpha, beta, bias, activation.
// The other kernels here, each for a shape the tile serves badly:
//  - sgemm_small: tiny products (the 128 -> 1 layer): one warp per output, lanes striding K, a
//    fixed xor-shuffle tree; a 128x128 tile would be almost empty.
//  - Adam epilogue (sgemm_adam_cuda): for dW = x^T dy the tile kernel applies Adam to w, m, v
//    where it would store C, so the dense gradient is never written or read back. For batches
//    <= 64 dense_dw_adam_small does it instead as a stream over w, m, v (a block per 32 rows of w,
//    dy and x in shared memory, 12 float4 loads in flight per thread before any arithmetic): at
//    that size dW has almost no arithmetic and the bandwidth is what matters.
//  - dense_dx_small: dx = dy W^T for batches <= 32: a block loads a panel of 128 rows of W and all
//    of dy into shared memory (8 loads in flight per thread), each thread makes 4 samples x 4 rows.
//  - colsum_kernel: the bias gradient, 32 columns a block (coalesced), 32 rows of threads, fixed order.
#include <string.h>

#include "cuda_common.h"
#include "sgemm_tile.cuh"
#include "kernels.h"
#include "adam_update.cuh"

// Tiny products (the article's 128 -> 1 layer: M*N*K of a few hundred thousand): one warp
// per output, lanes striding K, a fixed xor-shuffle tree (deterministic). A tile kernel would
// spend its time on a mostly empty 128x128 tile.
__global__ void __launch_bounds__(256)
sgemm_small(int transa, int transb, int M, int N, int K, float alpha, const float *__restrict__ A,
            int lda, const float *__restrict__ B, int ldb, float beta, float *C, int ldc,
            const float *__restrict__ bias, int act, adam_epi ad) {
    const long wid = (blockIdx.x * (long)blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (wid >= (long)M * N) return;
    const int row = (int)(wid / N), col = (int)(wid % N);
    float s = 0.0f;
    for (int k = lane; k < K; k += 32) {
        float a = transa ? A[(size_t)k * lda + row] : A[(size_t)row * lda + k];
        float b = transb ? B[(size_t)col * ldb + k] : B[(size_t)k * ldb + col];
        s = fmaf(a, b, s);
    }
#pragma unroll
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane) return;
    const size_t o = (size_t)row * ldc + col;
    if (ad.w) {
        adam_update(alpha * s, ad.w[o], ad.m[o], ad.v[o], ad.alpha[ad.step ? *ad.step : 0], ad.a1,
                    ad.a2, ad.eps);
        return;
    }
    float v = alpha * s;
    if (beta != 0.0f) v += beta * C[o];
    if (bias) v += bias[col];
    C[o] = act_apply(act, v);
}

#define SGEMM_SMALL_MACS (1 << 18)

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
    p.bk = p.skinny ? 32 : 8;
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
    if ((long)M * N * NN_MAX(K, 1) <= SGEMM_SMALL_MACS) return 0;
    gemm_plan p = plan_gemm(ctx, M, N, K, 0);
    return p.splits > 1 ? (size_t)p.splits * M * N : 0;
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

static void sgemm_launch(const nn_ctx *ctx, int transa, int transb, int M, int N, int K,
                         float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                         float *C, int ldc, const float *bias, act_kind act, int splits, float *ws,
                         size_t ws_floats, adam_epi ad) {
    if (M <= 0 || N <= 0) return;
    cudaStream_t s = ctx_stream(ctx);
    if ((splits <= 0 || ad.w) && (long)M * N * NN_MAX(K, 1) <= SGEMM_SMALL_MACS) {
        long threads = (long)M * N * 32;
        sgemm_small<<<(unsigned)((threads + 255) / 256), 256, 0, s>>>(
            transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, act, ad);
        CUDA_CHECK_LAUNCH();
        return;
    }
    gemm_plan p = plan_gemm(ctx, M, N, K, ad.w ? 1 : splits);
    if (p.splits > 1 && (size_t)p.splits * M * N > ws_floats) {
        // Not enough scratch for that many slices: use as many as fit (maybe none).
        int fit = ws ? (int)NN_MIN(ws_floats / ((size_t)M * N), (size_t)p.splits) : 1;
        p = plan_gemm(ctx, M, N, K, NN_MAX(fit, 1));
        if ((size_t)p.splits * M * N > ws_floats) p = plan_gemm(ctx, M, N, K, 1);
    }
    dim3 grid((N + p.bn - 1) / p.bn, (M + p.bm - 1) / p.bm, p.splits);
    if (K <= 0) p.kchunk = p.bk;   // C = beta C + bias: the tile kernel sees no K tile at all
    int vec = ((lda % 4) == 0 && aligned16(A) ? 1 : 0) | ((ldb % 4) == 0 && aligned16(B) ? 2 : 0);
    const void *cp = ad.w ? (const void *)ad.w : (const void *)C;
    int cok = (ldc % 4) == 0 && aligned16(cp) && (!ad.w || (aligned16(ad.m) && aligned16(ad.v)));
    vec |= cok ? 4 : 0;
#define SGEMM_ARGS transa, transb, M, N, K, p.kchunk, alpha, A, lda, B, ldb, beta, C, ldc, bias, act, ws, vec, ad, igemm_geom{}
    if (!p.skinny && cuda_tf32_enabled(ctx)) {   // NN_TF32=1: tensor cores (dense_tf32_cuda.cu)
        sgemm_tf32_adam t = {ad.w, ad.m, ad.v, ad.alpha, ad.step, ad.a1, ad.a2, ad.eps};
        sgemm_tf32_tile_cuda(ctx, transa, transb, M, N, K, p.splits, p.kchunk, alpha, A, lda, B,
                             ldb, beta, C, ldc, bias, act, ws, vec, t);
    } else if (p.skinny && ad.w) sgemm_tile<32, 128, 32, 4, 4, true><<<grid, 256, 0, s>>>(SGEMM_ARGS);
    else if (p.skinny) sgemm_tile<32, 128, 32, 4, 4, false><<<grid, 256, 0, s>>>(SGEMM_ARGS);
    else if (ad.w) sgemm_tile<128, 128, 8, 8, 8, true><<<grid, 256, 0, s>>>(SGEMM_ARGS);
    else sgemm_tile<128, 128, 8, 8, 8, false><<<grid, 256, 0, s>>>(SGEMM_ARGS);
#undef SGEMM_ARGS
    CUDA_CHECK_LAUNCH();
    if (p.splits > 1) sgemm_splitk_reduce_launch(s, M, N, p.splits, alpha, ws, beta, C, ldc, bias, act);
}

extern "C" void sgemm_cuda(const nn_ctx *ctx, int transa, int transb, int M, int N, int K,
                           float alpha, const float *A, int lda, const float *B, int ldb,
                           float beta, float *C, int ldc, const float *bias, act_kind act,
                           int splits, float *ws, size_t ws_floats) {
    adam_epi none;
    memset(&none, 0, sizeof none);
    sgemm_launch(ctx, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias,
                 act == ACT_SOFTMAX ? ACT_LINEAR : act, splits, ws, ws_floats, none);
    // Softmax needs each row whole: a row kernel after the product (activation_cuda.cu).
    if (act == ACT_SOFTMAX) softmax_rows_cuda(ctx, M, N, ldc, C, C);
}

// dW + Adam for a small batch (n <= 64): dW (in, out) = x^T dy has almost no arithmetic, so
// the kernel is a stream over w, m, v. A block takes 32 rows of w (all columns, as float4
// groups); dy (n, out) and the block's x columns sit in shared memory. Thread = (column group
// g, row group): it issues the loads of its 4 rows' w, m, v (12 x 16 bytes) before doing any
// arithmetic, keeps dy's float4 for its column in registers across its 4 rows, then updates.
#define DWS_ROWS 32
__global__ void __launch_bounds__(256)
dense_dw_adam_small(int n, int in, int out, const float *__restrict__ x,
                    const float *__restrict__ dy, adam_epi ad) {
    extern __shared__ __align__(16) float sm[];
    float *dys = sm;                   // (n, out)
    float *xs = sm + n * out;          // (n, DWS_ROWS)
    const int k0 = blockIdx.x * DWS_ROWS, G = out / 4;
    // dy and the x columns: 4 + 4 loads in flight per thread before the stores (n <= 64).
    for (int i0 = threadIdx.x; i0 < n * G || i0 < n * DWS_ROWS; i0 += 4 * blockDim.x) {
        float4 dv[4];
        float xv[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int i = i0 + u * blockDim.x, r = i / DWS_ROWS, k = k0 + i % DWS_ROWS;
            if (i < n * G) dv[u] = __ldg(reinterpret_cast<const float4 *>(dy) + i);
            xv[u] = (i < n * DWS_ROWS && k < in) ? __ldg(&x[(size_t)r * in + k]) : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int i = i0 + u * blockDim.x;
            if (i < n * G) reinterpret_cast<float4 *>(dys)[i] = dv[u];
            if (i < n * DWS_ROWS) xs[i] = xv[u];
        }
    }
    const int g = threadIdx.x % 32, rg = threadIdx.x / 32;   // 32 column groups x 8 row groups
    float *__restrict__ W = ad.w, *__restrict__ Mm = ad.m, *__restrict__ V = ad.v;
    float4 w4[4], m4[4], v4[4];
    bool ok[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const int k = k0 + rg + 8 * r;
        ok[r] = g < G && k < in;
        if (ok[r]) {
            const size_t o = (size_t)k * out + g * 4;
            w4[r] = *reinterpret_cast<const float4 *>(W + o);
            m4[r] = *reinterpret_cast<const float4 *>(Mm + o);
            v4[r] = *reinterpret_cast<const float4 *>(V + o);
        }
    }
    __syncthreads();
    if (g >= G) return;
    float acc[4][4];
#pragma unroll
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = 0.0f;
    for (int i = 0; i < n; i++) {
        const float4 d = *reinterpret_cast<const float4 *>(&dys[i * out + g * 4]);
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const float xv = xs[i * DWS_ROWS + rg + 8 * r];
            acc[r][0] = fmaf(xv, d.x, acc[r][0]);
            acc[r][1] = fmaf(xv, d.y, acc[r][1]);
            acc[r][2] = fmaf(xv, d.z, acc[r][2]);
            acc[r][3] = fmaf(xv, d.w, acc[r][3]);
        }
    }
    const float lr = ad.alpha[ad.step ? *ad.step : 0];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        if (!ok[r]) continue;
        adam_update(acc[r][0], w4[r].x, m4[r].x, v4[r].x, lr, ad.a1, ad.a2, ad.eps);
        adam_update(acc[r][1], w4[r].y, m4[r].y, v4[r].y, lr, ad.a1, ad.a2, ad.eps);
        adam_update(acc[r][2], w4[r].z, m4[r].z, v4[r].z, lr, ad.a1, ad.a2, ad.eps);
        adam_update(acc[r][3], w4[r].w, m4[r].w, v4[r].w, lr, ad.a1, ad.a2, ad.eps);
        const size_t o = (size_t)(k0 + rg + 8 * r) * out + g * 4;
        *reinterpret_cast<float4 *>(W + o) = w4[r];
        *reinterpret_cast<float4 *>(Mm + o) = m4[r];
        *reinterpret_cast<float4 *>(V + o) = v4[r];
    }
}

extern "C" void sgemm_adam_cuda(const nn_ctx *ctx, int transa, int transb, int M, int N, int K,
                                const float *A, int lda, const float *B, int ldb, float *w,
                                float *m, float *v, int ldw, const adam_cfg *opt,
                                const float *alpha, const int *step) {
    adam_epi ad = {w, m, v, alpha, step, adam_one_minus(opt->beta1), adam_one_minus(opt->beta2),
                   opt->epsilon};
    // The dense dW shape (x^T dy, row-major w) with a small batch: the streaming kernel.
    if (transa && !transb && K >= 1 && K <= 64 && N % 4 == 0 && N <= 128 && ldw == N &&
        lda == M && ldb == N && aligned16(w) && aligned16(m) && aligned16(v) && aligned16(B) &&
        (long)M * N * K > SGEMM_SMALL_MACS) {
        size_t smem = ((size_t)K * N + (size_t)K * DWS_ROWS) * sizeof(float);
        dense_dw_adam_small<<<(M + DWS_ROWS - 1) / DWS_ROWS, 256, smem, ctx_stream(ctx)>>>(K, M, N, A, B, ad);
        CUDA_CHECK_LAUNCH();
        return;
    }
    sgemm_launch(ctx, transa, transb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, NULL, ldw, NULL,
                 ACT_LINEAR, 1, NULL, 0, ad);
}

// Column sums: a block takes 32 columns (coalesced); its 32 rows of threads each add every 32nd
// row, then the 32 partial sums are added in shared memory in fixed order (deterministic).
__global__ void __launch_bounds__(1024)
colsum_kernel(int rows, int cols, const float *__restrict__ x, float *out) {
    __shared__ float part[32][33];
    const int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < cols)
        for (int r = threadIdx.y; r < rows; r += 32) s += x[(size_t)r * cols + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = 0.0f;
        for (int k = 0; k < 32; k++) t += part[k][threadIdx.x];
        out[c] = t;
    }
}

extern "C" void colsum_cuda(const nn_ctx *ctx, int rows, int cols, const float *x, float *out) {
    if (cols <= 0) return;
    colsum_kernel<<<(cols + 31) / 32, dim3(32, 32), 0, ctx_stream(ctx)>>>(rows, cols, x, out);
    CUDA_CHECK_LAUNCH();
}

// --- dx for a small batch: dx (n, in) = dy (n, out) W^T with n <= 32, out <= 128
// The tile kernel walks K = out in 4 steps, each waiting on memory; this one loads its whole
// panel at once: a block takes 128 rows of W (all `out` columns, one DRAM round trip) and all
// of dy into shared memory, then each thread computes 4 samples x 4 rows of dx. A thread's rows
// are 32 apart and W's shared rows padded to an odd stride, so a warp's W reads hit 32 banks;
// the 4 samples' dy come as one broadcast float4 (dy stored transposed).
#define DXS_ROWS 128
#define DXS_MAXN 32
#define DXS_MAXOUT 128
__global__ void __launch_bounds__(256)
dense_dx_small(int n, int in, int out, const float *__restrict__ dy, const float *__restrict__ w,
               float *__restrict__ dx) {
    extern __shared__ __align__(16) float sm[];
    const int ws = out + 1;                          // odd row stride
    float *wsh = sm;                                 // (DXS_ROWS, ws)
    float *dyt = sm + ((DXS_ROWS * ws + 3) & ~3);    // (out, DXS_MAXN + 4): dy transposed
    const int k0 = blockIdx.x * DXS_ROWS, G = out / 4;
    // 8 loads in flight per thread before any store: one DRAM round trip per 8 float4s.
    for (int e0 = threadIdx.x; e0 < DXS_ROWS * G; e0 += 8 * blockDim.x) {
        float4 v[8];
#pragma unroll
        for (int u = 0; u < 8; u++) {
            const int e = e0 + u * blockDim.x, k = e / G, j = (e % G) * 4;
            v[u] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (e < DXS_ROWS * G && k0 + k < in)
                v[u] = __ldg(reinterpret_cast<const float4 *>(w + (size_t)(k0 + k) * out + j));
        }
#pragma unroll
        for (int u = 0; u < 8; u++) {
            const int e = e0 + u * blockDim.x, k = e / G, j = (e % G) * 4;
            if (e >= DXS_ROWS * G) break;
            float *d = wsh + k * ws + j;
            d[0] = v[u].x, d[1] = v[u].y, d[2] = v[u].z, d[3] = v[u].w;
        }
    }
    for (int e = threadIdx.x; e < DXS_MAXN * out; e += blockDim.x) {
        const int i = e / out, j = e % out;
        dyt[j * (DXS_MAXN + 4) + i] = i < n ? __ldg(&dy[(size_t)i * out + j]) : 0.0f;
    }
    __syncthreads();
    const int kg = threadIdx.x % 32, ng = threadIdx.x / 32;   // rows kg + 32 r, samples 4 ng + c
    float acc[4][4];
#pragma unroll
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = 0.0f;
    for (int j = 0; j < out; j++) {
        const float4 d = *reinterpret_cast<const float4 *>(&dyt[j * (DXS_MAXN + 4) + ng * 4]);
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const float wv = wsh[(kg + 32 * r) * ws + j];
            acc[r][0] = fmaf(d.x, wv, acc[r][0]);
            acc[r][1] = fmaf(d.y, wv, acc[r][1]);
            acc[r][2] = fmaf(d.z, wv, acc[r][2]);
            acc[r][3] = fmaf(d.w, wv, acc[r][3]);
        }
    }
#pragma unroll
    for (int c = 0; c < 4; c++) {
        const int i = ng * 4 + c;
        if (i >= n) break;
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int k = k0 + kg + 32 * r;
            if (k < in) dx[(size_t)i * in + k] = acc[r][c];
        }
    }
}

static size_t dx_small_smem(int out) {
    return ((size_t)((DXS_ROWS * (out + 1) + 3) & ~3) + (size_t)out * (DXS_MAXN + 4)) * sizeof(float);
}

// dx (n, in) = dy (n, out) W^T: the panel kernel for small batches, else the tiled SGEMM.
static void dense_dx(const nn_ctx *ctx, int n, int in, int out, const float *dy, const float *w,
                     float *dx, float *ws, size_t ws_floats) {
    if (n <= DXS_MAXN && out <= DXS_MAXOUT && out % 4 == 0 && aligned16(w) &&
        (long)n * in * out > SGEMM_SMALL_MACS) {
        static int configured = 0;   // one attribute for the kernel: the device's limit is fixed
        size_t smem = dx_small_smem(DXS_MAXOUT);
        if (!configured) {
            CUDA_CHECK(cudaFuncSetAttribute(dense_dx_small, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
            configured = 1;
        }
        dense_dx_small<<<(in + DXS_ROWS - 1) / DXS_ROWS, 256, dx_small_smem(out), ctx_stream(ctx)>>>(
            n, in, out, dy, w, dx);
        CUDA_CHECK_LAUNCH();
        return;
    }
    sgemm_cuda(ctx, 0, 1, n, in, out, 1.0f, dy, out, w, out, 0.0f, dx, in, NULL, ACT_LINEAR, 0, ws,
               ws_floats);
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
    act_backward_cuda(ctx, act, no, out, y, dy);
    if (l->bsize) colsum_cuda(ctx, n, out, dy, dw + (l->boff - l->woff));
    // dW (in, out) = x^T (in, n) . dy (n, out)
    sgemm_cuda(ctx, 1, 0, in, out, n, 1.0f, x, in, dy, out, 0.0f, dw, out, NULL, ACT_LINEAR, 0,
               ws, ws_floats);
    // dx (n, in) = dy (n, out) . W^T (out, in)
    if (dx) dense_dx(ctx, n, in, out, dy, w, dx, ws, ws_floats);
}

extern "C" void dense_backward_dx_cuda(const layer *l, const nn_ctx *ctx, int n, const float *w,
                                       const float *y, float *dy, float *dx, float *dw,
                                       act_kind act, float *ws, size_t ws_floats) {
    int in = l->in.c, out = l->units;
    size_t no = (size_t)n * out;
    act_backward_cuda(ctx, act, no, out, y, dy);
    if (l->bsize) colsum_cuda(ctx, n, out, dy, dw + (l->boff - l->woff));
    if (dx) dense_dx(ctx, n, in, out, dy, w, dx, ws, ws_floats);
}

extern "C" void dense_backward_adam_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                                         float *w, const float *y, float *dy, float *dx, float *dw,
                                         act_kind act, float *m, float *v, const adam_cfg *opt,
                                         const float *alpha, const int *step, float *ws,
                                         size_t ws_floats) {
    int in = l->in.c, out = l->units;
    size_t no = (size_t)n * out;
    act_backward_cuda(ctx, act, no, out, y, dy);
    if (l->bsize) colsum_cuda(ctx, n, out, dy, dw + (l->boff - l->woff));
    // dx first: it needs the weights before this step's update.
    if (dx) dense_dx(ctx, n, in, out, dy, w, dx, ws, ws_floats);
    sgemm_adam_cuda(ctx, 1, 0, in, out, n, x, in, dy, out, w, m, v, out, opt, alpha, step);
}

// --- the layer's CUDA slots (layers/dense.c's table entry points here)

static void dense_cuda_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    dense_forward_cuda(l, ctx, io->n, io->x, io->w, io->y, io->act, io->ws, io->ws_floats);
}
static void dense_cuda_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    dense_backward_cuda(l, ctx, io->n, io->x, io->w, io->y, io->dy, io->dx, io->dw, io->act,
                        io->ws, io->ws_floats);
}
extern "C" const layer_impl dense_cuda = {dense_cuda_ws_floats, dense_cuda_fwd, dense_cuda_bwd};
