// train.c: one epoch of training and one evaluation pass. The loop is small on purpose: the
// loader (data/) shuffles and augments, model_train_step (nn/model.c, or cuda/ when the context
// is a GPU one) does forward, loss, backward and Adam; this file only strings them together,
// keeps Keras's running means, and honours a stop request between steps.
//
// Data-parallel (ctx->dist, nn/dist.h): every rank runs this same loop on its part of each
// global batch (the loader's shard, dist_share's split), the gradient divided by the global
// batch's size and summed over the ranks before Adam (the step's gradient hook: MPI on the C
// path, NCCL on GPUs, cuda/nccl_cuda.cu). After each step (each chunk of steps on a GPU) one
// small sum gives every rank the step's loss and right count over the global batch and whether
// any rank was asked to stop, so the ranks print, stop and diverge as one. With one rank all of
// this reduces to the plain loop.
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "../nn/dist.h"
#include "../nn/loss.h"
#include "../nn/step.h"
#include "train_gpu.h"

static int ranks_of(const nn_ctx *ctx) { return ctx->dist ? ctx->dist->size : 1; }
static int rank_of(const nn_ctx *ctx) { return ctx->dist ? ctx->dist->rank : 0; }
static int stop_asked(volatile sig_atomic_t *stop) { return stop && *stop; }

// A step's figures, summed over the ranks: its global loss (sum over the samples), right
// predictions and stop requests. Returns the number of ranks asking to stop.
static double reduce_step(const nn_ctx *ctx, double *loss_sum, double *correct, int stop) {
    double v[3] = {*loss_sum, *correct, stop != 0};
    dist_sum_f64(ctx->dist, v, 3);
    *loss_sum = v[0], *correct = v[1];
    return v[2];
}

// Adds a step of the global batch (n samples, loss summed over them) to the running totals;
// returns 0, or -1 (and records it) when the loss is NaN or infinite.
static int count_step(train_stats *out, int step, int n, double loss_sum, double correct) {
    if (!isfinite(loss_sum)) {   // diverged: this step's Adam update spread it into the weights
        out->nonfinite_step = step;
        out->nonfinite_loss = (float)(n ? loss_sum / n : loss_sum);
        return -1;
    }
    out->steps++;
    out->seen += n;
    out->loss_sum += loss_sum;
    out->correct += (long)correct;
    return 0;
}

// On a GPU the whole epoch runs on the device (train_gpu.h, over the engine's batch source):
// the loader's decoded images are uploaded once (loader_images_cuda), and each batch is
// gathered and augmented there from the loader's own plan (same order, same augmentation as
// loader_next would give), in chunks of steps between which the stop flag and the callback
// are honoured. NN_DEVICE_EPOCH=0 turns it off (host batches through model_train_step, as on
// the C path). Data-parallel, each rank takes its part of every batch of the plan; the
// epoch's last, partial batch is a call of its own (its gradient divides by its own global
// size).
#define DEVICE_CHUNK 64
static int train_epoch_device(model *m, const nn_ctx *ctx, loader *L, int batch, int epoch,
                              int first_step, const adam_cfg *opt, volatile sig_atomic_t *stop,
                              train_step_fn cb, void *user, train_stats *out) {
    const image_cache *c = loader_cache(L);
    const int R = ranks_of(ctx), rank = rank_of(ctx), dp = R > 1;
    int steps = loader_steps(L), step = first_step, full = c->n / batch, lo, hi;
    dist_share(batch, rank, R, &lo, &hi);
    const int lb = hi - lo;   // this rank's part of a full batch
    int32_t *order = nn_alloc((size_t)c->n * sizeof *order, "epoch order");
    aug_params *aug = nn_alloc((size_t)c->n * sizeof *aug, "epoch augmentation");
    int32_t *lorder = dp ? nn_alloc((size_t)DEVICE_CHUNK * lb * sizeof *lorder, "rank's order") : NULL;
    aug_params *laug = dp ? nn_alloc((size_t)DEVICE_CHUNK * lb * sizeof *laug, "rank's augmentation") : NULL;
    float *sl = nn_alloc(DEVICE_CHUNK * sizeof *sl, "step losses");
    int *sc = nn_alloc(DEVICE_CHUNK * sizeof *sc, "step accuracies");
    double *red = nn_alloc((2 * DEVICE_CHUNK + 1) * sizeof *red, "step figures");
    int augments = loader_plan(L, epoch, order, aug);
    char err[NN_ERRLEN];
    cuda_images *im = NULL;
    double t0 = nn_now();
    int halt = dist_any(ctx->dist, stop_asked(stop));
    while (!halt && step < steps) {
        // k steps from `first` in the plan: full batches (lb images each here), or the last one
        int k, first = step * batch, count, grad_n, n_last = 0, plo = 0, phi = 0;
        if (step < full) {
            k = NN_MIN(DEVICE_CHUNK, full - step);
            count = k * lb;
            grad_n = dp ? batch : 0;
        } else {
            k = 1;
            n_last = c->n - first;
            dist_share(n_last, rank, R, &plo, &phi);
            count = phi - plo;
            grad_n = dp ? n_last : 0;
        }
        const int32_t *o = order + first;
        const aug_params *a = aug + first;
        if (dp) {   // this rank's part of each of the k batches, one after another
            for (int j = 0; j < k; j++) {
                int from = step < full ? first + j * batch + lo : first + plo, len = step < full ? lb : count;
                memcpy(lorder + j * lb, order + from, (size_t)len * sizeof *lorder);
                if (augments) memcpy(laug + j * lb, aug + from, (size_t)len * sizeof *laug);
            }
            o = lorder, a = laug;
        }
        dist_wait_begin(ctx->dist);   // NCCL waits for the other ranks in here
        if (!im) im = loader_images_cuda(L, ctx, err);   // uploaded on the first chunk, kept
        int got = !im ? -1 : cuda_model_train_images_dp(m, ctx, im, o, augments ? a : NULL, count,
                                                        step < full ? lb : NN_MAX(lb, 1), grad_n,
                                                        opt, sl, sc, err);
        dist_wait_end(ctx->dist);
        if (got < 0)
            NN_DIE("training on the GPU: %s (NN_DEVICE_EPOCH=0 trains from host-built batches instead)", err);
        for (int j = 0; j < k; j++) {
            int nj = step < full ? lb : count;
            red[2 * j] = (double)sl[j] * nj;
            red[2 * j + 1] = sc[j];
        }
        red[2 * k] = stop_asked(stop);
        dist_sum_f64(ctx->dist, red, (size_t)2 * k + 1);
        halt = red[2 * k] > 0;
        for (int j = 0; j < k; j++) {
            int n = step < full ? batch : n_last;
            step++;
            if (count_step(out, step, n, red[2 * j], red[2 * j + 1])) goto done;
            out->seconds = nn_now() - t0;
            if (cb) cb(user, step, steps, out);
        }
    }
done:
    out->seconds = nn_now() - t0;
    nn_free(order), nn_free(aug), nn_free(lorder), nn_free(laug), nn_free(sl), nn_free(sc), nn_free(red);
    return step;
}

