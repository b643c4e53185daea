// profile_cuda.cu: the GPU half of nn/profile.h (`nn bench --profile --device cuda`): where a
// training step's device time goes, kernel by kernel, beside the whole step as one CUDA graph.
// defines: profile_cuda
//
// Thread mapping: this file's own kernels are measuring tools only. prof_spin is one thread that
// busy-waits; prof_fma fills every SM (8 blocks of 256 threads each, 2048 threads an SM) with 8
// independent FMA chains per thread, enough in flight to keep every FP32 lane busy. The step's
// kernels are the training step's own: the step is walked by nn/step.c (cuda_step_queue) with a
// step_hook whose begin/end put CUDA events around each node's pass, the loss or fused head, and
// Adam.
//
// How a round is timed: a spin kernel first holds the GPU for ~2 ms while the host queues every
// kernel of the step, each node's pass between its own pair of CUDA events; the GPU then runs
// them back to back, so each pair times the device's work alone, not the host's launch gaps. A
// node's backward row holds its weight and input parts together (the walk runs them as one
// pass). While the hook runs, work the step would put on a second stream (the big dense dW +
// Adam) stays on the main stream, so the rows may add up to more than the step.
// NN_CUDA_FUSE=0 (model_cuda.cu) profiles the unfused plan. The reference step is
// cuda_bench_train's (train_cuda.cu): the whole step replayed as one graph, and the same kernels
// launched one by one. The device's weights and Adam state are copied first and put back at the
// end, so a profile never changes the model.
#include <string.h>

#include <vector>

#include "model_cuda.h"

extern "C" {
#include "../nn/cuda_api.h"
#include "../nn/elementwise.h"
#include "../nn/profile.h"
#include "../nn/rng.h"
}

#define PROF_FMA_CHAINS 8

__global__ void prof_spin(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) {
    }
}

__global__ void __launch_bounds__(256) prof_fma(int iters, float k, float c, float *sink) {
    float a[PROF_FMA_CHAINS];
#pragma unroll
    for (int j = 0; j < PROF_FMA_CHAINS; j++) a[j] = (float)(threadIdx.x + j);
#pragma unroll 16
    for (int i = 0; i < iters; i++) {   // iters: a multiple of 16, so no remainder loop runs
#pragma unroll
        for (int j = 0; j < PROF_FMA_CHAINS; j++) a[j] = fmaf(a[j], k, c);
    }
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < PROF_FMA_CHAINS; j++) s += a[j];
    if (s == 1234.5f) sink[0] = s;   // keeps the loop; k and c are arguments, so nothing folds
}

// Best time (ms) of `reps` runs of f between two events, after one warm-up run.
template <typename F> static float best_ms(cudaStream_t s, int reps, F f) {
    cudaEvent_t a, b;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    f();
    float best = 0;
    for (int r = 0; r < reps; r++) {
        CUDA_CHECK(cudaEventRecord(a, s));
        f();
        CUDA_CHECK(cudaEventRecord(b, s));
        CUDA_CHECK(cudaEventSynchronize(b));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
        if (r == 0 || ms < best) best = ms;
    }
    CUDA_CHECK(cudaEventDestroy(a));
    CUDA_CHECK(cudaEventDestroy(b));
    return best;
}

