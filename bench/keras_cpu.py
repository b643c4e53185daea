#!/usr/bin/env python3
"""keras_cpu.py: Keras 3 on TensorFlow CPU training one of our model files, the oracle that
bench/cpu_vs_keras.sh times beside `nn bench --device cpu`.

It reads a model file (models/*.cfg: `input H W C`, then conv2d / maxpool2d / flatten / dense /
activation lines with the options of layers/*.c; '#' starts a comment), builds the same
keras.Sequential (channels_last; Keras's defaults are nn's: stride 1, padding valid, pooling
strides = pool size, linear activation, biases on), compiles it as the tutorial trains it
(Adam(1e-3), binary_crossentropy) with jit_compile=True (XLA), and times train_on_batch one
call at a time on random inputs in [0, 1) and 0/1 labels, the same method as nn bench: WARMUP
untimed steps (XLA compiles in the first), then STEPS timed.

TensorFlow is pinned to THREADS threads (intra- and inter-op) before anything runs, so both
sides use the same cores. Prints one JSON line: model, batch, threads, mean / median / best
ms per step, img/s from the median, TF and Keras versions.

--no-jit compiles with jit_compile=False instead: what Keras 3 itself picks ("auto") on a
machine without a GPU (Trainer._resolve_auto_jit_compile): TensorFlow's own CPU kernels.

Usage: keras_cpu.py MODEL.cfg [--batch 32] [--steps 40] [--warmup 5] [--threads N] [--seed 1]
                    [--no-jit]
"""
import argparse
import json
import os
import sys
import time


def parse_dims(s):   # "3" or "3x2", as nn/cfg.c's parse_dims
    d = [int(v) for v in s.split("x")]
    if len(d) not in (1, 2) or min(d) < 1:
        raise ValueError(f"'{s}' is not N or HxW with positive integers")
    return (d[0], d[0]) if len(d) == 1 else (d[0], d[1])


def parse_cfg(path):
    """[(kind, {key: value})] and the input shape (H, W, C), checked as nn/cfg.c checks them."""
    known = {"conv2d": {"filters", "kernel", "stride", "padding", "activation", "bias", "name"},
             "maxpool2d": {"pool", "stride", "padding", "name"},
             "flatten": {"name"},
             "dense": {"units", "activation", "bias", "name"},
             "activation": {"fn", "name"}}
    shape, layers = None, []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            w = line.split("#", 1)[0].split()
            if not w:
                continue
            where = f"{path}:{lineno}"
            if w[0] == "input":
                if len(w) != 4:
                    sys.exit(f"keras_cpu: {where}: expected 'input H W C'")
                shape = tuple(int(v) for v in w[1:])
                continue
            if w[0] not in known:
                sys.exit(f"keras_cpu: {where}: unknown layer '{w[0]}'")
            opts = dict(kv.split("=", 1) for kv in w[1:])
            bad = set(opts) - known[w[0]]
            if bad:
                sys.exit(f"keras_cpu: {where}: unknown option(s) {sorted(bad)} for {w[0]}")
            layers.append((w[0], opts))
    if shape is None or not layers:
        sys.exit(f"keras_cpu: {path}: needs an 'input H W C' line and at least one layer")
    return shape, layers


def build(keras, shape, layers):
    act = lambda o, k: o.get(k, "linear")
    bias = lambda o: o.get("bias", "true") in ("1", "true")
    seq = [keras.Input(shape=shape)]
    for kind, o in layers:
        if kind == "conv2d":
            seq.append(keras.layers.Conv2D(int(o["filters"]), parse_dims(o["kernel"]),
                                           strides=parse_dims(o.get("stride", "1")),
                                           padding=o.get("padding", "valid"),
                                           activation=act(o, "activation"), use_bias=bias(o)))
        elif kind == "maxpool2d":
            pool = parse_dims(o.get("pool", "2"))
            stride = parse_dims(o["stride"]) if "stride" in o else pool
            seq.append(keras.layers.MaxPooling2D(pool, strides=stride,
                                                 padding=o.get("padding", "valid")))
        elif kind == "flatten":
            seq.append(keras.layers.Flatten())
        elif kind == "dense":
            seq.append(keras.layers.Dense(int(o["units"]), activation=act(o, "activation"),
                                          use_bias=bias(o)))
        elif kind == "activation":
            seq.append(keras.layers.Activation(o["fn"]))
    return keras.Sequential(seq)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-jit", dest="jit", action="store_false")
    a = ap.parse_args()
    shape, layers = parse_cfg(a.model)

    # Before TensorFlow starts: Keras 3 on the TF backend, no GPU, quiet logs.
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    import keras

    keras.utils.set_random_seed(a.seed)
    m = build(keras, shape, layers)
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
              jit_compile=a.jit)
    rs = np.random.default_rng(a.seed)
    x = tf.constant(rs.random((a.batch,) + shape, dtype=np.float32))                 # (N, H, W, C)
    y = tf.constant(rs.integers(0, 2, (a.batch, 1)).astype(np.float32))              # (N, 1)
    for _ in range(a.warmup):
        m.train_on_batch(x, y)
    ts = []
    for _ in range(a.steps):   # one by one: the loss returned is a host value, so each call waits
        t = time.perf_counter()
        loss = m.train_on_batch(x, y)
        ts.append(time.perf_counter() - t)
    ts.sort()
    mean, med = sum(ts) / len(ts), ts[len(ts) // 2]
    print(json.dumps({
        "model": a.model, "params": m.count_params(), "batch": a.batch, "threads": a.threads,
        "steps": a.steps, "warmup": a.warmup, "jit": a.jit,
        "ms_mean": round(mean * 1e3, 3), "ms_median": round(med * 1e3, 3),
        "ms_best": round(ts[0] * 1e3, 3), "img_s": round(a.batch / med, 1),
        "last_loss": float(loss), "tf": tf.__version__, "keras": keras.__version__,
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}))


if __name__ == "__main__":
    main()
