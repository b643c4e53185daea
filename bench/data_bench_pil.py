#!/usr/bin/env python3
"""data_bench_pil.py: the yardstick for bench/data_bench.c: Keras's load_img work done by Pillow,
per image: open, convert('RGB') when the mode is not RGB, resize((64, 64), NEAREST), exactly as
keras_preprocessing 1.1.0's load_img does it (which reads the file into BytesIO first; so do we),
over the files flow_from_directory would list in DIR. Best of REPS runs; with --procs P, P
worker processes share the files (a pool started before the clock). Prints one line:
"DIR images N procs P seconds S img_per_s R img_per_cpu_s C" (C: per CPU-second of this process,
one process only, 0 with --procs).
    data_bench_pil.py DIR [--procs P] [--reps 3] [--size 64]
"""
import argparse
import io
import multiprocessing
import os
import time

from PIL import Image

EXT = ("jpg", "jpeg", "png", "bmp", "gif")


def list_files(top):
    files = []
    for cls in sorted(os.listdir(top)):
        d = os.path.join(top, cls)
        if not os.path.isdir(d):
            continue
        for root, _, names in sorted(os.walk(d), key=lambda x: x[0]):
            files += [os.path.join(root, f) for f in sorted(names) if f.lower().endswith(EXT)]
    return files


def load(path, size=64):
    with open(path, "rb") as f:
        img = Image.open(io.BytesIO(f.read()))
        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.NEAREST)
        img.load()
    return img.size


def load_chunk(args):
    paths, size = args
    for p in paths:
        load(p, size)
    return len(paths)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    files = list_files(a.dir)
    best = best_cpu = float("inf")
    if a.procs <= 1:
        for _ in range(a.reps):
            t, tc = time.perf_counter(), time.process_time()
            for p in files:
                load(p, a.size)
            best = min(best, time.perf_counter() - t)
            best_cpu = min(best_cpu, time.process_time() - tc)
    else:
        chunks = [(files[i::a.procs * 8], a.size) for i in range(a.procs * 8)]
        with multiprocessing.Pool(a.procs) as pool:
            pool.map(load_chunk, [([files[0]], a.size)] * a.procs)  # start the workers
            for _ in range(a.reps):
                t = time.perf_counter()
                assert sum(pool.map(load_chunk, chunks)) == len(files)
                best = min(best, time.perf_counter() - t)
    cpu = len(files) / best_cpu if best_cpu < float("inf") else 0   # one process only
    print("%s images %d procs %d seconds %.4f img_per_s %.0f img_per_cpu_s %.0f"
          % (a.dir, len(files), a.procs, best, len(files) / best, cpu))


if __name__ == "__main__":
    main()
