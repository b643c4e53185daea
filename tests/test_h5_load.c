// test_h5_load.c: how a .h5 model is loaded (nn/h5_probe.c, nn/h5_read.c), beside test_h5.c's
// file format tests:
//  - a weights-only load (H5_LOAD_WEIGHTS_ONLY, what nn predict/evaluate/summary use) gives the
//    full load's weights bit for bit and so its predictions, leaves Adam's moments zero, still
//    reads the step count, epoch, settings and classes, and says whether Adam's state is there;
//    on a model with a dense kernel over 1 MiB it maps that kernel from the file (the fast
//    path is taken, not only correct);
//  - the child that reads the file records large plain datasets as file ranges only when it
//    reads the very file the parent opened (another file: everything is sent inline); large
//    datasets that are not plain (chunked and compressed, big-endian) are read by libhdf5 and
//    sent inline, with the same weights;
//  - every way the child can fail gives one error line naming the file: a crash, a hang, a
//    silent exit, its own error line (passed through as is), and answers that are malformed,
//    short, too long, or whose ranges leave gaps, overlap or point outside the file, a class
//    list too long, a parameter count that does not match the model (fake children, through
//    h5_load_via_child); a well-formed answer from a fake child loads, so the harness is right;
//  - a file truncated by another program while its weights are mapped stops the process with
//    one line and status 1, not SIGBUS;
//  - weights-only loads of truncated and byte-flipped copies of the mapped model fail cleanly.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../nn/common.h"
#include "../nn/h5.h"
#include "../nn/h5_internal.h"
#include "../nn/keras_json.h"
#include "../nn/rng.h"
#include "test.h"
#include "test_tmpdir.h"


// Small: every dataset under 64 KiB, all sent inline by the child.
static const char *SMALL_CFG =
    "input 12 10 3\n"
    "conv2d filters=5 kernel=3x2 stride=2 padding=same activation=relu\n"
    "maxpool2d pool=2\n"
    "conv2d filters=3 kernel=1 bias=false name=squeeze\n"
    "flatten\n"
    "dense units=6 activation=relu\n"
    "dense units=1 activation=sigmoid\n";
// A dense kernel of 1568 x 192 floats (1.2 MB): read from the file and mapped.
static const char *BIG_CFG =
    "input 16 16 4\n"
    "conv2d filters=8 kernel=3 activation=relu\n"
    "flatten\n"
    "dense units=192 activation=relu\n"
    "dense units=1 activation=sigmoid\n";

// A model with random weights, Adam state, classes and settings, saved at path.
static int save_model(const char *cfg, const char *path, uint64_t seed, model *out) {
    model a;
    char err[NN_ERRLEN];
    if (model_parse_cfg(&a, cfg, "test", err) != 0) {
        FAILF("cfg: %s", err);
        return -1;
    }
    model_init_weights(&a, seed);
    rng r;
    rng_seed(&r, seed + 1);
    for (size_t i = 0; i < a.nparams; i++) {
        a.w[i] += (float)rng_uniform_range(&r, -0.1, 0.1);
        a.m[i] = (float)rng_uniform_range(&r, -1e-3, 1e-3);
        a.v[i] = (float)rng_uniform_range(&r, 0, 1e-5);
    }
    a.t = 4321;
    a.epoch = 3;
    a.opt = (adam_cfg){0.0005f, 0.85f, 0.995f, 1e-6f};
    a.nclasses = 2;
    a.classes[0] = nn_strdup("cats");
    a.classes[1] = nn_strdup("dogs");
    if (model_save_h5(&a, path, err) != 0) {
        FAILF("save %s: %s", path, err);
        model_free(&a);
        return -1;
    }
    if (out) *out = a;
    else model_free(&a);
    return 0;
}

static int one_line(const char *err) { return err[0] && !strchr(err, '\n'); }

static int all_zero(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return 0;
    return 1;
}

static void predict(model *m, int n, const float *x, float *out) {
    nn_ctx ctx = {.backend = NN_CPU, .seed = 1, .threads = 1};
    model_predict(m, &ctx, n, x, out);
}

// ------------------------------------------------------------------------------------------
// weights only

