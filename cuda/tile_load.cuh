// tile_load.cuh: the guarded 16-byte loads that fill a GEMM's shared-memory tiles, shared by the
// FP32 SGEMM (dense_cuda.cu) and its TF32 twin (dense_tf32_cuda.cu). Thread mapping: the caller
// numbers the float4s of a tile e = 0, 1, ...; each thread loads the ones it owns.
#ifndef NN_TILE_LOAD_CUH
#define NN_TILE_LOAD_CUH

#include <cuda_runtime.h>

// p[0..3], where only the elements with j + t < lim (t = 0..3) exist: one 16-byte load when the
// row is 16-byte aligned (vec) and all four exist, else element by element, zeros for the rest.
__device__ __forceinline__ float4 load4_guarded(const float *p, int j, int lim, bool vec) {
    if (vec && j + 3 < lim) return *reinterpret_cast<const float4 *>(p);
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (j < lim) v.x = p[0];
    if (j + 1 < lim) v.y = p[1];
    if (j + 2 < lim) v.z = p[2];
    if (j + 3 < lim) v.w = p[3];
    return v;
}

// Float4 number e of a TR x TK tile (rows r0.., depth k0..) of an operand X with rlim rows and
// depth klim, stored either with the depth contiguous (X[r][k] at X + r*ld + k: the float4 runs
// along k) or, when by_rows, with the rows contiguous (X[k][r] at X + k*ld + r: along r).
// A of C = A B is (M, K) with the depth contiguous unless transposed; B, seen as its N rows, has
// its rows contiguous unless transposed.
template <int TR, int TK>
__device__ __forceinline__ float4 tile_load4(const float *X, int ld, bool by_rows, int e, int r0,
                                             int rlim, int k0, int klim, bool vec) {
    if (!by_rows) {
        int r = r0 + e / (TK / 4), k = k0 + (e % (TK / 4)) * 4;
        return r < rlim ? load4_guarded(X + (size_t)r * ld + k, k, klim, vec)
                        : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    int r = r0 + (e % (TR / 4)) * 4, k = k0 + e / (TR / 4);
    return k < klim ? load4_guarded(X + (size_t)k * ld + r, r, rlim, vec)
                    : make_float4(0.f, 0.f, 0.f, 0.f);
}

#endif
