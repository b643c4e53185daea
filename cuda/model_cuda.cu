// model_cuda.cu: the model's device mirror and the layer-by-layer forward and backward passes.
// The four parameter arenas, the activations and every scratch buffer are allocated once per
// model and batch size (cuda_model_get); the passes only queue kernels on the context's stream,
// so the same code runs eagerly or inside a captured CUDA graph (train_cuda.cu). The article's
// first two layers (conv 3x3 + ReLU, 2x2 max-pool) run fused when the model starts with them.
#include <stdlib.h>
#include <string.h>

#include "model_cuda.h"

extern "C" {
#include "../nn/cuda_api.h"
#include "../nn/elementwise.h"
}

// The activation a layer applies in this pass: as nn/model.c, the last sigmoid is left to the
// loss when logits are asked for.
static act_kind pass_act(const model *m, int i, int logits) {
    const layer *l = &m->layers[i];
    if (logits && i == m->nlayers - 1 && l->act == ACT_SIGMOID) return ACT_LINEAR;
    return l->act;
}

static void free_batch(cuda_model *d) {
    for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
        if (d->owns_y[i]) cuda_free(d->y[i]);
        cuda_free(d->aux[i]);
        d->y[i] = NULL, d->aux[i] = NULL, d->owns_y[i] = 0;
    }
    cuda_free(d->arg);
    cuda_free(d->x);
    cuda_free(d->labels);
    cuda_free(d->dbuf[0]);
    cuda_free(d->dbuf[1]);
    cuda_free(d->ws);
    if (d->h_out) CUDA_CHECK(cudaFreeHost(d->h_out));
    d->arg = NULL, d->x = d->labels = d->dbuf[0] = d->dbuf[1] = d->ws = d->h_out = NULL;
    d->ws_floats = 0;
    d->batch = 0;
}

void cuda_model_drop_graph(cuda_model *d) {
    if (d->graph) CUDA_CHECK(cudaGraphExecDestroy(d->graph));
    d->graph = NULL;
    d->graph_images = NULL;
    d->graph_batch = 0;
}

// NN_CUDA_FUSE=0 turns the fusions off (conv+pool, dense dW+Adam), to measure what they bring.
static int fusion_on(void) {
    const char *e = getenv("NN_CUDA_FUSE");
    return !(e && e[0] == '0');
}

// The parts of the arena whose Adam is not fused: everything but the dense kernels.
static void plan_adam(model *m, cuda_model *d) {
    d->fuse_adam = fusion_on();
    size_t at = 0;
    int nr = 0;
    for (int i = 0; i < m->nlayers && d->fuse_adam; i++) {
        const layer *l = &m->layers[i];
        if (l->kind != LAYER_DENSE || !l->wsize) continue;
        if (nr + 2 > ADAM_MAX_RANGES) {   // too many pieces: plain Adam over the arena
            d->fuse_adam = 0;
            break;
        }
        if (l->woff > at) d->roff[nr] = at, d->rlen[nr++] = l->woff - at;
        at = l->woff + l->wsize;
    }
    if (d->fuse_adam && m->nparams > at) d->roff[nr] = at, d->rlen[nr++] = m->nparams - at;
    d->nranges = d->fuse_adam ? nr : 0;
}

