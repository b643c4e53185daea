// ctx.c: the default context for the C path; giving a context back.
#include "ctx.h"

#include <omp.h>
#include <stdio.h>

#include "common.h"
#include "cuda_api.h"
#include "gemm.h"

nn_ctx nn_ctx_cpu(void) { return (nn_ctx){.backend = NN_CPU, .device = 0, .threads = 0, .seed = 1}; }

void nn_ctx_free(nn_ctx *ctx) {
    if (ctx->backend == NN_CUDA) cuda_ctx_free(ctx);
    *ctx = nn_ctx_cpu();
}

void nn_ctx_describe(const nn_ctx *ctx, char *buf, size_t len) {
    if (ctx->backend == NN_CUDA) {
        char name[256] = "", why[NN_ERRLEN];
        cuda_probe(ctx->device, name, sizeof name, why);
        snprintf(buf, len, "cuda (%s)", name);
    } else {
        snprintf(buf, len, "cpu (%d threads, sgemm %s)", omp_get_max_threads(), sgemm_isa());
    }
}
