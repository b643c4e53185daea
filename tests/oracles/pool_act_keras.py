#!/usr/bin/env python3
"""pool_act_keras.py: Keras 3's answers for the pooling and activation layers, the fixtures of
tests/test_layers_pool_act.c. Needs Keras 3 with TensorFlow (not in CI); run by hand from the
repository root with the shared venv (Keras 3.15.1, TensorFlow CPU 2.21):
    local/kerasvenv/bin/python tests/oracles/pool_act_keras.py

Writes
  tests/fixtures/pool_act_layers.txt: one case per layer setting (AveragePooling2D over odd
    sizes, pools 1-3, strides 1-3, valid/same; GlobalAveragePooling2D; LeakyReLU; Activation
    tanh/softmax/leaky_relu; Dense and Conv2D with tanh/softmax/leaky_relu): random inputs and
    weights, the forward output, and tf.GradientTape's gradients of L = sum(y * R) for a random
    R with respect to the input and each weight (Keras's weight order, concatenated);
  tests/fixtures/keras_pool_act.h5 (+ _pred.txt): a small model of these layers trained two
    Adam steps and saved with model.save('....h5'), and its output vectors on the fixed inputs
    of keras_make_fixture.py (x.flat[i] = ((3*i*i + 37*i + 11) % 251) / 250, float32).

A case block reads
    case <the layer as an nn cfg line>
    in N H W C            (H = W = 1 with a dense layer: a flat input of C)
    x|w|r|y|dx|dw COUNT v1 v2 ...
    end
"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
L = keras.layers


def arr(f, name, a):
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    f.write("%s %d %s\n" % (name, a.size, " ".join("%.9g" % v for v in a)))


def case(f, rng, cfg, layer, n, h, w, c, flat=False, zeros=False):
    """One layer on random inputs: forward and the gradients of sum(y * R)."""
    shape = (n, c) if flat else (n, h, w, c)
    x = rng.uniform(-1, 1, size=shape).astype(np.float32)
    if zeros:   # exact zeros: where leaky ReLU's gradient takes the slope (TensorFlow's choice)
        x.reshape(-1)[::7] = 0
    layer.build(shape)
    ws = []
    for v in layer.weights:
        val = rng.uniform(-0.5, 0.5, size=tuple(v.shape)).astype(np.float32)
        v.assign(val)
        ws.append(val)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        r = rng.uniform(-1, 1, size=tuple(y.shape)).astype(np.float32)
        loss = tf.reduce_sum(y * r)
    grads = tape.gradient(loss, [xt] + [v.value for v in layer.weights])
    f.write("case %s\n" % cfg)
    f.write("in %d %d %d %d\n" % (n, 1 if flat else h, 1 if flat else w, c))
    arr(f, "x", x)
    arr(f, "w", np.concatenate([a.reshape(-1) for a in ws]) if ws else [])
    arr(f, "r", r)
    arr(f, "y", y.numpy())
    arr(f, "dx", grads[0].numpy())
    arr(f, "dw", np.concatenate([g.numpy().reshape(-1) for g in grads[1:]]) if ws else [])
    f.write("end\n")


def layer_cases():
    rng = np.random.default_rng(2024)
    out = os.path.join(FIX, "pool_act_layers.txt")
    with open(out, "w") as f:
        f.write("# Keras %s (%s backend), made by tests/oracles/pool_act_keras.py\n"
                % (keras.__version__, keras.backend.backend()))
        # AveragePooling2D: odd sizes, pools 1-3, strides 1-3, valid and same
        for (pool, stride, pad, h, w, c, n) in [
                ((2, 2), None, "valid", 7, 5, 3, 2),
                ((3, 3), (1, 1), "valid", 6, 7, 2, 2),
                ((3, 3), (2, 2), "same", 7, 6, 3, 2),
                ((2, 2), (3, 3), "same", 8, 7, 2, 1),
                ((2, 3), (1, 2), "same", 5, 7, 4, 2),
                ((1, 1), (2, 2), "valid", 5, 5, 2, 2),
                ((3, 3), (3, 3), "same", 7, 8, 1, 2),
                ((2, 2), (1, 1), "same", 4, 5, 5, 3),
                ((3, 2), (2, 3), "valid", 9, 8, 3, 1)]:
            cfg = "avgpool2d pool=%dx%d padding=%s" % (pool[0], pool[1], pad)
            if stride:
                cfg += " stride=%dx%d" % stride
            case(f, rng, cfg, L.AveragePooling2D(pool, strides=stride, padding=pad), n, h, w, c)
        case(f, rng, "globalavgpool", L.GlobalAveragePooling2D(), 3, 5, 7, 3)
        case(f, rng, "globalavgpool", L.GlobalAveragePooling2D(), 2, 1, 1, 4)
        case(f, rng, "globalavgpool", L.GlobalAveragePooling2D(), 2, 9, 6, 37)
        case(f, rng, "leakyrelu", L.LeakyReLU(), 2, 4, 5, 3, zeros=True)
        case(f, rng, "leakyrelu alpha=0.1", L.LeakyReLU(negative_slope=0.1), 2, 3, 3, 2, zeros=True)
        case(f, rng, "leakyrelu alpha=0", L.LeakyReLU(negative_slope=0.0), 1, 3, 4, 2, zeros=True)
        case(f, rng, "leakyrelu alpha=1.5", L.LeakyReLU(negative_slope=1.5), 1, 2, 3, 2)
        for fn in ["tanh", "softmax", "leaky_relu"]:
            case(f, rng, "activation fn=%s" % fn, L.Activation(fn), 2, 3, 4, 5, zeros=fn == "leaky_relu")
        case(f, rng, "activation fn=softmax", L.Activation("softmax"), 2, 2, 2, 1)
        case(f, rng, "dense units=5 activation=tanh", L.Dense(5, activation="tanh"), 3, 1, 1, 7, flat=True)
        case(f, rng, "dense units=4 activation=softmax", L.Dense(4, activation="softmax"), 3, 1, 1, 6, flat=True)
        case(f, rng, "dense units=3 activation=leaky_relu", L.Dense(3, activation="leaky_relu"), 4, 1, 1, 6, flat=True)
        case(f, rng, "conv2d filters=5 kernel=3 padding=same activation=tanh",
             L.Conv2D(5, 3, padding="same", activation="tanh"), 2, 6, 5, 2)
        case(f, rng, "conv2d filters=4 kernel=2 stride=2 activation=softmax",
             L.Conv2D(4, 2, strides=2, activation="softmax"), 2, 5, 6, 3)
        case(f, rng, "conv2d filters=3 kernel=3 activation=leaky_relu",
             L.Conv2D(3, 3, activation="leaky_relu"), 2, 5, 5, 2)
    print("wrote", out, os.path.getsize(out), "bytes")


# --- the model fixture

N, H, W, C = 4, 15, 13, 3


def fixed_inputs(n=N):
    i = np.arange(n * H * W * C, dtype=np.int64)
    return (((3 * i * i + 37 * i + 11) % 251).astype(np.float32) / np.float32(250)).reshape(n, H, W, C)


def model_fixture():
    keras.utils.clear_session()   # Keras's default names (leaky_re_lu, ...) count from 0 again
    keras.utils.set_random_seed(77)
    model = keras.Sequential([
        keras.layers.Input((H, W, C)),
        L.Conv2D(6, 3, padding="same", activation="tanh"),
        L.AveragePooling2D(2),
        L.LeakyReLU(negative_slope=0.1),
        L.Conv2D(8, 3, activation="leaky_relu"),
        L.AveragePooling2D(3, strides=2, padding="same"),
        L.Activation("tanh"),
        L.Conv2D(5, 1, activation="softmax"),
        L.GlobalAveragePooling2D(),
        L.Dense(7),
        L.LeakyReLU(),
        L.Dense(3, activation="softmax"),
    ])
    # Glorot's weights and the channel softmax average every input to about the same output:
    # larger weights make each layer's effect show in the outputs the test compares.
    for v in model.weights:
        v.assign(v.numpy() * 3 + (0.2 if len(v.shape) == 1 else 0))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.002),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(8)
    x = rng.random((8, H, W, C), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)   # 2 Adam steps
    out = os.path.join(FIX, "keras_pool_act.h5")
    model.save(out)
    again = keras.models.load_model(out)
    p = np.asarray(again.predict(fixed_inputs(), verbose=0), dtype=np.float32)
    p0 = np.asarray(model.predict(fixed_inputs(), verbose=0), dtype=np.float32)
    assert np.array_equal(p, p0), (p, p0)
    with open(os.path.join(FIX, "keras_pool_act_pred.txt"), "w") as f:
        f.write("# keras_pool_act.h5 outputs (Keras %s, backend %s) on N=%d fixed inputs, %d values each\n"
                % (keras.__version__, keras.backend.backend(), N, p.shape[1]))
        f.write("# x.flat[i] = ((3*i*i + 37*i + 11) %% 251) / 250 (float32), shape (%d, %d, %d, %d)\n"
                % (N, H, W, C))
        for v in p.reshape(-1):
            f.write("%.9g\n" % v)
    print("wrote", out, os.path.getsize(out), "bytes; outputs", p)


if __name__ == "__main__":
    layer_cases()
    model_fixture()
    sys.exit(0)