// The GPU's peaks: a device-to-device copy of 256 MiB (bytes read + written), the FMA loop on
// every SM, and the project's SGEMM (dense_cuda.cu) on a 4096^3 product.
static void peaks_cuda(const nn_ctx *ctx, prof_peaks *pk) {
    cudaStream_t s = ctx_stream(ctx);
    memset(pk, 0, sizeof *pk);
    const size_t bytes = 256u << 20;
    char *src = (char *)CUDA_MALLOC(bytes, "profile: peak copy source", -1);
    char *dst = (char *)CUDA_MALLOC(bytes, "profile: peak copy target", -1);
    CUDA_CHECK(cudaMemsetAsync(src, 1, bytes, s));
    float ms = best_ms(s, 5, [&] {
        CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
    });
    pk->gbs = 2.0 * bytes / (ms * 1e-3) * 1e-9;
    snprintf(pk->gbs_how, sizeof pk->gbs_how, "device-to-device cudaMemcpyAsync of 256 MiB");
    cuda_free(src), cuda_free(dst);

    const int sms = ctx->cuda->sm_count, iters = 1 << 16, blocks = sms * 8;
    float *sink = (float *)CUDA_MALLOC(sizeof(float), "profile: sink", -1);
    ms = best_ms(s, 5, [&] {
        prof_fma<<<blocks, 256, 0, s>>>(iters, 0.999999f, 1e-6f, sink);
        CUDA_CHECK_LAUNCH();
    });
    pk->fma_gflops = 2.0 * PROF_FMA_CHAINS * (double)iters * blocks * 256 / (ms * 1e-3) * 1e-9;
    cuda_free(sink);

    const int n = 4096;
    const size_t nb = (size_t)n * n * sizeof(float);
    float *a = (float *)CUDA_MALLOC(nb, "profile: peak sgemm A", -1);
    float *b = (float *)CUDA_MALLOC(nb, "profile: peak sgemm B", -1);
    float *c = (float *)CUDA_MALLOC(nb, "profile: peak sgemm C", -1);
    CUDA_CHECK(cudaMemsetAsync(a, 0x3c, nb, s));   // every float 0.0115
    CUDA_CHECK(cudaMemsetAsync(b, 0x3c, nb, s));
    ms = best_ms(s, 3, [&] {
        sgemm_cuda(ctx, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n, NULL, ACT_LINEAR, 0, NULL, 0);
    });
    pk->gemm_gflops = 2.0 * n * n * (double)n / (ms * 1e-3) * 1e-9;
    pk->gemm_n = n;
    cuda_free(a), cuda_free(b), cuda_free(c);
    pk->gflops = NN_MAX(pk->fma_gflops, pk->gemm_gflops);
}

// --- one profiling round

// The hook: each pass of the walk between its own pair of events on the main stream.
struct event_clock {
    cudaStream_t s;
    const model_run *r;
    const prof_plan_rows *ro;
    std::vector<cudaEvent_t> ev;
    std::vector<int> rows;   // the row of each event pair this round
    void begin(int row) {
        size_t k = rows.size();
        while (ev.size() < 2 * k + 2) {
            cudaEvent_t e;
            CUDA_CHECK(cudaEventCreate(&e));
            ev.push_back(e);
        }
        rows.push_back(row);
        CUDA_CHECK(cudaEventRecord(ev[2 * k], s));
    }
    void end() { CUDA_CHECK(cudaEventRecord(ev[2 * (rows.size() - 1) + 1], s)); }
    double ms(size_t k) {
        float t = 0;
        CUDA_CHECK(cudaEventElapsedTime(&t, ev[2 * k], ev[2 * k + 1]));
        return t;
    }
    ~event_clock() {
        for (cudaEvent_t e : ev) cudaEventDestroy(e);
    }
};

static void clock_begin(void *user, const model *m, const step_node *nd, step_phase ph, int n) {
    (void)m, (void)n;
    event_clock *c = (event_clock *)user;
    c->begin(profile_row_of(c->ro, c->r, nd, ph));
}

static void clock_end(void *user) { ((event_clock *)user)->end(); }

// A round: the input row's source (when there is one) writes the batch, then the step.
static void gpu_round(model *m, const nn_ctx *ctx, int n, const adam_cfg *opt, const prof_input *in,
                      int in_row, event_clock &c) {
    cuda_model *d = m->dev;
    cudaStream_t s = ctx_stream(ctx);
    c.rows.clear();
    prof_spin<<<1, 1, 0, s>>>(4000000LL);   // ~2 ms: the host queues the round meanwhile
    CUDA_CHECK_LAUNCH();
    if (in) {
        c.begin(in_row);
        in->src.fill(in->src.user, ctx, d->step, n, n, d->x, d->labels);
        c.end();
    }
    const step_hook hook = {clock_begin, clock_end, &c};
    cuda_step_queue(m, ctx, n, d->x, opt, &hook);
}

