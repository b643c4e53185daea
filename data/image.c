// image.c: one photo from a file to RGB at the target size, as Keras's load_img does it
// (PIL: open, convert('RGB'), resize(NEAREST)).
//  - JPEG goes to libjpeg-turbo (jpeg.c), the library Debian's Pillow decodes with, set up as
//    Pillow sets it up: the decoded pixels are Pillow's, bit for bit (test_data.c checks every
//    shared photo and the JPEG layouts of tests/fixtures/data_modes/, CMYK and YCCK included).
//    PNG, BMP and GIF go to stb_image (Debian's libstb-dev), whose conversion to RGB agrees
//    with Pillow's convert('RGB'): gray is replicated, alpha is dropped without compositing,
//    palettes are looked up (16-bit gray PNGs are clipped here, as Pillow does).
//  - Everything that can go wrong with a file comes back as a reason in err, never a crash: a
//    missing, empty or oversized file, an unknown format, a header claiming absurd dimensions
//    (refused before any pixel memory is allocated), a truncated or corrupt stream.
//  - The resize reproduces Pillow 9's NEAREST resize bit for bit, including its arithmetic:
//    Pillow's ImagingScaleAffine walks the source coordinate by repeated double additions,
//    x_k = 0.5*s + s + ... + s (s = src/dst), and takes (int)x_k. That is floor((k+0.5)*s) in
//    exact arithmetic but differs from it where the sum's rounding crosses an integer (for
//    instance 2 -> 7 pixels), so the table below is built the same way.
//  - Speed: a JPEG whose resize reads at most a third of its pixels (a 64x64 sample of a photo)
//    goes to jpeg_fast.c, which decodes the Huffman data and evaluates only the sampled pixels,
//    exactly as libjpeg's inverse DCT, upsampling and colour conversion would have made them.
//    Layouts it does not take go to libjpeg row by row, only the rows NEAREST samples being
//    asked for (libjpeg-turbo skips the others' colour conversion: jpeg_skip_scanlines); a
//    resize that reads every row decodes the whole image in one go. Each way the result is
//    bit-identical to the full decode followed by the resize (image_load_rgb_slow;
//    test_data_jpeg.c, test_data_jpeg_fast.c and fuzz_image.c check it).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC   // stb stays private to this file: no clash with another copy
#define STBI_NO_STDIO      // files are read here, so that an empty or huge file gets its reason
// No JPEG: stb's decoder is not Pillow's (a few levels apart) and never sees a JPEG here.
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
// stb's functions this file does not call are static and unused: silence that for the file
// (the warning for one of them is only given at the end of the file, so no push/pop).
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../nn/common.h"
#include "data.h"
#include "jpeg.h"
#include "stb_guard.h"

// ---------------------------------------------------------------------------------------------

// Pillow's source index table for one axis: -1 where Pillow leaves the pixel unset (its fill
// colour, 0); that happens only if the accumulated coordinate reaches src, which the tests
// have not seen but the table handles as Pillow does.
void image_nearest_table(int src, int dst, int *tab) {
    double a = (double)src / (double)dst;
    double x = a * 0.5;
    for (int i = 0; i < dst; i++) {
        int k = x < 0.0 ? -1 : (int)x;
        tab[i] = k < src ? k : -1;
        x += a;
    }
}

// One output row (dw, 3) from one source row, by the column table (-1: Pillow's fill, black).
static void resize_row(const uint8_t *row, const int *xtab, int dw, uint8_t *o) {
    for (int x = 0; x < dw; x++, o += 3) {
        if (xtab[x] < 0) {
            o[0] = o[1] = o[2] = 0;
        } else {
            const uint8_t *p = row + (size_t)xtab[x] * 3;
            o[0] = p[0], o[1] = p[1], o[2] = p[2];
        }
    }
}

void image_resize_nearest(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw) {
    if (sh == dh && sw == dw) {
        memcpy(dst, src, (size_t)sh * sw * 3);
        return;
    }
    int stack_tab[2 * 512];
    int *tab = dh + dw <= 2 * 512 ? stack_tab : nn_alloc((size_t)(dh + dw) * sizeof(int), "resize table");
    int *ytab = tab, *xtab = tab + dh;
    image_nearest_table(sh, dh, ytab);
    image_nearest_table(sw, dw, xtab);
    for (int y = 0; y < dh; y++) {
        uint8_t *o = dst + (size_t)y * dw * 3;
        if (ytab[y] < 0) {
            memset(o, 0, (size_t)dw * 3);
            continue;
        }
        const uint8_t *row = src + (size_t)ytab[y] * sw * 3;
        resize_row(row, xtab, dw, o);
    }
    if (tab != stack_tab) nn_free(tab);
}

