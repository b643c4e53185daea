// test_layers_bn.c: the dropout and batchnorm layers on the C path.
//  - gradient checks by central differences in training mode: batchnorm (after a conv, after a
//    dense layer) through x, gamma and beta with the batch statistics; dropout with its mask
//    fixed by (seed, t);
//  - batchnorm against Keras 3 (tests/fixtures/bn_keras.txt, tests/oracles/bn_dropout_keras.py):
//    forward in training and inference mode, the moving statistics after a training pass, the
//    gradients from tf.GradientTape;
//  - a Keras 3 model (Conv2D, BatchNormalization, MaxPooling2D, Dropout, Dense, ...) saved with
//    model.save('....h5') loads and predicts what Keras predicted, to 1e-5;
//  - dropout's statistics and determinism: the fraction zeroed over 1e6 values, kept values
//    scaled exactly, the identity when not training, the same mask for the same (seed, t) and
//    another for another t or seed, backward through forward's mask;
//  - an nn-written .h5 with both layers loads back bit for bit (weights, moving statistics, Adam
//    state, predictions); 2 + 2 training steps with a save and load between equal 4 straight;
//    Adam never touches the moving statistics; training does not depend on the thread count;
//  - cfg and Keras config options: defaults, ranges, refused settings.
#include <omp.h>

#include "../nn/common.h"
#include "../nn/h5.h"
#include "../nn/hash_rng.h"
#include "../nn/keras_json.h"
#include "../nn/model.h"
#include "../nn/step.h"
#include "../nn/rng.h"
#include "layer_call.h"
#include "test.h"
#include "test_tmpdir.h"

static void fill(rng *r, float *p, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_uniform_range(r, lo, hi);
}

static shape3 img(int h, int w, int c) { return (shape3){h, w, c, 0}; }
static shape3 vec(int c) { return (shape3){1, 1, c, 1}; }

static layer make(layer_kind k, shape3 in) {
    layer l;
    layer_defaults(&l, k);
    char err[NN_ERRLEN];
    if (layer_setup(&l, in, err) != 0) NN_DIE("setup: %s", err);
    return l;
}

// One pass with the training flag and step: what the walk (nn/step.c) hands a layer.
typedef struct {
    const layer *l;
    int n, training;
    uint64_t seed;
    long t;
    float *w, *ws;
    int32_t *aux;
} pass;

static pass pass_new(const layer *l, int n) {
    pass p = {l, n, 1, 99, 7, NULL, NULL, NULL};
    size_t ns = layer_scratch(l, NULL, n), na = (size_t)n * l->aux_per_sample;
    p.w = nn_calloc((layer_nparams(l) + 1) * sizeof(float), "weights");
    p.ws = ns ? nn_alloc(ns * sizeof(float), "scratch") : NULL;
    p.aux = na ? nn_alloc(na * sizeof(int32_t), "aux") : NULL;
    return p;
}

static void pass_free(pass *p) { nn_free(p->w), nn_free(p->ws), nn_free(p->aux); }

static void fwd(pass *p, const float *x, float *y) {
    layer_io io = {.n = p->n, .x = x, .y = y, .w = p->w, .aux = p->aux, .act = ACT_LINEAR,
                   .training = p->training, .seed = p->seed, .t = p->t, .ws = p->ws,
                   .ws_floats = layer_scratch(p->l, NULL, p->n)};
    layer_impl_or_die(p->l, NULL)->forward(p->l, NULL, &io);
}

static void bwd(pass *p, const float *x, const float *y, float *dy, float *dx, float *dw) {
    layer_io io = {.n = p->n, .x = x, .y = (float *)y, .w = p->w, .aux = p->aux, .act = ACT_LINEAR,
                   .training = 1, .seed = p->seed, .t = p->t, .dy = dy, .dx = dx, .dw = dw,
                   .ws = p->ws, .ws_floats = layer_scratch(p->l, NULL, p->n)};
    layer_impl_or_die(p->l, NULL)->backward(p->l, NULL, &io);
}

// --- gradient checks

// L = sum(y * R) in double (a training forward); dL/dy = R.
static double loss_at(pass *p, const float *x, float *y, const float *R) {
    fwd(p, x, y);
    double L = 0;
    for (size_t i = 0; i < (size_t)p->n * shape3_size(p->l->out); i++) L += (double)y[i] * R[i];
    return L;
}

