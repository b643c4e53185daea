// jpeg.c: JPEG decoding with libjpeg-turbo (Debian's libjpeg62-turbo, the library Debian's
// Pillow links), set up exactly as Pillow's JpegDecoder is for Keras's load_img, i.e. a plain
// Image.open(path).convert('RGB'):
//  - libjpeg's defaults, which Pillow does not change unless draft() is called (load_img never
//    does): JDCT_ISLOW, fancy upsampling, block smoothing, no scaling, libjpeg's own guess of the
//    colour space from the JFIF/Adobe markers;
//  - 1 component: gray replicated to RGB (what convert('RGB') does to mode L); 3 components: RGB
//    from libjpeg; 4 components (CMYK, or YCCK that libjpeg turns into CMYK): Pillow opens them
//    as "CMYK;I" (Adobe's inverted CMYK) and convert('RGB') computes
//    k' = 255 - K, X = k' - k' * C / 255 rounded as Pillow's MULDIV255: done here the same way;
//  - a file that ends early is refused, as Pillow's "image file is truncated" is: libjpeg's
//    memory source reports it as the warning JWRN_JPEG_EOF (and fills the rest with grey), and
//    a warning before the last row counts; other warnings (corrupt entropy data libjpeg
//    recovers from) are ignored, as Pillow ignores them, so such a file gives Pillow's pixels.
// Every libjpeg error comes back through error_exit -> longjmp as -1 with libjpeg's own reason
// and the file's name; libjpeg never exits or prints. Rows are delivered one at a time and
// jpeg_skip_scanlines passes over the rows nobody asked for (libjpeg-turbo then skips their
// colour conversion, and the IDCT and upsampling of whole iMCU rows); tests/test_data_jpeg.c
// and tests/fuzz/fuzz_image.c hold the rows read this way equal to a full decode's.
#include "jpeg.h"

#include <setjmp.h>
#include <stdio.h>   // jpeglib.h needs FILE
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "../nn/common.h"
#include "data.h"

// A progressive file may hold any number of scans, each a pass over the whole coefficient
// buffer: a few bytes per scan can cost seconds. Real photos have about 10 (libjpeg's own
// progression writes 10); libjpeg-turbo's djpeg has -maxscans for the same reason.
#define JPEG_MAX_SCANS 1000   // (and in on_progress's message)

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int eof;               // JWRN_JPEG_EOF was emitted: the data ended before the image did
    const char *stop;      // our own reason to stop (the scan limit), else libjpeg's message
} jpeg_err;

struct jpeg_rows {
    struct jpeg_decompress_struct d;
    jpeg_err e;
    struct jpeg_progress_mgr progress;
    const char *name;
    int cmyk;              // 4 components, decoded to CMYK and converted as Pillow does
    uint8_t *scratch;      // (w, 4) at an odd address: see jpeg_rows_read
    uint8_t *scratch_mem;  // its allocation
};

static void on_error(j_common_ptr c) {
    jpeg_err *e = (jpeg_err *)c->err;
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr c, int level) {
    if (level >= 0) return;   // trace messages
    c->err->num_warnings++;
    if (c->err->msg_code == JWRN_JPEG_EOF) ((jpeg_err *)c->err)->eof = 1;
}

static void on_output(j_common_ptr c) { (void)c; }   // never print

static void on_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)c->err;
        e->stop = "more than 1000 scans: corrupt or hostile";
        longjmp(e->jump, 1);
    }
}

// The error line for a longjmp out of libjpeg (or for a truncated file): -1.
static int jpeg_fail(jpeg_rows *j, char *err) {
    if (j->e.eof)   // (libjpeg's last message is then about the grey filler, not the cause)
        return nn_fail(err, "%s: truncated JPEG: the file ends before the image does (libjpeg: "
                       "Premature end of JPEG file; Pillow: image file is truncated)", j->name);
    char msg[JMSG_LENGTH_MAX];
    if (j->e.stop) snprintf(msg, sizeof msg, "%s", j->e.stop);
    else (*j->e.pub.format_message)((j_common_ptr)&j->d, msg);
    return nn_fail(err, "%s: corrupt or unsupported JPEG (libjpeg: %s)", j->name, msg);
}

int jpeg_is_jpeg(const uint8_t *buf, size_t len) {
    return len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF;
}

void jpeg_rows_free(jpeg_rows *j) {
    if (!j) return;
    jpeg_destroy_decompress(&j->d);
    nn_free(j->scratch_mem);
    nn_free(j);
}

