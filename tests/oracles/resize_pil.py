#!/usr/bin/env python3
"""resize_pil.py: Pillow's side of the decode-and-resize tests in tests/test_data.c.

Keras's load_img is PIL: Image.open, convert('RGB'), resize(target, NEAREST). Three fixtures:

tests/fixtures/data_resize.txt
  pattern SH SW DH DW FNV     Pillow's NEAREST resize of a synthetic RGB image whose pixels
                              encode their own coordinates (R = x & 255, G = y & 255,
                              B = (x >> 8 & 15) | (y >> 8 & 15) << 4), so any wrong source
                              index changes the hash; odd sizes, enlargements, 1-pixel edges.
  photo PATH SH SW SRCFNV DH DW FNV
                              the photo PATH (relative to the shared data folder) decoded by
                              plain stb_image (tests/oracles/stb_decode.c, built here), hash of
                              that decode, and of Pillow's resize of THOSE pixels: the same
                              decoded source on both sides, so the comparison is exact. The
                              photos themselves never enter the repository, only these hashes.
  FNV is FNV-1a 64 of the H*W*3 bytes, in hex.

tests/fixtures/data_modes.txt and tests/fixtures/data_modes/*.{png,gif,bmp}
  tiny synthetic images that Pillow writes in the modes a folder of photos may hold (gray,
  16-bit gray, gray+alpha, RGBA, palette, palette with transparency, 1-bit, GIF, BMP) and
  np.array(Image.open(f).convert('RGB')) for each: stb's conversion to RGB must equal Pillow's.
  Also synthetic JPEGs in the layouts libjpeg writes (gray, 4:2:0, 4:2:2, 4:4:4, progressive,
  odd sizes; lines "jpeg NAME H W", no pixels: libjpeg and stb decode JPEG slightly
  differently) for the tests of the JPEG shortcut and of truncated files.

Run: NN_SHARED_DATA=../shared/data /usr/bin/python3 tests/oracles/resize_pil.py
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
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
    stats = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "stb_decode")
        subprocess.run(["cc", "-O2", "-I/usr/include/stb", "-o", exe,
                        os.path.join(HERE, "stb_decode.c"), "-lm"], check=True)
        raw = os.path.join(tmp, "raw")
        for rel in photos:
            subprocess.run([exe, os.path.join(shared, rel), raw], check=True)
            with open(raw, "rb") as f:
                sh, sw = map(int, f.readline().split())
                src = np.frombuffer(f.read(), np.uint8).reshape(sh, sw, 3)
            pil = np.asarray(Image.open(os.path.join(shared, rel)).convert("RGB"))
            diff = np.abs(pil.astype(int) - src.astype(int))
            stats.append((diff.mean(), diff.max(), (diff > 0).mean()))
            for dh, dw in [(64, 64), (37, 53), (300, 257)]:
                out = pil_resize(src, dh, dw)
                lines.append("photo %s %d %d %s %d %d %s" % (rel, sh, sw, fnv64(src.tobytes()),
                                                           dh, dw, fnv64(out.tobytes())))
    with open(os.path.join(FIX, "data_resize.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    write_modes()
    s = np.array(stats)
    print("wrote data_resize.txt (%d photos) and data_modes" % len(photos))
    print("stb vs Pillow JPEG decode on these photos: mean |diff| %.3f levels, max %d, %.1f%% of "
          "values differ" % (s[:, 0].mean(), s[:, 1].max(), 100 * s[:, 2].mean()))


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
             ("jpeg_1px.jpg", 1, 1, "RGB", {"quality": 90})]
    for name, jh, jw, mode, opts in jpegs:
        y, x = np.mgrid[0:jh, 0:jw]
        arr = np.stack([x * 255 // max(jw - 1, 1), y * 255 // max(jh - 1, 1), (x * 5 + y * 3) % 256],
                       -1) + rng.integers(0, 40, size=(jh, jw, 3))
        im = Image.fromarray((arr % 256).astype(np.uint8), "RGB")
        (im.convert("L") if mode == "L" else im).save(os.path.join(d, name), **opts)
        lines.append("jpeg %s %d %d" % (name, jh, jw))
    with open(os.path.join(FIX, "data_modes.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
