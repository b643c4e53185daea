// test_cuda_ops.c: every CUDA kernel against its C twin on seeded random inputs, over a table of
// shapes per op (odd sizes, batch 1, partial tiles, the article's 64x64x3 -> conv 32 3x3 -> pool 2
// -> dense 30752x128 -> 128x1), forward and backward, to atol + 1e-4 |ref| (cuda_test_util.h).
// The SGEMM is also checked against the double-accumulating reference and against cuBLAS (loaded
// at run time: cuBLAS is an oracle here, never part of the framework's path).
// Backward passes get the C path's forward results (relu masks, argmax) as inputs, so that a
// rounding-level difference in the forward cannot route a gradient elsewhere.
#include <dlfcn.h>
#include <math.h>

#include "../../nn/gemm.h"
#include "../../nn/loss.h"
#include "cuda_test_util.h"

static double tol_scale(double K) { return 1e-6 * sqrt(K) + 2e-6; }

// --- SGEMM

typedef int (*cublas_create_fn)(void **);
typedef int (*cublas_destroy_fn)(void *);
typedef int (*cublas_sgemm_fn)(void *, int, int, int, int, int, const float *, const float *, int,
                               const float *, int, const float *, float *, int);
static void *cublas_lib, *cublas_handle;
static cublas_sgemm_fn cublas_sgemm;

static int cublas_load(void) {
    if (cublas_handle) return 1;
    const char *env = getenv("NN_CUBLAS");
    const char *names[] = {env ? env : "libcublas.so.13", "libcublas.so.13", "libcublas.so.12",
                           "libcublas.so", "/usr/local/cuda/lib64/libcublas.so"};
    for (size_t i = 0; i < sizeof names / sizeof *names && !cublas_lib; i++)
        cublas_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!cublas_lib) return 0;
    cublas_create_fn create = (cublas_create_fn)dlsym(cublas_lib, "cublasCreate_v2");
    cublas_sgemm = (cublas_sgemm_fn)dlsym(cublas_lib, "cublasSgemm_v2");
    if (!create || !cublas_sgemm || create(&cublas_handle) != 0) return 0;
    return 1;
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
static void cublas_rowmajor(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                            int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    int st = cublas_sgemm(cublas_handle, tb, ta, N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc);
    if (st != 0) NN_DIE("cublasSgemm_v2 returned %d", st);
}

static void sgemm_case(int ta, int tb, int M, int N, int K, float alpha, float beta, int extra_ldc,
                       int splits, int with_bias, act_kind act) {
    rng r;
    rng_seed(&r, 1000 + M * 7 + N * 13 + K * 17 + ta * 3 + tb * 5 + splits);
    int lda = ta ? M : K, ldb = tb ? K : N, ldc = N + extra_ldc;
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * ldc;
    float *A = hbuf(na), *B = hbuf(nb), *C = hbuf(nc), *bias = hbuf(N), *ref = hbuf(nc);
    fill(&r, A, na, -1, 1);
    fill(&r, B, nb, -1, 1);
    fill(&r, C, nc, -1, 1);
    fill(&r, bias, N, -1, 1);
    memcpy(ref, C, nc * sizeof(float));
    sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, ref, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float *v = &ref[(size_t)i * ldc + j];
            if (with_bias) *v += bias[j];
            if (act == ACT_RELU) *v = *v > 0 ? *v : 0;
            else if (act == ACT_SIGMOID) *v = 1.0f / (1.0f + expf(-*v));
        }
    float *dA = dput(A, na), *dB = dput(B, nb), *dC = dput(C, nc), *db = dput(bias, N);
    size_t wsf = splits > 1 ? (size_t)splits * M * N : sgemm_cuda_ws_floats(&gpu, M, N, K);
    float *ws = dput(NULL, wsf);
    sgemm_cuda(&gpu, ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc, with_bias ? db : NULL,
               act, splits, ws, wsf);
    char what[160];
    snprintf(what, sizeof what, "sgemm ta=%d tb=%d %dx%dx%d ldc+%d splits=%d bias=%d act=%d", ta, tb,
             M, N, K, extra_ldc, splits, with_bias, act);
    check_dev(what, dC, ref, nc, tol_scale(K));
    if (!with_bias && act == ACT_LINEAR && cublas_load()) {
        CU(cudaMemcpy(dC, C, nc * sizeof(float), cudaMemcpyHostToDevice));
        float *ours = hbuf(nc);
        sgemm_cuda(&gpu, ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc, NULL, ACT_LINEAR,
                   splits, ws, wsf);
        dget(ours, dC, nc);
        CU(cudaMemcpy(dC, C, nc * sizeof(float), cudaMemcpyHostToDevice));
        cublas_rowmajor(ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc);
        snprintf(what + strlen(what), sizeof what - strlen(what), " vs cuBLAS");
        check_dev(what, dC, ours, nc, tol_scale(K));
        nn_free(ours);
    }
    dfree(dA), dfree(dB), dfree(dC), dfree(db), dfree(ws);
    nn_free(A), nn_free(B), nn_free(C), nn_free(bias), nn_free(ref);
}

static void test_sgemm_shapes(void) {
    NEED_GPU();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            sgemm_case(ta, tb, 1, 1, 1, 1.0f, 0.0f, 0, 0, 0, ACT_LINEAR);
            sgemm_case(ta, tb, 37, 19, 5, 1.0f, 0.0f, 0, 0, 0, ACT_LINEAR);
            sgemm_case(ta, tb, 70, 129, 33, 0.5f, 0.25f, 3, 0, 0, ACT_LINEAR);   // partial tiles, ldc > N
            sgemm_case(ta, tb, 130, 257, 300, 1.0f, 1.0f, 0, 0, 0, ACT_LINEAR);
            sgemm_case(ta, tb, 13, 7, 1000, 1.0f, 0.0f, 0, 7, 0, ACT_LINEAR);    // forced split-K
        }
    sgemm_case(0, 0, 64, 65, 3, 1.0f, 0.0f, 0, 0, 1, ACT_RELU);                // epilogue
    sgemm_case(0, 0, 65, 64, 300, 1.0f, 0.0f, 0, 3, 1, ACT_SIGMOID);           // epilogue after split
    sgemm_case(0, 0, 5, 3, 0, 1.0f, 0.5f, 0, 0, 1, ACT_LINEAR);                // K = 0: beta C + bias
}

