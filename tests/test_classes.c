// test_classes.c: more than two classes (a softmax over N outputs), on the C path.
//  - categorical cross-entropy from logits and its gradient against PyTorch
//    (tests/oracles/classes_torch.py: torch.nn.functional.cross_entropy, float64) for several
//    (n, c), logits up to 1e4 included; the gradient against central differences; the
//    accuracy count, ties and labels that name no class; a softmax over two logits (0, z) is the
//    binary loss of z;
//  - which loss a model trains with (model_loss_kind) and what the last softmax is in a pass;
//  - a small model ending in `dense units=4 activation=softmax` against PyTorch: every layer's
//    output, the loss, every gradient, and 5 Adam steps (loss, weights and moments); the same
//    model with the softmax as an activation layer trains the same bit for bit;
//  - evaluation: the N x N confusion matrix sums to the image count, its rows to each class's
//    images, its diagonal to the accuracy, and the loss is the mean CCE of the logits;
//  - a softmax model's class names and loss go into its .h5 and come back.
// Tolerances: 1e-5 relative plus 1e-6 of the array's largest value, as test_golden.c (float32
// sums against float64), unless a test says otherwise.
#include "../nn/common.h"
#include "../nn/ctx.h"
#include "../nn/h5.h"
#include "../nn/loss.h"
#include "../nn/model.h"
#include "../nn/rng.h"
#include "../nn/step.h"
#include "../run/train.h"
#include "test.h"
#include "test_tmpdir.h"

#define FIXTURE "tests/fixtures/classes.txt"
#define MAX_ARRAYS 96

// --- the fixture (golden.txt's format: "cfg LINE", "array NAME COUNT" then COUNT numbers)

typedef struct {
    char name[64];
    size_t n;
    double *v;
} array;

static array arrays[MAX_ARRAYS];
static int narrays, loaded = -1;
static char cfg[4096], why_not[NN_ERRLEN];

static int load_fixture(char *why) {
    FILE *f = fopen(FIXTURE, "r");
    if (!f) return nn_fail(why, "cannot open %s (run from the repository root)", FIXTURE);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "cfg ", 4)) {
            strncat(cfg, line + 4, sizeof cfg - strlen(cfg) - 1);
        } else if (!strncmp(line, "array ", 6)) {
            array *a = &arrays[narrays];
            if (narrays == MAX_ARRAYS || sscanf(line + 6, "%63s %zu", a->name, &a->n) != 2) {
                fclose(f);
                return nn_fail(why, "%s: bad line '%s'", FIXTURE, line);
            }
            a->v = nn_alloc((a->n ? a->n : 1) * sizeof(double), "fixture array");
            for (size_t i = 0; i < a->n; i++)
                if (fscanf(f, "%lf", &a->v[i]) != 1) {
                    fclose(f);
                    return nn_fail(why, "%s: array %s ends early at %zu of %zu", FIXTURE, a->name, i, a->n);
                }
            narrays++;
        }
    }
    fclose(f);
    return 0;
}

#define NEED_FIXTURE()                                                   \
    do {                                                                 \
        if (loaded < 0) loaded = load_fixture(why_not) == 0;             \
        if (!loaded) {                                                   \
            FAILF("%s", why_not);                                        \
            return;                                                      \
        }                                                                \
    } while (0)

static const array *find(const char *name) {
    for (int i = 0; i < narrays; i++)
        if (!strcmp(arrays[i].name, name)) return &arrays[i];
    FAILF("the fixture has no array '%s'", name);
    return NULL;
}

// n floats of the fixture's array (exact: the oracle wrote float32 values for inputs).
static float *floats_of(const char *name, size_t n) {
    const array *a = find(name);
    float *f = nn_calloc((n ? n : 1) * sizeof(float), "fixture floats");
    if (a && a->n != n) FAILF("%s: %zu values in the fixture, %zu expected", name, a->n, n);
    for (size_t i = 0; a && i < n && i < a->n; i++) f[i] = (float)a->v[i];
    return f;
}

