#!/usr/bin/env python3
"""augment_keras.py: reference outputs of Keras's augmentation for tests/test_data.c.

Runs keras_preprocessing 1.1.0 itself (Debian's python3-keras-preprocessing, with scipy) on
fixed small uint8 images and fixed transform parameters, through the same calls its
DirectoryIterator makes per image:
    gen = ImageDataGenerator(rescale=1./255, shear_range=0.2, zoom_range=0.2,
                             horizontal_flip=True)
    x = gen.apply_transform(img.astype('float32'), params)   # affine, then flip
    x = gen.standardize(x)                                    # rescale, last
with params = {'shear': s, 'zx': zx, 'zy': zy, 'flip_horizontal': f} (the rest neutral), and
writes
    tests/fixtures/data_augment.txt   the images (hex bytes) and the cases
    tests/fixtures/data_augment.f32   every case's output, float32 little-endian, concatenated
The parameters are float32 values (what aug_params holds), passed to Keras as Python floats
of the same value. Cases cover the article's ranges (shear within +-0.2 degrees, zoom within
[0.8, 1.2], flips) and, to exercise the geometry and edge clamping harder, larger shears and
zooms. Run: /usr/bin/python3 tests/oracles/augment_keras.py
"""
import os

import numpy as np
from keras_preprocessing.image import ImageDataGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")


def images(rng):
    """Small images: noise, smooth ramps (bilinear error shows), odd and non-square sizes."""
    out = []
    for h, w, kind in [(5, 7, "noise"), (13, 21, "ramp"), (64, 64, "mixed")]:
        if kind == "noise":
            img = rng.integers(0, 256, size=(h, w, 3))
        else:
            y, x = np.mgrid[0:h, 0:w]
            img = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)),
                            ((x * 7 + y * 13) % 256)], axis=-1)
            if kind == "mixed":
                img = (img + rng.integers(0, 40, size=(h, w, 3))) % 256
        out.append(img.astype(np.uint8))
    return out


def cases(rng, n_random):
    fixed = [
        (0.0, 1.0, 1.0, 0),     # identity: rescale only
        (0.0, 1.0, 1.0, 1),     # flip only
        (0.2, 1.0, 1.0, 0),     # the largest shear of the article's range
        (-0.2, 0.8, 1.2, 1),
        (0.0, 1.2, 0.8, 0),     # zx and zy apart: rows vs columns
        (25.0, 1.0, 1.0, 0),    # large shear
        (-40.0, 0.5, 1.7, 1),   # large shear and zoom, much clamping
        (10.0, 1.9, 0.6, 0),
    ]
    rand = [(rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2),
             int(rng.random() < 0.5)) for _ in range(n_random)]
    return [(float(np.float32(s)), float(np.float32(zx)), float(np.float32(zy)), f)
            for s, zx, zy, f in fixed + rand]


def main():
    rng = np.random.default_rng(20240601)
    gen = ImageDataGenerator(rescale=1. / 255, shear_range=0.2, zoom_range=0.2,
                             horizontal_flip=True)
    imgs = images(rng)
    lines = ["# tests/oracles/augment_keras.py: keras_preprocessing 1.1.0 apply_transform +",
             "# standardize(rescale=1/255). image ID H W then H*W*3 bytes in hex;",
             "# case IMAGE SHEAR_DEG ZX ZY FLIP OFFSET (floats into data_augment.f32)"]
    outs = []
    offset = 0
    for i, img in enumerate(imgs):
        lines.append("image %d %d %d %s" % (i, img.shape[0], img.shape[1], img.tobytes().hex()))
    for i, img in enumerate(imgs):
        n_random = 4 if img.shape[0] < 64 else 0
        cs = cases(rng, n_random)
        if img.shape[0] >= 64:   # keep the fixture small: two cases at the article's size
            cs = [cs[3], (float(np.float32(0.1234)), float(np.float32(1.1)),
                          float(np.float32(0.85)), 1)]
        for s, zx, zy, f in cs:
            params = {"theta": 0, "tx": 0, "ty": 0, "shear": s, "zx": zx, "zy": zy,
                      "flip_horizontal": bool(f), "flip_vertical": False,
                      "channel_shift_intensity": None, "brightness": None}
            x = gen.apply_transform(img.astype(np.float32), params)
            x = gen.standardize(x)
            assert x.dtype == np.float32 and x.shape == img.shape
            outs.append(x.astype("<f4").ravel())
            lines.append("case %d %.9g %.9g %.9g %d %d" % (i, s, zx, zy, f, offset))
            offset += x.size
    with open(os.path.join(FIX, "data_augment.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    np.concatenate(outs).tofile(os.path.join(FIX, "data_augment.f32"))
    print("wrote %d cases, %d floats" % (len(outs), offset))


if __name__ == "__main__":
    main()