// Central differences of L over each element of v (count) against g. Batchnorm is smooth (the
// error is h^2/6 |L'''| plus float rounding of L over 2h); dropout with a fixed mask is linear.
static void check_fd(pass *p, float *x, float *y, const float *R, float *v, size_t count,
                     const float *g, const char *what, const char *label) {
    const double h = 1e-2;
    for (size_t i = 0; i < count && !t_cur_failed; i++) {
        float keep = v[i];
        v[i] = keep + (float)h;
        double hp = (double)v[i] - keep, Lp = loss_at(p, x, y, R);
        v[i] = keep - (float)h;
        double hm = keep - (double)v[i], Lm = loss_at(p, x, y, R);
        v[i] = keep;
        double fd = (Lp - Lm) / (hp + hm);
        if (!(fabs(g[i] - fd) <= 2e-3 + 2e-3 * fabs(fd)))
            FAILF("%s: d%s[%zu] = %.7g, finite difference %.7g", label, what, i, g[i], fd);
    }
}

static void gradcheck(layer l, int n, const char *label) {
    pass p = pass_new(&l, n);
    rng r;
    rng_seed(&r, 77 + l.in.c * 3 + n);
    size_t nin = (size_t)n * shape3_size(l.in), nout = (size_t)n * shape3_size(l.out), nw = layer_nparams(&l);
    float *x = nn_alloc(nin * sizeof(float), "x"), *y = nn_alloc(nout * sizeof(float), "y");
    float *R = nn_alloc(nout * sizeof(float), "R"), *dy = nn_alloc(nout * sizeof(float), "dy");
    float *dx = nn_alloc(nin * sizeof(float), "dx"), *dw = nn_alloc((nw + 1) * sizeof(float), "dw");
    float *dw2 = nn_alloc((nw + 1) * sizeof(float), "dw2");
    fill(&r, x, nin, -1, 1.5);
    fill(&r, R, nout, -1, 1);
    if (nw) {
        int C = l.in.c;   // gamma, beta random; the moving statistics arbitrary
        fill(&r, p.w, 2 * (size_t)C, 0.5, 1.5);
        fill(&r, p.w + 2 * C, 2 * (size_t)C, 0.1, 1);
    }
    fwd(&p, x, y);
    for (size_t i = 0; i < nin; i++) dx[i] = NAN;
    for (size_t i = 0; i < nw; i++) dw[i] = dw2[i] = 1e3f;
    memcpy(dy, R, nout * sizeof(float));
    bwd(&p, x, y, dy, dx, dw);
    memcpy(dy, R, nout * sizeof(float));
    bwd(&p, x, y, dy, NULL, dw2);
    check_arrays("dw without dx", dw2, dw, nw, 0, 0);
    check_fd(&p, x, y, R, x, nin, dx, "x", label);
    if (nw) {
        int C = l.in.c;
        check_fd(&p, x, y, R, p.w, C, dw, "gamma", label);
        check_fd(&p, x, y, R, p.w + C, C, dw + C, "beta", label);
        for (int c = 0; c < 2 * C; c++)
            CHECK_MSG(dw[2 * C + c] == 0.0f, "%s: the moving statistics got gradient %g", label, dw[2 * C + c]);
    }
    nn_free(x), nn_free(y), nn_free(R), nn_free(dy), nn_free(dx), nn_free(dw), nn_free(dw2);
    pass_free(&p);
}

static void bn_grad_conv(void) { gradcheck(make(LAYER_BATCHNORM, img(3, 4, 5)), 2, "batchnorm (2, 3, 4, 5)"); }
static void bn_grad_one_channel(void) { gradcheck(make(LAYER_BATCHNORM, img(5, 3, 1)), 3, "batchnorm (3, 5, 3, 1)"); }
static void bn_grad_dense(void) { gradcheck(make(LAYER_BATCHNORM, vec(7)), 6, "batchnorm (6, 7)"); }

static void dropout_grad(void) {
    layer l = make(LAYER_DROPOUT, img(4, 3, 5));
    l.rate = 0.4f;
    gradcheck(l, 3, "dropout 0.4 (3, 4, 3, 5)");
    layer v = make(LAYER_DROPOUT, vec(9));
    v.rate = 0.75f;
    gradcheck(v, 4, "dropout 0.75 (4, 9)");
}

// --- batchnorm against Keras 3

