#!/usr/bin/env python3
"""demo_cupy.py: the yardstick's side of bench/demo_bench.sh, measured in the same run as ours.

- The Mandelbrot kernel hand-written in CUDA C and launched through CuPy, exactly as in
  ../shared/yardstick/torch_gpu_cnn.py (float64, 16x16 blocks, uint8 output), timed two ways:
  events around one Python launch, median of 50 (the yardstick's own method, which includes
  CuPy's launch overhead), and the mean of 200 launches back to back between two events.
- PyTorch's int32 vector add and device copy at 2^28 elements (the yardstick's bandwidth lines).
Prints one line per figure, "name value unit", for the bench script to collect.
"""
import numpy as np

SRC = r'''
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


def cupy_mandel():
    import cupy as cp
    k = cp.RawKernel(SRC, "mandel")
    for (w, h, it) in ((1536, 1024, 20), (8192, 8192, 1000)):
        img = cp.zeros((h, w), dtype=cp.uint8)
        grid = ((w + 15) // 16, (h + 15) // 16)
        args = (np.float64(-2.0), np.float64(1.0), np.float64(-1.0), np.float64(1.0), img,
                np.int32(w), np.int32(h), np.int32(it))
        f = lambda: k(grid, (16, 16), args)
        for _ in range(10):
            f()
        cp.cuda.Device().synchronize()
        s, e = cp.cuda.Event(), cp.cuda.Event()
        reps = 50 if it <= 20 else 10
        ts = []
        for _ in range(reps):
            s.record(); f(); e.record(); e.synchronize()
            ts.append(cp.cuda.get_elapsed_time(s, e))
        print(f"cupy_mandel_{w}x{h}x{it}_single {np.median(ts):.6f} ms")
        burst = 200 if it <= 20 else 10
        s.record()
        for _ in range(burst):
            f()
        e.record(); e.synchronize()
        print(f"cupy_mandel_{w}x{h}x{it}_burst {cp.cuda.get_elapsed_time(s, e) / burst:.6f} ms")


def torch_bandwidth():
    import torch
    dev = torch.device("cuda")
    n = 1 << 28

    def time_ms(fn, iters=30, warm=5):
        for _ in range(warm):
            fn()
        torch.cuda.synchronize()
        ts = []
        for _ in range(iters):
            s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); e.synchronize(); ts.append(s.elapsed_time(e))
        return float(np.median(ts))

    ai = torch.randint(0, 1000, (n,), device=dev, dtype=torch.int32)
    bi = ai.clone(); ci = torch.empty_like(ai)
    ms = time_ms(lambda: torch.add(ai, bi, out=ci))
    print(f"torch_add_int32_2^28 {3 * 4 * n / ms / 1e6:.1f} GB/s")
    ms = time_ms(lambda: ci.copy_(ai))
    print(f"torch_copy_int32_2^28 {2 * 4 * n / ms / 1e6:.1f} GB/s")
    print(f"torch_device {torch.cuda.get_device_name(0)}")


if __name__ == "__main__":
    for part in (cupy_mandel, torch_bandwidth):
        try:
            part()
        except Exception as ex:  # report and go on: the other half is still worth having
            print(f"{part.__name__}_error {type(ex).__name__}: {ex}")
