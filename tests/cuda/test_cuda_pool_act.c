// test_cuda_pool_act.c: the CUDA twins of issue 14's pooling and activation layers against the
// C path on seeded random inputs, forward and backward, to atol + 1e-4 |ref| (cuda_test_util.h):
//  - avgpool2d over random shapes (odd sizes, pools 1-3, strides 1-3, same/valid, 1-64
//    channels), globalavgpool, leakyrelu (slopes 0 to 1.5, backward in place as the model runs it);
//  - tanh, softmax and leaky_relu in the activation layer (softmax rows of 1 to 100 channels),
//    in dense (plain backward and the model's dx + Adam one) and in conv2d, and the SGEMM's
//    softmax epilogue on a C with ldc > N;
//  - whole models with these layers: forward on both paths (a 3-class softmax head), and 15
//    training steps of a binary model, every loss and the weights after them.
// Backward passes get the C path's forward results as inputs, as in test_cuda_ops.c.
#include <math.h>

#include "../../nn/adam.h"
#include "../../nn/model.h"
#include "cuda_test_util.h"

static double tol_scale(double K) { return 1e-6 * sqrt(K) + 2e-6; }

static int irand(rng *r, int lo, int hi) { return lo + (int)(rng_uniform(r) * (hi - lo + 1)); }

// Forward and backward of a layer without parameters on both paths; dx on the GPU is written
// over dy when in_place (the model's walk does so for elementwise layers).
static void plain_run(layer l, shape3 in, int n, act_kind act, int in_place, double scale, const char *what) {
    l = make_layer(l, in);
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 11 + n * 7 + in.h * 13 + in.w * 17 + in.c * 19 + l.kind);
    size_t nx = (size_t)n * shape3_size(l.in), ny = (size_t)n * shape3_size(l.out);
    float *x = hbuf(nx), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx);
    fill(&r, x, nx, -2, 2);
    for (size_t i = 0; i < nx; i += 11) x[i] = 0.0f;   // exact zeros: leaky ReLU's kink
    fill(&r, dy, ny, -1, 1);
    layer_fwd(&l, &cpu, n, x, NULL, y, NULL, act, NULL);
    float *gx = dput(x, nx), *gy = dput(NULL, ny), *gdy = dput(dy, ny), *gdx = in_place ? gdy : dput(NULL, nx);
    layer_fwd(&l, &gpu, n, gx, NULL, gy, NULL, act, NULL);
    char w2[200];
    snprintf(w2, sizeof w2, "%s: forward", what);
    check_dev(w2, gy, y, ny, scale);
    CU(cudaMemcpy(gy, y, ny * sizeof(float), cudaMemcpyHostToDevice));
    layer_bwd(&l, &cpu, n, x, NULL, y, dy, in_place ? dy : dx, NULL, NULL, act, NULL);
    layer_bwd(&l, &gpu, n, gx, NULL, gy, gdy, gdx, NULL, NULL, act, NULL);
    snprintf(w2, sizeof w2, "%s: backward", what);
    check_dev(w2, gdx, in_place ? dy : dx, nx, scale);
    dfree(gx), dfree(gy), dfree(gdy);
    if (!in_place) dfree(gdx);
    nn_free(x), nn_free(y), nn_free(dy), nn_free(dx);
}

// --- pooling

static void avgpool_case(int n, int h, int w, int c, int kh, int kw, int sh, int sw, pad_kind pad) {
    layer l;
    layer_defaults(&l, LAYER_AVGPOOL2D);
    l.kh = kh, l.kw = kw, l.sh = sh, l.sw = sw, l.padding = pad;
    char what[160];
    snprintf(what, sizeof what, "avgpool2d n%d %dx%dx%d pool %dx%d stride %dx%d %s", n, h, w, c, kh,
             kw, sh, sw, pad == PAD_SAME ? "same" : "valid");
    plain_run(l, (shape3){h, w, c, 0}, n, ACT_LINEAR, 0, 1e-6, what);
}