// got (n floats) against the fixture's array `name`: rtol, plus atol_frac of its largest value.
static void compare_tol(const char *name, const float *got, size_t n, double atol_frac, double rtol) {
    const array *a = find(name);
    if (!a) return;
    if (a->n != n) {
        FAILF("%s: %zu values, the fixture has %zu", name, n, a->n);
        return;
    }
    double big = 0;
    for (size_t i = 0; i < n; i++) big = fmax(big, fabs(a->v[i]));
    float *ref = nn_alloc(n * sizeof(float), "ref");
    for (size_t i = 0; i < n; i++) ref[i] = (float)a->v[i];
    check_arrays(name, got, ref, n, atol_frac * big + 1e-12, rtol);
    nn_free(ref);
}

static void compare(const char *name, const float *got, size_t n) { compare_tol(name, got, n, 1e-6, 1e-5); }

static void build(model *m, const char *text) {
    char err[NN_ERRLEN];
    if (model_parse_cfg(m, text, "test.cfg", err) != 0) NN_DIE("test model: %s", err);
}

// --- the loss

// Each (n, c) case of the oracle: loss and gradient from cce_logits, and the same through the
// data-parallel form (grad_n twice n: half the gradient, the same loss).
static void cce_matches_torch(void) {
    NEED_FIXTURE();
    static const struct { const char *name; int n, c; } cases[] = {
        {"n5c2", 5, 2}, {"n4c3", 4, 3}, {"n7c10", 7, 10}, {"n3c16", 3, 16}, {"n6c5big", 6, 5}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases && !t_cur_failed; k++) {
        const int n = cases[k].n, c = cases[k].c;
        char nz[64], ny[64], nl[64], nd[64];
        snprintf(nz, sizeof nz, "cce.%s.z", cases[k].name);
        snprintf(ny, sizeof ny, "cce.%s.y", cases[k].name);
        snprintf(nl, sizeof nl, "cce.%s.loss", cases[k].name);
        snprintf(nd, sizeof nd, "cce.%s.dz", cases[k].name);
        float *z = floats_of(nz, (size_t)n * c), *y = floats_of(ny, n);
        float *dz = nn_alloc((size_t)n * c * sizeof(float), "dz"), *dz2 = nn_alloc((size_t)n * c * sizeof(float), "dz");
        float loss = cce_logits(n, c, z, y, dz);
        CHECK_MSG(isfinite(loss), "%s: loss %g", cases[k].name, loss);
        compare(nl, &loss, 1);
        compare(nd, dz, (size_t)n * c);
        float loss2 = cce_logits_n(n, c, z, y, dz2, 2 * n);
        CHECK(loss2 == loss);
        for (int i = 0; i < n * c; i++) CHECK_CLOSE(dz2[i], dz[i] / 2, 1e-9, 1e-6);
        nn_free(z), nn_free(y), nn_free(dz), nn_free(dz2);
    }
}

// dL/dz against central differences of the loss itself (float output: a step of 1e-2 keeps its
// rounding, 1e-7 of L, far below the tolerance), as test_layers.c checks BCE.
static void cce_gradient_finite_differences(void) {
    enum { N = 6, C = 5 };
    rng r;
    rng_seed(&r, 4242);
    float z[N * C], y[N], dz[N * C];
    for (int i = 0; i < N * C; i++) z[i] = (float)rng_uniform_range(&r, -4, 4);
    for (int i = 0; i < N; i++) y[i] = (float)rng_below(&r, C);
    cce_logits(N, C, z, y, dz);
    for (int i = 0; i < N * C; i++) {
        float keep = z[i];
        z[i] = keep + 1e-2f;
        double hp = (double)z[i] - keep, Lp = cce_logits(N, C, z, y, NULL);
        z[i] = keep - 1e-2f;
        double hm = keep - (double)z[i], Lm = cce_logits(N, C, z, y, NULL);
        z[i] = keep;
        CHECK_CLOSE(dz[i], (Lp - Lm) / (hp + hm), 1e-4, 2e-3);
    }
    // each row of the gradient sums to zero (softmax minus one-hot, both summing to 1)
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < C; j++) s += dz[i * C + j];
        CHECK_CLOSE(s, 0.0, 1e-7, 0);
    }
}

