// test_data_jpeg_fast.c: data/jpeg_fast.c (a JPEG straight to the NEAREST-resized pixels,
// evaluating only the pixels the resize reads) against libjpeg's full decode + the resize.
//  - every shared photo takes the fast path (it is the point: a silent fallback would pass a
//    plain equality test) and gives exactly the full decode's pixels at several sizes;
//  - JPEGs written here with libjpeg in every layout the fast path takes (gray, 4:4:4, 4:2:2,
//    4:2:0; qualities 30 to 100, standard and optimised Huffman tables, restart markers every
//    1 to 9 MCUs, odd sizes, noise, gradients, flat and saturated colours) are taken and exact;
//  - every other layout (progressive, 4:4:0, 4:1:1, CMYK, arithmetic...) and a resize that
//    reads more than a third of the pixels are declined (0), so libjpeg decodes them;
//  - damaged files (cut at every length, single bytes changed anywhere): the fast path either
//    declines or gives the pixels libjpeg gives, and declines whatever libjpeg refuses.
// Tests that need the shared photos SKIP when ${NN_SHARED_DATA:-../shared/data} is absent.
#include "test_data.h"

#include "test_jpeg_write.h"   // (after stdio.h: jpeglib.h needs FILE and size_t)

#include "../data/jpeg.h"