static void check_weights_only(const char *cfg, const char *name, int expect_mapped) {
    char p[PLEN], err[NN_ERRLEN];
    tpath(p, name);
    model a, full, wo;
    if (save_model(cfg, p, 17, &a)) return;
    h5_info fi, wi;
    CHECK_MSG(model_load_h5_opts(&full, p, 0, &fi, err) == 0, "full load: %s", err);
    CHECK_MSG(model_load_h5_opts(&wo, p, H5_LOAD_WEIGHTS_ONLY, &wi, err) == 0, "weights-only load: %s", err);
    if (t_cur_failed) return;
    size_t bytes = a.nparams * sizeof(float);
    CHECK(wo.nparams == a.nparams && full.nparams == a.nparams);
    CHECK_MSG(!memcmp(full.w, a.w, bytes) && !memcmp(wo.w, a.w, bytes), "%s: weights differ", name);
    CHECK_MSG(!memcmp(full.m, a.m, bytes) && !memcmp(full.v, a.v, bytes), "%s: full load lost Adam's moments", name);
    CHECK_MSG(all_zero(wo.m, a.nparams) && all_zero(wo.v, a.nparams) && all_zero(wo.g, a.nparams),
              "%s: weights-only load left non-zero moments or gradients", name);
    CHECK(wo.t == a.t && full.t == a.t && wo.epoch == a.epoch && full.epoch == a.epoch);
    CHECK(!memcmp(&wo.opt, &a.opt, sizeof a.opt) && !memcmp(&full.opt, &a.opt, sizeof a.opt));
    CHECK(wo.nclasses == 2 && !strcmp(wo.classes[0], "cats") && !strcmp(wo.classes[1], "dogs"));
    CHECK_MSG(fi.adam_state == 1 && wi.adam_state == 1, "adam_state %d (full), %d (weights only)", fi.adam_state, wi.adam_state);
    CHECK_MSG((wo.w_release != NULL) == expect_mapped, "%s: weights %smapped from the file", name,
              wo.w_release ? "" : "not ");
    CHECK_MSG(full.w_release == NULL, "a full load must own its weights (training writes them)");
    enum { N = 3 };
    size_t per = shape3_size(a.input);
    float *x = nn_alloc(N * per * sizeof(float), "x"), pa[N], pf[N], pw[N];
    rng r;
    rng_seed(&r, 5);
    for (size_t i = 0; i < N * per; i++) x[i] = (float)rng_uniform(&r);
    predict(&a, N, x, pa);
    predict(&full, N, x, pf);
    predict(&wo, N, x, pw);
    CHECK_MSG(!memcmp(pa, pw, sizeof pa) && !memcmp(pf, pw, sizeof pa),
              "%s: predictions differ: saved %.9g, full %.9g, weights only %.9g", name, pa[0], pf[0], pw[0]);
    // a mapped arena is private: writing to it changes neither the file nor another load
    wo.w[wo.nparams - 1] += 1.0f;
    model again;
    CHECK_MSG(model_load_h5_opts(&again, p, H5_LOAD_WEIGHTS_ONLY, NULL, err) == 0, "%s", err);
    if (!t_cur_failed) {
        CHECK(!memcmp(again.w, a.w, bytes));
        model_free(&again);
    }
    nn_free(x);
    model_free(&a);
    model_free(&full);
    model_free(&wo);
}

static void test_weights_only_small(void) { check_weights_only(SMALL_CFG, "small.h5", 0); }
static void test_weights_only_mapped(void) { check_weights_only(BIG_CFG, "big.h5", 1); }