// The article's dense shapes: forward (n x 30752 x 128), dW (30752 x 128 x n), dx (n x 30752 x 128).
static void test_sgemm_article(void) {
    NEED_GPU();
    int batches[] = {1, 32, 256};
    for (int i = 0; i < (quick() ? 2 : 3); i++) {
        int n = batches[i];
        sgemm_case(0, 0, n, 128, 30752, 1.0f, 0.0f, 0, 0, 0, ACT_LINEAR);
        sgemm_case(1, 0, 30752, 128, n, 1.0f, 0.0f, 0, 0, 0, ACT_LINEAR);
        sgemm_case(0, 1, n, 30752, 128, 1.0f, 0.0f, 0, 0, 0, ACT_LINEAR);
    }
}

// --- dense

typedef struct { int n, in, out; act_kind act; int bias; } dense_case;

static void dense_run(dense_case c) {
    layer l = {0};
    l.kind = LAYER_DENSE, l.units = c.out, l.act = c.act, l.use_bias = c.bias;
    l = make_layer(l, (shape3){1, 1, c.in, 1});
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 7 + c.n * 31 + c.in + c.out * 3);
    size_t nx = (size_t)c.n * c.in, ny = (size_t)c.n * c.out, nw = l.wsize + l.bsize;
    float *x = hbuf(nx), *w = hbuf(nw), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx), *dw = hbuf(nw);
    float *scratch = cpu_scratch(&l, c.n);
    fill(&r, x, nx, -1, 1);
    fill(&r, w, nw, -0.5 / sqrt(c.in) * 3, 0.5 / sqrt(c.in) * 3);
    fill(&r, dy, ny, -1, 1);
    layer_fwd(&l, &cpu, c.n, x, w, y, NULL, c.act, scratch);
    char what[128];
    snprintf(what, sizeof what, "dense %d x %d -> %d act %d bias %d", c.n, c.in, c.out, c.act, c.bias);
    float *gx = dput(x, nx), *gw = dput(w, nw), *gy = dput(NULL, ny);
    size_t wsf = dense_cuda_ws_floats(&l, &gpu, c.n);
    float *ws = dput(NULL, wsf);
    dense_forward_cuda(&l, &gpu, c.n, gx, gw, gy, c.act, ws, wsf);
    char w2[160];
    snprintf(w2, sizeof w2, "%s: forward", what);
    check_dev(w2, gy, y, ny, tol_scale(c.in));
    // backward from the C path's y
    CU(cudaMemcpy(gy, y, ny * sizeof(float), cudaMemcpyHostToDevice));
    float *gdy = dput(dy, ny), *gdx = dput(NULL, nx), *gdw = dput(NULL, nw);
    layer_bwd(&l, &cpu, c.n, x, w, y, dy, dx, dw, NULL, c.act, scratch);
    dense_backward_cuda(&l, &gpu, c.n, gx, gw, gy, gdy, gdx, gdw, c.act, ws, wsf);
    snprintf(w2, sizeof w2, "%s: pre-activation gradient", what);
    check_dev(w2, gdy, dy, ny, 1e-7);
    snprintf(w2, sizeof w2, "%s: dx", what);
    check_dev(w2, gdx, dx, nx, tol_scale(c.out));
    snprintf(w2, sizeof w2, "%s: dW", what);
    check_dev(w2, gdw, dw, l.wsize, tol_scale(c.n));
    if (l.bsize) {
        snprintf(w2, sizeof w2, "%s: db", what);
        check_dev(w2, gdw + l.wsize, dw + l.wsize, l.bsize, tol_scale(c.n));
    }
    dfree(gx), dfree(gw), dfree(gy), dfree(ws), dfree(gdy), dfree(gdx), dfree(gdw);
    nn_free(x), nn_free(w), nn_free(y), nn_free(dy), nn_free(dx), nn_free(dw), nn_free(scratch);
}

static void test_dense(void) {
    NEED_GPU();
    dense_case cases[] = {
        {32, 30752, 128, ACT_RELU, 1},  {1, 30752, 128, ACT_RELU, 1}, {32, 128, 1, ACT_SIGMOID, 1},
        {32, 128, 1, ACT_LINEAR, 1},    {1, 128, 1, ACT_LINEAR, 1},   {5, 37, 19, ACT_RELU, 1},
        {3, 1, 7, ACT_LINEAR, 0},       {70, 65, 129, ACT_SIGMOID, 1}, {256, 30752, 128, ACT_RELU, 1},
    };
    int ncases = sizeof cases / sizeof *cases - (quick() ? 1 : 0);
    for (int i = 0; i < ncases && !t_cur_failed; i++) dense_run(cases[i]);
    // Random shapes: 1-300 samples, 1-3000 inputs, 1-300 outputs.
    rng r;
    rng_seed(&r, 3000300);
    for (int i = 0; i < (quick() ? 4 : 16) && !t_cur_failed; i++) {
        dense_case c = {1 + (int)(rng_uniform(&r) * 300), 1 + (int)(rng_uniform(&r) * 3000),
                        1 + (int)(rng_uniform(&r) * 300), rng_uniform(&r) < 0.5 ? ACT_RELU : ACT_LINEAR,
                        rng_uniform(&r) < 0.8};
        dense_run(c);
    }
}

// --- dense backward with Adam fused into the dW product (the model's default path)

