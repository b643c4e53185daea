// sgemm_tile.cuh: the hand-written SGEMM's tile kernel and its split-K reduction, shared by the
// dense layer (dense_cuda.cu: plain matrices) and the convolution (conv2d_cuda.cu: implicit GEMM,
// the operands gathered from NHWC tensors as they are loaded; igemm.cuh). The thread mapping,
// the double-buffered shared tiles and the epilogue are described at the top of dense_cuda.cu.
#ifndef NN_SGEMM_TILE_CUH
#define NN_SGEMM_TILE_CUH

#include "cuda_common.h"
#include "kernels.h"
#include "adam_update.cuh"
#include "igemm.cuh"
#include "tile_load.cuh"

// The elementwise activations; softmax (a row's values together) is not an epilogue: callers
// pass ACT_LINEAR and run the row kernel after (act_forward_cuda).
__device__ __forceinline__ float act_apply(int act, float v) {
    if (act == ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (act == ACT_SIGMOID) return 1.0f / (1.0f + expf(-v));
    if (act == ACT_TANH) return tanhf(v);
    if (act == ACT_LEAKY_RELU) return v > 0.0f ? v : ACT_LEAKY_RELU_SLOPE * v;
    return v;
}

// Adam applied in the SGEMM's epilogue: the product is the gradient of w (same layout as C),
// used at once and never stored (adam_cuda.cu holds the same arithmetic for the arena).
struct adam_epi {
    float *w, *m, *v;        // NULL: no Adam, C gets the product
    const float *alpha;      // alpha[step]
    const int *step;
    float a1, a2, eps;
};

// MODE: IGEMM_NONE for plain matrices A, B; otherwise the convolution pass whose operands the
// loads gather from NHWC tensors (igemm.cuh: A and B are then the tensors, ig their geometry).
template <int BM, int BN, int BK, int TM, int TN, bool ADAM, int MODE = IGEMM_NONE>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), 2)
sgemm_tile(int transa, int transb, int M, int N, int K, int kchunk, float alpha,
           const float *__restrict__ A, int lda, const float *__restrict__ B, int ldb, float beta,
           float *C, int ldc, const float *__restrict__ bias, int act, float *__restrict__ ws,
           int vec, adam_epi ad, igemm_geom ig) {
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int GA = (BM * BK / 4 + NT - 1) / NT, GB = (BK * BN / 4 + NT - 1) / NT;
    constexpr int PAD = 4;
    constexpr int RG = BM / (TM / 4), CG = BN / (TN / 4);   // distance between 4-row/col pieces
    static_assert(TM % 4 == 0 && TN % 4 == 0 && BK % 4 == 0, "tiles are made of float4 pieces");
    __shared__ __align__(16) float As[2][BK][BM + PAD];
    __shared__ __align__(16) float Bs[2][BK][BN + PAD];

    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kbeg = blockIdx.z * kchunk;
    const int kend = min(K, kbeg + kchunk);
    const int ntiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
    const bool va = vec & 1, vb = vec & 2;   // 16-byte loads allowed (aligned, ld % 4 == 0)

    // Groups of 4 elements that are contiguous in memory: along k for A (m, k) and B^T (n, k),
    // along m for A^T and along n for B. A thread loads GA + GB of them per K tile (16-byte
    // loads when aligned and inside the matrix, else element by element).
    float4 ra[GA], rb[GB];
    igemm_row rows[MODE == IGEMM_NONE ? 1 : GA];   // the gathers' per-row indices, worked out once
    if constexpr (MODE != IGEMM_NONE) {
#pragma unroll
        for (int i = 0; i < GA; i++) rows[i] = igemm_row_of<MODE, BM, BK>(ig, tid + i * NT, m0, M);
    }
    auto load = [&](int k0) {
#pragma unroll
        for (int i = 0; i < GA; i++) {
            int e = tid + i * NT;
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (e < BM * BK / 4) {
                if constexpr (MODE == IGEMM_NONE)
                    v = tile_load4<BM, BK>(A, lda, transa, e, m0, M, k0, kend, va);
                else
                    v = igemm_load_a<MODE, BM, BK>(ig, A, rows[i], e, m0, M, k0, kend, va);
            }
            ra[i] = v;
        }
#pragma unroll
        for (int i = 0; i < GB; i++) {
            int e = tid + i * NT;
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (e < BK * BN / 4)
                v = MODE != IGEMM_DX ? tile_load4<BN, BK>(B, ldb, !transb, e, n0, N, k0, kend, vb)
                                     : igemm_load_b_dx<BN, BK>(ig, B, e, n0, N, k0, kend, vb);
            rb[i] = v;
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < GA; i++) {
            int e = tid + i * NT;
            if (e >= BM * BK / 4) continue;
            if (!transa) {
                int m = e / (BK / 4), k = (e % (BK / 4)) * 4;
                As[buf][k][m] = ra[i].x, As[buf][k + 1][m] = ra[i].y;
                As[buf][k + 2][m] = ra[i].z, As[buf][k + 3][m] = ra[i].w;
            } else {
                int m = (e % (BM / 4)) * 4, k = e / (BM / 4);
                *reinterpret_cast<float4 *>(&As[buf][k][m]) = ra[i];
            }
        }
#pragma unroll
        for (int i = 0; i < GB; i++) {
            int e = tid + i * NT;
            if (e >= BK * BN / 4) continue;
            if (!transb) {
                int n = (e % (BN / 4)) * 4, k = e / (BN / 4);
                *reinterpret_cast<float4 *>(&Bs[buf][k][n]) = rb[i];
            } else {
                int n = e / (BK / 4), k = (e % (BK / 4)) * 4;
                Bs[buf][k][n] = rb[i].x, Bs[buf][k + 1][n] = rb[i].y;
                Bs[buf][k + 2][n] = rb[i].z, Bs[buf][k + 3][n] = rb[i].w;
            }
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

    // Epilogue, 4 consecutive columns at a time (16-byte accesses when aligned and inside).
    const bool split = gridDim.z > 1;
    const bool vc = (vec & 4) != 0;   // C (or the Adam arenas) 16-byte aligned, ldc % 4 == 0
    const float lr = ADAM ? ad.alpha[ad.step ? *ad.step : 0] : 0.0f;
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int row = m0 + (i / 4) * RG + ty * 4 + (i % 4);
        if (row >= M) continue;
#pragma unroll
        for (int j4 = 0; j4 < TN; j4 += 4) {
            const int col = n0 + (j4 / 4) * CG + tx * 4;
            if (col >= N) continue;
            float r[4] = {acc[i][j4], acc[i][j4 + 1], acc[i][j4 + 2], acc[i][j4 + 3]};
            const bool full = col + 3 < N;
            if (split) {
                float *o = ws + ((size_t)blockIdx.z * M + row) * N + col;
                if (full && (N % 4) == 0) *reinterpret_cast<float4 *>(o) = make_float4(r[0], r[1], r[2], r[3]);
                else
                    for (int c = 0; c < 4 && col + c < N; c++) o[c] = r[c];
            } else if (ADAM) {
                if (full && vc) continue;   // done below, a row at a time
                const size_t o = (size_t)row * ldc + col;
                for (int c = 0; c < 4 && col + c < N; c++)
                    adam_update(alpha * r[c], ad.w[o + c], ad.m[o + c], ad.v[o + c], lr, ad.a1, ad.a2, ad.eps);
            } else {
                float *o = C + (size_t)row * ldc + col;
                float out[4];
                for (int c = 0; c < 4; c++) {
                    if (col + c >= N) break;
                    float v = alpha * r[c];
                    if (beta != 0.0f) v += beta * o[c];
                    if (bias) v += bias[col + c];
                    out[c] = act_apply(act, v);
                }
                if (full && vc) *reinterpret_cast<float4 *>(o) = make_float4(out[0], out[1], out[2], out[3]);
                else
                    for (int c = 0; c < 4 && col + c < N; c++) o[c] = out[c];
            }
        }
    }
    // Adam on the 16-byte pieces: a row's loads first (6 x 16 bytes in flight per thread), then
    // the arithmetic, then the stores. The gradient never goes through memory.
    if (ADAM && !split && vc) {
        constexpr int RB = TN >= 8 ? 1 : 2;   // rows per batch of loads, as registers allow
        float *__restrict__ W = ad.w, *__restrict__ Mm = ad.m, *__restrict__ V = ad.v;
#pragma unroll
        for (int i0 = 0; i0 < TM; i0 += RB) {
            float4 w4[RB][TN / 4], m4[RB][TN / 4], v4[RB][TN / 4];
            size_t off[RB][TN / 4];
            bool ok[RB][TN / 4];
#pragma unroll
            for (int di = 0; di < RB; di++)
#pragma unroll
                for (int g = 0; g < TN / 4; g++) {
                    const int i = i0 + di;
                    const int row = m0 + (i / 4) * RG + ty * 4 + (i % 4), col = n0 + g * CG + tx * 4;
                    ok[di][g] = row < M && col + 3 < N;
                    off[di][g] = (size_t)row * ldc + col;
                    if (ok[di][g]) {
                        w4[di][g] = *reinterpret_cast<const float4 *>(W + off[di][g]);
                        m4[di][g] = *reinterpret_cast<const float4 *>(Mm + off[di][g]);
                        v4[di][g] = *reinterpret_cast<const float4 *>(V + off[di][g]);
                    }
                }
#pragma unroll
            for (int di = 0; di < RB; di++)
#pragma unroll
                for (int g = 0; g < TN / 4; g++) {
                    if (!ok[di][g]) continue;
                    const float *r = &acc[i0 + di][g * 4];
                    adam_update(alpha * r[0], w4[di][g].x, m4[di][g].x, v4[di][g].x, lr, ad.a1, ad.a2, ad.eps);
                    adam_update(alpha * r[1], w4[di][g].y, m4[di][g].y, v4[di][g].y, lr, ad.a1, ad.a2, ad.eps);
                    adam_update(alpha * r[2], w4[di][g].z, m4[di][g].z, v4[di][g].z, lr, ad.a1, ad.a2, ad.eps);
                    adam_update(alpha * r[3], w4[di][g].w, m4[di][g].w, v4[di][g].w, lr, ad.a1, ad.a2, ad.eps);
                    *reinterpret_cast<float4 *>(W + off[di][g]) = w4[di][g];
                    *reinterpret_cast<float4 *>(Mm + off[di][g]) = m4[di][g];
                    *reinterpret_cast<float4 *>(V + off[di][g]) = v4[di][g];
                }
        }
    }
}

// Sums the split-K slices in order z = 0, 1, ... and applies the epilogue. Many slices (16 and
// more): a block takes 32 consecutive outputs (coalesced); its 16 rows of threads each add every
// 16th slice, then the 16 partial sums are added in shared memory in fixed order. Few slices
// (a product that almost fills the device, split 2-15 ways): a thread per output adds them in
// order, so the rows of threads are not left idle (measured: 122 us for 3 slices of 2M outputs
// the first way). Either way the order is fixed: deterministic.
static __global__ void __launch_bounds__(512)
sgemm_splitk_reduce(int M, int N, int splits, float alpha, const float *__restrict__ ws,
                    float beta, float *C, int ldc, const float *__restrict__ bias, int act) {
    __shared__ float part[16][33];
    const size_t mn = (size_t)M * N;
    const bool few = blockDim.y == 1;
    const size_t i = few ? blockIdx.x * (size_t)blockDim.x + threadIdx.x : blockIdx.x * (size_t)32 + threadIdx.x;
    float t = 0.0f;
    if (few) {
        if (i >= mn) return;
        for (int z = 0; z < splits; z++) t += ws[z * mn + i];
    } else {
        float s = 0.0f;
        if (i < mn)
            for (int z = threadIdx.y; z < splits; z += 16) s += ws[z * mn + i];
        part[threadIdx.y][threadIdx.x] = s;
        __syncthreads();
        if (threadIdx.y != 0 || i >= mn) return;
        for (int k = 0; k < 16; k++) t += part[k][threadIdx.x];
    }
    const int row = (int)(i / N), col = (int)(i % N);
    float v = alpha * t;
    if (beta != 0.0f) v += beta * C[(size_t)row * ldc + col];
    if (bias) v += bias[col];
    C[(size_t)row * ldc + col] = act_apply(act, v);
}

static inline void sgemm_splitk_reduce_launch(cudaStream_t s, int M, int N, int splits, float alpha,
                                              const float *ws, float beta, float *C, int ldc,
                                              const float *bias, act_kind act) {
    size_t mn = (size_t)M * N;
    if (splits < 16)
        sgemm_splitk_reduce<<<(unsigned)((mn + 255) / 256), 256, 0, s>>>(M, N, splits, alpha, ws, beta, C, ldc, bias, act);
    else
        sgemm_splitk_reduce<<<(unsigned)((mn + 31) / 32), dim3(32, 16), 0, s>>>(M, N, splits, alpha, ws, beta, C, ldc, bias, act);
    CUDA_CHECK_LAUNCH();
}

#endif