// One step of the C path for a data-parallel rank: n of the global batch's grad_n samples
// (n may be 0: a last batch smaller than the number of ranks), the gradient summed over the
// ranks (MPI) before Adam. The hook is set for this step only, so nothing else that trains
// the model on this rank alone (a profile) waits for ranks that never come.
static float host_step_dp(model *m, const nn_ctx *ctx, int n, int grad_n, const float *x,
                          const float *y, const adam_cfg *opt, int *correct) {
    if (model_loss_kind(m) == LOSS_NONE)
        NN_DIE("training needs a model that ends in one sigmoid unit or a softmax over N >= 2 "
               "outputs; this one has %zu outputs", model_output_size(m));
    model_run *r = step_host_run(m, ctx, NN_MAX(n, 1));
    r->grad = (step_grad_hook){.reduce = dist_grad_sum, .user = (void *)ctx->dist};
    int lo, hi;   // this rank's samples in the global batch: dropout counts its masks from lo
    dist_share(grad_n, rank_of(ctx), ranks_of(ctx), &lo, &hi);
    r->sample0 = lo;
    m->t++;
    float loss = 0;
    *correct = 0;
    if (n > 0) {
        step_train(m, r, ctx, n, grad_n, x, y, opt, NULL);
        loss = r->loss, *correct = r->correct;
    } else {   // no samples here: a zero gradient still joins the sum, and Adam runs as everywhere
        memset(r->g, 0, m->nparams * sizeof *r->g);
        step_grad_hook_run(m, r, ctx);
        r->be->adam(m, r, ctx, opt);   // the run's ranges: batchnorm's moving statistics left out
    }
    r->grad = (step_grad_hook){0};
    r->sample0 = 0;
    return loss;
}

