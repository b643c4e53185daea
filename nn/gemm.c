// gemm.c: the C path's SGEMM. Everything heavy on the CPU (conv through im2col, dense) runs here.
//
// Shape of the code (after BLIS/GotoBLAS, cut down to what this project's shapes need):
//  - sgemm turns its trans flags into general strides: A(i,k) = a[i*rsa + k*csa] and so on.
//    It may swap roles (C^T = B^T A^T) when that avoids transposing a large B.
//  - the work is split over threads along the long dimension (M or N, whichever makes each
//    thread read the big operand once), or over K when the output is small and K long
//    (dense forward at 32 x 128 x 30752); a call made inside an OpenMP parallel region runs on
//    the calling thread, so the layers can parallelise over samples. Either way every element
//    of C is summed in an order fixed by the shape alone: results do not depend on the number
//    of threads, so a seeded training run is reproducible on any machine with the same kernel.
//  - a register-blocked micro-kernel computes an MR x NR tile of C: B is read in rows of NR
//    contiguous floats (straight from the matrix when its columns are contiguous, else from a
//    small packed panel), A is read in place and broadcast one element at a time; partial
//    tiles go through small zero-padded buffers so the kernel only ever sees full tiles.
//  - three kernels chosen at run time: AVX-512F (8 x 32), AVX2+FMA (6 x 16), and plain C
//    (4 x 16 in GCC vector extensions) for any other x86-64 or other CPU. The Makefile
//    builds without -march, so the binary runs anywhere and still uses AVX-512 where present.
#include "gemm.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GEMM_X86 1
#endif

#define KC 256          // K block: a KC x NR panel of B (32 KB at NR = 32) stays in L1
#define MC_TILES 24     // row block MC = MC_TILES * MR rows, the A block kept in L2
#define MAX_MR 8
#define MAX_NR 32

// A micro-kernel: C_tile(MR x NR) = alpha * sum_{k<kc} A(i,k) B(k,j) + beta * C_tile, where
// A(i,k) = a[i*rsa + k*csa] (arow: csa == 1, acol: rsa == 1), B(k,j) = b[k*rsb + j] and
// C(i,j) = c[i*rsc + j]. beta == 0 never reads C (it may hold garbage).
typedef void (*kern_fn)(int kc, const float *a, long rsa, long csa, const float *b, long rsb,
                        float *c, long rsc, float alpha, float beta);

typedef struct {
    const char *name;
    int mr, nr;
    kern_fn arow, acol;
} kernel_set;

// --- portable kernel (4 x 16), in GCC/Clang vector extensions: 16 accumulators of 4 floats
// that the compiler keeps in registers (SSE2 on any x86-64, NEON on ARM, scalar elsewhere).

typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));

static void kern_c(int kc, const float *a, long rsa, long csa, const float *b, long rsb, float *c,
                   long rsc, float alpha, float beta) {
    v4f acc[4][4] = {{{0}}};
    for (int k = 0; k < kc; k++) {
        const float *br = b + (long)k * rsb;
        v4f b0 = *(const v4f *)br, b1 = *(const v4f *)(br + 4), b2 = *(const v4f *)(br + 8),
            b3 = *(const v4f *)(br + 12);
        for (int i = 0; i < 4; i++) {
            float ai = a[i * rsa + (long)k * csa];
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
            acc[i][2] += ai * b2;
            acc[i][3] += ai * b3;
        }
    }
    for (int i = 0; i < 4; i++)
        for (int q = 0; q < 4; q++) {
            v4f *cr = (v4f *)(c + i * rsc + 4 * q);
            *cr = beta == 0.0f ? alpha * acc[i][q] : alpha * acc[i][q] + beta * *cr;
        }
}

static const kernel_set kernels_c = {"c", 4, 16, kern_c, kern_c};

#ifdef GEMM_X86
// --- AVX2 + FMA kernel (6 x 16: 12 ymm accumulators, 2 for B, 1 broadcast)

#define AVX2_ROW(i)                                             \
    {                                                           \
        __m256 t = _mm256_broadcast_ss(A_AT(i));                \
        c##i##0 = _mm256_fmadd_ps(t, b0, c##i##0);              \
        c##i##1 = _mm256_fmadd_ps(t, b1, c##i##1);              \
    }
#define AVX2_STORE(i)                                                          \
    {                                                                          \
        float *cr = c + (i) * rsc;                                             \
        __m256 v0 = _mm256_mul_ps(va, c##i##0), v1 = _mm256_mul_ps(va, c##i##1); \
        if (beta != 0.0f) {                                                    \
            v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v0);                 \
            v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), v1);             \
        }                                                                      \
        _mm256_storeu_ps(cr, v0);                                              \
        _mm256_storeu_ps(cr + 8, v1);                                          \
    }

