// train.c: one epoch of training and one evaluation pass. The loop is small on purpose: the
// loader (data/) shuffles and augments, model_train_step (nn/model.c, or cuda/ when the context
// is a GPU one) does forward, loss, backward and Adam; this file only strings them together,
// keeps Keras's running means, and honours a stop request between steps.
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "cuda_api.h"
#include "loss.h"

// On a GPU the whole epoch runs on the device (cuda_model_train_cache, added by the CUDA work):
// the decoded images are uploaded once, and each batch is gathered and augmented there from the
// loader's own plan (same order, same augmentation as loader_next would give), in chunks of
// steps between which the stop flag and the callback are honoured. NN_DEVICE_EPOCH=0 turns it
// off (host batches through model_train_step, as on the C path).
#define DEVICE_CHUNK 64
static int train_epoch_device(model *m, const nn_ctx *ctx, loader *L, int batch, int epoch,
                              int first_step, const adam_cfg *opt, volatile sig_atomic_t *stop,
                              train_step_fn cb, void *user, train_stats *out) {
    const image_cache *c = loader_cache(L);
    int steps = loader_steps(L), step = first_step;
    int32_t *order = nn_alloc((size_t)c->n * sizeof *order, "epoch order");
    aug_params *aug = nn_alloc((size_t)c->n * sizeof *aug, "epoch augmentation");
    float *sl = nn_alloc(DEVICE_CHUNK * sizeof *sl, "step losses");
    int *sc = nn_alloc(DEVICE_CHUNK * sizeof *sc, "step accuracies");
    int augments = loader_plan(L, epoch, order, aug);
    char err[NN_ERRLEN];
    double t0 = nn_now();
    while (!(stop && *stop) && step < steps) {
        int k = NN_MIN(DEVICE_CHUNK, steps - step), first = step * batch;
        int count = NN_MIN(k * batch, c->n - first);
        if (cuda_model_train_cache(m, ctx, c, order + first, augments ? aug + first : NULL, count,
                                   batch, opt, sl, sc, err) < 0)
            NN_DIE("training on the GPU: %s (NN_DEVICE_EPOCH=0 trains from host-built batches instead)", err);
        for (int j = 0; j < k; j++) {
            int n = NN_MIN(batch, c->n - (step * batch));
            step++;
            if (!isfinite(sl[j])) {
                out->nonfinite_step = step;
                out->nonfinite_loss = sl[j];
                goto done;
            }
            out->steps++;
            out->seen += n;
            out->loss_sum += (double)sl[j] * n;
            out->correct += sc[j];
            out->seconds = nn_now() - t0;
            if (cb) cb(user, step, steps, out);
        }
    }
done:
    out->seconds = nn_now() - t0;
    nn_free(order), nn_free(aug), nn_free(sl), nn_free(sc);
    return step;
}

int train_epoch(model *m, const nn_ctx *ctx, loader *L, int batch, int epoch, int first_step,
                const adam_cfg *opt, volatile sig_atomic_t *stop, train_step_fn cb, void *user,
                train_stats *out) {
    const char *de = getenv("NN_DEVICE_EPOCH");
    if (ctx->backend == NN_CUDA && !(de && de[0] == '0')) {
        memset(out, 0, sizeof *out);
        return train_epoch_device(m, ctx, L, batch, epoch, first_step, opt, stop, cb, user, out);
    }
    size_t in = shape3_size(m->input);
    float *x = nn_alloc((size_t)batch * in * sizeof(float), "training batch");   // (B, H, W, C)
    float *y = nn_alloc((size_t)batch * sizeof(float), "training labels");       // (B)
    int steps = loader_steps(L), step = 0;
    memset(out, 0, sizeof *out);
    loader_start_epoch(L, epoch);
    // The batches before first_step were trained on before the interruption: draw them so the
    // loader's order and augmentation stay in step, but do not train on them again.
    while (step < first_step && loader_next(L, x, y, NULL) > 0) step++;
    double t0 = nn_now();
    int n;
    double wait;
    while (!(stop && *stop) && (n = loader_next(L, x, y, &wait)) > 0) {
        int correct = 0;
        float loss = model_train_step(m, ctx, n, x, y, opt, &correct);
        step++;
        if (!isfinite(loss)) {   // diverged: this step's Adam update spread it into the weights
            out->nonfinite_step = step;
            out->nonfinite_loss = loss;
            break;
        }
        out->steps++;
        out->seen += n;
        out->loss_sum += (double)loss * n;
        out->correct += correct;
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
    size_t in = shape3_size(m->input);
    float *x = nn_alloc((size_t)batch * in * sizeof(float), "evaluation batch");   // (B, H, W, C)
    float *y = nn_alloc((size_t)batch * sizeof(float), "evaluation labels");       // (B)
    memset(r, 0, sizeof *r);
    double t0 = nn_now(), loss_sum = 0;
    long correct = 0;
    for (int s = 0; s < c->n; s += batch) {
        int k = NN_MIN(batch, c->n - s);
        image_to_float(c->pixels + (size_t)s * in, (size_t)k * in, x);
        for (int i = 0; i < k; i++) y[i] = (float)c->labels[s + i];
        const float *z = model_forward(m, ctx, k, x, 1);   // (k, outputs) logits
        if (kind == LOSS_CCE) {
            loss_sum += (double)cce_logits(k, nc, z, y, NULL) * k;
            correct += categorical_correct(k, nc, z, y);
            for (int i = 0; i < k; i++) {
                int truth = label_index(y[i], nc);
                if (truth >= 0) r->confusion[truth][argmax_row(nc, z + (size_t)i * nc)]++;
            }
            continue;
        }
        loss_sum += (double)bce_logits(k, z, y, NULL) * k;
        correct += binary_correct(k, z, y);
        for (int i = 0; i < k; i++) {
            int truth = c->labels[s + i] != 0, pred = z[i] > 0.0f;
            r->confusion[truth][pred]++;
        }
    }
    r->n = c->n;
    r->nclasses = nc;
    r->loss = c->n ? loss_sum / c->n : 0;
    r->accuracy = c->n ? (double)correct / c->n : 0;
    r->seconds = nn_now() - t0;
    nn_free(x);
    nn_free(y);
}

int train_weights_finite(const model *m) {
    int ok = 1;
    for (size_t i = 0; i < m->nparams; i++) ok &= isfinite(m->w[i]);
    return ok;
}
