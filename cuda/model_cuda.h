// model_cuda.h: the device mirror of a model (internal to cuda/): what model_cuda.cu allocates
// once per model and batch size, and train_cuda.cu strings into steps, epochs and CUDA graphs.
#ifndef NN_MODEL_CUDA_H
#define NN_MODEL_CUDA_H

#include "cuda_common.h"
#include "kernels.h"

extern "C" {
#include "../nn/model.h"
}

struct cuda_model {
    int batch;                        // activations are sized for this many samples
    size_t nparams;
    float *w, *g, *m, *v;             // the four arenas, same layout as the host's
    float *y[MODEL_MAX_LAYERS];       // (batch, out_i); flatten's aliases its input
    int32_t *aux[MODEL_MAX_LAYERS];   // maxpool argmax
    int owns_y[MODEL_MAX_LAYERS];
    int fused;                        // layers 0 and 1 run as conv2d_pool_*
    int fuse_adam;                    // dense kernels get Adam in their dW product's epilogue
    cudaStream_t side;                // second stream: the big dense dW + Adam overlaps the layers
    cudaEvent_t fork, join;           // below it (both captured into the graph as two branches)
    const float *side_reads;          // the gradient buffer the side work reads (NULL: none)
    int nranges;                      // then the arena's Adam covers only these ranges
    size_t roff[ADAM_MAX_RANGES], rlen[ADAM_MAX_RANGES];
    uint8_t *arg;                     // (batch, pooled) window positions of the fused pool
    float *x;                         // (batch, in) input batch
    float *labels;                    // (batch)
    float *dbuf[2];                   // ping-pong gradients, batch * largest gradient
    float *ws;                        // scratch for split-K and dW partial sums
    size_t ws_floats;
    // per-step state, read by the kernels through device pointers so a graph can replay
    int *step;                        // (1) step counter within a call
    int cap;                          // capacity of the per-step arrays below
    float *alpha;                     // (cap) Adam step sizes
    float *loss;                      // (cap) mean loss of each step
    int *correct;                     // (cap) right predictions of each step
    int32_t *order;                   // (order_cap) image indices of an epoch
    aug_params *aug;                  // (order_cap) augmentation of each of them
    int order_cap;
    struct cuda_images *images;       // the image set of cuda_model_train_cache, uploaded once
    const void *images_key;           // ... from this host cache's pixels
    int images_n;
    // host side
    float *h_out;                     // pinned (batch, out) forward results
    float *h_loss;                    // pinned (cap)
    int *h_correct;                   // pinned (cap)
    // the captured training step
    cudaGraphExec_t graph;
    const void *graph_images;         // what the graph was captured for
    int graph_batch, graph_aug;
    adam_cfg graph_opt;
};

// model_cuda.cu
struct cuda_model *cuda_model_get(struct model *m, const nn_ctx *ctx, int batch);
void cuda_model_ensure_steps(struct model *m, int steps, int count);
void cuda_model_drop_graph(struct cuda_model *d);
// Queues forward (logits: last sigmoid left out) for n samples of d->x; returns the output.
const float *cuda_forward_queue(struct model *m, const nn_ctx *ctx, int n, const float *x, int logits);
// Queues loss, backward and Adam for n samples (d->labels), after cuda_forward_queue(logits=1).
void cuda_train_queue(struct model *m, const nn_ctx *ctx, int n, const float *x, const adam_cfg *opt);
// A whole training step (forward, loss, backward, Adam) with every fusion that applies.
void cuda_step_queue(struct model *m, const nn_ctx *ctx, int n, const float *x, const adam_cfg *opt);

#endif
