// test_keras_compat.c: Keras files beyond nn's own (issue 14), through committed fixtures made
// by tests/oracles/keras_compat_fixtures.py with tf.keras 2.15 and Keras 3 (CI has no Keras):
//  - a tf.keras 2.15 model.save("x.h5") with an explicit Input layer and 3 Adam steps loads,
//    predicts what tf.keras predicted (1e-5), and keeps Adam's state; it records no epochs
//    (model.epoch_unknown), which nn train --resume and nn summary say (test_keras_compat.sh);
//  - weights-only files, Keras 3's x.weights.h5 and tf.keras 2's save_weights("x.h5") and
//    "x.weights.h5", load into a cfg's layers (model_load_weights_h5) and predict what Keras
//    predicted; a whole model file serves as weights too;
//  - layers that do not match (a shape, a name for Keras 3's by-name layout, one layer more)
//    give one line naming the file, the layer and both shapes, and leave the model as it was;
//    a weights-only file loaded as a model says to give --model FILE.cfg --weights;
//  - the model_config nn writes holds tf.keras 2.15's own layer configs for the same model (it
//    equals Keras 3's too: tests/test_h5.c), and every Adam setting nn writes is one both
//    tf.keras 2.15 and Keras 3 write.
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "../nn/common.h"
#include "../nn/h5.h"
#include "../nn/keras_json.h"
#include "test.h"

#define FIX "tests/fixtures/"

// The fixtures' model (tests/oracles/keras_compat_fixtures.py builds the same in Keras).
static const char *SMALL_CFG =
    "input 16 16 3\n"
    "conv2d filters=4 kernel=3 activation=relu\n"
    "maxpool2d pool=2\n"
    "flatten\n"
    "dense units=8 activation=relu\n"
    "dense units=1 activation=sigmoid\n";

enum { N = 4 };

static void fixed_inputs(int n, size_t per, float *x) {
    for (long i = 0; i < (long)(n * per); i++) x[i] = (float)((3 * i * i + 37 * i + 11) % 251) / 250.0f;
}

// The "fixed P" lines of a predictions file (tests/oracles/keras_compat_fixtures.py).
static int read_fixed(const char *path, float *p) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    int k = 0;
    while (fgets(line, sizeof line, f) && k < N)
        if (!strncmp(line, "fixed ", 6)) p[k++] = strtof(line + 6, NULL);
    fclose(f);
    return k == N ? 0 : -1;
}

// The model predicts what Keras wrote in pred_file, to 1e-5.
static void check_predicts(model *m, const char *pred_file, const char *what) {
    float want[N], got[N], x[N * 16 * 16 * 3];
    if (read_fixed(pred_file, want)) {
        FAILF("cannot read %s", pred_file);
        return;
    }
    fixed_inputs(N, shape3_size(m->input), x);
    nn_ctx ctx = {.backend = NN_CPU, .seed = 1};
    model_predict(m, &ctx, N, x, got);
    for (int i = 0; i < N; i++)
        CHECK_MSG(fabsf(got[i] - want[i]) <= 1e-5f, "%s: input %d: nn %.7f, Keras %.7f", what, i, got[i], want[i]);
}

static int cfg_model(model *m, const char *cfg) {
    char err[NN_ERRLEN];
    if (model_parse_cfg(m, cfg, "small.cfg", err) == 0) return 0;
    FAILF("cfg: %s", err);
    return -1;
}

// An error is one line that holds every one of the strings given (NULL-terminated).
static int says(const char *err, ...) {
    va_list ap;
    va_start(ap, err);
    int ok = err[0] && !strchr(err, '\n');
    for (const char *s; ok && (s = va_arg(ap, const char *));) ok = strstr(err, s) != NULL;
    va_end(ap);
    return ok;
}

// ------------------------------------------------------------------------------------------

static void test_tf_keras2_input_model(void) {
    char err[NN_ERRLEN];
    for (int wo = 0; wo < 2 && !t_cur_failed; wo++) {   // full load (--resume), weights only (predict)
        model m;
        h5_info info;
        if (model_load_h5_opts(&m, FIX "keras2_input_small.h5", wo ? H5_LOAD_WEIGHTS_ONLY : 0, &info, err)) {
            FAILF("%s", err);
            return;
        }
        check_predicts(&m, FIX "keras2_compat_pred.txt", "keras2_input_small.h5");
        CHECK(m.nlayers == 5 && m.input.h == 16 && m.input.c == 3 && !m.input.flat);
        CHECK_MSG(m.t == 3 && info.adam_state && m.opt.lr == 0.002f, "t %ld, lr %g", m.t, m.opt.lr);
        // Keras records no epochs nor batch size: nn must not read 0 epochs as a fact
        CHECK(m.epoch_unknown == 1 && m.epoch == 0 && m.batch == 0 && m.step == 0);
        if (!wo) {
            double mm = 0, vv = 0;
            for (size_t i = 0; i < m.nparams; i++) mm += fabs(m.m[i]), vv += m.v[i];
            CHECK_MSG(mm > 0 && vv > 0, "Adam's moments not read (sum |m| %g, sum v %g)", mm, vv);
        }
        model_free(&m);
    }
    // nn's own files record their epochs
    model m, a;
    char p[] = "/tmp/nn-test-kc-XXXXXX";
    int fd = mkstemp(p);
    if (fd < 0 || cfg_model(&a, SMALL_CFG)) return;
    close(fd);
    CHECK_MSG(model_save_h5(&a, p, err) == 0, "%s", err);
    CHECK_MSG(model_load_h5(&m, p, err) == 0, "%s", err);
    if (!t_cur_failed) {
        CHECK(m.epoch_unknown == 0);
        model_free(&m);
    }
    model_free(&a);
    unlink(p);
}

