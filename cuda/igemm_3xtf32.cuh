// igemm_3xtf32.cuh: the implicit-GEMM convolution (igemm.cuh) on the tensor cores, with FP32's
// accuracy kept by the "3xTF32" split. An experiment beside sgemm_tile.cuh's FP32 kernel
// (NN_IGEMM_TILES=t, cuda/conv2d_cuda.cu): faster than it at most measured shapes (bench/RESULTS.md,
// 2026-12-08), the default once the version below has run the CUDA tests on a card.
//
// Why: the FP32 implicit GEMM runs at 17-34 TFLOP/s of the H100's 67 TFLOP/s FMA peak, and the
// three-block models spend most of their step there. A TF32 tensor-core product (mma.sync
// m16n8k8) keeps only 10 mantissa bits of each input; splitting each input x into big =
// tf32(x) and small = tf32(x - big) and adding big*big + big*small + small*big (small*small,
// ~2^-22 relative, dropped) gives a product as exact as FP32's to a few units in the last place,
// in three tensor-core instructions instead of 64 FMAs per 16x8x8 piece per lane group.
// The sums over K stay in FP32 in the accumulators.
//
// Thread mapping (as dense_tf32_cuda.cu's): a block of (BM/WM) x (BN/WN) warps computes a
// BM x BN tile of C; a warp owns WM x WN as (WM/16) x (WN/8) m16n8k8 tiles. Shared tiles are
// K-major (As[k][m], Bs[k][n]), rows padded by 8 floats so that a fragment read (k = lane % 4,
// m = lane / 4) falls on 32 distinct banks; they hold the FP32 values, split as fragments are
// read. Loads, gathers and the double buffering are sgemm_tile's (igemm.cuh gathers).
#ifndef NN_IGEMM_3XTF32_CUH
#define NN_IGEMM_3XTF32_CUH

#include "sgemm_tile.cuh"

// x rounded to TF32 (10 mantissa bits): half a TF32 ulp added to the bits, the low 13 cleared
// (CUTLASS's round_half_ulp_truncate; the magnitude rounds half up, as cvt.rna.tf32.f32 does).
__device__ __forceinline__ unsigned tf32_round(float x) {
    return (__float_as_uint(x) + 0x1000u) & 0xffffe000u;
}

// x as big + small, both TF32: |x - big| <= 2^-11 |x|, and x - big is exact in FP32, so the
// dropped small*small and the rounding of small each err by at most 2^-22 of the product.
// Integer and FP32 operations, not cvt.rna.tf32.f32 (this file's first version): conversions
// issue at a fraction of their rate, and two per element, per warp that reads it, likely cost
// more issue cycles than the three tensor-core products they feed; that version ran its backward
// passes at 23-27 TFLOP/s (H100, 2026-12-08), a fraction of what the tensor cores give three
// products. This version has not run on a card yet (bench/RESULTS.md).
__device__ __forceinline__ void tf32_split(float x, unsigned &big, unsigned &small) {
    big = tf32_round(x);
    small = tf32_round(x - __uint_as_float(big));
}

