#!/usr/bin/env python3
"""golden_torch.py: reference values for the golden end-to-end test (tests/test_golden.c).

A small model of every layer type the project has, written as the cfg below, is built here
in PyTorch (Debian's python3-torch 1.13) in float64 with Keras's layouts and conventions:
  - activations NHWC, conv kernels HWIO, dense kernels (in, out): the leaf tensors that get
    gradients are in Keras's layout and are permuted to PyTorch's NCHW / OIHW inside forward;
  - 'same' padding as TensorFlow places it: total = max((ceil(in/s) - 1)*s + k - in, 0),
    total//2 before and the rest (the odd pixel) after, i.e. bottom/right; for max pooling the
    padding is -inf so it never wins;
  - Flatten in NHWC order;
  - binary cross-entropy from the logit, averaged over the batch;
  - Adam as Keras 3 applies it, written out below (not torch.optim.Adam, which puts epsilon
    inside the bias correction): alpha = lr*sqrt(1-b2^t)/(1-b1^t) in float32 from float32
    betas (as Keras's ops on its float32 variables); m += (g-m)(1-b1); v += (g^2-v)(1-b2);
    w -= alpha*m/(sqrt(v)+eps), with 1-b computed in double from the decimal (0.001, not
    1 - float32(0.999)), as Python computes Keras's `1 - self.beta_2`.
Weights and inputs are float32 values (so the C side holds them exactly); everything after is
float64, the truth the float32 C path is compared with.

Writes tests/fixtures/golden.txt:
  cfg LINE                 the model file, one line each
  array NAME COUNT         then COUNT numbers: x (4,13,12,3) NHWC, labels, w0.LAYER.kernel/bias,
                           out.LAYER (each layer's output for the batch, the last as a
                           probability), loss, grad.LAYER.kernel/bias (at w0), loss_steps (the
                           loss before each of 5 Adam steps), w5/m5/v5.LAYER.kernel/bias after.
Run: /usr/bin/python3 tests/oracles/golden_torch.py
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "golden.txt")

CFG = """input 13 12 3
conv2d filters=4 kernel=4x3 padding=same activation=relu
maxpool2d pool=2 padding=same
conv2d filters=3 kernel=3 stride=2 activation=sigmoid
flatten
dense units=5 activation=relu
dense units=1 activation=sigmoid"""

N, H, W, C = 4, 13, 12, 3
LR, B1, B2, EPS = 0.001, 0.9, 0.999, 1e-7
STEPS = 5


def same_pad(size, k, s):
    """TensorFlow's 'same': (before, after), the odd pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv(x, kernel, bias, stride, padding, act):
    """x (N, H, W, C) NHWC, kernel (KH, KW, Cin, Cout) HWIO -> NHWC."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        t, b = same_pad(x.shape[1], kh, stride)
        l, r = same_pad(x.shape[2], kw, stride)
        xc = F.pad(xc, (l, r, t, b))
    y = F.conv2d(xc, kernel.permute(3, 2, 0, 1), bias, stride=stride)
    return act(y.permute(0, 2, 3, 1))


def maxpool(x, k, stride, padding):
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        t, b = same_pad(x.shape[1], k, stride)
        l, r = same_pad(x.shape[2], k, stride)
        xc = F.pad(xc, (l, r, t, b), value=-math.inf)
    return F.max_pool2d(xc, k, stride).permute(0, 2, 3, 1)


def forward(p, x):
    """Returns every layer's output (Keras names) and the logit."""
    outs = {}
    y = conv(x, p["conv2d.kernel"], p["conv2d.bias"], 1, "same", torch.relu)
    outs["conv2d"] = y
    y = maxpool(y, 2, 2, "same")
    outs["max_pooling2d"] = y
    y = conv(y, p["conv2d_1.kernel"], p["conv2d_1.bias"], 2, "valid", torch.sigmoid)
    outs["conv2d_1"] = y
    y = y.reshape(y.shape[0], -1)   # NHWC order, as Keras's Flatten
    outs["flatten"] = y
    y = torch.relu(y @ p["dense.kernel"] + p["dense.bias"])
    outs["dense"] = y
    z = y @ p["dense_1.kernel"] + p["dense_1.bias"]
    outs["dense_1"] = torch.sigmoid(z)
    return outs, z


def loss_and_grads(p, x, labels):
    for t in p.values():
        t.grad = None
    outs, z = forward(p, x)
    loss = F.binary_cross_entropy_with_logits(z.reshape(-1), labels)
    loss.backward()
    return outs, loss.item(), {k: t.grad.clone() for k, t in p.items()}


def main():
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(20261124)
    f32 = lambda a: torch.tensor(np.asarray(a, dtype=np.float32).astype(np.float64))
    x = f32(rng.uniform(0, 1, (N, H, W, C)))
    labels = f32([0, 1, 1, 0])
    shapes = [("conv2d", (4, 3, 3, 4)), ("conv2d_1", (3, 3, 4, 3)), ("dense", (18, 5)),
              ("dense_1", (5, 1))]
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
    a1, a2 = 1 - B1, 1 - B2   # Python doubles, as Keras computes them
    losses = []
    for t in range(1, STEPS + 1):
        _, lt, g = loss_and_grads(p, x, labels)
        losses.append(lt)
        # Keras computes alpha in float32 from float32(beta)^t: 1 - float32(0.999)^1 is
        # 0.00099998713, so alpha differs from the real-number formula by 6e-6 relative.
        one, tf = np.float32(1), np.float32(t)
        b1p, b2p = np.float32(B1) ** tf, np.float32(B2) ** tf
        alpha = float(np.float32(LR) * np.sqrt(one - b2p) / (one - b1p))
        with torch.no_grad():
            for k in names:
                m[k] += (g[k] - m[k]) * a1
                v[k] += (g[k] * g[k] - v[k]) * a2
                p[k] -= alpha * m[k] / (torch.sqrt(v[k]) + EPS)

    def fmt(vals, exact32):
        vals = np.asarray(vals, dtype=np.float64).reshape(-1)
        f = "%.9g" if exact32 else "%.12g"
        return [f % v for v in vals]

    lines = ["# golden.txt: written by tests/oracles/golden_torch.py (torch %s, float64); do not edit."
             % torch.__version__,
             "# Keras layouts: x NHWC, kernels HWIO / (in, out); out.* are layer outputs (NHWC)."]
    lines += ["cfg " + l for l in CFG.splitlines()]

    def emit(name, vals, exact32=False):
        vals = fmt(vals, exact32)
        lines.append("array %s %d" % (name, len(vals)))
        for i in range(0, len(vals), 8):
            lines.append(" ".join(vals[i:i + 8]))

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
