// demo_cuda.cu: the device half of `nn demo` and of its GPU tests: upload the inputs, run the
// engine's own op (ew_apply, grid_map) with a CUDA context, download the result, and time it.
// defines: cuda_demo_add, cuda_demo_grid
//
// Timing follows the usual rules: warm-up runs first (module load, first-touch of the buffers),
// then CUDA events on the context's stream. Two figures per op: the median of single launches,
// each between its own pair of events (what the yardstick's CuPy timing measures: it includes
// the gap while the host launches), and one launch's share of a burst of launches back to back
// between two events (kernel time only). The copy bandwidth that the vector add is compared with
// is measured here too, on the same buffers: a device-to-device cudaMemcpyAsync.
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "cuda_common.h"

extern "C" {
#include "../nn/cuda_api.h"
#include "../nn/elementwise.h"
#include "../nn/gridmap.h"
}

#define DEMO_WARMUP 3

// Runs op() warm-up times, then times it: *single = median of reps single launches, *burst =
// mean of reps launches back to back. op returns 0, or -1 to stop (its error is reported by the
// caller).
template <typename F>
static int demo_time(cudaStream_t s, int reps, F op, double *single, double *burst) {
    for (int i = 0; i < DEMO_WARMUP; i++)
        if (op()) return -1;
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    std::vector<float> ms((size_t)reps);
    for (int r = 0; r < reps; r++) {
        CUDA_CHECK(cudaEventRecord(e0, s));
        if (op()) return -1;
        CUDA_CHECK(cudaEventRecord(e1, s));
        CUDA_CHECK(cudaEventSynchronize(e1));
        CUDA_CHECK(cudaEventElapsedTime(&ms[(size_t)r], e0, e1));
    }
    std::sort(ms.begin(), ms.end());
    *single = reps % 2 ? ms[(size_t)reps / 2] : 0.5 * (ms[(size_t)reps / 2 - 1] + ms[(size_t)reps / 2]);
    CUDA_CHECK(cudaEventRecord(e0, s));
    for (int r = 0; r < reps; r++)
        if (op()) return -1;
    CUDA_CHECK(cudaEventRecord(e1, s));
    CUDA_CHECK(cudaEventSynchronize(e1));
    float total = 0;
    CUDA_CHECK(cudaEventElapsedTime(&total, e0, e1));
    *burst = total / reps;
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    return 0;
}

static int demo_need_cuda(const nn_ctx *ctx, const char *who, char *err) {
    if (!ctx || ctx->backend != NN_CUDA)
        return nn_fail(err, "%s: the context is not a CUDA context (cuda_ctx_init first)", who);
    return 0;
}

extern "C" int cuda_demo_add(const nn_ctx *ctx, size_t n, const int32_t *a, const int32_t *b,
                             int32_t *out, int reps, cuda_demo_times *t, char *err) {
    if (demo_need_cuda(ctx, "cuda_demo_add", err)) return -1;
    memset(t, 0, sizeof *t);
    if (n == 0) return 0;
    const size_t bytes = n * sizeof(int32_t);
    cudaStream_t s = ctx_stream(ctx);
    int32_t *da = (int32_t *)CUDA_MALLOC(bytes, "the demo's array a", -1);
    int32_t *db = (int32_t *)CUDA_MALLOC(bytes, "the demo's array b", -1);
    int32_t *dc = (int32_t *)CUDA_MALLOC(bytes, "the demo's array c", -1);
    int rc = 0;
    // Touch the host output first: a fresh allocation page-faults inside the copy, which then
    // runs at a fraction of the bus speed and would be counted as transfer time.
    memset(out, 0, bytes);
    CUDA_CHECK(cudaStreamSynchronize(s));
    double t0 = nn_now();
    CUDA_CHECK(cudaMemcpyAsync(da, a, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(db, b, bytes, cudaMemcpyHostToDevice, s));
    if (ew_apply(ctx, EW_ADD, DT_I32, n, da, db, dc)) {
        rc = nn_fail(err, "cuda_demo_add: ew_apply refused int32 add");
        goto done;
    }
    CUDA_CHECK(cudaMemcpyAsync(out, dc, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    t->total_ms = (nn_now() - t0) * 1e3;
    if (reps > 0) {
        double burst = 0;
        // The copy first: it overwrites c, and the add timed afterwards writes the sum back.
        demo_time(s, reps, [&] { CUDA_CHECK(cudaMemcpyAsync(dc, da, bytes, cudaMemcpyDeviceToDevice, s)); return 0; },
                  &t->copy_ms, &burst);
        demo_time(s, reps, [&] { return ew_apply(ctx, EW_ADD, DT_I32, n, da, db, dc); }, &t->op_ms,
                  &t->op_burst_ms);
        CUDA_CHECK(cudaStreamSynchronize(s));
    }
done:
    cuda_free(da);
    cuda_free(db);
    cuda_free(dc);
    return rc;
}

extern "C" int cuda_demo_grid(const nn_ctx *ctx, grid_fn fn, int width, int height,
                              const grid_params *p, int32_t *out, int reps, cuda_demo_times *t,
                              char *err) {
    if (demo_need_cuda(ctx, "cuda_demo_grid", err)) return -1;
    if (grid_check(fn, width, height, p, err)) return -1;
    memset(t, 0, sizeof *t);
    const size_t bytes = (size_t)width * height * sizeof(int32_t);
    cudaStream_t s = ctx_stream(ctx);
    int32_t *dout = (int32_t *)CUDA_MALLOC(bytes, "the demo's image", -1);
    // Poison the output, so that a pixel the kernel never wrote shows as -1 on the host.
    CUDA_CHECK(cudaMemsetAsync(dout, 0xff, bytes, s));
    memset(out, 0, bytes);   // no page faults inside the timed copy (see cuda_demo_add)
    CUDA_CHECK(cudaStreamSynchronize(s));
    int rc = 0;
    double t0 = nn_now();
    if (grid_map(ctx, fn, width, height, p, dout, err)) {
        rc = -1;
    } else {
        CUDA_CHECK(cudaMemcpyAsync(out, dout, bytes, cudaMemcpyDeviceToHost, s));
        CUDA_CHECK(cudaStreamSynchronize(s));
        t->total_ms = (nn_now() - t0) * 1e3;
        if (reps > 0)
            rc = demo_time(s, reps, [&] { return grid_map(ctx, fn, width, height, p, dout, err); },
                           &t->op_ms, &t->op_burst_ms);
        CUDA_CHECK(cudaStreamSynchronize(s));
    }
    cuda_free(dout);
    return rc;
}