static void dense_adam_run(dense_case c) {
    layer l = {0};
    l.kind = LAYER_DENSE, l.units = c.out, l.act = c.act, l.use_bias = c.bias;
    l = make_layer(l, (shape3){1, 1, c.in, 1});
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 70 + c.n + c.in + c.out);
    size_t nx = (size_t)c.n * c.in, ny = (size_t)c.n * c.out, nw = l.wsize + l.bsize;
    float *x = hbuf(nx), *w = hbuf(nw), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx), *dw = hbuf(nw);
    float *m = hbuf(nw), *v = hbuf(nw), *scratch = cpu_scratch(&l, c.n);
    fill(&r, x, nx, -1, 1);
    fill(&r, w, nw, -1.5 / sqrt(c.in), 1.5 / sqrt(c.in));
    fill(&r, dy, ny, -1, 1);
    fill(&r, m, nw, -0.01, 0.01);
    fill(&r, v, nw, 1e-4, 2e-4);   // moments already warm, so the update is smooth in the gradient
    layer_fwd(&l, &cpu, c.n, x, w, y, NULL, c.act, scratch);
    float *gx = dput(x, nx), *gw = dput(w, nw), *gy = dput(y, ny), *gdy = dput(dy, ny);
    float *gdx = dput(NULL, nx), *gdw = dput(NULL, nw), *gm = dput(m, nw), *gv = dput(v, nw);
    adam_cfg opt = adam_defaults();
    float alpha = adam_alpha(&opt, 3);
    float *galpha = dput(&alpha, 1);
    size_t wsf = dense_cuda_ws_floats(&l, &gpu, c.n);
    float *ws = dput(NULL, wsf);
    layer_bwd(&l, &cpu, c.n, x, w, y, dy, dx, dw, NULL, c.act, scratch);
    adam_step(&opt, 3, l.wsize, w, dw, m, v);   // the kernel only: the bias is the arena's
    dense_backward_adam_cuda(&l, &gpu, c.n, gx, gw, gy, gdy, gdx, gdw, c.act, gm, gv, &opt, galpha,
                             NULL, ws, wsf);
    char what[128], w2[256];
    snprintf(what, sizeof what, "dense+adam %d x %d -> %d act %d", c.n, c.in, c.out, c.act);
    snprintf(w2, sizeof w2, "%s: dx (from the weights before the update)", what);
    check_dev(w2, gdx, dx, nx, tol_scale(c.out));
    if (l.bsize) {
        snprintf(w2, sizeof w2, "%s: db", what);
        check_dev(w2, gdw + l.wsize, dw + l.wsize, l.bsize, tol_scale(c.n));
    }
    snprintf(w2, sizeof w2, "%s: m", what);
    check_dev(w2, gm, m, l.wsize, tol_scale(c.n));
    snprintf(w2, sizeof w2, "%s: v", what);
    check_dev(w2, gv, v, l.wsize, tol_scale(c.n));
    snprintf(w2, sizeof w2, "%s: w", what);
    float *h = hbuf(l.wsize);
    dget(h, gw, l.wsize);
    check_arrays(w2, h, w, l.wsize, 1e-7, RTOL);
    dfree(gx), dfree(gw), dfree(gy), dfree(gdy), dfree(gdx), dfree(gdw), dfree(gm), dfree(gv);
    dfree(galpha), dfree(ws);
    nn_free(x), nn_free(w), nn_free(y), nn_free(dy), nn_free(dx), nn_free(dw), nn_free(m), nn_free(v);
    nn_free(scratch), nn_free(h);
}

static void test_dense_adam(void) {
    NEED_GPU();
    dense_case cases[] = {
        {32, 30752, 128, ACT_RELU, 1}, {32, 128, 1, ACT_LINEAR, 1}, {5, 37, 19, ACT_RELU, 1},
        {70, 65, 129, ACT_SIGMOID, 1}, {3, 1, 7, ACT_LINEAR, 0},    {256, 30752, 128, ACT_RELU, 1},
    };
    int ncases = sizeof cases / sizeof *cases - (quick() ? 1 : 0);
    for (int i = 0; i < ncases && !t_cur_failed; i++) dense_adam_run(cases[i]);
}

static void test_adam_ranges(void) {
    NEED_GPU();
    size_t n = 1001, off[3] = {0, 100, 1000}, len[3] = {10, 333, 1};
    adam_cfg c = adam_defaults();
    rng r;
    rng_seed(&r, 31);
    float *w = hbuf(n), *g = hbuf(n), *m = hbuf(n), *v = hbuf(n);
    fill(&r, w, n, -1, 1);
    fill(&r, g, n, -0.1, 0.1);
    fill(&r, m, n, -0.01, 0.01);
    fill(&r, v, n, 0, 1e-4);
    float alpha = adam_alpha(&c, 2);
    float *gw = dput(w, n), *gg = dput(g, n), *gm = dput(m, n), *gv = dput(v, n), *ga = dput(&alpha, 1);
    adam_ranges_cuda(&gpu, &c, ga, NULL, 3, off, len, gw, gg, gm, gv);
    for (int i = 0; i < 3; i++) adam_step(&c, 2, len[i], w + off[i], g + off[i], m + off[i], v + off[i]);
    float *h = hbuf(n);
    dget(h, gw, n);
    check_arrays("adam ranges w (untouched outside the ranges)", h, w, n, 0, 1e-6);
    dget(h, gm, n);
    check_arrays("adam ranges m", h, m, n, 0, 1e-6);
    dfree(gw), dfree(gg), dfree(gm), dfree(gv), dfree(ga);
    nn_free(w), nn_free(g), nn_free(m), nn_free(v), nn_free(h);
}

// --- the fused binary head (last dense in -> 1, loss, its backward, Adam on its kernel)

