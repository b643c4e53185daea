// model.c: building a sequential model, its arenas and buffers, and running it on the C path.
// The CUDA path (cuda/) mirrors the arenas on the device and is entered from the same calls
// when ctx->backend == NN_CUDA.
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "cuda_api.h"
#include "loss.h"
#include "rng.h"

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
        const layer_ops *ops = layer_ops_of(l->kind);
        l->wsize = l->bsize = 0;
        if (ops->setup(l, cur, lerr) != 0)
            return nn_fail(err, "layer %d (%s): %s", i + 1, l->name, lerr);
        if ((double)l->out.h * l->out.w * l->out.c > LAYER_MAX_ACTIVATION)
            return nn_fail(err, "layer %d (%s): output %dx%dx%d is beyond nn's limit of %u values a "
                           "sample", i + 1, l->name, l->out.h, l->out.w, l->out.c, LAYER_MAX_ACTIVATION);
        if (off + l->wsize + l->bsize > LAYER_MAX_PARAMS)
            return nn_fail(err, "layer %d (%s): the model reaches %zu parameters, beyond nn's limit "
                           "of %u", i + 1, l->name, off + l->wsize + l->bsize, LAYER_MAX_PARAMS);
        l->woff = off;
        off += l->wsize;
        l->boff = off;
        off += l->bsize;
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

static void free_batch(model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        nn_free(m->y[i]);
        nn_free(m->aux[i]);
        m->y[i] = NULL;
        m->aux[i] = NULL;
    }
    nn_free(m->dbuf[0]);
    nn_free(m->dbuf[1]);
    nn_free(m->scratch);
    m->dbuf[0] = m->dbuf[1] = m->scratch = NULL;
    m->batch = 0;
}

void model_free(model *m) {
    if (m->dev) cuda_model_free(m);
    free_batch(m);
    if (m->w_release) m->w_release(m);
    else nn_free(m->w);
    nn_free(m->g);
    nn_free(m->m);
    nn_free(m->v);
    for (int i = 0; i < m->nclasses; i++) nn_free(m->classes[i]);
    memset(m, 0, sizeof *m);
}

void model_init_weights(model *m, uint64_t seed) {
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        if (l->wsize == 0) continue;
        double fan_in, fan_out;
        if (l->kind == LAYER_CONV2D) {
            fan_in = (double)l->kh * l->kw * l->in.c;
            fan_out = (double)l->kh * l->kw * l->filters;
        } else {
            fan_in = (double)l->in.c;
            fan_out = (double)l->units;
        }
        double limit = sqrt(6.0 / (fan_in + fan_out));
        float *k = m->w + l->woff;
        for (size_t j = 0; j < l->wsize; j++) k[j] = (float)rng_uniform_range(&r, -limit, limit);
        memset(m->w + l->boff, 0, l->bsize * sizeof(float));
    }
    memset(m->m, 0, m->nparams * sizeof(float));
    memset(m->v, 0, m->nparams * sizeof(float));
    m->t = 0;
}

void model_alloc_batch(model *m, int batch) {
    if (batch <= m->batch) return;
    free_batch(m);
    size_t most = shape3_size(m->input), scratch = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        size_t sz = shape3_size(l->out);
        m->y[i] = nn_alloc((size_t)batch * sz * sizeof(float), "activations");
        if (l->aux_per_sample)
            m->aux[i] = nn_alloc((size_t)batch * l->aux_per_sample * sizeof(int32_t), "pool indices");
        most = NN_MAX(most, sz);
        const layer_ops *ops = layer_ops_of(l->kind);
        if (ops->scratch_floats) scratch = NN_MAX(scratch, ops->scratch_floats(l, batch));
    }
    m->dbuf[0] = nn_alloc((size_t)batch * most * sizeof(float), "gradient buffer");
    m->dbuf[1] = nn_alloc((size_t)batch * most * sizeof(float), "gradient buffer");
    m->scratch_floats = scratch;
    m->scratch = scratch ? nn_alloc(scratch * sizeof(float), "layer scratch") : NULL;
    m->batch = batch;
}

// --- running

