// fuzz_image.c: libFuzzer target for the image decoder wrapper and the resize (data/image.c),
// driven from memory through image_load_rgb_mem / image_decode_rgb_mem. Photos come from the
// internet: whatever the bytes, the functions must return 0 or -1 with one error line naming
// the input, never crash, leak or read out of bounds (ASan, UBSan and LeakSanitizer watch).
// It also holds an invariant, checked on every input: decoding to the target size (for a JPEG,
// data/jpeg_fast.c evaluating only the sampled pixels, or libjpeg skipping the rows NEAREST
// does not sample: data/jpeg.c) gives the same bytes as the full decode followed by
// image_resize_nearest, and both accept or refuse the same inputs. For
// PNG, BMP and GIF the two decode with the same code, so a difference means the decoder read
// memory it never wrote (how the uninitialised palette of stb's BMP reader was found).
// Two target sizes: 64x64 (the article's, a shrink for most inputs) and 7x13 (odd, an
// enlargement for the tiny seeds), so both directions of the resize tables are walked.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../data/data.h"
#include "../../nn/common.h"

static void check_err(int rc, const char *err, const char *what) {
    if (rc == 0) return;
    if (rc != -1 || !err[0] || memchr(err, 0, NN_ERRLEN) == NULL || strncmp(err, "fuzz.img", 8)) {
        fprintf(stderr, "fuzz_image: %s returned %d with a bad error line: '%.*s'\n", what, rc,
                NN_ERRLEN, err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int sizes[2][2] = {{64, 64}, {7, 13}};
    char err[NN_ERRLEN];
    uint8_t *full = NULL;
    int fh = 0, fw = 0;
    err[0] = 0;
    int drc = image_decode_rgb_mem(data, size, "fuzz.img", &full, &fh, &fw, err);
    check_err(drc, err, "image_decode_rgb_mem");
    if (drc == 0 && (fh <= 0 || fw <= 0 || fh > IMAGE_MAX_SIDE || fw > IMAGE_MAX_SIDE)) {
        fprintf(stderr, "fuzz_image: decoded to %d x %d\n", fh, fw);
        abort();
    }
    for (int k = 0; k < 2; k++) {
        int h = sizes[k][0], w = sizes[k][1];
        uint8_t *out = malloc((size_t)h * w * 3), *ref = malloc((size_t)h * w * 3);
        err[0] = 0;
        int rc = image_load_rgb_mem(data, size, "fuzz.img", h, w, out, err);
        check_err(rc, err, "image_load_rgb_mem");
        if ((rc == 0) != (drc == 0)) {
            fprintf(stderr, "fuzz_image: load at %dx%d says %d, full decode says %d (%s)\n", h, w,
                    rc, drc, err);
            abort();
        }
        if (rc == 0) {
            image_resize_nearest(full, fh, fw, ref, h, w);
            if (memcmp(out, ref, (size_t)h * w * 3)) {
                fprintf(stderr, "fuzz_image: %dx%d -> %dx%d: decoding to size differs from decode + resize\n",
                        fh, fw, h, w);
                abort();
            }
        }
        free(out);
        free(ref);
    }
    if (full) image_free_decoded(full);
    return 0;
}
