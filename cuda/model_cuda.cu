// model_cuda.cu: the model's device mirror, the GPU's plan (which layers run fused) and the
// CUDA backend of the step walk (nn/step.h). The walk itself is nn/step.c's, the same as the C
// path's: this file only says what the GPU does differently.
//
// The plan: every layer is a node running its own CUDA twin (layers/<type>.c's table entry,
// cuda/<type>_cuda.cu), except where a fusion applies (NN_CUDA_FUSE=0 turns them all off):
//   - conv + ReLU + 2x2/2 max-pool as the model's first two layers: one node whose forward
//     never writes the conv output and whose backward gives dW from the pooled gradient
//     (conv2d_pool_*, conv2d_cuda.cu);
//   - each dense layer's backward: dx from the weights before the update, then dW straight into
//     Adam (the gradient is never stored); the big one (the article's 30752 x 128) on a second
//     stream, overlapping the layers below it, joined before anything writes what it reads;
//   - the binary head for batches up to HEAD_MAX_BATCH: the last dense (in -> 1) forward, the
//     loss, its backward and Adam as one kernel (head_train_cuda, loss_cuda.cu).
// Adam over the arena then skips the parameters the fused passes updated. A run with a gradient
// hook (data-parallel training, nccl_cuda.cu) keeps the conv + pool fusion (its gradient goes
// to the arena) but neither the dense dW + Adam nor the head: every gradient must reach the
// arena to be summed over the ranks before any Adam.
// The device buffers are allocated once per model and batch size (nn/step.c's
// step_alloc_buffers, through this backend's allocator); the passes only queue kernels on the
// context's stream, so the same code runs eagerly or inside a captured CUDA graph (train_cuda.cu).
#include <stdlib.h>
#include <string.h>

#include "model_cuda.h"

extern "C" {
#include "../nn/cuda_api.h"
}

static cuda_model *dev_of(model_run *r) { return (cuda_model *)r; }

// NN_CUDA_FUSE=0 turns the fusions off (conv+pool, dense dW+Adam, the head), to measure them.
static int fusion_on(void) {
    const char *e = getenv("NN_CUDA_FUSE");
    return !(e && e[0] == '0');
}

// NN_CUDA_BNPOOL=1 runs each batchnorm followed by max pooling as one node
// (batchnorm_pool_*_cuda): catdog_bn's step 6-9% faster on an H100 (bench/RESULTS.md,
// 2026-12-08), and the kernels match the C path's two layers (test_cuda_bn_dropout). Off by
// default until a whole model trained through it has been checked against the C path on a card
// (test_train_catdog_bn's "fused" run, written after that measurement).
static int bnpool_on(void) {
    const char *e = getenv("NN_CUDA_BNPOOL");
    return e && e[0] == '1';
}

// NN_CUDA_RELU_FOLD=1: a max pool over a ReLU conv takes the ReLU's gradient into its backward
// (pool_relu_forward). Written without a card; off until test_cuda_ops / test_cuda_model have
// passed with it on one.
static int relu_fold_on(void) {
    const char *e = getenv("NN_CUDA_RELU_FOLD");
    return e && e[0] == '1';
}

// --- the backend

static void *dev_alloc(size_t bytes, const char *what, int batch) { return CUDA_MALLOC(bytes, what, batch); }

static void dev_copy(const nn_ctx *ctx, void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx_stream(ctx)));
}

static void dev_loss(model_run *r, const nn_ctx *ctx, loss_kind kind, int c, int n, int grad_n,
                     const float *z, const float *labels, float *dz) {
    cuda_model *d = dev_of(r);
    if (kind == LOSS_CCE) cce_logits_cuda(ctx, n, c, grad_n, z, labels, dz, d->loss, d->correct, d->step);
    else bce_logits_cuda(ctx, n, grad_n, z, labels, dz, d->loss, d->correct, d->step);
}