// A softmax over (0, z) is a sigmoid of z: its CCE is z's BCE, its gradient +-BCE's.
static void cce_two_logits_is_binary(void) {
    enum { N = 8 };
    rng r;
    rng_seed(&r, 99);
    float z[N], y[N], z2[2 * N], dz[N], dz2[2 * N];
    for (int i = 0; i < N; i++) {
        z[i] = (float)rng_uniform_range(&r, -6, 6);
        y[i] = (float)rng_below(&r, 2);
        z2[2 * i] = 0, z2[2 * i + 1] = z[i];
    }
    float lb = bce_logits(N, z, y, dz), lc = cce_logits(N, 2, z2, y, dz2);
    CHECK_CLOSE(lc, lb, 1e-7, 1e-6);
    for (int i = 0; i < N; i++) {
        CHECK_CLOSE(dz2[2 * i + 1], dz[i], 1e-8, 1e-5);
        CHECK_CLOSE(dz2[2 * i], -dz[i], 1e-8, 1e-5);
    }
    CHECK(categorical_correct(N, 2, z2, y) == binary_correct(N, z, y));
}

static void cce_accuracy_ties_and_bad_labels(void) {
    // argmax: the first maximum on a tie, NaN never wins
    float t[4] = {1, 3, 3, 2}, nan_first[3] = {NAN, 1, 0};
    CHECK(argmax_row(4, t) == 1);
    CHECK(argmax_row(3, nan_first) == 1);
    float z[3 * 3] = {0, 5, 1, /**/ 2, 2, 0, /**/ -1, -3, -2}, y[3] = {1, 1, 0};
    CHECK(categorical_correct(3, 3, z, y) == 2);   // the second row's tie goes to class 0, not its label 1
    // a label that names no class: NaN loss and gradient (the run stops), never a wrong class
    float dz[3];
    float bad[4] = {3, -1, 0.5f, NAN};
    for (int k = 0; k < 4; k++) {
        CHECK_MSG(label_index(bad[k], 3) == -1, "label %g", bad[k]);
        CHECK_MSG(isnan(cce_logits(1, 3, z, &bad[k], dz)) && isnan(dz[0]), "label %g", bad[k]);
    }
    CHECK(label_index(2.0f, 3) == 2 && label_index(0.0f, 3) == 0);
    // huge logits stay finite and exact: the right class at 1e30 above the others
    float big[2 * 3] = {1e30f, -1e30f, 0, /**/ -1e30f, 0, 1e30f}, yb[2] = {0, 0}, db[6];
    float L = cce_logits(2, 3, big, yb, db);
    CHECK_CLOSE(L, 2e30 / 2, 0, 1e-6);   // sample 1 is wrong by 1e30 - (-1e30)
    CHECK(db[0] == 0 && db[3] == -0.5f && db[5] == 0.5f);
    // softmax_logits: rows sum to one, even at 1e4
    float sz[2 * 3] = {1e4f, 0, -1e4f, 0.1f, 0.2f, 0.3f}, p[6];
    softmax_logits(2, 3, sz, p);
    CHECK_CLOSE(p[0] + p[1] + p[2], 1.0, 1e-6, 0);
    CHECK_CLOSE(p[3] + p[4] + p[5], 1.0, 1e-6, 0);
    CHECK(p[0] == 1.0f && p[2] == 0.0f);
}

// --- the model

