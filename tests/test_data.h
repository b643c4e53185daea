// test_data.h: helpers shared by the data pipeline's test binaries (test_data.c,
// test_data_augment.c): a scratch folder under /tmp, files and PNGs written there, fixtures
// read, FNV-1a hashes, stderr captured while a call runs. Static functions: each binary
// includes this once.
#ifndef NN_TEST_DATA_H
#define NN_TEST_DATA_H

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image_write.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../data/data.h"
#include "../nn/common.h"
#include "test.h"

// ---------------------------------------------------------------------------------------------
// Helpers: a scratch folder, files, fixtures, hashes, stderr capture.

static char g_tmp[256];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

// A path in the scratch folder; valid until 8 more calls (copy it to keep it).
static const char *tmp_path(const char *rel) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, rel);
    return buf[k];
}

static void mkdirs(const char *path) {
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

// A whole file into memory (nn_free), *n its length; NULL when it cannot be opened.
static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = nn_alloc((size_t)len + 1, "file");
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) NN_DIE("cannot write %s: %s", path, strerror(errno));
    if (n && fwrite(data, 1, n, f) != n) NN_DIE("cannot write %s", path);
    fclose(f);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = nn_alloc((size_t)n + 1, "file");
    s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

static uint64_t fnv64(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void hex_decode(const char *hex, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static const char *shared_dir(void) {
    const char *d = getenv("NN_SHARED_DATA");
    if (!d || !*d) d = "../shared/data";
    struct stat st;
    return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

// Deterministic test pixels: a gradient with noise, so resizes and JPEG have something to do.
static void fill_pixels(uint8_t *p, int h, int w, int comp, unsigned seed) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < comp; c++) {
                seed = seed * 1103515245u + 12345u;
                p[(y * w + x) * comp + c] = (uint8_t)((x * 255 / NN_MAX(w - 1, 1) + y * 3 * c +
                                                       (seed >> 16) % 32) & 255);
            }
}

static void write_png(const char *path, int h, int w, int comp, unsigned seed) {
    uint8_t *p = nn_alloc((size_t)h * w * comp, "png");
    fill_pixels(p, h, w, comp, seed);
    if (!stbi_write_png(path, w, h, comp, p, w * comp)) NN_DIE("cannot write %s", path);
    nn_free(p);
}

// JPEGs come from tests/fixtures/data_modes/ (written by Pillow's libjpeg): stb_image_write's
// JPEG writer trips UndefinedBehaviorSanitizer, and libjpeg's layouts are the ones photos have.
static void copy_fixture(const char *name, const char *dst) {
    char src[256];
    snprintf(src, sizeof src, "tests/fixtures/data_modes/%s", name);
    FILE *f = fopen(src, "rb");
    if (!f) NN_DIE("fixture %s missing (run tests/oracles/resize_pil.py)", src);
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(dst, buf, n);
}

// stderr into a file while a call runs, to check the warnings it prints.
static int g_saved_stderr = -1;
static void capture_stderr(void) {
    fflush(stderr);
    g_saved_stderr = dup(2);
    int fd = open(tmp_path("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
}
static char *captured_stderr(void) {
    fflush(stderr);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    return read_text(tmp_path("stderr.txt"));
}

static int count_lines(const char *s, const char *needle) {
    int n = 0;
    for (const char *l = s; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)NN_MIN(len, sizeof line - 1), l);
        if (strstr(line, needle)) n++;
        l = e ? e + 1 : l + len;
    }
    return n;
}

// Creates the scratch folder (dies if /tmp is unusable) and removes it again.
static void scratch_begin(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/nn-test-data-XXXXXX");
    if (!mkdtemp(g_tmp)) NN_DIE("cannot create a scratch folder in /tmp: %s", strerror(errno));
}
static void scratch_end(void) { nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

#endif