// A file without optimizer_weights (Keras's include_optimizer=False): adam_state 0, no steps.
static void test_no_adam_state(void) {
    char p[PLEN], err[NN_ERRLEN];
    tpath(p, "noopt.h5");
    if (save_model(SMALL_CFG, p, 3, NULL)) return;
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Ldelete(f, "optimizer_weights", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    for (int k = 0; k < 2 && !t_cur_failed; k++) {
        model m;
        h5_info info = {.adam_state = -1};
        CHECK_MSG(model_load_h5_opts(&m, p, k ? H5_LOAD_WEIGHTS_ONLY : 0, &info, err) == 0, "%s", err);
        if (t_cur_failed) return;
        CHECK_MSG(info.adam_state == 0 && m.t == 0, "adam_state %d, t %ld without optimizer_weights", info.adam_state, m.t);
        model_free(&m);
    }
}

// The child records file ranges only for the file the parent opened (a rename over the path
// between the parent's open and the child's would otherwise mix two files).
static void test_plan_only_for_same_file(void) {
    char p[PLEN], q[PLEN], err[NN_ERRLEN];
    tpath(p, "plan.h5");
    tpath(q, "other.h5");
    if (save_model(BIG_CFG, p, 4, NULL) || save_model(SMALL_CFG, q, 4, NULL)) return;
    for (int same = 1; same >= 0 && !t_cur_failed; same--) {
        int fd = open(same ? p : q, O_RDONLY);
        struct stat st;
        fstat(fd, &st);
        h5_plan plan = {.fd = fd, .fsize = (long long)st.st_size};
        model m;
        h5_loaded out;
        CHECK_MSG(h5_read_model(&m, p, H5_LOAD_WEIGHTS_ONLY, &plan, 0, &out, err) == 0, "%s", err);
        int nfile = 0;
        for (int i = 0; i < plan.n; i++) nfile += !plan.seg[i].inl;
        CHECK_MSG(plan.n == 6 && nfile == (same ? 1 : 0), "%s file: %d ranges, %d in the file",
                  same ? "same" : "another", plan.n, nfile);
        for (int i = 0; i < plan.n; i++) CHECK(plan.seg[i].arena == H5_ARENA_W);
        if (!t_cur_failed) model_free(&m);
        nn_free(plan.seg);
        close(fd);
    }
}

// The dense kernel of a copy of big.h5 rewritten chunked + deflated, or as big-endian floats:
// libhdf5 has to read (inflate, swap) it, so it is sent inline; the weights are the same.
static void test_unplain_datasets(void) {
    char p[PLEN], err[NN_ERRLEN];
    model a;
    for (int form = 0; form < 2 && !t_cur_failed; form++) {
        tpath(p, form ? "bigendian.h5" : "deflated.h5");
        if (save_model(BIG_CFG, p, 12, &a)) return;
        const layer *d = &a.layers[2];   // the dense layer with the 1.2 MB kernel
        char dset[256];
        snprintf(dset, sizeof dset, "model_weights/%s/sequential/%s/kernel", d->name, d->name);
        hsize_t dims[2] = {(hsize_t)d->in.c, (hsize_t)d->units}, chunk[2] = {64, 64};
        hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT), s = H5Screate_simple(2, dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (!form) H5Pset_chunk(dcpl, 2, chunk), H5Pset_deflate(dcpl, 6);
        H5Ldelete(f, dset, H5P_DEFAULT);
        hid_t ds = H5Dcreate2(f, dset, form ? H5T_IEEE_F32BE : H5T_IEEE_F32LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        CHECK(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.w + d->woff) >= 0);
        H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(s);
        H5Fclose(f);
        for (int k = 0; k < 2 && !t_cur_failed; k++) {
            model m;
            CHECK_MSG(model_load_h5_opts(&m, p, k ? H5_LOAD_WEIGHTS_ONLY : 0, NULL, err) == 0, "%s", err);
            if (t_cur_failed) break;
            CHECK_MSG(!memcmp(m.w, a.w, a.nparams * sizeof(float)), "%s: weights differ",
                      form ? "big-endian kernel" : "deflated kernel");
            CHECK(m.w_release == NULL);   // the kernel came inline, nothing to map
            model_free(&m);
        }
        model_free(&a);
    }
}

// ------------------------------------------------------------------------------------------
// children that fail

static char mc_json[1 << 16];      // model_config of SMALL_CFG, for fake frames
static size_t small_nparams;
static int fake_mode;

enum { F_CRASH, F_HANG, F_SILENT, F_ERRLINE, F_GARBAGE, F_SHORT, F_GOOD, F_GAP, F_OUTSIDE,
       F_NPARAMS, F_EXTRA, F_MOMENTS, F_CLASSES, F_NUL, F_LONGTEXT, F_NMODES };
static const char *fake_name[F_NMODES] = {"crash", "hang", "silent exit", "error line", "garbage",
    "short", "good", "gap", "outside the file", "parameter count", "extra bytes", "moments",
    "too many classes", "zero in the JSON", "text longer than the file"};
static const char *fake_needle[F_NMODES] = {"crashed reading it, signal 11", "hung reading it",
    "failed with status 2", "a line of the child's own", "malformed", "too little", NULL,
    "segments", "segments", "parameter count", "more data", "segments", "header values",
    "model_config", "model_config"};

static void fake_child(const char *path, unsigned flags, int file_fd, long long fsize, int wfd) {
    (void)flags, (void)file_fd;
    char buf[256];
    switch (fake_mode) {
    case F_CRASH:
        if (write(wfd, "F\x6e\x48", 3) < 0) _exit(9);
        raise(SIGSEGV);
        break;
    case F_HANG: raise(SIGALRM); break;
    case F_SILENT: _exit(2);
    case F_ERRLINE:
        snprintf(buf, sizeof buf, "E%s: a line of the child's own", path);
        if (write(wfd, buf, strlen(buf)) < 0) _exit(9);
        _exit(1);
    case F_GARBAGE:
        for (int i = 0; i < 200; i++) buf[i] = (char)(i * 37 + 11);
        buf[0] = 'F';
        if (write(wfd, buf, 200) < 0) _exit(9);
        _exit(0);
    default: break;
    }
    // A frame: SMALL_CFG's model, all values inline (1.0f each), then the mode's defect.
    frame_head h;
    memset(&h, 0, sizeof h);
    h.magic = FRAME_MAGIC, h.version = FRAME_VERSION;
    h.nparams = small_nparams + (fake_mode == F_NPARAMS);
    h.mc_len = strlen(mc_json);
    h.t = 9, h.epoch = 2, h.adam_state = 1;
    h.nclasses = fake_mode == F_CLASSES ? 17 : 1;
    h.nseg = fake_mode == F_GAP ? 2 : 1;
    if (fake_mode == F_NUL) mc_json[10] = 0;   // the length still says the whole text
    if (fake_mode == F_LONGTEXT) h.mc_len = (uint64_t)fsize + 1;
    h5_seg s[2] = {{H5_ARENA_W, 1, 0, small_nparams, 0}, {H5_ARENA_W, 1, 0, 0, 0}};
    if (fake_mode == F_GAP) s[0].count = small_nparams / 2, s[1].dst = small_nparams / 2 + 1, s[1].count = small_nparams / 2 - 1;
    if (fake_mode == F_OUTSIDE) s[0].inl = 0, s[0].file_off = (uint64_t)fsize - 8;
    if (fake_mode == F_MOMENTS) s[0].arena = H5_ARENA_M;
    uint32_t one = 4;
    size_t n = small_nparams;
    float *vals = nn_alloc(n * sizeof(float), "values");
    for (size_t i = 0; i < n; i++) vals[i] = 1.0f;
    size_t text = fake_mode == F_LONGTEXT ? strlen(mc_json) : h.mc_len;
    size_t nval = fake_mode == F_SHORT ? n / 2 : n;   // short: half the values, then a clean exit
    int bad = write(wfd, "F", 1) != 1 || write(wfd, &h, sizeof h) != sizeof h ||
              write(wfd, mc_json, text) < 0 || write(wfd, &one, 4) != 4 || write(wfd, "cats", 4) != 4 ||
              write(wfd, s, h.nseg * sizeof *s) < 0 || write(wfd, vals, nval * sizeof(float)) < 0;
    if (fake_mode == F_EXTRA && write(wfd, "x", 1) < 0) bad = 1;
    _exit(bad ? 9 : 0);
}

static void test_failing_children(void) {
    char p[PLEN], err[NN_ERRLEN];
    tpath(p, "fake.h5");
    model a;
    if (save_model(SMALL_CFG, p, 8, &a)) return;
    char *js = keras_model_config_json(&a);
    snprintf(mc_json, sizeof mc_json, "%s", js);
    nn_free(js);
    small_nparams = a.nparams;
    for (fake_mode = 0; fake_mode < F_NMODES; fake_mode++) {   // (each child edits its own copy)
        model m;
        err[0] = 0;
        int rc = h5_load_via_child(&m, p, H5_LOAD_WEIGHTS_ONLY, NULL, fake_child, err);
        if (fake_mode == F_GOOD) {
            CHECK_MSG(rc == 0, "a well-formed answer was refused: %s", err);
            if (rc == 0) {
                CHECK(m.nparams == a.nparams && m.w[0] == 1.0f && m.w[m.nparams - 1] == 1.0f && m.t == 9 &&
                      m.epoch == 2 && m.nclasses == 1 && !strcmp(m.classes[0], "cats"));
                model_free(&m);
            }
            continue;
        }
        CHECK_MSG(rc == -1, "%s: loaded", fake_name[fake_mode]);
        if (rc == 0) model_free(&m);
        CHECK_MSG(one_line(err) && strstr(err, p) && strstr(err, fake_needle[fake_mode]),
                  "%s: error '%s' should be one line naming the file and saying '%s'", fake_name[fake_mode],
                  err, fake_needle[fake_mode]);
    }
    model_free(&a);
}

// ------------------------------------------------------------------------------------------
// the file under a mapped arena

static void test_truncated_while_mapped(void) {
    char p[PLEN], err[NN_ERRLEN];
    tpath(p, "shrinks.h5");
    if (save_model(BIG_CFG, p, 6, NULL)) return;
    int fd[2];
    if (pipe(fd) != 0) return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        model m;
        if (model_load_h5_opts(&m, p, H5_LOAD_WEIGHTS_ONLY, NULL, err) != 0 || !m.w_release) _exit(7);
        if (truncate(p, 0) != 0) _exit(8);
        volatile float s = 0;
        for (size_t i = 0; i < m.nparams; i += 1024) s += m.w[i];   // SIGBUS here
        _exit(9);
    }
    close(fd[1]);
    char out[512] = "";
    size_t got = 0;
    ssize_t k;
    while (got < sizeof out - 1 && (k = read(fd[0], out + got, sizeof out - 1 - got)) > 0) got += (size_t)k;
    out[got] = 0;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 1, "the reader %s %d (7: no mapping, 9: no fault)",
              WIFSIGNALED(st) ? "died of signal" : "exited with", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    CHECK_MSG(strstr(out, p) && strstr(out, "changed on disk") && strchr(out, '\n') == out + got - 1,
              "stderr: '%s'", out);
}

