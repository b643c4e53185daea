#!/usr/bin/env python3
# h5_same.py A.h5 B.h5 [--min N]: exit 0 when the two files hold the same datasets, bit for bit
# (a resumed run against the unbroken one); else a line naming the first that differ. --min N:
# also fail when there are fewer than N datasets (a file that lost its layers). Used by
# tests/test_every_layer.sh and tests/test_classes.sh.
import sys

import h5py
import numpy as np


def walk(g, p=""):
    out = {}
    for k in g:
        if isinstance(g[k], h5py.Dataset):
            out[p + k] = np.asarray(g[k][()])
        else:
            out.update(walk(g[k], p + k + "/"))
    return out


args = sys.argv[1:]
least = 0
if "--min" in args:
    i = args.index("--min")
    least = int(args[i + 1])
    del args[i:i + 2]
a, b = (walk(h5py.File(f, "r")) for f in args[:2])
bad = [k for k in a if k not in b or a[k].tobytes() != b[k].tobytes()]
if len(a) < least or bad or set(a) != set(b):
    sys.exit("differ: %s (of %d datasets; only in one: %s)" % (bad[:5], len(a), sorted(set(a) ^ set(b))[:5]))
