# torch_train_e2e.py: the article's training as a PyTorch user would write it, timed as a whole
# process beside `nn train` (bench/gpu_bench.sh): torchvision ImageFolder on the JPEG folders,
# a DataLoader with worker processes, augmentation as close to Keras's ImageDataGenerator as
# torchvision gets (RandomAffine shear 0.2 degrees and zoom 0.8-1.2 -- torchvision's scale is
# one factor for both axes where Keras draws two -- and a horizontal flip; rescale to [0, 1] by
# ToTensor), the article's CNN, Adam (lr 1e-3, eps 1e-7 as Keras), binary cross-entropy,
# 25 epochs of batch 32, then the test accuracy, and the weights saved.
# usage: python3 bench/torch_train_e2e.py DATA_DIR [--epochs 25] [--batch 32] [--workers N] [--out F]
import argparse, os, time

T0 = time.time()
import torch, torch.nn as nn
from torchvision import datasets, transforms

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("--epochs", type=int, default=25)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
ap.add_argument("--out", default="/tmp/torch_catdog.pt")
a = ap.parse_args()
dev = torch.device("cuda")
torch.backends.cudnn.benchmark = True
nearest = transforms.InterpolationMode.NEAREST
train_tf = transforms.Compose([
    transforms.Resize((64, 64), interpolation=nearest),
    transforms.RandomAffine(degrees=0, shear=0.2, scale=(0.8, 1.2),
                            interpolation=transforms.InterpolationMode.BILINEAR),
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor()])
test_tf = transforms.Compose([transforms.Resize((64, 64), interpolation=nearest), transforms.ToTensor()])
train = datasets.ImageFolder(os.path.join(a.data, "training_set"), train_tf)
test = datasets.ImageFolder(os.path.join(a.data, "test_set"), test_tf)
print(f"Found {len(train)} images belonging to {len(train.classes)} classes.")
tl = torch.utils.data.DataLoader(train, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                                 pin_memory=True, persistent_workers=a.workers > 0)
vl = torch.utils.data.DataLoader(test, batch_size=256, num_workers=a.workers, pin_memory=True)
model = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(32 * 31 * 31, 128), nn.ReLU(), nn.Linear(128, 1)).to(dev)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
lossf = nn.BCEWithLogitsLoss()
for e in range(a.epochs):
    t = time.time()
    model.train()
    tot = torch.zeros((), device=dev); right = torch.zeros((), device=dev); n = 0
    for x, y in tl:
        x = x.to(dev, non_blocking=True); y = y.to(dev, non_blocking=True).float().unsqueeze(1)
        z = model(x); loss = lossf(z, y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        tot += loss.detach() * x.shape[0]; right += ((z > 0) == (y > 0.5)).sum(); n += x.shape[0]
    print(f"Epoch {e + 1}/{a.epochs}: loss {tot.item() / n:.4f} accuracy {right.item() / n:.4f} ({time.time() - t:.2f} s)", flush=True)
model.eval(); right = 0; n = 0
with torch.no_grad():
    for x, y in vl:
        z = model(x.to(dev)); right += ((z.squeeze(1) > 0).cpu() == (y > 0)).sum().item(); n += len(y)
print(f"test accuracy {right / n:.4f}")
torch.save(model.state_dict(), a.out)
print(f"total {time.time() - T0:.2f} s (in-script, after interpreter start)")