// Truncations and single-byte changes of the mapped model: weights-only loads fail cleanly or
// load; never crash (in a child, so that a crash names the offset).
static void test_weights_only_bad_copies(void) {
    char good[PLEN], p[PLEN], err[NN_ERRLEN];
    tpath(good, "wo_good.h5");
    tpath(p, "wo_bad.h5");
    if (save_model(BIG_CFG, good, 9, NULL)) return;
    FILE *f = fopen(good, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *orig = nn_alloc((size_t)size, "file");
    if (fread(orig, 1, (size_t)size, f) != (size_t)size) FAILF("read %s", good);
    fclose(f);
    long cuts[] = {96, 2048, size / 4, size / 2, size - 4096, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts && !t_cur_failed; i++) {
        f = fopen(p, "wb");
        fwrite(orig, 1, (size_t)cuts[i], f);
        fclose(f);
        model m;
        err[0] = 0;
        int rc = model_load_h5_opts(&m, p, H5_LOAD_WEIGHTS_ONLY, NULL, err);
        if (rc == 0) model_free(&m);
        CHECK_MSG(rc == -1 && one_line(err) && strstr(err, p), "cut at %ld of %ld: %d '%s'", cuts[i], size, rc, err);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        rng r;
        rng_seed(&r, 77);
        for (int it = 0; it < 60; it++) {
            // the first 64 KiB hold HDF5's structures; the rest is mostly the dense kernel
            long off = (long)rng_below(&r, it % 2 ? (uint32_t)size : 65536u);
            unsigned char val = (unsigned char)(1 + rng_below(&r, 255));
            orig[off] ^= val;
            FILE *g = fopen(p, "wb");
            fwrite(orig, 1, (size_t)size, g);
            fclose(g);
            orig[off] ^= val;
            model m;
            if (model_load_h5_opts(&m, p, H5_LOAD_WEIGHTS_ONLY, NULL, err) == 0) {
                // every weight is read (not model_predict: OpenMP, used before the fork, is not
                // fork-safe and would hang here)
                volatile float s = 0;
                for (size_t i = 0; i < m.nparams; i++) s += m.w[i];
                model_free(&m);
            } else if (!one_line(err)) {
                _exit(3);
            }
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a byte-flipped copy %s",
              WIFSIGNALED(st) ? "crashed the loader" : "gave a bad error line");
    nn_free(orig);
}

// ------------------------------------------------------------------------------------------

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    tmpdir_make("h5-load");
    RUN(test_weights_only_small);
    RUN(test_weights_only_mapped);
    RUN(test_no_adam_state);
    RUN(test_plan_only_for_same_file);
    RUN(test_unplain_datasets);
    RUN(test_failing_children);
    RUN(test_truncated_while_mapped);
    RUN(test_weights_only_bad_copies);
    cleanup();
    TEST_EXIT();
}