static void loss_kind_of_models(void) {
    static const struct { const char *cfg; loss_kind kind; int classes; } cases[] = {
        {MODEL_CATDOG_CFG, LOSS_BCE, 2},
        {"input 4 4 3\nflatten\ndense units=3 activation=softmax\n", LOSS_CCE, 3},
        {"input 4 4 3\nflatten\ndense units=3\nactivation fn=softmax\n", LOSS_CCE, 3},
        {"input 4 4 3\nflatten\ndense units=3 activation=sigmoid\n", LOSS_NONE, 0},
        {"input 4 4 3\nflatten\ndense units=1 activation=softmax\n", LOSS_NONE, 0},
        {"input 4 4 3\nflatten\ndense units=1\n", LOSS_BCE, 2},
        // a softmax over the channels of every pixel is no class vector
        {"input 4 4 3\nconv2d filters=3 kernel=1 activation=softmax\n", LOSS_NONE, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        model m;
        build(&m, cases[k].cfg);
        CHECK_MSG(model_loss_kind(&m) == cases[k].kind, "case %zu: loss kind %d, expected %d", k,
                  (int)model_loss_kind(&m), (int)cases[k].kind);
        CHECK_MSG(model_classes(&m) == cases[k].classes, "case %zu: %d classes", k, model_classes(&m));
        // with logits the last sigmoid or softmax is left out, never an inner one
        act_kind last = m.layers[m.nlayers - 1].act;
        CHECK(model_pass_act(&m, m.nlayers - 1, 1) == (last == ACT_SOFTMAX || last == ACT_SIGMOID ? ACT_LINEAR : last));
        CHECK(model_pass_act(&m, m.nlayers - 1, 0) == last);
        model_free(&m);
    }
    CHECK(!strcmp(loss_keras_name(LOSS_CCE), "categorical_crossentropy"));
    CHECK(!strcmp(loss_keras_name(LOSS_BCE), "binary_crossentropy"));
}

// model_forward without logits gives probabilities (rows summing to 1) and with them the
// logits, whose softmax (nn predict's) is those probabilities.
static void forward_probabilities_and_logits(void) {
    model m;
    build(&m, "input 5 4 3\nconv2d filters=2 kernel=3 activation=relu\nflatten\ndense units=5 activation=softmax\n");
    model_init_weights(&m, 3);
    enum { N = 6 };
    rng r;
    rng_seed(&r, 5);
    size_t in = shape3_size(m.input);
    float *x = nn_alloc(N * in * sizeof(float), "x"), p[N * 5], z[N * 5], q[N * 5];
    for (size_t i = 0; i < N * in; i++) x[i] = (float)rng_uniform_range(&r, -2, 2);
    nn_ctx ctx = nn_ctx_cpu();
    memcpy(p, model_forward(&m, &ctx, N, x, 0), sizeof p);
    memcpy(z, model_forward(&m, &ctx, N, x, 1), sizeof z);
    softmax_logits(N, 5, z, q);
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < 5; j++) s += p[i * 5 + j];
        CHECK_CLOSE(s, 1.0, 1e-6, 0);
    }
    check_arrays("softmax of the logits vs the model's probabilities", q, p, N * 5, 1e-7, 1e-6);
    float pp[N * 5];
    model_predict(&m, &ctx, N, x, pp);
    check_arrays("model_predict vs forward", pp, p, N * 5, 0, 0);
    nn_free(x);
    model_free(&m);
}

static model gm;
static nn_ctx gctx;
static int gready;

static void set_w0(model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        char name[128];
        if (l->wsize) {
            snprintf(name, sizeof name, "w0.%s.kernel", l->name);
            float *k = floats_of(name, l->wsize);
            memcpy(m->w + l->woff, k, l->wsize * sizeof(float));
            nn_free(k);
        }
        if (l->bsize) {
            snprintf(name, sizeof name, "w0.%s.bias", l->name);
            float *b = floats_of(name, l->bsize);
            memcpy(m->w + l->boff, b, l->bsize * sizeof(float));
            nn_free(b);
        }
    }
    memset(m->m, 0, m->nparams * sizeof(float));
    memset(m->v, 0, m->nparams * sizeof(float));
    m->t = 0;
}

