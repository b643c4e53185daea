// test_cuda_classes.c: more than two classes on the GPU, against the C path.
//  - the categorical cross-entropy kernel (cce_logits_cuda) against cce_logits_n and
//    categorical_correct on random logits for c = 2 .. 64 classes and batches of 1 to 1000:
//    the loss (1e-5 relative), the right count (exactly: the same logits, the same argmax rule),
//    dz (the usual atol + 1e-4 relative), with saturated logits and ties in the batch, a global
//    batch (grad_n = 2n) and the step index of a captured graph; a label that names no class
//    gives NaN as on the C path;
//  - a small model ending in a softmax over 5 classes, and the article's CNN with a softmax over
//    3 (the GPU's conv + pool fusion and dense dW + Adam run beneath it, and the binary head
//    must not), trained 20 steps on both paths from the same weights on the same batches: every
//    step's loss to 1e-3, the right count within one, the weights after them to 1e-3 (relative
//    L2); the same with the fusions off (NN_CUDA_FUSE=0);
//  - the device epoch (cuda_model_train_images: gather + augment on the GPU, one CUDA graph) on
//    a three-class image set gives the C path's losses; the device's logits of the set
//    (cuda_model_logits_images, (count, 3)) are the C path's;
//  - nn evaluate's pass (train_evaluate) on the GPU: the C path's loss and the same 3 x 3
//    confusion matrix but for images whose two largest logits are within rounding.
// Run: make test-cuda (tests/cuda/cuda.mk), or build/tests/cuda/test_cuda_classes.
#include <math.h>
#include <stdlib.h>

#include "../../nn/loss.h"
#include "../../nn/model.h"
#include "../../run/train.h"
#include "cuda_test_util.h"

// --- the loss kernel

static void test_cce_kernel(void) {
    NEED_GPU();
    static const int classes[] = {2, 3, 5, 10, 16, 33, 64}, sizes[] = {1, 32, 257, 1000};
    for (size_t ci = 0; ci < sizeof classes / sizeof *classes && !t_cur_failed; ci++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes && !t_cur_failed; si++) {
            const int c = classes[ci], n = sizes[si];
            if (quick() && n > 257) continue;
            rng r;
            rng_seed(&r, 1000 * c + n);
            float *z = hbuf((size_t)n * c), *y = hbuf(n), *dz = hbuf((size_t)n * c), *dz2 = hbuf((size_t)n * c);
            fill(&r, z, (size_t)n * c, -8, 8);
            for (int i = 0; i < n; i++) y[i] = (float)rng_below(&r, c);
            if (n > 4) {   // saturated rows (right and wrong by far), a tie at the top
                z[0 * c + (int)y[0]] = 90.0f;
                for (int j = 0; j < c; j++) z[1 * c + j] = j == (int)y[1] ? -1e4f : 1e4f * (j + 1) / c;
                z[2 * c + 0] = z[2 * c + c - 1] = 20.0f;
            }
            float want = cce_logits_n(n, c, z, y, dz, n), want2 = cce_logits_n(n, c, z, y, dz2, 2 * n);
            int want_right = categorical_correct(n, c, z, y);
            float *gz = dput(z, (size_t)n * c), *gy = dput(y, n), *gdz = dput(NULL, (size_t)n * c), *gloss = dput(NULL, 4);
            int *gright, *gstep, right = -1, two = 2;
            CU(cudaMalloc((void **)&gright, 4 * sizeof(int)));
            CU(cudaMalloc((void **)&gstep, sizeof(int)));
            CU(cudaMemcpy(gstep, &two, sizeof(int), cudaMemcpyHostToDevice));
            cce_logits_cuda(&gpu, n, c, n, gz, gy, gdz, gloss, gright, gstep);   // writes entry 2
            float got;
            CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
            CU(cudaMemcpy(&got, gloss + 2, sizeof got, cudaMemcpyDeviceToHost));
            CU(cudaMemcpy(&right, gright + 2, sizeof right, cudaMemcpyDeviceToHost));
            CHECK_MSG(fabs(got - want) <= 1e-5 * fabs(want) + 1e-7, "n %d c %d: loss %.8g on the GPU, %.8g on the C path", n, c, got, want);
            CHECK_MSG(right == want_right, "n %d c %d: %d right on the GPU, %d on the C path", n, c, right, want_right);
            char what[64];
            snprintf(what, sizeof what, "cce gradient n %d c %d", n, c);
            check_dev(what, gdz, dz, (size_t)n * c, 1e-7);
            // the global batch of a data-parallel step: half the gradient, the same loss; no step
            cce_logits_cuda(&gpu, n, c, 2 * n, gz, gy, gdz, gloss, gright, NULL);   // entry 0
            CU(cudaStreamSynchronize((cudaStream_t)gpu.stream));
            CU(cudaMemcpy(&got, gloss, sizeof got, cudaMemcpyDeviceToHost));
            CHECK_MSG(fabs(got - want2) <= 1e-5 * fabs(want2) + 1e-7, "n %d c %d grad_n 2n: loss %.8g vs %.8g", n, c, got, want2);
            snprintf(what, sizeof what, "cce gradient n %d c %d grad_n 2n", n, c);
            check_dev(what, gdz, dz2, (size_t)n * c, 1e-7);
            dfree(gz), dfree(gy), dfree(gdz), dfree(gloss), dfree(gright), dfree(gstep);
            nn_free(z), nn_free(y), nn_free(dz), nn_free(dz2);
        }
}

