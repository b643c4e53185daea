// test_h5.c: HDF5 model files (nn/h5.c, nn/keras_json.c).
//  - save -> load gives back every bit: weights, Adam's m and v, t, epoch, classes, settings;
//  - models saved by Keras 3 and tf.keras 2 (tests/fixtures, made by tests/oracles/keras*.py)
//    load and predict what Keras predicted, to 1e-5;
//  - the model_config / training_config we write equal Keras 3's own for the same model, in
//    the forms tf.keras 2.15 reads too (nn/keras_json.c);
//  - corrupt, truncated, foreign and mismatched files fail with one line, never a crash;
//  - a save killed mid-write (kill -9) leaves the previous model intact.
// `test_h5 --write-sample FILE [CFG]` and `test_h5 --predict MODEL OUT` serve tests/test_h5.py
// and the Keras interop script tests/oracles/keras_load_nn.py (see main).
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../nn/common.h"
#include "../nn/h5.h"
#include "../nn/keras_json.h"
#include "../nn/rng.h"
#include "test.h"
#include "test_tmpdir.h"


// The round-trip model: every option a cfg can set, non-default Adam settings and state.
static const char *RT_CFG =
    "input 12 10 3\n"
    "conv2d filters=5 kernel=3x2 stride=2 padding=same activation=relu\n"
    "maxpool2d pool=2\n"
    "conv2d filters=3 kernel=1 bias=false name=squeeze\n"
    "flatten\n"
    "dense units=6 activation=relu\n"
    "activation fn=sigmoid\n"
    "dense units=1 activation=sigmoid\n";

static int make_model(model *m, const char *cfg, uint64_t seed) {
    char err[NN_ERRLEN];
    if (model_parse_cfg(m, cfg, "test", err) != 0) {
        FAILF("cfg: %s", err);
        return -1;
    }
    model_init_weights(m, seed);
    rng r;
    rng_seed(&r, seed + 1);
    for (size_t i = 0; i < m->nparams; i++) {
        m->w[i] += (float)rng_uniform_range(&r, -0.1, 0.1);   // non-zero biases too
        m->m[i] = (float)rng_uniform_range(&r, -1e-3, 1e-3);
        m->v[i] = (float)rng_uniform_range(&r, 0, 1e-5);
    }
    m->t = 123457;
    m->epoch = 7;
    m->opt = (adam_cfg){0.0005f, 0.85f, 0.995f, 1e-6f};
    m->nclasses = 2;
    m->classes[0] = nn_strdup("cats");
    m->classes[1] = nn_strdup("chiens-\xc3\xa9t\xc3\xa9");   // UTF-8 survives
    return 0;
}

static int file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (int)st.st_size : -1;
}

static void copy_prefix(const char *from, const char *to, long n) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    if (!a || !b) NN_DIE("copy %s -> %s", from, to);
    char buf[4096];
    size_t k;
    while (n != 0 && (k = fread(buf, 1, n > 0 && n < 4096 ? (size_t)n : 4096, a)) > 0) {
        fwrite(buf, 1, k, b);
        if (n > 0) n -= (long)k;
    }
    fclose(a);
    fclose(b);
}

// Predictions in a child process, so that a layer that dies (NN_DIE) fails this test only.
static int predict_isolated(model *m, int n, const float *x, float *out) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        nn_ctx ctx = {.backend = NN_CPU, .seed = 1};
        model_predict(m, &ctx, n, x, out);
        ssize_t w = write(fd[1], out, (size_t)n * sizeof(float));
        _exit(w == (ssize_t)(n * sizeof(float)) ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0, want = (size_t)n * sizeof(float);
    ssize_t k;
    while (got < want && (k = read(fd[0], (char *)out + got, want - got)) > 0) got += (size_t)k;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return got == want && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

// The fixed inputs of tests/oracles/keras_make_fixture.py: ((3i^2 + 37i + 11) % 251) / 250.
static void fixed_inputs(int n, size_t per, float *x) {
    for (long i = 0; i < (long)(n * per); i++) x[i] = (float)((3 * i * i + 37 * i + 11) % 251) / 250.0f;
}

static int read_preds(const char *path, float *p, int n) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    int k = 0;
    while (k < n && fgets(line, sizeof line, f))
        if (line[0] != '#') p[k++] = strtof(line, NULL);
    fclose(f);
    return k == n ? 0 : -1;
}

