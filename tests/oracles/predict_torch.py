#!/usr/bin/python3
"""predict_torch.py: an independent oracle for `nn predict` and `nn evaluate`.

Reads a Keras .h5 file (the Sequential model_config JSON and the weights under model_weights),
rebuilds the network in PyTorch (Conv2D, MaxPooling2D, Flatten, Dense, Activation; valid or
same padding), loads each image as Keras does (keras_preprocessing.image.load_img with
target_size and NEAREST, then /255), and prints one line per image: PATH<TAB>P, where P is the
model's sigmoid output. Used by tests/test_cli.sh to check nn's numbers without trusting nn.

usage: predict_torch.py MODEL.h5 IMAGE...
"""
import json
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from keras_preprocessing.image import img_to_array, load_img


def weights_of(f, name):
    """kernel and bias arrays of layer `name`, whatever the Keras 2/3 naming under it."""
    found = {}

    def visit(path, obj):
        if isinstance(obj, h5py.Dataset):
            base = path.split("/")[-1].split(":")[0]
            found[base] = np.asarray(obj[()], dtype=np.float32)

    if name in f["model_weights"]:
        f["model_weights"][name].visititems(visit)
    return found.get("kernel"), found.get("bias")


def act(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return torch.relu(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    raise SystemExit("predict_torch.py: activation %r not supported" % name)


def same_pad(x, kh, kw, sh, sw):
    """TensorFlow's 'same' padding: the odd pixel goes bottom/right. x is NCHW."""
    h, w = x.shape[2], x.shape[3]
    oh, ow = -(-h // sh), -(-w // sw)
    ph = max((oh - 1) * sh + kh - h, 0)
    pw = max((ow - 1) * sw + kw - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def run(f, layers, x):
    """x: (N, H, W, C) float32 -> model output (N, units)."""
    x = torch.from_numpy(x).permute(0, 3, 1, 2).double()  # NCHW
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        if cls == "InputLayer":
            continue
        if cls == "Conv2D":
            k, b = weights_of(f, cfg["name"])
            kt = torch.from_numpy(k).permute(3, 2, 0, 1).double()  # HWIO -> OIHW
            s = tuple(cfg.get("strides", (1, 1)))
            if cfg.get("padding", "valid") == "same":
                x = same_pad(x, k.shape[0], k.shape[1], s[0], s[1])
            x = F.conv2d(x, kt, None if b is None else torch.from_numpy(b).double(), stride=s)
            x = act(x, cfg.get("activation"))
        elif cls == "MaxPooling2D":
            p = tuple(cfg.get("pool_size", (2, 2)))
            s = tuple(cfg.get("strides") or p)
            if cfg.get("padding", "valid") == "same":
                x = same_pad(x, p[0], p[1], s[0], s[1])
            x = F.max_pool2d(x, p, s)
        elif cls == "Flatten":
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # flatten in NHWC order, as Keras
        elif cls == "Dense":
            k, b = weights_of(f, cfg["name"])
            x = x @ torch.from_numpy(k).double()
            if b is not None:
                x = x + torch.from_numpy(b).double()
            x = act(x, cfg.get("activation"))
        elif cls == "Activation":
            x = act(x, cfg.get("activation"))
        else:
            raise SystemExit("predict_torch.py: layer %s not supported" % cls)
    return x.numpy()


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    f = h5py.File(sys.argv[1], "r")
    cfg = f.attrs["model_config"]
    cfg = json.loads(cfg.decode() if isinstance(cfg, bytes) else cfg)
    layers = cfg["config"]["layers"]
    first = layers[0]["config"]
    shape = first.get("batch_shape") or first.get("batch_input_shape")
    h, w = shape[1], shape[2]
    paths = sys.argv[2:]
    x = np.stack([img_to_array(load_img(p, target_size=(h, w), interpolation="nearest")) / 255.0
                  for p in paths]).astype(np.float32)
    out = run(f, layers, x)
    for p, v in zip(paths, out[:, 0]):
        print("%s\t%.7f" % (p, v))


if __name__ == "__main__":
    main()
