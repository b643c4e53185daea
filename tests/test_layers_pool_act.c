// test_layers_pool_act.c: the pooling and activation layers of issue 14 (avgpool2d,
// globalavgpool, leakyrelu) and the tanh / softmax / leaky_relu activations inside activation,
// dense and conv2d:
//  - finite-difference gradient checks of each (test_layers.c's method: L = sum(y * R) in
//    double, central differences with h = 1e-2, elements whose probes cross a kink of leaky
//    ReLU skipped; tanh and softmax are smooth, their h^2 error is far below the tolerance
//    2e-3 + 2e-3 |want|);
//  - Keras 3's forward outputs and tf.GradientTape gradients on random inputs
//    (tests/fixtures/pool_act_layers.txt, made by tests/oracles/pool_act_keras.py), each case
//    built from its cfg line: y to 1e-5 + 1e-5 |want|, gradients to 1e-5 + 1e-4 |want|;
//  - a Keras 3 model of these layers saved with model.save('x.h5') (keras_pool_act.h5): nn
//    loads it, predicts Keras's output vectors to 1e-5, writes the same model_config Keras
//    wrote, and its own .h5 of the model loads back bit for bit;
//  - Keras configs nn must read (tf.keras 2's LeakyReLU alpha) or refuse (keepdims, a negative
//    slope, channels_first), and cfg lines with bad values, each one line naming the place.
#include <cjson/cJSON.h>
#include <hdf5.h>

#include "../nn/common.h"
#include "../nn/h5.h"
#include "../nn/keras_json.h"
#include "../nn/model.h"
#include "../nn/rng.h"
#include "../nn/step.h"
#include "layer_call.h"
#include "test.h"
#include "test_tmpdir.h"

static void fill(rng *r, float *p, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) p[i] = (float)rng_uniform_range(r, lo, hi);
}

static shape3 img(int h, int w, int c) { return (shape3){h, w, c, 0}; }
static shape3 vec(int c) { return (shape3){1, 1, c, 1}; }

// --- the gradient-check harness (as tests/test_layers.c's)

typedef struct {
    const layer *l;
    int n;
    float *x, *w, *y, *r, *scratch;
    unsigned char *signs;   // sign of each output at the base point (leaky ReLU's pieces)
    int kinked;             // 1: the layer has a kink at 0 (leaky ReLU, as a layer or activation)
} probe;

static double probe_loss(probe *p, int *same_piece) {
    const layer *l = p->l;
    size_t out = (size_t)p->n * shape3_size(l->out);
    layer_fwd(l, NULL, p->n, p->x, p->w, p->y, NULL, l->act, p->scratch);
    double L = 0;
    for (size_t i = 0; i < out; i++) L += (double)p->y[i] * p->r[i];
    if (same_piece) {
        *same_piece = 1;
        for (size_t i = 0; i < out && p->kinked; i++)
            if ((p->y[i] > 0) != p->signs[i]) *same_piece = 0;
    }
    return L;
}

