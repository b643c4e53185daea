#!/usr/bin/env python3
"""keras_load_nn.py: a model file written by nn, loaded by real Keras: Keras 3 or tf.keras 2.15,
whichever the Python running it has.

    keras_load_nn.py MODEL.h5 PRED.txt [--save-after-fit OUT.h5]
    keras_load_nn.py MODEL.h5 PRED.txt --predict-only

PRED.txt is what nn computed on some inputs (`test_h5 --predict MODEL.h5 PRED.txt` writes it):
a line "N H W C", N lines of inputs (NHWC, flattened), N lines of nn's outputs. This script
  1. loads MODEL.h5 with keras.models.load_model (compile=True: training_config and Adam's
     state are read too) and checks the optimizer it compiled has the file's Adam settings
     (learning_rate, beta_1, beta_2, epsilon). Keras 3 must restore Adam's iteration count
     without a warning. tf.keras 2.15 cannot take a Keras 3 optimizer_weights list (Keras 3's
     Adam has a learning_rate variable, tf.keras 2's has none: nn/keras_json.c): it says "Error
     in loading the saved optimizer state" and starts Adam afresh, which is checked to be all;
  2. checks that every momentum and velocity in optimizer_weights goes, by set_weights, into a
     Keras Adam of this version built over the model's weights, with its variable names, order
     and shapes (Keras 3.15's own loader drops the moments of Sequential models, its own
     files' too: see below);
  3. predicts the inputs with Keras and compares with nn's outputs: |diff| <= 1e-5;
  4. resumes training: one model.fit step with that Adam (nn's moments and step count), then
     one with the model exactly as load_model gave it (tf.keras 2.15: its fresh Adam; Keras
     3.15 cannot fit a legacy-h5 Sequential model as loaded, its own files neither: it built
     the optimizer over no variables. That is said in a NOTE line, not a failure);
  5. with --save-after-fit OUT.h5, saves the model after that step with model.save(OUT.h5):
     a Keras-written file for nn to read back (tests/oracles/keras_interop.sh).
With --predict-only, only steps 1 (loading) and 3: for a file Keras itself wrote (OUT.h5 above,
whose PRED.txt nn wrote by predicting it).
Prints PASS/FAIL/NOTE lines and exits non-zero on a failure. Needs Keras (not in CI): Keras 3
(local/kerasvenv: Keras 3.15 on TensorFlow 2.21; the jax backend works too, KERAS_BACKEND=jax)
or tf.keras 2.15 (local/tfkeras215: `python3 -m venv local/tfkeras215 &&
local/tfkeras215/bin/pip install tensorflow-cpu==2.15.1`).
"""
import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

K3 = keras.__version__.startswith("3")
if not K3:   # tf.keras 2: the keras package is tf.keras itself
    import tensorflow as tf  # noqa: E402
    keras = tf.keras
VERSION = "Keras %s (%s)" % (keras.__version__, keras.backend.backend()) if K3 else \
    "tf.keras %s (TensorFlow %s)" % (__import__("keras").__version__, tf.__version__)


class Catch(logging.Handler):
    def __init__(self):
        super().__init__()
        self.msgs = []

    def emit(self, record):
        self.msgs.append(record.getMessage())


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read_pred(path):
    with open(path) as f:
        n, h, w, c = (int(v) for v in f.readline().split())
        rows = [np.array(line.split(), dtype=np.float32) for line in f if line.strip()]
    return np.stack(rows[:n]).reshape(n, h, w, c), np.stack(rows[n:2 * n])


def opt_settings(opt):
    c = opt.get_config()
    return [np.float32(c[k]) for k in ("learning_rate", "beta_1", "beta_2", "epsilon")]


def fit_step(model, x, label):
    """One Adam step on x with labels 0, 1, 0, 1... (a softmax over N: classes 0, 1, .., N-1,
    0, ... one-hot, as categorical_crossentropy takes them); returns the loss."""
    n_out = int(model.output_shape[-1])
    y = (np.arange(len(x)) % max(n_out, 2)).astype(np.float32)
    if n_out > 1: y = np.eye(n_out, dtype=np.float32)[y.astype(int)]
    h = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    loss = float(h.history["loss"][-1])
    if not np.isfinite(loss):
        raise ValueError("%s: the loss after one step is %s" % (label, loss))
    return loss


