// test_demo_cuda.c: the demos' engine ops, CUDA against the C path (make test-cuda; needs a GPU).
//  - grid_map's Mandelbrot: the same iteration count on every pixel, at the article's size,
//    with 1000 iterations over the whole set, on the set's border at 2000 iterations (where a
//    single fused multiply-add would change counts), and at odd sizes (partial blocks);
//  - ew_apply_cuda: every op of nn/elementwise.h, float32 and int32, against the C path, at
//    sizes around the vector width and with misaligned pointers (the scalar path), in place too;
//  - cuda_demo_add (what `nn demo add` runs) equals the C path's add.
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../nn/common.h"
#include "../../nn/cuda_api.h"
#include "../../nn/elementwise.h"
#include "../../nn/gridmap.h"
#include "../test.h"

static nn_ctx gpu;
static int have_gpu;
static char no_gpu[NN_ERRLEN + 16];

static nn_ctx cpu(void) { return (nn_ctx){.backend = NN_CPU, .threads = 0, .seed = 1}; }

#define CU(call)                                                                                  \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) NN_DIE("%s: %s", #call, cudaGetErrorString(e_));                   \
    } while (0)

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 32;
}

// --- Mandelbrot

static void mandel_case(int w, int h, grid_params p) {
    size_t n = (size_t)w * h;
    int32_t *c = nn_alloc(n * 4, "C counts"), *g = nn_alloc(n * 4, "GPU counts");
    char err[NN_ERRLEN];
    nn_ctx ctx = cpu();
    cuda_demo_times t;
    CHECK_MSG(grid_map(&ctx, GRID_MANDELBROT, w, h, &p, c, err) == 0, "C path: %s", err);
    CHECK_MSG(cuda_demo_grid(&gpu, GRID_MANDELBROT, w, h, &p, g, 0, &t, err) == 0, "CUDA: %s", err);
    size_t bad = 0, first = 0;
    for (size_t i = n; i-- > 0;)
        if (c[i] != g[i]) bad++, first = i;
    CHECK_MSG(!bad,
              "%dx%dx%d x %g:%g y %g:%g: %zu pixels differ; the first (x %zu, y %zu) is %d on the C path, %d on "
              "CUDA",
              w, h, p.max_iters, p.min_x, p.max_x, p.min_y, p.max_y, bad, first % w, first / w, c[first], g[first]);
    nn_free(c), nn_free(g);
}

static void test_mandelbrot_article(void) {
    if (!have_gpu) SKIP("%s", no_gpu);
    mandel_case(1536, 1024, (grid_params){-2.0, 1.0, -1.0, 1.0, 20});
}

static void test_mandelbrot_1000_iters(void) {
    if (!have_gpu) SKIP("%s", no_gpu);
    mandel_case(2048, 1365, (grid_params){-2.0, 1.0, -1.0, 1.0, 1000});
}

static void test_mandelbrot_border(void) {
    if (!have_gpu) SKIP("%s", no_gpu);
    mandel_case(1024, 640, (grid_params){-0.75, -0.74, 0.1, 0.11, 2000});
}

static void test_mandelbrot_odd_sizes(void) {
    if (!have_gpu) SKIP("%s", no_gpu);
    mandel_case(1, 1, (grid_params){-2.0, 1.0, -1.0, 1.0, 20});
    mandel_case(333, 77, (grid_params){-2.5, 1.5, -1.25, 1.25, 100});
    mandel_case(31, 9, (grid_params){-0.1, 0.1, 0.6, 0.7, 300});
}

// --- ew_apply_cuda against the C path