static void dev_adam(model *m, model_run *r, const nn_ctx *ctx, const adam_cfg *opt) {
    cuda_model *d = dev_of(r);
    if (r->adam_partial)   // ADAM_MAX_RANGES a launch (batchnorm's fixed tensors add ranges)
        for (int k = 0; k < r->nranges; k += ADAM_MAX_RANGES)
            adam_ranges_cuda(ctx, opt, d->alpha, d->step, NN_MIN(ADAM_MAX_RANGES, r->nranges - k),
                             r->roff + k, r->rlen + k, r->w, r->g, r->m, r->v);
    else
        adam_step_cuda(ctx, opt, d->alpha, d->step, m->nparams, r->w, r->g, r->m, r->v);
}

// The side stream's work must be finished before anything writes the buffer it reads, and
// before the step ends (the next step's forward reads the weights it updates).
static void join_side(cuda_model *d, const nn_ctx *ctx) {
    if (!d->side_reads) return;
    CUDA_CHECK(cudaStreamWaitEvent(ctx_stream(ctx), d->join, 0));
    d->side_reads = NULL;
}

static void dev_before_write(model_run *r, const nn_ctx *ctx, const float *buf) {
    cuda_model *d = dev_of(r);
    if (d->side_reads == buf) join_side(d, ctx);
}

static void dev_end_step(model_run *r, const nn_ctx *ctx) { join_side(dev_of(r), ctx); }

// The binary head (last layer dense in -> 1, trained from logits) runs as one fused kernel for
// batches up to HEAD_MAX_BATCH, where its five small kernels would each cost more than their work.
#define HEAD_MAX_BATCH 64
// Binary cross-entropy only: a softmax head (LOSS_CCE) takes the plain loss kernel.
static int head_fusable(const model *m) {
    const layer *l = &m->layers[m->nlayers - 1];
    return m->nlayers >= 2 && model_loss_kind(m) == LOSS_BCE && l->kind == LAYER_DENSE &&
           l->units == 1 && l->in.c <= 4096 && model_pass_act(m, m->nlayers - 1, 1) == ACT_LINEAR;
}

static int dev_head_ok(const model *m, const model_run *r, int n) {
    const step_node *last = &r->nodes[r->nnodes - 1];
    return last->adam_fused && n <= HEAD_MAX_BATCH && head_fusable(m) && last->first == m->nlayers - 1;
}

static void dev_head(model *m, model_run *r, const nn_ctx *ctx, int n, int grad_n, const float *h,
                     float *dx, const adam_cfg *opt) {
    cuda_model *d = dev_of(r);
    const int top = m->nlayers - 1;
    const layer *l = &m->layers[top];
    if (grad_n != n) NN_DIE("the fused head takes whole batches only (plan error)");
    head_train_cuda(ctx, n, l->in.c, h, d->labels, r->w + l->woff, l->bsize ? r->w + l->boff : NULL,
                    r->m + l->woff, r->v + l->woff, r->y[top], dx, l->bsize ? r->g + l->boff : NULL,
                    d->loss, d->correct, opt, d->alpha, d->step);
}

static const step_backend dev_backend = {
    .alloc = dev_alloc, .free = cuda_free, .copy = dev_copy, .loss = dev_loss, .adam = dev_adam,
    .head_ok = dev_head_ok, .head = dev_head, .before_write = dev_before_write,
    .end_step = dev_end_step,
};

// --- fused nodes

static int node_index(const model_run *r, const step_node *nd) { return (int)(nd - r->nodes); }

// conv + ReLU + 2x2 max-pool, the model's first two layers.
static void conv_pool_forward(model *m, model_run *r, const step_node *nd, const nn_ctx *ctx, int n,
                              const float *x, int logits) {
    (void)logits;
    const layer *conv = &m->layers[nd->first], *pool = &m->layers[nd->first + 1];
    conv2d_pool_forward_cuda(conv, pool, ctx, n, x, r->w + conv->woff, r->y[nd->first + 1],
                             (uint8_t *)r->naux[node_index(r, nd)]);
}

static void conv_pool_backward(model *m, model_run *r, const step_node *nd, const nn_ctx *ctx,
                               int n, const float *x, float *dy, float *dx, const adam_cfg *opt) {
    (void)dx, (void)opt;
    const layer *conv = &m->layers[nd->first], *pool = &m->layers[nd->first + 1];
    conv2d_pool_backward_cuda(conv, pool, ctx, n, x, r->y[nd->first + 1],
                              (const uint8_t *)r->naux[node_index(r, nd)], dy, r->g + conv->woff,
                              r->ws, r->ws_floats);
}

