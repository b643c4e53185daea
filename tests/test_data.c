// test_data.c: the data pipeline against its oracles and its promises.
//  - listing, order, extensions and validation_split equal keras_preprocessing 1.1.0's
//    flow_from_directory on a tree of traps (tests/fixtures/data_listing.txt, from
//    tests/oracles/listing_keras.py);
//  - decoding to RGB equals Pillow's convert('RGB') for every image mode a folder may hold, and
//    the NEAREST resize equals Pillow's, on synthetic patterns and on the shared photos decoded
//    by stb (tests/oracles/resize_pil.py); the JPEG shortcut equals the plain decode bit for bit;
//  - augmentation equals Keras's apply_transform + standardize to 1e-4
//    (tests/oracles/augment_keras.py), and its random draws have the right distributions;
//  - every bad input is refused with its reason, skipped with one warning, and counted; the
//    cache file is reused only while nothing changed; the loader covers each image once per
//    epoch, reshuffles between epochs, and does not depend on its number of threads.
// Tests that need the shared photos SKIP when ${NN_SHARED_DATA:-../shared/data} is absent.
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

// ---------------------------------------------------------------------------------------------
// Listing.

static const char *rel_to(const char *path, const char *root) {
    size_t n = strlen(root);
    return strncmp(path, root, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

static void test_listing_matches_keras(void) {
    char *fx = read_text("tests/fixtures/data_listing.txt");
    if (!fx) SKIP("tests/fixtures/data_listing.txt missing (run tests/oracles/listing_keras.py)");
    char root[512];
    snprintf(root, sizeof root, "%s", tmp_path("tree"));
    mkdirs(root);
    char want_cls[16][64];
    int ncls = 0;
    struct { char tag[8]; int label; char rel[256]; } want[256];
    int nwant = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[3] = {0};
        int k = 0;
        for (char *s = line; k < 3 && s;) {
            f[k++] = s;
            s = strchr(s, '\t');
            if (s) *s++ = 0;
        }
        char p[1024];
        if (!strcmp(f[0], "dir")) {
            snprintf(p, sizeof p, "%s/%s", root, f[1]);
            mkdirs(p);
        } else if (!strcmp(f[0], "file")) {
            snprintf(p, sizeof p, "%s/%s", root, f[1]);
            write_bytes(p, "x", 1);
        } else if (!strcmp(f[0], "link")) {
            snprintf(p, sizeof p, "%s/%s", root, f[1]);
            CHECK(symlink(f[2], p) == 0);
        } else if (!strcmp(f[0], "class")) {
            snprintf(want_cls[ncls++], 64, "%s", f[1]);
        } else if (f[0][0] != '#' && nwant < 256) {
            snprintf(want[nwant].tag, 8, "%s", f[0]);
            want[nwant].label = atoi(f[1]);
            snprintf(want[nwant].rel, 256, "%s", f[2]);
            nwant++;
        }
    }
    nn_free(fx);
    char err[NN_ERRLEN];
    dataset all, tr, va;
    CHECK_MSG(dataset_open(&all, root, err) == 0, "%s", err);
    CHECK(all.nclasses == ncls);
    for (int c = 0; c < NN_MIN(ncls, all.nclasses); c++)
        CHECK_MSG(!strcmp(all.classes[c], want_cls[c]), "class %d: %s, Keras %s", c,
                  all.classes[c], want_cls[c]);
    CHECK_MSG(dataset_split(&all, 0.3, &tr, &va, err) == 0, "%s", err);
    const dataset *sets[3] = {&all, &va, &tr};
    const char *tags[3] = {"all", "val", "train"};
    for (int s = 0; s < 3; s++) {
        int k = 0;
        for (int i = 0; i < nwant; i++) {
            if (strcmp(want[i].tag, tags[s])) continue;
            if (k >= sets[s]->n) {
                FAILF("%s: only %d files listed, Keras lists %s too", tags[s], sets[s]->n, want[i].rel);
                break;
            }
            const char *got = rel_to(sets[s]->paths[k], root);
            CHECK_MSG(!strcmp(got, want[i].rel) && sets[s]->labels[k] == want[i].label,
                      "%s file %d: %s (class %d), Keras %s (class %d)", tags[s], k, got,
                      sets[s]->labels[k], want[i].rel, want[i].label);
            k++;
        }
        CHECK_MSG(k == sets[s]->n, "%s: %d files listed, Keras %d", tags[s], sets[s]->n, k);
    }
    dataset_free(&all);
    dataset_free(&tr);
    dataset_free(&va);
}

static void test_listing_errors(void) {
    char err[NN_ERRLEN];
    dataset d;
    CHECK(dataset_open(&d, tmp_path("no_such_folder"), err) < 0);
    CHECK(strstr(err, "no_such_folder") && strstr(err, "No such file"));
    write_bytes(tmp_path("plain_file"), "x", 1);
    CHECK(dataset_open(&d, tmp_path("plain_file"), err) < 0 && strstr(err, "not a folder"));
    mkdirs(tmp_path("flat_only"));
    write_bytes(tmp_path("flat_only/cat.1.jpg"), "x", 1);
    CHECK(dataset_open(&d, tmp_path("flat_only"), err) < 0);
    CHECK_MSG(strstr(err, "no class subfolders") && strstr(err, "1 images"), "%s", err);
    mkdirs(tmp_path("empty_folder"));
    CHECK(dataset_open(&d, tmp_path("empty_folder"), err) < 0 && strstr(err, "no class subfolders"));
    mkdirs(tmp_path("no_images/cats"));
    mkdirs(tmp_path("no_images/dogs"));
    write_bytes(tmp_path("no_images/cats/readme.txt"), "x", 1);
    CHECK(dataset_open(&d, tmp_path("no_images"), err) < 0);
    CHECK_MSG(strstr(err, "no images") && strstr(err, "2 class subfolders"), "%s", err);
    // One class lists fine; the binary model's check refuses it, naming the class.
    mkdirs(tmp_path("one_class/cats"));
    write_bytes(tmp_path("one_class/cats/a.jpg"), "x", 1);
    CHECK(dataset_open(&d, tmp_path("one_class"), err) == 0);
    CHECK(dataset_check_classes(&d, 2, err) < 0);
    CHECK_MSG(strstr(err, "1 class (cats)") && strstr(err, "exactly 2"), "%s", err);
    CHECK(dataset_check_classes(&d, 1, err) == 0);
    // Splits that leave nothing on one side, or are not fractions, are refused.
    dataset tr, va;
    CHECK(dataset_split(&d, 0.5, &tr, &va, err) < 0 && strstr(err, "no validation image"));
    CHECK(dataset_split(&d, 0.0, &tr, &va, err) < 0 && strstr(err, "between 0 and 1"));
    CHECK(dataset_split(&d, 1.0, &tr, &va, err) < 0);
    CHECK(dataset_split(&d, -0.2, &tr, &va, err) < 0);
    dataset_free(&d);
}

static void test_flat_layout(void) {
    char err[NN_ERRLEN];
    const char *names[] = {"dog.1.jpg", "cat.10.jpg", "cat.2.PNG", "cat.1.jpg", "notes.txt"};
    mkdirs(tmp_path("flat"));
    for (int i = 0; i < 5; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", tmp_path("flat"), names[i]);
        write_bytes(p, "x", 1);
    }
    dataset d;
    CHECK_MSG(dataset_open_flat(&d, tmp_path("flat"), err) == 0, "%s", err);
    CHECK(d.nclasses == 2 && d.n == 4);
    if (d.n == 4 && d.nclasses == 2) {
        CHECK(!strcmp(d.classes[0], "cat") && !strcmp(d.classes[1], "dog"));
        // Python's sorted() on names: byte order, so cat.1 < cat.10 < cat.2.
        const char *order[] = {"cat.1.jpg", "cat.10.jpg", "cat.2.PNG", "dog.1.jpg"};
        int labels[] = {0, 0, 0, 1};
        for (int i = 0; i < 4; i++)
            CHECK_MSG(!strcmp(rel_to(d.paths[i], tmp_path("flat")), order[i]) &&
                      d.labels[i] == labels[i], "file %d: %s", i, d.paths[i]);
    }
    dataset_free(&d);
    write_bytes(tmp_path("flat/12.jpg"), "x", 1);  // Kaggle's unlabelled test1/ naming
    CHECK(dataset_open_flat(&d, tmp_path("flat"), err) < 0 && strstr(err, "12.jpg"));
}

// ---------------------------------------------------------------------------------------------
// Decoding and resizing against Pillow.

static void test_decode_modes_vs_pillow(void) {
    char *fx = read_text("tests/fixtures/data_modes.txt");
    if (!fx) SKIP("tests/fixtures/data_modes.txt missing (run tests/oracles/resize_pil.py)");
    int n = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64];
        int h, w, off;
        if (line[0] == '#' || sscanf(line, "%63s %d %d %n", name, &h, &w, &off) != 3) continue;
        uint8_t *want = nn_alloc((size_t)h * w * 3, "want");
        hex_decode(line + off, want, (size_t)h * w * 3);
        char path[256], err[NN_ERRLEN];
        snprintf(path, sizeof path, "tests/fixtures/data_modes/%s", name);
        uint8_t *got;
        int gh, gw;
        if (image_decode_rgb(path, &got, &gh, &gw, err) < 0) {
            FAILF("%s", err);
        } else {
            CHECK_MSG(gh == h && gw == w && memcmp(got, want, (size_t)h * w * 3) == 0,
                      "%s: RGB differs from Pillow's convert('RGB')", name);
            image_free_decoded(got);
        }
        nn_free(want);
        n++;
    }
    nn_free(fx);
    CHECK(n >= 10);
}

