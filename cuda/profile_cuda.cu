// profile_cuda.cu: the GPU half of nn/profile.h (`nn bench --profile --device cuda`): where a
// training step's device time goes, kernel by kernel, beside the whole step as one CUDA graph.
// defines: profile_cuda
//
// Thread mapping: this file's own kernels are measuring tools only. prof_spin is one thread that
// busy-waits; prof_fma fills every SM (8 blocks of 256 threads each, 2048 threads an SM) with 8
// independent FMA chains per thread, enough in flight to keep every FP32 lane busy. The step's
// kernels are the training step's own, launched through cuda/kernels.h in the order
// cuda_forward_queue and cuda_train_queue (model_cuda.cu) queue them.
//
// How a round is timed: a spin kernel first holds the GPU for ~2 ms while the host queues every
// kernel of the step, each between its own pair of CUDA events; the GPU then runs them back to
// back, so each pair times the device's work alone, not the host's launch gaps. A layer with
// weights that also gives an input gradient runs its backward twice, from the same saved dy:
// with dx = NULL (the weight part: activation gradient, bias sums, dW) and whole; the input part
// is the difference, so the split holds whatever the layer's kernels do inside. Where the step
// fuses a dense kernel's Adam into its dW product (a separate call, on a second stream in the
// step), that call is timed alone and counted in the weight row. Every kernel is timed on the
// main stream, one after the other: where the step overlaps two streams, the rows add up to
// more than the step. NN_CUDA_FUSE=0 (model_cuda.cu) profiles the unfused step. The reference
// step is cuda_bench_train's (train_cuda.cu): the whole step replayed as one graph, and the same
// kernels launched one by one. The device's weights and Adam state are copied first and put
// back at the end, so a profile never changes the model.
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

// Event pairs of one round, reused from round to round.
struct op_timer {
    cudaStream_t s;
    std::vector<cudaEvent_t> ev;
    int k = 0;
    int start() {
        while ((int)ev.size() < 2 * k + 2) {
            cudaEvent_t e;
            CUDA_CHECK(cudaEventCreate(&e));
            ev.push_back(e);
        }
        CUDA_CHECK(cudaEventRecord(ev[2 * k], s));
        return k;
    }
    void stop() {
        CUDA_CHECK(cudaEventRecord(ev[2 * k + 1], s));
        k++;
    }
    double ms(int i) {
        float t = 0;
        CUDA_CHECK(cudaEventElapsedTime(&t, ev[2 * i], ev[2 * i + 1]));
        return t;
    }
    ~op_timer() {
        for (cudaEvent_t e : ev) cudaEventDestroy(e);
    }
};

struct share { int row, op, sign; };   // row += sign * time of op

// What a round needs besides the model's own buffers.
struct prof_inputs {
    uint8_t *pixels;      // (n, h, w, 3) random images, NULL when the input is not RGB
    int32_t *lab;         // (n)
    int32_t *order;       // (n) 0, 1, ...
    aug_params *aug;      // (n)
    float *dsave;         // a copy of dy, as large as the largest gradient
};