static int one_line(const char *err) { return err[0] && !strchr(err, '\n'); }

// ------------------------------------------------------------------------------------------
// round trip

static void test_roundtrip_exact(void) {
    model a, b;
    char p[PLEN], err[NN_ERRLEN];
    if (make_model(&a, RT_CFG, 42)) return;
    tpath(p, "rt.h5");
    CHECK_MSG(model_save_h5(&a, p, err) == 0, "save: %s", err);
    CHECK_MSG(model_load_h5(&b, p, err) == 0, "load: %s", err);
    if (t_cur_failed) return;
    CHECK(b.nlayers == a.nlayers && b.nparams == a.nparams);
    CHECK(!memcmp(&a.input, &b.input, sizeof a.input));
    for (int i = 0; i < a.nlayers && i < b.nlayers; i++) {
        layer *x = &a.layers[i], *y = &b.layers[i];
        CHECK_MSG(x->kind == y->kind && !strcmp(x->name, y->name) && x->act == y->act &&
                      x->filters == y->filters && x->units == y->units && x->kh == y->kh &&
                      x->kw == y->kw && x->sh == y->sh && x->sw == y->sw &&
                      x->padding == y->padding && x->use_bias == y->use_bias &&
                      !memcmp(&x->out, &y->out, sizeof x->out) && x->woff == y->woff &&
                      x->boff == y->boff,
                  "layer %d (%s) differs after the round trip", i, x->name);
    }
    size_t bytes = a.nparams * sizeof(float);
    CHECK_MSG(!memcmp(a.w, b.w, bytes), "weights differ");
    CHECK_MSG(!memcmp(a.m, b.m, bytes), "Adam m differs");
    CHECK_MSG(!memcmp(a.v, b.v, bytes), "Adam v differs");
    CHECK(b.t == a.t && b.epoch == a.epoch);
    CHECK(b.opt.lr == a.opt.lr && b.opt.beta1 == a.opt.beta1 && b.opt.beta2 == a.opt.beta2 &&
          b.opt.epsilon == a.opt.epsilon);
    CHECK(b.nclasses == 2 && b.nclasses == a.nclasses);
    for (int i = 0; i < b.nclasses && i < 2; i++) CHECK(!strcmp(a.classes[i], b.classes[i]));
    CHECK(!strcmp(b.layers[2].name, "squeeze"));
    // saving the loaded model again gives the same weights (and overwrites in place)
    CHECK_MSG(model_save_h5(&b, p, err) == 0, "second save: %s", err);
    model c;
    CHECK_MSG(model_load_h5(&c, p, err) == 0, "second load: %s", err);
    if (!t_cur_failed) {
        CHECK(!memcmp(a.w, c.w, bytes) && !memcmp(a.v, c.v, bytes) && c.t == a.t);
        model_free(&c);
    }
    model_free(&a);
    model_free(&b);
}

static void test_no_classes_defaults(void) {
    model a, b;
    char p[PLEN], err[NN_ERRLEN];
    if (model_parse_cfg(&a, "input 4 4 1\nflatten\ndense units=1 activation=sigmoid\n", "t", err)) {
        FAILF("%s", err);
        return;
    }
    model_init_weights(&a, 3);   // t = 0, zero moments, opt all zero: Keras's defaults are saved
    tpath(p, "plain.h5");
    CHECK_MSG(model_save_h5(&a, p, err) == 0, "save: %s", err);
    CHECK_MSG(model_load_h5(&b, p, err) == 0, "load: %s", err);
    if (t_cur_failed) return;
    adam_cfg d = adam_defaults();
    CHECK(b.nclasses == 0 && b.t == 0 && b.epoch == 0);
    CHECK(b.opt.lr == d.lr && b.opt.beta1 == d.beta1 && b.opt.beta2 == d.beta2 && b.opt.epsilon == d.epsilon);
    CHECK(!memcmp(a.w, b.w, a.nparams * sizeof(float)));
    model_free(&a);
    model_free(&b);
}

// ------------------------------------------------------------------------------------------
// Keras's files

