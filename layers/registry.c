// registry.c: the table from layer kind (cfg keyword, Keras class) to the layer's layer_ops,
// built from the list in registry.h, and the small helpers every layer file shares.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../nn/common.h"
#include "layer.h"

#define LAYER_DECLARE(KIND, type) extern const layer_ops type##_ops;
LAYER_LIST(LAYER_DECLARE)
#undef LAYER_DECLARE

static const layer_ops *const table[LAYER_KIND_COUNT] = {
#define LAYER_ENTRY(KIND, type) [LAYER_##KIND] = &type##_ops,
    LAYER_LIST(LAYER_ENTRY)
#undef LAYER_ENTRY
};

const layer_ops *layer_ops_of(layer_kind kind) {
    if ((unsigned)kind >= LAYER_KIND_COUNT) NN_DIE("layer kind %d is not registered", (int)kind);
    return table[kind];
}

const layer_ops *layer_ops_by_type(const char *type) {
    for (int k = 0; k < LAYER_KIND_COUNT; k++)
        if (!strcmp(table[k]->type, type)) return table[k];
    return NULL;
}

const layer_ops *layer_ops_by_keras(const char *cls) {
    for (int k = 0; k < LAYER_KIND_COUNT; k++)
        if (!strcmp(table[k]->keras_class, cls) ||
            (table[k]->keras_alias && !strcmp(table[k]->keras_alias, cls)))
            return table[k];
    return NULL;
}

static const char *join_names(char *buf, size_t len, int keras) {
    if (buf[0]) return buf;
    size_t o = 0;
    for (int k = 0; k < LAYER_KIND_COUNT && o < len; k++)
        o += snprintf(buf + o, len - o, "%s%s", k ? ", " : "", keras ? table[k]->keras_class : table[k]->type);
    return buf;
}

// Built once from the constant table; the strings never change afterwards.
const char *layer_type_list(void) {
    static char buf[512];
    return join_names(buf, sizeof buf, 0);
}

const char *layer_keras_list(void) {
    static char buf[512];
    return join_names(buf, sizeof buf, 1);
}

void layer_defaults(layer *l, layer_kind k) {
    memset(l, 0, sizeof *l);
    l->kind = k;
    for (const layer_opt *o = layer_ops_of(k)->opts; o && (o->cfg || o->keras); o++) {
        char *f = (char *)l + o->off;
        switch (o->type) {
        case OPT_INT: *(int *)f = o->def; break;
        case OPT_DIMS: ((int *)f)[0] = ((int *)f)[1] = o->def; break;
        case OPT_PAD: *(pad_kind *)f = (pad_kind)o->def; break;
        case OPT_ACT: *(act_kind *)f = (act_kind)o->def; break;
        case OPT_BOOL: *(int *)f = o->def; break;
        case OPT_FLOAT: *(float *)f = (float)o->fdef; break;
        case OPT_FIXED: break;
        }
    }
}

const layer_impl *layer_impl_for(const layer *l, const nn_ctx *ctx) {
    const layer_ops *ops = layer_ops_of(l->kind);
    const layer_impl *im = ctx && ctx->backend == NN_CUDA ? ops->cuda : &ops->c;
    return im && im->forward ? im : NULL;
}

void layer_add_param(layer *l, const char *name, int rank, const int *dims) {
    if (l->ntensors >= LAYER_MAX_TENSORS) NN_DIE("layer %s: more than %d parameter tensors", l->name, LAYER_MAX_TENSORS);
    layer_param *p = &l->params[l->ntensors++];
    memset(p, 0, sizeof *p);
    p->name = name;
    p->rank = rank;
    p->size = 1;
    for (int i = 0; i < rank; i++) p->dims[i] = dims[i], p->size *= (size_t)dims[i];
}

int layer_setup(layer *l, shape3 in, char *err) {
    l->ntensors = 0;
    l->woff = l->wsize = l->boff = l->bsize = 0;
    l->aux_per_sample = 0;
    l->pad_top = l->pad_left = 0;
    if (layer_ops_of(l->kind)->setup(l, in, err) != 0) return -1;
    if (l->ntensors > 0) l->wsize = l->params[0].size;
    if (l->ntensors > 1) l->bsize = l->params[1].size;
    return 0;
}

