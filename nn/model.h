// model.h: the sequential model. A model is an input shape, a list of layers, four parameter
// arenas of the same size (weights, gradients, Adam's m and v), and per-layer activation buffers
// for one batch size. Building it from a cfg (nn/cfg.c) or from Keras's model_config
// (nn/h5.c) both go through model_add + model_finalize.
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <stdio.h>

#include "../layers/layer.h"
#include "adam.h"
#include "ctx.h"
#include "loss.h"

#define MODEL_MAX_LAYERS 64
// Class names a model keeps (saved in its .h5): a softmax over more outputs than this is
// refused by the commands (tools/setup.c) with a line saying so.
#define MODEL_MAX_CLASSES 16

struct cuda_model;  // the device mirror of a model (cuda/), opaque here

typedef struct model {
    shape3 input;                 // (H, W, C) of one sample
    int nlayers;
    layer layers[MODEL_MAX_LAYERS];
    int finalized;

    // parameter arenas, nparams floats each (host memory; the CUDA path mirrors them)
    size_t nparams;
    float *w;                     // weights: each layer's tensors in order (kernel, then bias)
    float *g;                     // gradients
    float *m, *v;                 // Adam's first and second moments
    long t;                       // Adam iterations done (Keras's optimizer.iterations)
    int epoch;                    // epochs completed (for --resume)
    // Where a checkpoint stands inside its epoch, so that --resume starts at the right image
    // (tools/setup.h, setup_resume_step): the images per step of the run that saved it and the
    // steps it had done of epoch `epoch` (0 at an epoch end). batch 0: not recorded (a Keras
    // file, or one saved before nn kept it); the step is then Adam's count minus whole epochs.
    int batch;
    long step;
    int epoch_unknown;            // loaded from a file that records no epochs (Keras's own files:
                                  // epoch and batch are then 0, t is Keras's optimizer.iterations)
    adam_cfg opt;                 // Adam's settings, kept in the .h5 training_config (lr 0: defaults)

    // class names (folder names, sorted), saved in the .h5 file; may be empty
    int nclasses;
    char *classes[MODEL_MAX_CLASSES];

    // Where the model runs (nn/step.h): the C path's buffers and plan, and the device mirror.
    struct model_run *host;       // NULL until the C path first runs the model
    struct cuda_model *dev;       // NULL unless the model lives on a GPU too
    int dev_newer;                // the device's weights and Adam state are ahead of the host's

    // Set when w was not allocated by model_finalize (a weights-only .h5 load maps the model
    // file's pages in place, nn/h5_probe.c): model_free calls it instead of nn_free(w).
    void (*w_release)(struct model *m);
} model;

// --- building
void model_init(model *m, shape3 input);
// Appends a layer whose kind and options are filled (names may be empty: Keras's default names
// are given by model_finalize). Returns -1 with err when the model is full.
int model_add(model *m, const layer *l, char *err);
// Computes every layer's shapes and parameter views and allocates the arenas (zeroed).
int model_finalize(model *m, char *err);
void model_free(model *m);

// Keras's defaults: Glorot-uniform kernels (limit sqrt(6 / (fan_in + fan_out))), zero biases.
void model_init_weights(model *m, uint64_t seed);

// Allocates the C path's buffers for `batch` samples (no-op when already large enough).
void model_alloc_batch(model *m, int batch);

// --- where it runs
// Makes the model ready to run on ctx's backend for batches of up to `batch` samples: on a GPU
// the device mirror is made (or grown) and the host's weights and Adam state are copied to it.
// 0, or -1 with err (a batch beyond the backend's limit).
int model_to(model *m, const nn_ctx *ctx, int batch, char *err);
// Brings the host copy up to date (weights, Adam state) when a device trained the model; a
// no-op otherwise. Saving and checking weights call it first.
void model_sync(model *m);
// The activation layer i applies in a pass: with logits, the last sigmoid or softmax is left to
// the loss (and to nn predict, which applies it to the logits itself).
act_kind model_pass_act(const model *m, int i, int logits);