// The conv's products and the pool's comparisons; forward reads x, W, b and writes the pooled y
// and its uint8 window positions; the weight pass reads x, the pooled y (the ReLU gate), the
// positions and dy, and writes dW, db. No input pass.
static double conv_pool_flops(const model *m, const step_node *nd, prof_pass p, int n) {
    const layer *conv = &m->layers[nd->first], *pool = &m->layers[nd->first + 1];
    if (p == PROF_BWD_INPUT) return 0;
    double f = layer_ops_of(conv->kind)->flops(conv, p, n, ACT_RELU);
    return p == PROF_FORWARD ? f + layer_ops_of(pool->kind)->flops(pool, PROF_FORWARD, n, ACT_LINEAR) : f;
}

static double conv_pool_bytes(const model *m, const step_node *nd, prof_pass p, int n) {
    const layer *conv = &m->layers[nd->first], *pool = &m->layers[nd->first + 1];
    double x = (double)n * shape3_size(conv->in), w = (double)layer_nparams(conv);
    double y = (double)n * shape3_size(pool->out);
    if (p == PROF_FORWARD) return 4 * (x + w + y) + y;
    if (p == PROF_BWD_WEIGHTS) return 4 * (x + 2 * y + w) + y;
    return 0;
}

// batchnorm then max pooling: the normalised tensor and its gradient never stored.
static void bn_pool_forward(model *m, model_run *r, const step_node *nd, const nn_ctx *ctx, int n,
                            const float *x, int logits) {
    (void)logits;
    const layer *bn = &m->layers[nd->first], *pool = &m->layers[nd->first + 1];
    batchnorm_pool_forward_cuda(bn, pool, ctx, n, x, r->w + bn->woff, r->y[nd->first + 1],
                                r->naux[node_index(r, nd)], r->training, r->ws, r->ws_floats);
}

static void bn_pool_backward(model *m, model_run *r, const step_node *nd, const nn_ctx *ctx, int n,
                             const float *x, float *dy, float *dx, const adam_cfg *opt) {
    (void)opt;
    const layer *bn = &m->layers[nd->first], *pool = &m->layers[nd->first + 1];
    batchnorm_pool_backward_cuda(bn, pool, ctx, n, x, r->w + bn->woff, dy, dx, r->g + bn->woff,
                                 r->naux[node_index(r, nd)], nd->relu_dx, r->ws, r->ws_floats);
}

// Max pooling over a ReLU conv: the windows whose max is not positive keep no position, so the
// pool's backward gives the conv's dy with the ReLU's gradient in it (maxpool2d_forward_cuda).
static void pool_relu_forward(model *m, model_run *r, const step_node *nd, const nn_ctx *ctx, int n,
                              const float *x, int logits) {
    (void)logits;
    const int i = nd->first;
    maxpool2d_forward_cuda(&m->layers[i], ctx, n, x, r->y[i], (int32_t *)r->aux[i], r->training);
}

// The two layers' arithmetic; forward reads x twice (the statistics, the windows) and writes the
// pooled y, xsel and positions; backward reads dy, xsel (the sums), then x, dy and the positions,
// and writes dx.
static double bn_pool_flops(const model *m, const step_node *nd, prof_pass p, int n) {
    double f = 0;
    for (int i = nd->first; i < nd->first + 2; i++)
        f += layer_ops_of(m->layers[i].kind)->flops(&m->layers[i], p, n, ACT_LINEAR);
    return f;
}

static double bn_pool_bytes(const model *m, const step_node *nd, prof_pass p, int n) {
    const layer *bn = &m->layers[nd->first], *pool = &m->layers[nd->first + 1];
    double x = (double)n * shape3_size(bn->in), y = (double)n * shape3_size(pool->out);
    if (p == PROF_FORWARD) return 4 * (2 * x + 3 * y);
    if (p == PROF_BWD_INPUT) return 4 * (2 * x + 2 * y);
    if (p == PROF_BWD_WEIGHTS) return 4 * 2 * y;
    return 0;
}