static void head_run(int n, int in, int bias) {
    layer l = {0};
    l.kind = LAYER_DENSE, l.units = 1, l.act = ACT_SIGMOID, l.use_bias = bias;
    l = make_layer(l, (shape3){1, 1, in, 1});
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 900 + n + in);
    size_t nh = (size_t)n * in, nw = l.wsize + l.bsize;
    float *h = hbuf(nh), *w = hbuf(nw), *m = hbuf(nw), *v = hbuf(nw), *lab = hbuf(n);
    float *z = hbuf(n), *dz = hbuf(n), *dh = hbuf(nh), *dw = hbuf(nw);
    fill(&r, h, nh, 0, 1);
    fill(&r, w, nw, -0.3, 0.3);
    fill(&r, m, nw, -0.01, 0.01);
    fill(&r, v, nw, 1e-4, 2e-4);
    for (int i = 0; i < n; i++) lab[i] = (float)(rng_next(&r) & 1);
    float *gh = dput(h, nh), *gw = dput(w, nw), *gm = dput(m, nw), *gv = dput(v, nw), *glab = dput(lab, n);
    float *gz = dput(NULL, n), *gdh = dput(NULL, nh), *gdb = dput(NULL, 1), *gloss = dput(NULL, 1);
    adam_cfg opt = adam_defaults();
    float alpha = adam_alpha(&opt, 2);
    float *ga = dput(&alpha, 1);
    int *gright;
    CU(cudaMalloc((void **)&gright, sizeof(int)));
    layer_fwd(&l, &cpu, n, h, w, z, NULL, ACT_LINEAR, NULL);
    float want_loss = bce_logits(n, z, lab, dz);
    int want_right = binary_correct(n, z, lab);
    layer_bwd(&l, &cpu, n, h, w, z, dz, dh, dw, NULL, ACT_LINEAR, NULL);
    head_train_cuda(&gpu, n, in, gh, glab, gw, bias ? gw + l.wsize : NULL, gm, gv, gz, gdh,
                    bias ? gdb : NULL, gloss, gright, &opt, ga, NULL);
    adam_step(&opt, 2, l.wsize, w, dw, m, v);
    char what[96], w2[160];
    snprintf(what, sizeof what, "head n%d in%d bias %d", n, in, bias);
    snprintf(w2, sizeof w2, "%s: logits", what);
    check_dev(w2, gz, z, n, tol_scale(in));
    float got_loss;
    int got_right;
    CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
    CU(cudaMemcpy(&got_loss, gloss, sizeof got_loss, cudaMemcpyDeviceToHost));
    CU(cudaMemcpy(&got_right, gright, sizeof got_right, cudaMemcpyDeviceToHost));
    CHECK_CLOSE(got_loss, want_loss, 1e-7, 1e-5);
    CHECK_MSG(got_right == want_right, "%s: %d right, C path %d", what, got_right, want_right);
    snprintf(w2, sizeof w2, "%s: dh", what);
    check_dev(w2, gdh, dh, nh, 1e-6);
    if (bias) {
        snprintf(w2, sizeof w2, "%s: db", what);
        check_dev(w2, gdb, dw + l.wsize, 1, tol_scale(n));
    }
    snprintf(w2, sizeof w2, "%s: w after Adam", what);
    check_dev(w2, gw, w, l.wsize, 1e-6);
    snprintf(w2, sizeof w2, "%s: m", what);
    check_dev(w2, gm, m, l.wsize, tol_scale(n));
    dfree(gh), dfree(gw), dfree(gm), dfree(gv), dfree(glab), dfree(gz), dfree(gdh), dfree(gdb);
    dfree(gloss), dfree(ga), dfree(gright);
    nn_free(h), nn_free(w), nn_free(m), nn_free(v), nn_free(lab), nn_free(z), nn_free(dz);
    nn_free(dh), nn_free(dw);
}

static void test_head(void) {
    NEED_GPU();
    head_run(32, 128, 1);
    head_run(1, 128, 1);
    head_run(256, 128, 1);
    head_run(7, 37, 0);
}

// --- conv2d

typedef struct { int n, h, w, c, f, k, s; pad_kind pad; act_kind act; } conv_case;

static layer conv_layer(conv_case c) {
    layer l = {0};
    l.kind = LAYER_CONV2D, l.filters = c.f, l.kh = l.kw = c.k, l.sh = l.sw = c.s;
    l.padding = c.pad, l.use_bias = 1, l.act = c.act;
    return make_layer(l, (shape3){c.h, c.w, c.c, 0});
}

static void conv_run(conv_case c) {
    layer l = conv_layer(c);
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 99 + c.n + c.h * 3 + c.f * 5 + c.k * 7 + c.s * 11);
    size_t nx = (size_t)c.n * shape3_size(l.in), ny = (size_t)c.n * shape3_size(l.out);
    size_t nw = l.wsize + l.bsize;
    float *x = hbuf(nx), *w = hbuf(nw), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx), *dw = hbuf(nw);
    float *scratch = cpu_scratch(&l, c.n);
    fill(&r, x, nx, 0, 1);
    fill(&r, w, nw, -0.3, 0.3);
    fill(&r, dy, ny, -1, 1);
    layer_fwd(&l, &cpu, c.n, x, w, y, NULL, c.act, scratch);
    char what[128], w2[180];
    snprintf(what, sizeof what, "conv2d n%d %dx%dx%d f%d k%d s%d pad %d act %d", c.n, c.h, c.w, c.c,
             c.f, c.k, c.s, c.pad, c.act);
    float *gx = dput(x, nx), *gw = dput(w, nw), *gy = dput(NULL, ny);
    size_t wsf = conv2d_cuda_ws_floats(&l, &gpu, c.n);
    float *ws = dput(NULL, wsf);
    conv2d_forward_cuda(&l, &gpu, c.n, gx, gw, gy, c.act, ws, wsf);
    snprintf(w2, sizeof w2, "%s: forward", what);
    check_dev(w2, gy, y, ny, tol_scale(c.k * c.k * c.c));
    CU(cudaMemcpy(gy, y, ny * sizeof(float), cudaMemcpyHostToDevice));
    float *gdy = dput(dy, ny), *gdx = dput(NULL, nx), *gdw = dput(NULL, nw);
    layer_bwd(&l, &cpu, c.n, x, w, y, dy, dx, dw, NULL, c.act, scratch);
    conv2d_backward_cuda(&l, &gpu, c.n, gx, gw, gy, gdy, gdx, gdw, c.act, ws, wsf);
    snprintf(w2, sizeof w2, "%s: pre-activation gradient", what);
    check_dev(w2, gdy, dy, ny, 1e-7);
    snprintf(w2, sizeof w2, "%s: dx", what);
    check_dev(w2, gdx, dx, nx, tol_scale(c.k * c.k * c.f));
    double positions = (double)c.n * l.out.h * l.out.w;
    snprintf(w2, sizeof w2, "%s: dW", what);
    check_dev(w2, gdw, dw, l.wsize, tol_scale(positions));
    snprintf(w2, sizeof w2, "%s: db", what);
    check_dev(w2, gdw + l.wsize, dw + l.wsize, l.bsize, tol_scale(positions));
    dfree(gx), dfree(gw), dfree(gy), dfree(gdy), dfree(gdx), dfree(gdw), dfree(ws);
    nn_free(x), nn_free(w), nn_free(y), nn_free(dy), nn_free(dx), nn_free(dw), nn_free(scratch);
}

