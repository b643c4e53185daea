// test_data_jpeg.c: JPEG decoding (data/jpeg.c, libjpeg-turbo) against Pillow and Keras, and
// the row-skipping shortcut against the full decode.
//  - the shared photos (fullres/ and two of catsdogs/): the decode equals Pillow's
//    Image.open().convert('RGB') and image_load_rgb equals keras_preprocessing's
//    load_img(path, target_size, interpolation='nearest'), bit for bit, at 64x64, 37x53 and
//    300x257 (tests/fixtures/data_resize.txt, from tests/oracles/resize_pil.py);
//  - every JPEG layout of tests/fixtures/data_modes/ (Pillow's and libjpeg's: gray, 4:2:0,
//    4:2:2, 4:4:4, 4:4:0, 4:1:1, 3:1, progressive, RGB, CMYK, YCCK, restart markers, arithmetic
//    coding, one scan per component) decodes to Pillow's pixels;
//  - damaged copies (cut anywhere, end marker missing) are refused exactly when Pillow refuses
//    them, with a line that says so, and give Pillow's pixels when it accepts them; a file of
//    more than 1000 scans is refused;
//  - image_load_rgb (only the rows the resize reads) equals decode + image_resize_nearest on
//    all of these and on JPEGs written here in every sampling libjpeg allows, baseline and
//    progressive, tall enough that whole iMCU rows are skipped.
// Tests that need the shared photos SKIP when ${NN_SHARED_DATA:-../shared/data} is absent.
#include "test_data.h"

#include "test_jpeg_write.h"   // (after stdio.h: jpeglib.h needs FILE and size_t)

static const int k_sizes[][2] = {{64, 64}, {31, 47}, {300, 257}, {1, 1}, {3, 500}};
#define NSIZES (int)(sizeof k_sizes / sizeof *k_sizes)

// The shortcut (image_load_rgb_mem) against decode + resize, at every size of k_sizes; both
// must also agree on refusing. Returns 1 when they agree.
static int shortcut_agrees(const uint8_t *buf, size_t n, const char *name) {
    char err[NN_ERRLEN], err2[NN_ERRLEN];
    uint8_t *full = NULL;
    int h, w, ok = 1;
    int drc = image_decode_rgb_mem(buf, n, name, &full, &h, &w, err);
    for (int s = 0; s < NSIZES && ok; s++) {
        int dh = k_sizes[s][0], dw = k_sizes[s][1];
        uint8_t *a = nn_alloc((size_t)dh * dw * 3, "a"), *b = nn_alloc((size_t)dh * dw * 3, "b");
        int rc = image_load_rgb_mem(buf, n, name, dh, dw, a, err2);
        if ((rc == 0) != (drc == 0)) {
            FAILF("%.200s: the shortcut says %d (%.200s), the full decode %d (%.200s)", name, rc, err2,
                  drc, err);
            ok = 0;
        } else if (rc == 0) {
            image_resize_nearest(full, h, w, b, dh, dw);
            if (memcmp(a, b, (size_t)dh * dw * 3)) {
                FAILF("%s (%dx%d) -> %dx%d: the shortcut differs from decode + resize", name, h, w,
                      dh, dw);
                ok = 0;
            }
        }
        nn_free(a);
        nn_free(b);
    }
    if (full) image_free_decoded(full);
    return ok;
}

// ---------------------------------------------------------------------------------------------
// Against Pillow and Keras.

