#!/usr/bin/env python3
"""classes_torch.py: reference values for the N-class tests (tests/test_classes.c).

PyTorch (Debian's python3-torch 1.13), float64, Keras's layouts and conventions as in
golden_torch.py (whose Adam, written as Keras 3 applies it, is repeated here):
  - categorical cross-entropy from logits, torch.nn.functional.cross_entropy (mean over the
    batch, class-index targets), and its gradient by autograd, for several (n, c) and for
    logits large enough to overflow a naive exp (|z| up to 1e4);
  - a small model whose last layer is `dense units=4 activation=softmax`: every layer's output
    (the last as probabilities), the loss and every gradient at the starting weights, then 5
    Adam steps (the loss before each, and the weights and moments after).
Inputs and weights are float32 values (the C side holds them exactly); the rest is float64.

Writes tests/fixtures/classes.txt in golden.txt's format:
  cfg LINE                the model file
  array NAME COUNT        then COUNT numbers: cce.<case>.z (n, c) / .y (n) / .loss / .dz (n, c),
                          x (4, 6, 5, 3) NHWC, labels (4), w0.LAYER.kernel/bias, out.LAYER,
                          loss, grad.LAYER.kernel/bias, loss_steps, w5/m5/v5.LAYER.kernel/bias
Run: /usr/bin/python3 tests/oracles/classes_torch.py
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "classes.txt")

CFG = """input 6 5 3
conv2d filters=3 kernel=3 activation=relu
flatten
dense units=6 activation=relu
dense units=4 activation=softmax"""

N, H, W, C, K = 4, 6, 5, 3, 4
LR, B1, B2, EPS = 0.001, 0.9, 0.999, 1e-7
STEPS = 5

# (name, n, c, logit scale): the last one's logits reach 1e4, where exp overflows even in float64
CASES = [("n5c2", 5, 2, 3.0), ("n4c3", 4, 3, 3.0), ("n7c10", 7, 10, 5.0), ("n3c16", 3, 16, 2.0),
         ("n6c5big", 6, 5, 1e4)]


def forward(p, x):
    outs = {}
    xc = x.permute(0, 3, 1, 2)
    y = F.conv2d(xc, p["conv2d.kernel"].permute(3, 2, 0, 1), p["conv2d.bias"])
    y = torch.relu(y.permute(0, 2, 3, 1))
    outs["conv2d"] = y
    y = y.reshape(y.shape[0], -1)   # NHWC order, as Keras's Flatten
    outs["flatten"] = y
    y = torch.relu(y @ p["dense.kernel"] + p["dense.bias"])
    outs["dense"] = y
    z = y @ p["dense_1.kernel"] + p["dense_1.bias"]
    outs["dense_1"] = torch.softmax(z, dim=1)
    return outs, z


def loss_and_grads(p, x, labels):
    for t in p.values():
        t.grad = None
    outs, z = forward(p, x)
    loss = F.cross_entropy(z, labels)
    loss.backward()
    return outs, loss.item(), {k: t.grad.clone() for k, t in p.items()}


def main():
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(20261126)
    f32 = lambda a: torch.tensor(np.asarray(a, dtype=np.float32).astype(np.float64))
    lines = ["# classes.txt: written by tests/oracles/classes_torch.py (torch %s, float64); do not edit."
             % torch.__version__]
    lines += ["cfg " + l for l in CFG.splitlines()]

    def emit(name, vals, exact32=False):
        vals = np.asarray(vals, dtype=np.float64).reshape(-1)
        f = "%.9g" if exact32 else "%.17g"
        lines.append("array %s %d" % (name, len(vals)))
        for i in range(0, len(vals), 8):
            lines.append(" ".join(f % v for v in vals[i:i + 8]))

    for name, n, c, scale in CASES:
        z = f32(rng.uniform(-scale, scale, (n, c))).requires_grad_()
        y = torch.tensor(rng.integers(0, c, n))
        loss = F.cross_entropy(z, y)
        loss.backward()
        emit("cce.%s.z" % name, z.detach().numpy(), True)
        emit("cce.%s.y" % name, y.numpy(), True)
        emit("cce.%s.loss" % name, [loss.item()])
        emit("cce.%s.dz" % name, z.grad.numpy())

    x = f32(rng.uniform(0, 1, (N, H, W, C)))
    labels = torch.tensor([2, 0, 3, 1])
    shapes = [("conv2d", (3, 3, 3, 3)), ("dense", (4 * 3 * 3, 6)), ("dense_1", (6, K))]
    p = {}
    for name, ks in shapes:
        fan_in = int(np.prod(ks[:-1]))
        fan_out = int(np.prod(ks[:-2])) * ks[-1] if len(ks) == 4 else ks[-1]
        lim = math.sqrt(6 / (fan_in + fan_out))
        p[name + ".kernel"] = f32(rng.uniform(-lim, lim, ks)).requires_grad_()
        p[name + ".bias"] = f32(rng.uniform(-0.1, 0.1, ks[-1])).requires_grad_()
    names = list(p)
    w0 = {k: t.detach().clone() for k, t in p.items()}
    outs, loss, grads = loss_and_grads(p, x, labels)

    m = {k: torch.zeros_like(t) for k, t in p.items()}
    v = {k: torch.zeros_like(t) for k, t in p.items()}
    a1, a2 = 1 - B1, 1 - B2
    losses = []
    for t in range(1, STEPS + 1):
        _, lt, g = loss_and_grads(p, x, labels)
        losses.append(lt)
        one, tf = np.float32(1), np.float32(t)
        b1p, b2p = np.float32(B1) ** tf, np.float32(B2) ** tf
        alpha = float(np.float32(LR) * np.sqrt(one - b2p) / (one - b1p))
        with torch.no_grad():
            for k in names:
                m[k] += (g[k] - m[k]) * a1
                v[k] += (g[k] * g[k] - v[k]) * a2
                p[k] -= alpha * m[k] / (torch.sqrt(v[k]) + EPS)

    emit("x", x.numpy(), True)
    emit("labels", labels.numpy(), True)
    for k in names:
        emit("w0." + k, w0[k].numpy(), True)
    for k, o in outs.items():
        emit("out." + k, o.detach().numpy())
    emit("loss", [loss])
    for k in names:
        emit("grad." + k, grads[k].numpy())
    emit("loss_steps", losses)
    for k in names:
        emit("w5." + k, p[k].detach().numpy())
        emit("m5." + k, m[k].numpy())
        emit("v5." + k, v[k].numpy())
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d bytes)" % (OUT, os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
