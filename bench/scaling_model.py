#!/usr/bin/env python3
"""scaling_model.py: the predicted data-parallel scaling of bench/RESULTS.md ("Data-parallel scaling on paper") (issue 16), printed
as its markdown tables. Plain arithmetic on the figures below, each with its source in bench/RESULTS.md;
change one (a measured step, a measured bus bandwidth) and run it again:

    python3 bench/scaling_model.py            # the tables
    python3 bench/scaling_model.py --plan catdog:32=0.16,catdog:256=0.55,...   # measured dp-plan steps (ms)

Model (weak scaling: every GPU keeps its batch b, the global batch is N*b):
    S        = 4 P bytes                     fp32 gradients all-reduced per step
    T_ar(S)  = alpha + 2 (N-1)/N * S / B     ring all-reduce, B = NCCL's bus bandwidth (busbw)
    T_c'     = T_c + d                       one GPU's step with the data-parallel plan (d: its cost)
    no overlap:  T_N = T_c' + T_ar(S)
    overlap:     T_N = T_c' + max(0, T_ar(S_big) - W) + T_ar(S_rest)
                 (S_big: the bucket sent while the backward pass of the layers below, W long, runs;
                  S_rest: the last bucket, sent after the backward pass)
    efficiency E = T_c' / T_N;   throughput = N b / T_N;   speed-up over today's one GPU = N T_c / T_N
"""
import sys

# one H100, bench/nccl_overhead.sh of 2026-12-07 22:30 UTC (bench/RESULTS.md): nn bench --device
# cuda, the step replayed as one CUDA graph, img/s; plain, and with the data-parallel plan
PLAIN = {("catdog", 32): 264620, ("catdog", 256): 500657, ("catdog3", 32): 60339, ("catdog3", 256): 82841}
DP = {("catdog", 32): 195274, ("catdog", 256): 492368, ("catdog3", 32): 56221, ("catdog3", 256): 83602}
STEP = {k: k[1] / v * 1e3 for k, v in PLAIN.items()}   # ms a step
PARAMS = {"catdog": 3937409, "catdog3": 1142081}
# the buckets (cuda/nccl_cuda.cu, 4 MB): the first is sent as soon as the dense layers' gradients
# are done; the rest after the backward pass
BIG = {"catdog": 3936384 + 129, "catdog3": 1048704 + 129}
# W: the backward pass that runs beside the first bucket (ms): catdog, the fused conv + pool
# backward (profile of 2026-12-07: 0.0325 / 0.1715 ms); catdog3, the three conv blocks' backward
# (the 256 profile in RESULTS.md: 467+315+443+379+164+101+52 us = 1.921 ms; at 32 scaled by the
# step, 1.921 * 0.528 / 3.068)
WINDOW = {("catdog", 32): 0.0325, ("catdog", 256): 0.1715,
          ("catdog3", 32): 1.921 * (32 / 60641) / (256 / 83456), ("catdog3", 256): 1.921}
# d: the data-parallel plan's extra cost on one GPU, measured (its dp-plan column): the dense
# dW no longer fused into Adam nor run beside the conv backward on the second stream; within
# noise at 256 (catdog3's dp-plan measured 1% faster than plain: d < 0)
PLAN = {k: k[1] / DP[k] * 1e3 - STEP[k] for k in DP}
# networks: (label, N, busbw GB/s, alpha us); sources and reasons in bench/RESULTS.md
NETS = [("NVLink, one node (ring, NVLS off)", 2, 329, 15),
        ("NVLink, one node (ring, NVLS off)", 8, 361, 15),
        ("8 nodes x 8, a 400 Gb/s NIC per GPU", 64, 350, 70),
        ("400 Gb/s network", 2, 46, 25),
        ("400 Gb/s network", 8, 46, 45),
        ("400 Gb/s network", 64, 46, 70)]

def t_ar(nbytes, n, busbw, alpha_us):   # ms
    if nbytes <= 0 or n == 1:
        return 0.0
    return alpha_us * 1e-3 + 2 * (n - 1) / n * nbytes / (busbw * 1e9) * 1e3


def main():
    for a in sys.argv[1:]:
        if a.startswith("--plan"):
            for kv in a.split("=", 1)[1].split(","):   # catdog:32=0.16: the measured dp-plan step
                k, v = kv.split("=")
                m, b = k.split(":")
                PLAN[(m, int(b))] = float(v) - STEP[(m, int(b))]
    for m in ("catdog", "catdog3"):
        s = 4 * PARAMS[m]
        s_big, s_rest = 4 * BIG[m], 4 * (PARAMS[m] - BIG[m])
        for b in (32, 256):
            tc, d, w = STEP[(m, b)], PLAN[(m, b)], WINDOW[(m, b)]
            tcp = tc + d
            print(f"\n**{m}.cfg, {b} images a GPU** ({PARAMS[m]:,} parameters, {s / 1e6:.2f} MB a step; "
                  f"one GPU: T_c = {tc:.4f} ms plain, T_c' = {tcp:.4f} ms with the data-parallel plan; "
                  f"W = {w:.4f} ms)\n")
            print("| network | GPUs | T_ar (all) ms | T_ar (first / last bucket) ms | E, no overlap | E, overlap | img/s (overlap) | x one GPU today |")
            print("|---|---|---|---|---|---|---|---|")
            for label, n, bw, al in NETS:
                ta = t_ar(s, n, bw, al)
                tb, tr = t_ar(s_big, n, bw, al), t_ar(s_rest, n, bw, al)
                t_no = tcp + ta
                t_ov = tcp + max(0.0, tb - w) + tr
                print(f"| {label} | {n} | {ta:.4f} | {tb:.4f} / {tr:.4f} | {tcp / t_no:.0%} | {tcp / t_ov:.0%} | "
                      f"{n * b / t_ov * 1e3:,.0f} | {n * tc / t_ov:.1f}x |")


if __name__ == "__main__":
    main()