static void test_conv2d(void) {
    NEED_GPU();
    conv_case cases[] = {
        {1, 64, 64, 3, 32, 3, 1, PAD_VALID, ACT_RELU},   {3, 7, 9, 5, 6, 3, 1, PAD_SAME, ACT_RELU},
        {2, 11, 8, 4, 7, 5, 2, PAD_VALID, ACT_LINEAR},   {1, 6, 6, 1, 1, 1, 1, PAD_VALID, ACT_SIGMOID},
        {2, 10, 13, 3, 8, 2, 3, PAD_SAME, ACT_RELU},     {2, 9, 9, 2, 3, 4, 2, PAD_SAME, ACT_LINEAR},
        // the shapes of the models/ files' inner convs (implicit GEMM, 16-byte gathers)
        {4, 31, 31, 32, 32, 3, 1, PAD_VALID, ACT_RELU},  {3, 32, 32, 32, 64, 3, 1, PAD_SAME, ACT_RELU},
        {2, 16, 16, 64, 128, 3, 1, PAD_SAME, ACT_RELU},
        {32, 64, 64, 3, 32, 3, 1, PAD_VALID, ACT_RELU},
    };
    int ncases = sizeof cases / sizeof *cases - (quick() ? 1 : 0);
    for (int i = 0; i < ncases && !t_cur_failed; i++) conv_run(cases[i]);
    // Random shapes: odd sizes, kernels 1-5, strides 1-3, same/valid, 1-64 channels and filters
    // (every fourth a multiple of 4 on both sides, so the 16-byte loads are exercised too).
    rng r;
    rng_seed(&r, 20261207);
    for (int i = 0; i < (quick() ? 6 : 24) && !t_cur_failed; i++) {
        conv_case c;
        c.k = 1 + (int)(rng_uniform(&r) * 5);
        c.s = 1 + (int)(rng_uniform(&r) * 3);
        c.h = c.k + (int)(rng_uniform(&r) * 17);
        c.w = c.k + (int)(rng_uniform(&r) * 17);
        c.c = 1 + (int)(rng_uniform(&r) * 64);
        c.f = 1 + (int)(rng_uniform(&r) * 64);
        if (i % 4 == 0) c.c = (c.c + 3) / 4 * 4, c.f = (c.f + 3) / 4 * 4;
        c.n = 1 + (int)(rng_uniform(&r) * 5);
        c.pad = rng_uniform(&r) < 0.5 ? PAD_SAME : PAD_VALID;
        c.act = rng_uniform(&r) < 0.5 ? ACT_RELU : ACT_LINEAR;
        conv_run(c);
    }
}

// --- maxpool2d

typedef struct { int n, h, w, c, k, s; pad_kind pad; } pool_case;

static void pool_run(pool_case c) {
    layer l = {0};
    l.kind = LAYER_MAXPOOL2D, l.kh = l.kw = c.k, l.sh = l.sw = c.s, l.padding = c.pad;
    l = make_layer(l, (shape3){c.h, c.w, c.c, 0});
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 5 + c.n * 3 + c.h + c.k * 11);
    size_t nx = (size_t)c.n * shape3_size(l.in), ny = (size_t)c.n * shape3_size(l.out);
    float *x = hbuf(nx), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx);
    int32_t *aux = nn_alloc(ny * sizeof(int32_t), "aux"), *gaux_h = nn_alloc(ny * sizeof(int32_t), "aux");
    fill(&r, x, nx, -1, 1);
    fill(&r, dy, ny, -1, 1);
    layer_fwd(&l, &cpu, c.n, x, NULL, y, aux, ACT_LINEAR, NULL);
    layer_bwd(&l, &cpu, c.n, x, NULL, y, dy, dx, NULL, aux, ACT_LINEAR, NULL);
    char what[128], w2[200];
    snprintf(what, sizeof what, "maxpool2d n%d %dx%dx%d k%d s%d pad %d", c.n, c.h, c.w, c.c, c.k, c.s, c.pad);
    float *gx = dput(x, nx), *gy = dput(NULL, ny), *gdy = dput(dy, ny), *gdx = dput(NULL, nx);
    int32_t *gaux;
    CU(cudaMalloc((void **)&gaux, ny * sizeof(int32_t)));
    maxpool2d_forward_cuda(&l, &gpu, c.n, gx, gy, gaux, 0);
    snprintf(w2, sizeof w2, "%s: forward", what);
    check_dev(w2, gy, y, ny, 0);
    CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
    CU(cudaMemcpy(gaux_h, gaux, ny * sizeof(int32_t), cudaMemcpyDeviceToHost));
    size_t bad = 0;
    for (size_t i = 0; i < ny; i++) bad += gaux_h[i] != aux[i];
    CHECK_MSG(!bad, "%s: %zu argmax indices differ", what, bad);
    CU(cudaMemcpy(gaux, aux, ny * sizeof(int32_t), cudaMemcpyHostToDevice));
    maxpool2d_backward_cuda(&l, &gpu, c.n, gdy, gdx, gaux);
    snprintf(w2, sizeof w2, "%s: dx", what);
    check_dev(w2, gdx, dx, nx, 1e-7);
    // relu (the plan's pool over a ReLU conv): x as a ReLU's output (half zeros, some windows all
    // zeros); dx must be the C path's times the ReLU's gradient (x > 0)
    for (size_t i = 0; i < nx; i++) x[i] = x[i] > 0 ? x[i] : 0.0f;
    layer_fwd(&l, &cpu, c.n, x, NULL, y, aux, ACT_LINEAR, NULL);
    layer_bwd(&l, &cpu, c.n, x, NULL, y, dy, dx, NULL, aux, ACT_LINEAR, NULL);
    for (size_t i = 0; i < nx; i++) dx[i] = x[i] > 0 ? dx[i] : 0.0f;
    CU(cudaMemcpy(gx, x, nx * sizeof(float), cudaMemcpyHostToDevice));
    CU(cudaMemcpy(gdy, dy, ny * sizeof(float), cudaMemcpyHostToDevice));
    maxpool2d_forward_cuda(&l, &gpu, c.n, gx, gy, gaux, 1);
    snprintf(w2, sizeof w2, "%s: forward over a ReLU", what);
    check_dev(w2, gy, y, ny, 0);
    maxpool2d_backward_cuda(&l, &gpu, c.n, gdy, gdx, gaux);
    snprintf(w2, sizeof w2, "%s: dx with the ReLU gradient folded in", what);
    check_dev(w2, gdx, dx, nx, 1e-7);
    dfree(gx), dfree(gy), dfree(gdy), dfree(gdx), dfree(gaux);
    nn_free(x), nn_free(y), nn_free(dy), nn_free(dx), nn_free(aux), nn_free(gaux_h);
}