// "name count v0 v1 ..." of tests/fixtures/bn_keras.txt into out (count must match).
static int fixture(const char *name, float *out, size_t count) {
    FILE *f = fopen("tests/fixtures/bn_keras.txt", "r");
    if (!f) return -1;
    char key[64];
    size_t n;
    int rc = -1, ch;
    while (rc && fscanf(f, "%63s", key) == 1) {
        if (key[0] == '#' || strcmp(key, name)) {
            while ((ch = fgetc(f)) != '\n' && ch != EOF) {}
            continue;
        }
        if (fscanf(f, "%zu", &n) != 1 || n != count) break;
        size_t i = 0;
        while (i < n && fscanf(f, "%f", &out[i]) == 1) i++;
        rc = i == n ? 0 : -1;
        break;
    }
    fclose(f);
    return rc;
}

// The oracle's inputs (bn_dropout_keras.py's formulas).
static void keras_case(const char *tag, shape3 in, int n) {
    layer l = make(LAYER_BATCHNORM, in);
    l.momentum = 0.9f;
    l.epsilon = 1e-3f;
    const int C = in.c;
    size_t cnt = (size_t)n * shape3_size(in);
    pass p = pass_new(&l, n);
    float *x = nn_alloc(cnt * sizeof(float), "x"), *y = nn_alloc(cnt * sizeof(float), "y");
    float *R = nn_alloc(cnt * sizeof(float), "R"), *want = nn_alloc(cnt * sizeof(float), "want");
    float *dx = nn_alloc(cnt * sizeof(float), "dx"), *dw = nn_alloc(4 * (size_t)C * sizeof(float), "dw");
    for (size_t i = 0; i < cnt; i++) {
        x[i] = (float)(sin(0.37 * i + 0.1) * 2 + 0.5 * cos(1.3 * i));
        R[i] = (float)cos(0.23 * i + 0.4);
    }
    for (int c = 0; c < C; c++) {
        p.w[c] = (float)(1 + 0.1 * c), p.w[C + c] = (float)(0.05 * c - 0.1);
        p.w[2 * C + c] = (float)(0.2 * c - 0.3), p.w[3 * C + c] = (float)(0.5 + 0.25 * c);
    }
    char name[64];
    // inference first: the moving statistics as given
    p.training = 0;
    fwd(&p, x, y);
    snprintf(name, sizeof name, "%s_y_infer", tag);
    CHECK_MSG(fixture(name, want, cnt) == 0, "tests/fixtures/bn_keras.txt: no %s of %zu values", name, cnt);
    check_arrays(name, y, want, cnt, 1e-5, 1e-5);
    p.training = 1;
    fwd(&p, x, y);
    snprintf(name, sizeof name, "%s_y_train", tag);
    CHECK_MSG(fixture(name, want, cnt) == 0, "no %s", name);
    check_arrays(name, y, want, cnt, 1e-5, 1e-5);
    const char *stats[2] = {"moving_mean", "moving_variance"};
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%s_%s", tag, stats[k]);
        CHECK_MSG(fixture(name, want, C) == 0, "no %s", name);
        check_arrays(name, p.w + (2 + k) * C, want, C, 1e-6, 1e-6);
    }
    memcpy(dx, R, cnt * sizeof(float));   // dy = R (overwritten by backward: a copy)
    float *dy = nn_alloc(cnt * sizeof(float), "dy");
    memcpy(dy, R, cnt * sizeof(float));
    bwd(&p, x, y, dy, dx, dw);
    snprintf(name, sizeof name, "%s_dx", tag);
    CHECK_MSG(fixture(name, want, cnt) == 0, "no %s", name);
    check_arrays(name, dx, want, cnt, 2e-5, 1e-4);
    snprintf(name, sizeof name, "%s_dgamma", tag);
    CHECK_MSG(fixture(name, want, C) == 0, "no %s", name);
    check_arrays(name, dw, want, C, 2e-5, 1e-5);
    snprintf(name, sizeof name, "%s_dbeta", tag);
    CHECK_MSG(fixture(name, want, C) == 0, "no %s", name);
    check_arrays(name, dw + C, want, C, 2e-5, 1e-5);
    nn_free(x), nn_free(y), nn_free(R), nn_free(want), nn_free(dx), nn_free(dw), nn_free(dy);
    pass_free(&p);
}

static void bn_keras_image(void) { keras_case("image", img(3, 5, 6), 2); }
static void bn_keras_dense(void) { keras_case("dense", vec(5), 7); }

// --- a Keras model file

static void fixed_inputs(int n, size_t per, float *x) {
    for (size_t i = 0; i < (size_t)n * per; i++)
        x[i] = (float)((3 * (long long)i * i + 37 * (long long)i + 11) % 251) / 250.0f;
}