static void check_fixture(const char *name, const char *first_layer, const char *last_layer) {
    char p[PLEN], pp[PLEN], err[NN_ERRLEN];
    snprintf(p, sizeof p, "tests/fixtures/%s.h5", name);
    snprintf(pp, sizeof pp, "tests/fixtures/%s_pred.txt", name);
    model m;
    if (model_load_h5(&m, p, err) != 0) {
        FAILF("%s", err);
        return;
    }
    CHECK(m.input.h == 16 && m.input.w == 16 && m.input.c == 3 && m.nlayers == 5);
    CHECK_MSG(!strcmp(m.layers[0].name, first_layer) && !strcmp(m.layers[4].name, last_layer),
              "names %s..%s, Keras's are %s..%s", m.layers[0].name, m.layers[4].name, first_layer, last_layer);
    CHECK_MSG(m.t == 2, "Adam iterations %ld, Keras trained 2 steps", m.t);
    CHECK(m.opt.lr == 0.002f);
    float nz = 0;
    for (size_t i = 0; i < m.nparams; i++) nz += fabsf(m.m[i]) + m.v[i];
    CHECK_MSG(nz > 0, "Adam moments were not read");
    enum { N = 4 };
    size_t per = shape3_size(m.input);
    float *x = nn_alloc(N * per * sizeof(float), "x"), got[N], want[N];
    fixed_inputs(N, per, x);
    CHECK_MSG(read_preds(pp, want, N) == 0, "cannot read %s", pp);
    if (!t_cur_failed) {
        if (predict_isolated(&m, N, x, got) != 0) FAILF("model_predict died on %s (are the layers written?)", p);
        else check_arrays(name, got, want, N, 1e-5, 0);
    }
    nn_free(x);
    model_free(&m);
}

static void test_keras3_fixture(void) { check_fixture("keras_small", "conv2d", "dense_1"); }
static void test_keras2_fixture(void) { check_fixture("keras2_small", "conv2d", "dense_1"); }
static void test_keras2_legacy_fixed_strings(void) {
    check_fixture("keras2_legacy_fixedstr", "conv2d_1", "dense_3");
}

// A variable-length string attribute of the root group, read directly (not through nn/h5.c).
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

// Replaces the root attribute model_config of the file at p.
static void set_model_config(const char *p, const char *json) {
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "model_config");
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t a = H5Acreate2(f, "model_config", t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &json);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    H5Fclose(f);
}

// Removes every key `key` anywhere in the tree (keys Keras 3.15 writes that we leave out).
static void drop_key(cJSON *o, const char *key) {
    if (cJSON_IsObject(o)) cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON *c;
    cJSON_ArrayForEach(c, o) drop_key(c, key);
}

// Keras 3's JSON in the forms nn writes so that tf.keras 2.15 reads it too (nn/keras_json.c
// says why): InputLayer's batch_shape as batch_input_shape, each DTypePolicy object as its name.
static void keras3_as_nn_writes(cJSON *o) {
    cJSON *bs = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "batch_shape") : NULL;
    if (bs) cJSON_AddItemToObject(o, "batch_input_shape", cJSON_DetachItemViaPointer(o, bs));
    cJSON *d = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "dtype") : NULL;
    cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "config"), "name");
    if (cJSON_IsObject(d) && cJSON_IsString(name))
        cJSON_ReplaceItemInObjectCaseSensitive(o, "dtype", cJSON_CreateString(name->valuestring));
    cJSON *c;
    cJSON_ArrayForEach(c, o) keras3_as_nn_writes(c);
}