static void gpu_round(model *m, const nn_ctx *ctx, int n, const adam_cfg *opt, const prof_inputs &in,
                      profile *p, op_timer &T, std::vector<share> &sh) {
    cuda_model *d = m->dev;
    cudaStream_t s = ctx_stream(ctx);
    T.k = 0;
    sh.clear();
    auto timed = [&](int row, auto &&launch) {
        int k = T.start();
        launch();
        T.stop();
        sh.push_back({row, k, 1});
        return k;
    };
    prof_spin<<<1, 1, 0, s>>>(4000000LL);   // ~2 ms: the host queues the round meanwhile
    CUDA_CHECK_LAUNCH();
    char fused_name[sizeof p->rows[0].what] = "";   // the fused conv + pool's row
    if (d->fused) snprintf(fused_name, sizeof fused_name, "%s + %s", m->layers[0].name, m->layers[1].name);

    if (in.pixels) {
        int row = profile_row(p, "augmentation (GPU)", "kernel", flops_augment(n, m->input.h, m->input.w),
                              bytes_augment(n, m->input.h, m->input.w), 0);
        timed(row, [&] {
            augment_batch_cuda(ctx, in.pixels, in.lab, m->input.h, m->input.w, in.order, in.aug,
                               d->step, n, n, d->x, d->labels);
        });
    }

    // forward, as cuda_forward_queue
    const float *cur = d->x;
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        act_kind act = profile_act(m, i);
        const float *w = d->w + l->woff;
        if (d->fused && i == 0) {
            const layer *pool = &m->layers[1];
            int row = profile_row(p, fused_name, "forward (fused)", flops_conv_pool(l, pool, PROF_FORWARD, n),
                                  bytes_conv_pool(l, pool, PROF_FORWARD, n), 1);
            timed(row, [&] { conv2d_pool_forward_cuda(l, pool, ctx, n, cur, w, d->y[1], d->arg); });
            cur = d->y[1];
            i++;
            continue;
        }
        auto row = [&]() {
            return profile_row(p, l->name, "forward", flops_layer(l, PROF_FORWARD, n, act),
                               bytes_layer(l, PROF_FORWARD, n, act), 1);
        };
        size_t sz = (size_t)n * shape3_size(l->in);
        switch (l->kind) {
        case LAYER_CONV2D: timed(row(), [&] { conv2d_forward_cuda(l, ctx, n, cur, w, d->y[i], act); }); break;
        case LAYER_MAXPOOL2D:
            timed(row(), [&] { maxpool2d_forward_cuda(l, ctx, n, cur, d->y[i], d->aux[i]); });
            break;
        case LAYER_FLATTEN:   // aliases its input: no kernel, no row (unless the model starts with it)
            if (d->y[i] != cur)
                timed(row(), [&] {
                    CUDA_CHECK(cudaMemcpyAsync(d->y[i], cur, sz * sizeof(float), cudaMemcpyDeviceToDevice, s));
                });
            break;
        case LAYER_DENSE:
            timed(row(), [&] { dense_forward_cuda(l, ctx, n, cur, w, d->y[i], act, d->ws, d->ws_floats); });
            break;
        case LAYER_ACTIVATION:
            timed(row(), [&] {
                if (act == ACT_RELU) ew_apply_cuda(ctx, EW_RELU, DT_F32, sz, cur, NULL, d->y[i]);
                else if (act == ACT_SIGMOID) ew_apply_cuda(ctx, EW_SIGMOID, DT_F32, sz, cur, NULL, d->y[i]);
                else CUDA_CHECK(cudaMemcpyAsync(d->y[i], cur, sz * sizeof(float), cudaMemcpyDeviceToDevice, s));
            });
            break;
        default: NN_DIE("layer %d: kind %d has no CUDA path", i + 1, (int)l->kind);
        }
        cur = d->y[i];
    }

    // loss, backward and Adam, as cuda_train_queue
    float *dcur = d->dbuf[0], *dnext = d->dbuf[1];
    const float *z = d->y[m->nlayers - 1];
    int lrow = profile_row(p, "loss (BCE from logits)", "forward+grad", flops_loss(n), bytes_loss(n), 1);
    timed(lrow, [&] { bce_logits_cuda(ctx, n, z, d->labels, dcur, d->loss, d->correct, d->step); });
    for (int i = m->nlayers - 1; i >= 0; i--) {
        const layer *l = &m->layers[i];
        act_kind act = profile_act(m, i);
        const float *xin = i ? d->y[i - 1] : d->x;
        const float *w = d->w + l->woff;
        float *gw = d->g + l->woff;
        if (d->fused && i == 1) {
            const layer *conv = &m->layers[0];
            int row = profile_row(p, fused_name, "bwd weights (fused)",
                                  flops_conv_pool(conv, l, PROF_BWD_WEIGHTS, n),
                                  bytes_conv_pool(conv, l, PROF_BWD_WEIGHTS, n), 1);
            timed(row, [&] {
                conv2d_pool_backward_cuda(conv, l, ctx, n, d->x, d->y[1], d->arg, dcur,
                                          d->g + conv->woff, d->ws, d->ws_floats);
            });
            break;
        }
        switch (l->kind) {
        case LAYER_CONV2D:
        case LAYER_DENSE: {
            // With d->fuse_adam a dense layer's backward is two calls, as cuda_train_queue makes
            // them: dense_backward_dx_cuda (activation gradient, bias gradient, dx), then dW
            // straight into Adam (sgemm_adam_cuda; the step runs it on a second stream for the
            // big layer, here it is timed alone on the main one).
            const bool adam = l->kind == LAYER_DENSE && d->fuse_adam;
            auto bwd = [&](float *dx) {
                if (l->kind == LAYER_CONV2D)
                    conv2d_backward_cuda(l, ctx, n, xin, w, d->y[i], dcur, dx, gw, act, d->ws, d->ws_floats);
                else if (adam)
                    dense_backward_dx_cuda(l, ctx, n, w, d->y[i], dcur, dx, gw, act, d->ws, d->ws_floats);
                else
                    dense_backward_cuda(l, ctx, n, xin, w, d->y[i], dcur, dx, gw, act, d->ws, d->ws_floats);
            };
            auto dw_adam = [&] {
                sgemm_adam_cuda(ctx, 1, 0, l->in.c, l->units, n, xin, l->in.c, dcur, l->units,
                                d->w + l->woff, d->m + l->woff, d->v + l->woff, l->units, opt, d->alpha,
                                d->step);
            };
            int rw = adam ? profile_row(p, l->name, "bwd weights+Adam", flops_dense_adam(l, n, act),
                                        bytes_dense_adam(l, n, act), 1)
                          : profile_row(p, l->name, "bwd weights", flops_layer(l, PROF_BWD_WEIGHTS, n, act),
                                        bytes_layer(l, PROF_BWD_WEIGHTS, n, act), 1);
            if (!i) {
                timed(rw, [&] { bwd(NULL); });
                if (adam) timed(rw, dw_adam);
                break;
            }
            int ri = profile_row(p, l->name, "bwd input", flops_layer(l, PROF_BWD_INPUT, n, act),
                                 bytes_layer(l, PROF_BWD_INPUT, n, act), 1);
            size_t ny = (size_t)n * shape3_size(l->out) * sizeof(float);
            CUDA_CHECK(cudaMemcpyAsync(in.dsave, dcur, ny, cudaMemcpyDeviceToDevice, s));
            int kw = timed(rw, [&] { bwd(NULL); });
            CUDA_CHECK(cudaMemcpyAsync(dcur, in.dsave, ny, cudaMemcpyDeviceToDevice, s));
            timed(ri, [&] { bwd(dnext); });
            sh.push_back({ri, kw, -1});
            if (adam) timed(rw, dw_adam);
            break;
        }
        case LAYER_MAXPOOL2D:
            if (i) {
                int row = profile_row(p, l->name, "bwd input", flops_layer(l, PROF_BWD_INPUT, n, act),
                                      bytes_layer(l, PROF_BWD_INPUT, n, act), 1);
                timed(row, [&] { maxpool2d_backward_cuda(l, ctx, n, dcur, dnext, d->aux[i]); });
            }
            break;
        case LAYER_FLATTEN: continue;   // the gradient passes through unchanged
        case LAYER_ACTIVATION: {
            size_t sz = (size_t)n * shape3_size(l->in);
            if (act != ACT_LINEAR) {
                int row = profile_row(p, l->name, "bwd input", flops_layer(l, PROF_BWD_INPUT, n, act),
                                      bytes_layer(l, PROF_BWD_INPUT, n, act), 1);
                timed(row, [&] {
                    ew_apply_cuda(ctx, act == ACT_RELU ? EW_RELU_GRAD : EW_SIGMOID_GRAD, DT_F32, sz,
                                  d->y[i], dcur, dcur);
                });
            }
            continue;   // dx = dy, in place
        }
        default: NN_DIE("layer %d: kind %d has no CUDA path", i + 1, (int)l->kind);
        }
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
    if (d->fuse_adam) {   // the parameters whose Adam was not fused into their gradient
        size_t rest = 0;
        for (int j = 0; j < d->nranges; j++) rest += d->rlen[j];
        int arow = profile_row(p, "Adam (rest of the arena)", "update", flops_adam(rest), bytes_adam(rest), 1);
        timed(arow, [&] {
            adam_ranges_cuda(ctx, opt, d->alpha, d->step, d->nranges, d->roff, d->rlen, d->w, d->g, d->m, d->v);
        });
    } else {
        int arow = profile_row(p, "Adam", "update", flops_adam(d->nparams), bytes_adam(d->nparams), 1);
        timed(arow, [&] { adam_step_cuda(ctx, opt, d->alpha, d->step, d->nparams, d->w, d->g, d->m, d->v); });
    }
}