static void test_maxpool2d(void) {
    NEED_GPU();
    pool_case cases[] = {
        {32, 62, 62, 32, 2, 2, PAD_VALID}, {1, 62, 62, 32, 2, 2, PAD_VALID}, {3, 7, 9, 5, 3, 2, PAD_SAME},
        {2, 5, 5, 3, 2, 1, PAD_VALID},     {1, 4, 6, 2, 2, 2, PAD_SAME},     {2, 9, 7, 3, 3, 3, PAD_VALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases && !t_cur_failed; i++) pool_run(cases[i]);
    // Random shapes: windows 1-4, strides 1-3, same/valid, odd sizes, 1-64 channels.
    rng r;
    rng_seed(&r, 7120626);
    for (int i = 0; i < (quick() ? 6 : 24) && !t_cur_failed; i++) {
        pool_case c;
        c.k = 1 + (int)(rng_uniform(&r) * 4);
        c.s = 1 + (int)(rng_uniform(&r) * 3);
        c.h = c.k + (int)(rng_uniform(&r) * 17);
        c.w = c.k + (int)(rng_uniform(&r) * 17);
        c.c = 1 + (int)(rng_uniform(&r) * 64);
        c.n = 1 + (int)(rng_uniform(&r) * 5);
        c.pad = rng_uniform(&r) < 0.5 ? PAD_SAME : PAD_VALID;
        pool_run(c);
    }
}

// --- fused conv + relu + 2x2 max-pool (the article's first two layers)

static void fused_run(conv_case c) {
    layer cv = conv_layer(c);
    layer pl = {0};
    pl.kind = LAYER_MAXPOOL2D, pl.kh = pl.kw = 2, pl.sh = pl.sw = 2, pl.padding = PAD_VALID;
    pl = make_layer(pl, cv.out);
    char what[128], w2[180];
    snprintf(what, sizeof what, "conv+pool n%d %dx%dx%d f%d k%d s%d pad %d", c.n, c.h, c.w, c.c, c.f,
             c.k, c.s, c.pad);
    if (!conv2d_pool_fusable(&cv, &pl, 1)) {
        FAILF("%s: expected a fusable case", what);
        return;
    }
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 4242 + c.n + c.h + c.f);
    size_t nx = (size_t)c.n * shape3_size(cv.in), nc = (size_t)c.n * shape3_size(cv.out);
    size_t np = (size_t)c.n * shape3_size(pl.out), nw = cv.wsize + cv.bsize;
    float *x = hbuf(nx), *w = hbuf(nw), *yc = hbuf(nc), *yp = hbuf(np), *dp = hbuf(np);
    float *dc = hbuf(nc), *dw = hbuf(nw), *scratch = cpu_scratch(&cv, c.n);
    int32_t *aux = nn_alloc(np * sizeof(int32_t), "aux");
    uint8_t *arg = nn_alloc(np, "arg"), *garg_h = nn_alloc(np, "arg");
    fill(&r, x, nx, 0, 1);
    fill(&r, w, nw, -0.3, 0.3);
    fill(&r, dp, np, -1, 1);
    layer_fwd(&cv, &cpu, c.n, x, w, yc, NULL, ACT_RELU, scratch);
    layer_fwd(&pl, &cpu, c.n, yc, NULL, yp, aux, ACT_LINEAR, NULL);
    // The C path's argmax as a window position 0..3 (row-major), for the GPU backward.
    for (size_t i = 0; i < np; i++) {
        size_t per = shape3_size(pl.out);
        int o = (int)(i % per), ch = o % pl.out.c, pw = (o / pl.out.c) % pl.out.w, ph = o / (pl.out.c * pl.out.w);
        int a = aux[i], iw = (a / cv.out.c) % cv.out.w, ih = a / (cv.out.c * cv.out.w);
        (void)ch;
        arg[i] = (uint8_t)((ih - 2 * ph) * 2 + (iw - 2 * pw));
    }
    float *gx = dput(x, nx), *gw = dput(w, nw), *gy = dput(NULL, np);
    uint8_t *garg;
    CU(cudaMalloc((void **)&garg, np));
    conv2d_pool_forward_cuda(&cv, &pl, &gpu, c.n, gx, gw, gy, garg);
    snprintf(w2, sizeof w2, "%s: forward", what);
    check_dev(w2, gy, yp, np, tol_scale(c.k * c.k * c.c));
    // Window positions must agree wherever the max is clear (no near-tie) and positive.
    CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
    CU(cudaMemcpy(garg_h, garg, np, cudaMemcpyDeviceToHost));
    size_t bad = 0;
    for (size_t i = 0; i < np; i++) bad += yp[i] > 1e-3f && garg_h[i] != arg[i];
    CHECK_MSG(bad <= np / 100000, "%s: %zu window positions differ", what, bad);
    // backward: pooled gradient -> dW, db, from the C path's y and argmax
    layer_bwd(&pl, &cpu, c.n, yc, NULL, yp, dp, dc, NULL, aux, ACT_LINEAR, NULL);
    layer_bwd(&cv, &cpu, c.n, x, w, yc, dc, NULL, dw, NULL, ACT_RELU, scratch);
    CU(cudaMemcpy(gy, yp, np * sizeof(float), cudaMemcpyHostToDevice));
    CU(cudaMemcpy(garg, arg, np, cudaMemcpyHostToDevice));
    float *gdp = dput(dp, np), *gdw = dput(NULL, nw);
    size_t wsf = conv2d_pool_ws_floats(&cv, &pl, &gpu, c.n);
    float *ws = dput(NULL, wsf);
    conv2d_pool_backward_cuda(&cv, &pl, &gpu, c.n, gx, gy, garg, gdp, gdw, ws, wsf);
    double positions = (double)c.n * cv.out.h * cv.out.w;
    snprintf(w2, sizeof w2, "%s: dW", what);
    check_dev(w2, gdw, dw, cv.wsize, tol_scale(positions));
    snprintf(w2, sizeof w2, "%s: db", what);
    check_dev(w2, gdw + cv.wsize, dw + cv.wsize, cv.bsize, tol_scale(positions));
    dfree(gx), dfree(gw), dfree(gy), dfree(garg), dfree(gdp), dfree(gdw), dfree(ws);
    nn_free(x), nn_free(w), nn_free(yc), nn_free(yp), nn_free(dp), nn_free(dc), nn_free(dw);
    nn_free(scratch), nn_free(aux), nn_free(arg), nn_free(garg_h);
}