static void keras_model_file(void) {
    model m;
    char err[NN_ERRLEN];
    if (model_load_h5(&m, "tests/fixtures/keras_bn_dropout.h5", err) != 0) {
        FAILF("%s", err);
        return;
    }
    CHECK(m.nlayers == 9 && m.layers[1].kind == LAYER_BATCHNORM && m.layers[3].kind == LAYER_DROPOUT);
    CHECK_MSG(m.t == 3, "Adam iterations %ld, Keras trained 3", m.t);
    CHECK(m.layers[6].momentum == 0.8f && m.layers[6].epsilon == 0.01f && m.layers[3].rate == 0.3f);
    CHECK(m.layers[1].params[2].fixed && m.layers[1].params[3].fixed && !m.layers[1].params[0].fixed);
    enum { N = 4 };
    size_t per = shape3_size(m.input);
    float *x = nn_alloc(N * per * sizeof(float), "x"), got[N], want[N];
    fixed_inputs(N, per, x);
    FILE *f = fopen("tests/fixtures/keras_bn_dropout_pred.txt", "r");
    char line[256];
    int k = 0;
    while (f && k < N && fgets(line, sizeof line, f))
        if (line[0] != '#') want[k++] = strtof(line, NULL);
    if (f) fclose(f);
    CHECK_MSG(k == N, "cannot read tests/fixtures/keras_bn_dropout_pred.txt");
    nn_ctx cpu = nn_ctx_cpu();
    model_predict(&m, &cpu, N, x, got);
    check_arrays("Keras model with BatchNormalization and Dropout", got, want, N, 1e-5, 0);
    nn_free(x);
    model_free(&m);
}

// --- dropout

static void dropout_statistics(void) {
    const int n = 1000, per = 1000;   // 1e6 values
    layer l = make(LAYER_DROPOUT, vec(per));
    l.rate = 0.3f;
    pass p = pass_new(&l, n);
    size_t cnt = (size_t)n * per;
    float *x = nn_alloc(cnt * sizeof(float), "x"), *y = nn_alloc(cnt * sizeof(float), "y");
    float *y2 = nn_alloc(cnt * sizeof(float), "y2");
    rng r;
    rng_seed(&r, 5);
    fill(&r, x, cnt, 0.1, 2);   // never zero: a zero output means dropped
    const float scale = 1.0f / 0.7f;
    CHECK(hr_scale(0.3f) == (float)(1.0 / 0.7));   // Keras: 1 / (1 - 0.3) in double, then float
    fwd(&p, x, y);
    size_t zeros = 0, bad = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (y[i] == 0) zeros++;
        else if (y[i] != x[i] * scale) bad++;
    }
    double frac = (double)zeros / cnt, sd = sqrt(0.3 * 0.7 / cnt);
    CHECK_MSG(fabs(frac - 0.3) < 5 * sd, "dropped %.5f of 1e6 values at rate 0.3 (5 sd: %.5f)", frac, 5 * sd);
    CHECK_MSG(bad == 0, "%zu kept values are not x / (1 - rate) exactly", bad);
    // each sample's fraction too (the hash must not correlate with the position)
    size_t worst = 0;
    for (int s = 0; s < n; s++) {
        size_t z = 0;
        for (int j = 0; j < per; j++) z += y[(size_t)s * per + j] == 0;
        size_t d = z > 300 ? z - 300 : 300 - z;
        worst = d > worst ? d : worst;
    }
    CHECK_MSG(worst < 90, "a sample of 1000 values had %zu more or fewer dropped than 300", worst);
    // the same (seed, t): the same mask; another t or seed: another one (about 42% differ)
    fwd(&p, x, y2);
    CHECK(memcmp(y, y2, cnt * sizeof(float)) == 0);
    const char *what[2] = {"t", "seed"};
    for (int k = 0; k < 2; k++) {
        if (k == 0) p.t++;
        else p.t--, p.seed++;
        fwd(&p, x, y2);
        size_t diff = 0;
        for (size_t i = 0; i < cnt; i++) diff += (y[i] == 0) != (y2[i] == 0);
        CHECK_MSG(fabs((double)diff / cnt - 0.42) < 0.01, "another %s: %.4f of the masks differ, expected 0.42",
                  what[k], (double)diff / cnt);
    }
    p.seed--;
    // not training: the identity, bit for bit
    p.training = 0;
    fwd(&p, x, y2);
    CHECK(memcmp(x, y2, cnt * sizeof(float)) == 0);
    // rate 0 in training: the identity too
    p.training = 1;
    l.rate = 0;
    fwd(&p, x, y2);
    CHECK(memcmp(x, y2, cnt * sizeof(float)) == 0);
    l.rate = 0.3f;
    nn_free(x), nn_free(y), nn_free(y2);
    pass_free(&p);
}

