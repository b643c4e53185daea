// test_cuda_catsdogs.c: the article's CNN trained on the real photos (../shared/data/catsdogs,
// or $NN_SHARED_DATA/catsdogs) on the GPU and on the C path, from the same weights, on the same
// shuffled and augmented batches (drawn once on the host, applied by each path's own
// augmentation), then both evaluated on the 2000 test photos. The two runs drift apart by
// rounding over thousands of steps, so they are two samples of the same training rather than
// one: the test asks for the same accuracy within 4 points, and both well above chance.
// NN_CATSDOGS_EPOCHS (default 3) sets the length; skipped when the photos are absent.
#include <math.h>

#include "../../nn/model.h"
#include "cuda_test_util.h"

static const char *catdog_cfg = MODEL_CATDOG_CFG;

static double accuracy(const float *z, const int32_t *lab, int n) {
    int right = 0;
    for (int i = 0; i < n; i++) right += (z[i] > 0) == (lab[i] != 0);
    return (double)right / n;
}

static void test_catsdogs_accuracy(void) {
    NEED_GPU();
    if (quick()) SKIP("NN_TEST_QUICK is set (a sanitizer run): too long under instrumentation");
    const char *root = getenv("NN_SHARED_DATA");
    char train_dir[1024], test_dir[1024], err[NN_ERRLEN];
    snprintf(train_dir, sizeof train_dir, "%s/catsdogs/training_set", root ? root : "../shared/data");
    snprintf(test_dir, sizeof test_dir, "%s/catsdogs/test_set", root ? root : "../shared/data");
    dataset dtr, dte;
    if (dataset_open(&dtr, train_dir, err) != 0) SKIP("no photos: %s", err);
    if (dataset_open(&dte, test_dir, err) != 0) SKIP("no photos: %s", err);
    image_cache tr, te;
    CHECK_MSG(image_cache_load(&tr, &dtr, 64, 64, 0, NULL, err) == 0, "%s", err);
    CHECK_MSG(image_cache_load(&te, &dte, 64, 64, 0, NULL, err) == 0, "%s", err);
    if (t_cur_failed) return;
    const char *ev = getenv("NN_CATSDOGS_EPOCHS");
    int epochs = ev ? atoi(ev) : 3, batch = 32;
    model g, c;
    CHECK(model_parse_cfg(&g, catdog_cfg, "catdog", err) == 0 && model_parse_cfg(&c, catdog_cfg, "catdog", err) == 0);
    model_init_weights(&g, 1);
    model_init_weights(&c, 1);
    cuda_images *im = cuda_images_upload(&gpu, tr.pixels, tr.labels, tr.n, 64, 64, err);
    cuda_images *imt = cuda_images_upload(&gpu, te.pixels, te.labels, te.n, 64, 64, err);
    CHECK_MSG(im && imt, "upload: %s", err);
    if (t_cur_failed) return;
    size_t in = 64 * 64 * 3;
    int n = tr.n, steps = (n + batch - 1) / batch;
    int32_t *order = nn_alloc(n * sizeof(int32_t), "order");
    aug_params *aug = nn_alloc(n * sizeof(aug_params), "aug");
    float *sl = hbuf(steps), *x = hbuf((size_t)batch * in), *y = hbuf(batch);
    int *sc = nn_alloc(steps * sizeof(int), "correct");
    nn_ctx cpu = cpu_ctx();
    adam_cfg opt = adam_defaults();
    rng r;
    rng_seed(&r, 2026);
    for (int i = 0; i < n; i++) order[i] = i;
    double tg = 0, tc = 0;
    for (int e = 0; e < epochs; e++) {
        rng_shuffle(&r, order, n);
        for (int i = 0; i < n; i++) augment_draw(&r, &aug[i]);
        double t0 = nn_now();
        int got = cuda_model_train_images(&g, &gpu, im, order, aug, n, batch, &opt, sl, sc, err);
        tg += nn_now() - t0;
        CHECK_MSG(got == steps, "train_images: %s", err);
        double gl = 0, cl = 0;
        long gr = 0, cr = 0;
        for (int k = 0; k < steps; k++) {
            int b = NN_MIN(batch, n - k * batch);
            gl += (double)sl[k] * b, gr += sc[k];
        }
        t0 = nn_now();
        for (int k = 0; k < steps; k++) {
            int b = NN_MIN(batch, n - k * batch);
#pragma omp parallel for
            for (int i = 0; i < b; i++) {
                int j = k * batch + i;
                augment_apply(tr.pixels + (size_t)order[j] * in, 64, 64, &aug[j], x + (size_t)i * in);
                y[i] = (float)tr.labels[order[j]];
            }
            int right = 0;
            cl += (double)model_train_step(&c, &cpu, b, x, y, &opt, &right) * b;
            cr += right;
        }
        tc += nn_now() - t0;
        printf("# epoch %d: GPU loss %.4f accuracy %.4f | C path loss %.4f accuracy %.4f\n", e + 1,
               gl / n, (double)gr / n, cl / n, (double)cr / n);
    }
    float *zg = hbuf(te.n), *zc = hbuf(te.n), *xt = hbuf((size_t)256 * in);
    CHECK_MSG(cuda_model_logits_images(&g, &gpu, imt, NULL, te.n, 256, zg, err) == 0, "%s", err);
    for (int s = 0; s < te.n; s += 256) {
        int b = NN_MIN(256, te.n - s);
        image_to_float(te.pixels + (size_t)s * in, (size_t)b * in, xt);
        memcpy(zc + s, model_forward(&c, &cpu, b, xt, 1), b * sizeof(float));
    }
    double ag = accuracy(zg, te.labels, te.n), ac = accuracy(zc, te.labels, te.n);
    printf("# %d epochs: test accuracy GPU %.4f, C path %.4f; training time GPU %.2f s, C path %.2f s\n",
           epochs, ag, ac, tg, tc);
    CHECK_MSG(fabs(ag - ac) <= 0.04, "test accuracy GPU %.4f vs C path %.4f", ag, ac);
    CHECK_MSG(ag >= 0.62 && ac >= 0.62, "test accuracy GPU %.4f, C path %.4f: not learning", ag, ac);
    cuda_images_free(im), cuda_images_free(imt);
    model_free(&g), model_free(&c);
    image_cache_free(&tr), image_cache_free(&te);
    dataset_free(&dtr), dataset_free(&dte);
    nn_free(order), nn_free(aug), nn_free(sl), nn_free(x), nn_free(y), nn_free(sc);
    nn_free(zg), nn_free(zc), nn_free(xt);
}

int main(void) {
    RUN(test_catsdogs_accuracy);
    if (have_gpu > 0) cuda_ctx_free(&gpu);
    TEST_EXIT();
}