#define AVX2_KERNEL(NAME)                                                                     \
    __attribute__((target("avx2,fma"))) static void NAME(                                     \
        int kc, const float *a, long rsa, long csa, const float *b, long rsb, float *c,      \
        long rsc, float alpha, float beta) {                                                  \
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,        \
               c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;  \
        (void)rsa, (void)csa;                                                                 \
        for (int k = 0; k < kc; k++) {                                                        \
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);                      \
            b += rsb;                                                                         \
            AVX2_ROW(0) AVX2_ROW(1) AVX2_ROW(2) AVX2_ROW(3) AVX2_ROW(4) AVX2_ROW(5)           \
            A_NEXT;                                                                           \
        }                                                                                     \
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);                         \
        AVX2_STORE(0) AVX2_STORE(1) AVX2_STORE(2) AVX2_STORE(3) AVX2_STORE(4) AVX2_STORE(5)   \
    }

// A row-major (csa == 1): element i of column k is a[i*rsa], a advances by one each k.
#define A_AT(i) (a + (i) * rsa)
#define A_NEXT a++
AVX2_KERNEL(kern_avx2_arow)
#undef A_AT
#undef A_NEXT
// A column-major (rsa == 1): the MR elements of column k are contiguous, a advances by csa.
#define A_AT(i) (a + (i))
#define A_NEXT a += csa
AVX2_KERNEL(kern_avx2_acol)
#undef A_AT
#undef A_NEXT

static const kernel_set kernels_avx2 = {"avx2+fma", 6, 16, kern_avx2_arow, kern_avx2_acol};

// --- AVX-512F kernel (8 x 32: 16 zmm accumulators, 2 for B, broadcasts folded into the FMA)

#define Z_ROW(i)                                                \
    {                                                           \
        __m512 t = _mm512_set1_ps(*A_AT(i));                    \
        c##i##0 = _mm512_fmadd_ps(t, b0, c##i##0);              \
        c##i##1 = _mm512_fmadd_ps(t, b1, c##i##1);              \
    }
#define Z_STORE(i)                                                             \
    {                                                                          \
        float *cr = c + (i) * rsc;                                             \
        __m512 v0 = _mm512_mul_ps(va, c##i##0), v1 = _mm512_mul_ps(va, c##i##1); \
        if (beta != 0.0f) {                                                    \
            v0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr), v0);                 \
            v1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16), v1);            \
        }                                                                      \
        _mm512_storeu_ps(cr, v0);                                              \
        _mm512_storeu_ps(cr + 16, v1);                                         \
    }

#define Z_KERNEL(NAME)                                                                        \
    __attribute__((target("avx512f,fma"))) static void NAME(                                  \
        int kc, const float *a, long rsa, long csa, const float *b, long rsb, float *c,      \
        long rsc, float alpha, float beta) {                                                  \
        __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,        \
               c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00,  \
               c60 = c00, c61 = c00, c70 = c00, c71 = c00;                                    \
        (void)rsa, (void)csa;                                                                 \
        for (int k = 0; k < kc; k++) {                                                        \
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);                     \
            b += rsb;                                                                         \
            Z_ROW(0) Z_ROW(1) Z_ROW(2) Z_ROW(3) Z_ROW(4) Z_ROW(5) Z_ROW(6) Z_ROW(7)           \
            A_NEXT;                                                                           \
        }                                                                                     \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                         \
        Z_STORE(0) Z_STORE(1) Z_STORE(2) Z_STORE(3) Z_STORE(4) Z_STORE(5) Z_STORE(6)          \
        Z_STORE(7)                                                                            \
    }

#define A_AT(i) (a + (i) * rsa)
#define A_NEXT a++
Z_KERNEL(kern_avx512_arow)
#undef A_AT
#undef A_NEXT
#define A_AT(i) (a + (i))
#define A_NEXT a += csa
Z_KERNEL(kern_avx512_acol)
#undef A_AT
#undef A_NEXT

static const kernel_set kernels_avx512 = {"avx512f+fma", 8, 32, kern_avx512_arow, kern_avx512_acol};
#endif

// --- choosing a kernel

static const kernel_set *forced;

static const kernel_set *kernels(void) {
    if (forced) return forced;
#ifdef GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return &kernels_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &kernels_avx2;
#endif
    return &kernels_c;
}

const char *sgemm_isa(void) { return kernels()->name; }

