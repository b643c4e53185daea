// dense_tf32_cuda.cu: the TF32 tensor-core twin of dense_cuda.cu's 128x128-tile SGEMM, used
// only when the context's tf32 flag is on (NN_TF32=1 at context init; default off, and then
// nothing here runs: the FP32 kernels are unchanged). It serves the large-batch dense shapes
// that take the 128x128 tile: the forward (n x 30752 x 128, split-K), dx (n x 30752 x 128 with
// W^T) and dW + Adam (30752 x 128 x n). Issue 6's "TF32 tensor-core (mma) paths behind a flag".
//
// Thread mapping. A block (256 threads, 8 warps) computes a 128x128 tile of C; warp w takes
// rows 64 (w / 4) .. +64 and columns 32 (w % 4) .. +32 as 4 x 4 mma.sync m16n8k8 tiles (64
// accumulators per thread, as the FP32 kernel's 8x8). K is walked 16 at a time through two
// shared buffers, loaded exactly as the FP32 kernel loads them (float4 from global memory into
// registers while the current tile is multiplied) and rounded to TF32 (cvt.rna) as they are
// stored. Shared tiles are K-major (As[k][m], Bs[k][n]) with rows padded to 136 floats, so
// that a warp's fragment reads (k = lane % 4, m = lane / 4) fall on 32 distinct banks.
// Epilogue: element by element (split-K partials to ws, Adam, or alpha/beta/bias/activation).
// Accuracy: TF32 keeps 10 mantissa bits, so products carry ~5e-4 relative error per element;
// sums over K stay in FP32. Measured in tests/cuda/test_cuda_tf32.c and bench/RESULTS.md.
#include "cuda_common.h"
#include "tile_load.cuh"
#include "kernels.h"
#include "adam_update.cuh"

__device__ __forceinline__ float tf32_act(int act, float v) {
    if (act == ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (act == ACT_SIGMOID) return 1.0f / (1.0f + expf(-v));
    if (act == ACT_TANH) return tanhf(v);
    if (act == ACT_LEAKY_RELU) return v > 0.0f ? v : ACT_LEAKY_RELU_SLOPE * v;
    return v;
}

__device__ __forceinline__ float to_tf32(float x) {
    unsigned u;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(x));
    return __uint_as_float(u);
}

#define TBM 128
#define TBN 128
#define TBK 16
#define TPAD 8