// Backward zeroes exactly what forward dropped and scales the rest; in place (dx == dy) too.
static void dropout_backward_mask(void) {
    layer l = make(LAYER_DROPOUT, img(7, 5, 3));
    l.rate = 0.5f;
    const int n = 9;
    pass p = pass_new(&l, n);
    p.t = 12345, p.seed = 0xabcdef;
    size_t cnt = (size_t)n * shape3_size(l.in);
    float *x = nn_alloc(cnt * sizeof(float), "x"), *y = nn_alloc(cnt * sizeof(float), "y");
    float *dy = nn_alloc(cnt * sizeof(float), "dy"), *dx = nn_alloc(cnt * sizeof(float), "dx");
    float *g = nn_alloc(cnt * sizeof(float), "g");
    rng r;
    rng_seed(&r, 8);
    fill(&r, x, cnt, 0.5, 1);
    fill(&r, g, cnt, 0.5, 1);
    fwd(&p, x, y);
    memcpy(dy, g, cnt * sizeof(float));
    bwd(&p, x, y, dy, dx, NULL);
    size_t bad = 0, kept = 0;
    for (size_t i = 0; i < cnt; i++) {
        kept += y[i] != 0;
        bad += y[i] == 0 ? dx[i] != 0 : dx[i] != g[i] * 2.0f;
    }
    CHECK_MSG(bad == 0, "%zu gradients do not follow forward's mask", bad);
    CHECK(kept > cnt / 4 && kept < 3 * cnt / 4);
    memcpy(dy, g, cnt * sizeof(float));
    bwd(&p, x, y, dy, dy, NULL);   // in place, as the walk runs it
    CHECK(memcmp(dy, dx, cnt * sizeof(float)) == 0);
    nn_free(x), nn_free(y), nn_free(dy), nn_free(dx), nn_free(g);
    pass_free(&p);
}

// The layer's vectorized loop (layers/dropout.c) against the definition the GPU kernels use,
// hr_keep per element: a batch of odd size over several of the loop's blocks and threads, and a
// data-parallel rank's part whose element indices cross 2^32 (where the loop cuts its spans).
static void dropout_matches_hash(void) {
    const int per = 1003;
    const struct { int n; int sample0; } cases[] = {{71, 0}, {5, 4282118}};   // 4282118 * 1003 < 2^32 < 4282123 * 1003
    for (int k = 0; k < 2; k++) {
        const int n = cases[k].n;
        layer l = make(LAYER_DROPOUT, vec(per));
        l.rate = 0.37f;
        const size_t cnt = (size_t)n * per, off = (size_t)cases[k].sample0 * per;
        CHECK(k == 0 || (off < (1ull << 32) && off + cnt > (1ull << 32)));
        float *x = nn_alloc(cnt * sizeof(float), "x"), *y = nn_alloc(cnt * sizeof(float), "y");
        rng r;
        rng_seed(&r, 21 + k);
        fill(&r, x, cnt, -2, 2);
        layer_io io = {.n = n, .x = x, .y = y, .act = ACT_LINEAR, .training = 1, .seed = 77, .t = 5,
                       .sample0 = cases[k].sample0};
        layer_impl_or_die(&l, NULL)->forward(&l, NULL, &io);
        const uint64_t key = hr_key(77, 5);
        const uint32_t thr = hr_threshold(0.37f);
        const float scale = hr_scale(0.37f);
        size_t bad = 0;
        for (size_t i = 0; i < cnt; i++) {
            const float want = hr_keep(key, off + i, thr) ? x[i] * scale : 0.0f;
            bad += memcmp(&want, &y[i], sizeof want) != 0;   // +0 where dropped, not -0
        }
        CHECK_MSG(bad == 0, "case %d: %zu of %zu values differ from hr_keep's mask", k, bad, cnt);
        nn_free(x), nn_free(y);
    }
}

// --- models

#define BN_MODEL                                                  \
    "input 10 9 3\n"                                              \
    "conv2d filters=6 kernel=3 padding=same activation=relu\n"    \
    "batchnorm\n"                                                 \
    "maxpool2d pool=2\n"                                          \
    "dropout rate=0.25\n"                                         \
    "flatten\n"                                                   \
    "dense units=8 activation=relu\n"                             \
    "batchnorm momentum=0.9 epsilon=0.01\n"                       \
    "dropout rate=0.5\n"                                          \
    "dense units=1 activation=sigmoid\n"