static void test_configs_equal_keras(void) {
    const char *kp = "tests/fixtures/keras_small.h5";
    char p[PLEN], err[NN_ERRLEN];
    model m;
    if (model_load_h5(&m, kp, err) != 0) {
        FAILF("%s", err);
        return;
    }
    tpath(p, "resaved.h5");
    CHECK_MSG(model_save_h5(&m, p, err) == 0, "%s", err);
    model_free(&m);
    const char *keys[2] = {"model_config", "training_config"};
    for (int k = 0; k < 2 && !t_cur_failed; k++) {
        char *js = root_attr(kp, keys[k]), *ns = root_attr(p, keys[k]);
        cJSON *kj = js ? cJSON_Parse(js) : NULL, *nj = ns ? cJSON_Parse(ns) : NULL;
        CHECK_MSG(kj && nj, "%s missing or not JSON", keys[k]);
        if (kj && nj) {
            // What nn leaves out (nn/keras_json.c): keys only the newest Keras 3 knows, and
            // Adam's settings that tf.keras 2.15 refuses, all at their defaults in the fixture.
            const char *omitted[] = {"optional", "quantization_config", "input_axes", "output_axes",
                                     "jit_compile", "weight_decay", "use_ema", "ema_momentum",
                                     "ema_overwrite_frequency", "loss_scale_factor",
                                     "gradient_accumulation_steps"};
            for (size_t i = 0; i < sizeof omitted / sizeof *omitted; i++) drop_key(kj, omitted[i]);
            drop_key(nj, "jit_compile");
            keras3_as_nn_writes(kj);
            if (k == 1) {   // Keras writes the float32 rate as a double (0.0020000000949949026)
                cJSON *kc = cJSON_GetObjectItem(cJSON_GetObjectItem(kj, "optimizer_config"), "config");
                cJSON *nc = cJSON_GetObjectItem(cJSON_GetObjectItem(nj, "optimizer_config"), "config");
                cJSON *kl = cJSON_GetObjectItem(kc, "learning_rate"), *nl = cJSON_GetObjectItem(nc, "learning_rate");
                CHECK(kl && nl && (float)kl->valuedouble == (float)nl->valuedouble);
                drop_key(kj, "learning_rate");
                drop_key(nj, "learning_rate");
            }
            if (!cJSON_Compare(kj, nj, 1)) {
                char *a = cJSON_PrintUnformatted(kj), *b = cJSON_PrintUnformatted(nj);
                FAILF("%s differs from Keras's:\nkeras: %.300s\nnn:    %.300s", keys[k], a, b);
                cJSON_free(a);
                cJSON_free(b);
            }
        }
        cJSON_Delete(kj);
        cJSON_Delete(nj);
        nn_free(js);
        nn_free(ns);
    }
}

// Older ways of writing the same Sequential model: a fixture's model_config rewritten as
// Keras 2.0-2.3 wrote it (no InputLayer, batch_input_shape in the first layer; or "config" a
// bare list of layers), or with Keras 3's build_input_shape as the only input shape. Each must
// give the same model and weights as the file as Keras wrote it.
static void test_older_config_forms(void) {
    const char *src[3] = {"tests/fixtures/keras2_small.h5", "tests/fixtures/keras2_small.h5",
                          "tests/fixtures/keras_small.h5"};
    for (int form = 0; form < 3 && !t_cur_failed; form++) {
        char p[PLEN], err[NN_ERRLEN];
        model ref, m;
        if (model_load_h5(&ref, src[form], err)) {
            FAILF("%s", err);
            return;
        }
        tpath(p, "older.h5");
        copy_prefix(src[form], p, -1);
        char *js = root_attr(p, "model_config");
        cJSON *root = js ? cJSON_Parse(js) : NULL, *cfg = cJSON_GetObjectItem(root, "config");
        cJSON *layers = cJSON_GetObjectItem(cfg, "layers");
        cJSON *first = cJSON_GetArrayItem(layers, 0);
        CHECK_MSG(first && !strcmp(cJSON_GetObjectItem(first, "class_name")->valuestring, "InputLayer"),
                  "%s: no InputLayer to remove", src[form]);
        if (!t_cur_failed) {
            cJSON_DeleteItemFromArray(layers, 0);
            if (form == 1) cJSON_ReplaceItemInObject(root, "config", cJSON_DetachItemFromObject(cfg, "layers"));
            char *ed = cJSON_PrintUnformatted(root);
            set_model_config(p, ed);
            cJSON_free(ed);
            CHECK_MSG(model_load_h5(&m, p, err) == 0, "form %d: %s", form, err);
            if (!t_cur_failed) {
                CHECK(!memcmp(&m.input, &ref.input, sizeof m.input) && m.nlayers == ref.nlayers &&
                      m.nparams == ref.nparams && !memcmp(m.w, ref.w, m.nparams * sizeof(float)) &&
                      !memcmp(m.v, ref.v, m.nparams * sizeof(float)));
                model_free(&m);
            }
        }
        cJSON_Delete(root);
        nn_free(js);
        model_free(&ref);
    }
}

// ------------------------------------------------------------------------------------------
// bad files