__global__ void __launch_bounds__(256, 2)
sgemm_tf32_tile(int transa, int transb, int M, int N, int K, int kchunk, float alpha,
                const float *__restrict__ A, int lda, const float *__restrict__ B, int ldb,
                float beta, float *C, int ldc, const float *__restrict__ bias, int act,
                float *__restrict__ ws, int vec, sgemm_tf32_adam ad) {
    constexpr int NT = 256, BM = TBM, BN = TBN, BK = TBK;
    constexpr int GA = BM * BK / 4 / NT, GB = BK * BN / 4 / NT;
    __shared__ __align__(16) float As[2][BK][BM + TPAD];
    __shared__ __align__(16) float Bs[2][BK][BN + TPAD];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gid = lane >> 2, tig = lane & 3;
    const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kbeg = blockIdx.z * kchunk;
    const int kend = min(K, kbeg + kchunk);
    const int ntiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
    const bool va = vec & 1, vb = vec & 2;

    float4 ra[GA], rb[GB];
    auto load = [&](int k0) {
#pragma unroll
        for (int i = 0; i < GA; i++) {
            int e = tid + i * NT;
            float4 v = tile_load4<BM, BK>(A, lda, transa, e, m0, M, k0, kend, va);
            ra[i] = v;
        }
#pragma unroll
        for (int i = 0; i < GB; i++) {
            int e = tid + i * NT;
            float4 v = tile_load4<BN, BK>(B, ldb, !transb, e, n0, N, k0, kend, vb);
            rb[i] = v;
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < GA; i++) {
            int e = tid + i * NT;
            float4 r = make_float4(to_tf32(ra[i].x), to_tf32(ra[i].y), to_tf32(ra[i].z), to_tf32(ra[i].w));
            if (!transa) {
                int m = e / (BK / 4), k = (e % (BK / 4)) * 4;
                As[buf][k][m] = r.x, As[buf][k + 1][m] = r.y;
                As[buf][k + 2][m] = r.z, As[buf][k + 3][m] = r.w;
            } else {
                int m = (e % (BM / 4)) * 4, k = e / (BM / 4);
                *reinterpret_cast<float4 *>(&As[buf][k][m]) = r;
            }
        }
#pragma unroll
        for (int i = 0; i < GB; i++) {
            int e = tid + i * NT;
            float4 r = make_float4(to_tf32(rb[i].x), to_tf32(rb[i].y), to_tf32(rb[i].z), to_tf32(rb[i].w));
            if (!transb) {
                int n = (e % (BN / 4)) * 4, k = e / (BN / 4);
                *reinterpret_cast<float4 *>(&Bs[buf][k][n]) = r;
            } else {
                int n = e / (BK / 4), k = (e % (BK / 4)) * 4;
                Bs[buf][k][n] = r.x, Bs[buf][k + 1][n] = r.y;
                Bs[buf][k + 2][n] = r.z, Bs[buf][k + 3][n] = r.w;
            }
        }
    };

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0.0f;

    if (ntiles > 0) {
        load(kbeg);
        store(0);
    }
    __syncthreads();
    for (int t = 0; t < ntiles; t++) {
        const int buf = t & 1;
        if (t + 1 < ntiles) load(kbeg + (t + 1) * BK);
#pragma unroll
        for (int kk = 0; kk < BK; kk += 8) {
            unsigned a[4][4], b[4][2];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int r = wm + i * 16 + gid;
                a[i][0] = __float_as_uint(As[buf][kk + tig][r]);
                a[i][1] = __float_as_uint(As[buf][kk + tig][r + 8]);
                a[i][2] = __float_as_uint(As[buf][kk + tig + 4][r]);
                a[i][3] = __float_as_uint(As[buf][kk + tig + 4][r + 8]);
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int c = wn + j * 8 + gid;
                b[j][0] = __float_as_uint(Bs[buf][kk + tig][c]);
                b[j][1] = __float_as_uint(Bs[buf][kk + tig + 4][c]);
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    asm volatile(
                        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, "
                        "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                        : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
                        : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]),
                          "r"(b[j][1]));
        }
        if (t + 1 < ntiles) store(buf ^ 1);
        __syncthreads();
    }

    // Epilogue: accumulator r of tile (i, j) is row gid (+8 for r >= 2), column 2 tig + r % 2.
    const bool split = gridDim.z > 1;
    const float lr = ad.w ? ad.alpha[ad.step ? *ad.step : 0] : 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int row = m0 + wm + i * 16 + gid + (r >= 2 ? 8 : 0);
                const int col = n0 + wn + j * 8 + tig * 2 + (r & 1);
                if (row >= M || col >= N) continue;
                const float s = acc[i][j][r];
                if (split) {
                    ws[((size_t)blockIdx.z * M + row) * N + col] = s;
                } else if (ad.w) {
                    const size_t o = (size_t)row * ldc + col;
                    adam_update(alpha * s, ad.w[o], ad.m[o], ad.v[o], lr, ad.a1, ad.a2, ad.eps);
                } else {
                    float *o = C + (size_t)row * ldc + col;
                    float v = alpha * s;
                    if (beta != 0.0f) v += beta * *o;
                    if (bias) v += bias[col];
                    *o = tf32_act(act, v);
                }
            }
}

extern "C" void sgemm_tf32_tile_cuda(const nn_ctx *ctx, int transa, int transb, int M, int N,
                                     int K, int splits, int kchunk, float alpha, const float *A,
                                     int lda, const float *B, int ldb, float beta, float *C,
                                     int ldc, const float *bias, act_kind act, float *ws, int vec,
                                     sgemm_tf32_adam ad) {
    dim3 grid((N + TBN - 1) / TBN, (M + TBM - 1) / TBM, splits);
    sgemm_tf32_tile<<<grid, 256, 0, ctx_stream(ctx)>>>(transa, transb, M, N, K, kchunk, alpha, A,
                                                        lda, B, ldb, beta, C, ldc, bias, act, ws,
                                                        vec, ad);
    CUDA_CHECK_LAUNCH();
}

extern "C" int cuda_tf32_enabled(const nn_ctx *ctx) { return ctx && ctx->cuda ? ctx->cuda->tf32 : 0; }

extern "C" void cuda_set_tf32(nn_ctx *ctx, int on) {
    if (ctx && ctx->cuda) ctx->cuda->tf32 = on != 0;
}