// dW + Adam of a dense layer: on the side stream when the kernel is big (the article's 30752 x
// 128), where it overlaps the layers below (memory-bound streaming beside the compute-bound
// conv backward); inline for small ones, and while a profiler times the passes one by one.
#define SIDE_MIN_PARAMS (1 << 20)
static void dense_dw_adam(model_run *r, cuda_model *d, const nn_ctx *ctx, const layer *l, int n,
                          const float *xin, const float *dy, const adam_cfg *opt) {
    const int in = l->in.c, out = l->units;
    float *w = r->w + l->woff, *mm = r->m + l->woff, *v = r->v + l->woff;
    if (l->wsize < SIDE_MIN_PARAMS || d->side_reads || r->profiling) {
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

static void dense_adam_backward(model *m, model_run *r, const step_node *nd, const nn_ctx *ctx,
                                int n, const float *x, float *dy, float *dx, const adam_cfg *opt) {
    const int i = nd->first;
    const layer *l = &m->layers[i];
    // dx from the weights before the update, then dW straight into Adam
    dense_backward_dx_cuda(l, ctx, n, r->w + l->woff, r->y[i], dy, dx, r->g + l->woff,
                           model_pass_act(m, i, 1), r->ws, r->ws_floats);
    dense_dw_adam(r, dev_of(r), ctx, l, n, x, dy, opt);
}

// The weight pass's products and the kernel's Adam; dW is never stored: reads x, dy (y unless
// linear) and the kernel's w, m, v, writes w, m, v and the bias gradient. Forward as the layer's.
static double dense_adam_flops(const model *m, const step_node *nd, prof_pass p, int n) {
    const layer *l = &m->layers[nd->first];
    double f = layer_ops_of(l->kind)->flops(l, p, n, model_pass_act(m, nd->first, 1));
    return p == PROF_BWD_WEIGHTS ? f + 12.0 * (double)l->wsize : f;
}

static double dense_adam_bytes(const model *m, const step_node *nd, prof_pass p, int n) {
    const layer *l = &m->layers[nd->first];
    act_kind act = model_pass_act(m, nd->first, 1);
    if (p != PROF_BWD_WEIGHTS) return layer_ops_of(l->kind)->bytes(l, p, n, act);
    double x = (double)n * shape3_size(l->in), y = (double)n * shape3_size(l->out);
    return 4 * (x + y + (act != ACT_LINEAR ? y : 0) + (double)l->bsize) + 4.0 * 6 * (double)l->wsize;
}

// --- the plan

// below is a conv2d with a ReLU, alone in its node (its backward the layer's own), whose output
// is layer i's input: i may fold the ReLU's gradient into the dy it gives below (act_done).
static int relu_conv_node(const model *m, const step_node *below, int i) {
    return !below->forward && !below->backward && below->count == 1 && below->first == i - 1 &&
           m->layers[i - 1].kind == LAYER_CONV2D && model_pass_act(m, i - 1, 1) == ACT_RELU;
}

static void make_plan(model *m, cuda_model *d, const nn_ctx *ctx, int batch) {
    model_run *r = &d->r;
    step_plan_plain(m, r);
    if (fusion_on()) {
        if (m->nlayers >= 2 && conv2d_pool_fusable(&m->layers[0], &m->layers[1], 1) &&
            step_node_of(r, 0) == 0 && step_node_of(r, 1) == 1) {
            step_node *nd = &r->nodes[0];
            nd->count = 2;
            snprintf(nd->what, sizeof nd->what, "%s + %s", m->layers[0].name, m->layers[1].name);
            nd->forward = conv_pool_forward;
            nd->backward = conv_pool_backward;
            nd->no_dx = nd->inner_unused = 1;
            nd->scratch = conv2d_pool_ws_floats(&m->layers[0], &m->layers[1], ctx, batch);
            nd->aux_bytes = (size_t)batch * shape3_size(m->layers[1].out);   // uint8 positions
            nd->flops = conv_pool_flops;
            nd->bytes = conv_pool_bytes;
            memmove(&r->nodes[1], &r->nodes[2], (size_t)(r->nnodes - 2) * sizeof *r->nodes);
            r->nnodes--;
        }
        for (int k = 0; k + 1 < r->nnodes && bnpool_on(); k++) {
            step_node *nd = &r->nodes[k];
            const int i = nd->first;
            if (nd->forward || r->nodes[k + 1].forward || r->nodes[k + 1].first != i + 1 ||
                !batchnorm_pool_fusable(&m->layers[i], &m->layers[i + 1]))
                continue;
            nd->count = 2;
            snprintf(nd->what, sizeof nd->what, "%s + %s", m->layers[i].name, m->layers[i + 1].name);
            nd->forward = bn_pool_forward;
            nd->backward = bn_pool_backward;
            nd->inner_unused = 1;
            nd->scratch = batchnorm_pool_ws_floats(&m->layers[i], &m->layers[i + 1], ctx, batch);
            nd->aux_bytes = batchnorm_pool_aux_bytes(&m->layers[i], &m->layers[i + 1], batch);
            nd->flops = bn_pool_flops;
            nd->bytes = bn_pool_bytes;
            memmove(&r->nodes[k + 1], &r->nodes[k + 2], (size_t)(r->nnodes - k - 2) * sizeof *r->nodes);
            r->nnodes--;
            // A ReLU conv below (catdog_bn's every block): its gradient, (x > 0), is folded into
            // this node's dx, and the conv's own pass over dy (read y and dy, write dy) goes.
            if (k > 0 && relu_conv_node(m, &r->nodes[k - 1], i)) r->nodes[k - 1].act_done = nd->relu_dx = 1;
        }
        // A max pool over a ReLU conv (catdog2's and catdog3's inner blocks) takes the conv's
        // ReLU gradient into its backward, and the conv's own pass over dy goes.
        for (int k = 1; k < r->nnodes && relu_fold_on(); k++) {
            step_node *nd = &r->nodes[k], *below = &r->nodes[k - 1];
            const int i = nd->first;
            if (nd->forward || nd->backward || nd->count != 1 || m->layers[i].kind != LAYER_MAXPOOL2D ||
                !relu_conv_node(m, below, i))
                continue;
            nd->forward = pool_relu_forward;
            below->act_done = 1;
        }
        for (int k = 0; k < r->nnodes && !r->grad.reduce; k++) {
            step_node *nd = &r->nodes[k];
            const layer *l = &m->layers[nd->first];
            if (nd->forward || l->kind != LAYER_DENSE || !l->wsize) continue;
            nd->backward = dense_adam_backward;
            nd->adam_fused = 1;
            nd->scratch = dense_cuda_ws_floats(l, ctx, batch);
            nd->flops = dense_adam_flops;
            nd->bytes = dense_adam_bytes;
        }
    }
    step_plan_adam(m, r);
    if (r->nranges > ADAM_MAX_RANGES) {   // too many pieces: plain Adam over the arena
        for (int k = 0; k < r->nnodes; k++)
            if (r->nodes[k].adam_fused) r->nodes[k].adam_fused = 0, r->nodes[k].backward = NULL,
                                        r->nodes[k].flops = NULL, r->nodes[k].bytes = NULL;
        step_plan_adam(m, r);
    }
}

// --- the mirror

void cuda_model_drop_graph(cuda_model *d) {
    if (d->graph) CUDA_CHECK(cudaGraphExecDestroy(d->graph));
    d->graph = NULL;
    d->graph_src = cuda_batch_source{};
    d->graph_batch = 0;
}

static void free_batch(cuda_model *d) {
    step_free_buffers(&d->r);
    cuda_free(d->x);
    cuda_free(d->labels);
    if (d->h_out) CUDA_CHECK(cudaFreeHost(d->h_out));
    d->x = d->labels = d->h_out = NULL;
}

static void alloc_batch(model *m, cuda_model *d, const nn_ctx *ctx, int batch) {
    make_plan(m, d, ctx, batch);
    step_alloc_buffers(m, &d->r, ctx, batch);
    d->x = (float *)CUDA_MALLOC((size_t)batch * shape3_size(m->input) * sizeof(float), "input batch", batch);
    d->labels = (float *)CUDA_MALLOC((size_t)batch * sizeof(float), "labels", batch);
    CUDA_CHECK(cudaMallocHost((void **)&d->h_out, (size_t)batch * model_output_size(m) * sizeof(float)));
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
        d->r.be = &dev_backend;
        d->r.backend = NN_CUDA;
        d->cuda = ctx->cuda;
        size_t bytes = (m->nparams ? m->nparams : 1) * sizeof(float);
        d->r.w = (float *)CUDA_MALLOC(bytes, "weights", -1);
        d->r.g = (float *)CUDA_MALLOC(bytes, "gradients", -1);
        d->r.m = (float *)CUDA_MALLOC(bytes, "Adam first moments", -1);
        d->r.v = (float *)CUDA_MALLOC(bytes, "Adam second moments", -1);
        d->step = (int *)CUDA_MALLOC(sizeof(int), "step counter", -1);
        d->r.step_dev = d->step;
        CUDA_CHECK(cudaStreamCreateWithFlags(&d->side, cudaStreamNonBlocking));
        CUDA_CHECK(cudaEventCreateWithFlags(&d->fork, cudaEventDisableTiming));
        CUDA_CHECK(cudaEventCreateWithFlags(&d->join, cudaEventDisableTiming));
        if (cuda_nccl_wanted(ctx)) cuda_allreduce_attach(d, ctx);   // before the plan is made
        m->dev = d;
        cudaStream_t s = ctx_stream(ctx);
        CUDA_CHECK(cudaMemcpyAsync(d->r.w, m->w, bytes, cudaMemcpyHostToDevice, s));
        CUDA_CHECK(cudaMemcpyAsync(d->r.m, m->m, bytes, cudaMemcpyHostToDevice, s));
        CUDA_CHECK(cudaMemcpyAsync(d->r.v, m->v, bytes, cudaMemcpyHostToDevice, s));
        CUDA_CHECK(cudaMemsetAsync(d->r.g, 0, bytes, s));
        CUDA_CHECK(cudaStreamSynchronize(s));
    }
    if (batch > d->r.batch) {
        CUDA_CHECK(cudaStreamSynchronize(ctx_stream(ctx)));
        cuda_model_drop_graph(d);
        free_batch(d);
        alloc_batch(m, d, ctx, batch);
    }
    return d;
}

// Per-step arrays for `steps` steps (grown, never shrunk).
void cuda_model_ensure_steps(model *m, int steps) {
    cuda_model *d = m->dev;
    if (steps > d->cap) {
        int cap = NN_MAX(steps, 64);
        cuda_free(d->alpha);
        cuda_free(d->tsteps);
        cuda_free(d->loss);
        cuda_free(d->correct);
        if (d->h_loss) CUDA_CHECK(cudaFreeHost(d->h_loss));
        if (d->h_correct) CUDA_CHECK(cudaFreeHost(d->h_correct));
        d->alpha = (float *)CUDA_MALLOC(cap * sizeof(float), "Adam step sizes", -1);
        d->tsteps = (int64_t *)CUDA_MALLOC(cap * sizeof(int64_t), "training step numbers", -1);
        // zero for the callers that only time steps (the profiler); the others upload theirs
        CUDA_CHECK(cudaMemsetAsync(d->tsteps, 0, cap * sizeof(int64_t), d->cuda->stream));
        d->r.t_dev = d->tsteps;
        d->loss = (float *)CUDA_MALLOC(cap * sizeof(float), "step losses", -1);
        d->correct = (int *)CUDA_MALLOC(cap * sizeof(int), "step accuracies", -1);
        CUDA_CHECK(cudaMallocHost((void **)&d->h_loss, cap * sizeof(float)));
        CUDA_CHECK(cudaMallocHost((void **)&d->h_correct, cap * sizeof(int)));
        d->cap = cap;
        cuda_model_drop_graph(d);   // the graph holds the old pointers
    }
}

// --- passes

const float *cuda_forward_queue(model *m, const nn_ctx *ctx, int n, const float *x, int logits) {
    return step_forward(m, &m->dev->r, ctx, n, x, logits, NULL);
}

void cuda_step_queue(model *m, const nn_ctx *ctx, int n, const float *x, const adam_cfg *opt,
                     const step_hook *h) {
    cuda_model *d = m->dev;
    d->r.profiling = h != NULL;
    step_train(m, &d->r, ctx, n, d->grad_n ? d->grad_n : n, x, d->labels, opt, h);
    d->r.profiling = 0;
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
    CUDA_CHECK(cudaMemcpyAsync(d->r.w, m->w, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->r.m, m->m, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->r.v, m->v, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    m->dev_newer = 0;
    return 0;
}

extern "C" void cuda_model_download(struct model *m) {
    cuda_model *d = m->dev;
    if (!d) return;
    size_t bytes = m->nparams * sizeof(float);
    cudaStream_t s = d->cuda->stream;
    CUDA_CHECK(cudaMemcpyAsync(m->w, d->r.w, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaMemcpyAsync(m->m, d->r.m, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaMemcpyAsync(m->v, d->r.v, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

extern "C" void cuda_model_free(struct model *m) {
    cuda_model *d = m->dev;
    if (!d) return;
    CUDA_CHECK(cudaDeviceSynchronize());
    cuda_model_drop_graph(d);
    free_batch(d);
    cuda_free(d->r.w), cuda_free(d->r.g), cuda_free(d->r.m), cuda_free(d->r.v);
    cuda_free(d->step), cuda_free(d->alpha), cuda_free(d->tsteps), cuda_free(d->loss);
    cuda_free(d->correct);
    cuda_allreduce_free(d);
    CUDA_CHECK(cudaStreamDestroy(d->side));
    CUDA_CHECK(cudaEventDestroy(d->fork));
    CUDA_CHECK(cudaEventDestroy(d->join));
    if (d->h_loss) CUDA_CHECK(cudaFreeHost(d->h_loss));
    if (d->h_correct) CUDA_CHECK(cudaFreeHost(d->h_correct));
    nn_free(d);
    m->dev = NULL;
    m->dev_newer = 0;
}

extern "C" const float *cuda_model_forward(struct model *m, const nn_ctx *ctx, int n,
                                           const float *x, int logits) {
    cuda_model *d = cuda_model_get(m, ctx, NN_MAX(n, m->dev ? m->dev->r.batch : n));
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
    if (model_loss_kind(m) == LOSS_NONE)
        NN_DIE("training needs a model that ends in one sigmoid unit or a softmax over N >= 2 "
               "outputs; this one has %zu outputs", model_output_size(m));
    cuda_model *d = cuda_model_get(m, ctx, NN_MAX(n, m->dev ? m->dev->r.batch : n));
    cuda_model_ensure_steps(m, 1);
    cudaStream_t s = ctx_stream(ctx);
    size_t in = shape3_size(m->input);
    m->t++;
    float alpha = adam_alpha(opt, m->t);
    CUDA_CHECK(cudaMemcpyAsync(d->x, x, (size_t)n * in * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->labels, labels, (size_t)n * sizeof(float), cudaMemcpyHostToDevice, s));
    int64_t t = m->t;
    CUDA_CHECK(cudaMemcpyAsync(d->alpha, &alpha, sizeof alpha, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemcpyAsync(d->tsteps, &t, sizeof t, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemsetAsync(d->step, 0, sizeof(int), s));
    cuda_step_queue(m, ctx, n, d->x, opt, NULL);
    CUDA_CHECK(cudaMemcpyAsync(d->h_loss, d->loss, sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaMemcpyAsync(d->h_correct, d->correct, sizeof(int), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    m->dev_newer = 1;
    if (correct) *correct = d->h_correct[0];
    return d->h_loss[0];
}

extern "C" void cuda_model_predict(struct model *m, const nn_ctx *ctx, int n, const float *x,
                                   float *out) {
    cuda_model *d = cuda_model_get(m, ctx, m->dev ? m->dev->r.batch : NN_MIN(NN_MAX(n, 1), 1024));
    size_t in = shape3_size(m->input), osz = model_output_size(m);
    for (int s0 = 0; s0 < n; s0 += d->r.batch) {
        int k = NN_MIN(d->r.batch, n - s0);
        const float *y = cuda_model_forward(m, ctx, k, x + (size_t)s0 * in, 0);
        memcpy(out + (size_t)s0 * osz, y, (size_t)k * osz * sizeof(float));
    }
}