static void pattern(uint8_t *p, int h, int w) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++, p += 3) {
            p[0] = (uint8_t)(x & 255);
            p[1] = (uint8_t)(y & 255);
            p[2] = (uint8_t)(((x >> 8) & 15) | (((y >> 8) & 15) << 4));
        }
}

static void test_resize_patterns_vs_pillow(void) {
    char *fx = read_text("tests/fixtures/data_resize.txt");
    if (!fx) SKIP("tests/fixtures/data_resize.txt missing (run tests/oracles/resize_pil.py)");
    int n = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        int sh, sw, dh, dw;
        unsigned long long want;
        if (sscanf(line, "pattern %d %d %d %d %llx", &sh, &sw, &dh, &dw, &want) != 5) continue;
        uint8_t *src = nn_alloc((size_t)sh * sw * 3, "src"), *dst = nn_alloc((size_t)dh * dw * 3, "dst");
        pattern(src, sh, sw);
        image_resize_nearest(src, sh, sw, dst, dh, dw);
        CHECK_MSG(fnv64(dst, (size_t)dh * dw * 3) == want, "%dx%d -> %dx%d differs from Pillow",
                  sh, sw, dh, dw);
        nn_free(src);
        nn_free(dst);
        n++;
    }
    nn_free(fx);
    CHECK(n >= 20);
}

