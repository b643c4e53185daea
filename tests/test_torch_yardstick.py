#!/usr/bin/env python3
"""test_torch_yardstick.py: the PyTorch accuracy yardstick trains with Keras's recipe.

- bench/keras_recipe.py's keras_affine equals keras_preprocessing 1.1.0's own
  ImageDataGenerator.apply_transform + standardize (rescale 1/255) on noise images (where any
  misplaced sample shows), square and not, for the article's ranges and for large shears and
  zooms that push samples past the edges (fill_mode 'nearest').
- KerasAugment draws as ImageDataGenerator does: zx and zy apart (what torchvision's
  RandomAffine cannot do), each in [0.8, 1.2], shear within +-0.2 degrees, flips half the time.
- keras_init gives every conv and dense kernel glorot_uniform's range (the bound reached, not
  passed, for each layer's fans) and zero biases, where PyTorch's own start differs.
- bench/torch_accuracy.py trains and evaluates a tiny model on a tiny folder with either
  --aug and either --init, and says which it used.
Run from the repository root with /usr/bin/python3 (python3-torch, python3-torchvision,
python3-keras-preprocessing, python3-pil).
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    from keras_preprocessing.image import ImageDataGenerator
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print("SKIP test_torch_yardstick.py: python3-torch / keras-preprocessing / pil missing (%s): "
          "run make deps" % e)
    sys.exit(0)

sys.path.insert(0, "bench")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keras_recipe import KerasAugment, keras_affine, keras_init  # noqa: E402
from report import finish, report  # noqa: E402

def affine_matches_keras():
    gen = ImageDataGenerator(rescale=1. / 255, shear_range=0.2, zoom_range=0.2,
                             horizontal_flip=True)
    rng = np.random.default_rng(7)
    cases = [(0.0, 1.0, 1.0, False), (0.2, 1.0, 1.0, False), (-0.2, 0.8, 1.2, True),
             (0.0, 1.2, 0.8, False), (25.0, 1.0, 1.0, False), (-40.0, 0.5, 1.7, True),
             (10.0, 1.9, 0.6, False), (0.13, 1.1, 0.85, True)]
    worst = 0.0
    for h, w in [(64, 64), (13, 21), (5, 7)]:
        img = rng.integers(0, 256, size=(h, w, 3)).astype(np.float32)
        for s, zx, zy, f in cases:
            want = gen.standardize(gen.apply_transform(
                img.copy(), {"shear": s, "zx": zx, "zy": zy, "flip_horizontal": f}))
            got = keras_affine(torch.from_numpy(img / 255.0).float().permute(2, 0, 1),
                               s, zx, zy, f).permute(1, 2, 0).numpy()
            d = float(np.abs(want - got).max())
            assert d <= 1e-6, "%dx%d shear %g zx %g zy %g flip %d: differs by %.3g" % (
                h, w, s, zx, zy, f, d)
            worst = max(worst, d)
    print("# keras_affine: worst difference %.2g over %d cases" % (worst, 3 * len(cases)))


def draws_as_keras():
    torch.manual_seed(3)
    aug = KerasAugment(0.2, 0.2, True)
    p = np.array([aug.params() for _ in range(20000)], dtype=np.float64)
    s, zx, zy, flip = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
    assert np.abs(s).max() <= 0.2, "shear past 0.2 degrees: %g" % np.abs(s).max()
    for name, z in (("zx", zx), ("zy", zy)):
        assert 0.8 <= z.min() and z.max() <= 1.2, "%s outside [0.8, 1.2]: %g..%g" % (name, z.min(), z.max())
        assert abs(z.mean() - 1.0) < 0.005, "%s's mean %g, want 1 (uniform)" % (name, z.mean())
    corr = float(np.corrcoef(zx, zy)[0, 1])
    assert abs(corr) < 0.05, "zx and zy correlate (%.3f): Keras draws them apart" % corr
    apart = float(np.mean(np.abs(zx - zy) > 0.02))
    assert apart > 0.8, "zx and zy within 0.02 of each other in %.0f%% of draws" % (100 * (1 - apart))
    assert 0.48 < flip.mean() < 0.52, "flips in %.3f of draws, want 1/2" % flip.mean()
    print("# KerasAugment: corr(zx, zy) %.3f, flips %.3f" % (corr, flip.mean()))


def init_as_keras():
    sys.path.insert(0, "bench")
    from torch_gpu_models import build
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "m.cfg")
        with open(cfg, "w") as f:
            f.write("input 20 20 3\nconv2d filters=32 kernel=3 activation=relu\nbatchnorm\n"
                    "maxpool2d pool=2\nflatten\ndense units=64 activation=relu\n"
                    "dense units=1 activation=sigmoid\n")
        torch.manual_seed(4)
        model, _ = build(cfg)
        torch_bias = max(float(m.bias.abs().max()) for m in model.modules()
                         if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
        assert torch_bias > 0, "PyTorch's own biases are zero already: the check below shows nothing"
        keras_init(model)
        seen = 0
        for m in model.modules():
            if not isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                continue
            taps = m.weight[0, 0].numel() if m.weight.dim() > 2 else 1
            fan_in, fan_out = m.weight.shape[1] * taps, m.weight.shape[0] * taps
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            top = float(m.weight.abs().max())
            assert 0.9 * bound < top <= bound, "%s: weights reach %.4g, glorot_uniform's bound %.4g" % (
                m, top, bound)
            assert float(m.bias.abs().max()) == 0, "%s: biases not zero" % m
            seen += 1
        assert seen == 3, "%d conv/dense layers seen, want 3" % seen
        print("# keras_init: 3 layers, PyTorch's biases up to %.3g before" % torch_bias)


def accuracy_script_runs():
    try:
        import torchvision  # noqa: F401  (torch_accuracy.py's datasets and transforms)
    except ImportError:
        return "python3-torchvision missing: run make deps"
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(5)
        for split in ("train", "test"):
            for cls in ("cats", "dogs"):
                os.makedirs(os.path.join(d, split, cls))
                for i in range(4):
                    px = rng.integers(0, 256, size=(20, 18, 3)).astype(np.uint8)
                    Image.fromarray(px).save(os.path.join(d, split, cls, "%d.png" % i))
        cfg = os.path.join(d, "m.cfg")
        with open(cfg, "w") as f:
            f.write("input 16 16 3\nconv2d filters=2 kernel=3 activation=relu\nmaxpool2d pool=2\n"
                    "flatten\ndense units=1 activation=sigmoid\n")
        for aug, init in (("keras", "keras"), ("torchvision", "torch")):
            r = subprocess.run([sys.executable, "bench/torch_accuracy.py", cfg,
                                os.path.join(d, "train"), os.path.join(d, "test"), "--epochs", "1",
                                "--batch", "4", "--workers", "0", "--aug", aug, "--init", init],
                               capture_output=True, text=True, timeout=300)
            out = r.stdout + r.stderr
            assert r.returncode == 0, "--aug %s: status %d: %s" % (aug, r.returncode, out[-500:])
            assert "augmentation: %s; initial weights: %s" % (aug, init) in out, \
                "--aug %s --init %s not reported: %s" % (aug, init, out[-300:])
            assert "test accuracy" in out.splitlines()[-1], "--aug %s: last line %r" % (
                aug, out.splitlines()[-1])


report("torch_keras_affine_matches_keras", affine_matches_keras)
report("torch_keras_augment_draws", draws_as_keras)
report("torch_keras_init", init_as_keras)
report("torch_accuracy_script_runs", accuracy_script_runs)
finish()
