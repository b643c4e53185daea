// test_regressions.c: every input that once crashed a fuzz target (tests/fuzz/regressions/
// NAME/, committed with its fix) is run through the library function it crashed, from its file
// as a user would give it: each must give -1 and one error line that names the file, under
// the normal build and under make test SANITIZE=1 (where ASan/UBSan would report a relapse).
// An input named *.ok.* is one that must load (a fix that made a good file readable again).
// tests/README.md lists what each file is.
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../data/data.h"
#include "../nn/common.h"
#include "../nn/h5.h"
#include "../nn/model.h"
#include "test.h"

#define DIR_ROOT "tests/fuzz/regressions"

typedef int (*try_fn)(const char *path, char *err);

static int try_image(const char *path, char *err) {
    uint8_t out[64 * 64 * 3], *rgb = NULL;
    int h, w;
    char err2[NN_ERRLEN];
    int a = image_load_rgb(path, 64, 64, out, err);
    int b = image_decode_rgb(path, &rgb, &h, &w, err2);
    if (rgb) image_free_decoded(rgb);
    if (a != b) {   // both entry points must agree on the verdict
        snprintf(err, NN_ERRLEN, "image_load_rgb says %d, image_decode_rgb says %d (%.200s)", a, b, err2);
        return -2;
    }
    return a;
}

static int try_cfg(const char *path, char *err) {
    model m;
    int rc = model_load_cfg(&m, path, err);
    if (rc == 0) model_free(&m);
    return rc;
}

static int try_h5(const char *path, char *err) {
    model m;
    int rc = model_load_h5(&m, path, err);
    if (rc == 0) model_free(&m);
    return rc;
}

static void run_dir(const char *name, try_fn fn) {
    char dir[256];
    snprintf(dir, sizeof dir, DIR_ROOT "/%s", name);
    DIR *d = opendir(dir);
    if (!d) SKIP("%s: no such folder (run from the repository root)", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[600], err[NN_ERRLEN] = "";
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int want_ok = strstr(e->d_name, ".ok.") != NULL;
        int rc = fn(path, err);
        n++;
        if (want_ok)
            CHECK_MSG(rc == 0, "%s should load: %s", path, err);
        else
            CHECK_MSG(rc == -1 && err[0] && strstr(err, path),
                      "%s: expected -1 and an error line naming the file, got %d '%s'", path, rc, err);
    }
    closedir(d);
    if (n == 0) SKIP("%s holds no inputs", dir);
}

static void image_regressions(void) { run_dir("image", try_image); }
static void cfg_regressions(void) { run_dir("cfg", try_cfg); }
static void h5_regressions(void) { run_dir("h5", try_h5); }

int main(void) {
    RUN(image_regressions);
    RUN(cfg_regressions);
    RUN(h5_regressions);
    TEST_EXIT();
}
