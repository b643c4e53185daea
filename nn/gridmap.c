// gridmap.c: the C path of the index-grid op (grid_map), and the reference for its CUDA twin.
//
// The Mandelbrot function is the article's Numba code, read literally:
//     c = complex(x, y); z = 0j
//     for i in range(max_iters):
//         z = z*z + c
//         if z.real*z.real + z.imag*z.imag >= 4: return i
//     return max_iters
// with z*z as Python multiplies complex numbers: (zr*zr - zi*zi) + (zr*zi + zi*zr)i.
//
// No fused multiply-add: with FMA contraction the compiler may round a*b + c once instead of
// twice, and then a pixel near the set's border can escape one iteration earlier or later here
// than on the GPU. The Makefile's -std=c11 already implies -ffp-contract=off, but -std=gnu11 or
// -march=native builds would fuse (checked: 6 vfmadd in this file under -std=gnu11
// -march=haswell without the pragma, 0 with it), so the pragma below pins it for this file. The
// CUDA twin uses the round-to-nearest intrinsics for the same reason.
#pragma GCC optimize("fp-contract=off")

#include "gridmap.h"

#include <math.h>
#include <omp.h>

#include "common.h"

const char *grid_fn_name(grid_fn fn) {
    return fn == GRID_MANDELBROT ? "mandelbrot" : "?";
}

int grid_check(grid_fn fn, int width, int height, const grid_params *p, char *err) {
    if (fn < 0 || fn >= GRID_FN_COUNT) return nn_fail(err, "grid_map: unknown function %d", (int)fn);
    if (width < 1 || height < 1)
        return nn_fail(err, "grid_map: the grid must be at least 1 x 1 (got %d x %d)", width, height);
    if (!p) return nn_fail(err, "grid_map: no parameters given");
    if (!isfinite(p->min_x) || !isfinite(p->max_x) || !(p->max_x > p->min_x))
        return nn_fail(err, "grid_map: x range %g:%g must be finite with min < max", p->min_x, p->max_x);
    if (!isfinite(p->min_y) || !isfinite(p->max_y) || !(p->max_y > p->min_y))
        return nn_fail(err, "grid_map: y range %g:%g must be finite with min < max", p->min_y, p->max_y);
    if (p->max_iters < 1)
        return nn_fail(err, "grid_map: max_iters must be at least 1 (got %d)", p->max_iters);
    return 0;
}

int grid_mandelbrot_point(double cr, double ci, int max_iters) {
    double zr = 0.0, zi = 0.0;
    for (int i = 0; i < max_iters; i++) {
        double re = zr * zr - zi * zi + cr;   // real part of z*z + c
        double im = zr * zi + zi * zr + ci;   // imaginary part
        zr = re;
        zi = im;
        if (zr * zr + zi * zi >= 4.0) return i;
    }
    return max_iters;
}

// out: (height, width). Rows go to threads dynamically: rows through the set take max_iters
// per pixel while rows outside it escape at once, so a static split would leave cores idle.
static void grid_mandelbrot(int threads, int width, int height, const grid_params *p,
                            int32_t *out) {
    const double psx = (p->max_x - p->min_x) / width;    // the article's pixel_size_x
    const double psy = (p->max_y - p->min_y) / height;
    const int iters = p->max_iters;
    const int nt = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int y = 0; y < height; y++) {
        double ci = p->min_y + y * psy;
        int32_t *row = out + (size_t)y * width;
        for (int x = 0; x < width; x++) row[x] = grid_mandelbrot_point(p->min_x + x * psx, ci, iters);
    }
}

int grid_map(const nn_ctx *ctx, grid_fn fn, int width, int height, const grid_params *p,
             int32_t *out, char *err) {
    if (grid_check(fn, width, height, p, err)) return -1;
    if (ctx && ctx->backend == NN_CUDA) return grid_map_cuda(ctx, fn, width, height, p, out, err);
    grid_mandelbrot(ctx ? ctx->threads : 0, width, height, p, out);
    return 0;
}