// 1 when the fast path takes buf at (dh, dw), 0 when it declines, -1 (after a FAIL) when it
// takes it and differs from libjpeg's decode + resize or takes what libjpeg refuses.
static int fast_vs_full(const uint8_t *buf, size_t n, int dh, int dw, const char *name) {
    size_t sz = (size_t)dh * dw * 3;
    uint8_t *a = nn_alloc(sz, "fast"), *b = nn_alloc(sz, "full");
    int took = jpeg_fast_resize(buf, n, dh, dw, a), rc = took;
    if (took) {
        char err[NN_ERRLEN];
        uint8_t *full = NULL;
        int h, w;
        if (image_decode_rgb_mem(buf, n, name, &full, &h, &w, err) < 0) {
            FAILF("%.120s -> %dx%d: taken by the fast path, refused by libjpeg (%.200s)", name, dh,
                  dw, err);
            rc = -1;
        } else {
            image_resize_nearest(full, h, w, b, dh, dw);
            if (memcmp(a, b, sz)) {
                size_t k = 0;
                while (a[k] == b[k]) k++;
                FAILF("%.120s (%dx%d) -> %dx%d: pixel %zu channel %zu is %d, libjpeg's %d", name, h,
                      w, dh, dw, k / 3, k % 3, a[k], b[k]);
                rc = -1;
            }
            image_free_decoded(full);
        }
    }
    nn_free(a);
    nn_free(b);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// JPEGs written with libjpeg.

typedef struct spec {
    int h, w, nc;         // nc: 1 gray, 3 YCbCr, 4 CMYK
    int hs, vs;           // the first component's sampling (the others 1x1)
    int quality, restart, optimize, progressive, arith;
    int content;          // 0 noise, 1 smooth gradient, 2 flat, 3 saturated stripes
} spec;

static void fill(uint8_t *px, const spec *s) {
    unsigned x = (unsigned)(s->h * 7919 + s->w * 31 + s->quality + s->content);
    for (int y = 0; y < s->h; y++)
        for (int i = 0; i < s->w; i++)
            for (int c = 0; c < s->nc; c++) {
                uint8_t *p = px + ((size_t)y * s->w + i) * s->nc + c;
                x = x * 1103515245u + 12345u;
                switch (s->content) {
                case 0: *p = (uint8_t)(x >> 16); break;
                case 1: *p = (uint8_t)((y * 255 / s->h + i * 200 / s->w + c * 60 + (x >> 29)) & 255); break;
                case 2: *p = (uint8_t)(40 + 70 * c); break;
                default: *p = ((i / 3 + c) % 3 == 0) ? 255 : 0; break;   // pure primaries
                }
            }
}

static void tune_spec(struct jpeg_compress_struct *c, const void *arg) {
    const spec *s = arg;
    jpeg_set_quality(c, s->quality, TRUE);
    c->comp_info[0].h_samp_factor = s->hs;
    c->comp_info[0].v_samp_factor = s->vs;
    for (int k = 1; k < c->num_components; k++) c->comp_info[k].h_samp_factor = c->comp_info[k].v_samp_factor = 1;
    c->restart_interval = (unsigned)s->restart;
    c->optimize_coding = s->optimize ? TRUE : FALSE;
    c->arith_code = s->arith ? TRUE : FALSE;
    if (s->progressive) jpeg_simple_progression(c);
}

static uint8_t *write_jpeg(const spec *s, size_t *n) {
    uint8_t *px = nn_alloc((size_t)s->h * s->w * s->nc, "pixels");
    fill(px, s);
    uint8_t *out = jpeg_write_mem(px, s->h, s->w, s->nc, tune_spec, s, n);
    nn_free(px);
    return out;
}

static void spec_name(const spec *s, char *name, size_t size) {
    snprintf(name, size, "generated %dx%d nc %d %dx%d q%d rst %d%s%s%s content %d", s->h, s->w,
             s->nc, s->hs, s->vs, s->quality, s->restart, s->optimize ? " optimised" : "",
             s->progressive ? " progressive" : "", s->arith ? " arithmetic" : "", s->content);
}

// ---------------------------------------------------------------------------------------------

static void test_photos_take_the_fast_path(void) {
    const char *shared = shared_dir();
    if (!shared) SKIP("shared photos not found (set NN_SHARED_DATA)");
    static const int sizes[][2] = {{64, 64}, {37, 53}, {1, 1}, {3, 120}, {97, 5}};
    int photos = 0, taken = 0, expected = 0;
    for (int cls = 0; cls < 2; cls++)
        for (int i = 1; i <= 50; i++) {
            char path[512], err[NN_ERRLEN];
            snprintf(path, sizeof path, "%s/fullres/%s/%s.%d.jpg", shared, cls ? "dogs" : "cats",
                     cls ? "dog" : "cat", i);
            size_t n;
            uint8_t *b = read_bytes(path, &n), *px;
            int h, w;
            if (!b || image_decode_rgb_mem(b, n, path, &px, &h, &w, err) < 0) {
                FAILF("%s missing or unreadable", path);
                nn_free(b);
                continue;
            }
            image_free_decoded(px);
            photos++;
            for (int s = 0; s < 5; s++) {
                // taken whenever the resize reads at most a third of the pixels (all but the
                // 64x64 resize of the one photo under 12,288 pixels, 107x102)
                expected += 3 * sizes[s][0] * sizes[s][1] <= h * w;
                taken += fast_vs_full(b, n, sizes[s][0], sizes[s][1], path) == 1;
            }
            nn_free(b);
        }
    CHECK_MSG(photos == 100 && taken == expected && expected >= 5 * photos - 1,
              "%d of %d resizes of %d photos taken, %d expected", taken, 5 * photos, photos, expected);
    // catsdogs/ holds 64x64 photos: a third of their pixels or fewer is 36x36 at most.
    int small = 0, small_taken = 0;
    for (int i = 4001; i <= 4150; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/catsdogs/test_set/cats/cat.%d.jpg", shared, i);
        size_t n;
        uint8_t *b = read_bytes(path, &n);
        if (!b) continue;
        small++;
        small_taken += fast_vs_full(b, n, 32, 32, path) == 1;
        small_taken += fast_vs_full(b, n, 13, 21, path) == 1;
        nn_free(b);
    }
    CHECK_MSG(small == 150 && small_taken == 2 * small, "%d of %d catsdogs resizes taken",
              small_taken, 2 * small);
}

static void test_generated_layouts(void) {
    static const int samp[][3] = {{1, 1, 1}, {3, 1, 1}, {3, 2, 1}, {3, 2, 2}};   // nc, h, v
    static const int dims[][2] = {{613, 37}, {97, 131}, {250, 333}, {17, 400}, {401, 9}, {64, 64}};
    static const int outs[][2] = {{8, 8}, {31, 17}, {1, 1}};
    static const int quality[] = {30, 90, 100};
    int cases = 0, taken = 0, bad = 0;
    for (int l = 0; l < 4; l++)
        for (int d = 0; d < 6; d++)
            for (int q = 0; q < 3; q++)
                for (int v = 0; v < 4; v++) {   // variants: restarts, optimised tables, content
                    spec s = {dims[d][0], dims[d][1], samp[l][0], samp[l][1], samp[l][2],
                              quality[q], (int[]){0, 1, 3, 9}[v], v & 1, 0, 0, (d + q + v) % 4};
                    size_t n;
                    uint8_t *jpg = write_jpeg(&s, &n);
                    char name[160];
                    spec_name(&s, name, sizeof name);
                    for (int o = 0; o < 3; o++) {
                        int r = fast_vs_full(jpg, n, outs[o][0], outs[o][1], name);
                        cases++;
                        taken += r == 1;
                        bad += r < 0;
                    }
                    free(jpg);
                }
    CHECK_MSG(bad == 0, "%d of %d differ", bad, cases);
    // Every case reads at most a third of the pixels except none: all taken, or a layout was
    // declined that should not be.
    CHECK_MSG(taken == cases, "%d of %d taken", taken, cases);
}

static void test_other_layouts_declined(void) {
    // (nc, h, v, progressive, arithmetic): libjpeg decodes these, the fast path steps aside
    static const int other[][5] = {{3, 2, 2, 1, 0}, {1, 1, 1, 1, 0}, {3, 1, 2, 0, 0},
                                   {3, 4, 1, 0, 0}, {4, 1, 1, 0, 0}, {3, 2, 2, 0, 1},
                                   {3, 2, 2, 1, 1}};
    for (int i = 0; i < 7; i++) {
        spec s = {211, 157, other[i][0], other[i][1], other[i][2], 85, 0, 0, other[i][3], other[i][4], 1};
        size_t n;
        uint8_t *jpg = write_jpeg(&s, &n);
        char name[160];
        spec_name(&s, name, sizeof name);
        CHECK_MSG(fast_vs_full(jpg, n, 16, 16, name) == 0, "%s: taken", name);
        free(jpg);
    }
    // A resize reading more than a third of the pixels: libjpeg's full decode is quicker.
    spec s = {90, 90, 3, 2, 2, 85, 0, 0, 0, 0, 1};
    size_t n;
    uint8_t *jpg = write_jpeg(&s, &n);
    CHECK(fast_vs_full(jpg, n, 52, 52, "90x90 to 52x52") == 0);
    CHECK(fast_vs_full(jpg, n, 51, 52, "90x90 to 51x52") == 1);
    free(jpg);
}

// Cut at every length and single bytes changed: decline, or libjpeg's very pixels.
static void test_damaged(void) {
    for (int v = 0; v < 2; v++) {
        spec s = {120, 95, 3, 2, 2, 90, v ? 2 : 0, 0, 0, 0, 1};
        size_t n;
        uint8_t *jpg = write_jpeg(&s, &n);
        uint8_t *b = nn_alloc(n, "damaged");
        int bad = 0, taken = 0;
        for (size_t cut = 0; cut < n && !bad; cut++) {
            memcpy(b, jpg, cut);
            int r = fast_vs_full(b, cut, 16, 12, "cut copy");
            bad += r < 0;
            taken += r == 1;
        }
        CHECK_MSG(taken == 0, "restart %d: %d cut copies taken (none has an end marker)", s.restart, taken);
        uint64_t x = 88172645463325252ull + (uint64_t)v;
        int changed_taken = 0;
        for (int t = 0; t < 4000 && !bad; t++) {
            memcpy(b, jpg, n);
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x % n);
            b[at] = (uint8_t)(t & 1 ? b[at] ^ (1u << (x >> 40 & 7)) : x >> 48);
            int r = fast_vs_full(b, n, 16, 12, "changed copy");
            bad += r < 0;
            changed_taken += r == 1;
        }
        CHECK_MSG(bad == 0, "restart %d: a damaged copy differs", s.restart);
        // Most single-byte changes land in the entropy data and leave a decodable file.
        CHECK_MSG(changed_taken > 400, "restart %d: only %d changed copies taken", s.restart, changed_taken);
        nn_free(b);
        free(jpg);
    }
}

int main(void) {
    RUN(test_photos_take_the_fast_path);
    RUN(test_generated_layouts);
    RUN(test_other_layouts_declined);
    RUN(test_damaged);
    TEST_EXIT();
}
