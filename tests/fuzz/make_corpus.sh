#!/usr/bin/env bash
# make_corpus.sh: (re)writes the committed seed corpus tests/fuzz/corpus/{image,cfg,h5}/ from
# things the project makes itself (no shared photos): tiny images in every format and mode the
# decoder handles, drawn by Pillow; cfg variants covering every layer and option (and some
# typical mistakes); small .h5 models written by nn (the Keras fixtures of tests/fixtures/ are
# added by tests/fuzz/run.sh, not copied).
# Usage: tests/fuzz/make_corpus.sh [NN_BINARY [BUILD_DIR]]   (run from the repository root;
#        defaults bin/nn and build, whose tests/test_h5 writes the round-trip model)
set -eu
cd "$(dirname "$0")/../.."
NN=${1:-bin/nn}
BUILD=${2:-build}
C=tests/fuzz/corpus
rm -rf "$C"
mkdir -p "$C/image" "$C/cfg" "$C/h5"

# --- images: every mode and variant stb_image and the JPEG shortcut take different paths for
/usr/bin/python3 - "$C/image" <<'PY'
import io, os, sys
from PIL import Image
out = sys.argv[1]
def pattern(mode, w, h):
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 53 + y * 17) % 256, (x * 7 + y * 91) % 256, (x * y * 13) % 256)
                for y in range(h) for x in range(w)])
    return im if mode == "RGB" else im.convert(mode)
def save(name, im, **kw):
    im.save(os.path.join(out, name), **kw)
# JPEG: sizes off the 8/16 grid; chroma subsampling 4:2:0 (2), 4:2:2 (1), 4:4:4 (0); gray;
# progressive; optimized Huffman tables; CMYK (stb's full-decode path); enlargement (3x2)
for sub in (0, 1, 2):
    save("rgb_17x9_sub%d.jpg" % sub, pattern("RGB", 17, 9), quality=80, subsampling=sub)
save("gray_11x13.jpg", pattern("L", 11, 13), quality=75)
save("progressive_23x7.jpg", pattern("RGB", 23, 7), quality=70, progressive=True)
save("optimized_9x9.jpg", pattern("RGB", 9, 9), quality=90, optimize=True)
save("cmyk_8x8.jpg", pattern("CMYK", 8, 8), quality=80)
save("tiny_3x2.jpg", pattern("RGB", 3, 2), quality=95)
save("wide_97x3.jpg", pattern("RGB", 97, 3), quality=50, subsampling=2)
# data/jpeg_fast.c takes a JPEG when the resize reads at most a third of its pixels: at 7x13,
# anything from 273 pixels; these reach it in each layout it handles, one with restart markers
for sub in (0, 1, 2):
    save("fast_31x24_sub%d.jpg" % sub, pattern("RGB", 31, 24), quality=60, subsampling=sub)
save("fast_gray_29x21.jpg", pattern("L", 29, 21), quality=60)
# PNG: every colour type and bit depth family
save("rgb_5x4.png", pattern("RGB", 5, 4))
save("rgba_6x3.png", pattern("RGBA", 6, 3))
save("gray_7x2.png", pattern("L", 7, 2))
save("gray_alpha_3x3.png", pattern("LA", 3, 3))
save("palette_4x4.png", pattern("P", 4, 4))
save("palette_trns_4x2.png", pattern("P", 4, 2), transparency=0)
save("bilevel_9x5.png", pattern("1", 9, 5))
save("gray16_4x3.png", pattern("L", 4, 3).convert("I;16"))
save("one_pixel.png", pattern("RGB", 1, 1))
# BMP: 24-bit, 8-bit palette, 1-bit, 32-bit with alpha
save("rgb_5x3.bmp", pattern("RGB", 5, 3))
save("palette_6x2.bmp", pattern("P", 6, 2))
save("bilevel_10x3.bmp", pattern("1", 10, 3))
save("rgba_3x3.bmp", pattern("RGBA", 3, 3))
# GIF: one frame, transparency, two frames (stb reads the first)
save("palette_5x5.gif", pattern("P", 5, 5))
save("trns_4x4.gif", pattern("P", 4, 4), transparency=1)
a, b = pattern("P", 6, 4), pattern("RGB", 6, 4).rotate(180).convert("P")
a.save(os.path.join(out, "anim_6x4.gif"), save_all=True, append_images=[b], duration=50, loop=0)
PY

