#!/usr/bin/env python3
# torch_gpu_models.py: PyTorch's training step for any nn model file, on the card that
# `nn bench --device cuda` runs on, so that each model's nn figure has a yardstick beside it
# (bench/gpu_models.sh runs both and prints the table).
#
# The model file (nn/cfg.c) becomes the same torch.nn.Sequential in NCHW: Keras 'same' padding
# (the odd pixel bottom/right, as nn's layers do), the last sigmoid folded into
# BCEWithLogitsLoss, Adam lr 1e-3 (fused), FP32 with TF32 off, cudnn.benchmark on. Each batch is
# timed eager and as one captured CUDA graph (the whole step: the torch.cuda.graph recipe with a
# side-stream warm-up, static tensors, Adam(capturable=True), as in bench/torch_gpu_cnn.py),
# each in NCHW and channels_last; the faster layout of each mode is kept and named. Timing: CUDA
# events around a loop of --steps steps after --warmup, three times, the median ms/step.
#
# usage: torch_gpu_models.py MODEL.cfg... [--batches 32,256,1024] [--steps 200] [--warmup 30]
#        torch_gpu_models.py MODEL.cfg... --check   (CPU: build, one forward/backward at
#                                                    batch 2, the parameter count)
# Prints one JSON object a line; with OUT set, also merges them into $OUT/torch_models.json.
import argparse, json, math, os, statistics, sys
os.environ.pop("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", None)   # NGC containers set it: TF32 on in cuBLAS
import torch, torch.nn as nn

# --- the model file: "input H W C", then one layer a line with key=value options, '#' comments

def dims(v):   # "N" or "HxW", as nn/cfg.c's parse_dims
    a, _, b = v.partition("x")
    return int(a), int(b or a)

def same_pad(size, k, s):   # Keras 'same': ceil(size / s) outputs, the odd pixel at the end
    out = -(-size // s)
    p = max((out - 1) * s + k - size, 0)
    return p // 2, p - p // 2

def build(path):
    """The model as an nn.Sequential (NCHW, logits out) and its input shape (C, H, W)."""
    shape, mods, flat = None, [], False
    for n, line in enumerate(open(path), 1):
        words = line.split("#")[0].split()
        if not words: continue
        kind, where = words[0], f"{path}:{n}"
        opts = {} if kind == "input" else dict(kv.split("=", 1) for kv in words[1:])
        opts.pop("name", None)
        if kind == "input":
            h, w, c = (int(x) for x in words[1:4])
            shape = (c, h, w)
        elif kind == "conv2d":
            (kh, kw), (sh, sw) = dims(opts["kernel"]), dims(opts.get("stride", "1"))
            f, bias = int(opts["filters"]), opts.get("bias", "true") in ("1", "true")
            pad = (0, 0)
            if opts.get("padding", "valid") == "same":
                (t, b), (l, r) = same_pad(h, kh, sh), same_pad(w, kw, sw)
                if (sh, sw) == (1, 1): pad = "same"
                elif (t, l) == (b, r): pad = (t, l)
                else: mods.append(nn.ZeroPad2d((l, r, t, b)))
                h, w = h + t + b, w + l + r   # the padded size, for the output size below
            mods.append(nn.Conv2d(c, f, (kh, kw), (sh, sw), pad, bias=bias))
            h, w, c = (h - kh) // sh + 1, (w - kw) // sw + 1, f
            act = opts.get("activation", "linear")
        elif kind == "maxpool2d":
            kh, kw = dims(opts.get("pool", "2"))
            sh, sw = dims(opts.get("stride", f"{kh}x{kw}"))
            pad = (0, 0)
            if opts.get("padding", "valid") == "same":
                (t, b), (l, r) = same_pad(h, kh, sh), same_pad(w, kw, sw)
                if (t, l) == (b, r): pad = (t, l)   # MaxPool2d pads with -inf itself
                else: mods.append(nn.ConstantPad2d((l, r, t, b), -math.inf))
                h, w = h + t + b, w + l + r
            mods.append(nn.MaxPool2d((kh, kw), (sh, sw), pad))
            h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
            act = "linear"
        elif kind == "flatten":
            mods.append(nn.Flatten())
            c, flat, act = c * h * w, True, "linear"
        elif kind == "dense":
            if not flat: sys.exit(f"{where}: dense needs a flat input: add 'flatten' before it")
            bias = opts.get("bias", "true") in ("1", "true")
            mods.append(nn.Linear(c, int(opts["units"]), bias=bias))
            c, act = int(opts["units"]), opts.get("activation", "linear")
        elif kind == "activation":
            act = opts["fn"]
        elif kind == "batchnorm":   # Keras's momentum m is PyTorch's 1 - m
            eps, mom = float(opts.get("epsilon", "1e-3")), float(opts.get("momentum", "0.99"))
            mods.append((nn.BatchNorm1d if flat else nn.BatchNorm2d)(c, eps=eps, momentum=1 - mom))
            act = "linear"
        elif kind == "dropout":
            mods.append(nn.Dropout(float(opts["rate"])))
            act = "linear"
        else:
            sys.exit(f"{where}: unknown layer '{kind}'")
        if kind != "input" and act != "linear":
            mods.append({"relu": nn.ReLU, "sigmoid": nn.Sigmoid}[act]())
    if shape is None or not mods: sys.exit(f"{path}: needs 'input H W C' and a layer")
    if isinstance(mods[-1], nn.Sigmoid): mods.pop()   # BCEWithLogitsLoss applies it
    outs = c if flat else c * h * w
    if outs != 1: sys.exit(f"{path}: the bench trains one sigmoid output, this model has {outs}")
    return nn.Sequential(*mods), shape

# --- timing on the GPU

def loop_ms(fn, steps, reps=3):
    """Median over reps of (CUDA event time of `steps` calls) / steps."""
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(steps): fn()
        e.record(); e.synchronize()
        ts.append(s.elapsed_time(e) / steps)
    return statistics.median(ts)

LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}