static void test_resize_photos_vs_pillow(void) {
    const char *shared = shared_dir();
    if (!shared) SKIP("shared photos not found (set NN_SHARED_DATA; default ../shared/data)");
    char *fx = read_text("tests/fixtures/data_resize.txt");
    if (!fx) SKIP("tests/fixtures/data_resize.txt missing (run tests/oracles/resize_pil.py)");
    int n = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        char rel[256], path[512], err[NN_ERRLEN];
        int sh, sw, dh, dw;
        unsigned long long srcsum, want;
        if (sscanf(line, "photo %255s %d %d %llx %d %d %llx", rel, &sh, &sw, &srcsum, &dh, &dw,
                   &want) != 7)
            continue;
        snprintf(path, sizeof path, "%s/%s", shared, rel);
        uint8_t *src, *dst = nn_alloc((size_t)dh * dw * 3, "dst");
        int h, w;
        if (image_decode_rgb(path, &src, &h, &w, err) < 0) {
            FAILF("%s", err);
            nn_free(dst);
            break;
        }
        CHECK_MSG(h == sh && w == sw && fnv64(src, (size_t)h * w * 3) == srcsum,
                  "%s: stb decodes it differently from the oracle's stb (another libstb-dev?)", rel);
        image_resize_nearest(src, h, w, dst, dh, dw);
        CHECK_MSG(fnv64(dst, (size_t)dh * dw * 3) == want, "%s -> %dx%d differs from Pillow", rel,
                  dh, dw);
        memset(dst, 0, (size_t)dh * dw * 3);
        CHECK_MSG(image_load_rgb(path, dh, dw, dst, err) == 0, "%s", err);
        CHECK_MSG(fnv64(dst, (size_t)dh * dw * 3) == want,
                  "%s -> %dx%d: image_load_rgb differs from Pillow", rel, dh, dw);
        image_free_decoded(src);
        nn_free(dst);
        n++;
    }
    nn_free(fx);
    CHECK_MSG(n >= 300, "only %d photo cases", n);
}

// The JPEG shortcut against the full decode, on generated JPEGs of every sampling stb writes
// (4:2:0 below quality 90, 4:4:4 above, gray) and on a sample of the training photos.
static void test_jpeg_shortcut_exact(void) {
    char *fx = read_text("tests/fixtures/data_modes.txt");
    if (!fx) SKIP("tests/fixtures/data_modes.txt missing (run tests/oracles/resize_pil.py)");
    int sizes[][2] = {{64, 64}, {31, 47}, {300, 257}, {1, 1}};
    char err[NN_ERRLEN];
    uint8_t *a = nn_alloc(300 * 300 * 3, "a"), *b = nn_alloc(300 * 300 * 3, "b");
    int njpeg = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64], p[256];
        int h, w;
        if (sscanf(line, "jpeg %63s %d %d", name, &h, &w) != 3) continue;
        snprintf(p, sizeof p, "tests/fixtures/data_modes/%s", name);
        njpeg++;
        for (int s = 0; s < 4; s++) {
            int dh = sizes[s][0], dw = sizes[s][1];
            CHECK_MSG(image_load_rgb(p, dh, dw, a, err) == 0, "%s", err);
            CHECK(image_load_rgb_slow(p, dh, dw, b, err) == 0);
            CHECK_MSG(!memcmp(a, b, (size_t)dh * dw * 3), "%s (%dx%d) -> %dx%d", name, h, w, dh, dw);
        }
    }
    nn_free(fx);
    CHECK(njpeg >= 7);
    const char *shared = shared_dir();
    if (shared) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/catsdogs/test_set", shared);
        dataset d;
        if (dataset_open(&d, dir, err) == 0) {
            for (int i = 0; i < d.n; i += 37) {
                CHECK(image_load_rgb(d.paths[i], 64, 64, a, err) == 0);
                CHECK(image_load_rgb_slow(d.paths[i], 64, 64, b, err) == 0);
                CHECK_MSG(!memcmp(a, b, 64 * 64 * 3), "%s", d.paths[i]);
            }
            dataset_free(&d);
        }
    }
    nn_free(a);
    nn_free(b);
}

// ---------------------------------------------------------------------------------------------
// Bad input.

