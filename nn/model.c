// model.c: building a sequential model and its arenas, and the calls that run it on either
// backend. The step itself (the walk over the layers) is nn/step.c's; the CUDA path (cuda/)
// mirrors the arenas on the device and is entered from the same calls when ctx->backend ==
// NN_CUDA.
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "cuda_api.h"
#include "loss.h"
#include "rng.h"
#include "step.h"

// --- building

void model_init(model *m, shape3 input) {
    memset(m, 0, sizeof *m);
    m->input = input;
}

int model_add(model *m, const layer *l, char *err) {
    if (m->finalized) return nn_fail(err, "model is already finalized");
    if (m->nlayers >= MODEL_MAX_LAYERS)
        return nn_fail(err, "too many layers (at most %d)", MODEL_MAX_LAYERS);
    m->layers[m->nlayers++] = *l;
    return 0;
}

// Keras names layers by class with a per-class counter: dense, dense_1, dense_2 ...
static void default_name(model *m, int i) {
    layer *l = &m->layers[i];
    if (l->name[0]) return;
    const char *prefix = layer_ops_of(l->kind)->keras_prefix;
    int count = 0;
    for (int j = 0; j < i; j++)
        if (m->layers[j].kind == l->kind) count++;
    if (count == 0) snprintf(l->name, sizeof l->name, "%s", prefix);
    else snprintf(l->name, sizeof l->name, "%s_%d", prefix, count);
}

int model_finalize(model *m, char *err) {
    if (m->nlayers == 0) return nn_fail(err, "model has no layers");
    if (m->input.h <= 0 || m->input.w <= 0 || m->input.c <= 0)
        return nn_fail(err, "input shape %dx%dx%d is not positive", m->input.h, m->input.w,
                       m->input.c);
    if ((double)m->input.h * m->input.w * m->input.c > LAYER_MAX_ACTIVATION)
        return nn_fail(err, "input shape %dx%dx%d is beyond nn's limit of %u values a sample",
                       m->input.h, m->input.w, m->input.c, LAYER_MAX_ACTIVATION);
    shape3 cur = m->input;
    size_t off = 0;
    char lerr[NN_ERRLEN];
    for (int i = 0; i < m->nlayers; i++) {
        layer *l = &m->layers[i];
        default_name(m, i);
        for (int j = 0; j < i; j++)
            if (strcmp(m->layers[j].name, l->name) == 0)
                return nn_fail(err, "layer %d: name '%s' is used twice", i + 1, l->name);
        if (layer_setup(l, cur, lerr) != 0)
            return nn_fail(err, "layer %d (%s): %s", i + 1, l->name, lerr);
        if ((double)l->out.h * l->out.w * l->out.c > LAYER_MAX_ACTIVATION)
            return nn_fail(err, "layer %d (%s): output %dx%dx%d is beyond nn's limit of %u values a "
                           "sample", i + 1, l->name, l->out.h, l->out.w, l->out.c, LAYER_MAX_ACTIVATION);
        size_t need = layer_nparams(l);
        if (off + need > LAYER_MAX_PARAMS)
            return nn_fail(err, "layer %d (%s): the model reaches %zu parameters, beyond nn's limit "
                           "of %u", i + 1, l->name, off + need, LAYER_MAX_PARAMS);
        // The tensors in order; woff/boff are the first two (kernel, bias) and woff is where the
        // layer's parameters begin even when it has none (its pass gets w = arena + woff).
        l->woff = l->boff = off;
        for (int k = 0; k < l->ntensors; k++) {
            l->params[k].off = off;
            off += l->params[k].size;
        }
        if (l->ntensors > 1) l->boff = l->params[1].off;
        else l->boff = off;
        cur = l->out;
    }
    m->nparams = off;
    size_t bytes = (off ? off : 1) * sizeof(float);
    m->w = nn_calloc(bytes, "weights");
    m->g = nn_calloc(bytes, "gradients");
    m->m = nn_calloc(bytes, "Adam first moments");
    m->v = nn_calloc(bytes, "Adam second moments");
    m->finalized = 1;
    return 0;
}

void model_free(model *m) {
    if (m->dev) cuda_model_free(m);
    step_host_free(m);
    if (m->w_release) m->w_release(m);
    else nn_free(m->w);
    nn_free(m->g);
    nn_free(m->m);
    nn_free(m->v);
    for (int i = 0; i < m->nclasses; i++) nn_free(m->classes[i]);
    memset(m, 0, sizeof *m);
}

// Keras's initializers, layer by layer from one generator (Glorot-uniform kernels, zero biases).
void model_init_weights(model *m, uint64_t seed) {
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        const layer_ops *ops = layer_ops_of(l->kind);
        if (ops->init && l->ntensors) ops->init(l, m->w + l->woff, &r);
    }
    memset(m->m, 0, m->nparams * sizeof(float));
    memset(m->v, 0, m->nparams * sizeof(float));
    m->t = 0;
}