static void test_avgpool2d(void) {
    NEED_GPU();
    avgpool_case(2, 7, 5, 3, 2, 2, 2, 2, PAD_VALID);
    avgpool_case(3, 9, 7, 64, 3, 3, 2, 2, PAD_SAME);
    avgpool_case(1, 8, 7, 2, 2, 2, 3, 3, PAD_SAME);   // gaps between windows
    avgpool_case(2, 31, 31, 32, 2, 2, 2, 2, PAD_VALID);
    avgpool_case(quick() ? 2 : 32, 64, 64, 32, 3, 3, 1, 1, PAD_SAME);
    rng r;
    rng_seed(&r, 4040);
    for (int i = 0; i < (quick() ? 8 : 60) && !t_cur_failed; i++) {
        int kh = irand(&r, 1, 3), kw = irand(&r, 1, 3), h = irand(&r, kh, 21), w = irand(&r, kw, 21);
        avgpool_case(irand(&r, 1, 5), h | 1, w | 1, irand(&r, 1, 64), kh, kw, irand(&r, 1, 3),
                     irand(&r, 1, 3), rng_uniform(&r) < 0.5 ? PAD_SAME : PAD_VALID);
    }
}

static void test_globalavgpool(void) {
    NEED_GPU();
    const int shapes[][4] = {{3, 5, 7, 3}, {2, 1, 1, 4}, {4, 9, 6, 37}, {32, 16, 16, 64}, {1, 31, 29, 1}, {5, 8, 8, 100}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes && !t_cur_failed; i++) {
        layer l;
        layer_defaults(&l, LAYER_GLOBALAVGPOOL);
        char what[96];
        snprintf(what, sizeof what, "globalavgpool n%d %dx%dx%d", shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3]);
        plain_run(l, (shape3){shapes[i][1], shapes[i][2], shapes[i][3], 0}, shapes[i][0], ACT_LINEAR, 0,
                  tol_scale(shapes[i][1] * shapes[i][2]), what);
    }
    rng r;
    rng_seed(&r, 5050);
    for (int i = 0; i < (quick() ? 4 : 20) && !t_cur_failed; i++) {
        layer l;
        layer_defaults(&l, LAYER_GLOBALAVGPOOL);
        int n = irand(&r, 1, 6), h = irand(&r, 1, 33), w = irand(&r, 1, 33), c = irand(&r, 1, 64);
        char what[96];
        snprintf(what, sizeof what, "globalavgpool n%d %dx%dx%d", n, h, w, c);
        plain_run(l, (shape3){h, w, c, 0}, n, ACT_LINEAR, 0, tol_scale(h * w), what);
    }
}

static void test_leakyrelu(void) {
    NEED_GPU();
    const float alphas[4] = {0.3f, 0.0f, 0.01f, 1.5f};
    for (int i = 0; i < 4 && !t_cur_failed; i++)
        for (int in_place = 0; in_place < 2; in_place++) {
            layer l;
            layer_defaults(&l, LAYER_LEAKYRELU);
            l.alpha = alphas[i];
            char what[96];
            snprintf(what, sizeof what, "leakyrelu alpha %g%s", alphas[i], in_place ? " in place" : "");
            plain_run(l, (shape3){13, 11, 7, 0}, 3, ACT_LINEAR, in_place, 0, what);
            plain_run(l, (shape3){1, 1, 1001, 1}, 2, ACT_LINEAR, in_place, 0, what);
        }
}

// --- the activations: the activation layer

static void test_activation_layer(void) {
    NEED_GPU();
    const act_kind acts[6] = {ACT_TANH, ACT_SOFTMAX, ACT_LEAKY_RELU, ACT_RELU, ACT_SIGMOID, ACT_LINEAR};
    const int shapes[][4] = {{2, 3, 4, 5}, {3, 7, 9, 1}, {2, 5, 5, 32}, {4, 3, 3, 33}, {2, 1, 1, 100}, {64, 8, 8, 64}};
    for (int a = 0; a < 6; a++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes && !t_cur_failed; s++) {
            layer l;
            layer_defaults(&l, LAYER_ACTIVATION);
            l.act = acts[a];
            char what[96];
            snprintf(what, sizeof what, "activation %s n%d %dx%dx%d", act_name(acts[a]), shapes[s][0],
                     shapes[s][1], shapes[s][2], shapes[s][3]);
            plain_run(l, (shape3){shapes[s][1], shapes[s][2], shapes[s][3], 0}, shapes[s][0], acts[a],
                      (int)(s & 1), 1e-6, what);
        }
}

