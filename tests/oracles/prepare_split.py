#!/usr/bin/env python3
"""prepare_split.py: the split `nn prepare` must make, computed independently of the C code.

Re-implements the rule stated in data/prepare.h (names LABEL.N.EXT, per class the files sorted by
N then name, Fisher-Yates with xoshiro256** seeded by splitmix64(seed ^ FNV-1a-64(label)), the
first round(n * split) to test_set) so that tests/test_prepare.sh can compare the folders
`nn prepare` wrote with what the documented rule gives.

usage: prepare_split.py SRC SEED SPLIT   -> one line per image: SET/FOLDER/NAME, sorted
"""
import math
import os
import re
import sys

M64 = (1 << 64) - 1
IMAGE = re.compile(r"^([A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*)\.([0-9]+)\.(jpg|jpeg|png|bmp|gif)$",
                   re.IGNORECASE)


class Xoshiro:
    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):  # splitmix64
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):  # xoshiro256**
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def below(self, n):  # Lemire's multiply-shift with rejection, on the low 32 bits
        m = (self.next() & 0xFFFFFFFF) * n
        lo = m & 0xFFFFFFFF
        if lo < n:
            t = ((1 << 32) - n) % n
            while lo < t:
                m = (self.next() & 0xFFFFFFFF) * n
                lo = m & 0xFFFFFFFF
        return m >> 32


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def split(src, seed, frac):
    classes = {}
    for name in os.listdir(src):
        m = IMAGE.match(name)
        if m and os.path.isfile(os.path.join(src, name)):
            classes.setdefault(m.group(1), []).append((int(m.group(2)), name))
    out = []
    for label, files in sorted(classes.items()):
        files = [name for _, name in sorted(files)]
        perm = list(range(len(files)))
        g = Xoshiro(seed ^ fnv1a64(label))
        for i in range(len(perm) - 1, 0, -1):
            j = g.below(i + 1)
            perm[i], perm[j] = perm[j], perm[i]
        ntest = math.floor(len(files) * frac + 0.5)
        for rank, idx in enumerate(perm):
            out.append("%s/%ss/%s" % ("test_set" if rank < ntest else "training_set", label, files[idx]))
    return sorted(out)


if __name__ == "__main__":
    for line in split(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])):
        print(line)
