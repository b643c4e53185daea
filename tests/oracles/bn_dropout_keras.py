#!/usr/bin/env python3
"""bn_dropout_keras.py: Keras 3 reference values for nn's batchnorm and dropout layers
(tests/test_layers_bn.c reads what this writes; CI has no Keras, so it runs by hand):

    local/kerasvenv/bin/python tests/oracles/bn_dropout_keras.py

(Keras 3.15.1, TensorFlow 2.21 CPU backend.) Writes:
  tests/fixtures/bn_keras.txt  BatchNormalization(momentum=0.9, epsilon=1e-3) on an image batch
      (2, 3, 5, 6) and on a dense batch (7, 5): forward in training and in inference mode, the
      moving statistics after the training call, and the gradients of L = sum(y * R) (training
      mode) with respect to x, gamma and beta from tf.GradientTape. One array a line:
      `name count v0 v1 ...` (%.9g). Also which variance Keras 3 puts into moving_variance
      (checked here: the biased batch variance, ops.moments).
  tests/fixtures/keras_bn_dropout.h5 (+ _pred.txt): Conv2D + BatchNormalization + MaxPooling2D
      + Dropout + Flatten + Dense + BatchNormalization + Dropout + Dense(sigmoid) on 8x8x3,
      trained 3 Adam steps, saved with model.save(...h5), and Keras's predictions on fixed
      inputs x.flat[i] = ((3*i*i + 37*i + 11) % 251) / 250 (N = 4, as keras_make_fixture.py).

Every input is a formula of its index, so the C test rebuilds them without a data file:
  x.flat[i] = sin(0.37 * i + 0.1) * 2 + 0.5 * cos(1.3 * i)          (float32 of the double)
  R.flat[i] = cos(0.23 * i + 0.4)
  gamma[c] = 1 + 0.1 * c, beta[c] = 0.05 * c - 0.1, moving_mean[c] = 0.2 * c - 0.3,
  moving_variance[c] = 0.5 + 0.25 * c
"""
import math
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
MOMENTUM, EPSILON = 0.9, 1e-3


def formula(n, f):
    return np.array([f(i) for i in range(n)], dtype=np.float64).astype(np.float32)


def put(out, name, a):
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    out.write("%s %d %s\n" % (name, a.size, " ".join("%.9g" % v for v in a)))


def bn_case(out, tag, shape):
    C = shape[-1]
    n = int(np.prod(shape))
    x = formula(n, lambda i: math.sin(0.37 * i + 0.1) * 2 + 0.5 * math.cos(1.3 * i)).reshape(shape)
    R = formula(n, lambda i: math.cos(0.23 * i + 0.4)).reshape(shape)
    gamma = formula(C, lambda c: 1 + 0.1 * c)
    beta = formula(C, lambda c: 0.05 * c - 0.1)
    mm = formula(C, lambda c: 0.2 * c - 0.3)
    mv = formula(C, lambda c: 0.5 + 0.25 * c)
    layer = keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON)
    layer.build(shape)
    assert [v.path.split("/")[-1] for v in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    layer.set_weights([gamma, beta, mm, mv])
    y_inf = np.asarray(layer(x, training=False))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        L = tf.reduce_sum(y * R)
    dx, dg, db = tape.gradient(L, [xt, layer.gamma.value, layer.beta.value])
    mm2, mv2 = [np.asarray(v) for v in layer.get_weights()[2:]]
    # Which variance went into moving_variance: the biased one (divide by M), not Bessel's.
    axes = tuple(range(len(shape) - 1))
    M = n // C
    var_b = np.var(x.astype(np.float64), axis=axes)
    biased = mv * np.float32(MOMENTUM) + var_b.astype(np.float32) * np.float32(1 - MOMENTUM)
    unbiased = mv * np.float32(MOMENTUM) + (var_b * M / (M - 1)).astype(np.float32) * np.float32(1 - MOMENTUM)
    eb, eu = np.max(np.abs(mv2 - biased)), np.max(np.abs(mv2 - unbiased))
    assert eb < 1e-6 < eu, (eb, eu)
    print("%s: moving_variance takes the biased batch variance (off by %.2g; Bessel's would be off by %.2g)"
          % (tag, eb, eu))
    put(out, tag + "_y_train", y)
    put(out, tag + "_y_infer", y_inf)
    put(out, tag + "_moving_mean", mm2)
    put(out, tag + "_moving_variance", mv2)
    put(out, tag + "_dx", dx)
    put(out, tag + "_dgamma", dg)
    put(out, tag + "_dbeta", db)


def fixed_inputs(n, h, w, c):
    i = np.arange(n * h * w * c, dtype=np.int64)
    return (((3 * i * i + 37 * i + 11) % 251).astype(np.float32) / np.float32(250)).reshape(n, h, w, c)


def model_fixture():
    keras.utils.set_random_seed(4321)
    H, W, C = 8, 8, 3
    model = keras.Sequential([
        keras.layers.Input((H, W, C)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Dropout(0.3),
        keras.layers.Flatten(),
        keras.layers.Dense(6, activation="relu"),
        keras.layers.BatchNormalization(momentum=0.8, epsilon=0.01),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(3)
    x = rng.random((12, H, W, C), dtype=np.float32)
    y = (rng.random(12) > 0.5).astype(np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)   # 3 Adam steps
    out = os.path.join(FIX, "keras_bn_dropout.h5")
    model.save(out)
    again = keras.models.load_model(out)
    xi = fixed_inputs(4, H, W, C)
    p = np.asarray(again.predict(xi, verbose=0), dtype=np.float32).reshape(-1)
    p0 = np.asarray(model.predict(xi, verbose=0), dtype=np.float32).reshape(-1)
    assert np.array_equal(p, p0), (p, p0)
    assert int(again.optimizer.iterations.numpy()) == 3
    mv = model.layers[1].get_weights()[3]
    assert not np.allclose(mv, 1), "the moving variance should have moved"
    with open(os.path.join(FIX, "keras_bn_dropout_pred.txt"), "w") as f:
        f.write("# keras_bn_dropout.h5 predictions (Keras %s, backend %s) on N=4 fixed inputs\n"
                % (keras.__version__, keras.backend.backend()))
        f.write("# x.flat[i] = ((3*i*i + 37*i + 11) %% 251) / 250 (float32), shape (4, %d, %d, %d)\n" % (H, W, C))
        for v in p:
            f.write("%.9g\n" % v)
    print("wrote", out, os.path.getsize(out), "bytes; predictions", p)


def main():
    with open(os.path.join(FIX, "bn_keras.txt"), "w") as out:
        out.write("# tests/oracles/bn_dropout_keras.py: Keras %s (%s) BatchNormalization(momentum=%g, "
                  "epsilon=%g)\n" % (keras.__version__, keras.backend.backend(), MOMENTUM, EPSILON))
        bn_case(out, "image", (2, 3, 5, 6))
        bn_case(out, "dense", (7, 5))
    model_fixture()


if __name__ == "__main__":
    sys.exit(main())