// --- the activations inside dense (both backward passes the model uses) and the SGEMM

typedef struct { int n, in, out; act_kind act; } dense_case;

static void dense_run(dense_case c) {
    layer l;
    layer_defaults(&l, LAYER_DENSE);
    l.units = c.out, l.act = c.act;
    l = make_layer(l, (shape3){1, 1, c.in, 1});
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 17 + c.n * 31 + c.in + c.out * 3 + c.act);
    size_t nx = (size_t)c.n * c.in, ny = (size_t)c.n * c.out, nw = l.wsize + l.bsize;
    float *x = hbuf(nx), *w = hbuf(nw), *y = hbuf(ny), *dy = hbuf(ny), *dy2 = hbuf(ny), *dx = hbuf(nx);
    float *dw = hbuf(nw), *m = hbuf(nw), *v = hbuf(nw), *scratch = cpu_scratch(&l, c.n);
    fill(&r, x, nx, -1, 1);
    fill(&r, w, nw, -3 / sqrt(c.in), 3 / sqrt(c.in));
    fill(&r, dy, ny, -1, 1);
    fill(&r, m, nw, -0.01, 0.01);
    fill(&r, v, nw, 1e-4, 2e-4);
    memcpy(dy2, dy, ny * sizeof(float));
    layer_fwd(&l, &cpu, c.n, x, w, y, NULL, c.act, scratch);
    char what[128], w2[200];
    snprintf(what, sizeof what, "dense %d x %d -> %d %s", c.n, c.in, c.out, act_name(c.act));
    float *gx = dput(x, nx), *gw = dput(w, nw), *gy = dput(NULL, ny);
    size_t wsf = dense_cuda_ws_floats(&l, &gpu, c.n);
    float *ws = dput(NULL, wsf);
    dense_forward_cuda(&l, &gpu, c.n, gx, gw, gy, c.act, ws, wsf);
    snprintf(w2, sizeof w2, "%s: forward", what);
    check_dev(w2, gy, y, ny, tol_scale(c.in));
    CU(cudaMemcpy(gy, y, ny * sizeof(float), cudaMemcpyHostToDevice));
    float *gdy = dput(dy, ny), *gdx = dput(NULL, nx), *gdw = dput(NULL, nw);
    layer_bwd(&l, &cpu, c.n, x, w, y, dy, dx, dw, NULL, c.act, scratch);
    dense_backward_cuda(&l, &gpu, c.n, gx, gw, gy, gdy, gdx, gdw, c.act, ws, wsf);
    snprintf(w2, sizeof w2, "%s: pre-activation gradient", what);
    check_dev(w2, gdy, dy, ny, 1e-6);
    snprintf(w2, sizeof w2, "%s: dx", what);
    check_dev(w2, gdx, dx, nx, tol_scale(c.out));
    snprintf(w2, sizeof w2, "%s: dW and db", what);
    check_dev(w2, gdw, dw, nw, tol_scale(c.n));
    // The model's path: dx from the weights before the update, dW straight into Adam.
    CU(cudaMemcpy(gdy, dy2, ny * sizeof(float), cudaMemcpyHostToDevice));
    float *gm = dput(m, nw), *gv = dput(v, nw);
    adam_cfg opt = adam_defaults();
    float alpha = adam_alpha(&opt, 3);
    float *galpha = dput(&alpha, 1);
    dense_backward_adam_cuda(&l, &gpu, c.n, gx, gw, gy, gdy, gdx, gdw, c.act, gm, gv, &opt, galpha,
                             NULL, ws, wsf);
    adam_step(&opt, 3, l.wsize, w, dw, m, v);
    snprintf(w2, sizeof w2, "%s: dx with Adam fused", what);
    check_dev(w2, gdx, dx, nx, tol_scale(c.out));
    snprintf(w2, sizeof w2, "%s: w after the fused Adam", what);
    float *h = hbuf(l.wsize);
    dget(h, gw, l.wsize);
    check_arrays(w2, h, w, l.wsize, 1e-7, RTOL);
    dfree(gx), dfree(gw), dfree(gy), dfree(ws), dfree(gdy), dfree(gdx), dfree(gdw), dfree(gm), dfree(gv), dfree(galpha);
    nn_free(x), nn_free(w), nn_free(y), nn_free(dy), nn_free(dy2), nn_free(dx), nn_free(dw), nn_free(m), nn_free(v);
    nn_free(scratch), nn_free(h);
}

