#!/usr/bin/env python3
"""mandelbrot_ref.py: the oracle for `nn demo mandelbrot` and grid_map (tests/test_demo.c).

Computes the article's Mandelbrot image with plain Python, independently of the C and CUDA
code, and writes the sum of all iteration counts and a checksum per row to a fixture:

    tests/fixtures/mandelbrot_WxHxI.txt

Two independent computations must agree on every pixel before anything is written:
  - the article's code, literally (Python complex numbers: z = z*z + c);
  - the same recurrence spelled out on floats (re = zr*zr - zi*zi + cr, im = zr*zi + zi*zr + ci).
Python floats are IEEE float64 and every operation is rounded on its own (no fused
multiply-add), which is what the C and CUDA paths are compiled to do.

Usage: mandelbrot_ref.py [W H ITERS MIN_X MAX_X MIN_Y MAX_Y]   (default: 1536 1024 20 -2 1 -1 1)
"""
import os
import sys


def mandel(x, y, max_iters):
    # The article's function, unchanged.
    c = complex(x, y)
    z = 0.0j
    for i in range(max_iters):
        z = z * z + c
        if (z.real * z.real + z.imag * z.imag) >= 4:
            return i
    return max_iters


def mandel_floats(cr, ci, max_iters):
    zr = zi = 0.0
    for i in range(max_iters):
        zr, zi = zr * zr - zi * zi + cr, zr * zi + zi * zr + ci
        if zr * zr + zi * zi >= 4.0:
            return i
    return max_iters


def main():
    args = sys.argv[1:] or ["1536", "1024", "20", "-2", "1", "-1", "1"]
    w, h, iters = int(args[0]), int(args[1]), int(args[2])
    min_x, max_x, min_y, max_y = map(float, args[3:7])
    # The article's create_fractal: pixel size once, then one multiply and one add per pixel.
    pixel_size_x = (max_x - min_x) / w
    pixel_size_y = (max_y - min_y) / h
    rows = []
    for y in range(h):
        imag = min_y + y * pixel_size_y
        s = wsum = 0
        for x in range(w):
            real = min_x + x * pixel_size_x
            n = mandel(real, imag, iters)
            m = mandel_floats(real, imag, iters)
            if n != m:
                sys.exit(f"pixel ({x}, {y}): complex form {n}, float form {m}: not writing a fixture")
            s += n
            wsum += (x + 1) * n
        rows.append((s, wsum))
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "fixtures", f"mandelbrot_{w}x{h}x{iters}.txt")
    with open(path, "w") as f:
        f.write(f"# written by tests/oracles/mandelbrot_ref.py {' '.join(args)}\n")
        f.write("# params W H ITERS MIN_X MAX_X MIN_Y MAX_Y; sum of all counts; then per row y: the sum of\n")
        f.write("# its counts and the sum of (x + 1) * count (catches pixels moved within a row)\n")
        f.write(f"params {w} {h} {iters} {min_x!r} {max_x!r} {min_y!r} {max_y!r}\n")
        f.write(f"sum {sum(r[0] for r in rows)}\n")
        for y, (s, wsum) in enumerate(rows):
            f.write(f"row {y} {s} {wsum}\n")
    print(f"wrote {os.path.normpath(path)}: sum {sum(r[0] for r in rows)}")


if __name__ == "__main__":
    main()
