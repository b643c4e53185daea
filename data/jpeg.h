// jpeg.h: the JPEG decoder behind image.c (jpeg.c, libjpeg-turbo), as a stream of RGB rows so
// that a caller that needs only some rows (the NEAREST resize) lets libjpeg skip the others.
// Internal to data/: the contract for the rest of the project is data.h.
#ifndef NN_DATA_JPEG_H
#define NN_DATA_JPEG_H

#include <stddef.h>
#include <stdint.h>

typedef struct jpeg_rows jpeg_rows;

// 1 when buf starts as Pillow requires of a JPEG (FF D8 FF): those bytes go to libjpeg.
int jpeg_is_jpeg(const uint8_t *buf, size_t len);

// Reads the header of the JPEG in buf (len bytes, kept by the caller until jpeg_rows_free) and
// starts decompression: 0 with *j, *h, *w set, or -1 with err naming `name` (and *j NULL).
// A header beyond IMAGE_MAX_SIDE / IMAGE_MAX_PIXELS is refused before any pixel memory.
int jpeg_rows_open(jpeg_rows **j, const uint8_t *buf, size_t len, const char *name, int *h, int *w,
                   char *err);
// Writes source row y (0 <= y < h, strictly increasing from call to call) as RGB into
// rgb (w, 3); the rows in between are skipped (not colour-converted, and whole iMCU rows not
// even transformed). The bytes equal those a full decode gives for row y. 0 or -1 with err.
int jpeg_rows_read(jpeg_rows *j, int y, uint8_t *rgb, char *err);
// Decodes what remains of the data up to its end marker without producing rows, so that a
// truncated file is refused whatever rows were asked for (Pillow refuses it too). 0 or -1.
int jpeg_rows_finish(jpeg_rows *j, char *err);
void jpeg_rows_free(jpeg_rows *j);

// jpeg_fast.c: the JPEG in buf straight to (dh, dw, 3) with Pillow's NEAREST resize, computing
// only the pixels the resize reads, for the common layouts (baseline Huffman, gray or YCbCr
// 4:4:4 / 4:2:2 / 4:2:0). 1 when done: dst then holds the bytes libjpeg's full decode and the
// resize give. 0 when the file is anything else or irregular in any way (dst then undefined):
// the caller decodes it with libjpeg, which also says what is wrong with a bad file.
int jpeg_fast_resize(const uint8_t *buf, size_t len, int dh, int dw, uint8_t *dst);

#endif
