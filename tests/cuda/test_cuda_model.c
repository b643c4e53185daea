// test_cuda_model.c: whole models on the GPU against the C path.
//  - the article's CNN: forward logits and probabilities agree;
//  - 50 training steps from the same weights on the same batches: every step's loss agrees to
//    1e-3 relative, and the weights after them;
//  - the device epoch (cuda_model_train_images: gather + augment on the GPU, full batches replayed
//    from one CUDA graph, a partial last batch) gives the losses of host-built batches, on the GPU
//    step by step and on the C path, and the device's logits of an image set match; nn train's
//    epoch on the GPU (run/train.c's train_epoch) is that same call, bit for bit;
//  - models the fused conv+pool path does not take (conv not first, same padding, strides, an
//    activation layer, a pool first) train alike on both paths;
//  - prediction in chunks larger than the device batch; upload / download round trip.
#include <math.h>
#include <stdlib.h>

#include "../../nn/model.h"
#include "../../run/train.h"
#include "cuda_test_util.h"

static const char *catdog_cfg = MODEL_CATDOG_CFG;

static void test_forward_article(void) {
    NEED_GPU();
    model m;
    build_model(&m, catdog_cfg, 1);
    int n = quick() ? 4 : 32;
    size_t in = shape3_size(m.input);
    float *x = hbuf(n * in), *yc = hbuf(n), *yg = hbuf(n), y[64];
    rng r;
    rng_seed(&r, 2);
    learnable_batch(&r, n, m.input.h, m.input.w, m.input.c, x, y);
    nn_ctx cpu = cpu_ctx();
    for (int logits = 0; logits < 2; logits++) {
        memcpy(yc, model_forward(&m, &cpu, n, x, logits), n * sizeof(float));
        memcpy(yg, model_forward(&m, &gpu, n, x, logits), n * sizeof(float));
        check_arrays(logits ? "article logits" : "article probabilities", yg, yc, n, 2e-4 * max_abs(yc, n) + 1e-6, RTOL);
    }
    model_free(&m);
    nn_free(x), nn_free(yc), nn_free(yg);
}

// Trains two copies of cfg from the same weights on the same batches, one per path; every
// step's loss must agree to `rtol`, then the weights.
static void train_pair(const char *label, const char *cfg, int steps, int batch, double rtol) {
    model a, b;
    build_model(&a, cfg, 5);
    build_model(&b, cfg, 5);
    size_t in = shape3_size(a.input);
    float *x = hbuf((size_t)batch * in), *y = hbuf(batch);
    rng r;
    rng_seed(&r, 6);
    nn_ctx cpu = cpu_ctx();
    adam_cfg opt = adam_defaults();
    double worst = 0;
    int worst_step = -1;
    for (int s = 0; s < steps && !t_cur_failed; s++) {
        int n = s % 7 == 6 ? batch - 1 : batch;   // a short batch now and then
        learnable_batch(&r, n, a.input.h, a.input.w, a.input.c, x, y);
        int ca = 0, cb = 0;
        float la = model_train_step(&a, &cpu, n, x, y, &opt, &ca);
        float lb = model_train_step(&b, &gpu, n, x, y, &opt, &cb);
        double d = fabs((double)la - lb) / fmax(fabs((double)la), 1e-6);
        if (d > worst) worst = d, worst_step = s;
        CHECK_MSG(d <= rtol, "%s: step %d: loss %.7g on the GPU, %.7g on the C path", label, s + 1, lb, la);
        CHECK_MSG(abs(ca - cb) <= 1, "%s: step %d: %d right on the GPU, %d on the C path", label, s + 1, cb, ca);
    }
    CHECK(a.t == steps && b.t == steps);
    cuda_model_download(&b);
    double dw = rel_diff(b.w, a.w, a.nparams);
    printf("# %s: %d steps, worst loss difference %.2e (step %d), weights differ by %.2e (relative L2)\n",
           label, steps, worst, worst_step + 1, dw);
    CHECK_MSG(dw < 1e-3, "%s: weights after %d steps differ by %.3g (relative L2)", label, steps, dw);
    model_free(&a);
    model_free(&b);
    nn_free(x), nn_free(y);
}

static void test_train_article_50_steps(void) {
    NEED_GPU();
    train_pair("article CNN, batch 32", catdog_cfg, quick() ? 3 : 50, quick() ? 4 : 32, 1e-3);
}