extern "C" int profile_cuda(model *m, const nn_ctx *ctx, int batch, int warmup, int reps,
                            profile *p, char *err) {
    if (!ctx || ctx->backend != NN_CUDA || !ctx->cuda) return nn_fail(err, "profile_cuda: not a CUDA context");
    if (profile_begin(m, batch, warmup, reps, p, err)) return -1;
    snprintf(p->device, sizeof p->device, "cuda (%s, %d SMs)", ctx->cuda->name, ctx->cuda->sm_count);
    cudaStream_t s = ctx_stream(ctx);
    peaks_cuda(ctx, &p->peak);

    cuda_model *d = cuda_model_get(m, ctx, batch);
    cuda_model_ensure_steps(m, 1, batch);
    const size_t P = d->nparams, pb = (P ? P : 1) * sizeof(float);
    // The state the rounds and the timed steps change, put back at the end.
    float *keep = (float *)CUDA_MALLOC(3 * pb, "profile: saved weights and Adam state", -1);
    CUDA_CHECK(cudaMemcpyAsync(keep, d->w, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync((char *)keep + pb, d->m, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync((char *)keep + 2 * pb, d->v, pb, cudaMemcpyDeviceToDevice, s));

    // Random inputs, labels and images (seeded), Adam's first step size, step counter 0.
    size_t in = shape3_size(m->input), most = in;
    for (int i = 0; i < m->nlayers; i++) most = NN_MAX(most, shape3_size(m->layers[i].out));
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
    prof_inputs pin = {};
    pin.dsave = (float *)CUDA_MALLOC((size_t)batch * most * sizeof(float), "profile: gradient copy", batch);
    if (m->input.c == 3) {
        size_t npix = (size_t)batch * in;
        std::vector<uint8_t> px(npix);
        std::vector<int32_t> lab(batch), ord(batch);
        std::vector<aug_params> aug(batch);
        for (uint8_t &v : px) v = (uint8_t)rng_below(&r, 256);
        for (int i = 0; i < batch; i++) lab[i] = (int32_t)rng_below(&r, 2), ord[i] = i, augment_draw(&r, &aug[i]);
        pin.pixels = (uint8_t *)CUDA_MALLOC(npix, "profile: images", batch);
        pin.lab = (int32_t *)CUDA_MALLOC(batch * sizeof(int32_t), "profile: image labels", batch);
        pin.order = (int32_t *)CUDA_MALLOC(batch * sizeof(int32_t), "profile: order", batch);
        pin.aug = (aug_params *)CUDA_MALLOC(batch * sizeof(aug_params), "profile: augmentation", batch);
        CUDA_CHECK(cudaMemcpy(pin.pixels, px.data(), npix, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(pin.lab, lab.data(), batch * sizeof(int32_t), cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(pin.order, ord.data(), batch * sizeof(int32_t), cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(pin.aug, aug.data(), batch * sizeof(aug_params), cudaMemcpyHostToDevice));
    }

    op_timer T;
    T.s = s;
    std::vector<share> sh;
    std::vector<std::vector<double>> samples;
    for (int k = -warmup; k < reps; k++) {
        gpu_round(m, ctx, batch, &opt, pin, p, T, sh);
        CUDA_CHECK(cudaStreamSynchronize(s));
        if (k < 0) continue;
        std::vector<double> val(p->nrows, 0.0);
        for (const share &e : sh) val[e.row] += e.sign * T.ms(e.op);
        samples.resize(p->nrows);
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
             "Rows: device time of each kernel of the step launched alone between CUDA events, the "
             "launches queued behind a spin\nkernel so the events time the GPU's work, not the host's "
             "gaps. A layer with weights and an input gradient runs its\nbackward twice from the same "
             "dy: dx = NULL (bwd weights), then whole; bwd input is the difference. bwd weights+Adam: a "
             "dense kernel's Adam\nruns in its dW product's epilogue (NN_CUDA_FUSE=0 unfuses); the step "
             "runs the big one on a second stream beside the\nlayers below it, so the rows, each timed "
             "alone, may add up to more than the graph step. augmentation* "
             "builds a batch from uint8 images on the device; nn bench's step takes its inputs "
             "ready-made.");

    CUDA_CHECK(cudaMemcpyAsync(d->w, keep, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->m, (char *)keep + pb, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->v, (char *)keep + 2 * pb, pb, cudaMemcpyDeviceToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    cuda_free(keep);
    cuda_free(pin.dsave), cuda_free(pin.pixels), cuda_free(pin.lab), cuda_free(pin.order), cuda_free(pin.aug);
    return rc;
}