// Writes the bad files of the issue into DIR and returns how many.
static int write_bad_files(const char *dir) {
    char p[512];
    // A JPEG cut in half.
    snprintf(p, sizeof p, "%s/truncated.jpg", dir);
    copy_fixture("jpeg_444.jpg", p);
    struct stat st;
    stat(p, &st);
    CHECK(truncate(p, st.st_size / 2) == 0);
    snprintf(p, sizeof p, "%s/empty.jpg", dir);
    write_bytes(p, "", 0);
    snprintf(p, sizeof p, "%s/text.jpg", dir);
    write_bytes(p, "this is not an image\n", 21);
    // A PNG whose header claims 100000 x 100000 pixels (then nothing).
    static const uint8_t huge[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                   'I', 'H', 'D', 'R', 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0,
                                   8, 2, 0, 0, 0, 0, 0, 0, 0};
    snprintf(p, sizeof p, "%s/huge.png", dir);
    write_bytes(p, huge, sizeof huge);
    // A PNG cut short.
    snprintf(p, sizeof p, "%s/truncated.png", dir);
    write_png(p, 40, 40, 3, 9);
    stat(p, &st);
    CHECK(truncate(p, st.st_size - 40) == 0);
    return 5;
}

static void test_bad_files_refused(void) {
    mkdirs(tmp_path("bad1"));
    write_bad_files(tmp_path("bad1"));
    struct { const char *name, *reason; } want[] = {
        {"truncated.jpg", "corrupt or truncated"}, {"empty.jpg", "empty file"},
        {"text.jpg", "not a readable"}, {"huge.png", "100000 x 100000"},
        {"truncated.png", "corrupt or truncated"}, {"missing.jpg", "cannot open"}};
    uint8_t out[64 * 64 * 3];
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char p[512], err[NN_ERRLEN] = "";
        snprintf(p, sizeof p, "%s/%s", tmp_path("bad1"), want[i].name);
        CHECK_MSG(image_load_rgb(p, 64, 64, out, err) < 0, "%s was accepted", want[i].name);
        CHECK_MSG(strstr(err, p) && strstr(err, want[i].reason), "%s: '%s'", want[i].name, err);
        uint8_t *px;
        int h, w;
        CHECK(image_decode_rgb(p, &px, &h, &w, err) < 0 && px == NULL);
    }
}

static void test_bad_files_skipped_with_one_warning(void) {
    char root[512];
    snprintf(root, sizeof root, "%s", tmp_path("bad2"));
    char cats[1024], dogs[1024], p[1200], err[NN_ERRLEN];
    snprintf(cats, sizeof cats, "%s/cats", root);
    snprintf(dogs, sizeof dogs, "%s/dogs", root);
    mkdirs(cats);
    mkdirs(dogs);
    int nbad = write_bad_files(cats);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/good%d.png", dogs, i);
        write_png(p, 30 + i, 50, 3, 100u + (unsigned)i);
        snprintf(p, sizeof p, "%s/good%d.jpg", cats, i);
        copy_fixture(i == 0 ? "jpeg_420.jpg" : i == 1 ? "jpeg_progressive.jpg" : "jpeg_gray.jpg", p);
    }
    dataset d;
    CHECK_MSG(dataset_open(&d, root, err) == 0, "%s", err);
    image_cache c;
    capture_stderr();
    int rc = image_cache_load(&c, &d, 64, 64, 2, NULL, err);
    char *log = captured_stderr();
    CHECK_MSG(rc == 0, "%s", err);
    CHECK(c.n == 6 && c.nskipped == nbad);
    CHECK_MSG(count_lines(log, "warning: skipping ") == nbad, "warnings: %s", log);
    for (int i = 0; i < d.n; i++) {
        int bad = strstr(d.paths[i], "good") == NULL;
        CHECK_MSG(count_lines(log, d.paths[i]) == bad, "%s named %d times", d.paths[i],
                  count_lines(log, d.paths[i]));
    }
    // The kept images keep file order and labels; index points back into the listing.
    for (int k = 0; k < c.n; k++) {
        CHECK(strstr(d.paths[c.index[k]], "good") && c.labels[k] == d.labels[c.index[k]]);
        CHECK(k == 0 || c.index[k] > c.index[k - 1]);
    }
    nn_free(log);
    image_cache_free(&c);
    dataset_free(&d);
}

static void test_no_readable_image(void) {
    char cats[512], err[NN_ERRLEN];
    snprintf(cats, sizeof cats, "%s/cats", tmp_path("bad3"));
    mkdirs(cats);
    write_bad_files(cats);
    dataset d;
    CHECK(dataset_open(&d, tmp_path("bad3"), err) == 0);
    image_cache c;
    capture_stderr();
    int rc = image_cache_load(&c, &d, 64, 64, 0, NULL, err);
    nn_free(captured_stderr());
    CHECK(rc < 0);
    CHECK_MSG(strstr(err, "none of its 5 image files"), "%s", err);
    CHECK(c.pixels == NULL && c.n == 0);
    dataset_free(&d);
}

// ---------------------------------------------------------------------------------------------
// The decode cache.

