// test_cuda_tf32.c: the TF32 tensor-core path (cuda/dense_tf32_cuda.cu, NN_TF32=1) against the
// C sgemm and against the exact FP32 GPU path.
//  - the SGEMM with the flag on, on odd shapes (all four transpositions, beta, bias + ReLU) and on
//    the article's large-batch dense shapes (forward with split-K, dx, dW): relative Frobenius
//    error against the C path under 1e-3 (TF32 keeps 10 mantissa bits: ~4e-4 expected for
//    random data), and above the FP32 path's (proof that the tensor-core path really ran);
//  - 50 training steps of the article's CNN at batch 256 (the batch at which the dense layer
//    takes the 128x128 tile; at batch 32 TF32 changes nothing) from the same weights on the same
//    batches, TF32 vs FP32 on the GPU: every step's loss within 2e-2 relative (measured on an H100:
//    worst 8.7e-3, mean 2.6e-3: the two runs drift apart as training goes on); the worst
//    difference and the weights' difference are printed for bench/RESULTS.md.
#include <math.h>
#include <stdlib.h>

#include "../../nn/gemm.h"
#include "../../nn/model.h"
#include "cuda_test_util.h"

// C = alpha op(A) op(B) + beta C0 + bias (act) on the GPU with the flag `tf32`, back on the host.
static void gpu_gemm(int tf32, int ta, int tb, int M, int N, int K, float beta, const float *A,
                     const float *B, const float *C0, const float *bias, act_kind act, float *out) {
    int lda = ta ? M : K, ldb = tb ? K : N;
    float *dA = dput(A, (size_t)M * K), *dB = dput(B, (size_t)K * N), *dC = dput(C0, (size_t)M * N);
    float *db = bias ? dput(bias, N) : NULL;
    size_t wsf = sgemm_cuda_ws_floats(&gpu, M, N, K);
    float *ws = wsf ? dput(NULL, wsf) : NULL;
    cuda_set_tf32(&gpu, tf32);
    sgemm_cuda(&gpu, ta, tb, M, N, K, 1.0f, dA, lda, dB, ldb, beta, dC, N, db, act, 0, ws, wsf);
    cuda_set_tf32(&gpu, 0);
    dget(out, dC, (size_t)M * N);
    dfree(dA), dfree(dB), dfree(dC);
    if (db) dfree(db);
    if (ws) dfree(ws);
}

static void gemm_case(const char *what, int ta, int tb, int M, int N, int K, float beta, int biased,
                      act_kind act) {
    rng r;
    rng_seed(&r, (uint64_t)M * 131 + N * 7 + K);
    size_t mn = (size_t)M * N;
    float *A = hbuf((size_t)M * K), *B = hbuf((size_t)K * N), *C0 = hbuf(mn), *bias = hbuf(N);
    float *ref = hbuf(mn), *g32 = hbuf(mn), *gtf = hbuf(mn);
    fill(&r, A, (size_t)M * K, -1, 1);
    fill(&r, B, (size_t)K * N, -1, 1);
    fill(&r, C0, mn, -1, 1);
    fill(&r, bias, N, -1, 1);
    // The C path's answer (bias and activation applied on the host).
    memcpy(ref, C0, mn * sizeof(float));
    sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, beta, ref, N);
    for (size_t i = 0; i < mn; i++) {
        float v = ref[i] + (biased ? bias[i % N] : 0.0f);
        ref[i] = act == ACT_RELU && v < 0 ? 0.0f : v;
    }
    gpu_gemm(0, ta, tb, M, N, K, beta, A, B, C0, biased ? bias : NULL, act, g32);
    gpu_gemm(1, ta, tb, M, N, K, beta, A, B, C0, biased ? bias : NULL, act, gtf);
    double e32 = rel_diff(g32, ref, mn), etf = rel_diff(gtf, ref, mn);
    printf("# %s: %d x %d x %d (ta %d tb %d): relative Frobenius error FP32 %.2e, TF32 %.2e\n",
           what, M, N, K, ta, tb, e32, etf);
    CHECK_MSG(etf <= 1e-3, "%s: TF32 error %.3g above 1e-3", what, etf);
    CHECK_MSG(e32 <= 1e-5, "%s: FP32 error %.3g above 1e-5", what, e32);
    CHECK_MSG(etf > e32 && etf > 1e-5,
              "%s: TF32 error %.3g not above FP32's %.3g: did the tensor-core path run?", what, etf, e32);
    nn_free(A), nn_free(B), nn_free(C0), nn_free(bias), nn_free(ref), nn_free(g32), nn_free(gtf);
}

