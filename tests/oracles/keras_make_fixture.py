#!/usr/bin/env python3
"""keras_make_fixture.py: builds, trains two steps and saves a small Keras 3 model of the
article's layer types as a legacy .h5 file, the fixture nn must read (tests/test_h5.c).

Writes tests/fixtures/keras_small.h5 and tests/fixtures/keras_small_pred.txt (Keras's
predictions on fixed inputs). Needs Keras 3 with a CPU backend, which CI does not have; run by
hand (the venv we used: `python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install keras
"jax[cpu]"`, Keras 3.15.1, jax 0.10.2):
    /tmp/kvenv/bin/python tests/oracles/keras_make_fixture.py

The fixed inputs are x.flat[i] = ((3*i*i + 37*i + 11) % 251) / 250 in float32, N = 4 samples of
16x16x3 (NHWC), so the C test rebuilds them exactly without a data file.
"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
N, H, W, C = 4, 16, 16, 3


def fixed_inputs(n=N):
    i = np.arange(n * H * W * C, dtype=np.int64)
    return (((3 * i * i + 37 * i + 11) % 251).astype(np.float32) / np.float32(250)).reshape(n, H, W, C)


def main():
    keras.utils.set_random_seed(1234)
    model = keras.Sequential([
        keras.layers.Input((H, W, C)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.002), loss="binary_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(7)
    x = rng.random((8, H, W, C), dtype=np.float32)
    y = (rng.random(8) > 0.5).astype(np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)   # 2 Adam steps
    out = os.path.join(FIX, "keras_small.h5")
    model.save(out)   # .h5 -> Keras's legacy h5 writer

    # Predictions of the model as reloaded from the file, so they are what the file holds.
    again = keras.models.load_model(out)
    p = np.asarray(again.predict(fixed_inputs(), verbose=0), dtype=np.float32).reshape(-1)
    p0 = np.asarray(model.predict(fixed_inputs(), verbose=0), dtype=np.float32).reshape(-1)
    assert np.array_equal(p, p0), (p, p0)
    assert int(again.optimizer.iterations.numpy()) == 2
    with open(os.path.join(FIX, "keras_small_pred.txt"), "w") as f:
        f.write("# keras_small.h5 predictions (Keras %s, backend %s) on N=%d fixed inputs\n"
                % (keras.__version__, keras.backend.backend(), N))
        f.write("# x.flat[i] = ((3*i*i + 37*i + 11) %% 251) / 250 (float32), shape (%d, %d, %d, %d)\n"
                % (N, H, W, C))
        for v in p:
            f.write("%.9g\n" % v)
    print("wrote", out, os.path.getsize(out), "bytes; predictions", p)


if __name__ == "__main__":
    sys.exit(main())