__device__ __forceinline__ void mma_tf32(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

template <int BM, int BN, int BK, int WM, int WN, int MODE>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32)
igemm_3xtf32_tile(int M, int N, int K, int kchunk, const float *__restrict__ A,
                  const float *__restrict__ B, float *C, const float *__restrict__ bias, int act,
                  float *__restrict__ ws, int vec, igemm_geom ig) {
    constexpr int NT = (BM / WM) * (BN / WN) * 32;
    constexpr int MI = WM / 16, NJ = WN / 8;
    constexpr int GA = (BM * BK / 4 + NT - 1) / NT, GB = (BK * BN / 4 + NT - 1) / NT;
    constexpr int PAD = 8;
    constexpr bool transa = MODE == IGEMM_DW, transb = MODE == IGEMM_DX;
    static_assert(MODE != IGEMM_NONE, "the implicit-GEMM passes only");
    static_assert(WM % 16 == 0 && WN % 8 == 0 && BK % 8 == 0, "whole m16n8k8 pieces");
    __shared__ __align__(16) float As[2][BK][BM + PAD];
    __shared__ __align__(16) float Bs[2][BK][BN + PAD];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gid = lane >> 2, tig = lane & 3;
    const int wm = (warp / (BN / WN)) * WM, wn = (warp % (BN / WN)) * WN;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int kbeg = blockIdx.z * kchunk;
    const int kend = min(K, kbeg + kchunk);
    const int ntiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
    const bool va = vec & 1, vb = vec & 2;

    float4 ra[GA], rb[GB];
    igemm_row rows[GA];
#pragma unroll
    for (int i = 0; i < GA; i++) rows[i] = igemm_row_of<MODE, BM, BK>(ig, tid + i * NT, m0, M);
    auto load = [&](int k0) {
#pragma unroll
        for (int i = 0; i < GA; i++) {
            const int e = tid + i * NT;
            ra[i] = e < BM * BK / 4 ? igemm_load_a<MODE, BM, BK>(ig, A, rows[i], e, m0, M, k0, kend, va)
                                    : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int i = 0; i < GB; i++) {
            const int e = tid + i * NT;
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (e < BK * BN / 4)
                v = MODE != IGEMM_DX ? tile_load4<BN, BK>(B, N, true, e, n0, N, k0, kend, vb)
                                     : igemm_load_b_dx<BN, BK>(ig, B, e, n0, N, k0, kend, vb);
            rb[i] = v;
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < GA; i++) {
            const int e = tid + i * NT;
            if (e >= BM * BK / 4) continue;
            if (!transa) {
                const int m = e / (BK / 4), k = (e % (BK / 4)) * 4;
                As[buf][k][m] = ra[i].x, As[buf][k + 1][m] = ra[i].y;
                As[buf][k + 2][m] = ra[i].z, As[buf][k + 3][m] = ra[i].w;
            } else {
                const int m = (e % (BM / 4)) * 4, k = e / (BM / 4);
                *reinterpret_cast<float4 *>(&As[buf][k][m]) = ra[i];
            }
        }
#pragma unroll
        for (int i = 0; i < GB; i++) {
            const int e = tid + i * NT;
            if (e >= BK * BN / 4) continue;
            if (!transb) {
                const int n = (e % (BN / 4)) * 4, k = e / (BN / 4);
                *reinterpret_cast<float4 *>(&Bs[buf][k][n]) = rb[i];
            } else {
                const int n = e / (BK / 4), k = (e % (BK / 4)) * 4;
                Bs[buf][k][n] = rb[i].x, Bs[buf][k + 1][n] = rb[i].y;
                Bs[buf][k + 2][n] = rb[i].z, Bs[buf][k + 3][n] = rb[i].w;
            }
        }
    };

    float acc[MI][NJ][4];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NJ; j++)
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
            unsigned ab[MI][4], as[MI][4], bb[NJ][2], bs[NJ][2];
#pragma unroll
            for (int i = 0; i < MI; i++) {
                const int r = wm + i * 16 + gid;
                tf32_split(As[buf][kk + tig][r], ab[i][0], as[i][0]);
                tf32_split(As[buf][kk + tig][r + 8], ab[i][1], as[i][1]);
                tf32_split(As[buf][kk + tig + 4][r], ab[i][2], as[i][2]);
                tf32_split(As[buf][kk + tig + 4][r + 8], ab[i][3], as[i][3]);
            }
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                const int c = wn + j * 8 + gid;
                tf32_split(Bs[buf][kk + tig][c], bb[j][0], bs[j][0]);
                tf32_split(Bs[buf][kk + tig + 4][c], bb[j][1], bs[j][1]);
            }
            // the small cross terms first, then big x big, into the same FP32 sums
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++) {
                    mma_tf32(acc[i][j], as[i], bb[j]);
                    mma_tf32(acc[i][j], ab[i], bs[j]);
                    mma_tf32(acc[i][j], ab[i], bb[j]);
                }
        }
        if (t + 1 < ntiles) store(buf ^ 1);
        __syncthreads();
    }

    // Epilogue: accumulator r of piece (i, j) is row gid (+8 for r >= 2), column 2 tig + r % 2;
    // two columns at a time (8-byte stores when allowed: col is even).
    const bool split = gridDim.z > 1, pairs = (vec & 8) != 0;   // N even, C and ws 8-byte aligned
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NJ; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int row = m0 + wm + i * 16 + gid + h * 8;
                const int col = n0 + wn + j * 8 + tig * 2;
                if (row >= M || col >= N) continue;
                float v0 = acc[i][j][2 * h], v1 = acc[i][j][2 * h + 1];
                float *o = split ? ws + ((size_t)blockIdx.z * M + row) * N + col : C + (size_t)row * N + col;
                if (!split) {
                    if (bias) v0 += bias[col], v1 += col + 1 < N ? bias[col + 1] : 0.0f;
                    v0 = act_apply(act, v0), v1 = act_apply(act, v1);
                }
                if (pairs) *reinterpret_cast<float2 *>(o) = make_float2(v0, v1);
                else {
                    o[0] = v0;
                    if (col + 1 < N) o[1] = v1;
                }
            }
}

#endif