static void make_small_set(const char *root, int n) {
    char p[1024];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", root, i % 2 ? "dogs" : "cats");
        mkdirs(p);
        snprintf(p, sizeof p, "%s/%s/img%02d.png", root, i % 2 ? "dogs" : "cats", i);
        write_png(p, 20 + i, 33 + 2 * i, i % 3 == 0 ? 1 : 3, 300u + (unsigned)i);
    }
}

static void test_cache_threads_agree(void) {
    char root[512];
    snprintf(root, sizeof root, "%s", tmp_path("set_threads"));
    make_small_set(root, 23);
    char err[NN_ERRLEN];
    dataset d;
    CHECK(dataset_open(&d, root, err) == 0);
    image_cache a, b;
    CHECK(image_cache_load(&a, &d, 17, 23, 1, NULL, err) == 0);
    CHECK(image_cache_load(&b, &d, 17, 23, 3, NULL, err) == 0);
    CHECK(a.n == 23 && b.n == 23 && !a.from_cache);
    CHECK(!memcmp(a.pixels, b.pixels, (size_t)a.n * 17 * 23 * 3));
    CHECK(!memcmp(a.labels, b.labels, (size_t)a.n * 4) && !memcmp(a.index, b.index, (size_t)a.n * 4));
    // And each image is what image_load_rgb gives for its file.
    uint8_t one[17 * 23 * 3];
    for (int k = 0; k < a.n; k++) {
        CHECK(image_load_rgb(d.paths[a.index[k]], 17, 23, one, err) == 0);
        CHECK(!memcmp(one, a.pixels + (size_t)k * sizeof one, sizeof one));
    }
    image_cache_free(&a);
    image_cache_free(&b);
    dataset_free(&d);
}

// Loads root at (h, w) through cache_file; returns from_cache, or -1 on error.
static int load_cached(const char *root, int h, int w, const char *cache_file, image_cache *c,
                       char **log) {
    char err[NN_ERRLEN];
    dataset d;
    if (log) *log = NULL;
    if (dataset_open(&d, root, err) < 0) {
        snprintf(t_msg, sizeof t_msg, "%s", err);
        return -1;
    }
    capture_stderr();
    int rc = image_cache_load(c, &d, h, w, 2, cache_file, err);
    char *l = captured_stderr();
    dataset_free(&d);
    if (log) *log = l;
    else nn_free(l);
    if (rc < 0) {
        snprintf(t_msg, sizeof t_msg, "%s", err);
        return -1;
    }
    return c->from_cache;
}

static void test_cache_file_reuse_and_invalidation(void) {
    char root[512];
    snprintf(root, sizeof root, "%s", tmp_path("set_cache"));
    make_small_set(root, 9);
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/cats/broken.png", root);
    write_bytes(bad, "not a png", 9);
    char cf[512];
    snprintf(cf, sizeof cf, "%s", tmp_path("set.cache"));
    image_cache ref, c;
    char *log;
    CHECK(load_cached(root, 16, 16, cf, &ref, &log) == 0);
    CHECK(access(cf, R_OK) == 0 && ref.n == 9 && ref.nskipped == 1);
    CHECK(count_lines(log, "warning: skipping") == 1 && count_lines(log, "note:") == 0);
    nn_free(log);
    // Same files, same size: read back, identical, and the bad file is still reported.
    CHECK(load_cached(root, 16, 16, cf, &c, &log) == 1);
    CHECK(c.n == ref.n && c.nskipped == 1 && c.h == 16 && c.w == 16);
    CHECK(!memcmp(c.pixels, ref.pixels, (size_t)c.n * 16 * 16 * 3));
    CHECK(!memcmp(c.labels, ref.labels, (size_t)c.n * 4) && !memcmp(c.index, ref.index, (size_t)c.n * 4));
    CHECK_MSG(count_lines(log, "warning: skipping") == 1 && strstr(log, "broken.png"), "%s", log);
    nn_free(log);
    image_cache_free(&c);
    // Another target size: rebuilt.
    CHECK(load_cached(root, 12, 16, cf, &c, NULL) == 0);
    image_cache_free(&c);
    CHECK(load_cached(root, 16, 16, cf, &c, NULL) == 0);
    image_cache_free(&c);
    CHECK(load_cached(root, 16, 16, cf, &c, NULL) == 1);
    image_cache_free(&c);
    // A file's mtime changes (same bytes): rebuilt, and said so.
    char p[1024];
    snprintf(p, sizeof p, "%s/dogs/img03.png", root);
    struct timespec ts[2] = {{1000000000, 5}, {1000000000, 5}};
    CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
    CHECK(load_cached(root, 16, 16, cf, &c, &log) == 0);
    CHECK_MSG(log && strstr(log, "out of date (a file changed)"), "%.300s", log ? log : t_msg);
    nn_free(log);
    image_cache_free(&c);
    CHECK(load_cached(root, 16, 16, cf, &c, NULL) == 1);
    image_cache_free(&c);
    // A file's content changes (new bytes, new size): rebuilt with the new pixels.
    write_png(p, 40, 40, 3, 4242);
    CHECK(load_cached(root, 16, 16, cf, &c, NULL) == 0);
    CHECK(memcmp(c.pixels, ref.pixels, (size_t)c.n * 16 * 16 * 3) != 0);
    image_cache_free(&c);
    // A file added, then removed: the listing differs each time.
    snprintf(p, sizeof p, "%s/dogs/zz_new.png", root);
    write_png(p, 10, 10, 3, 1);
    CHECK(load_cached(root, 16, 16, cf, &c, NULL) == 0 && c.n == 10);
    image_cache_free(&c);
    CHECK(unlink(p) == 0);
    CHECK(load_cached(root, 16, 16, cf, &c, NULL) == 0 && c.n == 9);
    image_cache_free(&c);
    // A damaged cache file (truncated, or garbage) is rebuilt, never trusted.
    struct stat st;
    CHECK(stat(cf, &st) == 0 && truncate(cf, st.st_size - 100) == 0);
    CHECK(load_cached(root, 16, 16, cf, &c, &log) == 0 && log && strstr(log, "corrupt or truncated"));
    nn_free(log);
    image_cache_free(&c);
    write_bytes(cf, "garbage", 7);
    CHECK(load_cached(root, 16, 16, cf, &c, &log) == 0 && log && strstr(log, "not a cache file"));
    nn_free(log);
    image_cache_free(&c);
    CHECK(load_cached(root, 16, 16, cf, &c, NULL) == 1);
    image_cache_free(&c);
    // No temporary file is left beside it.
    char tmpname[1024];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", cf, (long)getpid());
    CHECK(access(tmpname, F_OK) != 0);
    // A cache that cannot be written is an error that names it.
    CHECK(load_cached(root, 16, 16, tmp_path("no_such_dir/x.cache"), &c, NULL) < 0);
    t_cur_failed = t_cur_failed || !strstr(t_msg, "no_such_dir/x.cache");
    image_cache_free(&ref);
}