// by_name: Keras 3's layout (layers/<name>/vars), matched by layer name as Keras 3 does; the
// others are lists matched by order, as Keras's legacy load_weights does.
static const struct { const char *file, *pred; int by_name; } WEIGHTS[] = {
    {FIX "keras3_small.weights.h5", FIX "keras3_compat_pred.txt", 1},   // Keras 3 save_weights
    {FIX "keras2_small_weights.h5", FIX "keras2_compat_pred.txt", 0},   // tf.keras 2, legacy h5
    {FIX "keras2_small.weights.h5", FIX "keras2_compat_pred.txt", 1},   // tf.keras 2.15, new layout
    {FIX "keras2_input_small.h5", FIX "keras2_compat_pred.txt", 0},     // a whole model's weights
};
#define NWEIGHTS (int)(sizeof WEIGHTS / sizeof *WEIGHTS)

static void test_weights_files(void) {
    for (int k = 0; k < NWEIGHTS && !t_cur_failed; k++) {
        model m;
        char err[NN_ERRLEN];
        if (cfg_model(&m, SMALL_CFG)) return;
        model_init_weights(&m, 1);
        if (model_load_weights_h5(&m, WEIGHTS[k].file, "small.cfg", err)) {
            FAILF("%s", err);
            model_free(&m);
            return;
        }
        check_predicts(&m, WEIGHTS[k].pred, WEIGHTS[k].file);
        CHECK_MSG(m.t == 0 && m.epoch == 0 && m.nclasses == 0 && !strcmp(m.layers[3].name, "dense"),
                  "%s: t %ld, epoch %d, %d classes", WEIGHTS[k].file, m.t, m.epoch, m.nclasses);
        model_free(&m);
    }
}

