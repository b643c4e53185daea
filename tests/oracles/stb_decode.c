// stb_decode.c: decodes one image with plain stb_image (stbi_load, 3 channels) and writes
// "H W\n" then the H*W*3 bytes to OUT. Used by resize_pil.py so that Pillow resizes exactly the
// pixels stb decoded; independent of the project's own code on purpose.
//   cc -O2 -I/usr/include/stb -o stb_decode stb_decode.c -lm && ./stb_decode IN OUT
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: stb_decode IN OUT\n"), 2;
    int w, h, c;
    unsigned char *p = stbi_load(argv[1], &w, &h, &c, 3);
    if (!p) return fprintf(stderr, "%s: %s\n", argv[1], stbi_failure_reason()), 1;
    FILE *f = fopen(argv[2], "wb");
    if (!f) return perror(argv[2]), 1;
    fprintf(f, "%d %d\n", h, w);
    size_t n = (size_t)w * h * 3;
    int bad = fwrite(p, 1, n, f) != n;
    bad |= fclose(f) != 0;
    stbi_image_free(p);
    return bad;
}
