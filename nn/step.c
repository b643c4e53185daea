// step.c: the plan, the buffers and the one walk of a training step (see step.h), and the C
// backend. Nothing here knows which layers exist: each node runs its layer through the layer's
// table entry, or through the fused pass a backend's plan put there.
#include "step.h"

#include <stdio.h>
#include <string.h>

#include "adam.h"
#include "common.h"
#include "loss.h"

// --- plans

void step_plan_plain(const model *m, model_run *r) {
    r->nnodes = 0;
    for (int i = 0; i < m->nlayers; i++) {
        if (layer_ops_of(m->layers[i].kind)->alias) continue;
        step_node *nd = &r->nodes[r->nnodes++];
        memset(nd, 0, sizeof *nd);
        nd->first = i;
        nd->count = 1;
        snprintf(nd->what, sizeof nd->what, "%s", m->layers[i].name);
    }
}

int step_node_of(const model_run *r, int i) {
    for (int k = 0; k < r->nnodes; k++)
        if (i >= r->nodes[k].first && i < r->nodes[k].first + r->nodes[k].count) return k;
    return -1;
}

void step_plan_adam(const model *m, model_run *r) {
    // Adam covers every tensor but the kernels of adam_fused nodes and the fixed ones (moving
    // statistics): the ranges are the runs of covered tensors that touch in the arena.
    int nr = 0, partial = 0, open = 0;
    size_t start = 0, end = 0;
    const int most = (int)(sizeof r->roff / sizeof *r->roff);
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        const int k = step_node_of(r, i), fused = k >= 0 && r->nodes[k].adam_fused;
        for (int j = 0; j < l->ntensors; j++) {
            const layer_param *p = &l->params[j];
            if (!p->size) continue;
            if (p->fixed || (fused && j == 0)) {
                partial = 1;
                continue;
            }
            if (open && p->off == end) {
                end += p->size;
                continue;
            }
            if (open) r->roff[nr] = start, r->rlen[nr++] = end - start;
            if (nr + 1 > most) NN_DIE("step_plan_adam: more than %d Adam ranges", most);
            start = p->off, end = p->off + p->size, open = 1;
        }
    }
    if (open) r->roff[nr] = start, r->rlen[nr++] = end - start;
    r->nranges = partial ? nr : 0;
    r->adam_partial = partial;
}

// --- buffers

static size_t impl_scratch(const layer *l, const nn_ctx *ctx, const layer_impl *im, int n) {
    return im && im->scratch ? im->scratch(l, ctx, n) : 0;
}

void step_alloc_buffers(model *m, model_run *r, const nn_ctx *ctx, int batch) {
    const step_backend *be = r->be;
    char what[160];
    size_t most = model_output_size(m), ws = 0;
    for (int i = 0; i < m->nlayers; i++) r->y[i] = NULL, r->aux[i] = NULL, r->owns_y[i] = 0;
    const float *prev = NULL;   // the buffer flowing into layer i (NULL: the caller's input)
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        int k = step_node_of(r, i);
        const step_node *nd = k >= 0 ? &r->nodes[k] : NULL;
        if (!nd) {   // an alias: its output is its input's memory (flatten)
            r->y[i] = (float *)prev;
            if (!prev) {   // a model that starts with one: copy the input once
                snprintf(what, sizeof what, "activations of layer %d (%s)", i + 1, l->name);
                r->y[i] = be->alloc((size_t)batch * shape3_size(l->out) * sizeof(float), what, batch);
                r->owns_y[i] = 1;
            }
        } else if (nd->inner_unused && i < nd->first + nd->count - 1) {
            r->y[i] = NULL;   // inside a fusion: never written
        } else {
            snprintf(what, sizeof what, "activations of layer %d (%s)", i + 1, l->name);
            r->y[i] = be->alloc((size_t)batch * shape3_size(l->out) * sizeof(float), what, batch);
            r->owns_y[i] = 1;
        }
        // a node of one layer keeps its layer's state (even with a forward of its own: a pool
        // over a ReLU); a fused node keeps its own (aux_bytes)
        if (nd && nd->count == 1 && l->aux_per_sample)
            r->aux[i] = be->alloc((size_t)batch * l->aux_per_sample * sizeof(int32_t), "layer state kept for backward", batch);
        prev = r->y[i];
    }
    for (int k = 0; k < r->nnodes; k++) {
        const step_node *nd = &r->nodes[k];
        const layer *l = &m->layers[nd->first];
        if (nd->first > 0 && !nd->no_dx) most = NN_MAX(most, shape3_size(l->in));
        most = NN_MAX(most, shape3_size(m->layers[nd->first + nd->count - 1].out));
        ws = NN_MAX(ws, nd->forward || nd->backward ? nd->scratch
                                                     : impl_scratch(l, ctx, layer_impl_for(l, ctx), batch));
        r->naux[k] = nd->aux_bytes ? be->alloc(nd->aux_bytes, "fused layers' state", batch) : NULL;
    }
    // Gradients w.r.t. layer outputs flow through the ping-pong pair (an activation layer's in
    // place); the largest of them, and of the inputs a node gives a gradient for, sizes both.
    r->dbuf[0] = be->alloc((size_t)batch * most * sizeof(float), "gradient buffer", batch);
    r->dbuf[1] = be->alloc((size_t)batch * most * sizeof(float), "gradient buffer", batch);
    r->ws_floats = ws;
    r->ws = ws ? be->alloc(ws * sizeof(float), "layer scratch", batch) : NULL;
    r->batch = batch;
}