static void build(model *m, uint64_t seed) {
    char err[NN_ERRLEN];
    if (model_parse_cfg(m, BN_MODEL, "bn.cfg", err) != 0) NN_DIE("test model: %s", err);
    model_init_weights(m, seed);
}

static void batch(rng *r, const model *m, int n, float *x, float *y) {
    fill(r, x, (size_t)n * shape3_size(m->input), 0, 1);
    for (int i = 0; i < n; i++) y[i] = (float)(rng_next(r) & 1);
}

static void train(model *m, const nn_ctx *ctx, rng *r, int steps, int n) {
    float *x = nn_alloc((size_t)n * shape3_size(m->input) * sizeof(float), "x"), y[64];
    adam_cfg opt = adam_defaults();
    for (int s = 0; s < steps; s++) {
        batch(r, m, n, x, y);
        model_train_step(m, ctx, n, x, y, &opt, NULL);
    }
    nn_free(x);
}

// Fixed tensors: out of Adam's ranges; the walk's moments stay zero there, the moving statistics
// move (forward's update), gamma and beta train.
static void model_fixed_tensors(void) {
    model m;
    build(&m, 3);
    nn_ctx cpu = nn_ctx_cpu();
    rng r;
    rng_seed(&r, 4);
    const layer *bn = &m.layers[1];
    float mv0 = m.w[bn->params[3].off];
    train(&m, &cpu, &r, 3, 8);
    int moments = 0, moved = 0;
    for (int i = 0; i < m.nlayers; i++)
        for (int k = 0; k < m.layers[i].ntensors; k++) {
            const layer_param *q = &m.layers[i].params[k];
            for (size_t j = 0; j < q->size; j++) {
                if (q->fixed) moments += m.m[q->off + j] != 0 || m.v[q->off + j] != 0 || m.g[q->off + j] != 0;
                else moved += m.m[q->off + j] != 0;
            }
        }
    CHECK_MSG(moments == 0, "%d Adam moments or gradients of the moving statistics are not zero", moments);
    CHECK(moved > 0);
    CHECK(m.w[bn->params[3].off] != mv0);
    CHECK(m.host->adam_partial && m.host->nranges == 3);   // up to bn 1, bn 1's gamma/beta to bn 2, after
    model_free(&m);
}

static void model_save_load(void) {
    model a, b;
    build(&a, 11);
    nn_ctx cpu = nn_ctx_cpu();
    rng r;
    rng_seed(&r, 12);
    train(&a, &cpu, &r, 4, 6);
    char p[PLEN], err[NN_ERRLEN];
    tpath(p, "bn.h5");
    CHECK_MSG(model_save_h5(&a, p, err) == 0, "%s", err);
    CHECK_MSG(model_load_h5(&b, p, err) == 0, "%s", err);
    if (t_cur_failed) return;
    CHECK(b.nparams == a.nparams && b.t == a.t && b.nlayers == a.nlayers);
    CHECK(!memcmp(a.w, b.w, a.nparams * sizeof(float)));
    CHECK(!memcmp(a.m, b.m, a.nparams * sizeof(float)) && !memcmp(a.v, b.v, a.nparams * sizeof(float)));
    for (int i = 0; i < a.nlayers; i++)
        CHECK(a.layers[i].kind == b.layers[i].kind && a.layers[i].rate == b.layers[i].rate &&
              a.layers[i].momentum == b.layers[i].momentum && a.layers[i].epsilon == b.layers[i].epsilon);
    enum { N = 5 };
    float *x = nn_alloc(N * shape3_size(a.input) * sizeof(float), "x"), pa[N], pb[N], y[N];
    batch(&r, &a, N, x, y);
    model_predict(&a, &cpu, N, x, pa);
    model_predict(&b, &cpu, N, x, pb);
    CHECK(!memcmp(pa, pb, sizeof pa));
    nn_free(x);
    model_free(&a);
    model_free(&b);
}

