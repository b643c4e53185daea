#!/usr/bin/env python3
"""resize_pil.py: Pillow's side of the decode-and-resize tests in tests/test_data.c and
tests/test_data_jpeg.c.

Keras's load_img is PIL: Image.open, convert('RGB'), resize(target, NEAREST). Three fixtures:

tests/fixtures/data_resize.txt
  pattern SH SW DH DW FNV     Pillow's NEAREST resize of a synthetic RGB image whose pixels
                              encode their own coordinates (R = x & 255, G = y & 255,
                              B = (x >> 8 & 15) | (y >> 8 & 15) << 4), so any wrong source
                              index changes the hash; odd sizes, enlargements, 1-pixel edges.
  photo PATH SH SW SRCFNV DH DW FNV
                              the photo PATH (relative to the shared data folder) as Pillow
                              decodes it (Image.open(PATH).convert('RGB'): SH x SW, hash SRCFNV)
                              and as keras_preprocessing's load_img(PATH, target_size=(DH, DW),
                              interpolation='nearest') gives it (hash FNV): the whole Keras path,
                              decoding included. The photos never enter the repository, only
                              these hashes.
  FNV is FNV-1a 64 of the H*W*3 bytes, in hex.

tests/fixtures/data_modes.txt and tests/fixtures/data_modes/*
  tiny synthetic images that Pillow writes in the modes a folder of photos may hold (gray,
  16-bit gray, gray+alpha, RGBA, palette, palette with transparency, 1-bit, GIF, BMP) and
  np.array(Image.open(f).convert('RGB')) for each in hex. JPEGs (lines "jpeg NAME H W FNV", FNV
  of Pillow's convert('RGB')): those Pillow writes (gray, 4:2:0, 4:2:2, 4:4:4, progressive, odd
  sizes, CMYK) and those libjpeg writes for us in layouts Pillow cannot write
  (tests/oracles/jpeg_write.c, built here: 4:4:0, 4:1:1, 3:1, RGB, CMYK, YCCK, restart markers,
  arithmetic coding, one scan per component, no JFIF marker). And Pillow's verdict on damaged
  copies of some of them, lines "cut NAME HOW N ok FNV" or "cut NAME HOW N refused": HOW keep =
  the first N bytes of NAME; HOW noeoi = NAME without its final FF D9, then N zero bytes.

Run: NN_SHARED_DATA=../shared/data /usr/bin/python3 tests/oracles/resize_pil.py
"""
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
from keras_preprocessing.image import load_img
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")


def fnv64(b):
    h = 0xcbf29ce484222325
    for byte in b:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def pattern(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x & 255, y & 255, ((x >> 8) & 15) | (((y >> 8) & 15) << 4)],
                    axis=-1).astype(np.uint8)


def pil_resize(arr, dh, dw):
    return np.asarray(Image.fromarray(arr, "RGB").resize((dw, dh), Image.NEAREST))


PATTERNS = [
    (2, 2, 7, 7), (1, 1, 3, 5), (4, 4, 31, 7), (7, 3, 2, 9), (375, 500, 64, 64),
    (161, 98, 64, 64), (64, 64, 64, 64), (333, 500, 37, 53), (98, 161, 300, 300),
    (200, 200, 64, 64), (477, 500, 64, 64), (64, 64, 224, 224), (63, 65, 64, 64),
    (1000, 1, 33, 1), (1, 1000, 1, 333), (3000, 4000, 64, 64), (4095, 257, 255, 299),
    (599, 599, 127, 299), (5, 255, 500, 640), (480, 640, 150, 199),
]