static void alloc_batch(model *m, cuda_model *d, const nn_ctx *ctx, int batch) {
    char what[128];
    d->fused = fusion_on() && m->nlayers >= 2 && conv2d_pool_fusable(&m->layers[0], &m->layers[1], 1);
    plan_adam(m, d);
    size_t in = shape3_size(m->input), most = model_output_size(m), ws = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        size_t sz = shape3_size(l->out);
        if (l->kind == LAYER_FLATTEN && i > 0) {
            d->y[i] = d->y[i - 1];   // the data does not move (NHWC order is the flat order)
        } else if (d->fused && i == 0) {
            d->y[i] = NULL;          // the conv output is never written
        } else {
            snprintf(what, sizeof what, "activations of layer %d (%s)", i + 1, l->name);
            d->y[i] = (float *)CUDA_MALLOC((size_t)batch * sz * sizeof(float), what, batch);
            d->owns_y[i] = 1;
        }
        if (l->aux_per_sample && !(d->fused && i == 1))
            d->aux[i] = (int32_t *)CUDA_MALLOC((size_t)batch * l->aux_per_sample * sizeof(int32_t),
                                               "max-pool indices", batch);
        // Gradients w.r.t. a layer's input exist for every layer but the first (and not for the
        // fused pool, whose input is the conv output).
        if (i > 0 && !(d->fused && i == 1)) most = NN_MAX(most, shape3_size(l->in));
        if (l->kind == LAYER_DENSE) ws = NN_MAX(ws, dense_cuda_ws_floats(l, ctx, batch));
        if (l->kind == LAYER_CONV2D && !(d->fused && i == 0))
            ws = NN_MAX(ws, conv2d_cuda_ws_floats(l, ctx, batch));
    }
    if (d->fused) {
        ws = NN_MAX(ws, conv2d_pool_ws_floats(&m->layers[0], &m->layers[1], ctx, batch));
        d->arg = (uint8_t *)CUDA_MALLOC((size_t)batch * shape3_size(m->layers[1].out),
                                        "max-pool window positions", batch);
    }
    d->x = (float *)CUDA_MALLOC((size_t)batch * in * sizeof(float), "input batch", batch);
    d->labels = (float *)CUDA_MALLOC((size_t)batch * sizeof(float), "labels", batch);
    d->dbuf[0] = (float *)CUDA_MALLOC((size_t)batch * most * sizeof(float), "gradient buffer", batch);
    d->dbuf[1] = (float *)CUDA_MALLOC((size_t)batch * most * sizeof(float), "gradient buffer", batch);
    d->ws_floats = ws;
    d->ws = ws ? (float *)CUDA_MALLOC(ws * sizeof(float), "kernel scratch", batch) : NULL;
    CUDA_CHECK(cudaMallocHost((void **)&d->h_out, (size_t)batch * model_output_size(m) * sizeof(float)));
    d->batch = batch;
}

// The device mirror with room for `batch` samples, created (arenas copied from the host) on
// first use; growing the batch reallocates the activations, never the arenas.
cuda_model *cuda_model_get(model *m, const nn_ctx *ctx, int batch) {
    if (!ctx || ctx->backend != NN_CUDA || !ctx->cuda)
        NN_DIE("the CUDA model path needs a CUDA context (cuda_ctx_init)");
    if (batch > CUDA_MAX_BATCH)
        NN_DIE("batch size %d is over the GPU path's limit of %d (the samples of a batch are one "
               "grid dimension of the conv and augmentation kernels); use a smaller --batch",
               batch, CUDA_MAX_BATCH);
    cuda_model *d = m->dev;
    if (!d) {
        d = (cuda_model *)nn_calloc(sizeof *d, "CUDA model");
        size_t bytes = (m->nparams ? m->nparams : 1) * sizeof(float);
        d->nparams = m->nparams;
        d->w = (float *)CUDA_MALLOC(bytes, "weights", -1);
        d->g = (float *)CUDA_MALLOC(bytes, "gradients", -1);
        d->m = (float *)CUDA_MALLOC(bytes, "Adam first moments", -1);
        d->v = (float *)CUDA_MALLOC(bytes, "Adam second moments", -1);
        d->step = (int *)CUDA_MALLOC(sizeof(int), "step counter", -1);
        CUDA_CHECK(cudaStreamCreateWithFlags(&d->side, cudaStreamNonBlocking));
        CUDA_CHECK(cudaEventCreateWithFlags(&d->fork, cudaEventDisableTiming));
        CUDA_CHECK(cudaEventCreateWithFlags(&d->join, cudaEventDisableTiming));
        m->dev = d;
        cudaStream_t s = ctx_stream(ctx);
        CUDA_CHECK(cudaMemcpyAsync(d->w, m->w, bytes, cudaMemcpyHostToDevice, s));
        CUDA_CHECK(cudaMemcpyAsync(d->m, m->m, bytes, cudaMemcpyHostToDevice, s));
        CUDA_CHECK(cudaMemcpyAsync(d->v, m->v, bytes, cudaMemcpyHostToDevice, s));
        CUDA_CHECK(cudaMemsetAsync(d->g, 0, bytes, s));
        CUDA_CHECK(cudaStreamSynchronize(s));
    }
    if (batch > d->batch) {
        CUDA_CHECK(cudaStreamSynchronize(ctx_stream(ctx)));
        cuda_model_drop_graph(d);
        free_batch(d);
        alloc_batch(m, d, ctx, batch);
    }
    return d;
}