// A label that names no class: NaN loss, NaN gradient row, as cce_logits_n gives.
static void test_cce_bad_label(void) {
    NEED_GPU();
    float z[2 * 3] = {0.5f, -1, 2, 1, 1, 1}, y[2] = {1, 3};
    float *gz = dput(z, 6), *gy = dput(y, 2), *gdz = dput(NULL, 6), *gloss = dput(NULL, 1), dz[6], got;
    cce_logits_cuda(&gpu, 2, 3, 2, gz, gy, gdz, gloss, NULL, NULL);
    dget(dz, gdz, 6);
    dget(&got, gloss, 1);
    CHECK(isnan(got) && isnan(cce_logits(2, 3, z, y, NULL)));
    CHECK(isfinite(dz[0]) && isnan(dz[3]) && isnan(dz[5]));
    dfree(gz), dfree(gy), dfree(gdz), dfree(gloss);
}

// --- training

// Random images (n, H, W, C) in [0, 1) with one of c learnable labels: which of c horizontal
// bands is brightest.
static void class_batch(rng *r, int n, int H, int W, int C, int c, float *x, float *y) {
    for (int i = 0; i < n; i++) {
        int k = (int)rng_below(r, c);
        float *xi = x + (size_t)i * H * W * C;
        for (int p = 0; p < H * W * C; p++) {
            int band = (p / (W * C)) * c / H;
            xi[p] = (float)NN_MIN(0.999, rng_uniform(r) * 0.8 + (band == k ? 0.2 : 0));
        }
        y[i] = (float)k;
    }
}

static void train_pair(const char *label, const char *cfg, int steps, int batch, double rtol) {
    model a, b;
    build_model(&a, cfg, 5);
    build_model(&b, cfg, 5);
    const int c = model_classes(&a);
    CHECK(model_loss_kind(&a) == LOSS_CCE);
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
        class_batch(&r, n, a.input.h, a.input.w, a.input.c, c, x, y);
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
    model_free(&a), model_free(&b);
    nn_free(x), nn_free(y);
}

static const char *small5_cfg =
    "input 16 16 3\n"
    "conv2d filters=6 kernel=3 activation=relu\n"
    "maxpool2d pool=2\n"
    "flatten\n"
    "dense units=24 activation=relu\n"
    "dense units=5 activation=softmax\n";

// The article's CNN with a softmax over three classes where its sigmoid unit was.
static const char *catdog3_cfg =
    "input 64 64 3\n"
    "conv2d filters=32 kernel=3 activation=relu\n"
    "maxpool2d pool=2\n"
    "flatten\n"
    "dense units=128 activation=relu\n"
    "dense units=3 activation=softmax\n";

static void test_train_softmax_models(void) {
    NEED_GPU();
    train_pair("softmax 5, batch 16", small5_cfg, quick() ? 3 : 20, quick() ? 4 : 16, 1e-3);
    train_pair("softmax 5, batch 80 (past the binary head's batch limit)", small5_cfg, quick() ? 2 : 10, quick() ? 5 : 80, 1e-3);
    train_pair("article CNN + softmax 3, batch 32", catdog3_cfg, quick() ? 2 : 20, quick() ? 4 : 32, 1e-3);
    train_pair("softmax as its own layer",
               "input 8 8 3\nflatten\ndense units=12 activation=relu\ndense units=4\nactivation fn=softmax\n",
               quick() ? 3 : 20, quick() ? 4 : 12, 1e-3);
}

static void test_train_softmax_no_fusion(void) {
    NEED_GPU();
    setenv("NN_CUDA_FUSE", "0", 1);
    train_pair("article CNN + softmax 3, fusions off", catdog3_cfg, quick() ? 2 : 10, quick() ? 3 : 16, 1e-3);
    unsetenv("NN_CUDA_FUSE");
}

// --- the device epoch, logits of an image set, evaluation

