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

// Which micro-kernel sgemm uses: "avx512f+fma", "avx2+fma" or "c", chosen from the CPU at run
// time (the build has no -march). sgemm_force_isa("avx512" | "avx2" | "c") pins one for tests
// and benchmarks (-1 when this CPU lacks it); NULL goes back to the automatic choice.
// A call made inside an OpenMP parallel region runs on the calling thread.
const char *sgemm_isa(void);
int sgemm_force_isa(const char *name);

#endif
