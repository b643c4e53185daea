// test_layers.c: finite-difference gradient checks of every layer (conv2d, maxpool2d, dense,
// flatten, activation) and of the loss, plus Adam against a direct transcription of Keras's
// formula, the Glorot initialisation bounds, and training that does not depend on the
// number of threads.
//
// How the gradient check stays strict on a float implementation: the loss is L = sum(y * R)
// for a fixed random R, accumulated in double, so dL/dy = R is what backward receives. Conv,
// dense, flatten, max and relu are piecewise linear, so a central difference with a large step
// (h = 1e-2) is exact inside a linear piece and only float rounding of y remains (about 1e-6
// of L over 2h). A step that crosses a kink (a relu output changing sign, a different max
// winning) is detected by comparing the relu pattern / argmax of both probes with the base
// point, and that element is skipped; fewer than a quarter may be. Sigmoid is smooth: its
// central-difference error is h^2/6 |f'''| < 2e-5. Tolerance: 2e-3 + 2e-3 |want|.
#include <omp.h>

#include "../nn/adam.h"
#include "../nn/common.h"
#include "../nn/loss.h"
#include "../nn/model.h"
#include "../nn/rng.h"
#include "layer_call.h"
#include "test.h"

static void fill(rng *r, float *p, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_uniform_range(r, lo, hi);
}

// --- the gradient-check harness

typedef struct {
    const layer *l;
    const layer_ops *ops;
    int n;
    act_kind act;
    float *x, *w, *y, *r, *scratch;
    int32_t *aux;
    unsigned char *signs;     // relu signs of the base point
    int32_t *argmax;          // and its argmax (max pooling)
} probe;

// Runs forward at the current x, w; returns L = sum(y * R) in double and whether the piece
// (relu signs, argmax) is the base point's.
static double probe_loss(probe *p, int *same_piece) {
    const layer *l = p->l;
    size_t out = (size_t)p->n * shape3_size(l->out);
    layer_fwd(l, NULL, p->n, p->x, p->w, p->y, p->aux, p->act, p->scratch);
    double L = 0;
    for (size_t i = 0; i < out; i++) L += (double)p->y[i] * p->r[i];
    if (same_piece) {
        *same_piece = 1;
        for (size_t i = 0; i < out && p->act == ACT_RELU; i++)
            if ((p->y[i] > 0) != p->signs[i]) *same_piece = 0;
        size_t na = (size_t)p->n * l->aux_per_sample;
        for (size_t i = 0; i < na; i++)
            if (p->aux[i] != p->argmax[i]) *same_piece = 0;
    }
    return L;
}

// Checks analytic gradient g of L with respect to each element of v (count) by central
// differences; returns the number of elements skipped at kinks. Stops at the first failure.
static int check_fd(probe *p, float *v, size_t count, const float *g, const char *what,
                    const char *label) {
    const double h = 1e-2;
    int skipped = 0;
    for (size_t i = 0; i < count && !t_cur_failed; i++) {
        float keep = v[i];
        int same_p, same_m;
        v[i] = keep + (float)h;
        double hp = (double)v[i] - keep;
        double Lp = probe_loss(p, &same_p);
        v[i] = keep - (float)h;
        double hm = keep - (double)v[i];
        double Lm = probe_loss(p, &same_m);
        v[i] = keep;
        if (!same_p || !same_m) {
            skipped++;
            continue;
        }
        double fd = (Lp - Lm) / (hp + hm);
        if (!(fabs(g[i] - fd) <= 2e-3 + 2e-3 * fabs(fd)))
            FAILF("%s: d%s[%zu] = %.7g, finite difference %.7g", label, what, i, g[i], fd);
    }
    return skipped;
}