// 2 steps, save, load, 2 steps == 4 steps: the masks depend on (seed, t) only.
static void resume_equals_straight(void) {
    model a, b, c;
    build(&a, 21);
    build(&b, 21);
    nn_ctx cpu = nn_ctx_cpu();
    cpu.seed = 77;
    rng ra, rb;
    rng_seed(&ra, 22);
    rng_seed(&rb, 22);
    train(&a, &cpu, &ra, 4, 7);
    train(&b, &cpu, &rb, 2, 7);
    char p[PLEN], err[NN_ERRLEN];
    tpath(p, "resume.h5");
    CHECK_MSG(model_save_h5(&b, p, err) == 0, "%s", err);
    CHECK_MSG(model_load_h5(&c, p, err) == 0, "%s", err);
    if (t_cur_failed) return;
    train(&c, &cpu, &rb, 2, 7);
    CHECK(c.t == 4 && a.t == 4);
    CHECK_MSG(!memcmp(a.w, c.w, a.nparams * sizeof(float)), "weights after 2 + 2 steps differ from 4 straight");
    CHECK(!memcmp(a.m, c.m, a.nparams * sizeof(float)) && !memcmp(a.v, c.v, a.nparams * sizeof(float)));
    // and the masks matter: another run seed trains other weights
    model d;
    build(&d, 21);
    rng rd;
    rng_seed(&rd, 22);
    cpu.seed = 78;
    train(&d, &cpu, &rd, 4, 7);
    CHECK(memcmp(a.w, d.w, a.nparams * sizeof(float)) != 0);
    model_free(&a), model_free(&b), model_free(&c), model_free(&d);
}

// The batch statistics are summed in blocks of fixed size: the thread count changes nothing.
static void threads_do_not_matter(void) {
    model a, b;
    build(&a, 31);
    build(&b, 31);
    nn_ctx cpu = nn_ctx_cpu();
    rng ra, rb;
    rng_seed(&ra, 32);
    rng_seed(&rb, 32);
    int th = omp_get_max_threads();
    omp_set_num_threads(1);
    train(&a, &cpu, &ra, 3, 64);   // 64 * 10 * 9 rows: several blocks of 512
    omp_set_num_threads(th > 1 ? th : 2);
    train(&b, &cpu, &rb, 3, 64);
    omp_set_num_threads(th);
    CHECK(!memcmp(a.w, b.w, a.nparams * sizeof(float)));
    model_free(&a), model_free(&b);
}

// models/catdog_bn.cfg: the three blocks with batchnorm and dropout where its comment says, its
// parameter counts, and a training step and a prediction on the C path.
static void catdog_bn_model(void) {
    model m;
    char err[NN_ERRLEN];
    if (model_load_cfg(&m, "models/catdog_bn.cfg", err) != 0) {
        FAILF("%s", err);
        return;
    }
    const layer_kind want[] = {LAYER_CONV2D, LAYER_BATCHNORM, LAYER_MAXPOOL2D, LAYER_DROPOUT,
                               LAYER_CONV2D, LAYER_BATCHNORM, LAYER_MAXPOOL2D, LAYER_DROPOUT,
                               LAYER_CONV2D, LAYER_BATCHNORM, LAYER_MAXPOOL2D, LAYER_DROPOUT,
                               LAYER_FLATTEN, LAYER_DENSE, LAYER_BATCHNORM, LAYER_DROPOUT, LAYER_DENSE};
    CHECK(m.nlayers == (int)(sizeof want / sizeof *want));
    for (int i = 0; i < m.nlayers && i < (int)(sizeof want / sizeof *want); i++) CHECK(m.layers[i].kind == want[i]);
    size_t fixed = 0;
    for (int i = 0; i < m.nlayers; i++)
        for (int k = 0; k < m.layers[i].ntensors; k++) fixed += m.layers[i].params[k].fixed ? m.layers[i].params[k].size : 0;
    CHECK_MSG(m.nparams == 1143489 && fixed == 704, "%zu parameters, %zu fixed", m.nparams, fixed);
    model_init_weights(&m, 1);
    nn_ctx cpu = nn_ctx_cpu();
    rng r;
    rng_seed(&r, 2);
    enum { N = 3 };
    float *x = nn_alloc(N * shape3_size(m.input) * sizeof(float), "x"), y[N], p[N];
    batch(&r, &m, N, x, y);
    adam_cfg opt = adam_defaults();
    float loss = model_train_step(&m, &cpu, N, x, y, &opt, NULL);
    model_predict(&m, &cpu, N, x, p);
    CHECK(isfinite(loss) && loss > 0);
    for (int i = 0; i < N; i++) CHECK(p[i] > 0 && p[i] < 1);
    nn_free(x);
    model_free(&m);
}

// --- options

static int parse(const char *cfg, char *err) {
    model m;
    int rc = model_parse_cfg(&m, cfg, "t.cfg", err);
    if (rc == 0) model_free(&m);
    return rc;
}