def bench(path, batch, graph, layout, steps, warmup):
    dev, fmt = torch.device("cuda"), LAYOUTS[layout]
    torch.manual_seed(0)
    m, (c, h, w) = build(path)
    m = m.to(dev, memory_format=fmt)   # channels_last reaches the 4-D (conv) weights only
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, fused=True, capturable=graph)
    lossf = nn.BCEWithLogitsLoss()
    x = torch.rand(batch, c, h, w, device=dev).contiguous(memory_format=fmt)   # (N, C, H, W)
    y = torch.randint(0, 2, (batch, 1), device=dev).float()                   # (N, 1)
    def step():
        opt.zero_grad(set_to_none=True)
        lossf(m(x), y).backward()
        opt.step()
    if not graph:
        for _ in range(warmup): step()
        return loop_ms(step, steps)
    s = torch.cuda.Stream()   # warm-up (cuDNN autotuning, Adam state) off the capture stream
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(max(warmup, 3)): step()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)   # backward in the graph then writes fresh grads each replay
    with torch.cuda.graph(g):
        lossf(m(x), y).backward()
        opt.step()
    for _ in range(warmup): g.replay()
    return loop_ms(g.replay, steps)

def check(paths):
    for p in paths:
        m, (c, h, w) = build(p)
        x = torch.rand(2, c, h, w)
        out = m(x)
        nn.BCEWithLogitsLoss()(out, torch.ones_like(out)).backward()
        n = sum(t.numel() for t in m.parameters())
        print(f"{p}: {n:,} parameters, output {tuple(out.shape)}, forward/backward ok")

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--batches", default="32,256,1024")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--check", action="store_true", help="CPU: build, forward/backward, parameter count")
    a = ap.parse_args()
    if a.check: return check(a.models)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    env = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "tf32": torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32}
    rows = []
    for path in a.models:
        for b in (int(v) for v in a.batches.split(",")):
            for mode in ("eager", "graph"):
                ms = {}
                for layout in LAYOUTS:
                    try: ms[layout] = bench(path, b, mode == "graph", layout, a.steps, a.warmup)
                    except Exception as ex: print(f"{path} batch {b} {mode} {layout}: {ex}", file=sys.stderr)
                    torch.cuda.empty_cache()
                best = min(ms, key=ms.get) if ms else None
                row = dict(model=os.path.basename(path), batch=b, mode=mode, layout=best,
                           ms_per_step=round(ms[best], 4) if best else None,
                           img_s=round(b / ms[best] * 1e3) if best else None,
                           ms_by_layout={k: round(v, 4) for k, v in ms.items()},
                           steps=a.steps, warmup=a.warmup, **env)
                print(json.dumps(row), flush=True)
                rows.append(row)
                save(rows)

def save(rows):
    """Merges rows into $OUT/torch_models.json (gpu_models.sh runs this once per model), after
    each row so that a run cut short keeps what it measured."""
    if not os.environ.get("OUT"): return
    f = os.path.join(os.environ["OUT"], "torch_models.json")
    new = {(r["model"], r["batch"], r["mode"]) for r in rows}
    old = json.load(open(f)) if os.path.exists(f) else []
    old = [r for r in old if (r["model"], r["batch"], r["mode"]) not in new]
    json.dump(old + rows, open(f, "w"), indent=1)

if __name__ == "__main__":
    main()
