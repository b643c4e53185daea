// step.h: the training step, written once for both backends.
//
// A model runs on a backend through a run (model_run): the arenas, activations, gradient
// buffers and scratch for up to `batch` samples in that backend's memory, and a plan: the list
// of nodes the walk visits. A node is one layer, run by the layer's own impl from its table
// entry (layers/layer.h), or several layers that the backend runs fused (the GPU's conv + ReLU
// + max-pool, a dense layer whose weight gradient goes straight into Adam). The walk is the same
// on both backends: forward node by node, the loss, backward node by node in reverse, the
// gradient hook (data-parallel all-reduce), Adam. The backend supplies what differs (step_backend:
// memory, the loss, Adam, the fused head, waiting for side work). The C backend is nn/step.c's;
// the CUDA backend and its fusions are cuda/model_cuda.cu's.
//
// The profiler (nn/profile.c, cuda/profile_cuda.cu) is a hook on this walk: it is told where
// each node's pass begins and ends, and never walks the layers itself.
#ifndef NN_STEP_H
#define NN_STEP_H

#include "model.h"

struct model_run;
struct step_node;

// A fused node's passes (backend code). forward writes the node's last output r->y[last];
// backward gets dy = dL/d(output of the last layer) and writes dx (NULL for the first node) and
// the parameter gradients (or, adam_fused, applies Adam to them itself).
typedef void (*node_forward_fn)(struct model *m, struct model_run *r, const struct step_node *nd,
                                const nn_ctx *ctx, int n, const float *x, int logits);
typedef void (*node_backward_fn)(struct model *m, struct model_run *r, const struct step_node *nd,
                                 const nn_ctx *ctx, int n, const float *x, float *dy, float *dx,
                                 const adam_cfg *opt);

typedef struct step_node {
    int first, count;               // layers first .. first + count - 1
    char what[136];                 // the profiler's row: "conv2d", "conv2d + max_pooling2d"
    node_forward_fn forward;        // NULL: the layer's own impl (count is then 1)
    node_backward_fn backward;      // NULL: the layer's own impl
    int no_dx;                      // gives no input gradient (only valid as the first node)
    int inner_unused;               // the outputs of layers first .. last-1 are never written
    int adam_fused;                 // backward updates its layers' kernels (first tensors) with
                                    // Adam itself; the other tensors' gradients go to the arena
    int act_done;                   // backward: dy already holds the activation's gradient (the
                                    // node above folded it in), so the layer runs it as linear
    int relu_dx;                    // backward: dx is multiplied by (input > 0): the ReLU gradient
                                    // of the layer below (whose node has act_done)
    size_t scratch;                 // floats of scratch a fused pass needs (at the run's batch)
    size_t aux_bytes;               // bytes of the node's own state (at the run's batch), in r->naux
    double (*flops)(const struct model *m, const struct step_node *nd, prof_pass p, int n);
    double (*bytes)(const struct model *m, const struct step_node *nd, prof_pass p, int n);
} step_node;

// What the backend does that the walk cannot write in the abstract.
typedef struct step_backend {
    void *(*alloc)(size_t bytes, const char *what, int batch);
    void (*free)(void *p);
    void (*copy)(const nn_ctx *ctx, void *dst, const void *src, size_t bytes);   // within the backend
    // The mean loss of `kind` (model_loss_kind) from logits z (n, c) and labels (n), its gradient
    // dz (n, c), divided by grad_n (BCE: c is 1, dz = (sigmoid(z) - y) / grad_n; CCE: dz =
    // (softmax(z) - onehot(y)) / grad_n), the loss and the number right kept where the backend
    // reports them from.
    void (*loss)(struct model_run *r, const nn_ctx *ctx, loss_kind kind, int c, int n, int grad_n,
                 const float *z, const float *labels, float *dz);
    // Adam over the arena (less the parameters a node's backward already updated).
    void (*adam)(struct model *m, struct model_run *r, const nn_ctx *ctx, const adam_cfg *opt);
    // The fused binary head (last layer's forward, loss, its backward, its Adam), when the plan
    // allows it for n samples: writes dh (n, last layer's input) into dx. NULL: none. Only ever
    // for a LOSS_BCE model (a softmax head is not fused).
    int (*head_ok)(const struct model *m, const struct model_run *r, int n);
    void (*head)(struct model *m, struct model_run *r, const nn_ctx *ctx, int n, int grad_n,
                 const float *h, float *dx, const adam_cfg *opt);
    // Work queued aside (a second stream) may still read buf: wait for it before buf is written.
    void (*before_write)(struct model_run *r, const nn_ctx *ctx, const float *buf);
    void (*end_step)(struct model_run *r, const nn_ctx *ctx);   // the step's side work joined
} step_backend;

// Gradient hook: called after the backward pass, before Adam, with the gradient arena
// (data-parallel training sums it over the ranks here). A plan built for a run with a hook keeps
// every gradient in the arena (no Adam fused into a product).
// ready (may be NULL) is called during the backward walk, after each node that has parameters,
// with its part [off, off + count) of the arena, final from then on: the parts come from the
// top of the arena down, so a backend can start summing the last layers' gradients while the
// layers below still run (cuda/nccl_cuda.cu). reduce is still called at the end, and must then
// sum what ready was not given and wait for what it was.
typedef struct step_grad_hook {
    void (*reduce)(void *user, const nn_ctx *ctx, float *g, size_t count);
    void (*ready)(void *user, const nn_ctx *ctx, float *g, size_t off, size_t count);
    void *user;
} step_grad_hook;

