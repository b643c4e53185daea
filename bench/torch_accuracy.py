#!/usr/bin/env python3
# torch_accuracy.py: the accuracy yardstick for any nn model file. The model file becomes the
# same torch.nn.Sequential as in bench/torch_gpu_models.py (build()), trained as a PyTorch user
# would on the same folders: torchvision ImageFolder, a DataLoader with workers, augmentation
# with Keras's ImageDataGenerator semantics (--aug keras, the default: bench/keras_recipe.py,
# held to keras_preprocessing by tests/test_torch_yardstick.py) or torchvision's nearest
# (--aug torchvision: RandomAffine, one scale for both axes, black fill), Keras's initial weights
# (--init keras, the default: glorot_uniform, zero biases) or PyTorch's (--init torch); the
# yardstick's runs in bench/RESULTS.md before 2026-12-08 used torchvision and torch. Adam lr 1e-3
# eps 1e-7 (Keras's), BCEWithLogitsLoss for a sigmoid unit or CrossEntropyLoss for
# a softmax, then the test accuracy (eval mode: dropout off, batchnorm's moving statistics).
# Prints "test accuracy X" last; bench/accuracy.sh runs it beside `nn train`.
#
# usage: torch_accuracy.py MODEL.cfg TRAIN_DIR TEST_DIR [--epochs 25] [--batch 32] [--seed 1]
#                          [--aug keras|torchvision] [--init keras|torch]
import argparse, os, sys, time

T0 = time.time()
import torch, torch.nn as nn
from torchvision import datasets, transforms
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpu_models import build
from keras_recipe import KerasAugment, keras_init

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("train")
ap.add_argument("test")
ap.add_argument("--epochs", type=int, default=25)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
ap.add_argument("--aug", choices=("keras", "torchvision"), default="keras")
ap.add_argument("--init", choices=("keras", "torch"), default="keras")
a = ap.parse_args()
torch.manual_seed(a.seed)
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
model, (c, h, w) = build(a.model)
if a.init == "keras":
    keras_init(model)
model = model.to(dev)
nearest = transforms.InterpolationMode.NEAREST
# Keras's load_img(target_size) resizes with PIL's nearest; so do both pipelines
if a.aug == "keras":
    train_tf = transforms.Compose([transforms.Resize((h, w), interpolation=nearest),
                                   transforms.ToTensor(), KerasAugment(0.2, 0.2, True)])
else:
    train_tf = transforms.Compose([
        transforms.Resize((h, w), interpolation=nearest),
        transforms.RandomAffine(degrees=0, shear=0.2, scale=(0.8, 1.2),
                                interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor()])
test_tf = transforms.Compose([transforms.Resize((h, w), interpolation=nearest), transforms.ToTensor()])
train = datasets.ImageFolder(a.train, train_tf)
test = datasets.ImageFolder(a.test, test_tf)
ncls = len(train.classes)
print(f"Found {len(train)} images belonging to {ncls} classes; augmentation: {a.aug}; "
      f"initial weights: {a.init}.")
tl = torch.utils.data.DataLoader(train, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                                 pin_memory=True, persistent_workers=a.workers > 0)
vl = torch.utils.data.DataLoader(test, batch_size=256, num_workers=a.workers, pin_memory=True)
binary = ncls == 2 and model(torch.zeros(2, c, h, w, device=dev)).shape[1] == 1
lossf = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

def right_of(z, y):
    return ((z.squeeze(1) > 0) == (y > 0)).sum() if binary else (z.argmax(1) == y).sum()

for e in range(a.epochs):
    t = time.time()
    model.train()
    tot = torch.zeros((), device=dev); right = torch.zeros((), device=dev); n = 0
    for x, y in tl:
        x = x.to(dev, non_blocking=True); y = y.to(dev, non_blocking=True)
        z = model(x)
        loss = lossf(z, y.float().unsqueeze(1)) if binary else lossf(z, y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        tot += loss.detach() * x.shape[0]; right += right_of(z, y); n += x.shape[0]
    print(f"Epoch {e + 1}/{a.epochs}: loss {tot.item() / n:.4f} accuracy {right.item() / n:.4f} "
          f"({time.time() - t:.2f} s)", flush=True)
model.eval(); right = 0; n = 0
with torch.no_grad():
    for x, y in vl:
        right += right_of(model(x.to(dev)).cpu(), y).item(); n += len(y)
print(f"total {time.time() - T0:.2f} s")
print(f"test accuracy {right / n:.4f}")