// --- what it classifies (decided here, and nowhere else)
// How the model trains: LOSS_CCE when the last layer's activation is a softmax over N >= 2
// outputs of one sample (a dense layer or an activation layer: output (None, N)), LOSS_BCE when
// the model has one output (Keras's one sigmoid unit; nn trains any single output as its logit,
// as it always has), LOSS_NONE for anything else (a softmax over one value, several sigmoids).
loss_kind model_loss_kind(const model *m);
// The classes it tells apart: 2 for LOSS_BCE, N for LOSS_CCE, 0 for LOSS_NONE.
int model_classes(const model *m);

// --- running (on ctx's backend; x and labels are host memory, results come back to the host)
// Forward pass of n <= batch samples x (n, input). Returns the output buffer (n, out of last
// layer). With `logits` set, a last sigmoid or softmax is left out (the loss works from logits).
const float *model_forward(model *m, const nn_ctx *ctx, int n, const float *x, int logits);
// Backward pass after model_forward(..., logits=1): dlogits (n, out) -> m->g (C path only).
void model_backward(model *m, const nn_ctx *ctx, int n, const float *x, const float *dlogits);
// One full training step: forward, the model's loss from logits (model_loss_kind: binary or
// categorical cross-entropy), backward, Adam. labels (n): one float a sample, the class index
// (0 or 1 for a binary model). Returns the mean loss; *correct gets the number of right
// predictions (Keras's binary or categorical accuracy).
float model_train_step(model *m, const nn_ctx *ctx, int n, const float *x, const float *labels,
                       const adam_cfg *opt, int *correct);
// Probabilities for n samples into out (n); batches internally when n > m->batch.
void model_predict(model *m, const nn_ctx *ctx, int n, const float *x, float *out);

// --- describing
size_t model_output_size(const model *m);   // per sample
shape3 model_output_shape(const model *m);
// "(3, 3, 3, 32)" for a layer's first parameter tensor, "none" without one.
void model_fmt_kernel(const layer *l, char *buf, size_t len);
// Keras-style table: layer (type), output shape, params; totals. Control characters in layer
// names (a file may hold anything) are printed as '?', as in error lines.
void model_summary(const model *m, FILE *f);
// The weights (host copy) that are NaN or infinite: 0 when every one is finite. Otherwise err
// (may be NULL) gets one line naming `name` (the file), the count, and the layers holding them
// with their counts ("m.h5: the weights hold 3 NaN or infinite values (3 of the 3,936,384 in
// layer 4 'dense'): ..."). A model loaded from a file goes through this before it predicts,
// evaluates or resumes training (tools/setup.c, setup_check_loaded): a single NaN in a dense
// kernel can still give plausible-looking probabilities.
size_t model_check_finite(const model *m, const char *name, char *err);
// Layer i's kernel and bias inside an arena (w, g, m or v).
static inline float *layer_kernel(const model *mo, float *arena, int i) { return arena + mo->layers[i].woff; }
static inline float *layer_bias(const model *mo, float *arena, int i) { return arena + mo->layers[i].boff; }

// --- the cfg file (nn/cfg.c)
// Parses a line-based model file (see models/catdog.cfg) and finalizes the model.
// Errors name the file, the line and what is wrong.
int model_load_cfg(model *m, const char *path, char *err);
int model_parse_cfg(model *m, const char *text, const char *name, char *err);
// The article's CNN, as models/catdog.cfg holds it (nn train's built-in model when that file is
// not found, and the tests' reference model).
#define MODEL_CATDOG_CFG                               \
    "input 64 64 3\n"                                  \
    "conv2d filters=32 kernel=3 activation=relu\n"     \
    "maxpool2d pool=2\n"                               \
    "flatten\n"                                        \
    "dense units=128 activation=relu\n"                \
    "dense units=1 activation=sigmoid\n"

#endif