static void test_dense_acts(void) {
    NEED_GPU();
    const act_kind acts[3] = {ACT_TANH, ACT_SOFTMAX, ACT_LEAKY_RELU};
    const dense_case shapes[] = {{3, 7, 5, 0}, {32, 128, 10, 0}, {1, 30, 1, 0}, {70, 65, 129, 0}, {32, 3000, 64, 0}, {256, 512, 3, 0}};
    for (int a = 0; a < 3; a++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes && !t_cur_failed; s++) {
            dense_case c = shapes[s];
            c.act = acts[a];
            dense_run(c);
        }
    rng r;
    rng_seed(&r, 6060);
    for (int i = 0; i < (quick() ? 3 : 12) && !t_cur_failed; i++)
        dense_run((dense_case){irand(&r, 1, 300), irand(&r, 1, 2000), irand(&r, 1, 200), acts[i % 3]});
}

// sgemm_cuda with the softmax epilogue: each row of C (M, N) inside ldc > N, the columns past
// N untouched.
static void test_sgemm_softmax(void) {
    NEED_GPU();
    const int M = 37, N = 19, K = 45, ldc = 24;
    rng r;
    rng_seed(&r, 7070);
    float *A = hbuf((size_t)M * K), *B = hbuf((size_t)K * N), *bias = hbuf(N), *C = hbuf((size_t)M * ldc), *ref = hbuf((size_t)M * ldc);
    fill(&r, A, (size_t)M * K, -1, 1);
    fill(&r, B, (size_t)K * N, -1, 1);
    fill(&r, bias, N, -1, 1);
    fill(&r, C, (size_t)M * ldc, -1, 1);
    memcpy(ref, C, (size_t)M * ldc * sizeof(float));
    for (int i = 0; i < M; i++) {
        double z[64], mx = -1e30, sum = 0;
        for (int j = 0; j < N; j++) {
            z[j] = bias[j];
            for (int k = 0; k < K; k++) z[j] += (double)A[(size_t)i * K + k] * B[(size_t)k * N + j];
            mx = fmax(mx, z[j]);
        }
        for (int j = 0; j < N; j++) sum += exp(z[j] - mx);
        for (int j = 0; j < N; j++) ref[(size_t)i * ldc + j] = (float)(exp(z[j] - mx) / sum);
    }
    float *dA = dput(A, (size_t)M * K), *dB = dput(B, (size_t)K * N), *db = dput(bias, N), *dC = dput(C, (size_t)M * ldc);
    for (int splits = 0; splits < 4 && !t_cur_failed; splits += 3) {   // plain and split-K
        size_t wsf = splits ? (size_t)splits * M * N : sgemm_cuda_ws_floats(&gpu, M, N, K);
        float *ws = dput(NULL, wsf);
        CU(cudaMemcpy(dC, C, (size_t)M * ldc * sizeof(float), cudaMemcpyHostToDevice));
        sgemm_cuda(&gpu, 0, 0, M, N, K, 1.0f, dA, K, dB, N, 0.0f, dC, ldc, db, ACT_SOFTMAX, splits, ws, wsf);
        check_dev(splits ? "sgemm softmax, split-K 3" : "sgemm softmax", dC, ref, (size_t)M * ldc, 1e-6);
        dfree(ws);
    }
    dfree(dA), dfree(dB), dfree(db), dfree(dC);
    nn_free(A), nn_free(B), nn_free(bias), nn_free(C), nn_free(ref);
}