def main(argv):
    predict_only = "--predict-only" in argv
    save_to = argv[argv.index("--save-after-fit") + 1] if "--save-after-fit" in argv else None
    model_path, pred_path = [a for a in argv if not a.startswith("--") and a != save_to][:2]
    name = os.path.basename(model_path)
    catch = Catch()
    for lg in ("", "absl", "tensorflow"):
        logging.getLogger(lg).addHandler(catch)
    ok = True

    def fail(msg):
        nonlocal ok
        print("FAIL keras_load_nn: %s: %s: %s" % (VERSION, name, msg))
        ok = False

    model = keras.models.load_model(model_path)
    dropped = sorted({m for m in catch.msgs if "optimizer" in m and ("Error" in m or "freshly" in m)})
    x, want = read_pred(pred_path)
    got = np.asarray(model.predict(x, verbose=0), dtype=np.float32).reshape(want.shape)
    diff = float(np.max(np.abs(got - want)))
    if diff > 1e-5:
        fail("Keras predicts %s, nn predicted %s (max diff %.3g)" % (got.ravel(), want.ravel(), diff))
    if predict_only:
        if dropped:
            fail("Keras dropped the optimizer state of a file it wrote: %s" % dropped)
        if ok:
            print("PASS keras_load_nn: %s: %s loads (%d layers, %d params) and predicts what nn "
                  "predicts to %.2g on %d inputs" % (VERSION, name, len(model.layers),
                                                     model.count_params(), diff, len(x)))
        return 0 if ok else 1

    with h5py.File(model_path, "r") as f:
        ow = f["optimizer_weights"]
        names = [text(n) for n in ow.attrs["weight_names"]]
        values = [np.asarray(ow[n][()]) for n in names]
        tc = json.loads(text(f.attrs["training_config"]))
    oc = tc["optimizer_config"]["config"]
    settings = [np.float32(oc[k]) for k in ("learning_rate", "beta_1", "beta_2", "epsilon")]
    t = int(values[0])
    if opt_settings(model.optimizer) != settings:
        fail("Keras compiled Adam with %s; the file's training_config has %s" % (
            opt_settings(model.optimizer), settings))
    restored = int(np.asarray(model.optimizer.iterations))
    if K3:
        if dropped:
            fail("Keras dropped the optimizer state: %s" % dropped)
        if restored != t or np.float32(np.asarray(model.optimizer.learning_rate)) != np.float32(values[1]):
            fail("Keras restored iterations %d, learning_rate %s; the file has %s, %s" % (
                restored, np.asarray(model.optimizer.learning_rate), values[0], values[1]))
    elif not (len(dropped) == 1 and "Error in loading the saved optimizer state" in dropped[0] and restored == 0):
        fail("tf.keras 2 was expected to start Adam afresh with one warning; it said %s and is at step %d"
             % (dropped, restored))

    # Keras 3.15 restores only iterations and learning_rate from a legacy .h5 Sequential model:
    # it builds the optimizer over model._trainable_variables, which is empty for a Sequential,
    # and set_weights() zips the 2 variables it has with the file's list. Its own files lose
    # their moments the same way. tf.keras 2's Adam has no learning_rate variable. So: check
    # the moments the way a fully built Adam of this Keras takes them (order, names, shapes).
    adam = keras.optimizers.Adam(learning_rate=float(settings[0]), beta_1=float(settings[1]),
                                 beta_2=float(settings[2]), epsilon=float(settings[3]))
    adam.build(model.trainable_variables)
    mine = values if K3 else values[:1] + values[2:]   # tf.keras 2: no learning_rate variable
    mine_names = names if K3 else names[:1] + names[2:]
    if len(adam.variables) != len(mine):
        fail("%d optimizer datasets, a built Adam has %d variables" % (len(mine), len(adam.variables)))
        return 1
    adam.set_weights(mine)   # raises on a shape mismatch
    for fname, var, val in zip(mine_names, adam.variables, mine):
        if K3:   # "adam/sequential_conv2d_kernel_momentum" against the variable's path
            same = var.path.split("/", 1)[1] == fname.split("/", 1)[1]
        else:    # "m/conv2d/kernel:0" (saved as "Adam/m/conv2d/kernel:0") against
                 # "adam/sequential_conv2d_kernel_momentum"
            parts = var.name.split(":")[0].split("/")
            if parts[0] == "iteration":
                same = fname.endswith("/iteration")
            else:
                kind = {"m": "momentum", "v": "velocity"}.get(parts[0], "?")
                same = fname.split("/", 1)[1] == "sequential_%s_%s" % ("_".join(parts[1:]), kind)
        if not same:
            fail("dataset %s is where Keras's Adam has %s" % (fname, var.path if K3 else var.name))
        if not np.array_equal(np.asarray(var).astype(val.dtype), val):
            fail("%s did not survive set_weights" % fname)

    # Resuming: one step with nn's Adam state, then (a fresh load) one as load_model left it.
    model.compile(optimizer=adam, loss="binary_crossentropy", metrics=["accuracy"])
    loss = fit_step(model, x, "with nn's Adam state")
    if int(np.asarray(adam.iterations)) != t + 1:
        fail("after one step Adam is at step %d, not %d" % (int(np.asarray(adam.iterations)), t + 1))
    if save_to:
        model.save(save_to)
    plain = keras.models.load_model(model_path)
    try:
        fit_step(plain, x, "as loaded")
        plain_note = "; model.fit on the model as loaded works too"
    except ValueError as e:
        if not (K3 and "Unknown variable" in str(e)):
            raise
        plain_note = ""
        print("NOTE keras_load_nn: %s cannot model.fit a legacy .h5 Sequential model as load_model "
              "gives it (its optimizer was built over no variables; Keras's own files too): "
              "recompiling with an Adam built over the model's weights, as above, works" % VERSION)
    if ok:
        print("PASS keras_load_nn: %s: %s (%d layers, %d params, Adam at step %d): predictions equal "
              "nn's to %.2g on %d inputs; Adam's settings%s; nn's moments go into a %s Adam by "
              "set_weights and one fit step resumes from them (loss %.4f)%s" % (
                  VERSION, name, len(model.layers), model.count_params(), t, diff, len(x),
                  " and step count restored" if K3 else " restored (its state starts afresh, as "
                  "for Keras 3's own files)", "Keras 3" if K3 else "tf.keras 2", loss, plain_note))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
