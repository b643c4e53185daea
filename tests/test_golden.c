// test_golden.c: the golden end-to-end test. A small model of every layer type (the cfg inside
// tests/fixtures/golden.txt: same and valid conv, an uneven kernel, stride 2, same max pooling
// with an odd size, flatten, dense, relu and sigmoid) with fixed weights and a fixed batch of 4
// must reproduce what PyTorch computes for it (tests/oracles/golden_torch.py, float64, Keras
// layouts and conventions): every layer's output, the loss, every gradient, and the loss,
// weights and Adam moments over 5 Adam steps with Keras's formula.
//
// Tolerance: 1e-5 relative, plus an absolute floor of 1e-6 of the array's largest value (and
// 1e-12), for entries that are sums cancelling to near zero: float32 rounding of a sum is
// relative to the terms, not to the result. Measured errors are under a sixth of that.
#include "../nn/common.h"
#include "../nn/ctx.h"
#include "../nn/loss.h"
#include "../nn/model.h"
#include "../nn/step.h"
#include "test.h"

#define FIXTURE "tests/fixtures/golden.txt"
#define MAX_ARRAYS 64

typedef struct {
    char name[64];
    size_t n;
    double *v;
} array;

static array arrays[MAX_ARRAYS];
static int narrays;
static char cfg[4096];

// Reads the fixture: "cfg LINE" lines, "array NAME COUNT" followed by COUNT numbers.
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
            a->v = nn_alloc(a->n * sizeof(double), "fixture array");
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

static const array *find(const char *name) {
    for (int i = 0; i < narrays; i++)
        if (!strcmp(arrays[i].name, name)) return &arrays[i];
    FAILF("the fixture has no array '%s'", name);
    return NULL;
}

// got (n floats) against the fixture's array `name`.
static void compare(const char *name, const float *got, size_t n) {
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
    // check_arrays compares with the float-rounded reference; the rounding (6e-8) is far inside
    // the tolerance.
    check_arrays(name, got, ref, n, 1e-6 * big + 1e-12, 1e-5);
    nn_free(ref);
}

static model m;
static nn_ctx ctx;
static int ready;

// Builds the model from the fixture's cfg and sets its weights to w0.
static void set_w0(void) {
    for (int i = 0; i < m.nlayers; i++) {
        const layer *l = &m.layers[i];
        char name[128];
        if (l->wsize) {
            snprintf(name, sizeof name, "w0.%s.kernel", l->name);
            const array *a = find(name);
            for (size_t j = 0; a && j < l->wsize && j < a->n; j++) m.w[l->woff + j] = (float)a->v[j];
        }
        if (l->bsize) {
            snprintf(name, sizeof name, "w0.%s.bias", l->name);
            const array *a = find(name);
            for (size_t j = 0; a && j < l->bsize && j < a->n; j++) m.w[l->boff + j] = (float)a->v[j];
        }
    }
    memset(m.m, 0, m.nparams * sizeof(float));
    memset(m.v, 0, m.nparams * sizeof(float));
    m.t = 0;
}

static void setup(void) {
    char err[NN_ERRLEN];
    if (load_fixture(err) != 0) SKIP("%s", err);
    if (model_parse_cfg(&m, cfg, FIXTURE, err) != 0) {
        FAILF("the fixture's cfg does not parse: %s", err);
        return;
    }
    // the oracle's layer names and sizes are the ones this model gives them
    for (int i = 0; i < m.nlayers; i++) {
        const layer *l = &m.layers[i];
        char name[128];
        snprintf(name, sizeof name, "w0.%s.kernel", l->name);
        if (l->wsize && (!find(name) || find(name)->n != l->wsize))
            FAILF("layer %s: kernel of %zu values, fixture differs", l->name, l->wsize);
    }
    model_alloc_batch(&m, 4);
    set_w0();
    ctx = nn_ctx_cpu();
    ready = !t_cur_failed;
}

static const float *input(void) {
    static float *x;
    const array *a = find("x");
    if (!x && a) {
        x = nn_alloc(a->n * sizeof(float), "x");
        for (size_t i = 0; i < a->n; i++) x[i] = (float)a->v[i];
    }
    return x;
}

static void labels(float *y) {
    const array *a = find("labels");
    for (int i = 0; i < 4; i++) y[i] = a ? (float)a->v[i] : 0;
}

static void forward_outputs(void) {
    if (!ready) SKIP("no model (see setup)");
    set_w0();
    model_forward(&m, &ctx, 4, input(), 0);
    for (int i = 0; i < m.nlayers && !t_cur_failed; i++) {
        char name[128];
        snprintf(name, sizeof name, "out.%s", m.layers[i].name);
        compare(name, m.host->y[i], 4 * shape3_size(m.layers[i].out));
    }
}

static void loss_and_gradients(void) {
    if (!ready) SKIP("no model (see setup)");
    set_w0();
    float y[4], dz[4];
    labels(y);
    const float *z = model_forward(&m, &ctx, 4, input(), 1);
    float loss = bce_logits(4, z, y, dz);
    compare("loss", &loss, 1);
    memset(m.g, 0x7f, m.nparams * sizeof(float));   // overwritten, not accumulated
    model_backward(&m, &ctx, 4, input(), dz);
    for (int i = 0; i < m.nlayers; i++) {
        const layer *l = &m.layers[i];
        char name[128];
        if (l->wsize) {
            snprintf(name, sizeof name, "grad.%s.kernel", l->name);
            compare(name, m.g + l->woff, l->wsize);
        }
        if (l->bsize) {
            snprintf(name, sizeof name, "grad.%s.bias", l->name);
            compare(name, m.g + l->boff, l->bsize);
        }
    }
}

static void five_adam_steps(void) {
    if (!ready) SKIP("no model (see setup)");
    set_w0();
    float y[4], losses[5];
    labels(y);
    adam_cfg opt = adam_defaults();
    for (int s = 0; s < 5; s++) losses[s] = model_train_step(&m, &ctx, 4, input(), y, &opt, NULL);
    compare("loss_steps", losses, 5);
    CHECK(m.t == 5);
    const char *what[3] = {"w5", "m5", "v5"};
    float *arena[3] = {m.w, m.m, m.v};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < m.nlayers; i++) {
            const layer *l = &m.layers[i];
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
}

int main(void) {
    RUN(setup);
    RUN(forward_outputs);
    RUN(loss_and_gradients);
    RUN(five_adam_steps);
    if (ready) model_free(&m);
    TEST_EXIT();
}