// Loading must fail with one line that names the file and contains `needle` (when given).
static void expect_fail(const char *path, const char *needle, const char *what) {
    model m;
    char err[NN_ERRLEN] = "";
    if (model_load_h5(&m, path, err) == 0) {
        FAILF("%s: loaded, expected an error", what);
        model_free(&m);
        return;
    }
    CHECK_MSG(one_line(err) && strstr(err, path), "%s: error is not one line naming the file: '%s'", what, err);
    CHECK_MSG(!needle || strstr(err, needle), "%s: error '%s' does not say '%s'", what, err, needle);
}

static void save_rt(const char *name, char *p) {
    model a;
    char err[NN_ERRLEN];
    tpath(p, name);
    if (make_model(&a, RT_CFG, 5)) return;
    if (model_save_h5(&a, p, err) != 0) FAILF("save: %s", err);
    model_free(&a);
}

static void test_bad_files(void) {
    char good[PLEN], p[PLEN];
    save_rt("good.h5", good);
    int size = file_size(good);

    tpath(p, "missing.h5");
    expect_fail(p, "No such file", "missing file");
    tpath(p, "empty.h5");
    copy_prefix(good, p, 0);
    expect_fail(p, "empty", "empty file");

    tpath(p, "random.h5");
    FILE *f = fopen(p, "wb");
    rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < 4096; i++) fputc((int)rng_below(&r, 256), f);
    fclose(f);
    expect_fail(p, "not an HDF5 file", "random bytes");

    long cuts[] = {8, 96, 512, 2048, size / 2, size - 64, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %ld of %d bytes", cuts[i], size);
        tpath(p, "truncated.h5");
        copy_prefix(good, p, cuts[i]);
        expect_fail(p, NULL, what);
    }

    tpath(p, "nomodel.h5");
    hid_t h = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(H5Gcreate2(h, "something", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(h);
    expect_fail(p, "model_config", "HDF5 without a model");
}

// A copy of a good file with its model_config edited: `from` replaced by `to`.
static void with_config_edit(const char *good, const char *name, const char *from, const char *to,
                             const char *needle) {
    char p[PLEN];
    tpath(p, name);
    copy_prefix(good, p, -1);
    char *js = root_attr(p, "model_config");
    char *at = js ? strstr(js, from) : NULL;
    if (!at) {
        FAILF("%s: '%s' not in model_config", name, from);
        nn_free(js);
        return;
    }
    size_t n = strlen(js) - strlen(from) + strlen(to) + 1;
    char *ed = nn_alloc(n, "json");
    snprintf(ed, n, "%.*s%s%s", (int)(at - js), js, to, at + strlen(from));
    set_model_config(p, ed);
    expect_fail(p, needle, name);
    nn_free(ed);
    nn_free(js);
}

static void test_unsupported_configs(void) {
    char good[PLEN];
    save_rt("good2.h5", good);
    with_config_edit(good, "lambda.h5", "\"Flatten\"", "\"Lambda\"", "Lambda");
    with_config_edit(good, "dilation.h5", "\"dilation_rate\":[1,1]", "\"dilation_rate\":[2,2]", "dilation");
    with_config_edit(good, "chfirst.h5", "\"data_format\":\"channels_last\"",
                     "\"data_format\":\"channels_first\"", "channels_first");
    with_config_edit(good, "selu.h5", "\"activation\":\"relu\"", "\"activation\":\"selu\"", "selu");
    with_config_edit(good, "functional.h5", "\"Sequential\"", "\"Functional\"", "Sequential");
    with_config_edit(good, "notjson.h5", "{", "{{", "JSON");
}

static void test_wrong_kernel_shape(void) {
    char good[PLEN], p[PLEN];
    save_rt("good3.h5", good);
    model a;
    char err[NN_ERRLEN];
    if (model_load_h5(&a, good, err)) {
        FAILF("%s", err);
        return;
    }
    const layer *d = &a.layers[4];   // the first dense layer: kernel (in, units)
    char dset[256], want[64], got[64];
    snprintf(dset, sizeof dset, "model_weights/%s/sequential/%s/kernel", d->name, d->name);
    snprintf(want, sizeof want, "(%d, %d)", d->in.c, d->units);
    snprintf(got, sizeof got, "(%d, %d)", d->in.c - 1, d->units);
    hsize_t dims[2] = {(hsize_t)d->in.c - 1, (hsize_t)d->units};
    tpath(p, "badshape.h5");
    copy_prefix(good, p, -1);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, dset, H5P_DEFAULT);
    hid_t s = H5Screate_simple(2, dims, NULL);
    H5Dclose(H5Dcreate2(f, dset, H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Sclose(s);
    H5Fclose(f);
    model m;
    err[0] = 0;
    CHECK(model_load_h5(&m, p, err) != 0);
    CHECK_MSG(one_line(err) && strstr(err, d->name) && strstr(err, want) && strstr(err, got),
              "error '%s' should name layer %s and the shapes %s, %s", err, d->name, got, want);
    model_free(&a);
}

// Single-byte corruptions anywhere in a good file: each load succeeds or fails cleanly; none
// may crash. Runs in a child so that a crash is reported with the offending offset.
static void test_byte_flips_never_crash(void) {
    char good[PLEN], p[PLEN];
    save_rt("good4.h5", good);
    tpath(p, "flipped.h5");
    int size = file_size(good);
    FILE *f = fopen(good, "rb");
    unsigned char *orig = nn_alloc((size_t)size, "file");
    if (fread(orig, 1, (size_t)size, f) != (size_t)size) FAILF("read %s", good);
    fclose(f);
    volatile long *cur = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        rng r;
        rng_seed(&r, 2024);
        for (int it = 0; it < 300; it++) {
            long off = (long)rng_below(&r, (uint32_t)size);
            unsigned char val = (unsigned char)(1 + rng_below(&r, 255));
            *cur = off;
            orig[off] ^= val;
            FILE *g = fopen(p, "wb");
            fwrite(orig, 1, (size_t)size, g);
            fclose(g);
            orig[off] ^= val;
            model m;
            char err[NN_ERRLEN];
            if (model_load_h5(&m, p, err) == 0) model_free(&m);
            else if (!one_line(err)) _exit(3);
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "loading a file with a byte changed at offset %ld %s",
              *cur, WIFSIGNALED(st) ? "crashed" : "gave a bad error line");
    munmap((void *)cur, sizeof(long));
    nn_free(orig);
}

// ------------------------------------------------------------------------------------------
// saving safely

static int find_temp(const char *base) {   // a "<base>.tmp-XXXXXX" in tmpdir that has data
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int found = 0;
    size_t n = strlen(base);
    char p[PLEN];
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, base, n) && !strncmp(e->d_name + n, ".tmp-", 5)) {
            tpath(p, e->d_name);
            found = file_size(p) > 0 ? 1 : found;
        }
    if (d) closedir(d);
    return found;
}