static void test_conv_pool_fused(void) {
    NEED_GPU();
    conv_case cases[] = {
        {1, 64, 64, 3, 32, 3, 1, PAD_VALID, ACT_RELU},  {32, 64, 64, 3, 32, 3, 1, PAD_VALID, ACT_RELU},
        {3, 9, 11, 3, 8, 3, 1, PAD_SAME, ACT_RELU},     {2, 12, 10, 2, 32, 3, 2, PAD_VALID, ACT_RELU},
        {2, 12, 10, 2, 16, 3, 1, PAD_VALID, ACT_RELU},
        {2, 15, 15, 3, 64, 3, 1, PAD_VALID, ACT_RELU},  {1, 5, 40, 1, 32, 2, 1, PAD_SAME, ACT_RELU},
    };
    int ncases = sizeof cases / sizeof *cases;
    for (int i = 0; i < ncases && !t_cur_failed; i++) {
        if (quick() && cases[i].n > 8) continue;
        fused_run(cases[i]);
    }
}

// --- loss

static void test_loss(void) {
    NEED_GPU();
    int sizes[] = {1, 32, 1000, 1025};
    for (int si = 0; si < 4 && !t_cur_failed; si++) {
        int n = sizes[si];
        rng r;
        rng_seed(&r, 77 + n);
        float *z = hbuf(n), *y = hbuf(n), *dz = hbuf(n);
        fill(&r, z, n, -6, 6);
        for (int i = 0; i < n; i++) y[i] = (float)(rng_next(&r) & 1);
        if (n > 4) z[0] = 60.0f, z[1] = -60.0f, z[2] = 0.0f, y[0] = 0, y[1] = 1;   // saturated, tie
        float want = bce_logits(n, z, y, dz);
        int want_right = binary_correct(n, z, y);
        float *gz = dput(z, n), *gyv = dput(y, n), *gdz = dput(NULL, n), *gloss = dput(NULL, 4);
        int *gright, *gstep, right = -1, two = 2;
        CU(cudaMalloc((void **)&gright, 4 * sizeof(int)));
        CU(cudaMalloc((void **)&gstep, sizeof(int)));
        CU(cudaMemcpy(gstep, &two, sizeof(int), cudaMemcpyHostToDevice));
        bce_logits_cuda(&gpu, n, n, gz, gyv, gdz, gloss, gright, gstep);   // writes entry 2
        float got;
        CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
        CU(cudaMemcpy(&got, gloss + 2, sizeof got, cudaMemcpyDeviceToHost));
        CU(cudaMemcpy(&right, gright + 2, sizeof right, cudaMemcpyDeviceToHost));
        CHECK_CLOSE(got, want, 1e-7, 1e-5);
        CHECK_MSG(right == want_right, "n %d: %d right on the GPU, %d on the C path", n, right, want_right);
        check_dev("bce gradient", gdz, dz, n, 1e-7);
        // probabilities
        float *gp = dput(NULL, n), *p = hbuf(n);
        for (int i = 0; i < n; i++) p[i] = sigmoidf_stable(z[i]);
        sigmoid_cuda(&gpu, n, gz, gp);
        check_dev("sigmoid", gp, p, n, 1e-7);
        dfree(gz), dfree(gyv), dfree(gdz), dfree(gloss), dfree(gright), dfree(gstep), dfree(gp);
        nn_free(z), nn_free(y), nn_free(dz), nn_free(p);
    }
}

// --- Adam