static void test_device_epoch_three_classes(void) {
    NEED_GPU();
    const int batch = quick() ? 4 : 8, count = 5 * batch + 3, nimg = count + 7;
    model g, c;   // device epoch; C path
    build_model(&g, catdog3_cfg, 9);
    build_model(&c, catdog3_cfg, 9);
    size_t in = shape3_size(g.input);
    rng r;
    rng_seed(&r, 10);
    uint8_t *pix = nn_alloc(nimg * in, "images");
    int32_t *lab = nn_alloc(nimg * sizeof(int32_t), "labels"), *order = nn_alloc(count * sizeof(int32_t), "order");
    aug_params *aug = nn_alloc(count * sizeof(aug_params), "aug");
    for (int i = 0; i < nimg; i++) {
        lab[i] = (int32_t)rng_below(&r, 3);
        for (size_t p = 0; p < in; p++) pix[i * in + p] = (uint8_t)(rng_below(&r, 140) + 50 * lab[i]);
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
    for (int i = 0; i < count; i++) order[i] = (int32_t)rng_below(&r, nimg), augment_draw(&r, &aug[i]);
    int got = cuda_model_train_images(&g, &gpu, im, order, aug, count, batch, &opt, gl, gc, err);
    CHECK_MSG(got == steps, "cuda_model_train_images returned %d (%s)", got, got < 0 ? err : "");
    for (int k = 0; k < steps && !t_cur_failed; k++) {
        int n = NN_MIN(batch, count - k * batch);
        for (int i = 0; i < n; i++) {
            int j = k * batch + i;
            augment_apply(pix + order[j] * in, g.input.h, g.input.w, &aug[j], x + i * in);
            y[i] = (float)lab[order[j]];
        }
        int cc = 0;
        float lc = model_train_step(&c, &cpu, n, x, y, &opt, &cc);
        CHECK_MSG(fabs(gl[k] - lc) <= 1e-3 * fabs(lc), "step %d: device epoch loss %.8g, C path %.8g", k + 1, gl[k], lc);
        CHECK_MSG(abs(gc[k] - cc) <= 1, "step %d: %d right on the device, %d on the C path", k + 1, gc[k], cc);
    }
    // logits of the whole set (nimg, 3), unaugmented, against the C path's forward
    float *zg = hbuf((size_t)nimg * 3), *xa = hbuf((size_t)nimg * in), *zc = hbuf((size_t)nimg * 3);
    CHECK_MSG(cuda_model_logits_images(&g, &gpu, im, NULL, nimg, batch, zg, err) == 0, "%s", err);
    cuda_model_download(&g);
    image_to_float(pix, (size_t)nimg * in, xa);
    memcpy(zc, model_forward(&g, &cpu, nimg, xa, 1), (size_t)nimg * 3 * sizeof(float));
    check_arrays("device-set logits (n, 3) vs the C path's", zg, zc, (size_t)nimg * 3, 1e-4 * max_abs(zc, (size_t)nimg * 3), 1e-4);

    // train_evaluate on both paths, the same (device-trained) weights
    image_cache ic = {.n = nimg, .h = g.input.h, .w = g.input.w, .pixels = pix, .labels = lab};
    eval_result eg, ec;
    train_evaluate(&g, &cpu, &ic, batch, &ec);
    train_evaluate(&g, &gpu, &ic, batch, &eg);
    CHECK(eg.nclasses == 3 && ec.nclasses == 3 && eg.n == nimg);
    CHECK_CLOSE(eg.loss, ec.loss, 1e-6, 1e-4);
    int near_ties = 0;   // images whose top two logits are within rounding may go either way
    for (int i = 0; i < nimg; i++) {
        float *zi = zc + (size_t)i * 3, hi = fmaxf(zi[0], fmaxf(zi[1], zi[2]));
        int close = 0;
        for (int j = 0; j < 3; j++) close += hi - zi[j] < 1e-4f * (1 + fabsf(hi));
        near_ties += close > 1;
    }
    long diff = 0, total = 0;
    for (int t = 0; t < 3; t++)
        for (int p = 0; p < 3; p++) diff += labs(eg.confusion[t][p] - ec.confusion[t][p]), total += eg.confusion[t][p];
    CHECK(total == nimg);
    CHECK_MSG(diff <= 2 * near_ties, "confusion matrices differ by %ld entries (%d near ties)", diff, near_ties);
    cuda_images_free(im);
    model_free(&g), model_free(&c);
    nn_free(pix), nn_free(lab), nn_free(order), nn_free(aug), nn_free(gl), nn_free(gc);
    nn_free(x), nn_free(y), nn_free(zg), nn_free(xa), nn_free(zc);
}

int main(void) {
    RUN(test_cce_kernel);
    RUN(test_cce_bad_label);
    RUN(test_train_softmax_models);
    RUN(test_train_softmax_no_fusion);
    RUN(test_device_epoch_three_classes);
    if (have_gpu > 0) cuda_ctx_free(&gpu);
    TEST_EXIT();
}