static void remove_temps(const char *base) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[PLEN];
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, base, strlen(base)) && strstr(e->d_name, ".tmp-")) {
            tpath(p, e->d_name);
            unlink(p);
        }
    if (d) closedir(d);
}

static void test_killed_save_keeps_old_model(void) {
    model a, big;
    char p[PLEN], err[NN_ERRLEN];
    if (make_model(&a, RT_CFG, 11)) return;
    // 8M parameters: four arenas make a 96 MB file, long enough to be killed in the middle
    if (model_parse_cfg(&big, "input 1 1 4096\nflatten\ndense units=2048 activation=sigmoid\n", "big", err)) {
        FAILF("%s", err);
        return;
    }
    model_init_weights(&big, 1);
    tpath(p, "model.h5");
    int caught = 0;
    for (int attempt = 0; attempt < 5 && !caught && !t_cur_failed; attempt++) {
        CHECK_MSG(model_save_h5(&a, p, err) == 0, "%s", err);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) _exit(model_save_h5(&big, p, err) == 0 ? 0 : 1);
        // The save builds the file in memory, then writes it to an unnamed temporary file
        // (O_TMPFILE) where the filesystem has them, so a temporary name may never be seen:
        // kill when one appears or after 30 ms, whichever comes first (the save takes longer).
        double t0 = nn_now();
        while (!find_temp("model.h5") && nn_now() - t0 < (attempt + 1) * 0.03) {
            if (waitpid(pid, NULL, WNOHANG) == pid) { pid = -1; break; }
            usleep(200);
        }
        if (pid > 0) {
            kill(pid, SIGKILL);
            int st;
            waitpid(pid, &st, 0);
            caught = WIFSIGNALED(st);
        }
        model b;
        CHECK_MSG(model_load_h5(&b, p, err) == 0, "after the kill: %s", err);
        if (!t_cur_failed) {
            if (caught)
                CHECK_MSG(b.nparams == a.nparams && !memcmp(a.w, b.w, a.nparams * sizeof(float)) &&
                              !memcmp(a.v, b.v, a.nparams * sizeof(float)) && b.t == a.t,
                          "the previous model was not left intact");
            model_free(&b);
        }
        remove_temps("model.h5");
    }
    if (!t_cur_failed && !caught) SKIP("the save finished before it could be killed 5 times over");
    // A save that cannot happen leaves no temporary file and says where it wanted to write.
    char q[PLEN];
    tpath(q, "no/such/folder/m.h5");
    err[0] = 0;
    CHECK(model_save_h5(&a, q, err) != 0 && one_line(err) && strstr(err, q));
    CHECK(model_save_h5(&a, tmpdir, err) != 0 && strstr(err, "folder"));
    CHECK(!find_temp("m.h5"));
    model_free(&a);
    model_free(&big);
}