// The same without the fusions (conv+pool kernels, dW+Adam): the plain layer-by-layer path.
static void test_train_article_no_fusion(void) {
    NEED_GPU();
    setenv("NN_CUDA_FUSE", "0", 1);
    train_pair("article CNN, fusions off (NN_CUDA_FUSE=0)", catdog_cfg, quick() ? 2 : 10, quick() ? 3 : 16, 1e-3);
    unsetenv("NN_CUDA_FUSE");
}

static const char *strided_cfg = "input 16 16 3\n"
                                 "conv2d filters=4 kernel=3 padding=same activation=relu\n"
                                 "conv2d filters=6 kernel=3 stride=2 activation=relu\n"
                                 "maxpool2d pool=2\n"
                                 "flatten\n"
                                 "dense units=10 activation=relu\n"
                                 "activation fn=sigmoid\n"
                                 "dense units=1 activation=sigmoid\n";

static void test_train_unfused_models(void) {
    NEED_GPU();
    train_pair("conv same + strided conv + pool + activation layer", strided_cfg, 20, 5, 1e-3);
    // the pool over the strided ReLU conv takes the ReLU's gradient (pool_relu_forward)
    setenv("NN_CUDA_RELU_FOLD", "1", 1);
    train_pair("the same, ReLU gradient folded into the pool (NN_CUDA_RELU_FOLD=1)", strided_cfg, 20, 5, 1e-3);
    unsetenv("NN_CUDA_RELU_FOLD");
    train_pair("pool first, conv after, no bias",
               "input 12 10 2\n"
               "maxpool2d pool=3 stride=2 padding=same\n"
               "conv2d filters=5 kernel=2 activation=linear bias=0\n"
               "flatten\n"
               "dense units=1 activation=sigmoid\n",
               20, 3, 1e-3);
    train_pair("flatten first",
               "input 4 4 3\n"
               "flatten\n"
               "dense units=8 activation=relu\n"
               "dense units=1 activation=sigmoid\n",
               20, 9, 1e-3);
}

// --- the device epoch

static void test_train_images_epoch(void) {
    NEED_GPU();
    const int batch = quick() ? 4 : 8, count = 5 * batch + 3, nimg = count + 7, epochs = 2;
    model g, s, c;   // device epoch; GPU step by step; C path
    build_model(&g, catdog_cfg, 9);
    build_model(&s, catdog_cfg, 9);
    build_model(&c, catdog_cfg, 9);
    size_t in = shape3_size(g.input);
    rng r;
    rng_seed(&r, 10);
    uint8_t *pix = nn_alloc(nimg * in, "images");
    int32_t *lab = nn_alloc(nimg * sizeof(int32_t), "labels"), *order = nn_alloc(count * sizeof(int32_t), "order");
    aug_params *aug = nn_alloc(count * sizeof(aug_params), "aug");
    for (int i = 0; i < nimg; i++) {
        lab[i] = (int32_t)(rng_next(&r) & 1);
        // brighter images are dogs: something to learn
        for (size_t p = 0; p < in; p++) pix[i * in + p] = (uint8_t)(rng_below(&r, 160) + (lab[i] ? 80 : 0));
    }
    char err[NN_ERRLEN];
    cuda_images *im = cuda_images_upload(&gpu, pix, lab, nimg, g.input.h, g.input.w, err);
    CHECK_MSG(im != NULL, "cuda_images_upload: %s", err);
    if (!im) return;
    nn_ctx cpu = cpu_ctx();
    adam_cfg opt = adam_defaults();
    int steps = (count + batch - 1) / batch;
    float *gl = hbuf(steps), *x = hbuf((size_t)batch * in), *y = hbuf(batch);
    int *gc = nn_alloc(steps * sizeof(int), "correct");
    for (int e = 0; e < epochs && !t_cur_failed; e++) {
        for (int i = 0; i < count; i++) order[i] = (int32_t)rng_below(&r, nimg);
        for (int i = 0; i < count; i++) augment_draw(&r, &aug[i]);
        int got = cuda_model_train_images(&g, &gpu, im, order, e == 0 ? aug : NULL, count, batch,
                                          &opt, gl, gc, err);
        CHECK_MSG(got == steps, "cuda_model_train_images returned %d (%s)", got, got < 0 ? err : "");
        for (int k = 0; k < steps && !t_cur_failed; k++) {
            int n = NN_MIN(batch, count - k * batch);
            for (int i = 0; i < n; i++) {
                int j = k * batch + i;
                if (e == 0) augment_apply(pix + order[j] * in, g.input.h, g.input.w, &aug[j], x + i * in);
                else image_to_float(pix + order[j] * in, in, x + i * in);
                y[i] = (float)lab[order[j]];
            }
            int cs = 0, cc = 0;
            float ls = model_train_step(&s, &gpu, n, x, y, &opt, &cs);
            float lc = model_train_step(&c, &cpu, n, x, y, &opt, &cc);
            CHECK_MSG(fabs(gl[k] - ls) <= 1e-5 * fabs(ls) + 1e-7,
                      "epoch %d step %d: device epoch loss %.8g, GPU step-by-step %.8g", e + 1, k + 1, gl[k], ls);
            CHECK_MSG(fabs(gl[k] - lc) <= 1e-3 * fabs(lc),
                      "epoch %d step %d: device epoch loss %.8g, C path %.8g", e + 1, k + 1, gl[k], lc);
            CHECK_MSG(abs(gc[k] - cc) <= 1, "epoch %d step %d: %d right on the device, %d on the C path",
                      e + 1, k + 1, gc[k], cc);
        }
    }
    CHECK(g.t == (long)epochs * steps && c.t == g.t && s.t == g.t);
    // logits of the whole set, in order, unaugmented
    float *zg = hbuf(nimg), *xa = hbuf((size_t)nimg * in);
    CHECK_MSG(cuda_model_logits_images(&g, &gpu, im, NULL, nimg, batch, zg, err) == 0, "%s", err);
    image_to_float(pix, (size_t)nimg * in, xa);
    const float *zs = model_forward(&s, &gpu, batch, xa, 1);
    check_arrays("device-set logits vs host-batch logits", zg, zs, batch, 1e-5, 1e-4);
    cuda_images_free(im);
    model_free(&g), model_free(&s), model_free(&c);
    nn_free(pix), nn_free(lab), nn_free(order), nn_free(aug), nn_free(gl), nn_free(gc);
    nn_free(x), nn_free(y), nn_free(zg), nn_free(xa);
}