// ---------------------------------------------------------------------------------------------

// Reads a whole file; returns its bytes (nn_free) or NULL with the reason in err.
static uint8_t *read_file(const char *path, size_t *len, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        nn_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        nn_fail(err, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if (st.st_size == 0) {
        nn_fail(err, "%s: empty file (0 bytes)", path);
        fclose(f);
        return NULL;
    }
    if ((uint64_t)st.st_size > IMAGE_MAX_FILE_BYTES) {
        nn_fail(err, "%s: file of %lld bytes is too large for an image (limit %llu MiB)", path,
                (long long)st.st_size, (unsigned long long)(IMAGE_MAX_FILE_BYTES >> 20));
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = nn_alloc(n, "image file");
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (got != n || bad) {
        nn_fail(err, "%s: read error after %zu of %zu bytes", path, got, n);
        nn_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }
static uint32_t le32(const uint8_t *p) { return le16(p + 2) << 16 | le16(p); }

// The dimensions a header claims, read here rather than by stb so that an absurd claim gets
// that reason (stb refuses some itself, e.g. a PNG over 2^30 bytes, but only says "unknown
// image type" after trying every format). Returns 0 when it cannot tell.
static int header_dims(const uint8_t *b, size_t n, uint64_t *w, uint64_t *h) {
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 24 && !memcmp(b, png, 8) && !memcmp(b + 12, "IHDR", 4)) {
        *w = be32(b + 16), *h = be32(b + 20);
        return 1;
    }
    if (n >= 10 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) {
        *w = le16(b + 6), *h = le16(b + 8);
        return 1;
    }
    if (n >= 26 && b[0] == 'B' && b[1] == 'M') {
        if (le32(b + 14) == 12) {
            *w = le16(b + 18), *h = le16(b + 20);
        } else {
            int32_t sw = (int32_t)le32(b + 18), sh = (int32_t)le32(b + 22);
            *w = (uint64_t)(sw < 0 ? -(int64_t)sw : sw), *h = (uint64_t)(sh < 0 ? -(int64_t)sh : sh);
        }
        return 1;
    }
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8) {
        size_t i = 2;
        while (i + 4 <= n) {
            if (b[i] != 0xFF) return 0;
            while (i + 1 < n && b[i + 1] == 0xFF) i++;  // fill bytes
            if (i + 4 > n) return 0;
            uint8_t m = b[i + 1];
            if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
                i += 2;
                continue;
            }
            if (m == 0xDA || m == 0xD9) return 0;  // scan or end before any frame header
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                if (i + 9 > n) return 0;
                *h = be16(b + i + 5), *w = be16(b + i + 7);
                return *h > 0;  // 0: height given later (DNL): libjpeg refuses it
            }
            i += 2 + be16(b + i + 2);
        }
    }
    return 0;
}

// Checks the header of an image held in memory (size limits from the header itself, then
// stb's; a JPEG's are checked again by jpeg.c from libjpeg's reading): 0, or -1 with err set
// naming `path`.
static int check_header(const uint8_t *buf, size_t n, const char *path, char *err) {
    uint64_t cw, ch;
    if (header_dims(buf, n, &cw, &ch) &&
        (cw > IMAGE_MAX_SIDE || ch > IMAGE_MAX_SIDE || cw * ch > IMAGE_MAX_PIXELS))
        return nn_fail(err, "%s: header claims %llu x %llu pixels, beyond the limit of %d per side "
                       "and %d megapixels: corrupt or not a photo", path, (unsigned long long)cw,
                       (unsigned long long)ch, IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS / 1000000);
    if (jpeg_is_jpeg(buf, n)) return 0;   // libjpeg reads and checks the rest (jpeg.c)
    char why[160];
    if (stb_guard_check(buf, n, why, sizeof why) != 0)   // stb 2.27's own bugs: data/stb_guard.c
        return nn_fail(err, "%s: %s", path, why);
    int x, y, comp;
    if (!stbi_info_from_memory(buf, (int)n, &x, &y, &comp)) {
        const char *why = stbi_failure_reason();
        return nn_fail(err, "%s: not a readable JPEG, PNG, BMP or GIF image (%s)", path,
                       why ? why : "unknown format");
    }
    if (x <= 0 || y <= 0 || x > IMAGE_MAX_SIDE || y > IMAGE_MAX_SIDE ||
        (int64_t)x * y > IMAGE_MAX_PIXELS)
        return nn_fail(err, "%s: header claims %d x %d pixels, beyond the limit of %d per side and "
                       "%d megapixels: corrupt or not a photo", path, x, y, IMAGE_MAX_SIDE,
                       IMAGE_MAX_PIXELS / 1000000);
    return 0;
}

