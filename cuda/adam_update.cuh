// adam_update.cuh: Keras's Adam for one weight, the one device copy of nn/adam.c's arithmetic,
// used wherever a kernel applies Adam itself: the arena-wide step (adam_cuda.cu) and the fused
// dW + Adam epilogues (dense_cuda.cu, dense_tf32_cuda.cu, loss_cuda.cu's head kernel).
// Written with explicit _rn intrinsics, no fused multiply-adds, so that the GPU and the C path
// round alike (tests/cuda compares them step by step).
#ifndef NN_ADAM_UPDATE_CUH
#define NN_ADAM_UPDATE_CUH

#include <cuda_runtime.h>

// g: the gradient; w, m, v updated in place; alpha: the step's bias-corrected rate;
// a1, a2: 1 - beta1, 1 - beta2 as Keras computes them (nn/adam.h adam_one_minus).
__device__ __forceinline__ void adam_update(float g, float &w, float &m, float &v, float alpha,
                                            float a1, float a2, float eps) {
    float mi = __fadd_rn(m, __fmul_rn(__fsub_rn(g, m), a1));
    float vi = __fadd_rn(v, __fmul_rn(__fsub_rn(__fmul_rn(g, g), v), a2));
    m = mi;
    v = vi;
    w = __fsub_rn(w, __fdiv_rn(__fmul_rn(alpha, mi), __fadd_rn(sqrtf(vi), eps)));
}

#endif
