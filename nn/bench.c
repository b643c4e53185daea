// bench.c: model_bench (see bench.h).
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "cuda_api.h"
#include "rng.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_host(model *m, const nn_ctx *ctx, int batch, int warmup, int steps, int train,
                      uint64_t seed, bench_result *res) {
    size_t in = shape3_size(m->input);
    float *x = nn_alloc((size_t)batch * in * sizeof(float), "bench inputs");           // (B, H, W, C)
    float *labels = nn_alloc((size_t)batch * sizeof(float), "bench labels");           // (B)
    float *out = nn_alloc((size_t)batch * model_output_size(m) * sizeof(float), "bench outputs");
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)batch * in; i++) x[i] = (float)rng_uniform(&r);
    for (int i = 0; i < batch; i++) labels[i] = (float)rng_below(&r, 2);
    adam_cfg opt = adam_defaults();
    for (int s = 0; s < warmup; s++) {
        if (train) res->last_loss = model_train_step(m, ctx, batch, x, labels, &opt, NULL);
        else model_predict(m, ctx, batch, x, out);
    }
    double *t = nn_alloc((size_t)steps * sizeof(double), "step times");
    double t0 = nn_now();
    for (int s = 0; s < steps; s++) {
        double a = nn_now();
        if (train) res->last_loss = model_train_step(m, ctx, batch, x, labels, &opt, NULL);
        else model_predict(m, ctx, batch, x, out);
        t[s] = nn_now() - a;
    }
    double total = nn_now() - t0;
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    res->mean_ms = total / steps * 1e3;
    res->median_ms = t[steps / 2] * 1e3;
    res->best_ms = t[0] * 1e3;
    res->p10_ms = t[(size_t)(0.1 * (steps - 1))] * 1e3;
    res->p90_ms = t[(size_t)(0.9 * (steps - 1))] * 1e3;
    nn_free(t), nn_free(x), nn_free(labels), nn_free(out);
    return 0;
}

int model_bench(model *m, const nn_ctx *ctx, int batch, int warmup, int steps, int train,
                uint64_t seed, bench_result *res, char *err) {
    memset(res, 0, sizeof *res);
    if (batch < 1 || steps < 1 || warmup < 0)
        return nn_fail(err, "bench: batch %d, steps %d, warm-up %d out of range", batch, steps, warmup);
    if (train && model_loss_kind(m) == LOSS_NONE)   // its labels are 0 and 1: classes of any classifier
        return nn_fail(err, "the bench trains a classifier (one sigmoid unit or a softmax); this one "
                       "has %zu outputs", model_output_size(m));
    if (model_to(m, ctx, batch, err)) return -1;
    if (ctx->backend != NN_CUDA) return bench_host(m, ctx, batch, warmup, steps, train, seed, res);
    res->device_timed = 1;
    int rc = train ? cuda_bench_train(m, ctx, batch, warmup, steps, 1, &res->median_ms, &res->p10_ms,
                                      &res->p90_ms, err)
                   : cuda_bench_predict(m, ctx, batch, warmup, steps, &res->median_ms, &res->p10_ms,
                                        &res->p90_ms, err);
    if (rc == 0 && train) rc = cuda_bench_train(m, ctx, batch, warmup, steps, 0, &res->eager_ms, NULL, NULL, err);
    return rc;
}