static int check_fd(probe *p, float *v, size_t count, const float *g, const char *what,
                    const char *label) {
    const double h = 1e-2;
    int skipped = 0;
    for (size_t i = 0; i < count && !t_cur_failed; i++) {
        float keep = v[i];
        int same_p, same_m;
        v[i] = keep + (float)h;
        double hp = (double)v[i] - keep, Lp = probe_loss(p, &same_p);
        v[i] = keep - (float)h;
        double hm = keep - (double)v[i], Lm = probe_loss(p, &same_m);
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

static void gradcheck(layer l, shape3 in, int n, const char *label) {
    char err[NN_ERRLEN];
    if (layer_setup(&l, in, err) != 0) {
        FAILF("%s: setup failed: %s", label, err);
        return;
    }
    l.woff = 0;
    l.boff = l.wsize;
    rng r;
    rng_seed(&r, 4321 + l.kind * 7 + in.h * 31 + in.w + l.act * 101);
    size_t nin = (size_t)n * shape3_size(l.in), nout = (size_t)n * shape3_size(l.out);
    size_t nw = l.wsize + l.bsize, ns = layer_scratch(&l, NULL, n);
    probe p = {&l, n, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    p.kinked = l.kind == LAYER_LEAKYRELU || l.act == ACT_LEAKY_RELU;
    p.x = nn_alloc(nin * sizeof(float), "x");
    p.w = nn_alloc((nw + 1) * sizeof(float), "w");
    p.y = nn_alloc(nout * sizeof(float), "y");
    p.r = nn_alloc(nout * sizeof(float), "R");
    p.scratch = ns ? nn_alloc(ns * sizeof(float), "scratch") : NULL;
    p.signs = nn_alloc(nout, "signs");
    float *dy = nn_alloc(nout * sizeof(float), "dy"), *dx = nn_alloc(nin * sizeof(float), "dx");
    float *dw = nn_alloc((nw + 1) * sizeof(float), "dw"), *dw2 = nn_alloc((nw + 1) * sizeof(float), "dw2");
    fill(&r, p.x, nin, -1, 1);
    fill(&r, p.w, nw, -0.5, 0.5);
    fill(&r, p.r, nout, -1, 1);

    probe_loss(&p, NULL);
    for (size_t i = 0; i < nout; i++) p.signs[i] = p.y[i] > 0;
    for (size_t i = 0; i < nin; i++) dx[i] = NAN;   // gradients are overwritten, not accumulated
    for (size_t i = 0; i < nw; i++) dw[i] = dw2[i] = 1e3f;
    memcpy(dy, p.r, nout * sizeof(float));
    layer_bwd(&l, NULL, n, p.x, p.w, p.y, dy, dx, dw, NULL, l.act, p.scratch);
    memcpy(dy, p.r, nout * sizeof(float));
    layer_bwd(&l, NULL, n, p.x, p.w, p.y, dy, NULL, dw2, NULL, l.act, p.scratch);
    check_arrays("dw without dx", dw2, dw, nw, 0, 0);

    int skipped = check_fd(&p, p.x, nin, dx, "x", label);
    skipped += check_fd(&p, p.w, l.wsize, dw, "kernel", label);
    skipped += check_fd(&p, p.w + l.wsize, l.bsize, dw + l.wsize, "bias", label);
    if (skipped * 4 > (int)(nin + nw))
        FAILF("%s: %d of %zu elements sat on a kink: the check proved too little", label, skipped, nin + nw);
    nn_free(p.x), nn_free(p.w), nn_free(p.y), nn_free(p.r), nn_free(p.scratch), nn_free(p.signs);
    nn_free(dy), nn_free(dx), nn_free(dw), nn_free(dw2);
}

static layer avgpool(int kh, int kw, int sh, int sw, pad_kind pad) {
    layer l;
    layer_defaults(&l, LAYER_AVGPOOL2D);
    l.kh = kh, l.kw = kw, l.sh = sh, l.sw = sw, l.padding = pad;
    return l;
}

static layer of_kind(layer_kind k, act_kind act) {
    layer l;
    layer_defaults(&l, k);
    l.act = act;
    return l;
}

// --- gradient checks

static void grad_avgpool(void) {
    gradcheck(avgpool(2, 2, 0, 0, PAD_VALID), img(7, 5, 3), 2, "2x2 on 7x5 (floor)");
    gradcheck(avgpool(3, 3, 1, 1, PAD_VALID), img(6, 7, 2), 2, "3x3 stride 1 (overlap)");
    gradcheck(avgpool(3, 3, 2, 2, PAD_SAME), img(7, 6, 3), 2, "3x3 stride 2 same");
    gradcheck(avgpool(2, 2, 3, 3, PAD_SAME), img(8, 7, 2), 2, "2x2 stride 3 same (gaps)");
    gradcheck(avgpool(2, 3, 1, 2, PAD_SAME), img(5, 7, 4), 2, "2x3 stride 1x2 same");
    gradcheck(avgpool(1, 1, 2, 2, PAD_VALID), img(5, 5, 2), 1, "1x1 stride 2");
    gradcheck(avgpool(3, 3, 3, 3, PAD_SAME), img(7, 8, 1), 3, "3x3 stride 3 same");
}

static void grad_globalavgpool(void) {
    gradcheck(of_kind(LAYER_GLOBALAVGPOOL, ACT_LINEAR), img(5, 7, 3), 3, "globalavgpool 5x7x3");
    gradcheck(of_kind(LAYER_GLOBALAVGPOOL, ACT_LINEAR), img(1, 1, 4), 2, "globalavgpool 1x1x4");
}

static void grad_leakyrelu(void) {
    const float alphas[4] = {0.3f, 0.1f, 0.0f, 1.5f};
    for (int i = 0; i < 4; i++) {
        layer l = of_kind(LAYER_LEAKYRELU, ACT_LINEAR);
        l.alpha = alphas[i];
        char label[64];
        snprintf(label, sizeof label, "leakyrelu alpha=%g", alphas[i]);
        gradcheck(l, img(3, 4, 3), 2, label);
    }
}

static void grad_activation(void) {
    const act_kind acts[3] = {ACT_TANH, ACT_SOFTMAX, ACT_LEAKY_RELU};
    for (int i = 0; i < 3; i++) {
        gradcheck(of_kind(LAYER_ACTIVATION, acts[i]), img(3, 3, 5), 2, act_name(acts[i]));
        gradcheck(of_kind(LAYER_ACTIVATION, acts[i]), vec(7), 3, act_name(acts[i]));
    }
}

static layer dense(int units, act_kind act) {
    layer l = of_kind(LAYER_DENSE, act);
    l.units = units;
    return l;
}

static layer conv(int filters, int k, int stride, pad_kind pad, act_kind act) {
    layer l = of_kind(LAYER_CONV2D, act);
    l.filters = filters, l.kh = l.kw = k, l.sh = l.sw = stride, l.padding = pad;
    return l;
}

static void grad_dense(void) {
    gradcheck(dense(5, ACT_TANH), vec(7), 3, "dense tanh");
    gradcheck(dense(4, ACT_SOFTMAX), vec(6), 3, "dense softmax");
    gradcheck(dense(1, ACT_SOFTMAX), vec(5), 2, "dense softmax of one unit");
    gradcheck(dense(6, ACT_LEAKY_RELU), vec(9), 4, "dense leaky_relu");
}

static void grad_conv2d(void) {
    gradcheck(conv(5, 3, 1, PAD_SAME, ACT_TANH), img(6, 5, 2), 2, "conv2d tanh");
    gradcheck(conv(4, 2, 2, PAD_VALID, ACT_SOFTMAX), img(5, 6, 3), 2, "conv2d softmax");
    gradcheck(conv(3, 3, 1, PAD_VALID, ACT_LEAKY_RELU), img(5, 5, 2), 2, "conv2d leaky_relu");
}

// The whole walk (nn/step.c) through the new kinds: leakyrelu's gradient goes in place, the
// pools' through the ping-pong buffers. Parameter gradients of L = sum(out * R) by
// model_backward against central differences of model_forward (every other parameter; a probe
// that flips the sign of a leaky ReLU input is skipped).
static void grad_model_walk(void) {
    const char *cfg = "input 9 8 2\nconv2d filters=3 kernel=3 padding=same activation=tanh\n"
                      "avgpool2d pool=2 padding=same\nleakyrelu alpha=0.2\n"
                      "conv2d filters=4 kernel=2 activation=softmax\nglobalavgpool\n"
                      "dense units=5 activation=softmax\nactivation fn=tanh\ndense units=2\n";
    enum { N = 3, LEAKY = 2 };
    model m;
    char err[NN_ERRLEN];
    if (model_parse_cfg(&m, cfg, "walk.cfg", err) != 0) {
        FAILF("%s", err);
        return;
    }
    model_init_weights(&m, 5);
    nn_ctx ctx = {.backend = NN_CPU, .seed = 1};
    rng r;
    rng_seed(&r, 99);
    size_t in = shape3_size(m.input), out = model_output_size(&m);
    size_t na = N * shape3_size(m.layers[LEAKY].out);
    float *x = nn_alloc(N * in * sizeof(float), "x"), R[N * 2], *g = nn_alloc(m.nparams * sizeof(float), "g");
    unsigned char *sign = nn_alloc(na, "signs");
    fill(&r, x, N * in, 0, 1);
    fill(&r, R, N * out, -1, 1);
    for (size_t i = 0; i < m.nparams; i++) m.w[i] = m.w[i] * 3 + 0.05f;   // Glorot's scale leaves softmax flat
    model_forward(&m, &ctx, N, x, 1);
    for (size_t j = 0; j < na; j++) sign[j] = m.host->y[LEAKY][j] > 0;
    model_backward(&m, &ctx, N, x, R);
    memcpy(g, m.g, m.nparams * sizeof(float));
    int skipped = 0, checked = 0;
    for (size_t i = 0; i < m.nparams && !t_cur_failed; i += 2) {
        float keep = m.w[i];
        double L[2], hh[2];
        int same = 1;
        for (int k = 0; k < 2; k++) {
            m.w[i] = keep + (k ? -1e-2f : 1e-2f);
            hh[k] = fabs((double)m.w[i] - keep);
            const float *y = model_forward(&m, &ctx, N, x, 1);
            L[k] = 0;
            for (size_t j = 0; j < N * out; j++) L[k] += (double)y[j] * R[j];
            for (size_t j = 0; j < na; j++) same &= (m.host->y[LEAKY][j] > 0) == sign[j];
        }
        m.w[i] = keep;
        if (!same) {
            skipped++;
            continue;
        }
        double fd = (L[0] - L[1]) / (hh[0] + hh[1]);
        checked++;
        if (!(fabs(g[i] - fd) <= 1e-3 + 5e-3 * fabs(fd)))
            FAILF("parameter %zu of %zu: %.7g, finite difference %.7g", i, m.nparams, g[i], fd);
    }
    CHECK_MSG(checked > 60 && skipped * 4 < checked, "%d parameters checked, %d skipped", checked, skipped);
    nn_free(x), nn_free(g), nn_free(sign);
    model_free(&m);
}

// --- Keras's values (tests/fixtures/pool_act_layers.txt)

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = nn_alloc((size_t)n + 1, "file");
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    if (len) *len = got;
    return buf;
}

// "name COUNT v..." at *p: the values into a new array; NULL when the line is not that.
static float *read_array(char **p, const char *name, size_t *count) {
    char *s = *p;
    size_t nl = strlen(name);
    if (strncmp(s, name, nl) || s[nl] != ' ') return NULL;
    char *end;
    long c = strtol(s + nl, &end, 10);
    if (c < 0) return NULL;
    float *a = nn_alloc(((size_t)c + 1) * sizeof(float), name);
    for (long i = 0; i < c; i++) a[i] = strtof(end, &end);
    while (*end && *end != '\n') end++;
    *p = *end ? end + 1 : end;
    *count = (size_t)c;
    return a;
}

// One fixture case: the layer built from its cfg line (after a flatten for a flat input), run
// forward and backward on Keras's x, w and R.
static int keras_case(char **p, int *ncases) {
    char *s = *p, line[256];
    if (strncmp(s, "case ", 5)) return 0;
    char *nl = strchr(s, '\n');
    if (!nl || nl - s - 5 >= (long)sizeof line) {
        FAILF("bad case line");
        return 0;
    }
    memcpy(line, s + 5, nl - s - 5);
    line[nl - s - 5] = 0;
    int n, h, w, c;
    if (sscanf(nl + 1, "in %d %d %d %d", &n, &h, &w, &c) != 4) {
        FAILF("%s: no 'in' line", line);
        return 0;
    }
    *p = strchr(nl + 1, '\n') + 1;
    size_t nx, nwt, nr, ny, ndx, ndw;
    float *x = read_array(p, "x", &nx), *wt = read_array(p, "w", &nwt), *r = read_array(p, "r", &nr);
    float *y = read_array(p, "y", &ny), *dx = read_array(p, "dx", &ndx), *dw = read_array(p, "dw", &ndw);
    if (!x || !wt || !r || !y || !dx || !dw || strncmp(*p, "end", 3)) {
        FAILF("%s: malformed case", line);
        return 0;
    }
    *p += 4;
    char cfg[512];
    int flat = !strncmp(line, "dense", 5);
    snprintf(cfg, sizeof cfg, "input %d %d %d\n%s%s\n", h, w, c, flat ? "flatten\n" : "", line);
    model m;
    char err[NN_ERRLEN];
    if (model_parse_cfg(&m, cfg, "case", err) != 0) {
        FAILF("%s: %s", line, err);
        return 0;
    }
    const layer *l = &m.layers[m.nlayers - 1];
    size_t nin = (size_t)n * shape3_size(l->in), nout = (size_t)n * shape3_size(l->out), np = layer_nparams(l);
    if (nx != nin || ny != nout || nr != nout || ndx != nin || nwt != np || ndw != np) {
        FAILF("%s: sizes x %zu y %zu w %zu, the layer has %zu, %zu, %zu", line, nx, ny, nwt, nin, nout, np);
    } else {
        memcpy(m.w + l->woff, wt, np * sizeof(float));
        float *got = nn_alloc((nout + 1) * sizeof(float), "y"), *gdy = nn_alloc((nout + 1) * sizeof(float), "dy");
        float *gdx = nn_alloc((nin + 1) * sizeof(float), "dx"), *gdw = nn_alloc((np + 1) * sizeof(float), "dw");
        size_t ns = layer_scratch(l, NULL, n);
        float *ws = ns ? nn_alloc(ns * sizeof(float), "scratch") : NULL;
        layer_fwd(l, NULL, n, x, m.w + l->woff, got, NULL, l->act, ws);
        char what[320];
        snprintf(what, sizeof what, "%s: y", line);
        check_arrays(what, got, y, nout, 1e-5, 1e-5);
        memcpy(gdy, r, nout * sizeof(float));
        layer_bwd(l, NULL, n, x, m.w + l->woff, got, gdy, gdx, gdw, NULL, l->act, ws);
        snprintf(what, sizeof what, "%s: dx", line);
        check_arrays(what, gdx, dx, nin, 1e-5, 1e-4);
        snprintf(what, sizeof what, "%s: dw", line);
        check_arrays(what, gdw, dw, np, 1e-5, 1e-4);
        nn_free(got), nn_free(gdy), nn_free(gdx), nn_free(gdw), nn_free(ws);
        (*ncases)++;
    }
    model_free(&m);
    nn_free(x), nn_free(wt), nn_free(r), nn_free(y), nn_free(dx), nn_free(dw);
    return !t_cur_failed;
}

static void keras_layer_values(void) {
    const char *path = "tests/fixtures/pool_act_layers.txt";
    char *text = read_file(path, NULL);
    if (!text) {
        FAILF("cannot read %s", path);
        return;
    }
    int ncases = 0;
    for (char *p = text; *p && !t_cur_failed;) {
        if (*p == '#' || *p == '\n') {
            char *nl = strchr(p, '\n');
            p = nl ? nl + 1 : p + strlen(p);
        } else if (!keras_case(&p, &ncases)) {
            if (!t_cur_failed) FAILF("unexpected text at byte %ld", (long)(p - text));
        }
    }
    CHECK_MSG(ncases == 26, "%d cases read, the fixture has 26", ncases);
    nn_free(text);
}

// --- a Keras 3 model of these layers (tests/fixtures/keras_pool_act.h5)

#define KP_MODEL "tests/fixtures/keras_pool_act.h5"
#define KP_PRED "tests/fixtures/keras_pool_act_pred.txt"
enum { KP_N = 4 };

// The fixed inputs of tests/oracles/keras_make_fixture.py: ((3i^2 + 37i + 11) % 251) / 250.
static void fixed_inputs(int n, size_t per, float *x) {
    for (long i = 0; i < (long)(n * per); i++) x[i] = (float)((3 * i * i + 37 * i + 11) % 251) / 250.0f;
}

static int read_values(const char *path, float *p, int n) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    int k = 0;
    while (k < n && fgets(line, sizeof line, f))
        if (line[0] != '#') p[k++] = strtof(line, NULL);
    fclose(f);
    return k == n ? 0 : -1;
}

// Predictions (n, out) on the fixed inputs into a new array.
static float *predict_fixed(model *m, int n) {
    size_t per = shape3_size(m->input), out = model_output_size(m);
    float *x = nn_alloc(n * per * sizeof(float), "x"), *y = nn_alloc(n * out * sizeof(float), "y");
    fixed_inputs(n, per, x);
    nn_ctx ctx = {.backend = NN_CPU, .seed = 1};
    model_predict(m, &ctx, n, x, y);
    nn_free(x);
    return y;
}

static void keras_model_predicts(void) {
    model m;
    char err[NN_ERRLEN];
    if (model_load_h5(&m, KP_MODEL, err) != 0) {
        FAILF("%s", err);
        return;
    }
    const layer_kind kinds[11] = {LAYER_CONV2D, LAYER_AVGPOOL2D, LAYER_LEAKYRELU, LAYER_CONV2D,
                                  LAYER_AVGPOOL2D, LAYER_ACTIVATION, LAYER_CONV2D,
                                  LAYER_GLOBALAVGPOOL, LAYER_DENSE, LAYER_LEAKYRELU, LAYER_DENSE};
    CHECK_MSG(m.nlayers == 11, "%d layers", m.nlayers);
    for (int i = 0; i < m.nlayers && i < 11; i++) CHECK_MSG(m.layers[i].kind == kinds[i], "layer %d is %s", i, m.layers[i].name);
    if (t_cur_failed) return model_free(&m);
    CHECK(!strcmp(m.layers[2].name, "leaky_re_lu") && m.layers[2].alpha == 0.1f);
    CHECK(!strcmp(m.layers[9].name, "leaky_re_lu_1") && m.layers[9].alpha == 0.3f);
    CHECK(m.layers[4].kh == 3 && m.layers[4].sh == 2 && m.layers[4].padding == PAD_SAME);
    CHECK(m.layers[1].kh == 2 && m.layers[1].sh == 2 && m.layers[1].padding == PAD_VALID);
    CHECK(m.layers[3].act == ACT_LEAKY_RELU && m.layers[5].act == ACT_TANH && m.layers[6].act == ACT_SOFTMAX);
    CHECK(m.layers[7].out.flat && m.layers[7].out.c == 5 && m.layers[10].act == ACT_SOFTMAX);
    CHECK(model_output_size(&m) == 3 && m.t == 2);
    float want[KP_N * 3];
    CHECK_MSG(read_values(KP_PRED, want, KP_N * 3) == 0, "cannot read %s", KP_PRED);
    if (!t_cur_failed) {
        float *got = predict_fixed(&m, KP_N);
        check_arrays("keras_pool_act outputs", got, want, KP_N * 3, 1e-5, 0);
        nn_free(got);
    }
    model_free(&m);
}

// A variable-length string attribute of the file's root, read directly with libhdf5.
static char *root_attr(const char *path, const char *name) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return NULL;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT), t = H5Aget_type(a);
    char *s = NULL, *out = NULL;
    if (H5Tis_variable_str(t) > 0 && H5Aread(a, t, &s) >= 0 && s) {
        out = nn_strdup(s);
        H5free_memory(s);
    }
    H5Tclose(t);
    H5Aclose(a);
    H5Fclose(f);
    return out;
}