// --- the activations inside conv2d

typedef struct { int n, h, w, c, f, k, s; pad_kind pad; act_kind act; } conv_case;

static void conv_run(conv_case c) {
    layer l;
    layer_defaults(&l, LAYER_CONV2D);
    l.filters = c.f, l.kh = l.kw = c.k, l.sh = l.sw = c.s, l.padding = c.pad, l.act = c.act;
    l = make_layer(l, (shape3){c.h, c.w, c.c, 0});
    nn_ctx cpu = cpu_ctx();
    rng r;
    rng_seed(&r, 29 + c.n + c.h * 3 + c.f * 5 + c.k * 7 + c.s * 11 + c.act * 13);
    size_t nx = (size_t)c.n * shape3_size(l.in), ny = (size_t)c.n * shape3_size(l.out), nw = l.wsize + l.bsize;
    float *x = hbuf(nx), *w = hbuf(nw), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx), *dw = hbuf(nw);
    float *scratch = cpu_scratch(&l, c.n);
    fill(&r, x, nx, 0, 1);
    fill(&r, w, nw, -0.5, 0.5);
    fill(&r, dy, ny, -1, 1);
    layer_fwd(&l, &cpu, c.n, x, w, y, NULL, c.act, scratch);
    char what[128], w2[200];
    snprintf(what, sizeof what, "conv2d n%d %dx%dx%d f%d k%d s%d %s %s", c.n, c.h, c.w, c.c, c.f,
             c.k, c.s, c.pad == PAD_SAME ? "same" : "valid", act_name(c.act));
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
    check_dev(w2, gdy, dy, ny, 1e-6);
    snprintf(w2, sizeof w2, "%s: dx", what);
    check_dev(w2, gdx, dx, nx, tol_scale(c.k * c.k * c.f));
    snprintf(w2, sizeof w2, "%s: dW and db", what);
    check_dev(w2, gdw, dw, nw, tol_scale((double)c.n * l.out.h * l.out.w));
    dfree(gx), dfree(gw), dfree(gy), dfree(gdy), dfree(gdx), dfree(gdw), dfree(ws);
    nn_free(x), nn_free(w), nn_free(y), nn_free(dy), nn_free(dx), nn_free(dw), nn_free(scratch);
}

static void test_conv2d_acts(void) {
    NEED_GPU();
    const act_kind acts[3] = {ACT_TANH, ACT_SOFTMAX, ACT_LEAKY_RELU};
    for (int a = 0; a < 3 && !t_cur_failed; a++) {
        conv_run((conv_case){2, 6, 5, 2, 5, 3, 1, PAD_SAME, acts[a]});
        conv_run((conv_case){2, 9, 8, 3, 1, 2, 2, PAD_VALID, acts[a]});     // softmax of one filter
        conv_run((conv_case){3, 16, 16, 32, 64, 3, 1, PAD_SAME, acts[a]});
        conv_run((conv_case){4, 11, 13, 4, 40, 1, 3, PAD_SAME, acts[a]});   // rows longer than a warp
    }
    rng r;
    rng_seed(&r, 8080);
    for (int i = 0; i < (quick() ? 3 : 15) && !t_cur_failed; i++) {
        int k = irand(&r, 1, 3);
        conv_run((conv_case){irand(&r, 1, 4), irand(&r, k, 17) | 1, irand(&r, k, 17) | 1, irand(&r, 1, 64),
                             irand(&r, 1, 64), k, irand(&r, 1, 3), rng_uniform(&r) < 0.5 ? PAD_SAME : PAD_VALID,
                             acts[i % 3]});
    }
}

// --- whole models

