// train.h: the training loop and the evaluation pass, shared by `nn train`, `nn evaluate` and
// anything else that trains a classifier (two classes, or N through a softmax) from an image
// cache (data/data.h). They join the data pipeline to the engine, so they live above both
// (run/: docs/TOUR.md, "The folders"). The command line owns the printing; these functions only
// compute, and report each step to a callback so a progress bar can be drawn without the loop
// knowing about terminals.
#ifndef NN_TRAIN_H
#define NN_TRAIN_H

#include <signal.h>

#include "../data/data.h"
#include "../nn/adam.h"
#include "../nn/ctx.h"
#include "../nn/model.h"

// Running totals of one epoch (Keras shows the mean over the samples seen so far).
typedef struct train_stats {
    int steps;            // steps run in this call
    long seen;            // samples trained on
    double loss_sum;      // sum of per-sample losses (batch mean * batch size)
    long correct;         // right predictions
    double seconds;       // wall time of the steps (loading, forward, backward, Adam)
    double wait_s;        // of which waiting for the loader
    int nonfinite_step;   // 1-based step whose loss was NaN or infinite (the epoch stopped
                          // there: the weights are no longer usable); 0 when none was
    float nonfinite_loss; // that loss
} train_stats;

static inline double train_stats_loss(const train_stats *s) { return s->seen ? s->loss_sum / s->seen : 0; }
static inline double train_stats_acc(const train_stats *s) { return s->seen ? (double)s->correct / s->seen : 0; }

// Called after each step: `step` is 1-based within the epoch, `steps` the epoch's total.
typedef void (*train_step_fn)(void *user, int step, int steps, const train_stats *s);

// Runs epoch `epoch` (0-based) of loader L on model m, starting at step `first_step` (the
// earlier batches are skipped, so a run resumed in mid-epoch sees the same batches as one that
// was never stopped). Batches are at most `batch` samples of the model's input size.
// When *stop becomes non-zero (a signal handler), the current step finishes and the loop
// returns early. A step whose loss is NaN or infinite also ends the loop at once, before the
// callback sees it (so no checkpoint is taken of the diverged weights): out->nonfinite_step
// says which. Returns the 1-based step reached (== loader_steps(L) when the epoch ended).
// Data-parallel (ctx->dist of several ranks, nn/dist.h): every rank calls it alike; `batch` is
// the global batch, the loader is sharded here, the stats are the global batch's, and the
// ranks stop at the same step (when any of them was asked to).
int train_epoch(model *m, const nn_ctx *ctx, loader *L, int batch, int epoch, int first_step,
                const adam_cfg *opt, volatile sig_atomic_t *stop, train_step_fn cb, void *user,
                train_stats *out);

// Loss, accuracy and the confusion matrix (rows: true label, columns: predicted; nclasses x
// nclasses: 2 x 2 for a binary model, N x N for a softmax over N) of the model on every image
// of c, never augmented (rescale only), `batch` images per forward pass. The loss and accuracy
// are the model's own (model_loss_kind): binary or categorical cross-entropy and accuracy.
// Data-parallel, each rank evaluates its share of c and every rank gets the whole set's result.
typedef struct eval_result {
    int n;
    int nclasses;
    double loss, accuracy;
    long confusion[MODEL_MAX_CLASSES][MODEL_MAX_CLASSES];
    double seconds;
} eval_result;

void train_evaluate(model *m, const nn_ctx *ctx, const image_cache *c, int batch, eval_result *r);

// 1 when every weight of the model (host copy) is finite: a diverged model is never saved.
int train_weights_finite(const model *m);

#endif
