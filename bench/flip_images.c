// flip_images.c: writes each image upside down, for bench/three_class.sh's third class.
//   flip_images OUT_DIR FILE...   ->  OUT_DIR/<FILE's name, extension .jpg>
// Each FILE is decoded at its own size by nn's decoder (data/image.c), its rows reversed, and
// saved as a baseline JPEG of quality 95 (stb_image_write), as the shared photos were stored, so
// that the new class differs from the others in orientation only, not in format or size.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/data.h"
#include "../nn/common.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: flip_images OUT_DIR FILE...\n");
        return 2;
    }
    int bad = 0;
    for (int i = 2; i < argc; i++) {
        char err[NN_ERRLEN], out[4096];
        uint8_t *rgb;
        int h, w;
        if (image_decode_rgb(argv[i], &rgb, &h, &w, err) != 0) {
            fprintf(stderr, "flip_images: %s\n", err);
            bad = 1;
            continue;
        }
        size_t row = (size_t)w * 3;
        uint8_t *tmp = nn_alloc(row, "row");
        for (int y = 0; y < h / 2; y++) {   // rows y and h-1-y change places
            memcpy(tmp, rgb + y * row, row);
            memcpy(rgb + y * row, rgb + (size_t)(h - 1 - y) * row, row);
            memcpy(rgb + (size_t)(h - 1 - y) * row, tmp, row);
        }
        nn_free(tmp);
        const char *base = strrchr(argv[i], '/');
        base = base ? base + 1 : argv[i];
        const char *dot = strrchr(base, '.');
        snprintf(out, sizeof out, "%s/%.*s.jpg", argv[1], (int)(dot ? dot - base : (long)strlen(base)), base);
        if (!stbi_write_jpg(out, w, h, 3, rgb, 95)) {
            fprintf(stderr, "flip_images: %s: cannot write\n", out);
            bad = 1;
        }
        image_free_decoded(rgb);
    }
    return bad;
}