static void test_tf32_gemm_odd(void) {
    NEED_GPU();
    gemm_case("odd", 0, 0, 129, 77, 45, 0.0f, 0, ACT_LINEAR);
    gemm_case("odd", 1, 0, 200, 130, 301, 0.5f, 1, ACT_RELU);
    gemm_case("odd", 0, 1, 97, 260, 33, 0.0f, 1, ACT_LINEAR);
    gemm_case("odd", 1, 1, 150, 50, 1000, 1.0f, 0, ACT_LINEAR);
}

static void test_tf32_gemm_article(void) {
    NEED_GPU();
    int n = quick() ? 128 : 256, in = quick() ? 4096 : 30752;
    gemm_case("dense forward", 0, 0, n, 128, in, 0.0f, 1, ACT_RELU);
    gemm_case("dense dx", 0, 1, n, in, 128, 0.0f, 0, ACT_LINEAR);
    gemm_case("dense dW", 1, 0, in, 128, n, 0.0f, 0, ACT_LINEAR);
}

static const char *catdog_cfg = MODEL_CATDOG_CFG;

static void test_tf32_train_50_steps(void) {
    NEED_GPU();
    int steps = quick() ? 3 : 50, batch = quick() ? 96 : 256;
    model a, b;
    char err[NN_ERRLEN];
    if (model_parse_cfg(&a, catdog_cfg, "test.cfg", err) || model_parse_cfg(&b, catdog_cfg, "test.cfg", err))
        NN_DIE("test model: %s", err);
    model_init_weights(&a, 5);
    model_init_weights(&b, 5);
    size_t in = shape3_size(a.input);
    float *x = hbuf((size_t)batch * in), *y = hbuf(batch);
    rng r;
    rng_seed(&r, 6);
    adam_cfg opt = adam_defaults();
    double worst = 0, sum = 0;
    int worst_step = -1;
    float first[2] = {0, 0}, last[2] = {0, 0};
    for (int s = 0; s < steps && !t_cur_failed; s++) {
        learnable_batch(&r, batch, a.input.h, a.input.w, a.input.c, x, y);
        int ca = 0, cb = 0;
        cuda_set_tf32(&gpu, 0);
        float la = model_train_step(&a, &gpu, batch, x, y, &opt, &ca);
        cuda_set_tf32(&gpu, 1);
        float lb = model_train_step(&b, &gpu, batch, x, y, &opt, &cb);
        cuda_set_tf32(&gpu, 0);
        double d = fabs((double)la - lb) / fmax(fabs((double)la), 1e-6);
        sum += d;
        if (d > worst) worst = d, worst_step = s;
        if (s == 0) first[0] = la, first[1] = lb;
        last[0] = la, last[1] = lb;
        CHECK_MSG(d <= 2e-2, "step %d: loss %.7g with TF32, %.7g with FP32", s + 1, lb, la);
    }
    cuda_model_download(&a);
    cuda_model_download(&b);
    double dw = rel_diff(b.w, a.w, a.nparams);
    printf("# TF32 vs FP32 training, article CNN, batch %d, %d steps: loss %.5f -> %.5f (FP32), "
           "%.5f -> %.5f (TF32); loss difference worst %.2e (step %d), mean %.2e; weights differ "
           "by %.2e (relative L2)\n",
           batch, steps, first[0], last[0], first[1], last[1], worst, worst_step + 1,
           sum / steps, dw);
    CHECK_MSG(dw < 1e-1, "weights after %d steps differ by %.3g (relative L2)", steps, dw);
    model_free(&a);
    model_free(&b);
    nn_free(x), nn_free(y);
}

int main(void) {
    RUN(test_tf32_gemm_odd);
    RUN(test_tf32_gemm_article);
    RUN(test_tf32_train_50_steps);
    if (have_gpu > 0) cuda_ctx_free(&gpu);
    TEST_EXIT();
}
