// jpeg_write.c: writes a small synthetic JPEG with libjpeg in a layout Pillow cannot write, so
// that resize_pil.py can ask Pillow how it decodes it: chroma sampling 4:4:0, 4:1:1, 3:1,
// RGB (Adobe transform 0), CMYK and YCCK (Adobe markers), restart markers, arithmetic coding,
// one scan per component, no JFIF marker. The pixels are a gradient with noise, deterministic.
//   cc -O2 -o jpeg_write jpeg_write.c -ljpeg
//   jpeg_write OUT H W SPACE HxV [progressive] [restart] [arith] [noninterleaved] [nojfif]
// SPACE: ycc, rgb, gray, cmyk or ycck; HxV: the first component's sampling factors (the others
// 1x1).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: jpeg_write OUT H W SPACE HxV [progressive] [restart] [arith] "
                "[noninterleaved] [nojfif]\n");
        return 2;
    }
    int h = atoi(argv[2]), w = atoi(argv[3]), hs, vs;
    const char *space = argv[4];
    if (sscanf(argv[5], "%dx%d", &hs, &vs) != 2) return fprintf(stderr, "bad sampling\n"), 2;
    J_COLOR_SPACE in = JCS_RGB, out = JCS_YCbCr;
    int nc = 3;
    if (!strcmp(space, "rgb")) out = JCS_RGB;
    else if (!strcmp(space, "gray")) in = out = JCS_GRAYSCALE, nc = 1;
    else if (!strcmp(space, "cmyk")) in = out = JCS_CMYK, nc = 4;
    else if (!strcmp(space, "ycck")) in = JCS_CMYK, out = JCS_YCCK, nc = 4;
    else if (strcmp(space, "ycc")) return fprintf(stderr, "bad space %s\n", space), 2;
    unsigned char *px = malloc((size_t)h * w * nc);
    unsigned seed = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < nc; c++) {
                seed = seed * 1103515245u + 12345u;
                int v = (x * 255 / (w > 1 ? w - 1 : 1)) * (c + 1) / 2 + y * 255 / (h > 1 ? h - 1 : 1) * (3 - c % 3) / 3;
                px[((size_t)y * w + x) * nc + c] = (unsigned char)((v + (seed >> 16) % 48) & 255);
            }
    FILE *f = fopen(argv[1], "wb");
    if (!f) return perror(argv[1]), 1;
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);   // errors exit: fine for an oracle tool
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = nc;
    ci.in_color_space = in;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, out);
    jpeg_set_quality(&ci, 85, TRUE);
    for (int c = 0; c < ci.num_components; c++)
        ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
    ci.comp_info[0].h_samp_factor = hs;
    ci.comp_info[0].v_samp_factor = vs;
    jpeg_scan_info scans[4];
    for (int i = 6; i < argc; i++) {
        if (!strcmp(argv[i], "progressive")) jpeg_simple_progression(&ci);
        else if (!strcmp(argv[i], "restart")) ci.restart_in_rows = 1;
        else if (!strcmp(argv[i], "arith")) ci.arith_code = TRUE;
        else if (!strcmp(argv[i], "nojfif")) ci.write_JFIF_header = FALSE;
        else if (!strcmp(argv[i], "noninterleaved")) {   // sequential, one component per scan
            for (int c = 0; c < ci.num_components; c++) {
                memset(&scans[c], 0, sizeof scans[c]);
                scans[c].comps_in_scan = 1;
                scans[c].component_index[0] = c;
                scans[c].Se = 63;
            }
            ci.scan_info = scans;
            ci.num_scans = ci.num_components;
        } else return fprintf(stderr, "bad option %s\n", argv[i]), 2;
    }
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = px + (size_t)ci.next_scanline * w * nc;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(px);
    return fclose(f) != 0;
}