void step_free_buffers(model_run *r) {
    const step_backend *be = r->be;
    for (int i = 0; i < MODEL_MAX_LAYERS; i++) {
        if (r->owns_y[i]) be->free(r->y[i]);
        be->free(r->aux[i]);
        be->free(r->naux[i]);
        r->y[i] = NULL, r->aux[i] = NULL, r->naux[i] = NULL, r->owns_y[i] = 0;
    }
    be->free(r->dbuf[0]);
    be->free(r->dbuf[1]);
    be->free(r->ws);
    r->dbuf[0] = r->dbuf[1] = r->ws = NULL;
    r->ws_floats = 0;
    r->batch = 0;
}

// --- the walk

static void hook_begin(const step_hook *h, const model *m, const step_node *nd, step_phase p, int n) {
    if (h && h->begin) h->begin(h->user, m, nd, p, n);
}
static void hook_end(const step_hook *h) {
    if (h && h->end) h->end(h->user);
}

static const layer_impl *impl_or_die(const model *m, int i, const nn_ctx *ctx) {
    const layer_impl *im = layer_impl_for(&m->layers[i], ctx);
    if (!im)
        NN_DIE("layer %d (%s, %s) has no %s path", i + 1, m->layers[i].name,
               layer_ops_of(m->layers[i].kind)->type, ctx && ctx->backend == NN_CUDA ? "CUDA" : "C");
    return im;
}

