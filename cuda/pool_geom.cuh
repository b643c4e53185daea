// pool_geom.cuh: a pooling window's geometry as the kernels want it (fast divisors), and which
// outputs' windows cover an input position: shared by max pooling (maxpool2d_cuda.cu) and the
// batchnorm + max-pool fusion (batchnorm_cuda.cu), and average pooling (avgpool2d_cuda.cu).
#ifndef NN_POOL_GEOM_CUH
#define NN_POOL_GEOM_CUH

#include "cuda_common.h"

struct pool_geom {
    int H, W, C, OH, OW, KH, KW, SH, SW, PT, PL;
    fastdiv dW, dC, dOW, dSH, dSW;
};

static inline pool_geom pgeom(const layer *l) {
    pool_geom g;
    g.H = l->in.h, g.W = l->in.w, g.C = l->in.c, g.OH = l->out.h, g.OW = l->out.w;
    g.KH = l->kh, g.KW = l->kw, g.SH = l->sh, g.SW = l->sw, g.PT = l->pad_top, g.PL = l->pad_left;
    g.dW = fastdiv_of(g.W), g.dC = fastdiv_of(g.C), g.dOW = fastdiv_of(g.OW);
    g.dSH = fastdiv_of(g.SH), g.dSW = fastdiv_of(g.SW);
    return g;
}

// g seen 4 channels at a time (the kernels that move 16 bytes a thread): g.C = C / 4.
static inline pool_geom pgeom_vec4(pool_geom g) {
    g.C /= 4;
    g.dC = fastdiv_of(g.C);
    return g;
}

// The outputs whose window covers input row ih: oh*SH - PT <= ih <= oh*SH - PT + KH - 1
// (likewise for columns).
struct pool_span {
    int oh_lo, oh_hi, ow_lo, ow_hi;
};

__device__ __forceinline__ pool_span pool_span_of(const pool_geom &g, int ih, int iw) {
    pool_span s;
    const int t = ih + g.PT, u = iw + g.PL;
    s.oh_lo = t - g.KH + 1 > 0 ? fastdiv_q(t - g.KH + g.SH, g.dSH) : 0;
    s.oh_hi = min(fastdiv_q(t, g.dSH), g.OH - 1);
    s.ow_lo = u - g.KW + 1 > 0 ? fastdiv_q(u - g.KW + g.SW, g.dSW) : 0;
    s.ow_hi = min(fastdiv_q(u, g.dSW), g.OW - 1);
    return s;
}

// (blocks over one sample's elements, samples): the batch is the grid's y (CUDA_MAX_BATCH).
static inline dim3 pool_grid(int n, size_t per) {
    return dim3((unsigned)NN_MAX((size_t)1, (per + 255) / 256), (unsigned)n);
}

#endif
