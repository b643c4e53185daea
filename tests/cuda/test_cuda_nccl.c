// test_cuda_nccl.c: data-parallel training's GPU side (issue 16, cuda/nccl_cuda.cu) on ONE GPU,
// with a communicator of one rank (NN_NCCL=1: ncclCommInitRank in this process, no MPI). Every
// check trains through the device epoch (cuda_model_train_images_dp: full batches replayed from
// one captured CUDA graph, NCCL's all-reduce inside it, then a partial batch):
//  - a 1-rank NCCL run equals the plain GPU run bit for bit on the same plan (NN_CUDA_FUSE=0 on
//    both: the sum over one rank changes nothing), for the article's CNN and the three-block
//    model (models/catdog3.cfg's layers), over two epochs;
//  - with the default fusions, the NCCL plan (conv + pool fused, every gradient through the
//    arena) trains as the fully fused plain run: each step's loss and the weights after two
//    epochs to 1e-3 (relative; relative L2), test_cuda_model.c's bound for two paths;
//  - the all-reduce overlapped with the backward pass (buckets on a second stream) equals one
//    all-reduce after it (NN_NCCL_OVERLAP=0), and a bucket a layer (NN_NCCL_BUCKET_KB=1)
//    equals the default, bit for bit;
//  - the global batch's divisor (grad_n = 2 x batch) halves every gradient: after one step
//    Adam's first moments are exactly half, its second moments exactly a quarter (scaling by a
//    power of two commutes with float rounding; subnormal moments left out);
//  - a step in which the rank has no image (count 0, grad_n > 0) is Adam with a zero gradient,
//    as the C path's adam_step gives it, and keeps the step count.
// On one rank the sums cannot show a missing wait between the streams (the sum of one is the
// gradient itself): that needs two GPUs (mpirun -np 2 on an nvidia-h100-x2, README).
// SKIPs without a GPU, or when libnccl.so.2 cannot be loaded (NN_NCCL_LIB names it).
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>

#include "../../nn/adam.h"
#include "../../nn/model.h"
#include "cuda_test_util.h"

static const char *catdog_cfg = MODEL_CATDOG_CFG;
static const char *three_cfg =   // models/catdog3.cfg
    "input 64 64 3\n"
    "conv2d filters=32 kernel=3 padding=same activation=relu\nmaxpool2d pool=2\n"
    "conv2d filters=64 kernel=3 padding=same activation=relu\nmaxpool2d pool=2\n"
    "conv2d filters=128 kernel=3 padding=same activation=relu\nmaxpool2d pool=2\n"
    "flatten\ndense units=128 activation=relu\ndense units=1 activation=sigmoid\n";

static char no_nccl[NN_ERRLEN];
static int have_nccl(void) {   // the library nccl_cuda.cu loads, looked for the same way
    const char *names[] = {getenv("NN_NCCL_LIB"), "libnccl.so.2", "/usr/local/cuda/lib64/libnccl.so.2"};
    for (int i = 0; i < 3; i++) {
        if (!names[i] || !*names[i]) continue;
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h) return 1;
        snprintf(no_nccl, sizeof no_nccl, "%s", dlerror());
    }
    return 0;
}
#define NEED_NCCL()                                                                               \
    do {                                                                                          \
        NEED_GPU();                                                                               \
        if (!have_nccl()) SKIP("libnccl.so.2 not found (%s): set NN_NCCL_LIB to its path", no_nccl); \
    } while (0)

// A set of n images of the model's input size with labels to learn (brighter: dogs).
static void make_set(image_cache *c, const model *m, int n, uint64_t seed) {
    size_t img = shape3_size(m->input);
    memset(c, 0, sizeof *c);
    c->n = n, c->h = m->input.h, c->w = m->input.w;
    c->pixels = nn_alloc(n * img, "pixels");
    c->labels = nn_alloc(n * sizeof(int32_t), "labels");
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        c->labels[i] = (int32_t)(rng_next(&r) & 1);
        for (size_t p = 0; p < img; p++) c->pixels[i * img + p] = (uint8_t)(rng_below(&r, 160) + (c->labels[i] ? 80 : 0));
    }
}

static void free_set(image_cache *c) { nn_free(c->pixels), nn_free(c->labels); }

