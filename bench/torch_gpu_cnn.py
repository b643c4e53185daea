# Yardstick on a GPU machine: PyTorch/cuDNN training of the article's CNN, a CuPy hand-written
# Mandelbrot kernel, and vector-add / copy bandwidth. Prints JSON.
# Copied from ../shared/yardstick/torch_gpu_cnn.py (the script the speed issue's targets were set
# with), unchanged but for: TORCH_COMPILE=1 to include the torch.compile rows (slow to compile,
# off by default), YARDSTICK_EXTRAS=0 to skip the bandwidth and Mandelbrot rows, and
# BATCHES=32,256,1024 to pick the batch sizes. bench/gpu_bench.sh runs it beside nn bench.
import time, json, sys, os
import torch, torch.nn as nn
import numpy as np

dev = torch.device("cuda")
torch.backends.cudnn.benchmark = True
res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}

def article_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 31 * 31, 128), nn.ReLU(), nn.Linear(128, 1))

def time_ms(fn, iters=200, warm=20):
    for _ in range(warm): fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); e.synchronize(); ts.append(s.elapsed_time(e))
    return float(np.median(ts))

def bench_train(batch, tf32, compiled=False, graphs=False):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    m = article_cnn().to(dev)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, fused=True, capturable=graphs)
    lossf = nn.BCEWithLogitsLoss()
    x = torch.rand(batch, 3, 64, 64, device=dev); y = torch.randint(0, 2, (batch, 1), device=dev).float()
    f = torch.compile(m) if compiled else m
    def step():
        opt.zero_grad(set_to_none=False)
        loss = lossf(f(x), y); loss.backward(); opt.step()
    if graphs:
        s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(5): step()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g): step()
        ms = time_ms(g.replay)
    else:
        ms = time_ms(step)
    return ms

def bench_infer(batch):
    m = article_cnn().to(dev).eval()
    x = torch.rand(batch, 3, 64, 64, device=dev)
    with torch.no_grad():
        return time_ms(lambda: torch.sigmoid(m(x)))

out = []
BATCHES = [int(b) for b in os.environ.get("BATCHES", "32,256,1024").split(",")]
for b in BATCHES:
    for tf32 in (False, True):
        ms = bench_train(b, tf32)
        out.append(("train eager", b, tf32, ms, b / ms * 1e3))
    ms = bench_train(b, False, graphs=True)
    out.append(("train eager+cudagraph", b, False, ms, b / ms * 1e3))
try:
    for b in ((32, 256) if os.environ.get("TORCH_COMPILE") == "1" else ()):
        ms = bench_train(b, False, compiled=True)
        out.append(("train compiled", b, False, ms, b / ms * 1e3))
except Exception as ex:
    print("compile failed", ex)
for b in (1, 32, 1024):
    ms = bench_infer(b); out.append(("infer", b, False, ms, b / ms * 1e3))
res["cnn"] = [dict(mode=a, batch=b, tf32=t, ms_per_step=round(ms, 4), img_per_s=round(ips)) for a, b, t, ms, ips in out]

# bandwidth: vector add c=a+b (float32), and a device copy
EXTRAS = os.environ.get("YARDSTICK_EXTRAS", "1") != "0"
n = 1 << 28 if EXTRAS else 1 << 20
a = torch.rand(n, device=dev); b = torch.rand(n, device=dev); c = torch.empty_like(a)
ms = time_ms(lambda: torch.add(a, b, out=c), iters=50)
res["vecadd_fp32_2^28"] = dict(ms=ms, GBps=3 * 4 * n / ms / 1e6)
ms = time_ms(lambda: c.copy_(a), iters=50)
res["copy_fp32_2^28"] = dict(ms=ms, GBps=2 * 4 * n / ms / 1e6)
# int32 vector add, as in the article
ai = torch.randint(0, 1000, (n,), device=dev, dtype=torch.int32); bi = ai.clone(); ci = torch.empty_like(ai)
ms = time_ms(lambda: torch.add(ai, bi, out=ci), iters=50)
res["vecadd_int32_2^28"] = dict(ms=ms, GBps=3 * 4 * n / ms / 1e6)
# host<->device copy of the article-sized and large arrays
h = torch.rand(n, pin_memory=True)
ms = time_ms(lambda: a.copy_(h, non_blocking=True), iters=20)
res["h2d_pinned_1GiB"] = dict(ms=ms, GBps=4 * n / ms / 1e6)

# Mandelbrot: a hand-written CUDA kernel through CuPy, article sizes 1536x1024, 20 iters, float64
try:
    if not EXTRAS: raise RuntimeError("skipped (YARDSTICK_EXTRAS=0)")
    import cupy as cp
    src = r'''
    extern "C" __global__ void mandel(double min_x, double max_x, double min_y, double max_y,
                                      unsigned char* img, int w, int h, int iters) {
        int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
        if (x >= w || y >= h) return;
        double cr = min_x + x * (max_x - min_x) / w, ci = min_y + y * (max_y - min_y) / h;
        double zr = 0, zi = 0; int i = 0;
        for (; i < iters; i++) { double t = zr*zr - zi*zi + cr; zi = 2*zr*zi + ci; zr = t;
            if (zr*zr + zi*zi >= 4) break; }
        img[y * w + x] = (unsigned char)i;
    }'''
    k = cp.RawKernel(src, "mandel")
    for (w, hgt, it) in ((1536, 1024, 20), (1536, 1024, 1000), (8192, 8192, 1000)):
        img = cp.zeros((hgt, w), dtype=cp.uint8)
        grid = ((w + 15) // 16, (hgt + 15) // 16)
        f = lambda: k(grid, (16, 16), (np.float64(-2.0), np.float64(1.0), np.float64(-1.0), np.float64(1.0), img, np.int32(w), np.int32(hgt), np.int32(it)))
        for _ in range(10): f()
        cp.cuda.Device().synchronize()
        s = cp.cuda.Event(); e = cp.cuda.Event(); ts = []
        for _ in range(50):
            s.record(); f(); e.record(); e.synchronize(); ts.append(cp.cuda.get_elapsed_time(s, e))
        res[f"mandel_cupy_{w}x{hgt}_{it}"] = dict(ms=float(np.median(ts)))
except Exception as ex:
    res["mandel_err"] = str(ex)
print(json.dumps(res, indent=1))
os.makedirs(os.environ.get("OUT", "/tmp"), exist_ok=True)
json.dump(res, open(os.path.join(os.environ.get("OUT", "/tmp"), "anchors.json"), "w"), indent=1)
