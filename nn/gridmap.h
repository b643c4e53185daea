// gridmap.h: the engine's index-grid op. out[y][x] = fn(x, y, params) for every cell of a
// width x height grid, on the C path (OpenMP over rows) or, when ctx->backend is NN_CUDA,
// through its CUDA twin grid_map_cuda (one thread per cell; `out` is then a device pointer).
// The Mandelbrot demo is its first function; the table of functions (grid_fn) is where the
// next one goes.
//
// Exactness: the C and CUDA paths return the same int32 on every cell. For Mandelbrot that needs
// IEEE float64 with no fused multiply-add on either side: nn/gridmap.c is compiled with
// fp-contract=off (a #pragma in the file), and cuda/gridmap_cuda.cu spells every operation with
// the round-to-nearest intrinsics __dmul_rn/__dadd_rn/__dsub_rn, which nvcc never fuses.
#ifndef NN_GRIDMAP_H
#define NN_GRIDMAP_H

#include <stdint.h>

#include "ctx.h"

typedef enum {
    GRID_MANDELBROT = 0,  // iteration count of z = z^2 + c from 0 (the article's `mandel`)
    GRID_FN_COUNT
} grid_fn;

// The plane window mapped onto the grid, and the iteration limit. Cell (x, y) stands for the
// point (min_x + x * (max_x - min_x) / width, min_y + y * (max_y - min_y) / height), computed
// exactly as the article does: the pixel size once, then one multiply and one add.
typedef struct {
    double min_x, max_x, min_y, max_y;
    int max_iters;
} grid_params;

// Checks the arguments (sizes >= 1, finite window with max > min, max_iters >= 1); returns -1
// with the reason in err.
int grid_check(grid_fn fn, int width, int height, const grid_params *p, char *err);

// out: (height, width) int32, row-major. Returns 0, or -1 with the reason in err.
int grid_map(const nn_ctx *ctx, grid_fn fn, int width, int height, const grid_params *p,
             int32_t *out, char *err);
int grid_map_cuda(const nn_ctx *ctx, grid_fn fn, int width, int height, const grid_params *p,
                  int32_t *out, char *err);

// The article's `mandel(x, y, max_iters)` for one point, on the C path: the index of the
// iteration at which |z|^2 >= 4 first holds, else max_iters.
int grid_mandelbrot_point(double cr, double ci, int max_iters);

const char *grid_fn_name(grid_fn fn);

#endif
