#!/usr/bin/env python3
"""keras_load_nn.py: a model file written by nn, loaded by real Keras 3.

    keras_load_nn.py MODEL.h5 PRED.txt

PRED.txt is what nn computed on some inputs (`test_h5 --predict MODEL.h5 PRED.txt` writes it):
a line "N H W C", N lines of inputs (NHWC, flattened), N lines of nn's outputs. This script
  1. loads MODEL.h5 with keras.models.load_model (compile=True: training_config and Adam's
     state are read too), failing on any warning that Keras dropped the optimizer state;
  2. checks Keras restored Adam's iterations and learning rate, and that every momentum and
     velocity in optimizer_weights sits where a built Keras Adam has that variable (name,
     order, shape) and loads with set_weights (Keras 3.15's own loader drops the moments of
     Sequential models, its own files' too: see below);
  3. predicts the inputs with Keras and compares with nn's outputs: |diff| <= 1e-5.
Prints PASS/FAIL lines and exits non-zero on a failure. Needs Keras 3 with a CPU backend (not
in CI); the venv we used: `python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install keras
"jax[cpu]"` (Keras 3.15.1, jax 0.10.2).
"""
import logging
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402


class Catch(logging.Handler):
    def __init__(self):
        super().__init__()
        self.msgs = []

    def emit(self, record):
        self.msgs.append(record.getMessage())


def main(model_path, pred_path):
    catch = Catch()
    logging.getLogger("absl").addHandler(catch)
    logging.getLogger().addHandler(catch)
    ok = True
    model = keras.models.load_model(model_path)
    dropped = [m for m in catch.msgs if "optimizer" in m and ("Error" in m or "freshly" in m)]
    if dropped:
        print("FAIL keras_load_nn: Keras dropped the optimizer state: %s" % dropped)
        ok = False

    with h5py.File(model_path, "r") as f:
        ow = f["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in ow.attrs["weight_names"]]
        values = [np.asarray(ow[n][()]) for n in names]
    # Keras 3.15 restores only iterations and learning_rate from a legacy .h5 Sequential model:
    # it builds the optimizer over model._trainable_variables, which is empty for a Sequential,
    # and set_weights() zips the 2 variables it has with the file's list. Its own files lose
    # their moments the same way. So: check what it restores, then check the moments the way
    # a fully built Keras Adam would take them (same order, names and shapes).
    t = int(np.asarray(model.optimizer.iterations))
    if t != int(values[0]) or np.float32(np.asarray(model.optimizer.learning_rate)) != np.float32(values[1]):
        print("FAIL keras_load_nn: Keras restored iterations %d, learning_rate %s; the file has %s, %s" % (
            t, np.asarray(model.optimizer.learning_rate), values[0], values[1]))
        ok = False
    adam = keras.optimizers.Adam.from_config(model.optimizer.get_config())
    adam.build(model.trainable_variables)
    if len(adam.variables) != len(values):
        print("FAIL keras_load_nn: %d optimizer datasets, a built Keras Adam has %d variables" % (len(values), len(adam.variables)))
        ok = False
    else:
        adam.set_weights(values)   # raises on a shape mismatch
        for name, var, want in zip(names, adam.variables, values):
            if var.path.split("/", 1)[1] != name.split("/", 1)[1]:
                print("FAIL keras_load_nn: dataset %s is where Keras's Adam has %s" % (name, var.path))
                ok = False
            if not np.array_equal(np.asarray(var).astype(want.dtype), want):
                print("FAIL keras_load_nn: %s did not survive set_weights" % name)
                ok = False

    with open(pred_path) as f:
        n, h, w, c = (int(v) for v in f.readline().split())
        rows = [np.array(line.split(), dtype=np.float32) for line in f if line.strip()]
    x = np.stack(rows[:n]).reshape(n, h, w, c)
    want = np.stack(rows[n:2 * n])
    got = np.asarray(model.predict(x, verbose=0), dtype=np.float32).reshape(want.shape)
    diff = float(np.max(np.abs(got - want)))
    if diff > 1e-5:
        print("FAIL keras_load_nn: Keras predicts %s, nn predicted %s (max diff %.3g)" % (got.ravel(), want.ravel(), diff))
        ok = False
    if ok:
        print("PASS keras_load_nn: %s (%d layers, %d params, Adam at step %d): Keras %s (%s) "
              "predictions equal nn's to %.2g on %d inputs" % (
                  os.path.basename(model_path), len(model.layers), model.count_params(), t,
                  keras.__version__, keras.backend.backend(), diff, n))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