#define GOLDEN_N 4

static void golden_setup(void) {
    NEED_FIXTURE();
    char err[NN_ERRLEN];
    if (model_parse_cfg(&gm, cfg, FIXTURE, err) != 0) {
        FAILF("the fixture's cfg does not parse: %s", err);
        return;
    }
    CHECK(model_loss_kind(&gm) == LOSS_CCE && model_classes(&gm) == 4);
    model_alloc_batch(&gm, GOLDEN_N);
    set_w0(&gm);
    gctx = nn_ctx_cpu();
    gready = !t_cur_failed;
}

static void softmax_model_forward_matches_torch(void) {
    if (!gready) SKIP("no model (see golden_setup)");
    set_w0(&gm);
    float *x = floats_of("x", GOLDEN_N * shape3_size(gm.input));
    model_forward(&gm, &gctx, GOLDEN_N, x, 0);
    for (int i = 0; i < gm.nlayers && !t_cur_failed; i++) {
        char name[128];
        snprintf(name, sizeof name, "out.%s", gm.layers[i].name);
        compare(name, gm.host->y[i], GOLDEN_N * shape3_size(gm.layers[i].out));
    }
    nn_free(x);
}

static void softmax_model_gradients_match_torch(void) {
    if (!gready) SKIP("no model (see golden_setup)");
    set_w0(&gm);
    float *x = floats_of("x", GOLDEN_N * shape3_size(gm.input)), *y = floats_of("labels", GOLDEN_N);
    float dz[GOLDEN_N * 4];
    const float *z = model_forward(&gm, &gctx, GOLDEN_N, x, 1);
    float loss = cce_logits(GOLDEN_N, 4, z, y, dz);
    compare("loss", &loss, 1);
    memset(gm.g, 0x7f, gm.nparams * sizeof(float));   // overwritten, not accumulated
    model_backward(&gm, &gctx, GOLDEN_N, x, dz);
    for (int i = 0; i < gm.nlayers; i++) {
        const layer *l = &gm.layers[i];
        char name[128];
        if (l->wsize) {
            snprintf(name, sizeof name, "grad.%s.kernel", l->name);
            compare(name, gm.g + l->woff, l->wsize);
        }
        if (l->bsize) {
            snprintf(name, sizeof name, "grad.%s.bias", l->name);
            compare(name, gm.g + l->boff, l->bsize);
        }
    }
    nn_free(x), nn_free(y);
}

// model_train_step on the C path: the walk's loss is CCE for this model (model_loss_kind), and
// its accuracy the categorical one.
static void softmax_model_five_adam_steps_match_torch(void) {
    if (!gready) SKIP("no model (see golden_setup)");
    set_w0(&gm);
    float *x = floats_of("x", GOLDEN_N * shape3_size(gm.input)), *y = floats_of("labels", GOLDEN_N);
    float losses[5];
    adam_cfg opt = adam_defaults();
    for (int s = 0; s < 5; s++) {
        int right = -1;
        losses[s] = model_train_step(&gm, &gctx, GOLDEN_N, x, y, &opt, &right);
        // the right count is that of the logits before the step
        CHECK(right >= 0 && right <= GOLDEN_N);
    }
    compare("loss_steps", losses, 5);
    CHECK(gm.t == 5);
    const char *what[3] = {"w5", "m5", "v5"};
    float *arena[3] = {gm.w, gm.m, gm.v};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < gm.nlayers; i++) {
            const layer *l = &gm.layers[i];
            char name[128];
            if (l->wsize) {
                snprintf(name, sizeof name, "%s.%s.kernel", what[k], l->name);
                compare(name, arena[k] + l->woff, l->wsize);
            }
            if (l->bsize) {
                snprintf(name, sizeof name, "%s.%s.bias", what[k], l->name);
                compare(name, arena[k] + l->boff, l->bsize);
            }
        }
    nn_free(x), nn_free(y);
}