// ---------------------------------------------------------------------------------------------
// Augmentation.

static void test_augment_vs_keras(void) {
    char *fx = read_text("tests/fixtures/data_augment.txt");
    FILE *fb = fopen("tests/fixtures/data_augment.f32", "rb");
    if (!fx || !fb) SKIP("tests/fixtures/data_augment.* missing (run tests/oracles/augment_keras.py)");
    fseek(fb, 0, SEEK_END);
    size_t nf = (size_t)ftell(fb) / 4;
    fseek(fb, 0, SEEK_SET);
    float *ref = nn_alloc(nf * 4, "ref");
    CHECK(fread(ref, 4, nf, fb) == nf);
    fclose(fb);
    uint8_t *img[8] = {0};
    int ih[8], iw[8], ncases = 0;
    double worst = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        int id, h, w, off, flip;
        long offset;
        float s, zx, zy;
        if (sscanf(line, "image %d %d %d %n", &id, &h, &w, &off) == 3 && id < 8) {
            img[id] = nn_alloc((size_t)h * w * 3, "img");
            hex_decode(line + off, img[id], (size_t)h * w * 3);
            ih[id] = h, iw[id] = w;
        } else if (sscanf(line, "case %d %f %f %f %d %ld", &id, &s, &zx, &zy, &flip, &offset) == 6) {
            h = ih[id], w = iw[id];
            CHECK((size_t)offset + (size_t)h * w * 3 <= nf);
            float *out = nn_alloc((size_t)h * w * 3 * 4, "out");
            aug_params p = {s, zx, zy, flip};
            augment_apply(img[id], h, w, &p, out);
            char what[128];
            snprintf(what, sizeof what, "image %d (%dx%d) shear %g zx %g zy %g flip %d", id, h, w,
                     s, zx, zy, flip);
            check_arrays(what, out, ref + offset, (size_t)h * w * 3, 1e-4, 0);
            for (int i = 0; i < h * w * 3; i++) worst = fmax(worst, fabs(out[i] - ref[offset + i]));
            nn_free(out);
            ncases++;
        }
    }
    CHECK(ncases >= 26);
    if (worst > 1e-5) printf("  augment vs Keras: worst difference %.3g\n", worst);
    for (int i = 0; i < 8; i++) nn_free(img[i]);
    nn_free(ref);
    nn_free(fx);
}