// The activation a layer applies in this pass: the last sigmoid is left to the loss when
// logits are asked for.
static act_kind pass_act(const model *m, int i, int logits) {
    const layer *l = &m->layers[i];
    if (logits && i == m->nlayers - 1 && l->act == ACT_SIGMOID) return ACT_LINEAR;
    return l->act;
}

const float *model_forward(model *m, const nn_ctx *ctx, int n, const float *x, int logits) {
    if (ctx->backend == NN_CUDA) return cuda_model_forward(m, ctx, n, x, logits);
    if (n > m->batch) model_alloc_batch(m, n);
    const float *cur = x;
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        layer_ops_of(l->kind)->forward(l, ctx, n, cur, m->w + l->woff, m->y[i], m->aux[i],
                                       pass_act(m, i, logits), m->scratch);
        cur = m->y[i];
    }
    return cur;
}

void model_backward(model *m, const nn_ctx *ctx, int n, const float *x, const float *dlogits) {
    size_t out = model_output_size(m);
    float *dcur = m->dbuf[0], *dnext = m->dbuf[1];
    memcpy(dcur, dlogits, (size_t)n * out * sizeof(float));
    for (int i = m->nlayers - 1; i >= 0; i--) {
        const layer *l = &m->layers[i];
        const float *xin = i ? m->y[i - 1] : x;
        layer_ops_of(l->kind)->backward(l, ctx, n, xin, m->w + l->woff, m->y[i], dcur,
                                        i ? dnext : NULL, m->g + l->woff, m->aux[i],
                                        pass_act(m, i, 1), m->scratch);
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
}

float model_train_step(model *m, const nn_ctx *ctx, int n, const float *x, const float *labels,
                       const adam_cfg *opt, int *correct) {
    if (ctx->backend == NN_CUDA) return cuda_model_train_step(m, ctx, n, x, labels, opt, correct);
    if (model_output_size(m) != 1)
        NN_DIE("training needs a model with one output (binary), this one has %zu",
               model_output_size(m));
    if (n > m->batch) model_alloc_batch(m, n);
    const float *z = model_forward(m, ctx, n, x, 1);
    // dlogits lives in dbuf[1]: model_backward copies it into dbuf[0] before the layers run.
    float *dz = m->dbuf[1];
    float loss = bce_logits(n, z, labels, dz);
    if (correct) *correct = binary_correct(n, z, labels);
    model_backward(m, ctx, n, x, dz);
    m->t++;
    adam_step(opt, m->t, m->nparams, m->w, m->g, m->m, m->v);
    return loss;
}

void model_predict(model *m, const nn_ctx *ctx, int n, const float *x, float *out) {
    if (ctx->backend == NN_CUDA) {
        cuda_model_predict(m, ctx, n, x, out);
        return;
    }
    size_t in = shape3_size(m->input), osz = model_output_size(m);
    int chunk = m->batch > 0 ? m->batch : NN_MIN(n, 256);
    if (chunk > m->batch) model_alloc_batch(m, chunk);
    for (int s = 0; s < n; s += chunk) {
        int k = NN_MIN(chunk, n - s);
        const float *y = model_forward(m, ctx, k, x + (size_t)s * in, 0);
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

void model_summary(const model *m, FILE *f) {
    const char *rule = "______________________________________________________________________";
    fprintf(f, "Model: \"sequential\"\n%s\n", rule);
    fprintf(f, " %-33s %-24s%s\n", "Layer (type)", "Output Shape", "Param #");
    fprintf(f, "======================================================================\n");
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        char name[128], shape[64], count[32];
        snprintf(name, sizeof name, "%s (%s)", l->name, layer_ops_of(l->kind)->keras_class);
        fmt_shape(l->out, shape, sizeof shape);
        fmt_count(l->wsize + l->bsize, count, sizeof count);
        fprintf(f, " %-33s %-24s%s\n", name, shape, count);
        fprintf(f, "%s\n", i + 1 < m->nlayers ? "" : "======================================================================");
    }
    char total[32];
    fmt_count(m->nparams, total, sizeof total);
    fprintf(f, "Total params: %s (%.2f MB)\n", total, m->nparams * 4.0 / (1024.0 * 1024.0));
    fprintf(f, "Trainable params: %s\nNon-trainable params: 0\n%s\n", total, rule);
}