// Reads path and checks its header: returns the file's bytes (nn_free) or NULL with err set.
static uint8_t *open_image(const char *path, int *len, char *err) {
    size_t n = 0;
    uint8_t *buf = read_file(path, &n, err);
    if (!buf) return NULL;
    *len = (int)n;  // n <= IMAGE_MAX_FILE_BYTES < 2^31
    if (check_header(buf, n, path, err) != 0) {
        nn_free(buf);
        return NULL;
    }
    return buf;
}

// The size checks read_file makes, for bytes that come from memory.
static int check_mem(size_t len, const char *name, char *err) {
    if (len == 0) return nn_fail(err, "%s: empty image (0 bytes)", name);
    if ((uint64_t)len > IMAGE_MAX_FILE_BYTES)
        return nn_fail(err, "%s: %zu bytes is too large for an image (limit %llu MiB)", name, len,
                       (unsigned long long)(IMAGE_MAX_FILE_BYTES >> 20));
    return 0;
}

// stbi_load to RGB, except for 16-bit grayscale PNGs: Pillow opens those as mode I;16 and
// convert('RGB') clips each value to 255, where stb would keep the high byte; follow Pillow.
// (16-bit RGB and gray+alpha PNGs keep the high byte in both.)
static uint8_t *decode_rgb(const uint8_t *buf, int len, int *w, int *h) {
    int comp;
    if (len > 26 && buf[0] == 0x89 && !memcmp(buf + 12, "IHDR", 4) && buf[24] == 16 && buf[25] == 0) {
        uint16_t *g = stbi_load_16_from_memory(buf, len, w, h, &comp, 1);
        if (!g) return NULL;
        size_t n = (size_t)*w * *h;
        uint8_t *rgb = stbi__malloc(n * 3 + 1);
        if (!rgb) NN_DIE("out of memory decoding a PNG");
        for (size_t i = 0; i < n; i++)
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g[i] > 255 ? 255 : (uint8_t)g[i];
        stbi_image_free(g);
        return rgb;
    }
    return stbi_load_from_memory(buf, len, w, h, &comp, 3);
}

static int decode_failed(const char *path, char *err) {
    const char *why = stbi_failure_reason();
    return nn_fail(err, "%s: corrupt or truncated image (%s)", path, why ? why : "decode failed");
}

// A whole JPEG, row by row into one image (h, w, 3).
static int jpeg_decode(const uint8_t *buf, int len, const char *path, uint8_t **rgb, int *h,
                       int *w, char *err) {
    jpeg_rows *j;
    if (jpeg_rows_open(&j, buf, (size_t)len, path, h, w, err) < 0) return -1;
    size_t stride = (size_t)*w * 3;
    uint8_t *px = nn_alloc(stride * *h, "decoded image");
    int rc = 0;
    for (int y = 0; y < *h && rc == 0; y++) rc = jpeg_rows_read(j, y, px + stride * y, err);
    if (rc == 0) rc = jpeg_rows_finish(j, err);
    jpeg_rows_free(j);
    if (rc < 0) {
        nn_free(px);
        return -1;
    }
    *rgb = px;
    return 0;
}