// --- activations

static const char *const act_names[] = {"linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu"};
#define ACT_COUNT (int)(sizeof act_names / sizeof *act_names)

const char *act_name(act_kind a) { return (unsigned)a < ACT_COUNT ? act_names[a] : "linear"; }

int act_parse(const char *s, act_kind *a) {
    for (int i = 0; i < ACT_COUNT; i++)
        if (!strcmp(s, act_names[i])) {
            *a = (act_kind)i;
            return 0;
        }
    return -1;
}

const char *act_list(void) { return "linear, relu, sigmoid, tanh, softmax, leaky_relu"; }

// relu: one op per value both ways (max, or the gradient's select); leaky_relu two (multiply,
// select); sigmoid 3 (exp, add, divide) forward and 3 back (dy y (1 - y)); tanh 1 forward (the
// function) and 3 back (dy (1 - y y)); softmax 4 forward per value (subtract the row's max,
// exp, add to the sum, scale; the max's compares are one more) and 4 back (dy y into the dot,
// its add, subtract, multiply); linear none.
double act_flops(act_kind a, prof_pass p, double elems) {
    if (p == PROF_BWD_WEIGHTS) return 0;
    switch (a) {
    case ACT_RELU: return elems;
    case ACT_LEAKY_RELU: return 2 * elems;
    case ACT_SIGMOID: return 3 * elems;
    case ACT_TANH: return (p == PROF_FORWARD ? 1 : 3) * elems;
    case ACT_SOFTMAX: return (p == PROF_FORWARD ? 5 : 4) * elems;
    case ACT_LINEAR: return 0;
    }
    return 0;
}

// --- shared by the pooling layers

int layer_pool_setup(layer *l, shape3 in, const char *type, char *err) {
    if (in.flat) return nn_fail(err, "%s needs an image input (H, W, C), got a flat vector of %d", type, in.c);
    if (!l->sh) {   // Keras: strides default to pool_size
        l->sh = l->kh;
        l->sw = l->kw;
    }
    int oh, ow;
    if (l->padding == PAD_SAME) {
        oh = (in.h + l->sh - 1) / l->sh;
        ow = (in.w + l->sw - 1) / l->sw;
        l->pad_top = NN_MAX((oh - 1) * l->sh + l->kh - in.h, 0) / 2;
        l->pad_left = NN_MAX((ow - 1) * l->sw + l->kw - in.w, 0) / 2;
    } else {
        if (l->kh > in.h || l->kw > in.w)
            return nn_fail(err, "pool %dx%d is larger than the input %dx%d", l->kh, l->kw, in.h, in.w);
        oh = (in.h - l->kh) / l->sh + 1;
        ow = (in.w - l->kw) / l->sw + 1;
        l->pad_top = l->pad_left = 0;
    }
    l->in = in;
    l->out = (shape3){oh, ow, in.c, 0};
    return 0;
}

// --- shared by the layers with weights

void layer_glorot(float *k, size_t count, double fan_in, double fan_out, rng *r) {
    double limit = sqrt(6.0 / (fan_in + fan_out));
    for (size_t j = 0; j < count; j++) k[j] = (float)rng_uniform_range(r, -limit, limit);
}

// conv2d and dense: forward reads x, W, b and writes y; the weight pass reads x, dy (and y unless
// linear: the activation's gradient) and writes dW, db; the input pass reads dz, W, writes dx.
double layer_bytes_product(const layer *l, prof_pass p, int n, act_kind act) {
    double x = (double)n * shape3_size(l->in), y = (double)n * shape3_size(l->out);
    double w = (double)l->wsize + (double)l->bsize;
    switch (p) {
    case PROF_FORWARD: return 4 * (x + w + y);
    case PROF_BWD_WEIGHTS: return 4 * (x + y + (act != ACT_LINEAR ? y : 0) + w);
    case PROF_BWD_INPUT: return 4 * (y + (double)l->wsize + x);
    }
    return 0;
}