int sgemm_force_isa(const char *name) {
    if (!name) {
        forced = NULL;
        return 0;
    }
    const kernel_set *want = NULL;
    if (!strcmp(name, "c")) want = &kernels_c;
#ifdef GEMM_X86
    __builtin_cpu_init();
    if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = &kernels_avx2;
    if (!strcmp(name, "avx512") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        want = &kernels_avx512;
#endif
    if (!want) return -1;
    forced = want;
    return 0;
}

// --- the blocked product on one thread

typedef struct {
    int M, N, K;
    float alpha, beta;
    const float *a; long rsa, csa;   // A (M, K)
    const float *b; long rsb, csb;   // B (K, N)
    float *c; long rsc, csc;         // C (M, N)
} gemm_args;

// c[r*ldc + q] = alpha * t[r*tr + q*tq] + beta * c[...] for r < rows, q < cols (q is C's
// contiguous side, so the writes run along cache lines).
static void store_tile(const float *t, long tr, long tq, int rows, int cols, float *c, long ldc,
                       float alpha, float beta) {
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        const float *tt = t + r * tr;
        if (beta == 0.0f)
            for (int q = 0; q < cols; q++) cr[q] = alpha * tt[q * tq];
        else
            for (int q = 0; q < cols; q++) cr[q] = alpha * tt[q * tq] + beta * cr[q];
    }
}

// C[i0:i1, j0:j1] over the whole of K, on the calling thread.
static void gemm_block(const kernel_set *ks, const gemm_args *g, int i0, int i1, int j0, int j1) {
    const int MR = ks->mr, NR = ks->nr, MC = MC_TILES * ks->mr;
    float bpack[KC * MAX_NR] __attribute__((aligned(64)));
    float apack[KC * MAX_MR] __attribute__((aligned(64)));
    float tile[MAX_MR * MAX_NR] __attribute__((aligned(64)));
    const int arow = g->csa == 1;
    for (int ic = i0; ic < i1; ic += MC) {
        int ie = NN_MIN(ic + MC, i1);
        for (int pc = 0; pc < g->K; pc += KC) {
            int kc = NN_MIN(KC, g->K - pc);
            float beta = pc == 0 ? g->beta : 1.0f;
            for (int jr = j0; jr < j1; jr += NR) {
                int nr = NN_MIN(NR, j1 - jr);
                const float *bp;
                long rsb;
                if (g->csb == 1 && nr == NR) {
                    bp = g->b + (long)pc * g->rsb + jr;
                    rsb = g->rsb;
                } else {   // transposed or ragged B: a zero-padded contiguous panel
                    for (int k = 0; k < kc; k++) {
                        const float *src = g->b + (long)(pc + k) * g->rsb + (long)jr * g->csb;
                        float *dst = bpack + k * NR;
                        int j = 0;
                        for (; j < nr; j++) dst[j] = src[(long)j * g->csb];
                        for (; j < NR; j++) dst[j] = 0.0f;
                    }
                    bp = bpack;
                    rsb = NR;
                }
                for (int ir = ic; ir < ie; ir += MR) {
                    int mr = NN_MIN(MR, ie - ir);
                    const float *ap = g->a + (long)ir * g->rsa + (long)pc * g->csa;
                    long rsa = g->rsa, csa = g->csa;
                    kern_fn kern = arow ? ks->arow : ks->acol;
                    if (mr < MR) {   // ragged rows: pack them column-major, zero-padded
                        for (int k = 0; k < kc; k++) {
                            int i = 0;
                            for (; i < mr; i++) apack[k * MR + i] = ap[i * g->rsa + (long)k * g->csa];
                            for (; i < MR; i++) apack[k * MR + i] = 0.0f;
                        }
                        ap = apack;
                        rsa = 1;
                        csa = MR;
                        kern = ks->acol;
                    }
                    float *cp = g->c + (long)ir * g->rsc + (long)jr * g->csc;
                    if (mr == MR && nr == NR && g->csc == 1) {
                        kern(kc, ap, rsa, csa, bp, rsb, cp, g->rsc, g->alpha, beta);
                    } else {   // ragged or transposed C: through a tile buffer
                        kern(kc, ap, rsa, csa, bp, rsb, tile, NR, 1.0f, 0.0f);
                        if (g->csc == 1)
                            store_tile(tile, NR, 1, mr, nr, cp, g->rsc, g->alpha, beta);
                        else   // transposed C: walk it along its contiguous side
                            store_tile(tile, 1, NR, nr, mr, cp, g->csc, g->alpha, beta);
                    }
                }
            }
        }
    }
}

// --- splitting the work over threads

static void scale_c(const gemm_args *g) {
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            float *cij = g->c + (long)i * g->rsc + (long)j * g->csc;
            *cij = g->beta == 0.0f ? 0.0f : g->beta * *cij;
        }
}