// Per-step arrays for `steps` steps and `count` images (grown, never shrunk).
void cuda_model_ensure_steps(model *m, int steps, int count) {
    cuda_model *d = m->dev;
    if (steps > d->cap) {
        int cap = NN_MAX(steps, 64);
        cuda_free(d->alpha);
        cuda_free(d->loss);
        cuda_free(d->correct);
        if (d->h_loss) CUDA_CHECK(cudaFreeHost(d->h_loss));
        if (d->h_correct) CUDA_CHECK(cudaFreeHost(d->h_correct));
        d->alpha = (float *)CUDA_MALLOC(cap * sizeof(float), "Adam step sizes", -1);
        d->loss = (float *)CUDA_MALLOC(cap * sizeof(float), "step losses", -1);
        d->correct = (int *)CUDA_MALLOC(cap * sizeof(int), "step accuracies", -1);
        CUDA_CHECK(cudaMallocHost((void **)&d->h_loss, cap * sizeof(float)));
        CUDA_CHECK(cudaMallocHost((void **)&d->h_correct, cap * sizeof(int)));
        d->cap = cap;
        cuda_model_drop_graph(d);   // the graph holds the old pointers
    }
    if (count > d->order_cap) {
        cuda_free(d->order);
        cuda_free(d->aug);
        d->order = (int32_t *)CUDA_MALLOC(count * sizeof(int32_t), "epoch order", -1);
        d->aug = (aug_params *)CUDA_MALLOC(count * sizeof(aug_params), "augmentation", -1);
        d->order_cap = count;
        cuda_model_drop_graph(d);
    }
}

// --- passes

// The binary head (last layer dense in -> 1, trained from logits) runs as one fused kernel
// (head_train_cuda) for batches up to HEAD_MAX_BATCH, where its five small kernels would each
// cost more than their work.
#define HEAD_MAX_BATCH 64
static int use_head(const model *m, const cuda_model *d, int n) {
    const layer *l = &m->layers[m->nlayers - 1];
    return d->fuse_adam && n <= HEAD_MAX_BATCH && m->nlayers >= 2 && l->kind == LAYER_DENSE &&
           l->units == 1 && l->in.c <= 4096 && pass_act(m, m->nlayers - 1, 1) == ACT_LINEAR;
}

