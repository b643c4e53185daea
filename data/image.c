// image.c: one photo from a file to RGB at the target size, as Keras's load_img does it
// (PIL: open, convert('RGB'), resize(NEAREST)).
//  - Decoding is stb_image's (Debian's libstb-dev). Its JPEG decoder is not libjpeg-turbo, so a
//    decoded JPEG may differ from Pillow's by a few levels; PNG, BMP and GIF decode identically.
//    Conversion to RGB is stb's and agrees with Pillow's convert('RGB'): gray is replicated,
//    alpha is dropped without compositing, palettes are looked up.
//  - Everything that can go wrong with a file comes back as a reason in err, never a crash: a
//    missing, empty or oversized file, an unknown format, a header claiming absurd dimensions
//    (refused before any pixel memory is allocated), a truncated or corrupt stream.
//  - The resize reproduces Pillow 9's NEAREST resize bit for bit, including its arithmetic:
//    Pillow's ImagingScaleAffine walks the source coordinate by repeated double additions,
//    x_k = 0.5*s + s + ... + s (s = src/dst), and takes (int)x_k. That is floor((k+0.5)*s) in
//    exact arithmetic but differs from it where the sum's rounding crosses an integer (for
//    instance 2 -> 7 pixels), so the table below is built the same way.
//  - Speed: for a YCbCr or gray JPEG (baseline or progressive), stb's own steps are run
//    (entropy decode and IDCT of the whole image, then per row chroma upsampling and colour
//    conversion), but the per-row steps only for the rows NEAREST samples: about 64 rows of a
//    375-row photo. The result is bit-identical to stbi_load followed by the resize
//    (test_data.c checks this on every shared photo); it saves most of stb's colour conversion,
//    a quarter of its decode time.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC   // stb stays private to this file: no clash with another copy
#define STBI_NO_STDIO      // files are read here, so that an empty or huge file gets its reason
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_ONLY_JPEG
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
#include "stb_guard.h"

// ---------------------------------------------------------------------------------------------