extern "C" int profile_cuda(model *m, const nn_ctx *ctx, int batch, int warmup, int reps,
                            const prof_input *input, profile *p, char *err) {
    if (!ctx || ctx->backend != NN_CUDA || !ctx->cuda) return nn_fail(err, "profile_cuda: not a CUDA context");
    if (profile_begin(m, batch, warmup, reps, p, err)) return -1;
    snprintf(p->device, sizeof p->device, "cuda (%s, %d SMs)", ctx->cuda->name, ctx->cuda->sm_count);
    cudaStream_t s = ctx_stream(ctx);
    peaks_cuda(ctx, &p->peak);

    cuda_model *d = cuda_model_get(m, ctx, batch);
    cuda_model_ensure_steps(m, 1);
    const size_t P = m->nparams, pb = (P ? P : 1) * sizeof(float);
    // The state the rounds and the timed steps change, put back at the end.
    float *keep = (float *)CUDA_MALLOC(3 * pb, "profile: saved weights and Adam state", -1);
    CUDA_CHECK(cudaMemcpyAsync(keep, d->r.w, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync((char *)keep + pb, d->r.m, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync((char *)keep + 2 * pb, d->r.v, pb, cudaMemcpyDeviceToDevice, s));

    // Random inputs and labels (seeded), Adam's first step size, step counter 0.
    size_t in = shape3_size(m->input);
    rng r;
    rng_seed(&r, 12345);
    std::vector<float> hx((size_t)batch * in), hy(batch);
    for (float &v : hx) v = (float)rng_uniform(&r);
    for (float &v : hy) v = (float)rng_below(&r, 2);
    CUDA_CHECK(cudaMemcpy(d->x, hx.data(), hx.size() * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d->labels, hy.data(), hy.size() * sizeof(float), cudaMemcpyHostToDevice));
    adam_cfg opt = m->opt.lr > 0 ? m->opt : adam_defaults();
    float alpha = adam_alpha(&opt, 1);
    CUDA_CHECK(cudaMemcpy(d->alpha, &alpha, sizeof alpha, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(d->step, 0, sizeof(int)));
    prof_plan_rows ro;
    profile_plan_rows(m, &d->r, batch, p, &ro);
    if (input && !input->src.fill) input = NULL;
    const int in_row =
        input ? profile_row(p, input->what, input->pass, input->flops, input->bytes, 0) : -1;

    event_clock clk;
    clk.s = s;
    clk.r = &d->r;
    clk.ro = &ro;
    std::vector<std::vector<double>> samples(p->nrows);
    for (int k = -warmup; k < reps; k++) {
        gpu_round(m, ctx, batch, &opt, input, in_row, clk);
        CUDA_CHECK(cudaStreamSynchronize(s));
        if (k < 0) continue;
        std::vector<double> val(p->nrows, 0.0);
        for (size_t e = 0; e < clk.rows.size(); e++)
            if (clk.rows[e] >= 0) val[clk.rows[e]] += clk.ms(e);
        for (int j = 0; j < p->nrows; j++) samples[j].push_back(val[j]);
    }
    for (int j = 0; j < p->nrows; j++)
        p->rows[j].ms = NN_MAX(0.0, profile_median(samples[j].data(), (int)samples[j].size()));

    // The reference: the whole step as one graph, then eagerly (cuda_bench_train, nn bench's).
    double graph = 0, eager = 0;
    int rc = cuda_bench_train(m, ctx, batch, warmup, reps, 1, &graph, NULL, NULL, err);
    if (rc == 0) rc = cuda_bench_train(m, ctx, batch, warmup, reps, 0, &eager, NULL, NULL, err);
    p->step_ms = graph;
    p->step2_ms = eager;
    snprintf(p->step_what, sizeof p->step_what,
             "training step replayed as one CUDA graph (nn bench's step), median of %d", reps);
    snprintf(p->step2_what, sizeof p->step2_what, "the same kernels launched one by one, median of %d", reps);
    snprintf(p->note, sizeof p->note,
             "Rows: device time of each pass of the step walk (nn/step.c) between CUDA events, the "
             "launches queued behind a spin\nkernel so the events time the GPU's work, not the host's "
             "gaps. backward+Adam: a dense kernel's Adam runs in its dW\nproduct's epilogue "
             "(NN_CUDA_FUSE=0 unfuses); the step runs the big one on a second stream beside the "
             "layers below it,\nhere inline, so the rows may add up to more than the graph step. "
             "augmentation* builds a batch from uint8 images on\nthe device; nn bench's step takes "
             "its inputs ready-made.");

    CUDA_CHECK(cudaMemcpyAsync(d->r.w, keep, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->r.m, (char *)keep + pb, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->r.v, (char *)keep + 2 * pb, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    cuda_free(keep);
    return rc;
}