static void cfg_options(void) {
    char err[NN_ERRLEN];
    model m;
    CHECK(model_parse_cfg(&m, "input 4 4 2\nbatchnorm\ndropout rate=0.2\nflatten\ndense units=1\n", "t.cfg", err) == 0);
    if (t_cur_failed) return;
    CHECK(m.layers[0].momentum == 0.99f && m.layers[0].epsilon == 1e-3f && m.layers[1].rate == 0.2f);
    CHECK(!strcmp(m.layers[0].name, "batch_normalization") && !strcmp(m.layers[1].name, "dropout"));
    CHECK(layer_nparams(&m.layers[0]) == 8);
    model_init_weights(&m, 1);
    CHECK(m.w[0] == 1 && m.w[2] == 0 && m.w[4] == 0 && m.w[6] == 1);   // gamma, beta, mean, variance
    model_free(&m);
    CHECK(parse("input 4 4 2\ndropout\n", err) != 0 && strstr(err, "rate"));
    CHECK(parse("input 4 4 2\ndropout rate=1.5\n", err) != 0 && strstr(err, "rate"));
    CHECK(parse("input 4 4 2\nbatchnorm momentum=2\n", err) != 0 && strstr(err, "momentum"));
    CHECK(parse("input 4 4 2\nbatchnorm epsilon=0\n", err) != 0 && strstr(err, "epsilon"));
}

#define KERAS_HEAD "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"InputLayer\", " \
                   "\"config\": {\"batch_shape\": [null, 4, 4, 2]}}, "

static int from_keras(const char *layer_json, char *err) {
    char json[1024];
    snprintf(json, sizeof json, KERAS_HEAD "%s]}}", layer_json);
    model m;
    int rc = keras_model_from_config(&m, json, err);
    if (rc == 0) model_free(&m);
    return rc;
}

static void keras_options(void) {
    char err[NN_ERRLEN];
    // what nn writes reads back the same
    model a, b;
    CHECK(model_parse_cfg(&a, "input 4 4 2\nbatchnorm momentum=0.9 epsilon=0.0001\ndropout rate=0.3\n", "t.cfg", err) == 0);
    char *json = keras_model_config_json(&a);
    CHECK(strstr(json, "\"momentum\":0.9,") && strstr(json, "\"epsilon\":0.0001,") && strstr(json, "\"rate\":0.3,"));
    CHECK(strstr(json, "\"axis\":-1") && strstr(json, "\"noise_shape\":null"));
    CHECK_MSG(keras_model_from_config(&b, json, err) == 0, "%s", err);
    CHECK(b.layers[0].momentum == 0.9f && b.layers[0].epsilon == 1e-4f && b.layers[1].rate == 0.3f);
    nn_free(json);
    model_free(&a), model_free(&b);
    // tf.keras 2 writes axis as [3] (the last axis of an image); any other axis is refused
    CHECK_MSG(from_keras("{\"class_name\": \"BatchNormalization\", \"config\": {\"axis\": [3]}}", err) == 0, "%s", err);
    CHECK(from_keras("{\"class_name\": \"BatchNormalization\", \"config\": {\"axis\": 1}}", err) != 0 &&
          strstr(err, "axis"));
    CHECK(from_keras("{\"class_name\": \"BatchNormalization\", \"config\": {\"center\": false}}", err) != 0 &&
          strstr(err, "center"));
    CHECK(from_keras("{\"class_name\": \"Dropout\", \"config\": {\"rate\": 0.1, \"noise_shape\": [null, 1, 1, 2]}}",
                     err) != 0 && strstr(err, "noise_shape"));
    CHECK_MSG(from_keras("{\"class_name\": \"Dropout\", \"config\": {\"rate\": 0.1, \"seed\": 42}}", err) == 0, "%s", err);
}

int main(void) {
    tmpdir_make("layers-bn");
    RUN(bn_grad_conv);
    RUN(bn_grad_one_channel);
    RUN(bn_grad_dense);
    RUN(dropout_grad);
    RUN(bn_keras_image);
    RUN(bn_keras_dense);
    RUN(keras_model_file);
    RUN(dropout_statistics);
    RUN(dropout_backward_mask);
    RUN(dropout_matches_hash);
    RUN(model_fixed_tensors);
    RUN(model_save_load);
    RUN(resume_equals_straight);
    RUN(threads_do_not_matter);
    RUN(catdog_bn_model);
    RUN(cfg_options);
    RUN(keras_options);
    cleanup();
    TEST_EXIT();
}
