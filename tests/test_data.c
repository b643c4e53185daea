// test_data.c: the data pipeline's listing, decoding, resizing, bad input and cache against
// their oracles and promises (augmentation and the loader: test_data_augment.c).
//  - listing, order, extensions and validation_split equal keras_preprocessing 1.1.0's
//    flow_from_directory on a tree of traps (tests/fixtures/data_listing.txt, from
//    tests/oracles/listing_keras.py);
//  - decoding to RGB equals Pillow's convert('RGB') for every PNG, GIF and BMP mode a folder may
//    hold, and the NEAREST resize equals Pillow's on synthetic patterns
//    (tests/oracles/resize_pil.py); JPEG, the shared photos and Keras's load_img:
//    test_data_jpeg.c;
//  - every bad input is refused with its reason, skipped with one warning, and counted; the
//    cache file is reused only while nothing changed.
// Tests that need the shared photos SKIP when ${NN_SHARED_DATA:-../shared/data} is absent.
#include "test_data.h"

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
    // A JPEG start (SOI, then a marker's FF) followed by text: libjpeg's reason is passed on.
    snprintf(p, sizeof p, "%s/garbage.jpg", dir);
    static const char garbage[] = "\xff\xd8\xffthis is not a JPEG body";
    write_bytes(p, garbage, sizeof garbage - 1);
    // A JPEG whose frame header claims 20000 x 20000 pixels (each side allowed, 400 megapixels
    // not), then ends.
    static const uint8_t hugej[] = {0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0x4E, 0x20, 0x4E, 0x20, 3,
                                    1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9};
    snprintf(p, sizeof p, "%s/huge.jpg", dir);
    write_bytes(p, hugej, sizeof hugej);
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
    return 7;
}

static void test_bad_files_refused(void) {
    mkdirs(tmp_path("bad1"));
    write_bad_files(tmp_path("bad1"));
    struct { const char *name, *reason; } want[] = {
        {"truncated.jpg", "truncated JPEG: the file ends before the image does"},
        {"empty.jpg", "empty file"}, {"text.jpg", "not a readable"},
        {"garbage.jpg", "corrupt or unsupported JPEG (libjpeg: Unsupported marker type 0x74)"},
        {"huge.jpg", "20000 x 20000 pixels, beyond the limit"}, {"huge.png", "100000 x 100000"},
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
    CHECK_MSG(strstr(err, "none of its 7 image files"), "%s", err);
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

int main(void) {
    scratch_begin();
    RUN(test_listing_matches_keras);
    RUN(test_listing_errors);
    RUN(test_flat_layout);
    RUN(test_decode_modes_vs_pillow);
    RUN(test_resize_patterns_vs_pillow);
    RUN(test_bad_files_refused);
    RUN(test_bad_files_skipped_with_one_warning);
    RUN(test_no_readable_image);
    RUN(test_cache_threads_agree);
    RUN(test_cache_file_reuse_and_invalidation);
    scratch_end();
    TEST_EXIT();
}