// Steps of 16 of set c on the GPU (uploaded for the call) for a data-parallel rank: the device
// epoch's call (run/train_gpu.h), grad_n the global batch (0: each step's own size).
static int train_set(model *m, const image_cache *c, const int32_t *order, const aug_params *aug,
                     int count, int grad_n, const adam_cfg *opt, float *loss, int *right, char *err) {
    cuda_images *im = cuda_images_upload(&gpu, c->pixels, c->labels, c->n, c->h, c->w, err);
    if (!im) return -1;
    int got = cuda_model_train_images_dp(m, &gpu, im, order, aug, count, 16, grad_n, opt, loss,
                                         right, err);
    cuda_images_free(im);
    return got;
}

// A model built from cfg on the GPU; with nccl its device mirror joins a 1-rank communicator
// (NN_NCCL=1 while it is made), fuse 0 makes it with NN_CUDA_FUSE=0. Extra settings (name=value)
// hold while it is made.
static void build(model *m, const char *cfg, int nccl, int fuse, const char *extra) {
    char err[NN_ERRLEN], name[64] = "";
    if (model_parse_cfg(m, cfg, "test.cfg", err) != 0) NN_DIE("test model: %s", err);
    model_init_weights(m, 31);
    if (nccl) setenv("NN_NCCL", "1", 1);
    if (!fuse) setenv("NN_CUDA_FUSE", "0", 1);
    if (extra) {
        const char *eq = strchr(extra, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - extra), extra);
        setenv(name, eq + 1, 1);
    }
    if (cuda_model_upload(m, &gpu, 16, err) != 0) NN_DIE("upload: %s", err);
    unsetenv("NN_NCCL"), unsetenv("NN_CUDA_FUSE");
    if (extra) unsetenv(name);
}

// Two epochs of the set (n images, 16 a step, augmented the first epoch) through the device
// epoch; the losses of every step into loss (at most 64).
static int train(model *m, const image_cache *c, int grad_n, float *loss) {
    int32_t order[256];
    aug_params aug[256];
    rng r;
    rng_seed(&r, 77);
    adam_cfg opt = adam_defaults();
    char err[NN_ERRLEN];
    int at = 0;
    for (int e = 0; e < 2; e++) {
        for (int i = 0; i < c->n; i++) order[i] = (int32_t)rng_below(&r, c->n), augment_draw(&r, &aug[i]);
        int got = train_set(m, c, order, e ? NULL : aug, c->n, grad_n, &opt, loss + at, NULL, err);
        if (got < 0) NN_DIE("train: %s", err);
        at += got;
    }
    model_sync(m);
    return at;
}

static double rel_l2(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    return sqrt(num / (den > 0 ? den : 1));
}

static int same_state(const model *a, const model *b) {
    size_t bytes = a->nparams * sizeof(float);
    return a->t == b->t && !memcmp(a->w, b->w, bytes) && !memcmp(a->m, b->m, bytes) && !memcmp(a->v, b->v, bytes);
}

static void one_rank_equals_plain(const char *label, const char *cfg, int n) {
    model plain, ranked;
    build(&plain, cfg, 0, 0, NULL);
    build(&ranked, cfg, 1, 0, NULL);
    image_cache c;
    make_set(&c, &plain, n, 5);
    float lp[64], lr[64];
    int sp = train(&plain, &c, 0, lp), sr = train(&ranked, &c, 0, lr);
    CHECK(sp == sr && sp == 2 * ((n + 15) / 16));
    CHECK_MSG(!memcmp(lp, lr, sp * sizeof(float)), "%s: the step losses differ", label);
    CHECK_MSG(same_state(&plain, &ranked), "%s: weights or Adam state differ after %d steps (relative L2 %.3g)",
              label, sp, rel_l2(ranked.w, plain.w, plain.nparams));
    model_free(&plain), model_free(&ranked);
    free_set(&c);
}

static void test_one_rank_equals_plain(void) {
    NEED_NCCL();
    one_rank_equals_plain("article CNN", catdog_cfg, 53);
    one_rank_equals_plain("three blocks", three_cfg, 37);
}

static void test_nccl_plan_trains_as_fused(void) {
    NEED_NCCL();
    model fused, ranked;
    build(&fused, catdog_cfg, 0, 1, NULL);
    build(&ranked, catdog_cfg, 1, 1, NULL);
    image_cache c;
    make_set(&c, &fused, 53, 6);
    float lf[64], lr[64];
    int steps = train(&fused, &c, 0, lf);
    CHECK(train(&ranked, &c, 0, lr) == steps);
    double worst = 0;
    for (int k = 0; k < steps; k++) worst = fmax(worst, fabs((double)lf[k] - lr[k]) / fmax(fabs((double)lf[k]), 1e-6));
    double dw = rel_l2(ranked.w, fused.w, fused.nparams);
    printf("# fused plain run vs 1-rank NCCL plan: worst loss difference %.2e, weights %.2e (relative L2)\n", worst, dw);
    CHECK_MSG(worst <= 1e-3, "loss differs by %.3g (relative)", worst);
    CHECK_MSG(dw <= 1e-3, "weights differ by %.3g (relative L2)", dw);
    model_free(&fused), model_free(&ranked);
    free_set(&c);
}