void model_alloc_batch(model *m, int batch) { step_host_run(m, NULL, batch); }

// --- where it runs

int model_to(model *m, const nn_ctx *ctx, int batch, char *err) {
    if (batch < 1) return nn_fail(err, "batch %d is not positive", batch);
    if (!ctx || ctx->backend != NN_CUDA) {
        step_host_run(m, ctx, batch);
        return 0;
    }
    return cuda_model_upload(m, ctx, batch, err);
}

void model_sync(model *m) {
    if (m->dev && m->dev_newer) cuda_model_download(m);
    m->dev_newer = 0;
}

act_kind model_pass_act(const model *m, int i, int logits) {
    const layer *l = &m->layers[i];
    if (logits && i == m->nlayers - 1 && (l->act == ACT_SIGMOID || l->act == ACT_SOFTMAX)) return ACT_LINEAR;
    return l->act;
}

loss_kind model_loss_kind(const model *m) {
    if (m->nlayers == 0) return LOSS_NONE;
    const layer *last = &m->layers[m->nlayers - 1];
    const size_t out = shape3_size(last->out);
    if (last->act == ACT_SOFTMAX)   // over the last axis: one sample's outputs must be that axis
        return out >= 2 && out == (size_t)last->out.c ? LOSS_CCE : LOSS_NONE;
    return out == 1 ? LOSS_BCE : LOSS_NONE;
}

int model_classes(const model *m) {
    loss_kind k = model_loss_kind(m);
    return k == LOSS_BCE ? 2 : k == LOSS_CCE ? (int)model_output_size(m) : 0;
}

// --- running

const float *model_forward(model *m, const nn_ctx *ctx, int n, const float *x, int logits) {
    if (ctx->backend == NN_CUDA) return cuda_model_forward(m, ctx, n, x, logits);
    model_run *r = step_host_run(m, ctx, n);
    return step_forward(m, r, ctx, n, x, logits, NULL);
}

void model_backward(model *m, const nn_ctx *ctx, int n, const float *x, const float *dlogits) {
    if (ctx->backend == NN_CUDA) NN_DIE("model_backward: the C path's alone (the GPU trains whole steps)");
    model_run *r = step_host_run(m, ctx, n);
    memcpy(r->dbuf[0], dlogits, (size_t)n * model_output_size(m) * sizeof(float));
    step_backward(m, r, ctx, n, x, r->nnodes - 1, r->dbuf[0], NULL, NULL);
}

float model_train_step(model *m, const nn_ctx *ctx, int n, const float *x, const float *labels,
                       const adam_cfg *opt, int *correct) {
    const loss_kind k = model_loss_kind(m);
    const int c = model_classes(m);
    if (k == LOSS_NONE)
        NN_DIE("training needs a model that ends in one sigmoid unit or a softmax over N >= 2 "
               "outputs; this one has %zu outputs", model_output_size(m));
    // A label that names no class would make the loss NaN and read as a diverged run.
    for (int i = 0; k == LOSS_CCE && i < n; i++)
        if (label_index(labels[i], c) < 0)
            NN_DIE("training labels: sample %d of the batch has label %g, not a class index 0..%d",
                   i, labels[i], c - 1);
    if (ctx->backend == NN_CUDA) return cuda_model_train_step(m, ctx, n, x, labels, opt, correct);
    model_run *r = step_host_run(m, ctx, n);
    m->t++;
    step_train(m, r, ctx, n, n, x, labels, opt, NULL);
    if (correct) *correct = r->correct;
    return r->loss;
}

void model_predict(model *m, const nn_ctx *ctx, int n, const float *x, float *out) {
    if (ctx->backend == NN_CUDA) {
        cuda_model_predict(m, ctx, n, x, out);
        return;
    }
    size_t in = shape3_size(m->input), osz = model_output_size(m);
    int chunk = m->host && m->host->batch > 0 ? m->host->batch : NN_MIN(n, 256);
    model_run *r = step_host_run(m, ctx, chunk);
    for (int s = 0; s < n; s += chunk) {
        int k = NN_MIN(chunk, n - s);
        const float *y = step_forward(m, r, ctx, k, x + (size_t)s * in, 0, NULL);
        memcpy(out + (size_t)s * osz, y, (size_t)k * osz * sizeof(float));
    }
}

// --- describing

shape3 model_output_shape(const model *m) {
    return m->nlayers ? m->layers[m->nlayers - 1].out : m->input;
}

size_t model_output_size(const model *m) { return shape3_size(model_output_shape(m)); }

