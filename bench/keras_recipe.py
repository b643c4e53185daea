"""keras_recipe.py: the parts of Keras's training recipe that PyTorch does otherwise by
default, for the PyTorch yardstick of bench/torch_accuracy.py (which nn, a Keras twin, is held
to): ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True), and Keras's
initial weights.

Why: torchvision's RandomAffine draws one scale for both axes and fills with black, where Keras
(and nn, data/augment.c) draws the row and column zooms apart and repeats the edge pixels; and
PyTorch starts a layer from kaiming_uniform(a=sqrt(5)) weights and uniform biases, Keras (and
nn) from glorot_uniform weights and zero biases. A yardstick trained another way measures
something else than nn's implementation of the same recipe. tests/test_torch_yardstick.py holds
keras_affine to keras_preprocessing's own apply_transform and checks keras_init.
"""
import math

import torch
import torch.nn.functional as F


def keras_affine(x, shear_deg, zx, zy, flip):
    """x: a (C, H, W) float tensor. keras_preprocessing 1.1.0's apply_affine_transform(shear,
    zx, zy), then its horizontal flip: output pixel (r, c) samples the input at
    A (r - o_r, c - o_c) + (o_r, o_c) with A = [[1, -sin s], [0, cos s]] diag(zx, zy) and
    o = (H / 2 + 0.5, W / 2 + 0.5) (Keras's centre, half a pixel past the middle), bilinear,
    coordinates clamped to the image (fill_mode 'nearest'); then the columns reversed."""
    c_, h, w = x.shape
    s = math.radians(shear_deg)
    a00, a01, a11 = zx, -math.sin(s) * zy, math.cos(s) * zy
    o_r, o_c = h / 2 + 0.5, w / 2 + 0.5
    r = torch.arange(h, dtype=torch.float64).view(h, 1) - o_r
    c = torch.arange(w, dtype=torch.float64).view(1, w) - o_c
    rin = a00 * r + a01 * c + o_r
    cin = (a11 * c + o_c).expand(h, w)
    # grid_sample with align_corners=True: -1 and +1 are the first and last pixels' centres;
    # padding 'border' clamps a coordinate to them, as scipy's mode 'nearest' repeats the edge
    grid = torch.stack([cin / max(w - 1, 1) * 2 - 1, rin / max(h - 1, 1) * 2 - 1], dim=-1)
    y = F.grid_sample(x.unsqueeze(0).double(), grid.unsqueeze(0), mode="bilinear",
                      padding_mode="border", align_corners=True)[0].to(x.dtype)
    return y.flip(-1) if flip else y


class KerasAugment:
    """The random transform per image, drawn as ImageDataGenerator draws it: shear uniform in
    +-shear_range degrees, zx and zy each uniform in [1 - zoom_range, 1 + zoom_range], a flip
    with probability 1/2. torch's generator (seeded per DataLoader worker) makes the draws."""

    def __init__(self, shear_range=0.2, zoom_range=0.2, horizontal_flip=True):
        self.shear, self.zoom, self.flip = shear_range, zoom_range, horizontal_flip

    def params(self):
        u = torch.rand(4, dtype=torch.float64).tolist()
        return ((2 * u[0] - 1) * self.shear, 1 - self.zoom + 2 * self.zoom * u[1],
                1 - self.zoom + 2 * self.zoom * u[2], self.flip and u[3] < 0.5)

    def __call__(self, x):
        return keras_affine(x, *self.params())


def keras_init(model):
    """Keras's defaults for every Conv2d and Linear of model: glorot_uniform kernels (uniform in
    +-sqrt(6 / (fan_in + fan_out)), the fans counting the kernel's taps, as torch's
    xavier_uniform_ counts them) and zero biases. Batchnorm starts as in both (gamma 1, beta 0)."""
    for mod in model.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(mod.weight)
            if mod.bias is not None:
                torch.nn.init.zeros_(mod.bias)
    return model