// Split-K: K is cut into up to 16 chunks, each multiplied into a private (M, N) buffer, then
// C = alpha * (sum of the chunks, in order) + beta * C. For small outputs with a long K (dense
// forward, 32 x 128 x 30752), so each input is read once in all. The chunks depend on K only
// and are summed in order, so the result is the same for any number of threads; several
// chunks per thread (taken dynamically) so that a thread the OS pauses on a busy machine does
// not hold the others up.
static int use_split_k(const gemm_args *g) {
    size_t mn = (size_t)g->M * g->N;
    return mn <= 64 * 1024 && g->K >= 8192 && mn * 8 <= (size_t)g->K * (g->M + g->N);
}

static void gemm_split_k(const kernel_set *ks, const gemm_args *g, int nth) {
    size_t mn = (size_t)g->M * g->N;
    int kchunk = (g->K + 15) / 16;
    kchunk = (kchunk + KC - 1) / KC * KC;
    int chunks = (g->K + kchunk - 1) / kchunk;
    float *part = nn_alloc((size_t)chunks * mn * sizeof(float), "sgemm split-K partials");
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth) if (nth > 1)
    for (int t = 0; t < chunks; t++) {
        int k0 = t * kchunk, k1 = NN_MIN(g->K, k0 + kchunk);
        gemm_args s = *g;
        s.K = k1 - k0;
        s.alpha = 1.0f;
        s.beta = 0.0f;
        s.a = g->a + (long)k0 * g->csa;
        s.b = g->b + (long)k0 * g->rsb;
        s.c = part + t * mn;
        s.rsc = g->N;
        s.csc = 1;
        gemm_block(ks, &s, 0, g->M, 0, g->N);
    }
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            float sum = 0.0f;
            for (int t = 0; t < chunks; t++) sum += part[t * mn + (size_t)i * g->N + j];
            float *cij = g->c + (long)i * g->rsc + (long)j * g->csc;
            *cij = g->beta == 0.0f ? g->alpha * sum : g->alpha * sum + g->beta * *cij;
        }
    nn_free(part);
}

static void gemm_run(const gemm_args *g) {
    const kernel_set *ks = kernels();
    int nth = omp_in_parallel() ? 1 : omp_get_max_threads();
    double flops = 2.0 * g->M * g->N * g->K;
    if (flops < 2e5) nth = 1;   // a parallel region costs more than the product
    // Small output, long K: split K (whatever the threads, so the rounding is always the same).
    if (use_split_k(g)) {
        gemm_split_k(ks, g, nth);
        return;
    }
    if (nth <= 1) {
        gemm_block(ks, g, 0, g->M, 0, g->N);
        return;
    }
    // Split the longer of M and N, so that the other operand (the bigger one) is read once in
    // total. Each element of C is still summed by one thread in one order.
    int split_m = g->M >= g->N;
    int len = split_m ? g->M : g->N, unit = split_m ? ks->mr : ks->nr;
    int units = (len + unit - 1) / unit;
    // Blocks of whole tiles: at least 4 per thread for balance, at most one MC block.
    int per = (units + 4 * nth - 1) / (4 * nth);
    if (split_m) per = NN_MIN(per, MC_TILES);
    if (per < 1) per = 1;
    int blocks = (units + per - 1) / per;
    if (blocks < nth) nth = blocks;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
    for (int bi = 0; bi < blocks; bi++) {
        int s = bi * per * unit, e = NN_MIN(len, s + per * unit);
        if (split_m) gemm_block(ks, g, s, e, 0, g->N);
        else gemm_block(ks, g, 0, g->M, s, e);
    }
}

void sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    gemm_args g = {M, N, K, alpha, beta,
                   A, transa ? 1 : lda, transa ? lda : 1,
                   B, transb ? 1 : ldb, transb ? ldb : 1,
                   C, ldc, 1};
    if (K <= 0 || alpha == 0.0f) {
        scale_c(&g);
        return;
    }
    // B with strided columns has to be packed (a transpose); computing C^T = B^T A^T instead
    // packs A^T and stores C transposed. Pick whichever moves fewer floats: for dX = dY W^T in
    // dense backward (32 x 30752 x 128) the swap avoids transposing the 15.7 MB kernel.
    double cost = g.csb != 1 ? (double)N * K : 0.0;
    double cost_swapped = (double)M * N + (g.rsa != 1 ? (double)M * K : 0.0);
    if (cost_swapped < cost) {
        gemm_args s = {N, M, K, alpha, beta,
                       B, g.csb, g.rsb,
                       A, g.csa, g.rsa,
                       C, 1, ldc};
        g = s;
    }
    gemm_run(&g);
}

// --- reference

void sgemm_ref(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                double a = transa ? A[(long)k * lda + i] : A[(long)i * lda + k];
                double b = transb ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                s += a * b;
            }
            float *c = C + (long)i * ldc + j;
            *c = beta == 0.0f ? (float)(alpha * s) : (float)(alpha * s + (double)beta * *c);
        }
}