int jpeg_rows_open(jpeg_rows **out, const uint8_t *buf, size_t len, const char *name, int *h,
                   int *w, char *err) {
    *out = NULL;
    jpeg_rows *j = nn_calloc(sizeof *j, "jpeg decoder");
    j->name = name;
    j->d.err = jpeg_std_error(&j->e.pub);
    j->e.pub.error_exit = on_error;
    j->e.pub.emit_message = on_message;
    j->e.pub.output_message = on_output;
    if (setjmp(j->e.jump)) {
        int rc = jpeg_fail(j, err);
        jpeg_rows_free(j);
        return rc;
    }
    jpeg_create_decompress(&j->d);
    j->progress.progress_monitor = on_progress;
    j->d.progress = &j->progress;
    jpeg_mem_src(&j->d, buf, (unsigned long)len);
    jpeg_read_header(&j->d, TRUE);
    uint64_t iw = j->d.image_width, ih = j->d.image_height;
    if (iw > IMAGE_MAX_SIDE || ih > IMAGE_MAX_SIDE || iw * ih > IMAGE_MAX_PIXELS) {
        nn_fail(err, "%s: header claims %llu x %llu pixels, beyond the limit of %d per side and "
                "%d megapixels: corrupt or not a photo", name, (unsigned long long)iw,
                (unsigned long long)ih, IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS / 1000000);
        jpeg_rows_free(j);
        return -1;
    }
    // Only the output colour space is chosen, as Pillow chooses it; the rest stays libjpeg's.
    j->cmyk = j->d.num_components == 4;
    j->d.out_color_space = j->cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&j->d);   // a progressive file is read whole here
    if (j->e.eof) {   // the data ended inside a multi-scan image: Pillow refuses it
        int rc = jpeg_fail(j, err);
        jpeg_rows_free(j);
        return rc;
    }
    *h = (int)j->d.output_height;
    *w = (int)j->d.output_width;
    j->scratch_mem = nn_alloc((size_t)*w * 4 + 1, "jpeg row");
    j->scratch = j->scratch_mem + 1;
    *out = j;
    return 0;
}

// Pillow's "CMYK;I" unpacking (inversion) then its cmyk2rgb, for one row.
static void cmyk_to_rgb(const uint8_t *cmyk, int w, uint8_t *rgb) {   // (w, 4) -> (w, 3)
    for (int x = 0; x < w; x++, cmyk += 4, rgb += 3) {
        int nk = cmyk[3];   // 255 - inverted K
        for (int c = 0; c < 3; c++) {
            int t = (255 - cmyk[c]) * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);
            rgb[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

// Moves on to row y without producing the rows before it. libjpeg-turbo 2.1.5's
// jpeg_skip_scanlines is exact only from the start of an upsampler row group (max_v_samp_factor
// rows) when the upsampling needs no context rows: from the middle of a group it hands out the
// group's pending row as the next one. That is every layout with row groups of 2 or more rows
// but no fancy h2v2/h1v2 upsampling (1x2 sampling in every component, Y 2x2 with 1x2 chroma,
// 1x3, 4x2...), which test_data_jpeg.c writes and catches. So a skip that starts mid-group
// first reads up to the group's end into the scratch row: at most max_v_samp_factor - 1 rows.
static void skip_to(jpeg_rows *j, JDIMENSION y) {
    JDIMENSION group = (JDIMENSION)j->d.max_v_samp_factor;
    while (j->d.output_scanline < y && j->d.output_scanline % group != 0) {
        JSAMPROW row = j->scratch;
        jpeg_read_scanlines(&j->d, &row, 1);
    }
    if (y > j->d.output_scanline) jpeg_skip_scanlines(&j->d, y - j->d.output_scanline);
}

int jpeg_rows_read(jpeg_rows *j, int y, uint8_t *rgb, char *err) {   // rgb (w, 3)
    JDIMENSION next = j->d.output_scanline;
    if (y < 0 || (JDIMENSION)y < next || (JDIMENSION)y >= j->d.output_height)
        NN_DIE("jpeg_rows_read: row %d asked after row %u of %u", y, next, j->d.output_height);
    if (setjmp(j->e.jump)) return jpeg_fail(j, err);
    skip_to(j, (JDIMENSION)y);
    // libjpeg-turbo's SIMD colour conversion writes a row that starts on a 16-byte boundary
    // with non-temporal stores, straight to memory: reading it back at once then costs a trip
    // to DRAM per cache line (a third of the decode time of a 64x64 photo). Rows land at the
    // scratch row's odd address instead, in cache, and are copied from there.
    JSAMPROW row = j->cmyk || ((uintptr_t)rgb & 15) == 0 ? j->scratch : rgb;
    if (jpeg_read_scanlines(&j->d, &row, 1) != 1)   // (cannot happen with a memory source)
        return nn_fail(err, "%s: libjpeg returned no row %d", j->name, y);
    if (j->cmyk) cmyk_to_rgb(j->scratch, (int)j->d.output_width, rgb);
    else if (row != rgb) memcpy(rgb, row, (size_t)j->d.output_width * 3);
    if (j->e.eof) return jpeg_fail(j, err);   // grey filler from here on: Pillow refuses it
    return 0;
}

int jpeg_rows_finish(jpeg_rows *j, char *err) {
    if (setjmp(j->e.jump)) return jpeg_fail(j, err);
    if (j->d.output_scanline + 1 < j->d.output_height) skip_to(j, j->d.output_height - 1);
    if (j->d.output_scanline < j->d.output_height) {
        // The last row is read, not skipped: skipping it would end the input unread.
        JSAMPROW row = j->scratch;
        jpeg_read_scanlines(&j->d, &row, 1);
    }
    if (j->e.eof) return jpeg_fail(j, err);
    // Past the last row, Pillow accepts a missing end marker (its jpeg_finish_decompress may
    // suspend once every row is out), so an EOF warning from here on is not a truncation.
    jpeg_finish_decompress(&j->d);
    return 0;
}