def main():
    shared = os.environ.get("NN_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
    lines = ["# tests/oracles/resize_pil.py: Pillow %s NEAREST resize, FNV-1a 64 hashes"
             % Image.__version__]
    for sh, sw, dh, dw in PATTERNS:
        out = pil_resize(pattern(sh, sw), dh, dw)
        lines.append("pattern %d %d %d %d %s" % (sh, sw, dh, dw, fnv64(out.tobytes())))

    fullres = os.path.join(shared, "fullres")
    if not os.path.isdir(fullres):
        sys.exit("resize_pil.py: %s not found; set NN_SHARED_DATA" % fullres)
    photos = []
    for cls in ("cats", "dogs"):
        photos += [os.path.join("fullres", cls, f)
                   for f in sorted(os.listdir(os.path.join(fullres, cls)))]
    photos += ["catsdogs/test_set/cats/cat.4001.jpg", "catsdogs/test_set/dogs/dog.4001.jpg"]
    for rel in photos:
        path = os.path.join(shared, rel)
        src = np.asarray(Image.open(path).convert("RGB"))
        sh, sw = src.shape[:2]
        for dh, dw in [(64, 64), (37, 53), (300, 257)]:
            out = np.asarray(load_img(path, target_size=(dh, dw), interpolation="nearest"))
            assert (out == pil_resize(src, dh, dw)).all(), rel   # load_img is just these steps
            lines.append("photo %s %d %d %s %d %d %s" % (rel, sh, sw, fnv64(src.tobytes()),
                                                       dh, dw, fnv64(out.tobytes())))
    with open(os.path.join(FIX, "data_resize.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    write_modes()
    print("wrote data_resize.txt (%d photos) and data_modes" % len(photos))


def write_modes():
    d = os.path.join(FIX, "data_modes")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    h, w = 6, 8
    rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    gray = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    pal = Image.fromarray(rgb, "RGB").quantize(colors=16)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    images = {
        "gray.png": Image.fromarray(gray, "L"),
        "gray16.png": Image.fromarray((rng.integers(0, 600, size=(h, w)) *
                                       rng.integers(1, 3, size=(h, w))).astype(np.uint16)),
        "gray_alpha.png": Image.fromarray(np.stack([gray, alpha], -1), "LA"),
        "rgba.png": Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
        "rgb.png": Image.fromarray(rgb, "RGB"),
        "palette.png": pal,
        "palette_trns.png": pal_t,
        "bilevel.png": Image.fromarray(gray > 127).convert("1"),
        "palette.gif": pal,
        "rgb.bmp": Image.fromarray(rgb, "RGB"),
        "palette.bmp": pal,
    }
    lines = ["# tests/oracles/resize_pil.py: NAME H W then np.array(Image.open(NAME)"
             ".convert('RGB')) in hex"]
    for name, im in sorted(images.items()):
        path = os.path.join(d, name)
        if name == "palette_trns.png":
            im.save(path, transparency=3)
        else:
            im.save(path)
        got = np.asarray(Image.open(path).convert("RGB"))
        lines.append("%s %d %d %s" % (name, got.shape[0], got.shape[1], got.tobytes().hex()))
    jpegs = [("jpeg_gray.jpg", 61, 77, "L", {"quality": 75}),
             ("jpeg_420.jpg", 48, 64, "RGB", {"quality": 80}),
             ("jpeg_422.jpg", 37, 29, "RGB", {"quality": 85, "subsampling": 1}),
             ("jpeg_444.jpg", 200, 150, "RGB", {"quality": 95, "subsampling": 0}),
             ("jpeg_progressive.jpg", 90, 120, "RGB", {"quality": 85, "progressive": True}),
             ("jpeg_wide.jpg", 9, 500, "RGB", {"quality": 85}),
             ("jpeg_1px.jpg", 1, 1, "RGB", {"quality": 90}),
             ("jpeg_cmyk.jpg", 35, 47, "CMYK", {"quality": 90})]
    for name, jh, jw, mode, opts in jpegs:
        y, x = np.mgrid[0:jh, 0:jw]
        arr = np.stack([x * 255 // max(jw - 1, 1), y * 255 // max(jh - 1, 1), (x * 5 + y * 3) % 256],
                       -1) + rng.integers(0, 40, size=(jh, jw, 3))
        im = Image.fromarray((arr % 256).astype(np.uint8), "RGB")
        if mode == "L":
            im = im.convert("L")
        elif mode == "CMYK":   # a K channel of its own (convert('CMYK') would leave K = 0)
            k = (x * 3 + y * 7) % 256 + rng.integers(0, 20, size=(jh, jw))
            im = Image.fromarray(np.dstack([arr % 256, k % 256]).astype(np.uint8), "CMYK")
        im.save(os.path.join(d, name), **opts)
    # Layouts only libjpeg writes: NAME, H, W, jpeg_write's SPACE, HxV and options.
    written = [("jpeg_440.jpg", 45, 67, "ycc", "1x2", []),
               ("jpeg_411.jpg", 40, 70, "ycc", "4x1", []),
               ("jpeg_31.jpg", 33, 50, "ycc", "3x1", []),
               ("jpeg_420_odd_prog.jpg", 53, 61, "ycc", "2x2", ["progressive"]),
               ("jpeg_rgb.jpg", 30, 41, "rgb", "1x1", []),
               ("jpeg_cmyk_libjpeg.jpg", 30, 41, "cmyk", "1x1", []),
               ("jpeg_ycck.jpg", 34, 43, "ycck", "2x2", []),
               ("jpeg_ycck_prog.jpg", 34, 43, "ycck", "2x1", ["progressive"]),
               ("jpeg_restart.jpg", 50, 60, "ycc", "2x2", ["restart"]),
               ("jpeg_arith.jpg", 50, 60, "ycc", "2x2", ["arith"]),
               ("jpeg_arith_prog.jpg", 50, 60, "ycc", "2x1", ["arith", "progressive"]),
               ("jpeg_noninterleaved.jpg", 50, 60, "ycc", "2x1", ["noninterleaved"]),
               ("jpeg_nojfif.jpg", 20, 20, "ycc", "2x2", ["nojfif"]),
               ("jpeg_gray_prog.jpg", 37, 41, "gray", "1x1", ["progressive"])]
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "jpeg_write")
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "jpeg_write.c"), "-ljpeg"],
                       check=True)
        for name, jh, jw, space, sampling, opts in written:
            subprocess.run([exe, os.path.join(d, name), str(jh), str(jw), space, sampling] + opts,
                           check=True)
    names = [j[0] for j in jpegs] + [j[0] for j in written]
    for name in names:
        got = np.asarray(Image.open(os.path.join(d, name)).convert("RGB"))
        lines.append("jpeg %s %d %d %s" % (name, got.shape[0], got.shape[1],
                                           fnv64(got.tobytes())))
    # Pillow's verdict on damaged copies: cut short anywhere (the end marker only, the last
    # bytes of the entropy-coded data, the middle, the headers), or the end marker replaced by
    # zeros after complete data.
    for name in ("jpeg_420.jpg", "jpeg_progressive.jpg", "jpeg_restart.jpg", "jpeg_gray.jpg",
                 "jpeg_cmyk.jpg"):
        data = open(os.path.join(d, name), "rb").read()
        n = len(data)
        variants = [("keep", k, data[:k]) for k in (n - 1, n - 2, n - 3, n - 8, n // 2, 300, 100)]
        variants += [("noeoi", k, data[:-2] + bytes(k)) for k in (0, 1, 64)]
        for how, k, b in variants:
            try:
                im = Image.open(io.BytesIO(b))
                im.load()
                got = np.asarray(im.convert("RGB"))
                lines.append("cut %s %s %d ok %s" % (name, how, k, fnv64(got.tobytes())))
            except Exception:   # OSError (truncated, broken stream), SyntaxError...
                lines.append("cut %s %s %d refused" % (name, how, k))
    with open(os.path.join(FIX, "data_modes.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