// ------------------------------------------------------------------------------------------

// --predict MODEL.h5 OUT.txt: nn's predictions on the fixed inputs, as text for
// tests/oracles/keras_load_nn.py: a line "N H W C", N lines of inputs, N lines of outputs.
static int write_predictions(const char *mpath, const char *out) {
    model m;
    char err[NN_ERRLEN];
    if (model_load_h5(&m, mpath, err) != 0) {
        fprintf(stderr, "test_h5: %s\n", err);
        return 1;
    }
    enum { N = 4 };
    size_t per = shape3_size(m.input), osz = model_output_size(&m);
    float *x = nn_alloc(N * per * sizeof(float), "x"), *y = nn_alloc(N * osz * sizeof(float), "y");
    fixed_inputs(N, per, x);
    nn_ctx ctx = {.backend = NN_CPU, .seed = 1};
    model_predict(&m, &ctx, N, x, y);
    FILE *f = fopen(out, "w");
    if (!f) NN_DIE("cannot write %s", out);
    fprintf(f, "%d %d %d %d\n", N, m.input.h, m.input.w, m.input.c);
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < per; j++) fprintf(f, "%.9g%c", x[i * per + j], j + 1 < per ? ' ' : '\n');
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < osz; j++) fprintf(f, "%.9g%c", y[i * osz + j], j + 1 < osz ? ' ' : '\n');
    fclose(f);
    nn_free(x);
    nn_free(y);
    model_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    // --write-sample FILE [CFG]: the round-trip model (or CFG's, initialised as Keras does, with
    // random Adam state) saved as FILE, for tests/test_h5.py and the Keras interop script.
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "--write-sample")) {
        model a;
        char err[NN_ERRLEN] = "";
        char *cfg = NULL;
        if (argc == 4) {
            FILE *f = fopen(argv[3], "rb");
            cfg = nn_calloc(1 << 20, "cfg");
            if (!f || fread(cfg, 1, (1 << 20) - 1, f) == 0) NN_DIE("cannot read %s", argv[3]);
            fclose(f);
        }
        if (make_model(&a, cfg ? cfg : RT_CFG, 42) || model_save_h5(&a, argv[2], err)) {
            fprintf(stderr, "test_h5: cannot write %s: %s %s\n", argv[2], err, t_msg);
            return 1;
        }
        nn_free(cfg);
        model_free(&a);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "--predict")) return write_predictions(argv[2], argv[3]);
    tmpdir_make("h5");
    RUN(test_roundtrip_exact);
    RUN(test_no_classes_defaults);
    RUN(test_keras3_fixture);
    RUN(test_keras2_fixture);
    RUN(test_keras2_legacy_fixed_strings);
    RUN(test_configs_equal_keras);
    RUN(test_older_config_forms);
    RUN(test_bad_files);
    RUN(test_unsupported_configs);
    RUN(test_wrong_kernel_shape);
    RUN(test_byte_flips_never_crash);
    RUN(test_killed_save_keeps_old_model);
    cleanup();
    TEST_EXIT();
}
