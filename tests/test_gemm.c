// test_gemm.c: sgemm against sgemm_ref (double-accumulated triple loop) for every trans
// combination, odd sizes that leave ragged tiles, alpha/beta, leading dimensions larger than
// the rows, and the skinny shapes of the cat/dog CNN; on every micro-kernel this CPU has
// (AVX-512, AVX2, portable C), threaded and inside a parallel region.
#include <omp.h>

#include "../nn/common.h"
#include "../nn/gemm.h"
#include "../nn/rng.h"
#include "test.h"

static void fill(rng *r, float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_uniform_range(r, -1, 1);
}

// One comparison; returns 1 when it agrees. Entries are uniform in [-1, 1], so an output is a
// sum of K terms of typical size 1/4 and magnitude about sqrt(K)/3; float rounding in any
// summation order stays well under 2e-5 * (1 + sqrt(K)) (measured worst: 4% of that),
// while a lost or doubled term (about 0.25) is far above it.
static int one(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad) {
    rng r;
    rng_seed(&r, (uint64_t)M * 1000003u + N * 1009u + K * 7u + ta * 2 + tb);
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = nn_alloc(na * sizeof(float), "A"), *B = nn_alloc(nb * sizeof(float), "B");
    float *C = nn_alloc(nc * sizeof(float), "C"), *R = nn_alloc(nc * sizeof(float), "R");
    fill(&r, A, na);
    fill(&r, B, nb);
    fill(&r, C, nc);
    if (beta == 0.0f)   // beta == 0 must not read C: poison it with NaN
        for (size_t i = 0; i < nc; i++) C[i] = NAN;
    memcpy(R, C, nc * sizeof(float));
    sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    int ok = 1;
    for (int i = 0; i < M && ok; i++)
        for (int j = 0; j < N && ok; j++) {
            double tol = 2e-5 * (1.0 + sqrt((double)K)) * (fabs(alpha) + fabs(beta));
            double got = C[(size_t)i * ldc + j], want = R[(size_t)i * ldc + j];
            if (!(fabs(got - want) <= tol)) {
                FAILF("sgemm(%d,%d,M=%d,N=%d,K=%d,alpha=%g,beta=%g,pad=%d) [%d,%d] = %.9g, ref %.9g",
                      ta, tb, M, N, K, alpha, beta, pad, i, j, got, want);
                ok = 0;
            }
        }
    // padding columns of C are never touched
    for (int i = 0; i < M && ok && pad; i++)
        for (int j = N; j < ldc && ok; j++) {
            float got = C[(size_t)i * ldc + j], want = R[(size_t)i * ldc + j];
            if (!(got == want || (got != got && want != want))) {
                FAILF("sgemm wrote outside C: [%d,%d] (ldc %d)", i, j, ldc);
                ok = 0;
            }
        }
    nn_free(A), nn_free(B), nn_free(C), nn_free(R);
    return ok;
}

static void odd_sizes_all_trans(void) {
    static const int sizes[][3] = {{1, 1, 1},   {1, 33, 5},   {7, 1, 300}, {13, 17, 19},
                                   {9, 31, 2},  {33, 65, 257}, {8, 32, 16}, {65, 3, 600},
                                   {100, 70, 513}, {3, 200, 40}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                const int *d = sizes[s];
                if (!one(ta, tb, d[0], d[1], d[2], 1.0f, 0.0f, 0)) return;
                if (!one(ta, tb, d[0], d[1], d[2], -0.5f, 0.75f, 3)) return;
            }
}

static void alpha_zero_and_k_zero(void) {
    float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {NAN}, B[1] = {NAN};
    sgemm(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 2.0f, C, 3);
    for (int i = 0; i < 6; i++) CHECK_CLOSE(C[i], 2.0 * (i + 1), 0, 0);
    sgemm(0, 0, 2, 3, 1, 0.0f, A, 1, B, 3, 0.0f, C, 3);
    for (int i = 0; i < 6; i++) CHECK_CLOSE(C[i], 0.0, 0, 0);
}

// The shapes of the cat/dog CNN at batch 32 (scaled down where the full one would be slow
// against the reference): conv im2col forward, its weight and input gradients, dense forward,
// dW, dX, and the per-sample conv shapes.
static void cnn_shapes(void) {
    static const int shapes[][5] = {
        // ta, tb, M, N, K
        {0, 0, 3844, 32, 27},        // conv forward, one sample
        {0, 0, 4 * 3844, 32, 27},    // conv forward, 4 samples
        {1, 0, 27, 32, 3844},        // conv dW, one sample
        {1, 0, 27, 32, 4 * 3844},    // conv dW, 4 samples (split-K)
        {0, 1, 3844, 27, 32},        // conv dcol = dY W^T
        {0, 0, 32, 128, 30752},      // dense forward (split-K)
        {1, 0, 30752, 128, 32},      // dense dW
        {0, 1, 32, 30752, 128},      // dense dX (swapped roles, transposed store)
        {0, 0, 32, 1, 128},          // dense_1 forward
        {1, 0, 128, 1, 32},          // dense_1 dW
        {0, 1, 32, 128, 1},          // dense_1 dX
        {0, 0, 1, 128, 30752},       // predict one image
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int *d = shapes[s];
        if (!one(d[0], d[1], d[2], d[3], d[4], 1.0f, 0.0f, 0)) return;
    }
    if (!one(1, 0, 27, 32, 3844, 1.0f, 1.0f, 0)) return;   // accumulating dW
}

static void each_kernel(const char *isa) {
    if (sgemm_force_isa(isa) != 0) {
        sgemm_force_isa(NULL);
        SKIP("this CPU has no %s", isa);
    }
    odd_sizes_all_trans();
    if (!t_cur_failed) one(0, 1, 32, 3000, 128, 1.0f, 0.0f, 0);
    if (!t_cur_failed) one(0, 0, 32, 128, 5000, 1.0f, 0.5f, 1);
    sgemm_force_isa(NULL);
}
static void kernel_avx512(void) { each_kernel("avx512"); }
static void kernel_avx2(void) { each_kernel("avx2"); }
static void kernel_c(void) { each_kernel("c"); }

// Called from inside a parallel region (as conv2d does per sample) it must run serially and
// give the same answer on every thread.
static void inside_parallel_region(void) {
    int bad = 0;
#pragma omp parallel num_threads(2) reduction(+ : bad)
    {
        if (!one(0, 1, 200 + omp_get_thread_num(), 27, 32, 1.0f, 0.0f, 0)) bad++;
    }
    CHECK(bad == 0);
}

int main(void) {
    printf("# sgemm kernel on this CPU: %s\n", sgemm_isa());
    RUN(odd_sizes_all_trans);
    RUN(alpha_zero_and_k_zero);
    RUN(cnn_shapes);
    RUN(kernel_avx512);
    RUN(kernel_avx2);
    RUN(kernel_c);
    RUN(inside_parallel_region);
    TEST_EXIT();
}