// loader_plan (what the GPU epoch builds its batches from) gives loader_next's batches exactly:
// same order, same augmentation, over two epochs and a partial last batch. Needs no GPU.
static void test_loader_plan_matches_loader(void) {
    const int n = 23, h = 9, w = 7, batch = 5;
    size_t img = (size_t)h * w * 3;
    image_cache c = {0};
    c.n = n, c.h = h, c.w = w;
    c.pixels = nn_alloc(n * img, "pixels");
    c.labels = nn_alloc(n * sizeof(int32_t), "labels");
    rng r;
    rng_seed(&r, 12);
    for (size_t i = 0; i < n * img; i++) c.pixels[i] = (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < n; i++) c.labels[i] = (int32_t)(i % 2);
    loader *L = loader_create(&c, batch, 1, 1, 77, 2);
    int32_t *order = nn_alloc(n * sizeof(int32_t), "order");
    aug_params *aug = nn_alloc(n * sizeof(aug_params), "aug");
    float *x = hbuf(batch * img), *y = hbuf(batch), *want = hbuf(img);
    CHECK(loader_cache(L) == &c);
    for (int e = 0; e < 2 && !t_cur_failed; e++) {
        CHECK(loader_plan(L, e, order, aug) == 1);
        loader_start_epoch(L, e);
        for (int b = 0, k; (k = loader_next(L, x, y, NULL)) > 0; b++)
            for (int i = 0; i < k; i++) {
                int j = b * batch + i;
                augment_apply(c.pixels + order[j] * img, h, w, &aug[j], want);
                CHECK_MSG(memcmp(want, x + i * img, img * sizeof(float)) == 0 && y[i] == (float)c.labels[order[j]],
                          "epoch %d batch %d sample %d differs from the plan", e, b, i);
            }
    }
    loader_free(L);
    nn_free(c.pixels), nn_free(c.labels), nn_free(order), nn_free(aug), nn_free(x), nn_free(y), nn_free(want);
}