// The step's right count is categorical_correct of the step's logits.
static void train_step_counts_categorical_accuracy(void) {
    if (!gready) SKIP("no model (see golden_setup)");
    set_w0(&gm);
    float *x = floats_of("x", GOLDEN_N * shape3_size(gm.input)), *y = floats_of("labels", GOLDEN_N);
    float z[GOLDEN_N * 4];
    memcpy(z, model_forward(&gm, &gctx, GOLDEN_N, x, 1), sizeof z);
    int want = categorical_correct(GOLDEN_N, 4, z, y), right = -1;
    adam_cfg opt = adam_defaults();
    float loss = model_train_step(&gm, &gctx, GOLDEN_N, x, y, &opt, &right);
    CHECK(right == want);
    CHECK(loss == cce_logits(GOLDEN_N, 4, z, y, NULL));
    nn_free(x), nn_free(y);
}

// `dense units=4` + `activation fn=softmax` is the same network: same losses, same weights
// after three steps, bit for bit (the walk leaves the last softmax to the loss either way).
static void softmax_as_activation_layer_trains_the_same(void) {
    model a, b;
    build(&a, "input 6 5 3\nflatten\ndense units=7 activation=relu\ndense units=4 activation=softmax\n");
    build(&b, "input 6 5 3\nflatten\ndense units=7 activation=relu\ndense units=4\nactivation fn=softmax\n");
    model_init_weights(&a, 11);
    CHECK(a.nparams == b.nparams);
    memcpy(b.w, a.w, a.nparams * sizeof(float));
    enum { N = 5 };
    rng r;
    rng_seed(&r, 12);
    size_t in = shape3_size(a.input);
    float *x = nn_alloc(N * in * sizeof(float), "x"), y[N];
    nn_ctx ctx = nn_ctx_cpu();
    adam_cfg opt = adam_defaults();
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < N * in; i++) x[i] = (float)rng_uniform(&r);
        for (int i = 0; i < N; i++) y[i] = (float)rng_below(&r, 4);
        int ca, cb;
        float la = model_train_step(&a, &ctx, N, x, y, &opt, &ca), lb = model_train_step(&b, &ctx, N, x, y, &opt, &cb);
        CHECK_MSG(la == lb && ca == cb, "step %d: loss %.9g / %.9g, right %d / %d", s + 1, la, lb, ca, cb);
    }
    CHECK(!memcmp(a.w, b.w, a.nparams * sizeof(float)));
    nn_free(x);
    model_free(&a), model_free(&b);
}

// --- evaluation