static void test_model_forward_softmax_head(void) {
    NEED_GPU();
    model m;
    build_model(&m, "input 20 18 3\nconv2d filters=8 kernel=3 padding=same activation=tanh\n"
              "avgpool2d pool=2\nleakyrelu alpha=0.1\nconv2d filters=16 kernel=3 activation=leaky_relu\n"
              "avgpool2d pool=3 stride=2 padding=same\nglobalavgpool\ndense units=12 activation=tanh\n"
              "dense units=3 activation=softmax\n", 3);
    int n = quick() ? 3 : 37;
    size_t in = shape3_size(m.input);
    float *x = hbuf(n * in), *yc = hbuf(n * 3), *yg = hbuf(n * 3), lab[64];
    rng r;
    rng_seed(&r, 12);
    learnable_batch(&r, n, m.input.h, m.input.w, m.input.c, x, lab);
    nn_ctx cpu = cpu_ctx();
    memcpy(yc, model_forward(&m, &cpu, n, x, 0), n * 3 * sizeof(float));
    memcpy(yg, model_forward(&m, &gpu, n, x, 0), n * 3 * sizeof(float));
    check_arrays("3-class model outputs", yg, yc, n * 3, 1e-6, RTOL);
    model_free(&m);
    nn_free(x), nn_free(yc), nn_free(yg);
}

// Two copies trained from the same weights on the same batches, one per path (the GPU's plan
// with its fusions: dense dx + Adam through tanh and softmax, leakyrelu in place): each loss
// and the weights after to 1e-3, test_cuda_model.c's bounds (Adam turns rounding-level
// differences of near-zero gradients into steps of the learning rate).
static void test_model_train(void) {
    NEED_GPU();
    const char *cfg = "input 16 14 3\nconv2d filters=6 kernel=3 padding=same activation=tanh\n"
                      "avgpool2d pool=2\nleakyrelu\nconv2d filters=8 kernel=3 activation=softmax\n"
                      "avgpool2d pool=3 stride=2 padding=same\nactivation fn=leaky_relu\nglobalavgpool\n"
                      "dense units=10 activation=softmax\ndense units=6 activation=tanh\n"
                      "dense units=1 activation=sigmoid\n";
    const int steps = quick() ? 3 : 15, batch = quick() ? 4 : 16;
    model a, b;
    build_model(&a, cfg, 5);
    build_model(&b, cfg, 5);
    size_t in = shape3_size(a.input);
    float *x = hbuf((size_t)batch * in), *y = hbuf(batch);
    rng r;
    rng_seed(&r, 6);
    nn_ctx cpu = cpu_ctx();
    adam_cfg opt = adam_defaults();
    for (int s = 0; s < steps && !t_cur_failed; s++) {
        int n = s % 5 == 4 ? batch - 1 : batch;
        learnable_batch(&r, n, a.input.h, a.input.w, a.input.c, x, y);
        float la = model_train_step(&a, &cpu, n, x, y, &opt, NULL);
        float lb = model_train_step(&b, &gpu, n, x, y, &opt, NULL);
        double d = fabs((double)la - lb) / fmax(fabs((double)la), 1e-6);
        CHECK_MSG(d <= 1e-3, "step %d: loss %.7g on the GPU, %.7g on the C path", s + 1, lb, la);
    }
    cuda_model_download(&b);
    double dw = rel_diff(b.w, a.w, a.nparams);
    printf("# pool/act model: %d steps, weights differ by %.2e (relative L2)\n", steps, dw);
    CHECK_MSG(dw < 1e-3, "weights after %d steps differ by %.3g (relative L2)", steps, dw);
    model_free(&a), model_free(&b);
    nn_free(x), nn_free(y);
}

int main(void) {
    RUN(test_avgpool2d);
    RUN(test_globalavgpool);
    RUN(test_leakyrelu);
    RUN(test_activation_layer);
    RUN(test_dense_acts);
    RUN(test_sgemm_softmax);
    RUN(test_conv2d_acts);
    RUN(test_model_forward_softmax_head);
    RUN(test_model_train);
    TEST_EXIT();
}