static void test_photos_vs_keras_load_img(void) {
    const char *shared = shared_dir();
    if (!shared) SKIP("shared photos not found (set NN_SHARED_DATA; default ../shared/data)");
    char *fx = read_text("tests/fixtures/data_resize.txt");
    if (!fx) SKIP("tests/fixtures/data_resize.txt missing (run tests/oracles/resize_pil.py)");
    int n = 0, decoded_ok = 0;
    char last[256] = "";
    uint8_t *src = NULL;
    int h = 0, w = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        char rel[256], path[512], err[NN_ERRLEN];
        int sh, sw, dh, dw;
        unsigned long long srcsum, want;
        if (sscanf(line, "photo %255s %d %d %llx %d %d %llx", rel, &sh, &sw, &srcsum, &dh, &dw,
                   &want) != 7)
            continue;
        snprintf(path, sizeof path, "%s/%s", shared, rel);
        if (strcmp(rel, last)) {   // each photo is listed once per target size
            if (src) image_free_decoded(src);
            src = NULL;
            snprintf(last, sizeof last, "%s", rel);
            if (image_decode_rgb(path, &src, &h, &w, err) < 0) {
                FAILF("%s", err);
                break;
            }
            CHECK_MSG(h == sh && w == sw && fnv64(src, (size_t)h * w * 3) == srcsum,
                      "%s: decoded %dx%d differs from Pillow's convert('RGB') (%dx%d)", rel, h, w,
                      sh, sw);
            decoded_ok++;
        }
        uint8_t *dst = nn_alloc((size_t)dh * dw * 3, "dst");
        image_resize_nearest(src, h, w, dst, dh, dw);
        CHECK_MSG(fnv64(dst, (size_t)dh * dw * 3) == want,
                  "%s -> %dx%d: decode + resize differs from load_img", rel, dh, dw);
        memset(dst, 0, (size_t)dh * dw * 3);
        CHECK_MSG(image_load_rgb(path, dh, dw, dst, err) == 0, "%s", err);
        CHECK_MSG(fnv64(dst, (size_t)dh * dw * 3) == want,
                  "%s -> %dx%d: image_load_rgb differs from load_img", rel, dh, dw);
        memset(dst, 0, (size_t)dh * dw * 3);
        CHECK_MSG(image_load_rgb_slow(path, dh, dw, dst, err) == 0, "%s", err);
        CHECK_MSG(fnv64(dst, (size_t)dh * dw * 3) == want,
                  "%s -> %dx%d: image_load_rgb_slow differs from load_img", rel, dh, dw);
        nn_free(dst);
        n++;
    }
    if (src) image_free_decoded(src);
    nn_free(fx);
    CHECK_MSG(n >= 300 && decoded_ok >= 100, "only %d photo cases (%d photos)", n, decoded_ok);
}

static void test_layouts_vs_pillow(void) {
    char *fx = read_text("tests/fixtures/data_modes.txt");
    if (!fx) SKIP("tests/fixtures/data_modes.txt missing (run tests/oracles/resize_pil.py)");
    int n = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64], path[256], err[NN_ERRLEN];
        int h, w, gh, gw;
        unsigned long long want;
        if (sscanf(line, "jpeg %63s %d %d %llx", name, &h, &w, &want) != 4) continue;
        snprintf(path, sizeof path, "tests/fixtures/data_modes/%s", name);
        uint8_t *got;
        if (image_decode_rgb(path, &got, &gh, &gw, err) < 0) {
            FAILF("%s", err);
            continue;
        }
        CHECK_MSG(gh == h && gw == w && fnv64(got, (size_t)h * w * 3) == want,
                  "%s: RGB differs from Pillow's convert('RGB')", name);
        image_free_decoded(got);
        n++;
    }
    nn_free(fx);
    CHECK_MSG(n >= 20, "only %d JPEG layouts", n);
}

// The damaged copies resize_pil.py asked Pillow about: the same verdict, the same pixels.
static void test_damaged_vs_pillow(void) {
    char *fx = read_text("tests/fixtures/data_modes.txt");
    if (!fx) SKIP("tests/fixtures/data_modes.txt missing (run tests/oracles/resize_pil.py)");
    int n = 0, nrefused = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64], how[16], verdict[16], path[256], err[NN_ERRLEN];
        int k;
        unsigned long long want = 0;
        if (sscanf(line, "cut %63s %15s %d %15s %llx", name, how, &k, verdict, &want) < 4) continue;
        snprintf(path, sizeof path, "tests/fixtures/data_modes/%s", name);
        size_t len;
        uint8_t *data = read_bytes(path, &len);
        if (!data) {
            FAILF("%s missing", path);
            continue;
        }
        size_t m = len;
        uint8_t *b = nn_calloc(len + (size_t)k + 1, "variant");
        if (!strcmp(how, "keep")) {
            m = (size_t)k;
            memcpy(b, data, m);
        } else {   // noeoi: without FF D9, then k zero bytes
            memcpy(b, data, len - 2);
            m = len - 2 + (size_t)k;
        }
        char p[600];
        snprintf(p, sizeof p, "%s", tmp_path("damaged.jpg"));
        write_bytes(p, b, m);
        uint8_t *px = NULL, out[64 * 64 * 3];
        int h, w;
        int rc = image_decode_rgb(p, &px, &h, &w, err);
        if (!strcmp(verdict, "ok")) {
            CHECK_MSG(rc == 0 && fnv64(px, (size_t)h * w * 3) == want,
                      "%s %s %d: Pillow loads it, we say %d (%s) or differ", name, how, k, rc,
                      rc ? err : "");
        } else {
            CHECK_MSG(rc < 0 && strstr(err, p) && (strstr(err, "truncated") || strstr(err, "corrupt")),
                      "%s %s %d: Pillow refuses it, we say %d '%s'", name, how, k, rc, rc ? err : "");
            nrefused++;
        }
        CHECK_MSG((image_load_rgb(p, 64, 64, out, err) == 0) == (rc == 0),
                  "%s %s %d: image_load_rgb and image_decode_rgb disagree", name, how, k);
        CHECK(shortcut_agrees(b, m, name));
        if (px) image_free_decoded(px);
        nn_free(b);
        nn_free(data);
        n++;
    }
    nn_free(fx);
    CHECK_MSG(n >= 40 && nrefused >= 20, "%d damaged cases, %d refused", n, nrefused);
}

