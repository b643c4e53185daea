#!/usr/bin/env python3
"""keras2_make_fixture.py: the same small model as keras_make_fixture.py, built, trained two
steps and saved by Keras 2 (tf.keras 2.15), whose .h5 names weights "conv2d/kernel:0" and keeps
Adam's state as "Adam/conv2d/kernel/m:0"; nn must read these too (tests/test_h5.c).

Writes, with predictions on the fixed inputs of keras_make_fixture.py beside each:
  keras2_small.h5 (+ _pred.txt): as tf.keras 2.15 writes it (Adam state "Adam/m/conv2d/kernel:0",
      "iteration:0"; first layer with batch_input_shape after an InputLayer);
  keras2_legacy_fixedstr.h5 (+ _pred.txt): trained with tf.keras.optimizers.legacy.Adam, whose
      state is "Adam/iter:0" then every "Adam/<layer>/kernel/m:0" before every ".../v:0" (TF 2.0
      to 2.10), with every string attribute rewritten as fixed-length bytes as h5py 2.x wrote
      them. Built second in the same session, its layers are named conv2d_1, dense_2, ...:
      names nn must keep as they are.
Run by hand (CI has no TensorFlow); the venv we used: `python3 -m venv /tmp/tf2venv &&
/tmp/tf2venv/bin/pip install tensorflow-cpu==2.15.1`:
    /tmp/tf2venv/bin/python tests/oracles/keras2_make_fixture.py
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
N, H, W, C = 4, 16, 16, 3


def fixed_inputs(n=N):
    i = np.arange(n * H * W * C, dtype=np.int64)
    return (((3 * i * i + 37 * i + 11) % 251).astype(np.float32) / np.float32(250)).reshape(n, H, W, C)


def to_fixed_strings(path):
    """Rewrites every string attribute as fixed-length bytes (numpy 'S'), as h5py 2 did."""
    def fix(obj):
        for k in list(obj.attrs.keys()):
            v = obj.attrs[k]
            if isinstance(v, (str, bytes)):
                b = v.encode("utf8") if isinstance(v, str) else v
                del obj.attrs[k]
                obj.attrs[k] = np.bytes_(b)
            elif isinstance(v, np.ndarray) and v.dtype.kind in "OUS" and v.size:
                b = [x.encode("utf8") if isinstance(x, str) else bytes(x) for x in v.reshape(-1)]
                del obj.attrs[k]
                obj.attrs[k] = np.array(b, dtype="S%d" % max(len(x) for x in b))
    with h5py.File(path, "r+") as f:
        fix(f)
        f.visititems(lambda name, obj: fix(obj))


def build_and_train(adam):
    tf.keras.utils.set_random_seed(1234)
    # input_shape on the first layer: how Keras 2 models were usually written (the article too)
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(4, 3, activation="relu", input_shape=(H, W, C)),
        tf.keras.layers.MaxPooling2D(pool_size=(2, 2)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(8, activation="relu"),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=adam(learning_rate=0.002), loss="binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(7)
    x = rng.random((8, H, W, C), dtype=np.float32)
    y = (rng.random(8) > 0.5).astype(np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)   # 2 Adam steps
    return model


def save(model, name, fixed_strings):
    out = os.path.join(FIX, name + ".h5")
    model.save(out, save_format="h5")
    if fixed_strings:
        to_fixed_strings(out)
    p = np.asarray(model.predict(fixed_inputs(), verbose=0), dtype=np.float32).reshape(-1)
    again = tf.keras.models.load_model(out)
    q = np.asarray(again.predict(fixed_inputs(), verbose=0), dtype=np.float32).reshape(-1)
    assert np.array_equal(p, q), (out, p, q)
    assert int(again.optimizer.iterations.numpy()) == 2
    with open(os.path.join(FIX, name + "_pred.txt"), "w") as f:
        f.write("# %s.h5 predictions (TensorFlow %s, tf.keras 2) on N=%d fixed inputs\n" % (name, tf.__version__, N))
        f.write("# x.flat[i] = ((3*i*i + 37*i + 11) %% 251) / 250 (float32), shape (%d, %d, %d, %d)\n"
                % (N, H, W, C))
        for v in p:
            f.write("%.9g\n" % v)
    print("wrote", out, os.path.getsize(out), "bytes; predictions", p)


def main():
    save(build_and_train(tf.keras.optimizers.Adam), "keras2_small", False)
    save(build_and_train(tf.keras.optimizers.legacy.Adam), "keras2_legacy_fixedstr", True)


if __name__ == "__main__":
    sys.exit(main())