static void test_overlap_and_buckets(void) {
    NEED_NCCL();
    model on, off, tiny;
    build(&on, three_cfg, 1, 1, NULL);
    build(&off, three_cfg, 1, 1, "NN_NCCL_OVERLAP=0");
    build(&tiny, three_cfg, 1, 1, "NN_NCCL_BUCKET_KB=1");
    image_cache c;
    make_set(&c, &on, 37, 7);
    float l1[64], l2[64], l3[64];
    int steps = train(&on, &c, 0, l1);
    CHECK(train(&off, &c, 0, l2) == steps && train(&tiny, &c, 0, l3) == steps);
    CHECK_MSG(same_state(&on, &off), "overlapped and single all-reduce differ");
    CHECK_MSG(same_state(&on, &tiny), "one bucket a layer differs from the default buckets");
    model_free(&on), model_free(&off), model_free(&tiny);
    free_set(&c);
}

// One step of 16 images from fresh moments, dividing by 32 (two ranks' global batch) and by 16.
static void test_global_batch_divisor(void) {
    NEED_NCCL();
    model a, b;
    build(&a, catdog_cfg, 1, 1, NULL);
    build(&b, catdog_cfg, 1, 1, NULL);
    image_cache c;
    make_set(&c, &a, 16, 8);
    int32_t order[16];
    for (int i = 0; i < 16; i++) order[i] = i;
    adam_cfg opt = adam_defaults();
    char err[NN_ERRLEN];
    CHECK(train_set(&a, &c, order, NULL, 16, 0, &opt, NULL, NULL, err) == 1);
    CHECK(train_set(&b, &c, order, NULL, 16, 32, &opt, NULL, NULL, err) == 1);
    model_sync(&a), model_sync(&b);
    size_t bad_m = 0, bad_v = 0;
    for (size_t i = 0; i < a.nparams; i++) {
        bad_m += fabsf(a.m[i]) >= 1e-30f && b.m[i] * 2.0f != a.m[i];
        bad_v += fabsf(a.v[i]) >= 1e-30f && b.v[i] * 4.0f != a.v[i];
    }
    CHECK_MSG(bad_m == 0 && bad_v == 0, "%zu first and %zu second moments of %zu are not half and a quarter",
              bad_m, bad_v, a.nparams);
    model_free(&a), model_free(&b);
    free_set(&c);
}

static void test_step_without_images(void) {
    NEED_NCCL();
    model g, h;
    build(&g, catdog_cfg, 1, 1, NULL);
    build(&h, catdog_cfg, 0, 1, NULL);   // the host copy: the C path's Adam
    image_cache c;
    make_set(&c, &g, 16, 9);
    float loss[64];
    train(&g, &c, 0, loss);   // moments that are not zero
    memcpy(h.w, g.w, g.nparams * 4), memcpy(h.m, g.m, g.nparams * 4), memcpy(h.v, g.v, g.nparams * 4);
    h.t = g.t;
    adam_cfg opt = adam_defaults();
    char err[NN_ERRLEN];
    int32_t none[1] = {0};
    float l = -1;
    int right = -1;
    CHECK(train_set(&g, &c, none, NULL, 0, 16, &opt, &l, &right, err) == 1);
    CHECK(l == 0 && right == 0);
    model_sync(&g);
    float *zero = nn_calloc(h.nparams * sizeof(float), "zero gradient");
    h.t++;
    adam_step(&opt, h.t, h.nparams, h.w, zero, h.m, h.v);
    CHECK(g.t == h.t);
    check_arrays("weights after a step without images", g.w, h.w, g.nparams, 1e-7, 1e-6);
    check_arrays("first moments after it", g.m, h.m, g.nparams, 1e-12, 1e-6);
    check_arrays("second moments after it", g.v, h.v, g.nparams, 1e-15, 1e-6);
    nn_free(zero);
    model_free(&g), model_free(&h);
    free_set(&c);
}

int main(void) {
    RUN(test_one_rank_equals_plain);
    RUN(test_nccl_plan_trains_as_fused);
    RUN(test_overlap_and_buckets);
    RUN(test_global_batch_divisor);
    RUN(test_step_without_images);
    if (have_gpu > 0) cuda_ctx_free(&gpu);
    TEST_EXIT();
}