// The keys Keras 3.15 writes that nn leaves out while they hold their defaults (keras_json.c).
static void drop_key(cJSON *o, const char *key) {
    if (cJSON_IsObject(o)) cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON *c;
    cJSON_ArrayForEach(c, o) drop_key(c, key);
}

// The value of key `from` in object o, moved to key `to` (nothing when absent).
static void rename_key(cJSON *o, const char *from, const char *to) {
    cJSON *v = o ? cJSON_GetObjectItem(o, from) : NULL;
    if (v) cJSON_AddItemToObject(o, to, cJSON_DetachItemViaPointer(o, v));
}

// nn's .h5 of the Keras model: the model_config Keras wrote for these layers, and every bit
// back when nn loads it (weights, Adam's state, layer settings, outputs).
static void keras_model_resaved(void) {
    model a, b;
    char p[PLEN], err[NN_ERRLEN];
    if (model_load_h5(&a, KP_MODEL, err) != 0) {
        FAILF("%s", err);
        return;
    }
    tpath(p, "resaved.h5");
    CHECK_MSG(model_save_h5(&a, p, err) == 0, "save: %s", err);
    CHECK_MSG(model_load_h5(&b, p, err) == 0, "load: %s", err);
    if (t_cur_failed) return model_free(&a);
    size_t bytes = a.nparams * sizeof(float);
    CHECK(b.nlayers == a.nlayers && b.nparams == a.nparams && b.t == a.t);
    CHECK(!memcmp(a.w, b.w, bytes) && !memcmp(a.m, b.m, bytes) && !memcmp(a.v, b.v, bytes));
    for (int i = 0; i < a.nlayers && i < b.nlayers; i++) {
        const layer *x = &a.layers[i], *y = &b.layers[i];
        CHECK_MSG(x->kind == y->kind && x->act == y->act && x->alpha == y->alpha && x->kh == y->kh &&
                      x->kw == y->kw && x->sh == y->sh && x->sw == y->sw && x->padding == y->padding &&
                      !strcmp(x->name, y->name) && !memcmp(&x->out, &y->out, sizeof x->out),
                  "layer %d (%s) differs after the round trip", i, x->name);
    }
    float *ya = predict_fixed(&a, KP_N), *yb = predict_fixed(&b, KP_N);
    CHECK_MSG(!memcmp(ya, yb, KP_N * 3 * sizeof(float)), "outputs differ after the round trip");
    nn_free(ya), nn_free(yb);

    char *ks = root_attr(KP_MODEL, "model_config"), *ns = root_attr(p, "model_config");
    cJSON *kj = ks ? cJSON_Parse(ks) : NULL, *nj = ns ? cJSON_Parse(ns) : NULL;
    CHECK_MSG(kj && nj, "model_config missing or not JSON");
    if (kj && nj) {
        const char *omitted[] = {"optional", "quantization_config", "input_axes", "output_axes"};
        for (size_t i = 0; i < sizeof omitted / sizeof *omitted; i++) drop_key(kj, omitted[i]);
        cJSON *kl = cJSON_GetObjectItem(cJSON_GetObjectItem(kj, "config"), "layers");
        cJSON *nl = cJSON_GetObjectItem(cJSON_GetObjectItem(nj, "config"), "layers");
        int n = cJSON_GetArraySize(kl);
        CHECK(n == 12 && cJSON_GetArraySize(nl) == n);
        for (int i = 0; i < n && !t_cur_failed; i++) {
            cJSON *ki = cJSON_GetArrayItem(kl, i), *ni = cJSON_GetArrayItem(nl, i);
            // nn writes the forms both Keras 3 and tf.keras 2.15 read (nn/keras_json.c):
            // InputLayer's batch_input_shape, LeakyReLU's alpha, a dtype policy's name.
            cJSON *kc = cJSON_GetObjectItem(ki, "config");
            rename_key(kc, "batch_shape", "batch_input_shape");
            rename_key(kc, "negative_slope", "alpha");
            cJSON *dt = cJSON_GetObjectItem(kc, "dtype");
            const char *dname = dt ? cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(dt, "config"), "name")) : NULL;
            if (dname) cJSON_ReplaceItemInObject(kc, "dtype", cJSON_CreateString(dname));
            if (!cJSON_Compare(ki, ni, 1)) {
                char *x = cJSON_PrintUnformatted(ki), *y = cJSON_PrintUnformatted(ni);
                FAILF("layer %d's config differs from Keras's:\nkeras: %.400s\nnn:    %.400s", i, x, y);
                cJSON_free(x), cJSON_free(y);
            }
        }
    }
    cJSON_Delete(kj), cJSON_Delete(nj);
    nn_free(ks), nn_free(ns);
    model_free(&a), model_free(&b);
}