// Sets up the layer for input shape `in`, runs forward and backward on random data, and checks
// dx and dw (kernel and bias) against finite differences.
static void gradcheck(layer l, shape3 in, int n, const char *label) {
    const layer_ops *ops = layer_ops_of(l.kind);
    char err[NN_ERRLEN];
    if (layer_setup(&l, in, err) != 0) {
        FAILF("%s: setup failed: %s", label, err);
        return;
    }
    l.woff = 0;   // the model would place these in its arena: here kernel then bias
    l.boff = l.wsize;
    rng r;
    rng_seed(&r, 1234 + l.kind * 7 + in.h * 31 + in.w + l.act * 101);
    size_t nin = (size_t)n * shape3_size(l.in), nout = (size_t)n * shape3_size(l.out);
    size_t nw = l.wsize + l.bsize, na = (size_t)n * l.aux_per_sample;
    size_t ns = layer_scratch(&l, NULL, n);
    probe p = {&l, ops, n, l.act, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    p.x = nn_alloc(nin * sizeof(float), "x");
    p.w = nn_alloc((nw + 1) * sizeof(float), "w");
    p.y = nn_alloc(nout * sizeof(float), "y");
    p.r = nn_alloc(nout * sizeof(float), "R");
    p.scratch = ns ? nn_alloc(ns * sizeof(float), "scratch") : NULL;
    p.aux = na ? nn_alloc(na * sizeof(int32_t), "aux") : NULL;
    p.signs = nn_alloc(nout, "relu signs");
    p.argmax = nn_alloc((na + 1) * sizeof(int32_t), "argmax");
    float *dy = nn_alloc(nout * sizeof(float), "dy"), *dx = nn_alloc(nin * sizeof(float), "dx");
    float *dw = nn_alloc((nw + 1) * sizeof(float), "dw"), *dw2 = nn_alloc((nw + 1) * sizeof(float), "dw2");
    fill(&r, p.x, nin, -1, 1);
    fill(&r, p.w, nw, -0.5, 0.5);
    fill(&r, p.r, nout, -1, 1);

    probe_loss(&p, NULL);
    for (size_t i = 0; i < nout; i++) p.signs[i] = p.y[i] > 0;
    if (na) memcpy(p.argmax, p.aux, na * sizeof(int32_t));
    // Gradients are overwritten, not accumulated: start them as garbage.
    for (size_t i = 0; i < nin; i++) dx[i] = NAN;
    for (size_t i = 0; i < nw; i++) dw[i] = dw2[i] = 1e3f;
    memcpy(dy, p.r, nout * sizeof(float));
    layer_bwd(&l, NULL, n, p.x, p.w, p.y, dy, dx, dw, p.aux, l.act, p.scratch);
    // Without dx (the first layer) the parameter gradients are the same.
    memcpy(dy, p.r, nout * sizeof(float));
    layer_bwd(&l, NULL, n, p.x, p.w, p.y, dy, NULL, dw2, p.aux, l.act, p.scratch);
    check_arrays("dw without dx", dw2, dw, nw, 0, 0);

    int skipped = check_fd(&p, p.x, nin, dx, "x", label);
    skipped += check_fd(&p, p.w, l.wsize, dw, "kernel", label);
    skipped += check_fd(&p, p.w + l.wsize, l.bsize, dw + l.wsize, "bias", label);
    if (skipped * 4 > (int)(nin + nw))
        FAILF("%s: %d of %zu elements sat on a kink: the check proved too little", label, skipped,
              nin + nw);
    nn_free(p.x), nn_free(p.w), nn_free(p.y), nn_free(p.r), nn_free(p.scratch), nn_free(p.aux);
    nn_free(p.signs), nn_free(p.argmax), nn_free(dy), nn_free(dx), nn_free(dw), nn_free(dw2);
}

static layer conv(int filters, int k, int stride, pad_kind pad, act_kind act, int bias) {
    layer l;
    memset(&l, 0, sizeof l);
    l.kind = LAYER_CONV2D;
    l.filters = filters;
    l.kh = l.kw = k;
    l.sh = l.sw = stride;
    l.padding = pad;
    l.act = act;
    l.use_bias = bias;
    return l;
}

static layer pool(int k, int stride, pad_kind pad) {
    layer l;
    memset(&l, 0, sizeof l);
    l.kind = LAYER_MAXPOOL2D;
    l.kh = l.kw = k;
    l.sh = l.sw = stride;
    l.padding = pad;
    return l;
}

static shape3 img(int h, int w, int c) { return (shape3){h, w, c, 0}; }

// --- conv2d

static void conv2d_valid(void) { gradcheck(conv(4, 3, 1, PAD_VALID, ACT_LINEAR, 1), img(6, 7, 3), 2, "valid 3x3"); }
static void conv2d_same(void) { gradcheck(conv(3, 3, 1, PAD_SAME, ACT_LINEAR, 1), img(5, 6, 2), 2, "same 3x3"); }
static void conv2d_same_even_kernel(void) {
    // An even kernel pads unevenly: the odd pixel goes bottom/right, as in TensorFlow.
    gradcheck(conv(2, 4, 1, PAD_SAME, ACT_LINEAR, 1), img(7, 6, 2), 2, "same 4x4");
}
static void conv2d_stride2_valid(void) { gradcheck(conv(3, 3, 2, PAD_VALID, ACT_LINEAR, 1), img(9, 8, 2), 2, "valid stride 2"); }
static void conv2d_stride2_same(void) { gradcheck(conv(3, 3, 2, PAD_SAME, ACT_LINEAR, 1), img(7, 8, 3), 2, "same stride 2"); }
static void conv2d_rect_kernel_stride(void) {
    layer l = conv(3, 3, 1, PAD_SAME, ACT_LINEAR, 1);
    l.kh = 2, l.kw = 3, l.sh = 1, l.sw = 2;
    gradcheck(l, img(5, 7, 2), 2, "2x3 kernel, stride 1x2, same");
}
static void conv2d_no_bias(void) { gradcheck(conv(3, 3, 1, PAD_VALID, ACT_LINEAR, 0), img(5, 5, 2), 2, "no bias"); }
static void conv2d_relu(void) { gradcheck(conv(4, 3, 1, PAD_SAME, ACT_RELU, 1), img(6, 5, 3), 3, "relu"); }
static void conv2d_sigmoid(void) { gradcheck(conv(2, 3, 1, PAD_VALID, ACT_SIGMOID, 1), img(5, 6, 2), 2, "sigmoid"); }
static void conv2d_1x1(void) { gradcheck(conv(3, 1, 1, PAD_VALID, ACT_LINEAR, 1), img(3, 4, 5), 2, "1x1"); }
static void conv2d_one_sample(void) { gradcheck(conv(5, 3, 1, PAD_VALID, ACT_RELU, 1), img(7, 7, 2), 1, "one sample"); }

// --- maxpool2d

static void maxpool_2x2(void) { gradcheck(pool(2, 2, PAD_VALID), img(6, 8, 3), 2, "2x2"); }
static void maxpool_odd_valid(void) { gradcheck(pool(2, 2, PAD_VALID), img(7, 5, 2), 2, "2x2 on 7x5 (floor)"); }
static void maxpool_3x3_stride2(void) { gradcheck(pool(3, 2, PAD_VALID), img(9, 7, 2), 2, "3x3 stride 2"); }
static void maxpool_same(void) { gradcheck(pool(2, 2, PAD_SAME), img(7, 5, 3), 2, "2x2 same"); }
static void maxpool_3x3_same(void) { gradcheck(pool(3, 2, PAD_SAME), img(6, 7, 2), 2, "3x3 stride 2 same"); }
static void maxpool_stride_over_window(void) { gradcheck(pool(2, 3, PAD_VALID), img(8, 7, 2), 2, "2x2 stride 3 (gaps)"); }
static void maxpool_2x2_same_odd(void) {
    layer l = pool(2, 2, PAD_SAME);
    l.kw = l.sw = 3;
    gradcheck(l, img(5, 7, 3), 2, "2x3 same on 5x7");
}

// Padding never wins a max, even when every real value in the window is negative.
static void maxpool_same_negative(void) {
    layer l = pool(2, 2, PAD_SAME);
    char err[NN_ERRLEN];
    CHECK(layer_setup(&l, img(3, 3, 1), err) == 0);
    float x[9], y[4];
    int32_t aux[4];
    for (int i = 0; i < 9; i++) x[i] = -1.0f - i;
    layer_fwd(&l, NULL, 1, x, NULL, y, aux, ACT_LINEAR, NULL);
    float want[4] = {-1, -3, -7, -9};   // windows {0,1,3,4}, {2,5}, {6,7}, {8}
    CHECK(check_arrays("pool of negatives", y, want, 4, 0, 0));
    int32_t wa[4] = {0, 2, 6, 8};
    for (int i = 0; i < 4; i++) CHECK(aux[i] == wa[i]);
}

// Ties: the first maximum in scan order wins (PyTorch), and gets the whole gradient.
static void maxpool_ties(void) {
    layer l = pool(2, 2, PAD_VALID);
    char err[NN_ERRLEN];
    CHECK(layer_setup(&l, img(2, 2, 1), err) == 0);
    float x[4] = {1, 3, 3, 3}, y[1], dy[1] = {1}, dx[4];
    int32_t aux[1];
    layer_fwd(&l, NULL, 1, x, NULL, y, aux, ACT_LINEAR, NULL);
    layer_bwd(&l, NULL, 1, x, NULL, y, dy, dx, NULL, aux, ACT_LINEAR, NULL);
    CHECK(y[0] == 3 && aux[0] == 1);
    float want[4] = {0, 1, 0, 0};
    CHECK(check_arrays("tie gradient", dx, want, 4, 0, 0));
}

// --- dense, flatten, activation

static layer dense(int units, act_kind act, int bias) {
    layer l;
    memset(&l, 0, sizeof l);
    l.kind = LAYER_DENSE;
    l.units = units;
    l.act = act;
    l.use_bias = bias;
    return l;
}
static shape3 vec(int c) { return (shape3){1, 1, c, 1}; }

static void dense_linear(void) { gradcheck(dense(5, ACT_LINEAR, 1), vec(7), 3, "dense linear"); }
static void dense_relu(void) { gradcheck(dense(6, ACT_RELU, 1), vec(9), 4, "dense relu"); }
static void dense_sigmoid(void) { gradcheck(dense(1, ACT_SIGMOID, 1), vec(11), 3, "dense sigmoid"); }
static void dense_no_bias(void) { gradcheck(dense(3, ACT_LINEAR, 0), vec(4), 2, "dense no bias"); }
static void dense_wide(void) { gradcheck(dense(33, ACT_RELU, 1), vec(40), 5, "dense 40 -> 33"); }

static void flatten_grad(void) {
    layer l;
    memset(&l, 0, sizeof l);
    l.kind = LAYER_FLATTEN;
    gradcheck(l, img(3, 4, 2), 2, "flatten");
}

static void activation_layers(void) {
    act_kind acts[3] = {ACT_LINEAR, ACT_RELU, ACT_SIGMOID};
    for (int i = 0; i < 3; i++) {
        layer l;
        memset(&l, 0, sizeof l);
        l.kind = LAYER_ACTIVATION;
        l.act = acts[i];
        gradcheck(l, img(3, 3, 2), 2, act_name(acts[i]));
    }
}

// Flatten keeps NHWC order (Keras): element (h, w, c) lands at (h*W + w)*C + c.
static void flatten_order(void) {
    layer l;
    memset(&l, 0, sizeof l);
    l.kind = LAYER_FLATTEN;
    char err[NN_ERRLEN];
    CHECK(layer_setup(&l, img(2, 3, 2), err) == 0);
    CHECK(l.out.flat && l.out.c == 12);
    float x[12], y[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    layer_fwd(&l, NULL, 1, x, NULL, y, NULL, ACT_LINEAR, NULL);
    CHECK(check_arrays("flatten", y, x, 12, 0, 0));
}

// --- the loss

static void bce_gradient(void) {
    rng r;
    rng_seed(&r, 77);
    enum { N = 9 };
    float z[N], y[N], dz[N];
    fill(&r, z, N, -4, 4);
    for (int i = 0; i < N; i++) y[i] = (float)(rng_below(&r, 2));
    y[0] = 0.3f;   // soft labels follow the same formula
    bce_logits(N, z, y, dz);
    for (int i = 0; i < N; i++) {
        // float output: a step of 1e-2 keeps rounding (1e-7 of L) far below the tolerance
        float keep = z[i];
        z[i] = keep + 1e-2f;
        double hp = (double)z[i] - keep, Lp = bce_logits(N, z, y, NULL);
        z[i] = keep - 1e-2f;
        double hm = keep - (double)z[i], Lm = bce_logits(N, z, y, NULL);
        z[i] = keep;
        double fd = (Lp - Lm) / (hp + hm);
        CHECK_CLOSE(dz[i], fd, 1e-4, 2e-3);
        // and against the closed form (sigmoid(z) - y) / N, evaluated in double
        CHECK_CLOSE(dz[i], (1.0 / (1.0 + exp(-(double)z[i])) - y[i]) / N, 1e-7, 1e-5);
    }
    // the loss itself against -[y log s + (1-y) log(1-s)] in double for moderate z
    double want = 0;
    for (int i = 0; i < N; i++) {
        double s = 1.0 / (1.0 + exp(-(double)z[i]));
        want -= y[i] * log(s) + (1 - y[i]) * log(1 - s);
    }
    CHECK_CLOSE(bce_logits(N, z, y, NULL), want / N, 1e-6, 1e-6);
}

// Saturated logits: the naive formula takes log(0) (inf) here; the stable one gives the limit
// -log(sigmoid(-|z|)) = |z| + log1p(exp(-|z|)) for a wrong answer and ~0 for a right one, and
// gradients of exactly +-1/N and 0.
static void bce_saturated(void) {
    float z[4] = {100, -100, 100, -100}, y[4] = {0, 1, 1, 0}, dz[4];
    float L = bce_logits(4, z, y, dz);
    CHECK(isfinite(L));
    CHECK_CLOSE(L, (100.0 + 100.0) / 4, 1e-5, 1e-6);
    CHECK_CLOSE(dz[0], 0.25, 1e-7, 0);
    CHECK_CLOSE(dz[1], -0.25, 1e-7, 0);
    CHECK_CLOSE(dz[2], 0.0, 1e-7, 0);
    CHECK_CLOSE(dz[3], 0.0, 1e-7, 0);
    CHECK(binary_correct(4, z, y) == 2);
    float big[2] = {1e30f, -1e30f}, lab[2] = {0, 0};
    CHECK(isfinite(bce_logits(2, big, lab, dz)) && isfinite(dz[0]) && isfinite(dz[1]));
}

// --- Adam

// Keras 3's update written out in double, step by step, beside the float arena pass.
static void adam_matches_keras(void) {
    enum { N = 257 };
    rng r;
    rng_seed(&r, 5);
    float w[N], g[N], m[N], v[N];
    double wd[N], md[N] = {0}, vd[N] = {0};
    fill(&r, w, N, -1, 1);
    for (int i = 0; i < N; i++) wd[i] = w[i];
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    adam_cfg c = adam_defaults();
    CHECK(c.lr == 0.001f && c.beta1 == 0.9f && c.beta2 == 0.999f && c.epsilon == 1e-7f);
    for (long t = 1; t <= 5; t++) {
        fill(&r, g, N, -1, 1);
        g[0] = 0.0f;              // a zero gradient: v stays 0, epsilon keeps the step finite
        g[1] = 1e-6f;             // tiny gradients: where epsilon's place matters
        adam_step(&c, t, N, w, g, m, v);
        double alpha = 0.001 * sqrt(1 - pow(0.999, (double)t)) / (1 - pow(0.9, (double)t));
        for (int i = 0; i < N; i++) {
            md[i] += (g[i] - md[i]) * (1 - 0.9);
            vd[i] += ((double)g[i] * g[i] - vd[i]) * (1 - 0.999);
            wd[i] -= alpha * md[i] / (sqrt(vd[i]) + 1e-7);
        }
    }
    float wf[N], mf[N], vf[N];
    for (int i = 0; i < N; i++) wf[i] = (float)wd[i], mf[i] = (float)md[i], vf[i] = (float)vd[i];
    check_arrays("adam m", m, mf, N, 1e-9, 1e-5);
    check_arrays("adam v", v, vf, N, 1e-12, 1e-5);
    check_arrays("adam w", w, wf, N, 1e-7, 1e-6);
}

// --- initialisation

static void glorot_bounds(void) {
    model m;
    char err[NN_ERRLEN];
    int rc = model_parse_cfg(&m,
                             "input 12 12 3\nconv2d filters=8 kernel=3 activation=relu\n"
                             "maxpool2d\nflatten\ndense units=16 activation=relu\n"
                             "dense units=1 activation=sigmoid\n",
                             "test.cfg", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc) return;
    for (size_t i = 0; i < m.nparams; i++) m.w[i] = NAN;
    model_init_weights(&m, 42);
    for (int li = 0; li < m.nlayers; li++) {
        const layer *l = &m.layers[li];
        if (!l->wsize) continue;
        double fan_in = l->kind == LAYER_CONV2D ? (double)l->kh * l->kw * l->in.c : l->in.c;
        double fan_out = l->kind == LAYER_CONV2D ? (double)l->kh * l->kw * l->filters : l->units;
        double limit = sqrt(6.0 / (fan_in + fan_out)), lo = 1e9, hi = -1e9, sum = 0;
        const float *k = m.w + l->woff;
        for (size_t j = 0; j < l->wsize; j++) {
            lo = fmin(lo, k[j]);
            hi = fmax(hi, k[j]);
            sum += k[j];
        }
        CHECK_MSG(lo >= -limit && hi <= limit, "%s: kernel in [%g, %g], limit %g", l->name, lo, hi, limit);
        if (l->wsize >= 100) {   // uniform over the whole range, centred
            CHECK_MSG(hi > 0.9 * limit && lo < -0.9 * limit, "%s: [%g, %g] does not fill +-%g", l->name, lo, hi, limit);
            CHECK_MSG(fabs(sum / l->wsize) < 0.1 * limit, "%s: mean %g", l->name, sum / l->wsize);
        }
        for (size_t j = 0; j < l->bsize; j++) CHECK(m.w[l->boff + j] == 0.0f);
    }
    // seeded: the same seed gives the same weights, another seed others
    float *first = nn_alloc(m.nparams * sizeof(float), "copy");
    memcpy(first, m.w, m.nparams * sizeof(float));
    model_init_weights(&m, 42);
    CHECK(memcmp(first, m.w, m.nparams * sizeof(float)) == 0);
    model_init_weights(&m, 43);
    CHECK(memcmp(first, m.w, m.nparams * sizeof(float)) != 0);
    nn_free(first);
    model_free(&m);
}

// --- reproducibility

// Training gives the same bits with 1 thread and with 2: every sum (sgemm, split-K chunks,
// conv's per-sample weight gradients) runs in an order fixed by the shapes alone. The model
// is big enough (flatten 8192) for dense forward to take sgemm's split-K path.
static void same_bits_any_thread_count(void) {
    const char *cfg = "input 66 34 3\nconv2d filters=16 kernel=3 padding=same activation=relu\n"
                      "maxpool2d\nflatten\ndense units=16 activation=relu\n"
                      "dense units=1 activation=sigmoid\n";
    enum { N = 6 };
    model m[2];
    float loss[2][2];
    nn_ctx ctx = nn_ctx_cpu();
    adam_cfg opt = adam_defaults();
    int saved = omp_get_max_threads();
    rng r;
    float *x = nn_alloc((size_t)N * 66 * 34 * 3 * sizeof(float), "x"), y[N] = {0, 1, 1, 0, 1, 0};
    for (int k = 0; k < 2; k++) {
        char err[NN_ERRLEN];
        if (model_parse_cfg(&m[k], cfg, "t.cfg", err) != 0) {
            FAILF("%s", err);
            return;
        }
        model_init_weights(&m[k], 9);
        rng_seed(&r, 10);
        fill(&r, x, (size_t)N * 66 * 34 * 3, 0, 1);
        omp_set_num_threads(k + 1);
        for (int s = 0; s < 2; s++) loss[k][s] = model_train_step(&m[k], &ctx, N, x, y, &opt, NULL);
    }
    omp_set_num_threads(saved);
    CHECK(loss[0][0] == loss[1][0] && loss[0][1] == loss[1][1]);
    CHECK(memcmp(m[0].w, m[1].w, m[0].nparams * sizeof(float)) == 0);
    CHECK(memcmp(m[0].g, m[1].g, m[0].nparams * sizeof(float)) == 0);
    CHECK(memcmp(m[0].v, m[1].v, m[0].nparams * sizeof(float)) == 0);
    model_free(&m[0]);
    model_free(&m[1]);
    nn_free(x);
}

int main(void) {
    RUN(conv2d_valid);
    RUN(conv2d_same);
    RUN(conv2d_same_even_kernel);
    RUN(conv2d_stride2_valid);
    RUN(conv2d_stride2_same);
    RUN(conv2d_rect_kernel_stride);
    RUN(conv2d_no_bias);
    RUN(conv2d_relu);
    RUN(conv2d_sigmoid);
    RUN(conv2d_1x1);
    RUN(conv2d_one_sample);
    RUN(maxpool_2x2);
    RUN(maxpool_odd_valid);
    RUN(maxpool_3x3_stride2);
    RUN(maxpool_same);
    RUN(maxpool_3x3_same);
    RUN(maxpool_stride_over_window);
    RUN(maxpool_2x2_same_odd);
    RUN(maxpool_same_negative);
    RUN(maxpool_ties);
    RUN(dense_linear);
    RUN(dense_relu);
    RUN(dense_sigmoid);
    RUN(dense_no_bias);
    RUN(dense_wide);
    RUN(flatten_grad);
    RUN(flatten_order);
    RUN(activation_layers);
    RUN(bce_gradient);
    RUN(bce_saturated);
    RUN(adam_matches_keras);
    RUN(glorot_bounds);
    RUN(same_bits_any_thread_count);
    TEST_EXIT();
}