// A cut at every 7th byte of a baseline and a progressive JPEG: refused as truncated (no crash,
// no grey image), both entry points agreeing; the whole file loads.
static void test_truncated_everywhere(void) {
    const char *names[] = {"jpeg_420.jpg", "jpeg_progressive.jpg", "jpeg_ycck.jpg"};
    for (int f = 0; f < 3; f++) {
        char path[256], err[NN_ERRLEN];
        snprintf(path, sizeof path, "tests/fixtures/data_modes/%s", names[f]);
        size_t len;
        uint8_t *data = read_bytes(path, &len);
        if (!data) SKIP("%s missing (run tests/oracles/resize_pil.py)", path);
        int nok = 0;
        for (size_t k = 3; k <= len; k += (k + 7 < len ? 7 : 1)) {   // (from FF D8 FF on)
            uint8_t out[16 * 16 * 3];
            int rc = image_load_rgb_mem(data, k, names[f], 16, 16, out, err);
            nok += rc == 0;
            if (k + 8 <= len) {   // (Pillow accepts some files missing only their last bytes)
                CHECK_MSG(rc < 0 && strstr(err, names[f]) && strstr(err, "truncated"),
                          "%s cut to %zu of %zu bytes: %d '%s'", names[f], k, len, rc, rc ? err : "");
            }
            CHECK(shortcut_agrees(data, k, names[f]));
        }
        CHECK(image_load_rgb_mem(data, len, names[f], 16, 16, (uint8_t[768]){0}, err) == 0);
        nn_free(data);
    }
}

// A progressive JPEG whose first scan is repeated: libjpeg decodes every repetition (with a
// warning), so a small file could cost a pass over the image per few bytes; refused past 1000
// scans, while 100 repetitions still load.
static void test_too_many_scans(void) {
    size_t len;
    uint8_t *data = read_bytes("tests/fixtures/data_modes/jpeg_progressive.jpg", &len);
    if (!data) SKIP("tests/fixtures/data_modes/jpeg_progressive.jpg missing");
    size_t sos = 2;   // the first SOS marker, walking the header segments
    while (sos + 4 < len && !(data[sos] == 0xFF && data[sos + 1] == 0xDA))
        sos += 2 + ((size_t)data[sos + 2] << 8 | data[sos + 3]);
    size_t end = sos + 2 + ((size_t)data[sos + 2] << 8 | data[sos + 3]);   // its entropy data
    while (end + 1 < len && !(data[end] == 0xFF && data[end + 1] != 0 &&
                              (data[end + 1] < 0xD0 || data[end + 1] > 0xD7)))
        end++;
    CHECK(sos + 4 < len && end + 1 < len);
    int reps[2] = {100, 1001};
    for (int r = 0; r < 2; r++) {
        size_t scan = end - sos, n = sos + scan * (size_t)reps[r] + (len - end);
        uint8_t *b = nn_alloc(n, "many scans"), *q = b;
        memcpy(q, data, sos), q += sos;
        for (int k = 0; k < reps[r]; k++) memcpy(q, data + sos, scan), q += scan;
        memcpy(q, data + end, len - end);
        char err[NN_ERRLEN];
        uint8_t out[8 * 8 * 3];
        int rc = image_load_rgb_mem(b, n, "many_scans.jpg", 8, 8, out, err);
        if (r == 0) CHECK_MSG(rc == 0, "%d scans: %s", reps[r], err);
        else CHECK_MSG(rc < 0 && strstr(err, "many_scans.jpg") && strstr(err, "more than 1000 scans"),
                       "%d scans: %d '%s'", reps[r], rc, rc ? err : "");
        nn_free(b);
    }
    nn_free(data);
}

// ---------------------------------------------------------------------------------------------
// The shortcut against the full decode.

// A JPEG written here with libjpeg (mem dest): (h, w) pixels, `nc` components (1 gray, 3 YCbCr,
// 4 CMYK), the first component sampled s[0] x s[1] and the others s[2] x s[3], progressive or
// not. *n bytes, free().
typedef struct layout {
    const int *s;
    int progressive;
} layout;

static void tune_layout(struct jpeg_compress_struct *c, const void *arg) {
    const layout *l = arg;
    jpeg_set_quality(c, 80, TRUE);
    for (int k = 0; k < c->num_components; k++) {
        c->comp_info[k].h_samp_factor = k ? l->s[2] : l->s[0];
        c->comp_info[k].v_samp_factor = k ? l->s[3] : l->s[1];
    }
    if (l->progressive) jpeg_simple_progression(c);
}

