// gemm.h: the C path's single-precision matrix product, row-major, with OpenMP.
// C (M, N) = alpha * op(A) * op(B) + beta * C, where op(A) is (M, K) and op(B) is (K, N);
// op(X) = X^T when the trans flag is set. lda/ldb/ldc are row strides in floats.
// Conv (through im2col) and dense both run on it, so it is the one kernel that sets the C path's
// speed.
#ifndef NN_GEMM_H
#define NN_GEMM_H

void sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc);
// The plain triple loop (double accumulation): the reference sgemm is tested against.
void sgemm_ref(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

#endif
