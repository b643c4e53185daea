// gridmap_cuda.cu: the CUDA twin of nn/gridmap.c (grid_map): one thread per grid cell.
// defines: grid_map_cuda
//
// Mandelbrot must give the C path's iteration count on every pixel, so every float64 operation
// is written with a round-to-nearest intrinsic (__dmul_rn, __dadd_rn, __dsub_rn): nvcc never
// fuses those into a multiply-add, whatever --fmad says, so each product and each sum is
// rounded once, exactly as the C path (compiled without FP contraction) rounds it. Two rewrites
// save work without changing a bit of the result:
//  - |z|^2 of the escape test needs zr*zr and zi*zi, which are the next iteration's squares;
//    they are computed once and kept;
//  - the imaginary part zr*zi + zi*zr is t + t with t = zr*zi: IEEE multiplication commutes,
//    so both products are the same double.
// Blocks are 32 x 8: a warp is 32 neighbouring pixels of one row, which mostly escape at the
// same iteration (little divergence), and its int32 stores are one 128-byte line.
#include "cuda_common.h"

extern "C" {
#include "../nn/gridmap.h"
}

#define GM_BX 32
#define GM_BY 8

// out: (height, width). psx, psy: the pixel sizes, computed on the host as the C path does.
__global__ void __launch_bounds__(GM_BX * GM_BY)
mandelbrot_kernel(double min_x, double psx, double min_y, double psy, int width, int height,
                  int max_iters, int32_t *out) {
    const int x = blockIdx.x * GM_BX + threadIdx.x;
    const int y = blockIdx.y * GM_BY + threadIdx.y;
    if (x >= width || y >= height) return;
    const double cr = __dadd_rn(min_x, __dmul_rn((double)x, psx));
    const double ci = __dadd_rn(min_y, __dmul_rn((double)y, psy));
    double zr = 0.0, zi = 0.0, zr2 = 0.0, zi2 = 0.0;
    int i = 0;
    for (; i < max_iters; i++) {
        const double t = __dmul_rn(zr, zi);
        zr = __dadd_rn(__dsub_rn(zr2, zi2), cr);   // real part of z*z + c
        zi = __dadd_rn(__dadd_rn(t, t), ci);       // imaginary part
        zr2 = __dmul_rn(zr, zr);
        zi2 = __dmul_rn(zi, zi);
        if (__dadd_rn(zr2, zi2) >= 4.0) break;
    }
    out[(size_t)y * width + x] = i;
}

// Same contract as grid_map; out is a device pointer; runs on ctx's stream without synchronising.
extern "C" int grid_map_cuda(const nn_ctx *ctx, grid_fn fn, int width, int height,
                             const grid_params *p, int32_t *out, char *err) {
    if (grid_check(fn, width, height, p, err)) return -1;
    const unsigned gy = cdiv((size_t)height, GM_BY);
    if (gy > 65535u)
        return nn_fail(err, "grid_map: height %d is more than the CUDA grid allows (%d)", height,
                       65535 * GM_BY);
    const double psx = (p->max_x - p->min_x) / width;    // as the C path: once, on the host
    const double psy = (p->max_y - p->min_y) / height;
    dim3 grid(cdiv((size_t)width, GM_BX), gy), block(GM_BX, GM_BY);
    mandelbrot_kernel<<<grid, block, 0, ctx_stream(ctx)>>>(p->min_x, psx, p->min_y, psy, width,
                                                           height, p->max_iters, out);
    CUDA_CHECK_LAUNCH();
    return 0;
}
