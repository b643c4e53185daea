// igemm.cuh: convolution as implicit GEMM. The three passes of a conv layer are matrix products
// whose operands are never written out: the SGEMM's tile loads (sgemm_tile.cuh) gather them from
// the NHWC tensors as they go. With P = n*OH*OW output pixels, KK = KH*KW*C taps (HWIO order, c
// fastest) and F filters:
//   IGEMM_FWD: y (P, F)      = col (P, KK) . W (KK, F)          A = col gathered from x, B = W
//   IGEMM_DW:  dW (KK+1, F)  = col^T (KK+1, P) . dz (P, F)      A = col^T (plus a row of ones:
//                                                               the bias gradient), B = dz
//   IGEMM_DX:  dx (n*H*W, C) = dcolT (n*H*W, KH*KW*F) . W' (KH*KW*F, C)   A gathered from dz: for
//              input pixel (b, iy, ix) and (ky, kx, f), the dz of the output pixel whose window
//              puts tap (ky, kx) on it (zero where no output does: stride, padding, edges);
//              W'[(ky, kx, f)][c] = W[ky][kx][c][f]
// dx is a gather (each input pixel sums what reaches it), so no atomics and no col2im: every
// pass is deterministic. Loads come in groups of 4 along the depth of the product: 4 channels of
// one tap for col (16 bytes when C % 4 == 0), 4 filters of one tap for dz and W' (F % 4 == 0);
// any other shape is loaded element by element (correct, slower).
#ifndef NN_IGEMM_CUH
#define NN_IGEMM_CUH

#include <cuda_runtime.h>

enum { IGEMM_NONE = 0, IGEMM_FWD, IGEMM_DW, IGEMM_DX };

struct igemm_geom {
    int H, W, C;        // input (n, H, W, C)
    int OH, OW, F;      // output (n, OH, OW, F)
    int KW, SH, SW, PT, PL;
    int KK;             // KH * KW * C
};

// col[p][t0 .. t0+3] (t < tlim; t == KK is the bias row of ones, beyond it zeros).
__device__ __forceinline__ float4 igemm_col4(const igemm_geom &g, const float *__restrict__ x,
                                             int p, int t0, int tlim, bool vec) {
    const int ox = p % g.OW, q = p / g.OW, oy = q % g.OH, b = q / g.OH;
    const int iy0 = oy * g.SH - g.PT, ix0 = ox * g.SW - g.PL;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (vec && t0 + 3 < tlim && t0 + 3 < g.KK) {   // 4 channels of one tap (C % 4 == 0)
        const int tap = t0 / g.C, c = t0 - tap * g.C, ky = tap / g.KW, kx = tap - ky * g.KW;
        const int iy = iy0 + ky, ix = ix0 + kx;
        if ((unsigned)iy < (unsigned)g.H && (unsigned)ix < (unsigned)g.W)
            v = __ldg(reinterpret_cast<const float4 *>(x + (((size_t)b * g.H + iy) * g.W + ix) * g.C + c));
        return v;
    }
    float e[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int t = t0 + j;
        e[j] = 0.0f;
        if (t >= tlim) continue;
        if (t >= g.KK) {
            e[j] = t == g.KK ? 1.0f : 0.0f;
            continue;
        }
        const int tap = t / g.C, c = t - tap * g.C, ky = tap / g.KW, kx = tap - ky * g.KW;
        const int iy = iy0 + ky, ix = ix0 + kx;
        if ((unsigned)iy < (unsigned)g.H && (unsigned)ix < (unsigned)g.W)
            e[j] = __ldg(x + (((size_t)b * g.H + iy) * g.W + ix) * g.C + c);
    }
    return make_float4(e[0], e[1], e[2], e[3]);
}

// The dz that tap (ky, kx) of filter f brings to input pixel (b, iy, ix); -1 offset: none.
__device__ __forceinline__ long igemm_dz_at(const igemm_geom &g, int b, int iy, int ix, int k) {
    const int tap = k / g.F, f = k - tap * g.F, ky = tap / g.KW, kx = tap - ky * g.KW;
    const int ty = iy + g.PT - ky, tx = ix + g.PL - kx;
    if (ty < 0 || tx < 0) return -1;
    const int oy = ty / g.SH, ox = tx / g.SW;
    if (oy * g.SH != ty || ox * g.SW != tx || oy >= g.OH || ox >= g.OW) return -1;
    return (((long)b * g.OH + oy) * g.OW + ox) * g.F + f;
}

// dcolT[q][k0 .. k0+3] for input pixel q (k < klim).
__device__ __forceinline__ float4 igemm_dz4(const igemm_geom &g, const float *__restrict__ dz,
                                            int q, int k0, int klim, bool vec) {
    const int ix = q % g.W, t = q / g.W, iy = t % g.H, b = t / g.H;
    if (vec && k0 + 3 < klim) {   // 4 filters of one tap (F % 4 == 0)
        const long o = igemm_dz_at(g, b, iy, ix, k0);
        return o >= 0 ? __ldg(reinterpret_cast<const float4 *>(dz + o)) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    float e[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const long o = k0 + j < klim ? igemm_dz_at(g, b, iy, ix, k0 + j) : -1;
        e[j] = o >= 0 ? __ldg(dz + o) : 0.0f;
    }
    return make_float4(e[0], e[1], e[2], e[3]);
}

// Float4 number e of the A tile (TR rows from r0, depth TK from k0), in the order sgemm_tile's
// store expects: along the depth for FWD and DX (transa = 0), along the rows for DW (transa = 1).
template <int MODE, int TR, int TK>
__device__ __forceinline__ float4 igemm_load_a(const igemm_geom &g, const float *__restrict__ X,
                                               int e, int r0, int rlim, int k0, int klim, bool vec) {
    const float4 z = make_float4(0.f, 0.f, 0.f, 0.f);
    if (MODE == IGEMM_DW) {   // rows = taps, depth = output pixels
        const int r = r0 + (e % (TR / 4)) * 4, k = k0 + e / (TR / 4);
        return k < klim ? igemm_col4(g, X, k, r, rlim, vec) : z;
    }
    const int r = r0 + e / (TK / 4), k = k0 + (e % (TK / 4)) * 4;
    if (r >= rlim) return z;
    return MODE == IGEMM_FWD ? igemm_col4(g, X, r, k, klim, vec) : igemm_dz4(g, X, r, k, klim, vec);
}

// DX's B tile: W'[(tap, f)][c] read from the HWIO kernel, 4 filters at a time (transb = 1 order).
template <int TN, int TK>
__device__ __forceinline__ float4 igemm_load_b_dx(const igemm_geom &g, const float *__restrict__ w,
                                                  int e, int n0, int nlim, int k0, int klim, bool vec) {
    const int c = n0 + e / (TK / 4), k = k0 + (e % (TK / 4)) * 4;
    if (c >= nlim) return make_float4(0.f, 0.f, 0.f, 0.f);
    if (vec && k + 3 < klim) {
        const int tap = k / g.F, f = k - tap * g.F;
        return __ldg(reinterpret_cast<const float4 *>(w + ((size_t)tap * g.C + c) * g.F + f));
    }
    float v[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int kj = k + j, tap = kj / g.F, f = kj - tap * g.F;
        v[j] = kj < klim ? __ldg(w + ((size_t)tap * g.C + c) * g.F + f) : 0.0f;
    }
    return make_float4(v[0], v[1], v[2], v[3]);
}

#endif
