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

#include "cuda_common.h"

enum { IGEMM_NONE = 0, IGEMM_FWD, IGEMM_DW, IGEMM_DX };

struct igemm_geom {
    int H, W, C;        // input (n, H, W, C)
    int OH, OW, F;      // output (n, OH, OW, F)
    int KW, SH, SW, PT, PL;
    int KK;             // KH * KW * C
    fastdiv dW, dH, dC, dOW, dOH, dF, dKW, dSH, dSW;   // the same sizes as fast divisors
};

// What the loads of one A row need at every K tile, worked out once before the K loop (the
// row a thread loads is the same at every K tile; only the depth moves):
//   FWD: the output pixel's sample and the top-left input position of its window (b, y, x);
//   DX:  the input pixel's sample and its position shifted by the padding (b, y, x);
//   DW:  the first of the thread's 4 taps as (c, ky, kx) in (b, y, x), ok when the 4 are one
//        tap's 4 channels (the 16-byte case).
struct igemm_row {
    int ok, b, y, x;
};

template <int MODE, int TR, int TK>
__device__ __forceinline__ igemm_row igemm_row_of(const igemm_geom &g, int e, int r0, int rlim) {
    igemm_row w;
    if (MODE == IGEMM_DW) {
        const int t0 = r0 + (e % (TR / 4)) * 4;
        w.ok = t0 + 3 < rlim && t0 + 3 < g.KK;
        const int tap = fastdivmod(t0, g.dC, w.b);
        w.y = fastdivmod(tap, g.dKW, w.x);
        return w;
    }
    const int r = r0 + e / (TK / 4);
    w.ok = r < rlim;
    int q, px, py;
    if (MODE == IGEMM_FWD) {
        q = fastdivmod(r, g.dOW, px), w.b = fastdivmod(q, g.dOH, py);
        w.y = py * g.SH - g.PT, w.x = px * g.SW - g.PL;
    } else {
        q = fastdivmod(r, g.dW, px), w.b = fastdivmod(q, g.dH, py);
        w.y = py + g.PT, w.x = px + g.PL;
    }
    return w;
}

// x at tap t (< KK) of the window whose top-left input position is (iy0, ix0); 0 outside.
__device__ __forceinline__ float igemm_x_at(const igemm_geom &g, const float *__restrict__ x, int b,
                                            int iy0, int ix0, int t) {
    int c, kx;
    const int tap = fastdivmod(t, g.dC, c), ky = fastdivmod(tap, g.dKW, kx);
    const int iy = iy0 + ky, ix = ix0 + kx;
    if ((unsigned)iy < (unsigned)g.H && (unsigned)ix < (unsigned)g.W)
        return __ldg(x + (((size_t)b * g.H + iy) * g.W + ix) * g.C + c);
    return 0.0f;
}

// 4 channels c.. of input pixel (iy, ix) of sample b (16 bytes); 0 outside.
__device__ __forceinline__ float4 igemm_x4(const igemm_geom &g, const float *__restrict__ x, int b,
                                           int iy, int ix, int c) {
    if ((unsigned)iy < (unsigned)g.H && (unsigned)ix < (unsigned)g.W)
        return __ldg(reinterpret_cast<const float4 *>(x + (((size_t)b * g.H + iy) * g.W + ix) * g.C + c));
    return make_float4(0.f, 0.f, 0.f, 0.f);
}

// col[p][t0 .. t0+3] for the window at (b, iy0, ix0) (t < tlim; t == KK is the bias row of
// ones, beyond it zeros).
__device__ __forceinline__ float4 igemm_col4(const igemm_geom &g, const float *__restrict__ x, int b,
                                             int iy0, int ix0, int t0, int tlim, bool vec) {
    if (vec && t0 + 3 < tlim && t0 + 3 < g.KK) {   // 4 channels of one tap (C % 4 == 0)
        int c, kx;
        const int tap = fastdivmod(t0, g.dC, c), ky = fastdivmod(tap, g.dKW, kx);
        return igemm_x4(g, x, b, iy0 + ky, ix0 + kx, c);
    }
    float e[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int t = t0 + j;
        e[j] = t >= tlim ? 0.0f : t >= g.KK ? (t == g.KK ? 1.0f : 0.0f) : igemm_x_at(g, x, b, iy0, ix0, t);
    }
    return make_float4(e[0], e[1], e[2], e[3]);
}