// train_epoch's device epoch (run/train.c: the loader's images on the GPU, its plan in chunks of
// full batches and a call for the last, partial one) trains exactly as one cuda_model_train_images
// call over the same plan: the same losses and right counts, the same weights bit for bit.
static void test_train_epoch_device(void) {
    NEED_GPU();
    const int n = 40, batch = 16, steps = 3;
    model a, b;
    build_model(&a, catdog_cfg, 21);
    build_model(&b, catdog_cfg, 21);
    size_t img = shape3_size(a.input);
    image_cache c = {0};
    c.n = n, c.h = 64, c.w = 64;
    c.pixels = nn_alloc(n * img, "pixels");
    c.labels = nn_alloc(n * sizeof(int32_t), "labels");
    rng r;
    rng_seed(&r, 22);
    for (size_t i = 0; i < n * img; i++) c.pixels[i] = (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < n; i++) c.labels[i] = (int32_t)(rng_next(&r) & 1);
    loader *L = loader_create(&c, batch, 1, 1, 23, 1);
    int32_t order[40];
    aug_params aug[40];
    CHECK(loader_plan(L, 1, order, aug) == 1);
    char err[NN_ERRLEN];
    cuda_images *im = cuda_images_upload(&gpu, c.pixels, c.labels, n, 64, 64, err);
    CHECK_MSG(im != NULL, "cuda_images_upload: %s", err);
    adam_cfg opt = adam_defaults();
    float la[3];
    int ca[3];
    CHECK(cuda_model_train_images(&a, &gpu, im, order, aug, n, batch, &opt, la, ca, err) == steps);
    train_stats st;
    CHECK(train_epoch(&b, &gpu, L, batch, 1, 0, &opt, NULL, NULL, NULL, &st) == steps);
    double loss_sum = 0;
    long right = 0;
    for (int k = 0; k < steps; k++) loss_sum += (double)la[k] * NN_MIN(batch, n - k * batch), right += ca[k];
    CHECK_MSG(st.steps == steps && st.seen == n && st.loss_sum == loss_sum && st.correct == right,
              "train_epoch: %d steps, %ld seen, loss sum %.9g, %ld right; the plan's call: %.9g, %ld",
              st.steps, st.seen, st.loss_sum, st.correct, loss_sum, right);
    model_sync(&a), model_sync(&b);
    CHECK_MSG(a.t == b.t && memcmp(a.w, b.w, a.nparams * sizeof(float)) == 0,
              "the weights differ (t %ld vs %ld)", (long)a.t, (long)b.t);
    cuda_images_free(im);
    loader_free(L);
    model_free(&a), model_free(&b);
    nn_free(c.pixels), nn_free(c.labels);
}

static void test_predict_chunks(void) {
    NEED_GPU();
    model m;
    build_model(&m, catdog_cfg, 3);
    char err[NN_ERRLEN];
    CHECK_MSG(cuda_model_upload(&m, &gpu, 16, err) == 0, "%s", err);
    int n = 37;   // two full chunks of 16 and a partial one
    size_t in = shape3_size(m.input);
    float *x = hbuf(n * in), *pc = hbuf(n), *pg = hbuf(n), y[64];
    rng r;
    rng_seed(&r, 4);
    learnable_batch(&r, n, m.input.h, m.input.w, m.input.c, x, y);
    nn_ctx cpu = cpu_ctx();
    model_predict(&m, &cpu, n, x, pc);
    model_predict(&m, &gpu, n, x, pg);
    check_arrays("predict in chunks", pg, pc, n, 1e-5, 1e-4);
    model_free(&m);
    nn_free(x), nn_free(pc), nn_free(pg);
}

static void test_upload_download(void) {
    NEED_GPU();
    model m;
    build_model(&m, catdog_cfg, 8);
    char err[NN_ERRLEN];
    for (size_t i = 0; i < m.nparams; i++) m.m[i] = (float)i * 1e-9f, m.v[i] = (float)i * 1e-12f;
    CHECK_MSG(cuda_model_upload(&m, &gpu, 4, err) == 0, "%s", err);
    float *w = hbuf(m.nparams), *mm = hbuf(m.nparams), *v = hbuf(m.nparams);
    memcpy(w, m.w, m.nparams * 4), memcpy(mm, m.m, m.nparams * 4), memcpy(v, m.v, m.nparams * 4);
    memset(m.w, 0, m.nparams * 4), memset(m.m, 0, m.nparams * 4), memset(m.v, 0, m.nparams * 4);
    cuda_model_download(&m);
    CHECK(memcmp(w, m.w, m.nparams * 4) == 0 && memcmp(mm, m.m, m.nparams * 4) == 0 &&
          memcmp(v, m.v, m.nparams * 4) == 0);
    model_free(&m);
    nn_free(w), nn_free(mm), nn_free(v);
}

int main(void) {
    RUN(test_forward_article);
    RUN(test_train_article_50_steps);
    RUN(test_train_article_no_fusion);
    RUN(test_train_unfused_models);
    RUN(test_train_images_epoch);
    RUN(test_loader_plan_matches_loader);
    RUN(test_train_epoch_device);
    RUN(test_predict_chunks);
    RUN(test_upload_download);
    if (have_gpu > 0) cuda_ctx_free(&gpu);
    TEST_EXIT();
}
