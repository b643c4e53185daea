#!/usr/bin/env python3
"""keras_compat_fixtures.py: Keras files for tests/test_keras_compat.{c,sh} (issue 14), made by
the Keras that runs this script: tf.keras 2.15 or Keras 3.

The model is tests/test_keras_compat.c's SMALL_CFG (Conv2D 4 3x3 relu, MaxPooling2D, Flatten,
Dense 8 relu, Dense 1 sigmoid on 16x16x3), started as Keras starts it (seed 99; Keras 3: 77) with the
Input layer written out (`keras.Input(shape=(16, 16, 3))` first, as Keras 3 and later tf.keras
tutorials write it; tests/fixtures/keras2_small.h5 has input_shape= on the first layer), then
trained 3 Adam steps (12 images, batch 4, learning rate 0.002): a step count no batch size of
nn's resumed run is known to fit.

With tf.keras 2.15 (local/tfkeras215: `python3 -m venv local/tfkeras215 &&
local/tfkeras215/bin/pip install tensorflow-cpu==2.15.1`):
  keras2_input_small.h5       model.save("x.h5"): the whole model, Adam's state at step 3
  keras2_small_weights.h5     model.save_weights("x.h5"): tf.keras 2's legacy weights-only file
                              (root attributes layer_names, one group per layer, no model_config)
  keras2_small.weights.h5     model.save_weights("x.weights.h5"): the new layout
                              (layers/<name>/vars/N), which tf.keras 2.15 writes for that suffix
  keras2_compat_pred.txt      what tf.keras predicts
With Keras 3 (local/kerasvenv: Keras 3.15, TensorFlow backend):
  keras3_small.weights.h5     model.save_weights("x.weights.h5")
  keras3_compat_pred.txt      what Keras 3 predicts
Both write keras_compat_a.png and keras_compat_b.png (16x16 RGB, fixed pixels), unchanged when
they are already there. Predictions files: "fixed P" for each of the 4 fixed inputs
(x.flat[i] = ((3*i*i + 37*i + 11) % 251) / 250, as tests/oracles/keras_make_fixture.py), then
"image NAME P" for each PNG (its pixels / 255: what nn predict feeds a 16x16 image).
Run from anywhere, by hand (CI has no Keras):
    local/tfkeras215/bin/python tests/oracles/keras_compat_fixtures.py
    local/kerasvenv/bin/python tests/oracles/keras_compat_fixtures.py
"""
import os
import struct
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import keras  # noqa: E402

K3 = keras.__version__.startswith("3")
if not K3:
    import tensorflow as tf  # noqa: E402
    keras = tf.keras
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
N, H, W, C = 4, 16, 16, 3
PNGS = ("keras_compat_a.png", "keras_compat_b.png")


def fixed_inputs(n=N):
    i = np.arange(n * H * W * C, dtype=np.int64)
    return (((3 * i * i + 37 * i + 11) % 251).astype(np.float32) / np.float32(250)).reshape(n, H, W, C)


def png_pixels(k):
    i = np.arange(H * W * C, dtype=np.int64)
    return ((7 * i * i + 13 * i + 29 * (k + 1) + (i // (W * C)) * 40 * k) % 256).astype(np.uint8).reshape(H, W, C)


def png_bytes(px):
    """An 8-bit RGB PNG of px (H, W, 3), no filter: enough for 16x16 fixtures."""
    raw = b"".join(b"\0" + px[y].tobytes() for y in range(px.shape[0]))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", px.shape[1], px.shape[0], 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def build_and_train():
    keras.utils.set_random_seed(77 if K3 else 99)   # two models: a mix-up of files shows
    model = keras.Sequential([
        keras.Input(shape=(H, W, C)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.002), loss="binary_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(5)
    x = rng.random((12, H, W, C), dtype=np.float32)
    y = (rng.random(12) > 0.5).astype(np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)   # 3 Adam steps
    assert int(np.asarray(model.optimizer.iterations)) == 3
    return model


def main():
    for k, name in enumerate(PNGS):
        path, data = os.path.join(FIX, name), png_bytes(png_pixels(k))
        if not os.path.exists(path) or open(path, "rb").read() != data:
            with open(path, "wb") as f:
                f.write(data)
    model = build_and_train()
    who = ("Keras %s (%s backend)" % (keras.__version__, keras.backend.backend()) if K3 else
           "tf.keras %s (TensorFlow %s)" % (__import__("keras").__version__, tf.__version__))
    if K3:
        files = [("keras3_small.weights.h5", "weights")]
        pred = "keras3_compat_pred.txt"
    else:
        files = [("keras2_input_small.h5", "model"), ("keras2_small_weights.h5", "weights"),
                 ("keras2_small.weights.h5", "weights")]
        pred = "keras2_compat_pred.txt"
    for name, kind in files:
        out = os.path.join(FIX, name)
        if os.path.exists(out):
            os.remove(out)
        if kind == "model":
            model.save(out)
        else:
            model.save_weights(out)
        print("wrote", out, os.path.getsize(out), "bytes")
    p = np.asarray(model.predict(fixed_inputs(), verbose=0), dtype=np.float32).reshape(-1)
    imgs = np.stack([png_pixels(k).astype(np.float32) / np.float32(255) for k in range(len(PNGS))])
    q = np.asarray(model.predict(imgs, verbose=0), dtype=np.float32).reshape(-1)
    if not K3:   # the whole-model file reloads to the same predictions and Adam step
        again = keras.models.load_model(os.path.join(FIX, "keras2_input_small.h5"))
        assert np.array_equal(p, np.asarray(again.predict(fixed_inputs(), verbose=0), dtype=np.float32).reshape(-1))
        assert int(again.optimizer.iterations.numpy()) == 3
    with open(os.path.join(FIX, pred), "w") as f:
        f.write("# %s predictions of %s, made by tests/oracles/keras_compat_fixtures.py\n" % (
            who, ", ".join(n for n, _ in files)))
        f.write("# fixed: the 4 inputs x.flat[i] = ((3*i*i + 37*i + 11) %% 251) / 250, shape (4, %d, %d, %d)\n" % (H, W, C))
        f.write("# image: each PNG's pixels / 255, as nn predict feeds a %dx%d image\n" % (H, W))
        for v in p:
            f.write("fixed %.9g\n" % v)
        for name, v in zip(PNGS, q):
            f.write("image %s %.9g\n" % (name, v))
    print("predictions", p, q)


if __name__ == "__main__":
    sys.exit(main())
