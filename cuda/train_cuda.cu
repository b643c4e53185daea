// train_cuda.cu: whole training epochs on the device, and the timing behind `nn bench`.
// An epoch's batches come from a batch source (nn/cuda_api.h; data/images_cuda.cu's gathers and
// augments an image set uploaded once, from the order and augmentation it put on the device
// beside it). A call is one upload of the Adam step sizes, then `steps` replays of one
// captured CUDA graph (the source's fill, forward, loss, backward, Adam, step counter + 1), and
// one download of the per-step losses at the end: no host synchronisation in between. Every
// kernel that needs to know which step it is (the source's too) reads the counter from device
// memory, which is what lets one graph serve them all.
#include <algorithm>
#include <string.h>
#include <vector>

#include "model_cuda.h"

extern "C" {
#include "../nn/cuda_api.h"
#include "../nn/dist.h"
#include "../nn/rng.h"
}

__global__ void step_kernel(int *step) { *step += 1; }

extern "C" void step_advance_cuda(const nn_ctx *ctx, int *step) {
    step_kernel<<<1, 1, 0, ctx_stream(ctx)>>>(step);
    CUDA_CHECK_LAUNCH();
}

// One training step for n samples, queued (eagerly or into a capture): the batch is written by
// the source when src is given, else d->x / d->labels already hold it.
static void queue_step(model *m, const nn_ctx *ctx, const cuda_batch_source *src, int batch, int n,
                       const adam_cfg *opt, int advance) {
    cuda_model *d = m->dev;
    if (src) src->fill(src->user, ctx, d->step, batch, n, d->x, d->labels);
    cuda_step_queue(m, ctx, n, d->x, opt, NULL);
    if (advance) step_advance_cuda(ctx, d->step);
}

static void capture(model *m, const nn_ctx *ctx, const cuda_batch_source *src, int batch,
                    const adam_cfg *opt, int advance) {
    cuda_model *d = m->dev;
    cudaStream_t s = ctx_stream(ctx);
    cudaGraph_t g;
    cuda_model_drop_graph(d);
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    queue_step(m, ctx, src, batch, batch, opt, advance);
    CUDA_CHECK(cudaStreamEndCapture(s, &g));
    CUDA_CHECK(cudaGraphInstantiate(&d->graph, g, 0));
    CUDA_CHECK(cudaGraphDestroy(g));
    d->graph_src = src ? *src : cuda_batch_source{};
    d->graph_batch = batch;
    d->graph_grad_n = d->grad_n;
    d->graph_opt = *opt;
}

static int same_opt(const adam_cfg *a, const adam_cfg *b) {
    return a->beta1 == b->beta1 && a->beta2 == b->beta2 && a->epsilon == b->epsilon;
}

static int same_source(const cuda_batch_source *a, const cuda_batch_source *b) {
    return a->fill == b->fill && a->user == b->user && a->key == b->key;
}

// A data-parallel step in which this rank has no image: its gradient is zero, and it still
// joins the all-reduce and Adam of the other ranks' step.
static void queue_zero_step(model *m, const nn_ctx *ctx, const adam_cfg *opt) {
    cuda_model *d = m->dev;
    cudaStream_t s = ctx_stream(ctx);
    CUDA_CHECK(cudaMemsetAsync(d->r.g, 0, m->nparams * sizeof(float), s));
    step_grad_hook_run(m, &d->r, ctx);   // the same buckets as the other ranks' step
    d->r.be->adam(m, &d->r, ctx, opt);
    CUDA_CHECK(cudaMemsetAsync(d->loss, 0, sizeof(float), s));   // the step is the call's first
    CUDA_CHECK(cudaMemsetAsync(d->correct, 0, sizeof(int), s));
    step_advance_cuda(ctx, d->step);
}