static const float *forward_layers(model *m, const nn_ctx *ctx, int n, const float *x, int logits,
                                   int upto) {
    cuda_model *d = m->dev;
    const float *cur = x;
    for (int i = 0; i < upto; i++) {
        const layer *l = &m->layers[i];
        act_kind act = pass_act(m, i, logits);
        const float *w = d->w + l->woff;
        if (d->fused && i == 0) {
            conv2d_pool_forward_cuda(l, &m->layers[1], ctx, n, cur, w, d->y[1], d->arg);
            cur = d->y[1];
            i++;
            continue;
        }
        switch (l->kind) {
        case LAYER_CONV2D: conv2d_forward_cuda(l, ctx, n, cur, w, d->y[i], act); break;
        case LAYER_MAXPOOL2D: maxpool2d_forward_cuda(l, ctx, n, cur, d->y[i], d->aux[i]); break;
        case LAYER_FLATTEN:
            if (d->y[i] != cur)   // a model that starts with flatten
                CUDA_CHECK(cudaMemcpyAsync(d->y[i], cur, (size_t)n * shape3_size(l->in) * sizeof(float),
                                           cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
            break;
        case LAYER_DENSE:
            dense_forward_cuda(l, ctx, n, cur, w, d->y[i], act, d->ws, d->ws_floats);
            break;
        case LAYER_ACTIVATION: {
            size_t sz = (size_t)n * shape3_size(l->in);
            if (act == ACT_RELU) ew_apply_cuda(ctx, EW_RELU, DT_F32, sz, cur, NULL, d->y[i]);
            else if (act == ACT_SIGMOID) ew_apply_cuda(ctx, EW_SIGMOID, DT_F32, sz, cur, NULL, d->y[i]);
            else CUDA_CHECK(cudaMemcpyAsync(d->y[i], cur, sz * sizeof(float), cudaMemcpyDeviceToDevice,
                                            ctx_stream(ctx)));
            break;
        }
        default: NN_DIE("layer %d: kind %d has no CUDA path", i + 1, (int)l->kind);
        }
        cur = d->y[i];
    }
    return cur;
}

const float *cuda_forward_queue(model *m, const nn_ctx *ctx, int n, const float *x, int logits) {
    return forward_layers(m, ctx, n, x, logits, m->nlayers);
}

// The side stream's work must be finished before anything writes the buffer it reads, and
// before the step ends (the next step's forward reads the weights it updates).
static void join_side(cuda_model *d, const nn_ctx *ctx) {
    if (!d->side_reads) return;
    CUDA_CHECK(cudaStreamWaitEvent(ctx_stream(ctx), d->join, 0));
    d->side_reads = NULL;
}

// dW + Adam of a dense layer: on the side stream when the kernel is big (the article's 30752 x
// 128), where it overlaps the layers below (memory-bound streaming beside the compute-bound
// conv backward); inline for small ones.
#define SIDE_MIN_PARAMS (1 << 20)
static void dense_dw_adam(model *m, cuda_model *d, const nn_ctx *ctx, const layer *l, int n,
                          const float *xin, const float *dy, const adam_cfg *opt) {
    const int in = l->in.c, out = l->units;
    float *w = d->w + l->woff, *mm = d->m + l->woff, *v = d->v + l->woff;
    (void)m;
    if (l->wsize < SIDE_MIN_PARAMS || d->side_reads) {
        sgemm_adam_cuda(ctx, 1, 0, in, out, n, xin, in, dy, out, w, mm, v, out, opt, d->alpha, d->step);
        return;
    }
    nn_cuda side_cuda = *ctx->cuda;
    side_cuda.stream = d->side;
    nn_ctx sctx = *ctx;
    sctx.cuda = &side_cuda;
    sctx.stream = (void *)d->side;
    CUDA_CHECK(cudaEventRecord(d->fork, ctx_stream(ctx)));
    CUDA_CHECK(cudaStreamWaitEvent(d->side, d->fork, 0));
    sgemm_adam_cuda(&sctx, 1, 0, in, out, n, xin, in, dy, out, w, mm, v, out, opt, d->alpha, d->step);
    CUDA_CHECK(cudaEventRecord(d->join, d->side));
    d->side_reads = dy;
}

static void train_queue(model *m, const nn_ctx *ctx, int n, const float *x, const adam_cfg *opt,
                        int head) {
    cuda_model *d = m->dev;
    float *dcur = d->dbuf[0], *dnext = d->dbuf[1];
    int top = m->nlayers - 1;
    if (head) {   // the last layer's forward, the loss and its backward in one kernel
        const layer *l = &m->layers[top];
        head_train_cuda(ctx, n, l->in.c, d->y[top - 1], d->labels, d->w + l->woff,
                        l->bsize ? d->w + l->boff : NULL, d->m + l->woff, d->v + l->woff, d->y[top],
                        dnext, l->bsize ? d->g + l->boff : NULL, d->loss, d->correct, opt, d->alpha,
                        d->step);
        dcur = d->dbuf[1], dnext = d->dbuf[0];
        top--;
    } else {
        bce_logits_cuda(ctx, n, d->y[top], d->labels, dcur, d->loss, d->correct, d->step);
    }
    for (int i = top; i >= 0; i--) {
        const layer *l = &m->layers[i];
        act_kind act = pass_act(m, i, 1);
        const float *xin = i ? d->y[i - 1] : x;
        const float *w = d->w + l->woff;
        float *gw = d->g + l->woff;
        if (d->side_reads == dnext && l->kind != LAYER_FLATTEN && l->kind != LAYER_ACTIVATION)
            join_side(d, ctx);   // this layer writes dnext
        if (d->fused && i == 1) {
            conv2d_pool_backward_cuda(&m->layers[0], l, ctx, n, x, d->y[1], d->arg, dcur,
                                      d->g + m->layers[0].woff, d->ws, d->ws_floats);
            break;
        }
        switch (l->kind) {
        case LAYER_CONV2D:
            conv2d_backward_cuda(l, ctx, n, xin, w, d->y[i], dcur, i ? dnext : NULL, gw, act, d->ws,
                                 d->ws_floats);
            break;
        case LAYER_MAXPOOL2D:
            if (i) maxpool2d_backward_cuda(l, ctx, n, dcur, dnext, d->aux[i]);
            break;
        case LAYER_FLATTEN: continue;   // the gradient passes through unchanged
        case LAYER_DENSE:
            if (d->fuse_adam) {
                // dx from the weights before the update, then dW straight into Adam
                dense_backward_dx_cuda(l, ctx, n, w, d->y[i], dcur, i ? dnext : NULL, gw, act,
                                       d->ws, d->ws_floats);
                dense_dw_adam(m, d, ctx, l, n, xin, dcur, opt);
            } else {
                dense_backward_cuda(l, ctx, n, xin, w, d->y[i], dcur, i ? dnext : NULL, gw, act,
                                    d->ws, d->ws_floats);
            }
            break;
        case LAYER_ACTIVATION: {
            size_t sz = (size_t)n * shape3_size(l->in);
            if (act == ACT_RELU) ew_apply_cuda(ctx, EW_RELU_GRAD, DT_F32, sz, d->y[i], dcur, dcur);
            else if (act == ACT_SIGMOID) ew_apply_cuda(ctx, EW_SIGMOID_GRAD, DT_F32, sz, d->y[i], dcur, dcur);
            continue;   // dx = dy, in place
        }
        default: NN_DIE("layer %d: kind %d has no CUDA path", i + 1, (int)l->kind);
        }
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
    if (d->fuse_adam)
        adam_ranges_cuda(ctx, opt, d->alpha, d->step, d->nranges, d->roff, d->rlen, d->w, d->g, d->m, d->v);
    else
        adam_step_cuda(ctx, opt, d->alpha, d->step, d->nparams, d->w, d->g, d->m, d->v);
    join_side(d, ctx);
}

void cuda_train_queue(model *m, const nn_ctx *ctx, int n, const float *x, const adam_cfg *opt) {
    train_queue(m, ctx, n, x, opt, 0);
}

void cuda_step_queue(model *m, const nn_ctx *ctx, int n, const float *x, const adam_cfg *opt) {
    int head = use_head(m, m->dev, n);
    forward_layers(m, ctx, n, x, 1, head ? m->nlayers - 1 : m->nlayers);
    train_queue(m, ctx, n, x, opt, head);
}

// --- the C side's entry points (nn/cuda_api.h)

extern "C" int cuda_model_upload(struct model *m, const nn_ctx *ctx, int batch, char *err) {
    if (!ctx || ctx->backend != NN_CUDA) return nn_fail(err, "cuda_model_upload: not a CUDA context");
    if (batch < 1) return nn_fail(err, "cuda_model_upload: batch %d is not positive", batch);
    if (batch > CUDA_MAX_BATCH)
        return nn_fail(err, "batch size %d is over the GPU path's limit of %d (the samples of a "
                       "batch are one grid dimension of the conv and augmentation kernels); use a "
                       "smaller --batch", batch, CUDA_MAX_BATCH);
    cuda_model *d = cuda_model_get(m, ctx, batch);
    size_t bytes = m->nparams * sizeof(float);
    cudaStream_t s = ctx_stream(ctx);
    CUDA_CHECK(cudaMemcpyAsync(d->w, m->w, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->m, m->m, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->v, m->v, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return 0;
}

extern "C" void cuda_model_download(struct model *m, const nn_ctx *ctx) {
    cuda_model *d = m->dev;
    if (!d) return;
    size_t bytes = m->nparams * sizeof(float);
    cudaStream_t s = ctx_stream(ctx);
    CUDA_CHECK(cudaMemcpyAsync(m->w, d->w, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaMemcpyAsync(m->m, d->m, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaMemcpyAsync(m->v, d->v, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

extern "C" void cuda_model_free(struct model *m) {
    cuda_model *d = m->dev;
    if (!d) return;
    CUDA_CHECK(cudaDeviceSynchronize());
    cuda_model_drop_graph(d);
    free_batch(d);
    cuda_free(d->w), cuda_free(d->g), cuda_free(d->m), cuda_free(d->v);
    cuda_free(d->step), cuda_free(d->alpha), cuda_free(d->loss), cuda_free(d->correct);
    cuda_free(d->order), cuda_free(d->aug);
    if (d->images) cuda_images_free(d->images);
    CUDA_CHECK(cudaStreamDestroy(d->side));
    CUDA_CHECK(cudaEventDestroy(d->fork));
    CUDA_CHECK(cudaEventDestroy(d->join));
    if (d->h_loss) CUDA_CHECK(cudaFreeHost(d->h_loss));
    if (d->h_correct) CUDA_CHECK(cudaFreeHost(d->h_correct));
    nn_free(d);
    m->dev = NULL;
}

extern "C" const float *cuda_model_forward(struct model *m, const nn_ctx *ctx, int n,
                                           const float *x, int logits) {
    cuda_model *d = cuda_model_get(m, ctx, NN_MAX(n, m->dev ? m->dev->batch : n));
    cudaStream_t s = ctx_stream(ctx);
    size_t in = shape3_size(m->input), out = model_output_size(m);
    CUDA_CHECK(cudaMemcpyAsync(d->x, x, (size_t)n * in * sizeof(float), cudaMemcpyHostToDevice, s));
    const float *y = cuda_forward_queue(m, ctx, n, d->x, logits);
    CUDA_CHECK(cudaMemcpyAsync(d->h_out, y, (size_t)n * out * sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return d->h_out;
}

extern "C" float cuda_model_train_step(struct model *m, const nn_ctx *ctx, int n, const float *x,
                                       const float *labels, const adam_cfg *opt, int *correct) {
    if (model_output_size(m) != 1)
        NN_DIE("training needs a model with one output (binary), this one has %zu",
               model_output_size(m));
    cuda_model *d = cuda_model_get(m, ctx, NN_MAX(n, m->dev ? m->dev->batch : n));
    cuda_model_ensure_steps(m, 1, 1);
    cudaStream_t s = ctx_stream(ctx);
    size_t in = shape3_size(m->input);
    m->t++;
    float alpha = adam_alpha(opt, m->t);
    CUDA_CHECK(cudaMemcpyAsync(d->x, x, (size_t)n * in * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->labels, labels, (size_t)n * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->alpha, &alpha, sizeof alpha, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemsetAsync(d->step, 0, sizeof(int), s));
    cuda_step_queue(m, ctx, n, d->x, opt);
    CUDA_CHECK(cudaMemcpyAsync(d->h_loss, d->loss, sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaMemcpyAsync(d->h_correct, d->correct, sizeof(int), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    if (correct) *correct = d->h_correct[0];
    return d->h_loss[0];
}

extern "C" void cuda_model_predict(struct model *m, const nn_ctx *ctx, int n, const float *x,
                                   float *out) {
    cuda_model *d = cuda_model_get(m, ctx, m->dev ? m->dev->batch : NN_MIN(NN_MAX(n, 1), 1024));
    size_t in = shape3_size(m->input), osz = model_output_size(m);
    for (int s0 = 0; s0 < n; s0 += d->batch) {
        int k = NN_MIN(d->batch, n - s0);
        const float *y = cuda_model_forward(m, ctx, k, x + (size_t)s0 * in, 0);
        memcpy(out + (size_t)s0 * osz, y, (size_t)k * osz * sizeof(float));
    }
}
