// elementwise.c: the C path of the elementwise op. One switch outside the loop so that each
// loop is a plain vectorisable body; OpenMP splits n across cores. The if clauses name
// `parallel`: a bare if on `parallel for simd` also turns the simd off when false (OpenMP 5),
// which left every small array scalar.
#include "elementwise.h"

#include <math.h>
#include <stdint.h>

const char *ew_op_name(ew_op op) {
    static const char *names[EW_OP_COUNT] = {"add", "sub", "mul", "relu", "sigmoid",
                                             "relu_grad", "sigmoid_grad", "tanh", "tanh_grad"};
    return (op >= 0 && op < EW_OP_COUNT) ? names[op] : "?";
}

static void ew_f32(ew_op op, long n, const float *a, const float *b, float *o) {
    switch (op) {
    case EW_ADD:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = a[i] + b[i];
        break;
    case EW_SUB:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = a[i] - b[i];
        break;
    case EW_MUL:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = a[i] * b[i];
        break;
    case EW_RELU:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = a[i] > 0.0f ? a[i] : 0.0f;
        break;
    case EW_SIGMOID:
        // 1/(1+exp(-x)) overflows harmlessly to 0 for very negative x: exp gives inf, 1/inf = 0.
#pragma omp parallel for schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = 1.0f / (1.0f + expf(-a[i]));
        break;
    case EW_RELU_GRAD:
        // b[i] is loaded whether or not it is used, so the select compiles to a vector mask
        // instead of a branch per element (a relu pattern is random: every branch mispredicts).
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) {
            float bi = b[i];
            o[i] = a[i] > 0.0f ? bi : 0.0f;
        }
        break;
    case EW_SIGMOID_GRAD:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = b[i] * a[i] * (1.0f - a[i]);
        break;
    case EW_TANH:
#pragma omp parallel for schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = tanhf(a[i]);
        break;
    case EW_TANH_GRAD:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = b[i] * (1.0f - a[i] * a[i]);
        break;
    default: break;
    }
}

static int ew_i32(ew_op op, long n, const int32_t *a, const int32_t *b, int32_t *o) {
    // Wrap-around arithmetic through uint32 so that overflow is defined, as on the GPU.
    switch (op) {
    case EW_ADD:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = (int32_t)((uint32_t)a[i] + (uint32_t)b[i]);
        return 0;
    case EW_SUB:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = (int32_t)((uint32_t)a[i] - (uint32_t)b[i]);
        return 0;
    case EW_MUL:
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
        for (long i = 0; i < n; i++) o[i] = (int32_t)((uint32_t)a[i] * (uint32_t)b[i]);
        return 0;
    default: return -1;
    }
}

int ew_apply(const nn_ctx *ctx, ew_op op, nn_dtype dt, size_t n, const void *a, const void *b,
             void *out) {
    if (op < 0 || op >= EW_OP_COUNT) return -1;
    if (ctx && ctx->backend == NN_CUDA) return ew_apply_cuda(ctx, op, dt, n, a, b, out);
    if (dt == DT_F32) {
        ew_f32(op, (long)n, a, b, out);
        return 0;
    }
    return ew_i32(op, (long)n, a, b, out);
}