// Pillow's source index table for one axis: -1 where Pillow leaves the pixel unset (its fill
// colour, 0); that happens only if the accumulated coordinate reaches src, which the tests
// have not seen but the table handles as Pillow does.
static void nearest_table(int src, int dst, int *tab) {
    double a = (double)src / (double)dst;
    double x = a * 0.5;
    for (int i = 0; i < dst; i++) {
        int k = x < 0.0 ? -1 : (int)x;
        tab[i] = k < src ? k : -1;
        x += a;
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
    nearest_table(sh, dh, ytab);
    nearest_table(sw, dw, xtab);
    for (int y = 0; y < dh; y++) {
        uint8_t *o = dst + (size_t)y * dw * 3;
        if (ytab[y] < 0) {
            memset(o, 0, (size_t)dw * 3);
            continue;
        }
        const uint8_t *row = src + (size_t)ytab[y] * sw * 3;
        for (int x = 0; x < dw; x++, o += 3) {
            if (xtab[x] < 0) {
                o[0] = o[1] = o[2] = 0;
            } else {
                const uint8_t *p = row + (size_t)xtab[x] * 3;
                o[0] = p[0], o[1] = p[1], o[2] = p[2];
            }
        }
    }
    if (tab != stack_tab) nn_free(tab);
}

// ---------------------------------------------------------------------------------------------
// The JPEG fast path: stb's load_jpeg_image (v2.27) for req_comp = 3, restricted to the rows the
// resize reads. It uses stb's internals, which this file may since it holds stb's
// implementation; anything it does not handle (CMYK, YCCK, Adobe RGB JPEGs) returns 0 and the
// caller decodes the usual way.

static int jpeg_load_resized(const uint8_t *buf, int len, int dh, int dw, uint8_t *dst, int *ok) {
    *ok = 0;
    stbi__context s;
    stbi__start_mem(&s, buf, len);
    stbi__jpeg *z = nn_alloc(sizeof *z, "jpeg decoder");
    z->s = &s;
    stbi__setup_jpeg(z);
    z->s->img_n = 0;  // makes stbi__cleanup_jpeg safe
    if (!stbi__decode_jpeg_image(z)) {
        stbi__cleanup_jpeg(z);
        nn_free(z);
        return 1;  // failed: the reason is in stbi_failure_reason()
    }
    int img_n = z->s->img_n, sw = (int)z->s->img_x, sh = (int)z->s->img_y;
    int is_rgb = img_n == 3 && (z->rgb == 3 || (z->app14_color_transform == 0 && !z->jfif));
    if (!(img_n == 1 || (img_n == 3 && !is_rgb))) {
        stbi__cleanup_jpeg(z);
        nn_free(z);
        return 0;  // not handled here
    }
    stbi__resample res[3];
    for (int k = 0; k < img_n; k++) {
        stbi__resample *r = &res[k];
        z->img_comp[k].linebuf = (stbi_uc *)stbi__malloc((size_t)sw + 3);
        if (!z->img_comp[k].linebuf) NN_DIE("out of memory decoding a JPEG");
        r->hs = z->img_h_max / z->img_comp[k].h;
        r->vs = z->img_v_max / z->img_comp[k].v;
        r->ystep = r->vs >> 1;
        r->w_lores = (sw + r->hs - 1) / r->hs;
        r->ypos = 0;
        r->line0 = r->line1 = z->img_comp[k].data;
        if (r->hs == 1 && r->vs == 1) r->resample = resample_row_1;
        else if (r->hs == 1 && r->vs == 2) r->resample = stbi__resample_row_v_2;
        else if (r->hs == 2 && r->vs == 1) r->resample = stbi__resample_row_h_2;
        else if (r->hs == 2 && r->vs == 2) r->resample = z->resample_row_hv_2_kernel;
        else r->resample = stbi__resample_row_generic;
    }
    int *ytab = nn_alloc((size_t)(dh + dw) * sizeof(int), "resize table"), *xtab = ytab + dh;
    // +4: stb's colour conversion writes a 4th byte after the last pixel even for 3 channels.
    uint8_t *row = nn_alloc((size_t)sw * 3 + 4, "jpeg row");
    nearest_table(sh, dh, ytab);
    nearest_table(sw, dw, xtab);
    for (int y = 0; y < dh; y++)
        if (ytab[y] < 0) memset(dst + (size_t)y * dw * 3, 0, (size_t)dw * 3);
    int y = 0;  // next output row
    while (y < dh && ytab[y] < 0) y++;
    for (int j = 0; j < sh && y < dh; j++) {
        int want = ytab[y] == j;
        stbi_uc *cout[3] = {NULL, NULL, NULL};
        for (int k = 0; k < img_n; k++) {
            stbi__resample *r = &res[k];
            if (want) {
                int y_bot = r->ystep >= (r->vs >> 1);
                cout[k] = r->resample(z->img_comp[k].linebuf, y_bot ? r->line1 : r->line0,
                                      y_bot ? r->line0 : r->line1, r->w_lores, r->hs);
            }
            if (++r->ystep >= r->vs) {
                r->ystep = 0;
                r->line0 = r->line1;
                if (++r->ypos < z->img_comp[k].y) r->line1 += z->img_comp[k].w2;
            }
        }
        if (!want) continue;
        if (img_n == 3) {
            z->YCbCr_to_RGB_kernel(row, cout[0], cout[1], cout[2], sw, 3);
        } else {
            for (int i = 0; i < sw; i++) row[3 * i] = row[3 * i + 1] = row[3 * i + 2] = cout[0][i];
        }
        // Every output row that samples source row j (several when enlarging).
        for (; y < dh && ytab[y] == j; y++) {
            uint8_t *o = dst + (size_t)y * dw * 3;
            if (dw == sw) {  // the table is the identity then
                memcpy(o, row, (size_t)sw * 3);
                continue;
            }
            for (int x = 0; x < dw; x++, o += 3) {
                if (xtab[x] < 0) {
                    o[0] = o[1] = o[2] = 0;
                } else {
                    const uint8_t *p = row + (size_t)xtab[x] * 3;
                    o[0] = p[0], o[1] = p[1], o[2] = p[2];
                }
            }
        }
    }
    nn_free(row);
    nn_free(ytab);
    stbi__cleanup_jpeg(z);
    nn_free(z);
    *ok = 1;
    return 1;
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
                return *h > 0;  // 0: height given later (DNL): let stb decide
            }
            i += 2 + be16(b + i + 2);
        }
    }
    return 0;
}

// Checks the header of an image held in memory (size limits from the header itself, then
// stb's): 0, or -1 with err set naming `path`.
static int check_header(const uint8_t *buf, size_t n, const char *path, char *err) {
    uint64_t cw, ch;
    if (header_dims(buf, n, &cw, &ch) &&
        (cw > IMAGE_MAX_SIDE || ch > IMAGE_MAX_SIDE || cw * ch > IMAGE_MAX_PIXELS))
        return nn_fail(err, "%s: header claims %llu x %llu pixels, beyond the limit of %d per side "
                       "and %d megapixels: corrupt or not a photo", path, (unsigned long long)cw,
                       (unsigned long long)ch, IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS / 1000000);
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

// Decoding and resizing of checked bytes (the caller keeps buf).
static int decode_buf(const uint8_t *buf, int len, const char *path, uint8_t **rgb, int *h,
                      int *w, char *err) {
    uint8_t *px = decode_rgb(buf, len, w, h);
    if (!px) return decode_failed(path, err);
    *rgb = px;
    return 0;
}

static int load_buf(const uint8_t *buf, int len, const char *path, int h, int w, uint8_t *out,
                    int fast, char *err) {
    int sh, sw;
    if (fast && len >= 2 && buf[0] == 0xFF && buf[1] == 0xD8) {
        int ok;
        if (jpeg_load_resized(buf, len, h, w, out, &ok)) return ok ? 0 : decode_failed(path, err);
    }
    uint8_t *px = decode_rgb(buf, len, &sw, &sh);
    if (!px) return decode_failed(path, err);
    image_resize_nearest(px, sh, sw, out, h, w);
    stbi_image_free(px);
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

void image_free_decoded(uint8_t *rgb) { stbi_image_free(rgb); }

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