static void fmt_count(size_t v, char *buf, size_t len) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
    for (int i = 0; i < n && o + 2 < (int)len; i++) {
        if (i > 0 && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

static void fmt_shape(shape3 s, char *buf, size_t len) {
    if (s.flat) snprintf(buf, len, "(None, %d)", s.c);
    else snprintf(buf, len, "(None, %d, %d, %d)", s.h, s.w, s.c);
}

void model_fmt_kernel(const layer *l, char *buf, size_t len) {
    if (l->ntensors == 0) {
        snprintf(buf, len, "none");
        return;
    }
    const layer_param *p = &l->params[0];
    size_t o = snprintf(buf, len, "(");
    for (int i = 0; i < p->rank && o < len; i++)
        o += snprintf(buf + o, len - o, "%s%d", i ? ", " : "", p->dims[i]);
    if (o < len) snprintf(buf + o, len - o, p->rank == 1 ? ",)" : ")");
}

// Layer and class names come from files: a control character (an ESC sequence, a newline)
// would act on the terminal or break the table, so it is shown as '?' (the rule of nn_fail).
static void printable(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

void model_summary(const model *m, FILE *f) {
    // The first column is Keras's 33 characters, wider when a name needs it
    // ("global_average_pooling2d (GlobalAveragePooling2D)"), so the columns stay aligned.
    char names[MODEL_MAX_LAYERS][128];
    int w = 33;
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        snprintf(names[i], sizeof names[i], "%s (%s)", l->name, layer_ops_of(l->kind)->keras_class);
        printable(names[i]);
        w = NN_MAX(w, (int)strlen(names[i]));
    }
    char rule[256], bar[256];
    int len = w + 37;   // Keras's 70 at the narrowest
    memset(rule, '_', (size_t)len), rule[len] = 0;
    memset(bar, '=', (size_t)len), bar[len] = 0;
    fprintf(f, "Model: \"sequential\"\n%s\n", rule);
    fprintf(f, " %-*s %-24s%s\n", w, "Layer (type)", "Output Shape", "Param #");
    fprintf(f, "%s\n", bar);
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        char shape[64], count[32];
        fmt_shape(l->out, shape, sizeof shape);
        fmt_count(layer_nparams(l), count, sizeof count);
        fprintf(f, " %-*s %-24s%s\n", w, names[i], shape, count);
        fprintf(f, "%s\n", i + 1 < m->nlayers ? "" : bar);
    }
    char total[32], trained[32], fixed[32];
    size_t nfixed = 0;   // batchnorm's moving statistics: Keras's non-trainable weights
    for (int i = 0; i < m->nlayers; i++)
        for (int k = 0; k < m->layers[i].ntensors; k++)
            if (m->layers[i].params[k].fixed) nfixed += m->layers[i].params[k].size;
    fmt_count(m->nparams, total, sizeof total);
    fmt_count(m->nparams - nfixed, trained, sizeof trained);
    fmt_count(nfixed, fixed, sizeof fixed);
    fprintf(f, "Total params: %s (%.2f MB)\n", total, m->nparams * 4.0 / (1024.0 * 1024.0));
    fprintf(f, "Trainable params: %s\nNon-trainable params: %s\n%s\n", trained, fixed, rule);
}

// --- checking

// NaN and the infinities are the floats whose exponent bits are all ones. Counting with an
// integer test (not isfinite, which -ffast-math would fold away) lets the compiler vectorise
// the pass: 3.9 M weights take about a millisecond, paid once per load.
static size_t count_nonfinite(const float *w, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &w[i], sizeof u);
        bad += (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad;
}

size_t model_check_finite(const model *m, const char *name, char *err) {
    size_t total = 0, per[MODEL_MAX_LAYERS];
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        per[i] = m->w ? count_nonfinite(m->w + l->woff, layer_nparams(l)) : 0;
        total += per[i];
    }
    if (total == 0 || !err) return total;
    // "2 of the 896 in layer 1 'conv2d', 3 of the 3,936,384 in layer 4 'dense'": up to three.
    char where[320] = "", count[32];
    size_t o = 0;
    for (int i = 0, shown = 0; i < m->nlayers && o < sizeof where; i++) {
        if (!per[i]) continue;
        if (shown++ == 3) {
            snprintf(where + o, sizeof where - o, ", ...");
            break;
        }
        fmt_count(layer_nparams(&m->layers[i]), count, sizeof count);
        o += (size_t)snprintf(where + o, sizeof where - o, "%s%zu of the %s in layer %d '%s'", o ? ", " : "",
                              per[i], count, i + 1, m->layers[i].name);
    }
    nn_fail(err, "%s: the weights hold %zu NaN or infinite value%s (%s): the model is broken "
            "(training diverged?); retrain it or use an earlier checkpoint", name, total,
            total == 1 ? "" : "s", where);
    return total;
}
