// test_jpeg_write.h: JPEGs written with libjpeg into memory, for the JPEG tests
// (test_data_jpeg.c, test_data_jpeg_fast.c). Include after stdio.h (jpeglib.h needs FILE).
#ifndef NN_TEST_JPEG_WRITE_H
#define NN_TEST_JPEG_WRITE_H

#include <stdint.h>
#include <stdlib.h>

#include <jpeglib.h>

// What a test sets after jpeg_set_defaults: quality, sampling, restarts, progression...
typedef void (*jpeg_tune)(struct jpeg_compress_struct *c, const void *arg);

// px (h, w, nc: 1 gray, 3 RGB, 4 CMYK) as a JPEG: *n bytes, free(). A failure here is the test's
// own bug: libjpeg's default error handler exits.
static uint8_t *jpeg_write_mem(const uint8_t *px, int h, int w, int nc, jpeg_tune tune,
                               const void *arg, size_t *n) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &out, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = nc;
    c.in_color_space = nc == 1 ? JCS_GRAYSCALE : nc == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    tune(&c, arg);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)px + (size_t)c.next_scanline * w * nc;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *n = len;
    return out;
}

#endif