// Offset of the dz that (tap, filter) k brings to the input pixel of sample b whose position
// plus padding is (ty0, tx0); -1: none (stride, edges).
__device__ __forceinline__ long igemm_dz_at(const igemm_geom &g, int b, int ty0, int tx0, int k) {
    int f, kx;
    const int tap = fastdivmod(k, g.dF, f), ky = fastdivmod(tap, g.dKW, kx);
    const int ty = ty0 - ky, tx = tx0 - kx;
    if (ty < 0 || tx < 0) return -1;
    const int oy = fastdiv_q(ty, g.dSH), ox = fastdiv_q(tx, g.dSW);
    if (oy * g.SH != ty || ox * g.SW != tx || oy >= g.OH || ox >= g.OW) return -1;
    return (((long)b * g.OH + oy) * g.OW + ox) * g.F + f;
}

// dcolT[q][k0 .. k0+3] for the input pixel described by w (k < klim).
__device__ __forceinline__ float4 igemm_dz4(const igemm_geom &g, const float *__restrict__ dz,
                                            const igemm_row &w, int k0, int klim, bool vec) {
    if (vec && k0 + 3 < klim) {   // 4 filters of one tap (F % 4 == 0)
        const long o = igemm_dz_at(g, w.b, w.y, w.x, k0);
        return o >= 0 ? __ldg(reinterpret_cast<const float4 *>(dz + o)) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    float e[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const long o = k0 + j < klim ? igemm_dz_at(g, w.b, w.y, w.x, k0 + j) : -1;
        e[j] = o >= 0 ? __ldg(dz + o) : 0.0f;
    }
    return make_float4(e[0], e[1], e[2], e[3]);
}

// Float4 number e of the A tile (TR rows from r0, depth TK from k0), in the order sgemm_tile's
// store expects: along the depth for FWD and DX (transa = 0), along the rows for DW (transa = 1).
// w: this float4's row, from igemm_row_of.
template <int MODE, int TR, int TK>
__device__ __forceinline__ float4 igemm_load_a(const igemm_geom &g, const float *__restrict__ X,
                                               const igemm_row &w, int e, int r0, int rlim,
                                               int k0, int klim, bool vec) {
    const float4 z = make_float4(0.f, 0.f, 0.f, 0.f);
    if (MODE == IGEMM_DW) {   // rows = taps (fixed), depth = output pixels (one per float4)
        const int p = k0 + e / (TR / 4);
        if (p >= klim) return z;
        int ox, oy;
        const int q = fastdivmod(p, g.dOW, ox), b = fastdivmod(q, g.dOH, oy);
        const int iy0 = oy * g.SH - g.PT, ix0 = ox * g.SW - g.PL;
        if (vec && w.ok) return igemm_x4(g, X, b, iy0 + w.y, ix0 + w.x, w.b);
        return igemm_col4(g, X, b, iy0, ix0, r0 + (e % (TR / 4)) * 4, rlim, false);
    }
    if (!w.ok) return z;
    const int k = k0 + (e % (TK / 4)) * 4;
    return MODE == IGEMM_FWD ? igemm_col4(g, X, w.b, w.y, w.x, k, klim, vec) : igemm_dz4(g, X, w, k, klim, vec);
}

// DX's B tile: W'[(tap, f)][c] read from the HWIO kernel, 4 filters at a time (transb = 1 order).
template <int TN, int TK>
__device__ __forceinline__ float4 igemm_load_b_dx(const igemm_geom &g, const float *__restrict__ w,
                                                  int e, int n0, int nlim, int k0, int klim, bool vec) {
    const int c = n0 + e / (TK / 4), k = k0 + (e % (TK / 4)) * 4;
    if (c >= nlim) return make_float4(0.f, 0.f, 0.f, 0.f);
    if (vec && k + 3 < klim) {
        int f;
        const int tap = fastdivmod(k, g.dF, f);
        return __ldg(reinterpret_cast<const float4 *>(w + ((size_t)tap * g.C + c) * g.F + f));
    }
    float v[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        int f;
        const int kj = k + j, tap = fastdivmod(kj, g.dF, f);
        v[j] = kj < klim ? __ldg(w + ((size_t)tap * g.C + c) * g.F + f) : 0.0f;
    }
    return make_float4(v[0], v[1], v[2], v[3]);
}

#endif