# A JPEG with restart markers (every 2 MCUs), which Pillow 9 cannot write: libjpeg directly.
cat > "$C/../restart_writer.c" <<'EOF_C'
#include <stdio.h>
#include <jpeglib.h>
int main(int argc, char **argv) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char row[40 * 3];
    FILE *f = fopen(argv[1], "wb");
    if (!f) return 1;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = 40, c.image_height = 25, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 50, TRUE);
    c.restart_interval = 2;
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < 25; y++) {
        for (int x = 0; x < 40; x++) {
            row[3 * x] = (unsigned char)(x * 53 + y * 17), row[3 * x + 1] = (unsigned char)(x * 7 + y * 91);
            row[3 * x + 2] = (unsigned char)(x * y * 13);
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) != 0;
}
EOF_C
cc -o "$C/../restart_writer" "$C/../restart_writer.c" -ljpeg
"$C/../restart_writer" "$C/image/fast_restart_40x25.jpg"
rm -f "$C/../restart_writer" "$C/../restart_writer.c"

# --- cfg: the article's model, every layer and option, comments, and typical mistakes
cp models/catdog.cfg "$C/cfg/catdog.cfg"
w() { printf '%b' "$2" > "$C/cfg/$1"; }
w every_option.cfg 'input 12 10 3\nconv2d filters=5 kernel=3x2 stride=2 padding=same activation=relu name=c1\nmaxpool2d pool=2 stride=1 padding=valid\nconv2d filters=3 kernel=1 bias=false\nflatten\ndense units=6 activation=relu bias=true\nactivation fn=sigmoid\ndense units=1 activation=sigmoid\n'
w comments.cfg '# a comment\n\n  input 8 8 1   # trailing\r\n\tconv2d filters=2 kernel=3 # x\nflatten\ndense units=1 activation=linear\n'
w same_padding.cfg 'input 7 5 2\nconv2d filters=4 kernel=4 padding=same stride=3\nmaxpool2d pool=3x2 padding=same\nflatten\ndense units=2\n'
w dense_only.cfg 'input 1 1 16\nflatten\ndense units=8 activation=relu\ndense units=1 activation=sigmoid\n'
w deep.cfg 'input 32 32 3\nconv2d filters=8 kernel=3 activation=relu\nmaxpool2d\nconv2d filters=8 kernel=3 activation=relu\nmaxpool2d pool=2\nconv2d filters=4 kernel=3\nactivation fn=relu\nflatten\ndense units=16 activation=relu\ndense units=1 activation=sigmoid\n'
w err_no_flatten.cfg 'input 8 8 3\nconv2d filters=2 kernel=3\ndense units=1\n'
w err_kernel_too_big.cfg 'input 4 4 1\nconv2d filters=2 kernel=5\nflatten\ndense units=1\n'
w err_bad_option.cfg 'input 8 8 3\nconv2d filters=2 kernel=3 colour=blue\n'
w err_no_input.cfg 'conv2d filters=2 kernel=3\n'
w err_bad_number.cfg 'input 8 -8 3\ndense units=0x\n'
w err_duplicate_name.cfg 'input 4 4 1\nflatten name=a\ndense units=1 name=a\n'

# --- h5: small models written by nn, and the Keras 3 / tf.keras 2 fixtures
"$BUILD/tests/test_h5" --write-sample "$C/h5/nn_roundtrip_sample.h5"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'input 6 6 3\nconv2d filters=2 kernel=3 activation=relu\nmaxpool2d pool=2\nflatten\ndense units=1 activation=sigmoid\n' > "$tmp/tiny.cfg"
"$NN" train --model "$tmp/tiny.cfg" --synthetic 8 --epochs 1 --batch 4 --device cpu --threads 1 \
    --out "$tmp/tiny.h5" > /dev/null
cp "$tmp/tiny.h5" "$C/h5/nn_trained_tiny.h5"
# (tests/fuzz/run.sh adds the Keras fixtures tests/fixtures/*.h5 at run time: not copied here)
echo "seed corpus: $(ls "$C/image" | wc -l) images, $(ls "$C/cfg" | wc -l) cfg, $(ls "$C/h5" | wc -l) h5 ($(du -sk "$C" | cut -f1) KiB)"