// One layer changed in the cfg: every weights file is refused with one line naming the file and
// the layer (with both shapes where a shape differs), and the model keeps its own weights.
static void test_weights_mismatch(void) {
    static const struct { const char *from, *to, *need[3]; int by_name; } cases[] = {
        {"filters=4", "filters=5", {"layer 'conv2d' kernel", "(3, 3, 3, 4)", "(3, 3, 3, 5)"}, 0},
        {"units=8", "units=9", {"layer 'dense' kernel", "(196, 8)", "(196, 9)"}, 0},
        {"dense units=1", "dense units=8\ndense units=1", {"layer", "", ""}, 0},
        // Keras 3's files go by layer name (as Keras 3 loads them); the legacy lists by order
        {"conv2d filters=4", "conv2d name=features filters=4", {"'features'", "name=", "conv2d"}, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases && !t_cur_failed; c++) {
        char cfg[512];
        const char *at = strstr(SMALL_CFG, cases[c].from);
        snprintf(cfg, sizeof cfg, "%.*s%s%s", (int)(at - SMALL_CFG), SMALL_CFG, cases[c].to, at + strlen(cases[c].from));
        for (int k = 0; k < NWEIGHTS && !t_cur_failed; k++) {
            model m;
            char err[NN_ERRLEN] = "";
            if (cfg_model(&m, cfg)) return;
            model_init_weights(&m, 3);
            float w0 = m.w[0], wl = m.w[m.nparams - 2];
            size_t np = m.nparams;
            int rc = model_load_weights_h5(&m, WEIGHTS[k].file, "small.cfg", err);
            if (cases[c].by_name && !WEIGHTS[k].by_name) {   // legacy lists: taken in order
                CHECK_MSG(rc == 0, "case %zu, %s: %s", c, WEIGHTS[k].file, err);
            } else {
                CHECK_MSG(rc != 0 && says(err, WEIGHTS[k].file, cases[c].need[0], cases[c].need[1],
                                          cases[c].need[2], (char *)NULL),
                          "case %zu, %s: rc %d, '%s'", c, WEIGHTS[k].file, rc, err);
                CHECK_MSG(m.nparams == np && m.w[0] == w0 && m.w[m.nparams - 2] == wl,
                          "case %zu: the model changed on a failed load", c);
            }
            model_free(&m);
        }
    }
}

static void test_weights_only_file_as_model(void) {
    for (int k = 0; k < 3; k++) {
        model m;
        char err[NN_ERRLEN] = "";
        CHECK_MSG(model_load_h5(&m, WEIGHTS[k].file, err) != 0 &&
                  says(err, WEIGHTS[k].file, "weights only", "--model FILE.cfg", "--weights", (char *)NULL),
                  "%s: '%s'", WEIGHTS[k].file, err);
    }
    // a file with neither layout is not taken for weights
    model m;
    char err[NN_ERRLEN] = "";
    if (cfg_model(&m, SMALL_CFG)) return;
    CHECK_MSG(model_load_weights_h5(&m, FIX "keras_compat_a.png", "small.cfg", err) != 0 &&
              says(err, "keras_compat_a.png", "not an HDF5 file", (char *)NULL), "'%s'", err);
    model_free(&m);
}

// ------------------------------------------------------------------------------------------
// what nn writes against what tf.keras 2.15 writes

static char *root_attr(const char *path, const char *name) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t a = f < 0 ? -1 : H5Aopen(f, name, H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
    char *s = NULL, *out = NULL;
    if (t >= 0 && H5Tis_variable_str(t) > 0 && H5Aread(a, t, &s) >= 0 && s) {
        out = nn_strdup(s);
        H5free_memory(s);
    }
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (f >= 0) H5Fclose(f);
    return out;
}

static void test_config_holds_tf_keras2s(void) {
    model m;
    if (cfg_model(&m, SMALL_CFG)) return;
    char *ours = keras_model_config_json(&m), *theirs = root_attr(FIX "keras2_input_small.h5", "model_config");
    cJSON *nj = cJSON_Parse(ours), *tj = theirs ? cJSON_Parse(theirs) : NULL;
    cJSON *nl = cJSON_GetObjectItem(cJSON_GetObjectItem(nj, "config"), "layers");
    cJSON *tl = cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "config"), "layers");
    CHECK_MSG(cJSON_GetArraySize(nl) == 6 && cJSON_GetArraySize(tl) == 6, "layer lists of %d and %d",
              cJSON_GetArraySize(nl), cJSON_GetArraySize(tl));
    for (int i = 0; i < 6 && !t_cur_failed; i++) {
        cJSON *a = cJSON_GetArrayItem(nl, i), *b = cJSON_GetArrayItem(tl, i);
        if (i == 0) {   // the InputLayer: tf.keras names it input_1, nn input_layer (Keras 3's)
            cJSON_DeleteItemFromObject(cJSON_GetObjectItem(a, "config"), "name");
            cJSON_DeleteItemFromObject(cJSON_GetObjectItem(b, "config"), "name");
        }
        // every key nn writes, tf.keras writes with the same value; what nn leaves out is null
        // there (Dense's activity_regularizer, which Keras 3's Dense no longer writes)
        cJSON *ac = cJSON_GetObjectItem(a, "config"), *bc = cJSON_GetObjectItem(b, "config"), *it;
        CHECK_MSG(cJSON_Compare(cJSON_GetObjectItem(a, "class_name"), cJSON_GetObjectItem(b, "class_name"), 1),
                  "layer %d: another class", i);
        cJSON_ArrayForEach(it, ac) {
            cJSON *o = cJSON_GetObjectItem(bc, it->string);
            char *x = cJSON_PrintUnformatted(it), *y = o ? cJSON_PrintUnformatted(o) : NULL;
            CHECK_MSG(o && cJSON_Compare(it, o, 1), "layer %d: nn writes %s %s, tf.keras 2.15 %s", i,
                      it->string, x, y ? y : "nothing");
            cJSON_free(x);
            cJSON_free(y);
        }
        cJSON_ArrayForEach(it, bc) CHECK_MSG(cJSON_GetObjectItem(ac, it->string) || cJSON_IsNull(it),
                                             "layer %d: nn leaves out %s", i, it->string);
    }
    // Adam: every setting nn writes is one tf.keras 2.15 and Keras 3 write too
    adam_cfg opt = adam_defaults();
    char *tc = keras_training_config_json(&opt);
    const char *files[2] = {FIX "keras2_input_small.h5", FIX "keras_small.h5"};
    cJSON *ntc = cJSON_Parse(tc), *oc = cJSON_GetObjectItem(cJSON_GetObjectItem(ntc, "optimizer_config"), "config");
    CHECK_MSG(cJSON_GetArraySize(oc) >= 5, "nn's Adam config: %s", tc);
    for (int k = 0; k < 2; k++) {
        char *s = root_attr(files[k], "training_config");
        cJSON *root = s ? cJSON_Parse(s) : NULL;
        cJSON *kc = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "optimizer_config"), "config"), *it;
        CHECK_MSG(kc != NULL, "%s: no optimizer config", files[k]);
        cJSON_ArrayForEach(it, oc) CHECK_MSG(cJSON_GetObjectItem(kc, it->string), "%s: no Adam setting %s",
                                             files[k], it->string);
        cJSON_Delete(root);
        nn_free(s);
    }
    cJSON_Delete(ntc);
    nn_free(tc);
    cJSON_Delete(nj);
    cJSON_Delete(tj);
    nn_free(ours);
    nn_free(theirs);
    model_free(&m);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    RUN(test_tf_keras2_input_model);
    RUN(test_weights_files);
    RUN(test_weights_mismatch);
    RUN(test_weights_only_file_as_model);
    RUN(test_config_holds_tf_keras2s);
    TEST_EXIT();
}