static void test_augment_draw_distribution(void) {
    enum { N = 200000 };
    rng r;
    rng_seed(&r, 7);
    double s1 = 0, s2 = 0, x1 = 0, x2 = 0, y1 = 0, y2 = 0, xy = 0, sx = 0, flips = 0;
    float smin = 1, smax = -1, zmin = 2, zmax = 0;
    for (int i = 0; i < N; i++) {
        aug_params p;
        augment_draw(&r, &p);
        s1 += p.shear_deg, s2 += (double)p.shear_deg * p.shear_deg;
        x1 += p.zx, x2 += (double)p.zx * p.zx, y1 += p.zy, y2 += (double)p.zy * p.zy;
        xy += (double)p.zx * p.zy, sx += (double)p.shear_deg * p.zx, flips += p.flip;
        smin = fminf(smin, p.shear_deg), smax = fmaxf(smax, p.shear_deg);
        zmin = fminf(zmin, fminf(p.zx, p.zy)), zmax = fmaxf(zmax, fmaxf(p.zx, p.zy));
        CHECK(p.flip == 0 || p.flip == 1);
    }
    // Ranges: Keras's shear_range=0.2 (degrees), zoom_range=0.2 -> [0.8, 1.2].
    CHECK(smin >= -0.2f && smax <= 0.2f && smin < -0.199f && smax > 0.199f);
    CHECK(zmin >= 0.8f && zmax <= 1.2f && zmin < 0.801f && zmax > 1.199f);
    // Uniform moments: mean (lo+hi)/2, variance (hi-lo)^2/12; tolerances ~5 standard errors.
    double ms = s1 / N, vs = s2 / N - ms * ms, mx = x1 / N, vx = x2 / N - mx * mx;
    double my = y1 / N, vy = y2 / N - my * my;
    CHECK_CLOSE(ms, 0.0, 5 * sqrt(0.4 * 0.4 / 12 / N), 0);
    CHECK_CLOSE(mx, 1.0, 5 * sqrt(0.4 * 0.4 / 12 / N), 0);
    CHECK_CLOSE(my, 1.0, 5 * sqrt(0.4 * 0.4 / 12 / N), 0);
    CHECK_CLOSE(vs, 0.4 * 0.4 / 12, 0, 0.02);
    CHECK_CLOSE(vx, 0.4 * 0.4 / 12, 0, 0.02);
    CHECK_CLOSE(vy, 0.4 * 0.4 / 12, 0, 0.02);
    // zx and zy are two independent draws (not one zoom for both axes): correlation ~ 0.
    double cxy = (xy / N - mx * my) / sqrt(vx * vy), csx = (sx / N - ms * mx) / sqrt(vs * vx);
    CHECK_MSG(fabs(cxy) < 5 / sqrt(N), "corr(zx, zy) = %g", cxy);
    CHECK_MSG(fabs(csx) < 5 / sqrt(N), "corr(shear, zx) = %g", csx);
    CHECK_CLOSE(flips / N, 0.5, 5 * sqrt(0.25 / N), 0);
}

static void test_augment_identity_and_flip(void) {
    enum { H = 9, W = 14 };
    uint8_t src[H * W * 3];
    float a[H * W * 3], b[H * W * 3];
    fill_pixels(src, H, W, 3, 77);
    aug_params id = {0, 1, 1, 0}, fl = {0, 1, 1, 1};
    augment_apply(src, H, W, &id, a);
    image_to_float(src, sizeof src, b);
    CHECK(!memcmp(a, b, sizeof a));
    augment_apply(src, H, W, &fl, a);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                CHECK(a[(y * W + x) * 3 + c] == b[(y * W + W - 1 - x) * 3 + c]);
}

// ---------------------------------------------------------------------------------------------
// The loader.

// n images of 4x4: image i is filled with i % 251 and labelled i, so a batch tells which
// images it holds.
static void synthetic_cache(image_cache *c, int n) {
    memset(c, 0, sizeof *c);
    c->n = n, c->h = 4, c->w = 4;
    c->pixels = nn_alloc((size_t)n * 48, "pixels");
    c->labels = nn_alloc((size_t)n * 4, "labels");
    c->index = nn_alloc((size_t)n * 4, "index");
    for (int i = 0; i < n; i++) {
        memset(c->pixels + (size_t)i * 48, i % 251, 48);
        c->labels[i] = c->index[i] = i;
    }
}

// Runs one epoch; order (n) gets the image of each position; returns the images seen.
static int run_epoch(loader *L, int epoch, int n, int batch, int32_t *order, float *xs) {
    float x[16 * 48], y[16];
    double wait;
    int seen = 0, k, steps = 0;
    loader_start_epoch(L, epoch);
    while ((k = loader_next(L, x, y, &wait)) > 0) {
        steps++;
        CHECK(wait >= 0);
        CHECK(k == batch || (seen + k == n && k < batch));
        for (int j = 0; j < k && seen + j < n; j++) {
            order[seen + j] = (int32_t)y[j];
            if (xs) memcpy(xs + (size_t)(seen + j) * 48, x + j * 48, 48 * sizeof(float));
        }
        seen += k;
    }
    CHECK(steps == loader_steps(L));
    CHECK(loader_next(L, x, y, &wait) == 0);  // stays over
    return seen;
}