static uint8_t *write_jpeg(int h, int w, int nc, const int *s, int progressive, size_t *n) {
    uint8_t *px = nn_alloc((size_t)h * w * nc, "pixels");
    fill_pixels(px, h, w, nc, (unsigned)(h * 31 + w + s[0] * 7 + s[1]));
    layout l = {s, progressive};
    uint8_t *out = jpeg_write_mem(px, h, w, nc, tune_layout, &l, n);
    nn_free(px);
    return out;
}

static void test_shortcut_every_sampling(void) {
    // Samplings (first component h x v, the others h x v) that reach every upsampler
    // libjpeg-turbo has: fancy h2v1, h2v2 and h1v2, full size, and the integral ones with and
    // without vertical expansion, with row groups of 1 to 4 rows.
    static const int samp[][4] = {{1, 1, 1, 1}, {2, 1, 1, 1}, {1, 2, 1, 1}, {2, 2, 1, 1},
                                  {3, 1, 1, 1}, {1, 3, 1, 1}, {4, 1, 1, 1}, {1, 4, 1, 1},
                                  {3, 2, 1, 1}, {2, 3, 1, 1}, {4, 2, 1, 1}, {2, 4, 1, 1},
                                  {2, 2, 2, 2}, {2, 2, 1, 2}, {2, 2, 2, 1}, {4, 2, 2, 1},
                                  {2, 4, 2, 2}, {1, 2, 1, 2}};
    static const int dims[][2] = {{613, 37}, {97, 131}, {16, 16}, {1, 9}};
    int n = 0;
    for (int s = 0; s < (int)(sizeof samp / sizeof *samp); s++)
        for (int d = 0; d < 4; d++)
            for (int prog = 0; prog < 2; prog++)
                for (int nc = 1; nc <= 4; nc++) {
                    const int *f = samp[s];
                    if (nc == 2 || (nc == 1 && s > 0)) continue;   // gray: one component, 1x1
                    if (f[0] * f[1] + (nc - 1) * f[2] * f[3] > 10) continue;   // blocks per MCU
                    size_t len;
                    uint8_t *jpg = write_jpeg(dims[d][0], dims[d][1], nc, f, prog, &len);
                    char name[96];
                    snprintf(name, sizeof name, "generated %dx%d nc %d %dx%d,%dx%d%s", dims[d][0],
                             dims[d][1], nc, f[0], f[1], f[2], f[3], prog ? " progressive" : "");
                    CHECK(shortcut_agrees(jpg, len, name));
                    free(jpg);
                    n++;
                }
    CHECK_MSG(n >= 200, "%d layouts", n);
}

static void test_shortcut_fixtures_and_photos(void) {
    char *fx = read_text("tests/fixtures/data_modes.txt");
    if (!fx) SKIP("tests/fixtures/data_modes.txt missing (run tests/oracles/resize_pil.py)");
    int n = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64], path[256];
        if (sscanf(line, "jpeg %63s", name) != 1) continue;
        snprintf(path, sizeof path, "tests/fixtures/data_modes/%s", name);
        size_t len;
        uint8_t *b = read_bytes(path, &len);
        if (!b) {
            FAILF("%s missing", path);
            continue;
        }
        CHECK(shortcut_agrees(b, len, path));
        nn_free(b);
        n++;
    }
    nn_free(fx);
    CHECK(n >= 20);
    const char *shared = shared_dir();
    if (!shared) return;   // (the photos are checked against Keras above)
    char err[NN_ERRLEN];
    const char *sets[] = {"fullres", "catsdogs/test_set"};
    for (int s = 0; s < 2; s++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", shared, sets[s]);
        dataset d;
        if (dataset_open(&d, dir, err) < 0) continue;
        for (int i = 0; i < d.n; i += s == 0 ? 1 : 37) {
            size_t len;
            uint8_t *b = read_bytes(d.paths[i], &len);
            if (b) CHECK(shortcut_agrees(b, len, d.paths[i]));
            nn_free(b);
        }
        dataset_free(&d);
    }
}

// ---------------------------------------------------------------------------------------------

int main(void) {
    scratch_begin();
    RUN(test_photos_vs_keras_load_img);
    RUN(test_layouts_vs_pillow);
    RUN(test_damaged_vs_pillow);
    RUN(test_truncated_everywhere);
    RUN(test_too_many_scans);
    RUN(test_shortcut_every_sampling);
    RUN(test_shortcut_fixtures_and_photos);
    scratch_end();
    TEST_EXIT();
}