int train_epoch(model *m, const nn_ctx *ctx, loader *L, int batch, int epoch, int first_step,
                const adam_cfg *opt, volatile sig_atomic_t *stop, train_step_fn cb, void *user,
                train_stats *out) {
    const char *de = getenv("NN_DEVICE_EPOCH");
    const int R = ranks_of(ctx), dp = R > 1;
    memset(out, 0, sizeof *out);
    // (Data-parallel on GPUs always trains from the device's plan: host batches there would
    // need a CUDA step with the global batch's divisor, which nothing else uses.)
    if (ctx->backend == NN_CUDA && (dp || !(de && de[0] == '0')))
        return train_epoch_device(m, ctx, L, batch, epoch, first_step, opt, stop, cb, user, out);
    const image_cache *c = loader_cache(L);
    if (dp) loader_shard(L, rank_of(ctx), R);
    int lo, hi;
    dist_share(batch, R - 1, R, &lo, &hi);   // the last rank's part is the largest
    size_t in = shape3_size(m->input), most = (size_t)(hi - lo);
    float *x = nn_alloc(most * in * sizeof(float), "training batch");   // (B, H, W, C)
    float *y = nn_alloc(most * sizeof(float), "training labels");       // (B)
    int steps = loader_steps(L), step = first_step;
    // The batches before first_step were trained on before the interruption: the loader starts
    // after them (its batches are functions of their position, so the rest are as they were).
    loader_start_epoch_at(L, epoch, first_step);
    double t0 = nn_now();
    int halt = dist_any(ctx->dist, stop_asked(stop));
    while (!halt && step < steps) {
        double wait;
        int n = loader_next(L, x, y, &wait), correct = 0;
        int gn = NN_MIN(batch, c->n - step * batch);   // the global batch
        float loss = dp ? host_step_dp(m, ctx, n, gn, x, y, opt, &correct)
                        : model_train_step(m, ctx, n, x, y, opt, &correct);
        double loss_sum = (double)loss * n, right = correct;
        halt = reduce_step(ctx, &loss_sum, &right, stop_asked(stop)) > 0;
        step++;
        if (count_step(out, step, gn, loss_sum, right)) break;
        out->wait_s += wait;
        out->seconds = nn_now() - t0;
        if (cb) cb(user, step, steps, out);
    }
    out->seconds = nn_now() - t0;
    nn_free(x);
    nn_free(y);
    return step;
}

void train_evaluate(model *m, const nn_ctx *ctx, const image_cache *c, int batch, eval_result *r) {
    const loss_kind kind = model_loss_kind(m);
    const int nc = model_classes(m);
    if (kind == LOSS_NONE || nc > MODEL_MAX_CLASSES)
        NN_DIE("train_evaluate: the model is not a classifier nn evaluates (%zu outputs; one sigmoid "
               "unit, or a softmax over 2 to %d)", model_output_size(m), MODEL_MAX_CLASSES);
    // Data-parallel: each rank evaluates its share of the images, the sums are added up.
    int lo, hi;
    dist_share(c->n, rank_of(ctx), ranks_of(ctx), &lo, &hi);
    batch = NN_MAX(1, NN_MIN(batch, hi - lo));
    size_t in = shape3_size(m->input);
    float *x = nn_alloc((size_t)batch * in * sizeof(float), "evaluation batch");   // (B, H, W, C)
    float *y = nn_alloc((size_t)batch * sizeof(float), "evaluation labels");       // (B)
    memset(r, 0, sizeof *r);
    // loss sum, right, then the nc x nc confusion matrix: one array, one all-reduce
    double t0 = nn_now(), sums[2 + MODEL_MAX_CLASSES * MODEL_MAX_CLASSES] = {0};
    double *conf = sums + 2;
    for (int s = lo; s < hi; s += batch) {
        int k = NN_MIN(batch, hi - s);
        image_to_float(c->pixels + (size_t)s * in, (size_t)k * in, x);
        for (int i = 0; i < k; i++) y[i] = (float)c->labels[s + i];
        const float *z = model_forward(m, ctx, k, x, 1);   // (k, outputs) logits
        if (kind == LOSS_CCE) {
            sums[0] += (double)cce_logits(k, nc, z, y, NULL) * k;
            sums[1] += categorical_correct(k, nc, z, y);
            for (int i = 0; i < k; i++) {
                int truth = label_index(y[i], nc);
                if (truth >= 0) conf[truth * nc + argmax_row(nc, z + (size_t)i * nc)]++;
            }
            continue;
        }
        sums[0] += (double)bce_logits(k, z, y, NULL) * k;
        sums[1] += binary_correct(k, z, y);
        for (int i = 0; i < k; i++) {
            int truth = c->labels[s + i] != 0, pred = z[i] > 0.0f;
            conf[2 * truth + pred]++;
        }
    }
    dist_sum_f64(ctx->dist, sums, (size_t)(2 + nc * nc));
    for (int t = 0; t < nc; t++)
        for (int p = 0; p < nc; p++) r->confusion[t][p] = (long)conf[t * nc + p];
    r->n = c->n;
    r->nclasses = nc;
    r->loss = c->n ? sums[0] / c->n : 0;
    r->accuracy = c->n ? sums[1] / c->n : 0;
    r->seconds = nn_now() - t0;
    nn_free(x);
    nn_free(y);
}

int train_weights_finite(const model *m) {
    int ok = 1;
    for (size_t i = 0; i < m->nparams; i++) ok &= isfinite(m->w[i]);
    return ok;
}