// One op on n elements starting `off` elements into the buffers (off = 1 breaks 16-byte
// alignment and takes the scalar path). inplace: out is a.
static void ew_case(ew_op op, nn_dtype dt, size_t n, size_t off, int inplace) {
    const size_t cap = n + 4, bytes = cap * 4;
    uint64_t s = 1000 + n * 7 + op;
    float *ha = nn_alloc(bytes, "a"), *hb = nn_alloc(bytes, "b"), *hc = nn_alloc(bytes, "ref"), *hg = nn_alloc(bytes, "got");
    for (size_t i = 0; i < cap; i++) {
        if (dt == DT_F32) {
            ha[i] = ((int)(lcg(&s) % 20001) - 10000) / 1000.0f;   // -10..10, zeros included
            hb[i] = ((int)(lcg(&s) % 20001) - 10000) / 1000.0f;
            if (op == EW_SIGMOID_GRAD) ha[i] = (float)(lcg(&s) % 1001) / 1000.0f;
        } else {
            ((int32_t *)ha)[i] = (int32_t)(uint32_t)lcg(&s);
            ((int32_t *)hb)[i] = (int32_t)(uint32_t)lcg(&s);
        }
    }
    char *da, *db, *dc;
    CU(cudaMalloc((void **)&da, bytes));
    CU(cudaMalloc((void **)&db, bytes));
    CU(cudaMalloc((void **)&dc, bytes));
    CU(cudaMemcpy(da, ha, bytes, cudaMemcpyHostToDevice));
    CU(cudaMemcpy(db, hb, bytes, cudaMemcpyHostToDevice));
    CU(cudaMemset(dc, 0xff, bytes));
    nn_ctx c = cpu();
    memcpy(hc, ha, bytes);   // in place, the C path works on this copy of a
    int rc_c = ew_apply(&c, op, dt, n, (char *)(inplace ? hc : ha) + off * 4, (char *)hb + off * 4,
                        (char *)hc + off * 4);
    char *dout = inplace ? da : dc;
    int rc_g = ew_apply(&gpu, op, dt, n, da + off * 4, db + off * 4, dout + off * 4);
    CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
    CU(cudaMemcpy(hg, dout, bytes, cudaMemcpyDeviceToHost));
    CHECK_MSG(rc_c == rc_g, "%s on %s: the C path returns %d, CUDA %d", ew_op_name(op), dt == DT_F32 ? "f32" : "i32",
              rc_c, rc_g);
    if (rc_c == 0) {
        char what[96];
        snprintf(what, sizeof what, "%s %s n=%zu off=%zu%s", ew_op_name(op), dt == DT_F32 ? "f32" : "i32", n, off,
                 inplace ? " in place" : "");
        if (dt == DT_I32) {
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) bad += ((int32_t *)hg)[off + i] != ((int32_t *)hc)[off + i];
            CHECK_MSG(!bad, "%s: %zu elements differ", what, bad);
        } else {
            // Exact except sigmoid and tanh, whose expf / tanhf may differ by an ulp or two
            // between libm and CUDA.
            int approx = op == EW_SIGMOID || op == EW_SIGMOID_GRAD || op == EW_TANH;
            check_arrays(what, hg + off, hc + off, n, 0, approx ? 1e-6 : 0);
        }
        // Nothing outside [off, off + n) was written (the poison is intact after the range).
        if (!inplace && off + n < cap) CHECK_MSG(((uint32_t *)hg)[off + n] == 0xffffffffu, "%s: wrote past the end", what);
    }
    CU(cudaFree(da));
    CU(cudaFree(db));
    CU(cudaFree(dc));
    nn_free(ha), nn_free(hb), nn_free(hc), nn_free(hg);
}

static void test_ew_all_ops(void) {
    if (!have_gpu) SKIP("%s", no_gpu);
    const size_t sizes[] = {0, 1, 3, 4, 5, 17, 1024, 65537, 1000003};
    for (int op = 0; op < EW_OP_COUNT; op++)
        for (int dt = 0; dt < 2; dt++)
            for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
                for (size_t off = 0; off < 2; off++) ew_case((ew_op)op, (nn_dtype)dt, sizes[k], off, 0);
}

static void test_ew_in_place(void) {
    if (!have_gpu) SKIP("%s", no_gpu);
    ew_case(EW_RELU, DT_F32, 100003, 0, 1);
    ew_case(EW_ADD, DT_I32, 100003, 0, 1);
    ew_case(EW_SIGMOID, DT_F32, 4097, 1, 1);
}

// Larger than L2 (the streaming-hint kernels) and what `nn demo add` runs.
static void test_demo_add_equals_c(void) {
    if (!have_gpu) SKIP("%s", no_gpu);
    const size_t n = (64u << 20) + 3;   // 256 MiB an array: above every current L2
    int32_t *a = nn_alloc(n * 4, "a"), *b = nn_alloc(n * 4, "b"), *c = nn_alloc(n * 4, "c"), *g = nn_alloc(n * 4, "g");
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++) a[i] = (int32_t)(uint32_t)lcg(&s), b[i] = (int32_t)(uint32_t)lcg(&s);
    nn_ctx ctx = cpu();
    char err[NN_ERRLEN];
    cuda_demo_times t;
    CHECK(ew_apply(&ctx, EW_ADD, DT_I32, n, a, b, c) == 0);
    CHECK_MSG(cuda_demo_add(&gpu, n, a, b, g, 3, &t, err) == 0, "%s", err);
    CHECK_MSG(!memcmp(c, g, n * 4), "the C path and CUDA int32 add differ");
    CHECK_MSG(t.op_ms > 0 && t.copy_ms > 0 && t.op_burst_ms > 0, "timings missing: %g %g %g", t.op_ms, t.copy_ms,
              t.op_burst_ms);
    nn_free(a), nn_free(b), nn_free(c), nn_free(g);
}

int main(void) {
    char err[NN_ERRLEN];
    have_gpu = cuda_ctx_init(&gpu, 0, err) == 0;
    if (!have_gpu) snprintf(no_gpu, sizeof no_gpu, "no GPU: %s", err);
    RUN(test_mandelbrot_article);
    RUN(test_mandelbrot_1000_iters);
    RUN(test_mandelbrot_border);
    RUN(test_mandelbrot_odd_sizes);
    RUN(test_ew_all_ops);
    RUN(test_ew_in_place);
    RUN(test_demo_add_equals_c);
    if (have_gpu) cuda_ctx_free(&gpu);
    TEST_EXIT();
}