static void test_adam(void) {
    NEED_GPU();
    size_t sizes[] = {1001, 3937601};   // an odd tail; the article's arena (3,937,601 parameters)
    adam_cfg c = adam_defaults();
    for (int si = 0; si < 2 && !t_cur_failed; si++) {
        size_t n = sizes[si];
        rng r;
        rng_seed(&r, 3 + n);
        float *w = hbuf(n), *g = hbuf(n), *m = hbuf(n), *v = hbuf(n);
        fill(&r, w, n, -1, 1);
        fill(&r, m, n, -0.01, 0.01);
        fill(&r, v, n, 0, 1e-4);
        float *gw = dput(w, n), *gg = dput(NULL, n), *gm = dput(m, n), *gv = dput(v, n);
        float *galpha = dput(NULL, 4);
        int *gstep;
        CU(cudaMalloc((void **)&gstep, sizeof(int)));
        for (long t = 1; t <= 3; t++) {
            // The copies below run on the legacy default stream, which does not wait for the
            // context's non-blocking stream: let the previous step finish reading g first.
            CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
            fill(&r, g, n, -0.1, 0.1);
            if (t == 2) g[0] = 0.0f, g[1] = 1e-30f;
            CU(cudaMemcpy(gg, g, n * sizeof(float), cudaMemcpyHostToDevice));
            float alpha = adam_alpha(&c, t);
            int k = (int)t;
            CU(cudaMemcpy(galpha + k, &alpha, sizeof alpha, cudaMemcpyHostToDevice));
            CU(cudaMemcpy(gstep, &k, sizeof k, cudaMemcpyHostToDevice));
            adam_step(&c, t, n, w, g, m, v);
            adam_step_cuda(&gpu, &c, galpha, gstep, n, gw, gg, gm, gv);
        }
        // Same operations in the same order with no fused multiply-adds: equal to the last bit
        // but for the division and square root's rounding, which IEEE fixes too.
        float *h = hbuf(n);
        dget(h, gw, n);
        check_arrays("adam w", h, w, n, 0, 1e-6);
        dget(h, gm, n);
        check_arrays("adam m", h, m, n, 0, 1e-6);
        dget(h, gv, n);
        check_arrays("adam v", h, v, n, 0, 1e-6);
        dfree(gw), dfree(gg), dfree(gm), dfree(gv), dfree(galpha), dfree(gstep);
        nn_free(w), nn_free(g), nn_free(m), nn_free(v), nn_free(h);
    }
}

// --- augmentation

static void augment_run(int h, int w, int count, int use_aug) {
    rng r;
    rng_seed(&r, 11 + h * w + count);
    size_t img = (size_t)h * w * 3;
    uint8_t *pix = nn_alloc(count * img, "images");
    for (size_t i = 0; i < count * img; i++) pix[i] = (uint8_t)(rng_next(&r) & 255);
    int32_t *lab = nn_alloc(count * sizeof(int32_t), "labels"), *order = nn_alloc(count * sizeof(int32_t), "order");
    aug_params *aug = nn_alloc(count * sizeof(aug_params), "aug");
    for (int i = 0; i < count; i++) {
        lab[i] = (int32_t)(rng_next(&r) & 1);
        order[i] = count - 1 - i;
        augment_draw(&r, &aug[i]);
    }
    // the extremes of the ranges, both flips
    aug[0] = (aug_params){0.2f, 0.8f, 1.2f, 1};
    if (count > 1) aug[1] = (aug_params){-0.2f, 1.2f, 0.8f, 0};
    const int batch = count / 2, step = 1, n = count - batch;   // the second step's samples
    float *want = hbuf(n * img), *wy = hbuf(n);
    for (int i = 0; i < n; i++) {
        int k = step * batch + i;
        if (use_aug) augment_apply(pix + order[k] * img, h, w, &aug[k], want + i * img);
        else image_to_float(pix + order[k] * img, img, want + i * img);
        wy[i] = (float)lab[order[k]];
    }
    uint8_t *gpix;
    int32_t *glab, *gorder;
    aug_params *gaug;
    int *gstep;
    CU(cudaMalloc((void **)&gpix, count * img));
    CU(cudaMalloc((void **)&glab, count * sizeof(int32_t)));
    CU(cudaMalloc((void **)&gorder, count * sizeof(int32_t)));
    CU(cudaMalloc((void **)&gaug, count * sizeof(aug_params)));
    CU(cudaMalloc((void **)&gstep, sizeof(int)));
    CU(cudaMemcpy(gpix, pix, count * img, cudaMemcpyHostToDevice));
    CU(cudaMemcpy(glab, lab, count * sizeof(int32_t), cudaMemcpyHostToDevice));
    CU(cudaMemcpy(gorder, order, count * sizeof(int32_t), cudaMemcpyHostToDevice));
    CU(cudaMemcpy(gaug, aug, count * sizeof(aug_params), cudaMemcpyHostToDevice));
    CU(cudaMemcpy(gstep, &step, sizeof step, cudaMemcpyHostToDevice));
    float *gx = dput(NULL, n * img), *gy = dput(NULL, n);
    augment_batch_cuda(&gpu, gpix, glab, h, w, gorder, use_aug ? gaug : NULL, gstep, batch, n, gx, gy);
    char what[96];
    snprintf(what, sizeof what, "augment %dx%d x%d aug %d", h, w, count, use_aug);
    float *got = hbuf(n * img);
    dget(got, gx, n * img);
    check_arrays(what, got, want, n * img, 1e-6, 0);
    check_dev("augment labels", gy, wy, n, 0);
    // the step counter advances by one
    step_advance_cuda(&gpu, gstep);
    int after = 0;
    CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
    CU(cudaMemcpy(&after, gstep, sizeof after, cudaMemcpyDeviceToHost));
    CHECK(after == step + 1);
    dfree(gpix), dfree(glab), dfree(gorder), dfree(gaug), dfree(gstep), dfree(gx), dfree(gy);
    nn_free(pix), nn_free(lab), nn_free(order), nn_free(aug), nn_free(want), nn_free(wy), nn_free(got);
}

static void test_augment(void) {
    NEED_GPU();
    augment_run(64, 64, 12, 1);
    augment_run(64, 64, 6, 0);
    augment_run(13, 17, 9, 1);
    augment_run(1, 5, 4, 1);
}

int main(void) {
    RUN(test_sgemm_shapes);
    RUN(test_sgemm_article);
    RUN(test_dense);
    RUN(test_dense_adam);
    RUN(test_adam_ranges);
    RUN(test_head);
    RUN(test_conv2d);
    RUN(test_maxpool2d);
    RUN(test_conv_pool_fused);
    RUN(test_loss);
    RUN(test_adam);
    RUN(test_augment);
    if (have_gpu > 0) cuda_ctx_free(&gpu);
    TEST_EXIT();
}