// A JPEG straight to (dh, dw, 3) with the NEAREST resize: only the source rows the resize reads
// are asked of libjpeg, the others skipped. The same bytes as jpeg_decode + image_resize_nearest.
// 1 (nothing done) when every row would be read: decoding them in one go is quicker then.
static int jpeg_load_resized(const uint8_t *buf, int len, const char *path, int dh, int dw,
                             uint8_t *dst, char *err) {
    jpeg_rows *j;
    int sh, sw;
    if (jpeg_rows_open(&j, buf, (size_t)len, path, &sh, &sw, err) < 0) return -1;
    if (dh >= sh) {
        jpeg_rows_free(j);
        return 1;
    }
    int *ytab = nn_alloc((size_t)(dh + dw) * sizeof(int), "resize table"), *xtab = ytab + dh;
    uint8_t *row = nn_alloc((size_t)sw * 3, "jpeg row");   // (sw, 3)
    image_nearest_table(sh, dh, ytab);
    image_nearest_table(sw, dw, xtab);
    int rc = 0, have = -1;   // have: the source row in `row`
    for (int y = 0; y < dh && rc == 0; y++) {
        uint8_t *o = dst + (size_t)y * dw * 3;
        if (ytab[y] < 0) {   // Pillow's fill (see image_nearest_table)
            memset(o, 0, (size_t)dw * 3);
            continue;
        }
        if (ytab[y] != have) {   // the table never decreases: rows come in order
            rc = jpeg_rows_read(j, ytab[y], row, err);
            have = ytab[y];
        }
        if (dw == sw) {   // the table is the identity then
            memcpy(o, row, (size_t)sw * 3);
            continue;
        }
        resize_row(row, xtab, dw, o);
    }
    if (rc == 0) rc = jpeg_rows_finish(j, err);
    nn_free(row);
    nn_free(ytab);
    jpeg_rows_free(j);
    return rc;
}

// Decoding of checked bytes (the caller keeps buf): *rgb (h, w, 3) for image_free_decoded.
static int decode_buf(const uint8_t *buf, int len, const char *path, uint8_t **rgb, int *h,
                      int *w, char *err) {
    if (jpeg_is_jpeg(buf, (size_t)len)) return jpeg_decode(buf, len, path, rgb, h, w, err);
    uint8_t *px = decode_rgb(buf, len, w, h);
    if (!px) return decode_failed(path, err);
    *rgb = px;
    return 0;
}

// Decoding and resizing of checked bytes; `fast`: a JPEG's rows the resize skips are skipped.
static int load_buf(const uint8_t *buf, int len, const char *path, int h, int w, uint8_t *out,
                    int fast, char *err) {
    if (fast && jpeg_is_jpeg(buf, (size_t)len)) {
        // The header's own size says which way is quicker (a guess: libjpeg has the last word):
        // a shrink computes the sampled pixels only; otherwise libjpeg skips the unread rows,
        // and when every row is read (below) decodes the whole image in one go.
        uint64_t sw = 0, sh = 0;
        header_dims(buf, (size_t)len, &sw, &sh);
        if ((sh == 0 || (uint64_t)h * w * 3 <= sh * sw) && jpeg_fast_resize(buf, (size_t)len, h, w, out))
            return 0;
        if (sh == 0 || (uint64_t)h < sh) {
            int rc = jpeg_load_resized(buf, len, path, h, w, out, err);
            if (rc <= 0) return rc;
        }
    }
    uint8_t *px;
    int sh, sw;
    if (decode_buf(buf, len, path, &px, &sh, &sw, err) < 0) return -1;
    image_resize_nearest(px, sh, sw, out, h, w);
    image_free_decoded(px);
    return 0;
}

int image_decode_rgb(const char *path, uint8_t **rgb, int *h, int *w, char *err) {
    *rgb = NULL;
    int len;
    uint8_t *buf = open_image(path, &len, err);
    if (!buf) return -1;
    int rc = decode_buf(buf, len, path, rgb, h, w, err);
    nn_free(buf);
    return rc;
}

// stb's pixels come from malloc, jpeg_decode's from nn_alloc: both are free()d.
void image_free_decoded(uint8_t *rgb) { nn_free(rgb); }

static int load_rgb(const char *path, int h, int w, uint8_t *out, int fast, char *err) {
    int len;
    uint8_t *buf = open_image(path, &len, err);
    if (!buf) return -1;
    int rc = load_buf(buf, len, path, h, w, out, fast, err);
    nn_free(buf);
    return rc;
}

int image_decode_rgb_mem(const void *buf, size_t len, const char *name, uint8_t **rgb, int *h,
                         int *w, char *err) {
    *rgb = NULL;
    if (check_mem(len, name, err) || check_header(buf, len, name, err)) return -1;
    return decode_buf(buf, (int)len, name, rgb, h, w, err);
}

int image_load_rgb_mem(const void *buf, size_t len, const char *name, int h, int w, uint8_t *out,
                       char *err) {
    if (check_mem(len, name, err) || check_header(buf, len, name, err)) return -1;
    return load_buf(buf, (int)len, name, h, w, out, 1, err);
}

int image_load_rgb(const char *path, int h, int w, uint8_t *out, char *err) {
    return load_rgb(path, h, w, out, 1, err);
}

int image_load_rgb_slow(const char *path, int h, int w, uint8_t *out, char *err) {
    return load_rgb(path, h, w, out, 0, err);
}