// The input of layer i: the previous layer's output, or the batch.
// Layer i's seed: the run's, mixed with i (splitmix64's finalizer) so layers draw apart.
static uint64_t layer_seed(const nn_ctx *ctx, int i) {
    uint64_t z = ctx->seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const float *input_of(const model_run *r, int i, const float *x) { return i ? r->y[i - 1] : x; }

// Layers 0 .. upto-1 forward (node by node); returns the output of layer upto-1.
static const float *forward_to(model *m, model_run *r, const nn_ctx *ctx, int n, const float *x,
                               int logits, int upto, const step_hook *h) {
    if (n > r->batch) NN_DIE("step_forward: %d samples, buffers for %d", n, r->batch);
    for (int i = 0; i < upto; i++) {   // an alias that starts the model copies the input
        if (step_node_of(r, i) >= 0 || !r->owns_y[i]) continue;
        r->be->copy(ctx, r->y[i], input_of(r, i, x), (size_t)n * shape3_size(m->layers[i].in) * sizeof(float));
    }
    for (int k = 0; k < r->nnodes && r->nodes[k].first < upto; k++) {
        const step_node *nd = &r->nodes[k];
        const int i = nd->first;
        const layer *l = &m->layers[i];
        hook_begin(h, m, nd, STEP_FORWARD, n);
        if (nd->forward) {
            nd->forward(m, r, nd, ctx, n, input_of(r, i, x), logits);
        } else {
            layer_io io = {.n = n, .x = input_of(r, i, x), .y = r->y[i], .w = r->w + l->woff,
                           .aux = r->aux[i], .act = model_pass_act(m, i, logits),
                           .training = r->training, .seed = layer_seed(ctx, i), .t = m->t,
                           .sample0 = r->sample0,
                           .step_dev = r->step_dev, .t_dev = r->t_dev,
                           .ws = r->ws, .ws_floats = r->ws_floats};
            impl_or_die(m, i, ctx)->forward(l, ctx, &io);
        }
        hook_end(h);
    }
    return upto ? r->y[upto - 1] : x;
}

const float *step_forward(model *m, model_run *r, const nn_ctx *ctx, int n, const float *x,
                          int logits, const step_hook *h) {
    return forward_to(m, r, ctx, n, x, logits, m->nlayers, h);
}

// The node's gradients are final: its span of the arena to the hook (its layers' parameters are
// one span).
static void grad_ready(const model *m, model_run *r, const nn_ctx *ctx, const step_node *nd) {
    if (!r->grad.ready) return;
    const int i = nd->first, j = nd->first + nd->count - 1;
    size_t lo = m->layers[i].woff, hi = m->layers[j].woff + layer_nparams(&m->layers[j]);
    if (hi > lo) r->grad.ready(r->grad.user, ctx, r->g, lo, hi - lo);
}

void step_grad_hook_run(model *m, model_run *r, const nn_ctx *ctx) {
    for (int k = r->nnodes - 1; k >= 0; k--) grad_ready(m, r, ctx, &r->nodes[k]);
    if (r->grad.reduce) r->grad.reduce(r->grad.user, ctx, r->g, m->nparams);
}

// The activation a node's layer applies to dy in backward: none when the node above has.
static act_kind backward_act(const model *m, const step_node *nd) {
    return nd->act_done ? ACT_LINEAR : model_pass_act(m, nd->first, 1);
}

void step_backward(model *m, model_run *r, const nn_ctx *ctx, int n, const float *x, int last,
                   float *dy, const adam_cfg *opt, const step_hook *h) {
    const step_backend *be = r->be;
    float *dcur = dy, *dnext = dy == r->dbuf[0] ? r->dbuf[1] : r->dbuf[0];
    for (int k = last; k >= 0; k--) {
        const step_node *nd = &r->nodes[k];
        const int i = nd->first, j = nd->first + nd->count - 1;   // the node's first and last layer
        const layer *l = &m->layers[i];
        float *dx = i > 0 && !nd->no_dx ? dnext : NULL;
        // An elementwise layer's gradient is transformed in place (dx is dy: its table says so).
        const int in_place = !nd->backward && nd->count == 1 && layer_ops_of(l->kind)->grad_in_place && dx;
        if (in_place) dx = dcur;
        if (dx && dx != dcur && be->before_write) be->before_write(r, ctx, dx);
        hook_begin(h, m, nd, STEP_BACKWARD, n);
        if (nd->backward) {
            nd->backward(m, r, nd, ctx, n, input_of(r, i, x), dcur, dx, opt);
        } else {
            layer_io io = {.n = n, .x = input_of(r, i, x), .y = r->y[j], .w = r->w + l->woff,
                           .aux = r->aux[i], .act = backward_act(m, nd), .training = 1,
                           .seed = layer_seed(ctx, i), .t = m->t, .sample0 = r->sample0,
                           .step_dev = r->step_dev, .t_dev = r->t_dev, .dy = dcur, .dx = dx,
                           .dw = r->g + l->woff, .ws = r->ws, .ws_floats = r->ws_floats};
            impl_or_die(m, i, ctx)->backward(l, ctx, &io);
        }
        hook_end(h);
        grad_ready(m, r, ctx, nd);
        if (!in_place) {
            float *t = dcur;
            dcur = dnext;
            dnext = t;
        }
    }
}

void step_train(model *m, model_run *r, const nn_ctx *ctx, int n, int grad_n, const float *x,
                const float *labels, const adam_cfg *opt, const step_hook *h) {
    const step_backend *be = r->be;
    const int head = be->head_ok && be->head_ok(m, r, n);
    // With the fused head the last node's forward is part of the head.
    r->training = 1;   // dropout drops, batchnorm normalises by the batch (layer_io.training)
    const float *z = forward_to(m, r, ctx, n, x, 1, head ? r->nodes[r->nnodes - 1].first : m->nlayers, h);
    r->training = 0;
    float *dcur = r->dbuf[0];
    int last = r->nnodes - 1;
    if (head) {
        const step_node *nd = &r->nodes[last];
        hook_begin(h, m, nd, STEP_HEAD, n);
        be->head(m, r, ctx, n, grad_n, input_of(r, nd->first, x), dcur, opt);
        hook_end(h);
        last--;
    } else {
        hook_begin(h, m, NULL, STEP_LOSS, n);
        be->loss(r, ctx, model_loss_kind(m), (int)model_output_size(m), n, grad_n, z, labels, dcur);
        hook_end(h);
    }
    step_backward(m, r, ctx, n, x, last, dcur, opt, h);
    if (r->grad.reduce) r->grad.reduce(r->grad.user, ctx, r->g, m->nparams);
    hook_begin(h, m, NULL, STEP_ADAM, n);
    be->adam(m, r, ctx, opt);
    hook_end(h);
    if (be->end_step) be->end_step(r, ctx);
}

// --- counts

double step_node_flops(const model *m, const step_node *nd, prof_pass p, int n) {
    if (nd->flops) return nd->flops(m, nd, p, n);
    const layer *l = &m->layers[nd->first];
    return layer_ops_of(l->kind)->flops(l, p, n, p == PROF_FORWARD ? model_pass_act(m, nd->first, 1) : backward_act(m, nd));
}

double step_node_bytes(const model *m, const step_node *nd, prof_pass p, int n) {
    if (nd->bytes) return nd->bytes(m, nd, p, n);
    const layer *l = &m->layers[nd->first];
    return layer_ops_of(l->kind)->bytes(l, p, n, p == PROF_FORWARD ? model_pass_act(m, nd->first, 1) : backward_act(m, nd));
}

// --- the C backend

static void *host_alloc(size_t bytes, const char *what, int batch) {
    (void)batch;
    return nn_alloc(bytes, what);
}

static void host_copy(const nn_ctx *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    memmove(dst, src, bytes);
}

static void host_loss(model_run *r, const nn_ctx *ctx, loss_kind kind, int c, int n, int grad_n,
                      const float *z, const float *labels, float *dz) {
    (void)ctx;
    if (kind == LOSS_CCE) {
        r->loss = cce_logits_n(n, c, z, labels, dz, grad_n);
        r->correct = categorical_correct(n, c, z, labels);
        return;
    }
    r->loss = bce_logits_n(n, z, labels, dz, grad_n);
    r->correct = binary_correct(n, z, labels);
}

static void host_adam(model *m, model_run *r, const nn_ctx *ctx, const adam_cfg *opt) {
    (void)ctx;
    if (!r->adam_partial) {
        adam_step(opt, m->t, m->nparams, m->w, m->g, m->m, m->v);
        return;
    }
    for (int k = 0; k < r->nranges; k++) {   // the parameters Adam trains (step_plan_adam)
        size_t o = r->roff[k];
        adam_step(opt, m->t, r->rlen[k], m->w + o, m->g + o, m->m + o, m->v + o);
    }
}

static const step_backend host_backend = {
    .alloc = host_alloc, .free = nn_free, .copy = host_copy, .loss = host_loss, .adam = host_adam,
};

model_run *step_host_run(model *m, const nn_ctx *ctx, int batch) {
    (void)ctx;
    model_run *r = m->host;
    if (!r) {
        r = m->host = nn_calloc(sizeof *r, "C path run");
        r->be = &host_backend;
        r->backend = NN_CPU;
        step_plan_plain(m, r);
        step_plan_adam(m, r);
    }
    r->w = m->w, r->g = m->g, r->m = m->m, r->v = m->v;   // the host's arenas (w may be remapped)
    if (batch > r->batch) {
        step_free_buffers(r);
        step_alloc_buffers(m, r, NULL, batch);
    }
    return r;
}

void step_host_free(model *m) {
    if (!m->host) return;
    step_free_buffers(m->host);
    nn_free(m->host);
    m->host = NULL;
}
