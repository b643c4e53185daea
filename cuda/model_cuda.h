// model_cuda.h: the device mirror of a model (internal to cuda/): its run (nn/step.h: arenas,
// activations, the plan with the GPU's fusions) in device memory, plus what the GPU path keeps
// besides: the side stream, the per-step arrays one CUDA graph reads, the captured step.
#ifndef NN_MODEL_CUDA_H
#define NN_MODEL_CUDA_H

#include "cuda_common.h"
#include "kernels.h"

extern "C" {
#include "../nn/cuda_api.h"
#include "../nn/model.h"
#include "../nn/step.h"
}

struct cuda_model {
    model_run r;                      // must stay first: the backend's functions get &d->r
    const nn_cuda *cuda;              // the device state it was made with (its stream)
    cudaStream_t side;                // second stream: the big dense dW + Adam overlaps the layers
    cudaEvent_t fork, join;           // below it (both captured into the graph as two branches)
    const float *side_reads;          // the gradient buffer the side work reads (NULL: none)
    float *x;                         // (batch, in) input batch
    float *labels;                    // (batch)
    // per-step state, read by the kernels through device pointers so a graph can replay
    // The step counter: reset to 0 by each call that queues steps (cuda_model_train_step,
    // cuda_model_train_source, the bench), advanced by step_advance_cuda, the last node of a
    // captured step; so within one call step k reads alpha[k], tsteps[k], writes loss[k].
    int *step;                        // (1) step counter within a call
    int cap;                          // capacity of the per-step arrays below
    float *alpha;                     // (cap) Adam step sizes
    int64_t *tsteps;                  // (cap) the training step t of each (m->t + 1 + k): what
                                      // dropout's masks hash (layer_io.t_dev, via d->r.t_dev)
    float *loss;                      // (cap) mean loss of each step
    int *correct;                     // (cap) right predictions of each step
    // host side
    float *h_out;                     // pinned (batch, out) forward results
    float *h_loss;                    // pinned (cap)
    int *h_correct;                   // pinned (cap)
    // the captured training step
    cudaGraphExec_t graph;
    cuda_batch_source graph_src;      // what the graph was captured for (fill NULL: no source)
    int graph_batch;
    int graph_grad_n;                 // ... and the gradient's divisor baked into it
    adam_cfg graph_opt;
    // data-parallel training (nccl_cuda.cu)
    struct cuda_allreduce *ar;        // the gradient hook's state; NULL: this GPU trains alone
    int grad_n;                       // while a step is queued: the gradient's divisor (0: n)
};

// nccl_cuda.cu: 1 when the GPU should sum its gradients with NCCL (several ranks, or NN_NCCL=1);
// attach gives the mirror its gradient hook (before its plan is made: the plan keeps every
// gradient in the arena then), free takes it away.
int cuda_nccl_wanted(const nn_ctx *ctx);
void cuda_allreduce_attach(struct cuda_model *d, const nn_ctx *ctx);
void cuda_allreduce_free(struct cuda_model *d);

// model_cuda.cu
struct cuda_model *cuda_model_get(struct model *m, const nn_ctx *ctx, int batch);
void cuda_model_ensure_steps(struct model *m, int steps);
void cuda_model_drop_graph(struct cuda_model *d);
// Queues forward (logits: last sigmoid left out) for n samples of x (device); returns the output.
const float *cuda_forward_queue(struct model *m, const nn_ctx *ctx, int n, const float *x, int logits);
// A whole training step (forward, loss, backward, Adam) of n samples of x and d->labels, with
// every fusion the plan holds; h: the profiler's hook (NULL: none). The loss's gradient is
// divided by d->grad_n when set (a data-parallel step's global batch), else by n.
void cuda_step_queue(struct model *m, const nn_ctx *ctx, int n, const float *x, const adam_cfg *opt,
                     const step_hook *h);

#endif