extern "C" int cuda_model_train_source(struct model *m, const nn_ctx *ctx,
                                       const cuda_batch_source *src, int count, int batch,
                                       int grad_n, const adam_cfg *opt, float *step_loss,
                                       int *step_correct, char *err) {
    if (model_loss_kind(m) == LOSS_NONE)
        return nn_fail(err, "training needs a model that ends in one sigmoid unit or a softmax over "
                       "N >= 2 outputs; this one has %zu outputs", model_output_size(m));
    if (batch < 1 || count < 0 || grad_n < 0)
        return nn_fail(err, "batch %d / count %d / grad_n %d out of range", batch, count, grad_n);
    if (count > 0 && (!src || !src->fill))
        return nn_fail(err, "cuda_model_train_source: %d samples and no batch source", count);
    if (count == 0 && grad_n == 0) return 0;
    const int zero = count == 0;   // a data-parallel step without an image here
    const int steps = zero ? 1 : (count + batch - 1) / batch, full = count / batch, rem = count % batch;
    cuda_model *d = cuda_model_get(m, ctx, NN_MAX(batch, m->dev ? m->dev->r.batch : batch));
    cuda_model_ensure_steps(m, steps);
    cudaStream_t s = ctx_stream(ctx);

    std::vector<float> alpha(steps);
    std::vector<int64_t> tsteps(steps);
    for (int k = 0; k < steps; k++) alpha[k] = adam_alpha(opt, m->t + 1 + k), tsteps[k] = m->t + 1 + k;
    CUDA_CHECK(cudaMemcpyAsync(d->alpha, alpha.data(), steps * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->tsteps, tsteps.data(), steps * sizeof(int64_t), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemsetAsync(d->step, 0, sizeof(int), s));
    if (zero) queue_zero_step(m, ctx, opt);
    // A rank's first sample in the global batch (dropout's masks count from there); a captured
    // graph keeps it, and graph_grad_n, which decides it, is part of the graph's match.
    const dist *dd = (const dist *)ctx->dist;
    int slo = 0, shi = 0;
    if (full > 0) {
        d->grad_n = grad_n ? grad_n : batch;
        if (grad_n && dd) dist_share(grad_n, dd->rank, dd->size, &slo, &shi);
        d->r.sample0 = slo;
        int match = d->graph && same_source(&d->graph_src, src) && d->graph_batch == batch &&
                    same_opt(&d->graph_opt, opt) && d->graph_grad_n == d->grad_n;
        if (!match && full == 1 && grad_n) {
            // One full step with another divisor (a data-parallel epoch's last batch): queued
            // as it is, so the graph of the epoch's other steps is kept for the next epoch.
            queue_step(m, ctx, src, batch, batch, opt, 1);
        } else {
            if (!match) capture(m, ctx, src, batch, opt, 1);
            for (int k = 0; k < full; k++) CUDA_CHECK(cudaGraphLaunch(d->graph, s));
        }
    }
    if (rem) {
        d->grad_n = grad_n ? grad_n : rem;
        slo = 0;
        if (grad_n && dd) dist_share(grad_n, dd->rank, dd->size, &slo, &shi);
        d->r.sample0 = slo;
        queue_step(m, ctx, src, batch, rem, opt, 1);
    }
    d->grad_n = 0;
    d->r.sample0 = 0;
    CUDA_CHECK(cudaMemcpyAsync(d->h_loss, d->loss, steps * sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaMemcpyAsync(d->h_correct, d->correct, steps * sizeof(int), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    m->t += steps;
    m->dev_newer = 1;
    if (step_loss) memcpy(step_loss, d->h_loss, steps * sizeof(float));
    if (step_correct) memcpy(step_correct, d->h_correct, steps * sizeof(int));
    return steps;
}

extern "C" int cuda_model_logits_source(struct model *m, const nn_ctx *ctx,
                                        const cuda_batch_source *src, int count, int batch,
                                        float *logits, char *err) {
    if (batch < 1) return nn_fail(err, "batch %d is not positive", batch);
    if (count <= 0) return 0;
    if (!src || !src->fill) return nn_fail(err, "cuda_model_logits_source: no batch source");
    cuda_model *d = cuda_model_get(m, ctx, NN_MAX(batch, m->dev ? m->dev->r.batch : batch));
    const int steps = (count + batch - 1) / batch;
    cuda_model_ensure_steps(m, steps);
    cudaStream_t s = ctx_stream(ctx);
    const size_t out = model_output_size(m);
    CUDA_CHECK(cudaMemsetAsync(d->step, 0, sizeof(int), s));
    for (int k = 0; k < steps; k++) {
        int n = NN_MIN(batch, count - k * batch);
        src->fill(src->user, ctx, d->step, batch, n, d->x, d->labels);
        const float *z = cuda_forward_queue(m, ctx, n, d->x, 1);
        // A copy into pageable host memory returns when it is done, so d->x is free again.
        CUDA_CHECK(cudaMemcpyAsync(logits + (size_t)k * batch * out, z, n * out * sizeof(float),
                                   cudaMemcpyDeviceToHost, s));
        step_advance_cuda(ctx, d->step);
    }
    CUDA_CHECK(cudaStreamSynchronize(s));
    return 0;
}

// --- timing

// Uniform [0, 1) inputs and 0/1 labels from a seeded generator, uploaded once.
static void fill_random(model *m, const nn_ctx *ctx, int batch) {
    cuda_model *d = m->dev;
    size_t in = shape3_size(m->input) * batch;
    std::vector<float> x(in), y(batch);
    rng r;
    rng_seed(&r, 12345);
    for (size_t i = 0; i < in; i++) x[i] = (float)rng_uniform(&r);
    for (int i = 0; i < batch; i++) y[i] = (float)(rng_next(&r) & 1);
    // On ctx's stream (non-blocking: a plain cudaMemcpy would not be ordered with its kernels).
    cudaStream_t s = ctx_stream(ctx);
    CUDA_CHECK(cudaMemcpyAsync(d->x, x.data(), in * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->labels, y.data(), batch * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

static void percentiles(std::vector<float> &t, double *med, double *p10, double *p90) {
    std::sort(t.begin(), t.end());
    size_t n = t.size();
    if (med) *med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    if (p10) *p10 = t[(size_t)(0.1 * (n - 1))];
    if (p90) *p90 = t[(size_t)(0.9 * (n - 1))];
}

typedef void (*bench_fn)(model *m, const nn_ctx *ctx, int batch, const adam_cfg *opt);

static void train_eager(model *m, const nn_ctx *ctx, int batch, const adam_cfg *opt) {
    queue_step(m, ctx, NULL, batch, batch, opt, 0);
}
static void train_graph(model *m, const nn_ctx *ctx, int batch, const adam_cfg *opt) {
    (void)batch, (void)opt;
    CUDA_CHECK(cudaGraphLaunch(m->dev->graph, ctx_stream(ctx)));
}
static void predict_eager(model *m, const nn_ctx *ctx, int batch, const adam_cfg *opt) {
    (void)opt;
    cuda_forward_queue(m, ctx, batch, m->dev->x, 0);
}

static void time_steps(model *m, const nn_ctx *ctx, int batch, int warmup, int iters, bench_fn fn,
                       double *med, double *p10, double *p90) {
    adam_cfg opt = adam_defaults();
    cudaStream_t s = ctx_stream(ctx);
    for (int i = 0; i < warmup; i++) fn(m, ctx, batch, &opt);
    CUDA_CHECK(cudaStreamSynchronize(s));
    std::vector<cudaEvent_t> ev(2 * iters);
    for (auto &e : ev) CUDA_CHECK(cudaEventCreate(&e));
    // Back-to-back steps, each between its own pair of events (the queue stays full, as in an
    // epoch), all read after the last one.
    for (int i = 0; i < iters; i++) {
        CUDA_CHECK(cudaEventRecord(ev[2 * i], s));
        fn(m, ctx, batch, &opt);
        CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], s));
    }
    CUDA_CHECK(cudaStreamSynchronize(s));
    std::vector<float> t(iters);
    for (int i = 0; i < iters; i++) CUDA_CHECK(cudaEventElapsedTime(&t[i], ev[2 * i], ev[2 * i + 1]));
    for (auto &e : ev) CUDA_CHECK(cudaEventDestroy(e));
    percentiles(t, med, p10, p90);
}

extern "C" int cuda_bench_train(struct model *m, const nn_ctx *ctx, int batch, int warmup,
                                int iters, int graph, double *ms_median, double *ms_p10,
                                double *ms_p90, char *err) {
    if (model_loss_kind(m) == LOSS_NONE)   // its random labels are 0 and 1: classes of any model
        return nn_fail(err, "the bench trains a classifier (one sigmoid unit or a softmax); this "
                       "one has %zu outputs", model_output_size(m));
    if (batch < 1 || iters < 1 || warmup < 0) return nn_fail(err, "bad batch/iters/warmup");
    cuda_model *d = cuda_model_get(m, ctx, batch);
    cuda_model_ensure_steps(m, 1);
    fill_random(m, ctx, batch);
    adam_cfg opt = adam_defaults();
    float alpha = adam_alpha(&opt, 1);
    cudaStream_t s = ctx_stream(ctx);
    int64_t t1 = 1;
    CUDA_CHECK(cudaMemcpyAsync(d->alpha, &alpha, sizeof alpha, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->tsteps, &t1, sizeof t1, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemsetAsync(d->step, 0, sizeof(int), s));   // every step reads alpha[0], writes loss[0]
    CUDA_CHECK(cudaStreamSynchronize(s));
    if (graph) capture(m, ctx, NULL, batch, &opt, 0);
    time_steps(m, ctx, batch, warmup, iters, graph ? train_graph : train_eager, ms_median, ms_p10,
               ms_p90);
    if (graph) cuda_model_drop_graph(d);
    m->dev_newer = 1;   // the timed steps trained the device's copy
    return 0;
}

extern "C" int cuda_bench_predict(struct model *m, const nn_ctx *ctx, int batch, int warmup,
                                  int iters, double *ms_median, double *ms_p10, double *ms_p90,
                                  char *err) {
    if (batch < 1 || iters < 1 || warmup < 0) return nn_fail(err, "bad batch/iters/warmup");
    cuda_model_get(m, ctx, batch);
    fill_random(m, ctx, batch);
    time_steps(m, ctx, batch, warmup, iters, predict_eager, ms_median, ms_p10, ms_p90);
    return 0;
}