// A cfg model with every new option off its default survives save and load.
static void cfg_model_roundtrip(void) {
    const char *cfg = "input 11 9 3\navgpool2d pool=2x3 stride=1x2 padding=same name=ap\n"
                      "leakyrelu alpha=0.125\nconv2d filters=4 kernel=3 activation=leaky_relu\n"
                      "activation fn=softmax\nglobalavgpool\ndense units=3 activation=tanh\n"
                      "leakyrelu\ndense units=2 activation=softmax\n";
    model a, b;
    char p[PLEN], err[NN_ERRLEN];
    if (model_parse_cfg(&a, cfg, "rt.cfg", err) != 0) {
        FAILF("%s", err);
        return;
    }
    model_init_weights(&a, 3);
    tpath(p, "cfg.h5");
    CHECK_MSG(model_save_h5(&a, p, err) == 0, "save: %s", err);
    CHECK_MSG(model_load_h5(&b, p, err) == 0, "load: %s", err);
    if (t_cur_failed) return model_free(&a);
    CHECK(!strcmp(b.layers[0].name, "ap") && b.layers[0].kh == 2 && b.layers[0].kw == 3 &&
          b.layers[0].sh == 1 && b.layers[0].sw == 2 && b.layers[0].padding == PAD_SAME);
    CHECK(b.layers[1].alpha == 0.125f && b.layers[6].alpha == 0.3f && !strcmp(b.layers[6].name, "leaky_re_lu_1"));
    CHECK(b.layers[2].act == ACT_LEAKY_RELU && b.layers[3].act == ACT_SOFTMAX && b.layers[7].act == ACT_SOFTMAX);
    CHECK(!strcmp(b.layers[4].name, "global_average_pooling2d") && b.layers[4].out.flat);
    CHECK(!memcmp(a.w, b.w, a.nparams * sizeof(float)));
    model_free(&a), model_free(&b);
}