static void test_loader_epochs(void) {
    enum { N = 103, B = 10 };
    image_cache c;
    synthetic_cache(&c, N);
    loader *L = loader_create(&c, B, 1, 0, 1234, 2);
    CHECK(loader_steps(L) == (N + B - 1) / B);
    int32_t o0[N], o1[N], again[N];
    float xs[N * 48];
    for (int e = 0; e < 2; e++) {
        int32_t *o = e ? o1 : o0;
        CHECK(run_epoch(L, e, N, B, o, xs) == N);
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            CHECK(o[i] >= 0 && o[i] < N);
            if (o[i] >= 0 && o[i] < N) seen[o[i]]++;
            CHECK(xs[i * 48 + 17] == (float)(o[i] % 251) * (1.0f / 255.0f));  // x matches y
        }
        for (int i = 0; i < N; i++) CHECK_MSG(seen[i] == 1, "image %d seen %d times", i, seen[i]);
    }
    CHECK(memcmp(o0, o1, sizeof o0) != 0);  // reshuffled
    // The order is a function of (seed, epoch) only: another loader, other threads, same order;
    // an epoch restarted in the middle starts over.
    loader *L2 = loader_create(&c, B, 1, 0, 1234, 1);
    float x[B * 48], y[B];
    loader_start_epoch(L2, 1);
    CHECK(loader_next(L2, x, y, NULL) == B && loader_next(L2, x, y, NULL) == B);
    CHECK(run_epoch(L2, 1, N, B, again, NULL) == N);
    CHECK(!memcmp(again, o1, sizeof o1));
    CHECK(run_epoch(L2, 0, N, B, again, NULL) == N && !memcmp(again, o0, sizeof o0));
    loader_free(L2);
    loader *L3 = loader_create(&c, B, 1, 0, 99, 2);  // another seed, another order
    CHECK(run_epoch(L3, 0, N, B, again, NULL) == N && memcmp(again, o0, sizeof o0) != 0);
    loader_free(L3);
    // shuffle = 0 (validation): file order every epoch.
    loader *V = loader_create(&c, B, 0, 0, 5, 3);
    for (int e = 0; e < 2; e++) {
        CHECK(run_epoch(V, e, N, B, again, NULL) == N);
        for (int i = 0; i < N; i++) CHECK(again[i] == i);
    }
    loader_free(V);
    loader_free(L);
    image_cache_free(&c);
}

static void test_loader_augment_deterministic(void) {
    // Real-looking 16x16 images, augmented: the same batches whatever the thread count.
    enum { N = 37, B = 8, S = 16 };
    image_cache c;
    memset(&c, 0, sizeof c);
    c.n = N, c.h = S, c.w = S;
    c.pixels = nn_alloc((size_t)N * S * S * 3, "pixels");
    c.labels = nn_alloc(N * 4, "labels");
    for (int i = 0; i < N; i++) {
        fill_pixels(c.pixels + (size_t)i * S * S * 3, S, S, 3, 500u + (unsigned)i);
        c.labels[i] = i;
    }
    float *xa = nn_alloc((size_t)N * S * S * 3 * 4, "xa"), *xb = nn_alloc((size_t)N * S * S * 3 * 4, "xb");
    float x[B * S * S * 3], y[B];
    for (int t = 0; t < 2; t++) {
        loader *L = loader_create(&c, B, 1, 1, 42, t ? 4 : 1);
        float *dst = t ? xb : xa;
        loader_start_epoch(L, 3);
        int k, seen = 0, differs = 0;
        while ((k = loader_next(L, x, y, NULL)) > 0) {
            memcpy(dst + (size_t)seen * S * S * 3, x, (size_t)k * S * S * 3 * 4);
            // Augmented: not the plain rescaled image.
            float plain[S * S * 3];
            for (int j = 0; j < k; j++) {
                image_to_float(c.pixels + (size_t)y[j] * S * S * 3, S * S * 3, plain);
                differs += memcmp(plain, x + (size_t)j * S * S * 3, sizeof plain) != 0;
            }
            seen += k;
        }
        CHECK(seen == N && differs > N / 2);
        loader_free(L);
    }
    CHECK(!memcmp(xa, xb, (size_t)N * S * S * 3 * 4));
    // augment = 0: exactly the rescaled images (validation is never augmented).
    loader *V = loader_create(&c, B, 0, 0, 42, 2);
    int k, seen = 0;
    float plain[S * S * 3];
    while ((k = loader_next(V, x, y, NULL)) > 0)
        for (int j = 0; j < k; j++, seen++) {
            image_to_float(c.pixels + (size_t)seen * S * S * 3, S * S * 3, plain);
            CHECK(y[j] == seen && !memcmp(plain, x + (size_t)j * S * S * 3, sizeof plain));
        }
    CHECK(seen == N);
    loader_free(V);
    nn_free(xa);
    nn_free(xb);
    image_cache_free(&c);
}

// ---------------------------------------------------------------------------------------------

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/nn-test-data-XXXXXX");
    if (!mkdtemp(g_tmp)) NN_DIE("cannot create a scratch folder in /tmp: %s", strerror(errno));
    RUN(test_listing_matches_keras);
    RUN(test_listing_errors);
    RUN(test_flat_layout);
    RUN(test_decode_modes_vs_pillow);
    RUN(test_resize_patterns_vs_pillow);
    RUN(test_resize_photos_vs_pillow);
    RUN(test_jpeg_shortcut_exact);
    RUN(test_bad_files_refused);
    RUN(test_bad_files_skipped_with_one_warning);
    RUN(test_no_readable_image);
    RUN(test_cache_threads_agree);
    RUN(test_cache_file_reuse_and_invalidation);
    RUN(test_augment_vs_keras);
    RUN(test_augment_draw_distribution);
    RUN(test_augment_identity_and_flip);
    RUN(test_loader_epochs);
    RUN(test_loader_augment_deterministic);
    nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
