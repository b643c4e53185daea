# ncu_summary.py: per-kernel median durations of one training step from
# `ncu --csv --metrics gpu__time_duration.sum nn bench ...` output (tests/cuda/device_run.sh,
# stage "profile"). usage: python3 ncu_summary.py FILE.csv STEPS_PROFILED
import collections, csv, statistics, sys

rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
if not rows:
    sys.exit("no ncu rows")
h = rows[0]
ki, gi, vi, ui = (h.index(k) for k in ("Kernel Name", "Grid Size", "Metric Value", "Metric Unit"))
steps = float(sys.argv[2])
scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}
d = collections.defaultdict(list)
for r in rows[1:]:
    d[(r[ki].split("(")[0][:44], r[gi])].append(float(r[vi].replace(",", "")) * scale.get(r[ui], 1.0))
tot = 0.0
for (name, grid), v in sorted(d.items(), key=lambda kv: -statistics.median(kv[1]) * len(kv[1])):
    m, per = statistics.median(v), len(v) / steps
    tot += m * per
    print(f"{name:44s} {grid:>14s} {m:9.2f} us x{per:.0f}/step")
print(f"sum of kernel medians per step: {tot:.1f} us")