// --- Keras configs nn reads or refuses

static const char *SEQ_HEAD =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
    "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 6, 5, 2]}}, ";

static int from_layer_json(model *m, const char *layer_json, char *err) {
    char js[1024];
    snprintf(js, sizeof js, "%s%s]}}", SEQ_HEAD, layer_json);
    return keras_model_from_config(m, js, err);
}

static void keras_configs_read(void) {
    model m;
    char err[NN_ERRLEN];
    // tf.keras 2 writes the slope as alpha
    int rc = from_layer_json(&m, "{\"class_name\": \"LeakyReLU\", \"config\": {\"name\": \"lr\", \"alpha\": 0.25}}", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (!rc) {
        CHECK(m.layers[0].kind == LAYER_LEAKYRELU && m.layers[0].alpha == 0.25f);
        model_free(&m);
    }
    // Keras 3's negative_slope alone; with both keys alpha wins, as in Keras 3's LeakyReLU
    // (it pops alpha over negative_slope); absent, the default 0.3
    rc = from_layer_json(&m, "{\"class_name\": \"LeakyReLU\", \"config\": {\"negative_slope\": 0.5}}", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (!rc) {
        CHECK(m.layers[0].alpha == 0.5f);
        model_free(&m);
    }
    rc = from_layer_json(&m, "{\"class_name\": \"LeakyReLU\", \"config\": {\"negative_slope\": 0.5, \"alpha\": 0.25}}", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (!rc) {
        CHECK(m.layers[0].alpha == 0.25f);
        model_free(&m);
    }
    rc = from_layer_json(&m, "{\"class_name\": \"LeakyReLU\", \"config\": {}}", err);
    if (!rc) {
        CHECK(m.layers[0].alpha == 0.3f);
        model_free(&m);
    }
    rc = from_layer_json(&m, "{\"class_name\": \"AvgPool2D\", \"config\": {\"pool_size\": 3, \"strides\": [1, 2], \"padding\": \"same\"}}", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (!rc) {
        CHECK(m.layers[0].kind == LAYER_AVGPOOL2D && m.layers[0].kw == 3 && m.layers[0].sw == 2 && m.layers[0].out.w == 3);
        model_free(&m);
    }
    rc = from_layer_json(&m, "{\"class_name\": \"GlobalAveragePooling2D\", \"config\": {\"data_format\": \"channels_last\"}}", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (!rc) {
        CHECK(m.layers[0].out.flat && m.layers[0].out.c == 2);
        model_free(&m);
    }
    rc = from_layer_json(&m, "{\"class_name\": \"Activation\", \"config\": {\"activation\": \"leaky_relu\"}}", err);
    if (!rc) {
        CHECK(m.layers[0].act == ACT_LEAKY_RELU);
        model_free(&m);
    }
}

static void expect_refused(const char *layer_json, const char *what) {
    model m;
    char err[NN_ERRLEN] = "";
    if (from_layer_json(&m, layer_json, err) == 0) {
        FAILF("accepted %s", layer_json);
        model_free(&m);
        return;
    }
    // the layer by its place in the config (2: after the InputLayer), or in the model (1)
    CHECK_MSG((strstr(err, "model_config layer 2") || strstr(err, "layer 1 (")) && strstr(err, what) &&
                  !strchr(err, '\n'),
              "error '%s' should name the layer and say '%s'", err, what);
}

static void keras_configs_refused(void) {
    expect_refused("{\"class_name\": \"LeakyReLU\", \"config\": {\"negative_slope\": -0.1}}", "negative_slope is not a number");
    expect_refused("{\"class_name\": \"LeakyReLU\", \"config\": {\"alpha\": \"big\"}}", "alpha is not a number");
    expect_refused("{\"class_name\": \"GlobalAveragePooling2D\", \"config\": {\"keepdims\": true}}", "keepdims true");
    expect_refused("{\"class_name\": \"GlobalAveragePooling2D\", \"config\": {\"data_format\": \"channels_first\"}}", "data_format");
    expect_refused("{\"class_name\": \"AveragePooling2D\", \"config\": {\"pool_size\": [2, 2], \"data_format\": \"channels_first\"}}", "data_format");
    expect_refused("{\"class_name\": \"AveragePooling2D\", \"config\": {\"pool_size\": [7, 2]}}", "pool 7x2 is larger than the input 6x5");
    expect_refused("{\"class_name\": \"Activation\", \"config\": {\"activation\": \"elu\"}}", "'elu' is not supported");
}

// --- cfg lines

static void expect_cfg_error(const char *text, const char *where, const char *what) {
    model m;
    char err[NN_ERRLEN] = "";
    if (model_parse_cfg(&m, text, "t.cfg", err) == 0) {
        FAILF("accepted a bad model file:\n%s", text);
        model_free(&m);
        return;
    }
    CHECK_MSG(strstr(err, where) && strstr(err, what) && !strchr(err, '\n'),
              "error '%s' should name '%s' and say '%s' on one line", err, where, what);
}

static void cfg_errors(void) {
    expect_cfg_error("input 8 8 3\nleakyrelu alpha=-0.5\n", "t.cfg:2:", "alpha='-0.5' is not a number from 0 to 1000");
    expect_cfg_error("input 8 8 3\n\nleakyrelu alpha=big\n", "t.cfg:3:", "alpha='big'");
    expect_cfg_error("input 8 8 3\nleakyrelu alpha=nan\n", "t.cfg:2:", "alpha='nan'");
    expect_cfg_error("input 8 8 3\nleakyrelu alpha=0.1x\n", "t.cfg:2:", "alpha='0.1x'");
    expect_cfg_error("input 8 8 3\nleakyrelu slope=0.1\n", "t.cfg:2:", "unknown option 'slope' for leakyrelu (expected alpha, name)");
    expect_cfg_error("input 8 8 3\navgpool2d pool=0\n", "t.cfg:2:", "pool='0'");
    expect_cfg_error("input 8 8 3\navgpool2d pool=2x\n", "t.cfg:2:", "pool='2x'");
    expect_cfg_error("input 8 8 3\navgpool2d pool=3 stride=-1\n", "t.cfg:2:", "stride='-1'");
    expect_cfg_error("input 8 8 3\navgpool2d pool=9\n", "t.cfg:2:", "pool 9x9 is larger than the input 8x8");
    expect_cfg_error("input 8 8 3\navgpool2d pool=2 padding=full\n", "t.cfg:2:", "padding='full'");
    expect_cfg_error("input 8 8 3\nflatten\navgpool2d\n", "t.cfg:3:", "avgpool2d needs an image input");
    expect_cfg_error("input 8 8 3\nglobalavgpool\nglobalavgpool\n", "t.cfg:3:", "globalavgpool needs an image input");
    expect_cfg_error("input 8 8 3\nglobalavgpool pool=2\n", "t.cfg:2:", "unknown option 'pool' for globalavgpool (expected name)");
    expect_cfg_error("input 8 8 3\nactivation fn=swish\n", "t.cfg:2:", "unknown activation 'swish'");
}

// The slope default and the line's shapes, as the cfg says.
static void cfg_shapes(void) {
    model m;
    char err[NN_ERRLEN];
    int rc = model_parse_cfg(&m, "input 7 9 4\navgpool2d\navgpool2d pool=2 stride=1 padding=same\n"
                                 "leakyrelu\nglobalavgpool\ndense units=3 activation=softmax\n", "t.cfg", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc) return;
    CHECK(m.layers[0].out.h == 3 && m.layers[0].out.w == 4 && m.layers[0].sh == 2);   // floor
    CHECK(m.layers[1].out.h == 3 && m.layers[1].out.w == 4);                          // same, stride 1
    CHECK(m.layers[2].alpha == 0.3f && m.layers[2].kind == LAYER_LEAKYRELU);
    CHECK(m.layers[3].out.flat && m.layers[3].out.c == 4 && m.nparams == 4 * 3 + 3);
    CHECK(!strcmp(m.layers[0].name, "average_pooling2d") && !strcmp(m.layers[1].name, "average_pooling2d_1"));
    model_free(&m);
}

int main(void) {
    tmpdir_make("pool_act");
    RUN(grad_avgpool);
    RUN(grad_globalavgpool);
    RUN(grad_leakyrelu);
    RUN(grad_activation);
    RUN(grad_dense);
    RUN(grad_conv2d);
    RUN(grad_model_walk);
    RUN(keras_layer_values);
    RUN(keras_model_predicts);
    RUN(keras_model_resaved);
    RUN(cfg_model_roundtrip);
    RUN(keras_configs_read);
    RUN(keras_configs_refused);
    RUN(cfg_errors);
    RUN(cfg_shapes);
    cleanup();
    TEST_EXIT();
}