// The profiler's hook: around every node's pass, the loss (or the fused head) and Adam; nd is
// NULL for the loss and Adam.
typedef enum { STEP_FORWARD, STEP_LOSS, STEP_HEAD, STEP_BACKWARD, STEP_ADAM } step_phase;
typedef struct step_hook {
    void (*begin)(void *user, const struct model *m, const struct step_node *nd, step_phase p, int n);
    void (*end)(void *user);
    void *user;
} step_hook;

typedef struct model_run {
    const step_backend *be;
    nn_backend backend;
    int batch;                        // buffers hold this many samples
    float *w, *g, *m, *v;             // the four arenas in this backend's memory
    float *y[MODEL_MAX_LAYERS];       // (batch, out_i); an alias layer's is its input's
    int owns_y[MODEL_MAX_LAYERS];
    int32_t *aux[MODEL_MAX_LAYERS];   // (batch, aux_per_sample_i)
    void *naux[MODEL_MAX_LAYERS];     // per node: a fused node's own state (aux_bytes)
    float *dbuf[2];                   // ping-pong gradients, batch * largest gradient
    float *ws;                        // scratch, the largest any pass asks for
    size_t ws_floats;
    int nnodes;
    step_node nodes[MODEL_MAX_LAYERS];
    int nranges;                      // Adam covers only these ranges (0 and adam_partial 0: all)
    int adam_partial;
    size_t roff[2 * MODEL_MAX_LAYERS + 2], rlen[2 * MODEL_MAX_LAYERS + 2];
    step_grad_hook grad;              // .reduce NULL: none
    int profiling;                    // set while a profiler's hook runs: side work stays inline
    int training;                     // set by step_train around its forward pass
    int sample0;                      // this rank's first sample in the global batch (layer_io)
    const int *step_dev;              // CUDA: the step counter and per-step t a replayed graph's
    const int64_t *t_dev;             // kernels read (layer_io); NULL on the C path
    // C backend's report of the last step (the CUDA backend keeps its own per-step arrays)
    float loss;
    int correct;
} model_run;

// --- plans and buffers

// The plan where every layer is its own node (the C path's, and the GPU's with NN_CUDA_FUSE=0);
// alias layers (flatten) become no node at all.
void step_plan_plain(const model *m, model_run *r);
// The node that holds layer i (-1 when layer i is an alias).
int step_node_of(const model_run *r, int i);
// Allocates activations, gradient buffers and scratch for `batch` samples after the plan is
// made (the arenas are the caller's); step_free_buffers gives them back.
void step_alloc_buffers(model *m, model_run *r, const nn_ctx *ctx, int batch);
void step_free_buffers(model_run *r);
// Adam's ranges: every parameter but the kernels of adam_fused nodes and the fixed tensors
// (batchnorm's moving statistics, which forward updates and Adam must leave alone).
void step_plan_adam(const model *m, model_run *r);

// --- the walk

// Forward of n <= r->batch samples x (n, input) in the backend's memory; returns the last
// layer's output (n, out) there. logits: the last sigmoid is left out.
const float *step_forward(model *m, model_run *r, const nn_ctx *ctx, int n, const float *x,
                          int logits, const step_hook *h);
// A training step of n samples: forward, loss (its gradient divided by grad_n: n, or the global
// batch of a data-parallel run), backward, the gradient hook, Adam. m->t must already count
// this step.
void step_train(model *m, model_run *r, const nn_ctx *ctx, int n, int grad_n, const float *x,
                const float *labels, const adam_cfg *opt, const step_hook *h);

// Backward from dy = dL/d(output of node `last`'s last layer), which must be one of r->dbuf,
// through nodes last .. 0: the parameter gradients into r->g (or, for adam_fused nodes, Adam
// applied). Called by step_train; on its own after step_forward(logits=1) with last = the last
// node, it gives a model's gradients for any loss.
void step_backward(model *m, model_run *r, const nn_ctx *ctx, int n, const float *x, int last,
                   float *dy, const adam_cfg *opt, const step_hook *h);

// The gradient hook's calls for a gradient already in the arena (a data-parallel step in which
// this rank has no sample: its gradient is zero): ready for every node from the last down, as
// the backward walk makes them, then reduce, so that every rank's collectives match one for one.
void step_grad_hook_run(model *m, model_run *r, const nn_ctx *ctx);

// FLOPs and bytes of a node's pass (its layers' counts, or the fusion's own).
double step_node_flops(const model *m, const step_node *nd, prof_pass p, int n);
double step_node_bytes(const model *m, const step_node *nd, prof_pass p, int n);

// The C backend's run of a model (made on first use, grown with the batch).
model_run *step_host_run(model *m, const nn_ctx *ctx, int batch);
void step_host_free(model *m);

#endif