static void evaluate_confusion_matrix(void) {
    model m;
    build(&m, "input 6 6 3\nconv2d filters=2 kernel=3 activation=relu\nflatten\ndense units=3 activation=softmax\n");
    model_init_weights(&m, 21);
    enum { N = 23, BATCH = 5 };   // the batch does not divide the set
    rng r;
    rng_seed(&r, 22);
    image_cache c = {.n = N, .h = 6, .w = 6};
    size_t in = shape3_size(m.input);
    c.pixels = nn_alloc(N * in, "pixels");
    c.labels = nn_alloc(N * sizeof(int32_t), "labels");
    int per[3] = {0, 0, 0};
    for (int i = 0; i < N; i++) {
        c.labels[i] = (int32_t)rng_below(&r, 3);
        per[c.labels[i]]++;
        for (size_t p = 0; p < in; p++) c.pixels[i * in + p] = (uint8_t)(rng_below(&r, 200) + 20 * c.labels[i]);
    }
    nn_ctx ctx = nn_ctx_cpu();
    eval_result er;
    train_evaluate(&m, &ctx, &c, BATCH, &er);
    CHECK(er.n == N && er.nclasses == 3);
    long total = 0, diag = 0;
    for (int t = 0; t < 3; t++) {
        long row = 0;
        for (int p = 0; p < 3; p++) row += er.confusion[t][p];
        CHECK_MSG(row == per[t], "row %d sums to %ld, the class has %d images", t, row, per[t]);
        total += row, diag += er.confusion[t][t];
    }
    CHECK(total == N);
    CHECK_CLOSE(er.accuracy, (double)diag / N, 1e-12, 0);
    // the loss: the mean CCE of the whole set's logits in one pass
    float *x = nn_alloc(N * in * sizeof(float), "x"), y[N];
    image_to_float(c.pixels, N * in, x);
    for (int i = 0; i < N; i++) y[i] = (float)c.labels[i];
    const float *z = model_forward(&m, &ctx, N, x, 1);
    CHECK_CLOSE(er.loss, cce_logits(N, 3, z, y, NULL), 1e-6, 1e-6);
    CHECK((long)categorical_correct(N, 3, z, y) == diag);
    nn_free(x), nn_free(c.pixels), nn_free(c.labels);
    model_free(&m);
}

// --- the .h5 file

static void h5_keeps_classes_and_loss(void) {
    model m, back;
    build(&m, "input 4 4 3\nflatten\ndense units=3 activation=softmax\n");
    model_init_weights(&m, 31);
    const char *names[3] = {"cats", "dogs", "upside_down"};
    m.nclasses = 3;
    for (int k = 0; k < 3; k++) m.classes[k] = nn_strdup(names[k]);
    char path[PLEN], err[NN_ERRLEN];
    tpath(path, "softmax3.h5");
    CHECK_MSG(model_save_h5(&m, path, err) == 0, "%s", err);
    CHECK_MSG(model_load_h5(&back, path, err) == 0, "%s", err);
    if (t_cur_failed) return;
    CHECK(back.nclasses == 3 && model_loss_kind(&back) == LOSS_CCE && model_classes(&back) == 3);
    for (int k = 0; k < 3 && back.nclasses == 3; k++) CHECK(!strcmp(back.classes[k], names[k]));
    CHECK(!memcmp(back.w, m.w, m.nparams * sizeof(float)));
    // the training_config names Keras's loss for it (read back as text from the file)
    FILE *f = fopen(path, "rb");
    char *buf = nn_alloc(1 << 20, "file");
    size_t got = f ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    if (f) fclose(f);
    buf[got] = 0;
    const char *want = "\"loss\":\"categorical_crossentropy\"", *other = "\"loss\":\"binary_crossentropy\"";
    int cce = memmem(buf, got, want, strlen(want)) != NULL, bce = memmem(buf, got, other, strlen(other)) != NULL;
    CHECK_MSG(cce && !bce, "training_config: categorical %d, binary %d", cce, bce);
    nn_free(buf);
    model_free(&m), model_free(&back);
}

int main(void) {
    tmpdir_make("classes");
    RUN(cce_matches_torch);
    RUN(cce_gradient_finite_differences);
    RUN(cce_two_logits_is_binary);
    RUN(cce_accuracy_ties_and_bad_labels);
    RUN(loss_kind_of_models);
    RUN(forward_probabilities_and_logits);
    RUN(golden_setup);
    RUN(softmax_model_forward_matches_torch);
    RUN(softmax_model_gradients_match_torch);
    RUN(softmax_model_five_adam_steps_match_torch);
    RUN(train_step_counts_categorical_accuracy);
    RUN(softmax_as_activation_layer_trains_the_same);
    RUN(evaluate_confusion_matrix);
    RUN(h5_keeps_classes_and_loss);
    if (gready) model_free(&gm);
    cleanup();
    TEST_EXIT();
}
